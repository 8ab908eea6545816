//! `Idempotency-Key`: a retried request gets the first answer, never a second booking.
//!
//! The key row is inserted first, in the same transaction as the work. A concurrent retry
//! with the same key blocks on that insert until the first attempt ends: if it committed,
//! the retry reads its stored answer; if it rolled back (it failed), the key is free again
//! and the retry does the work itself. Keys live 24 hours.
//!
//! [`run_once`] claims the key first in its transaction, runs the work, then remembers
//! the answer before committing.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use attend_runtime::Problem;
use attend_runtime::db::DbPool;
use attend_runtime::outbox::RelayWaker;
use attend_runtime::pipelined::PipelinedTransaction;

use crate::db::schema::idempotency_keys;
use crate::error::ApiError;

/// The request header carrying the key.
pub const HEADER: &str = "Idempotency-Key";
/// The response header marking a replayed answer.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
/// How long a key is remembered.
pub const KEY_LIFETIME_HOURS: i64 = 24;

/// An answer as it is stored for replay.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: serde_json::Value,
}

impl StoredAnswer {
    /// Returns a JSON answer with `status`.
    pub fn json(status: StatusCode, body: impl serde::Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body)
            .map_err(|error| anyhow::Error::new(error).context("failed to encode the answer"))?;
        Ok(Self { status, body })
    }

    /// Returns the HTTP response, marked `Idempotent-Replayed: true` when `replayed`.
    pub fn into_response(self, replayed: bool) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if replayed {
            response.insert_header((REPLAYED_HEADER, "true"));
        }
        response.json(self.body)
    }

    /// Like [`StoredAnswer::into_response`], with `Location: <collection>/<body id>` for a
    /// created resource.
    pub fn into_created_response(self, replayed: bool, collection: &str) -> HttpResponse {
        let location = self.body["id"]
            .as_str()
            .map(|id| format!("{collection}/{id}"));
        let mut response = self.into_response(replayed);
        if let Some(value) = location.and_then(|location| HeaderValue::from_str(&location).ok()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

/// The key of a request and the fingerprint of what it asked.
#[derive(Debug, Clone)]
pub struct RequestKey {
    key: Option<String>,
    fingerprint: Vec<u8>,
}

impl RequestKey {
    /// Reads the `Idempotency-Key` header of `request` and fingerprints its method, path and
    /// `body`. A key that is empty, longer than 255 characters or not visible ASCII is
    /// refused.
    pub fn of(request: &HttpRequest, body: &[u8]) -> Result<Self, Problem> {
        let key = match request.headers().get(HEADER) {
            None => None,
            Some(value) => {
                let text = value
                    .to_str()
                    .ok()
                    .map(str::trim)
                    .filter(|text| (1..=255).contains(&text.len()))
                    .ok_or_else(|| {
                        Problem::invalid_field(
                            HEADER,
                            "must be 1 to 255 visible ASCII characters, e.g. a UUID",
                        )
                    })?;
                Some(text.to_owned())
            }
        };
        let mut hasher = Sha256::new();
        hasher.update(request.method().as_str().as_bytes());
        hasher.update(b" ");
        hasher.update(request.path().as_bytes());
        hasher.update(b"\n");
        hasher.update(body);
        Ok(Self {
            key,
            fingerprint: hasher.finalize().to_vec(),
        })
    }
}

/// Runs `work` in one transaction, at most once per `Idempotency-Key`: a retried request
/// gets the stored answer of the first (and `true`) without `work` running again; a request
/// without a key simply runs. The key is claimed and the answer stored in `work`'s
/// transaction, so a crash leaves neither a half-done write nor a key without its answer.
///
/// The transaction's `BEGIN` goes out with its first statement: the key's claim, or else
/// the first statement `work` sends through [`PipelinedTransaction::first_statement`] (or
/// [`PipelinedTransaction::connection`]). `work` may read through
/// [`PipelinedTransaction::connection_for_reads`] before that.
///
/// After the commit it wakes the outbox relay through `relay_waker`, so `work` may enqueue
/// its events with [`attend_runtime::outbox::RelayWake::InProcess`] (no `NOTIFY`, which
/// would serialise the commits of concurrent requests).
pub async fn run_once<Work>(
    pool: &DbPool,
    relay_waker: &RelayWaker,
    tenant_id: Uuid,
    request_key: &RequestKey,
    work: Work,
) -> Result<(StoredAnswer, bool), ApiError>
where
    Work:
        for<'t, 'c> AsyncFnOnce(&'t mut PipelinedTransaction<'c>) -> Result<StoredAnswer, ApiError>,
{
    let mut connection = pool.get().await?;
    let outcome = PipelinedTransaction::run(&mut connection, async |transaction| {
        claim_work_remember(transaction, tenant_id, request_key, work).await
    })
    .await;
    // Committed work may have written events; a replay wrote none.
    if matches!(outcome, Ok((_, false))) {
        relay_waker.wake();
    }
    outcome
}

/// Claims the request's key (when it has one), runs `work` unless the key already answered
/// this same request, and stores the answer under the key.
async fn claim_work_remember<Work>(
    transaction: &mut PipelinedTransaction<'_>,
    tenant_id: Uuid,
    request_key: &RequestKey,
    work: Work,
) -> Result<(StoredAnswer, bool), ApiError>
where
    Work:
        for<'t, 'c> AsyncFnOnce(&'t mut PipelinedTransaction<'c>) -> Result<StoredAnswer, ApiError>,
{
    if let Some(key) = request_key.key.as_deref() {
        let fingerprint = &request_key.fingerprint;
        let stored = transaction
            .first_statement(async |connection| {
                claim_key(connection, tenant_id, key, fingerprint).await
            })
            .await?;
        if let Some(stored) = stored {
            return Ok((stored, true));
        }
    }
    let answer = work(transaction).await?;
    if let Some(key) = request_key.key.as_deref() {
        remember(transaction.connection().await?, tenant_id, key, &answer).await?;
    }
    Ok((answer, false))
}

/// Stores `answer` under the request's key, in the transaction that did the work.
async fn remember(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    key: &str,
    answer: &StoredAnswer,
) -> Result<(), ApiError> {
    let body = serde_json::to_vec(&answer.body)
        .map_err(|error| anyhow::Error::new(error).context("failed to encode the answer"))?;
    diesel::update(idempotency_keys::table.find((tenant_id, key)))
        .set((
            idempotency_keys::response_status
                .eq(i16::try_from(answer.status.as_u16()).unwrap_or(200)),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Claims `key` for this request, or returns the stored answer of the request that holds it.
async fn claim_key(
    mut connection: &AsyncPgConnection,
    tenant_id: Uuid,
    key: &str,
    fingerprint: &[u8],
) -> Result<Option<StoredAnswer>, ApiError> {
    let expired = Utc::now() - Duration::hours(KEY_LIFETIME_HOURS);
    diesel::delete(idempotency_keys::table.find((tenant_id, key)))
        .filter(idempotency_keys::created_at.lt(expired))
        .execute(&mut connection)
        .await?;
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::tenant_id.eq(tenant_id),
            idempotency_keys::idempotency_key.eq(key),
            idempotency_keys::request_hash.eq(fingerprint),
        ))
        .on_conflict_do_nothing()
        .execute(&mut connection)
        .await?;
    if inserted == 1 {
        return Ok(None);
    }
    let (stored_fingerprint, status, body): (Vec<u8>, Option<i16>, Option<Vec<u8>>) =
        idempotency_keys::table
            .find((tenant_id, key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::response_status,
                idempotency_keys::response_body,
            ))
            .first(&mut connection)
            .await?;
    if stored_fingerprint != fingerprint {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "Idempotency-Key reused for another request",
        )
        .with_field(
            HEADER,
            "was already used for a different request; use a new key",
        )
        .into());
    }
    let (Some(status), Some(body)) = (status, body) else {
        return Err(Problem::conflict(
            "request_in_progress",
            "a request with this Idempotency-Key is still in progress; retry shortly",
        )
        .into());
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let body = serde_json::from_slice(&body)
        .map_err(|error| anyhow::Error::new(error).context("a stored answer is not JSON"))?;
    Ok(Some(StoredAnswer { status, body }))
}

/// Deletes keys older than their lifetime; returns how many.
pub async fn purge_expired(pool: &DbPool) -> anyhow::Result<usize> {
    let mut connection = pool.get().await?;
    let expired = Utc::now() - Duration::hours(KEY_LIFETIME_HOURS);
    Ok(diesel::delete(idempotency_keys::table)
        .filter(idempotency_keys::created_at.lt(expired))
        .execute(&mut connection)
        .await?)
}
