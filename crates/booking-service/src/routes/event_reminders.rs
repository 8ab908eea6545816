//! The `/events/reminders` dialect: the event-reminders API (seeds/event-reminders.txt) with
//! its routes, camelCase JSON and status codes (200, 400, 401, 404, 500), so its clients work
//! unchanged. A thin adapter onto [`crate::event_reminders`]. Errors are
//! `{"message": …, "errors": [{"field", "message"}]}` (the original documents the codes, not
//! the bodies). See docs/event-reminders-dialect.md.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::event_reminders::{self as model, EventReminder, EventReminderError};
use crate::startup::AppState;

/// Registers the dialect's routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::JsonConfig::default())
        .route("/events/reminders", web::post().to(create))
        .route("/events/reminders/{uuid}", web::put().to(update))
        .route("/events/reminders/{uuid}/cancel", web::post().to(cancel))
        .route("/events/reminders/{uuid}/no-show", web::post().to(no_show));
}

/// A failure in the dialect's shape.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct DialectError {
    status: StatusCode,
    message: String,
    errors: Vec<(String, String)>,
}

impl DialectError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }
}

impl From<EventReminderError> for DialectError {
    fn from(error: EventReminderError) -> Self {
        match error {
            EventReminderError::BadRequest(errors) => Self {
                status: StatusCode::BAD_REQUEST,
                message: format!(
                    "Bad request: {}",
                    errors
                        .iter()
                        .map(|(field, message)| format!("{field} {message}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                errors,
            },
            EventReminderError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "Not found: no reminder with this uuid",
            ),
            EventReminderError::Internal(error) => {
                tracing::error!(error.message = %error, error.cause_chain = ?error, "event reminder request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error: the request could not be completed; retry later",
                )
            }
        }
    }
}

impl ResponseError for DialectError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|(field, message)| json!({ "field": field, "message": message }))
            .collect();
        let mut body = json!({ "message": self.message });
        if !errors.is_empty() {
            body["errors"] = Value::Array(errors);
        }
        response.json(body)
    }
}

/// Returns the tenant of the request's API key; 401 without one or with an unknown one.
async fn authenticate(request: &HttpRequest) -> Result<Tenant, DialectError> {
    match Tenant::extract(request).await {
        Ok(tenant) => {
            tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
            Ok(tenant)
        }
        Err(ApiError::Problem(problem)) if problem.status_code() == StatusCode::UNAUTHORIZED => {
            Err(DialectError::new(
                StatusCode::UNAUTHORIZED,
                "Authorization error: send the API key as Authorization: Bearer <token>",
            ))
        }
        Err(error) => Err(EventReminderError::Internal(anyhow::anyhow!(
            "the API key could not be checked: {error}"
        ))
        .into()),
    }
}

fn object(body: &web::Bytes) -> Result<Map<String, Value>, DialectError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(EventReminderError::BadRequest(vec![(
            "body".to_owned(),
            "must be a JSON object".to_owned(),
        )])
        .into()),
        Err(error) => Err(EventReminderError::BadRequest(vec![(
            "body".to_owned(),
            format!("is not JSON ({error})"),
        )])
        .into()),
    }
}

fn reminder_id(raw: &str) -> Result<Uuid, DialectError> {
    // Ids are ours; anything else names no reminder.
    raw.parse().map_err(|_| EventReminderError::NotFound.into())
}

/// One request of the dialect.
enum Action {
    Create(Map<String, Value>),
    Update(Uuid, Map<String, Value>),
    Cancel(Uuid),
    NoShow(Uuid),
}

/// Runs `action` for `tenant` in one transaction.
async fn run(
    state: &AppState,
    tenant: &Tenant,
    action: Action,
) -> Result<EventReminder, DialectError> {
    let mut connection = state
        .pool
        .get()
        .await
        .map_err(|error| EventReminderError::Internal(error.into()))?;
    let now = Utc::now();
    let result = connection
        .transaction::<_, TransactionError, _>(async |connection| {
            let outcome = match &action {
                Action::Create(body) => model::create(connection, tenant, body, now).await,
                Action::Update(id, body) => model::update(connection, tenant, *id, body, now).await,
                Action::Cancel(id) => model::cancel(connection, tenant, *id, now).await,
                Action::NoShow(id) => model::no_show(connection, tenant, *id, now).await,
            };
            outcome.map_err(TransactionError::Reminder)
        })
        .await;
    match result {
        Ok(reminder) => Ok(reminder),
        Err(TransactionError::Reminder(error)) => Err(error.into()),
        Err(TransactionError::Database(error)) => {
            Err(EventReminderError::Internal(error.into()).into())
        }
    }
}

/// What a dialect transaction can fail with: the request's error, or the commit's.
#[derive(Debug)]
enum TransactionError {
    Reminder(EventReminderError),
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for TransactionError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error)
    }
}

/// `POST /events/reminders`: creates the reminder (or answers the existing one of the same
/// `externalEventId` and phone).
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn create(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    let body = object(&body)?;
    let reminder = run(&state, &tenant, Action::Create(body)).await?;
    Ok(HttpResponse::Ok().json(reminder))
}

/// `PUT /events/reminders/{uuid}`: changes the fields given and replans.
#[tracing::instrument(skip_all, fields(tenant_id, reminder_id = %path))]
pub async fn update(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    let id = reminder_id(&path)?;
    let body = object(&body)?;
    let reminder = run(&state, &tenant, Action::Update(id, body)).await?;
    state.calendars.bookings_changed(tenant.id);
    Ok(HttpResponse::Ok().json(reminder))
}

/// `POST /events/reminders/{uuid}/cancel`.
#[tracing::instrument(skip_all, fields(tenant_id, reminder_id = %path))]
pub async fn cancel(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    let id = reminder_id(&path)?;
    let reminder = run(&state, &tenant, Action::Cancel(id)).await?;
    state.calendars.bookings_changed(tenant.id);
    Ok(HttpResponse::Ok().json(reminder))
}

/// `POST /events/reminders/{uuid}/no-show`.
#[tracing::instrument(skip_all, fields(tenant_id, reminder_id = %path))]
pub async fn no_show(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let tenant = authenticate(&request).await?;
    let id = reminder_id(&path)?;
    let reminder = run(&state, &tenant, Action::NoShow(id)).await?;
    Ok(HttpResponse::Ok().json(reminder))
}
