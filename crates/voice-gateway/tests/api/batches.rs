//! Running batches: 1,000 numbers against the sim's scripted callees with the callback's
//! stats equal to what the sim recorded, callbacks retried until acknowledged, a gateway
//! restarted mid-batch, and reminders (and other tenants) not starved behind a big batch.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use attend_test_support::wait_until;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{CallbackReceiver, Carrier, TestApp, reminder_for, signature_is_valid};
use crate::robocall_api::{entry, results_workflow};

/// How the sim recorded one call, turned into what the callback must say about it.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    status: &'static str,
    option: Option<String>,
    duration: i64,
}

/// Reads the sim's summary of one call the way docs/robocall-batches.md defines results for
/// the test workflow (keys 1, 2 and 3 end the call with that option).
fn expected_from_sim(call: &Value) -> Expected {
    let option = call["digits"].as_array().and_then(|digits| {
        digits
            .iter()
            .filter_map(Value::as_str)
            .find(|digit| ["1", "2", "3"].contains(digit))
            .map(str::to_owned)
    });
    let duration = call["duration"].as_i64().unwrap_or(0);
    let status = match (call["status"].as_str(), &option) {
        (Some("completed"), Some(_)) => "COMPLETED",
        (Some("completed"), None) => "NO_REPLY",
        (Some("no-answer"), _) => "TIMEOUT",
        (Some("busy"), _) => "BUSY",
        _ => "FAILED",
    };
    let answered = matches!(status, "COMPLETED" | "NO_REPLY");
    Expected {
        status,
        option,
        duration: if answered { duration } else { 0 },
    }
}

/// The stats docs/robocall-batches.md defines, computed from the sim's records.
fn stats_of(expected: &[Expected]) -> Value {
    let count = |status: &str| expected.iter().filter(|call| call.status == status).count();
    let total = expected.len();
    let completed = count("COMPLETED") + count("NO_REPLY");
    let replied = count("COMPLETED");
    let option = |key: &str| {
        expected
            .iter()
            .filter(|call| call.option.as_deref() == Some(key))
            .count()
    };
    let seconds =
        usize::try_from(expected.iter().map(|call| call.duration).sum::<i64>()).unwrap_or_default();
    // Two decimals, half up, in integers (docs/robocall-batches.md).
    let hundredths = |numerator: usize, denominator: usize, scale: usize| {
        if denominator == 0 {
            return 0.0;
        }
        ((2 * numerator * scale * 100 + denominator) / (2 * denominator)) as f64 / 100.0
    };
    json!({
        "total_calls": total,
        "completed_calls": completed,
        "timeout_calls": count("TIMEOUT"),
        "replied_calls": replied,
        "replied_option_one_count": option("1"),
        "replied_option_two_count": option("2"),
        "replied_option_three_count": option("3"),
        "avg_duration": hundredths(seconds, completed, 1),
        "success_rate": hundredths(replied, total, 100),
    })
}

async fn post_batch(app: &TestApp, key: &str, request: &Value) -> anyhow::Result<String> {
    let (status, body) = app.api(Method::POST, "/call", key, Some(request)).await?;
    anyhow::ensure!(status == 200, "batch refused: {status} {body}");
    Ok(body["data"]["batch_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn batch_status(app: &TestApp, key: &str, batch_id: &str) -> anyhow::Result<Value> {
    let (_, body) = app
        .api(Method::GET, &format!("/batches/{batch_id}"), key, None)
        .await?;
    Ok(body["data"].clone())
}

#[tokio::test]
async fn a_thousand_number_batch_reports_exactly_what_the_carrier_saw() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(
        Carrier::Sim,
        &[
            ("CARRIER_CPS", "60"),
            ("CARRIER_MAX_CALLS", "40"),
            ("BATCH_MAX_CALLS_PER_TENANT", "30"),
            ("BATCH_RESERVED_LINES", "5"),
            ("DIALER_CONCURRENCY", "16"),
            ("DB_POOL_SIZE", "16"),
            ("CALLBACK_POLL_MS", "50"),
        ],
    )
    .await?;
    // The carrier refuses anything beyond the gateway's own limits.
    app.sim_limits(json!({"calls_per_second": 60, "max_concurrent_calls": 40}))
        .await?;
    let (tenant_id, key) = app.integrator().await?;
    let receiver = CallbackReceiver::spawn(0).await?;
    let secret = app.set_callback(&key, &receiver.url).await?;
    let workflow_id = app.create_workflow(&key, &results_workflow()).await?;

    // The sim's default callee by last digit: 1 presses 1, 2 presses 2, 3 presses 3, 9 presses
    // nothing, 0 never answers, the rest press 1. Some get scripts of their own.
    let numbers: Vec<String> = (0..1000)
        .map(|index| format!("+1555040{index:04}"))
        .collect();
    let special = [
        json!({"line": "busy"}),
        json!({"line": "failed"}),
        json!({"line": "machine"}),
        json!({"hangup_after_speaks": 1}),
        json!({"digits": ["7", "2"]}),
        json!({"digits": ["7", "7"]}),
        json!({"digits": [""], "no_input": "post_empty"}),
    ];
    for (index, number) in numbers
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 20 == 4)
    {
        app.script_callee(number, special[(index / 20) % special.len()].clone())
            .await?;
    }
    let params: Vec<Value> = numbers
        .iter()
        .enumerate()
        .map(|(index, number)| entry(number, index))
        .collect();
    let started = Instant::now();
    let batch_id = post_batch(
        &app,
        &key,
        &json!({"workflow_id": workflow_id, "tts_voice_gender": "male", "workflow_params": params}),
    )
    .await?;
    let accepted_in = started.elapsed();

    let received = receiver.delivered(Duration::from_secs(120)).await?;
    let finished_in = started.elapsed();
    assert_eq!(
        received.len(),
        1,
        "one callback, delivered at the first try"
    );
    let callback = &received[0];
    assert!(signature_is_valid(callback, &secret), "bad signature");
    assert_eq!(callback.headers["x-attend-request-id"], batch_id);
    let payload: Value = serde_json::from_str(&callback.body)?;
    assert_eq!(payload["request_id"], batch_id.as_str());
    assert_eq!(payload["status"], "COMPLETED");
    assert_eq!(payload["integrator_id"], tenant_id.to_string());

    // Every number was called exactly once.
    let summary = app.sim_summary().await?;
    let mut calls_per_number: HashMap<&str, Vec<&Value>> = HashMap::new();
    for call in &summary {
        calls_per_number
            .entry(call["to"].as_str().unwrap_or_default())
            .or_default()
            .push(call);
    }
    assert_eq!(summary.len(), 1000);
    assert!(
        numbers
            .iter()
            .all(|number| calls_per_number.get(number.as_str()).map(Vec::len) == Some(1))
    );

    // Each call's result, and the stats, are what the sim recorded.
    let request_calls = payload["request_calls"].as_array().unwrap();
    assert_eq!(request_calls.len(), 1000);
    let mut expected_all = Vec::new();
    for (index, reported) in request_calls.iter().enumerate() {
        assert_eq!(reported["phone_number"], numbers[index].as_str());
        assert_eq!(
            reported["user_tag_identifiers"],
            json!({"customer_id": format!("CUST{index:04}")})
        );
        let expected = expected_from_sim(calls_per_number[numbers[index].as_str()][0]);
        assert_eq!(
            reported["status"], expected.status,
            "{}: {reported}",
            numbers[index]
        );
        assert_eq!(
            reported["call_result_options_selected"]
                .as_str()
                .map(str::to_owned),
            expected.option,
            "{}",
            numbers[index]
        );
        assert_eq!(
            reported["call_result_duration"], expected.duration,
            "{}",
            numbers[index]
        );
        expected_all.push(expected);
    }
    assert_eq!(payload["stats"], stats_of(&expected_all));
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for expected in &expected_all {
        *by_status.entry(expected.status).or_default() += 1;
    }
    // The mix really is mixed.
    for status in ["COMPLETED", "NO_REPLY", "TIMEOUT", "BUSY", "FAILED"] {
        assert!(
            by_status.get(status).copied().unwrap_or(0) > 0,
            "{by_status:?}"
        );
    }
    // The male voice and the default accent reached the carrier.
    let answered = summary
        .iter()
        .find(|call| call["answered"] == true)
        .unwrap();
    assert_eq!(answered["first_voice"], json!(["MAN", "en-US"]));

    // Within the carrier's limits: nothing refused, the tenant's cap held, and 1,000 requests
    // at 60 a second take most of 17 seconds.
    let counters = app.sim_counters().await?["counters"].clone();
    assert_eq!(counters["rejected_rate"], 0, "{counters}");
    assert_eq!(counters["rejected_concurrency"], 0, "{counters}");
    assert!(
        counters["peak_concurrent_calls"].as_u64().unwrap_or(99) <= 30,
        "{counters}"
    );
    let first = summary
        .iter()
        .filter_map(|call| call["created_at"].as_str())
        .min()
        .unwrap();
    let last = summary
        .iter()
        .filter_map(|call| call["created_at"].as_str())
        .max()
        .unwrap();
    let dialing =
        chrono::DateTime::parse_from_rfc3339(last)? - chrono::DateTime::parse_from_rfc3339(first)?;
    assert!(
        dialing >= chrono::TimeDelta::milliseconds(15_000),
        "dialed in {dialing}"
    );

    let status = batch_status(&app, &key, &batch_id).await?;
    assert_eq!(status["status"], "COMPLETED");
    assert_eq!(status["processed_calls"], 1000);
    assert_eq!(status["stats"], payload["stats"]);
    assert_eq!(status["callback"]["status"], "DELIVERED");
    assert_eq!(status["callback"]["attempts"], 1);
    tracing::info!(
        ?accepted_in,
        ?finished_in,
        ?by_status,
        "1,000-number batch done"
    );
    receiver.stop().await;
    app.stop().await
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_signed_body_again_until_it_acknowledges()
-> anyhow::Result<()> {
    let app = TestApp::spawn_with(
        Carrier::Sim,
        &[
            ("CALLBACK_RETRY_BASE_MS", "200"),
            ("CALLBACK_POLL_MS", "50"),
        ],
    )
    .await?;
    let (_, key) = app.integrator().await?;
    let receiver = CallbackReceiver::spawn(2).await?;
    let secret = app.set_callback(&key, &receiver.url).await?;
    let workflow_id = app.create_workflow(&key, &results_workflow()).await?;
    let params: Vec<Value> = (0..5)
        .map(|index| entry(&format!("+1555050000{index}"), index))
        .collect();
    let batch_id = post_batch(
        &app,
        &key,
        &json!({"workflow_id": workflow_id, "workflow_params": params}),
    )
    .await?;
    let received = receiver.delivered(Duration::from_secs(60)).await?;
    assert_eq!(
        received
            .iter()
            .map(|request| request.answered)
            .collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for (index, request) in received.iter().enumerate() {
        assert_eq!(
            request.body,
            received[0].body,
            "the body changed at try {}",
            index + 1
        );
        assert!(signature_is_valid(request, &secret), "try {}", index + 1);
        assert_eq!(request.headers["x-attend-attempt"], (index + 1).to_string());
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let payload: Value = serde_json::from_str(&received[0].body)?;
    assert_eq!(payload["stats"]["total_calls"], 5);
    // 0 never answers; 1, 2, 3 and 4 reply.
    assert_eq!(payload["stats"]["timeout_calls"], 1);
    assert_eq!(payload["stats"]["replied_calls"], 4);
    assert_eq!(payload["stats"]["replied_option_one_count"], 2);
    assert_eq!(payload["stats"]["success_rate"], 80.0);
    let status = batch_status(&app, &key, &batch_id).await?;
    assert_eq!(status["callback"]["status"], "DELIVERED");
    assert_eq!(status["callback"]["attempts"], 3);
    assert_eq!(status["callback"]["last_status_code"], 200);
    // Acknowledged: nothing more is sent.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 3);
    receiver.stop().await;
    app.stop().await
}

#[tokio::test]
async fn a_gateway_restarted_mid_batch_calls_every_number_exactly_once() -> anyhow::Result<()> {
    let mut app = TestApp::spawn_with(
        Carrier::Sim,
        &[
            ("CARRIER_CPS", "40"),
            ("CARRIER_MAX_CALLS", "20"),
            ("BATCH_MAX_CALLS_PER_TENANT", "20"),
            ("BATCH_RESERVED_LINES", "0"),
            ("DB_POOL_SIZE", "10"),
            ("CALLBACK_POLL_MS", "50"),
            // A call whose webhooks hit the gap between the two instances never gets its
            // hangup through; the watchdog settles it.
            ("CALL_WATCHDOG_SECS", "5"),
        ],
    )
    .await?;
    let (_, key) = app.integrator().await?;
    let receiver = CallbackReceiver::spawn(0).await?;
    app.set_callback(&key, &receiver.url).await?;
    let workflow_id = app.create_workflow(&key, &results_workflow()).await?;
    let numbers: Vec<String> = (0..200)
        .map(|index| format!("+1555060{index:04}"))
        .collect();
    let params: Vec<Value> = numbers
        .iter()
        .enumerate()
        .map(|(index, number)| entry(number, index))
        .collect();
    let batch_id = post_batch(
        &app,
        &key,
        &json!({"workflow_id": workflow_id, "workflow_params": params}),
    )
    .await?;

    wait_until(Duration::from_secs(30), "60 calls placed", || async {
        (app.sim_summary().await.ok()?.len() >= 60).then_some(())
    })
    .await?;
    app.stop_gateway().await?;
    let placed_before_restart = app.sim_summary().await?.len();
    assert!(
        placed_before_restart < 200,
        "the batch finished before the restart"
    );
    app.start_gateway().await?;

    let received = receiver.delivered(Duration::from_secs(60)).await?;
    let payload: Value = serde_json::from_str(&received[0].body)?;
    assert_eq!(payload["stats"]["total_calls"], 200);
    let summary = app.sim_summary().await?;
    let mut calls: HashMap<&str, usize> = HashMap::new();
    for call in &summary {
        *calls
            .entry(call["to"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    let twice: Vec<_> = calls.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "called twice: {twice:?}");
    let never: Vec<_> = numbers
        .iter()
        .filter(|number| !calls.contains_key(number.as_str()))
        .collect();
    assert!(never.is_empty(), "never called: {never:?}");
    // Every call has its one result in the callback.
    let reported: Vec<&str> = payload["request_calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|call| call["phone_number"].as_str())
        .collect();
    assert_eq!(
        reported,
        numbers.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let status = batch_status(&app, &key, &batch_id).await?;
    assert_eq!(status["processed_calls"], 200);
    tracing::info!(placed_before_restart, "restart mid-batch");
    receiver.stop().await;
    app.stop().await
}

#[tokio::test]
async fn reminders_and_other_tenants_are_not_starved_behind_a_big_batch() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(
        Carrier::Sim,
        &[
            ("CARRIER_CPS", "20"),
            ("CARRIER_MAX_CALLS", "10"),
            ("BATCH_MAX_CALLS_PER_TENANT", "20"),
            ("BATCH_RESERVED_LINES", "2"),
            ("DB_POOL_SIZE", "10"),
        ],
    )
    .await?;
    app.sim_limits(json!({"calls_per_second": 20, "max_concurrent_calls": 10}))
        .await?;
    let (_, big_key) = app.integrator().await?;
    let (_, small_key) = app.integrator().await?;
    let big_workflow = app.create_workflow(&big_key, &results_workflow()).await?;
    let small_workflow = app.create_workflow(&small_key, &results_workflow()).await?;
    // Callees that let it ring hold their lines, so the big batch fills every line it may.
    let big: Vec<String> = (0..150)
        .map(|index| format!("+1555070{index:04}"))
        .collect();
    for number in &big {
        app.script_callee(number, json!({"ring_ms": 1500, "digits": ["1"]}))
            .await?;
    }
    let params: Vec<Value> = big
        .iter()
        .enumerate()
        .map(|(index, number)| entry(number, index))
        .collect();
    post_batch(
        &app,
        &big_key,
        &json!({"workflow_id": big_workflow, "workflow_params": params}),
    )
    .await?;
    wait_until(
        Duration::from_secs(20),
        "the big batch to hold its lines",
        || async {
            let counters = app.sim_counters().await.ok()?;
            (counters["counters"]["lines_in_use"].as_u64()? >= 8).then_some(())
        },
    )
    .await?;

    // A reminder of a third tenant, and a second tenant's small batch, arrive now.
    let reminder_number = "+15550709991";
    let arrived = chrono::Utc::now();
    app.publish_reminder(&reminder_for(reminder_number), uuid::Uuid::now_v7())
        .await?;
    let small: Vec<String> = (0..5).map(|index| format!("+1555071000{index}")).collect();
    let params: Vec<Value> = small
        .iter()
        .enumerate()
        .map(|(index, number)| entry(number, index))
        .collect();
    post_batch(
        &app,
        &small_key,
        &json!({"workflow_id": small_workflow, "workflow_params": params}),
    )
    .await?;

    let reminder_call = app.finished_sim_calls_to(reminder_number).await?;
    let placed: chrono::DateTime<chrono::Utc> =
        reminder_call[0]["created_at"].as_str().unwrap().parse()?;
    assert!(
        placed - arrived < chrono::TimeDelta::seconds(3),
        "the reminder waited {} behind the batch",
        placed - arrived
    );
    for number in &small {
        app.finished_sim_calls_to(number).await?;
    }
    // The small batch did not wait for the big one to finish: it was interleaved, so big
    // calls still go out after its last one. The next big call needs a line that a ringing
    // big call frees, which may take a moment after the small calls ended; had the small
    // batch waited for the whole big one, none would ever come.
    wait_until(
        Duration::from_secs(10),
        "a call of the big batch after the small batch's last",
        || async {
            let summary = app.sim_summary().await.ok()?;
            let created_at = |call: &Value| call["created_at"].as_str().map(str::to_owned);
            let to_one_of = |numbers: &[String], call: &Value| {
                numbers.contains(&call["to"].as_str().unwrap_or_default().to_owned())
            };
            let last_small = summary
                .iter()
                .filter(|call| to_one_of(&small, call))
                .filter_map(created_at)
                .max()?;
            summary
                .iter()
                .filter(|call| to_one_of(&big, call))
                .filter_map(created_at)
                .any(|at| at > last_small)
                .then_some(())
        },
    )
    .await
    .map_err(|_| anyhow::anyhow!("the small batch waited for the whole big one"))?;
    let counters = app.sim_counters().await?["counters"].clone();
    assert_eq!(counters["rejected_rate"], 0, "{counters}");
    assert_eq!(counters["rejected_concurrency"], 0, "{counters}");
    app.stop().await
}
