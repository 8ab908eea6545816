//! The account's limits: calls per second and concurrent calls refused with 429, measured
//! peaks, and the compact call summaries tests compare with an application's own report.

use serde_json::{Value, json};

use crate::helpers::{FakeGateway, TestSim};

fn call_body(gateway: &FakeGateway, to: &str) -> Value {
    json!({
        "from": "+15550001000",
        "to": to,
        "answer_url": gateway.url("/answer"),
        "hangup_url": gateway.url("/hangup"),
    })
}

#[tokio::test]
async fn calls_over_the_concurrency_or_rate_limit_are_refused_with_429_and_counted() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml(
        "/answer",
        "<Response><Speak>Hi.</Speak><Hangup/></Response>",
    );
    // Two lines, both held by callees who let it ring.
    for number in ["+15550000011", "+15550000012", "+15550000013"] {
        sim.put_script(number, &json!({"ring_ms": 1500})).await;
    }
    let response = sim
        .client
        .put(format!("{}/sim/voice/limits", sim.address))
        .json(&json!({"calls_per_second": 100, "max_concurrent_calls": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let first = sim.place_call(&call_body(&gateway, "+15550000011")).await;
    sim.place_call(&call_body(&gateway, "+15550000012")).await;
    let refused = sim.make_call(&call_body(&gateway, "+15550000013")).await;
    assert_eq!(refused.status().as_u16(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "simultaneous dial limit reached");

    // A line is free again once a call has ended (before its hangup callback is answered).
    sim.finished_call(&first).await;
    sim.place_call(&call_body(&gateway, "+15550000013")).await;
    let seen = sim.limits().await;
    assert_eq!(seen["counters"]["rejected_concurrency"], 1);
    assert_eq!(seen["counters"]["peak_concurrent_calls"], 2);
    assert_eq!(seen["counters"]["requests"], 4);

    // One call per second: the second request of the same second is refused.
    sim.client
        .put(format!("{}/sim/voice/limits", sim.address))
        .json(&json!({"calls_per_second": 1}))
        .send()
        .await
        .unwrap();
    sim.place_call(&call_body(&gateway, "+15550000014")).await;
    let refused = sim.make_call(&call_body(&gateway, "+15550000015")).await;
    assert_eq!(refused.status().as_u16(), 429);
    let seen = sim.limits().await;
    assert_eq!(seen["counters"]["rejected_rate"], 1);
    assert_eq!(seen["counters"]["peak_calls_per_second"], 1);
    sim.stop().await;
}

#[tokio::test]
async fn the_summary_lists_each_call_in_a_few_fields() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml(
        "/answer",
        &format!(
            r#"<Response><Gather action="{}" numDigits="1"><Speak voice="MAN" language="en-GB">Press.</Speak></Gather><Hangup/></Response>"#,
            gateway.url("/choice")
        ),
    );
    gateway.xml("/choice", "<Response><Hangup/></Response>");
    let answered = sim.place_call(&call_body(&gateway, "+15550000022")).await;
    let unanswered = sim.place_call(&call_body(&gateway, "+15550000020")).await;
    sim.finished_call(&answered).await;
    sim.finished_call(&unanswered).await;
    let summary: Vec<Value> = sim
        .client
        .get(format!("{}/sim/calls/summary", sim.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary.len(), 2);
    assert_eq!(summary[0]["call_uuid"], answered.as_str());
    assert_eq!(summary[0]["status"], "completed");
    assert_eq!(summary[0]["answered"], true);
    assert_eq!(summary[0]["digits"], json!(["2"]));
    assert_eq!(summary[0]["duration"], 3);
    assert_eq!(summary[0]["first_voice"], json!(["MAN", "en-GB"]));
    assert_eq!(summary[1]["status"], "no-answer");
    assert_eq!(summary[1]["answered"], false);
    assert_eq!(summary[1]["digits"], json!([]));
    sim.stop().await;
}
