//! End to end, every binary as a real process on real Postgres and RabbitMQ: a CRM books an
//! appointment with a voice reminder, the scheduler fires it, the gateway calls through the
//! carrier simulator, the callee presses 1, and the appointment reads "confirmed".
//!
//! The binaries come from the same target directory as this test (`scripts/test` builds them
//! first with `cargo build --workspace --bins`).

use std::time::Duration;

use anyhow::Context;
use attend_e2e::Attend;
use attend_test_support::{TestEnv, wait_until};
use serde_json::{Value, json};

#[tokio::test]
async fn a_crm_booking_ends_confirmed_after_the_callee_presses_1() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let attend = Attend::start(&env, &[]).await?;
    let client = &attend.client;
    let booking = attend.url("booking-service")?;
    let sim = attend.url("carrier-sim")?;
    let api_key = attend.create_tenant("Acme Clinic").await?;

    // The callee's number ends in 1: the simulator presses 1. The reminder is due two hours
    // before a start one hour away, so it is already due and fires at once.
    let phone = "+12015550101";
    let start_at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let created = client
        .post(format!("{booking}/v1/appointments"))
        .bearer_auth(&api_key)
        .json(&json!({
            "customer": { "name": "Ada Lovelace", "phone": phone, "locale": "en" },
            "start": start_at,
            // A zone where it is midday now: the reminder must not wait for a calling window.
            "time_zone": attend_test_support::midday_zone(),
            "reminders": [ { "channel": "voice", "offset": "PT2H" } ]
        }))
        .send()
        .await?;
    anyhow::ensure!(
        created.status() == 201,
        "booking failed: {}",
        created.text().await?
    );
    let created: Value = created.json().await?;
    let appointment_url = format!(
        "{booking}/v1/appointments/{}",
        created["id"].as_str().context("no id")?
    );

    let confirmed = wait_until(
        Duration::from_secs(30),
        "the appointment to be confirmed",
        || async {
            let body: Value = client
                .get(&appointment_url)
                .bearer_auth(&api_key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (body["status"] == "confirmed").then_some(body)
        },
    )
    .await
    .with_context(|| attend.logs())?;
    assert_eq!(confirmed["reminders"][0]["state"], "completed");
    assert_eq!(confirmed["reminders"][0]["outcome"], "confirmed");

    // Exactly one call reached the carrier.
    let calls: Value = client
        .get(format!("{sim}/sim/calls?to={}", phone.replace('+', "%2B")))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");

    attend.stop().await?;
    env.cleanup().await?;
    Ok(())
}
