//! The test harness: a fresh database and AMQP prefix, the carrier sim in-process on a free
//! port, the gateway on a free port (bound first so `PUBLIC_URL` is known), a publisher that
//! injects `reminder.due.voice`, and an observer queue on `reminder.outcome`.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Context;
use attend_events::{Event, to_timestamp, v1};
use attend_runtime::amqp::{Broker, OutgoingEvent, PublishOutcome, Publisher};
use attend_runtime::{Env, Secret};
use attend_test_support::{TestEnv, wait_until};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use prost::Message as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use voice_gateway::db::schema::call_attempts;
use voice_gateway::{Application, Config};

/// The token the sim and the gateway share.
pub const AUTH_TOKEN: &str = "sim-token";
/// Long enough for a whole simulated call on a busy 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Where the gateway sends its make-call requests.
pub enum Carrier {
    /// The carrier sim, in-process.
    Sim,
    /// A base URL (e.g. a closed port or a stub).
    Url(String),
}

/// One running gateway and everything around it.
pub struct TestApp {
    /// The test's database and AMQP prefix.
    pub env: TestEnv,
    /// `http://127.0.0.1:<gateway port>`, also the gateway's `PUBLIC_URL`.
    pub address: String,
    /// `http://127.0.0.1:<sim port>`, when the sim runs.
    pub sim_address: Option<String>,
    /// An HTTP client.
    pub http: reqwest::Client,
    publisher: Publisher,
    publisher_broker: Broker,
    observer: lapin::Channel,
    observer_connection: lapin::Connection,
    observer_queue: String,
    gateway_env: Env,
    gateway_port: u16,
    gateway_stop: CancellationToken,
    sim_stop: CancellationToken,
    gateway: Option<JoinHandle<anyhow::Result<()>>>,
    sim: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Returns a fixed-offset IANA zone where it is about 14:00 now, so calls are inside the
/// default calling window (08:00–21:00) whenever the tests run.
pub fn midday_zone() -> String {
    use chrono::Timelike;
    let hour = i32::try_from(Utc::now().hour()).unwrap_or(0);
    // Etc/GMT-N is UTC+N (POSIX sign); offsets run from -12 to +14.
    let mut offset = 14 - hour;
    if offset > 14 {
        offset -= 24;
    }
    if offset < -12 {
        offset += 24;
    }
    match offset {
        0 => "Etc/GMT".to_owned(),
        positive if positive > 0 => format!("Etc/GMT-{positive}"),
        negative => format!("Etc/GMT+{}", -negative),
    }
}

/// A reminder to publish.
pub fn reminder_for(phone: &str) -> v1::ReminderDue {
    let start: DateTime<Utc> = Utc::now() + chrono::Duration::days(1);
    v1::ReminderDue {
        reminder_id: Uuid::now_v7().to_string(),
        appointment_id: Uuid::now_v7().to_string(),
        tenant_id: Uuid::now_v7().to_string(),
        channel: v1::Channel::Voice.into(),
        recipient: Some(v1::Recipient {
            name: "Ada & <Bob>".to_owned(),
            phone_e164: phone.to_owned(),
            locale: "en-US".to_owned(),
            time_zone: midday_zone(),
            ..v1::Recipient::default()
        }),
        business_name: "Acme Clinic".to_owned(),
        appointment_start: Some(to_timestamp(start)),
        location: "Main St 1".to_owned(),
        due_at: Some(to_timestamp(Utc::now())),
        attempt: 1,
        spoken_when: String::new(),
        participant: String::new(),
        business_time_zone: String::new(),
        ..v1::ReminderDue::default()
    }
}

impl TestApp {
    /// Starts the gateway against the carrier sim.
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(Carrier::Sim, &[]).await
    }

    /// Starts the gateway against `carrier`, with extra environment variables.
    pub async fn spawn_with(carrier: Carrier, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let env = TestEnv::new().await?;
        let sim_stop = CancellationToken::new();

        let (api_url, sim_address, sim) = match carrier {
            Carrier::Sim => {
                let listener = TcpListener::bind("127.0.0.1:0")?;
                let sim_config = carrier_sim::Config {
                    http_port: 0,
                    ..carrier_sim::Config::default()
                };
                let sim =
                    carrier_sim::Application::build_with_listener(sim_config, listener).await?;
                let sim_address = format!("http://127.0.0.1:{}", sim.port());
                let stopped = sim_stop.clone();
                let handle =
                    tokio::spawn(
                        async move { sim.run_until_stopped(stopped.cancelled_owned()).await },
                    );
                (
                    format!("{sim_address}/api/v1"),
                    Some(sim_address),
                    Some(handle),
                )
            }
            Carrier::Url(url) => (url, None, None),
        };

        let listener = TcpListener::bind("127.0.0.1:0")?;
        let gateway_port = listener.local_addr()?.port();
        let address = format!("http://127.0.0.1:{gateway_port}");
        let mut gateway_env = Env::from_pairs(env.service_env())
            .with("PUBLIC_URL", address.clone())
            .with("VOBIZ_API_URL", api_url)
            .with("VOBIZ_AUTH_TOKEN", AUTH_TOKEN)
            .with("DIALER_RETRY_BASE_MS", "10")
            .with("DIALER_POLL_MS", "100");
        for (name, value) in extra_env {
            gateway_env = gateway_env.with(name, *value);
        }
        let gateway_stop = CancellationToken::new();
        let gateway = start_gateway(&gateway_env, listener, gateway_stop.clone()).await?;

        // The observer sees every outcome the gateway publishes from now on.
        let observer_connection = env.amqp().await?;
        let observer = observer_connection.create_channel().await?;
        let observer_queue = env.name("test.observer");
        observer
            .queue_declare(
                observer_queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
        observer
            .queue_bind(
                observer_queue.as_str().into(),
                env.name(attend_events::EVENTS_EXCHANGE).as_str().into(),
                attend_events::routing_keys::REMINDER_OUTCOME.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let publisher_broker = Broker::connect(
            &Secret::new(env.amqp_url.clone()),
            &env.amqp_prefix,
            "voice-gateway-test",
            PATIENCE,
        )
        .await?;
        let publisher = Publisher::open(&publisher_broker, "/voice-gateway-test").await?;

        Ok(Self {
            env,
            address,
            sim_address,
            http: reqwest::Client::builder().no_proxy().build()?,
            publisher,
            publisher_broker,
            observer,
            observer_connection,
            observer_queue,
            gateway_env,
            gateway_port,
            gateway_stop,
            sim_stop,
            gateway: Some(gateway),
            sim,
        })
    }

    /// Stops the gateway gracefully (as a deployment restarts it: its tasks finish what they
    /// hold), leaving the sim, the database and the queues as they are.
    pub async fn stop_gateway(&mut self) -> anyhow::Result<()> {
        self.gateway_stop.cancel();
        if let Some(gateway) = self.gateway.take() {
            gateway.await??;
        }
        Ok(())
    }

    /// Starts a new gateway instance on the same port, database and queues.
    pub async fn start_gateway(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.gateway.is_none(), "the gateway is running");
        let listener = TcpListener::bind(("127.0.0.1", self.gateway_port))?;
        self.gateway_stop = CancellationToken::new();
        let gateway = start_gateway(&self.gateway_env, listener, self.gateway_stop.clone()).await?;
        self.gateway = Some(gateway);
        Ok(())
    }

    /// Publishes `reminder` on `reminder.due.voice` with event id `event_id`.
    pub async fn publish_reminder(
        &self,
        reminder: &v1::ReminderDue,
        event_id: Uuid,
    ) -> anyhow::Result<()> {
        let event = OutgoingEvent {
            id: event_id,
            event_type: v1::ReminderDue::TYPE.to_owned(),
            routing_key: reminder.routing_key().to_owned(),
            tenant_id: reminder.tenant_id.parse().ok(),
            payload: reminder.encode_to_vec(),
            traceparent: None,
            occurred_at_millis: Utc::now().timestamp_millis(),
        };
        let outcomes = self.publisher.publish_all(&[event]).await?;
        anyhow::ensure!(
            outcomes == [PublishOutcome::Confirmed],
            "reminder not routed: {outcomes:?}"
        );
        Ok(())
    }

    /// Publishes any event with a fresh id (settings, cancellations).
    pub async fn publish<E: Event>(&self, event: &E, tenant_id: &str) -> anyhow::Result<()> {
        let outgoing = OutgoingEvent {
            id: Uuid::now_v7(),
            event_type: E::TYPE.to_owned(),
            routing_key: event.routing_key().to_owned(),
            tenant_id: tenant_id.parse().ok(),
            payload: event.encode_to_vec(),
            traceparent: None,
            occurred_at_millis: Utc::now().timestamp_millis(),
        };
        let outcomes = self.publisher.publish_all(&[outgoing]).await?;
        anyhow::ensure!(
            outcomes == [PublishOutcome::Confirmed],
            "event not routed: {outcomes:?}"
        );
        Ok(())
    }

    /// Returns the next outcome on the observer queue, if one is there now.
    pub async fn poll_outcome(&self) -> anyhow::Result<Option<v1::ReminderOutcome>> {
        let message = self
            .observer
            .basic_get(
                self.observer_queue.as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await?;
        match message {
            None => Ok(None),
            Some(message) => Ok(Some(v1::ReminderOutcome::decode(
                message.delivery.data.as_slice(),
            )?)),
        }
    }

    /// Waits for the next outcome, whatever its reminder.
    pub async fn next_any_outcome(&self) -> anyhow::Result<v1::ReminderOutcome> {
        wait_until(PATIENCE, "a reminder.outcome", || async {
            self.poll_outcome().await.ok().flatten()
        })
        .await
    }

    /// Waits for the next outcome and checks that it is about `reminder`.
    pub async fn next_outcome(
        &self,
        reminder: &v1::ReminderDue,
    ) -> anyhow::Result<v1::ReminderOutcome> {
        let outcome = self.next_any_outcome().await?;
        anyhow::ensure!(
            outcome.reminder_id == reminder.reminder_id,
            "outcome of another reminder: {outcome:?}"
        );
        Ok(outcome)
    }

    /// Waits until every event the gateway wrote is published, then checks that the observer
    /// holds no further outcome: published events are routed before they are confirmed.
    pub async fn assert_no_more_outcomes(&self) -> anyhow::Result<()> {
        wait_until(PATIENCE, "an empty outbox", || async {
            (self.outbox_len().await.ok()? == 0).then_some(())
        })
        .await?;
        let extra = self.poll_outcome().await?;
        anyhow::ensure!(extra.is_none(), "an extra outcome was emitted: {extra:?}");
        Ok(())
    }

    /// Opens a connection to the gateway's schema.
    pub async fn db(&self) -> anyhow::Result<AsyncPgConnection> {
        self.env.connect("voice").await
    }

    /// Returns the number of events waiting in the gateway's outbox.
    pub async fn outbox_len(&self) -> anyhow::Result<i64> {
        use attend_runtime::schema::outbox;
        let mut connection = self.db().await?;
        Ok(outbox::table.count().get_result(&mut connection).await?)
    }

    /// Returns the number of events the gateway's inbox has applied.
    pub async fn inbox_len(&self) -> anyhow::Result<i64> {
        use attend_runtime::schema::inbox;
        let mut connection = self.db().await?;
        Ok(inbox::table.count().get_result(&mut connection).await?)
    }

    /// Returns the attempt row of `reminder`, once it exists.
    pub async fn attempt_of(&self, reminder: &v1::ReminderDue) -> anyhow::Result<AttemptView> {
        let reminder_id: Uuid = reminder.reminder_id.parse()?;
        wait_until(PATIENCE, "the call attempt", || async {
            let mut connection = self.db().await.ok()?;
            AttemptView::load(&mut connection, reminder_id)
                .await
                .ok()
                .flatten()
        })
        .await
    }

    /// Waits until the attempt of `reminder` has `status`.
    pub async fn wait_for_status(
        &self,
        reminder: &v1::ReminderDue,
        status: &str,
    ) -> anyhow::Result<AttemptView> {
        let reminder_id: Uuid = reminder.reminder_id.parse()?;
        wait_until(PATIENCE, &format!("attempt status {status}"), || async {
            let mut connection = self.db().await.ok()?;
            let attempt = AttemptView::load(&mut connection, reminder_id)
                .await
                .ok()
                .flatten()?;
            (attempt.status == status).then_some(attempt)
        })
        .await
    }

    /// Returns the sim's calls to `to`.
    pub async fn sim_calls_to(&self, to: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let sim = self
            .sim_address
            .as_ref()
            .context("the sim is not running")?;
        let mut url = reqwest::Url::parse(&format!("{sim}/sim/calls"))?;
        url.query_pairs_mut().append_pair("to", to);
        let calls = self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json::<Vec<serde_json::Value>>()
            .await?;
        Ok(calls)
    }

    /// Waits until the sim has finished its call(s) to `to` and returns them.
    pub async fn finished_sim_calls_to(&self, to: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        wait_until(PATIENCE, "the sim's call to end", || async {
            let calls = self.sim_calls_to(to).await.ok()?;
            let finished = !calls.is_empty()
                && calls.iter().all(|call| {
                    matches!(
                        call["status"].as_str(),
                        Some("completed" | "no-answer" | "busy" | "failed")
                    ) && call["exchanges"].as_array().is_some_and(|exchanges| {
                        exchanges
                            .iter()
                            .any(|exchange| exchange["event"] == "Hangup")
                    })
                });
            finished.then_some(calls)
        })
        .await
    }

    /// Overrides the sim's callee script for `to`.
    pub async fn script_callee(&self, to: &str, script: serde_json::Value) -> anyhow::Result<()> {
        let sim = self
            .sim_address
            .as_ref()
            .context("the sim is not running")?;
        let encoded = to.replace('+', "%2B");
        self.http
            .put(format!("{sim}/sim/voice/scripts/{encoded}"))
            .json(&script)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// POSTs a form to a gateway webhook, signed as the carrier would with `nonce`.
    pub async fn signed_webhook(
        &self,
        path_and_query: &str,
        form: &[(&str, &str)],
        token: &str,
        nonce: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let url = reqwest::Url::parse(&format!("{}{path_and_query}", self.address))?;
        let headers = carrier_sim::signature::sign_with_nonce(token, &url, nonce.to_owned());
        let mut request = self.http.post(url).form(form);
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        Ok(request.send().await?)
    }

    /// Stops the gateway and the sim, and drops the test's database and queues.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.gateway_stop.cancel();
        self.sim_stop.cancel();
        let stopped = match self.gateway {
            Some(gateway) => gateway.await,
            None => Ok(Ok(())),
        };
        if let Some(sim) = self.sim {
            let _ = sim.await;
        }
        let _ = self.publisher_broker.close().await;
        let _ = self
            .observer_connection
            .close(200, "test done".into())
            .await;
        self.env.cleanup().await?;
        stopped??;
        Ok(())
    }
}

async fn start_gateway(
    env: &Env,
    listener: TcpListener,
    stop: CancellationToken,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let config = Config::from_env(env)?;
    let application = Application::build_with_listener(config, listener).await?;
    Ok(tokio::spawn(async move {
        application.run_until_stopped(stop.cancelled_owned()).await
    }))
}

/// A random 20-digit nonce.
pub fn fresh_nonce() -> String {
    carrier_sim::signature::generate_nonce()
}

/// Returns a number the sim's default script handles as `last_digit` says.
pub fn number_ending(last_digit: char) -> String {
    format!("+1555010000{last_digit}")
}

/// The columns of an attempt the tests look at.
#[derive(Debug, Clone, Queryable)]
pub struct AttemptView {
    /// The attempt id.
    pub id: Uuid,
    /// Its status.
    pub status: String,
    /// Its outcome.
    pub outcome: Option<String>,
    /// Its outcome detail.
    pub outcome_detail: Option<String>,
    /// The CallUUID.
    pub call_uuid: Option<String>,
    /// Make-call requests sent.
    pub tries: i32,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl AttemptView {
    /// Loads the attempt of `reminder_id`.
    pub async fn load(
        connection: &mut AsyncPgConnection,
        reminder_id: Uuid,
    ) -> anyhow::Result<Option<Self>> {
        // The latest attempt number of the reminder.
        Ok(call_attempts::table
            .filter(call_attempts::reminder_id.eq(reminder_id))
            .order(call_attempts::attempt.desc())
            .select((
                call_attempts::id,
                call_attempts::status,
                call_attempts::outcome,
                call_attempts::outcome_detail,
                call_attempts::call_uuid,
                call_attempts::tries,
                call_attempts::updated_at,
            ))
            .first(connection)
            .await
            .optional()?)
    }
}

/// Returns a fresh tenant API key, as booking-service mints them.
pub fn new_api_key() -> String {
    format!(
        "attk_{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

impl TestApp {
    /// Announces `key` for `tenant_id` as booking-service does (`tenant.api_key_issued`) and
    /// waits until the gateway accepts it.
    pub async fn issue_key(&self, tenant_id: Uuid, key: &str) -> anyhow::Result<Uuid> {
        let key_id = Uuid::now_v7();
        self.announce_key(tenant_id, key, key_id).await?;
        self.wait_for_key(key).await?;
        Ok(key_id)
    }

    /// Publishes `tenant.api_key_issued` for `key` as `key_id`, without waiting.
    pub async fn announce_key(
        &self,
        tenant_id: Uuid,
        key: &str,
        key_id: Uuid,
    ) -> anyhow::Result<()> {
        use sha2::Digest as _;
        let event = v1::TenantApiKeyIssued {
            tenant_id: tenant_id.to_string(),
            key_id: key_id.to_string(),
            key_sha256: sha2::Sha256::digest(key.as_bytes()).to_vec(),
            key_prefix: key.chars().take(13).collect(),
            issued_at: Some(to_timestamp(Utc::now())),
        };
        self.publish(&event, &tenant_id.to_string()).await
    }

    /// Waits until the gateway accepts `key`.
    pub async fn wait_for_key(&self, key: &str) -> anyhow::Result<()> {
        wait_until(PATIENCE, "the gateway to accept the key", || async {
            let response = self
                .http
                .get(format!("{}/voicebot/v1/workflows", self.address))
                .bearer_auth(key)
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        })
        .await
    }

    /// Returns a new tenant with a working key.
    pub async fn integrator(&self) -> anyhow::Result<(Uuid, String)> {
        let tenant_id = Uuid::now_v7();
        let key = new_api_key();
        self.issue_key(tenant_id, &key).await?;
        Ok((tenant_id, key))
    }

    /// Sends `method path` to the `/voicebot/v1` API with `key` and an optional JSON body;
    /// returns the status and the JSON answer.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut request = self
            .http
            .request(method, format!("{}/voicebot/v1{path}", self.address))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok((status, json))
    }

    /// Creates `workflow` for the tenant of `key`; returns its id.
    pub async fn create_workflow(
        &self,
        key: &str,
        workflow: &serde_json::Value,
    ) -> anyhow::Result<String> {
        let (status, body) = self
            .api(reqwest::Method::POST, "/workflows", key, Some(workflow))
            .await?;
        anyhow::ensure!(status == 200, "workflow refused: {status} {body}");
        body["data"]["workflow_id"]
            .as_str()
            .map(str::to_owned)
            .context("no workflow_id")
    }

    /// Sets the tenant's callback URL; returns the signing secret.
    pub async fn set_callback(&self, key: &str, url: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .api(
                reqwest::Method::PUT,
                "/settings",
                key,
                Some(&serde_json::json!({"callback_url": url})),
            )
            .await?;
        anyhow::ensure!(status == 200, "settings refused: {status} {body}");
        body["data"]["callback_secret"]
            .as_str()
            .map(str::to_owned)
            .context("no callback_secret in the first answer")
    }

    /// Returns `GET /sim/calls/summary`.
    pub async fn sim_summary(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let sim = self
            .sim_address
            .as_ref()
            .context("the sim is not running")?;
        let response = self
            .http
            .get(format!("{sim}/sim/calls/summary"))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "sim summary: {status} {text}");
        Ok(serde_json::from_str(&text)?)
    }

    /// Sets the sim's account limits; returns nothing.
    pub async fn sim_limits(&self, limits: serde_json::Value) -> anyhow::Result<()> {
        let sim = self
            .sim_address
            .as_ref()
            .context("the sim is not running")?;
        self.http
            .put(format!("{sim}/sim/voice/limits"))
            .json(&limits)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Returns the sim's account limits and counters.
    pub async fn sim_counters(&self) -> anyhow::Result<serde_json::Value> {
        let sim = self
            .sim_address
            .as_ref()
            .context("the sim is not running")?;
        Ok(self
            .http
            .get(format!("{sim}/sim/voice/limits"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

/// One request the callback receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedCallback {
    /// Header names lower case.
    pub headers: std::collections::HashMap<String, String>,
    /// The exact body.
    pub body: String,
    /// The status the receiver answered.
    pub answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    received: std::sync::Mutex<Vec<ReceivedCallback>>,
    failures_left: std::sync::atomic::AtomicUsize,
}

/// A tenant's callback endpoint: answers 500 to the first `failures` requests, then 200, and
/// records every request.
pub struct CallbackReceiver {
    /// Where it listens.
    pub url: String,
    state: std::sync::Arc<ReceiverState>,
    server: actix_web::dev::ServerHandle,
}

impl CallbackReceiver {
    /// Starts a receiver on a free port.
    pub async fn spawn(failures: usize) -> anyhow::Result<Self> {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!(
            "http://127.0.0.1:{}/hooks/attend?source=test",
            listener.local_addr()?.port()
        );
        let state = std::sync::Arc::new(ReceiverState {
            failures_left: std::sync::atomic::AtomicUsize::new(failures),
            ..ReceiverState::default()
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).default_service(web::to(
                |state: web::Data<ReceiverState>, request: HttpRequest, body: web::Bytes| async move {
                    use std::sync::atomic::Ordering;
                    let failing = state
                        .failures_left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                            left.checked_sub(1)
                        })
                        .is_ok();
                    let answered = if failing { 500 } else { 200 };
                    let headers = request
                        .headers()
                        .iter()
                        .map(|(name, value)| {
                            (
                                name.as_str().to_ascii_lowercase(),
                                value.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    state
                        .received
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(ReceivedCallback {
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                            answered,
                        });
                    if failing {
                        HttpResponse::InternalServerError().body("not now")
                    } else {
                        HttpResponse::Ok().body("ok")
                    }
                },
            ))
        })
        .listen(listener)?
        .workers(1)
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url,
            state,
            server: handle,
        })
    }

    /// Returns every request so far.
    pub fn received(&self) -> Vec<ReceivedCallback> {
        self.state
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until a request was answered 200, and returns every request.
    pub async fn delivered(&self, patience: Duration) -> anyhow::Result<Vec<ReceivedCallback>> {
        wait_until(patience, "a delivered callback", || async {
            let received = self.received();
            received
                .iter()
                .any(|request| request.answered == 200)
                .then_some(received)
        })
        .await
    }

    /// Stops the receiver.
    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

/// Checks `X-Attend-Signature` of a received callback with `secret`.
pub fn signature_is_valid(callback: &ReceivedCallback, secret: &str) -> bool {
    let Some(header) = callback.headers.get("x-attend-signature") else {
        return false;
    };
    let Some((timestamp, _)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(','))
    else {
        return false;
    };
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return false;
    };
    // Recomputed here with the hmac crate directly, not with the gateway's helper.
    use hmac::Mac as _;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(callback.body.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    *header == format!("t={timestamp},v1={expected}")
}
