//! Spin application manifest, version 2 (`spin.toml`).
//!
//! Parsing is strict: an unknown or mistyped field is an error that names the field and, for
//! component tables, the component, so a manifest that real Spin would reject never loads here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::template::Template;

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

        let mut variables = BTreeMap::new();
        for (name, value) in raw.variables {
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

        let mut components = BTreeMap::new();
        for (id, value) in raw.component {
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
                .validate(&variables)
                .map_err(|message| ManifestError::Component {
                    component: id.clone(),
                    message,
                })?;
            components.insert(id, component);
        }

        let mut http_triggers = Vec::new();
        let mut redis_triggers = Vec::new();
        for (kind, entries) in raw.trigger {
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

/// Spin variable names: lower-case letters, digits and underscores, starting with a letter.
fn validate_variable_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if starts_with_letter
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(())
    } else {
        Err(format!(
            "invalid variable name `{name}`: use lower-case letters, digits and `_`, starting with a letter"
        ))
    }
}

/// Spin component ids are kebab-case: lower-case words of letters and digits joined by `-`.
fn validate_component_id(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase());
    if valid {
        Ok(())
    } else {
        Err("component ids must be kebab-case (lower-case letters, digits and `-`)".into())
    }
}

/// A route is `/`-separated segments; `:name` captures one segment and a final `/...` captures
/// the rest of the path.
fn validate_route(route: &str) -> Result<(), String> {
    if !route.starts_with('/') {
        return Err(format!("route `{route}` must start with `/`"));
    }
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        if *segment == "..." && !last {
            return Err(format!("route `{route}`: `...` is only allowed at the end"));
        }
        if segment.contains("...") && *segment != "..." {
            return Err(format!("route `{route}`: `...` must be a whole segment"));
        }
        if let Some(name) = segment.strip_prefix(':')
            && name.is_empty()
        {
            return Err(format!("route `{route}`: a `:` segment needs a name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, PathBuf::from("/app"))
    }

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
"#;

    #[test]
    fn parses_a_minimal_manifest() {
        let manifest = parse(MINIMAL).expect("valid manifest");
        assert_eq!(manifest.application.name, "demo");
        assert_eq!(
            manifest.http_triggers[0].route,
            HttpRoute::Public("/...".into())
        );
        assert_eq!(
            manifest.source_path(&manifest.components["web"]),
            Some(PathBuf::from("/app/web.wasm"))
        );
    }

    #[test]
    fn unknown_component_field_names_field_and_component() {
        let text = MINIMAL.replace("source = \"web.wasm\"", "source = \"web.wasm\"\nsorce = 1");
        let err = parse(&text).expect_err("unknown field").to_string();
        assert!(err.contains("`web`"), "{err}");
        assert!(err.contains("sorce"), "{err}");
    }

    #[test]
    fn wrong_type_is_reported_with_component() {
        let text = MINIMAL.replace(
            "source = \"web.wasm\"",
            "source = \"web.wasm\"\nkey_value_stores = \"default\"",
        );
        let err = parse(&text).expect_err("wrong type").to_string();
        assert!(err.contains("`web`"), "{err}");
        assert!(err.contains("sequence"), "{err}");
    }

    #[test]
    fn rejects_version_one_and_garbage() {
        assert!(parse("spin_manifest_version = 1\n[application]\nname='x'").is_err());
        let err = parse("this is = not toml [")
            .expect_err("syntax")
            .to_string();
        assert!(err.starts_with("invalid manifest"), "{err}");
    }

    #[test]
    fn private_routes_and_redis_triggers() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "demo"
[application.trigger.redis]
address = "redis://127.0.0.1:6379"
[[trigger.http]]
route = { private = true }
component = "svc"
[[trigger.redis]]
channel = "events"
component = "svc"
[component.svc]
source = "svc.wasm"
"#;
        let manifest = parse(text).expect("valid");
        assert_eq!(manifest.http_triggers[0].route, HttpRoute::Private);
        let trigger = &manifest.redis_triggers[0];
        assert_eq!(
            manifest.redis_address_for(trigger),
            Some("redis://127.0.0.1:6379")
        );
    }

    #[test]
    fn redis_trigger_without_any_address_is_an_error() {
        let text = MINIMAL.to_owned() + "[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"web\"\n";
        let err = parse(&text).expect_err("no address").to_string();
        assert!(err.contains("no address"), "{err}");
    }

    #[test]
    fn trigger_must_name_a_defined_component() {
        let text = MINIMAL.replace("component = \"web\"", "component = \"nope\"");
        assert!(
            parse(&text)
                .expect_err("undefined")
                .to_string()
                .contains("nope")
        );
    }

    #[test]
    fn component_variables_must_refer_to_app_variables() {
        let text = MINIMAL.to_owned() + "[component.web.variables]\nkey = \"{{ missing }}\"\n";
        let err = parse(&text).expect_err("undeclared").to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn invalid_routes_and_ids_are_rejected() {
        for route in ["no-slash", "/a/.../b", "/a/b...", "/:"] {
            let text = MINIMAL.replace("\"/...\"", &format!("\"{route}\""));
            assert!(parse(&text).is_err(), "{route} accepted");
        }
        let text = MINIMAL.replace("component.web", "component.Web_1");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn duplicate_routes_are_rejected() {
        let text = MINIMAL.to_owned() + "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n";
        assert!(
            parse(&text)
                .expect_err("dup")
                .to_string()
                .contains("used by both")
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let text =
            MINIMAL.to_owned() + "[variables]\ntoken = { default = \"hunter2\", secret = true }\n";
        let manifest = parse(&text).expect("valid");
        assert!(!format!("{manifest:?}").contains("hunter2"));
    }

    #[test]
    fn a_bare_file_name_resolves_against_the_current_directory() {
        assert_eq!(base_dir_of(Path::new("spin.toml")), PathBuf::from("."));
        assert_eq!(
            base_dir_of(Path::new("app/spin.toml")),
            PathBuf::from("app")
        );
        assert_eq!(
            base_dir_of(Path::new("/srv/spin.toml")),
            PathBuf::from("/srv")
        );
    }

    #[test]
    fn files_entries_are_patterns_or_placements() {
        let text = MINIMAL.to_owned()
            + "files = [\"static/**/*\", { source = \"content\", destination = \"/site\" }]\nexclude_files = [\"**/*.tmp\"]\n";
        let manifest = parse(&text).expect("valid");
        let web = &manifest.components["web"];
        assert_eq!(
            web.files,
            [
                FilesMount::Pattern("static/**/*".into()),
                FilesMount::Placement {
                    source: "content".into(),
                    destination: "/site".into()
                }
            ]
        );
        assert_eq!(web.exclude_files, ["**/*.tmp"]);
    }

    #[test]
    fn malformed_files_entries_name_the_component_and_the_fault() {
        let cases = [
            ("files = [1]", "found integer"),
            (
                "files = [{ source = \"a\" }]",
                "missing field `destination`",
            ),
            (
                "files = [{ source = \"a\", destination = \"/a\", mode = \"rw\" }]",
                "unknown field `mode`",
            ),
            (
                "files = [{ source = \"a\", destination = 1 }]",
                "`destination` must be a string",
            ),
            (
                "files = [{ source = \"a\", destination = \"a\" }]",
                "destination `a` must be an absolute path",
            ),
            (
                "files = [{ source = \"a\", destination = \"/a/../../b\" }]",
                "destination `/a/../../b` must not contain `..`",
            ),
            (
                "files = [\"assets/..\"]",
                "can't end in a parent directory path (..)",
            ),
            (
                "files = [\".\"]",
                "can't end in a current directory path (.)",
            ),
            (
                "exclude_files = [\"a/[\"]",
                "Invalid exclude_files glob pattern",
            ),
        ];
        for (line, expected) in cases {
            let text = MINIMAL.to_owned() + line + "\n";
            let err = parse(&text).expect_err(line).to_string();
            assert!(
                err.contains("`web`") && err.contains(expected),
                "{line}: {err}"
            );
        }
    }

    #[test]
    fn build_section_is_parsed() {
        let text = MINIMAL.to_owned()
            + "[component.web.build]\ncommand = \"cargo build\"\nworkdir = \"web\"\nwatch = [\"src/**/*.rs\"]\n";
        let manifest = parse(&text).expect("valid");
        let build = manifest.components["web"].build.as_ref().expect("build");
        assert_eq!(build.command.commands(), vec!["cargo build"]);
        assert_eq!(build.workdir.as_deref(), Some("web"));
    }
}
