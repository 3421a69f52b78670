//! Variables: `fermyon:spin/variables@2.0.0` and `wasi:config/store@0.2.0-draft-2024-09-27`.
//!
//! App variables are resolved once at startup, highest precedence first: `--variable`,
//! `SPIN_VARIABLE_<NAME>` in the environment, then the manifest default. A required variable
//! that none of them provides stops the startup. Components see only their own `variables`,
//! whose templates render against the app variables. Values are never logged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::bindings::host::fermyon::spin2_0_0::variables as spin_vars;
use crate::bindings::host::wasi::config::store as wasi_config;
use crate::manifest::VariableDecl;
use crate::state::InstanceState;
use crate::template::Template;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VariableError {
    #[error("required variable `{0}` is not set (pass --variable {0}=... or SPIN_VARIABLE_{upper})", upper = .0.to_uppercase())]
    RequiredMissing(String),
    #[error("variable `{0}` is undefined")]
    Undefined(String),
    #[error("invalid variable name `{0}`")]
    InvalidName(String),
}

/// Resolved values of the app's `[variables]`.
pub struct AppVariables {
    values: HashMap<String, String>,
}

impl AppVariables {
    pub fn resolve(
        declared: &BTreeMap<String, VariableDecl>,
        cli: &HashMap<String, String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, VariableError> {
        let mut values = HashMap::new();
        for (name, decl) in declared {
            let value = cli
                .get(name)
                .cloned()
                .or_else(|| env(&format!("SPIN_VARIABLE_{}", name.to_uppercase())))
                .or_else(|| decl.default.clone());
            match value {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None if decl.required => {
                    return Err(VariableError::RequiredMissing(name.clone()));
                }
                None => {}
            }
        }
        Ok(Self { values })
    }

    pub fn get(&self, name: &str) -> Result<String, VariableError> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| VariableError::Undefined(name.to_owned()))
    }

    /// Renders a `{{ var }}` template from the manifest.
    pub fn render(&self, text: &str) -> Result<String, String> {
        Template::parse(text)?
            .render(|name| self.get(name))
            .map_err(|e| e.to_string())
    }
}

/// The variables one component may read, already rendered.
#[derive(Clone, Default)]
pub struct ComponentVariables {
    values: Arc<BTreeMap<String, String>>,
}

impl ComponentVariables {
    pub fn new(
        app: &AppVariables,
        declared: &BTreeMap<String, String>,
    ) -> Result<Self, VariableError> {
        let mut values = BTreeMap::new();
        for (name, template) in declared {
            let template =
                Template::parse(template).map_err(|_| VariableError::InvalidName(name.clone()))?;
            // A component variable whose app variable is unset stays unset; reading it is an
            // `undefined` error for the guest, not a startup failure.
            if let Ok(value) = template.render(|reference| app.get(reference)) {
                values.insert(name.clone(), value);
            }
        }
        Ok(Self {
            values: Arc::new(values),
        })
    }

    pub fn get(&self, name: &str) -> Result<String, VariableError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(VariableError::InvalidName(name.to_owned()));
        }
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| VariableError::Undefined(name.to_owned()))
    }
}

impl spin_vars::Host for InstanceState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_vars::Error>> {
        Ok(self.capabilities.variables.get(&name).map_err(|e| match e {
            VariableError::InvalidName(n) => spin_vars::Error::InvalidName(n),
            VariableError::Undefined(n) => spin_vars::Error::Undefined(n),
            VariableError::RequiredMissing(n) => spin_vars::Error::Provider(n),
        }))
    }
}

impl wasi_config::Host for InstanceState {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, wasi_config::Error>> {
        match self.capabilities.variables.get(&key) {
            Ok(value) => Ok(Ok(Some(value))),
            Err(VariableError::Undefined(_)) => Ok(Ok(None)),
            Err(e) => Ok(Err(wasi_config::Error::Upstream(e.to_string()))),
        }
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        let values = &self.capabilities.variables.values;
        Ok(Ok(values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_owned),
            required,
            secret: false,
            description: None,
        }
    }

    #[test]
    fn precedence_is_cli_then_env_then_default() {
        let declared = BTreeMap::from([
            ("a".to_owned(), decl(Some("default-a"), false)),
            ("b".to_owned(), decl(Some("default-b"), false)),
            ("c".to_owned(), decl(Some("default-c"), false)),
        ]);
        let cli = HashMap::from([("a".to_owned(), "cli-a".to_owned())]);
        let env = |key: &str| match key {
            "SPIN_VARIABLE_A" => Some("env-a".to_owned()),
            "SPIN_VARIABLE_B" => Some("env-b".to_owned()),
            _ => None,
        };
        let vars = AppVariables::resolve(&declared, &cli, env).expect("resolves");
        assert_eq!(vars.get("a").as_deref(), Ok("cli-a"));
        assert_eq!(vars.get("b").as_deref(), Ok("env-b"));
        assert_eq!(vars.get("c").as_deref(), Ok("default-c"));
    }

    #[test]
    fn missing_required_variable_fails() {
        let declared = BTreeMap::from([("token".to_owned(), decl(None, true))]);
        let err = AppVariables::resolve(&declared, &HashMap::new(), |_| None)
            .err()
            .expect("missing");
        assert_eq!(err, VariableError::RequiredMissing("token".into()));
        assert!(err.to_string().contains("SPIN_VARIABLE_TOKEN"));
    }

    #[test]
    fn component_variables_render_templates() {
        let declared = BTreeMap::from([("host".to_owned(), decl(Some("db"), false))]);
        let app = AppVariables::resolve(&declared, &HashMap::new(), |_| None).expect("ok");
        let component = ComponentVariables::new(
            &app,
            &BTreeMap::from([("url".to_owned(), "redis://{{ host }}:6379".to_owned())]),
        )
        .expect("renders");
        assert_eq!(component.get("url").as_deref(), Ok("redis://db:6379"));
        assert!(matches!(
            component.get("nope"),
            Err(VariableError::Undefined(_))
        ));
        assert!(matches!(
            component.get("Bad"),
            Err(VariableError::InvalidName(_))
        ));
    }
}
