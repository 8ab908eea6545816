//! Voice carriers behind one small trait, so the dialer does not care which carrier places a
//! call. What matters to the dialer is whether a failed request proves that no call exists.

pub mod vobiz;

use futures_util::future::BoxFuture;
use uuid::Uuid;

pub use vobiz::VobizCarrier;

/// One call to place.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The attempt, for logs and the carrier's request metadata.
    pub attempt_id: Uuid,
    /// The number to call, E.164.
    pub to: String,
    /// Where the carrier fetches the call flow once answered.
    pub answer_url: String,
    /// Where the carrier reports the end of the call.
    pub hangup_url: String,
    /// Where the carrier reports that a machine answered.
    pub machine_detection_url: String,
}

/// A call the carrier accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedCall {
    /// The carrier's id for the call (Vobiz `request_uuid` = `CallUUID`), if it sent one.
    pub provider_ref: Option<String>,
}

/// Why a call was not (or may not have been) placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceCallError {
    /// No call was placed, and a later try may work: the carrier was unreachable or asked us
    /// to slow down (429).
    #[error("carrier unavailable: {0}")]
    Retryable(String),
    /// No call was placed, and trying again will not help (400, 401, 402, …).
    #[error("carrier refused the call: {0}")]
    Refused(String),
    /// The call may exist: the request timed out, or the carrier answered 5xx or garbage.
    /// Sending the request again could ring the recipient twice.
    #[error("carrier outcome unknown: {0}")]
    OutcomeUnknown(String),
}

/// A carrier that places outbound calls.
pub trait VoiceCarrier: Send + Sync + 'static {
    /// Returns the carrier's name, for logs.
    fn name(&self) -> &'static str;

    /// Asks the carrier to place `request`.
    fn place_call<'a>(
        &'a self,
        request: &'a CallRequest,
    ) -> BoxFuture<'a, Result<PlacedCall, PlaceCallError>>;
}
