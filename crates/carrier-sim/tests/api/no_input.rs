//! (d): no input at a Gather falls through by default, or posts empty Digits when scripted.

use serde_json::json;

use crate::helpers::{FakeGateway, TestSim};

fn answer_xml(gateway: &FakeGateway) -> String {
    format!(
        r#"<Response>
  <Gather action="{choice}" inputType="dtmf" numDigits="1">
    <Speak>Press 1 to confirm.</Speak>
  </Gather>
  <Speak>We did not get your answer.</Speak>
  <Redirect method="POST">{noinput}</Redirect>
  <Speak>never spoken</Speak>
</Response>"#,
        choice = gateway.url("/choice"),
        noinput = gateway.url("/noinput?attempt=1"),
    )
}

#[tokio::test]
async fn no_input_falls_through_to_the_element_after_the_gather() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", &answer_xml(&gateway));
    gateway.xml("/choice", "<Response><Hangup/></Response>");
    gateway.xml("/noinput", "<Response><Speak>Goodbye.</Speak></Response>");

    // Numbers ending in 9 answer and press nothing.
    let call_uuid = sim
        .place_call(&json!({
            "from": "+15550001000",
            "to": "+15550000009",
            "answer_url": gateway.url("/answer"),
            "hangup_url": gateway.url("/hangup"),
        }))
        .await;
    let record = sim.finished_call(&call_uuid).await;
    let hangup = gateway.hangup().await;

    assert!(gateway.received_at("/choice").is_empty());
    let redirects = gateway.received_at("/noinput");
    assert_eq!(redirects.len(), 1);
    assert_eq!(redirects[0].query, "attempt=1");
    assert_eq!(redirects[0].param("Event"), Some("Redirect"));
    assert_eq!(redirects[0].param("CallUUID"), Some(call_uuid.as_str()));

    let spoken: Vec<&str> = record["spoken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spoken| spoken["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        spoken,
        [
            "Press 1 to confirm.",
            "We did not get your answer.",
            "Goodbye."
        ]
    );
    assert_eq!(record["gathers"][0]["outcome"], "no_input_fallthrough");
    assert_eq!(record["gathers"][0]["digits"], serde_json::Value::Null);

    // The redirected document ends without <Hangup/>: end of XML.
    assert_eq!(hangup.param("HangupCause"), Some("NORMAL_CLEARING"));
    assert_eq!(hangup.param("hangup_cause_code"), Some("4010"));
    assert_eq!(hangup.param("hangup_source"), Some("Vobiz"));
    assert_eq!(hangup.param("Duration"), Some("7"));

    sim.stop().await;
}

#[tokio::test]
async fn post_empty_sends_empty_digits_to_the_action() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", &answer_xml(&gateway));
    gateway.xml("/choice", "<Response><Hangup/></Response>");
    gateway.xml("/noinput", "<Response><Hangup/></Response>");
    sim.put_script(
        "+15550000004",
        &json!({"digits": [], "no_input": "post_empty"}),
    )
    .await;

    let call_uuid = sim
        .place_call(&json!({
            "from": "+15550001000",
            "to": "+15550000004",
            "answer_url": gateway.url("/answer"),
            "hangup_url": gateway.url("/hangup"),
        }))
        .await;
    let record = sim.finished_call(&call_uuid).await;
    gateway.hangup().await;

    let choices = gateway.received_at("/choice");
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0].param("Digits"), Some(""));
    assert_eq!(choices[0].param("InputType"), Some("dtmf"));
    assert!(gateway.received_at("/noinput").is_empty());
    assert_eq!(record["gathers"][0]["outcome"], "no_input_post_empty");
    assert_eq!(record["gathers"][0]["digits"], "");

    sim.stop().await;
}
