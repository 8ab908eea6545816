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

/// Who an appointment's events speak for, beyond what its row holds: the business, and the
/// agent of a slot booking. Callers pass what they already hold, so building an event reads
/// nothing.
#[derive(Debug, Clone, Copy)]
pub struct Business<'a> {
    /// Name written in reminders: the entity's for slot bookings, else the tenant's.
    pub name: &'a str,
    /// IANA zone of the business entity; `None` for free-form appointments, which have no
    /// entity and use their own zone.
    pub time_zone: Option<&'a str>,
    /// Display name (first and last name) of the agent whose time a slot booking holds.
    pub agent_name: Option<&'a str>,
}

impl<'a> Business<'a> {
    /// Returns the business of a free-form appointment: the tenant, with no entity or agent.
    pub fn free_form(tenant_name: &'a str) -> Self {
        Self {
            name: tenant_name,
            time_zone: None,
            agent_name: None,
        }
    }
}

/// Returns an agent's display name, "First Last".
pub fn agent_display_name(first_name: &str, last_name: &str) -> String {
    format!("{} {}", first_name.trim(), last_name.trim())
        .trim()
        .to_owned()
}

/// Returns `appointment.scheduled` for a stored appointment and its reminders.
pub fn appointment_scheduled(
    appointment: &AppointmentRecord,
    business: Business<'_>,
    reminders: &[ReminderRow],
) -> v1::AppointmentScheduled {
    v1::AppointmentScheduled {
        appointment: Some(details(appointment, business)),
        reminders: plans(reminders),
    }
}

fn plans(reminders: &[ReminderRow]) -> Vec<v1::ReminderPlan> {
    reminders.iter().map(plan_of).collect()
}

fn plan_of(reminder: &ReminderRow) -> v1::ReminderPlan {
    v1::ReminderPlan {
        reminder_id: reminder.id.to_string(),
        channel: channel_of(&reminder.channel).into(),
        due_at: Some(to_timestamp(reminder.due_at)),
        kind: kind_of(&reminder.kind).into(),
        template: reminder.template.clone().unwrap_or_default(),
        fallback_channel: reminder
            .fallback_channel
            .as_deref()
            .map_or(v1::Channel::Unspecified, channel_of)
            .into(),
        fallback_template: reminder.fallback_template.clone().unwrap_or_default(),
    }
}

/// Returns the contract's kind for a stored kind name.
pub fn kind_of(name: &str) -> v1::ReminderKind {
    match name {
        "follow_up" => v1::ReminderKind::FollowUp,
        "no_show" => v1::ReminderKind::NoShow,
        _ => v1::ReminderKind::Reminder,
    }
}

/// Returns `appointment.no_show` for an appointment marked a no-show at `recorded_at`, with
/// the no-show message to send when there is one.
pub fn appointment_no_show(
    appointment: &AppointmentRecord,
    business: Business<'_>,
    message: Option<&ReminderRow>,
    recorded_at: DateTime<Utc>,
) -> v1::AppointmentNoShow {
    v1::AppointmentNoShow {
        appointment: Some(details(appointment, business)),
        message: message.map(plan_of),
        recorded_at: Some(to_timestamp(recorded_at)),
    }
}

/// Returns `appointment.rescheduled` for a moved appointment and its new pending reminders.
pub fn appointment_rescheduled(
    appointment: &AppointmentRecord,
    business: Business<'_>,
    pending_reminders: &[ReminderRow],
    previous_start: DateTime<Utc>,
) -> v1::AppointmentRescheduled {
    v1::AppointmentRescheduled {
        appointment: Some(details(appointment, business)),
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

fn details(appointment: &AppointmentRecord, business: Business<'_>) -> v1::AppointmentDetails {
    // A slot booking is with its agent; a free-form appointment with whoever its text names.
    let participant = business
        .agent_name
        .filter(|name| !name.is_empty())
        .or(appointment.participant.as_deref())
        .unwrap_or_default();
    v1::AppointmentDetails {
        appointment_id: appointment.id.to_string(),
        tenant_id: appointment.tenant_id.to_string(),
        business_name: business.name.to_owned(),
        recipient: Some(v1::Recipient {
            name: appointment.customer_name.clone(),
            phone_e164: appointment.customer_phone.clone().unwrap_or_default(),
            locale: appointment.customer_locale.clone(),
            time_zone: appointment.time_zone.clone(),
            first_name: appointment.customer_first_name.clone(),
            last_name: appointment.customer_last_name.clone(),
        }),
        start: Some(to_timestamp(appointment.starts_at)),
        end: Some(to_timestamp(appointment.ends_at)),
        location: appointment.location.clone().unwrap_or_default(),
        participant: participant.to_owned(),
        business_time_zone: business
            .time_zone
            .unwrap_or(&appointment.time_zone)
            .to_owned(),
        metadata: metadata_of(&appointment.metadata),
    }
}

/// Returns the string values of a metadata object (the API stores only strings).
fn metadata_of(metadata: &serde_json::Value) -> std::collections::HashMap<String, String> {
    metadata
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::appointments::CatalogLinks;

    fn record(participant: Option<&str>) -> AppointmentRecord {
        let start = "2026-12-01T09:00:00Z".parse().unwrap();
        AppointmentRecord {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            starts_at: start,
            ends_at: start + chrono::Duration::minutes(30),
            time_zone: "Etc/GMT+8".to_owned(),
            location: None,
            participant: participant.map(str::to_owned),
            status: "scheduled".to_owned(),
            status_changed_at: start,
            created_at: start,
            customer_id: Uuid::nil(),
            customer_name: String::new(),
            customer_phone: Some("+12223334444".to_owned()),
            customer_locale: "en".to_owned(),
            catalog: CatalogLinks::default(),
            metadata: serde_json::json!({}),
            customer_first_name: String::new(),
            customer_last_name: String::new(),
        }
    }

    #[test]
    fn a_slot_booking_is_with_its_agent_in_its_entitys_zone() {
        let business = Business {
            name: "Praxis",
            time_zone: Some("Europe/Berlin"),
            agent_name: Some("Max Mustermann"),
        };
        let booked = details(&record(None), business);
        assert_eq!(booked.participant, "Max Mustermann");
        assert_eq!(booked.business_time_zone, "Europe/Berlin");
        assert_eq!(booked.business_name, "Praxis");
    }

    #[test]
    fn a_free_form_appointment_is_with_its_participant_text_in_its_own_zone() {
        let with_text = details(&record(Some("Joe")), Business::free_form("Garage"));
        assert_eq!(with_text.participant, "Joe");
        assert_eq!(with_text.business_time_zone, "Etc/GMT+8");
        let without = details(&record(None), Business::free_form("Garage"));
        assert_eq!(without.participant, "");
    }

    #[test]
    fn agent_names_read_first_then_last() {
        assert_eq!(agent_display_name(" Max ", "Mustermann"), "Max Mustermann");
        assert_eq!(agent_display_name("", "Meyer"), "Meyer");
    }
}
