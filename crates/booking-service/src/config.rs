//! booking-service configuration, from environment variables.

use attend_runtime::{CommonConfig, ConfigError, Env, Secret};

/// The port booking-service listens on by default.
pub const DEFAULT_PORT: u16 = 8080;

/// Everything booking-service reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database, broker, HTTP and telemetry settings.
    pub common: CommonConfig,
    /// `ADMIN_TOKEN`: guards the operator endpoints (`/v1/admin/...`). Required.
    pub admin_token: Secret,
}

impl Config {
    /// Reads the configuration; a missing `ADMIN_TOKEN` or a malformed value is an error
    /// naming the variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_PORT)?;
        let admin_token: String =
            env.required("ADMIN_TOKEN", "a token of at least 16 characters")?;
        if admin_token.len() < 16 {
            return Err(ConfigError::new(
                "ADMIN_TOKEN",
                "must be at least 16 characters",
            ));
        }
        Ok(Self {
            common,
            admin_token: Secret::new(admin_token),
        })
    }
}
