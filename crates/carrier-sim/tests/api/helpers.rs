//! Test harness: the sim spawned in-process on 127.0.0.1:0, and a fake gateway that serves
//! canned XML and records every request the sim makes to it.

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use carrier_sim::{Application, Config};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const AUTH_ID: &str = "MA_TEST";
pub const AUTH_TOKEN: &str = "test-token";
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `probe` until it returns `Some`, or panics after `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sim, running in this test's runtime.
pub struct TestSim {
    pub address: String,
    pub client: reqwest::Client,
    stop: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

impl TestSim {
    pub async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let config = Config {
            http_port: 0,
            auth_id: AUTH_ID.to_owned(),
            auth_token: AUTH_TOKEN.to_owned(),
            webhook_timeout: Duration::from_secs(2),
            ..Config::default()
        };
        let application = Application::build_with_listener(config, listener)
            .await
            .unwrap();
        let address = format!("http://127.0.0.1:{}", application.port());
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let server = tokio::spawn(application.run_until_stopped(shutdown));
        Self {
            address,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop,
            server,
        }
    }

    /// Stops the sim and checks that it shuts down cleanly.
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.server)
            .await
            .expect("the sim did not stop in time")
            .unwrap()
            .unwrap();
    }

    pub fn make_call_url(&self) -> String {
        format!("{}/api/v1/Account/{AUTH_ID}/Call/", self.address)
    }

    pub async fn make_call(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.make_call_url())
            .header("X-Auth-ID", AUTH_ID)
            .header("X-Auth-Token", AUTH_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Places a call and returns its CallUUID (the `request_uuid`).
    pub async fn place_call(&self, body: &Value) -> String {
        let response = self.make_call(body).await;
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        body["request_uuid"].as_str().unwrap().to_owned()
    }

    pub async fn put_script(&self, number: &str, script: &Value) {
        let response = self
            .client
            .put(format!(
                "{}/sim/voice/scripts/{}",
                self.address,
                number.replace('+', "%2B")
            ))
            .json(script)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "{:?}",
            response.text().await
        );
    }

    pub async fn call(&self, call_uuid: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/sim/calls/{call_uuid}", self.address))
            .send()
            .await
            .unwrap()
    }

    pub async fn calls(&self) -> Vec<Value> {
        self.client
            .get(format!("{}/sim/calls", self.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Returns `GET /sim/voice/limits`.
    pub async fn limits(&self) -> Value {
        self.client
            .get(format!("{}/sim/voice/limits", self.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits for the call to end and returns its record.
    pub async fn finished_call(&self, call_uuid: &str) -> Value {
        wait_until(CALL_TIMEOUT, "the call to end", || async {
            let record: Value = self.call(call_uuid).await.json().await.ok()?;
            let status = record["status"].as_str()?;
            (status != "ringing" && status != "in-progress").then_some(record)
        })
        .await
    }
}

/// One request the sim made to the fake gateway.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Form parameters for POST, query parameters for GET.
    pub params: HashMap<String, String>,
    /// Header names are lowercase.
    pub headers: HashMap<String, String>,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

#[derive(Default)]
struct GatewayState {
    replies: Mutex<HashMap<String, Reply>>,
    received: Mutex<Vec<Received>>,
}

/// A stand-in for our voice gateway: serves canned XML per path and records every request.
pub struct FakeGateway {
    pub port: u16,
    state: Arc<GatewayState>,
}

impl FakeGateway {
    pub async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(GatewayState::default());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .listen(listener)
        .unwrap()
        .workers(1)
        .disable_signals()
        .run();
        tokio::spawn(server);
        let gateway = Self { port, state };
        // The hangup callback is always accepted unless a test says otherwise.
        gateway.reply("/hangup", 200, "text/plain", "");
        gateway
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Serves `xml` (as application/xml) at `path`.
    pub fn xml(&self, path: &str, xml: &str) {
        self.reply(path, 200, "application/xml", xml);
    }

    pub fn reply(&self, path: &str, status: u16, content_type: &str, body: &str) {
        self.state.replies.lock().unwrap().insert(
            path.to_owned(),
            Reply {
                status,
                content_type: content_type.to_owned(),
                body: body.to_owned(),
            },
        );
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn received_at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }

    /// Waits for the hangup callback and returns it.
    pub async fn hangup(&self) -> Received {
        wait_until(CALL_TIMEOUT, "the hangup callback", || async {
            self.received_at("/hangup").into_iter().next()
        })
        .await
    }
}

async fn handle(
    state: web::Data<GatewayState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let query = request.query_string().to_owned();
    let pairs: Vec<(String, String)> = if request.method() == actix_web::http::Method::GET {
        serde_urlencoded::from_str(&query).unwrap()
    } else {
        serde_urlencoded::from_bytes(&body).unwrap()
    };
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
    state.received.lock().unwrap().push(Received {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        query,
        params: pairs.into_iter().collect(),
        headers,
    });

    let reply = state.replies.lock().unwrap().get(request.path()).cloned();
    match reply {
        Some(reply) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap())
                .content_type(reply.content_type)
                .body(reply.body)
        }
        None => HttpResponse::NotFound().finish(),
    }
}
