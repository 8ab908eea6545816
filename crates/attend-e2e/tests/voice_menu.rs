//! End to end, every binary as a real process on real Postgres and RabbitMQ: every path of the
//! voice reminder menu. A CRM books appointments with voice reminders, the scheduler fires
//! them, the gateway calls through the carrier simulator whose callees press scripted keys,
//! and booking-service records each outcome.
//!
//! The binaries come from the same target directory as this test (`scripts/test` builds them
//! first with `cargo build --workspace --bins`).

use std::time::Duration;

use anyhow::Context;
use attend_e2e::Attend;
use attend_test_support::{TestEnv, wait_until};
use serde_json::{Value, json};

struct Stack {
    attend: Attend,
    booking: String,
    sim: String,
    api_key: String,
    zone: String,
}

impl Stack {
    async fn script(&self, phone: &str, script: Value) -> anyhow::Result<()> {
        let response = self
            .attend
            .client
            .put(format!(
                "{}/sim/voice/scripts/{}",
                self.sim,
                phone.replace('+', "%2B")
            ))
            .json(&script)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "script refused");
        Ok(())
    }

    /// Books an appointment an hour away whose voice reminder is due at once; returns its URL.
    async fn book(&self, phone: &str) -> anyhow::Result<String> {
        let start_at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let created = self
            .attend
            .client
            .post(format!("{}/v1/appointments", self.booking))
            .bearer_auth(&self.api_key)
            .json(&json!({
                "customer": { "name": "Ada & <Bob>", "phone": phone, "locale": "en" },
                "start": start_at,
                "time_zone": self.zone,
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
        Ok(format!(
            "{}/v1/appointments/{}",
            self.booking,
            created["id"].as_str().context("no id")?
        ))
    }

    /// Waits until the appointment's voice reminder has an outcome; returns the appointment.
    async fn settled(&self, appointment_url: &str) -> anyhow::Result<Value> {
        wait_until(Duration::from_secs(40), "the reminder outcome", || async {
            let body: Value = self
                .attend
                .client
                .get(appointment_url)
                .bearer_auth(&self.api_key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            body["reminders"][0]["outcome"].is_string().then_some(body)
        })
        .await
        .with_context(|| self.attend.logs())
    }

    /// Waits until the sim's calls to `phone` have ended; returns them.
    async fn finished_calls(&self, phone: &str) -> anyhow::Result<Vec<Value>> {
        wait_until(Duration::from_secs(40), "the calls to end", || async {
            let calls: Vec<Value> = self
                .attend
                .client
                .get(format!(
                    "{}/sim/calls?to={}",
                    self.sim,
                    phone.replace('+', "%2B")
                ))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let done = !calls.is_empty()
                && calls.iter().all(|call| {
                    call["exchanges"]
                        .as_array()
                        .is_some_and(|all| all.iter().any(|exchange| exchange["event"] == "Hangup"))
                });
            done.then_some(calls)
        })
        .await
        .with_context(|| self.attend.logs())
    }
}

fn spoken(call: &Value) -> Vec<String> {
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

#[tokio::test]
async fn every_menu_path_ends_with_the_right_outcome() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let attend = Attend::start(&env, &[("CALLBACK_NUMBER", "+15550109999")]).await?;
    let stack = Stack {
        booking: attend.url("booking-service")?,
        sim: attend.url("carrier-sim")?,
        api_key: attend.create_tenant("Smith & Sons <Clinic>").await?,
        zone: attend_test_support::midday_zone(),
        attend,
    };

    // (phone, script, the reminder's outcome, the appointment's status, the last words)
    let paths = [
        (
            "+12015550111",
            json!({"digits": ["1"]}),
            "confirmed",
            "confirmed",
            "Thank you, your appointment is confirmed. Goodbye.",
        ),
        (
            "+12015550112",
            json!({"digits": ["2"]}),
            "reschedule_requested",
            "reschedule_requested",
            "Please call us at +15550109999 to reschedule. Goodbye.",
        ),
        (
            "+12015550113",
            json!({"digits": ["3", "1"]}),
            "cancelled",
            "cancelled",
            "Your appointment has been cancelled. Goodbye.",
        ),
        (
            "+12015550114",
            json!({"digits": ["3", "2", "1"]}),
            "confirmed",
            "confirmed",
            "Thank you, your appointment is confirmed. Goodbye.",
        ),
        (
            "+12015550115",
            json!({"digits": ["9", "1"]}),
            "confirmed",
            "confirmed",
            "Thank you, your appointment is confirmed. Goodbye.",
        ),
        (
            "+12015550116",
            json!({"digits": ["7", "7", "7", "1"]}),
            "confirmed",
            "confirmed",
            "Thank you, your appointment is confirmed. Goodbye.",
        ),
        (
            "+12015550117",
            json!({"digits": [], "no_input": "fallthrough"}),
            "no_answer",
            "scheduled",
            "We did not hear a choice. Please call us at +15550109999. Goodbye.",
        ),
        (
            "+12015550118",
            json!({"digits": [], "no_input": "post_empty"}),
            "no_answer",
            "scheduled",
            "We did not hear a choice. Please call us at +15550109999. Goodbye.",
        ),
        (
            "+12015550119",
            json!({"digits": ["8"]}),
            "opted_out",
            "scheduled",
            "You will get no more reminder calls from Smith & Sons <Clinic>. Goodbye.",
        ),
    ];
    let mut booked = Vec::new();
    for (phone, script, ..) in &paths {
        stack.script(phone, script.clone()).await?;
        booked.push(stack.book(phone).await?);
    }
    for ((phone, script, outcome, status, last_words), url) in paths.iter().zip(&booked) {
        let calls = stack.finished_calls(phone).await?;
        assert_eq!(calls.len(), 1, "{phone}");
        let heard = spoken(&calls[0]);
        assert_eq!(
            heard[0],
            "Hello Ada & <Bob>, this is Smith & Sons <Clinic>."
        );
        assert_eq!(
            heard.last().map(String::as_str),
            Some(*last_words),
            "{script}: {heard:?}"
        );
        // A no-answer may be retried by the scheduler's policy; only the first call counts here.
        if *outcome != "no_answer" {
            let appointment = stack.settled(url).await?;
            assert_eq!(appointment["reminders"][0]["outcome"], *outcome, "{script}");
            assert_eq!(appointment["status"], *status, "{script}");
        }
    }

    // 8 opted out: a second appointment for that number is settled without a call.
    let second = stack.book("+12015550119").await?;
    let appointment = stack.settled(&second).await?;
    assert_eq!(appointment["reminders"][0]["outcome"], "opted_out");
    assert_eq!(stack.finished_calls("+12015550119").await?.len(), 1);

    stack.attend.stop().await?;
    env.cleanup().await?;
    Ok(())
}
