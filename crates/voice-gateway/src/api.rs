//! The robo-call dialect, `/voicebot/v1` (seed robocall-batches.txt, docs/robocall-batches.md):
//! workflows integrators create, batches of calls, call and batch status, and the callback
//! settings. Authenticated with the tenant's Bearer API key (replicated from booking-service,
//! see [`crate::api_keys`]).
//!
//! Every answer is the seed's envelope `{"data", "message", "status": "Ok"}`; errors are
//! `{"data": null, "message", "status": "Error", "errors": [{"field", "message"}]}` with a 4xx,
//! naming each offending entry (`workflow_params[3].phone_number`). Bad input is refused as a
//! whole, before anything is stored or dialled.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use attend_runtime::db::{DbPool, PooledConnection};
use attend_runtime::{FieldIssue, mask};
use diesel_async::AsyncConnection;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::batches::{self, BatchEntry, BatchStatus, NewBatch};
use crate::workflow::{self, Definition, SaveError, StoredWorkflow};
use crate::{api_keys, callbacks, integrators, voices};

/// The largest request body: a full batch of 10,000 entries with their variables.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most errors one answer lists; the message says how many more there were.
const MAX_LISTED_ERRORS: usize = 100;
/// Longest variable value, in characters.
const MAX_VARIABLE_CHARS: usize = 500;
/// Longest `user_tag_identifiers`, as JSON.
const MAX_TAGS_BYTES: usize = 2_000;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// What the routes share.
#[derive(Clone)]
pub struct ApiState {
    /// The service's pool.
    pub pool: DbPool,
    /// Wakes the dialer when a batch is accepted.
    pub wake_dialer: Arc<Notify>,
}

/// Registers `/voicebot/v1/...`.
pub fn configure(config: &mut web::ServiceConfig, state: web::Data<ApiState>) {
    config.service(
        web::scope("/voicebot/v1")
            .app_data(state)
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route("/call", web::post().to(create_batch))
            .route("/call/{call_id}", web::get().to(get_call))
            .route("/batches/{batch_id}", web::get().to(get_batch))
            .route("/workflows", web::post().to(create_workflow))
            .route("/workflows", web::get().to(list_workflows))
            .route("/workflows/{workflow_id}", web::get().to(get_workflow))
            .route(
                "/workflows/{workflow_id}",
                web::delete().to(delete_workflow),
            )
            .route("/settings", web::get().to(get_settings))
            .route("/settings", web::put().to(put_settings)),
    );
}

/// A refused request, in the dialect's error shape.
#[derive(Debug)]
pub struct DialectError {
    status: StatusCode,
    message: String,
    errors: Vec<FieldIssue>,
}

impl DialectError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// 400 naming every field in `issues` (the first hundred).
    fn invalid(mut issues: Vec<FieldIssue>) -> Self {
        let total = issues.len();
        issues.truncate(MAX_LISTED_ERRORS);
        let mut message = issues
            .first()
            .map(|issue| format!("{}: {}", issue.field, issue.message))
            .unwrap_or_else(|| "invalid request".to_owned());
        if total > 1 {
            message.push_str(&format!(" (and {} more)", total - 1));
        }
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
            errors: issues,
        }
    }

    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![issue(field, message)])
    }

    fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an unexpected error occurred; try again later",
        )
    }
}

impl std::fmt::Display for DialectError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}", self.status.as_u16(), self.message)
    }
}

impl ResponseError for DialectError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"data": null, "message": self.message, "status": "Error"});
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        HttpResponse::build(self.status).json(body)
    }
}

impl From<diesel::result::Error> for DialectError {
    fn from(error: diesel::result::Error) -> Self {
        tracing::error!(error.message = %error, "voicebot api failed on the database");
        Self::internal()
    }
}

impl From<SaveError> for DialectError {
    fn from(error: SaveError) -> Self {
        match error {
            SaveError::Invalid(errors) => Self::invalid(
                errors
                    .into_iter()
                    .map(|error| issue(error.path, error.message))
                    .collect(),
            ),
            SaveError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            SaveError::Database(error) => error.into(),
        }
    }
}

fn issue(field: impl Into<String>, message: impl Into<String>) -> FieldIssue {
    FieldIssue {
        field: field.into(),
        message: message.into(),
    }
}

/// `{"data": data, "message": message, "status": "Ok"}` with 200.
fn ok(message: &str, data: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(json!({"data": data, "message": message, "status": "Ok"}))
}

async fn connection(pool: &DbPool) -> Result<PooledConnection, DialectError> {
    pool.get().await.map_err(|error| {
        tracing::error!(error.message = %error, "no database connection");
        DialectError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is unavailable; try again later",
        )
    })
}

/// The tenant whose API key the request carries.
#[derive(Debug, Clone, Copy)]
pub struct Integrator {
    /// The tenant id (`integrator_id` in callbacks).
    pub tenant_id: Uuid,
}

impl FromRequest for Integrator {
    type Error = DialectError;
    type Future = LocalBoxFuture<'static, Result<Self, DialectError>>;

    fn from_request(request: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let token = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .filter(|token| !token.is_empty());
        let state = request.app_data::<web::Data<ApiState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or_else(|| {
                DialectError::unauthorized("send the API key as `Authorization: Bearer <key>`")
            })?;
            let state = state.ok_or_else(DialectError::internal)?;
            let mut connection = connection(&state.pool).await?;
            let tenant_id = api_keys::tenant_of_key(&mut connection, &token)
                .await?
                .ok_or_else(|| DialectError::unauthorized("the API key is unknown or revoked"))?;
            tracing::Span::current().record("tenant_id", tracing::field::display(tenant_id));
            Ok(Self { tenant_id })
        })
    }
}

fn parse_body(body: &[u8]) -> Result<Value, DialectError> {
    serde_json::from_slice(body).map_err(|error| {
        DialectError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {error}"),
        )
    })
}

fn parse_path_id(raw: &str, what: &str) -> Result<Uuid, DialectError> {
    raw.trim()
        .parse()
        .map_err(|_| DialectError::not_found(what))
}

// ------------------------------------------------------------------------------- batches

/// A batch request, validated but not yet checked against its workflow.
struct BatchRequest {
    workflow_id: Uuid,
    accent: String,
    gender: String,
    entries: Vec<BatchEntry>,
}

/// Reads `POST /voicebot/v1/call`'s body, collecting every problem.
fn read_batch_request(body: &Value) -> Result<BatchRequest, Vec<FieldIssue>> {
    let mut issues = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(vec![issue("body", "must be a JSON object")]);
    };
    let workflow_id = match object.get("workflow_id") {
        None | Some(Value::Null) => {
            issues.push(issue("workflow_id", "is required"));
            None
        }
        Some(Value::String(raw)) => match raw.trim().parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                issues.push(issue("workflow_id", "unknown workflow"));
                None
            }
        },
        Some(_) => {
            issues.push(issue("workflow_id", "must be a string"));
            None
        }
    };
    let accent = optional_choice(
        object,
        "tts_voice_accent",
        voices::DEFAULT_ACCENT,
        &voices::accents(),
        &mut issues,
    );
    let gender = optional_choice(
        object,
        "tts_voice_gender",
        voices::DEFAULT_GENDER,
        &voices::GENDERS,
        &mut issues,
    );
    let mut entries = Vec::new();
    match object.get("workflow_params") {
        None | Some(Value::Null) => issues.push(issue("workflow_params", "is required")),
        Some(Value::Array(params)) if params.is_empty() => {
            issues.push(issue("workflow_params", "must hold at least one entry"));
        }
        Some(Value::Array(params)) if params.len() > batches::MAX_CALLS_PER_BATCH => {
            issues.push(issue(
                "workflow_params",
                format!(
                    "holds {} entries; a batch holds at most {}",
                    params.len(),
                    batches::MAX_CALLS_PER_BATCH
                ),
            ));
        }
        Some(Value::Array(params)) => {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (index, param) in params.iter().enumerate() {
                if let Some(entry) = read_entry(index, param, &mut issues) {
                    match seen.get(&entry.phone_number) {
                        Some(first) => issues.push(issue(
                            format!("workflow_params[{index}].phone_number"),
                            format!("the same number as workflow_params[{first}]"),
                        )),
                        None => {
                            seen.insert(entry.phone_number.clone(), index);
                        }
                    }
                    entries.push(entry);
                }
            }
        }
        Some(_) => issues.push(issue("workflow_params", "must be an array")),
    }
    match (workflow_id, issues.is_empty()) {
        (Some(workflow_id), true) => Ok(BatchRequest {
            workflow_id,
            accent,
            gender,
            entries,
        }),
        _ => Err(issues),
    }
}

fn optional_choice(
    object: &serde_json::Map<String, Value>,
    field: &str,
    default: &str,
    choices: &[&str],
    issues: &mut Vec<FieldIssue>,
) -> String {
    match object.get(field) {
        None | Some(Value::Null) => default.to_owned(),
        Some(Value::String(raw)) if raw.trim().is_empty() => default.to_owned(),
        Some(Value::String(raw)) => {
            let value = raw.trim().to_ascii_lowercase();
            if !choices.contains(&value.as_str()) {
                issues.push(issue(
                    field,
                    format!("must be one of {}", choices.join(", ")),
                ));
            }
            value
        }
        Some(_) => {
            issues.push(issue(field, "must be a string"));
            default.to_owned()
        }
    }
}

fn read_entry(index: usize, param: &Value, issues: &mut Vec<FieldIssue>) -> Option<BatchEntry> {
    let at = format!("workflow_params[{index}]");
    let Some(object) = param.as_object() else {
        issues.push(issue(&at, "must be an object"));
        return None;
    };
    let phone_number = match object.get("phone_number") {
        None | Some(Value::Null) => {
            issues.push(issue(format!("{at}.phone_number"), "is required"));
            None
        }
        Some(Value::String(raw)) => {
            let normalized = raw
                .trim()
                .starts_with('+')
                .then(|| attend_runtime::phone::normalize(raw))
                .flatten();
            if normalized.is_none() {
                issues.push(issue(
                    format!("{at}.phone_number"),
                    "must be an E.164 number with its country code, such as +2348076960623",
                ));
            }
            normalized
        }
        Some(_) => {
            issues.push(issue(format!("{at}.phone_number"), "must be a string"));
            None
        }
    };
    let user_tags = match object.get("user_tag_identifiers") {
        None | Some(Value::Null) => json!({}),
        Some(tags @ Value::Object(_)) => {
            if tags.to_string().len() > MAX_TAGS_BYTES {
                issues.push(issue(
                    format!("{at}.user_tag_identifiers"),
                    format!("must be at most {MAX_TAGS_BYTES} bytes of JSON"),
                ));
            }
            tags.clone()
        }
        Some(_) => {
            issues.push(issue(
                format!("{at}.user_tag_identifiers"),
                "must be an object",
            ));
            json!({})
        }
    };
    let mut variables = BTreeMap::new();
    match object.get("workflow_variables") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (name, value) in given {
                let text = match value {
                    Value::String(text) => text.trim().to_owned(),
                    Value::Number(number) => number.to_string(),
                    Value::Bool(flag) => flag.to_string(),
                    _ => {
                        issues.push(issue(
                            format!("{at}.workflow_variables.{name}"),
                            "must be a string, a number or a boolean",
                        ));
                        continue;
                    }
                };
                if text.chars().count() > MAX_VARIABLE_CHARS {
                    issues.push(issue(
                        format!("{at}.workflow_variables.{name}"),
                        format!("must be at most {MAX_VARIABLE_CHARS} characters"),
                    ));
                }
                variables.insert(name.clone(), text);
            }
        }
        Some(_) => issues.push(issue(
            format!("{at}.workflow_variables"),
            "must be an object",
        )),
    }
    Some(BatchEntry {
        phone_number: phone_number?,
        user_tags,
        variables,
    })
}

/// Returns a problem for every entry missing one of `definition`'s variables.
fn missing_variables(definition: &Definition, entries: &[BatchEntry]) -> Vec<FieldIssue> {
    let mut issues = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        for name in &definition.variables {
            let given = entry
                .variables
                .get(name)
                .is_some_and(|value| !value.is_empty());
            if !given {
                issues.push(issue(
                    format!("workflow_params[{index}].workflow_variables.{name}"),
                    "is required by the workflow",
                ));
            }
        }
    }
    issues
}

fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, DialectError> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or_default().to_owned();
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(DialectError::field(
            "Idempotency-Key",
            "must be 1 to 200 visible characters",
        ));
    }
    Ok(Some(key))
}

/// `POST /voicebot/v1/call`: validates everything, then stores the batch and its calls in one
/// transaction and answers its `batch_id`. The dialer places the calls from then on.
async fn create_batch(
    integrator: Integrator,
    state: web::Data<ApiState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, DialectError> {
    let tenant_id = integrator.tenant_id;
    let idempotency_key = idempotency_key(&request)?;
    let request_sha256 = Sha256::digest(&body).to_vec();
    let mut connection = connection(&state.pool).await?;
    if let Some(key) = &idempotency_key
        && let Some(batch_id) =
            replayed_batch(&mut connection, tenant_id, key, &request_sha256).await?
    {
        return Ok(batch_created(batch_id));
    }
    let parsed = read_batch_request(&parse_body(&body)?).map_err(DialectError::invalid)?;
    let stored = workflow::find_robocall(&mut connection, tenant_id, parsed.workflow_id)
        .await?
        .ok_or_else(|| DialectError::field("workflow_id", "unknown workflow"))?;
    let missing = missing_variables(&stored.definition, &parsed.entries);
    if !missing.is_empty() {
        return Err(DialectError::invalid(missing));
    }
    let voice = voices::vobiz(&parsed.accent, &parsed.gender)
        .ok_or_else(|| DialectError::field("tts_voice_accent", "has no voice at the carrier"))?;
    let batch = NewBatch {
        id: Uuid::now_v7(),
        tenant_id,
        workflow_id: stored.id,
        idempotency_key: idempotency_key.clone(),
        request_sha256: request_sha256.clone(),
        accent: parsed.accent,
        gender: parsed.gender,
        speak_voice: voice.voice,
        speak_language: voice.language,
        options: stored.definition.options(),
    };
    let entries = parsed.entries;
    let created = connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            batches::create(connection, &batch, &entries).await
        })
        .await;
    match created {
        Ok(_) => {}
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) if idempotency_key.is_some() => {
            // The same request, sent twice at once: the other one stored it.
            let key = idempotency_key.as_deref().unwrap_or_default();
            let batch_id = replayed_batch(&mut connection, tenant_id, key, &request_sha256)
                .await?
                .ok_or_else(DialectError::internal)?;
            return Ok(batch_created(batch_id));
        }
        Err(error) => return Err(error.into()),
    }
    state.wake_dialer.notify_one();
    tracing::info!(
        batch_id = %batch.id,
        %tenant_id,
        workflow_id = %batch.workflow_id,
        calls = entries.len(),
        first = %entries.first().map(|entry| mask::number(&entry.phone_number)).unwrap_or_default(),
        "batch accepted"
    );
    Ok(batch_created(batch.id))
}

/// Returns the batch an earlier request with `key` created, if it was this same request;
/// a different request with the same key is a conflict.
async fn replayed_batch(
    connection: &mut PooledConnection,
    tenant_id: Uuid,
    key: &str,
    request_sha256: &[u8],
) -> Result<Option<Uuid>, DialectError> {
    match batches::find_by_idempotency_key(connection, tenant_id, key).await? {
        None => Ok(None),
        Some((batch_id, stored)) if stored == request_sha256 => {
            tracing::info!(%batch_id, "idempotent replay of a batch request");
            Ok(Some(batch_id))
        }
        Some(_) => Err(DialectError::new(
            StatusCode::CONFLICT,
            "this Idempotency-Key was used for a different request",
        )),
    }
}

fn batch_created(batch_id: Uuid) -> HttpResponse {
    ok(
        "batch request created successfully",
        json!({"batch_id": batch_id}),
    )
}

/// `GET /voicebot/v1/call/{call_id}`: where one call is (`processing_status`).
async fn get_call(
    integrator: Integrator,
    state: web::Data<ApiState>,
    call_id: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let call_id = parse_path_id(&call_id, "call")?;
    let mut connection = connection(&state.pool).await?;
    let status = batches::call_status(&mut connection, integrator.tenant_id, call_id)
        .await?
        .ok_or_else(|| DialectError::not_found("call"))?;
    Ok(ok(
        "call status found",
        json!({"call_id": call_id, "processing_status": status.wire()}),
    ))
}

fn batch_json(status: &BatchStatus) -> Value {
    let progress = if status.total_calls > 0 {
        let hundredths = (status.processed_calls * 10_000) / status.total_calls;
        hundredths as f64 / 100.0
    } else {
        0.0
    };
    json!({
        "batch_id": status.id,
        "workflow_id": status.workflow_id,
        "status": status.status.to_ascii_uppercase(),
        "total_calls": status.total_calls,
        "queued_calls": status.queued_calls,
        "in_progress_calls": status.in_progress_calls,
        "processed_calls": status.processed_calls,
        "progress": progress,
        "stats": status.stats,
        "created_at": batches::wire_time(status.created_at),
        "completed_at": status.completed_at.map(batches::wire_time),
        "callback": {
            "status": status.callback_status.to_ascii_uppercase(),
            "attempts": status.callback_attempts,
            "last_status_code": status.callback_last_status,
            "delivered_at": status.callback_delivered_at.map(batches::wire_time),
        },
    })
}

/// `GET /voicebot/v1/batches/{batch_id}`: progress, the stats so far, the callback's state.
async fn get_batch(
    integrator: Integrator,
    state: web::Data<ApiState>,
    batch_id: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let batch_id = parse_path_id(&batch_id, "batch")?;
    let mut connection = connection(&state.pool).await?;
    let status = batches::status(&mut connection, integrator.tenant_id, batch_id)
        .await?
        .ok_or_else(|| DialectError::not_found("batch"))?;
    Ok(ok("batch status found", batch_json(&status)))
}

// ----------------------------------------------------------------------------- workflows

fn workflow_json(stored: &StoredWorkflow) -> Value {
    json!({
        "workflow_id": stored.id,
        "name": stored.name,
        "version": stored.version,
        "variables": stored.definition.variables,
        "options": stored.definition.options(),
        "start": stored.definition.start,
        "nodes": stored.definition.nodes,
        "created_at": batches::wire_time(stored.created_at),
    })
}

/// `POST /voicebot/v1/workflows`: `{"name", "variables", "start", "nodes"}`, validated as a
/// robocall workflow (docs/robocall-batches.md).
async fn create_workflow(
    integrator: Integrator,
    state: web::Data<ApiState>,
    body: web::Bytes,
) -> Result<HttpResponse, DialectError> {
    let mut body = parse_body(&body)?;
    let Some(object) = body.as_object_mut() else {
        return Err(DialectError::field("body", "must be a JSON object"));
    };
    let name = match object.remove("name") {
        Some(Value::String(name)) => name,
        None | Some(Value::Null) => return Err(DialectError::field("name", "is required")),
        Some(_) => return Err(DialectError::field("name", "must be a string")),
    };
    let definition_bytes = serde_json::to_vec(&body).map_err(|_| DialectError::internal())?;
    let definition: Definition =
        attend_runtime::http::parse_json(&definition_bytes).map_err(|problem| {
            let issues = if problem.errors.is_empty() {
                vec![issue("body", problem.detail.unwrap_or_default())]
            } else {
                problem.errors
            };
            DialectError::invalid(issues)
        })?;
    let mut connection = connection(&state.pool).await?;
    let stored =
        workflow::create_robocall(&mut connection, integrator.tenant_id, &name, &definition)
            .await?;
    tracing::info!(tenant_id = %integrator.tenant_id, workflow_id = %stored.id, version = stored.version, "workflow created");
    Ok(ok("workflow created successfully", workflow_json(&stored)))
}

/// `GET /voicebot/v1/workflows`.
async fn list_workflows(
    integrator: Integrator,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, DialectError> {
    let mut connection = connection(&state.pool).await?;
    let stored = workflow::list_robocall(&mut connection, integrator.tenant_id).await?;
    let data: Vec<Value> = stored.iter().map(workflow_json).collect();
    Ok(ok("workflows found", data))
}

/// `GET /voicebot/v1/workflows/{workflow_id}`.
async fn get_workflow(
    integrator: Integrator,
    state: web::Data<ApiState>,
    workflow_id: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let workflow_id = parse_path_id(&workflow_id, "workflow")?;
    let mut connection = connection(&state.pool).await?;
    let stored = workflow::find_robocall(&mut connection, integrator.tenant_id, workflow_id)
        .await?
        .ok_or_else(|| DialectError::not_found("workflow"))?;
    Ok(ok("workflow found", workflow_json(&stored)))
}

/// `DELETE /voicebot/v1/workflows/{workflow_id}`: no new batch may use it; running ones go on.
async fn delete_workflow(
    integrator: Integrator,
    state: web::Data<ApiState>,
    workflow_id: web::Path<String>,
) -> Result<HttpResponse, DialectError> {
    let workflow_id = parse_path_id(&workflow_id, "workflow")?;
    let mut connection = connection(&state.pool).await?;
    if !workflow::delete_robocall(&mut connection, integrator.tenant_id, workflow_id).await? {
        return Err(DialectError::not_found("workflow"));
    }
    Ok(ok(
        "workflow deleted successfully",
        json!({"workflow_id": workflow_id}),
    ))
}

// ------------------------------------------------------------------------------ settings

fn settings_json(settings: &integrators::IntegratorSettings, new_secret: Option<&str>) -> Value {
    let mut data = json!({
        "callback_url": settings.callback_url,
        "callback_secret_created_at": batches::wire_time(settings.secret_created_at),
        "signature_header": callbacks::SIGNATURE_HEADER,
    });
    if let Some(secret) = new_secret {
        data["callback_secret"] = json!(secret);
    }
    data
}

/// `GET /voicebot/v1/settings`: the callback URL (never the secret).
async fn get_settings(
    integrator: Integrator,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, DialectError> {
    let mut connection = connection(&state.pool).await?;
    let settings = integrators::load(&mut connection, integrator.tenant_id)
        .await?
        .ok_or_else(|| DialectError::not_found("settings"))?;
    Ok(ok("settings found", settings_json(&settings, None)))
}

/// `PUT /voicebot/v1/settings`: `{"callback_url": "https://…" | null,
/// "rotate_callback_secret": false}`. The signing secret is generated on the first call and
/// on rotation, and shown only in that answer.
async fn put_settings(
    integrator: Integrator,
    state: web::Data<ApiState>,
    body: web::Bytes,
) -> Result<HttpResponse, DialectError> {
    let body = parse_body(&body)?;
    let Some(object) = body.as_object() else {
        return Err(DialectError::field("body", "must be a JSON object"));
    };
    let known: HashSet<&str> = ["callback_url", "rotate_callback_secret"].into();
    let mut issues: Vec<FieldIssue> = object
        .keys()
        .filter(|key| !known.contains(key.as_str()))
        .map(|key| issue(key.as_str(), "is not a setting"))
        .collect();
    let callback_url = match object.get("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => match integrators::check_callback_url(raw) {
            Ok(url) => Some(url),
            Err(message) => {
                issues.push(issue("callback_url", message));
                None
            }
        },
        Some(_) => {
            issues.push(issue("callback_url", "must be a string or null"));
            None
        }
    };
    let rotate = match object.get("rotate_callback_secret") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(rotate)) => *rotate,
        Some(_) => {
            issues.push(issue("rotate_callback_secret", "must be a boolean"));
            false
        }
    };
    if !issues.is_empty() {
        return Err(DialectError::invalid(issues));
    }
    let mut connection = connection(&state.pool).await?;
    let tenant_id = integrator.tenant_id;
    let (settings, new_secret) = connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            integrators::save(connection, tenant_id, callback_url.as_deref(), rotate).await
        })
        .await?;
    tracing::info!(%tenant_id, secret_rotated = new_secret.is_some(), "callback settings saved");
    Ok(ok(
        "settings saved",
        settings_json(&settings, new_secret.as_deref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<BatchRequest, Vec<FieldIssue>>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(issues) => issues.into_iter().map(|issue| issue.field).collect(),
        }
    }

    #[test]
    fn the_seed_request_is_read() {
        let body = json!({
            "tts_voice_accent": "igbo",
            "tts_voice_gender": "female",
            "workflow_id": "9b643eb4-0799-4761-bd34-9580eb315aaf",
            "workflow_params": [{
                "phone_number": "+2348076960623",
                "user_tag_identifiers": {"customer_id": "CUST001"},
                "workflow_variables": {"name": "James"}
            }]
        });
        let Ok(request) = read_batch_request(&body) else {
            panic!("the seed's request was refused")
        };
        assert_eq!(request.accent, "igbo");
        assert_eq!(request.entries[0].phone_number, "+2348076960623");
        assert_eq!(request.entries[0].variables["name"], "James");
        assert_eq!(request.entries[0].user_tags["customer_id"], "CUST001");
    }

    #[test]
    fn every_bad_entry_is_named() {
        let body = json!({
            "tts_voice_accent": "martian",
            "workflow_params": [
                {"phone_number": "08076960623"},
                {"user_tag_identifiers": []},
                {"phone_number": "+2348076960623", "workflow_variables": {"name": ["x"]}},
                {"phone_number": "+234 807 696 0623"},
                "nope"
            ]
        });
        assert_eq!(
            fields(read_batch_request(&body)),
            [
                "workflow_id",
                "tts_voice_accent",
                "workflow_params[0].phone_number",
                "workflow_params[1].phone_number",
                "workflow_params[1].user_tag_identifiers",
                "workflow_params[2].workflow_variables.name",
                "workflow_params[3].phone_number",
                "workflow_params[4]",
            ]
        );
    }

    #[test]
    fn missing_variables_name_the_entry_and_the_variable() {
        let definition = Definition {
            variables: vec!["name".to_owned(), "lab".to_owned()],
            start: "a".to_owned(),
            nodes: BTreeMap::new(),
        };
        let entry = |variables: &[(&str, &str)]| BatchEntry {
            phone_number: "+2348076960623".to_owned(),
            user_tags: json!({}),
            variables: variables
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        };
        let issues = missing_variables(
            &definition,
            &[
                entry(&[("name", "Ada"), ("lab", "City")]),
                entry(&[("name", "")]),
            ],
        );
        let fields: Vec<&str> = issues.iter().map(|issue| issue.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "workflow_params[1].workflow_variables.name",
                "workflow_params[1].workflow_variables.lab"
            ]
        );
    }

    #[test]
    fn errors_have_the_dialect_shape() {
        let error = DialectError::invalid(vec![
            issue("workflow_params[0].phone_number", "is required"),
            issue("workflow_id", "unknown workflow"),
        ]);
        assert_eq!(error.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(
            error.message,
            "workflow_params[0].phone_number: is required (and 1 more)"
        );
    }
}
