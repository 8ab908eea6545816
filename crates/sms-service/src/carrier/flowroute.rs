//! Flowroute's v2.1 messaging API: `POST {api}/messages` with HTTP Basic auth (access key,
//! secret key) and a JSON:API body `{"to", "from", "body", "dlr_callback"?}` where numbers are
//! digits without '+' (`12065551234`). Flowroute answers `202 {"data": {"id": "mdr2-…"}}`;
//! any 200–206 is success. Errors come as `{"errors": [{"detail", "status", …}]}`.

use attend_runtime::carrier_text;
use std::time::Duration;

use attend_runtime::Secret;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{
    OutboundSms, SendSmsError, SentSms, SmsCarrier, base_url, classify_status,
    classify_transport_error, http_client,
};

/// How to reach a Flowroute account.
#[derive(Debug, Clone)]
pub struct FlowrouteConfig {
    /// The API base, e.g. `https://api.flowroute.com/v2.1` or the sim's
    /// `http://127.0.0.1:8090/flowroute/v2.1`.
    pub api_url: String,
    /// The access key (Basic-auth user).
    pub access_key: String,
    /// The secret key (Basic-auth password).
    pub secret_key: Secret,
    /// Time limit for one send request, connection included.
    pub request_timeout: Duration,
}

/// Flowroute's send API.
pub struct FlowrouteCarrier {
    client: reqwest::Client,
    messages_url: String,
    access_key: String,
    secret_key: Secret,
}

#[derive(Serialize)]
struct SendBody<'a> {
    to: &'a str,
    from: &'a str,
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dlr_callback: Option<&'a str>,
}

#[derive(Deserialize)]
struct SendResponse {
    data: Option<SendResponseData>,
}

#[derive(Deserialize)]
struct SendResponseData {
    id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    detail: Option<String>,
}

impl FlowrouteCarrier {
    /// Returns a client for the account in `config`; fails on a malformed `api_url`.
    pub fn new(config: &FlowrouteConfig) -> anyhow::Result<Self> {
        let api_url = base_url(&config.api_url, "the flowroute api url")?;
        Ok(Self {
            client: http_client(config.request_timeout, "flowroute")?,
            messages_url: format!("{api_url}/messages"),
            access_key: config.access_key.clone(),
            secret_key: config.secret_key.clone(),
        })
    }

    async fn send_message(&self, sms: &OutboundSms) -> Result<SentSms, SendSmsError> {
        let body = SendBody {
            to: flowroute_number(&sms.to),
            from: flowroute_number(&sms.from),
            body: &sms.body,
            dlr_callback: sms.status_callback_url.as_deref(),
        };
        let json = serde_json::to_vec(&body)
            .map_err(|error| SendSmsError::Refused(format!("cannot encode the body: {error}")))?;
        let mut request = self
            .client
            .post(&self.messages_url)
            .basic_auth(&self.access_key, Some(self.secret_key.expose()))
            .header(reqwest::header::CONTENT_TYPE, "application/vnd.api+json")
            .header(reqwest::header::ACCEPT, "application/vnd.api+json")
            .body(json);
        if let Some(traceparent) = attend_runtime::telemetry::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        let response = request
            .send()
            .await
            .map_err(|error| classify_transport_error(&error))?;
        let status = response.status();
        // Flowroute documents 202; any 200–206 means it took the message.
        if (200..=206).contains(&status.as_u16()) {
            let provider_ref = match response.json::<SendResponse>().await {
                Ok(parsed) => parsed
                    .data
                    .and_then(|data| data.id)
                    .and_then(|id| match id {
                        serde_json::Value::String(text) if !text.trim().is_empty() => {
                            Some(text.trim().to_owned())
                        }
                        _ => None,
                    }),
                Err(error) => {
                    tracing::warn!(
                        message_id = %sms.message_id,
                        error.message = %error,
                        "flowroute accepted the message but its answer is unreadable"
                    );
                    None
                }
            };
            return Ok(SentSms {
                provider_ref,
                segments: None,
            });
        }
        let text = response.text().await.unwrap_or_default();
        let detail = error_detail(&text);
        tracing::warn!(
            message_id = %sms.message_id,
            http.status = status.as_u16(),
            carrier.detail = %detail,
            "flowroute did not accept the message"
        );
        Err(classify_status(status, &detail))
    }
}

impl SmsCarrier for FlowrouteCarrier {
    fn name(&self) -> &'static str {
        "flowroute"
    }

    fn send<'a>(&'a self, sms: &'a OutboundSms) -> BoxFuture<'a, Result<SentSms, SendSmsError>> {
        Box::pin(self.send_message(sms))
    }
}

/// Returns a number as Flowroute expects it: E.164 digits without the '+'.
fn flowroute_number(e164: &str) -> &str {
    e164.trim().trim_start_matches('+')
}

/// Returns the first JSON:API error's `detail`, or the start of the body, masked and short.
fn error_detail(body: &str) -> String {
    let detail = serde_json::from_str::<ErrorResponse>(body)
        .ok()
        .and_then(|parsed| parsed.errors.into_iter().find_map(|entry| entry.detail))
        .unwrap_or_else(|| body.to_owned());
    carrier_text::excerpt(&detail, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api_url: &str) -> FlowrouteConfig {
        FlowrouteConfig {
            api_url: api_url.to_owned(),
            access_key: "key".to_owned(),
            secret_key: Secret::new("secret"),
            request_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_messages_url_follows_the_flowroute_shape() {
        let carrier =
            FlowrouteCarrier::new(&config("http://127.0.0.1:8090/flowroute/v2.1/")).unwrap();
        assert_eq!(
            carrier.messages_url,
            "http://127.0.0.1:8090/flowroute/v2.1/messages"
        );
        assert!(FlowrouteCarrier::new(&config("not a url")).is_err());
    }

    #[test]
    fn numbers_lose_their_plus_and_the_callback_is_optional() {
        let body = SendBody {
            to: flowroute_number("+12065551234"),
            from: flowroute_number("12065554321"),
            body: "Hi",
            dlr_callback: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"to": "12065551234", "from": "12065554321", "body": "Hi"})
        );
    }

    #[test]
    fn error_details_are_read_from_json_api_and_masked() {
        let body = r#"{"errors":[{"detail":"to 12065551234 is invalid","status":"422"}]}"#;
        assert_eq!(error_detail(body), "to *********34 is invalid");
        assert_eq!(error_detail("Bad Gateway"), "Bad Gateway");
    }
}
