//! sms-service: SMS reminders and replies. In this first slice it starts, migrates its `sms`
//! schema and reports health; sending, reply parsing and opt-outs arrive with issue #5.

use std::future::Future;
use std::net::TcpListener;

use attend_runtime::service::{self, Infra, Runner};
use attend_runtime::{CommonConfig, ConfigError, Env};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

pub mod carrier;
pub mod signature;

/// The service's schema.
pub const SCHEMA: &str = "sms";
/// The service's migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
/// The port sms-service listens on by default.
pub const DEFAULT_PORT: u16 = 8083;

/// Everything sms-service reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database, broker, HTTP and telemetry settings.
    pub common: CommonConfig,
}

impl Config {
    /// Reads the configuration from `env`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT)?,
        })
    }
}

/// A built sms-service, ready to run.
pub struct Application {
    port: u16,
    runner: Runner,
}

impl Application {
    /// Migrates, connects and binds `HTTP_HOST:HTTP_PORT`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = service::bind(&config.common.http_host, config.common.http_port)?;
        Self::build_with_listener(config, listener).await
    }

    /// Like [`Application::build`] on a listener bound by the caller.
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let infra = Infra::start("sms-service", SCHEMA, &config.common, MIGRATIONS).await?;
        let port = listener.local_addr()?.port();
        let server = service::http_server(listener, infra.health(), |_config| {})?;
        let mut runner = Runner::new();
        runner.server(server);
        runner.close_on_exit(infra);
        tracing::info!(port, "sms-service ready");
        Ok(Self { port, runner })
    }

    /// Returns the port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then stops gracefully.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.runner.run_until_stopped(shutdown).await
    }
}
