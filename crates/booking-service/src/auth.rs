//! Authentication: tenant API keys (stored as SHA-256 hashes) and the operator token.

use actix_web::{FromRequest, HttpRequest, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use attend_runtime::Problem;

use crate::db::schema::{api_keys, tenants};
use crate::error::ApiError;
use crate::startup::AppState;

/// The prefix that makes Attend keys recognisable (and findable by secret scanners).
const KEY_PREFIX: &str = "attk_";

/// A freshly minted API key: the secret to hand out once, and what is stored.
pub struct MintedKey {
    /// The whole key; shown to the caller once and never stored.
    pub secret: String,
    /// The first characters, stored to recognise the key.
    pub display_prefix: String,
    /// SHA-256 of the whole key.
    pub hash: Vec<u8>,
}

/// Returns a new random 256-bit key.
pub fn mint_key() -> MintedKey {
    let mut random = [0_u8; 32];
    rand::rng().fill_bytes(&mut random);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(random));
    let display_prefix = secret.chars().take(KEY_PREFIX.len() + 8).collect();
    let hash = hash_key(&secret);
    MintedKey {
        secret,
        display_prefix,
        hash,
    }
}

/// Returns the stored hash of `key`.
pub fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The tenant a request's API key belongs to. Every query of a tenant route is scoped by it.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Tenant id.
    pub id: Uuid,
    /// Business name, spoken in reminders.
    pub name: String,
    /// Region for phone numbers without a country code.
    pub default_region: String,
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer_token(request).map(str::to_owned);
        let state = request.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or_else(|| {
                Problem::unauthorized("send the tenant API key as `Authorization: Bearer <key>`")
            })?;
            let state = state.ok_or_else(|| anyhow::anyhow!("app state is not registered"))?;
            let key_hash = hash_key(&token);
            if let Some(tenant) = state.tenants_by_key.get(&key_hash) {
                tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
                return Ok(Tenant::clone(&tenant));
            }
            let mut connection = state.pool.get().await?;
            let found: Option<(Uuid, String, String)> = api_keys::table
                .inner_join(tenants::table)
                .filter(api_keys::key_hash.eq(&key_hash))
                .filter(api_keys::revoked_at.is_null())
                .select((tenants::id, tenants::name, tenants::default_region))
                .first(&mut connection)
                .await
                .optional()?;
            let (id, name, default_region) =
                found.ok_or_else(|| Problem::unauthorized("the API key is unknown or revoked"))?;
            tracing::Span::current().record("tenant_id", tracing::field::display(id));
            let tenant = Tenant {
                id,
                name,
                default_region,
            };
            // Only keys that worked are remembered, so guessing cannot fill the cache.
            state
                .tenants_by_key
                .insert(key_hash, std::sync::Arc::new(tenant.clone()));
            Ok(tenant)
        })
    }
}

/// Proof that the request carried the operator's `ADMIN_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let expected = request
            .app_data::<web::Data<AppState>>()
            .map(|state| state.admin_token.clone());
        let presented = bearer_token(request);
        let allowed = match (expected, presented) {
            (Some(expected), Some(presented)) => {
                bool::from(expected.expose().as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        };
        std::future::ready(if allowed {
            Ok(Operator)
        } else {
            Err(Problem::unauthorized(
                "send the operator token as `Authorization: Bearer <ADMIN_TOKEN>`",
            )
            .into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_distinct_and_hash_to_what_is_stored() {
        let first = mint_key();
        let second = mint_key();
        assert_ne!(first.secret, second.secret);
        assert!(first.secret.starts_with("attk_"));
        assert_eq!(first.secret.len(), 5 + 64);
        assert_eq!(hash_key(&first.secret), first.hash);
        assert!(first.secret.starts_with(&first.display_prefix));
    }
}
