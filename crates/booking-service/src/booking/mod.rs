//! Booking against the catalog: finding free slots, booking one, moving a booking to
//! another slot and cancelling it. Every command runs inside the caller's transaction and
//! writes its event through the outbox there, so the reminder plan follows the booking.
//! The HTTP dialects (native `/v1` and the voicebot webhook) are thin layers over this.

pub mod commands;
pub mod customers;
pub mod error;
pub mod idempotency;
pub mod plans;
pub mod slots;

pub use error::{BookingError, Role, Subject};
