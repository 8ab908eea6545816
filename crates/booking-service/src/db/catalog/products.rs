//! Products: a bookable length and price of an appointment type.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{appointment_types, entities, products};
use crate::domain::catalog::NewProduct;

/// A product row with the currency of its entity.
#[derive(Debug, Clone, Queryable)]
pub struct ProductRecord {
    /// Product id.
    pub id: Uuid,
    /// Its appointment type.
    pub appointment_type_id: Uuid,
    /// Name.
    pub name: String,
    /// Length in minutes.
    pub duration_minutes: i32,
    /// Description, possibly empty.
    pub description: String,
    /// Price in minor units.
    pub price_cents: i64,
    /// What to ask the booker.
    pub booker_info: Vec<String>,
    /// What to ask the participant.
    pub participant_info: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// ISO 4217 currency of the entity.
    pub currency: String,
}

/// The columns of a [`ProductRecord`], in its order.
type RecordColumns = (
    products::id,
    products::appointment_type_id,
    products::name,
    products::duration_minutes,
    products::description,
    products::price_cents,
    products::booker_info,
    products::participant_info,
    products::created_at,
    products::updated_at,
    entities::currency,
);

const RECORD_COLUMNS: RecordColumns = (
    products::id,
    products::appointment_type_id,
    products::name,
    products::duration_minutes,
    products::description,
    products::price_cents,
    products::booker_info,
    products::participant_info,
    products::created_at,
    products::updated_at,
    entities::currency,
);

/// Returns the tenant's live product with its currency, or `None`.
pub async fn find_product(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<ProductRecord>> {
    products::table
        .inner_join(appointment_types::table.inner_join(entities::table))
        .filter(products::id.eq(id))
        .filter(products::tenant_id.eq(tenant_id))
        .filter(products::deleted_at.is_null())
        .select(RECORD_COLUMNS)
        .first(connection)
        .await
        .optional()
}

/// Locks the tenant's live product for a change; returns its appointment type, or `None`
/// when there is no such product.
pub async fn lock_product(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<Uuid>> {
    products::table
        .filter(products::id.eq(id))
        .filter(products::tenant_id.eq(tenant_id))
        .filter(products::deleted_at.is_null())
        .select(products::appointment_type_id)
        .for_update()
        .first(connection)
        .await
        .optional()
}

/// Returns a page of the tenant's live products in creation order, after `after`, of one
/// appointment type when `appointment_type_id` is given.
pub async fn list_products(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    appointment_type_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<ProductRecord>> {
    let mut query = products::table
        .inner_join(appointment_types::table.inner_join(entities::table))
        .filter(products::tenant_id.eq(tenant_id))
        .filter(products::deleted_at.is_null())
        .select(RECORD_COLUMNS)
        .order(products::id)
        .limit(limit)
        .into_boxed();
    if let Some(appointment_type_id) = appointment_type_id {
        query = query.filter(products::appointment_type_id.eq(appointment_type_id));
    }
    if let Some(after) = after {
        query = query.filter(products::id.gt(after));
    }
    query.load(connection).await
}

/// Inserts a product.
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn insert_product(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    product: &NewProduct,
) -> QueryResult<()> {
    diesel::insert_into(products::table)
        .values((
            products::id.eq(id),
            products::tenant_id.eq(tenant_id),
            products::appointment_type_id.eq(product.appointment_type_id),
            products::name.eq(&product.name),
            products::duration_minutes.eq(product.duration_minutes),
            products::description.eq(&product.description),
            products::price_cents.eq(product.price_cents),
            products::booker_info.eq(&product.booker_info),
            products::participant_info.eq(&product.participant_info),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Overwrites a product (its appointment type never changes).
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn update_product(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    product: &NewProduct,
) -> QueryResult<()> {
    diesel::update(products::table.find(id))
        .set((
            products::name.eq(&product.name),
            products::duration_minutes.eq(product.duration_minutes),
            products::description.eq(&product.description),
            products::price_cents.eq(product.price_cents),
            products::booker_info.eq(&product.booker_info),
            products::participant_info.eq(&product.participant_info),
            products::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Soft-deletes the product.
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn soft_delete_product(connection: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(products::table.find(id))
        .set((
            products::deleted_at.eq(diesel::dsl::now),
            products::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}
