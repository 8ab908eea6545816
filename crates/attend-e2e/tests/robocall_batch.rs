//! End to end, every binary as a real process: an integrator's robo-call batch. The tenant's
//! API key is created by booking-service and reaches voice-gateway only as a
//! `tenant.api_key_issued` event; the batch runs through the carrier simulator; the signed
//! completion callback reaches a receiver that fails once, and its stats are what the
//! simulator recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use attend_e2e::Attend;
use attend_test_support::{TestEnv, wait_until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the receiver got: its headers (lower case) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
    status: u16,
}

/// A minimal HTTP/1.1 endpoint (no dependency beyond tokio): answers 503 to the first
/// `failures` requests, then 200, and records each one.
async fn spawn_receiver(failures: usize) -> anyhow::Result<(String, Arc<Mutex<Vec<Received>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/attend/callback", listener.local_addr()?);
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        let mut left = failures;
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            let mut chunk = [0_u8; 8192];
            let (head_end, content_length) = loop {
                let Ok(read) = stream.read(&mut chunk).await else {
                    break (0, 0);
                };
                if read == 0 {
                    break (0, 0);
                }
                buffer.extend_from_slice(&chunk[..read]);
                if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (end + 4, length);
                }
            };
            if head_end == 0 {
                continue;
            }
            while buffer.len() < head_end + content_length {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
            }
            let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect();
            let body = String::from_utf8_lossy(&buffer[head_end..]).into_owned();
            let status = if left > 0 {
                left -= 1;
                503
            } else {
                200
            };
            if let Ok(mut log) = log.lock() {
                log.push(Received {
                    headers,
                    body,
                    status,
                });
            }
            let reason = if status == 200 {
                "OK"
            } else {
                "Service Unavailable"
            };
            let answer = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    Ok((url, received))
}

async fn api(
    attend: &Attend,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = attend
        .client
        .request(
            method,
            format!("{}/voicebot/v1{path}", attend.url("voice-gateway")?),
        )
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn a_batch_created_with_a_booking_key_ends_with_one_signed_callback_of_exact_stats()
-> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let attend = Attend::start(
        &env,
        &[
            ("CALLBACK_RETRY_BASE_MS", "300"),
            ("CALLBACK_POLL_MS", "100"),
            ("CARRIER_CPS", "30"),
        ],
    )
    .await?;
    let outcome = run(&attend).await;
    if outcome.is_err() {
        eprintln!("{}", attend.logs());
    }
    attend.stop().await?;
    env.cleanup().await?;
    outcome
}

async fn run(attend: &Attend) -> anyhow::Result<()> {
    use reqwest::Method;
    let key = attend.create_tenant("Batch Clinic").await?;
    // The key exists only in booking-service until its event reaches the gateway.
    wait_until(
        Duration::from_secs(30),
        "voice-gateway to know the key",
        || async {
            let (status, _) = api(attend, Method::GET, "/workflows", &key, None)
                .await
                .ok()?;
            (status == 200).then_some(())
        },
    )
    .await?;

    let (callback_url, received) = spawn_receiver(1).await?;
    let (status, settings) = api(
        attend,
        Method::PUT,
        "/settings",
        &key,
        Some(&json!({"callback_url": callback_url})),
    )
    .await?;
    anyhow::ensure!(status == 200, "settings: {settings}");
    let secret = settings["data"]["callback_secret"]
        .as_str()
        .context("no secret")?
        .to_owned();
    let (status, workflow) = api(
        attend,
        Method::POST,
        "/workflows",
        &key,
        Some(&json!({
            "name": "flu-shot",
            "variables": ["name"],
            "start": "menu",
            "nodes": {
                "menu": {"type": "gather",
                         "prompts": [{"text": "Hello {name}. Press 1 to book your flu shot, or 2 to decline."}],
                         "digits": {"1": "book", "2": "decline"}, "retries": 1,
                         "invalid": {"text": "Please press 1 or 2."}, "no_input": "bye"},
                "book": {"type": "hangup", "template": {"text": "We will text you a time."}, "option": "1"},
                "decline": {"type": "hangup", "template": {"text": "Thank you."}, "option": "2"},
                "bye": {"type": "hangup", "template": {"text": "Goodbye."}}
            }
        })),
    )
    .await?;
    anyhow::ensure!(status == 200, "workflow: {workflow}");
    let workflow_id = workflow["data"]["workflow_id"].clone();

    // Default sim callees by last digit: 1 and 4-8 press 1, 2 presses 2, 3 presses 3 (not an
    // option) then 1, 9 presses nothing, 0 never answers.
    let numbers: Vec<String> = (0..60).map(|index| format!("+1555080{index:04}")).collect();
    let params: Vec<Value> = numbers
        .iter()
        .enumerate()
        .map(|(index, number)| {
            json!({"phone_number": number, "user_tag_identifiers": {"row": index},
                   "workflow_variables": {"name": format!("Patient {index}")}})
        })
        .collect();
    let (status, created) = api(
        attend,
        Method::POST,
        "/call",
        &key,
        Some(&json!({"workflow_id": workflow_id, "tts_voice_accent": "british", "workflow_params": params})),
    )
    .await?;
    anyhow::ensure!(status == 200, "batch: {created}");
    let batch_id = created["data"]["batch_id"]
        .as_str()
        .context("no batch_id")?
        .to_owned();

    let requests = wait_until(Duration::from_secs(60), "the callback", || async {
        let requests = received.lock().ok()?.clone();
        requests
            .iter()
            .any(|request| request.status == 200)
            .then_some(requests)
    })
    .await?;
    anyhow::ensure!(requests.len() == 2, "{} requests", requests.len());
    anyhow::ensure!(
        requests[0].body == requests[1].body,
        "the retry changed the body"
    );
    for request in &requests {
        let header = request
            .headers
            .get("x-attend-signature")
            .context("unsigned callback")?;
        let timestamp: i64 = header
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .context("no timestamp")?
            .parse()?;
        anyhow::ensure!(
            *header == voice_gateway::callbacks::sign(&secret, timestamp, request.body.as_bytes()),
            "bad signature"
        );
    }
    let payload: Value = serde_json::from_str(&requests[1].body)?;
    anyhow::ensure!(payload["request_id"] == batch_id.as_str());

    // The stats are what the simulator recorded.
    let summary: Vec<Value> = attend
        .client
        .get(format!("{}/sim/calls/summary", attend.url("carrier-sim")?))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(summary.len() == 60, "{} calls placed", summary.len());
    let (mut answered, mut replied, mut timeouts, mut ones, mut twos, mut seconds) =
        (0_i64, 0_i64, 0, 0, 0, 0_i64);
    for call in &summary {
        let option = call["digits"].as_array().and_then(|digits| {
            digits
                .iter()
                .filter_map(Value::as_str)
                .find(|d| ["1", "2"].contains(d))
        });
        match call["status"].as_str() {
            Some("completed") => {
                answered += 1;
                seconds += call["duration"].as_i64().unwrap_or(0);
                match option {
                    Some("1") => {
                        replied += 1;
                        ones += 1;
                    }
                    Some(_) => {
                        replied += 1;
                        twos += 1;
                    }
                    None => {}
                }
            }
            Some("no-answer") => timeouts += 1,
            _ => {}
        }
    }
    // Two decimals, half up, in integers (docs/robocall-batches.md).
    let hundredths = |numerator: i64, denominator: i64, scale: i64| {
        ((2 * numerator * scale * 100 + denominator) / (2 * denominator)) as f64 / 100.0
    };
    let expected = json!({
        "total_calls": 60,
        "completed_calls": answered,
        "timeout_calls": timeouts,
        "replied_calls": replied,
        "replied_option_one_count": ones,
        "replied_option_two_count": twos,
        "avg_duration": hundredths(seconds, answered, 1),
        "success_rate": hundredths(replied, 60, 100),
    });
    anyhow::ensure!(
        payload["stats"] == expected,
        "stats {} != sim {}",
        payload["stats"],
        expected
    );
    let voices: Vec<&Value> = summary
        .iter()
        .filter_map(|call| call.get("first_voice").filter(|voice| !voice.is_null()))
        .collect();
    anyhow::ensure!(
        voices
            .iter()
            .all(|voice| **voice == json!(["WOMAN", "en-GB"])),
        "voices {voices:?}"
    );
    let (_, batch) = api(
        attend,
        Method::GET,
        &format!("/batches/{batch_id}"),
        &key,
        None,
    )
    .await?;
    anyhow::ensure!(
        batch["data"]["callback"]["status"] == "DELIVERED",
        "{batch}"
    );
    anyhow::ensure!(batch["data"]["callback"]["attempts"] == 2, "{batch}");
    Ok(())
}
