//! SMS test harness: the sim with its inbound webhooks pointed at a tiny actix receiver (a
//! stand-in for sms-service) that records every request and answers scripted statuses.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use carrier_sim::{Application, Config};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use tokio_util::sync::CancellationToken;

use crate::helpers::wait_until;

pub const FLOWROUTE_KEY: &str = "test-access";
pub const FLOWROUTE_SECRET: &str = "test-secret";
pub const TWILIO_SID: &str = "AC_TEST";
pub const TWILIO_TOKEN: &str = "test-twilio-token";
/// Our number (the sender) in most tests.
pub const SENDER: &str = "+15550001000";
pub const FLOWROUTE_INBOUND: &str = "/sms/flowroute/inbound?token=t0k";
pub const TWILIO_INBOUND: &str = "/sms/twilio/inbound";
pub const WAIT: Duration = Duration::from_secs(10);

/// One request the sim made to the receiver.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub query: String,
    /// Header names are lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Statuses to answer per path, in order; 200 once they run out.
    statuses: Mutex<HashMap<String, VecDeque<u16>>>,
    hits: Mutex<Vec<Hit>>,
}

/// A stand-in for sms-service's inbound webhooks.
pub struct Receiver {
    pub port: u16,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ReceiverState::default());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .listen(listener)
        .unwrap()
        .workers(1)
        .disable_signals()
        .run();
        tokio::spawn(server);
        Self { port, state }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
    }

    /// Answers the next requests to `path` with `statuses`, then 200.
    pub fn answer(&self, path: &str, statuses: &[u16]) {
        self.state
            .statuses
            .lock()
            .unwrap()
            .insert(path.to_owned(), statuses.iter().copied().collect());
    }

    pub fn hits_at(&self, path: &str) -> Vec<Hit> {
        self.state
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|hit| hit.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` got at least `count` requests and returns them.
    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<Hit> {
        wait_until(WAIT, &format!("{count} requests to {path}"), || async {
            let hits = self.hits_at(path);
            (hits.len() >= count).then_some(hits)
        })
        .await
    }
}

async fn receive(
    state: web::Data<ReceiverState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
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
    let path = request.path().to_owned();
    state.hits.lock().unwrap().push(Hit {
        path: path.clone(),
        query: request.query_string().to_owned(),
        headers,
        body: body.to_vec(),
    });
    let status = state
        .statuses
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// Computes the Twilio signature independently of the sim's code.
pub fn twilio_signature(url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// The sim with SMS credentials for tests, its inbound webhooks at `receiver`.
pub struct SmsSim {
    pub address: String,
    pub client: reqwest::Client,
    pub receiver: Receiver,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl SmsSim {
    pub async fn spawn() -> Self {
        let receiver = Receiver::spawn().await;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let config = Config {
            http_port: 0,
            webhook_timeout: Duration::from_secs(2),
            flowroute_access_key: FLOWROUTE_KEY.to_owned(),
            flowroute_secret_key: FLOWROUTE_SECRET.to_owned(),
            twilio_account_sid: TWILIO_SID.to_owned(),
            twilio_auth_token: TWILIO_TOKEN.to_owned(),
            flowroute_inbound_url: receiver.url(FLOWROUTE_INBOUND),
            twilio_inbound_url: receiver.url(TWILIO_INBOUND),
            sms_retry_backoff: Duration::from_millis(10),
            ..Config::default()
        };
        let application = Application::build_with_listener(config, listener)
            .await
            .unwrap();
        let address = format!("http://127.0.0.1:{}", application.port());
        let stop = CancellationToken::new();
        let server = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        Self {
            address,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            receiver,
            stop,
            server,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.server)
            .await
            .expect("the sim did not stop in time")
            .unwrap()
            .unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn flowroute_send(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/flowroute/v2.1/messages"))
            .basic_auth(FLOWROUTE_KEY, Some(FLOWROUTE_SECRET))
            .header("content-type", "application/vnd.api+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn twilio_send(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(&format!(
                "/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
            )))
            .basic_auth(TWILIO_SID, Some(TWILIO_TOKEN))
            .form(params)
            .send()
            .await
            .unwrap()
    }

    /// Sends `body` from [`SENDER`] to `to` through Twilio and checks it was accepted.
    pub async fn twilio_text(&self, to: &str, body: &str) -> Value {
        let response = self
            .twilio_send(&[("To", to), ("From", SENDER), ("Body", body)])
            .await;
        assert_eq!(response.status().as_u16(), 201);
        response.json().await.unwrap()
    }

    /// Sends `body` from [`SENDER`] to `to` through Flowroute and checks it was accepted.
    pub async fn flowroute_text(&self, to: &str, body: &str) -> Value {
        let response = self
            .flowroute_send(&serde_json::json!({
                "to": to.trim_start_matches('+'),
                "from": SENDER.trim_start_matches('+'),
                "body": body,
            }))
            .await;
        assert_eq!(response.status().as_u16(), 202);
        response.json().await.unwrap()
    }

    pub async fn messages(&self, query: &str) -> Vec<Value> {
        let response = self
            .client
            .get(self.url(&format!("/sim/messages{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    /// Waits until `count` inbound messages are recorded and every one has a webhook status.
    pub async fn inbound_messages(&self, count: usize) -> Vec<Value> {
        wait_until(
            WAIT,
            &format!("{count} delivered inbound messages"),
            || async {
                let messages = self.messages("?direction=inbound").await;
                let delivered = messages.len() >= count
                    && messages
                        .iter()
                        .all(|message| !message["webhook_status"].is_null());
                delivered.then_some(messages)
            },
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// Returns `number` as it goes in a path segment.
pub fn path_number(number: &str) -> String {
    number.replace('+', "%2B")
}
