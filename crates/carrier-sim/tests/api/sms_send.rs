//! The SMS send APIs: accepted messages, their records, and refused requests.

use serde_json::{Value, json};

use crate::sms_helpers::{FLOWROUTE_KEY, SENDER, SmsSim, TWILIO_SID, TWILIO_TOKEN};

fn is_id(value: &Value, prefix: &str) -> bool {
    value.as_str().is_some_and(|id| {
        id.strip_prefix(prefix).is_some_and(|hex| {
            hex.len() == 32 && hex.chars().all(|character| character.is_ascii_hexdigit())
        })
    })
}

#[tokio::test]
async fn flowroute_accepts_a_message_and_records_it_with_its_encoding() {
    let sim = SmsSim::spawn().await;
    // A number ending in 0 never replies, so only the outbound message is recorded.
    let response = sim
        .flowroute_send(&json!({
            "to": "15550000010",
            "from": "+15550001000",
            "body": "Hi {Joe}",
            "dlr_callback": null,
        }))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let answer: Value = response.json().await.unwrap();
    assert!(is_id(&answer["data"]["id"], "mdr2-"), "{answer}");

    let messages = sim.messages("").await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["id"], answer["data"]["id"]);
    assert_eq!(message["direction"], "outbound");
    assert_eq!(message["api"], "flowroute");
    assert_eq!(message["from"], "+15550001000");
    assert_eq!(message["to"], "+15550000010");
    assert_eq!(message["body"], "Hi {Joe}");
    assert_eq!(message["encoding"], "GSM-7");
    assert_eq!(message["segments"], 1);
    assert!(message["created_at"].is_string());
    sim.stop().await;
}

#[tokio::test]
async fn twilio_accepts_a_message_and_answers_like_twilio() {
    let sim = SmsSim::spawn().await;
    let body = "é".repeat(10) + &"a".repeat(151);
    let answer = sim.twilio_text("+15550000010", &body).await;
    assert!(is_id(&answer["sid"], "SM"), "{answer}");
    assert_eq!(answer["status"], "queued");
    assert_eq!(answer["num_segments"], "2");
    assert_eq!(answer["to"], "+15550000010");
    assert_eq!(answer["from"], SENDER);
    assert_eq!(answer["body"], body.as_str());
    assert_eq!(answer["account_sid"], TWILIO_SID);
    assert_eq!(answer["direction"], "outbound-api");
    assert!(answer["date_created"].as_str().unwrap().ends_with("+0000"));

    // An emoji switches to UCS-2: 71 characters take two segments of 67.
    let emoji_body = format!("{}😀", "a".repeat(69));
    let answer = sim.twilio_text("+15550000020", &emoji_body).await;
    assert_eq!(answer["num_segments"], "2");

    let messages = sim.messages("?to=15550000020").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["encoding"], "UCS-2");
    assert_eq!(messages[0]["segments"], 2);
    assert_eq!(messages[0]["api"], "twilio");
    sim.stop().await;
}

#[tokio::test]
async fn flowroute_refusals_use_the_json_api_error_shape() {
    let sim = SmsSim::spawn().await;
    let url = sim.url("/flowroute/v2.1/messages");
    let good = json!({"to": "15550000010", "from": "15550001000", "body": "Hi"});

    let unauthorized = sim
        .client
        .post(&url)
        .basic_auth(FLOWROUTE_KEY, Some("wrong"))
        .header("content-type", "application/json")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    let error: Value = unauthorized.json().await.unwrap();
    assert_eq!(error["errors"][0]["status"], "401");
    assert!(error["errors"][0]["detail"].is_string());

    let missing_body = sim
        .flowroute_send(&json!({"to": "15550000010", "from": "15550001000"}))
        .await;
    assert_eq!(missing_body.status().as_u16(), 422);
    let error: Value = missing_body.json().await.unwrap();
    assert_eq!(error["errors"][0]["status"], "422");
    assert_eq!(error["errors"][0]["detail"], "body is required");

    let bad_number = sim
        .flowroute_send(&json!({"to": "555-CALL", "from": "15550001000", "body": "Hi"}))
        .await;
    assert_eq!(bad_number.status().as_u16(), 422);

    let not_json = sim
        .client
        .post(&url)
        .basic_auth(FLOWROUTE_KEY, Some(crate::sms_helpers::FLOWROUTE_SECRET))
        .header("content-type", "application/vnd.api+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 400);

    assert!(sim.messages("").await.is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn twilio_refusals_carry_twilios_error_codes() {
    let sim = SmsSim::spawn().await;
    let wrong_token = sim
        .client
        .post(sim.url(&format!(
            "/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .basic_auth(TWILIO_SID, Some("wrong"))
        .form(&[("To", "+15550000010"), ("From", SENDER), ("Body", "Hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status().as_u16(), 401);
    let error: Value = wrong_token.json().await.unwrap();
    assert_eq!(error["code"], 20003);
    assert_eq!(error["status"], 401);

    let other_account = sim
        .client
        .post(sim.url("/twilio/2010-04-01/Accounts/AC_OTHER/Messages.json"))
        .basic_auth(TWILIO_SID, Some(TWILIO_TOKEN))
        .form(&[("To", "+15550000010"), ("From", SENDER), ("Body", "Hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(other_account.status().as_u16(), 401);

    for (params, code) in [
        (vec![("From", SENDER), ("Body", "Hi")], 21604),
        (vec![("To", "+15550000010"), ("Body", "Hi")], 21603),
        (vec![("To", "+15550000010"), ("From", SENDER)], 21602),
        (
            vec![("To", "hello"), ("From", SENDER), ("Body", "Hi")],
            21211,
        ),
    ] {
        let response = sim.twilio_send(&params).await;
        assert_eq!(response.status().as_u16(), 400, "{params:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], code, "{params:?}");
        assert!(
            error["more_info"]
                .as_str()
                .unwrap()
                .ends_with(&code.to_string())
        );
    }
    let too_long = "a".repeat(1601);
    let response = sim
        .twilio_send(&[
            ("To", "+15550000010"),
            ("From", SENDER),
            ("Body", &too_long),
        ])
        .await;
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], 21617);

    assert!(sim.messages("").await.is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn messages_can_be_filtered_and_cleared() {
    let sim = SmsSim::spawn().await;
    sim.twilio_text("+15550000010", "one").await;
    sim.flowroute_text("+15550000020", "two").await;

    assert_eq!(sim.messages("?to=%2B15550000010").await.len(), 1);
    assert_eq!(sim.messages("?from=15550001000").await.len(), 2);
    assert_eq!(sim.messages("?direction=inbound").await.len(), 0);
    let bad = sim
        .client
        .get(sim.url("/sim/messages?direction=up"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let error: Value = bad.json().await.unwrap();
    assert_eq!(error["code"], "invalid_query");

    let id = sim.messages("?to=15550000020").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = sim
        .client
        .get(sim.url(&format!("/sim/messages/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status().as_u16(), 200);
    let missing = sim
        .client
        .get(sim.url("/sim/messages/mdr2-nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);

    let cleared = sim
        .client
        .delete(sim.url("/sim/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status().as_u16(), 204);
    assert!(sim.messages("").await.is_empty());
    sim.stop().await;
}
