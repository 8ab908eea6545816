//! Test harness for Attend: every test gets its own database and its own AMQP name prefix on
//! the real Postgres and RabbitMQ, so tests run in parallel and leave nothing behind.
//!
//! `TEST_DATABASE_URL` (a superuser connection, default
//! `postgres://postgres:postgres@127.0.0.1:5432/postgres`) and `TEST_AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`) point at the servers.

use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use anyhow::Context;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use uuid::Uuid;

/// Every queue a service declares (without prefix), so cleanup can delete a test's queues;
/// RabbitMQ cannot list queues over AMQP.
pub const KNOWN_QUEUES: &[&str] = &[
    "booking.reminder-events",
    "booking.subscriber-events",
    "scheduler.appointment-events",
    "scheduler.reminder-outcomes",
    "scheduler.tenant-settings",
    "voice.reminders-due",
    "voice.tenant-settings",
    "voice.appointments-cancelled",
    "voice.subscribers",
    "voice.tenant-keys",
    "sms.reminders-due",
    "sms.control",
    "test.observer",
    "test.outcomes",
];

const DEFAULT_ADMIN_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";
const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// One test's isolated slice of the shared Postgres and RabbitMQ.
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// Name of the test's own database, `t_<uuid>`.
    pub database_name: String,
    /// URL of the test's database.
    pub database_url: String,
    /// URL of the broker.
    pub amqp_url: String,
    /// Prefix of every exchange and queue of this test, `t_<uuid>.`.
    pub amqp_prefix: String,
    admin_url: String,
}

impl TestEnv {
    /// Creates a fresh database and picks a fresh AMQP prefix.
    pub async fn new() -> anyhow::Result<Self> {
        init_logging();
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_ADMIN_DATABASE_URL.to_owned());
        let amqp_url =
            std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_owned());
        let id = Uuid::new_v4().simple().to_string();
        let database_name = format!("t_{id}");
        let mut admin = AsyncPgConnection::establish(&admin_url)
            .await
            .with_context(
                || "cannot reach the test postgres (is it running? scripts/test starts it)",
            )?;
        admin
            .batch_execute(&format!("CREATE DATABASE {database_name}"))
            .await
            .context("failed to create the test database")?;
        let database_url = replace_database(&admin_url, &database_name)?;
        Ok(Self {
            database_name,
            database_url,
            amqp_url,
            amqp_prefix: format!("t_{id}."),
            admin_url,
        })
    }

    /// Returns the environment a service needs to run inside this test's slice, listening on
    /// a free port of 127.0.0.1.
    pub fn service_env(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".to_owned(), self.database_url.clone()),
            ("AMQP_URL".to_owned(), self.amqp_url.clone()),
            ("AMQP_PREFIX".to_owned(), self.amqp_prefix.clone()),
            ("HTTP_HOST".to_owned(), "127.0.0.1".to_owned()),
            ("HTTP_PORT".to_owned(), "0".to_owned()),
            ("DB_POOL_SIZE".to_owned(), "4".to_owned()),
        ]
    }

    /// Opens a connection to the test database with `search_path` set to `schema`.
    pub async fn connect(&self, schema: &str) -> anyhow::Result<AsyncPgConnection> {
        let mut connection = AsyncPgConnection::establish(&self.database_url).await?;
        connection
            .batch_execute(&format!("SET search_path TO {schema}, public"))
            .await?;
        Ok(connection)
    }

    /// Opens a broker connection.
    pub async fn amqp(&self) -> anyhow::Result<Connection> {
        Ok(Connection::connect(&self.amqp_url, ConnectionProperties::default()).await?)
    }

    /// Returns `base` with this test's prefix.
    pub fn name(&self, base: &str) -> String {
        format!("{}{}", self.amqp_prefix, base)
    }

    /// Drops the database and deletes the test's queues and exchanges. Call it at the end of
    /// a test; a failing test leaves its slice for `scripts/clean-test-artifacts`.
    pub async fn cleanup(self) -> anyhow::Result<()> {
        if let Ok(connection) = self.amqp().await
            && let Ok(channel) = connection.create_channel().await
        {
            for queue in KNOWN_QUEUES {
                for name in [self.name(queue), format!("{}.dlq", self.name(queue))] {
                    let _ = channel
                        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
            }
            for exchange in ["attend.events", "attend.dlx"] {
                let name = self.name(exchange);
                let _ = channel
                    .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            let _ = connection.close(200, "test done".into()).await;
        }
        let mut admin = AsyncPgConnection::establish(&self.admin_url).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database_name
            ))
            .await?;
        Ok(())
    }
}

fn replace_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, _) = url
        .rsplit_once('/')
        .context("TEST_DATABASE_URL has no database part")?;
    Ok(format!("{base}/{database}"))
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout` saying what
/// was awaited. Use it for eventual effects instead of sleeping.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Installs a test log subscriber once; logs print only when `TEST_LOG` is set.
pub fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_test_writer()
                .try_init();
        }
    });
}

/// Returns a fixed-offset IANA zone (`Etc/GMT±N`) where it is about 14:00 now, so a test's
/// recipient is inside every calling window whenever the suite runs.
pub fn midday_zone() -> String {
    use chrono::Timelike;
    let hour = i32::try_from(chrono::Utc::now().hour()).unwrap_or(0);
    let mut offset = 14 - hour;
    if offset > 14 {
        offset -= 24;
    }
    if offset < -12 {
        offset += 24;
    }
    // Etc/GMT-N is UTC+N: POSIX counts the sign the other way.
    match offset {
        0 => "Etc/GMT".to_owned(),
        positive if positive > 0 => format!("Etc/GMT-{positive}"),
        negative => format!("Etc/GMT+{}", -negative),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_part_of_a_url_is_replaced() {
        assert_eq!(
            replace_database("postgres://u:p@127.0.0.1:5432/postgres", "t_1").unwrap(),
            "postgres://u:p@127.0.0.1:5432/t_1"
        );
    }
}
