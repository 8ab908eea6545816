//! booking-service: tenants, API keys, customers, appointments and the reminders planned for
//! them. It is where CRMs and voicebots book, and where reminder answers change appointments.

pub mod auth;
pub mod booking;
pub mod cache;
pub mod config;
pub mod consume;
pub mod db;
pub mod domain;
pub mod error;
pub mod event_reminders;
pub mod events;
pub mod reminder_calls;
pub mod routes;
pub mod sms_reminders;
pub mod startup;

pub use config::Config;
pub use startup::Application;
