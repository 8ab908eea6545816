//! The inbound webhooks refuse what is not authentic (403) or not a text (400 for a body that
//! is not JSON, 422 naming the field that is missing or wrong), as the native API does.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{INBOUND_SECRET, SENDER, TestApp, number_ending, reminder_to};

#[tokio::test]
async fn flowroute_posts_need_the_shared_or_the_tenant_token() {
    let app = TestApp::spawn().await.unwrap();
    let body = json!({"data": {"type": "message", "id": "mdr2-abc", "attributes": {
        "to": SENDER.trim_start_matches('+'), "from": "12065551234", "body": "Yes"}}});
    let post = |path: String, body: Value| {
        let http = app.http.clone();
        let url = format!("{}{path}", app.address);
        async move { http.post(url).json(&body).send().await.unwrap() }
    };
    let refused = post(
        "/sms/flowroute/inbound?token=wrong".to_owned(),
        body.clone(),
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let missing = post("/sms/flowroute/inbound".to_owned(), body.clone()).await;
    assert_eq!(missing.status(), 403);
    let accepted = post(
        format!("/sms/flowroute/inbound?token={INBOUND_SECRET}"),
        body.clone(),
    )
    .await;
    assert_eq!(accepted.status(), 200);

    let tenant_id = Uuid::now_v7();
    let tenant_token = sms_service::signature::tenant_inbound_token(INBOUND_SECRET, tenant_id);
    let scoped = post(
        format!("/sms/flowroute/inbound/{tenant_id}?token={tenant_token}"),
        body.clone(),
    )
    .await;
    assert_eq!(scoped.status(), 200);
    let other_tenant = post(
        format!(
            "/sms/flowroute/inbound/{}?token={tenant_token}",
            Uuid::now_v7()
        ),
        body.clone(),
    )
    .await;
    assert_eq!(
        other_tenant.status(),
        403,
        "a token opens its own tenant only"
    );
    let shared_on_tenant = post(
        format!("/sms/flowroute/inbound/{tenant_id}?token={INBOUND_SECRET}"),
        body,
    )
    .await;
    assert_eq!(shared_on_tenant.status(), 403);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_that_is_not_a_text_is_refused_naming_the_field() {
    let app = TestApp::spawn().await.unwrap();
    let url = format!(
        "{}/sms/flowroute/inbound?token={INBOUND_SECRET}",
        app.address
    );
    for (body, field) in [
        (json!({"to": SENDER, "body": "Yes"}), "from"),
        (
            json!({"to": SENDER, "from": "call me maybe", "body": "Yes"}),
            "from",
        ),
        (
            json!({"to": "1".repeat(19), "from": "12065551234", "body": "Yes"}),
            "to",
        ),
        (json!({"data": {"type": "message"}}), "data.attributes"),
    ] {
        let response = app.http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert!(problem.to_string().contains(field), "{field}: {problem}");
    }
    let not_json = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_replaced_services_flat_body_still_answers_a_reminder() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, attend_events::v1::ReminderOutcomeKind::Sent)
        .await
        .unwrap();
    let response = app
        .http
        .post(format!(
            "{}/sms/flowroute/inbound?token={INBOUND_SECRET}",
            app.address
        ))
        .json(&json!({"to": SENDER.trim_start_matches('+'), "from": phone.trim_start_matches('+'), "body": "YES"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.expect_outcome(&reminder, attend_events::v1::ReminderOutcomeKind::Confirmed)
        .await
        .unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_twilio_post_with_a_bad_signature_changes_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let form = [
        ("MessageSid", "SM0123"),
        ("From", "+12065551234"),
        ("To", SENDER),
        ("Body", "STOP"),
    ];
    let unsigned = app
        .http
        .post(format!("{}/sms/twilio/inbound", app.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let forged = app
        .http
        .post(format!("{}/sms/twilio/inbound", app.address))
        .header("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let params: Vec<(String, String)> = form
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    let url = format!("{}/sms/twilio/inbound", app.address);
    let signature =
        sms_service::signature::twilio_signature(crate::helpers::TWILIO_TOKEN, &url, &params);
    let signed = app
        .http
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    assert_eq!(signed.headers()["content-type"], "text/xml");
    assert!(signed.text().await.unwrap().contains("<Response/>"));
    app.stop().await.unwrap();
}
