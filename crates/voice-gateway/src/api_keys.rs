//! Tenant API keys, replicated from booking-service (which owns them) through
//! `tenant.api_key_issued` / `tenant.api_key_revoked`: the `voice.tenant-keys` consumer keeps
//! their SHA-256 in `voice.api_keys`, and [`tenant_of_key`] authenticates a Bearer key against
//! that copy. This gateway never reads booking's schema and never sees a key it is not sent.

use attend_events::{from_timestamp, routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::schema::api_keys;

/// The queue's name, without the AMQP prefix.
pub const QUEUE: &str = "voice.tenant-keys";

/// Returns the queue's spec: issued and revoked keys.
pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(
        QUEUE,
        vec![
            routing_keys::TENANT_API_KEY_ISSUED,
            routing_keys::TENANT_API_KEY_REVOKED,
        ],
    )
}

/// Returns the tenant whose live key is `key`, if any.
pub async fn tenant_of_key(
    connection: &mut AsyncPgConnection,
    key: &str,
) -> QueryResult<Option<Uuid>> {
    let hash = Sha256::digest(key.as_bytes()).to_vec();
    api_keys::table
        .filter(api_keys::key_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .select(api_keys::tenant_id)
        .first(connection)
        .await
        .optional()
}

/// Applies the key events.
pub struct ApiKeyHandler;

impl ApiKeyHandler {
    async fn apply(
        connection: &mut AsyncPgConnection,
        event: &IncomingEvent,
    ) -> Result<(), HandlerError> {
        use attend_events::Event as _;
        match event.event_type.as_str() {
            v1::TenantApiKeyIssued::TYPE => {
                let issued: v1::TenantApiKeyIssued = event.decode()?;
                let tenant_id = parse_id("tenant_id", &issued.tenant_id)?;
                let key_id = parse_id("key_id", &issued.key_id)?;
                if issued.key_sha256.len() != 32 {
                    return Err(HandlerError::permanent("key_sha256 is not 32 bytes"));
                }
                let issued_at: Option<DateTime<Utc>> = issued
                    .issued_at
                    .as_ref()
                    .and_then(|at| from_timestamp(Some(at)).ok());
                // A republished key changes nothing; a revocation that arrived first stays.
                let updated = diesel::update(api_keys::table.find(key_id))
                    .set((
                        api_keys::key_hash.eq(&issued.key_sha256),
                        api_keys::key_prefix.eq(issued.key_prefix.trim()),
                        api_keys::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(connection)
                    .await?;
                if updated == 0 {
                    let inserted = diesel::insert_into(api_keys::table)
                        .values((
                            api_keys::key_id.eq(key_id),
                            api_keys::tenant_id.eq(tenant_id),
                            api_keys::key_hash.eq(&issued.key_sha256),
                            api_keys::key_prefix.eq(issued.key_prefix.trim()),
                            api_keys::issued_at.eq(issued_at),
                        ))
                        .on_conflict_do_nothing()
                        .execute(connection)
                        .await?;
                    if inserted == 0 {
                        // The hash is already another key's: never two tenants behind one
                        // key. Retrying cannot change that, and must not hold up the queue.
                        tracing::warn!(%tenant_id, %key_id, "a key with this hash is already recorded, ignoring");
                        return Ok(());
                    }
                }
                tracing::info!(%tenant_id, %key_id, prefix = issued.key_prefix.trim(), "tenant api key recorded");
                Ok(())
            }
            v1::TenantApiKeyRevoked::TYPE => {
                let revoked: v1::TenantApiKeyRevoked = event.decode()?;
                let tenant_id = parse_id("tenant_id", &revoked.tenant_id)?;
                let key_id = parse_id("key_id", &revoked.key_id)?;
                let revoked_at = revoked
                    .revoked_at
                    .as_ref()
                    .and_then(|at| from_timestamp(Some(at)).ok())
                    .unwrap_or_else(Utc::now);
                diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::key_id.eq(key_id),
                        api_keys::tenant_id.eq(tenant_id),
                        api_keys::revoked_at.eq(revoked_at),
                    ))
                    .on_conflict(api_keys::key_id)
                    .do_update()
                    .set((
                        api_keys::revoked_at.eq(revoked_at),
                        api_keys::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(connection)
                    .await?;
                tracing::info!(%tenant_id, %key_id, "tenant api key revoked");
                Ok(())
            }
            other => Err(HandlerError::permanent(format!(
                "unexpected event type {other:?} on {QUEUE}"
            ))),
        }
    }
}

impl EventHandler for ApiKeyHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(Self::apply(connection, event))
    }
}

fn parse_id(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    value
        .trim()
        .parse()
        .map_err(|_| HandlerError::permanent(format!("{field} is not a uuid")))
}
