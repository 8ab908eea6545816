//! `/v1/appointment-types/{id}/reminder-policy`: the reminder plan and texts of a type.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::{ApiJson, Problem};

use crate::auth::Tenant;
use crate::db::catalog::appointment_types as types;
use crate::db::{reminder_policies, tenant_settings};
use crate::domain::reminder_policy::{PolicyWarning, ReminderPolicy};
use crate::domain::reminder_settings::DEFAULT_MAX_SEGMENTS;
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// A policy as the API shows it.
#[derive(Debug, Serialize)]
pub struct PolicyResponse {
    /// The type it belongs to.
    pub appointment_type_id: Uuid,
    /// The policy.
    #[serde(flatten)]
    pub policy: ReminderPolicy,
    /// When it was last saved.
    pub updated_at: DateTime<Utc>,
    /// Remarks of the lint that did not stop the save (only in the answer to a save).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<PolicyWarning>,
}

/// Returns the tenant's SMS segment limit, which the SMS texts are linted against.
pub async fn max_segments(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> Result<u32, ApiError> {
    Ok(tenant_settings::find(connection, tenant_id)
        .await?
        .map_or(DEFAULT_MAX_SEGMENTS, |stored| {
            stored.settings.sms.max_segments
        }))
}

/// `GET`: the type's policy; 404 when the type has none (the entity's reminder defaults then
/// apply to its bookings).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_type_id = %path))]
pub async fn get_policy(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let type_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    types::find_type(&mut connection, tenant.id, type_id)
        .await?
        .ok_or_else(|| Problem::not_found("appointment type"))?;
    let (policy, updated_at) = reminder_policies::find(&mut connection, type_id)
        .await?
        .ok_or_else(|| Problem::not_found("reminder policy"))?;
    Ok(HttpResponse::Ok().json(PolicyResponse {
        appointment_type_id: type_id,
        policy,
        updated_at,
        warnings: Vec::new(),
    }))
}

/// `PUT`: validates and replaces the type's policy. Bookings made from now on follow it;
/// reminders already planned keep the plan and texts they were booked with.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_type_id = %path))]
pub async fn replace_policy(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    ApiJson(request): ApiJson<ReminderPolicy>,
) -> Result<HttpResponse, ApiError> {
    let type_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            types::lock_type(connection, tenant.id, type_id)
                .await?
                .ok_or_else(|| Problem::not_found("appointment type"))?;
            let limit = max_segments(connection, tenant.id).await?;
            let mut issues = Issues::default();
            let (policy, warnings) = request.validate(limit, &mut issues, "");
            issues.finish()?;
            let updated_at =
                reminder_policies::replace(connection, tenant.id, type_id, &policy).await?;
            Ok(PolicyResponse {
                appointment_type_id: type_id,
                policy,
                updated_at,
                warnings,
            })
        })
        .await?;
    tracing::info!("reminder policy saved");
    Ok(HttpResponse::Ok().json(response))
}

/// `DELETE`: removes the type's policy; its bookings fall back to the entity's defaults.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_type_id = %path))]
pub async fn delete_policy(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let type_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    types::find_type(&mut connection, tenant.id, type_id)
        .await?
        .ok_or_else(|| Problem::not_found("appointment type"))?;
    if !reminder_policies::delete(&mut connection, type_id).await? {
        return Err(Problem::not_found("reminder policy").into());
    }
    Ok(HttpResponse::NoContent().finish())
}
