//! carrier-sim: a local stand-in for a Vobiz-style (Plivo-compatible) voice carrier and for
//! Flowroute- and Twilio-style SMS carriers.
//!
//! Voice: it accepts make-call requests exactly like the real carrier's API, then acts out each
//! call against the application's webhooks: it fetches the answer XML, plays a scripted callee
//! (keypresses per destination number), follows Gather/Redirect/Hangup, and finishes with a
//! hangup callback. Every webhook is signed as Vobiz signs them.
//!
//! SMS ([`sms`]): it accepts messages through both send APIs, records them with their encoding
//! and segment count, and has a scripted subscriber reply through the inbound webhook of the
//! API the conversation used (Twilio's signed). State is in memory only.
//!
//! [`Application`] is the single entry point, shared by `main.rs` and the integration tests.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod api;
mod call;
pub mod config;
mod error;
pub mod inspect;
pub mod limits;
pub mod script;
pub mod signature;
pub mod sms;
pub mod webhook;
pub mod xml;

pub use config::{Config, ConfigError};

/// How long in-flight HTTP requests may take to finish once shutdown starts, in seconds.
const HTTP_SHUTDOWN_TIMEOUT_SECONDS: u64 = 5;

/// How long the sim's webhook clients keep an idle connection: under the services' 5 s
/// keep-alive (actix-web's default), so a webhook is never written into a connection the
/// service is closing (the same reason as `attend_runtime::http::CLIENT_POOL_IDLE_TIMEOUT`;
/// the sim does not depend on the runtime).
pub(crate) const CLIENT_POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// How long running calls may take to notice the shutdown and stop.
const CALL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// State shared by the HTTP handlers and the running calls.
pub(crate) struct SimState {
    auth_id: String,
    auth_token: String,
    scripts: script::ScriptBook,
    calls: inspect::CallStore,
    /// The voice account's calls-per-second and concurrent-call limits, and what they saw.
    limits: limits::VoiceLimits,
    webhooks: webhook::WebhookClient,
    /// The SMS side: credentials, messages, reply scripts, settings.
    sms: sms::SmsState,
    /// Running calls, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled at shutdown; running calls stop at their next await point.
    cancel: CancellationToken,
    /// The runtime calls run on (actix workers have their own short-lived runtimes).
    runtime: Handle,
}

/// The carrier sim, bound to its port and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<SimState>,
}

impl Application {
    /// Binds `HTTP_HOST:HTTP_PORT` from `config` and builds the sim.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let address = SocketAddr::new(config.http_host, config.http_port);
        let listener =
            TcpListener::bind(address).with_context(|| format!("failed to bind {address}"))?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds the sim on an already bound listener (tests bind `127.0.0.1:0`).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener
            .local_addr()
            .context("failed to read the listener's address")?
            .port();
        let runtime = Handle::try_current()
            .context("the carrier sim must be built inside a tokio runtime")?;
        let webhooks =
            webhook::WebhookClient::new(config.auth_token.clone(), config.webhook_timeout)
                .context("failed to build the webhook http client")?;
        let sms = sms::SmsState::new(&config).context("failed to build the sms http client")?;

        let state = web::Data::new(SimState {
            auth_id: config.auth_id,
            auth_token: config.auth_token,
            scripts: script::ScriptBook::default(),
            calls: inspect::CallStore::default(),
            limits: limits::VoiceLimits::default(),
            webhooks,
            sms,
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            runtime,
        });

        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(api::configure)
                .configure(script::configure)
                .configure(inspect::configure)
                .configure(limits::configure)
                .configure(sms::configure)
        })
        .listen(listener)
        .context("failed to listen")?
        .disable_signals()
        .shutdown_timeout(HTTP_SHUTDOWN_TIMEOUT_SECONDS)
        .run();

        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// Returns the port the sim listens on (the real one when bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then stops accepting, finishes in-flight requests and
    /// stops running calls and pending SMS replies (each within a bounded time).
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self { server, state, .. } = self;
        let server_handle = server.handle();
        let mut server = std::pin::pin!(server);

        tokio::select! {
            result = &mut server => {
                result.context("the http server stopped unexpectedly")?;
            }
            () = shutdown => {
                tracing::info!("shutdown requested");
                // The server future must keep being polled while it stops.
                let (_, result) = tokio::join!(server_handle.stop(true), &mut server);
                result.context("the http server failed while stopping")?;
            }
        }

        state.cancel.cancel();
        state.tasks.close();
        if tokio::time::timeout(CALL_SHUTDOWN_TIMEOUT, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = state.tasks.len(),
                "calls still running after shutdown timeout"
            );
        }
        tracing::info!("carrier-sim stopped");
        Ok(())
    }
}

/// Returns `number` with all but its last two characters hidden: phone numbers never appear
/// in logs in clear, not even the simulator's.
pub fn mask_number(number: &str) -> String {
    let count = number.chars().count();
    let visible: String = number.chars().skip(count.saturating_sub(2)).collect();
    format!("***{visible}")
}
