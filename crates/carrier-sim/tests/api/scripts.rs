//! (c): a script override changes what the callee presses.

use serde_json::{Value, json};

use crate::helpers::{FakeGateway, TestSim};

fn gather_xml(action: &str, prompt: &str) -> String {
    format!(
        r#"<Response><Gather action="{action}" numDigits="1"><Speak>{prompt}</Speak></Gather><Hangup/></Response>"#
    )
}

#[tokio::test]
async fn an_override_presses_3_then_1() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    let number = "+15550000005";
    gateway.xml(
        "/answer",
        &gather_xml(&gateway.url("/menu"), "Press 3 to cancel."),
    );
    gateway.xml(
        "/menu",
        &gather_xml(
            &gateway.url("/confirm-cancel"),
            "Press 1 to confirm the cancellation.",
        ),
    );
    gateway.xml(
        "/confirm-cancel",
        "<Response><Speak>Cancelled.</Speak><Hangup/></Response>",
    );

    sim.put_script(
        number,
        &json!({"answer": true, "digits": ["3", "1"], "ring_ms": 50}),
    )
    .await;

    let call_uuid = sim
        .place_call(&json!({
            "from": "+15550001000",
            "to": number,
            "answer_url": gateway.url("/answer"),
            "hangup_url": gateway.url("/hangup"),
        }))
        .await;
    let record = sim.finished_call(&call_uuid).await;
    gateway.hangup().await;

    assert_eq!(gateway.received_at("/menu")[0].param("Digits"), Some("3"));
    assert_eq!(
        gateway.received_at("/confirm-cancel")[0].param("Digits"),
        Some("1")
    );
    assert_eq!(record["script_source"], "override");
    assert_eq!(record["script"]["digits"], json!(["3", "1"]));
    let spoken: Vec<&str> = record["spoken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spoken| spoken["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        spoken,
        [
            "Press 3 to cancel.",
            "Press 1 to confirm the cancellation.",
            "Cancelled."
        ]
    );

    // The filter matches the number whether or not the '+' survived URL decoding.
    for filter in ["%2B15550000005", "+15550000005", "15550000005"] {
        let calls: Vec<Value> = sim
            .client
            .get(format!("{}/sim/calls?to={filter}", sim.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(calls.len(), 1, "filter {filter}");
    }
    let other: Vec<Value> = sim
        .client
        .get(format!("{}/sim/calls?to=%2B15550000001", sim.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(other.is_empty());

    sim.stop().await;
}

#[tokio::test]
async fn scripts_can_be_read_and_deleted() {
    let sim = TestSim::spawn().await;
    let script_url = format!("{}/sim/voice/scripts/%2B15550000003", sim.address);

    let default: Value = sim
        .client
        .get(&script_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(default["source"], "default");
    assert_eq!(default["number"], "+15550000003");
    assert_eq!(default["digits"], json!(["3", "1"]));

    sim.put_script(
        "+15550000003",
        &json!({"digits": ["7"], "no_input": "post_empty"}),
    )
    .await;
    let custom: Value = sim
        .client
        .get(&script_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(custom["source"], "override");
    assert_eq!(custom["digits"], json!(["7"]));
    assert_eq!(custom["no_input"], "post_empty");
    assert_eq!(custom["answer"], true);
    assert_eq!(custom["ring_ms"], 0);

    let deleted = sim.client.delete(&script_url).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let restored: Value = sim
        .client
        .get(&script_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(restored["source"], "default");

    let invalid = sim
        .client
        .put(&script_url)
        .json(&json!({"digits": ["1x"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status().as_u16(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["code"], "invalid_script");

    let unknown_field = sim
        .client
        .put(&script_url)
        .json(&json!({"digit": ["1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status().as_u16(), 400);

    sim.stop().await;
}
