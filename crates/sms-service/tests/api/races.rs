//! A reply that arrives while its reminder is still being sent: the carrier's answer to the
//! send is not recorded yet, but the recipient already replied. A load benchmark lost 29 of
//! 10,000 "Yes" replies this way (the sim replies 200 ms after accepting a text); a fast
//! replier and a slow commit race the same way with a real carrier.
//!
//! The carrier here is a gate: it holds the reminder's send request until the test answers it,
//! so the reply is applied deterministically while the reminder is `sending`.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use attend_events::v1;
use attend_test_support::wait_until;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use sms_service::db::schema::{inbound_messages, outbound_messages, reminders};
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::{INBOUND_SECRET, PATIENCE, SENDER, TestApp, number_ending, reminder_to};

use v1::ReminderOutcomeKind as Kind;

/// A Flowroute-shaped send API that holds reminder texts until it is told how to answer them;
/// every other text (the answers to replies) is accepted at once.
struct GatedCarrier {
    address: String,
    bodies: Arc<Mutex<Vec<String>>>,
    answer: watch::Sender<Option<u16>>,
    server: actix_web::dev::ServerHandle,
}

#[derive(Clone)]
struct GateState {
    bodies: Arc<Mutex<Vec<String>>>,
    answer: watch::Receiver<Option<u16>>,
}

impl GatedCarrier {
    fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (answer, answer_receiver) = watch::channel(None);
        let state = GateState {
            bodies: Arc::clone(&bodies),
            answer: answer_receiver,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .route("/flowroute/v2.1/messages", web::post().to(gated_send))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            address,
            bodies,
            answer,
            server: handle,
        })
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies
            .lock()
            .map(|bodies| bodies.clone())
            .unwrap_or_default()
    }

    /// Waits until a text containing `needle` reached the carrier.
    async fn wait_for(&self, needle: &str) -> anyhow::Result<()> {
        wait_until(PATIENCE, &format!("a text with {needle:?}"), || async {
            self.bodies()
                .iter()
                .any(|body| body.contains(needle))
                .then_some(())
        })
        .await
    }

    /// Answers the held reminder request (and any later one) with `status`.
    fn release(&self, status: u16) {
        self.answer.send_replace(Some(status));
    }
}

async fn gated_send(state: web::Data<GateState>, body: web::Json<Value>) -> HttpResponse {
    let text = body["body"].as_str().unwrap_or_default().to_owned();
    let is_reminder = text.contains("You have an appointment");
    if let Ok(mut bodies) = state.bodies.lock() {
        bodies.push(text);
    }
    let status = if is_reminder {
        let mut answer = state.answer.clone();
        match answer.wait_for(Option::is_some).await {
            Ok(status) => status.unwrap_or(202),
            Err(_) => 503,
        }
    } else {
        202
    };
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_success() {
        let id = format!("mdr2-{}", Uuid::now_v7().simple());
        HttpResponse::build(status).json(json!({"data": {"id": id}}))
    } else {
        HttpResponse::build(status)
            .json(json!({"errors": [{"detail": "held test fault", "status": status.as_u16()}]}))
    }
}

/// Posts a reply from `from` straight to the service's Flowroute webhook (the flat body).
async fn reply(app: &TestApp, from: &str, text: &str) -> anyhow::Result<()> {
    app.http
        .post(format!(
            "{}/sms/flowroute/inbound?token={INBOUND_SECRET}",
            app.address
        ))
        .json(&json!({"to": SENDER, "from": from, "body": text}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Returns how the service handled the texts from `from`, oldest first.
async fn handlings(app: &TestApp, from: &str) -> anyhow::Result<Vec<String>> {
    let mut connection = app.db().await?;
    Ok(inbound_messages::table
        .filter(inbound_messages::from_number.eq(from))
        .order(inbound_messages::received_at)
        .select(inbound_messages::handling)
        .load(&mut connection)
        .await?)
}

/// Returns the reminder's (status, answer) and its text's (status, tries).
async fn reminder_state(
    app: &TestApp,
    reminder: &v1::ReminderDue,
) -> anyhow::Result<((String, Option<String>), (String, i32))> {
    let reminder_id: Uuid = reminder.reminder_id.parse()?;
    let mut connection = app.db().await?;
    Ok(reminders::table
        .inner_join(outbound_messages::table)
        .filter(reminders::reminder_id.eq(reminder_id))
        .filter(outbound_messages::kind.eq("reminder"))
        .select((
            (reminders::status, reminders::answer),
            (outbound_messages::status, outbound_messages::tries),
        ))
        .first(&mut connection)
        .await?)
}

/// Starts the service on the gate and has it hold a reminder to a fresh number in flight;
/// returns once the send request is at the carrier (the reminder is committed `sending`).
async fn reminder_in_flight() -> anyhow::Result<(TestApp, GatedCarrier, String, v1::ReminderDue)> {
    let gate = GatedCarrier::start()?;
    let api_url = format!("{}/flowroute/v2.1", gate.address);
    let app = TestApp::spawn_with(&[
        ("FLOWROUTE_API_URL", api_url.as_str()),
        // The held request must not time out on a busy machine before the test answers it.
        ("SMS_CARRIER_TIMEOUT_MS", "60000"),
    ])
    .await?;
    let phone = number_ending(0);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await?;
    gate.wait_for("You have an appointment").await?;
    let (_, (text_status, _)) = reminder_state(&app, &reminder).await?;
    anyhow::ensure!(text_status == "sending", "held in flight: {text_status}");
    Ok((app, gate, phone, reminder))
}

#[tokio::test]
async fn a_yes_that_beats_the_sent_commit_confirms_and_the_late_sent_keeps_it() {
    let (app, gate, phone, reminder) = reminder_in_flight().await.unwrap();

    reply(&app, &phone, "Yes").await.unwrap();
    assert_eq!(
        handlings(&app, &phone).await.unwrap(),
        ["answered"],
        "the reply is about the reminder being sent"
    );
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();

    gate.release(202);
    let sent = app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    // The sender finishes the held batch before it claims the confirmation.
    gate.wait_for("marked confirmed").await.unwrap();
    assert!(sent.provider_ref.starts_with("mdr2-"), "{sent:?}");
    assert_eq!(
        reminder_state(&app, &reminder).await.unwrap(),
        (
            ("sent".to_owned(), Some("confirmed".to_owned())),
            ("sent".to_owned(), 1)
        ),
        "marking it sent keeps the answer"
    );
    app.assert_no_more_events().await.unwrap();
    gate.server.stop(false).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_send_that_fails_after_a_yes_keeps_the_answer_and_is_not_tried_again() {
    let (app, gate, phone, reminder) = reminder_in_flight().await.unwrap();

    reply(&app, &phone, "yes").await.unwrap();
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();

    // Retryable, but the recipient answered: a second "reply Yes" would only confuse them.
    gate.release(503);
    let failed = app.expect_outcome(&reminder, Kind::Failed).await.unwrap();
    assert!(failed.detail.contains("answered meanwhile"), "{failed:?}");
    assert_eq!(
        reminder_state(&app, &reminder).await.unwrap(),
        (
            ("failed".to_owned(), Some("confirmed".to_owned())),
            ("failed".to_owned(), 1)
        ),
    );
    let reminder_requests = gate
        .bodies()
        .iter()
        .filter(|body| body.contains("You have an appointment"))
        .count();
    assert_eq!(reminder_requests, 1, "not sent again");

    // Still the conversation: a later reply finds the answer already given.
    reply(&app, &phone, "yes again").await.unwrap();
    assert_eq!(
        handlings(&app, &phone).await.unwrap(),
        ["answered", "already_answered"]
    );
    app.assert_no_more_events().await.unwrap();
    gate.server.stop(false).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_carrier_answer_after_the_text_was_settled_elsewhere_changes_nothing() {
    let (app, gate, _phone, reminder) = reminder_in_flight().await.unwrap();

    // Another replica settles the held text as stale (its lease ended): failed, reported.
    let reminder_id: Uuid = reminder.reminder_id.parse().unwrap();
    let mut connection = app.db().await.unwrap();
    let row_id: Uuid = reminders::table
        .filter(reminders::reminder_id.eq(reminder_id))
        .select(reminders::id)
        .first(&mut connection)
        .await
        .unwrap();
    diesel::update(outbound_messages::table.filter(outbound_messages::reminder_row_id.eq(row_id)))
        .set(outbound_messages::status.eq("failed"))
        .execute(&mut connection)
        .await
        .unwrap();
    diesel::update(reminders::table.find(row_id))
        .set(reminders::status.eq("failed"))
        .execute(&mut connection)
        .await
        .unwrap();

    // The carrier took it after all: too late to record, and no "sent" outcome follows.
    gate.release(202);
    // The sender records a batch's answers before it claims the next: once a later reminder
    // is reported sent, the late answer has been handled.
    let later = reminder_to(&number_ending(0));
    app.send_reminder(&later).await.unwrap();
    app.expect_outcome(&later, Kind::Sent).await.unwrap();
    assert_eq!(
        reminder_state(&app, &reminder).await.unwrap(),
        (("failed".to_owned(), None), ("failed".to_owned(), 1)),
    );
    app.assert_no_more_events().await.unwrap();
    gate.server.stop(false).await;
    app.stop().await.unwrap();
}
