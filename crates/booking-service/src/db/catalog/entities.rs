//! Business entities, the SIP ids that route calls to them and their default reminders.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{
    agents, appointment_types, entities, entity_reminder_defaults, entity_sip_ids,
};
use crate::domain::catalog::NewEntity;

/// An entity row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = entities, check_for_backend(diesel::pg::Pg))]
pub struct EntityRow {
    /// Entity id.
    pub id: Uuid,
    /// Business name.
    pub name: String,
    /// IANA zone.
    pub time_zone: String,
    /// Language tag.
    pub locale: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Step between slot starts.
    pub slot_interval_minutes: Option<i32>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A default reminder row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = entity_reminder_defaults, check_for_backend(diesel::pg::Pg))]
pub struct ReminderDefaultRow {
    /// The entity.
    pub entity_id: Uuid,
    /// Index in the entity's list.
    pub position: i16,
    /// voice | sms.
    pub channel: String,
    /// Seconds before the start (the API speaks whole minutes).
    pub offset_seconds: i32,
}

/// Returns the tenant's live entity, or `None`.
pub async fn find_entity(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<EntityRow>> {
    entities::table
        .filter(entities::id.eq(id))
        .filter(entities::tenant_id.eq(tenant_id))
        .filter(entities::deleted_at.is_null())
        .select(EntityRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Locks the tenant's live entity for a change; returns whether it exists.
pub async fn lock_entity(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<bool> {
    let found: Option<Uuid> = entities::table
        .filter(entities::id.eq(id))
        .filter(entities::tenant_id.eq(tenant_id))
        .filter(entities::deleted_at.is_null())
        .select(entities::id)
        .for_update()
        .first(connection)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Returns whether the tenant's entity is live, holding a share lock on it until the
/// transaction ends so that it cannot be deleted while a child is being attached.
pub async fn entity_is_live(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<bool> {
    let found: Option<Uuid> = entities::table
        .filter(entities::id.eq(id))
        .filter(entities::tenant_id.eq(tenant_id))
        .filter(entities::deleted_at.is_null())
        .select(entities::id)
        .for_share()
        .first(connection)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Returns a page of the tenant's live entities in creation order, after `after`.
pub async fn list_entities(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<EntityRow>> {
    let mut query = entities::table
        .filter(entities::tenant_id.eq(tenant_id))
        .filter(entities::deleted_at.is_null())
        .select(EntityRow::as_select())
        .order(entities::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(entities::id.gt(after));
    }
    query.load(connection).await
}

/// Returns the SIP ids of these entities as `(entity_id, sip_id)`, by SIP id.
pub async fn sip_ids_of(
    connection: &mut AsyncPgConnection,
    entity_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, String)>> {
    entity_sip_ids::table
        .filter(entity_sip_ids::entity_id.eq_any(entity_ids))
        .select((entity_sip_ids::entity_id, entity_sip_ids::sip_id))
        .order(entity_sip_ids::sip_id)
        .load(connection)
        .await
}

/// Returns the default reminders of these entities, in list order.
pub async fn reminders_of(
    connection: &mut AsyncPgConnection,
    entity_ids: &[Uuid],
) -> QueryResult<Vec<ReminderDefaultRow>> {
    entity_reminder_defaults::table
        .filter(entity_reminder_defaults::entity_id.eq_any(entity_ids))
        .select(ReminderDefaultRow::as_select())
        .order((
            entity_reminder_defaults::entity_id,
            entity_reminder_defaults::position,
        ))
        .load(connection)
        .await
}

/// Returns which of `sip_ids` another entity of the tenant holds, as `(sip_id, entity_id)`.
pub async fn sip_ids_held_elsewhere(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Uuid,
    sip_ids: &[String],
) -> QueryResult<Vec<(String, Uuid)>> {
    entity_sip_ids::table
        .filter(entity_sip_ids::tenant_id.eq(tenant_id))
        .filter(entity_sip_ids::sip_id.eq_any(sip_ids))
        .filter(entity_sip_ids::entity_id.ne(entity_id))
        .select((entity_sip_ids::sip_id, entity_sip_ids::entity_id))
        .load(connection)
        .await
}

/// Inserts an entity without its SIP ids and reminders.
#[tracing::instrument(skip_all, fields(entity_id = %id))]
pub async fn insert_entity(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    entity: &NewEntity,
) -> QueryResult<()> {
    diesel::insert_into(entities::table)
        .values((
            entities::id.eq(id),
            entities::tenant_id.eq(tenant_id),
            entities::name.eq(&entity.name),
            entities::time_zone.eq(entity.time_zone.name()),
            entities::locale.eq(&entity.locale),
            entities::currency.eq(&entity.currency),
            entities::slot_interval_minutes.eq(entity.slot_interval_minutes),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Overwrites an entity's own columns.
#[tracing::instrument(skip_all, fields(entity_id = %id))]
pub async fn update_entity(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    entity: &NewEntity,
) -> QueryResult<()> {
    diesel::update(entities::table.find(id))
        .set((
            entities::name.eq(&entity.name),
            entities::time_zone.eq(entity.time_zone.name()),
            entities::locale.eq(&entity.locale),
            entities::currency.eq(&entity.currency),
            entities::slot_interval_minutes.eq(entity.slot_interval_minutes),
            entities::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Replaces the entity's SIP ids. A SIP id another entity took meanwhile fails with a unique
/// violation.
pub async fn replace_sip_ids(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Uuid,
    sip_ids: &[String],
) -> QueryResult<()> {
    diesel::delete(entity_sip_ids::table.filter(entity_sip_ids::entity_id.eq(entity_id)))
        .execute(connection)
        .await?;
    if sip_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = sip_ids
        .iter()
        .map(|sip_id| {
            (
                entity_sip_ids::tenant_id.eq(tenant_id),
                entity_sip_ids::sip_id.eq(sip_id),
                entity_sip_ids::entity_id.eq(entity_id),
            )
        })
        .collect();
    diesel::insert_into(entity_sip_ids::table)
        .values(rows)
        .execute(connection)
        .await?;
    Ok(())
}

/// Replaces the entity's default reminders; `position` is the index in `entity.reminders`.
pub async fn replace_reminders(
    connection: &mut AsyncPgConnection,
    entity_id: Uuid,
    entity: &NewEntity,
) -> QueryResult<()> {
    diesel::delete(
        entity_reminder_defaults::table.filter(entity_reminder_defaults::entity_id.eq(entity_id)),
    )
    .execute(connection)
    .await?;
    let mut rows = Vec::with_capacity(entity.reminders.len());
    for (index, reminder) in entity.reminders.iter().enumerate() {
        // Validation caps the list at ten, so the index always fits.
        let position = i16::try_from(index)
            .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
        rows.push((
            entity_reminder_defaults::entity_id.eq(entity_id),
            entity_reminder_defaults::position.eq(position),
            entity_reminder_defaults::channel.eq(&reminder.channel),
            entity_reminder_defaults::offset_seconds.eq(reminder.offset_minutes * 60),
        ));
    }
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(entity_reminder_defaults::table)
        .values(rows)
        .execute(connection)
        .await?;
    Ok(())
}

/// Returns whether the entity still has live appointment types or agents.
pub async fn has_live_children(
    connection: &mut AsyncPgConnection,
    entity_id: Uuid,
) -> QueryResult<bool> {
    let types = appointment_types::table
        .filter(appointment_types::entity_id.eq(entity_id))
        .filter(appointment_types::deleted_at.is_null())
        .select(appointment_types::id);
    let staff = agents::table
        .filter(agents::entity_id.eq(entity_id))
        .filter(agents::deleted_at.is_null())
        .select(agents::id);
    diesel::select(diesel::dsl::exists(types).or(diesel::dsl::exists(staff)))
        .get_result(connection)
        .await
}

/// Soft-deletes the entity and frees its SIP ids for other entities.
#[tracing::instrument(skip_all, fields(entity_id = %id))]
pub async fn soft_delete_entity(connection: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(entities::table.find(id))
        .set((
            entities::deleted_at.eq(diesel::dsl::now),
            entities::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    diesel::delete(entity_sip_ids::table.filter(entity_sip_ids::entity_id.eq(id)))
        .execute(connection)
        .await?;
    Ok(())
}
