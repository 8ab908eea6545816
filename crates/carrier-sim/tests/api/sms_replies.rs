//! The scripted subscriber: replies through the conversation's API, signed Twilio webhooks,
//! STOP at the carrier, scripts, injected and duplicate messages, retries, status callbacks.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sms_helpers::{
    FLOWROUTE_INBOUND, SENDER, SmsSim, TWILIO_INBOUND, TWILIO_SID, path_number, twilio_signature,
};

const FLOWROUTE_PATH: &str = "/sms/flowroute/inbound";

/// Checks a Twilio webhook's signature against the URL it was sent to.
fn assert_twilio_signed(sim: &SmsSim, hit: &crate::sms_helpers::Hit, path_and_query: &str) {
    let expected = twilio_signature(&sim.receiver.url(path_and_query), &hit.form());
    assert_eq!(hit.headers["x-twilio-signature"], expected);
}

#[tokio::test]
async fn a_flowroute_conversation_gets_the_default_reply_once_as_json_api() {
    let sim = SmsSim::spawn().await;
    let sent = sim.flowroute_text("+15550000001", "Reply Yes or No").await;

    let hits = sim.receiver.wait_for(FLOWROUTE_PATH, 1).await;
    assert_eq!(hits[0].query, "token=t0k");
    assert!(
        hits[0].headers["content-type"].starts_with("application/json"),
        "{:?}",
        hits[0].headers
    );
    let webhook = hits[0].json();
    assert_eq!(webhook["data"]["type"], "message");
    let attributes = &webhook["data"]["attributes"];
    assert_eq!(attributes["body"], "Yes");
    assert_eq!(attributes["from"], "15550000001");
    assert_eq!(attributes["to"], "15550001000");
    assert_eq!(attributes["direction"], "inbound");
    assert_eq!(attributes["is_mms"], false);
    assert!(attributes["timestamp"].is_string());

    let inbound = sim.inbound_messages(1).await;
    let reply = &inbound[0];
    assert_eq!(reply["id"], webhook["data"]["id"]);
    assert!(reply["id"].as_str().unwrap().starts_with("mdr2-"));
    assert_eq!(reply["api"], "flowroute");
    assert_eq!(reply["from"], "+15550000001");
    assert_eq!(reply["to"], SENDER);
    assert_eq!(reply["in_reply_to"], sent["data"]["id"]);
    assert_eq!(reply["webhook_status"], 200);
    assert_eq!(reply["webhook_url"], sim.receiver.url(FLOWROUTE_INBOUND));

    // The subscriber answers the reminder, then reads our confirmation without replying. The
    // script view says the second message was seen, so its (absent) reply was decided.
    sim.flowroute_text("+15550000001", "Thanks, confirmed")
        .await;
    let script: Value = sim
        .client
        .get(sim.url("/sim/sms/scripts/%2B15550000001"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(script["messages_seen"], 2);
    assert_eq!(script["source"], "default");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sim.messages("?direction=inbound").await.len(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn a_twilio_reply_is_a_signed_form_post() {
    let sim = SmsSim::spawn().await;
    sim.twilio_text("+15550000002", "Reply Yes or No").await;

    let hit = &sim.receiver.wait_for(TWILIO_INBOUND, 1).await[0];
    assert_eq!(
        hit.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_twilio_signed(&sim, hit, TWILIO_INBOUND);
    assert!(!hit.headers["i-twilio-idempotency-token"].is_empty());
    let sid = hit.param("MessageSid").unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert_eq!(hit.param("SmsSid").as_deref(), Some(sid.as_str()));
    assert_eq!(hit.param("AccountSid").as_deref(), Some(TWILIO_SID));
    assert_eq!(hit.param("From").as_deref(), Some("+15550000002"));
    assert_eq!(hit.param("To").as_deref(), Some(SENDER));
    assert_eq!(hit.param("Body").as_deref(), Some("No"));
    assert_eq!(hit.param("NumSegments").as_deref(), Some("1"));
    assert_eq!(hit.param("NumMedia").as_deref(), Some("0"));
    assert_eq!(hit.param("SmsStatus").as_deref(), Some("received"));
    assert_eq!(hit.param("ApiVersion").as_deref(), Some("2010-04-01"));

    let inbound = sim.inbound_messages(1).await;
    assert_eq!(inbound[0]["id"], sid.as_str());
    assert_eq!(inbound[0]["api"], "twilio");
    sim.stop().await;
}

#[tokio::test]
async fn stop_blocks_later_twilio_sends_until_start() {
    let sim = SmsSim::spawn().await;
    let subscriber = "+15550000003";
    sim.twilio_text(subscriber, "Reply Yes or No").await;
    let hit = &sim.receiver.wait_for(TWILIO_INBOUND, 1).await[0];
    assert_eq!(hit.param("Body").as_deref(), Some("STOP"));

    let refused = sim
        .twilio_send(&[
            ("To", subscriber),
            ("From", SENDER),
            ("Body", "Are you sure?"),
        ])
        .await;
    assert_eq!(refused.status().as_u16(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["code"], 21610);
    assert_eq!(
        error["message"],
        "Attempt to send to unsubscribed recipient"
    );
    assert_eq!(error["status"], 400);
    assert!(error["more_info"].as_str().unwrap().contains("21610"));
    let blocks: Value = sim
        .client
        .get(sim.url("/sim/sms/opt-outs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        blocks,
        json!([{"sender": SENDER, "subscriber": subscriber}])
    );

    // Another of our numbers is not blocked; Flowroute never blocks.
    let other_sender = sim
        .twilio_send(&[("To", subscriber), ("From", "+15550001001"), ("Body", "Hi")])
        .await;
    assert_eq!(other_sender.status().as_u16(), 201);
    sim.flowroute_text(subscriber, "Hi").await;

    let injected = sim
        .post(
            "/sim/sms/inbound",
            &json!({"api": "twilio", "from": subscriber, "to": SENDER, "body": "start"}),
        )
        .await;
    assert_eq!(injected.status().as_u16(), 200);
    sim.twilio_text(subscriber, "Welcome back").await;
    sim.stop().await;
}

#[tokio::test]
async fn a_script_override_replies_in_order_and_may_repeat() {
    let sim = SmsSim::spawn().await;
    let subscriber = "+15550000004";
    let path = format!("/sim/sms/scripts/{}", path_number(subscriber));
    let set = sim
        .put(
            &path,
            &json!({"replies": ["maybe", "Yes"], "delay_ms": 10, "repeat": false}),
        )
        .await;
    assert_eq!(set.status().as_u16(), 200);
    let view: Value = set.json().await.unwrap();
    assert_eq!(view["source"], "override");
    assert_eq!(view["replies"], json!(["maybe", "Yes"]));

    // Each reply is awaited before the next send, so the order is deterministic.
    for expected in ["maybe", "Yes"] {
        sim.twilio_text(subscriber, "Reply Yes or No").await;
        let count = sim.receiver.hits_at(TWILIO_INBOUND).len() + 1;
        let hits = sim.receiver.wait_for(TWILIO_INBOUND, count).await;
        assert_eq!(hits[count - 1].param("Body").as_deref(), Some(expected));
    }
    sim.twilio_text(subscriber, "No more replies").await;

    sim.put(
        &path,
        &json!({"replies": ["Yes"], "delay_ms": 0, "repeat": true}),
    )
    .await;
    for _ in 0..3 {
        sim.twilio_text(subscriber, "again").await;
    }
    let hits = sim.receiver.wait_for(TWILIO_INBOUND, 5).await;
    assert!(
        hits[2..]
            .iter()
            .all(|hit| hit.param("Body").as_deref() == Some("Yes"))
    );

    let invalid = sim
        .put(&path, &json!({"replies": [], "delay_ms": 600_000}))
        .await;
    assert_eq!(invalid.status().as_u16(), 400);
    let unknown_field = sim.put(&path, &json!({"reply": "Yes"})).await;
    assert_eq!(unknown_field.status().as_u16(), 400);

    let reset = sim.client.delete(sim.url(&path)).send().await.unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    let view: Value = sim
        .client
        .get(sim.url(&path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["source"], "default");
    assert_eq!(view["replies"], json!(["Yes"]));
    // Only the "No more replies" message went unanswered: 2 + 3 replies.
    assert_eq!(sim.inbound_messages(5).await.len(), 5);
    sim.stop().await;
}

#[tokio::test]
async fn an_injected_duplicate_is_delivered_twice_with_the_same_ids() {
    let sim = SmsSim::spawn().await;
    let response = sim
        .post(
            "/sim/sms/inbound",
            &json!({
                "api": "twilio", "from": "15550000009", "to": SENDER,
                "body": "HELP", "duplicate": true,
            }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["webhook_statuses"], json!([200, 200]));
    assert_eq!(answer["message"]["direction"], "inbound");
    assert_eq!(answer["message"]["from"], "+15550000009");
    assert_eq!(
        answer["message"]["webhook_attempts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let hits = sim.receiver.hits_at(TWILIO_INBOUND);
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].param("MessageSid"), hits[1].param("MessageSid"));
    assert_eq!(
        hits[0].headers["i-twilio-idempotency-token"],
        hits[1].headers["i-twilio-idempotency-token"]
    );
    for hit in &hits {
        assert_twilio_signed(&sim, hit, TWILIO_INBOUND);
    }

    let flowroute = sim
        .post(
            "/sim/sms/inbound",
            &json!({"api": "flowroute", "from": "+15550000009", "to": SENDER, "body": "late yes"}),
        )
        .await;
    let answer: Value = flowroute.json().await.unwrap();
    assert_eq!(answer["webhook_statuses"], json!([200]));
    assert_eq!(sim.receiver.hits_at(FLOWROUTE_PATH).len(), 1);

    let bad = sim
        .post(
            "/sim/sms/inbound",
            &json!({"api": "carrier-pigeon", "from": "+15550000009", "to": SENDER, "body": "x"}),
        )
        .await;
    assert_eq!(bad.status().as_u16(), 400);
    sim.stop().await;
}

#[tokio::test]
async fn a_failing_webhook_is_retried_and_every_status_recorded() {
    let sim = SmsSim::spawn().await;
    sim.receiver.answer(TWILIO_INBOUND, &[503, 500]);
    let answer: Value = sim
        .post(
            "/sim/sms/inbound",
            &json!({"api": "twilio", "from": "+15550000009", "to": SENDER, "body": "Yes"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["webhook_statuses"], json!([200]));
    let attempts: Vec<u64> = answer["message"]["webhook_attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["status"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [503, 500, 200]);
    assert_eq!(answer["message"]["webhook_status"], 200);

    // A 4xx is the application's final word: no retry.
    sim.receiver.answer(TWILIO_INBOUND, &[403]);
    let answer: Value = sim
        .post(
            "/sim/sms/inbound",
            &json!({"api": "twilio", "from": "+15550000009", "to": SENDER, "body": "Yes"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["webhook_statuses"], json!([403]));

    // Three failures in a row: the carrier gives up.
    sim.receiver.answer(TWILIO_INBOUND, &[502, 502, 502]);
    let answer: Value = sim
        .post(
            "/sim/sms/inbound",
            &json!({"api": "twilio", "from": "+15550000009", "to": SENDER, "body": "Yes"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["webhook_statuses"], json!([502]));
    assert_eq!(
        answer["message"]["webhook_attempts"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_number_can_have_its_own_inbound_urls() {
    let sim = SmsSim::spawn().await;
    let sender = "+15550002000";
    let custom = sim.receiver.url("/tenant-7/twilio?x=1");
    let set = sim
        .put(
            &format!("/sim/sms/numbers/{}", path_number(sender)),
            &json!({"twilio_inbound_url": custom}),
        )
        .await;
    assert_eq!(set.status().as_u16(), 200);
    let view: Value = set.json().await.unwrap();
    assert_eq!(view["twilio_inbound_url"], custom);
    assert_eq!(
        view["flowroute_inbound_url"],
        sim.receiver.url(FLOWROUTE_INBOUND)
    );

    let response = sim
        .twilio_send(&[("To", "+15550000001"), ("From", sender), ("Body", "Hi")])
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let hit = &sim.receiver.wait_for("/tenant-7/twilio", 1).await[0];
    assert_eq!(hit.query, "x=1");
    // The signature covers the full URL, query included.
    assert_twilio_signed(&sim, hit, "/tenant-7/twilio?x=1");

    let invalid = sim
        .put(
            &format!("/sim/sms/numbers/{}", path_number(sender)),
            &json!({"twilio_inbound_url": "/relative"}),
        )
        .await;
    assert_eq!(invalid.status().as_u16(), 400);
    sim.stop().await;
}

#[tokio::test]
async fn status_callbacks_report_sent_then_delivered() {
    let sim = SmsSim::spawn().await;
    let callback = sim.receiver.url("/sms/twilio/status?reminder=r1");
    let response = sim
        .twilio_send(&[
            ("To", "+15550000010"),
            ("From", SENDER),
            ("Body", "Hi"),
            ("StatusCallback", &callback),
        ])
        .await;
    let sid = response.json::<Value>().await.unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let hits = sim.receiver.wait_for("/sms/twilio/status", 2).await;
    let statuses: Vec<String> = hits
        .iter()
        .map(|hit| hit.param("MessageStatus").unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "delivered"]);
    for hit in &hits {
        assert_eq!(hit.param("MessageSid").as_deref(), Some(sid.as_str()));
        assert_twilio_signed(&sim, hit, "/sms/twilio/status?reminder=r1");
    }

    let dlr = sim.receiver.url("/sms/flowroute/dlr");
    let response = sim
        .flowroute_send(&json!({
            "to": "15550000010", "from": "15550001000", "body": "Hi", "dlr_callback": dlr,
        }))
        .await;
    let id = response.json::<Value>().await.unwrap()["data"]["id"].clone();
    let hits = sim.receiver.wait_for("/sms/flowroute/dlr", 2).await;
    assert_eq!(hits[0].json()["data"]["id"], id);
    assert_eq!(hits[1].json()["data"]["attributes"]["status"], "delivered");

    let recorded =
        crate::helpers::wait_until(crate::sms_helpers::WAIT, "recorded callbacks", || async {
            let messages = sim.messages("?to=15550000010").await;
            messages
                .iter()
                .all(|message| message["status_callbacks"].as_array().unwrap().len() == 2)
                .then_some(messages)
        })
        .await;
    assert_eq!(recorded[0]["status_callbacks"][1]["event"], "delivered");
    assert_eq!(recorded[0]["status_callbacks"][1]["status"], 200);
    sim.stop().await;
}
