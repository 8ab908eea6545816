//! Injected send-API faults: error statuses for the next N requests, and slow answers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sms_helpers::{SENDER, SmsSim};

#[tokio::test]
async fn the_next_requests_get_the_injected_status_then_all_is_well() {
    let sim = SmsSim::spawn().await;
    let armed = sim
        .put(
            "/sim/sms/faults",
            &json!({"api": "twilio", "status": 503, "count": 2}),
        )
        .await;
    assert_eq!(armed.status().as_u16(), 200);

    // Flowroute is not affected by a Twilio fault.
    sim.flowroute_text("+15550000010", "Hi").await;
    for _ in 0..2 {
        let response = sim
            .twilio_send(&[("To", "+15550000010"), ("From", SENDER), ("Body", "Hi")])
            .await;
        assert_eq!(response.status().as_u16(), 503);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["status"], 503);
    }
    sim.twilio_text("+15550000010", "Hi").await;
    // Refused sends are not recorded.
    assert_eq!(sim.messages("?direction=outbound").await.len(), 2);

    // A fault for both APIs, answered in each API's own error shape.
    sim.put(
        "/sim/sms/faults",
        &json!({"api": null, "status": 429, "count": 0}),
    )
    .await;
    let flowroute = sim
        .flowroute_send(&json!({"to": "15550000010", "from": "15550001000", "body": "Hi"}))
        .await;
    assert_eq!(flowroute.status().as_u16(), 429);
    let error: Value = flowroute.json().await.unwrap();
    assert_eq!(error["errors"][0]["status"], "429");
    let faults: Value = sim
        .client
        .get(sim.url("/sim/sms/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults[0]["status"], 429);
    let cleared = sim
        .client
        .delete(sim.url("/sim/sms/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status().as_u16(), 204);
    sim.flowroute_text("+15550000010", "Hi").await;

    let invalid = sim.put("/sim/sms/faults", &json!({"status": 200})).await;
    assert_eq!(invalid.status().as_u16(), 400);
    sim.stop().await;
}

#[tokio::test]
async fn a_delay_fault_makes_a_client_time_out_and_the_message_still_goes() {
    let sim = SmsSim::spawn().await;
    sim.put(
        "/sim/sms/faults",
        &json!({"api": "flowroute", "delay_ms": 1000}),
    )
    .await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let outcome = impatient
        .post(sim.url("/flowroute/v2.1/messages"))
        .basic_auth(
            crate::sms_helpers::FLOWROUTE_KEY,
            Some(crate::sms_helpers::FLOWROUTE_SECRET),
        )
        .header("content-type", "application/json")
        .body(json!({"to": "15550000010", "from": "15550001000", "body": "Hi"}).to_string())
        .send()
        .await;
    assert!(outcome.unwrap_err().is_timeout());

    // The carrier accepted it after all: the unknown outcome a timeout hides.
    crate::helpers::wait_until(crate::sms_helpers::WAIT, "the slow message", || async {
        (sim.messages("?direction=outbound").await.len() == 1).then_some(())
    })
    .await;
    sim.stop().await;
}
