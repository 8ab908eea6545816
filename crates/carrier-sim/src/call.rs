//! Acting out a call: ring, answer (or not), follow the application's XML, hang up.
//!
//! The callee follows its script (`crate::script`); the application is reached through signed
//! webhooks (`crate::webhook`) and answers with call-flow XML (`crate::xml`). Everything that
//! happens is written to the call's record (`crate::inspect`) as it happens.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::Url;
use uuid::Uuid;

use crate::SimState;
use crate::inspect::{CallStatus, Exchange, GatherRecord, SpokenText};
use crate::script::{CalleeScript, Line, NoInputMode};
use crate::webhook::{HttpMethod, WebhookResponse};
use crate::xml::{self, Document, Gather, Verb};

/// Most answer/action/redirect requests one call may make; stops `<Redirect>` loops.
pub const MAX_EXCHANGES: u32 = 50;
/// Simulated seconds each `<Speak>` takes (deterministic, so tests can assert `Duration`).
pub const SPEAK_SECONDS: u64 = 2;
/// Simulated seconds each `<Play>` takes.
pub const PLAY_SECONDS: u64 = 2;
/// Simulated seconds each Gather takes (the sim never waits `executionTimeout` for real).
pub const GATHER_SECONDS: u64 = 1;

/// A validated make-call request: everything needed to act the call out.
#[derive(Debug, Clone)]
pub(crate) struct CallSetup {
    pub call_uuid: Uuid,
    pub from: String,
    pub to: String,
    pub answer_url: Url,
    pub answer_method: HttpMethod,
    pub hangup_url: Option<Url>,
    pub hangup_method: HttpMethod,
    pub ring_url: Option<Url>,
    pub ring_method: HttpMethod,
    pub machine_detection: Option<MachineDetection>,
    pub machine_detection_url: Option<Url>,
    pub machine_detection_method: HttpMethod,
}

/// What the make-call request asked the carrier to do when a machine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineDetection {
    /// `machine_detection=true`: report it (`Machine=true`) and run the application anyway.
    Continue,
    /// `machine_detection=hangup`: hang up at once.
    Hangup,
}

/// How and why a call ended: what the hangup callback reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    /// Final `CallStatus`.
    status: CallStatus,
    /// `HangupCause`.
    cause: &'static str,
    /// `hangup_cause_code`.
    code: u32,
    /// `hangup_cause_name`.
    name: &'static str,
    /// `hangup_source`.
    source: &'static str,
    /// Why the call ended early, when the application misbehaved.
    error: Option<String>,
}

impl Ending {
    /// `<Hangup/>` in the application's XML.
    fn xml_hangup() -> Self {
        Self {
            status: CallStatus::Completed,
            cause: "NORMAL_CLEARING",
            code: 4000,
            name: "Normal Hangup",
            source: "Answer XML",
            error: None,
        }
    }

    /// The document ran out of elements.
    fn end_of_xml() -> Self {
        Self {
            status: CallStatus::Completed,
            cause: "NORMAL_CLEARING",
            code: 4010,
            name: "End Of XML Instructions",
            source: "Vobiz",
            error: None,
        }
    }

    /// The callee never picked up. 6010 is the code third-party code maps to no-answer
    /// (carriers.md 2.4, marked [verify]).
    fn no_answer() -> Self {
        Self {
            status: CallStatus::NoAnswer,
            cause: "NO_ANSWER",
            code: 6010,
            name: "No Answer",
            source: "Callee",
            error: None,
        }
    }

    /// The line was busy. 3010 is the code third-party code maps to busy (carriers.md 2.4,
    /// marked [verify]).
    fn busy() -> Self {
        Self {
            status: CallStatus::Busy,
            cause: "USER_BUSY",
            code: 3010,
            name: "Busy Line",
            source: "Callee",
            error: None,
        }
    }

    /// The call could not be connected (catalog code 2000, invalid destination).
    fn unreachable() -> Self {
        Self {
            status: CallStatus::Failed,
            cause: "UNALLOCATED_NUMBER",
            code: 2000,
            name: "Invalid Destination",
            source: "Carrier",
            error: None,
        }
    }

    /// The callee hung up while the application was still talking.
    fn callee_hangup() -> Self {
        Self {
            status: CallStatus::Completed,
            cause: "NORMAL_CLEARING",
            code: 4000,
            name: "Normal Hangup",
            source: "Callee",
            error: None,
        }
    }

    /// `machine_detection=hangup` and a machine answered.
    fn machine_hangup() -> Self {
        Self {
            status: CallStatus::Completed,
            cause: "MACHINE_DETECTED",
            code: 4000,
            name: "Normal Hangup",
            source: "Vobiz",
            error: None,
        }
    }

    /// The application failed the call (webhook error, bad XML, loop). The cause names are the
    /// sim's own; the code is the catalog's 0 "Unknown".
    fn application_error(cause: &'static str, error: String) -> Self {
        Self {
            status: CallStatus::Completed,
            cause,
            code: 0,
            name: "Unknown",
            source: "Error",
            error: Some(error),
        }
    }

    fn webhook_failed(error: String) -> Self {
        Self::application_error("WEBHOOK_FAILED", error)
    }

    fn invalid_xml(error: String) -> Self {
        Self::application_error("INVALID_XML", error)
    }
}

/// Where the interpreter goes next.
enum Step {
    /// Fetch a new document and continue there.
    Fetch(DocumentRequest),
    /// Go on with the next element of the current document.
    Continue,
    /// The call is over.
    End(Ending),
}

/// A request whose answer may be the next document.
#[derive(Clone)]
struct DocumentRequest {
    url: Url,
    method: HttpMethod,
    /// `Event` parameter (`StartApp`, `Redirect`); Gather actions carry none.
    event: Option<&'static str>,
    /// `Digits` for a Gather action (sent with `InputType=dtmf`).
    digits: Option<String>,
    /// Extra parameters (`Machine=true` on the answer request of a detected machine).
    extra: Vec<(String, String)>,
}

/// Acts out one call to its end, unless the sim shuts down first.
pub(crate) async fn act_out(state: Arc<SimState>, setup: CallSetup, script: CalleeScript) {
    let cancel = state.cancel.clone();
    let call_uuid = setup.call_uuid;
    let store_state = Arc::clone(&state);
    let mut call = ActiveCall::new(state, setup, script);
    tokio::select! {
        () = call.run() => {}
        () = cancel.cancelled() => {
            tracing::info!(call_uuid = %call_uuid, "call stopped by shutdown");
            store_state.calls.update(call_uuid, |record| {
                record.status = CallStatus::Failed;
                record.hangup_cause = Some("SIM_SHUTDOWN".to_owned());
                record.ended_at = Some(Utc::now());
            });
        }
    }
    call.release_line();
}

struct ActiveCall {
    state: Arc<SimState>,
    setup: CallSetup,
    script: CalleeScript,
    pending_digits: VecDeque<String>,
    document_exchanges: u32,
    duration_seconds: u64,
    speaks_heard: u32,
    last_action: Option<DocumentRequest>,
    /// Whether the call still counts against the account's concurrent-call limit.
    line_held: bool,
}

impl ActiveCall {
    fn new(state: Arc<SimState>, setup: CallSetup, script: CalleeScript) -> Self {
        // A machine never presses keys.
        let pending_digits = if script.line == Line::Machine {
            VecDeque::new()
        } else {
            script.digits.iter().cloned().collect()
        };
        Self {
            state,
            setup,
            script,
            pending_digits,
            document_exchanges: 0,
            duration_seconds: 0,
            speaks_heard: 0,
            last_action: None,
            line_held: true,
        }
    }

    /// Frees the call's line once: the call is over for the carrier from here on.
    fn release_line(&mut self) {
        if self.line_held {
            self.line_held = false;
            self.state.limits.release();
        }
    }

    async fn run(&mut self) {
        if let Some(ring_url) = self.setup.ring_url.clone() {
            let params = self.standard_params(CallStatus::Ringing, Some("Ring"));
            // The ring callback only informs the application; its outcome never changes the call.
            let _ring_outcome = self
                .exchange(&ring_url, self.setup.ring_method, Some("Ring"), params)
                .await;
        }
        if self.script.ring_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.script.ring_ms)).await;
        }

        let ending = if self.script.line == Line::Busy {
            Ending::busy()
        } else if self.script.line == Line::Failed {
            Ending::unreachable()
        } else if self.script.answer {
            let call_uuid = self.setup.call_uuid;
            self.state.calls.update(call_uuid, |record| {
                record.status = CallStatus::InProgress;
                record.answered_at = Some(Utc::now());
            });
            tracing::debug!(call_uuid = %call_uuid, "call answered");
            self.follow_application().await
        } else {
            Ending::no_answer()
        };

        // The line is free before the application hears of the hangup, as at a real carrier:
        // an application that waits for the hangup callback never sees a busy line it freed.
        self.release_line();
        self.send_hangup(&ending).await;
        if self.script.late_action_after_hangup
            && let Some(late) = self.last_action.clone()
        {
            // A late, out-of-order webhook: its answer can no longer change the call.
            let mut params = self.standard_params(CallStatus::InProgress, late.event);
            if let Some(digits) = late.digits {
                params.push(("InputType".to_owned(), "dtmf".to_owned()));
                params.push(("Digits".to_owned(), digits));
            }
            let _late_outcome = self
                .exchange(&late.url, late.method, late.event, params)
                .await;
        }
        // The final status is written last, so a test that sees it also sees every exchange.
        self.finish(ending);
    }

    async fn follow_application(&mut self) -> Ending {
        let mut extra = Vec::new();
        if self.script.line == Line::Machine
            && let Some(detection) = self.setup.machine_detection
        {
            if let Some(url) = self.setup.machine_detection_url.clone() {
                let mut params =
                    self.standard_params(CallStatus::InProgress, Some("MachineDetection"));
                params.push(("Machine".to_owned(), "true".to_owned()));
                let method = self.setup.machine_detection_method;
                // Only informs the application; its answer never changes the call.
                let _detection = self
                    .exchange(&url, method, Some("MachineDetection"), params)
                    .await;
            }
            if detection == MachineDetection::Hangup {
                return Ending::machine_hangup();
            }
            extra.push(("Machine".to_owned(), "true".to_owned()));
        }
        let mut next = DocumentRequest {
            url: self.setup.answer_url.clone(),
            method: self.setup.answer_method,
            event: Some("StartApp"),
            digits: None,
            extra,
        };
        loop {
            let document = match self.fetch_document(next).await {
                Ok(document) => document,
                Err(ending) => return ending,
            };
            match self.perform(document).await {
                Step::Fetch(request) => next = request,
                Step::Continue => return Ending::end_of_xml(),
                Step::End(ending) => return ending,
            }
        }
    }

    /// Runs a document's verbs in order until one hands control elsewhere or ends the call.
    async fn perform(&mut self, document: Document) -> Step {
        for verb in document.verbs {
            match verb {
                Verb::Speak(_) | Verb::Play(_) | Verb::Wait(_) => {
                    if self.hear(&verb) {
                        return Step::End(Ending::callee_hangup());
                    }
                }
                Verb::Unsimulated(name) => {
                    tracing::debug!(call_uuid = %self.setup.call_uuid, element = %name, "skipping unsimulated element");
                    self.state.calls.update(self.setup.call_uuid, |record| {
                        record.skipped_elements.push(name);
                    });
                }
                Verb::Hangup(_) => return Step::End(Ending::xml_hangup()),
                // Nothing after a Redirect runs (carriers.md 2.3).
                Verb::Redirect(redirect) => {
                    return Step::Fetch(DocumentRequest {
                        url: redirect.url,
                        method: redirect.method,
                        event: Some("Redirect"),
                        digits: None,
                        extra: Vec::new(),
                    });
                }
                Verb::Gather(gather) => match self.gather(gather).await {
                    Step::Continue => {}
                    other => return other,
                },
            }
        }
        Step::End(Ending::end_of_xml())
    }

    /// Plays a Speak, Play or Wait to the callee; returns whether the callee hung up during it.
    fn hear(&mut self, verb: &Verb) -> bool {
        let call_uuid = self.setup.call_uuid;
        match verb {
            Verb::Speak(speak) => {
                self.duration_seconds += SPEAK_SECONDS;
                self.speaks_heard += 1;
                let spoken = SpokenText {
                    text: speak.text.clone(),
                    voice: speak.voice.clone(),
                    language: speak.language.clone(),
                };
                self.state
                    .calls
                    .update(call_uuid, |record| record.spoken.push(spoken));
            }
            Verb::Play(play) => {
                self.duration_seconds += PLAY_SECONDS;
                let url = play.url.clone();
                self.state
                    .calls
                    .update(call_uuid, |record| record.played.push(url));
            }
            // A Wait is silence; the sim does not spend real or simulated time on it.
            _ => {}
        }
        self.script
            .hangup_after_speaks
            .is_some_and(|limit| matches!(verb, Verb::Speak(_)) && self.speaks_heard >= limit)
    }

    async fn gather(&mut self, gather: Gather) -> Step {
        for prompt in &gather.prompts {
            if self.hear(prompt) {
                return Step::End(Ending::callee_hangup());
            }
        }
        self.duration_seconds += GATHER_SECONDS;

        let pressed = self.next_input(&gather);
        let (digits, outcome) = match (pressed, self.script.no_input) {
            (Some(digits), _) => (Some(digits), "input"),
            (None, NoInputMode::Fallthrough) => (None, "no_input_fallthrough"),
            (None, NoInputMode::PostEmpty) => (Some(String::new()), "no_input_post_empty"),
        };
        let gather_record = GatherRecord {
            element: gather.element.clone(),
            action: gather.action.to_string(),
            method: gather.method,
            input_type: gather.input_type.clone(),
            num_digits: gather.num_digits,
            execution_timeout: gather.execution_timeout_seconds,
            finish_on_key: gather.finish_on_key,
            digits: digits.clone(),
            outcome,
        };
        self.state.calls.update(self.setup.call_uuid, |record| {
            record.gathers.push(gather_record);
        });

        // No input and no POST: the documented behaviour is to fall through to the next element.
        let Some(digits) = digits else {
            return Step::Continue;
        };
        let request = DocumentRequest {
            url: gather.action,
            method: gather.method,
            event: None,
            digits: Some(digits),
            extra: Vec::new(),
        };
        self.last_action = Some(request.clone());
        if gather.redirect {
            return Step::Fetch(request);
        }
        // redirect="false": the action is only notified and the call goes on here.
        match self.notify(request).await {
            Ok(()) => Step::Continue,
            Err(ending) => Step::End(ending),
        }
    }

    /// Takes the callee's next digits entry and applies finishOnKey and numDigits to it.
    fn next_input(&mut self, gather: &Gather) -> Option<String> {
        // The scripted callee only presses keys; a speech-only Gather hears nothing.
        if gather.input_type.as_deref() == Some("speech") {
            return None;
        }
        let entry = self.pending_digits.pop_front()?;
        let mut collected = String::new();
        for key in entry.chars() {
            if Some(key) == gather.finish_on_key {
                break;
            }
            collected.push(key);
            let limit_reached = gather
                .num_digits
                .is_some_and(|limit| collected.len() >= limit as usize);
            if limit_reached {
                break;
            }
        }
        (!collected.is_empty()).then_some(collected)
    }

    /// Sends a document request and parses the answer, or says how the call ends instead.
    async fn fetch_document(&mut self, request: DocumentRequest) -> Result<Document, Ending> {
        let url = request.url.clone();
        let response = self.send_document_request(request).await?;
        if !response.is_xml() {
            return Err(Ending::invalid_xml(format!(
                "{url} answered with content type {:?}; expected application/xml or text/xml",
                response.content_type.as_deref().unwrap_or_default()
            )));
        }
        if response.too_large {
            return Err(Ending::invalid_xml(format!(
                "{url} answered with more than {} bytes",
                crate::webhook::MAX_DOCUMENT_BYTES
            )));
        }
        let Ok(text) = std::str::from_utf8(&response.body) else {
            return Err(Ending::invalid_xml(format!(
                "{url} answered with a body that is not utf-8"
            )));
        };
        xml::parse_document(text).map_err(|error| Ending::invalid_xml(format!("{url}: {error}")))
    }

    /// Sends a Gather action with `redirect="false"`: only a 2xx is required.
    async fn notify(&mut self, request: DocumentRequest) -> Result<(), Ending> {
        self.send_document_request(request).await.map(|_| ())
    }

    async fn send_document_request(
        &mut self,
        request: DocumentRequest,
    ) -> Result<WebhookResponse, Ending> {
        if self.document_exchanges >= MAX_EXCHANGES {
            return Err(Ending::application_error(
                "EXCHANGE_LIMIT",
                format!("the call reached {MAX_EXCHANGES} webhook exchanges; is the xml looping?"),
            ));
        }
        self.document_exchanges += 1;

        let mut params = self.standard_params(CallStatus::InProgress, request.event);
        if let Some(digits) = request.digits {
            params.push(("InputType".to_owned(), "dtmf".to_owned()));
            params.push(("Digits".to_owned(), digits));
        }
        params.extend(request.extra);
        let response = self
            .exchange(&request.url, request.method, request.event, params)
            .await
            .map_err(Ending::webhook_failed)?;
        if !response.is_success() {
            return Err(Ending::webhook_failed(format!(
                "{} answered with status {}",
                request.url, response.status
            )));
        }
        Ok(response)
    }

    async fn send_hangup(&mut self, ending: &Ending) {
        let Some(hangup_url) = self.setup.hangup_url.clone() else {
            return;
        };
        let mut params = self.standard_params(ending.status, Some("Hangup"));
        let duration = self.duration_seconds.to_string();
        params.extend(
            [
                ("HangupCause", ending.cause.to_owned()),
                ("hangup_cause_code", ending.code.to_string()),
                ("hangup_cause_name", ending.name.to_owned()),
                ("hangup_source", ending.source.to_owned()),
                ("Duration", duration.clone()),
                ("BillDuration", duration),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        // The call is over whatever the application answers; a failure is only logged.
        let _hangup_outcome = self
            .exchange(
                &hangup_url,
                self.setup.hangup_method,
                Some("Hangup"),
                params,
            )
            .await;
    }

    fn finish(&self, ending: Ending) {
        let duration = self.duration_seconds;
        tracing::info!(
            call_uuid = %self.setup.call_uuid,
            to = %crate::mask_number(&self.setup.to),
            status = ending.status.as_str(),
            hangup_cause = ending.cause,
            duration,
            error = ending.error.as_deref(),
            "call ended"
        );
        self.state.calls.update(self.setup.call_uuid, |record| {
            record.status = ending.status;
            record.hangup_cause = Some(ending.cause.to_owned());
            record.hangup_cause_code = Some(ending.code);
            record.hangup_source = Some(ending.source.to_owned());
            record.error = ending.error;
            record.duration = duration;
            record.ended_at = Some(Utc::now());
        });
    }

    /// The parameters on every request (carriers.md 2.4), in a stable order.
    fn standard_params(&self, status: CallStatus, event: Option<&str>) -> Vec<(String, String)> {
        let call_uuid = self.setup.call_uuid.to_string();
        let mut params = vec![
            ("CallUUID".to_owned(), call_uuid.clone()),
            ("From".to_owned(), self.setup.from.clone()),
            ("To".to_owned(), self.setup.to.clone()),
            ("Direction".to_owned(), "outbound".to_owned()),
            ("CallStatus".to_owned(), status.as_str().to_owned()),
        ];
        if let Some(event) = event {
            params.push(("Event".to_owned(), event.to_owned()));
        }
        params.push(("ALegUUID".to_owned(), call_uuid.clone()));
        // The make-call request_uuid is the CallUUID.
        params.push(("ALegRequestUUID".to_owned(), call_uuid));
        params
    }

    /// Sends one signed webhook and records it; returns the response or why there was none.
    async fn exchange(
        &self,
        url: &Url,
        method: HttpMethod,
        event: Option<&str>,
        params: Vec<(String, String)>,
    ) -> Result<WebhookResponse, String> {
        let sent_at = Utc::now();
        let outcome = self.state.webhooks.send(url, method, &params).await;
        if !self.script.duplicate_webhooks {
            return self.record_exchange(url, method, event, params, outcome, sent_at);
        }
        let result = self.record_exchange(url, method, event, params.clone(), outcome, sent_at);
        // The carrier sends the same request again (new nonce); only the first answer counts,
        // as when a carrier retries after a slow answer.
        let resent_at = Utc::now();
        let duplicate = self.state.webhooks.send(url, method, &params).await;
        let _duplicate = self.record_exchange(url, method, event, params, duplicate, resent_at);
        result
    }

    /// Writes one exchange to the call's record; returns the response or why there was none.
    fn record_exchange(
        &self,
        url: &Url,
        method: HttpMethod,
        event: Option<&str>,
        params: Vec<(String, String)>,
        outcome: Result<WebhookResponse, crate::webhook::WebhookError>,
        sent_at: chrono::DateTime<Utc>,
    ) -> Result<WebhookResponse, String> {
        let call_uuid = self.setup.call_uuid;

        let mut recorded_url = url.clone();
        recorded_url.set_fragment(None);
        let mut exchange = Exchange {
            url: recorded_url.to_string(),
            method,
            event: event.map(str::to_owned),
            request_params: params.into_iter().collect(),
            response_status: None,
            response_body: None,
            error: None,
            sent_at,
        };
        let result = match outcome {
            Ok(response) => {
                tracing::debug!(call_uuid = %call_uuid, url = %url, event, status = response.status, "webhook answered");
                exchange.response_status = Some(response.status);
                exchange.response_body = Some(String::from_utf8_lossy(&response.body).into_owned());
                Ok(response)
            }
            Err(error) => {
                let message = format!("{url}: {error}");
                tracing::warn!(call_uuid = %call_uuid, url = %url, event, error = %error, "webhook failed");
                exchange.error = Some(message.clone());
                Err(message)
            }
        };
        self.state
            .calls
            .update(call_uuid, |record| record.exchanges.push(exchange));
        result
    }
}
