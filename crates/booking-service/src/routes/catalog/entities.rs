//! `/v1/entities`: the businesses calls are routed to, with their SIP ids and default
//! reminders.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::FutureExt;
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::{ApiJson, Problem};

use super::pagination::{ListQuery, PageResponse};
use super::{created, in_use};
use crate::auth::Tenant;
use crate::db::catalog::entities::{self as queries, EntityRow};
use crate::db::catalog::{Referrer, has_future_appointments};
use crate::domain::catalog::{EntityRequest, NewEntity, conclude, format_offset};
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// An entity as the API shows it.
#[derive(Debug, Serialize)]
pub struct EntityResponse {
    /// Entity id.
    pub id: Uuid,
    /// Business name.
    pub name: String,
    /// IANA zone of the premises.
    pub time_zone: String,
    /// Language of customers booking by phone.
    pub locale: String,
    /// ISO 4217 currency of product prices.
    pub currency: String,
    /// Step between slot starts; each product's duration when null.
    pub slot_interval_minutes: Option<i32>,
    /// SIP ids routed here, alphabetically.
    pub sip_ids: Vec<String>,
    /// Default reminders, in list order.
    pub reminders: Vec<ReminderDefaultResponse>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A default reminder as the API shows it.
#[derive(Debug, Serialize)]
pub struct ReminderDefaultResponse {
    /// voice | sms.
    pub channel: String,
    /// ISO 8601 duration before the start, in minutes (`PT1440M`).
    pub offset: String,
    /// The same, as a number of minutes.
    pub offset_minutes: i32,
}

/// Returns the responses of `rows`, with their SIP ids and reminders loaded in two queries.
async fn to_responses(
    connection: &mut AsyncPgConnection,
    rows: Vec<EntityRow>,
) -> Result<Vec<EntityResponse>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut sip_ids: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (entity_id, sip_id) in queries::sip_ids_of(connection, &ids).await? {
        sip_ids.entry(entity_id).or_default().push(sip_id);
    }
    let mut reminders: HashMap<Uuid, Vec<ReminderDefaultResponse>> = HashMap::new();
    for reminder in queries::reminders_of(connection, &ids).await? {
        reminders
            .entry(reminder.entity_id)
            .or_default()
            .push(ReminderDefaultResponse {
                channel: reminder.channel,
                offset: format_offset(reminder.offset_seconds / 60),
                offset_minutes: reminder.offset_seconds / 60,
            });
    }
    Ok(rows
        .into_iter()
        .map(|row| EntityResponse {
            sip_ids: sip_ids.remove(&row.id).unwrap_or_default(),
            reminders: reminders.remove(&row.id).unwrap_or_default(),
            id: row.id,
            name: row.name,
            time_zone: row.time_zone,
            locale: row.locale,
            currency: row.currency,
            slot_interval_minutes: row.slot_interval_minutes,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect())
}

/// Returns the response of the tenant's entity, or 404.
async fn load_response(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<EntityResponse, ApiError> {
    let row = queries::find_entity(connection, tenant_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("entity"))?;
    to_responses(connection, vec![row])
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the entity just read has no response").into())
}

/// Refuses SIP ids another entity of the tenant holds: 409 naming each as `sip_ids[i]`.
async fn ensure_sip_ids_free(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Uuid,
    entity: &NewEntity,
) -> Result<(), ApiError> {
    let held =
        queries::sip_ids_held_elsewhere(connection, tenant_id, entity_id, &entity.sip_ids).await?;
    if held.is_empty() {
        return Ok(());
    }
    let mut problem = Problem::conflict(
        "sip_id_taken",
        "a SIP id already routes calls to another entity; remove it there first",
    );
    for (index, sip_id) in entity.sip_ids.iter().enumerate() {
        if let Some((_, holder)) = held.iter().find(|(taken, _)| taken == sip_id) {
            problem = problem.with_field(
                format!("sip_ids[{index}]"),
                format!("already routes calls to entity {holder}"),
            );
        }
    }
    Err(problem.into())
}

/// Stores the SIP ids and reminders of an entity whose row is written.
async fn store_children(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Uuid,
    entity: &NewEntity,
) -> Result<(), ApiError> {
    queries::replace_sip_ids(connection, tenant_id, entity_id, &entity.sip_ids)
        .await
        .map_err(|error| match error {
            // Another request took the SIP id between the check and the insert.
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::from(Problem::conflict(
                    "sip_id_taken",
                    "a SIP id was just taken by another entity; retry to see which",
                ))
            }
            other => other.into(),
        })?;
    queries::replace_reminders(connection, entity_id, entity).await?;
    Ok(())
}

/// `GET /v1/entities`: a page of the tenant's entities.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn list_entities(
    tenant: Tenant,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = ListQuery::new(query.into_inner()).page()?;
    let mut connection = state.pool.get().await?;
    // The entities and their SIP ids and numbers are separate statements: one snapshot.
    let (items, next_cursor) = crate::db::read_snapshot(&mut connection, |connection| {
        async move {
            let rows =
                queries::list_entities(connection, tenant.id, page.after, page.fetch_limit())
                    .await?;
            let (rows, next_cursor) = page.cut(rows, |row| row.id);
            Ok::<_, ApiError>((to_responses(connection, rows).await?, next_cursor))
        }
        .boxed()
    })
    .await?;
    Ok(HttpResponse::Ok().json(PageResponse { items, next_cursor }))
}

/// `POST /v1/entities`: creates an entity with its SIP ids and default reminders.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, entity_id))]
pub async fn create_entity(
    tenant: Tenant,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<EntityRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut issues = Issues::default();
    let entity = conclude(request.validate(&mut issues), issues)?;
    let entity_id = Uuid::now_v7();
    tracing::Span::current().record("entity_id", tracing::field::display(entity_id));
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            ensure_sip_ids_free(connection, tenant.id, entity_id, &entity).await?;
            queries::insert_entity(connection, tenant.id, entity_id, &entity).await?;
            store_children(connection, tenant.id, entity_id, &entity).await?;
            load_response(connection, tenant.id, entity_id).await
        })
        .await?;
    tracing::info!("entity created");
    Ok(created(format!("/v1/entities/{entity_id}"), &response))
}

/// `GET /v1/entities/{id}`: one entity.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, entity_id = %path))]
pub async fn get_entity(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = state.pool.get().await?;
    let id = path.into_inner();
    let response = crate::db::read_snapshot(&mut connection, |connection| {
        load_response(connection, tenant.id, id).boxed()
    })
    .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `PUT /v1/entities/{id}`: replaces the entity, its SIP ids and its default reminders.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, entity_id = %path))]
pub async fn replace_entity(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    ApiJson(request): ApiJson<EntityRequest>,
) -> Result<HttpResponse, ApiError> {
    let entity_id = path.into_inner();
    let mut issues = Issues::default();
    let entity = request.validate(&mut issues);
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            // An unknown id is 404 whatever the body, as for every other PUT.
            if !queries::lock_entity(connection, tenant.id, entity_id).await? {
                return Err(Problem::not_found("entity").into());
            }
            let entity = conclude(entity, issues)?;
            ensure_sip_ids_free(connection, tenant.id, entity_id, &entity).await?;
            queries::update_entity(connection, entity_id, &entity).await?;
            store_children(connection, tenant.id, entity_id, &entity).await?;
            load_response(connection, tenant.id, entity_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `DELETE /v1/entities/{id}`: soft-deletes the entity and frees its SIP ids. Refused with
/// 409 while future appointments need it or it still has appointment types or agents.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, entity_id = %path))]
pub async fn delete_entity(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let entity_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    connection
        .transaction::<_, ApiError, _>(async |connection| {
            if !queries::lock_entity(connection, tenant.id, entity_id).await? {
                return Err(Problem::not_found("entity").into());
            }
            if has_future_appointments(connection, Referrer::Entity, entity_id).await? {
                return Err(in_use("entity").into());
            }
            // Children of a deleted entity would be bookable under nothing: delete them first.
            if queries::has_live_children(connection, entity_id).await? {
                return Err(Problem::conflict(
                    "in_use",
                    "the entity still has appointment types or agents; delete them first",
                )
                .into());
            }
            queries::soft_delete_entity(connection, entity_id).await?;
            Ok(())
        })
        .await?;
    tracing::info!("entity deleted");
    Ok(HttpResponse::NoContent().finish())
}
