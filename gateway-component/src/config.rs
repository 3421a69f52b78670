//! Every Spin variable the gateway reads, each read by one function here, with what an absent
//! or invalid value falls back to. Variables are read when a request needs them, not up front:
//! each read is a host call, and most requests need few of them.
//!
//! Where a default lives: `spin.toml` states every variable's default — Spin requires one for a
//! variable that is not `required`, and it is the place operators read and override. Rust keeps
//! a copy only for the tunables whose value can be invalid (rate limits, the breaker's open
//! period, bulkhead sizes): a typo then leaves the gateway working at the default instead of
//! failing every request, and at run time there is no way to ask for the manifest's default.
//! A unit test keeps each copy equal to `spin.toml`'s. Where absence means "none" (CORS
//! origins, trusted proxies, the recovery credential), Rust has no default: absent = none,
//! which fails closed.

use wasmshop_kit::error::ApiError;
use wasmshop_kit::token::TokenConfig;

use crate::cors::CorsConfig;
use crate::limiter::{Limit, TrustedProxies};
use crate::resilience::{self, BreakerConfig};
use crate::routes::Class;

const REDIS_ADDRESS: &str = "redis_address";
const CORS_ALLOWED_ORIGINS: &str = "cors_allowed_origins";
const TRUSTED_PROXIES: &str = "trusted_proxies";
const RECOVERY_TOKEN: &str = "recovery_token";
const BREAKER_OPEN_MS: &str = "breaker_open_ms";
const MAX_IN_FLIGHT: &str = "upstream_max_in_flight";
const MAX_WRITES_IN_FLIGHT: &str = "upstream_max_writes_in_flight";

/// How long a circuit stays open before a probe, in ms (`breaker_open_ms`).
pub const DEFAULT_BREAKER_OPEN_MS: i64 = 10_000;

/// Reads and credential requests in flight to one upstream at most, across all gateway
/// instances (the bulkhead; `upstream_max_in_flight`); beyond it, 503 at once.
pub const DEFAULT_MAX_IN_FLIGHT: i64 = 128;

/// Writes in flight to one upstream at most (`upstream_max_writes_in_flight`), in a bulkhead of
/// their own. A context writes through one SQLite writer: past a few dozen writes in flight,
/// more only wait for its lock (a burst of 200 checkouts at 128 left some waiting past the 5 s
/// the kit allows), so the excess is better refused at once for the client to retry — without
/// refusing the reads, which never wait for the writer.
pub const DEFAULT_MAX_WRITES_IN_FLIGHT: i64 = 32;

/// A route class's rate limit when its variable (`rate_limit_<class>`) is absent or invalid.
pub fn default_limit(class: Class) -> Limit {
    let (requests, window_seconds) = match class {
        Class::Auth => (20, 60),
        Class::Read => (600, 60),
        Class::Write => (120, 60),
    };
    Limit {
        requests,
        window_seconds,
    }
}

/// The variable holding a class's rate limit, `"<requests>/<window seconds>"`.
fn rate_limit_variable(class: Class) -> String {
    format!("rate_limit_{}", class.as_str())
}

fn log(message: std::fmt::Arguments<'_>) {
    wasmshop_kit::trace::log("gateway", message);
}

/// The variable `name`; `None` (logged: the manifest passes every one) when it is absent.
fn get(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .map_err(|e| log(format_args!("variable `{name}`: {e}")))
        .ok()
}

fn misconfigured() -> ApiError {
    ApiError::internal("gateway misconfigured")
}

/// Where the gate, and the revocation check, reach Redis.
pub fn redis_address() -> Result<String, ApiError> {
    get(REDIS_ADDRESS).ok_or_else(misconfigured)
}

/// The secret, issuer and audience tokens are verified with (the variables users signs with).
pub fn tokens() -> Result<TokenConfig, ApiError> {
    TokenConfig::from_variables().map_err(|e| {
        log(format_args!("token configuration: {e}"));
        misconfigured()
    })
}

/// The recovery credential; "" = there is none.
pub fn recovery_token() -> String {
    get(RECOVERY_TOKEN).unwrap_or_default()
}

/// The browser origins CORS allows.
pub fn cors() -> CorsConfig {
    CorsConfig::parse(&get(CORS_ALLOWED_ORIGINS).unwrap_or_default())
}

/// The proxies whose `X-Forwarded-For` is believed; entries that are not IPs or CIDRs are
/// logged and ignored.
pub fn trusted_proxies() -> TrustedProxies {
    let (trusted, invalid) = TrustedProxies::parse(&get(TRUSTED_PROXIES).unwrap_or_default());
    if !invalid.is_empty() {
        log(format_args!(
            "`{TRUSTED_PROXIES}`: ignoring {invalid:?}, not IPs or CIDRs"
        ));
    }
    trusted
}

/// A route class's rate limit; an invalid value is logged and the default used.
pub fn rate_limit(class: Class) -> Limit {
    let name = rate_limit_variable(class);
    let Some(text) = get(&name) else {
        return default_limit(class);
    };
    Limit::parse(&text).unwrap_or_else(|| {
        log(format_args!(
            "`{name}` = {text:?} is not `<requests>/<seconds>`; using the default"
        ));
        default_limit(class)
    })
}

/// The circuit breaker's settings, with the open period from its variable.
pub fn breaker() -> BreakerConfig {
    BreakerConfig::with_open_ms(get(BREAKER_OPEN_MS).as_deref())
}

/// The bulkhead size of an upstream's writes, or of its reads and credential requests.
pub fn max_in_flight(writes: bool) -> i64 {
    let (name, default) = if writes {
        (MAX_WRITES_IN_FLIGHT, DEFAULT_MAX_WRITES_IN_FLIGHT)
    } else {
        (MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT)
    };
    resilience::max_in_flight(get(name).as_deref(), default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use wasmshop_kit::token::{AUDIENCE_VARIABLE, ISSUER_VARIABLE, SECRET_VARIABLE};

    const MANIFEST: &str = include_str!("../../spin.toml");
    const CLASSES: [Class; 3] = [Class::Auth, Class::Read, Class::Write];

    /// The `key = value` lines of one `[section]` of the manifest.
    fn section(name: &str) -> BTreeMap<&'static str, &'static str> {
        let header = format!("[{name}]");
        MANIFEST
            .lines()
            .skip_while(|line| line.trim() != header)
            .skip(1)
            .take_while(|line| !line.trim_start().starts_with('['))
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter_map(|line| line.split_once(" = "))
            .map(|(key, value)| (key.trim(), value.trim()))
            .collect()
    }

    /// The `default` of an application variable: `name = { default = "<text>", ... }`.
    fn manifest_default(name: &str) -> &'static str {
        section("variables")
            .get(name)
            .and_then(|value| value.split_once("default = \""))
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(text, _)| text)
            .unwrap_or_else(|| panic!("spin.toml gives `{name}` a default"))
    }

    #[test]
    fn the_fallbacks_are_the_manifests_defaults() {
        for class in CLASSES {
            let name = rate_limit_variable(class);
            assert_eq!(
                Limit::parse(manifest_default(&name)),
                Some(default_limit(class)),
                "{name}"
            );
        }
        for (name, default) in [
            (BREAKER_OPEN_MS, DEFAULT_BREAKER_OPEN_MS),
            (MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT),
            (MAX_WRITES_IN_FLIGHT, DEFAULT_MAX_WRITES_IN_FLIGHT),
        ] {
            assert_eq!(manifest_default(name).parse::<i64>(), Ok(default), "{name}");
        }
        // Absent means none in Rust; the manifest's default must mean the same.
        for name in [TRUSTED_PROXIES, RECOVERY_TOKEN] {
            assert_eq!(manifest_default(name), "", "{name}");
        }
    }

    #[test]
    fn the_gateway_is_given_every_variable_it_reads_and_no_other() {
        let mut read: Vec<String> = [
            REDIS_ADDRESS,
            CORS_ALLOWED_ORIGINS,
            TRUSTED_PROXIES,
            RECOVERY_TOKEN,
            BREAKER_OPEN_MS,
            MAX_IN_FLIGHT,
            MAX_WRITES_IN_FLIGHT,
            SECRET_VARIABLE,
            ISSUER_VARIABLE,
            AUDIENCE_VARIABLE,
        ]
        .map(str::to_owned)
        .into_iter()
        .chain(CLASSES.map(rate_limit_variable))
        .collect();
        read.sort();
        let given = section("component.gateway.variables");
        for (name, value) in &given {
            assert_eq!(*value, format!("\"{{{{ {name} }}}}\""), "{name}");
        }
        let given: Vec<String> = given.keys().map(|name| (*name).to_owned()).collect();
        assert_eq!(given, read);
    }

    #[test]
    fn rate_limits_are_read_from_one_variable_per_class() {
        assert_eq!(rate_limit_variable(Class::Write), "rate_limit_write");
        assert_eq!(rate_limit_variable(Class::Auth), "rate_limit_auth");
        assert_eq!(rate_limit_variable(Class::Read), "rate_limit_read");
    }
}
