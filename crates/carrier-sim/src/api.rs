//! The make-call API, shaped like Vobiz's `POST /api/v1/Account/{auth_id}/Call/`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use reqwest::Url;
use serde::Deserialize;
use uuid::Uuid;

use crate::SimState;
use crate::call::{self, CallSetup};
use crate::inspect::{CallRecord, CallStatus};
use crate::webhook::{HttpMethod, parse_http_url};

/// Header carrying the account id.
pub const AUTH_ID_HEADER: &str = "X-Auth-ID";
/// Header carrying the account token.
pub const AUTH_TOKEN_HEADER: &str = "X-Auth-Token";

/// A refused make-call request; the body is `{"api_id": "...", "error": "..."}` like Vobiz's.
#[derive(Debug, thiserror::Error)]
pub enum MakeCallError {
    /// Wrong or missing credentials, or an account id that is not ours.
    #[error("authentication failed")]
    Unauthorized,
    /// The body is not JSON of the expected shape.
    #[error("invalid json body: {0}")]
    InvalidJson(#[from] serde_json::Error),
    /// A required field is missing or empty.
    #[error("{0} is required")]
    MissingField(&'static str),
    /// A field has a value the carrier rejects.
    #[error("{field} {reason}")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl ResponseError for MakeCallError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InvalidJson(_) | Self::MissingField(_) | Self::InvalidField { .. } => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(serde_json::json!({
            "api_id": Uuid::new_v4(),
            "error": self.to_string(),
        }))
    }
}

/// Registers the make-call route, with and without its trailing slash.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/api/v1/Account/{auth_id}/Call/", web::post().to(make_call))
        .route("/api/v1/Account/{auth_id}/Call", web::post().to(make_call));
}

/// The make-call body. Every field is optional here so that a missing one gets the carrier's
/// `"<field> is required"` message rather than a serde error. Unknown fields are ignored, as
/// the real API takes many the sim does not simulate (`send_digits`, `sip_headers`, …).
#[derive(Debug, Deserialize)]
struct MakeCallRequest {
    from: Option<String>,
    to: Option<String>,
    answer_url: Option<String>,
    answer_method: Option<String>,
    hangup_url: Option<String>,
    hangup_method: Option<String>,
    ring_url: Option<String>,
    ring_method: Option<String>,
    fallback_url: Option<String>,
    caller_name: Option<String>,
    time_limit: Option<serde_json::Value>,
    machine_detection: Option<serde_json::Value>,
    machine_detection_url: Option<String>,
    machine_detection_method: Option<String>,
}

async fn make_call(
    state: web::Data<SimState>,
    request: HttpRequest,
    auth_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, MakeCallError> {
    authenticate(&state, &request, &auth_id)?;
    let body: MakeCallRequest = serde_json::from_slice(&body)?;

    let from = required_text("from", body.from)?;
    let to = required_text("to", body.to)?;
    if to.contains('<') {
        return Err(MakeCallError::InvalidField {
            field: "to",
            reason: "with several destinations (bulk calls) is not simulated".to_owned(),
        });
    }
    let answer_url = required_url("answer_url", body.answer_url)?;
    let answer_method = method_field("answer_method", body.answer_method)?;
    let hangup_url = optional_url("hangup_url", body.hangup_url)?;
    let hangup_method = method_field("hangup_method", body.hangup_method)?;
    let ring_url = optional_url("ring_url", body.ring_url)?;
    let ring_method = method_field("ring_method", body.ring_method)?;
    let fallback_url = optional_url("fallback_url", body.fallback_url)?;
    let time_limit = time_limit_field(body.time_limit)?;
    let machine_detection = body.machine_detection.map(|value| match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    });
    let machine_detection_url = optional_url("machine_detection_url", body.machine_detection_url)?;
    let machine_detection_method =
        method_field("machine_detection_method", body.machine_detection_method)?;
    let detect_machine = match machine_detection.as_deref().map(str::trim) {
        None | Some("" | "false") => None,
        Some("true") => Some(call::MachineDetection::Continue),
        Some("hangup") => Some(call::MachineDetection::Hangup),
        Some(_) => {
            return Err(MakeCallError::InvalidField {
                field: "machine_detection",
                reason: "must be true or hangup".to_owned(),
            });
        }
    };

    let call_uuid = Uuid::new_v4();
    let (script, script_source) = state.scripts.script_for(&to);
    let fault = script
        .api_fault
        .filter(|fault| state.scripts.take_fault(&to, fault));
    if let Some(fault) = fault {
        if fault.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(fault.delay_ms)).await;
        }
        if let Some(status) = fault.status
            && !fault.fire_anyway
        {
            tracing::info!(to = %crate::mask_number(&to), status, "injected make-call fault, no call");
            return Ok(fault_response(status));
        }
    }
    if let Err(refusal) = state.limits.admit() {
        let reason = match refusal {
            crate::limits::Refusal::Rate => "too many requests: calls per second limit reached",
            crate::limits::Refusal::Concurrency => "simultaneous dial limit reached",
        };
        tracing::warn!(to = %crate::mask_number(&to), reason, "make-call refused by the account limits");
        return Ok(HttpResponse::TooManyRequests().json(serde_json::json!({
            "api_id": Uuid::new_v4(),
            "error": reason,
        })));
    }
    state.calls.insert(CallRecord {
        call_uuid,
        from: from.clone(),
        to: to.clone(),
        answer_url: answer_url.to_string(),
        answer_method,
        hangup_url: hangup_url.as_ref().map(Url::to_string),
        hangup_method,
        ring_url: ring_url.as_ref().map(Url::to_string),
        fallback_url: fallback_url.as_ref().map(Url::to_string),
        caller_name: body.caller_name,
        time_limit,
        machine_detection,
        status: CallStatus::Ringing,
        hangup_cause: None,
        hangup_cause_code: None,
        hangup_source: None,
        error: None,
        duration: 0,
        created_at: Utc::now(),
        answered_at: None,
        ended_at: None,
        script: script.clone(),
        script_source,
        spoken: Vec::new(),
        played: Vec::new(),
        gathers: Vec::new(),
        skipped_elements: Vec::new(),
        exchanges: Vec::new(),
        details_dropped: false,
    });

    tracing::info!(
        call_uuid = %call_uuid,
        from = %crate::mask_number(&from),
        to = %crate::mask_number(&to),
        answer = script.answer,
        digits = ?script.digits,
        "call fired"
    );
    let setup = CallSetup {
        call_uuid,
        from,
        to,
        answer_url,
        answer_method,
        hangup_url,
        hangup_method,
        ring_url,
        ring_method,
        machine_detection: detect_machine,
        machine_detection_url,
        machine_detection_method,
    };
    // The call runs on the application's runtime, not on this actix worker, so it outlives the
    // request and is tracked for a graceful shutdown.
    let call_state = state.clone().into_inner();
    state
        .tasks
        .spawn_on(call::act_out(call_state, setup, script), &state.runtime);

    if let Some(status) = fault.and_then(|fault| fault.status) {
        tracing::info!(call_uuid = %call_uuid, status, "injected make-call fault, call fired anyway");
        return Ok(fault_response(status));
    }
    Ok(HttpResponse::Created().json(serde_json::json!({
        "api_id": Uuid::new_v4(),
        "message": "call fired",
        "request_uuid": call_uuid,
    })))
}

/// The answer of an injected make-call fault, in the API's error shape.
fn fault_response(status: u16) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(serde_json::json!({
        "api_id": Uuid::new_v4(),
        "error": "injected fault",
    }))
}

fn authenticate(
    state: &SimState,
    request: &HttpRequest,
    path_auth_id: &str,
) -> Result<(), MakeCallError> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let authenticated = path_auth_id == state.auth_id
        && header(AUTH_ID_HEADER) == Some(state.auth_id.as_str())
        && header(AUTH_TOKEN_HEADER) == Some(state.auth_token.as_str());
    if authenticated {
        Ok(())
    } else {
        tracing::warn!(auth_id = %path_auth_id, "make-call authentication failed");
        Err(MakeCallError::Unauthorized)
    }
}

fn required_text(field: &'static str, value: Option<String>) -> Result<String, MakeCallError> {
    match value {
        Some(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => Err(MakeCallError::MissingField(field)),
    }
}

fn required_url(field: &'static str, value: Option<String>) -> Result<Url, MakeCallError> {
    let text = required_text(field, value)?;
    parse_http_url(&text).map_err(|_| MakeCallError::InvalidField {
        field,
        reason: "must be an absolute http(s) url".to_owned(),
    })
}

fn optional_url(field: &'static str, value: Option<String>) -> Result<Option<Url>, MakeCallError> {
    match value {
        Some(text) if !text.trim().is_empty() => required_url(field, Some(text)).map(Some),
        _ => Ok(None),
    }
}

fn method_field(field: &'static str, value: Option<String>) -> Result<HttpMethod, MakeCallError> {
    match value {
        None => Ok(HttpMethod::Post),
        Some(text) if text.trim().is_empty() => Ok(HttpMethod::Post),
        Some(text) => HttpMethod::parse(&text).ok_or(MakeCallError::InvalidField {
            field,
            reason: "must be GET or POST".to_owned(),
        }),
    }
}

/// Accepts `time_limit` as a JSON number or a numeric string (SDKs send both).
fn time_limit_field(value: Option<serde_json::Value>) -> Result<Option<u64>, MakeCallError> {
    let seconds = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(number)) => number.as_u64(),
        Some(serde_json::Value::String(text)) => text.trim().parse().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(seconds) if seconds > 0 => Ok(Some(seconds)),
        _ => Err(MakeCallError::InvalidField {
            field: "time_limit",
            reason: "must be a positive number of seconds".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_name_the_field() {
        let error = required_text("to", Some("  ".to_owned())).unwrap_err();
        assert_eq!(error.to_string(), "to is required");
    }

    #[test]
    fn relative_answer_urls_are_refused() {
        let error = required_url("answer_url", Some("/answer".to_owned())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "answer_url must be an absolute http(s) url"
        );
    }

    #[test]
    fn time_limit_accepts_numbers_and_numeric_strings() {
        assert_eq!(
            time_limit_field(Some(serde_json::json!(60))).unwrap(),
            Some(60)
        );
        assert_eq!(
            time_limit_field(Some(serde_json::json!("90"))).unwrap(),
            Some(90)
        );
        assert!(time_limit_field(Some(serde_json::json!(0))).is_err());
        assert!(time_limit_field(Some(serde_json::json!(true))).is_err());
    }
}
