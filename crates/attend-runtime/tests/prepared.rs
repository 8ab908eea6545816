//! `PreparedSql` on a real Postgres: what it binds, and that it is prepared once per
//! connection where `diesel::sql_query` is prepared again on every execution.

use attend_runtime::prepared::PreparedSql;
use attend_test_support::TestEnv;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName, Debug, PartialEq)]
struct Sums {
    #[diesel(sql_type = Integer)]
    sum: i32,
    #[diesel(sql_type = Integer)]
    tenfold: i32,
    #[diesel(sql_type = Text)]
    label: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Returns how many statements prepared on `connection` contain `marker`.
async fn prepared_with(connection: &mut AsyncPgConnection, marker: &str) -> i64 {
    let counted: Result<Count, _> = diesel::sql_query(
        "SELECT count(*) AS count FROM pg_prepared_statements WHERE strpos(statement, $1) > 0",
    )
    .bind::<Text, _>(marker)
    .get_result(connection)
    .await;
    match counted {
        Ok(counted) => counted.count,
        Err(error) => panic!("pg_prepared_statements could not be read: {error}"),
    }
}

#[tokio::test]
async fn a_statement_is_prepared_once_per_connection_with_each_placeholder_bound() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = AsyncPgConnection::establish(&env.database_url)
        .await
        .unwrap();

    const SQL: &str = "SELECT $1::int4 + $2 AS sum, $1 * 10 AS tenfold, $3 AS label";
    for (first, second) in [(1, 2), (5, 7), (-3, 3)] {
        let sums: Sums = PreparedSql::new(SQL)
            .bind::<Integer, _>(first)
            .bind::<Integer, _>(second)
            .bind::<Text, _>(format!("run {first}"))
            .get_result(&mut connection)
            .await
            .unwrap();
        assert_eq!(
            sums,
            Sums {
                sum: first + second,
                tenfold: first * 10,
                label: format!("run {first}"),
            },
            "a parameter named twice ($1) is the same value both times"
        );
    }
    assert_eq!(
        prepared_with(&mut connection, "AS tenfold").await,
        1,
        "three executions, one prepared statement"
    );

    // What PreparedSql is for: sql_query's statement is parsed anew each time, never kept.
    for _ in 0..3 {
        diesel::sql_query("SELECT 1 AS raw_marker")
            .execute(&mut connection)
            .await
            .unwrap();
    }
    assert_eq!(prepared_with(&mut connection, "raw_marker").await, 0);
}

#[tokio::test]
async fn a_placeholder_without_a_value_is_an_error_not_a_panic() {
    let env = TestEnv::new().await.unwrap();
    let mut connection = AsyncPgConnection::establish(&env.database_url)
        .await
        .unwrap();

    let unbound = PreparedSql::new("SELECT $2::int4 AS sum")
        .bind::<Integer, _>(1)
        .execute(&mut connection)
        .await;
    assert!(
        matches!(unbound, Err(diesel::result::Error::QueryBuilderError(_))),
        "{unbound:?}"
    );
    let bare = PreparedSql::new("SELECT $ AS sum")
        .execute(&mut connection)
        .await;
    assert!(
        matches!(bare, Err(diesel::result::Error::QueryBuilderError(_))),
        "{bare:?}"
    );
}
