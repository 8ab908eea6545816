//! Rows and queries of `reminder_calls`, the records of the `/appointments` dialect.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{entities, reminder_calls};

/// A stored reminder call.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reminder_calls, check_for_backend(diesel::pg::Pg))]
pub struct ReminderCallRow {
    /// The dialect's appointment id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Callee, E.164.
    pub phone_e164: String,
    /// Callee's name, spoken.
    pub name: String,
    /// Free-text date, spoken.
    pub date_text: String,
    /// Free-text time, spoken.
    pub time_text: String,
    /// One of the dialect's statuses.
    pub status: String,
    /// The reminder id of the call's `reminder.due.voice`.
    pub reminder_id: Uuid,
    /// The carrier's CallUUID once an outcome named it.
    pub call_uuid: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the call was handed to the voice gateway.
    pub called_at: Option<DateTime<Utc>>,
    /// When the last outcome happened.
    pub outcome_at: Option<DateTime<Utc>>,
}

/// A reminder call to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = reminder_calls)]
pub struct NewReminderCall<'a> {
    /// The dialect's appointment id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Callee, E.164.
    pub phone_e164: &'a str,
    /// Callee's name.
    pub name: &'a str,
    /// Free-text date.
    pub date_text: &'a str,
    /// Free-text time.
    pub time_text: &'a str,
    /// Initial status.
    pub status: &'a str,
    /// Reminder id of its `reminder.due.voice`.
    pub reminder_id: Uuid,
    /// Creation time, microsecond precision (what Postgres keeps).
    pub created_at: DateTime<Utc>,
    /// When the call was handed to the voice gateway.
    pub called_at: Option<DateTime<Utc>>,
}

/// Inserts one reminder call.
#[tracing::instrument(skip_all, fields(reminder_call_id = %call.id))]
pub async fn insert(
    connection: &mut AsyncPgConnection,
    call: &NewReminderCall<'_>,
) -> QueryResult<()> {
    diesel::insert_into(reminder_calls::table)
        .values(call)
        .execute(connection)
        .await?;
    Ok(())
}

/// Returns the tenant's reminder call `id`, if it has one.
#[tracing::instrument(skip_all, fields(reminder_call_id = %id))]
pub async fn find(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<ReminderCallRow>> {
    reminder_calls::table
        .filter(reminder_calls::tenant_id.eq(tenant_id))
        .filter(reminder_calls::id.eq(id))
        .select(ReminderCallRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Returns the reminder call a reminder id belongs to, locked for update, if any.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id))]
pub async fn find_by_reminder_for_update(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
) -> QueryResult<Option<ReminderCallRow>> {
    reminder_calls::table
        .filter(reminder_calls::reminder_id.eq(reminder_id))
        .select(ReminderCallRow::as_select())
        .for_update()
        .first(connection)
        .await
        .optional()
}

/// Returns the tenant's reminder calls, newest first, optionally of one status.
#[tracing::instrument(skip_all)]
pub async fn list(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    status: Option<&str>,
) -> QueryResult<Vec<ReminderCallRow>> {
    let mut query = reminder_calls::table
        .filter(reminder_calls::tenant_id.eq(tenant_id))
        .select(ReminderCallRow::as_select())
        .order((reminder_calls::created_at.desc(), reminder_calls::id.desc()))
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(reminder_calls::status.eq(status.to_owned()));
    }
    query.load(connection).await
}

/// Returns how many reminder calls the tenant has in each status (statuses with none absent).
#[tracing::instrument(skip_all)]
pub async fn count_by_status(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Vec<(String, i64)>> {
    reminder_calls::table
        .filter(reminder_calls::tenant_id.eq(tenant_id))
        .group_by(reminder_calls::status)
        .select((reminder_calls::status, diesel::dsl::count_star()))
        .load(connection)
        .await
}

/// Moves the tenant's call `id` from `from` to `to`; returns whether it moved.
#[tracing::instrument(skip_all, fields(reminder_call_id = %id))]
pub async fn transition(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    from: &str,
    to: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(reminder_calls::table)
        .filter(reminder_calls::tenant_id.eq(tenant_id))
        .filter(reminder_calls::id.eq(id))
        .filter(reminder_calls::status.eq(from))
        .set(reminder_calls::status.eq(to))
        .execute(connection)
        .await?;
    Ok(updated == 1)
}

/// Records an outcome on call `id`: its new status, when it happened and, when the outcome
/// names one, the carrier's call id.
#[tracing::instrument(skip_all, fields(reminder_call_id = %id))]
pub async fn record_outcome(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    status: &str,
    outcome_at: DateTime<Utc>,
    call_uuid: Option<&str>,
) -> QueryResult<()> {
    let target = reminder_calls::table.find(id);
    match call_uuid {
        Some(call_uuid) => {
            diesel::update(target)
                .set((
                    reminder_calls::status.eq(status),
                    reminder_calls::outcome_at.eq(outcome_at),
                    reminder_calls::call_uuid.eq(call_uuid),
                ))
                .execute(connection)
                .await?;
        }
        None => {
            diesel::update(target)
                .set((
                    reminder_calls::status.eq(status),
                    reminder_calls::outcome_at.eq(outcome_at),
                ))
                .execute(connection)
                .await?;
        }
    }
    Ok(())
}

/// Returns the IANA zone of the tenant's oldest live entity, if it has any.
#[tracing::instrument(skip_all)]
pub async fn tenant_time_zone(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<String>> {
    entities::table
        .filter(entities::tenant_id.eq(tenant_id))
        .filter(entities::deleted_at.is_null())
        .order((entities::created_at.asc(), entities::id.asc()))
        .select(entities::time_zone)
        .first(connection)
        .await
        .optional()
}
