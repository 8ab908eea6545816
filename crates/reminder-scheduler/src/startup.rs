//! Start-up and shutdown: the one place that wires the scheduler together, shared by the
//! binary and the tests.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use attend_runtime::db::DbPool;
use attend_runtime::service::{bind, http_server};
use attend_runtime::{Infra, Runner};
use tokio::sync::Notify;

use crate::config::Config;
use crate::consume::{
    self, AppointmentEventsHandler, ReminderOutcomesHandler, TenantSettingsHandler,
};
use crate::db::MIGRATIONS;
use crate::dispatcher::Dispatcher;
use crate::routes;

/// The service's name in logs, traces and the CloudEvents source.
pub const SERVICE_NAME: &str = "reminder-scheduler";
/// The Postgres schema the scheduler owns.
pub const SCHEMA: &str = "scheduler";

/// A built scheduler: schema migrated, queues declared, listener bound, background tasks
/// (outbox relay, both consumers, dispatcher) running.
pub struct Application {
    port: u16,
    pool: DbPool,
    runner: Runner,
}

impl Application {
    /// Migrates the schema, connects to Postgres and RabbitMQ, declares the queues, binds the
    /// HTTP listener and starts the background tasks.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let infra = Infra::start(SERVICE_NAME, SCHEMA, &config.common, MIGRATIONS).await?;
        let dispatcher_wake = Arc::new(Notify::new());

        let appointment_events = infra.consumer(
            consume::appointment_events_spec(),
            Arc::new(AppointmentEventsHandler::new(
                dispatcher_wake.clone(),
                config.poll_interval,
            )),
        );
        let reminder_outcomes = infra.consumer(
            consume::reminder_outcomes_spec(),
            Arc::new(ReminderOutcomesHandler::new(dispatcher_wake.clone())),
        );
        let tenant_settings = infra.consumer(
            consume::tenant_settings_spec(),
            Arc::new(TenantSettingsHandler),
        );
        // Declared before serving, so events published from now on are kept for us.
        appointment_events
            .declare()
            .await
            .context("failed to declare the appointment events queue")?;
        reminder_outcomes
            .declare()
            .await
            .context("failed to declare the reminder outcomes queue")?;
        tenant_settings
            .declare()
            .await
            .context("failed to declare the tenant settings queue")?;

        let listener = bind(&config.common.http_host, config.common.http_port)?;
        let port = listener
            .local_addr()
            .context("the listener has no local address")?
            .port();
        let routes_pool = infra.pool.clone();
        let server = http_server(listener, infra.health(), move |service_config| {
            routes::configure(service_config, routes_pool.clone());
        })?;

        let dispatcher = Dispatcher::new(
            infra.pool.clone(),
            dispatcher_wake,
            config.poll_interval,
            config.dispatch_batch_size,
            infra.metrics.clone(),
        );
        let relay = infra.relay();
        let mut runner = Runner::new();
        runner.spawn("outbox-relay", |cancel| relay.run(cancel));
        runner.spawn("appointment-events-consumer", |cancel| {
            appointment_events.run(cancel)
        });
        runner.spawn("reminder-outcomes-consumer", |cancel| {
            reminder_outcomes.run(cancel)
        });
        runner.spawn("tenant-settings-consumer", |cancel| {
            tenant_settings.run(cancel)
        });
        runner.spawn("dispatcher", |cancel| dispatcher.run(cancel));
        runner.server(server);
        let pool = infra.pool.clone();
        runner.close_on_exit(infra);
        tracing::info!(port, "reminder-scheduler started");
        Ok(Self { port, pool, runner })
    }

    /// Returns the port the HTTP server listens on (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the pool on the scheduler's schema.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Serves until `shutdown` resolves or a task fails, then stops: consumers and the
    /// dispatcher stop taking work, the server drains, connections close.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.runner.run_until_stopped(shutdown).await
    }
}
