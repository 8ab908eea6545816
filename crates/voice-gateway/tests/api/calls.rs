//! Whole calls through the carrier sim, one per menu path of the built-in reminder workflow:
//! the reminder comes in, the sim acts out the callee, and exactly the right outcome goes out.

use attend_events::v1::{self, Channel, ReminderOutcomeKind};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, number_ending, reminder_for};

pub fn spoken(call: &serde_json::Value) -> Vec<String> {
    call["spoken"]
        .as_array()
        .map(|spoken| {
            spoken
                .iter()
                .filter_map(|speak| speak["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const MENU: &str = "Press 1 to confirm, 2 to reschedule, 3 to cancel, 9 to hear this again, or 8 to stop reminder calls.";

/// Scripts the callee at a fresh number, publishes a reminder, and returns its outcome and the
/// sim's record of the call.
async fn call_with(
    app: &TestApp,
    last_digit: char,
    script: serde_json::Value,
) -> anyhow::Result<(v1::ReminderDue, v1::ReminderOutcome, serde_json::Value)> {
    let to = number_ending(last_digit);
    app.script_callee(&to, script).await?;
    let reminder = reminder_for(&to);
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    let calls = app.finished_sim_calls_to(&to).await?;
    anyhow::ensure!(calls.len() == 1, "{} calls", calls.len());
    Ok((reminder, outcome, calls[0].clone()))
}

#[tokio::test]
async fn a_callee_who_presses_1_confirms_the_appointment() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (reminder, outcome, call) = call_with(&app, '1', json!({"digits": ["1"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    assert_eq!(outcome.channel(), Channel::Voice);
    assert_eq!(outcome.attempt, 1);
    assert_eq!(outcome.appointment_id, reminder.appointment_id);
    assert_eq!(outcome.tenant_id, reminder.tenant_id);
    assert_eq!(
        outcome.provider_ref,
        call["call_uuid"].as_str().unwrap_or_default()
    );
    assert_eq!(call["from"], "+15550100000");

    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.outcome.as_deref(), Some("confirmed"));
    assert_eq!(attempt.tries, 1);

    // The callee heard the business, the appointment, the menu (the name's markup characters
    // escaped in the XML and read back as text by the carrier), then the thanks.
    let heard = spoken(&call);
    assert_eq!(heard[0], "Hello Ada & <Bob>, this is Acme Clinic.");
    assert!(
        heard[1].starts_with("This is a reminder of your appointment on "),
        "{heard:?}"
    );
    assert!(
        heard[1].contains(" at ") && heard[1].ends_with("M."),
        "{heard:?}"
    );
    assert_eq!(heard[2], MENU);
    assert_eq!(
        heard.last().map(String::as_str),
        Some("Thank you, your appointment is confirmed. Goodbye.")
    );
    assert_eq!(call["gathers"][0]["digits"], "1");
    assert_eq!(call["gathers"][0]["execution_timeout"], 8);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_callee_who_presses_2_asks_to_reschedule_and_hears_the_callback_number()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, outcome, call) = call_with(&app, '2', json!({"digits": ["2"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::RescheduleRequested);
    assert_eq!(
        spoken(&call).last().map(String::as_str),
        Some("Please call us at +15550100000 to reschedule. Goodbye.")
    );
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_callee_who_presses_3_then_1_cancels_the_appointment() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (reminder, outcome, call) = call_with(&app, '3', json!({"digits": ["3", "1"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Cancelled);
    let gathers = call["gathers"].as_array().cloned().unwrap_or_default();
    assert_eq!(gathers.len(), 2, "{gathers:?}");
    assert!(
        gathers[0]["action"]
            .as_str()
            .unwrap_or_default()
            .contains("node=menu&step=1")
    );
    assert!(
        gathers[1]["action"]
            .as_str()
            .unwrap_or_default()
            .contains("node=cancel_confirm&step=2")
    );
    let heard = spoken(&call);
    assert!(
        heard.contains(
            &"Are you sure you want to cancel? Press 1 to cancel, or 2 to keep your appointment."
                .to_owned()
        )
    );
    assert_eq!(
        heard.last().map(String::as_str),
        Some("Your appointment has been cancelled. Goodbye.")
    );
    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.outcome.as_deref(), Some("cancelled"));
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn three_then_2_keeps_the_appointment_and_returns_to_the_menu() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, outcome, call) = call_with(&app, '4', json!({"digits": ["3", "2", "1"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    let heard = spoken(&call);
    let kept = heard
        .iter()
        .position(|text| text == "Your appointment is kept.")
        .unwrap_or(usize::MAX);
    assert_eq!(
        heard.get(kept + 1).map(String::as_str),
        Some(MENU),
        "{heard:?}"
    );
    assert_eq!(call["gathers"].as_array().map(Vec::len), Some(3));
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn nine_repeats_the_reminder_then_1_confirms() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, outcome, call) = call_with(&app, '5', json!({"digits": ["9", "1"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    let heard = spoken(&call);
    let greetings = heard
        .iter()
        .filter(|text| text.starts_with("Hello Ada"))
        .count();
    let appointments = heard
        .iter()
        .filter(|text| text.starts_with("This is a reminder"))
        .count();
    assert_eq!((greetings, appointments), (2, 2), "{heard:?}");
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn an_invalid_key_is_announced_and_replayed_at_most_three_times() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    // Three invalid keys are forgiven: the fourth entry still counts.
    let (_, outcome, call) = call_with(&app, '6', json!({"digits": ["7", "0", "#", "1"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    let invalid = spoken(&call)
        .iter()
        .filter(|text| *text == "That is not a valid choice.")
        .count();
    assert_eq!(invalid, 3);

    // A fourth invalid key ends the call as no answer, with the callback number.
    let (_, outcome, call) = call_with(&app, '7', json!({"digits": ["7", "7", "7", "7"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::NoAnswer);
    let heard = spoken(&call);
    assert_eq!(
        heard.last().map(String::as_str),
        Some("We did not hear a choice. Please call us at +15550100000. Goodbye.")
    );
    assert_eq!(call["gathers"].as_array().map(Vec::len), Some(4));
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn no_input_is_no_answer_in_both_carrier_styles() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    for (digit, style) in [('8', "fallthrough"), ('9', "post_empty")] {
        let (reminder, outcome, call) =
            call_with(&app, digit, json!({"digits": [], "no_input": style})).await?;
        assert_eq!(outcome.outcome(), ReminderOutcomeKind::NoAnswer, "{style}");
        assert_eq!(outcome.detail, "no usable key pressed", "{style}");
        assert_eq!(
            spoken(&call).last().map(String::as_str),
            Some("We did not hear a choice. Please call us at +15550100000. Goodbye."),
            "{style}"
        );
        let attempt = app.wait_for_status(&reminder, "completed").await?;
        assert_eq!(attempt.outcome.as_deref(), Some("no_answer"));
    }
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn eight_opts_out_and_a_later_reminder_to_that_number_is_not_called() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (first, outcome, call) = call_with(&app, '1', json!({"digits": ["8"]})).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::OptedOut);
    assert_eq!(
        spoken(&call).last().map(String::as_str),
        Some("You will get no more reminder calls from Acme Clinic. Goodbye.")
    );

    // Another appointment's reminder, same tenant and number: settled at once, no call.
    let to = number_ending('1');
    let mut second = reminder_for(&to);
    second.tenant_id = first.tenant_id.clone();
    app.publish_reminder(&second, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&second).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::OptedOut);
    assert_eq!(outcome.provider_ref, "");
    assert_eq!(app.sim_calls_to(&to).await?.len(), 1);
    assert_eq!(app.attempt_of(&second).await?.status, "dropped");

    // Another tenant may still call the number.
    let third = reminder_for(&to);
    app.publish_reminder(&third, Uuid::now_v7()).await?;
    app.script_callee(&to, json!({"digits": ["1"]})).await?;
    let outcome = app.next_outcome(&third).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn markup_characters_and_quotes_in_names_produce_valid_xml() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let mut reminder = reminder_for(&to);
    if let Some(recipient) = reminder.recipient.as_mut() {
        recipient.name = r#"Ada "Q" O'Neil & <Bob>"#.to_owned();
    }
    reminder.business_name = r#"Smith & Sons <"Clinic"> 'Dental'"#.to_owned();
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    // The sim parsed every answer as XML, so a confirmation proves the documents were valid.
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    let calls = app.finished_sim_calls_to(&to).await?;
    assert_eq!(
        spoken(&calls[0])[0],
        r#"Hello Ada "Q" O'Neil & <Bob>, this is Smith & Sons <"Clinic"> 'Dental'."#
    );
    app.stop().await
}

#[tokio::test]
async fn a_tenant_template_in_german_is_spoken_with_the_german_date() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let mut reminder = reminder_for(&to);
    if let Some(recipient) = reminder.recipient.as_mut() {
        recipient.locale = "de-DE".to_owned();
    }
    let settings = v1::TenantSettingsChanged {
        tenant_id: reminder.tenant_id.clone(),
        version: 2,
        calling_window: None,
        voice_retry: None,
        voice: Some(v1::VoiceSettings {
            callback_number: "+4930123456".to_owned(),
            templates: vec![v1::VoiceTemplate {
                name: "greeting".to_owned(),
                language: "de".to_owned(),
                text: "Guten Tag {name}, hier spricht die {business}.".to_owned(),
            }],
        }),
        changed_at: None,
        sms: None,
    };
    app.publish(&settings, &reminder.tenant_id).await?;
    // An older version arriving late changes nothing.
    let stale = v1::TenantSettingsChanged {
        version: 1,
        voice: None,
        ..settings.clone()
    };
    app.publish(&stale, &reminder.tenant_id).await?;
    app.script_callee(&to, json!({"digits": ["2"]})).await?;
    attend_test_support::wait_until(crate::helpers::PATIENCE, "settings applied", || async {
        (app.inbox_len().await.ok()? == 2).then_some(())
    })
    .await?;

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::RescheduleRequested);
    let calls = app.finished_sim_calls_to(&to).await?;
    let heard = spoken(&calls[0]);
    assert_eq!(
        heard[0],
        "Guten Tag Ada & <Bob>, hier spricht die Acme Clinic."
    );
    assert!(
        heard[1].starts_with("Wir erinnern Sie an Ihren Termin am "),
        "{heard:?}"
    );
    assert!(heard[1].ends_with(" Uhr."), "{heard:?}");
    assert_eq!(
        heard.last().map(String::as_str),
        Some(
            "Bitte rufen Sie uns unter +4930123456 an, um einen neuen Termin zu vereinbaren. Auf Wiederhören."
        )
    );
    assert_eq!(calls[0]["spoken"][0]["language"], "de-DE");
    app.stop().await
}

#[tokio::test]
async fn spoken_when_replaces_the_date_without_an_appointment_start() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let mut reminder = reminder_for(&to);
    reminder.appointment_start = None;
    reminder.spoken_when = "Apr 5 at 3 PM".to_owned();
    app.script_callee(&to, json!({"digits": ["1"]})).await?;
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    let calls = app.finished_sim_calls_to(&to).await?;
    assert_eq!(
        spoken(&calls[0])[1],
        "This is a reminder of your appointment on Apr 5 at 3 PM."
    );
    app.stop().await
}

/// A reminder that carries its own text (the tenant's, chosen by booking-service) speaks it
/// in place of the built-in appointment sentence, with the given name and a metadata value
/// filled in (a key the appointment lacks is spoken as nothing); the menu stays.
#[tokio::test]
async fn a_reminders_own_text_is_spoken_with_names_and_metadata() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    app.script_callee(&to, json!({"digits": ["1"]})).await?;
    let mut reminder = reminder_for(&to);
    reminder.template =
        "{first_name} {last_name}, your check-up is on {date} in room {metadata.room}{metadata.floor}."
            .to_owned();
    reminder.metadata = [("room".to_owned(), "B12 & C".to_owned())]
        .into_iter()
        .collect();
    if let Some(recipient) = reminder.recipient.as_mut() {
        recipient.first_name = "Ada".to_owned();
        recipient.last_name = "King".to_owned();
    }
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);

    let calls = app.finished_sim_calls_to(&to).await?;
    let heard = spoken(&calls[0]);
    assert_eq!(heard[0], "Hello Ada & <Bob>, this is Acme Clinic.");
    assert!(
        heard[1].starts_with("Ada King, your check-up is on "),
        "{heard:?}"
    );
    assert!(heard[1].ends_with(" in room B12 & C."), "{heard:?}");
    assert_eq!(heard[2], MENU);
    app.stop().await
}

/// Follow-ups and no-show messages are SMS only: one that reaches voice is reported failed and
/// never called.
#[tokio::test]
async fn a_follow_up_on_voice_is_reported_failed_without_a_call() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let mut follow_up = reminder_for(&to);
    follow_up.kind = v1::ReminderKind::FollowUp.into();
    app.publish_reminder(&follow_up, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&follow_up).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Failed);
    assert_eq!(
        outcome.detail,
        "follow-up and no-show messages are sent by SMS"
    );
    app.assert_no_more_outcomes().await?;
    assert!(app.sim_calls_to(&to).await?.is_empty());
    app.stop().await
}
