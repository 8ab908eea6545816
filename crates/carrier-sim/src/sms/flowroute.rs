//! Flowroute's v2.1 messaging API: `POST /flowroute/v2.1/messages`, HTTP Basic auth with the
//! access key and secret key, JSON:API bodies and errors.
//!
//! Flowroute writes numbers as digits without '+' (`12065551234`); the sim accepts both and
//! answers `202 {"data": {"id": "mdr2-<32 hex>", "type": "message", ...}}`. It does not block
//! sends after a STOP: that is Twilio's behaviour, not Flowroute's.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use uuid::Uuid;

use super::store::{Direction, MessageRecord};
use super::{Api, basic_credentials, delivery, parse_e164};
use crate::SimState;
use crate::webhook::parse_http_url;

/// Path of the send API; the adapter's base URL is `http://host:port/flowroute/v2.1`.
pub const MESSAGES_PATH: &str = "/flowroute/v2.1/messages";

/// A refused send request, answered in Flowroute's JSON:API error shape.
#[derive(Debug, thiserror::Error)]
pub enum FlowrouteError {
    /// Missing or wrong Basic credentials.
    #[error("authentication failed: check your access key and secret key")]
    Unauthorized,
    /// Neither `application/vnd.api+json` nor `application/json`.
    #[error("content type must be application/vnd.api+json or application/json")]
    UnsupportedMediaType,
    /// The body is not JSON of the expected shape.
    #[error("invalid json body: {0}")]
    InvalidJson(String),
    /// A field is missing or invalid.
    #[error("{0}")]
    Unprocessable(String),
    /// An injected fault.
    #[error("injected fault")]
    Injected(StatusCode),
}

impl ResponseError for FlowrouteError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Injected(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        HttpResponse::build(status)
            .content_type("application/vnd.api+json")
            .json(serde_json::json!({
                "errors": [{
                    "id": Uuid::new_v4(),
                    "status": status.as_u16().to_string(),
                    "title": status.canonical_reason().unwrap_or("Error"),
                    "detail": self.to_string(),
                }]
            }))
    }
}

/// Registers the send route.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config.route(MESSAGES_PATH, web::post().to(send_message));
}

/// The send body. Fields are optional here so a missing one gets a Flowroute-shaped 422.
#[derive(Debug, Deserialize)]
struct SendRequest {
    to: Option<String>,
    from: Option<String>,
    body: Option<String>,
    dlr_callback: Option<String>,
}

async fn send_message(
    state: web::Data<SimState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, FlowrouteError> {
    let sms = &state.sms;
    let authenticated = basic_credentials(&request).is_some_and(|(user, password)| {
        user == sms.flowroute_access_key && password == sms.flowroute_secret_key
    });
    if !authenticated {
        tracing::warn!("flowroute send authentication failed");
        return Err(FlowrouteError::Unauthorized);
    }
    if !is_json_content_type(&request) {
        return Err(FlowrouteError::UnsupportedMediaType);
    }
    let send: SendRequest = serde_json::from_slice(&body)
        .map_err(|error| FlowrouteError::InvalidJson(error.to_string()))?;
    let to = number_field("to", send.to)?;
    let from = number_field("from", send.from)?;
    let text = match send.body {
        Some(text) if !text.is_empty() => text,
        _ => return Err(FlowrouteError::Unprocessable("body is required".to_owned())),
    };
    let dlr_callback = match send.dlr_callback {
        Some(url) if !url.trim().is_empty() => Some(
            parse_http_url(&url)
                .map_err(|_| {
                    FlowrouteError::Unprocessable(
                        "dlr_callback must be an absolute http(s) url".to_owned(),
                    )
                })?
                .to_string(),
        ),
        _ => None,
    };

    if let Some(fault) = sms.faults.take(Api::Flowroute) {
        if fault.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
        }
        if let Some(status) = fault.status {
            tracing::info!(status, "injected flowroute send fault");
            return Err(FlowrouteError::Injected(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ));
        }
    }

    let mut record = MessageRecord::new(
        delivery::new_message_id(Api::Flowroute),
        Direction::Outbound,
        Api::Flowroute,
        from,
        to,
        text,
    );
    record.status_callback = dlr_callback;
    sms.messages.insert(record.clone());
    tracing::info!(
        message_id = %record.id,
        from = %crate::mask_number(&record.from),
        to = %crate::mask_number(&record.to),
        segments = record.segments,
        "flowroute message accepted"
    );
    delivery::after_send(state.clone().into_inner(), &record);

    Ok(HttpResponse::Accepted()
        .content_type("application/vnd.api+json")
        .json(serde_json::json!({
            "data": {
                "id": record.id,
                "type": "message",
                "links": {"self": format!("{MESSAGES_PATH}/{}", record.id)},
            }
        })))
}

fn is_json_content_type(request: &HttpRequest) -> bool {
    let Some(value) = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/vnd.api+json" || essence == "application/json"
}

fn number_field(field: &str, value: Option<String>) -> Result<String, FlowrouteError> {
    match value {
        Some(text) if !text.trim().is_empty() => parse_e164(&text).ok_or_else(|| {
            FlowrouteError::Unprocessable(format!(
                "{field} must be a phone number such as 12065551234"
            ))
        }),
        _ => Err(FlowrouteError::Unprocessable(format!(
            "{field} is required"
        ))),
    }
}

/// Returns a number as Flowroute writes it: digits only.
pub fn flowroute_number(e164: &str) -> String {
    e164.trim_start_matches('+').to_owned()
}

/// Returns the JSON:API body of an inbound message webhook.
pub fn inbound_body(record: &MessageRecord) -> serde_json::Value {
    serde_json::json!({
        "data": {
            "type": "message",
            "id": record.id,
            "attributes": {
                "to": flowroute_number(&record.to),
                "from": flowroute_number(&record.from),
                "body": record.body,
                "direction": "inbound",
                "is_mms": false,
                "message_encoding": match record.encoding {
                    super::encoding::Encoding::Gsm7 => 0,
                    super::encoding::Encoding::Ucs2 => 8,
                },
                "amount_nanodollars": 0,
                "amount_display": "$0.00",
                "timestamp": record.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }
        }
    })
}

/// Returns the JSON:API body of a delivery receipt (`dlr_callback`) for an outbound message.
/// The shape is the sim's own reading (the message's id and a `status` attribute): Flowroute's
/// receipt format is not documented in carriers.md.
pub fn status_body(record: &MessageRecord, status: &str) -> serde_json::Value {
    serde_json::json!({
        "data": {
            "type": "message",
            "id": record.id,
            "attributes": {
                "status": status,
                "to": flowroute_number(&record.to),
                "from": flowroute_number(&record.from),
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }
        }
    })
}
