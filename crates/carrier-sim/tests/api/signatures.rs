//! (f): every webhook carries Vobiz V2 and V3 signatures that verify with the auth token.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::helpers::{AUTH_TOKEN, FakeGateway, Received, TestSim};

/// Verifies independently of the sim's own signing code.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: hmac accepts any key length"
)]
fn expected_signature(message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(AUTH_TOKEN.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

fn assert_signed(request: &Received, base_url: &str) {
    let v3_nonce = &request.headers["x-vobiz-signature-v3-nonce"];
    assert_eq!(v3_nonce.len(), 20, "{v3_nonce}");
    assert!(v3_nonce.chars().all(|character| character.is_ascii_digit()));
    assert_eq!(
        request.headers["x-vobiz-signature-v3"],
        expected_signature(&format!("{base_url}.{v3_nonce}")),
        "v3 signature of {base_url}"
    );

    let v2_nonce = &request.headers["x-vobiz-signature-v2-nonce"];
    assert_eq!(
        request.headers["x-vobiz-signature-v2"],
        expected_signature(&format!("{base_url}{v2_nonce}")),
        "v2 signature of {base_url}"
    );
}

#[tokio::test]
async fn webhooks_are_signed_over_the_url_without_its_query() {
    let sim = TestSim::spawn().await;
    let gateway = FakeGateway::spawn().await;
    gateway.xml(
        "/answer",
        &format!(
            r#"<Response><Gather action="{}"><Speak>Press 1.</Speak></Gather></Response>"#,
            gateway.url("/choice?reminder=r-42")
        ),
    );
    gateway.xml("/choice", "<Response><Hangup/></Response>");

    let call_uuid = sim
        .place_call(&json!({
            "from": "+15550001000",
            "to": "+15550000001",
            "answer_url": gateway.url("/answer?reminder=r-42"),
            "hangup_url": gateway.url("/hangup"),
        }))
        .await;
    sim.finished_call(&call_uuid).await;
    gateway.hangup().await;

    let answer = &gateway.received_at("/answer")[0];
    assert_eq!(answer.query, "reminder=r-42");
    assert_signed(answer, &gateway.url("/answer"));
    let choice = &gateway.received_at("/choice")[0];
    assert_eq!(choice.query, "reminder=r-42");
    assert_signed(choice, &gateway.url("/choice"));
    assert_signed(&gateway.received_at("/hangup")[0], &gateway.url("/hangup"));

    // Each request gets a fresh nonce.
    assert_ne!(
        answer.headers["x-vobiz-signature-v3-nonce"],
        choice.headers["x-vobiz-signature-v3-nonce"]
    );

    sim.stop().await;
}
