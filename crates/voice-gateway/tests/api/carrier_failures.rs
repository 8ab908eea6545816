//! When the carrier cannot or may not have placed the call: retries only when no call can
//! exist, never a second request after an unknown outcome, and always a final outcome.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use attend_events::v1::ReminderOutcomeKind;
use uuid::Uuid;

use crate::helpers::{AUTH_TOKEN, Carrier, TestApp, fresh_nonce, number_ending, reminder_for};

/// A carrier API that answers every request with `status` and counts them.
struct StubCarrier {
    url: String,
    requests: Arc<AtomicUsize>,
    handle: ServerHandle,
}

struct StubState {
    requests: Arc<AtomicUsize>,
    status: u16,
}

async fn answer(stub: web::Data<StubState>) -> HttpResponse {
    stub.requests.fetch_add(1, Ordering::SeqCst);
    let status = actix_web::http::StatusCode::from_u16(stub.status).unwrap_or_default();
    HttpResponse::build(status).json(serde_json::json!({ "error": "stub" }))
}

impl StubCarrier {
    fn start(status: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://127.0.0.1:{}/api/v1", listener.local_addr()?.port());
        let requests = Arc::new(AtomicUsize::new(0));
        let stub = web::Data::new(StubState {
            requests: requests.clone(),
            status,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(stub.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .listen(listener)?
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url,
            requests,
            handle,
        })
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

#[tokio::test]
async fn an_unreachable_carrier_is_retried_then_reported_failed() -> anyhow::Result<()> {
    // A port nobody listens on: every connection is refused, so no call can exist.
    let closed_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let carrier = Carrier::Url(format!("http://127.0.0.1:{closed_port}/api/v1"));
    let app = TestApp::spawn_with(carrier, &[]).await?;
    let reminder = reminder_for(&number_ending('1'));

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Failed);
    assert!(
        outcome
            .detail
            .starts_with("carrier unavailable after 5 tries"),
        "{}",
        outcome.detail
    );
    assert_eq!(outcome.provider_ref, "");
    let attempt = app.wait_for_status(&reminder, "failed").await?;
    assert_eq!(attempt.tries, 5);
    assert_eq!(
        attempt.outcome_detail.as_deref(),
        Some(outcome.detail.as_str())
    );
    assert_eq!(attempt.outcome.as_deref(), Some("failed"));
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_refused_call_fails_at_once_without_retrying() -> anyhow::Result<()> {
    // The sim refuses a wrong token with 401: the carrier read the request and placed nothing.
    let app = TestApp::spawn_with(Carrier::Sim, &[("VOBIZ_AUTH_TOKEN", "wrong-token")]).await?;
    let to = number_ending('1');
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Failed);
    assert_eq!(outcome.detail, "carrier refused the call: http 401");
    let attempt = app.wait_for_status(&reminder, "failed").await?;
    assert_eq!(attempt.tries, 1);
    assert!(app.sim_calls_to(&to).await?.is_empty());
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_carrier_5xx_is_never_sent_again_and_ends_as_unknown() -> anyhow::Result<()> {
    let stub = StubCarrier::start(503)?;
    let app = TestApp::spawn_with(
        Carrier::Url(stub.url.clone()),
        &[("DIALER_UNKNOWN_GRACE_SECS", "1")],
    )
    .await?;
    let reminder = reminder_for(&number_ending('1'));

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Failed);
    assert_eq!(outcome.detail, "carrier outcome unknown");
    let attempt = app.wait_for_status(&reminder, "failed").await?;
    assert_eq!(attempt.tries, 1);
    assert_eq!(stub.requests(), 1, "the make-call request was sent again");
    app.assert_no_more_outcomes().await?;
    app.stop().await?;
    stub.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_webhook_after_an_unknown_outcome_settles_the_call_normally() -> anyhow::Result<()> {
    let stub = StubCarrier::start(500)?;
    let app = TestApp::spawn_with(
        Carrier::Url(stub.url.clone()),
        &[("DIALER_UNKNOWN_GRACE_SECS", "60")],
    )
    .await?;
    let reminder = reminder_for(&number_ending('1'));

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let unknown = app.wait_for_status(&reminder, "unknown").await?;

    // The carrier did place the call after all: its webhooks arrive.
    let answer = format!("/voice/answer?attempt={}", unknown.id);
    let response = app
        .signed_webhook(
            &answer,
            &[("CallUUID", "late-call"), ("Event", "StartApp")],
            AUTH_TOKEN,
            &fresh_nonce(),
        )
        .await?;
    assert_eq!(response.status(), 200);
    let hangup = format!("/voice/hangup?attempt={}", unknown.id);
    let ended = [
        ("CallUUID", "late-call"),
        ("CallStatus", "completed"),
        ("HangupCause", "NORMAL_CLEARING"),
    ];
    let response = app
        .signed_webhook(&hangup, &ended, AUTH_TOKEN, &fresh_nonce())
        .await?;
    assert_eq!(response.status(), 200);

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::NoAnswer);
    assert_eq!(outcome.provider_ref, "late-call");
    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.tries, 1);
    assert_eq!(stub.requests(), 1);
    app.assert_no_more_outcomes().await?;
    app.stop().await?;
    stub.stop().await;
    Ok(())
}
