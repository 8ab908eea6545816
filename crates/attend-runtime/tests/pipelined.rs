//! `PipelinedTransaction` on a real Postgres: the statement sent with `BEGIN` runs inside the
//! transaction, even one that must be prepared first; commit and rollback end it; and a
//! transaction dropped half-way leaves a connection the pool discards.

use attend_runtime::pipelined::PipelinedTransaction;
use attend_test_support::TestEnv;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Transaction {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn connect(env: &TestEnv) -> AsyncPgConnection {
    AsyncPgConnection::establish(&env.database_url)
        .await
        .unwrap_or_else(|error| panic!("no connection: {error}"))
}

/// A table of its own per test (tests share the database).
async fn notes_table(connection: &mut AsyncPgConnection, name: &str) {
    diesel::sql_query(format!(
        "CREATE TABLE {name} (note text PRIMARY KEY CHECK (note <> 'refused'))"
    ))
    .execute(connection)
    .await
    .unwrap_or_else(|error| panic!("table {name} not created: {error}"));
}

async fn insert_note(
    mut connection: &AsyncPgConnection,
    table: &str,
    note: &str,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(format!("INSERT INTO {table} (note) VALUES ($1)"))
        .bind::<Text, _>(note)
        .execute(&mut connection)
        .await
}

async fn notes(connection: &mut AsyncPgConnection, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT count(*) AS count FROM {table}"))
        .get_result::<Count>(connection)
        .await
        .unwrap_or_else(|error| panic!("{table} not counted: {error}"))
        .count
}

async fn transaction_id(mut connection: &AsyncPgConnection) -> diesel::QueryResult<i64> {
    // txid_current() assigns an id, so two calls agree only inside one transaction.
    diesel::sql_query("SELECT txid_current() AS id")
        .get_result::<Transaction>(&mut connection)
        .await
        .map(|row| row.id)
}

#[tokio::test]
async fn the_statement_sent_with_begin_runs_inside_the_transaction() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = connect(&env).await;
    let mut observer = connect(&env).await;
    notes_table(&mut connection, "pipelined_commit").await;

    let mut transaction = PipelinedTransaction::begin(&mut connection).unwrap();
    let first = transaction
        .first_statement(async |connection| transaction_id(connection).await)
        .await
        .unwrap();
    let connection_inside = transaction.connection().await.unwrap();
    let later = transaction_id(connection_inside).await.unwrap();
    assert_eq!(first, later, "one transaction from the first statement on");
    insert_note(connection_inside, "pipelined_commit", "one")
        .await
        .unwrap();
    assert_eq!(notes(&mut observer, "pipelined_commit").await, 0);
    transaction.commit().await.unwrap();
    assert_eq!(notes(&mut observer, "pipelined_commit").await, 1);
    assert!(!connection.is_broken(), "the pool may reuse the connection");
    // diesel's own transactions work on it again.
    connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            insert_note(connection, "pipelined_commit", "two").await
        })
        .await
        .unwrap();
    assert_eq!(notes(&mut observer, "pipelined_commit").await, 2);
}

#[tokio::test]
async fn a_first_statement_that_must_be_prepared_still_runs_after_begin() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = connect(&env).await;
    let mut observer = connect(&env).await;
    notes_table(&mut connection, "pipelined_prepared").await;

    // sql_query is prepared on every execution: its execution is issued only once the
    // prepare's answer is back, well after BEGIN. Rolled back, it must leave nothing.
    let mut transaction = PipelinedTransaction::begin(&mut connection).unwrap();
    transaction
        .first_statement(async |connection| {
            let (one, two) = futures_util::join!(
                insert_note(connection, "pipelined_prepared", "one"),
                insert_note(connection, "pipelined_prepared", "two")
            );
            one.and(two)
        })
        .await
        .unwrap();
    transaction.rollback().await.unwrap();
    assert_eq!(notes(&mut observer, "pipelined_prepared").await, 0);
    assert!(!connection.is_broken());
}

#[tokio::test]
async fn a_failed_statement_is_rolled_back_and_the_connection_stays_usable() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = connect(&env).await;
    let mut observer = connect(&env).await;
    notes_table(&mut connection, "pipelined_refused").await;

    let mut transaction = PipelinedTransaction::begin(&mut connection).unwrap();
    transaction
        .first_statement(async |connection| {
            insert_note(connection, "pipelined_refused", "kept until the end").await
        })
        .await
        .unwrap();
    let refused = insert_note(
        transaction.connection().await.unwrap(),
        "pipelined_refused",
        "refused",
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::CheckViolation,
                _
            ))
        ),
        "got {refused:?}"
    );
    transaction.rollback().await.unwrap();
    assert_eq!(notes(&mut observer, "pipelined_refused").await, 0);
    assert!(!connection.is_broken());
    insert_note(&connection, "pipelined_refused", "after")
        .await
        .unwrap();
    assert_eq!(
        notes(&mut observer, "pipelined_refused").await,
        1,
        "autocommit again"
    );
}

#[tokio::test]
async fn one_that_sent_nothing_ends_without_a_round_trip_and_reads_may_come_before_begin() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = connect(&env).await;

    let transaction = PipelinedTransaction::begin(&mut connection).unwrap();
    transaction.commit().await.unwrap();
    assert!(!connection.is_broken());
    // Nothing was sent, so nothing is open on the server either.
    let mut transaction = PipelinedTransaction::begin(&mut connection).unwrap();
    let outside = transaction_id(transaction.connection_for_reads().unwrap())
        .await
        .unwrap();
    let inside = transaction
        .first_statement(async |connection| transaction_id(connection).await)
        .await
        .unwrap();
    assert_ne!(
        outside, inside,
        "a read before BEGIN is its own transaction"
    );
    transaction.commit().await.unwrap();
}

#[tokio::test]
async fn a_transaction_dropped_half_way_is_never_reused() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = connect(&env).await;
    let mut observer = connect(&env).await;
    notes_table(&mut connection, "pipelined_dropped").await;

    {
        let mut transaction = PipelinedTransaction::begin(&mut connection).unwrap();
        transaction
            .first_statement(async |connection| {
                insert_note(connection, "pipelined_dropped", "half").await
            })
            .await
            .unwrap();
        // Dropped here, as a cancelled request's future would drop it.
    }
    assert!(
        connection.is_broken(),
        "a connection with an open transaction must be discarded by the pool"
    );
    drop(connection);
    assert_eq!(notes(&mut observer, "pipelined_dropped").await, 0);

    // One that sent nothing yet counts as open too: its caller may have been cancelled
    // with BEGIN already on the wire.
    let mut connection = connect(&env).await;
    let never_used = PipelinedTransaction::begin(&mut connection).unwrap();
    assert!(format!("{never_used:?}").contains("Pending"));
    assert!(connection.is_broken());
}

#[tokio::test]
async fn inside_the_callers_transaction_nothing_is_begun_or_ended() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = connect(&env).await;
    let mut observer = connect(&env).await;
    notes_table(&mut connection, "pipelined_within").await;

    let outcome = connection
        .transaction::<(), diesel::result::Error, _>(async |connection| {
            let outer = transaction_id(connection).await?;
            assert!(matches!(
                PipelinedTransaction::begin(connection).map(drop),
                Err(diesel::result::Error::AlreadyInTransaction)
            ));
            let mut transaction = PipelinedTransaction::within(connection);
            let inner = transaction
                .first_statement(async |connection| {
                    insert_note(connection, "pipelined_within", "inner").await?;
                    transaction_id(connection).await
                })
                .await?;
            assert_eq!(outer, inner);
            transaction.commit().await?;
            // The caller decides: roll everything back.
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(matches!(
        outcome,
        Err(diesel::result::Error::RollbackTransaction)
    ));
    assert_eq!(notes(&mut observer, "pipelined_within").await, 0);
    assert!(!connection.is_broken());
}

#[tokio::test]
async fn run_commits_what_succeeds_and_rolls_back_what_fails() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = connect(&env).await;
    let mut observer = connect(&env).await;
    notes_table(&mut connection, "pipelined_run").await;

    PipelinedTransaction::run(&mut connection, async |transaction| {
        transaction
            .first_statement(async |connection| {
                insert_note(connection, "pipelined_run", "kept").await
            })
            .await
    })
    .await
    .unwrap();
    assert_eq!(notes(&mut observer, "pipelined_run").await, 1);

    let failed: Result<(), diesel::result::Error> =
        PipelinedTransaction::run(&mut connection, async |transaction| {
            transaction
                .first_statement(async |connection| {
                    insert_note(connection, "pipelined_run", "dropped").await
                })
                .await?;
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(matches!(
        failed,
        Err(diesel::result::Error::RollbackTransaction)
    ));
    assert_eq!(
        notes(&mut observer, "pipelined_run").await,
        1,
        "rolled back"
    );
    assert!(!connection.is_broken());
}
