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
use attend_e2e::{ADMIN_TOKEN, free_port, start, terminate, wait_ready};
use attend_test_support::{TestEnv, wait_until};
use serde_json::{Value, json};

#[tokio::test]
async fn a_dialect_reminder_call_ends_confirmed_after_the_callee_presses_1() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let log_dir = std::env::temp_dir().join(format!("attend-e2e-dialect-{}", env.database_name));
    std::fs::create_dir_all(&log_dir)?;

    let [sim_port, booking_port, scheduler_port, voice_port, sms_port] = [
        free_port()?,
        free_port()?,
        free_port()?,
        free_port()?,
        free_port()?,
    ];
    let mut shared = env.service_env();
    shared.retain(|(name, _)| name != "HTTP_PORT");
    shared.extend([
        ("ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
        (
            "PUBLIC_URL".to_owned(),
            format!("http://127.0.0.1:{voice_port}"),
        ),
        (
            "VOBIZ_API_URL".to_owned(),
            format!("http://127.0.0.1:{sim_port}/api/v1"),
        ),
        ("SCHEDULER_POLL_MS".to_owned(), "200".to_owned()),
    ]);

    let services = vec![
        start("carrier-sim", sim_port, &shared, &log_dir).await?,
        start("booking-service", booking_port, &shared, &log_dir).await?,
        start("reminder-scheduler", scheduler_port, &shared, &log_dir).await?,
        start("voice-gateway", voice_port, &shared, &log_dir).await?,
        start("sms-service", sms_port, &shared, &log_dir).await?,
    ];
    let client = reqwest::Client::new();
    for service in &services {
        wait_ready(&client, service).await?;
    }
    let all_logs = || {
        services
            .iter()
            .map(|service| {
                format!(
                    "--- {}\n{}",
                    service.name,
                    std::fs::read_to_string(&service.log).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    let booking = format!("http://127.0.0.1:{booking_port}");
    let tenant: Value = client
        .post(format!("{booking}/v1/admin/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "Acme Clinic" }))
        .send()
        .await?
        .json()
        .await?;
    let api_key = tenant["api_key"].as_str().context("no api key")?.to_owned();
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
    .with_context(all_logs)?;
    assert!(confirmed["outcome_at"].is_string(), "{confirmed}");

    // Exactly one call reached the carrier, it spoke the free-text date and time, and the
    // appointment names its CallUUID.
    let calls: Value = client
        .get(format!(
            "http://127.0.0.1:{sim_port}/sim/calls?to={}",
            phone.replace('+', "%2B")
        ))
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

    for service in services {
        terminate(service).await?;
    }
    env.cleanup().await?;
    let _ = std::fs::remove_dir_all(&log_dir);
    Ok(())
}
