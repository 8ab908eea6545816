//! (a) and (b): an answered call that gathers a digit, and a call that is never answered.

use serde_json::json;

use crate::helpers::{FakeGateway, TestSim};

const CHOICE_PROMPT: &str = "Press 1 to confirm, 2 to reschedule.";

fn reminder_xml(gateway: &FakeGateway) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Gather action="{}" method="POST" inputType="dtmf" numDigits="1" executionTimeout="8" finishOnKey="">
    <Speak voice="WOMAN" language="en-US">{CHOICE_PROMPT}</Speak>
  </Gather>
  <Speak>We did not get your answer.</Speak>
</Response>"#,
        gateway.url("/choice")
    )
}

#[tokio::test]
async fn number_ending_in_1_presses_1_and_the_call_completes() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", &reminder_xml(&gateway));
    gateway.xml(
        "/choice",
        "<Response><Speak>Thanks &amp; see you soon.</Speak><Hangup/></Response>",
    );

    let response = sim
        .make_call(&json!({
            "from": "+15550001000",
            "to": "+15550000001",
            "answer_url": gateway.url("/answer"),
            "hangup_url": gateway.url("/hangup"),
        }))
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let fired: serde_json::Value = response.json().await.unwrap();
    assert_eq!(fired["message"], "call fired");
    assert!(fired["api_id"].is_string());
    let call_uuid = fired["request_uuid"].as_str().unwrap().to_owned();

    let record = sim.finished_call(&call_uuid).await;
    let hangup = gateway.hangup().await;

    // The answer request carries the standard parameters.
    let answers = gateway.received_at("/answer");
    assert_eq!(answers.len(), 1);
    let answer = &answers[0];
    assert_eq!(answer.method, "POST");
    assert_eq!(answer.param("CallUUID"), Some(call_uuid.as_str()));
    assert_eq!(answer.param("From"), Some("+15550001000"));
    assert_eq!(answer.param("To"), Some("+15550000001"));
    assert_eq!(answer.param("Direction"), Some("outbound"));
    assert_eq!(answer.param("CallStatus"), Some("in-progress"));
    assert_eq!(answer.param("Event"), Some("StartApp"));
    assert_eq!(answer.param("ALegUUID"), Some(call_uuid.as_str()));
    assert_eq!(answer.param("ALegRequestUUID"), Some(call_uuid.as_str()));
    assert_eq!(answer.param("Digits"), None);

    // The digit goes to the Gather action.
    let choices = gateway.received_at("/choice");
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0].param("Digits"), Some("1"));
    assert_eq!(choices[0].param("InputType"), Some("dtmf"));
    assert_eq!(choices[0].param("CallUUID"), Some(call_uuid.as_str()));
    assert_eq!(choices[0].param("CallStatus"), Some("in-progress"));

    // Speak (2 s) + Gather (1 s) + Speak (2 s), then <Hangup/>.
    assert_eq!(hangup.param("CallUUID"), Some(call_uuid.as_str()));
    assert_eq!(hangup.param("CallStatus"), Some("completed"));
    assert_eq!(hangup.param("Event"), Some("Hangup"));
    assert_eq!(hangup.param("HangupCause"), Some("NORMAL_CLEARING"));
    assert_eq!(hangup.param("hangup_cause_code"), Some("4000"));
    assert_eq!(hangup.param("hangup_source"), Some("Answer XML"));
    assert_eq!(hangup.param("Duration"), Some("5"));
    assert_eq!(hangup.param("BillDuration"), Some("5"));

    // The inspection API shows the whole conversation.
    assert_eq!(record["status"], "completed");
    assert_eq!(record["hangup_cause"], "NORMAL_CLEARING");
    assert_eq!(record["duration"], 5);
    assert_eq!(record["to"], "+15550000001");
    assert_eq!(record["spoken"][0]["text"], CHOICE_PROMPT);
    assert_eq!(record["spoken"][0]["voice"], "WOMAN");
    assert_eq!(record["spoken"][0]["language"], "en-US");
    assert_eq!(record["spoken"][1]["text"], "Thanks & see you soon.");
    assert_eq!(record["spoken"].as_array().unwrap().len(), 2);
    assert_eq!(record["gathers"][0]["execution_timeout"], 8);
    assert_eq!(record["gathers"][0]["digits"], "1");
    let exchanges = record["exchanges"].as_array().unwrap();
    let events: Vec<_> = exchanges
        .iter()
        .map(|exchange| &exchange["event"])
        .collect();
    assert_eq!(events, [&json!("StartApp"), &json!(null), &json!("Hangup")]);
    assert_eq!(exchanges[0]["url"], gateway.url("/answer"));
    assert_eq!(exchanges[0]["response_status"], 200);
    assert!(
        exchanges[0]["response_body"]
            .as_str()
            .unwrap()
            .contains("<Gather")
    );
    assert_eq!(exchanges[1]["request_params"]["Digits"], "1");
    assert_eq!(exchanges[2]["request_params"]["Duration"], "5");

    let all_calls = sim.calls().await;
    assert_eq!(all_calls.len(), 1);
    assert_eq!(all_calls[0]["call_uuid"], call_uuid.as_str());

    sim.stop().await;
}

#[tokio::test]
async fn number_ending_in_0_is_never_answered() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml("/answer", "<Response><Hangup/></Response>");

    let call_uuid = sim
        .place_call(&json!({
            "from": "+15550001000",
            "to": "+15550000010",
            "answer_url": gateway.url("/answer"),
            "hangup_url": gateway.url("/hangup"),
        }))
        .await;

    let record = sim.finished_call(&call_uuid).await;
    let hangup = gateway.hangup().await;

    assert_eq!(gateway.received().len(), 1, "only the hangup callback");
    assert_eq!(hangup.param("CallUUID"), Some(call_uuid.as_str()));
    assert_eq!(hangup.param("CallStatus"), Some("no-answer"));
    assert_eq!(hangup.param("Event"), Some("Hangup"));
    assert_eq!(hangup.param("HangupCause"), Some("NO_ANSWER"));
    assert_eq!(hangup.param("Duration"), Some("0"));
    assert_eq!(hangup.param("BillDuration"), Some("0"));

    assert_eq!(record["status"], "no-answer");
    assert_eq!(record["hangup_cause"], "NO_ANSWER");
    assert_eq!(record["answered_at"], serde_json::Value::Null);
    assert_eq!(record["exchanges"].as_array().unwrap().len(), 1);

    sim.stop().await;
}
