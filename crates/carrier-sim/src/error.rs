//! Errors of the sim's own control routes (`/sim/...`).
//!
//! The carrier-shaped make-call API has its own error body; see `api::MakeCallError`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// A failed request to a `/sim/...` route; the body is `{"code": "...", "message": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum SimApiError {
    /// No call with this id is recorded.
    #[error("no call {0:?} is recorded")]
    CallNotFound(String),
    /// The request body is not the expected JSON.
    #[error("invalid json body: {0}")]
    InvalidJson(#[from] serde_json::Error),
    /// The callee script is not acceptable.
    #[error(transparent)]
    InvalidScript(#[from] crate::script::ScriptError),
    /// No message with this id is recorded.
    #[error("no message {0:?} is recorded")]
    MessageNotFound(String),
    /// A query parameter is unknown or has a bad value.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A field of the request body has a bad value.
    #[error("{0}")]
    InvalidRequest(String),
    /// The sim could not finish the request (it is shutting down).
    #[error("{0}")]
    Unavailable(String),
}

impl SimApiError {
    /// Returns the stable snake_case name of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CallNotFound(_) => "call_not_found",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidScript(_) => "invalid_script",
            Self::MessageNotFound(_) => "message_not_found",
            Self::InvalidQuery(_) => "invalid_query",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl ResponseError for SimApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::CallNotFound(_) | Self::MessageNotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidJson(_)
            | Self::InvalidScript(_)
            | Self::InvalidQuery(_)
            | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(serde_json::json!({
            "code": self.code(),
            "message": self.to_string(),
        }))
    }
}
