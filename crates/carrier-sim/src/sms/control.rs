//! The SMS control routes: sender-number settings, injected send-API faults, injected inbound
//! messages, and the carrier-side opt-out list.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::store::MessageRecord;
use super::{Api, delivery, lock, pair_key, parse_e164};
use crate::SimState;
use crate::error::SimApiError;
use crate::script::number_key;
use crate::webhook::parse_http_url;

/// Longest delay an injected fault may ask for.
pub const MAX_FAULT_DELAY_MS: u64 = 60_000;

/// Twilio's default opt-out keywords (carriers.md §1.2). Only a single-word message counts.
pub const OPT_OUT_WORDS: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Twilio's default opt-in keywords: they lift the block.
pub const OPT_IN_WORDS: [&str; 3] = ["START", "YES", "UNSTOP"];

/// Where the carrier posts inbound messages to one of our numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberSettings {
    /// Inbound webhook for messages through the Flowroute API.
    #[serde(default)]
    pub flowroute_inbound_url: Option<String>,
    /// Inbound webhook for messages through the Twilio API.
    #[serde(default)]
    pub twilio_inbound_url: Option<String>,
}

/// Settings per sender number (ours), as configured at the carrier.
#[derive(Debug, Default)]
pub struct NumberBook {
    numbers: Mutex<HashMap<String, NumberSettings>>,
}

impl NumberBook {
    /// Returns the settings of `number`, if set.
    pub fn get(&self, number: &str) -> Option<NumberSettings> {
        lock(&self.numbers).get(&number_key(number)).cloned()
    }

    /// Replaces the settings of `number`.
    pub fn set(&self, number: &str, settings: NumberSettings) {
        lock(&self.numbers).insert(number_key(number), settings);
    }

    /// Removes the settings of `number`.
    pub fn remove(&self, number: &str) {
        lock(&self.numbers).remove(&number_key(number));
    }
}

/// A fault injected into the send APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendFault {
    /// The API it applies to; `null` means both.
    #[serde(default)]
    pub api: Option<Api>,
    /// The status answered instead of success (400–599); `null` only delays.
    #[serde(default)]
    pub status: Option<u16>,
    /// How many send requests get it; `0` means every one until cleared.
    #[serde(default = "default_count")]
    pub count: u32,
    /// How long the answer is held back, in milliseconds (a slow carrier).
    #[serde(default)]
    pub delay_ms: u64,
}

fn default_count() -> u32 {
    1
}

impl SendFault {
    fn validate(&self) -> Result<(), SimApiError> {
        if self
            .status
            .is_some_and(|status| !(400..=599).contains(&status))
        {
            return Err(SimApiError::InvalidRequest(
                "status must be from 400 to 599".to_owned(),
            ));
        }
        if self.delay_ms > MAX_FAULT_DELAY_MS {
            return Err(SimApiError::InvalidRequest(format!(
                "delay_ms must be at most {MAX_FAULT_DELAY_MS}"
            )));
        }
        if self.status.is_none() && self.delay_ms == 0 {
            return Err(SimApiError::InvalidRequest(
                "a fault needs a status, a delay_ms, or both".to_owned(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct ArmedFault {
    fault: SendFault,
    /// Requests still to get it; `None` for every one.
    remaining: Option<u32>,
}

/// The armed faults: at most one per API and one for both.
#[derive(Debug, Default)]
pub struct FaultBook {
    faults: Mutex<HashMap<Option<Api>, ArmedFault>>,
}

impl FaultBook {
    /// Arms `fault`, replacing the one for the same API.
    pub fn set(&self, fault: SendFault) {
        let remaining = (fault.count != 0).then_some(fault.count);
        lock(&self.faults).insert(fault.api, ArmedFault { fault, remaining });
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        lock(&self.faults).clear();
    }

    /// Returns the armed faults.
    pub fn list(&self) -> Vec<SendFault> {
        lock(&self.faults)
            .values()
            .map(|armed| SendFault {
                count: armed.remaining.unwrap_or(0),
                ..armed.fault
            })
            .collect()
    }

    /// Returns the fault the next send request through `api` gets, counting it. A fault for
    /// this API wins over one for both.
    pub fn take(&self, api: Api) -> Option<SendFault> {
        let mut faults = lock(&self.faults);
        let key = if faults.contains_key(&Some(api)) {
            Some(api)
        } else if faults.contains_key(&None) {
            None
        } else {
            return None;
        };
        let armed = faults.get_mut(&key)?;
        let fault = armed.fault;
        if let Some(remaining) = armed.remaining.as_mut() {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                faults.remove(&key);
            }
        }
        Some(fault)
    }
}

/// The block Twilio keeps after a subscriber texted STOP to one of our numbers (error 21610).
#[derive(Debug, Default)]
pub struct OptOutList {
    /// (our number, subscriber), both without '+'.
    blocked: Mutex<HashSet<(String, String)>>,
}

impl OptOutList {
    /// Applies Twilio's keyword handling to an inbound message: a single opt-out word blocks
    /// `subscriber` for `sender`, a single opt-in word lifts it. Returns the keyword's effect.
    pub fn observe(&self, sender: &str, subscriber: &str, body: &str) -> Option<&'static str> {
        let word = body.trim().to_ascii_uppercase();
        let key = pair_key(sender, subscriber);
        if OPT_OUT_WORDS.contains(&word.as_str()) {
            lock(&self.blocked).insert(key);
            Some("opt_out")
        } else if OPT_IN_WORDS.contains(&word.as_str()) {
            lock(&self.blocked).remove(&key);
            Some("opt_in")
        } else {
            None
        }
    }

    /// Returns whether `subscriber` blocked `sender`.
    pub fn is_blocked(&self, sender: &str, subscriber: &str) -> bool {
        lock(&self.blocked).contains(&pair_key(sender, subscriber))
    }

    /// Returns every block as (our number, subscriber), E.164, sorted.
    pub fn list(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = lock(&self.blocked)
            .iter()
            .map(|(sender, subscriber)| (format!("+{sender}"), format!("+{subscriber}")))
            .collect();
        pairs.sort();
        pairs
    }

    /// Lifts every block.
    pub fn clear(&self) {
        lock(&self.blocked).clear();
    }
}

/// Registers the control routes.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sim/sms/numbers/{e164}", web::get().to(get_number))
        .route("/sim/sms/numbers/{e164}", web::put().to(put_number))
        .route("/sim/sms/numbers/{e164}", web::delete().to(delete_number))
        .route("/sim/sms/faults", web::get().to(list_faults))
        .route("/sim/sms/faults", web::put().to(put_fault))
        .route("/sim/sms/faults", web::delete().to(clear_faults))
        .route("/sim/sms/inbound", web::post().to(inject_inbound))
        .route("/sim/sms/opt-outs", web::get().to(list_opt_outs))
        .route("/sim/sms/opt-outs", web::delete().to(clear_opt_outs));
}

#[derive(Serialize)]
struct NumberView {
    number: String,
    flowroute_inbound_url: String,
    twilio_inbound_url: String,
    configured: bool,
}

fn number_view(state: &SimState, number: String) -> NumberView {
    NumberView {
        flowroute_inbound_url: state.sms.inbound_url(Api::Flowroute, &number),
        twilio_inbound_url: state.sms.inbound_url(Api::Twilio, &number),
        configured: state.sms.numbers.get(&number).is_some(),
        number,
    }
}

async fn get_number(state: web::Data<SimState>, number: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(number_view(&state, number.into_inner()))
}

async fn put_number(
    state: web::Data<SimState>,
    number: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, SimApiError> {
    let number = number.into_inner();
    let mut settings: NumberSettings = serde_json::from_slice(&body)?;
    for (field, url) in [
        ("flowroute_inbound_url", &mut settings.flowroute_inbound_url),
        ("twilio_inbound_url", &mut settings.twilio_inbound_url),
    ] {
        if let Some(value) = url.as_mut() {
            let parsed = parse_http_url(value).map_err(|_| {
                SimApiError::InvalidRequest(format!("{field} must be an absolute http(s) url"))
            })?;
            *value = parsed.to_string();
        }
    }
    state.sms.numbers.set(&number, settings);
    tracing::info!(number = %crate::mask_number(&number), "sms number settings set");
    Ok(HttpResponse::Ok().json(number_view(&state, number)))
}

async fn delete_number(state: web::Data<SimState>, number: web::Path<String>) -> HttpResponse {
    state.sms.numbers.remove(&number.into_inner());
    HttpResponse::NoContent().finish()
}

async fn list_faults(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.sms.faults.list())
}

async fn put_fault(
    state: web::Data<SimState>,
    body: web::Bytes,
) -> Result<HttpResponse, SimApiError> {
    let fault: SendFault = serde_json::from_slice(&body)?;
    fault.validate()?;
    state.sms.faults.set(fault);
    tracing::info!(api = ?fault.api, status = ?fault.status, count = fault.count, delay_ms = fault.delay_ms, "sms send fault armed");
    Ok(HttpResponse::Ok().json(fault))
}

async fn clear_faults(state: web::Data<SimState>) -> HttpResponse {
    state.sms.faults.clear();
    HttpResponse::NoContent().finish()
}

#[derive(Serialize)]
struct OptOutView {
    /// Our number, which the subscriber blocked.
    sender: String,
    /// The subscriber.
    subscriber: String,
}

async fn list_opt_outs(state: web::Data<SimState>) -> HttpResponse {
    let views: Vec<OptOutView> = state
        .sms
        .opt_outs
        .list()
        .into_iter()
        .map(|(sender, subscriber)| OptOutView { sender, subscriber })
        .collect();
    HttpResponse::Ok().json(views)
}

async fn clear_opt_outs(state: web::Data<SimState>) -> HttpResponse {
    state.sms.opt_outs.clear();
    HttpResponse::NoContent().finish()
}

/// `POST /sim/sms/inbound`: a subscriber texts one of our numbers now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InjectInbound {
    api: Api,
    /// The subscriber.
    from: String,
    /// Our number.
    to: String,
    body: String,
    /// Deliver the same webhook twice (same message id), as carriers sometimes do.
    #[serde(default)]
    duplicate: bool,
}

#[derive(Serialize)]
struct InjectedView {
    message: MessageRecord,
    /// The application's final answer per delivery (`null`: no answer).
    webhook_statuses: Vec<Option<u16>>,
}

async fn inject_inbound(
    state: web::Data<SimState>,
    body: web::Bytes,
) -> Result<HttpResponse, SimApiError> {
    let request: InjectInbound = serde_json::from_slice(&body)?;
    let from = parse_e164(&request.from)
        .ok_or_else(|| SimApiError::InvalidRequest("from must be a phone number".to_owned()))?;
    let to = parse_e164(&request.to)
        .ok_or_else(|| SimApiError::InvalidRequest("to must be a phone number".to_owned()))?;
    let deliveries = if request.duplicate { 2 } else { 1 };
    let inbound = delivery::Inbound {
        api: request.api,
        from,
        to,
        body: request.body,
        in_reply_to: None,
    };
    // Delivered on the sim's runtime, like scripted replies, so the webhook client's pooled
    // connections all belong to one runtime; this request waits for the outcome.
    let delivery_state = state.clone().into_inner();
    let delivered = state.tasks.spawn_on(
        async move { delivery::receive(&delivery_state, inbound, deliveries).await },
        &state.runtime,
    );
    let (message, webhook_statuses) = delivered
        .await
        .map_err(|error| SimApiError::Unavailable(format!("delivery did not finish: {error}")))?;
    Ok(HttpResponse::Ok().json(InjectedView {
        message,
        webhook_statuses,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_keywords_block_and_unblock() {
        let list = OptOutList::default();
        assert_eq!(
            list.observe("+15550001000", "+15550000003", "please stop"),
            None
        );
        assert!(!list.is_blocked("+15550001000", "+15550000003"));
        assert_eq!(
            list.observe("+15550001000", "+15550000003", " stop "),
            Some("opt_out")
        );
        assert!(list.is_blocked("15550001000", "+15550000003"));
        // Per sender number: another of our numbers may still text.
        assert!(!list.is_blocked("+15550001001", "+15550000003"));
        assert_eq!(
            list.observe("+15550001000", "+15550000003", "UNSTOP"),
            Some("opt_in")
        );
        assert!(!list.is_blocked("+15550001000", "+15550000003"));
    }

    #[test]
    fn faults_count_down_and_an_api_fault_wins_over_a_global_one() {
        let book = FaultBook::default();
        book.set(SendFault {
            api: None,
            status: Some(503),
            count: 1,
            delay_ms: 0,
        });
        book.set(SendFault {
            api: Some(Api::Twilio),
            status: Some(429),
            count: 2,
            delay_ms: 0,
        });
        assert_eq!(book.take(Api::Twilio).unwrap().status, Some(429));
        assert_eq!(book.take(Api::Twilio).unwrap().status, Some(429));
        assert_eq!(book.take(Api::Twilio).unwrap().status, Some(503));
        assert_eq!(book.take(Api::Twilio), None);
        assert_eq!(book.take(Api::Flowroute), None);
    }

    #[test]
    fn a_count_of_zero_lasts_until_cleared() {
        let book = FaultBook::default();
        book.set(SendFault {
            api: Some(Api::Flowroute),
            status: Some(500),
            count: 0,
            delay_ms: 0,
        });
        for _ in 0..5 {
            assert!(book.take(Api::Flowroute).is_some());
        }
        book.clear();
        assert!(book.take(Api::Flowroute).is_none());
    }

    #[test]
    fn faults_need_an_error_status_or_a_delay() {
        let fault = |status, delay_ms| SendFault {
            api: None,
            status,
            count: 1,
            delay_ms,
        };
        assert!(fault(Some(200), 0).validate().is_err());
        assert!(fault(None, 0).validate().is_err());
        assert!(fault(None, 100).validate().is_ok());
        assert!(fault(Some(503), 0).validate().is_ok());
    }
}
