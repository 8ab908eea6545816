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
use attend_runtime::db::{self, DbPool, PooledConnection};
use attend_runtime::pipelined::PipelinedTransaction;
use attend_runtime::{Problem, Secret};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::attempts::{self, AttemptStatus, CallAttempt, FlowPosition, HangupReport, Outcome};
use crate::batches::{self, BatchCall};
use crate::call_flow::{self, Script};
use crate::workflow::{self, Definition, Input, Turn, TurnEnd};
use crate::xml::{self, Element};
use crate::{reminders, settings, signature};

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
    /// Workflows by id (immutable rows).
    pub workflows: std::sync::Arc<workflow::Cache>,
    /// Tenants' voice settings for the call scripts, read at most every
    /// [`settings::CACHE_TTL`] per tenant (the dialer reads them fresh for the calling
    /// window).
    pub settings: std::sync::Arc<settings::SettingsCache>,
    /// Wakes the dialer when a call ends and frees a line.
    pub wake_dialer: std::sync::Arc<tokio::sync::Notify>,
}

/// What a webhook needs to answer one call: its script, and its batch data for a batch call.
struct CallContext {
    script: Script,
    batch: Option<BatchCall>,
}

impl CallContext {
    async fn load(
        connection: &mut AsyncPgConnection,
        state: &WebhookState,
        attempt: &CallAttempt,
    ) -> Result<Self, WebhookError> {
        if attempt.is_batch_call() {
            let batch = batches::load_call(connection, attempt.id)
                .await?
                .ok_or_else(|| {
                    WebhookError::Internal(anyhow::anyhow!(
                        "batch call {} has no batch_calls row",
                        attempt.id
                    ))
                })?;
            return Ok(Self {
                script: Script::for_batch(&batch, &state.public_url),
                batch: Some(batch),
            });
        }
        let settings =
            settings::load_cached(connection, &state.settings, attempt.tenant_id).await?;
        let texts = reminders::texts_of(connection, attempt.id).await?;
        Ok(Self {
            script: Script::new(
                attempt,
                &settings,
                &state.public_url,
                &state.callback_number,
            )
            .with_reminder_texts(texts),
            batch: None,
        })
    }

    /// Returns whether the call is over for the webhooks: an outcome or result is settled,
    /// the carrier reported the hangup, or the workflow reached its end.
    fn finished(&self, attempt: &CallAttempt) -> bool {
        attempt.outcome.is_some()
            || attempt.status == AttemptStatus::Completed
            || attempt.flow_finished()
            || self
                .batch
                .as_ref()
                .is_some_and(|batch| batch.result.is_some())
    }
}

/// Registers the webhook routes.
pub fn configure(config: &mut web::ServiceConfig, state: web::Data<WebhookState>) {
    config.service(
        web::scope("/voice")
            .app_data(state)
            .route("/answer", web::post().to(answer_call))
            .route("/input", web::post().to(receive_input))
            .route("/hangup", web::post().to(receive_hangup))
            .route("/machine", web::post().to(receive_machine)),
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
    node: Option<String>,
    // Text, not a number: a malformed value from a stale URL is a stale input, never a 400
    // the carrier would turn into dead air.
    step: Option<String>,
}

impl WebhookQuery {
    fn step(&self) -> Option<i32> {
        self.step.as_deref().and_then(|raw| raw.trim().parse().ok())
    }

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
    #[serde(rename = "Machine")]
    machine: Option<String>,
}

impl CallbackForm {
    fn machine_answered(&self) -> bool {
        self.machine
            .as_deref()
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
    }

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

/// Runs a webhook's effect in one transaction whose first round trip carries `BEGIN`, the
/// record of the request's nonce and the lock of its attempt. A replayed nonce rolls it all
/// back; `apply` gets the locked attempt, or `None` (logged) when the id is unknown.
async fn in_transaction<T>(
    state: &WebhookState,
    nonce: &SignedNonce,
    attempt_id: Option<Uuid>,
    webhook: &'static str,
    apply: impl AsyncFnOnce(&mut AsyncPgConnection, Option<CallAttempt>) -> Result<T, WebhookError>,
) -> Result<T, WebhookError> {
    let mut connection = connection(state).await?;
    PipelinedTransaction::run(&mut connection, async |transaction| {
        let attempt = transaction
            .first_statement(async |connection| claim_and_lock(connection, nonce, attempt_id).await)
            .await?;
        if attempt.is_none() {
            match attempt_id {
                Some(attempt_id) => {
                    tracing::warn!(webhook, %attempt_id, "webhook for an unknown attempt");
                }
                None => tracing::warn!(webhook, "webhook without a valid attempt id"),
            }
        }
        apply(transaction.connection().await?, attempt).await
    })
    .await
}

/// Records the request's nonce and locks its attempt, sent together.
async fn claim_and_lock(
    connection: &AsyncPgConnection,
    nonce: &SignedNonce,
    attempt_id: Option<Uuid>,
) -> Result<Option<CallAttempt>, WebhookError> {
    let lock = async {
        match attempt_id {
            Some(attempt_id) => attempts::lock(connection, attempt_id).await,
            None => Ok(None),
        }
    };
    let (fresh, attempt) = futures_util::join!(
        attempts::record_nonce(connection, &nonce.0, REPLAY_WINDOW),
        lock
    );
    match fresh {
        Ok(true) => Ok(attempt?),
        Ok(false) => Err(WebhookError::Replay),
        // Two requests can only wait on each other here when they carry the same nonce for
        // the same attempt (one holds the nonce, the other the attempt's lock): the one
        // Postgres ends is the replay.
        Err(error) if db::is_deadlock(&error) => Err(WebhookError::Replay),
        Err(error) => Err(error.into()),
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
    let elements = in_transaction(
        &state,
        &nonce,
        query.attempt_id(),
        "answer",
        async |connection, attempt| apply_answer(connection, &state, attempt, &form).await,
    )
    .await?;
    xml_response(&elements)
}

async fn apply_answer(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt: Option<CallAttempt>,
    form: &CallbackForm,
) -> Result<Vec<Element>, WebhookError> {
    let Some(attempt) = attempt else {
        return Ok(call_flow::apology());
    };
    let context = CallContext::load(connection, state, &attempt).await?;
    let script = &context.script;
    // A batch call plays its workflow to a machine too (it records the message; the call
    // ends without a reply); a reminder leaves its voicemail text.
    if !attempt.is_batch_call()
        && form.machine_answered()
        && matches!(attempt.outcome, None | Some(Outcome::Machine))
    {
        mark_in_progress(connection, state, &attempt, form.call_uuid()).await?;
        let provider_ref = attempt.call_uuid.as_deref().or(form.call_uuid());
        let detail = "answering machine; voicemail left";
        attempts::settle(connection, &attempt, Outcome::Machine, detail, provider_ref).await?;
        tracing::info!(attempt_id = %attempt.id, "machine answered, leaving the voicemail");
        return Ok(script.voicemail());
    }
    if context.finished(&attempt) {
        tracing::info!(attempt_id = %attempt.id, "answer for a finished attempt");
        return Ok(script.closing());
    }
    // The pick-up is written with the first step below, in one statement.
    let picked_up = record_pickup(connection, state, &attempt, form.call_uuid()).await?;
    let definition = definition_of(connection, state, &attempt).await?;
    if let Some(node) = &attempt.flow.current_node {
        // The carrier sent the answer request again: say where the call is, change nothing.
        tracing::info!(attempt_id = %attempt.id, node, "repeated answer request");
        if let Some(watchdog) = picked_up {
            set_in_progress(connection, &attempt, watchdog).await?;
        }
        return Ok(script.render(&definition.run_from(node, Vec::new()), attempt.flow.step));
    }
    let call_uuid = form.call_uuid().unwrap_or_default();
    tracing::info!(attempt_id = %attempt.id, call_uuid, "call answered");
    let turn = definition.begin();
    take_turn(connection, &attempt, script, turn, form, picked_up).await
}

/// Returns the workflow the attempt runs (the current reminder workflow for attempts recorded
/// before workflows existed).
async fn definition_of(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt: &CallAttempt,
) -> Result<std::sync::Arc<Definition>, WebhookError> {
    let id = match attempt.flow.workflow_id {
        Some(id) => Some(id),
        None => {
            workflow::current_for(connection, attempt.tenant_id, workflow::REMINDER_WORKFLOW)
                .await?
        }
    };
    let Some(id) = id else {
        return Err(WebhookError::Internal(anyhow::anyhow!(
            "no reminder workflow is installed"
        )));
    };
    state
        .workflows
        .get(connection, id)
        .await
        .map_err(|error| WebhookError::Internal(error.into()))?
        .ok_or_else(|| WebhookError::Internal(anyhow::anyhow!("workflow {id} is missing")))
}

/// Records `turn` as the call's new position (and its outcome, if it ends the call, and that
/// the callee picked up when `picked_up` holds the watchdog for it) and returns its XML.
async fn take_turn(
    connection: &mut AsyncPgConnection,
    attempt: &CallAttempt,
    script: &Script,
    turn: Turn,
    form: &CallbackForm,
    picked_up: Option<DateTime<Utc>>,
) -> Result<Vec<Element>, WebhookError> {
    let step = attempt.flow.step + 1;
    let position = match &turn.end {
        TurnEnd::Gather { node, retries, .. } => FlowPosition {
            current_node: Some(node.clone()),
            step,
            node_retries: i32::try_from(*retries).unwrap_or(0),
            gathers_played: attempt.flow.gathers_played + 1,
            ..attempt.flow.clone()
        },
        TurnEnd::Hangup { .. } => FlowPosition {
            current_node: None,
            step,
            ..attempt.flow.clone()
        },
    };
    if let TurnEnd::Hangup {
        outcome: Some(outcome),
        ..
    } = &turn.end
        && !attempt.is_batch_call()
        && picked_up.is_none()
    {
        // The usual last step (a key pressed): position and outcome in one statement. The
        // locked attempt has no outcome yet (the webhooks return before this when it has),
        // so the write happens; were it settled, the position would still move.
        let provider_ref = attempt.call_uuid.as_deref().or(form.call_uuid());
        let detail = input_detail(*outcome);
        let settled = attempts::settle_at(
            connection,
            attempt,
            *outcome,
            detail,
            provider_ref,
            Some(&position),
        )
        .await?;
        if !settled {
            attempts::save_position(connection, attempt.id, &position, None).await?;
        }
        return Ok(script.render(&turn, step));
    }
    attempts::save_position(connection, attempt.id, &position, picked_up).await?;
    match &turn.end {
        TurnEnd::Hangup {
            option: Some(option),
            ..
        } if attempt.is_batch_call() => {
            // The result waits for the hangup report, which brings the call's duration.
            batches::record_option(connection, attempt.id, option).await?;
            tracing::info!(attempt_id = %attempt.id, option, "option chosen");
        }
        TurnEnd::Hangup {
            outcome: Some(outcome),
            ..
        } if !attempt.is_batch_call() => {
            let provider_ref = attempt.call_uuid.as_deref().or(form.call_uuid());
            attempts::settle(
                connection,
                attempt,
                *outcome,
                input_detail(*outcome),
                provider_ref,
            )
            .await?;
        }
        _ => {}
    }
    Ok(script.render(&turn, step))
}

/// `POST /voice/input?attempt=<id>&node=<gather>&step=<n>`: a key was pressed (or none).
async fn receive_input(
    state: web::Data<WebhookState>,
    nonce: SignedNonce,
    query: web::Query<WebhookQuery>,
    form: web::Form<CallbackForm>,
) -> Result<HttpResponse, Problem> {
    let elements = in_transaction(
        &state,
        &nonce,
        query.attempt_id(),
        "input",
        async |connection, attempt| apply_input(connection, &state, attempt, &query, &form).await,
    )
    .await?;
    xml_response(&elements)
}

async fn apply_input(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt: Option<CallAttempt>,
    query: &WebhookQuery,
    form: &CallbackForm,
) -> Result<Vec<Element>, WebhookError> {
    let Some(attempt) = attempt else {
        return Ok(call_flow::apology());
    };
    let context = CallContext::load(connection, state, &attempt).await?;
    let script = &context.script;
    if context.finished(&attempt) {
        tracing::info!(attempt_id = %attempt.id, "input for a finished attempt changes nothing");
        return Ok(script.closing());
    }
    mark_in_progress(connection, state, &attempt, form.call_uuid()).await?;
    let definition = definition_of(connection, state, &attempt).await?;
    let Some(current) = attempt.flow.current_node.clone() else {
        tracing::warn!(attempt_id = %attempt.id, "input before the call was answered, starting");
        return take_turn(connection, &attempt, script, definition.begin(), form, None).await;
    };
    let fresh =
        query.node.as_deref() == Some(current.as_str()) && query.step() == Some(attempt.flow.step);
    if !fresh {
        // A duplicate or out-of-order request for a step already answered: repeat where the
        // call is now, change nothing.
        tracing::info!(
            attempt_id = %attempt.id,
            node = query.node.as_deref().unwrap_or_default(),
            step = query.step().unwrap_or_default(),
            current_step = attempt.flow.step,
            "stale input ignored"
        );
        let turn = definition.run_from(&current, Vec::new());
        return Ok(script.render(&turn, attempt.flow.step));
    }
    let digits = form.digits.as_deref().map(str::trim).unwrap_or_default();
    let input = if digits.is_empty() {
        Input::Nothing
    } else {
        Input::Digits(digits)
    };
    let retries = u32::try_from(attempt.flow.node_retries).unwrap_or(0);
    let mut turn = definition.advance(&current, retries, input);
    if matches!(turn.end, TurnEnd::Gather { .. })
        && attempt.flow.gathers_played >= workflow::MAX_GATHERS_PER_CALL
    {
        tracing::warn!(attempt_id = %attempt.id, "too many prompts in one call, ending it");
        turn = definition.exhausted(&current);
    }
    tracing::info!(
        attempt_id = %attempt.id,
        node = current,
        digits,
        end = ?turn.end,
        "input received"
    );
    take_turn(connection, &attempt, script, turn, form, None).await
}

/// `POST /voice/machine?attempt=<id>`: the carrier's machine detection found an answering
/// machine. Settles `machine` unless the call already has an outcome; answers `OK`.
async fn receive_machine(
    state: web::Data<WebhookState>,
    nonce: SignedNonce,
    query: web::Query<WebhookQuery>,
    form: web::Form<CallbackForm>,
) -> Result<HttpResponse, Problem> {
    in_transaction(
        &state,
        &nonce,
        query.attempt_id(),
        "machine",
        async |connection, attempt| {
            let Some(attempt) = attempt else {
                return Ok(());
            };
            if !attempt.is_batch_call() && attempt.outcome.is_none() && form.machine_answered() {
                mark_in_progress(connection, &state, &attempt, form.call_uuid()).await?;
                let provider_ref = attempt.call_uuid.as_deref().or(form.call_uuid());
                let detail = "answering machine";
                attempts::settle(connection, &attempt, Outcome::Machine, detail, provider_ref)
                    .await?;
            }
            Ok(())
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("OK"))
}

/// `POST /voice/hangup?attempt=<id>`: the call ended; settles the outcome if no key did.
async fn receive_hangup(
    state: web::Data<WebhookState>,
    nonce: SignedNonce,
    query: web::Query<WebhookQuery>,
    form: web::Form<CallbackForm>,
) -> Result<HttpResponse, Problem> {
    in_transaction(
        &state,
        &nonce,
        query.attempt_id(),
        "hangup",
        async |connection, attempt| apply_hangup(connection, attempt, &form).await,
    )
    .await?;
    // The call no longer holds a line: a call waiting for one may go now.
    state.wake_dialer.notify_one();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("OK"))
}

async fn apply_hangup(
    connection: &mut AsyncPgConnection,
    attempt: Option<CallAttempt>,
    form: &CallbackForm,
) -> Result<(), WebhookError> {
    let Some(attempt) = attempt else {
        return Ok(());
    };
    if let Some(call_uuid) = form.call_uuid() {
        attempts::record_call_uuid(connection, &attempt, call_uuid).await?;
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
    if attempt.is_batch_call() {
        let option = batches::load_call(connection, attempt.id)
            .await?
            .and_then(|call| call.option_selected);
        let (result, detail) = batches::result_of_hangup(
            report.call_status.as_deref(),
            report.hangup_cause.as_deref(),
            option.as_deref(),
        );
        batches::settle_call(
            connection,
            attempt.id,
            result,
            &detail,
            report.duration_seconds,
        )
        .await?;
    } else if attempt.outcome.is_none() {
        let call_status = report.call_status.as_deref();
        let (outcome, detail) = outcome_of_hangup(call_status, report.hangup_cause.as_deref());
        let provider_ref = attempt.call_uuid.as_deref().or(form.call_uuid());
        attempts::settle(connection, &attempt, outcome, &detail, provider_ref).await?;
    }
    Ok(())
}

/// Records the CallUUID, and that the callee picked up, on the locked `attempt`. A webhook
/// also resolves an attempt whose make-call request had an unknown outcome.
async fn mark_in_progress(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt: &CallAttempt,
    call_uuid: Option<&str>,
) -> Result<(), WebhookError> {
    if let Some(watchdog) = record_pickup(connection, state, attempt, call_uuid).await? {
        set_in_progress(connection, attempt, watchdog).await?;
    }
    Ok(())
}

/// Records the CallUUID on the locked `attempt`, and returns the watchdog to write with
/// `in_progress` when the attempt is not there yet (the caller writes it, alone or with the
/// call's next step).
async fn record_pickup(
    connection: &mut AsyncPgConnection,
    state: &WebhookState,
    attempt: &CallAttempt,
    call_uuid: Option<&str>,
) -> Result<Option<DateTime<Utc>>, WebhookError> {
    if let Some(call_uuid) = call_uuid {
        attempts::record_call_uuid(connection, attempt, call_uuid).await?;
    }
    let picked_up = matches!(
        attempt.status,
        AttemptStatus::Placing | AttemptStatus::Unknown | AttemptStatus::Placed
    );
    Ok(picked_up.then(|| Utc::now() + state.call_watchdog))
}

async fn set_in_progress(
    connection: &mut AsyncPgConnection,
    attempt: &CallAttempt,
    watchdog: DateTime<Utc>,
) -> Result<(), WebhookError> {
    attempts::set_status(
        connection,
        attempt.id,
        AttemptStatus::InProgress,
        watchdog,
        None,
    )
    .await?;
    Ok(())
}

fn input_detail(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Confirmed => "confirmed by keypad",
        Outcome::RescheduleRequested => "reschedule requested by keypad",
        Outcome::Cancelled => "cancelled by keypad, confirmed",
        Outcome::OptedOut => "opted out of reminder calls by keypad",
        Outcome::NoAnswer => "no usable key pressed",
        Outcome::Machine | Outcome::Busy | Outcome::Failed | Outcome::Expired => "",
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
        _ if cause.to_ascii_uppercase().contains("MACHINE") => Outcome::Machine,
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
