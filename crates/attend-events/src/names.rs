//! Exchange names, routing keys and event types: the addressing half of the contract.

use crate::v1;

/// The durable topic exchange every event is published to.
pub const EVENTS_EXCHANGE: &str = "attend.events";
/// The exchange poison messages are dead-lettered to; each queue's DLQ is bound to it.
pub const DEAD_LETTER_EXCHANGE: &str = "attend.dlx";
/// The AMQP `content_type` of every event body.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/protobuf";
/// The CloudEvents spec version carried in `cloudEvents:specversion`.
pub const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";

/// Routing keys on [`EVENTS_EXCHANGE`].
pub mod routing_keys {
    /// [`crate::v1::AppointmentScheduled`].
    pub const APPOINTMENT_SCHEDULED: &str = "appointment.scheduled";
    /// [`crate::v1::AppointmentRescheduled`].
    pub const APPOINTMENT_RESCHEDULED: &str = "appointment.rescheduled";
    /// [`crate::v1::AppointmentCancelled`].
    pub const APPOINTMENT_CANCELLED: &str = "appointment.cancelled";
    /// [`crate::v1::AppointmentNoShow`].
    pub const APPOINTMENT_NO_SHOW: &str = "appointment.no_show";
    /// [`crate::v1::ReminderDue`] on the voice channel.
    pub const REMINDER_DUE_VOICE: &str = "reminder.due.voice";
    /// [`crate::v1::ReminderDue`] on the SMS channel.
    pub const REMINDER_DUE_SMS: &str = "reminder.due.sms";
    /// [`crate::v1::ReminderOutcome`].
    pub const REMINDER_OUTCOME: &str = "reminder.outcome";
    /// [`crate::v1::TenantSettingsChanged`].
    pub const TENANT_SETTINGS_CHANGED: &str = "tenant.settings_changed";
    /// [`crate::v1::SubscriberOptedOut`].
    pub const SUBSCRIBER_OPTED_OUT: &str = "subscriber.opted_out";
    /// [`crate::v1::SubscriberOptedIn`].
    pub const SUBSCRIBER_OPTED_IN: &str = "subscriber.opted_in";
    /// [`crate::v1::TenantApiKeyIssued`].
    pub const TENANT_API_KEY_ISSUED: &str = "tenant.api_key_issued";
    /// [`crate::v1::TenantApiKeyRevoked`].
    pub const TENANT_API_KEY_REVOKED: &str = "tenant.api_key_revoked";
}

/// A message that can be published as an event.
pub trait Event: prost::Message + Default {
    /// The CloudEvents `type`, versioned, e.g. `attend.appointment.scheduled.v1`.
    const TYPE: &'static str;

    /// Returns the routing key this event is published with.
    fn routing_key(&self) -> &'static str;
}

impl Event for v1::AppointmentScheduled {
    const TYPE: &'static str = "attend.appointment.scheduled.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::APPOINTMENT_SCHEDULED
    }
}

impl Event for v1::AppointmentRescheduled {
    const TYPE: &'static str = "attend.appointment.rescheduled.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::APPOINTMENT_RESCHEDULED
    }
}

impl Event for v1::AppointmentCancelled {
    const TYPE: &'static str = "attend.appointment.cancelled.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::APPOINTMENT_CANCELLED
    }
}

impl Event for v1::AppointmentNoShow {
    const TYPE: &'static str = "attend.appointment.no_show.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::APPOINTMENT_NO_SHOW
    }
}

impl Event for v1::ReminderDue {
    const TYPE: &'static str = "attend.reminder.due.v1";
    fn routing_key(&self) -> &'static str {
        match self.channel() {
            v1::Channel::Sms => routing_keys::REMINDER_DUE_SMS,
            // An unspecified channel is a producer bug; voice is the channel every tenant has.
            v1::Channel::Voice | v1::Channel::Unspecified => routing_keys::REMINDER_DUE_VOICE,
        }
    }
}

impl Event for v1::ReminderOutcome {
    const TYPE: &'static str = "attend.reminder.outcome.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::REMINDER_OUTCOME
    }
}

impl Event for v1::TenantSettingsChanged {
    const TYPE: &'static str = "attend.tenant.settings_changed.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::TENANT_SETTINGS_CHANGED
    }
}

impl Event for v1::SubscriberOptedOut {
    const TYPE: &'static str = "attend.subscriber.opted_out.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::SUBSCRIBER_OPTED_OUT
    }
}

impl Event for v1::SubscriberOptedIn {
    const TYPE: &'static str = "attend.subscriber.opted_in.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::SUBSCRIBER_OPTED_IN
    }
}

impl Event for v1::TenantApiKeyIssued {
    const TYPE: &'static str = "attend.tenant.api_key_issued.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::TENANT_API_KEY_ISSUED
    }
}

impl Event for v1::TenantApiKeyRevoked {
    const TYPE: &'static str = "attend.tenant.api_key_revoked.v1";
    fn routing_key(&self) -> &'static str {
        routing_keys::TENANT_API_KEY_REVOKED
    }
}
