//! Issue 6 on the SMS side: follow-ups and no-show messages are sent (their templates,
//! names and metadata filled) but await no answer; a reminder's own template replaces the
//! tenant's; an SMS fallback attempt of a voice reminder is an ordinary reminder.

use attend_events::{to_timestamp, v1};
use chrono::Utc;

use crate::helpers::{TestApp, number_ending, reminder_to};

use v1::ReminderOutcomeKind as Kind;

/// Returns an informational message of `kind` about an appointment that began two hours ago.
fn after_the_visit(phone: &str, kind: v1::ReminderKind, template: &str) -> v1::ReminderDue {
    let mut due = reminder_to(phone);
    due.kind = kind.into();
    due.template = template.to_owned();
    due.appointment_start = Some(to_timestamp(Utc::now() - chrono::Duration::hours(2)));
    due.metadata = [("room".to_owned(), "B12".to_owned())]
        .into_iter()
        .collect();
    if let Some(recipient) = due.recipient.as_mut() {
        recipient.first_name = "Ada".to_owned();
        recipient.last_name = "King".to_owned();
    }
    due
}

#[tokio::test]
async fn a_follow_up_is_sent_with_its_metadata_and_a_reply_goes_to_the_outstanding_reminder() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();

    // Sent after the reminder, so it is the latest text to the number: a reply must still
    // answer the reminder, never the follow-up. Its appointment is made to lie ahead, so that
    // only its kind keeps the reply off it.
    let mut follow_up = after_the_visit(
        &phone,
        v1::ReminderKind::FollowUp,
        "[{business}]\nThanks {first_name} {last_name}, we hope room {metadata.room} suited you.{metadata.unknown}",
    );
    follow_up.appointment_start = Some(to_timestamp(Utc::now() + chrono::Duration::hours(1)));
    app.send_reminder(&follow_up).await.unwrap();
    let sent = app.expect_outcome(&follow_up, Kind::Sent).await.unwrap();
    assert_eq!(sent.attempt, 1);
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert_eq!(
        texts[1],
        "[West Side Mechanics]\nThanks Ada King, we hope room B12 suited you."
    );

    app.inject("flowroute", &phone, "Yes", false).await.unwrap();
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();
    app.assert_no_more_events().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_no_show_message_goes_out_with_the_built_in_text_and_a_reply_finds_nothing_pending() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let no_show = after_the_visit(&phone, v1::ReminderKind::NoShow, "");
    app.send_reminder(&no_show).await.unwrap();
    app.expect_outcome(&no_show, Kind::Sent).await.unwrap();
    let texts = app.wait_for_texts(&phone, 1).await.unwrap();
    assert!(
        texts[0].starts_with("[West Side Mechanics]\nWe missed you at your appointment on "),
        "{}",
        texts[0]
    );
    assert!(
        texts[0].ends_with(" with Joe. Please contact us to book a new time."),
        "{}",
        texts[0]
    );

    app.inject("flowroute", &phone, "Yes", false).await.unwrap();
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert_eq!(
        texts[1],
        "[West Side Mechanics]\nWe found no appointment waiting for your answer."
    );
    app.assert_no_more_events().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_reminder_with_its_own_template_uses_it_and_a_yes_confirms() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(1);
    let mut reminder = reminder_to(&phone);
    reminder.template =
        "Hi {first_name}, {business} expects you in room {metadata.room}{at_location}. Reply YES or NO."
            .to_owned();
    reminder.metadata = [("room".to_owned(), "7".to_owned())].into_iter().collect();
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();
    let texts = app.wait_for_texts(&phone, 1).await.unwrap();
    // No first name apart: `name` splits at its first space.
    assert_eq!(
        texts[0],
        "Hi Ada, West Side Mechanics expects you in room 7 at 12 Main St. Reply YES or NO."
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_sms_fallback_attempt_of_a_voice_reminder_is_answered_like_any_reminder() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(1);
    let mut fallback = reminder_to(&phone);
    fallback.attempt = 2;
    fallback.template = "[{business}]\nWe could not reach you by phone. Your appointment is on {datetime}. Reply Yes to confirm or No to cancel.".to_owned();
    app.send_reminder(&fallback).await.unwrap();
    let sent = app.expect_outcome(&fallback, Kind::Sent).await.unwrap();
    assert_eq!(sent.attempt, 2);
    let confirmed = app
        .expect_outcome(&fallback, Kind::Confirmed)
        .await
        .unwrap();
    assert_eq!(confirmed.attempt, 2);
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert!(
        texts[0].starts_with("[West Side Mechanics]\nWe could not reach you by phone."),
        "{}",
        texts[0]
    );
    app.stop().await.unwrap();
}
