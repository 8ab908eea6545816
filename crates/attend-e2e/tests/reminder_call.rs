//! End to end, every binary as a real process on real Postgres and RabbitMQ: a CRM books an
//! appointment with a voice reminder, the scheduler fires it, the gateway calls through the
//! carrier simulator, the callee presses 1, and the appointment reads "confirmed".
//!
//! The binaries come from the same target directory as this test (`scripts/test` builds them
//! first with `cargo build --workspace --bins`).

use std::time::Duration;

use anyhow::Context;
use attend_e2e::{ADMIN_TOKEN, free_port, start, terminate, wait_ready};
use attend_test_support::{TestEnv, wait_until};
use serde_json::{Value, json};

#[tokio::test]
async fn a_crm_booking_ends_confirmed_after_the_callee_presses_1() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let log_dir = std::env::temp_dir().join(format!("attend-e2e-{}", env.database_name));
    std::fs::create_dir_all(&log_dir)?;

    let ports = [
        free_port()?,
        free_port()?,
        free_port()?,
        free_port()?,
        free_port()?,
    ];
    let [sim_port, booking_port, scheduler_port, voice_port, sms_port] = ports;
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
    .with_context(|| {
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
    })?;
    assert_eq!(confirmed["reminders"][0]["state"], "completed");
    assert_eq!(confirmed["reminders"][0]["outcome"], "confirmed");

    // Exactly one call reached the carrier.
    let calls: Value = client
        .get(format!(
            "http://127.0.0.1:{sim_port}/sim/calls?to={}",
            phone.replace('+', "%2B")
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");

    for service in services {
        terminate(service).await?;
    }
    env.cleanup().await?;
    let _ = std::fs::remove_dir_all(&log_dir);
    Ok(())
}
