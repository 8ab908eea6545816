//! Configuration from environment variables (12-factor), each with a local default.
//!
//! A missing required variable or a malformed value stops start-up with one line that names
//! the variable, e.g. `invalid configuration: HTTP_PORT must be a number from 0 to 65535`.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use crate::telemetry::LogFormat;

/// A configuration value that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable} {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong with it, lowercase.
    pub reason: String,
}

impl ConfigError {
    /// Returns an error about `variable`.
    pub fn new(variable: &str, reason: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A snapshot of environment variables to read configuration from.
///
/// Tests build one from pairs instead of mutating the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// Returns a snapshot of the process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// Returns an environment made of exactly these pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Returns a copy with `name` set to `value`.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// Returns the raw value of `name`; an empty value counts as unset.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    /// Returns the parsed value of a variable that must be set.
    pub fn required<T: FromStr>(&self, name: &str, expected: &str) -> Result<T, ConfigError> {
        let raw = self
            .raw(name)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))?;
        raw.trim()
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be {expected}")))
    }

    /// Returns the parsed value of `name`, or `None` when it is unset.
    pub fn optional<T: FromStr>(
        &self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.raw(name) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ConfigError::new(name, format!("must be {expected}"))),
        }
    }

    /// Returns the parsed value of `name`, or `default` when it is unset.
    pub fn or<T: FromStr>(&self, name: &str, default: T, expected: &str) -> Result<T, ConfigError> {
        Ok(self.optional(name, expected)?.unwrap_or(default))
    }

    /// Returns the string value of `name`, or `default` when it is unset.
    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or(default).trim().to_owned()
    }

    /// Returns the whole number `name` (default `default`), refusing one outside `range`.
    pub fn number_in(
        &self,
        name: &str,
        default: u64,
        range: RangeInclusive<u64>,
        unit: &str,
    ) -> Result<u64, ConfigError> {
        let expected = format!(
            "a whole number of {unit} from {} to {}",
            range.start(),
            range.end()
        );
        let value = self.or(name, default, &expected)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(name, format!("must be {expected}")));
        }
        Ok(value)
    }

    /// Returns the duration `name` given in milliseconds, refusing one outside `range`.
    pub fn millis(
        &self,
        name: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number_in(name, default, range, "milliseconds")
            .map(Duration::from_millis)
    }

    /// Returns the duration `name` given in seconds, refusing one outside `range`.
    pub fn seconds(
        &self,
        name: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number_in(name, default, range, "seconds")
            .map(Duration::from_secs)
    }
}

/// A string that must not appear in logs: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What every service reads: database, broker, HTTP listener and telemetry.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// `DATABASE_URL`: the shared Postgres database; the service works in its own schema.
    pub database_url: Secret,
    /// `DB_POOL_SIZE`: connections in the pool.
    pub db_pool_size: usize,
    /// `AMQP_URL`: the RabbitMQ broker.
    pub amqp_url: Secret,
    /// `AMQP_PREFIX`: prefixes every exchange and queue name, so tests can share a broker.
    pub amqp_prefix: String,
    /// `HTTP_HOST`: the address to listen on.
    pub http_host: String,
    /// `HTTP_PORT`: the port to listen on; 0 picks a free one.
    pub http_port: u16,
    /// `LOG_FORMAT`: `pretty` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: where to export traces (OTLP/HTTP); unset means no export.
    pub otlp_endpoint: Option<String>,
}

/// The local default database, shared by every service (each in its own schema).
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/attend";
/// The local default broker.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl CommonConfig {
    /// Reads the common variables; `default_port` is the service's own port.
    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        let database_url = env.string_or("DATABASE_URL", DEFAULT_DATABASE_URL);
        if !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must be a postgres:// URL",
            ));
        }
        let amqp_url = env.string_or("AMQP_URL", DEFAULT_AMQP_URL);
        if !amqp_url.starts_with("amqp://") && !amqp_url.starts_with("amqps://") {
            return Err(ConfigError::new("AMQP_URL", "must be an amqp:// URL"));
        }
        let db_pool_size = env.or("DB_POOL_SIZE", 8_usize, "a whole number from 1 to 256")?;
        if !(1..=256).contains(&db_pool_size) {
            return Err(ConfigError::new(
                "DB_POOL_SIZE",
                "must be a whole number from 1 to 256",
            ));
        }
        Ok(Self {
            database_url: Secret::new(database_url),
            db_pool_size,
            amqp_url: Secret::new(amqp_url),
            amqp_prefix: env.string_or("AMQP_PREFIX", ""),
            http_host: env.string_or("HTTP_HOST", "127.0.0.1"),
            http_port: env.or("HTTP_PORT", default_port, "a number from 0 to 65535")?,
            log_format: env.or("LOG_FORMAT", LogFormat::Pretty, "`pretty` or `json`")?,
            otlp_endpoint: env.raw("OTEL_EXPORTER_OTLP_ENDPOINT").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = CommonConfig::from_env(&Env::default(), 8080).unwrap();
        assert_eq!(config.http_port, 8080);
        assert_eq!(config.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(config.amqp_prefix, "");
        assert_eq!(config.log_format, LogFormat::Pretty);
    }

    #[test]
    fn a_malformed_value_names_the_variable() {
        let env = Env::from_pairs([("HTTP_PORT", "eighty")]);
        let error = CommonConfig::from_env(&env, 8080).unwrap_err();
        assert_eq!(error.variable, "HTTP_PORT");
        assert_eq!(
            error.to_string(),
            "invalid configuration: HTTP_PORT must be a number from 0 to 65535"
        );
    }

    #[test]
    fn a_missing_required_value_says_so() {
        let error = Env::default()
            .required::<String>("ADMIN_TOKEN", "a token")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: ADMIN_TOKEN is required but not set"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let config = CommonConfig::from_env(&Env::default(), 1).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("postgres:postgres"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
