//! Replies: unparsable ones (answered twice at most), HELP, duplicates, and replies with no
//! reminder waiting for them.

use attend_events::{to_timestamp, v1};
use chrono::Utc;

use crate::helpers::{TestApp, number_ending, reminder_to};

use v1::ReminderOutcomeKind as Kind;

#[tokio::test]
async fn unparsable_replies_are_answered_twice_then_a_yes_still_confirms() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    // One reply per text received: to the reminder, then to each unparsable answer.
    app.script(&phone, &["maybe", "what do you mean", "hmm"])
        .await
        .unwrap();
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    for _ in 0..3 {
        app.expect_outcome(&reminder, Kind::Unparsable)
            .await
            .unwrap();
    }
    let texts = app.wait_for_texts(&phone, 3).await.unwrap();
    for text in &texts[1..] {
        assert!(text.contains("Sorry, we did not understand"), "{text}");
    }
    app.assert_no_more_events().await.unwrap();
    assert_eq!(
        app.texts_to(&phone).await.unwrap().len(),
        3,
        "the third is not answered"
    );

    app.inject("flowroute", &phone, "Yes, see you then!", false)
        .await
        .unwrap();
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();
    let texts = app.wait_for_texts(&phone, 4).await.unwrap();
    assert!(texts[3].contains("marked confirmed"), "{}", texts[3]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn help_names_the_business_how_to_stop_and_a_contact() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    app.inject("flowroute", &phone, "HELP", false)
        .await
        .unwrap();
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert!(
        texts[1].starts_with("[West Side Mechanics]"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("Reply STOP"), "{}", texts[1]);
    assert!(texts[1].contains(crate::helpers::SENDER), "{}", texts[1]);
    // HELP is not an answer: the reminder still waits for one.
    app.inject("flowroute", &phone, "y", false).await.unwrap();
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_webhook_delivered_twice_is_applied_once() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    let delivered = app.inject("flowroute", &phone, "no", true).await.unwrap();
    assert_eq!(delivered["webhook_statuses"], serde_json::json!([200, 200]));
    app.expect_outcome(&reminder, Kind::Cancelled)
        .await
        .unwrap();
    app.assert_no_more_events().await.unwrap();
    assert_eq!(app.wait_for_texts(&phone, 2).await.unwrap().len(), 2);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_reply_with_nothing_to_answer_is_told_so_once_a_day() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let mut reminder = reminder_to(&phone);
    // Sent now, started by the time the reply comes: no reminder is outstanding.
    reminder.appointment_start = Some(to_timestamp(Utc::now() + chrono::Duration::seconds(2)));
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    app.inject("flowroute", &phone, "yes", false).await.unwrap();
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert!(
        texts[1].contains("We found no appointment waiting"),
        "{}",
        texts[1]
    );
    app.inject("flowroute", &phone, "yes!!", false)
        .await
        .unwrap();
    app.inject("flowroute", &phone, "hello?", false)
        .await
        .unwrap();
    app.assert_no_more_events().await.unwrap();
    assert_eq!(app.texts_to(&phone).await.unwrap().len(), 2, "not a loop");

    // A number never texted from this sender gets nothing at all.
    let stranger = number_ending(0);
    app.inject("flowroute", &stranger, "yes", false)
        .await
        .unwrap();
    app.assert_no_more_events().await.unwrap();
    assert!(app.texts_to(&stranger).await.unwrap().is_empty());
    app.stop().await.unwrap();
}
