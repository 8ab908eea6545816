//! Building the events booking-service publishes, from what it stores.

use attend_events::{to_timestamp, v1};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::appointments::{AppointmentRecord, ReminderRow};

/// Returns the protobuf channel of a stored channel name.
pub fn channel_of(name: &str) -> v1::Channel {
    match name {
        "voice" => v1::Channel::Voice,
        "sms" => v1::Channel::Sms,
        _ => v1::Channel::Unspecified,
    }
}

/// Returns the stored name of an outcome.
pub fn outcome_name(outcome: v1::ReminderOutcomeKind) -> &'static str {
    match outcome {
        v1::ReminderOutcomeKind::Confirmed => "confirmed",
        v1::ReminderOutcomeKind::RescheduleRequested => "reschedule_requested",
        v1::ReminderOutcomeKind::Cancelled => "cancelled",
        v1::ReminderOutcomeKind::NoAnswer => "no_answer",
        v1::ReminderOutcomeKind::Busy => "busy",
        v1::ReminderOutcomeKind::Failed => "failed",
        v1::ReminderOutcomeKind::OptedOut => "opted_out",
        v1::ReminderOutcomeKind::Machine => "machine",
        v1::ReminderOutcomeKind::Expired => "expired",
        v1::ReminderOutcomeKind::Sent => "sent",
        v1::ReminderOutcomeKind::Unparsable => "unparsable",
        v1::ReminderOutcomeKind::Suppressed => "suppressed",
        v1::ReminderOutcomeKind::Unspecified => "unspecified",
    }
}

/// Returns `appointment.scheduled` for a stored appointment and its reminders.
pub fn appointment_scheduled(
    appointment: &AppointmentRecord,
    business_name: &str,
    reminders: &[ReminderRow],
) -> v1::AppointmentScheduled {
    v1::AppointmentScheduled {
        appointment: Some(details(appointment, business_name)),
        reminders: plans(reminders),
    }
}

fn plans(reminders: &[ReminderRow]) -> Vec<v1::ReminderPlan> {
    reminders
        .iter()
        .map(|reminder| v1::ReminderPlan {
            reminder_id: reminder.id.to_string(),
            channel: channel_of(&reminder.channel).into(),
            due_at: Some(to_timestamp(reminder.due_at)),
        })
        .collect()
}

/// Returns `appointment.rescheduled` for a moved appointment and its new pending reminders.
pub fn appointment_rescheduled(
    appointment: &AppointmentRecord,
    business_name: &str,
    pending_reminders: &[ReminderRow],
    previous_start: DateTime<Utc>,
) -> v1::AppointmentRescheduled {
    v1::AppointmentRescheduled {
        appointment: Some(details(appointment, business_name)),
        reminders: plans(pending_reminders),
        previous_start: Some(to_timestamp(previous_start)),
    }
}

/// Returns `appointment.cancelled`.
pub fn appointment_cancelled(
    appointment_id: Uuid,
    tenant_id: Uuid,
    reason: &str,
    cancelled_at: DateTime<Utc>,
) -> v1::AppointmentCancelled {
    v1::AppointmentCancelled {
        appointment_id: appointment_id.to_string(),
        tenant_id: tenant_id.to_string(),
        reason: reason.to_owned(),
        cancelled_at: Some(to_timestamp(cancelled_at)),
    }
}

fn details(appointment: &AppointmentRecord, business_name: &str) -> v1::AppointmentDetails {
    v1::AppointmentDetails {
        appointment_id: appointment.id.to_string(),
        tenant_id: appointment.tenant_id.to_string(),
        business_name: business_name.to_owned(),
        recipient: Some(v1::Recipient {
            name: appointment.customer_name.clone(),
            phone_e164: appointment.customer_phone.clone().unwrap_or_default(),
            locale: appointment.customer_locale.clone(),
            time_zone: appointment.time_zone.clone(),
        }),
        start: Some(to_timestamp(appointment.starts_at)),
        end: Some(to_timestamp(appointment.ends_at)),
        location: appointment.location.clone().unwrap_or_default(),
        participant: String::new(),
        business_time_zone: String::new(),
    }
}
