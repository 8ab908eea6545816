//! reminder-scheduler: stores reminder jobs planned by appointment events and fires each one
//! exactly once at its due time as `reminder.due.voice` or `reminder.due.sms`.
//!
//! - [`consume`]: appointment events plan, replace and drop jobs; reminder outcomes close them;
//! - [`dispatcher`]: claims due jobs with `FOR UPDATE SKIP LOCKED` and writes `reminder.due`
//!   through the outbox in the claiming transaction;
//! - [`jobs`] and [`appointments`]: the queries;
//! - [`routes`]: the read-only operator API;
//! - [`startup`]: [`Application`], shared by the binary and the tests.

pub mod appointments;
pub mod config;
pub mod consume;
pub mod db;
pub mod dispatcher;
pub mod jobs;
pub mod policy;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::{Application, SCHEMA, SERVICE_NAME};
