//! Booking rules that do no IO: validating requests into domain values, slots, names.

pub mod appointment;
pub mod catalog;
pub mod names;
pub mod offset;
pub mod phone;
pub mod reminder_policy;
pub mod reminder_settings;
pub mod slot_id;
pub mod slots;
pub mod validation;
