//! Busy, failed and machine-answered callees, hanging up mid-prompt, duplicate and late
//! webhooks, and injected make-call faults.

use serde_json::{Value, json};

use crate::helpers::{FakeGateway, TestSim};

const TO: &str = "+15550000004";

fn call_body(gateway: &FakeGateway) -> Value {
    json!({
        "from": "+15550001000",
        "to": TO,
        "answer_url": gateway.url("/answer"),
        "hangup_url": gateway.url("/hangup"),
    })
}

fn menu(gateway: &FakeGateway) -> String {
    format!(
        r#"<Response><Speak>One.</Speak><Gather action="{}" numDigits="1"><Speak>Two.</Speak></Gather><Hangup/></Response>"#,
        gateway.url("/choice")
    )
}

#[tokio::test]
async fn a_busy_line_and_a_failed_call_report_their_status_without_answering() {
    let sim = TestSim::spawn().await;
    for (line, status, cause) in [
        ("busy", "busy", "USER_BUSY"),
        ("failed", "failed", "UNALLOCATED_NUMBER"),
    ] {
        let gateway = FakeGateway::spawn().await;
        sim.put_script(TO, &json!({ "line": line })).await;
        let call_uuid = sim.place_call(&call_body(&gateway)).await;
        let record = sim.finished_call(&call_uuid).await;
        let hangup = gateway.hangup().await;
        assert_eq!(record["status"], status);
        assert_eq!(hangup.param("CallStatus"), Some(status));
        assert_eq!(hangup.param("HangupCause"), Some(cause));
        assert!(gateway.received_at("/answer").is_empty(), "{line}");
    }
    sim.stop().await;
}

#[tokio::test]
async fn a_machine_is_reported_when_detection_was_asked_for() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", &menu(&gateway));
    gateway.reply("/machine", 200, "text/plain", "OK");
    sim.put_script(TO, &json!({ "line": "machine", "digits": ["1"] }))
        .await;
    let mut body = call_body(&gateway);
    body["machine_detection"] = json!("true");
    body["machine_detection_url"] = json!(gateway.url("/machine"));
    let call_uuid = sim.place_call(&body).await;
    let record = sim.finished_call(&call_uuid).await;
    gateway.hangup().await;

    let detection = gateway.received_at("/machine");
    assert_eq!(detection.len(), 1);
    assert_eq!(detection[0].param("Machine"), Some("true"));
    assert_eq!(detection[0].param("Event"), Some("MachineDetection"));
    let answer = gateway.received_at("/answer");
    assert_eq!(answer[0].param("Machine"), Some("true"));
    // A machine presses nothing.
    assert_eq!(record["gathers"][0]["outcome"], "no_input_fallthrough");

    // Without detection the application is not told.
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", &menu(&gateway));
    let call_uuid = sim.place_call(&call_body(&gateway)).await;
    sim.finished_call(&call_uuid).await;
    gateway.hangup().await;
    assert_eq!(gateway.received_at("/answer")[0].param("Machine"), None);
    sim.stop().await;
}

#[tokio::test]
async fn a_callee_can_hang_up_mid_prompt() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", &menu(&gateway));
    sim.put_script(TO, &json!({ "hangup_after_speaks": 1, "digits": ["1"] }))
        .await;
    let call_uuid = sim.place_call(&call_body(&gateway)).await;
    let record = sim.finished_call(&call_uuid).await;
    let hangup = gateway.hangup().await;
    assert_eq!(record["spoken"].as_array().map(Vec::len), Some(1));
    assert_eq!(record["hangup_source"], "Callee");
    assert_eq!(hangup.param("CallStatus"), Some("completed"));
    assert!(gateway.received_at("/choice").is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn webhooks_can_be_duplicated_and_an_action_can_arrive_after_the_hangup() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", &menu(&gateway));
    gateway.xml("/choice", "<Response><Hangup/></Response>");
    sim.put_script(
        TO,
        &json!({ "digits": ["1"], "duplicate_webhooks": true, "late_action_after_hangup": true }),
    )
    .await;
    let call_uuid = sim.place_call(&call_body(&gateway)).await;
    sim.finished_call(&call_uuid).await;
    gateway.hangup().await;

    assert_eq!(gateway.received_at("/answer").len(), 2);
    assert_eq!(gateway.received_at("/hangup").len(), 2);
    // Twice during the call, twice more after the hangup.
    let choices = gateway.received_at("/choice");
    assert_eq!(choices.len(), 4);
    let nonces: std::collections::HashSet<_> = gateway
        .received()
        .iter()
        .filter_map(|request| request.headers.get("x-vobiz-signature-v3-nonce").cloned())
        .collect();
    assert_eq!(
        nonces.len(),
        gateway.received().len(),
        "every request has its own nonce"
    );
    let order: Vec<String> = gateway.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        order,
        [
            "/answer", "/answer", "/choice", "/choice", "/hangup", "/hangup", "/choice", "/choice"
        ]
    );
    sim.stop().await;
}

#[tokio::test]
async fn make_call_faults_are_injected_per_number() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", "<Response><Hangup/></Response>");

    // 429 twice, then accepted.
    sim.put_script(TO, &json!({ "api_fault": { "status": 429, "times": 2 } }))
        .await;
    for _ in 0..2 {
        let response = sim.make_call(&call_body(&gateway)).await;
        assert_eq!(response.status().as_u16(), 429);
    }
    assert!(sim.calls().await.is_empty());
    let call_uuid = sim.place_call(&call_body(&gateway)).await;
    sim.finished_call(&call_uuid).await;

    // A slow 503 that fired the call anyway: the call exists although the API failed.
    sim.put_script(
        TO,
        &json!({ "api_fault": { "status": 503, "fire_anyway": true, "delay_ms": 100 } }),
    )
    .await;
    let started = std::time::Instant::now();
    let response = sim.make_call(&call_body(&gateway)).await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    assert_eq!(sim.calls().await.len(), 2);

    // Not an error status: refused.
    let response = sim
        .client
        .put(format!("{}/sim/voice/scripts/%2B15550000004", sim.address))
        .json(&json!({ "api_fault": { "status": 200 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    sim.stop().await;
}
