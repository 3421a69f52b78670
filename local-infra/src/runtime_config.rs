//! Spin's runtime-config TOML (`--runtime-config-file`): where key-value stores and SQLite
//! databases live. Relative paths resolve against the file's directory, as in Spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::capabilities::key_value::KvStoreConfig;

#[derive(Debug, Default, Clone)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, KvStoreConfig>,
    pub sqlite_databases: BTreeMap<String, PathBuf>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, toml::Table>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, toml::Table>,
    // Sections that configure capabilities this runtime does not provide are accepted and
    // ignored, so one file serves both real Spin and this runtime.
    #[serde(flatten)]
    _other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawKvStore {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    Redis {
        url: String,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawSqlite {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    #[error("cannot read runtime config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid runtime config: {0}")]
    Invalid(String),
}

impl RuntimeConfig {
    pub fn from_file(
        path: &Path,
        state_dir: &Path,
        render: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, state_dir, render)
    }

    pub fn parse(
        text: &str,
        base_dir: &Path,
        state_dir: &Path,
        render: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Self, RuntimeConfigError> {
        let invalid = |section: &str, label: &str, message: String| {
            RuntimeConfigError::Invalid(format!("[{section}.{label}]: {message}"))
        };
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| RuntimeConfigError::Invalid(e.message().to_owned()))?;
        let mut config = RuntimeConfig::default();
        for (label, table) in raw.key_value_store {
            let store = RawKvStore::deserialize(table)
                .map_err(|e| invalid("key_value_store", &label, e.message().to_owned()))?;
            let store = match store {
                RawKvStore::Spin { path } => KvStoreConfig::Sqlite {
                    path: path
                        .map(|p| base_dir.join(p))
                        .unwrap_or_else(|| state_dir.join("sqlite_key_value.db")),
                },
                RawKvStore::Redis { url } => KvStoreConfig::Redis {
                    url: render(&url).map_err(|m| invalid("key_value_store", &label, m))?,
                },
            };
            config.key_value_stores.insert(label, store);
        }
        for (label, table) in raw.sqlite_database {
            let RawSqlite::Spin { path } = RawSqlite::deserialize(table)
                .map_err(|e| invalid("sqlite_database", &label, e.message().to_owned()))?;
            let path = path.map(|p| base_dir.join(p)).unwrap_or_else(|| {
                crate::capabilities::sqlite::default_database_path(state_dir, &label)
            });
            config.sqlite_databases.insert(label, path);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig, RuntimeConfigError> {
        RuntimeConfig::parse(text, Path::new("/cfg"), Path::new("/state"), |s| {
            Ok(s.replace("{{ redis_host }}", "cache"))
        })
    }

    #[test]
    fn parses_stores_and_databases() {
        let config = parse(
            r#"
[key_value_store.default]
type = "spin"
path = "kv.db"
[key_value_store.sessions]
type = "redis"
url = "redis://{{ redis_host }}:6379"
[sqlite_database.orders]
type = "spin"
path = "/data/orders.db"
[sqlite_database.default]
type = "spin"
"#,
        )
        .expect("valid");
        assert!(matches!(
            &config.key_value_stores["default"],
            KvStoreConfig::Sqlite { path } if path == Path::new("/cfg/kv.db")
        ));
        assert!(matches!(
            &config.key_value_stores["sessions"],
            KvStoreConfig::Redis { url } if url == "redis://cache:6379"
        ));
        assert_eq!(
            config.sqlite_databases["orders"],
            Path::new("/data/orders.db")
        );
        assert_eq!(
            config.sqlite_databases["default"],
            Path::new("/state/sqlite_db.db")
        );
    }

    #[test]
    fn unsupported_backend_is_a_clear_error() {
        let err = parse("[sqlite_database.x]\ntype = \"libsql\"\nurl = \"https://db\"\n")
            .expect_err("libsql unsupported")
            .to_string();
        assert!(err.contains("sqlite_database.x"), "{err}");
        assert!(err.contains("libsql"), "{err}");
    }
}
