//! The Vobiz (Plivo-style) make-call API: `POST {api}/Account/{auth_id}/Call/` with the
//! account in `X-Auth-ID` / `X-Auth-Token`, answered `201 {"api_id", "message": "call fired",
//! "request_uuid"}` where `request_uuid` is the call's `CallUUID` (carriers.md 2.4, 3.1).

use attend_runtime::carrier_text;
use std::time::Duration;

use anyhow::Context;
use attend_runtime::Secret;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::{CallRequest, PlaceCallError, PlacedCall, VoiceCarrier};
use crate::config::VobizConfig;

/// Vobiz's make-call API.
pub struct VobizCarrier {
    client: reqwest::Client,
    call_url: String,
    auth_id: String,
    auth_token: Secret,
    from_number: String,
}

#[derive(Serialize)]
struct MakeCallBody<'a> {
    from: &'a str,
    to: &'a str,
    answer_url: &'a str,
    answer_method: &'static str,
    hangup_url: &'a str,
    hangup_method: &'static str,
    // "true": the call goes on and the answer request says `Machine=true`, so the gateway can
    // leave the voicemail text (carriers.md 2.4); "hangup" would cut it off.
    machine_detection: &'static str,
    machine_detection_url: &'a str,
    machine_detection_method: &'static str,
}

#[derive(Deserialize)]
struct MakeCallResponse {
    request_uuid: Option<serde_json::Value>,
}

impl VobizCarrier {
    /// Returns a client for the account in `config`.
    pub fn new(config: &VobizConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(attend_runtime::http::CLIENT_POOL_IDLE_TIMEOUT)
            .user_agent(concat!("attend-voice-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to build the vobiz http client")?;
        Ok(Self {
            client,
            call_url: format!("{}/Account/{}/Call/", config.api_url, config.auth_id),
            auth_id: config.auth_id.clone(),
            auth_token: config.auth_token.clone(),
            from_number: config.from_number.clone(),
        })
    }

    async fn send(&self, request: &CallRequest) -> Result<PlacedCall, PlaceCallError> {
        let body = MakeCallBody {
            from: &self.from_number,
            to: &request.to,
            answer_url: &request.answer_url,
            answer_method: "POST",
            hangup_url: &request.hangup_url,
            hangup_method: "POST",
            machine_detection: "true",
            machine_detection_url: &request.machine_detection_url,
            machine_detection_method: "POST",
        };
        let mut http_request = self
            .client
            .post(&self.call_url)
            .header("X-Auth-ID", &self.auth_id)
            .header("X-Auth-Token", self.auth_token.expose())
            .json(&body);
        if let Some(traceparent) = attend_runtime::telemetry::current_traceparent() {
            http_request = http_request.header("traceparent", traceparent);
        }
        let response = http_request
            .send()
            .await
            .map_err(classify_transport_error)?;
        let status = response.status();
        if status.is_success() {
            // The carrier fired the call: whatever the body says, it exists now.
            let provider_ref = match response.json::<MakeCallResponse>().await {
                Ok(parsed) => parsed.request_uuid.and_then(|value| match value {
                    serde_json::Value::String(text) if !text.trim().is_empty() => {
                        Some(text.trim().to_owned())
                    }
                    _ => None,
                }),
                Err(error) => {
                    tracing::warn!(
                        error.message = %error,
                        "call fired but the carrier's answer is unreadable"
                    );
                    None
                }
            };
            return Ok(PlacedCall { provider_ref });
        }
        let body = response.text().await.unwrap_or_default();
        tracing::warn!(
            http.status = status.as_u16(),
            carrier.body = %carrier_text::excerpt(&body, 300),
            "carrier did not accept the call"
        );
        Err(classify_status(status))
    }
}

impl VoiceCarrier for VobizCarrier {
    fn name(&self) -> &'static str {
        "vobiz"
    }

    fn place_call<'a>(
        &'a self,
        request: &'a CallRequest,
    ) -> BoxFuture<'a, Result<PlacedCall, PlaceCallError>> {
        Box::pin(self.send(request))
    }
}

/// Returns what a non-2xx answer says about the call.
fn classify_status(status: StatusCode) -> PlaceCallError {
    let detail = format!("http {}", status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS {
        PlaceCallError::Retryable(detail)
    } else if status.is_client_error() {
        // The carrier read the request and refused it; no call exists.
        PlaceCallError::Refused(detail)
    } else {
        // 5xx and anything unexpected: the carrier may have fired the call before failing.
        PlaceCallError::OutcomeUnknown(detail)
    }
}

/// Returns what a request that got no answer says about the call.
fn classify_transport_error(error: reqwest::Error) -> PlaceCallError {
    if error.is_builder() {
        PlaceCallError::Refused(format!("invalid request: {error}"))
    } else if error.is_connect() {
        // Nothing reached the carrier: a later try cannot ring twice.
        PlaceCallError::Retryable(format!(
            "cannot connect: {}",
            carrier_text::root_cause(&error)
        ))
    } else if error.is_timeout() {
        PlaceCallError::OutcomeUnknown("request timed out".to_owned())
    } else {
        PlaceCallError::OutcomeUnknown(format!(
            "request failed: {}",
            carrier_text::root_cause(&error)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_that_prove_no_call_are_retried_or_refused() {
        assert!(matches!(
            classify_status(StatusCode::TOO_MANY_REQUESTS),
            PlaceCallError::Retryable(_)
        ));
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::PAYMENT_REQUIRED,
        ] {
            assert!(
                matches!(classify_status(status), PlaceCallError::Refused(_)),
                "{status}"
            );
        }
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::SEE_OTHER,
        ] {
            assert!(
                matches!(classify_status(status), PlaceCallError::OutcomeUnknown(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn the_call_url_follows_the_vobiz_shape() {
        let config = VobizConfig {
            api_url: "http://127.0.0.1:8090/api/v1".to_owned(),
            auth_id: "MA_SIM".to_owned(),
            auth_token: Secret::new("t"),
            from_number: "+15550100000".to_owned(),
            request_timeout: Duration::from_secs(10),
        };
        let carrier = VobizCarrier::new(&config).unwrap();
        assert_eq!(
            carrier.call_url,
            "http://127.0.0.1:8090/api/v1/Account/MA_SIM/Call/"
        );
    }
}
