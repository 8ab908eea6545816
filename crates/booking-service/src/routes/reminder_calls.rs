//! The `/appointments` dialect: the reminder-call API of the voice reminder example
//! (reference/carriers.md §3.1), with its routes, JSON shapes, status codes and FastAPI-style
//! error bodies, so its existing clients work unchanged. A thin adapter onto
//! [`crate::reminder_calls`]; it authenticates with the tenant's API key like `/v1`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Timelike, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Tenant;
use crate::db::reminder_calls::{self as queries, ReminderCallRow};
use crate::domain::phone;
use crate::error::ApiError;
use crate::reminder_calls::{self as commands, ReminderCallRequest, STATUSES};
use crate::startup::AppState;

/// The most calls one `/appointments/bulk` request may place.
pub const MAX_BULK_ITEMS: usize = 1000;
/// The largest body read, a bulk of the longest items with room to spare.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The longest `name` spoken; the original had no limit, but TTS of a novel helps no one.
const MAX_NAME_CHARS: usize = 200;
/// The longest `date` or `time` spoken.
const MAX_WHEN_CHARS: usize = 100;

/// The fields of a request item, in the original model's order (errors come in this order).
const FIELDS: [&str; 4] = ["phone", "name", "date", "time"];

/// A failure, answered in the dialect's shape `{"detail": …}`.
#[derive(Debug, thiserror::Error)]
pub enum DialectError {
    /// A status and a plain-text `detail`.
    #[error("{status}: {detail}")]
    Detail {
        /// The HTTP status.
        status: StatusCode,
        /// The `detail` text.
        detail: String,
    },
    /// 422 with FastAPI's list of validation errors.
    #[error("request validation failed")]
    Validation(Vec<Value>),
    /// Anything else: a fixed 500, the cause chain goes to the logs.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl DialectError {
    fn detail(status: StatusCode, detail: &str) -> Self {
        Self::Detail {
            status,
            detail: detail.to_owned(),
        }
    }

    fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Appointment not found")
    }

    fn cannot_cancel() -> Self {
        Self::detail(
            StatusCode::BAD_REQUEST,
            "Cannot cancel — appointment not in pending state",
        )
    }
}

impl From<diesel::result::Error> for DialectError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for DialectError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        tracing::warn!(error.message = %error, "no database connection available");
        Self::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is busy or unreachable; retry shortly",
        )
    }
}

impl ResponseError for DialectError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Detail { status, .. } => *status,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Detail { status, detail } => {
                if *status == StatusCode::UNAUTHORIZED {
                    response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                }
                response.json(json!({ "detail": detail }))
            }
            Self::Validation(errors) => response.json(json!({ "detail": errors })),
            Self::Internal(error) => {
                tracing::error!(error.message = %error, error.cause_chain = ?error, "request failed");
                response.json(json!({ "detail": "Internal Server Error" }))
            }
        }
    }
}

/// Returns the tenant of the request's API key, answering as FastAPI's `HTTPBearer` does:
/// 401 `Not authenticated` without a key, 401 `Invalid authentication credentials` with an
/// unknown or revoked one.
async fn authenticate(request: &HttpRequest) -> Result<Tenant, DialectError> {
    let has_bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        });
    if !has_bearer {
        return Err(DialectError::detail(
            StatusCode::UNAUTHORIZED,
            "Not authenticated",
        ));
    }
    match Tenant::extract(request).await {
        Ok(tenant) => Ok(tenant),
        Err(ApiError::Problem(problem)) if problem.status_code() == StatusCode::UNAUTHORIZED => {
            Err(DialectError::detail(
                StatusCode::UNAUTHORIZED,
                "Invalid authentication credentials",
            ))
        }
        Err(ApiError::Problem(problem)) => Err(DialectError::detail(
            problem.status_code(),
            "The API key could not be checked; retry shortly",
        )),
        Err(ApiError::Internal(error)) => Err(DialectError::Internal(error)),
    }
}

/// Reads the body whatever its content type (the original's clients do not all send one).
async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, DialectError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            DialectError::detail(
                StatusCode::BAD_REQUEST,
                "The request body could not be read",
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(DialectError::detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses the body as JSON, failing as FastAPI does: an empty body is a missing `body`, bad
/// JSON is `json_invalid` at its character position.
fn parse_body(body: &[u8]) -> Result<Value, DialectError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DialectError::Validation(vec![json!({
            "type": "missing", "loc": ["body"], "msg": "Field required", "input": null
        })]));
    }
    serde_json::from_slice(body).map_err(|error| {
        let position = character_position(body, error.line(), error.column());
        DialectError::Validation(vec![json!({
            "type": "json_invalid",
            "loc": ["body", position],
            "msg": "JSON decode error",
            "input": {},
            "ctx": { "error": strip_position(&error.to_string()) }
        })])
    })
}

/// Returns the character offset of a 1-based line and column in `body`.
fn character_position(body: &[u8], line: usize, column: usize) -> usize {
    let text = String::from_utf8_lossy(body);
    let before: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(|line| line.chars().count())
        .sum();
    before + column.saturating_sub(1)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

fn location(prefix: &[Value], field: &str) -> Value {
    let mut loc = prefix.to_vec();
    loc.push(json!(field));
    Value::Array(loc)
}

/// Validates one request item at `prefix` (`["body"]`, or `["body", index]` in a bulk) the
/// way the original's pydantic model does, plus an E.164 check of `phone` and length caps.
fn validate_item(
    item: &Value,
    prefix: &[Value],
    default_region: &str,
    errors: &mut Vec<Value>,
) -> Option<ReminderCallRequest> {
    let Some(object) = item.as_object() else {
        errors.push(json!({
            "type": "model_attributes_type",
            "loc": prefix,
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": item
        }));
        return None;
    };
    let errors_before = errors.len();
    let mut texts = BTreeMap::new();
    for field in FIELDS {
        let loc = location(prefix, field);
        match object.get(field) {
            None => errors.push(json!({
                "type": "missing", "loc": loc, "msg": "Field required", "input": item
            })),
            Some(Value::String(text)) => {
                let limit = if field == "name" {
                    MAX_NAME_CHARS
                } else {
                    MAX_WHEN_CHARS
                };
                if field != "phone" && text.chars().count() > limit {
                    errors.push(json!({
                        "type": "string_too_long",
                        "loc": loc,
                        "msg": format!("String should have at most {limit} characters"),
                        "input": text,
                        "ctx": { "max_length": limit }
                    }));
                } else {
                    texts.insert(field, text.as_str());
                }
            }
            Some(other) => errors.push(json!({
                "type": "string_type",
                "loc": loc,
                "msg": "Input should be a valid string",
                "input": other
            })),
        }
    }
    let phone_e164 = match texts.get("phone") {
        Some(raw) => match phone::normalize_e164(raw, default_region) {
            Ok(e164) => Some(e164),
            Err(reason) => {
                errors.push(json!({
                    "type": "value_error",
                    "loc": location(prefix, "phone"),
                    "msg": format!("Value error, phone {reason}"),
                    "input": raw,
                    "ctx": { "error": format!("phone {reason}") }
                }));
                None
            }
        },
        None => None,
    };
    if errors.len() > errors_before {
        return None;
    }
    Some(ReminderCallRequest {
        phone_e164: phone_e164?,
        name: (*texts.get("name")?).to_owned(),
        date: (*texts.get("date")?).to_owned(),
        time: (*texts.get("time")?).to_owned(),
    })
}

/// An appointment as the original's `to_dict` shows it.
#[derive(Debug, Serialize)]
pub struct AppointmentResponse {
    /// Id.
    pub id: Uuid,
    /// Callee, E.164.
    pub phone: String,
    /// Callee's name.
    pub name: String,
    /// Free-text date.
    pub date: String,
    /// Free-text time.
    pub time: String,
    /// pending | calling | confirmed | reschedule_requested | cancelled | no_answer | aborted.
    pub status: String,
    /// Naive UTC, as Python's `datetime.utcnow().isoformat()`.
    pub created_at: String,
    /// Naive UTC, when the call was handed to the voice gateway.
    pub called_at: Option<String>,
    /// Naive UTC, when the last outcome happened.
    pub outcome_at: Option<String>,
    /// The carrier's CallUUID once known.
    pub call_uuid: Option<String>,
}

/// One element of a bulk answer: the appointment and whether its call was triggered.
#[derive(Debug, Serialize)]
pub struct BulkItemResponse {
    /// The appointment.
    #[serde(flatten)]
    pub appointment: AppointmentResponse,
    /// Always true: every item's call is queued in the transaction that stores it.
    pub call_triggered: bool,
}

/// Returns `at` as Python's `isoformat()` of a naive datetime: no zone, microseconds only
/// when not zero.
pub fn naive_utc(at: DateTime<Utc>) -> String {
    let seconds = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let micros = at.nanosecond() / 1000;
    if micros == 0 {
        seconds
    } else {
        format!("{seconds}.{micros:06}")
    }
}

fn to_response(row: ReminderCallRow) -> AppointmentResponse {
    AppointmentResponse {
        id: row.id,
        phone: row.phone_e164,
        name: row.name,
        date: row.date_text,
        time: row.time_text,
        status: row.status,
        created_at: naive_utc(row.created_at),
        called_at: row.called_at.map(naive_utc),
        outcome_at: row.outcome_at.map(naive_utc),
        call_uuid: row.call_uuid,
    }
}

/// `POST /appointments`: stores the appointment and places its reminder call now: 201 with
/// status `calling`.
#[tracing::instrument(skip_all, fields(tenant_id, reminder_call_id))]
pub async fn create_appointment(
    request: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
    let body = parse_body(&read_body(payload).await?)?;
    let mut errors = Vec::new();
    let call = validate_item(&body, &[json!("body")], &tenant.default_region, &mut errors);
    let Some(call) = call.filter(|_| errors.is_empty()) else {
        return Err(DialectError::Validation(errors));
    };
    let mut connection = state.pool.get().await?;
    let stored = commands::place_calls(&mut connection, &tenant, &[call]).await?;
    let stored = stored
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the call just placed is missing"))?;
    tracing::Span::current().record("reminder_call_id", tracing::field::display(stored.id));
    tracing::info!("reminder call placed");
    Ok(HttpResponse::Created().json(to_response(stored)))
}

/// `POST /appointments/bulk`: a JSON array of appointments, each placed as by
/// `POST /appointments`. All items are validated first: one invalid item is a 422 for the
/// whole body and nothing is placed, as the original's `List[AppointmentRequest]` model does.
#[tracing::instrument(skip_all, fields(tenant_id, calls))]
pub async fn create_appointments_bulk(
    request: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
    let body = parse_body(&read_body(payload).await?)?;
    let Some(items) = body.as_array() else {
        return Err(DialectError::Validation(vec![json!({
            "type": "list_type", "loc": ["body"], "msg": "Input should be a valid list", "input": body
        })]));
    };
    if items.len() > MAX_BULK_ITEMS {
        return Err(DialectError::Validation(vec![json!({
            "type": "too_long",
            "loc": ["body"],
            "msg": format!(
                "List should have at most {MAX_BULK_ITEMS} items after validation, not {}",
                items.len()
            ),
            "input": null,
            "ctx": { "field_type": "List", "max_length": MAX_BULK_ITEMS, "actual_length": items.len() }
        })]));
    }
    tracing::Span::current().record("calls", items.len());
    let mut errors = Vec::new();
    let mut calls = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let prefix = [json!("body"), json!(index)];
        if let Some(call) = validate_item(item, &prefix, &tenant.default_region, &mut errors) {
            calls.push(call);
        }
    }
    if !errors.is_empty() {
        return Err(DialectError::Validation(errors));
    }
    let mut connection = state.pool.get().await?;
    let stored = commands::place_calls(&mut connection, &tenant, &calls).await?;
    tracing::info!(calls = stored.len(), "reminder calls placed");
    let answer: Vec<BulkItemResponse> = stored
        .into_iter()
        .map(|row| BulkItemResponse {
            appointment: to_response(row),
            call_triggered: true,
        })
        .collect();
    Ok(HttpResponse::Created().json(answer))
}

/// `GET /appointments?status=`: the tenant's appointments, newest first; an unknown status
/// lists none.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn list_appointments(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
    let query = web::Query::<Vec<(String, String)>>::from_query(request.query_string()).map_err(
        |error| {
            DialectError::Validation(vec![json!({
                "type": "value_error",
                "loc": ["query"],
                "msg": format!("Value error, {error}"),
                "input": request.query_string(),
            })])
        },
    )?;
    // A repeated parameter takes its last value, as FastAPI reads a scalar one.
    let status = query
        .iter()
        .rev()
        .find(|(name, _)| name == "status")
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty());
    if let Some(status) = status
        && !STATUSES.contains(&status)
    {
        return Ok(HttpResponse::Ok().json(Vec::<AppointmentResponse>::new()));
    }
    let mut connection = state.pool.get().await?;
    let rows = queries::list(&mut connection, tenant.id, status).await?;
    let answer: Vec<AppointmentResponse> = rows.into_iter().map(to_response).collect();
    Ok(HttpResponse::Ok().json(answer))
}

/// Returns the id a path names, or 404 / 400 as the route answers unknown ids.
fn parse_id(raw: &str, unknown: fn() -> DialectError) -> Result<Uuid, DialectError> {
    raw.parse().map_err(|_| unknown())
}

/// `GET /appointments/{id}`.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn get_appointment(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
    let id = parse_id(&path, DialectError::not_found)?;
    let mut connection = state.pool.get().await?;
    let row = queries::find(&mut connection, tenant.id, id)
        .await?
        .ok_or_else(DialectError::not_found)?;
    Ok(HttpResponse::Ok().json(to_response(row)))
}

/// `PATCH /appointments/{id}/cancel`: aborts an appointment whose call was not placed
/// (`pending`); answers `{"status":"cancelled"}` as the original, though it stores `aborted`.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn cancel_appointment(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
    let id = parse_id(&path, DialectError::cannot_cancel)?;
    let mut connection = state.pool.get().await?;
    if !commands::abort(&mut connection, tenant.id, id).await? {
        return Err(DialectError::cannot_cancel());
    }
    tracing::info!(reminder_call_id = %id, "reminder call aborted");
    Ok(HttpResponse::Ok().json(json!({ "status": "cancelled", "id": id })))
}

/// `GET /appointments/stats`: `{"total": N, "by_status": {...}}`, statuses with none absent.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn appointment_stats(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
    let mut connection = state.pool.get().await?;
    let counts = queries::count_by_status(&mut connection, tenant.id).await?;
    let total: i64 = counts.iter().map(|(_, count)| count).sum();
    let by_status: BTreeMap<String, i64> = counts.into_iter().collect();
    Ok(HttpResponse::Ok().json(json!({ "total": total, "by_status": by_status })))
}

/// Registers the dialect's routes; `/stats` and `/bulk` before `/{id}`, so the path
/// parameter does not capture them.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/appointments")
                .route(web::post().to(create_appointment))
                .route(web::get().to(list_appointments)),
        )
        .service(
            web::resource("/appointments/bulk").route(web::post().to(create_appointments_bulk)),
        )
        .service(web::resource("/appointments/stats").route(web::get().to(appointment_stats)))
        .service(web::resource("/appointments/{id}").route(web::get().to(get_appointment)))
        .service(
            web::resource("/appointments/{id}/cancel").route(web::patch().to(cancel_appointment)),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_like_python_isoformat() {
        let with_micros = "2026-11-21T05:16:35.641319Z".parse().unwrap();
        assert_eq!(naive_utc(with_micros), "2026-11-21T05:16:35.641319");
        let whole_second = "2026-11-21T05:16:35Z".parse().unwrap();
        assert_eq!(naive_utc(whole_second), "2026-11-21T05:16:35");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named_in_model_order() {
        let mut errors = Vec::new();
        let item = json!({ "phone": 919876543210_u64, "date": "Apr 5" });
        assert!(validate_item(&item, &[json!("body")], "US", &mut errors).is_none());
        let summary: Vec<(String, Value)> = errors
            .iter()
            .map(|error| {
                (
                    error["type"].as_str().unwrap().to_owned(),
                    error["loc"].clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("string_type".to_owned(), json!(["body", "phone"])),
                ("missing".to_owned(), json!(["body", "name"])),
                ("missing".to_owned(), json!(["body", "time"])),
            ]
        );
    }

    #[test]
    fn a_valid_item_is_normalised_to_e164() {
        let mut errors = Vec::new();
        let item = json!({ "phone": "+91 98765 43210", "name": "", "date": "Apr 5", "time": "3 PM", "extra": 1 });
        let call = validate_item(&item, &[json!("body")], "US", &mut errors).unwrap();
        assert!(errors.is_empty());
        assert_eq!(call.phone_e164, "+919876543210");
        assert_eq!(call.name, "");
    }

    #[test]
    fn json_errors_point_at_the_character() {
        assert_eq!(character_position(b"{\n  \"a\": x}", 2, 8), 9);
    }
}
