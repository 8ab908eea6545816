//! Customers of the catalog API: people who book or are booked, with their details.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::customers;
use crate::domain::catalog::NewCustomer;

/// A customer row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct CustomerRow {
    /// Customer id.
    pub id: Uuid,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Phone, E.164.
    pub phone_e164: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Language tag.
    pub locale: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Returns the tenant's live customer, or `None`.
pub async fn find_customer(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<CustomerRow>> {
    customers::table
        .filter(customers::id.eq(id))
        .filter(customers::tenant_id.eq(tenant_id))
        .filter(customers::deleted_at.is_null())
        .select(CustomerRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Locks the tenant's live customer for a change; returns whether they exist.
pub async fn lock_customer(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<bool> {
    let found: Option<Uuid> = customers::table
        .filter(customers::id.eq(id))
        .filter(customers::tenant_id.eq(tenant_id))
        .filter(customers::deleted_at.is_null())
        .select(customers::id)
        .for_update()
        .first(connection)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Returns a page of the tenant's live customers in creation order, after `after`, with this
/// E.164 phone and this folded last name when given.
pub async fn list_customers(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone_e164: Option<&str>,
    last_name_folded: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<CustomerRow>> {
    let mut query = customers::table
        .filter(customers::tenant_id.eq(tenant_id))
        .filter(customers::deleted_at.is_null())
        .select(CustomerRow::as_select())
        .order(customers::id)
        .limit(limit)
        .into_boxed();
    if let Some(phone_e164) = phone_e164 {
        query = query.filter(customers::phone_e164.eq(phone_e164));
    }
    if let Some(last_name_folded) = last_name_folded {
        query = query.filter(customers::last_name_folded.eq(last_name_folded));
    }
    if let Some(after) = after {
        query = query.filter(customers::id.gt(after));
    }
    query.load(connection).await
}

/// Inserts a customer.
#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub async fn insert_customer(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    customer: &NewCustomer,
) -> QueryResult<()> {
    diesel::insert_into(customers::table)
        .values((
            customers::id.eq(id),
            customers::tenant_id.eq(tenant_id),
            customers::name.eq(&customer.name),
            customers::first_name.eq(&customer.first_name),
            customers::last_name.eq(&customer.last_name),
            customers::first_name_folded.eq(&customer.first_name_folded),
            customers::last_name_folded.eq(&customer.last_name_folded),
            customers::date_of_birth.eq(customer.date_of_birth),
            customers::phone_e164.eq(&customer.phone_e164),
            customers::email.eq(&customer.email),
            customers::street.eq(&customer.street),
            customers::zip.eq(&customer.zip),
            customers::city.eq(&customer.city),
            customers::country.eq(&customer.country),
            customers::locale.eq(&customer.locale),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Overwrites every detail of a customer.
#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub async fn update_customer(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    customer: &NewCustomer,
) -> QueryResult<()> {
    diesel::update(customers::table.find(id))
        .set((
            customers::name.eq(&customer.name),
            customers::first_name.eq(&customer.first_name),
            customers::last_name.eq(&customer.last_name),
            customers::first_name_folded.eq(&customer.first_name_folded),
            customers::last_name_folded.eq(&customer.last_name_folded),
            customers::date_of_birth.eq(customer.date_of_birth),
            customers::phone_e164.eq(&customer.phone_e164),
            customers::email.eq(&customer.email),
            customers::street.eq(&customer.street),
            customers::zip.eq(&customer.zip),
            customers::city.eq(&customer.city),
            customers::country.eq(&customer.country),
            customers::locale.eq(&customer.locale),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Soft-deletes the customer.
#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub async fn soft_delete_customer(connection: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(customers::table.find(id))
        .set((
            customers::deleted_at.eq(diesel::dsl::now),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}
