//! Rule 4: a reminder is called once, however often its reminder.due arrives.

use attend_events::v1::ReminderOutcomeKind;
use attend_test_support::wait_until;
use uuid::Uuid;

use crate::helpers::{PATIENCE, TestApp, number_ending, reminder_for};

#[tokio::test]
async fn a_duplicated_reminder_is_called_once_and_reported_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let reminder = reminder_for(&to);
    let event_id = Uuid::now_v7();

    // A redelivery (same event id) and a republication (new event id) of the same reminder.
    app.publish_reminder(&reminder, event_id).await?;
    app.publish_reminder(&reminder, event_id).await?;
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    // Both event ids were applied (the queue is ordered, so the redelivery came in between).
    wait_until(PATIENCE, "both events applied", || async {
        (app.inbox_len().await.ok()? == 2).then_some(())
    })
    .await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);

    let calls = app.finished_sim_calls_to(&to).await?;
    assert_eq!(calls.len(), 1, "the sim saw {} calls", calls.len());
    app.wait_for_status(&reminder, "completed").await?;
    app.assert_no_more_outcomes().await?;

    // Publishing it once more after the call changes nothing either.
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    wait_until(PATIENCE, "the late event applied", || async {
        (app.inbox_len().await.ok()? == 3).then_some(())
    })
    .await?;
    // The late event found the attempt: no second row, so nothing for the dialer to place.
    assert_eq!(app.attempt_of(&reminder).await?.status, "completed");
    assert_eq!(app.sim_calls_to(&to).await?.len(), 1);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}
