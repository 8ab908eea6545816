//! The SMS side: Flowroute- and Twilio-shaped send APIs, a scripted callee who replies, and
//! the inbound webhooks that carry those replies to the application.
//!
//! - `flowroute` and `twilio`: the send APIs (`POST /flowroute/v2.1/messages`,
//!   `POST /twilio/2010-04-01/Accounts/{AccountSid}/Messages.json`) and each carrier's inbound
//!   and status-callback wire shapes.
//! - `callee`: reply scripts per destination number (`/sim/sms/scripts/{e164}`).
//! - `delivery`: replies, inbound webhooks (with retries) and status callbacks.
//! - `store`: every message both ways, read through `GET /sim/messages`.
//! - `control`: sender-number settings, injected faults, injected inbound messages, and the
//!   carrier-side opt-out list (Twilio's STOP handling, error 21610).
//! - `encoding`: GSM-7 / UCS-2 and segment counts (carriers.md §1.4).

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use actix_web::HttpRequest;
use actix_web::web;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::script::number_key;

pub mod callee;
pub mod control;
pub(crate) mod delivery;
pub mod encoding;
pub mod flowroute;
pub mod store;
pub mod twilio;

/// Which carrier API a message went through; replies go back through the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Flowroute's v2.1 messaging API.
    Flowroute,
    /// Twilio's 2010-04-01 Messages API.
    Twilio,
}

impl fmt::Display for Api {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Flowroute => "flowroute",
            Self::Twilio => "twilio",
        })
    }
}

/// The SMS side's state: credentials, stores and settings.
pub(crate) struct SmsState {
    pub flowroute_access_key: String,
    pub flowroute_secret_key: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    pub default_flowroute_inbound_url: String,
    pub default_twilio_inbound_url: String,
    pub retry_backoff: std::time::Duration,
    pub messages: store::MessageStore,
    pub scripts: callee::ReplyBook,
    pub numbers: control::NumberBook,
    pub faults: control::FaultBook,
    pub opt_outs: control::OptOutList,
    /// Sends inbound webhooks and status callbacks.
    pub http: reqwest::Client,
}

impl SmsState {
    /// Builds the SMS state from the sim's configuration.
    pub fn new(config: &Config) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.webhook_timeout)
            // The sim talks to local services; an environment proxy would only get in the way.
            .no_proxy()
            .user_agent(concat!("carrier-sim/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(crate::CLIENT_POOL_IDLE_TIMEOUT)
            .build()?;
        Ok(Self {
            flowroute_access_key: config.flowroute_access_key.clone(),
            flowroute_secret_key: config.flowroute_secret_key.clone(),
            twilio_account_sid: config.twilio_account_sid.clone(),
            twilio_auth_token: config.twilio_auth_token.clone(),
            default_flowroute_inbound_url: config.flowroute_inbound_url.clone(),
            default_twilio_inbound_url: config.twilio_inbound_url.clone(),
            retry_backoff: config.sms_retry_backoff,
            messages: store::MessageStore::default(),
            scripts: callee::ReplyBook::default(),
            numbers: control::NumberBook::default(),
            faults: control::FaultBook::default(),
            opt_outs: control::OptOutList::default(),
            http,
        })
    }

    /// Returns the URL an inbound message to `sender` (our number) is posted to through `api`.
    pub fn inbound_url(&self, api: Api, sender: &str) -> String {
        let configured = self.numbers.get(sender).and_then(|number| match api {
            Api::Flowroute => number.flowroute_inbound_url,
            Api::Twilio => number.twilio_inbound_url,
        });
        configured.unwrap_or_else(|| match api {
            Api::Flowroute => self.default_flowroute_inbound_url.clone(),
            Api::Twilio => self.default_twilio_inbound_url.clone(),
        })
    }
}

/// Registers every SMS route.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    flowroute::configure(config);
    twilio::configure(config);
    store::configure(config);
    callee::configure(config);
    control::configure(config);
}

/// Parses a phone number given with or without its leading '+' into E.164 (`+` and 2–15
/// digits, no leading zero), as both carriers accept it.
pub fn parse_e164(value: &str) -> Option<String> {
    let digits = value.trim().strip_prefix('+').unwrap_or(value.trim());
    let valid = (2..=15).contains(&digits.len())
        && digits.chars().all(|character| character.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then(|| format!("+{digits}"))
}

/// Returns the `user` and `password` of an `Authorization: Basic …` header, if well formed.
pub fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let header = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASE64.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Locks `mutex`, serving on after a panic elsewhere: a test double's maps cannot be left in a
/// state that matters.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pair of numbers as a set key: (our sender, the subscriber), compared without '+'.
pub(crate) fn pair_key(sender: &str, subscriber: &str) -> (String, String) {
    (number_key(sender), number_key(subscriber))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_accepted_with_or_without_a_plus() {
        assert_eq!(parse_e164("12065551234").as_deref(), Some("+12065551234"));
        assert_eq!(parse_e164("+12065551234").as_deref(), Some("+12065551234"));
        assert_eq!(
            parse_e164(" +447700900123 ").as_deref(),
            Some("+447700900123")
        );
        assert_eq!(parse_e164("0123"), None);
        assert_eq!(parse_e164("+1 206 555"), None);
        assert_eq!(parse_e164("1234567890123456"), None);
        assert_eq!(parse_e164(""), None);
    }
}
