//! Operator routes and API-key authentication.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, appointment_body};

#[tokio::test]
async fn creating_a_tenant_needs_the_admin_token_and_returns_a_working_key() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/admin/tenants", app.address);

    let without = app
        .client
        .post(&url)
        .json(&json!({"name": "Clinic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 401);
    assert_eq!(
        without.headers()["content-type"],
        "application/problem+json"
    );
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("nope")
        .json(&json!({"name": "Clinic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let (_, key) = app.create_tenant("Clinic").await;
    assert!(key.starts_with("attk_"));
    // The key works, and only its hash is stored.
    let response = app
        .post_appointment(&key, &appointment_body("+12015550101", "PT30M"))
        .await;
    assert_eq!(response.status(), 201);
    let mut connection = app.env.connect("booking").await.unwrap();
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let plain: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM api_keys WHERE encode(key_hash, 'escape') LIKE '%attk_%'",
    )
    .get_result(&mut connection)
    .await
    .unwrap();
    assert_eq!(plain.count, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_tenant_request_names_the_field() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/admin/tenants", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "name");
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_metrics_and_unknown_routes_answer() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("attend_http_requests_total")
    );
    let missing = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    app.stop().await;
}
