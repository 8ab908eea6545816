//! `/v1/appointment-types`: what an entity offers, each booked through its products.

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
use crate::db::catalog::appointment_types::{self as queries, AppointmentTypeRow};
use crate::db::catalog::entities::entity_is_live;
use crate::db::catalog::{Referrer, has_future_appointments};
use crate::domain::catalog::{AppointmentTypeRequest, conclude};
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// An appointment type as the API shows it.
#[derive(Debug, Serialize)]
pub struct AppointmentTypeResponse {
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

impl From<AppointmentTypeRow> for AppointmentTypeResponse {
    fn from(row: AppointmentTypeRow) -> Self {
        Self {
            id: row.id,
            entity_id: row.entity_id,
            name: row.name,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Returns the response of the tenant's appointment type, or 404.
async fn load_response(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<AppointmentTypeResponse, ApiError> {
    let row = queries::find_type(connection, tenant_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("appointment type"))?;
    Ok(row.into())
}

/// `GET /v1/appointment-types`: a page of the tenant's appointment types, of one entity with
/// `?entity_id=`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn list_appointment_types(
    tenant: Tenant,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut query = ListQuery::new(query.into_inner());
    let entity_id = query.uuid("entity_id");
    let page = query.page()?;
    let mut connection = state.pool.get().await?;
    let rows = queries::list_types(
        &mut connection,
        tenant.id,
        entity_id,
        page.after,
        page.fetch_limit(),
    )
    .await?;
    let (rows, next_cursor) = page.cut(rows, |row| row.id);
    let items: Vec<AppointmentTypeResponse> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(PageResponse { items, next_cursor }))
}

/// `POST /v1/appointment-types`: creates an appointment type of one of the tenant's entities.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_type_id))]
pub async fn create_appointment_type(
    tenant: Tenant,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<AppointmentTypeRequest>,
) -> Result<HttpResponse, ApiError> {
    let entity_id = request.entity_id;
    let mut issues = Issues::default();
    let appointment_type = request.validate(&mut issues);
    let type_id = Uuid::now_v7();
    tracing::Span::current().record("appointment_type_id", tracing::field::display(type_id));
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            if !entity_is_live(connection, tenant.id, entity_id).await? {
                issues.add("entity_id", "is not an entity of this tenant");
            }
            let appointment_type = conclude(appointment_type, issues)?;
            queries::insert_type(connection, tenant.id, type_id, &appointment_type).await?;
            load_response(connection, tenant.id, type_id).await
        })
        .await?;
    tracing::info!("appointment type created");
    Ok(created(
        format!("/v1/appointment-types/{type_id}"),
        &response,
    ))
}

/// `GET /v1/appointment-types/{id}`: one appointment type.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_type_id = %path))]
pub async fn get_appointment_type(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = state.pool.get().await?;
    let response = load_response(&mut connection, tenant.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `PUT /v1/appointment-types/{id}`: replaces the name and description; the entity must stay
/// the same (bookings name both).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_type_id = %path))]
pub async fn replace_appointment_type(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    ApiJson(request): ApiJson<AppointmentTypeRequest>,
) -> Result<HttpResponse, ApiError> {
    let type_id = path.into_inner();
    let entity_id = request.entity_id;
    let mut issues = Issues::default();
    let appointment_type = request.validate(&mut issues);
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            let current_entity = queries::lock_type(connection, tenant.id, type_id)
                .await?
                .ok_or_else(|| Problem::not_found("appointment type"))?;
            if entity_id != current_entity {
                issues.add(
                    "entity_id",
                    "cannot change; create the appointment type at the other entity instead",
                );
            }
            let appointment_type = conclude(appointment_type, issues)?;
            queries::update_type(connection, type_id, &appointment_type).await?;
            load_response(connection, tenant.id, type_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `DELETE /v1/appointment-types/{id}`: soft-deletes the type; agents stop serving it.
/// Refused with 409 while future appointments need it or it still has products.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_type_id = %path))]
pub async fn delete_appointment_type(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let type_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    connection
        .transaction::<_, ApiError, _>(async |connection| {
            queries::lock_type(connection, tenant.id, type_id)
                .await?
                .ok_or_else(|| Problem::not_found("appointment type"))?;
            if has_future_appointments(connection, Referrer::AppointmentType, type_id).await? {
                return Err(in_use("appointment type").into());
            }
            // Products of a deleted type would be bookable under nothing: delete them first.
            if queries::has_live_products(connection, type_id).await? {
                return Err(Problem::conflict(
                    "in_use",
                    "the appointment type still has products; delete them first",
                )
                .into());
            }
            queries::soft_delete_type(connection, type_id).await?;
            Ok(())
        })
        .await?;
    tracing::info!("appointment type deleted");
    Ok(HttpResponse::NoContent().finish())
}
