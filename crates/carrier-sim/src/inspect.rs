//! What the sim saw: the in-memory record of every call, and the routes tests read it through.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::SimState;
use crate::error::SimApiError;
use crate::script::{CalleeScript, ScriptSource, number_key};
use crate::webhook::HttpMethod;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    /// Placed, not yet answered.
    Ringing,
    /// Answered; the application's XML is being acted out.
    InProgress,
    /// Answered and hung up.
    Completed,
    /// Never answered.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// Stopped by the sim itself (for example at shutdown).
    Failed,
}

impl CallStatus {
    /// Returns the value the carrier sends as `CallStatus`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::NoAnswer => "no-answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
        }
    }
}

/// A `<Speak>` the callee heard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpokenText {
    /// The text, entities resolved and whitespace collapsed.
    pub text: String,
    /// The `voice` attribute as written, if any.
    pub voice: Option<String>,
    /// The `language` attribute as written, if any.
    pub language: Option<String>,
}

/// A Gather the callee reached, and what they did there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatherRecord {
    /// `Gather`, `GetInput` or `GetDigits`.
    pub element: String,
    /// The action URL.
    pub action: String,
    /// The action method.
    pub method: HttpMethod,
    /// The `inputType` attribute, if any.
    pub input_type: Option<String>,
    /// The `numDigits` limit, if any.
    pub num_digits: Option<u32>,
    /// The timeout the carrier would have waited (the sim does not wait).
    pub execution_timeout: u32,
    /// The finishing key, if enabled.
    pub finish_on_key: Option<char>,
    /// The digits sent to the action, or `None` when nothing was pressed.
    pub digits: Option<String>,
    /// `input`, `no_input_fallthrough` or `no_input_post_empty`.
    pub outcome: &'static str,
}

/// One HTTP request from the sim to the application, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// The URL requested (without the GET parameters the sim added).
    pub url: String,
    /// The method used.
    pub method: HttpMethod,
    /// The `Event` parameter sent, if any (Gather actions carry none).
    pub event: Option<String>,
    /// Every parameter sent.
    pub request_params: BTreeMap<String, String>,
    /// The response status, if a response arrived.
    pub response_status: Option<u16>,
    /// The response body (lossy UTF-8), if a response arrived.
    pub response_body: Option<String>,
    /// Why no usable response arrived, if so.
    pub error: Option<String>,
    /// When the request was sent.
    pub sent_at: DateTime<Utc>,
}

/// Everything the sim knows about one call.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// The call's id (`CallUUID`, also the make-call `request_uuid`).
    pub call_uuid: Uuid,
    /// Caller id.
    pub from: String,
    /// Destination number.
    pub to: String,
    /// First document URL.
    pub answer_url: String,
    /// Method for the answer URL.
    pub answer_method: HttpMethod,
    /// Hangup callback URL, if given.
    pub hangup_url: Option<String>,
    /// Method for the hangup URL.
    pub hangup_method: HttpMethod,
    /// Ring callback URL, if given.
    pub ring_url: Option<String>,
    /// Fallback URL, if given (recorded; not used yet).
    pub fallback_url: Option<String>,
    /// `caller_name`, if given.
    pub caller_name: Option<String>,
    /// `time_limit` in seconds, if given (recorded; not enforced yet).
    pub time_limit: Option<u64>,
    /// `machine_detection`, if given (`true` or `hangup`; acted on for `line: machine`).
    pub machine_detection: Option<String>,
    /// Where the call is in its life.
    pub status: CallStatus,
    /// The `HangupCause` sent, once the call has ended.
    pub hangup_cause: Option<String>,
    /// The `hangup_cause_code` sent, once the call has ended.
    pub hangup_cause_code: Option<u32>,
    /// The `hangup_source` sent, once the call has ended.
    pub hangup_source: Option<String>,
    /// Why the call ended early, when the application misbehaved.
    pub error: Option<String>,
    /// Simulated call length in seconds (`Duration` and `BillDuration`).
    pub duration: u64,
    /// When the call was placed.
    pub created_at: DateTime<Utc>,
    /// When the callee answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// When the call ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The callee script the call followed.
    pub script: CalleeScript,
    /// Whether the script was an override or the default.
    pub script_source: ScriptSource,
    /// Every Speak heard, in order (Gather prompts included).
    pub spoken: Vec<SpokenText>,
    /// Every Play URL heard, in order.
    pub played: Vec<String>,
    /// Every Gather reached, in order.
    pub gathers: Vec<GatherRecord>,
    /// Valid elements the sim skipped because it does not simulate them (`Dial`, `Record`, …).
    pub skipped_elements: Vec<String>,
    /// Every webhook request, in order.
    pub exchanges: Vec<Exchange>,
    /// Whether the exchanges, the Plays, the skipped elements and the Speaks after the first
    /// were dropped: done for ended calls older than the last [`DETAILED_CALLS`], keeping what
    /// the call's summary shows.
    pub details_dropped: bool,
}

/// Calls kept with every detail. A 10,000-call benchmark run held 117 MiB with every
/// exchange kept, about 12 KB a call; older ended calls keep what their summary shows.
pub const DETAILED_CALLS: usize = 1_000;

impl CallRecord {
    /// Drops what only a close look at one call needs (see [`CallRecord::details_dropped`]).
    fn drop_details(&mut self) {
        self.exchanges = Vec::new();
        self.played = Vec::new();
        self.skipped_elements = Vec::new();
        self.spoken.truncate(1);
        self.spoken.shrink_to_fit();
        for gather in &mut self.gathers {
            gather.action = String::new();
        }
        self.details_dropped = true;
    }

    /// Returns whether the call has ended.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status,
            CallStatus::Completed | CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Failed
        )
    }
}

/// One call in a few fields: what a test compares with an application's own report.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    /// The call's id.
    pub call_uuid: Uuid,
    /// Destination number.
    pub to: String,
    /// Where the call is in its life.
    pub status: CallStatus,
    /// Whether the callee picked up.
    pub answered: bool,
    /// Simulated call length in seconds (`Duration`).
    pub duration: u64,
    /// The digits sent at each Gather that got input, in order.
    pub digits: Vec<String>,
    /// The `HangupCause` sent, once ended.
    pub hangup_cause: Option<String>,
    /// Why the call ended early, if the application misbehaved.
    pub error: Option<String>,
    /// The `voice` and `language` of the first `<Speak>` heard.
    pub first_voice: Option<(Option<String>, Option<String>)>,
    /// When the call was placed.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

impl CallRecord {
    /// Returns the call in a few fields.
    pub fn summary(&self) -> CallSummary {
        CallSummary {
            call_uuid: self.call_uuid,
            to: self.to.clone(),
            status: self.status,
            answered: self.answered_at.is_some(),
            duration: self.duration,
            digits: self
                .gathers
                .iter()
                .filter_map(|gather| gather.digits.clone().filter(|digits| !digits.is_empty()))
                .collect(),
            hangup_cause: self.hangup_cause.clone(),
            error: self.error.clone(),
            first_voice: self
                .spoken
                .first()
                .map(|spoken| (spoken.voice.clone(), spoken.language.clone())),
            created_at: self.created_at,
            ended_at: self.ended_at,
        }
    }
}

/// Every call placed since start-up (or since the last clear), in order.
#[derive(Debug, Default)]
pub struct CallStore {
    calls: Mutex<Vec<CallRecord>>,
}

impl CallStore {
    /// Adds a new call; the call it pushes out of the last [`DETAILED_CALLS`] loses its
    /// details if it has ended.
    pub fn insert(&self, record: CallRecord) {
        let mut calls = self.lock();
        calls.push(record);
        if let Some(index) = calls.len().checked_sub(DETAILED_CALLS + 1)
            && calls[index].is_finished()
        {
            calls[index].drop_details();
        }
    }

    /// Changes the call `call_uuid`, if it is still recorded (a clear may have dropped it).
    /// A call that ends outside the last [`DETAILED_CALLS`] loses its details.
    pub fn update(&self, call_uuid: Uuid, change: impl FnOnce(&mut CallRecord)) {
        let mut calls = self.lock();
        let count = calls.len();
        // Searched from the newest: updates are almost always for calls in progress.
        if let Some((index, record)) = calls
            .iter_mut()
            .enumerate()
            .rev()
            .find(|(_, record)| record.call_uuid == call_uuid)
        {
            change(record);
            if index + DETAILED_CALLS < count && record.is_finished() && !record.details_dropped {
                record.drop_details();
            }
        }
    }

    /// Returns a copy of the call `call_uuid`.
    pub fn get(&self, call_uuid: Uuid) -> Option<CallRecord> {
        self.lock()
            .iter()
            .find(|record| record.call_uuid == call_uuid)
            .cloned()
    }

    /// Returns every call, or only those to `to` (compared without a leading '+').
    pub fn list(&self, to: Option<&str>) -> Vec<CallRecord> {
        let wanted = to.map(number_key);
        self.lock()
            .iter()
            .filter(|record| {
                wanted
                    .as_ref()
                    .is_none_or(|wanted| number_key(&record.to) == *wanted)
            })
            .cloned()
            .collect()
    }

    /// Returns every call in a few fields, or only those to `to`.
    pub fn summaries(&self, to: Option<&str>) -> Vec<CallSummary> {
        let wanted = to.map(number_key);
        self.lock()
            .iter()
            .filter(|record| {
                wanted
                    .as_ref()
                    .is_none_or(|wanted| number_key(&record.to) == *wanted)
            })
            .map(CallRecord::summary)
            .collect()
    }

    /// Returns how many calls are recorded and how many of them have ended.
    pub fn counts(&self) -> (usize, usize) {
        let calls = self.lock();
        let finished = calls.iter().filter(|record| record.is_finished()).count();
        (calls.len(), finished)
    }

    /// Forgets every call.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CallRecord>> {
        // A panic while holding the lock cannot leave a record half-written in a way that
        // matters to a test double, so keep serving.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Registers the inspection routes.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sim/calls", web::get().to(list_calls))
        .route("/sim/calls", web::delete().to(clear_calls))
        // Before /sim/calls/{call_uuid}, which would take "summary" for an id.
        .route("/sim/calls/summary", web::get().to(list_summaries))
        .route("/sim/calls/{call_uuid}", web::get().to(get_call))
        .route("/sim/stats", web::get().to(get_stats))
        .route("/healthz", web::get().to(health))
        .route("/readyz", web::get().to(health));
}

#[derive(Debug, Deserialize)]
struct CallFilter {
    to: Option<String>,
}

async fn list_calls(state: web::Data<SimState>, filter: web::Query<CallFilter>) -> HttpResponse {
    HttpResponse::Ok().json(state.calls.list(filter.to.as_deref()))
}

async fn list_summaries(
    state: web::Data<SimState>,
    filter: web::Query<CallFilter>,
) -> HttpResponse {
    HttpResponse::Ok().json(state.calls.summaries(filter.to.as_deref()))
}

/// `GET /sim/stats`: a few counters, cheap enough to poll while thousands of calls and
/// messages are recorded (the lists copy every record).
async fn get_stats(state: web::Data<SimState>) -> HttpResponse {
    let (calls, calls_finished) = state.calls.counts();
    let messages = state.sms.messages.counts();
    HttpResponse::Ok().json(serde_json::json!({
        "calls": { "placed": calls, "finished": calls_finished },
        "messages": {
            "outbound": messages.outbound,
            "inbound": messages.inbound,
            "inbound_answered": messages.inbound_answered,
        },
    }))
}

async fn get_call(
    state: web::Data<SimState>,
    call_uuid: web::Path<String>,
) -> Result<HttpResponse, SimApiError> {
    let call_uuid = call_uuid.into_inner();
    let record = Uuid::parse_str(&call_uuid)
        .ok()
        .and_then(|id| state.calls.get(id))
        .ok_or(SimApiError::CallNotFound(call_uuid))?;
    Ok(HttpResponse::Ok().json(record))
}

async fn clear_calls(state: web::Data<SimState>) -> HttpResponse {
    state.calls.clear();
    tracing::info!("call records cleared");
    HttpResponse::NoContent().finish()
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended_call(index: usize) -> CallRecord {
        CallRecord {
            call_uuid: Uuid::now_v7(),
            from: "+15550000000".to_owned(),
            to: format!("+1555{index:07}"),
            answer_url: "http://127.0.0.1/answer".to_owned(),
            answer_method: HttpMethod::Post,
            hangup_url: None,
            hangup_method: HttpMethod::Post,
            ring_url: None,
            fallback_url: None,
            caller_name: None,
            time_limit: None,
            machine_detection: None,
            status: CallStatus::Completed,
            hangup_cause: Some("NORMAL_CLEARING".to_owned()),
            hangup_cause_code: None,
            hangup_source: None,
            error: None,
            duration: 12,
            created_at: Utc::now(),
            answered_at: Some(Utc::now()),
            ended_at: Some(Utc::now()),
            script: serde_json::from_str("{}").expect("a default script"),
            script_source: ScriptSource::Default,
            spoken: vec![
                SpokenText {
                    text: "Hello".to_owned(),
                    voice: Some("WOMAN".to_owned()),
                    language: Some("en-US".to_owned()),
                },
                SpokenText {
                    text: "Press 1 to confirm".to_owned(),
                    voice: None,
                    language: None,
                },
            ],
            played: vec!["http://127.0.0.1/tone.mp3".to_owned()],
            gathers: vec![GatherRecord {
                element: "GetInput".to_owned(),
                action: "http://127.0.0.1/input".to_owned(),
                method: HttpMethod::Post,
                input_type: Some("dtmf".to_owned()),
                num_digits: Some(1),
                execution_timeout: 5,
                finish_on_key: None,
                digits: Some("1".to_owned()),
                outcome: "input",
            }],
            skipped_elements: Vec::new(),
            exchanges: vec![Exchange {
                url: "http://127.0.0.1/answer".to_owned(),
                method: HttpMethod::Post,
                event: Some("StartApp".to_owned()),
                request_params: BTreeMap::new(),
                response_status: Some(200),
                response_body: Some("<Response/>".to_owned()),
                error: None,
                sent_at: Utc::now(),
            }],
            details_dropped: false,
        }
    }

    #[test]
    fn ended_calls_older_than_the_detailed_window_keep_only_their_summary() {
        let store = CallStore::default();
        let first = ended_call(0);
        let first_summary = serde_json::to_value(first.summary()).unwrap();
        store.insert(first.clone());
        for index in 1..=DETAILED_CALLS {
            store.insert(ended_call(index));
        }

        let trimmed = store.get(first.call_uuid).unwrap();
        assert!(trimmed.details_dropped);
        assert!(trimmed.exchanges.is_empty() && trimmed.played.is_empty());
        assert_eq!(trimmed.spoken.len(), 1);
        assert_eq!(
            serde_json::to_value(trimmed.summary()).unwrap(),
            first_summary
        );

        let second = store.list(None)[1].clone();
        assert!(
            !second.details_dropped,
            "the last {DETAILED_CALLS} keep every detail"
        );
        assert_eq!(second.exchanges.len(), 1);
    }

    #[test]
    fn a_call_that_ends_outside_the_window_is_trimmed_when_it_ends() {
        let store = CallStore::default();
        let mut in_progress = ended_call(0);
        in_progress.status = CallStatus::InProgress;
        store.insert(in_progress.clone());
        for index in 1..=DETAILED_CALLS {
            store.insert(ended_call(index));
        }
        assert!(!store.get(in_progress.call_uuid).unwrap().details_dropped);

        store.update(in_progress.call_uuid, |record| {
            record.status = CallStatus::Completed;
        });
        assert!(store.get(in_progress.call_uuid).unwrap().details_dropped);
    }
}
