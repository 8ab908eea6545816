//! Misbehaving applications: loops, errors, wrong content types; plus GET webhooks and shutdown.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{FakeGateway, TestSim, wait_until};

fn call_body(gateway: &FakeGateway, to: &str) -> Value {
    json!({
        "from": "+15550001000",
        "to": to,
        "answer_url": gateway.url("/answer"),
        "hangup_url": gateway.url("/hangup"),
    })
}

#[tokio::test]
async fn a_redirect_loop_is_cut_after_50_exchanges() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml(
        "/answer",
        &format!(
            "<Response><Redirect>{}</Redirect></Response>",
            gateway.url("/answer")
        ),
    );

    let call_uuid = sim.place_call(&call_body(&gateway, "+15550000001")).await;
    let record = sim.finished_call(&call_uuid).await;
    let hangup = gateway.hangup().await;

    assert_eq!(gateway.received_at("/answer").len(), 50);
    assert_eq!(record["hangup_cause"], "EXCHANGE_LIMIT");
    assert_eq!(hangup.param("HangupCause"), Some("EXCHANGE_LIMIT"));
    assert_eq!(hangup.param("CallStatus"), Some("completed"));
    assert_eq!(hangup.param("hangup_source"), Some("Error"));
    sim.stop().await;
}

#[tokio::test]
async fn a_failing_answer_url_ends_the_call_and_still_sends_the_hangup() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.reply("/answer", 500, "text/plain", "boom");
    // Even a failing hangup callback must not disturb the sim.
    gateway.reply("/hangup", 503, "text/plain", "");

    let call_uuid = sim.place_call(&call_body(&gateway, "+15550000001")).await;
    let record = sim.finished_call(&call_uuid).await;
    let hangup = gateway.hangup().await;

    assert_eq!(record["status"], "completed");
    assert_eq!(record["hangup_cause"], "WEBHOOK_FAILED");
    assert!(
        record["error"].as_str().unwrap().contains("500"),
        "{record}"
    );
    assert_eq!(hangup.param("HangupCause"), Some("WEBHOOK_FAILED"));
    assert_eq!(record["exchanges"][1]["response_status"], 503);
    sim.stop().await;
}

#[tokio::test]
async fn an_unreachable_answer_url_ends_the_call() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    // Nothing listens on port 9 of localhost (discard), so the request fails to connect.
    let call_uuid = sim
        .place_call(&json!({
            "from": "+15550001000",
            "to": "+15550000001",
            "answer_url": "http://127.0.0.1:9/answer",
            "hangup_url": gateway.url("/hangup"),
        }))
        .await;
    let record = sim.finished_call(&call_uuid).await;
    gateway.hangup().await;
    assert_eq!(record["hangup_cause"], "WEBHOOK_FAILED");
    assert!(record["exchanges"][0]["error"].is_string(), "{record}");
    sim.stop().await;
}

#[tokio::test]
async fn xml_served_as_html_or_malformed_is_an_application_error() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.reply(
        "/answer",
        200,
        "text/html",
        "<Response><Hangup/></Response>",
    );

    let call_uuid = sim.place_call(&call_body(&gateway, "+15550000001")).await;
    let record = sim.finished_call(&call_uuid).await;
    gateway.hangup().await;
    assert_eq!(record["hangup_cause"], "INVALID_XML");
    assert!(record["error"].as_str().unwrap().contains("content type"));

    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", "<Response><Speak>unclosed</Response>");
    let call_uuid = sim.place_call(&call_body(&gateway, "+15550000001")).await;
    let record = sim.finished_call(&call_uuid).await;
    gateway.hangup().await;
    assert_eq!(record["hangup_cause"], "INVALID_XML");
    assert!(record["error"].as_str().unwrap().contains("malformed xml"));

    let gateway = FakeGateway::spawn().await;
    gateway.xml(
        "/answer",
        &format!(
            "<Response><Speak>{}</Speak></Response>",
            "a".repeat(110_000)
        ),
    );
    let call_uuid = sim.place_call(&call_body(&gateway, "+15550000001")).await;
    let record = sim.finished_call(&call_uuid).await;
    gateway.hangup().await;
    assert_eq!(record["hangup_cause"], "INVALID_XML");
    assert!(record["error"].as_str().unwrap().contains("bytes"));
    sim.stop().await;
}

#[tokio::test]
async fn get_webhooks_carry_their_params_in_the_query_string() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml(
        "/answer",
        &format!(
            r#"<Response><GetDigits action="{}" method="GET" redirect="false"/><Speak>Bye.</Speak></Response>"#,
            gateway.url("/digits")
        ),
    );
    gateway.reply("/digits", 204, "text/plain", "");

    let mut body = call_body(&gateway, "+15550000002");
    body["answer_method"] = json!("GET");
    body["hangup_method"] = json!("get");
    let call_uuid = sim.place_call(&body).await;
    let record = sim.finished_call(&call_uuid).await;
    let hangup = gateway.hangup().await;

    let answer = &gateway.received_at("/answer")[0];
    assert_eq!(answer.method, "GET");
    assert_eq!(answer.param("Event"), Some("StartApp"));
    assert_eq!(answer.param("To"), Some("+15550000002"));

    // redirect="false": the action is notified and the call continues after the element.
    let digits = &gateway.received_at("/digits")[0];
    assert_eq!(digits.method, "GET");
    assert_eq!(digits.param("Digits"), Some("2"));
    assert_eq!(record["spoken"][0]["text"], "Bye.");
    assert_eq!(hangup.method, "GET");
    assert_eq!(hangup.param("hangup_cause_code"), Some("4010"));
    sim.stop().await;
}

#[tokio::test]
async fn the_ring_url_hears_about_the_ringing_first() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.reply("/ring", 200, "text/plain", "");
    gateway.xml("/answer", "<Response><Hangup/></Response>");

    let mut body = call_body(&gateway, "+15550000001");
    body["ring_url"] = json!(gateway.url("/ring"));
    let call_uuid = sim.place_call(&body).await;
    sim.finished_call(&call_uuid).await;
    gateway.hangup().await;

    let paths: Vec<String> = gateway
        .received()
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(paths, ["/ring", "/answer", "/hangup"]);
    let ring = &gateway.received_at("/ring")[0];
    assert_eq!(ring.param("Event"), Some("Ring"));
    assert_eq!(ring.param("CallStatus"), Some("ringing"));
    sim.stop().await;
}

#[tokio::test]
async fn shutdown_stops_a_ringing_call_promptly() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    sim.put_script("+15550000001", &json!({"ring_ms": 60000}))
        .await;
    let call_uuid = sim.place_call(&call_body(&gateway, "+15550000001")).await;
    wait_until(
        Duration::from_secs(5),
        "the call to be recorded as ringing",
        || async {
            let record: Value = sim.call(&call_uuid).await.json().await.ok()?;
            (record["status"] == "ringing").then_some(())
        },
    )
    .await;

    let started = Instant::now();
    sim.stop().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(gateway.received().is_empty());
}
