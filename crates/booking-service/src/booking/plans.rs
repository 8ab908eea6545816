//! Reminder plans of free-form appointments (the native `POST /v1/appointments` and the
//! `/events/reminders` dialect): the type's policy, overridden by what the request gave, and
//! the eligibility check of requests that demand it. Slot bookings plan in
//! [`super::commands`] from their cached schedule.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::cache::CalendarCache;
use crate::db::appointments::CatalogLinks;
use crate::db::reminder_policies;
use crate::db::scheduling::EntityRow;
use crate::db::schema::{appointment_type_policies, appointment_types, entities};
use crate::domain::appointment::{Channel, PlannedReminder};
use crate::domain::offset::Offset;
use crate::domain::reminder_policy::{MessageKind, PlanChannel, PlannedMessage, ReminderPolicy};

/// What a request asks of the plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    /// The appointment type whose policy applies.
    pub appointment_type_id: Option<Uuid>,
    /// Reminders that replace the policy's (`Some(&[])` means none).
    pub reminders: Option<&'a [PlannedReminder]>,
    /// A follow-up that replaces the policy's.
    pub follow_up: Option<Offset>,
    /// Start.
    pub start: DateTime<Utc>,
    /// End; follow-ups count from it.
    pub end: DateTime<Utc>,
    /// The recipient's zone; calendar days of offsets are counted in it.
    pub zone: Tz,
    /// The recipient's language, which picks the texts.
    pub locale: &'a str,
}

/// A plan and where it came from.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Reminders and follow-up, as planned (due times already past included: they fire at
    /// once while the appointment is ahead).
    pub messages: Vec<PlannedMessage>,
    /// The entity and type named, for the appointment's links.
    pub catalog: CatalogLinks,
    /// The type's policy, when it has one (shared with the cache).
    pub policy: Option<Arc<ReminderPolicy>>,
    /// The live entity of the type, when a type was named: what the booking's event names
    /// as the business.
    pub entity: Option<EntityRow>,
}

/// An appointment type as a free-form booking plans with it.
#[derive(Debug, Clone)]
pub struct TypePlanning {
    /// The type's entity.
    pub entity_id: Uuid,
    /// The type's reminder policy, when it has one.
    pub policy: Option<Arc<ReminderPolicy>>,
    /// The entity's row, when it is live.
    pub entity: Option<EntityRow>,
}

/// Returns the plan for `request`, or `None` when it names an appointment type the tenant
/// does not have. The type comes from `cache` when it holds one read since this process's
/// last catalog edit (an edit through another replica shows within the cache's time to
/// live, as for slot bookings' schedules).
pub async fn free_form_plan(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    request: PlanRequest<'_>,
    cache: Option<&CalendarCache>,
) -> QueryResult<Option<Plan>> {
    let (catalog, policy, entity) = match request.appointment_type_id {
        Some(type_id) => {
            let Some(planning) = type_planning(connection, tenant_id, type_id, cache).await? else {
                return Ok(None);
            };
            let catalog = CatalogLinks {
                entity_id: Some(planning.entity_id),
                appointment_type_id: Some(type_id),
                ..CatalogLinks::default()
            };
            (catalog, planning.policy.clone(), planning.entity.clone())
        }
        None => (CatalogLinks::default(), None, None),
    };
    let default_texts;
    let texts: &ReminderPolicy = match &policy {
        Some(policy) => policy,
        None => {
            default_texts = ReminderPolicy::default();
            &default_texts
        }
    };
    let mut messages: Vec<PlannedMessage> = match request.reminders {
        Some(reminders) => reminders
            .iter()
            .map(|reminder| {
                let channel = plan_channel(reminder.channel);
                PlannedMessage {
                    channel,
                    kind: MessageKind::Reminder,
                    due_at: reminder.due_at,
                    template: texts.text_for(channel, MessageKind::Reminder, request.locale),
                    fallback_channel: None,
                    fallback_template: None,
                }
            })
            .collect(),
        None => texts
            .plan(request.start, request.end, request.zone, request.locale)
            .into_iter()
            .filter(|message| message.kind == MessageKind::Reminder)
            .collect(),
    };
    let follow_up = match request.follow_up {
        Some(offset) => Some(offset.after(request.end, request.zone)),
        None => texts
            .follow_up
            .as_ref()
            .and_then(|follow_up| Offset::parse(&follow_up.offset).ok())
            .map(|offset| offset.after(request.end, request.zone)),
    };
    if let Some(due_at) = follow_up {
        messages.push(texts.follow_up_at(due_at, request.locale));
    }
    Ok(Some(Plan {
        messages,
        catalog,
        policy,
        entity,
    }))
}

/// Returns the tenant's live appointment type as a free-form booking plans with it, from
/// `cache` when current; `None` when there is no such type (never cached: a type created
/// through another replica is bookable at once).
async fn type_planning(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    type_id: Uuid,
    cache: Option<&CalendarCache>,
) -> QueryResult<Option<Arc<TypePlanning>>> {
    if let Some(planning) = cache.and_then(|cache| cache.appointment_type(tenant_id, type_id)) {
        return Ok(Some(planning));
    }
    // Read before the data: an edit committed meanwhile makes this entry stale at once.
    let stamp = cache.map(|cache| cache.stamp(tenant_id));
    let Some((entity_id, stored_policy, entity)) =
        type_policy_and_entity(connection, tenant_id, type_id).await?
    else {
        return Ok(None);
    };
    let planning = Arc::new(TypePlanning {
        entity_id,
        policy: stored_policy
            .map(reminder_policies::parse)
            .transpose()?
            .map(Arc::new),
        entity,
    });
    if let (Some(cache), Some(stamp)) = (cache, stamp) {
        cache.remember_appointment_type(tenant_id, type_id, stamp, Arc::clone(&planning));
    }
    Ok(Some(planning))
}

/// Reads the tenant's live appointment type's entity id, its stored policy and its live
/// entity in one statement (three before: a booking is bound by statements per second);
/// `None` when there is no such type.
async fn type_policy_and_entity(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    type_id: Uuid,
) -> QueryResult<Option<(Uuid, Option<serde_json::Value>, Option<EntityRow>)>> {
    appointment_types::table
        .left_join(
            appointment_type_policies::table
                .on(appointment_type_policies::appointment_type_id.eq(appointment_types::id)),
        )
        .left_join(
            entities::table.on(entities::id
                .eq(appointment_types::entity_id)
                .and(entities::tenant_id.eq(tenant_id))
                .and(entities::deleted_at.is_null())),
        )
        .filter(appointment_types::id.eq(type_id))
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::deleted_at.is_null())
        .select((
            appointment_types::entity_id,
            appointment_type_policies::policy.nullable(),
            Option::<EntityRow>::as_select(),
        ))
        .first(connection)
        .await
        .optional()
}

fn plan_channel(channel: Channel) -> PlanChannel {
    match channel {
        Channel::Voice => PlanChannel::Voice,
        Channel::Sms => PlanChannel::Sms,
    }
}

/// Returns the channels of `messages` the subscriber at `phone_e164` opted out of, in
/// order; empty when they are eligible for every message.
pub async fn ineligible_channels(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone_e164: &str,
    messages: &[PlannedMessage],
) -> QueryResult<Vec<String>> {
    let opted_out =
        reminder_policies::opted_out_channels(connection, tenant_id, phone_e164).await?;
    Ok(opted_out
        .into_iter()
        .filter(|channel| {
            messages
                .iter()
                .any(|message| message.channel.as_str() == channel)
        })
        .collect())
}
