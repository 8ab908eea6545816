//! What a booking command can fail with, before a dialect names the fields its own way.

/// Which record a lookup failed to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A business entity.
    Entity,
    /// An appointment type.
    AppointmentType,
    /// A product.
    Product,
    /// An agent.
    Agent,
    /// A booking (appointment).
    Booking,
}

/// Whose details a booking carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person who books.
    Booker,
    /// The person the appointment is for.
    Participant,
}

/// A booking command's failure.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// The record does not exist for this tenant (or was deleted).
    #[error("unknown {0:?}")]
    NotFound(Subject),
    /// The product belongs to another appointment type than the one named.
    #[error("the product is not offered for this appointment type")]
    ProductNotOfType,
    /// The agent named does not serve the appointment type.
    #[error("the agent does not serve this appointment type")]
    AgentNotServingType,
    /// The slot id was issued for another appointment type.
    #[error("the slot was offered for another appointment type")]
    SlotOfOtherType,
    /// The slot is no longer offered: in the past, or outside the agent's hours now.
    #[error("the slot is no longer offered: {0}")]
    SlotUnavailable(&'static str),
    /// Another booking holds the time.
    #[error("the slot has just been booked by someone else")]
    SlotTaken,
    /// The `start` sent does not match the slot's start.
    #[error("start does not match the slot")]
    StartMismatch,
    /// The old slot named is not where the booking is.
    #[error("the booking is not in the old slot named")]
    OldSlotMismatch,
    /// The booking is cancelled.
    #[error("the booking is cancelled")]
    BookingCancelled,
    /// The booking has already started.
    #[error("the booking has already started")]
    BookingStarted,
    /// A no-show was recorded before the appointment started.
    #[error("the appointment has not started yet")]
    NotStarted,
    /// The appointment was marked a no-show.
    #[error("the appointment was marked a no-show")]
    NoShow,
    /// The booking was not made from a slot, so it has no product to move.
    #[error("the booking was not made from a slot")]
    NotSlotBooking,
    /// Fields the product requires are missing, as (role, info name).
    #[error("required information is missing")]
    MissingInfo(Vec<(Role, &'static str)>),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}
