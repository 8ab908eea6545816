//! Completion callbacks of robo-call batches: once a batch completes, its fixed body is POSTed
//! to the tenant's callback URL, signed, and retried with exponential backoff until the
//! receiver answers 2xx or the give-up time passes (a day by default).
//!
//! Delivery is at least once: a request is claimed with a lease committed before it is sent,
//! so replicas never send one batch's callback at the same time, and a crash mid-request
//! leaves the lease to expire and the callback to be sent again. Receivers deduplicate by
//! `request_id`.

use std::time::Duration;

use anyhow::Context;
use attend_runtime::db::DbPool;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::CallbackConfig;
use crate::db::schema::call_batches;
use crate::integrators;

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "X-Attend-Signature";
/// The batch id, also the body's `request_id`.
pub const REQUEST_ID_HEADER: &str = "X-Attend-Request-Id";
/// Which try this request is, from 1.
pub const ATTEMPT_HEADER: &str = "X-Attend-Attempt";
/// Callbacks claimed per round.
const CLAIM_BATCH: i64 = 16;
/// How long a claimed callback is left alone beyond the request's own time limit.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Returns the `X-Attend-Signature` value of `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never falls back; the fallback keeps the code
    // free of panics and yields a signature no receiver accepts.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return format!("t={timestamp},v1=");
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Sends due completion callbacks.
pub struct CallbackSender {
    pool: DbPool,
    client: reqwest::Client,
    config: CallbackConfig,
}

/// A callback claimed for one request.
struct Claimed {
    batch_id: Uuid,
    tenant_id: Uuid,
    body: String,
    attempt: i32,
    give_up_at: DateTime<Utc>,
}

/// What one request achieved.
enum Delivery {
    Delivered(u16),
    Refused(Option<u16>, String),
    NotConfigured,
}

impl CallbackSender {
    /// Returns a sender with its own HTTP client.
    pub fn new(pool: DbPool, config: CallbackConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(attend_runtime::http::CLIENT_POOL_IDLE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("attend-voice-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to build the callback http client")?;
        Ok(Self {
            pool,
            client,
            config,
        })
    }

    /// Sends callbacks until `cancel` fires; a request in flight is finished and recorded.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        while !cancel.is_cancelled() {
            let sent = match self.deliver_due().await {
                Ok(sent) => sent,
                Err(error) => {
                    tracing::warn!(
                        error.message = %error,
                        error.cause_chain = ?error,
                        "callback delivery failed, retrying"
                    );
                    0
                }
            };
            if sent > 0 {
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(self.config.poll_interval) => {},
            }
        }
        Ok(())
    }

    /// Claims due callbacks, sends them, records what happened; returns how many were sent.
    async fn deliver_due(&self) -> anyhow::Result<usize> {
        let claimed = self.claim().await?;
        let count = claimed.len();
        futures_util::future::join_all(claimed.into_iter().map(|claimed| async move {
            let delivery = self.send(&claimed).await;
            if let Err(error) = self.record(&claimed, delivery).await {
                // The lease expires and the callback is sent again.
                tracing::error!(
                    batch_id = %claimed.batch_id,
                    error.message = %error,
                    "failed to record a callback delivery"
                );
            }
        }))
        .await;
        Ok(count)
    }

    async fn claim(&self) -> anyhow::Result<Vec<Claimed>> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        let lease = self.config.timeout + LEASE_MARGIN;
        let give_up_after = self.config.give_up_after;
        type Row = (
            Uuid,
            Uuid,
            Option<String>,
            i32,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        );
        let rows: Vec<Row> = connection
            .transaction::<_, diesel::result::Error, _>(async |connection| {
                let ids: Vec<Uuid> = call_batches::table
                    .filter(call_batches::callback_status.eq("pending"))
                    .filter(call_batches::callback_next_at.le(diesel::dsl::now))
                    .order(call_batches::callback_next_at)
                    .limit(CLAIM_BATCH)
                    .for_update()
                    .skip_locked()
                    .select(call_batches::id)
                    .load(connection)
                    .await?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                diesel::update(call_batches::table.filter(call_batches::id.eq_any(&ids)))
                    .set(call_batches::callback_next_at.eq(Utc::now() + lease))
                    .returning((
                        call_batches::id,
                        call_batches::tenant_id,
                        call_batches::callback_body,
                        call_batches::callback_attempts,
                        call_batches::callback_give_up_at,
                        call_batches::completed_at,
                    ))
                    .get_results(connection)
                    .await
            })
            .await
            .context("failed to claim callbacks")?;
        Ok(rows
            .into_iter()
            .map(
                |(batch_id, tenant_id, body, attempts, give_up_at, completed_at)| Claimed {
                    batch_id,
                    tenant_id,
                    body: body.unwrap_or_default(),
                    attempt: attempts + 1,
                    give_up_at: give_up_at
                        .unwrap_or_else(|| completed_at.unwrap_or_else(Utc::now) + give_up_after),
                },
            )
            .collect())
    }

    async fn send(&self, claimed: &Claimed) -> Delivery {
        let settings = match self.pool.get().await {
            Ok(mut connection) => integrators::load(&mut connection, claimed.tenant_id).await,
            Err(error) => {
                return Delivery::Refused(None, format!("no database connection: {error}"));
            }
        };
        let settings = match settings {
            Ok(Some(settings)) => settings,
            Ok(None) => return Delivery::NotConfigured,
            Err(error) => return Delivery::Refused(None, format!("settings unreadable: {error}")),
        };
        // Read at every try: a receiver fixed after a failure gets the next retry.
        let Some(url) = settings.callback_url.as_deref() else {
            return Delivery::NotConfigured;
        };
        let timestamp = Utc::now().timestamp();
        let signature = sign(
            &settings.callback_secret,
            timestamp,
            claimed.body.as_bytes(),
        );
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|parsed| parsed.host_str().map(str::to_owned))
            .unwrap_or_default();
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(REQUEST_ID_HEADER, claimed.batch_id.to_string())
            .header(ATTEMPT_HEADER, claimed.attempt.to_string())
            .body(claimed.body.clone())
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => {
                let status = response.status().as_u16();
                tracing::info!(batch_id = %claimed.batch_id, host, status, attempt = claimed.attempt, "callback delivered");
                Delivery::Delivered(status)
            }
            Ok(response) => {
                let status = response.status().as_u16();
                tracing::warn!(batch_id = %claimed.batch_id, host, status, attempt = claimed.attempt, "callback refused");
                Delivery::Refused(Some(status), format!("http {status}"))
            }
            Err(error) => {
                let detail = attend_runtime::carrier_text::root_cause(&error);
                tracing::warn!(batch_id = %claimed.batch_id, host, detail, attempt = claimed.attempt, "callback not delivered");
                Delivery::Refused(None, detail)
            }
        }
    }

    async fn record(&self, claimed: &Claimed, delivery: Delivery) -> anyhow::Result<()> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        let batch = call_batches::table.find(claimed.batch_id);
        match delivery {
            Delivery::Delivered(status) => {
                diesel::update(batch)
                    .set((
                        call_batches::callback_status.eq("delivered"),
                        call_batches::callback_attempts.eq(claimed.attempt),
                        call_batches::callback_last_status.eq(i32::from(status)),
                        call_batches::callback_last_error.eq(None::<String>),
                        call_batches::callback_delivered_at.eq(diesel::dsl::now),
                        call_batches::callback_next_at.eq(None::<DateTime<Utc>>),
                        call_batches::callback_give_up_at.eq(claimed.give_up_at),
                    ))
                    .execute(&mut connection)
                    .await?;
            }
            Delivery::NotConfigured => {
                tracing::info!(batch_id = %claimed.batch_id, "no callback url configured, not sending");
                diesel::update(batch)
                    .set((
                        call_batches::callback_status.eq("not_configured"),
                        call_batches::callback_next_at.eq(None::<DateTime<Utc>>),
                    ))
                    .execute(&mut connection)
                    .await?;
            }
            Delivery::Refused(status, detail) => {
                let tries = u32::try_from(claimed.attempt).unwrap_or(u32::MAX);
                let delay = attend_runtime::backoff::jittered(
                    self.config.retry_base,
                    tries,
                    self.config.retry_max,
                );
                let next_at = Utc::now() + delay;
                let gave_up = next_at > claimed.give_up_at;
                if gave_up {
                    tracing::error!(batch_id = %claimed.batch_id, attempts = claimed.attempt, "callback never acknowledged, giving up");
                }
                diesel::update(batch)
                    .set((
                        call_batches::callback_status.eq(if gave_up {
                            "failed"
                        } else {
                            "pending"
                        }),
                        call_batches::callback_attempts.eq(claimed.attempt),
                        call_batches::callback_last_status.eq(status.map(i32::from)),
                        call_batches::callback_last_error.eq(detail),
                        call_batches::callback_next_at.eq((!gave_up).then_some(next_at)),
                        call_batches::callback_give_up_at.eq(claimed.give_up_at),
                    ))
                    .execute(&mut connection)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_the_timestamp_and_the_body() {
        // Computed independently: python3 -c "import hmac,hashlib;
        // print(hmac.new(b'whsec_test', b'1700000000.{\"a\":1}', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
