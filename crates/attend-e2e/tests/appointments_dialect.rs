//! End to end, every binary as a real process on real Postgres and RabbitMQ, through the
//! `/appointments` dialect (reference/carriers.md §3.1): a client of the voice reminder
//! example posts its documented request, booking-service hands the call to the gateway at
//! once (`reminder.due.voice` with `spoken_when`), the carrier simulator answers and presses
//! 1, and `GET /appointments/{id}` reads "confirmed".
//!
//! The binaries come from the same target directory as this test (`scripts/test` builds them
//! first with `cargo build --workspace --bins`). The process helpers repeat those of
//! `reminder_call.rs`: each test file is its own crate.

use std::time::Duration;

use anyhow::Context;
use attend_e2e::Attend;
use attend_test_support::{TestEnv, wait_until};
use serde_json::{Value, json};

#[tokio::test]
async fn a_dialect_reminder_call_ends_confirmed_after_the_callee_presses_1() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let attend = Attend::start(&env, &[]).await?;
    let client = &attend.client;
    let booking = attend.url("booking-service")?;
    let sim = attend.url("carrier-sim")?;
    let api_key = attend.create_tenant("Acme Clinic").await?;
    // The dialect calls in the zone of the tenant's business: one where it is midday now,
    // so the call never waits for a calling window whenever the suite runs.
    let entity = client
        .post(format!("{booking}/v1/entities"))
        .bearer_auth(&api_key)
        .json(&json!({ "name": "Acme Clinic", "time_zone": attend_test_support::midday_zone() }))
        .send()
        .await?;
    anyhow::ensure!(
        entity.status() == 201,
        "POST /v1/entities failed: {}",
        entity.text().await?
    );

    // The document's request; the number ends in 1, so the simulator presses 1.
    let phone = "+12015550101";
    let created = client
        .post(format!("{booking}/appointments"))
        .bearer_auth(&api_key)
        .json(&json!({ "phone": phone, "name": "John", "date": "Apr 5", "time": "3 PM" }))
        .send()
        .await?;
    anyhow::ensure!(
        created.status() == 201,
        "POST /appointments failed: {}",
        created.text().await?
    );
    let created: Value = created.json().await?;
    anyhow::ensure!(created["status"] == "calling", "{created}");
    let appointment_url = format!(
        "{booking}/appointments/{}",
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
    assert!(confirmed["outcome_at"].is_string(), "{confirmed}");

    // Exactly one call reached the carrier, it spoke the free-text date and time, and the
    // appointment names its CallUUID.
    let calls: Value = client
        .get(format!("{sim}/sim/calls?to={}", phone.replace('+', "%2B")))
        .send()
        .await?
        .json()
        .await?;
    let calls = calls.as_array().context("calls is not an array")?;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(confirmed["call_uuid"], calls[0]["call_uuid"]);
    let spoken = calls[0]["spoken"].to_string();
    assert!(
        spoken.contains("Apr 5") && spoken.contains("3 PM"),
        "the call did not speak the date and time: {spoken}"
    );

    attend.stop().await?;
    env.cleanup().await?;
    Ok(())
}
