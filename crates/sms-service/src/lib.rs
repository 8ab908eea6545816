//! sms-service: SMS reminders and the replies to them.
//!
//! - [`reminders`]: consumes `reminder.due.sms`, records one conversation per reminder attempt
//!   ([`conversations`]) and queues its text ([`outbound`], rendered by [`texts`]);
//! - [`sender`]: sends queued texts through a [`carrier::SmsCarrier`] (Flowroute or Twilio),
//!   recording each before the request so that nothing is sent twice, inside the tenant's
//!   sending window ([`settings`]);
//! - [`webhooks`]: the carriers' inbound texts, authenticated ([`signature`]) and applied by
//!   [`inbound`]: answers, opt-outs ([`consent`]), help;
//! - [`control`]: tenant settings, cancellations and other channels' consent events.
//!
//! [`Application`] is the one entry point, shared by `main.rs` and the tests.

pub mod carrier;
pub mod config;
pub mod consent;
pub mod control;
pub mod conversations;
pub mod db;
pub mod inbound;
pub mod outbound;
pub mod reminders;
pub mod sender;
pub mod settings;
pub mod signature;
pub mod texts;
pub mod webhooks;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use attend_runtime::service::{self, Infra, Runner};
use tokio::sync::Notify;

pub use config::Config;

use crate::carrier::{FlowrouteCarrier, SmsCarrier, TwilioCarrier};
use crate::config::CarrierChoice;
use crate::sender::Sender;
use crate::webhooks::WebhookState;

/// The service name in logs, traces and the broker connection.
pub const SERVICE_NAME: &str = "sms-service";
/// The service's schema.
pub const SCHEMA: &str = "sms";
/// The port sms-service listens on by default.
pub const DEFAULT_PORT: u16 = config::DEFAULT_PORT;

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

    /// Like [`Application::build`] on a listener bound by the caller (tests bind port 0
    /// first, to know `PUBLIC_URL`): migrations, pool and broker, the queues, then the HTTP
    /// server, the consumers, the sender and the outbox relay.
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener
            .local_addr()
            .context("failed to read the listener's address")?
            .port();
        let infra = Infra::start(SERVICE_NAME, SCHEMA, &config.common, db::MIGRATIONS).await?;

        let wake_sender = Arc::new(Notify::new());
        let reminders_consumer = infra.consumer(
            reminders::consumer_spec(),
            Arc::new(reminders::ReminderDueHandler::new(
                config.from_number.clone(),
                wake_sender.clone(),
            )),
        );
        reminders_consumer.declare().await?;
        let control_consumer =
            infra.consumer(control::consumer_spec(), Arc::new(control::ControlHandler));
        control_consumer.declare().await?;

        let carrier: Arc<dyn SmsCarrier> = match config.carrier {
            CarrierChoice::Flowroute => Arc::new(FlowrouteCarrier::new(&config.flowroute)?),
            CarrierChoice::Twilio => Arc::new(TwilioCarrier::new(&config.twilio)?),
        };
        let sender = Sender::new(
            infra.pool.clone(),
            carrier,
            config.sender.clone(),
            wake_sender.clone(),
        );

        let webhook_state = web::Data::new(WebhookState {
            pool: infra.pool.clone(),
            public_url: config.public_url.clone(),
            twilio_auth_token: config.twilio.auth_token.clone(),
            inbound_secret: config.inbound_secret.clone(),
            wake_sender,
        });
        let server = service::http_server(listener, infra.health(), move |routes| {
            webhooks::configure(routes, webhook_state.clone());
        })?;

        let mut runner = Runner::new();
        let relay = infra.relay();
        runner.spawn("outbox-relay", move |cancel| relay.run(cancel));
        runner.spawn("reminders-due-consumer", move |cancel| {
            reminders_consumer.run(cancel)
        });
        runner.spawn("control-consumer", move |cancel| {
            control_consumer.run(cancel)
        });
        runner.spawn("sender", move |cancel| sender.run(cancel));
        runner.server(server);
        runner.close_on_exit(infra);
        tracing::info!(port, public_url = %config.public_url, carrier = ?config.carrier, "sms-service ready");
        Ok(Self { port, runner })
    }

    /// Returns the port the server listens on (the real one when bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves or a task fails, then stops gracefully.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.runner.run_until_stopped(shutdown).await
    }
}
