//! `/v1/products`: a bookable length and price of an appointment type, and what the
//! voicebot must ask to book it.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::{ApiJson, Problem};

use super::pagination::{ListQuery, PageResponse};
use super::{created, in_use};
use crate::auth::Tenant;
use crate::db::catalog::appointment_types::entity_of_live_type;
use crate::db::catalog::products::{self as queries, ProductRecord};
use crate::db::catalog::{Referrer, has_future_appointments};
use crate::domain::catalog::{ProductRequest, conclude, price_json};
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// A product as the API shows it.
#[derive(Debug, Serialize)]
pub struct ProductResponse {
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
    /// Price in `currency`: an integer when whole (45), else with decimals (45.5).
    pub price: serde_json::Number,
    /// ISO 4217 currency of the entity.
    pub currency: String,
    /// What to ask the booker.
    pub booker_info: Vec<String>,
    /// What to ask the participant.
    pub participant_info: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<ProductRecord> for ProductResponse {
    fn from(record: ProductRecord) -> Self {
        Self {
            id: record.id,
            appointment_type_id: record.appointment_type_id,
            name: record.name,
            duration_minutes: record.duration_minutes,
            description: record.description,
            price: price_json(record.price_cents),
            currency: record.currency,
            booker_info: record.booker_info,
            participant_info: record.participant_info,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// Returns the response of the tenant's product, or 404.
async fn load_response(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<ProductResponse, ApiError> {
    let record = queries::find_product(connection, tenant_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("product"))?;
    Ok(record.into())
}

/// `GET /v1/products`: a page of the tenant's products, of one appointment type with
/// `?appointment_type_id=`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn list_products(
    tenant: Tenant,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut query = ListQuery::new(query.into_inner());
    let appointment_type_id = query.uuid("appointment_type_id");
    let page = query.page()?;
    let mut connection = state.pool.get().await?;
    let records = queries::list_products(
        &mut connection,
        tenant.id,
        appointment_type_id,
        page.after,
        page.fetch_limit(),
    )
    .await?;
    let (records, next_cursor) = page.cut(records, |record| record.id);
    let items: Vec<ProductResponse> = records.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(PageResponse { items, next_cursor }))
}

/// `POST /v1/products`: creates a product of one of the tenant's appointment types.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, product_id))]
pub async fn create_product(
    tenant: Tenant,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<ProductRequest>,
) -> Result<HttpResponse, ApiError> {
    let type_id = request.appointment_type_id;
    let mut issues = Issues::default();
    let product = request.validate(&mut issues);
    let product_id = Uuid::now_v7();
    tracing::Span::current().record("product_id", tracing::field::display(product_id));
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            if entity_of_live_type(connection, tenant.id, type_id)
                .await?
                .is_none()
            {
                issues.add(
                    "appointment_type_id",
                    "is not an appointment type of this tenant",
                );
            }
            let product = conclude(product, issues)?;
            queries::insert_product(connection, tenant.id, product_id, &product).await?;
            load_response(connection, tenant.id, product_id).await
        })
        .await?;
    tracing::info!("product created");
    Ok(created(format!("/v1/products/{product_id}"), &response))
}

/// `GET /v1/products/{id}`: one product.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, product_id = %path))]
pub async fn get_product(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = state.pool.get().await?;
    let response = load_response(&mut connection, tenant.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `PUT /v1/products/{id}`: replaces the product; the appointment type must stay the same
/// (bookings name both).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, product_id = %path))]
pub async fn replace_product(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    ApiJson(request): ApiJson<ProductRequest>,
) -> Result<HttpResponse, ApiError> {
    let product_id = path.into_inner();
    let type_id = request.appointment_type_id;
    let mut issues = Issues::default();
    let product = request.validate(&mut issues);
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            let current_type = queries::lock_product(connection, tenant.id, product_id)
                .await?
                .ok_or_else(|| Problem::not_found("product"))?;
            if type_id != current_type {
                issues.add(
                    "appointment_type_id",
                    "cannot change; create the product under the other appointment type instead",
                );
            }
            let product = conclude(product, issues)?;
            queries::update_product(connection, product_id, &product).await?;
            load_response(connection, tenant.id, product_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `DELETE /v1/products/{id}`: soft-deletes the product. Refused with 409 while future
/// appointments need it.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, product_id = %path))]
pub async fn delete_product(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let product_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    connection
        .transaction::<_, ApiError, _>(async |connection| {
            queries::lock_product(connection, tenant.id, product_id)
                .await?
                .ok_or_else(|| Problem::not_found("product"))?;
            if has_future_appointments(connection, Referrer::Product, product_id).await? {
                return Err(in_use("product").into());
            }
            queries::soft_delete_product(connection, product_id).await?;
            Ok(())
        })
        .await?;
    tracing::info!("product deleted");
    Ok(HttpResponse::NoContent().finish())
}
