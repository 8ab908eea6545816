//! Tenants and their API keys.

use attend_events::{to_timestamp, v1};
use attend_runtime::outbox;
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{api_keys, tenants};
use crate::auth::MintedKey;

/// Inserts a tenant with its first API key and writes `tenant.api_key_issued` to the outbox;
/// returns the tenant id. Run it inside a transaction: the key and its event commit together,
/// so every service that accepts the key (voice-gateway) learns its hash, and none learns a
/// key that was rolled back.
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
    let key_id = Uuid::now_v7();
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(key_id),
            api_keys::tenant_id.eq(tenant_id),
            api_keys::key_prefix.eq(&key.display_prefix),
            api_keys::key_hash.eq(&key.hash),
        ))
        .execute(connection)
        .await?;
    let issued = api_key_issued(tenant_id, key_id, key);
    outbox::enqueue(connection, Some(tenant_id), &issued).await?;
    Ok(tenant_id)
}

/// Returns the event announcing `key`: its hash and prefix, never the key.
fn api_key_issued(tenant_id: Uuid, key_id: Uuid, key: &MintedKey) -> v1::TenantApiKeyIssued {
    v1::TenantApiKeyIssued {
        tenant_id: tenant_id.to_string(),
        key_id: key_id.to_string(),
        key_sha256: key.hash.clone(),
        key_prefix: key.display_prefix.clone(),
        issued_at: Some(to_timestamp(Utc::now())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::mint_key;

    #[test]
    fn the_issued_event_carries_the_hash_and_never_the_key() {
        let key = mint_key();
        let tenant_id = Uuid::now_v7();
        let key_id = Uuid::now_v7();
        let event = api_key_issued(tenant_id, key_id, &key);
        assert_eq!(event.key_sha256, key.hash);
        assert_eq!(event.key_sha256.len(), 32);
        assert_eq!(event.key_id, key_id.to_string());
        let encoded = prost::Message::encode_to_vec(&event);
        let secret = key.secret.as_bytes();
        assert!(
            !encoded.windows(secret.len()).any(|window| window == secret),
            "the key itself is in the event"
        );
    }

    /// The backfill migration encodes the event in SQL; the generated type must read it.
    #[tokio::test]
    async fn the_backfill_migration_announces_every_live_key_in_the_event_format() {
        use diesel_async::SimpleAsyncConnection;
        use prost::Message as _;

        let env = attend_test_support::TestEnv::new().await.unwrap();
        let schema = attend_runtime::db::SchemaName::new(crate::startup::SCHEMA).unwrap();
        attend_runtime::db::migrate(&env.database_url, schema, crate::startup::MIGRATIONS)
            .await
            .unwrap();
        let mut connection = env.connect(crate::startup::SCHEMA).await.unwrap();
        let live = mint_key();
        let tenant_id = create_tenant(&mut connection, "Clinic", "US", &live)
            .await
            .unwrap();
        let revoked = mint_key();
        let revoked_tenant = create_tenant(&mut connection, "Gone", "US", &revoked)
            .await
            .unwrap();
        diesel::update(api_keys::table.filter(api_keys::tenant_id.eq(revoked_tenant)))
            .set(api_keys::revoked_at.eq(Utc::now()))
            .execute(&mut connection)
            .await
            .unwrap();
        diesel::delete(attend_runtime::schema::outbox::table)
            .execute(&mut connection)
            .await
            .unwrap();

        connection
            .batch_execute(include_str!(
                "../../migrations/2026-11-25-000001_announce_api_keys/up.sql"
            ))
            .await
            .unwrap();

        use attend_runtime::schema::outbox;
        type OutboxRow = (Uuid, String, String, Option<Uuid>, Vec<u8>);
        let rows: Vec<OutboxRow> = outbox::table
            .select((
                outbox::id,
                outbox::event_type,
                outbox::routing_key,
                outbox::tenant_id,
                outbox::payload,
            ))
            .load(&mut connection)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "only the live key is announced");
        let (event_id, event_type, routing_key, row_tenant, payload) = &rows[0];
        assert_eq!(event_id.get_version_num(), 7);
        assert_eq!(
            event_type,
            <v1::TenantApiKeyIssued as attend_events::Event>::TYPE
        );
        assert_eq!(routing_key, "tenant.api_key_issued");
        assert_eq!(*row_tenant, Some(tenant_id));
        let event = v1::TenantApiKeyIssued::decode(payload.as_slice()).unwrap();
        let key_id: Uuid = api_keys::table
            .filter(api_keys::tenant_id.eq(tenant_id))
            .select(api_keys::id)
            .first(&mut connection)
            .await
            .unwrap();
        assert_eq!(
            event,
            v1::TenantApiKeyIssued {
                tenant_id: tenant_id.to_string(),
                key_id: key_id.to_string(),
                key_sha256: live.hash.clone(),
                key_prefix: live.display_prefix.clone(),
                issued_at: None,
            }
        );
        drop(connection);
        env.cleanup().await.unwrap();
    }
}
