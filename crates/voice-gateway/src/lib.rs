//! voice-gateway: places appointment reminder calls at the voice carrier and runs them.
//!
//! - [`reminders`]: consumes `reminder.due.voice` and records one call attempt per reminder;
//! - [`dialer`]: places queued attempts through a [`carrier::VoiceCarrier`] (Vobiz), recording
//!   each attempt before the call so that no reminder is ever called twice;
//! - [`webhooks`]: the carrier's signed callbacks, answered with call-flow XML ([`call_flow`],
//!   [`xml`]) and verified by [`signature`];
//! - [`attempts`]: the `call_attempts` state and its `reminder.outcome` events (outbox);
//! - [`api`]: the `/voicebot/v1` robo-call dialect (workflows, batches, status, settings),
//!   authenticated by [`api_keys`]; [`batches`] runs the batches through the same dialer and
//!   webhooks, and [`callbacks`] delivers their signed completion callbacks.
//!
//! [`Application`] is the one entry point, shared by `main.rs` and the tests.

pub mod api;
pub mod api_keys;
pub mod attempts;
pub mod batches;
pub mod call_flow;
pub mod callbacks;
pub mod carrier;
pub mod config;
pub mod consent;
pub mod db;
pub mod dialer;
pub mod integrators;
pub mod reminders;
pub mod settings;
pub mod signature;
pub mod templates;
pub mod voices;
pub mod webhooks;
pub mod workflow;
pub mod xml;

/// Phone numbers masked for logs (shared with sms-service).
pub use attend_runtime::mask;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use attend_runtime::service::{self, Infra, Runner};
use tokio::sync::Notify;

pub use config::Config;

use crate::carrier::{VobizCarrier, VoiceCarrier};
use crate::dialer::Dialer;
use crate::reminders::ReminderDueHandler;
use crate::webhooks::WebhookState;

/// The service name in logs, traces and the broker connection.
pub const SERVICE_NAME: &str = "voice-gateway";
/// The gateway's Postgres schema.
pub const SCHEMA: &str = "voice";

/// The gateway, migrated, connected and bound, ready to run.
pub struct Application {
    port: u16,
    runner: Runner,
}

impl Application {
    /// Binds `HTTP_HOST:HTTP_PORT` and builds the gateway.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = service::bind(&config.common.http_host, config.common.http_port)?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds the gateway on a bound listener (tests bind port 0 first, to know `PUBLIC_URL`):
    /// migrations, pool and broker, the queue, then the HTTP server, the consumer, the dialer
    /// and the outbox relay.
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener
            .local_addr()
            .context("failed to read the listener's address")?
            .port();
        let infra = Infra::start(SERVICE_NAME, SCHEMA, &config.common, db::MIGRATIONS).await?;

        // The built-in workflow is data, validated and stored before any reminder needs it.
        {
            let mut connection = infra
                .pool
                .get()
                .await
                .context("no database connection to install workflows")?;
            let workflow_id = workflow::install_built_ins(&mut connection).await?;
            tracing::info!(%workflow_id, "built-in reminder workflow installed");
        }

        let wake_dialer = Arc::new(Notify::new());
        let consumer = infra.consumer(
            reminders::consumer_spec(),
            Arc::new(ReminderDueHandler::new(wake_dialer.clone())),
        );
        consumer.declare().await?;
        let settings_consumer = infra.consumer(
            settings::consumer_spec(),
            Arc::new(settings::SettingsHandler),
        );
        settings_consumer.declare().await?;
        let cancelled_consumer = infra.consumer(
            settings::cancelled_consumer_spec(),
            Arc::new(settings::CancelledHandler),
        );
        cancelled_consumer.declare().await?;
        let subscribers_consumer = infra.consumer(
            consent::consumer_spec(),
            Arc::new(consent::SubscriberHandler),
        );
        subscribers_consumer.declare().await?;
        let api_keys_consumer =
            infra.consumer(api_keys::consumer_spec(), Arc::new(api_keys::ApiKeyHandler));
        api_keys_consumer.declare().await?;

        let carrier: Arc<dyn VoiceCarrier> = Arc::new(VobizCarrier::new(&config.vobiz)?);
        let dialer = Dialer::new(
            infra.pool.clone(),
            carrier,
            config.dialer.clone(),
            config.public_url.clone(),
            wake_dialer.clone(),
        );
        let callback_sender =
            callbacks::CallbackSender::new(infra.pool.clone(), config.callbacks.clone())?;

        let webhook_state = web::Data::new(WebhookState {
            pool: infra.pool.clone(),
            public_url: config.public_url.clone(),
            auth_token: config.vobiz.auth_token.clone(),
            callback_number: config.callback_number.clone(),
            call_watchdog: config.dialer.call_watchdog,
            workflows: Arc::new(workflow::Cache::default()),
            settings: Arc::new(settings::new_cache()),
            wake_dialer: wake_dialer.clone(),
        });
        let api_state = web::Data::new(api::ApiState {
            pool: infra.pool.clone(),
            wake_dialer,
        });
        let server = service::http_server(listener, infra.health(), move |routes| {
            webhooks::configure(routes, webhook_state.clone());
            api::configure(routes, api_state.clone());
        })?;

        let mut runner = Runner::new();
        let relay = infra.relay();
        runner.spawn("outbox-relay", move |cancel| relay.run(cancel));
        runner.spawn("reminders-due-consumer", move |cancel| consumer.run(cancel));
        runner.spawn("tenant-settings-consumer", move |cancel| {
            settings_consumer.run(cancel)
        });
        runner.spawn("appointments-cancelled-consumer", move |cancel| {
            cancelled_consumer.run(cancel)
        });
        runner.spawn("subscribers-consumer", move |cancel| {
            subscribers_consumer.run(cancel)
        });
        runner.spawn("tenant-keys-consumer", move |cancel| {
            api_keys_consumer.run(cancel)
        });
        runner.spawn("dialer", move |cancel| dialer.run(cancel));
        runner.spawn("batch-callbacks", move |cancel| callback_sender.run(cancel));
        let pool = infra.pool.clone();
        runner.spawn("nonce-pruner", move |cancel| {
            webhooks::prune_nonces(pool, cancel)
        });
        runner.server(server);
        runner.close_on_exit(infra);
        tracing::info!(port, public_url = %config.public_url, "voice-gateway ready");
        Ok(Self { port, runner })
    }

    /// Returns the port the gateway listens on (the real one when bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until `shutdown` resolves or a task fails, then stops gracefully.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.runner.run_until_stopped(shutdown).await
    }
}
