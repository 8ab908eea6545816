//! Spawns booking-service in-process on port 0, in its own database and AMQP prefix.

use std::time::Duration;

use attend_events::{Event, v1};
use attend_runtime::Env;
use attend_runtime::amqp::{Broker, OutgoingEvent, Publisher};
use attend_test_support::TestEnv;
use booking_service::{Application, Config};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub env: TestEnv,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let env = TestEnv::new().await.expect("test environment");
        Self::spawn_in(env, &[]).await
    }

    /// Starts the service on `env`'s database (a restart, when another instance used it
    /// before), with `overrides` of its environment.
    pub async fn spawn_in(env: TestEnv, overrides: &[(&str, &str)]) -> TestApp {
        let mut service_env = Env::from_pairs(env.service_env()).with("ADMIN_TOKEN", ADMIN_TOKEN);
        for &(name, value) in overrides {
            service_env = service_env.with(name, value);
        }
        let config = Config::from_env(&service_env).expect("config");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let application = Application::build_with_listener(config, listener)
            .await
            .expect("build");
        let address = format!("http://127.0.0.1:{}", application.port());
        let stop = CancellationToken::new();
        let handle = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        TestApp {
            address,
            client: reqwest::Client::new(),
            env,
            stop,
            handle,
        }
    }

    pub async fn stop(self) {
        self.stop_keeping_database()
            .await
            .cleanup()
            .await
            .expect("cleanup");
    }

    /// Stops the service and returns its environment, database and queues intact, for
    /// [`TestApp::spawn_in`].
    pub async fn stop_keeping_database(self) -> TestEnv {
        self.stop.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(15), self.handle).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "the service did not stop cleanly: {stopped:?}"
        );
        self.env
    }

    pub async fn create_tenant(&self, name: &str) -> (Uuid, String) {
        let response = self
            .client
            .post(format!("{}/v1/admin/tenants", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        (
            body["tenant_id"].as_str().unwrap().parse().unwrap(),
            body["api_key"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn post_appointment(&self, api_key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/appointments", self.address))
            .bearer_auth(api_key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_appointment(&self, api_key: &str, id: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/v1/appointments/{id}", self.address))
            .bearer_auth(api_key)
            .send()
            .await
            .unwrap()
    }

    /// Publishes `event` on the test's events exchange, as another service would.
    pub async fn publish<E: Event>(&self, event_id: Uuid, tenant_id: Uuid, event: &E) {
        let broker = Broker::connect(
            &attend_runtime::Secret::new(self.env.amqp_url.clone()),
            &self.env.amqp_prefix,
            "test-publisher",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let publisher = Publisher::open(&broker, "/test").await.unwrap();
        let outcomes = publisher
            .publish_all(&[OutgoingEvent {
                id: event_id,
                event_type: E::TYPE.to_owned(),
                routing_key: event.routing_key().to_owned(),
                tenant_id: Some(tenant_id),
                payload: event.encode_to_vec(),
                traceparent: None,
                occurred_at_millis: 0,
            }])
            .await
            .unwrap();
        assert_eq!(outcomes, [attend_runtime::amqp::PublishOutcome::Confirmed]);
        broker.close().await;
    }
}

/// A queue bound to the test's exchange that collects events of some routing keys.
pub struct Observer {
    consumer: lapin::Consumer,
    _connection: lapin::Connection,
}

impl Observer {
    pub async fn bind(env: &TestEnv, routing_keys: &[&str]) -> Observer {
        let connection = env.amqp().await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        let queue = env.name("test.observer");
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        for key in routing_keys {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    env.name("attend.events").as_str().into(),
                    (*key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "observer".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Observer {
            consumer,
            _connection: connection,
        }
    }

    /// Returns the next event's type and body, or fails after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> (String, Vec<u8>) {
        self.try_next(timeout)
            .await
            .expect("an event within the timeout")
    }

    /// Returns the next event's type and body, or `None` if none arrives within `timeout`.
    pub async fn try_next(&mut self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        let delivery = tokio::time::timeout(timeout, self.consumer.next())
            .await
            .ok()?
            .expect("the stream is open")
            .expect("a delivery");
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .unwrap();
        let kind = delivery
            .properties
            .kind()
            .as_ref()
            .map(|kind| kind.to_string())
            .unwrap_or_default();
        Some((kind, delivery.data))
    }
}

pub fn appointment_body(phone: &str, reminder_offset: &str) -> Value {
    let start = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    json!({
        "customer": { "name": "Ada Lovelace", "phone": phone, "locale": "en-GB" },
        "start": start,
        "time_zone": "Europe/London",
        "location": "12 High St",
        "reminders": [ { "channel": "voice", "offset": reminder_offset } ]
    })
}

pub fn decode<M: prost::Message + Default>(body: &[u8]) -> M {
    M::decode(body).unwrap()
}

pub fn outcome(
    reminder_id: &str,
    appointment_id: &str,
    tenant_id: Uuid,
    kind: v1::ReminderOutcomeKind,
) -> v1::ReminderOutcome {
    v1::ReminderOutcome {
        reminder_id: reminder_id.to_owned(),
        appointment_id: appointment_id.to_owned(),
        tenant_id: tenant_id.to_string(),
        channel: v1::Channel::Voice.into(),
        outcome: kind.into(),
        detail: String::new(),
        occurred_at: Some(attend_events::to_timestamp(chrono::Utc::now())),
        provider_ref: "call-1".into(),
        attempt: 1,
    }
}

impl TestApp {
    /// Sends `method path` with the tenant's key, and `body` as JSON when given; returns the
    /// status and the JSON body (`Null` when empty).
    pub async fn send(
        &self,
        method: reqwest::Method,
        api_key: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(api_key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    pub async fn get_json(&self, api_key: &str, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, api_key, path, None).await
    }

    pub async fn post_json(&self, api_key: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, api_key, path, Some(body))
            .await
    }

    pub async fn put_json(&self, api_key: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, api_key, path, Some(body))
            .await
    }

    pub async fn delete(&self, api_key: &str, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, api_key, path, None)
            .await
    }
}

/// Returns the `field` of every error of a problem body, in order.
pub fn problem_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|error| error["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Observer {
    /// Returns the body of the next event of `event_type`, skipping others.
    pub async fn next_of(&mut self, event_type: &str) -> Vec<u8> {
        loop {
            let (kind, body) = self.next(Duration::from_secs(10)).await;
            if kind == event_type {
                return body;
            }
        }
    }
}

/// Returns the body of the next `event_type` event `observer` sees.
pub async fn next_of(observer: &mut Observer, event_type: &str) -> Vec<u8> {
    observer.next_of(event_type).await
}

/// Returns when a planned reminder is due.
pub fn due(plan: &attend_events::v1::ReminderPlan) -> chrono::DateTime<chrono::Utc> {
    attend_events::from_timestamp(plan.due_at.as_ref()).unwrap()
}
