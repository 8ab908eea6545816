//! The scheduler's configuration: the variables every service reads, plus the dispatcher's.

use std::time::Duration;

use attend_runtime::{CommonConfig, ConfigError, Env};

/// The port the scheduler listens on unless `HTTP_PORT` says otherwise.
pub const DEFAULT_HTTP_PORT: u16 = 8081;
/// The dispatcher's default longest sleep between two looks at the jobs table.
pub const DEFAULT_POLL_MS: u64 = 500;
/// The dispatcher's default number of jobs claimed per transaction.
pub const DEFAULT_BATCH_SIZE: i64 = 500;

/// Everything the scheduler reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database, broker, HTTP listener and telemetry.
    pub common: CommonConfig,
    /// `SCHEDULER_POLL_MS`: the longest the dispatcher sleeps before looking for due jobs again.
    /// It normally wakes at the next due time or when a consumer stored new jobs; the poll
    /// covers jobs written by another instance.
    pub poll_interval: Duration,
    /// `SCHEDULER_BATCH_SIZE`: jobs claimed per dispatch transaction.
    pub dispatch_batch_size: i64,
}

impl Config {
    /// Reads the configuration, failing on the first malformed variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_HTTP_PORT)?;
        let poll_ms = env.or(
            "SCHEDULER_POLL_MS",
            DEFAULT_POLL_MS,
            "a whole number of milliseconds from 10 to 60000",
        )?;
        if !(10..=60_000).contains(&poll_ms) {
            return Err(ConfigError::new(
                "SCHEDULER_POLL_MS",
                "must be a whole number of milliseconds from 10 to 60000",
            ));
        }
        let dispatch_batch_size = env.or(
            "SCHEDULER_BATCH_SIZE",
            DEFAULT_BATCH_SIZE,
            "a whole number from 1 to 5000",
        )?;
        if !(1..=5_000).contains(&dispatch_batch_size) {
            return Err(ConfigError::new(
                "SCHEDULER_BATCH_SIZE",
                "must be a whole number from 1 to 5000",
            ));
        }
        Ok(Self {
            common,
            poll_interval: Duration::from_millis(poll_ms),
            dispatch_batch_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = Config::from_env(&Env::default()).unwrap();
        assert_eq!(config.common.http_port, 8081);
        assert_eq!(config.poll_interval, Duration::from_millis(500));
        assert_eq!(config.dispatch_batch_size, 500);
    }

    #[test]
    fn the_poll_interval_is_read_in_milliseconds() {
        let env = Env::from_pairs([("SCHEDULER_POLL_MS", "250")]);
        assert_eq!(
            Config::from_env(&env).unwrap().poll_interval,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn a_malformed_or_out_of_range_value_names_the_variable() {
        for value in ["soon", "0", "600000"] {
            let env = Env::from_pairs([("SCHEDULER_POLL_MS", value)]);
            let error = Config::from_env(&env).unwrap_err();
            assert_eq!(error.variable, "SCHEDULER_POLL_MS", "{value}");
        }
        let env = Env::from_pairs([("SCHEDULER_BATCH_SIZE", "0")]);
        assert_eq!(
            Config::from_env(&env).unwrap_err().variable,
            "SCHEDULER_BATCH_SIZE"
        );
    }
}
