//! The HTTP edge every service shares: RFC 9457 problem+json errors that name the failing
//! field, a JSON extractor built on them, health, readiness and metrics routes, and the
//! request root span that continues an incoming W3C trace.

use std::fmt;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use crate::amqp::Broker;
use crate::db::{self, DbPool};
use crate::metrics::Metrics;
use crate::telemetry;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long an outgoing client keeps an idle connection for reuse. Shorter than the 5 s
/// keep-alive that actix-web, Node.js and many other servers default to: a connection kept
/// longer can be reused just as the server closes it, and the request then fails with
/// "connection closed before message completed". For a make-call request that failure is an
/// unknown outcome that must not be retried (it may have been placed): the callee is not
/// called, and the attempt waits for the call watchdog to settle it. The benchmark saw one call
/// of 10,000 end this way (the race: hyperium/hyper#2136).
pub const CLIENT_POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// One input field that failed validation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldIssue {
    /// Dotted path of the field in the request, e.g. `customer.phone` or `reminders[0].offset`.
    pub field: String,
    /// What is wrong with it, for a developer to read.
    pub message: String,
}

/// An RFC 9457 problem: every 4xx and 5xx a service answers.
///
/// Beside the standard members it carries a stable snake_case `code`, the failing `errors`
/// (one per field) and the `trace_id` to quote to support.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `urn:attend:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code.
    pub code: String,
    /// Fields that failed validation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldIssue>,
    /// Trace id of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl Problem {
    /// Returns a problem with `status`, a stable `code` and a `title`.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            problem_type: format!("urn:attend:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            code: code.to_owned(),
            errors: Vec::new(),
            trace_id: telemetry::current_trace_id(),
        }
    }

    /// Returns the problem with `detail` set.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Returns the problem with one more failing field.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldIssue {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    /// 422: the request is well-formed but `field` is invalid.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Request validation failed",
        )
        .with_detail(format!("{field}: {message}"))
        .with_field(field, message)
    }

    /// 400: the body is not valid JSON, or a field has the wrong JSON type.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "Malformed request",
        )
        .with_detail(detail)
    }

    /// 401: no or unknown credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized").with_detail(detail)
    }

    /// 404: `what` does not exist (or belongs to another tenant).
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
            .with_detail(format!("{what} not found"))
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, "Conflict").with_detail(detail)
    }

    /// 500 with a fixed message: the cause goes to the logs, never to the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
        .with_detail("an unexpected error occurred; quote the trace_id when reporting it")
    }

    /// 503: a dependency is down.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .with_detail(detail)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .json(self)
    }
}

/// The largest JSON body accepted.
pub const MAX_JSON_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body whose errors are problems naming the failing field.
///
/// Wrong content type: 415. Not JSON: 400. Wrong JSON type or missing field: 422 with the
/// field's dotted path (`customer.phone`, `reminders[1].channel`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = JsonBytes::from_request(request, payload);
        Box::pin(async move {
            let JsonBytes(body) = body.await?;
            parse_json(&body).map(ApiJson)
        })
    }
}

/// The raw bytes of a JSON body, checked like [`ApiJson`] (415 for another media type, 413
/// when too large) but not yet parsed: for handlers that also need the exact bytes, e.g. to
/// fingerprint a request for idempotency. Parse with [`parse_json`].
#[derive(Debug)]
pub struct JsonBytes(pub web::Bytes);

impl FromRequest for JsonBytes {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|media_type| {
                let media_type = media_type.trim().to_ascii_lowercase();
                media_type == "application/json" || media_type.ends_with("+json")
            })
            .unwrap_or(false);
        let body = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            if !is_json {
                return Err(Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Unsupported media type",
                )
                .with_detail("the body must be application/json"));
            }
            let body = body.await.map_err(|error| {
                Problem::malformed(format!("the body could not be read: {error}"))
            })?;
            if body.len() > MAX_JSON_BODY_BYTES {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Payload too large",
                ));
            }
            Ok(JsonBytes(body))
        })
    }
}

/// Deserializes `body`, turning serde's error into a problem that names the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Problem::malformed(format!("the body is not valid JSON: {inner}"));
        }
        let message = strip_position(&inner.to_string());
        let field = match missing_field_name(&message) {
            Some(name) if path == "." => name.to_owned(),
            Some(name) => format!("{path}.{name}"),
            None if path == "." => "body".to_owned(),
            None => path,
        };
        Problem::invalid_field(field, message)
    })
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Answers path-segment parse failures (e.g. a malformed id) with a problem.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _request| {
        Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found")
            .with_detail(format!("the path is not valid: {error}"))
            .into()
    })
}

/// Answers query-string parse failures with a 400 problem naming the parameter.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        let message = error.to_string();
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "Invalid query string",
        )
        .with_field("query", message.clone())
        .with_detail(message)
        .into()
    })
}

/// Answers form-body parse failures with a 400 problem.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().error_handler(|error, _request| {
        Problem::malformed(format!("the form body is not valid: {error}")).into()
    })
}

/// Answers JSON failures of plain `web::Json` extractors with a problem.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY_BYTES)
        .error_handler(|error, _request| {
            Problem::malformed(format!("the body is not valid JSON: {error}")).into()
        })
}

/// The default service: unknown routes are a 404 problem, not an empty body.
pub async fn route_not_found(request: HttpRequest) -> HttpResponse {
    Problem::not_found(&format!("route {} {}", request.method(), request.path())).error_response()
}

/// What readiness checks.
#[derive(Clone)]
pub struct HealthState {
    /// The service's pool, if it has a database.
    pub pool: Option<DbPool>,
    /// The broker, if the service uses one.
    pub broker: Option<Broker>,
    /// The metrics to expose.
    pub metrics: Metrics,
}

/// Registers `/healthz`, `/readyz` and `/metrics`.
pub fn health_routes(config: &mut web::ServiceConfig, state: HealthState) {
    config
        .app_data(web::Data::new(state))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<HealthState>) -> Result<HttpResponse, Problem> {
    if let Some(pool) = &state.pool {
        db::ping(pool)
            .await
            .map_err(|error| Problem::unavailable(format!("database: {error}")))?;
    }
    if let Some(broker) = &state.broker
        && !broker.is_connected().await
    {
        return Err(Problem::unavailable("broker: not connected"));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

async fn metrics(state: web::Data<HealthState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType(
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
                .parse()
                .unwrap_or(mime_text_plain()),
        ))
        .body(state.metrics.render())
}

fn mime_text_plain() -> actix_web::mime::Mime {
    actix_web::mime::TEXT_PLAIN_UTF_8
}

/// Middleware counting requests and their latency in the app's [`Metrics`].
pub async fn track_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let metrics = request
        .app_data::<web::Data<HealthState>>()
        .map(|state| state.metrics.clone());
    let response = next.call(request).await?;
    if let Some(metrics) = metrics {
        metrics.http_request(
            &method,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

/// Root span builder that continues the caller's trace from its `traceparent` header.
pub struct TraceparentRootSpan;

impl RootSpanBuilder for TraceparentRootSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let span = tracing_actix_web::root_span!(request);
        if let Some(traceparent) = request
            .headers()
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
        {
            telemetry::set_remote_parent(&span, traceparent);
        }
        span
    }

    fn on_request_end<B: MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Customer {
        name: String,
        phone: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Request {
        customer: Customer,
        reminders: Vec<u32>,
    }

    #[test]
    fn a_missing_nested_field_is_named_with_its_path() {
        let problem =
            parse_json::<Request>(br#"{"customer":{"name":"Ada"},"reminders":[]}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "customer.phone");
    }

    #[test]
    fn a_wrong_type_in_a_list_is_named_with_its_index() {
        let problem = parse_json::<Request>(
            br#"{"customer":{"name":"Ada","phone":"1"},"reminders":[1,"x"]}"#,
        )
        .unwrap_err();
        assert_eq!(problem.errors[0].field, "reminders[1]");
        assert!(
            problem.errors[0].message.starts_with("invalid type"),
            "{:?}",
            problem.errors
        );
    }

    #[test]
    fn broken_json_is_a_400() {
        let problem = parse_json::<Request>(b"{not json").unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.code, "malformed_request");
    }

    #[test]
    fn a_missing_top_level_field_is_named() {
        let problem = parse_json::<Request>(br#"{"reminders":[]}"#).unwrap_err();
        assert_eq!(problem.errors[0].field, "customer");
    }
}
