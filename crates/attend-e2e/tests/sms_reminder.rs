//! End to end, every binary as a real process: SMS reminders booked natively and through the
//! `/reminder` dialect go out through the carrier simulator, the simulated recipients answer
//! (1 "Yes", 2 "No", 3 "STOP" by the number's last digit), and booking-service shows the
//! answer; a STOP texted stops the reminder calls too.

use std::time::Duration;

use anyhow::Context;
use attend_e2e::Attend;
use attend_test_support::{TestEnv, midday_zone, wait_until};
use chrono::{FixedOffset, Offset, Utc};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(40);

/// Books an appointment an hour from now with one reminder on `channel`, already due.
async fn book(
    attend: &Attend,
    api_key: &str,
    phone: &str,
    channel: &str,
) -> anyhow::Result<String> {
    let booking = attend.url("booking-service")?;
    let created = attend
        .client
        .post(format!("{booking}/v1/appointments"))
        .bearer_auth(api_key)
        .json(&json!({
            "customer": { "name": "Ada Lovelace", "phone": phone, "locale": "en" },
            "start": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
            "time_zone": midday_zone(),
            "location": "12 Main St",
            "reminders": [ { "channel": channel, "offset": "PT2H" } ]
        }))
        .send()
        .await?;
    anyhow::ensure!(
        created.status() == 201,
        "booking failed: {}",
        created.text().await?
    );
    let created: Value = created.json().await?;
    Ok(format!(
        "{booking}/v1/appointments/{}",
        created["id"].as_str().context("no id")?
    ))
}

async fn get(attend: &Attend, api_key: &str, url: &str) -> Option<Value> {
    attend
        .client
        .get(url)
        .bearer_auth(api_key)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

async fn sim_texts(attend: &Attend, phone: &str) -> anyhow::Result<Vec<Value>> {
    let sim = attend.url("carrier-sim")?;
    let all: Value = attend
        .client
        .get(format!(
            "{sim}/sim/messages?to={}",
            phone.replace('+', "%2B")
        ))
        .send()
        .await?
        .json()
        .await?;
    Ok(all
        .as_array()
        .cloned()
        .or_else(|| all["messages"].as_array().cloned())
        .unwrap_or_default())
}

#[tokio::test]
async fn sms_reminders_are_answered_by_text_and_stop_covers_calls() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let attend = Attend::start(&env, &[]).await?;
    let api_key = attend.create_tenant("West Side Mechanics").await?;

    // A CRM booking with an SMS reminder; the recipient replies "Yes".
    let confirming = "+12015550111";
    let appointment = book(&attend, &api_key, confirming, "sms").await?;
    let confirmed = wait_until(PATIENCE, "the appointment to be confirmed", || async {
        let body = get(&attend, &api_key, &appointment).await?;
        (body["status"] == "confirmed").then_some(body)
    })
    .await
    .with_context(|| attend.logs())?;
    assert_eq!(confirmed["reminders"][0]["outcome"], "confirmed");
    let texts = wait_until(PATIENCE, "the confirmation text", || async {
        let texts = sim_texts(&attend, confirming).await.ok()?;
        (texts.len() >= 2).then_some(texts)
    })
    .await?;
    assert_eq!(
        texts.len(),
        2,
        "the reminder and the confirmation: {texts:?}"
    );
    let reminder = texts[0]["body"].as_str().unwrap_or_default();
    assert!(
        reminder.starts_with("[West Side Mechanics]\nYou have an appointment on "),
        "{reminder}"
    );
    assert!(reminder.contains(" at 12 Main St."), "{reminder}");

    // The /reminder dialect, as its documentation shows it; the recipient replies "No".
    let offset = FixedOffset::east_opt(
        (Utc::now().with_timezone(&midday_zone().parse::<chrono_tz::Tz>()?))
            .offset()
            .fix()
            .local_minus_utc(),
    )
    .context("offset")?;
    let local_start = (Utc::now() + chrono::Duration::hours(1)).with_timezone(&offset);
    let booking = attend.url("booking-service")?;
    let created: Value = attend
        .client
        .post(format!("{booking}/reminder"))
        .bearer_auth(&api_key)
        .json(&json!({
            "contact_number": 12015550122_u64,
            "appointment_time": local_start.format("%Y-%m-%dT%H:%M%z").to_string(),
            "notify_window": "2",
            "location": "West Side Mechanics",
            "participant": "Joe"
        }))
        .send()
        .await?
        .json()
        .await?;
    let reminder_id = created["reminder_id"].as_str().context("no reminder_id")?;
    let answered = wait_until(PATIENCE, "the dialect reminder to be answered", || async {
        let body = get(
            &attend,
            &api_key,
            &format!("{booking}/reminder/{reminder_id}"),
        )
        .await?;
        (body["will_attend"] == false).then_some(body)
    })
    .await
    .with_context(|| attend.logs())?;
    assert_eq!(answered["reminder_sent"], true, "{answered}");
    assert_eq!(answered["confirm_sent"], true, "{answered}");
    assert_eq!(answered["contact_number"], "12015550122");
    let texts = sim_texts(&attend, "+12015550122").await?;
    assert!(
        texts[0]["body"]
            .as_str()
            .unwrap_or_default()
            .contains(" with Joe"),
        "{texts:?}"
    );

    // STOP to an SMS reminder: the same number's reminder call is never placed.
    let stopping = "+12015550133";
    let appointment = book(&attend, &api_key, stopping, "sms").await?;
    wait_until(PATIENCE, "the opt-out", || async {
        let body = get(&attend, &api_key, &appointment).await?;
        (body["reminders"][0]["outcome"] == "opted_out").then_some(())
    })
    .await
    .with_context(|| attend.logs())?;
    // The opt-out reaches voice-gateway through subscriber.opted_out (a real follow-up call
    // comes hours later; here the next one is booked at once, so wait for it to land).
    wait_until(PATIENCE, "voice-gateway to record the opt-out", || async {
        use diesel_async::RunQueryDsl;
        let mut connection = env.connect("voice").await.ok()?;
        let rows = diesel::sql_query(format!(
            "SELECT 1 FROM opt_outs WHERE phone = '{stopping}' AND source = 'sms_keyword'"
        ))
        .execute(&mut connection)
        .await
        .ok()?;
        (rows == 1).then_some(())
    })
    .await
    .with_context(|| attend.logs())?;
    let call_appointment = book(&attend, &api_key, stopping, "voice").await?;
    let outcome = wait_until(PATIENCE, "the call reminder's outcome", || async {
        let body = get(&attend, &api_key, &call_appointment).await?;
        let outcome = body["reminders"][0]["outcome"].as_str()?.to_owned();
        Some(outcome)
    })
    .await
    .with_context(|| attend.logs())?;
    assert_eq!(outcome, "opted_out");
    let sim = attend.url("carrier-sim")?;
    let calls: Value = attend
        .client
        .get(format!(
            "{sim}/sim/calls?to={}",
            stopping.replace('+', "%2B")
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(calls.as_array().map(Vec::len), Some(0), "no call: {calls}");

    attend.stop().await?;
    env.cleanup().await?;
    Ok(())
}
