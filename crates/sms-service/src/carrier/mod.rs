//! SMS carriers behind one small trait, so the sender does not care which carrier carries a
//! message. What matters to the sender is whether a failed send may be tried again, will never
//! work, or means the recipient blocked us at the carrier.
//!
//! - [`FlowrouteCarrier`]: Flowroute's v2.1 messaging API (JSON:API, HTTP Basic).
//! - [`TwilioCarrier`]: Twilio's Messages API (form-encoded, HTTP Basic), which reports a
//!   recipient who texted STOP as error 21610.
//!
//! Neither a phone number nor a message body ever reaches the logs in clear: [`mask`] hides
//! them, and [`OutboundSms`]'s `Debug` prints them masked.

pub mod flowroute;
pub mod twilio;

use attend_runtime::carrier_text;
use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;

pub use flowroute::{FlowrouteCarrier, FlowrouteConfig};
pub use twilio::{TwilioCarrier, TwilioConfig};

/// One message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Our id for the message (the attempt), for logs and idempotency on our side.
    pub message_id: uuid::Uuid,
    /// The sender, E.164 with '+'.
    pub from: String,
    /// The recipient, E.164 with '+'.
    pub to: String,
    /// The text.
    pub body: String,
    /// Where the carrier reports the message's delivery status, if anywhere.
    pub status_callback_url: Option<String>,
}

impl fmt::Debug for OutboundSms {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("OutboundSms")
            .field("message_id", &self.message_id)
            .field("from", &mask::number(&self.from))
            .field("to", &mask::number(&self.to))
            .field(
                "body",
                &format_args!("<{} chars>", self.body.chars().count()),
            )
            .field("status_callback_url", &self.status_callback_url)
            .finish()
    }
}

/// A message the carrier accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// The carrier's id for the message (Flowroute `mdr2-…`, Twilio `SM…`), if it sent one.
    pub provider_ref: Option<String>,
    /// How many segments the carrier bills, if it said (Twilio does; Flowroute does not).
    pub segments: Option<u32>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendSmsError {
    /// Not sent, and a later try may work: unreachable (connect error), 429, a timeout, or a
    /// 5xx. (The issue says 5xx and timeouts are retried with backoff.)
    #[error("carrier unavailable: {0}")]
    Retryable(String),
    /// Not sent, and trying again will not help (400/401/403/404/422...).
    #[error("carrier refused the message: {0}")]
    Refused(String),
    /// The recipient blocked this sender at the carrier (Twilio 21610): record an opt-out.
    #[error("recipient opted out at the carrier: {0}")]
    RecipientOptedOut(String),
}

/// A carrier that sends SMS.
pub trait SmsCarrier: Send + Sync + 'static {
    /// Returns the carrier's name, for logs and metrics.
    fn name(&self) -> &'static str;

    /// Asks the carrier to send `sms`.
    fn send<'a>(&'a self, sms: &'a OutboundSms) -> BoxFuture<'a, Result<SentSms, SendSmsError>>;
}

/// Phone numbers masked for logs (shared with voice-gateway).
pub use attend_runtime::mask;

/// Builds the HTTP client both adapters use: a total timeout per request, and a connect
/// timeout no longer than it.
fn http_client(request_timeout: Duration, carrier: &str) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(request_timeout)
        .connect_timeout(request_timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(attend_runtime::http::CLIENT_POOL_IDLE_TIMEOUT)
        .user_agent(concat!("attend-sms-service/", env!("CARGO_PKG_VERSION")))
        .build()
        .with_context(|| format!("failed to build the {carrier} http client"))
}

/// Checks that `api_url` is an absolute http(s) URL and returns it without a trailing '/'.
fn base_url(api_url: &str, variable_hint: &str) -> anyhow::Result<String> {
    let trimmed = api_url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed)
        .with_context(|| format!("{variable_hint} {trimmed:?} is not an absolute url"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "{variable_hint} {trimmed:?} is not an http(s) url"
    );
    Ok(trimmed.to_owned())
}

/// Returns what a request that got no answer says about the message. Nothing here proves the
/// carrier did not accept it (a timeout may hide an accepted message), but the issue asks for
/// timeouts to be retried; the sender records the attempt first, so a retry is deliberate.
fn classify_transport_error(error: &reqwest::Error) -> SendSmsError {
    if error.is_builder() {
        SendSmsError::Refused(format!(
            "invalid request: {}",
            carrier_text::root_cause(error)
        ))
    } else if error.is_timeout() {
        SendSmsError::Retryable("request timed out".to_owned())
    } else if error.is_connect() {
        SendSmsError::Retryable(format!(
            "cannot connect: {}",
            carrier_text::root_cause(error)
        ))
    } else {
        SendSmsError::Retryable(format!(
            "request failed: {}",
            carrier_text::root_cause(error)
        ))
    }
}

/// Returns what a non-success status says, with `detail` (already masked) appended.
fn classify_status(status: reqwest::StatusCode, detail: &str) -> SendSmsError {
    let described = if detail.is_empty() {
        format!("http {}", status.as_u16())
    } else {
        format!("http {}: {detail}", status.as_u16())
    };
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        SendSmsError::Retryable(described)
    } else {
        // 4xx: the carrier read the request and refused it. Anything else (3xx, 1xx) is not
        // an answer a send API gives; trying again would get the same.
        SendSmsError::Refused(described)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn debug_output_masks_numbers_and_hides_the_body() {
        let sms = OutboundSms {
            message_id: uuid::Uuid::nil(),
            from: "+15550001000".to_owned(),
            to: "+15550100001".to_owned(),
            body: "Your appointment with Dr Who".to_owned(),
            status_callback_url: None,
        };
        let debug = format!("{sms:?}");
        assert!(!debug.contains("15550100001"), "{debug}");
        assert!(!debug.contains("15550001000"), "{debug}");
        assert!(!debug.contains("Dr Who"), "{debug}");
        assert!(debug.contains("<28 chars>"), "{debug}");
    }

    #[test]
    fn throttling_and_server_errors_are_retryable_client_errors_are_not() {
        for status in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            assert!(
                matches!(classify_status(status, ""), SendSmsError::Retryable(_)),
                "{status}"
            );
        }
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::MOVED_PERMANENTLY,
        ] {
            assert!(
                matches!(classify_status(status, ""), SendSmsError::Refused(_)),
                "{status}"
            );
        }
        assert_eq!(
            classify_status(StatusCode::BAD_REQUEST, "twilio 21211").to_string(),
            "carrier refused the message: http 400: twilio 21211"
        );
    }

    #[test]
    fn base_urls_must_be_absolute_http() {
        assert_eq!(
            base_url("http://127.0.0.1:8090/flowroute/v2.1/", "FLOWROUTE_API_URL").unwrap(),
            "http://127.0.0.1:8090/flowroute/v2.1"
        );
        assert!(base_url("/v2.1", "FLOWROUTE_API_URL").is_err());
        assert!(base_url("ftp://host/v2.1", "FLOWROUTE_API_URL").is_err());
    }
}
