//! The carrier's webhooks: `/voice/answer`, `/voice/input` and `/voice/hangup`.
//!
//! Every request must carry a valid Vobiz V3 signature over `PUBLIC_URL + path` and a nonce
//! not seen within [`REPLAY_WINDOW`]; otherwise it is a 403 problem and nothing changes. The
//! nonce is recorded in the same transaction as the webhook's effect, so a request that fails
//! half-way can be retried by the carrier. Answers are call-flow XML (`/voice/hangup`: `OK`);
//! a webhook for an unknown attempt still gets valid XML, so the callee never hears dead air.

use std::future::{Ready, ready};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use anyhow::Context;
use attend_runtime::db::{DbPool, PooledConnection};
use attend_runtime::{Problem, Secret};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::attempts::{self, AttemptStatus, CallAttempt, HangupReport, Outcome};
use crate::call_flow::{self, Script, Step};
use crate::signature;
use crate::xml::{self, Element};

/// A nonce seen within this window makes a request a replay.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(600);
/// How often expired nonces are deleted.
const NONCE_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// What the webhook handlers share.
#[derive(Clone)]
pub struct WebhookState {
    /// The service's pool.
    pub pool: DbPool,
    /// `PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
    /// The token the carrier signs with.
    pub auth_token: Secret,
    /// The number the call flow asks people to call back.
    pub callback_number: String,
    /// How long an answered call may go without its hangup callback.
    pub call_watchdog: Duration,
}

/// Registers the webhook routes.
pub fn configure(config: &mut web::ServiceConfig, state: web::Data<WebhookState>) {
    config.service(
        web::scope("/voice")
            .app_data(state)
            .route("/answer", web::post().to(answer_call))
            .route("/input", web::post().to(receive_input))
            .route("/hangup", web::post().to(receive_hangup)),
    );
}

/// The nonce of a request whose signature is valid; extracting it rejects the request with a
/// 403 problem before its body is read.
struct SignedNonce(String);

impl FromRequest for SignedNonce {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = request.app_data::<web::Data<WebhookState>>() else {
            tracing::error!("webhook state is not registered");
            return ready(Err(Problem::internal()));
        };
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        let nonce = header(signature::HEADER_V3_NONCE);
        // The carrier signs the URL it requested without the query string.
        let signed_url = format!("{}{}", state.public_url, request.path());
        let verified = signature::verify_v3(
            state.auth_token.expose(),
            &signed_url,
            nonce,
            header(signature::HEADER_V3),
        );
        ready(match (verified, nonce) {
            (Ok(()), Some(nonce)) => Ok(Self(nonce.trim().to_owned())),
            (Err(error), _) => {
                tracing::warn!(path = request.path(), reason = %error, "webhook signature refused");
                Err(forbidden(&error.to_string()))
            }
            (Ok(()), None) => Err(forbidden("the request is not signed")),
        })
    }
}

fn forbidden(detail: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "invalid_signature", "Forbidden").with_detail(detail)
}

/// The query string of every webhook URL.
#[derive(Debug, Deserialize)]
struct WebhookQuery {
    attempt: Option<String>,
    step: Option<String>,
}

impl WebhookQuery {
    fn attempt_id(&self) -> Option<Uuid> {
        self.attempt
            .as_deref()
            .and_then(|raw| raw.trim().parse().ok())
    }
}

/// The carrier's form parameters (carriers.md 2.4). `From` and `To` are kept for completeness
/// and never logged; there is deliberately no `Debug`.
#[derive(Deserialize, Default)]
#[expect(dead_code, reason = "the carrier's full parameter set, read as needed")]
struct CallbackForm {
    #[serde(rename = "CallUUID")]
    call_uuid: Option<String>,
    #[serde(rename = "From")]
    from: Option<String>,
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "Direction")]
    direction: Option<String>,
    #[serde(rename = "CallStatus")]
    call_status: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "Digits")]
    digits: Option<String>,
    #[serde(rename = "HangupCause")]
    hangup_cause: Option<String>,
    #[serde(rename = "Duration")]
    duration: Option<String>,
    #[serde(rename = "BillDuration")]
    bill_duration: Option<String>,
}

impl CallbackForm {
    fn call_uuid(&self) -> Option<&str> {
        self.call_uuid
            .as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }
}

/// How handling a webhook failed.
#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error("the nonce was already used")]
    Replay,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<WebhookError> for Problem {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Replay => {
                tracing::warn!("webhook replay refused");
                forbidden("the signature nonce was already used")
            }
            WebhookError::Database(error) => {
                tracing::error!(error.message = %error, "webhook failed on the database");
                Problem::internal()
            }
            WebhookError::Internal(error) => {
                tracing::error!(
                    error.message = %error,
                    error.cause_chain = ?error,
                    "webhook failed"
                );
                Problem::internal()
            }
        }
    }
}

/// Records the request's nonce in the webhook's transaction; a replay rolls it back.
async fn claim_nonce(
    connection: &mut AsyncPgConnection,
    nonce: &SignedNonce,
) -> Result<(), WebhookError> {
    if attempts::record_nonce(connection, &nonce.0, REPLAY_WINDOW).await? {
        Ok(())
    } else {
        Err(WebhookError::Replay)
    }
}

async fn connection(state: &WebhookState) -> Result<PooledConnection, WebhookError> {
    Ok(state.pool.get().await.context("no database connection")?)
}

/// `POST /voice/answer?attempt=<id>`: the callee picked up; answers the menu.
async fn answer_call(
    state: web::Data<WebhookState>,
    nonce: SignedNonce,
    query: web::Query<WebhookQuery>,
    form: web::Form<CallbackForm>,
) -> Result<HttpResponse, Problem> {
    let attempt_id = query.attempt_id();
    let mut connection = connection(&state).await?;
    let elements = connection
        .transaction::<_, WebhookError, _>(async |connection| {
            claim_nonce(connection, &nonce).await?;
            apply_answer(connection, &state, attempt_id, &form).await
        })
        .await?;
    xml_response(&elements)
}

async fn apply_answer(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt_id: Option<Uuid>,
    form: &CallbackForm,
) -> Result<Vec<Element>, WebhookError> {
    let Some(attempt) = find(connection, attempt_id, "answer").await? else {
        return Ok(call_flow::apology());
    };
    if attempt.outcome.is_some() || attempt.status == AttemptStatus::Completed {
        tracing::info!(attempt_id = %attempt.id, "answer for a finished attempt");
        return Ok(call_flow::closing(&call_flow::language_for(
            &attempt.locale,
        )));
    }
    mark_in_progress(connection, state, &attempt, form.call_uuid()).await?;
    let call_uuid = form.call_uuid().unwrap_or_default();
    tracing::info!(attempt_id = %attempt.id, call_uuid, "call answered");
    Ok(script(state, &attempt).render(call_flow::Prompt::Menu(None)))
}

/// `POST /voice/input?attempt=<id>&step=menu|cancel_confirm`: a key was pressed (or none).
async fn receive_input(
    state: web::Data<WebhookState>,
    nonce: SignedNonce,
    query: web::Query<WebhookQuery>,
    form: web::Form<CallbackForm>,
) -> Result<HttpResponse, Problem> {
    let attempt_id = query.attempt_id();
    let step = match query.step.as_deref().map(str::trim) {
        Some(raw) => Step::parse(raw).unwrap_or_else(|| {
            tracing::warn!(step = raw, "unknown call-flow step, using the menu");
            Step::Menu
        }),
        None => Step::Menu,
    };
    let mut connection = connection(&state).await?;
    let elements = connection
        .transaction::<_, WebhookError, _>(async |connection| {
            claim_nonce(connection, &nonce).await?;
            apply_input(connection, &state, attempt_id, step, &form).await
        })
        .await?;
    xml_response(&elements)
}

async fn apply_input(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt_id: Option<Uuid>,
    step: Step,
    form: &CallbackForm,
) -> Result<Vec<Element>, WebhookError> {
    let Some(attempt) = find(connection, attempt_id, "input").await? else {
        return Ok(call_flow::apology());
    };
    if attempt.outcome.is_some() || attempt.status == AttemptStatus::Completed {
        tracing::info!(attempt_id = %attempt.id, "input for a finished attempt changes nothing");
        return Ok(call_flow::closing(&call_flow::language_for(
            &attempt.locale,
        )));
    }
    mark_in_progress(connection, state, &attempt, form.call_uuid()).await?;
    let digits = form.digits.as_deref();
    let decision = call_flow::decide(step, digits, attempt.loops);
    tracing::info!(
        attempt_id = %attempt.id,
        step = step.as_str(),
        digits = digits.unwrap_or_default(),
        prompt = ?decision.prompt,
        "input received"
    );
    if decision.loops != attempt.loops {
        attempts::save_loops(connection, attempt.id, decision.loops).await?;
    }
    if let Some(outcome) = decision.outcome {
        let provider_ref = attempt.call_uuid.as_deref().or(form.call_uuid());
        let detail = input_detail(outcome);
        attempts::settle(connection, &attempt, outcome, detail, provider_ref).await?;
    }
    Ok(script(state, &attempt).render(decision.prompt))
}

/// `POST /voice/hangup?attempt=<id>`: the call ended; settles the outcome if no key did.
async fn receive_hangup(
    state: web::Data<WebhookState>,
    nonce: SignedNonce,
    query: web::Query<WebhookQuery>,
    form: web::Form<CallbackForm>,
) -> Result<HttpResponse, Problem> {
    let attempt_id = query.attempt_id();
    let mut connection = connection(&state).await?;
    connection
        .transaction::<_, WebhookError, _>(async |connection| {
            claim_nonce(connection, &nonce).await?;
            apply_hangup(connection, attempt_id, &form).await
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("OK"))
}

async fn apply_hangup(
    connection: &mut AsyncPgConnection,
    attempt_id: Option<Uuid>,
    form: &CallbackForm,
) -> Result<(), WebhookError> {
    let Some(attempt) = find(connection, attempt_id, "hangup").await? else {
        return Ok(());
    };
    if let Some(call_uuid) = form.call_uuid() {
        attempts::record_call_uuid(connection, attempt.id, call_uuid).await?;
    }
    let trimmed = |value: &Option<String>| value.as_deref().map(str::trim).map(str::to_owned);
    let report = HangupReport {
        call_status: trimmed(&form.call_status),
        hangup_cause: trimmed(&form.hangup_cause),
        duration_seconds: form
            .duration
            .as_deref()
            .and_then(|raw| raw.trim().parse().ok()),
    };
    let first_report = attempts::record_hangup(connection, attempt.id, &report).await?;
    tracing::info!(
        attempt_id = %attempt.id,
        call_status = report.call_status.as_deref().unwrap_or_default(),
        hangup_cause = report.hangup_cause.as_deref().unwrap_or_default(),
        first_report,
        "call hung up"
    );
    if attempt.outcome.is_none() {
        let call_status = report.call_status.as_deref();
        let (outcome, detail) = outcome_of_hangup(call_status, report.hangup_cause.as_deref());
        let provider_ref = attempt.call_uuid.as_deref().or(form.call_uuid());
        attempts::settle(connection, &attempt, outcome, &detail, provider_ref).await?;
    }
    Ok(())
}

/// Returns the locked attempt of a webhook, or `None` (logged) when the id is unknown.
async fn find(
    connection: &mut AsyncPgConnection,
    attempt_id: Option<Uuid>,
    webhook: &'static str,
) -> Result<Option<CallAttempt>, WebhookError> {
    let Some(attempt_id) = attempt_id else {
        tracing::warn!(webhook, "webhook without a valid attempt id");
        return Ok(None);
    };
    let attempt = attempts::lock(connection, attempt_id).await?;
    if attempt.is_none() {
        tracing::warn!(webhook, %attempt_id, "webhook for an unknown attempt");
    }
    Ok(attempt)
}

/// Records the CallUUID, and that the callee picked up, on the locked `attempt`. A webhook
/// also resolves an attempt whose make-call request had an unknown outcome.
async fn mark_in_progress(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt: &CallAttempt,
    call_uuid: Option<&str>,
) -> Result<(), WebhookError> {
    if let Some(call_uuid) = call_uuid {
        attempts::record_call_uuid(connection, attempt.id, call_uuid).await?;
    }
    if matches!(
        attempt.status,
        AttemptStatus::Placing | AttemptStatus::Unknown | AttemptStatus::Placed
    ) {
        let watchdog = Utc::now() + state.call_watchdog;
        attempts::set_status(
            connection,
            attempt.id,
            AttemptStatus::InProgress,
            watchdog,
            None,
        )
        .await?;
    }
    Ok(())
}

fn script(state: &WebhookState, attempt: &CallAttempt) -> Script {
    let input_url = |step: Step| {
        format!(
            "{}/voice/input?attempt={}&step={}",
            state.public_url,
            attempt.id,
            step.as_str()
        )
    };
    Script {
        recipient_name: attempt.recipient_name.clone(),
        business_name: attempt.business_name.clone(),
        appointment_start: attempt.appointment_start,
        time_zone: attempt.time_zone.clone(),
        language: call_flow::language_for(&attempt.locale),
        callback_number: state.callback_number.clone(),
        menu_action: input_url(Step::Menu),
        cancel_confirm_action: input_url(Step::CancelConfirm),
    }
}

fn input_detail(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Confirmed => "confirmed by keypad",
        Outcome::RescheduleRequested => "reschedule requested by keypad",
        Outcome::Cancelled => "cancelled by keypad, confirmed",
        Outcome::NoAnswer | Outcome::Busy | Outcome::Failed => "",
    }
}

/// Returns the outcome of a call that ended without one, from the carrier's final
/// `CallStatus`: answered but nothing usable pressed, or never answered, is `no_answer`.
fn outcome_of_hangup(call_status: Option<&str>, hangup_cause: Option<&str>) -> (Outcome, String) {
    let status = call_status.unwrap_or_default().to_ascii_lowercase();
    let cause = hangup_cause
        .filter(|cause| !cause.is_empty())
        .unwrap_or("unknown");
    let outcome = match status.as_str() {
        "busy" => Outcome::Busy,
        "no-answer" | "completed" | "timeout" => Outcome::NoAnswer,
        _ => Outcome::Failed,
    };
    let status = if status.is_empty() {
        "missing"
    } else {
        status.as_str()
    };
    (
        outcome,
        format!("call status {status}, hangup cause {cause}"),
    )
}

fn xml_response(elements: &[Element]) -> Result<HttpResponse, Problem> {
    let document = xml::render(elements).map_err(|error| {
        tracing::error!(error.message = %error, "failed to write call-flow xml");
        Problem::internal()
    })?;
    Ok(HttpResponse::Ok()
        .content_type(xml::CONTENT_TYPE)
        .body(document))
}

/// Deletes expired nonces every minute until `cancel` fires.
pub async fn prune_nonces(pool: DbPool, cancel: CancellationToken) -> anyhow::Result<()> {
    loop {
        match pool.get().await {
            Ok(mut connection) => {
                match attempts::prune_nonces(&mut connection, REPLAY_WINDOW).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::debug!(deleted, "expired webhook nonces deleted"),
                    Err(error) => {
                        tracing::warn!(error.message = %error, "failed to prune webhook nonces")
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error.message = %error, "no database connection to prune nonces")
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(NONCE_PRUNE_INTERVAL) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangups_without_an_answer_map_to_outcomes() {
        assert_eq!(
            outcome_of_hangup(Some("busy"), Some("USER_BUSY")).0,
            Outcome::Busy
        );
        assert_eq!(
            outcome_of_hangup(Some("no-answer"), None).0,
            Outcome::NoAnswer
        );
        assert_eq!(
            outcome_of_hangup(Some("completed"), Some("NORMAL_CLEARING")).0,
            Outcome::NoAnswer
        );
        assert_eq!(
            outcome_of_hangup(Some("failed"), Some("INVALID_NUMBER")).0,
            Outcome::Failed
        );
        assert_eq!(outcome_of_hangup(None, None).0, Outcome::Failed);
        assert_eq!(
            outcome_of_hangup(Some("Busy"), Some("USER_BUSY")).1,
            "call status busy, hangup cause USER_BUSY"
        );
    }
}
