//! Twilio's Messages API: `POST /twilio/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded, HTTP Basic auth with the account SID and auth token, answered like Twilio
//! (`201` with the message resource; errors `{"code", "message", "more_info", "status"}`).
//!
//! Twilio handles opt-out keywords itself (carriers.md §1.2): after a subscriber texts a single
//! STOP word to one of our numbers, sends from that number to them fail with error 21610 until
//! they text START, YES or UNSTOP. Webhooks carry `X-Twilio-Signature` (carriers.md §1.5).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::store::{Direction, MessageRecord};
use super::{Api, basic_credentials, delivery, parse_e164};
use crate::SimState;
use crate::webhook::parse_http_url;

/// Twilio's API version, in paths and webhooks.
pub const API_VERSION: &str = "2010-04-01";
/// Header carrying the webhook signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// Header carrying a token that is the same for every retry and duplicate of one webhook.
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";
/// Longest body Twilio accepts, in characters.
pub const MAX_BODY_CHARS: usize = 1600;

/// A refused send request, answered in Twilio's error shape.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Wrong or missing credentials, or another account's SID in the path (20003).
    #[error("Authenticate")]
    Unauthorized,
    /// The body is not a form (the sim's choice of code: 20001).
    #[error("Unable to parse the request body")]
    InvalidForm,
    /// A validation error with Twilio's code and message.
    #[error("{message}")]
    Invalid {
        /// Twilio's error code.
        code: u32,
        /// Twilio's message.
        message: String,
    },
    /// The recipient texted STOP to this sender (21610).
    #[error("Attempt to send to unsubscribed recipient")]
    Unsubscribed,
    /// An injected fault (code 20000 + status, the sim's choice).
    #[error("injected fault")]
    Injected(StatusCode),
}

impl TwilioError {
    fn code(&self) -> u32 {
        match self {
            Self::Unauthorized => 20003,
            Self::InvalidForm => 20001,
            Self::Invalid { code, .. } => *code,
            Self::Unsubscribed => 21610,
            Self::Injected(status) => 20000 + u32::from(status.as_u16()),
        }
    }

    fn invalid(code: u32, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl ResponseError for TwilioError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InvalidForm | Self::Invalid { .. } | Self::Unsubscribed => {
                StatusCode::BAD_REQUEST
            }
            Self::Injected(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = self.code();
        HttpResponse::build(status).json(serde_json::json!({
            "code": code,
            "message": self.to_string(),
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        }))
    }
}

/// Registers the send route.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config.route(
        "/twilio/2010-04-01/Accounts/{account_sid}/Messages.json",
        web::post().to(send_message),
    );
}

async fn send_message(
    state: web::Data<SimState>,
    request: HttpRequest,
    account_sid: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, TwilioError> {
    let sms = &state.sms;
    let authenticated = *account_sid == sms.twilio_account_sid
        && basic_credentials(&request).is_some_and(|(user, password)| {
            user == sms.twilio_account_sid && password == sms.twilio_auth_token
        });
    if !authenticated {
        tracing::warn!("twilio send authentication failed");
        return Err(TwilioError::Unauthorized);
    }
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| TwilioError::InvalidForm)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };

    let to_raw = param("To")
        .ok_or_else(|| TwilioError::invalid(21604, "A 'To' phone number is required."))?;
    let from_raw = param("From")
        .ok_or_else(|| TwilioError::invalid(21603, "A 'From' phone number is required."))?;
    // The body is taken as sent (not trimmed): spaces count toward its segments.
    let text = params
        .iter()
        .find(|(key, _)| key == "Body")
        .map(|(_, value)| value.clone())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| TwilioError::invalid(21602, "Message body is required."))?;
    let to = parse_e164(&to_raw).ok_or_else(|| {
        TwilioError::invalid(
            21211,
            format!("The 'To' number {to_raw} is not a valid phone number."),
        )
    })?;
    let from = parse_e164(&from_raw).ok_or_else(|| {
        TwilioError::invalid(
            21212,
            format!(
                "The 'From' number {from_raw} is not a valid phone number, shortcode, or alphanumeric sender ID."
            ),
        )
    })?;
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(TwilioError::invalid(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    let status_callback = match param("StatusCallback") {
        Some(url) => Some(
            parse_http_url(&url)
                .map_err(|_| TwilioError::invalid(21609, "Invalid StatusCallback url"))?
                .to_string(),
        ),
        None => None,
    };

    if let Some(fault) = sms.faults.take(Api::Twilio) {
        if fault.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
        }
        if let Some(status) = fault.status {
            tracing::info!(status, "injected twilio send fault");
            return Err(TwilioError::Injected(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ));
        }
    }
    if sms.opt_outs.is_blocked(&from, &to) {
        tracing::info!(
            from = %crate::mask_number(&from),
            to = %crate::mask_number(&to),
            "twilio send refused: recipient unsubscribed (21610)"
        );
        return Err(TwilioError::Unsubscribed);
    }

    let mut record = MessageRecord::new(
        delivery::new_message_id(Api::Twilio),
        Direction::Outbound,
        Api::Twilio,
        from,
        to,
        text,
    );
    record.status_callback = status_callback;
    sms.messages.insert(record.clone());
    tracing::info!(
        message_id = %record.id,
        from = %crate::mask_number(&record.from),
        to = %crate::mask_number(&record.to),
        segments = record.segments,
        "twilio message accepted"
    );
    delivery::after_send(state.clone().into_inner(), &record);

    Ok(HttpResponse::Created().json(message_resource(&sms.twilio_account_sid, &record)))
}

/// Returns the message resource Twilio answers a send with.
fn message_resource(account_sid: &str, record: &MessageRecord) -> serde_json::Value {
    let date = record.created_at.to_rfc2822();
    let uri = format!(
        "/{API_VERSION}/Accounts/{account_sid}/Messages/{}.json",
        record.id
    );
    serde_json::json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": record.body,
        "date_created": date,
        "date_sent": null,
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": record.from,
        "messaging_service_sid": null,
        "num_media": "0",
        "num_segments": record.segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": record.id,
        "status": "queued",
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": record.to,
        "uri": uri,
    })
}

/// Returns the form parameters of an inbound message webhook.
pub fn inbound_params(account_sid: &str, record: &MessageRecord) -> Vec<(String, String)> {
    [
        ("MessageSid", record.id.as_str()),
        ("SmsSid", record.id.as_str()),
        ("SmsMessageSid", record.id.as_str()),
        ("AccountSid", account_sid),
        ("From", record.from.as_str()),
        ("To", record.to.as_str()),
        ("Body", record.body.as_str()),
        ("NumSegments", &record.segments.to_string()),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
        ("ApiVersion", API_VERSION),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// Returns the form parameters of a status callback for an outbound message.
pub fn status_params(
    account_sid: &str,
    record: &MessageRecord,
    status: &str,
) -> Vec<(String, String)> {
    [
        ("MessageSid", record.id.as_str()),
        ("SmsSid", record.id.as_str()),
        ("AccountSid", account_sid),
        ("From", record.from.as_str()),
        ("To", record.to.as_str()),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("ApiVersion", API_VERSION),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// Computes `X-Twilio-Signature`: base64(HMAC-SHA1(auth_token, url + each parameter sorted by
/// name, as name then value, no separators)). `url` is the full URL as requested, query
/// included (carriers.md §1.5).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length, so new_from_slice cannot fail"
    )]
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("hmac accepts any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    // The vectors of twilio-python's tests/unit/test_request_validator.py.
    #[test]
    fn signature_matches_twilios_published_vector() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]);
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn repeated_parameters_are_sorted_by_value_too() {
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn errors_carry_twilios_code_and_docs_link() {
        let error = TwilioError::Unsubscribed;
        assert_eq!(error.code(), 21610);
        assert_eq!(error.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(
            TwilioError::Injected(StatusCode::TOO_MANY_REQUESTS).code(),
            20429
        );
    }
}
