//! (e): the make-call API's authentication and validation, and the health routes.

use serde_json::{Value, json};

use crate::helpers::{AUTH_ID, AUTH_TOKEN, FakeGateway, TestSim};

fn valid_body(gateway: &FakeGateway) -> Value {
    json!({
        "from": "+15550001000",
        "to": "+15550000001",
        "answer_url": gateway.url("/answer"),
        "hangup_url": gateway.url("/hangup"),
    })
}

#[expect(clippy::unwrap_used, reason = "test helper")]
async fn assert_error(response: reqwest::Response, status: u16, message: &str) {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["api_id"].is_string(), "{body}");
    assert_eq!(body["error"], message);
}

#[tokio::test]
async fn bad_credentials_are_refused_with_401() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    let body = valid_body(&gateway);

    let wrong_token = sim
        .client
        .post(sim.make_call_url())
        .header("X-Auth-ID", AUTH_ID)
        .header("X-Auth-Token", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(wrong_token, 401, "authentication failed").await;

    let no_headers = sim
        .client
        .post(sim.make_call_url())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(no_headers, 401, "authentication failed").await;

    let other_account = sim
        .client
        .post(format!("{}/api/v1/Account/MA_OTHER/Call/", sim.address))
        .header("X-Auth-ID", AUTH_ID)
        .header("X-Auth-Token", AUTH_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(other_account, 401, "authentication failed").await;

    assert!(sim.calls().await.is_empty());
    assert!(gateway.received().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn invalid_bodies_are_refused_with_400() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;

    let mut missing_to = valid_body(&gateway);
    missing_to.as_object_mut().unwrap().remove("to");
    assert_error(sim.make_call(&missing_to).await, 400, "to is required").await;

    let mut missing_answer = valid_body(&gateway);
    missing_answer.as_object_mut().unwrap().remove("answer_url");
    assert_error(
        sim.make_call(&missing_answer).await,
        400,
        "answer_url is required",
    )
    .await;

    let mut relative = valid_body(&gateway);
    relative["answer_url"] = json!("/answer");
    assert_error(
        sim.make_call(&relative).await,
        400,
        "answer_url must be an absolute http(s) url",
    )
    .await;

    let mut bad_method = valid_body(&gateway);
    bad_method["answer_method"] = json!("PUT");
    assert_error(
        sim.make_call(&bad_method).await,
        400,
        "answer_method must be GET or POST",
    )
    .await;

    let not_json = sim
        .client
        .post(sim.make_call_url())
        .header("X-Auth-ID", AUTH_ID)
        .header("X-Auth-Token", AUTH_TOKEN)
        .body("from=1")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 400);

    assert!(sim.calls().await.is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn the_route_works_without_its_trailing_slash() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", "<Response><Hangup/></Response>");

    let response = sim
        .client
        .post(format!("{}/api/v1/Account/{AUTH_ID}/Call", sim.address))
        .header("X-Auth-ID", AUTH_ID)
        .header("X-Auth-Token", AUTH_TOKEN)
        .json(&valid_body(&gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    let record = sim
        .finished_call(body["request_uuid"].as_str().unwrap())
        .await;
    assert_eq!(record["status"], "completed");
    sim.stop().await;
}

#[tokio::test]
async fn health_inspection_and_clearing() {
    let sim = TestSim::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = sim
            .client
            .get(format!("{}{path}", sim.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"status": "ok"}));
    }

    let unknown = sim.call("00000000-0000-0000-0000-000000000000").await;
    assert_eq!(unknown.status().as_u16(), 404);
    let not_a_uuid = sim.call("nope").await;
    assert_eq!(not_a_uuid.status().as_u16(), 404);

    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", "<Response><Hangup/></Response>");
    let call_uuid = sim.place_call(&valid_body(&gateway)).await;
    sim.finished_call(&call_uuid).await;
    assert_eq!(sim.calls().await.len(), 1);

    let cleared = sim
        .client
        .delete(format!("{}/sim/calls", sim.address))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status().as_u16(), 204);
    assert!(sim.calls().await.is_empty());
    sim.stop().await;
}
