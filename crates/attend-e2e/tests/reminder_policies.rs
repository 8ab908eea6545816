//! End to end, every binary as a real process: a reminder policy of an appointment type
//! plans a voice reminder that falls back to a text when the call goes unanswered (the text
//! in the policy's words, with the customer's name and the booking's metadata, answered
//! "Yes"); the `/events/reminders` dialect sends its reminder and follow-up; and a no-show
//! sends the no-show text while the follow-up never goes out.

use std::time::Duration;

use anyhow::Context;
use attend_e2e::Attend;
use attend_test_support::{TestEnv, midday_zone, wait_until};
use chrono::Utc;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(40);

struct Clinic {
    attend: Attend,
    key: String,
    zone: String,
}

impl Clinic {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let booking = self.attend.url("booking-service")?;
        let response = self
            .attend
            .client
            .request(method.clone(), format!("{booking}{path}"))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{method} {path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn texts_to(&self, phone: &str) -> Vec<String> {
        let Ok(sim) = self.attend.url("carrier-sim") else {
            return Vec::new();
        };
        let Ok(response) = self
            .attend
            .client
            .get(format!(
                "{sim}/sim/messages?to={}",
                phone.replace('+', "%2B")
            ))
            .send()
            .await
        else {
            return Vec::new();
        };
        let all: Value = response.json().await.unwrap_or_default();
        all.as_array()
            .cloned()
            .or_else(|| all["messages"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|message| message["body"].as_str().map(str::to_owned))
            .collect()
    }

    async fn texts_until(
        &self,
        phone: &str,
        count: usize,
        what: &str,
    ) -> anyhow::Result<Vec<String>> {
        wait_until(PATIENCE, what, || async {
            let texts = self.texts_to(phone).await;
            (texts.len() >= count).then_some(texts)
        })
        .await
        .with_context(|| self.attend.logs())
    }
}

/// A local date-time `seconds` from now in `zone`, as the dialect's clients write it.
fn local_in(zone: &str, seconds: i64) -> anyhow::Result<String> {
    let zone: chrono_tz::Tz = zone.parse().map_err(|_| anyhow::anyhow!("bad zone"))?;
    Ok((Utc::now() + chrono::Duration::seconds(seconds))
        .with_timezone(&zone)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string())
}

#[tokio::test]
async fn policies_fall_back_follow_up_and_stop_after_a_no_show() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let attend = Attend::start(&env, &[]).await?;
    let key = attend.create_tenant("Riverside Clinic").await?;
    let clinic = Clinic {
        attend,
        key,
        zone: midday_zone().to_owned(),
    };
    use reqwest::Method;

    // No voice retries, so an unanswered call falls back at once.
    clinic
        .send(
            Method::PUT,
            "/v1/settings/reminders",
            &json!({"voiceRetry": {"maxRetries": 0, "intervalMinutes": 15, "retryOn": ["busy", "no_answer"]}}),
        )
        .await?;
    let entity = clinic
        .send(
            Method::POST,
            "/v1/entities",
            &json!({"name": "Riverside Clinic", "time_zone": clinic.zone, "locale": "en"}),
        )
        .await?;
    let check_up = clinic
        .send(
            Method::POST,
            "/v1/appointment-types",
            &json!({"entity_id": entity["id"], "name": "Check-up"}),
        )
        .await?;
    let type_id = check_up["id"].as_str().context("type id")?.to_owned();
    clinic
        .send(
            Method::PUT,
            &format!("/v1/appointment-types/{type_id}/reminder-policy"),
            &json!({
                "reminders": [{"channel": "voice", "offset": "PT59M50S", "fallback": "sms"}],
                "templates": [
                    {"channel": "sms", "kind": "reminder", "language": "en",
                     "text": "[{business}] {first_name}, your check-up is {datetime} in room {metadata.room}. Reply Yes or No."},
                    {"channel": "sms", "kind": "follow_up", "language": "en",
                     "text": "[{business}] Thanks for coming, {first_name}! {metadata.eventLocation} hopes to see you again."},
                    {"channel": "sms", "kind": "no_show", "language": "en",
                     "text": "[{business}] We missed you at {metadata.eventLocation}. Reply or call to rebook."}
                ]
            }),
        )
        .await?;

    // 1. A voice reminder due in ten seconds; the callee never answers; the text falls back
    //    in the policy's words and the "Yes" reply confirms.
    let sim = clinic.attend.url("carrier-sim")?;
    let phone = "+12015550131";
    let scripted = clinic
        .attend
        .client
        .put(format!(
            "{sim}/sim/voice/scripts/{}",
            phone.replace('+', "%2B")
        ))
        .json(&json!({"answer": false}))
        .send()
        .await?;
    anyhow::ensure!(scripted.status().is_success(), "voice script refused");
    let booked = clinic
        .send(
            Method::POST,
            "/v1/appointments",
            &json!({
                "customer": {"name": "Maya Lin", "phone": phone},
                "start": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
                "time_zone": clinic.zone,
                "appointment_type_id": type_id,
                "metadata": {"room": "4C"}
            }),
        )
        .await?;
    let appointment_path = format!("/v1/appointments/{}", booked["id"].as_str().context("id")?);
    let confirmed = wait_until(PATIENCE, "the fallback text to be answered Yes", || async {
        let body = clinic
            .send(Method::GET, &appointment_path, &Value::Null)
            .await
            .ok()?;
        (body["status"] == "confirmed").then_some(body)
    })
    .await
    .with_context(|| clinic.attend.logs())?;
    assert_eq!(confirmed["reminders"][0]["outcome"], "confirmed");
    let texts = clinic.texts_until(phone, 1, "the fallback text").await?;
    assert!(
        texts[0].starts_with("[Riverside Clinic] Maya, your check-up is ")
            && texts[0].ends_with(" in room 4C. Reply Yes or No."),
        "{texts:?}"
    );

    // 2. The dialect: a reminder two seconds before an event four seconds away, and a
    //    follow-up three seconds after it. The subscriber (last digit 0) never replies.
    let follower = "+12015550140";
    clinic
        .send(
            Method::POST,
            "/events/reminders",
            &json!({
                "externalEventId": "evt-1",
                "phone": follower,
                "firstName": "Omar",
                "eventType": {"uuid": type_id},
                "remindTimeOffset": "PT2S",
                "followUpTimeOffset": "PT3S",
                "eventDateTime": local_in(&clinic.zone, 4)?,
                "subscriberTimeZone": clinic.zone,
                "metadata": {"eventLocation": "Riverside", "room": "1A"}
            }),
        )
        .await?;
    let texts = clinic
        .texts_until(follower, 2, "the reminder and the follow-up")
        .await?;
    assert!(texts[0].contains("Omar, your check-up is"), "{texts:?}");
    assert_eq!(
        texts[1],
        "[Riverside Clinic] Thanks for coming, Omar! Riverside hopes to see you again."
    );

    // 3. A no-show two seconds after the start: the no-show text goes out, the follow-up
    //    (due twelve seconds after the start) never does.
    let missing = "+12015550150";
    let created = clinic
        .send(
            Method::POST,
            "/events/reminders",
            &json!({
                "externalEventId": "evt-2",
                "phone": missing,
                "firstName": "Lena",
                "eventType": {"uuid": type_id},
                "remindTimeOffset": "PT1S",
                "followUpTimeOffset": "PT12S",
                "eventDateTime": local_in(&clinic.zone, 3)?,
                "subscriberTimeZone": clinic.zone,
                "metadata": {"eventLocation": "Riverside"}
            }),
        )
        .await?;
    let uuid = created["uuid"].as_str().context("uuid")?.to_owned();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let marked = clinic
        .send(
            Method::POST,
            &format!("/events/reminders/{uuid}/no-show"),
            &json!({}),
        )
        .await?;
    assert_eq!(marked["status"], "no_show");
    let texts = clinic
        .texts_until(missing, 2, "the reminder and the no-show text")
        .await?;
    assert_eq!(
        texts[1],
        "[Riverside Clinic] We missed you at Riverside. Reply or call to rebook."
    );
    // Past the follow-up's due time, nothing more arrived.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let texts = clinic.texts_to(missing).await;
    assert_eq!(texts.len(), 2, "no follow-up after a no-show: {texts:?}");

    clinic.attend.stop().await?;
    env.cleanup().await?;
    Ok(())
}
