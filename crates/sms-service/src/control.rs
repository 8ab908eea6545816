//! The `sms.control` consumer: everything sms-service learns besides due reminders, on one
//! queue (they are rare, and one queue is one less for the broker to keep):
//! - `tenant.settings_changed`: the tenant's SMS settings ([`crate::settings`]);
//! - `appointment.cancelled`: its queued reminder texts are cancelled and a late
//!   `reminder.due` for it sends nothing;
//! - `subscriber.opted_out` / `subscriber.opted_in` from the other channels (voice-gateway's
//!   opt-out key): the number's SMS consent follows. sms-service's own events come back here
//!   too and are skipped: applied late, after a START that followed the STOP, they would undo
//!   the START.

use attend_events::{Event, routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent, mask};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::conversations::{self, ReminderStatus};
use crate::db::schema::cancelled_appointments;
use crate::reminders::parse_id;
use attend_runtime::phone;

use crate::{consent, outbound, settings};

/// The queue's name, without the AMQP prefix.
pub const QUEUE: &str = "sms.control";

/// Returns the queue's spec.
pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(
        QUEUE,
        vec![
            routing_keys::TENANT_SETTINGS_CHANGED,
            routing_keys::APPOINTMENT_CANCELLED,
            routing_keys::SUBSCRIBER_OPTED_OUT,
            routing_keys::SUBSCRIBER_OPTED_IN,
        ],
    )
}

/// Applies the control events.
pub struct ControlHandler;

impl ControlHandler {
    async fn apply(
        connection: &mut AsyncPgConnection,
        event: &IncomingEvent,
    ) -> Result<(), HandlerError> {
        match event.event_type.as_str() {
            v1::TenantSettingsChanged::TYPE => settings::apply(connection, &event.decode()?).await,
            v1::AppointmentCancelled::TYPE => {
                appointment_cancelled(connection, &event.decode()?).await
            }
            v1::SubscriberOptedOut::TYPE => opted_out(connection, &event.decode()?).await,
            v1::SubscriberOptedIn::TYPE => opted_in(connection, &event.decode()?).await,
            other => Err(HandlerError::permanent(format!(
                "unexpected event type {other:?} on {QUEUE}"
            ))),
        }
    }
}

impl EventHandler for ControlHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(Self::apply(connection, event))
    }
}

async fn appointment_cancelled(
    connection: &mut AsyncPgConnection,
    cancelled: &v1::AppointmentCancelled,
) -> Result<(), HandlerError> {
    let appointment_id = parse_id("appointment_id", &cancelled.appointment_id)?;
    let tenant_id = parse_id("tenant_id", &cancelled.tenant_id)?;
    diesel::insert_into(cancelled_appointments::table)
        .values((
            cancelled_appointments::appointment_id.eq(appointment_id),
            cancelled_appointments::tenant_id.eq(tenant_id),
        ))
        .on_conflict_do_nothing()
        .execute(connection)
        .await?;
    let queued = conversations::queued_of_appointment(connection, appointment_id).await?;
    for reminder in &queued {
        outbound::cancel_queued_of(connection, reminder.id, "appointment cancelled").await?;
        conversations::set_status(connection, reminder.id, ReminderStatus::Cancelled).await?;
    }
    if !queued.is_empty() {
        tracing::info!(%appointment_id, cancelled = queued.len(), "queued reminder texts of a cancelled appointment cancelled");
    }
    Ok(())
}

/// Returns the tenant and the E.164 number a consent event is about, or `None` when it does
/// not concern SMS.
fn consent_subject(
    tenant_id: &str,
    phone_e164: &str,
    channels: &[i32],
    source: &str,
) -> Result<Option<(Uuid, String)>, HandlerError> {
    if [consent::source::SMS_KEYWORD, consent::source::CARRIER].contains(&source) {
        return Ok(None);
    }
    let tenant_id = parse_id("tenant_id", tenant_id)?;
    let covers_sms = channels.is_empty()
        || channels.contains(&i32::from(v1::Channel::Sms))
        || channels.contains(&i32::from(v1::Channel::Unspecified));
    if !covers_sms {
        return Ok(None);
    }
    let phone = phone::normalize(phone_e164)
        .ok_or_else(|| HandlerError::permanent("phone_e164 is not a phone number"))?;
    Ok(Some((tenant_id, phone)))
}

async fn opted_out(
    connection: &mut AsyncPgConnection,
    event: &v1::SubscriberOptedOut,
) -> Result<(), HandlerError> {
    let Some((tenant_id, phone)) = consent_subject(
        &event.tenant_id,
        &event.phone_e164,
        &event.channels,
        &event.source,
    )?
    else {
        return Ok(());
    };
    let new = consent::record_opt_out(connection, tenant_id, &phone, &event.source, &event.keyword)
        .await?;
    let suppressed = consent::suppress_queued(connection, tenant_id, &phone).await?;
    if new || suppressed > 0 {
        tracing::info!(%tenant_id, to = %mask::number(&phone), source = %event.source, suppressed, "opted out of texts");
    }
    Ok(())
}

async fn opted_in(
    connection: &mut AsyncPgConnection,
    event: &v1::SubscriberOptedIn,
) -> Result<(), HandlerError> {
    let Some((tenant_id, phone)) = consent_subject(
        &event.tenant_id,
        &event.phone_e164,
        &event.channels,
        &event.source,
    )?
    else {
        return Ok(());
    };
    if consent::record_opt_in(connection, tenant_id, &phone).await? {
        tracing::info!(%tenant_id, to = %mask::number(&phone), source = %event.source, "opted back in to texts");
    }
    Ok(())
}
