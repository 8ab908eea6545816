//! Building and running booking-service.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use attend_runtime::Secret;
use attend_runtime::db::DbPool;
use attend_runtime::outbox::RelayWaker;
use attend_runtime::service::{self, Infra, Runner};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

use crate::auth::Tenant;
use crate::cache::{CalendarCache, TtlCache};
use crate::config::Config;
use crate::consume::{ReminderEventsHandler, reminder_events_spec, subscriber_events_spec};
use crate::routes;

/// The service's schema.
pub const SCHEMA: &str = "booking";
/// The service's migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The `booking` schema's pool.
    pub pool: DbPool,
    /// The operator token.
    pub admin_token: Secret,
    /// Tenants by API key hash, for 30 s.
    pub tenants_by_key: Arc<TtlCache<Vec<u8>, Tenant>>,
    /// Product schedules and busy times for slot searches and bookings.
    pub calendars: Arc<CalendarCache>,
    /// Wakes this process's outbox relay after a commit that enqueued with
    /// [`attend_runtime::outbox::RelayWake::InProcess`].
    pub relay_waker: RelayWaker,
}

/// How long a verified API key is trusted without asking the database again; a revoked key
/// stops working within this time.
pub const API_KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a product's agents, hours and exceptions, and the busy times of a slot search,
/// are reused when nothing in this process changed them: how long a change made through
/// another replica may take to show (busy times: up to twice this, see
/// [`crate::cache::BusyLookup::RefreshDue`]).
pub const SCHEDULE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// How often expired idempotency keys are deleted.
const IDEMPOTENCY_PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired idempotency keys every ten minutes until cancelled. A failed purge is
/// logged and retried next time: the keys are only garbage by then.
async fn purge_idempotency_keys(
    pool: DbPool,
    cancel: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    loop {
        match crate::booking::idempotency::purge_expired(&pool).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired idempotency keys deleted"),
            Err(error) => {
                tracing::warn!(error.message = %error, "could not delete expired idempotency keys");
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(IDEMPOTENCY_PURGE_INTERVAL) => {}
        }
    }
}

/// A built booking-service, ready to run.
pub struct Application {
    port: u16,
    infra: Infra,
    runner: Runner,
}

impl Application {
    /// Migrates, connects, declares its queue and binds `HTTP_HOST:HTTP_PORT`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = service::bind(&config.common.http_host, config.common.http_port)?;
        Self::build_with_listener(config, listener).await
    }

    /// Like [`Application::build`] on a listener bound by the caller (tests bind port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let infra = Infra::start("booking-service", SCHEMA, &config.common, MIGRATIONS).await?;
        let reminder_events =
            infra.consumer(reminder_events_spec(), Arc::new(ReminderEventsHandler));
        reminder_events.declare().await?;
        let subscriber_events =
            infra.consumer(subscriber_events_spec(), Arc::new(ReminderEventsHandler));
        subscriber_events.declare().await?;

        let port = listener.local_addr()?.port();
        let relay = infra.relay();
        let state = AppState {
            relay_waker: relay.waker(),
            pool: infra.pool.clone(),
            admin_token: config.admin_token.clone(),
            tenants_by_key: Arc::new(TtlCache::new(API_KEY_CACHE_TTL, 10_000)),
            calendars: Arc::new(
                CalendarCache::new(SCHEDULE_CACHE_TTL, 10_000)
                    .with_refresh_pool(infra.pool.clone()),
            ),
        };
        let server = service::http_server(listener, infra.health(), move |config| {
            config.app_data(web::Data::new(state.clone()));
            routes::configure(config);
        })?;

        let mut runner = Runner::new();
        runner.server(server);
        runner.spawn("outbox-relay", move |cancel| relay.run(cancel));
        runner.spawn("reminder-events-consumer", move |cancel| {
            reminder_events.run(cancel)
        });
        runner.spawn("subscriber-events-consumer", move |cancel| {
            subscriber_events.run(cancel)
        });
        let purge_pool = infra.pool.clone();
        runner.spawn("idempotency-key-purge", move |cancel| {
            purge_idempotency_keys(purge_pool, cancel)
        });
        runner.close_on_exit(infra.clone());
        tracing::info!(port, "booking-service ready");
        Ok(Self {
            port,
            infra,
            runner,
        })
    }

    /// Returns the port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the pool (tests inspect the database through it).
    pub fn pool(&self) -> DbPool {
        self.infra.pool.clone()
    }

    /// Serves until `shutdown` resolves, then stops gracefully.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.runner.run_until_stopped(shutdown).await
    }
}
