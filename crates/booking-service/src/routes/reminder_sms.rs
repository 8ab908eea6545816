//! The `/reminder` dialect: the REST API of the SMS reminder example (reference/carriers.md
//! §3.2), with its routes, JSON shapes, status codes and `{"message": …}` error bodies, so
//! its existing clients work unchanged. A thin adapter onto [`crate::sms_reminders`], which
//! backs every reminder with a native appointment; it authenticates with the tenant's API
//! key like `/v1`. See docs/sms-reminder-dialect.md.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use chrono::{NaiveDateTime, Timelike, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::sms_reminders::{self as model, MAX_LIST_LIMIT, SmsReminderRecord};
use crate::startup::AppState;

/// The largest body read; a reminder is a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What failed, as the original's messages begin.
const CREATE: &str = "Unable to create a new reminder.";
const READ: &str = "Unable to read reminders.";
const DELETE: &str = "Unable to delete the reminder.";

/// A failure, answered in the dialect's shape: `{"message": …}`, and `"exc"` on a 500.
#[derive(Debug, thiserror::Error)]
pub enum SmsDialectError {
    /// A status and its message.
    #[error("{status}: {message}")]
    Message {
        /// The HTTP status.
        status: StatusCode,
        /// The `message` text.
        message: String,
    },
    /// A real internal failure: 500 `{"message", "exc"}`, the cause chain goes to the logs.
    #[error("{message}")]
    Internal {
        /// What could not be done and why, for the client.
        message: String,
        /// A short class name of the failure, as the original's `exc`.
        exc: &'static str,
        /// The cause.
        source: anyhow::Error,
    },
}

impl SmsDialectError {
    fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Message {
            status,
            message: message.into(),
        }
    }

    fn unknown_id() -> Self {
        Self::message(StatusCode::NOT_FOUND, "unknown reminder id")
    }

    fn bad_request(action: &str, issues: &[String]) -> Self {
        // Each issue starts with its field's name, kept as the client spells it.
        let sentences: Vec<String> = issues.iter().map(|issue| format!("{issue}.")).collect();
        Self::message(
            StatusCode::BAD_REQUEST,
            format!("{action} {}", sentences.join(" ")),
        )
    }

    /// Returns a 500 for `action` caused by `error`.
    fn internal(action: &str, error: impl Into<anyhow::Error>) -> Self {
        let source = error.into();
        let exc = if source.downcast_ref::<diesel::result::Error>().is_some() {
            "DatabaseError"
        } else {
            "InternalError"
        };
        Self::Internal {
            message: format!("{action} An internal error occurred."),
            exc,
            source,
        }
    }

    /// Returns a 500 for `action` when no database connection could be had, as the
    /// original's "Redis is unreachable".
    fn unavailable(action: &str, error: impl Into<anyhow::Error>) -> Self {
        Self::Internal {
            message: format!("{action} The database is unreachable."),
            exc: "DatabaseUnavailable",
            source: error.into(),
        }
    }
}

impl ResponseError for SmsDialectError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Message { status, .. } => *status,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Message { status, message } => {
                if *status == StatusCode::UNAUTHORIZED {
                    response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                }
                response.json(json!({ "message": message }))
            }
            Self::Internal {
                message,
                exc,
                source,
            } => {
                tracing::error!(error.message = %source, error.cause_chain = ?source, exc, "request failed");
                response.json(json!({ "message": message, "exc": exc }))
            }
        }
    }
}

/// Returns the tenant of the request's API key: 401 without a key or with an unknown or
/// revoked one.
async fn authenticate(request: &HttpRequest, action: &str) -> Result<Tenant, SmsDialectError> {
    let has_bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        });
    if !has_bearer {
        return Err(SmsDialectError::message(
            StatusCode::UNAUTHORIZED,
            "Not authenticated. Send the tenant API key as Authorization: Bearer <key>.",
        ));
    }
    match Tenant::extract(request).await {
        Ok(tenant) => {
            tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
            Ok(tenant)
        }
        Err(ApiError::Problem(problem)) if problem.status_code() == StatusCode::UNAUTHORIZED => {
            Err(SmsDialectError::message(
                StatusCode::UNAUTHORIZED,
                "The API key is unknown or revoked.",
            ))
        }
        Err(ApiError::Problem(problem)) => Err(SmsDialectError::unavailable(
            action,
            anyhow::anyhow!("the API key could not be checked: {problem}"),
        )),
        Err(ApiError::Internal(error)) => Err(SmsDialectError::internal(action, error)),
    }
}

/// Reads the body whatever its content type (the original required `application/json`;
/// a client that forgets it still gets an answer about the body, not a 500).
async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, SmsDialectError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            SmsDialectError::message(
                StatusCode::BAD_REQUEST,
                format!("{CREATE} The request body could not be read."),
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(SmsDialectError::message(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{CREATE} The request body is larger than 64 KiB."),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reminder as the original's `to_dict` shows it.
#[derive(Debug, Serialize)]
pub struct ReminderResponse {
    /// 32 hex digits.
    pub reminder_id: String,
    /// The 11 digits, as sent.
    pub contact_number: String,
    /// The start in the caller's offset, `YYYY-MM-DD HH:MM:SS`, no offset.
    pub appt_user_dt: String,
    /// The start in UTC, same format.
    pub appt_sys_dt: String,
    /// When the SMS is due, in UTC, same format.
    pub notify_sys_dt: String,
    /// `null` until answered; `true` on Yes, `false` on No.
    pub will_attend: Option<bool>,
    /// As sent; `null` when not.
    pub location: Option<String>,
    /// As sent; `""` when not (the original documents it as not nullable).
    pub participant: String,
    /// The SMS was handed to the carrier.
    pub reminder_sent: bool,
    /// The reply to the answer was sent.
    pub confirm_sent: bool,
}

/// Returns `at` as Python's `str()` of a naive datetime: `YYYY-MM-DD HH:MM:SS`, with
/// microseconds only when not zero.
pub fn python_datetime(at: NaiveDateTime) -> String {
    let seconds = at.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = at.nanosecond() / 1000;
    if micros == 0 {
        seconds
    } else {
        format!("{seconds}.{micros:06}")
    }
}

fn to_response(record: &SmsReminderRecord) -> ReminderResponse {
    ReminderResponse {
        reminder_id: model::format_id(record.reminder_id),
        contact_number: record.contact_number(),
        appt_user_dt: python_datetime(record.start_in_callers_offset()),
        appt_sys_dt: python_datetime(record.starts_at.naive_utc()),
        notify_sys_dt: python_datetime(record.notify_at.naive_utc()),
        will_attend: record.will_attend(),
        location: record.location.clone(),
        participant: record.participant.clone().unwrap_or_default(),
        reminder_sent: record.reminder_sent(),
        confirm_sent: record.confirm_sent(),
    }
}

/// `POST /reminder`: books the appointment with its SMS reminder; 200 with the new id.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn create_reminder(
    request: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, SmsDialectError> {
    let tenant = authenticate(&request, CREATE).await?;
    let body = read_body(payload).await?;
    let body: Value = serde_json::from_slice(&body).map_err(|error| {
        SmsDialectError::bad_request(
            CREATE,
            &[format!("the body must be a JSON object ({error})")],
        )
    })?;
    let reminder = model::validate(&body, Utc::now())
        .map_err(|issues| SmsDialectError::bad_request(CREATE, &issues))?;
    let mut connection = state
        .pool
        .get()
        .await
        .map_err(|error| SmsDialectError::unavailable(CREATE, error))?;
    let reminder_id = model::create(&mut connection, &tenant, &reminder)
        .await
        .map_err(|error| SmsDialectError::internal(CREATE, error))?;
    let reminder_id = model::format_id(reminder_id);
    Ok(HttpResponse::Ok().json(json!({
        "reminder_id": reminder_id,
        "message": format!("Successfully created a reminder with id {reminder_id}."),
    })))
}

/// Reads `?limit=` and `?offset=`; both optional (no limit lists every reminder, as the
/// original).
fn page_of(request: &HttpRequest) -> Result<(Option<i64>, i64), SmsDialectError> {
    let query = web::Query::<Vec<(String, String)>>::from_query(request.query_string()).map_err(
        |error| {
            SmsDialectError::bad_request(READ, &[format!("the query string is invalid ({error})")])
        },
    )?;
    let value_of = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
    };
    let limit = match value_of("limit") {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|limit| (1..=MAX_LIST_LIMIT).contains(limit))
                .ok_or_else(|| {
                    SmsDialectError::bad_request(
                        READ,
                        &[format!(
                            "limit must be a whole number from 1 to {MAX_LIST_LIMIT}"
                        )],
                    )
                })?,
        ),
    };
    let offset = match value_of("offset") {
        None | Some("") => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|offset| *offset >= 0)
            .ok_or_else(|| {
                SmsDialectError::bad_request(
                    READ,
                    &["offset must be a whole number of 0 or more".to_owned()],
                )
            })?,
    };
    Ok((limit, offset))
}

/// `GET /reminder`: `{"reminders": [...]}`, the tenant's reminders oldest first.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn list_reminders(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SmsDialectError> {
    let tenant = authenticate(&request, READ).await?;
    let (limit, offset) = page_of(&request)?;
    let mut connection = state
        .pool
        .get()
        .await
        .map_err(|error| SmsDialectError::unavailable(READ, error))?;
    let records = model::list(&mut connection, tenant.id, limit, offset)
        .await
        .map_err(|error| SmsDialectError::internal(READ, error))?;
    let reminders: Vec<ReminderResponse> = records.iter().map(to_response).collect();
    Ok(HttpResponse::Ok().json(json!({ "reminders": reminders })))
}

/// `GET /reminder/{id}`: the reminder, or 404 `{"message":"unknown reminder id"}`.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn get_reminder(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, SmsDialectError> {
    let tenant = authenticate(&request, READ).await?;
    let reminder_id = model::parse_id(&path).ok_or_else(SmsDialectError::unknown_id)?;
    let mut connection = state
        .pool
        .get()
        .await
        .map_err(|error| SmsDialectError::unavailable(READ, error))?;
    let record = model::find(&mut connection, tenant.id, reminder_id)
        .await
        .map_err(|error| SmsDialectError::internal(READ, error))?
        .ok_or_else(SmsDialectError::unknown_id)?;
    Ok(HttpResponse::Ok().json(to_response(&record)))
}

/// `DELETE /reminder/{id}`: cancels the appointment, so the SMS never goes out, and forgets
/// the reminder; 404 for an unknown id.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn delete_reminder(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, SmsDialectError> {
    let tenant = authenticate(&request, DELETE).await?;
    let reminder_id = model::parse_id(&path).ok_or_else(SmsDialectError::unknown_id)?;
    let mut connection = state
        .pool
        .get()
        .await
        .map_err(|error| SmsDialectError::unavailable(DELETE, error))?;
    let deleted = model::delete(&mut connection, tenant.id, reminder_id, Utc::now())
        .await
        .map_err(|error| SmsDialectError::internal(DELETE, error))?;
    if !deleted {
        return Err(SmsDialectError::unknown_id());
    }
    let reminder_id = model::format_id(reminder_id);
    Ok(HttpResponse::Ok().json(json!({
        "message": format!("Successfully deleted reminder with id {reminder_id}."),
        "reminder_id": reminder_id,
    })))
}

/// Answers a method the route does not serve, in the dialect's shape.
async fn method_not_allowed() -> HttpResponse {
    SmsDialectError::message(StatusCode::METHOD_NOT_ALLOWED, "method not allowed").error_response()
}

/// Registers the dialect's routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/reminder")
                .route(web::post().to(create_reminder))
                .route(web::get().to(list_reminders))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/reminder/{id}")
                .route(web::get().to(get_reminder))
                .route(web::delete().to(delete_reminder))
                .default_service(web::to(method_not_allowed)),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_read_like_python_str() {
        let whole = "2016-07-15T11:40:00Z"
            .parse::<chrono::DateTime<Utc>>()
            .unwrap();
        assert_eq!(python_datetime(whole.naive_utc()), "2016-07-15 11:40:00");
        let micros = "2016-07-15T11:40:00.000250Z"
            .parse::<chrono::DateTime<Utc>>()
            .unwrap();
        assert_eq!(
            python_datetime(micros.naive_utc()),
            "2016-07-15 11:40:00.000250"
        );
    }

    #[test]
    fn validation_messages_are_sentences_after_the_action() {
        let error = SmsDialectError::bad_request(
            CREATE,
            &[
                "contact_number is required".to_owned(),
                "notify_window must not be negative".to_owned(),
            ],
        );
        assert_eq!(
            error.to_string(),
            "400 Bad Request: Unable to create a new reminder. contact_number is required. \
             notify_window must not be negative."
        );
    }
}
