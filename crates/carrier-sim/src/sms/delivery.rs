//! Messages from the carrier to the application: scripted replies and injected messages
//! (inbound webhooks, retried on 5xx and connection failures) and status callbacks.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use uuid::Uuid;

use super::store::{Direction, MessageRecord, WebhookAttempt};
use super::{Api, flowroute, twilio};
use crate::SimState;
use crate::webhook::parse_http_url;

/// Requests per inbound delivery: the first try and two retries (carriers retry a 5xx or a
/// connection failure a couple of times).
pub const MAX_INBOUND_ATTEMPTS: u32 = 3;
/// Pause before the first status callback, so it follows the send API's answer.
const STATUS_CALLBACK_PAUSE: Duration = Duration::from_millis(20);

/// A message a subscriber sends to one of our numbers.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    pub api: Api,
    /// The subscriber, E.164.
    pub from: String,
    /// Our number, E.164.
    pub to: String,
    pub body: String,
    /// The outbound message this answers, for scripted replies.
    pub in_reply_to: Option<String>,
}

/// A webhook request ready to send.
struct PreparedRequest {
    url: Url,
    body: RequestBody,
    headers: Vec<(&'static str, String)>,
}

enum RequestBody {
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}

/// Returns a fresh carrier message id: `mdr2-<32 hex>` or `SM<32 hex>`.
pub(crate) fn new_message_id(api: Api) -> String {
    let hex = Uuid::new_v4().simple();
    match api {
        Api::Flowroute => format!("mdr2-{hex}"),
        Api::Twilio => format!("SM{hex}"),
    }
}

/// Starts what follows an accepted outbound message: its status callbacks and the callee's
/// scripted reply. Both run on the sim's runtime and are tracked for shutdown.
pub(crate) fn after_send(state: Arc<SimState>, record: &MessageRecord) {
    if let Some(url) = record.status_callback.clone() {
        let callback_state = Arc::clone(&state);
        let message = record.clone();
        state.tasks.spawn_on(
            send_status_callbacks(callback_state, message, url),
            &state.runtime,
        );
    }
    if let Some(reply) = state.sms.scripts.next_reply(&record.to) {
        let inbound = Inbound {
            api: record.api,
            from: record.to.clone(),
            to: record.from.clone(),
            body: reply.body,
            in_reply_to: Some(record.id.clone()),
        };
        let reply_state = Arc::clone(&state);
        state.tasks.spawn_on(
            async move {
                let cancel = reply_state.cancel.clone();
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep(reply.delay) => {
                        receive(&reply_state, inbound, 1).await;
                    }
                }
            },
            &state.runtime,
        );
    }
}

/// Records an inbound message and posts it to the application `deliveries` times (2 for a
/// duplicate: same message id, same idempotency token). Returns the final record and the
/// application's last answer per delivery.
pub(crate) async fn receive(
    state: &SimState,
    inbound: Inbound,
    deliveries: u32,
) -> (MessageRecord, Vec<Option<u16>>) {
    let id = new_message_id(inbound.api);
    let url_text = state.sms.inbound_url(inbound.api, &inbound.to);
    let mut record = MessageRecord::new(
        id.clone(),
        Direction::Inbound,
        inbound.api,
        inbound.from,
        inbound.to,
        inbound.body,
    );
    record.in_reply_to = inbound.in_reply_to;
    record.webhook_url = Some(url_text.clone());

    // Twilio acts on STOP/START itself, whatever the application answers (carriers.md §1.2).
    if inbound.api == Api::Twilio
        && let Some(effect) = state
            .sms
            .opt_outs
            .observe(&record.to, &record.from, &record.body)
    {
        tracing::info!(
            from = %crate::mask_number(&record.from),
            to = %crate::mask_number(&record.to),
            effect,
            "twilio keyword handled at the carrier"
        );
    }
    state.sms.messages.insert(record.clone());

    let prepared = match parse_http_url(&url_text) {
        Ok(url) => Some(match record.api {
            Api::Flowroute => PreparedRequest {
                body: RequestBody::Json(flowroute::inbound_body(&record)),
                headers: Vec::new(),
                url,
            },
            Api::Twilio => {
                let params = twilio::inbound_params(&state.sms.twilio_account_sid, &record);
                let signature =
                    twilio::signature(&state.sms.twilio_auth_token, url.as_str(), &params);
                PreparedRequest {
                    headers: vec![
                        (twilio::SIGNATURE_HEADER, signature),
                        (
                            twilio::IDEMPOTENCY_HEADER,
                            format!("{}-{}", record.id, Uuid::new_v4().simple()),
                        ),
                    ],
                    body: RequestBody::Form(params),
                    url,
                }
            }
        }),
        Err(error) => {
            tracing::warn!(error = %error, "inbound webhook url is not usable");
            None
        }
    };

    let mut statuses = Vec::new();
    for delivery in 1..=deliveries {
        let status = match &prepared {
            Some(prepared) => {
                deliver(state, &id, prepared, None, delivery, MAX_INBOUND_ATTEMPTS).await
            }
            None => None,
        };
        statuses.push(status);
    }
    tracing::info!(
        message_id = %id,
        api = %record.api,
        statuses = ?statuses,
        "inbound sms delivered"
    );
    let record = state.sms.messages.get(&id).unwrap_or(record);
    (record, statuses)
}

/// Sends `sent` then `delivered` status callbacks for an outbound message, once each.
async fn send_status_callbacks(state: Arc<SimState>, message: MessageRecord, url_text: String) {
    let Ok(url) = parse_http_url(&url_text) else {
        return;
    };
    for status in ["sent", "delivered"] {
        tokio::select! {
            () = state.cancel.cancelled() => return,
            () = tokio::time::sleep(STATUS_CALLBACK_PAUSE) => {}
        }
        let prepared = match message.api {
            Api::Flowroute => PreparedRequest {
                url: url.clone(),
                body: RequestBody::Json(flowroute::status_body(&message, status)),
                headers: Vec::new(),
            },
            Api::Twilio => {
                let params = twilio::status_params(&state.sms.twilio_account_sid, &message, status);
                let signature =
                    twilio::signature(&state.sms.twilio_auth_token, url.as_str(), &params);
                PreparedRequest {
                    url: url.clone(),
                    headers: vec![
                        (twilio::SIGNATURE_HEADER, signature),
                        (
                            twilio::IDEMPOTENCY_HEADER,
                            format!("{}-{status}", message.id),
                        ),
                    ],
                    body: RequestBody::Form(params),
                }
            }
        };
        deliver(&state, &message.id, &prepared, Some(status), 1, 1).await;
    }
}

/// Sends one delivery of `prepared`, retrying a 5xx or a failure up to `max_attempts` tries in
/// all, and records every try on the message `message_id`. Returns the last status answered.
async fn deliver(
    state: &SimState,
    message_id: &str,
    prepared: &PreparedRequest,
    event: Option<&str>,
    delivery: u32,
    max_attempts: u32,
) -> Option<u16> {
    let mut backoff = state.sms.retry_backoff;
    let mut last_status = None;
    for attempt in 1..=max_attempts {
        let sent_at = Utc::now();
        let outcome = send_once(&state.sms.http, prepared).await;
        let (status, error) = match outcome {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        last_status = status;
        let attempt_record = WebhookAttempt {
            url: prepared.url.to_string(),
            event: event.map(str::to_owned),
            delivery,
            attempt,
            status,
            error,
            sent_at,
        };
        state.sms.messages.update(message_id, |record| {
            if event.is_some() {
                record.status_callbacks.push(attempt_record);
            } else {
                record.webhook_status = status;
                record.webhook_attempts.push(attempt_record);
            }
        });
        let retry = status.is_none_or(|status| status >= 500);
        if !retry || attempt == max_attempts {
            break;
        }
        tokio::select! {
            () = state.cancel.cancelled() => break,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = backoff.saturating_mul(2);
    }
    last_status
}

async fn send_once(http: &reqwest::Client, prepared: &PreparedRequest) -> Result<u16, String> {
    let mut request = http.post(prepared.url.clone());
    request = match &prepared.body {
        RequestBody::Json(body) => request
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string()),
        RequestBody::Form(params) => request.form(params),
    };
    for (name, value) in &prepared.headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.map_err(describe)?;
    let status = response.status().as_u16();
    // Read the body so the connection can be reused; its content does not matter.
    let _ = response.bytes().await;
    Ok(status)
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        format!("request failed: {error}")
    }
}
