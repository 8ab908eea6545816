//! booking-service API tests against real Postgres and RabbitMQ.

// Test helpers fail the test by panicking; that is what they are for.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure"
)]

mod admin;
mod appointments;
mod catalog;
mod event_reminders;
mod helpers;
mod native_sms;
mod reminder_attempts;
mod reminder_calls;
mod reminder_events;
mod reminder_policies;
mod reminder_sms;
mod reminders_follow;
mod seed;
mod settings;
mod slot_bookings;
mod voicebot;
