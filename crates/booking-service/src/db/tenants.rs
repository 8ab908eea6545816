//! Tenants and their API keys.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{api_keys, tenants};
use crate::auth::MintedKey;

/// Inserts a tenant with its first API key; returns the tenant id.
#[tracing::instrument(skip_all)]
pub async fn create_tenant(
    connection: &mut AsyncPgConnection,
    name: &str,
    default_region: &str,
    key: &MintedKey,
) -> QueryResult<Uuid> {
    let tenant_id = Uuid::now_v7();
    diesel::insert_into(tenants::table)
        .values((
            tenants::id.eq(tenant_id),
            tenants::name.eq(name),
            tenants::default_region.eq(default_region),
        ))
        .execute(connection)
        .await?;
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(Uuid::now_v7()),
            api_keys::tenant_id.eq(tenant_id),
            api_keys::key_prefix.eq(&key.display_prefix),
            api_keys::key_hash.eq(&key.hash),
        ))
        .execute(connection)
        .await?;
    Ok(tenant_id)
}
