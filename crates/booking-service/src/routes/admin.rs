//! Operator routes, guarded by `ADMIN_TOKEN`.

use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use attend_runtime::{ApiJson, Problem};

use crate::auth::{Operator, mint_key};
use crate::db::tenants;
use crate::error::ApiError;
use crate::startup::AppState;

/// `POST /v1/admin/tenants` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Business name, spoken in reminders.
    pub name: String,
    /// ISO 3166 region for national phone numbers; `US` when absent.
    pub default_region: Option<String>,
}

/// `POST /v1/admin/tenants` answer. The key is shown once.
#[derive(Debug, Serialize)]
pub struct CreateTenantResponse {
    /// The new tenant's id.
    pub tenant_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its first API key; store it, it cannot be shown again.
    pub api_key: String,
}

/// Creates a tenant and its first API key.
#[tracing::instrument(skip_all)]
pub async fn create_tenant(
    _operator: Operator,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<CreateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Problem::invalid_field("name", "must be 1 to 200 characters").into());
    }
    let default_region = request
        .default_region
        .unwrap_or_else(|| "US".to_owned())
        .to_uppercase();
    if default_region.parse::<phonenumber::country::Id>().is_err() {
        return Err(Problem::invalid_field(
            "default_region",
            "must be an ISO 3166 country code such as US or DE",
        )
        .into());
    }
    let key = mint_key();
    let mut connection = state.pool.get().await?;
    let tenant_id = connection
        .transaction::<_, ApiError, _>(async |connection| {
            Ok(tenants::create_tenant(connection, &name, &default_region, &key).await?)
        })
        .await?;
    tracing::info!(tenant_id = %tenant_id, "tenant created");
    Ok(HttpResponse::Created().json(CreateTenantResponse {
        tenant_id,
        name,
        api_key: key.secret,
    }))
}
