//! The service's error type: every handler failure becomes a problem+json answer.

use actix_web::{HttpResponse, ResponseError};
use attend_runtime::Problem;

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A failure the client caused or can act on, answered as it is.
    #[error("{0}")]
    Problem(#[from] Problem),
    /// Anything else: answered with a fixed 500, the cause chain goes to the logs.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        tracing::warn!(error.message = %error, "no database connection available");
        Self::Problem(Problem::unavailable(
            "the database is busy or unreachable; retry shortly",
        ))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Self::Problem(problem) => problem.status_code(),
            Self::Internal(_) => actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Problem(problem) => problem.error_response(),
            Self::Internal(error) => {
                tracing::error!(error.message = %error, error.cause_chain = ?error, "request failed");
                Problem::internal().error_response()
            }
        }
    }
}
