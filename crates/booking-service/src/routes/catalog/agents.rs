//! `/v1/agents`: the people whose time is booked, the appointment types they serve, their
//! weekly hours, and dated exceptions to those hours.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::FutureExt;
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::{ApiJson, Problem};

use super::pagination::{ListQuery, PageResponse};
use super::{created, in_use};
use crate::auth::Tenant;
use crate::db::catalog::agents::{self as queries, AgentRow, ScheduleExceptionRow};
use crate::db::catalog::appointment_types::live_types_of_entity;
use crate::db::catalog::entities::entity_is_live;
use crate::db::catalog::{Referrer, has_future_appointments};
use crate::domain::catalog::{AgentRequest, ScheduleExceptionRequest, conclude, format_clock};
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// An agent as the API shows them.
#[derive(Debug, Serialize)]
pub struct AgentResponse {
    /// Agent id.
    pub id: Uuid,
    /// The entity they work at.
    pub entity_id: Uuid,
    /// male | female | diverse | unspecified.
    pub gender: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The live appointment types they serve, by id.
    pub appointment_type_ids: Vec<Uuid>,
    /// Weekly hours, by weekday and start.
    pub working_hours: Vec<WorkingHoursResponse>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A weekly working span as the API shows it.
#[derive(Debug, Serialize)]
pub struct WorkingHoursResponse {
    /// ISO weekday, 1 = Monday.
    pub weekday: i16,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM` (`24:00` for midnight).
    pub end: String,
}

/// A schedule exception as the API shows it.
#[derive(Debug, Serialize)]
pub struct ScheduleExceptionResponse {
    /// Exception id.
    pub id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// Local date, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// closed | open.
    pub kind: String,
    /// Local start, `HH:MM`; null for a whole closed day.
    pub start: Option<String>,
    /// Local end, `HH:MM`; null for a whole closed day.
    pub end: Option<String>,
    /// Note, possibly empty.
    pub note: String,
}

/// The schedule exceptions of an agent.
#[derive(Debug, Serialize)]
pub struct ScheduleExceptionList {
    /// By date and start.
    pub items: Vec<ScheduleExceptionResponse>,
}

impl From<ScheduleExceptionRow> for ScheduleExceptionResponse {
    fn from(row: ScheduleExceptionRow) -> Self {
        Self {
            id: row.id,
            agent_id: row.agent_id,
            date: row.on_date,
            kind: row.kind,
            start: row.start_minute.map(format_clock),
            end: row.end_minute.map(format_clock),
            note: row.note,
        }
    }
}

/// Returns the responses of `rows`, with their types and hours loaded in two queries.
async fn to_responses(
    connection: &mut AsyncPgConnection,
    rows: Vec<AgentRow>,
) -> Result<Vec<AgentResponse>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut type_ids: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (agent_id, type_id) in queries::appointment_types_of(connection, &ids).await? {
        type_ids.entry(agent_id).or_default().push(type_id);
    }
    let mut hours: HashMap<Uuid, Vec<WorkingHoursResponse>> = HashMap::new();
    for span in queries::working_hours_of(connection, &ids).await? {
        hours
            .entry(span.agent_id)
            .or_default()
            .push(WorkingHoursResponse {
                weekday: span.weekday,
                start: format_clock(span.start_minute),
                end: format_clock(span.end_minute),
            });
    }
    Ok(rows
        .into_iter()
        .map(|row| AgentResponse {
            appointment_type_ids: type_ids.remove(&row.id).unwrap_or_default(),
            working_hours: hours.remove(&row.id).unwrap_or_default(),
            id: row.id,
            entity_id: row.entity_id,
            gender: row.gender,
            first_name: row.first_name,
            last_name: row.last_name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect())
}

/// Returns the response of the tenant's agent, or 404.
async fn load_response(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<AgentResponse, ApiError> {
    let row = queries::find_agent(connection, tenant_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("agent"))?;
    to_responses(connection, vec![row])
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the agent just read has no response").into())
}

/// Records an issue for each appointment type that is not a live type of `entity_id`.
async fn check_types(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Uuid,
    type_ids: &[Uuid],
    issues: &mut Issues,
) -> Result<(), ApiError> {
    let live = live_types_of_entity(connection, tenant_id, entity_id, type_ids).await?;
    for (index, type_id) in type_ids.iter().enumerate() {
        if !live.contains(type_id) {
            issues.add(
                format!("appointment_type_ids[{index}]"),
                "is not an appointment type of the agent's entity",
            );
        }
    }
    Ok(())
}

/// Returns 404 unless the tenant's agent is live; holds a share lock on them.
async fn ensure_agent(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    agent_id: Uuid,
) -> Result<(), ApiError> {
    if queries::agent_is_live(connection, tenant_id, agent_id).await? {
        Ok(())
    } else {
        Err(Problem::not_found("agent").into())
    }
}

/// `GET /v1/agents`: a page of the tenant's agents, of one entity with `?entity_id=` and
/// serving one appointment type with `?appointment_type_id=`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn list_agents(
    tenant: Tenant,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut query = ListQuery::new(query.into_inner());
    let entity_id = query.uuid("entity_id");
    let appointment_type_id = query.uuid("appointment_type_id");
    let page = query.page()?;
    let mut connection = state.pool.get().await?;
    // The agents and their types and hours are separate statements: one snapshot.
    let (items, next_cursor) = crate::db::read_snapshot(&mut connection, |connection| {
        async move {
            let rows = queries::list_agents(
                connection,
                tenant.id,
                entity_id,
                appointment_type_id,
                page.after,
                page.fetch_limit(),
            )
            .await?;
            let (rows, next_cursor) = page.cut(rows, |row| row.id);
            Ok::<_, ApiError>((to_responses(connection, rows).await?, next_cursor))
        }
        .boxed()
    })
    .await?;
    Ok(HttpResponse::Ok().json(PageResponse { items, next_cursor }))
}

/// `POST /v1/agents`: creates an agent of one of the tenant's entities, with the appointment
/// types (of that entity) they serve and their weekly hours.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, agent_id))]
pub async fn create_agent(
    tenant: Tenant,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    let entity_id = request.entity_id;
    let type_ids = request.appointment_type_ids.clone();
    let mut issues = Issues::default();
    let agent = request.validate(&mut issues);
    let agent_id = Uuid::now_v7();
    tracing::Span::current().record("agent_id", tracing::field::display(agent_id));
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            if !entity_is_live(connection, tenant.id, entity_id).await? {
                issues.add("entity_id", "is not an entity of this tenant");
            }
            check_types(connection, tenant.id, entity_id, &type_ids, &mut issues).await?;
            let agent = conclude(agent, issues)?;
            queries::insert_agent(connection, tenant.id, agent_id, &agent).await?;
            queries::replace_types_and_hours(connection, agent_id, &agent).await?;
            load_response(connection, tenant.id, agent_id).await
        })
        .await?;
    tracing::info!("agent created");
    Ok(created(format!("/v1/agents/{agent_id}"), &response))
}

/// `GET /v1/agents/{id}`: one agent.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, agent_id = %path))]
pub async fn get_agent(
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

/// `PUT /v1/agents/{id}`: replaces the agent, their appointment types and weekly hours; the
/// entity must stay the same (bookings name both).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, agent_id = %path))]
pub async fn replace_agent(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    ApiJson(request): ApiJson<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    let agent_id = path.into_inner();
    let entity_id = request.entity_id;
    let type_ids = request.appointment_type_ids.clone();
    let mut issues = Issues::default();
    let agent = request.validate(&mut issues);
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            let current_entity = queries::lock_agent(connection, tenant.id, agent_id)
                .await?
                .ok_or_else(|| Problem::not_found("agent"))?;
            if entity_id != current_entity {
                issues.add(
                    "entity_id",
                    "cannot change; create the agent at the other entity instead",
                );
            }
            check_types(
                connection,
                tenant.id,
                current_entity,
                &type_ids,
                &mut issues,
            )
            .await?;
            let agent = conclude(agent, issues)?;
            queries::update_agent(connection, agent_id, &agent).await?;
            queries::replace_types_and_hours(connection, agent_id, &agent).await?;
            load_response(connection, tenant.id, agent_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `DELETE /v1/agents/{id}`: soft-deletes the agent. Refused with 409 while future
/// appointments need them.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, agent_id = %path))]
pub async fn delete_agent(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let agent_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    connection
        .transaction::<_, ApiError, _>(async |connection| {
            queries::lock_agent(connection, tenant.id, agent_id)
                .await?
                .ok_or_else(|| Problem::not_found("agent"))?;
            if has_future_appointments(connection, Referrer::Agent, agent_id).await? {
                return Err(in_use("agent").into());
            }
            queries::soft_delete_agent(connection, agent_id).await?;
            Ok(())
        })
        .await?;
    tracing::info!("agent deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/agents/{id}/exceptions`: the agent's exceptions by date, from `?from=` to
/// `?to=` (both inclusive, each optional).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, agent_id = %path))]
pub async fn list_exceptions(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let agent_id = path.into_inner();
    let mut query = ListQuery::new(query.into_inner());
    let from = query.date("from");
    let to = query.date("to");
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        query.issue("to", "must not be before from");
    }
    let mut connection = state.pool.get().await?;
    ensure_agent(&mut connection, tenant.id, agent_id).await?;
    query.finish()?;
    let rows = queries::list_exceptions(&mut connection, agent_id, from, to).await?;
    let items = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(ScheduleExceptionList { items }))
}

/// `POST /v1/agents/{id}/exceptions`: adds a dated exception to the agent's weekly hours.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, agent_id = %path, exception_id))]
pub async fn create_exception(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    ApiJson(request): ApiJson<ScheduleExceptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let agent_id = path.into_inner();
    let mut issues = Issues::default();
    let exception = request.validate(&mut issues);
    let exception_id = Uuid::now_v7();
    tracing::Span::current().record("exception_id", tracing::field::display(exception_id));
    let mut connection = state.pool.get().await?;
    let row = connection
        .transaction::<_, ApiError, _>(async |connection| {
            ensure_agent(connection, tenant.id, agent_id).await?;
            let exception = conclude(exception, issues)?;
            Ok(queries::insert_exception(connection, agent_id, exception_id, &exception).await?)
        })
        .await?;
    tracing::info!("schedule exception created");
    Ok(created(
        format!("/v1/agents/{agent_id}/exceptions/{exception_id}"),
        &ScheduleExceptionResponse::from(row),
    ))
}

/// `GET /v1/agents/{id}/exceptions/{exception_id}`: one exception.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn get_exception(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (agent_id, exception_id) = path.into_inner();
    let mut connection = state.pool.get().await?;
    ensure_agent(&mut connection, tenant.id, agent_id).await?;
    let row = queries::find_exception(&mut connection, agent_id, exception_id)
        .await?
        .ok_or_else(|| Problem::not_found("schedule exception"))?;
    Ok(HttpResponse::Ok().json(ScheduleExceptionResponse::from(row)))
}

/// `DELETE /v1/agents/{id}/exceptions/{exception_id}`: removes the exception.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn delete_exception(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (agent_id, exception_id) = path.into_inner();
    let mut connection = state.pool.get().await?;
    connection
        .transaction::<_, ApiError, _>(async |connection| {
            ensure_agent(connection, tenant.id, agent_id).await?;
            if queries::delete_exception(connection, agent_id, exception_id).await? {
                Ok(())
            } else {
                Err(Problem::not_found("schedule exception").into())
            }
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
