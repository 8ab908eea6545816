//! Rows and queries of the `booking` schema.

pub mod appointments;
pub mod catalog;
pub mod reminder_calls;
pub mod reminder_outcomes;
pub mod reminder_policies;
pub mod scheduling;
pub mod schema;
pub mod tenant_settings;
pub mod tenants;
