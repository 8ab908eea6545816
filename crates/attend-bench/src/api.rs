//! The HTTP calls the benchmark makes: one pooled keep-alive client for all of them.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a timed request got.
#[derive(Debug)]
pub struct Timed {
    /// HTTP status; `0` when no answer came (connection error, timeout).
    pub status: u16,
    /// From sending the request to having read the whole body.
    pub elapsed: Duration,
    /// The body (empty when no answer came), or the transport error.
    pub body: Result<Vec<u8>, String>,
}

impl Timed {
    /// Whether the answer was 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Returns the body as text, for error messages.
    pub fn describe(&self) -> String {
        match &self.body {
            Ok(body) => format!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&body[..body.len().min(400)])
            ),
            Err(error) => format!("no answer: {error}"),
        }
    }
}

/// A booking-service to talk to.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// Returns a client of `base` (e.g. `http://127.0.0.1:18080`) that keeps up to
    /// `connections` idle connections open.
    pub fn new(base: &str, connections: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(connections.max(1))
            .tcp_nodelay(true)
            .build()
            .context("failed to build the HTTP client")?;
        Ok(Self {
            http,
            base: base.to_owned(),
        })
    }

    /// POSTs `body` (JSON, already encoded) to `path` with `Authorization: Bearer token`
    /// and times it until the whole answer has been read.
    pub async fn post_timed(&self, path: &str, token: &str, body: Vec<u8>) -> Timed {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(bytes) => (status, Ok(bytes.to_vec())),
                    Err(error) => (0, Err(error.to_string())),
                }
            }
            Err(error) => (0, Err(error.to_string())),
        };
        Timed {
            status: outcome.0,
            elapsed: started.elapsed(),
            body: outcome.1,
        }
    }

    /// POSTs `body` to `path` and returns the JSON answer, which must have status
    /// `expected`.
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        expected: u16,
    ) -> anyhow::Result<Value> {
        let encoded = serde_json::to_vec(body).context("failed to encode a request")?;
        let answer = self.post_timed(path, token, encoded).await;
        if answer.status != expected {
            let hint = if answer.status == 404 && path.starts_with("/v1/") {
                " (is the catalog API in this build of booking-service?)"
            } else {
                ""
            };
            bail!(
                "POST {path} answered {} instead of {expected}{hint}",
                answer.describe()
            );
        }
        let body = answer.body.map_err(anyhow::Error::msg)?;
        serde_json::from_slice(&body)
            .with_context(|| format!("POST {path}: the answer is not JSON"))
    }
}

/// A tenant made for one benchmark run.
pub struct Tenant {
    /// Its API key, shown once at creation.
    pub api_key: String,
    /// Its id.
    pub tenant_id: String,
}

impl Api {
    /// Creates a tenant named `Bench <time>` with the operator token.
    pub async fn create_tenant(&self, admin_token: &str) -> anyhow::Result<Tenant> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let tenant = self
            .post(
                "/v1/admin/tenants",
                admin_token,
                &serde_json::json!({ "name": format!("Bench {stamp}") }),
                201,
            )
            .await
            .context("creating the tenant failed")?;
        Ok(Tenant {
            api_key: field(&tenant, "api_key")?,
            tenant_id: field(&tenant, "tenant_id")?,
        })
    }

    /// POSTs `body` to the catalog collection `path` (answered 201) and returns the new
    /// resource's id; `what` names it in the error.
    pub async fn create(
        &self,
        path: &str,
        api_key: &str,
        body: &Value,
        what: &str,
    ) -> anyhow::Result<String> {
        let created = self
            .post(path, api_key, body, 201)
            .await
            .with_context(|| format!("creating {what} failed"))?;
        field(&created, "id")
    }
}

/// Returns the string field `name` of a JSON object.
pub fn field(value: &Value, name: &str) -> anyhow::Result<String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("the answer has no string field {name:?}: {value}"))
}
