//! Spin application manifest, version 2 (`spin.toml`).
//!
//! Parsing is strict: an unknown or mistyped field is an error that names the field and, for
//! component tables, the component, so a manifest that real Spin would reject never loads here.
//! The rules for names and routes are in `manifest/names.rs`.

mod names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::template::Template;
use names::{validate_component_id, validate_route, validate_variable_name};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest: {0}")]
    Syntax(String),
    #[error("invalid manifest: component `{component}`: {message}")]
    Component { component: String, message: String },
    #[error("invalid manifest: {section}: {message}")]
    Invalid { section: String, message: String },
}

fn invalid(section: impl Into<String>, message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        section: section.into(),
        message: message.into(),
    }
}

/// The whole application as declared in `spin.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory of the manifest; relative component sources resolve against it.
    pub base_dir: PathBuf,
    pub application: Application,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub redis_triggers: Vec<RedisTrigger>,
    pub components: BTreeMap<String, Component>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub trigger: ApplicationTriggers,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationTriggers {
    #[serde(default)]
    pub redis: Option<RedisDefaults>,
    #[serde(default)]
    pub http: Option<HttpDefaults>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisDefaults {
    pub address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpDefaults {
    pub base: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

impl std::fmt::Debug for VariableDecl {
    // A secret's default must never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let default = match (&self.default, self.secret) {
            (Some(_), true) => Some("<redacted>"),
            (Some(value), false) => Some(value.as_str()),
            (None, _) => None,
        };
        f.debug_struct("VariableDecl")
            .field("default", &default)
            .field("required", &self.required)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Where an HTTP trigger is reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpRoute {
    /// Served on this path pattern.
    Public(String),
    /// Only reachable through service chaining (`route = { private = true }`).
    Private,
}

#[derive(Debug, Clone)]
pub struct HttpTrigger {
    pub id: Option<String>,
    pub route: HttpRoute,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct RedisTrigger {
    pub id: Option<String>,
    pub channel: String,
    pub address: Option<String>,
    pub component: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: ComponentSource,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<FilesMount>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub build: Option<BuildConfig>,
}

/// One entry of a component's `files`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub enum FilesMount {
    /// `"static/**/*"`: a glob (or a file or directory path) relative to the manifest's
    /// directory; each match appears in the guest at the same relative path under `/`.
    Pattern(String),
    /// `{ source = "content", destination = "/site" }`: a file or directory relative to the
    /// manifest's directory, appearing in the guest at the absolute `destination`.
    Placement { source: String, destination: String },
}

impl TryFrom<toml::Value> for FilesMount {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        let shape = "each `files` entry is a glob pattern string or { source = \"...\", destination = \"/...\" }";
        match value {
            toml::Value::String(pattern) => Ok(Self::Pattern(pattern)),
            toml::Value::Table(mut table) => {
                let mut field = |name: &str| match table.remove(name) {
                    Some(toml::Value::String(value)) => Ok(value),
                    Some(other) => Err(format!(
                        "files: `{name}` must be a string, found {}",
                        other.type_str()
                    )),
                    None => Err(format!("files: missing field `{name}`; {shape}")),
                };
                let (source, destination) = (field("source")?, field("destination")?);
                if let Some(unknown) = table.keys().next() {
                    return Err(format!("files: unknown field `{unknown}`; {shape}"));
                }
                Ok(Self::Placement {
                    source,
                    destination,
                })
            }
            other => Err(format!("files: found {}; {shape}", other.type_str())),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ComponentSource {
    Local(String),
    Remote(toml::Table),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    pub command: BuildCommand,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BuildCommand {
    One(String),
    Many(Vec<String>),
}

impl BuildCommand {
    pub fn commands(&self) -> Vec<&str> {
        match self {
            BuildCommand::One(command) => vec![command.as_str()],
            BuildCommand::Many(commands) => commands.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: toml::Value,
    #[serde(default)]
    variables: BTreeMap<String, toml::Value>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    id: Option<String>,
    route: RawRoute,
    component: String,
    #[serde(default)]
    executor: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private(PrivateRoute),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateRoute {
    private: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedisTrigger {
    #[serde(default)]
    id: Option<String>,
    channel: String,
    #[serde(default)]
    address: Option<String>,
    component: String,
}

impl Manifest {
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, base_dir_of(path))
    }

    pub fn parse(text: &str, base_dir: PathBuf) -> Result<Self, ManifestError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().to_owned()))?;
        if raw.spin_manifest_version.as_integer() != Some(2) {
            return Err(invalid(
                "spin_manifest_version",
                format!(
                    "expected 2, found {}; only manifest version 2 is supported",
                    raw.spin_manifest_version
                ),
            ));
        }
        let application = Application::deserialize(raw.application)
            .map_err(|e| invalid("[application]", e.message().to_owned()))?;
        let variables = Self::parse_variables(raw.variables)?;
        let components = Self::parse_components(raw.component, &variables)?;
        let (http_triggers, redis_triggers) = Self::parse_triggers(raw.trigger)?;
        let manifest = Manifest {
            base_dir,
            application,
            variables,
            http_triggers,
            redis_triggers,
            components,
        };
        manifest.validate_references()?;
        Ok(manifest)
    }

    fn parse_variables(
        raw: BTreeMap<String, toml::Value>,
    ) -> Result<BTreeMap<String, VariableDecl>, ManifestError> {
        let mut variables = BTreeMap::new();
        for (name, value) in raw {
            validate_variable_name(&name).map_err(|m| invalid(format!("[variables] {name}"), m))?;
            let decl = VariableDecl::deserialize(value)
                .map_err(|e| invalid(format!("[variables] {name}"), e.message().to_owned()))?;
            if decl.required && decl.default.is_some() {
                return Err(invalid(
                    format!("[variables] {name}"),
                    "a variable cannot be both required and have a default",
                ));
            }
            variables.insert(name, decl);
        }
        Ok(variables)
    }

    /// The components, each checked against the app's `variables`.
    fn parse_components(
        raw: BTreeMap<String, toml::Value>,
        variables: &BTreeMap<String, VariableDecl>,
    ) -> Result<BTreeMap<String, Component>, ManifestError> {
        let mut components = BTreeMap::new();
        for (id, value) in raw {
            validate_component_id(&id).map_err(|message| ManifestError::Component {
                component: id.clone(),
                message,
            })?;
            let component =
                Component::deserialize(value).map_err(|e| ManifestError::Component {
                    component: id.clone(),
                    message: e.message().to_owned(),
                })?;
            component
                .validate(variables)
                .map_err(|message| ManifestError::Component {
                    component: id.clone(),
                    message,
                })?;
            components.insert(id, component);
        }
        Ok(components)
    }

    fn parse_triggers(
        raw: BTreeMap<String, Vec<toml::Table>>,
    ) -> Result<(Vec<HttpTrigger>, Vec<RedisTrigger>), ManifestError> {
        let mut http_triggers = Vec::new();
        let mut redis_triggers = Vec::new();
        for (kind, entries) in raw {
            for (index, entry) in entries.into_iter().enumerate() {
                let section = format!("[[trigger.{kind}]] #{}", index + 1);
                match kind.as_str() {
                    "http" => {
                        let raw = RawHttpTrigger::deserialize(entry)
                            .map_err(|e| invalid(&section, e.message().to_owned()))?;
                        http_triggers.push(raw.into_trigger(&section)?);
                    }
                    "redis" => {
                        let raw = RawRedisTrigger::deserialize(entry)
                            .map_err(|e| invalid(&section, e.message().to_owned()))?;
                        if raw.channel.is_empty() {
                            return Err(invalid(&section, "`channel` must not be empty"));
                        }
                        redis_triggers.push(RedisTrigger {
                            id: raw.id,
                            channel: raw.channel,
                            address: raw.address,
                            component: raw.component,
                        });
                    }
                    other => {
                        return Err(invalid(
                            format!("[[trigger.{other}]]"),
                            "unknown trigger type; this runtime supports `http` and `redis`",
                        ));
                    }
                }
            }
        }
        Ok((http_triggers, redis_triggers))
    }

    fn validate_references(&self) -> Result<(), ManifestError> {
        let mut seen_routes = BTreeMap::new();
        for trigger in &self.http_triggers {
            if !self.components.contains_key(&trigger.component) {
                return Err(invalid(
                    "[[trigger.http]]",
                    format!("component `{}` is not defined", trigger.component),
                ));
            }
            if let HttpRoute::Public(route) = &trigger.route
                && let Some(previous) = seen_routes.insert(route.clone(), &trigger.component)
            {
                return Err(invalid(
                    "[[trigger.http]]",
                    format!(
                        "route `{route}` is used by both `{previous}` and `{}`",
                        trigger.component
                    ),
                ));
            }
        }
        for trigger in &self.redis_triggers {
            if !self.components.contains_key(&trigger.component) {
                return Err(invalid(
                    "[[trigger.redis]]",
                    format!("component `{}` is not defined", trigger.component),
                ));
            }
            if trigger.address.is_none()
                && self
                    .application
                    .trigger
                    .redis
                    .as_ref()
                    .and_then(|r| r.address.as_ref())
                    .is_none()
            {
                return Err(invalid(
                    "[[trigger.redis]]",
                    format!(
                        "channel `{}` has no address and [application.trigger.redis] sets none",
                        trigger.channel
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The Redis server a trigger subscribes to, before variable expansion.
    pub fn redis_address_for<'a>(&'a self, trigger: &'a RedisTrigger) -> Option<&'a str> {
        trigger.address.as_deref().or_else(|| {
            self.application
                .trigger
                .redis
                .as_ref()
                .and_then(|r| r.address.as_deref())
        })
    }

    pub fn source_path(&self, component: &Component) -> Option<PathBuf> {
        match &component.source {
            ComponentSource::Local(path) => Some(self.base_dir.join(path)),
            ComponentSource::Remote(_) => None,
        }
    }
}

impl RawHttpTrigger {
    fn into_trigger(self, section: &str) -> Result<HttpTrigger, ManifestError> {
        if let Some(executor) = &self.executor {
            let kind = executor.get("type").and_then(toml::Value::as_str);
            if kind != Some("spin") {
                return Err(invalid(
                    section,
                    "only the `spin` executor (WASI HTTP components) is supported",
                ));
            }
        }
        let route = match self.route {
            RawRoute::Path(path) => {
                validate_route(&path).map_err(|m| invalid(section, m))?;
                HttpRoute::Public(path)
            }
            RawRoute::Private(PrivateRoute { private: true }) => HttpRoute::Private,
            RawRoute::Private(PrivateRoute { private: false }) => {
                return Err(invalid(
                    section,
                    "`route = { private = false }` is not a route; give a path instead",
                ));
            }
        };
        Ok(HttpTrigger {
            id: self.id,
            route,
            component: self.component,
        })
    }
}

impl Component {
    fn validate(&self, app_variables: &BTreeMap<String, VariableDecl>) -> Result<(), String> {
        if let ComponentSource::Local(path) = &self.source
            && path.is_empty()
        {
            return Err("`source` must not be empty".into());
        }
        for label in self.key_value_stores.iter().chain(&self.sqlite_databases) {
            if label.is_empty()
                || !label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "label `{label}` may only contain letters, digits, `_` and `-`"
                ));
            }
        }
        for mount in &self.files {
            crate::capabilities::files::validate_mount(mount)?;
        }
        for pattern in &self.exclude_files {
            crate::capabilities::files::validate_exclude(pattern)?;
        }
        for (name, value) in &self.variables {
            validate_variable_name(name).map_err(|m| format!("variables.{name}: {m}"))?;
            let template = Template::parse(value).map_err(|m| format!("variables.{name}: {m}"))?;
            for reference in template.references() {
                if !app_variables.contains_key(reference) {
                    return Err(format!(
                        "variables.{name} refers to `{reference}`, which is not in [variables]"
                    ));
                }
            }
        }
        for host in &self.allowed_outbound_hosts {
            let template = Template::parse(host)
                .map_err(|m| format!("allowed_outbound_hosts `{host}`: {m}"))?;
            for reference in template.references() {
                if !app_variables.contains_key(reference) {
                    return Err(format!(
                        "allowed_outbound_hosts `{host}` refers to `{reference}`, which is not in [variables]"
                    ));
                }
            }
            if template.references().next().is_none() {
                crate::capabilities::outbound_networking::AllowedHost::parse(host)
                    .map_err(|m| format!("allowed_outbound_hosts: {m}"))?;
            }
        }
        Ok(())
    }
}

/// The directory relative component paths and build workdirs resolve against.
fn base_dir_of(manifest: &Path) -> PathBuf {
    match manifest.parent() {
        // `spin.toml` alone has the empty path as parent, which is no directory to run in.
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests;
