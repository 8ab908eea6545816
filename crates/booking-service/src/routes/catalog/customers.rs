//! `/v1/customers`: the people who book or are booked, with their contact details.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::{ApiJson, Problem};

use super::pagination::{ListQuery, PageResponse};
use super::{created, in_use};
use crate::auth::Tenant;
use crate::db::catalog::customers::{self as queries, CustomerRow};
use crate::db::catalog::{Referrer, has_future_appointments};
use crate::domain::catalog::{CustomerRequest, conclude};
use crate::domain::names;
use crate::domain::phone::normalize_e164;
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// A customer as the API shows them.
#[derive(Debug, Serialize)]
pub struct CustomerResponse {
    /// Customer id.
    pub id: Uuid,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<NaiveDate>,
    /// Phone, E.164.
    pub phone: Option<String>,
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

impl From<CustomerRow> for CustomerResponse {
    fn from(row: CustomerRow) -> Self {
        Self {
            id: row.id,
            first_name: row.first_name,
            last_name: row.last_name,
            date_of_birth: row.date_of_birth,
            phone: row.phone_e164,
            email: row.email,
            street: row.street,
            zip: row.zip,
            city: row.city,
            country: row.country,
            locale: row.locale,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Returns the response of the tenant's customer, or 404.
async fn load_response(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<CustomerResponse, ApiError> {
    let row = queries::find_customer(connection, tenant_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("customer"))?;
    Ok(row.into())
}

/// `GET /v1/customers`: a page of the tenant's customers, with one phone number with
/// `?phone=` (read like a stored one) and one last name with `?last_name=` (case and accents
/// ignored).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn list_customers(
    tenant: Tenant,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut query = ListQuery::new(query.into_inner());
    let phone =
        query
            .text("phone")
            .and_then(|raw| match normalize_e164(&raw, &tenant.default_region) {
                Ok(phone) => Some(phone),
                Err(message) => {
                    query.issue("phone", message);
                    None
                }
            });
    let last_name = query.text("last_name").map(|name| names::fold(&name));
    let page = query.page()?;
    let mut connection = state.pool.get().await?;
    let rows = queries::list_customers(
        &mut connection,
        tenant.id,
        phone.as_deref(),
        last_name.as_deref(),
        page.after,
        page.fetch_limit(),
    )
    .await?;
    let (rows, next_cursor) = page.cut(rows, |row| row.id);
    let items: Vec<CustomerResponse> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(PageResponse { items, next_cursor }))
}

/// `POST /v1/customers`: creates a customer.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, customer_id))]
pub async fn create_customer(
    tenant: Tenant,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<CustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut issues = Issues::default();
    let customer = conclude(
        request.validate(&tenant.default_region, Utc::now().date_naive(), &mut issues),
        issues,
    )?;
    let customer_id = Uuid::now_v7();
    tracing::Span::current().record("customer_id", tracing::field::display(customer_id));
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            queries::insert_customer(connection, tenant.id, customer_id, &customer).await?;
            load_response(connection, tenant.id, customer_id).await
        })
        .await?;
    tracing::info!("customer created");
    Ok(created(format!("/v1/customers/{customer_id}"), &response))
}

/// `GET /v1/customers/{id}`: one customer.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, customer_id = %path))]
pub async fn get_customer(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = state.pool.get().await?;
    let response = load_response(&mut connection, tenant.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `PUT /v1/customers/{id}`: replaces every detail of the customer; absent ones are cleared.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, customer_id = %path))]
pub async fn replace_customer(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    ApiJson(request): ApiJson<CustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let mut issues = Issues::default();
    let customer = request.validate(&tenant.default_region, Utc::now().date_naive(), &mut issues);
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            if !queries::lock_customer(connection, tenant.id, customer_id).await? {
                return Err(Problem::not_found("customer").into());
            }
            let customer = conclude(customer, issues)?;
            queries::update_customer(connection, customer_id, &customer).await?;
            load_response(connection, tenant.id, customer_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `DELETE /v1/customers/{id}`: soft-deletes the customer. Refused with 409 while future
/// appointments are theirs or booked by them.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, customer_id = %path))]
pub async fn delete_customer(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    connection
        .transaction::<_, ApiError, _>(async |connection| {
            if !queries::lock_customer(connection, tenant.id, customer_id).await? {
                return Err(Problem::not_found("customer").into());
            }
            if has_future_appointments(connection, Referrer::Customer, customer_id).await? {
                return Err(in_use("customer").into());
            }
            queries::soft_delete_customer(connection, customer_id).await?;
            Ok(())
        })
        .await?;
    tracing::info!("customer deleted");
    Ok(HttpResponse::NoContent().finish())
}
