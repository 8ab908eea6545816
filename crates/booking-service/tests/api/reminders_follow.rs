//! Moves and cancels reach the reminder scheduler: the old reminder never fires.

use std::time::Duration;

use attend_events::{Event, v1};
use attend_runtime::Env;
use chrono::{DurationRound, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{Observer, TestApp, decode};
use crate::seed::{CatalogSpec, seed_catalog};

#[tokio::test]
async fn after_a_move_or_a_cancel_the_old_reminder_never_fires() {
    let app = TestApp::spawn().await;
    let scheduler_env = Env::from_pairs(app.env.service_env())
        .with("SCHEDULER_POLL_MS", "100")
        .with("HTTP_PORT", "0");
    let scheduler = reminder_scheduler::Application::build(
        reminder_scheduler::Config::from_env(&scheduler_env).unwrap(),
    )
    .await
    .unwrap();
    let stop_scheduler = CancellationToken::new();
    let scheduler_task =
        tokio::spawn(scheduler.run_until_stopped(stop_scheduler.clone().cancelled_owned()));
    let mut due = Observer::bind(&app.env, &["reminder.due.voice"]).await;

    // Slots every 5 minutes round the clock in UTC; the reminder offset is chosen so that
    // a booking at `start` is reminded about eight seconds from now.
    let start = (Utc::now() + chrono::Duration::minutes(10))
        .duration_trunc(chrono::Duration::minutes(5))
        .unwrap();
    let offset = start - Utc::now() - chrono::Duration::seconds(8);
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    // Round the clock, so the scheduler's calling window (08:00-21:00 by default, in the
    // recipient's zone, here UTC) does not defer the reminder when the test runs at night.
    let (status, body) = app
        .put_json(
            &key,
            "/v1/settings/reminders",
            &json!({"callingHours": {"start": "00:00", "end": "24:00"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let offsets = [i32::try_from(offset.num_seconds()).unwrap()];
    let catalog = seed_catalog(
        &app,
        tenant_id,
        CatalogSpec {
            time_zone: "UTC",
            hours: (0, 1440),
            reminder_offsets: &offsets,
            slot_interval_minutes: Some(5),
        },
    )
    .await;
    let slot_of = |agent: uuid::Uuid, at: chrono::DateTime<Utc>| reminder_free_slot(agent, at);
    let book = |agent: uuid::Uuid, caller: &str| {
        json!({"action": "bookAppointment", "productId": catalog.massage_45,
               "slotId": slot_of(agent, start), "start": start.to_rfc3339(),
               "booker": {"firstname": "Rita", "lastname": caller, "phone": "+12015550106"}})
    };

    // Kept: Max at `start`. Its reminder must fire, proving the timing.
    let (status, kept) = app.voicebot(&key, &book(catalog.max, "Kept")).await;
    assert_eq!(status, 200, "{kept}");
    // Cancelled: Hans at `start`, then cancelled.
    let (status, cancelled) = app.voicebot(&key, &book(catalog.hans, "Cancelled")).await;
    assert_eq!(status, 200, "{cancelled}");
    let (status, body) = app
        .voicebot(
            &key,
            &json!({"action": "cancelAppointment", "bookingId": cancelled["bookingId"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Moved: Hans at `start` again (the cancel freed it), then moved a day later.
    let (status, moved) = app.voicebot(&key, &book(catalog.hans, "Moved")).await;
    assert_eq!(status, 200, "{moved}");
    let later = start + chrono::Duration::days(1);
    let (status, body) = app
        .voicebot(
            &key,
            &json!({"action": "modifyAppointment", "bookingId": moved["bookingId"],
                    "slotIdOld": moved["slotId"], "slotIdNew": slot_of(catalog.hans, later)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (kind, payload) = due.next(Duration::from_secs(20)).await;
    assert_eq!(kind, v1::ReminderDue::TYPE);
    let fired: v1::ReminderDue = decode(&payload);
    assert_eq!(
        fired.appointment_id,
        kept["bookingId"].as_str().unwrap(),
        "only the untouched booking is reminded"
    );
    // The other two were due at the same instant; give the scheduler several more polls.
    assert!(
        due.try_next(Duration::from_secs(3)).await.is_none(),
        "a cancelled or moved booking was reminded at its old time"
    );

    stop_scheduler.cancel();
    scheduler_task.await.unwrap().unwrap();
    app.stop().await;
}

/// Returns the slot id of `agent` at `start` (what getSlots would answer).
fn reminder_free_slot(agent: uuid::Uuid, start: chrono::DateTime<Utc>) -> String {
    booking_service::domain::slot_id::SlotId {
        holder: booking_service::domain::slot_id::SlotHolder::Agent(agent),
        start,
    }
    .encode()
}
