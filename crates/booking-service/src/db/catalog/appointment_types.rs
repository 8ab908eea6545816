//! Appointment types: what an entity offers, each booked through its products.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{agent_appointment_types, appointment_types, products};
use crate::domain::catalog::NewAppointmentType;

/// An appointment type row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = appointment_types, check_for_backend(diesel::pg::Pg))]
pub struct AppointmentTypeRow {
    /// Type id.
    pub id: Uuid,
    /// The entity offering it.
    pub entity_id: Uuid,
    /// Name.
    pub name: String,
    /// Description, possibly empty.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Returns the tenant's live appointment type, or `None`.
pub async fn find_type(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<AppointmentTypeRow>> {
    appointment_types::table
        .filter(appointment_types::id.eq(id))
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::deleted_at.is_null())
        .select(AppointmentTypeRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Locks the tenant's live appointment type for a change; returns its entity id, or `None`
/// when there is no such type.
pub async fn lock_type(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<Uuid>> {
    appointment_types::table
        .filter(appointment_types::id.eq(id))
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::deleted_at.is_null())
        .select(appointment_types::entity_id)
        .for_update()
        .first(connection)
        .await
        .optional()
}

/// Returns the entity of the tenant's live appointment type, or `None`, holding a share lock
/// on the type until the transaction ends so that it cannot be deleted meanwhile.
pub async fn entity_of_live_type(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<Uuid>> {
    appointment_types::table
        .filter(appointment_types::id.eq(id))
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::deleted_at.is_null())
        .select(appointment_types::entity_id)
        .for_share()
        .first(connection)
        .await
        .optional()
}

/// Returns which of `ids` are live appointment types of the tenant's `entity_id`, holding a
/// share lock on them until the transaction ends.
pub async fn live_types_of_entity(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<Uuid>> {
    appointment_types::table
        .filter(appointment_types::id.eq_any(ids))
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::entity_id.eq(entity_id))
        .filter(appointment_types::deleted_at.is_null())
        .select(appointment_types::id)
        .for_share()
        .load(connection)
        .await
}

/// Returns a page of the tenant's live appointment types in creation order, after `after`,
/// of one entity when `entity_id` is given.
pub async fn list_types(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<AppointmentTypeRow>> {
    let mut query = appointment_types::table
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::deleted_at.is_null())
        .select(AppointmentTypeRow::as_select())
        .order(appointment_types::id)
        .limit(limit)
        .into_boxed();
    if let Some(entity_id) = entity_id {
        query = query.filter(appointment_types::entity_id.eq(entity_id));
    }
    if let Some(after) = after {
        query = query.filter(appointment_types::id.gt(after));
    }
    query.load(connection).await
}

/// Inserts an appointment type.
#[tracing::instrument(skip_all, fields(appointment_type_id = %id))]
pub async fn insert_type(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    appointment_type: &NewAppointmentType,
) -> QueryResult<()> {
    diesel::insert_into(appointment_types::table)
        .values((
            appointment_types::id.eq(id),
            appointment_types::tenant_id.eq(tenant_id),
            appointment_types::entity_id.eq(appointment_type.entity_id),
            appointment_types::name.eq(&appointment_type.name),
            appointment_types::description.eq(&appointment_type.description),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Overwrites an appointment type's name and description (its entity never changes).
#[tracing::instrument(skip_all, fields(appointment_type_id = %id))]
pub async fn update_type(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    appointment_type: &NewAppointmentType,
) -> QueryResult<()> {
    diesel::update(appointment_types::table.find(id))
        .set((
            appointment_types::name.eq(&appointment_type.name),
            appointment_types::description.eq(&appointment_type.description),
            appointment_types::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Returns whether the appointment type still has live products.
pub async fn has_live_products(connection: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        products::table
            .filter(products::appointment_type_id.eq(id))
            .filter(products::deleted_at.is_null())
            .select(products::id),
    ))
    .get_result(connection)
    .await
}

/// Soft-deletes the appointment type; agents stop serving it.
#[tracing::instrument(skip_all, fields(appointment_type_id = %id))]
pub async fn soft_delete_type(connection: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(appointment_types::table.find(id))
        .set((
            appointment_types::deleted_at.eq(diesel::dsl::now),
            appointment_types::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    diesel::delete(
        agent_appointment_types::table.filter(agent_appointment_types::appointment_type_id.eq(id)),
    )
    .execute(connection)
    .await?;
    Ok(())
}
