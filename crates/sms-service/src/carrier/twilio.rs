//! Twilio's Messages API: `POST {api}/Accounts/{AccountSid}/Messages.json`, form-encoded
//! `To`, `From`, `Body`, `StatusCallback`?, HTTP Basic auth (account SID, auth token). Twilio
//! answers `201` with the message resource (`sid` `SM…`, `num_segments` as a string) and
//! errors as `{"code", "message", "more_info", "status"}`. Code 21610 means the recipient
//! texted STOP to this sender: Twilio refuses every later send until they text START.

use attend_runtime::carrier_text;
use std::time::Duration;

use attend_runtime::Secret;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{
    OutboundSms, SendSmsError, SentSms, SmsCarrier, base_url, classify_status,
    classify_transport_error, http_client,
};

/// Twilio's error code for a send to a recipient who opted out of this sender.
pub const UNSUBSCRIBED_RECIPIENT: u32 = 21610;

/// How to reach a Twilio account.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// The API base, e.g. `https://api.twilio.com/2010-04-01` or the sim's
    /// `http://127.0.0.1:8090/twilio/2010-04-01`.
    pub api_url: String,
    /// The account SID (`AC…`), the Basic-auth user and a path segment.
    pub account_sid: String,
    /// The auth token, the Basic-auth password.
    pub auth_token: Secret,
    /// Time limit for one send request, connection included.
    pub request_timeout: Duration,
}

/// Twilio's send API.
pub struct TwilioCarrier {
    client: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: Secret,
}

#[derive(Deserialize)]
struct MessageResource {
    sid: Option<String>,
    num_segments: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorResource {
    code: Option<u32>,
    message: Option<String>,
}

impl TwilioCarrier {
    /// Returns a client for the account in `config`; fails on a malformed `api_url` or SID.
    pub fn new(config: &TwilioConfig) -> anyhow::Result<Self> {
        let api_url = base_url(&config.api_url, "the twilio api url")?;
        let account_sid = config.account_sid.trim();
        anyhow::ensure!(
            !account_sid.is_empty()
                && account_sid
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || character == '_'),
            "the twilio account sid must be letters, digits or '_'"
        );
        Ok(Self {
            client: http_client(config.request_timeout, "twilio")?,
            messages_url: format!("{api_url}/Accounts/{account_sid}/Messages.json"),
            account_sid: account_sid.to_owned(),
            auth_token: config.auth_token.clone(),
        })
    }

    async fn send_message(&self, sms: &OutboundSms) -> Result<SentSms, SendSmsError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("To", sms.to.as_str()),
            ("From", sms.from.as_str()),
            ("Body", sms.body.as_str()),
        ];
        if let Some(url) = &sms.status_callback_url {
            form.push(("StatusCallback", url.as_str()));
        }
        let mut request = self
            .client
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form);
        if let Some(traceparent) = attend_runtime::telemetry::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        let response = request
            .send()
            .await
            .map_err(|error| classify_transport_error(&error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(match response.json::<MessageResource>().await {
                Ok(resource) => SentSms {
                    provider_ref: resource
                        .sid
                        .map(|sid| sid.trim().to_owned())
                        .filter(|sid| !sid.is_empty()),
                    segments: resource.num_segments.as_ref().and_then(segment_count),
                },
                Err(error) => {
                    tracing::warn!(
                        message_id = %sms.message_id,
                        error.message = %error,
                        "twilio accepted the message but its answer is unreadable"
                    );
                    SentSms {
                        provider_ref: None,
                        segments: None,
                    }
                }
            });
        }
        let text = response.text().await.unwrap_or_default();
        let error = serde_json::from_str::<ErrorResource>(&text).ok();
        let code = error.as_ref().and_then(|error| error.code);
        let detail = describe_error(code, error.and_then(|error| error.message), &text);
        tracing::warn!(
            message_id = %sms.message_id,
            http.status = status.as_u16(),
            carrier.code = code,
            carrier.detail = %detail,
            "twilio did not accept the message"
        );
        Err(classify(status, code, &detail))
    }
}

impl SmsCarrier for TwilioCarrier {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, sms: &'a OutboundSms) -> BoxFuture<'a, Result<SentSms, SendSmsError>> {
        Box::pin(self.send_message(sms))
    }
}

/// Returns what Twilio's answer says: 21610 is an opt-out whatever the status, else by status.
fn classify(status: StatusCode, code: Option<u32>, detail: &str) -> SendSmsError {
    if code == Some(UNSUBSCRIBED_RECIPIENT) {
        return SendSmsError::RecipientOptedOut(detail.to_owned());
    }
    classify_status(status, detail)
}

/// Returns `twilio <code>: <message>` with digits masked (messages quote the numbers).
fn describe_error(code: Option<u32>, message: Option<String>, body: &str) -> String {
    let message = message.unwrap_or_else(|| body.to_owned());
    let message = carrier_text::excerpt(&message, 200);
    match code {
        Some(code) => format!("twilio {code}: {message}"),
        None => message,
    }
}

/// Reads `num_segments`, which Twilio sends as a string ("2") but SDK mocks send as a number.
fn segment_count(value: &serde_json::Value) -> Option<u32> {
    match value {
        serde_json::Value::String(text) => text.trim().parse().ok(),
        serde_json::Value::Number(number) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_url_follows_the_twilio_shape() {
        let carrier = TwilioCarrier::new(&TwilioConfig {
            api_url: "http://127.0.0.1:8090/twilio/2010-04-01".to_owned(),
            account_sid: "AC_SIM".to_owned(),
            auth_token: Secret::new("t"),
            request_timeout: Duration::from_secs(5),
        })
        .unwrap();
        assert_eq!(
            carrier.messages_url,
            "http://127.0.0.1:8090/twilio/2010-04-01/Accounts/AC_SIM/Messages.json"
        );
    }

    #[test]
    fn a_sid_that_would_break_the_path_is_refused() {
        let result = TwilioCarrier::new(&TwilioConfig {
            api_url: "http://127.0.0.1:8090/twilio/2010-04-01".to_owned(),
            account_sid: "AC/../x".to_owned(),
            auth_token: Secret::new("t"),
            request_timeout: Duration::from_secs(5),
        });
        assert!(result.is_err());
    }

    #[test]
    fn code_21610_is_an_opt_out_and_other_codes_follow_the_status() {
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, Some(21610), "x"),
            SendSmsError::RecipientOptedOut(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, Some(21211), "x"),
            SendSmsError::Refused(_)
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(20429), "x"),
            SendSmsError::Retryable(_)
        ));
    }

    #[test]
    fn error_messages_keep_the_code_and_mask_numbers() {
        assert_eq!(
            describe_error(
                Some(21211),
                Some("The 'To' number +15550100001 is not a valid phone number.".to_owned()),
                ""
            ),
            "twilio 21211: The 'To' number +*********01 is not a valid phone number."
        );
    }

    #[test]
    fn segments_are_read_from_strings_and_numbers() {
        assert_eq!(segment_count(&serde_json::json!("2")), Some(2));
        assert_eq!(segment_count(&serde_json::json!(3)), Some(3));
        assert_eq!(segment_count(&serde_json::json!(null)), None);
    }
}
