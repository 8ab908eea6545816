//! Reminder policies of appointment types, and the consent copy used for eligibility.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{appointment_type_policies, subscriber_opt_outs};
use crate::domain::reminder_policy::ReminderPolicy;

/// A stored policy the code cannot read back; the API validated it, so it is a bug.
#[derive(Debug, thiserror::Error)]
#[error("appointment_type_policies.policy holds an unreadable value: {0}")]
struct Unreadable(serde_json::Error);

/// Returns the policy of appointment type `type_id`, `None` when it has none.
pub async fn find(
    connection: &mut AsyncPgConnection,
    type_id: Uuid,
) -> QueryResult<Option<(ReminderPolicy, DateTime<Utc>)>> {
    let row: Option<(serde_json::Value, DateTime<Utc>)> = appointment_type_policies::table
        .find(type_id)
        .select((
            appointment_type_policies::policy,
            appointment_type_policies::updated_at,
        ))
        .first(connection)
        .await
        .optional()?;
    row.map(|(policy, updated_at)| parse(policy).map(|policy| (policy, updated_at)))
        .transpose()
}

/// Reads a policy as stored in `appointment_type_policies.policy`.
pub fn parse(stored: serde_json::Value) -> QueryResult<ReminderPolicy> {
    serde_json::from_value(stored)
        .map_err(|error| diesel::result::Error::DeserializationError(Box::new(Unreadable(error))))
}

/// Stores `policy` as the policy of appointment type `type_id`, replacing any.
pub async fn replace(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    type_id: Uuid,
    policy: &ReminderPolicy,
) -> QueryResult<DateTime<Utc>> {
    let json = serde_json::to_value(policy)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    diesel::insert_into(appointment_type_policies::table)
        .values((
            appointment_type_policies::appointment_type_id.eq(type_id),
            appointment_type_policies::tenant_id.eq(tenant_id),
            appointment_type_policies::policy.eq(&json),
        ))
        .on_conflict(appointment_type_policies::appointment_type_id)
        .do_update()
        .set((
            appointment_type_policies::policy.eq(excluded(appointment_type_policies::policy)),
            appointment_type_policies::updated_at.eq(diesel::dsl::now),
        ))
        .returning(appointment_type_policies::updated_at)
        .get_result(connection)
        .await
}

/// Removes the policy of appointment type `type_id`; returns whether it had one.
pub async fn delete(connection: &mut AsyncPgConnection, type_id: Uuid) -> QueryResult<bool> {
    let deleted = diesel::delete(appointment_type_policies::table.find(type_id))
        .execute(connection)
        .await?;
    Ok(deleted > 0)
}

/// Returns the channels (`voice`, `sms`) the tenant's subscriber at `phone_e164` opted out of.
pub async fn opted_out_channels(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone_e164: &str,
) -> QueryResult<Vec<String>> {
    subscriber_opt_outs::table
        .filter(subscriber_opt_outs::tenant_id.eq(tenant_id))
        .filter(subscriber_opt_outs::phone_e164.eq(phone_e164))
        .select(subscriber_opt_outs::channel)
        .order(subscriber_opt_outs::channel)
        .load(connection)
        .await
}

/// Records that the subscriber opted out of `channels`.
pub async fn record_opt_out(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone_e164: &str,
    channels: &[&str],
    source: &str,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    let rows: Vec<_> = channels
        .iter()
        .map(|channel| {
            (
                subscriber_opt_outs::tenant_id.eq(tenant_id),
                subscriber_opt_outs::phone_e164.eq(phone_e164),
                subscriber_opt_outs::channel.eq(*channel),
                subscriber_opt_outs::source.eq(source),
                subscriber_opt_outs::opted_out_at.eq(at),
            )
        })
        .collect();
    diesel::insert_into(subscriber_opt_outs::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(connection)
        .await?;
    Ok(())
}

/// Records that the subscriber opted back in to `channels`.
pub async fn record_opt_in(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone_e164: &str,
    channels: &[&str],
) -> QueryResult<()> {
    diesel::delete(
        subscriber_opt_outs::table
            .filter(subscriber_opt_outs::tenant_id.eq(tenant_id))
            .filter(subscriber_opt_outs::phone_e164.eq(phone_e164))
            .filter(subscriber_opt_outs::channel.eq_any(channels)),
    )
    .execute(connection)
    .await?;
    Ok(())
}
