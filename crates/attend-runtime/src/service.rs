//! Wiring shared by every service: start-up of the infrastructure in the documented order, the
//! single HTTP app factory, and a runner that stops everything gracefully.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use diesel_migrations::EmbeddedMigrations;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::amqp::Broker;
use crate::config::CommonConfig;
use crate::consumer::{ConsumerSpec, EventConsumer, EventHandler};
use crate::db::{self, DbPool, SchemaName};
use crate::http::{self, HealthState, TraceparentRootSpan};
use crate::metrics::Metrics;
use crate::outbox::OutboxRelay;

/// How long a stopping service waits for in-flight requests and messages.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A service's connections: its schema's pool, the broker, and its metrics.
#[derive(Clone)]
pub struct Infra {
    /// The pool, with `search_path` on the service's schema.
    pub pool: DbPool,
    /// The process's broker connection.
    pub broker: Broker,
    /// The process's metrics.
    pub metrics: Metrics,
    /// The service's schema.
    pub schema: SchemaName,
    database_url: String,
    source: String,
}

impl Infra {
    /// Migrates `schema`, builds the pool and connects the broker, in that order, so a
    /// service never serves before its schema is current.
    pub async fn start(
        service_name: &'static str,
        schema: &'static str,
        config: &CommonConfig,
        migrations: EmbeddedMigrations,
    ) -> anyhow::Result<Self> {
        let schema = SchemaName::new(schema)?;
        let database_url = config.database_url.expose().to_owned();
        db::migrate(&database_url, schema, migrations).await?;
        let pool = db::connect(&database_url, schema, config.db_pool_size).await?;
        let broker = Broker::connect(
            &config.amqp_url,
            &config.amqp_prefix,
            service_name,
            Duration::from_secs(30),
        )
        .await?;
        let channel = broker.channel().await?;
        broker.declare_exchanges(&channel).await?;
        let _ = channel.close(200, "declared".into()).await;
        Ok(Self {
            pool,
            broker,
            metrics: Metrics::new(),
            schema,
            database_url,
            source: format!("/{service_name}"),
        })
    }

    /// Returns the outbox relay of this service's schema.
    pub fn relay(&self) -> OutboxRelay {
        OutboxRelay::new(
            self.pool.clone(),
            self.broker.clone(),
            &self.database_url,
            self.schema,
            &self.source,
            self.metrics.clone(),
        )
    }

    /// Returns a consumer of `spec` applying events with `handler`.
    pub fn consumer(&self, spec: ConsumerSpec, handler: Arc<dyn EventHandler>) -> EventConsumer {
        EventConsumer::new(
            spec,
            self.broker.clone(),
            self.pool.clone(),
            handler,
            self.metrics.clone(),
        )
    }

    /// Returns what `/readyz` checks.
    pub fn health(&self) -> HealthState {
        HealthState {
            pool: Some(self.pool.clone()),
            broker: Some(self.broker.clone()),
            metrics: self.metrics.clone(),
        }
    }
}

/// Binds `host:port`; port 0 picks a free port (tests).
pub fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind((host, port)).with_context(|| format!("failed to bind {host}:{port}"))
}

/// Builds the HTTP server: the one app factory shared by the binary and the tests. Every app
/// gets the request root span, metrics, problem+json extractor errors, `/healthz`, `/readyz`,
/// `/metrics`, the service's own routes, and a problem for unknown routes.
pub fn http_server<F>(
    listener: TcpListener,
    health: HealthState,
    routes: F,
) -> anyhow::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let server = HttpServer::new(move || {
        let health = health.clone();
        App::new()
            .wrap(from_fn(http::track_requests))
            .wrap(TracingLogger::<TraceparentRootSpan>::new())
            .app_data(http::json_config())
            .app_data(http::path_config())
            .app_data(http::query_config())
            .app_data(http::form_config())
            .configure(move |config| http::health_routes(config, health))
            .configure(routes.clone())
            .default_service(web::to(http::route_not_found))
    })
    .listen(listener)
    .context("failed to listen")?
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
    .run();
    Ok(server)
}

type TaskResult = (String, anyhow::Result<()>);

/// Runs a service's HTTP server and background tasks until a shutdown signal, then stops them
/// in order: tasks stop taking work, the server drains, connections close.
pub struct Runner {
    cancel: CancellationToken,
    tasks: JoinSet<TaskResult>,
    server: Option<Server>,
    infra: Option<Infra>,
}

impl Runner {
    /// Returns an empty runner.
    pub fn new() -> Self {
        Self {
            cancel: CancellationToken::new(),
            tasks: JoinSet::new(),
            server: None,
            infra: None,
        }
    }

    /// Returns the token background tasks watch to stop.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Spawns a background task that must stop when its token is cancelled.
    pub fn spawn<F, Fut>(&mut self, name: &str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let name = name.to_owned();
        let future = task(self.cancel.clone());
        self.tasks.spawn(async move { (name, future.await) });
    }

    /// Sets the HTTP server to run.
    pub fn server(&mut self, server: Server) {
        self.server = Some(server);
    }

    /// Closes these connections once everything has stopped.
    pub fn close_on_exit(&mut self, infra: Infra) {
        self.infra = Some(infra);
    }

    /// Runs until `shutdown` resolves or a task fails, then stops gracefully.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let server_handle = self.server.as_ref().map(Server::handle);
        if let Some(server) = self.server.take() {
            self.tasks.spawn(async move {
                ("http".to_owned(), server.await.map_err(anyhow::Error::from))
            });
        }
        let mut failure = None;
        tokio::select! {
            () = shutdown => tracing::info!("shutdown requested"),
            Some(joined) = self.tasks.join_next() => {
                let (name, result) = joined.unwrap_or_else(|error| ("task".to_owned(), Err(error.into())));
                let error = result.err().unwrap_or_else(|| anyhow::anyhow!("{name} stopped unexpectedly"));
                tracing::error!(task = %name, error.message = %error, error.cause_chain = ?error, "a task failed, stopping the service");
                failure = Some(error.context(format!("{name} failed")));
            }
        }
        self.cancel.cancel();
        if let Some(handle) = server_handle {
            handle.stop(true).await;
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(joined) = self.tasks.join_next().await {
                if let Ok((name, Err(error))) = joined {
                    tracing::warn!(task = %name, error.message = %error, "task ended with an error during shutdown");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("tasks did not stop within the grace period, aborting them");
            self.tasks.abort_all();
        }
        if let Some(infra) = self.infra.take() {
            infra.broker.close().await;
            infra.pool.close();
        }
        tracing::info!("stopped");
        failure.map_or(Ok(()), Err)
    }
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}
