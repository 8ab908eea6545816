//! The Postgres side: a diesel-async pool whose connections work in the service's own schema,
//! and embedded migrations run at start-up under an advisory lock.

use std::time::Duration;

use anyhow::Context;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;
use sha2::Digest;

/// A pool of connections with `search_path` set to one service's schema.
pub type DbPool = Pool<AsyncPgConnection>;
/// A connection borrowed from a [`DbPool`].
pub type PooledConnection = Object<AsyncPgConnection>;

/// The runtime's own tables (outbox, inbox), migrated into every service schema first.
pub const RUNTIME_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Returns the condition `column IN ('value', ...)` written into the statement's text instead
/// of bound. Postgres uses a partial index (`... WHERE status = 'queued'`) only where it can
/// prove that the query implies the index's predicate, and a bound value hides that from the
/// generic plan a prepared statement switches to after five executions: the dialer's claim and
/// line count then scanned every attempt ever made, 4-6 ms a round at 10,000 calls and growing
/// with the table (docs/benchmarks.md, items 5 and 6). `column` and `values` must be the code's
/// own constants, never input; a quote in a value is doubled all the same.
pub fn literal_in(
    column: &'static str,
    values: &[&'static str],
) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    let quoted: Vec<String> = values
        .iter()
        .map(|value| format!("'{}'", value.replace('\'', "''")))
        .collect();
    diesel::dsl::sql(&format!("{column} IN ({})", quoted.join(", ")))
}

/// A schema name that is safe to write into SQL: lowercase letters, digits and `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaName(&'static str);

impl SchemaName {
    /// Returns the name, or an error if it is not a plain lowercase identifier.
    pub fn new(name: &'static str) -> anyhow::Result<Self> {
        let is_plain = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        anyhow::ensure!(
            is_plain,
            "schema name {name:?} must be a lowercase identifier"
        );
        Ok(Self(name))
    }

    /// Returns the name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Returns the advisory-lock key that serialises this schema's migrations across replicas.
    fn migration_lock_key(&self) -> i64 {
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        let mut key = [0_u8; 8];
        key.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(key)
    }
}

/// Runs the runtime's and the service's pending migrations into `schema`.
///
/// Creates the schema first (diesel keeps its bookkeeping table in the first schema on the
/// search path, which must exist), and holds a per-schema advisory lock so that replicas
/// starting together migrate one at a time. Runs on the blocking pool through
/// `AsyncConnectionWrapper`, which works on any runtime flavour.
pub async fn migrate(
    database_url: &str,
    schema: SchemaName,
    service_migrations: EmbeddedMigrations,
) -> anyhow::Result<()> {
    let database_url = database_url.to_owned();
    let applied = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut connection =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(
                &database_url,
            )
            .context("failed to connect to postgres for migrations")?;
        let lock_key = schema.migration_lock_key();
        diesel::connection::SimpleConnection::batch_execute(
            &mut connection,
            &format!(
                "SELECT pg_advisory_lock({lock_key}); \
                 CREATE SCHEMA IF NOT EXISTS {name}; \
                 SET search_path TO {name}, public;",
                name = schema.as_str()
            ),
        )
        .context("failed to prepare the schema for migrations")?;
        let outcome = (|| -> anyhow::Result<usize> {
            let runtime = connection
                .run_pending_migrations(RUNTIME_MIGRATIONS)
                .map_err(|error| anyhow::anyhow!("runtime migrations failed: {error}"))?
                .len();
            let service = connection
                .run_pending_migrations(service_migrations)
                .map_err(|error| anyhow::anyhow!("service migrations failed: {error}"))?
                .len();
            Ok(runtime + service)
        })();
        let unlocked = diesel::connection::SimpleConnection::batch_execute(
            &mut connection,
            &format!("SELECT pg_advisory_unlock({lock_key})"),
        );
        let applied = outcome?;
        unlocked.context("failed to release the migration lock")?;
        Ok(applied)
    })
    .await
    .context("migration task panicked")??;
    tracing::info!(
        schema = schema.as_str(),
        applied,
        "migrations are up to date"
    );
    Ok(())
}

/// Builds a pool whose every connection has `search_path` set to `schema, public`.
pub async fn connect(
    database_url: &str,
    schema: SchemaName,
    max_size: usize,
) -> anyhow::Result<DbPool> {
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // The default (`Verified`) runs a test query at every checkout: half the statements of a
    // cached slot search. A connection the server dropped now fails its first query instead,
    // and a connection left broken by an error is still discarded.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        async move {
            let mut connection = AsyncPgConnection::establish(&url).await?;
            connection
                .batch_execute(&format!("SET search_path TO {}, public", schema.as_str()))
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(connection)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        database_url,
        manager_config,
    );
    let pool = Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .context("failed to build the database pool")?;
    // Fail at start-up, not at the first request, when the database is unreachable.
    let mut connection = pool.get().await.context("failed to connect to postgres")?;
    connection
        .batch_execute("SELECT 1")
        .await
        .context("postgres did not answer")?;
    Ok(pool)
}

/// Returns whether `error` is Postgres ending a transaction to break a deadlock (SQLSTATE
/// 40P01). diesel reports it as an unknown database error with no constraint name, so it is
/// recognised by Postgres's message (which assumes English server messages, the default).
pub fn is_deadlock(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(_, info) if info.message().starts_with("deadlock detected")
    )
}

/// Returns `Ok` when a pooled connection answers a trivial query.
pub async fn ping(pool: &DbPool) -> anyhow::Result<()> {
    let mut connection = pool
        .get()
        .await
        .context("no database connection available")?;
    connection
        .batch_execute("SELECT 1")
        .await
        .context("postgres did not answer")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    #[test]
    fn only_postgres_ending_a_deadlock_is_a_deadlock() {
        let error = |kind, message: &str| Error::DatabaseError(kind, Box::new(message.to_owned()));
        assert!(is_deadlock(&error(
            DatabaseErrorKind::Unknown,
            "deadlock detected"
        )));
        assert!(!is_deadlock(&error(
            DatabaseErrorKind::UniqueViolation,
            "duplicate key value violates unique constraint \"webhook_nonces_pkey\""
        )));
        assert!(!is_deadlock(&Error::NotFound));
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(SchemaName::new("booking").is_ok());
        assert!(SchemaName::new("voice_2").is_ok());
        assert!(SchemaName::new("Booking").is_err());
        assert!(SchemaName::new("x; DROP TABLE y").is_err());
        assert!(SchemaName::new("").is_err());
    }

    #[test]
    fn literal_conditions_are_written_into_the_statement() {
        let condition = literal_in("status", &["queued", "it's"]);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&condition).to_string();
        assert!(sql.starts_with("status IN ('queued', 'it''s')"), "{sql}");
        assert!(!sql.contains('$'), "nothing is bound: {sql}");
    }

    #[test]
    fn lock_keys_differ_per_schema() {
        let booking = SchemaName::new("booking").unwrap().migration_lock_key();
        let voice = SchemaName::new("voice").unwrap().migration_lock_key();
        assert_ne!(booking, voice);
    }
}
