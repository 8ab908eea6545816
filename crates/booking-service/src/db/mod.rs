//! Rows and queries of the `booking` schema.

pub mod appointments;
pub mod catalog;
pub mod reminder_calls;
pub mod scheduling;
pub mod schema;
pub mod tenants;
