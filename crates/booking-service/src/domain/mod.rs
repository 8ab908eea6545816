//! Booking rules that do no IO: validating requests into domain values.

pub mod appointment;
pub mod phone;
