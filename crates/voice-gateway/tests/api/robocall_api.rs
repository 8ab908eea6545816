//! The `/voicebot/v1` dialect: keys replicated from booking-service's events, workflows,
//! batch validation (nothing is dialled unless the whole request is valid), call status,
//! idempotent retries and the callback settings.

use attend_events::{to_timestamp, v1};
use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, new_api_key};

/// A workflow with two variables and three options.
pub fn results_workflow() -> Value {
    json!({
        "name": "results-ready",
        "variables": ["name", "lab"],
        "start": "intro",
        "nodes": {
            "intro": {"type": "say", "templates": [{"text": "Hello {name}, this is {lab}."}], "next": "menu"},
            "menu": {
                "type": "gather",
                "prompts": [{"text": "Press 1 to hear them now, 2 for a call back, or 3 to visit us."}],
                "digits": {"1": "one", "2": "two", "3": "three"},
                "retries": 1,
                "invalid": {"text": "That is not an option."},
                "no_input": "bye",
                "timeout_seconds": 5
            },
            "one": {"type": "hangup", "template": {"text": "Thank you."}, "option": "1"},
            "two": {"type": "hangup", "template": {"text": "We will call you back."}, "option": "2"},
            "three": {"type": "hangup", "template": {"text": "See you soon."}, "option": "3"},
            "bye": {"type": "hangup", "template": {"text": "Goodbye."}}
        }
    })
}

/// One entry of `workflow_params`.
pub fn entry(phone: &str, index: usize) -> Value {
    json!({
        "phone_number": phone,
        "user_tag_identifiers": {"customer_id": format!("CUST{index:04}")},
        "workflow_variables": {"name": format!("Patient {index}"), "lab": "City Lab & Co"}
    })
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|error| error["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn keys_work_once_announced_and_stop_when_revoked() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let key = new_api_key();
    let (status, body) = app.api(Method::GET, "/workflows", &key, None).await?;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "Error");
    assert_eq!(body["data"], Value::Null);

    let tenant_id = Uuid::now_v7();
    let key_id = app.issue_key(tenant_id, &key).await?;
    // The same announcement again (booking-service's backfill) changes nothing, and one
    // claiming the same hash under another key id is ignored without holding up the queue
    // (the revocation below is applied after it).
    app.announce_key(tenant_id, &key, key_id).await?;
    app.announce_key(Uuid::now_v7(), &key, Uuid::now_v7())
        .await?;

    let (status, _) = app
        .api(Method::GET, "/workflows", "attk_not_a_key", None)
        .await?;
    assert_eq!(status, 401);
    let missing = app
        .http
        .get(format!("{}/voicebot/v1/workflows", app.address))
        .send()
        .await?;
    assert_eq!(missing.status(), 401);

    let revoked = v1::TenantApiKeyRevoked {
        tenant_id: tenant_id.to_string(),
        key_id: key_id.to_string(),
        revoked_at: Some(to_timestamp(Utc::now())),
    };
    app.publish(&revoked, &tenant_id.to_string()).await?;
    attend_test_support::wait_until(crate::helpers::PATIENCE, "the revocation", || async {
        let (status, _) = app.api(Method::GET, "/workflows", &key, None).await.ok()?;
        (status == 401).then_some(())
    })
    .await?;
    app.stop().await
}

#[tokio::test]
async fn workflows_are_created_listed_fetched_and_deleted_per_tenant() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, key) = app.integrator().await?;
    let (_, other_key) = app.integrator().await?;

    let (status, created) = app
        .api(Method::POST, "/workflows", &key, Some(&results_workflow()))
        .await?;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["message"], "workflow created successfully");
    assert_eq!(created["status"], "Ok");
    let data = &created["data"];
    assert_eq!(data["name"], "results-ready");
    assert_eq!(data["version"], 1);
    assert_eq!(data["variables"], json!(["name", "lab"]));
    assert_eq!(data["options"], json!(["1", "2", "3"]));
    let id = data["workflow_id"].as_str().unwrap().to_owned();
    // The same name again is its next version, with its own id.
    let (_, again) = app
        .api(Method::POST, "/workflows", &key, Some(&results_workflow()))
        .await?;
    assert_eq!(again["data"]["version"], 2);

    let (status, listed) = app.api(Method::GET, "/workflows", &key, None).await?;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let (status, fetched) = app
        .api(Method::GET, &format!("/workflows/{id}"), &key, None)
        .await?;
    assert_eq!(status, 200);
    assert_eq!(fetched["data"]["nodes"], results_workflow()["nodes"]);
    // Another tenant sees none of it.
    let (status, _) = app
        .api(Method::GET, &format!("/workflows/{id}"), &other_key, None)
        .await?;
    assert_eq!(status, 404);
    let (_, listed) = app.api(Method::GET, "/workflows", &other_key, None).await?;
    assert_eq!(listed["data"], json!([]));

    let (status, deleted) = app
        .api(Method::DELETE, &format!("/workflows/{id}"), &key, None)
        .await?;
    assert_eq!(status, 200);
    assert_eq!(deleted["message"], "workflow deleted successfully");
    let (status, _) = app
        .api(Method::GET, &format!("/workflows/{id}"), &key, None)
        .await?;
    assert_eq!(status, 404);
    let (status, _) = app
        .api(Method::DELETE, &format!("/workflows/{id}"), &key, None)
        .await?;
    assert_eq!(status, 404);
    app.stop().await
}

#[tokio::test]
async fn an_invalid_workflow_names_every_path() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, key) = app.integrator().await?;
    let mut workflow = results_workflow();
    workflow["nodes"]["intro"]["templates"] = json!([{"text": "Hi {nickname}"}, "greeting"]);
    workflow["nodes"]["menu"]["digits"]["4"] = json!("nowhere");
    workflow["nodes"]["one"]["option"] = json!("10");
    workflow["nodes"]["two"]["outcome"] = json!("confirmed");
    workflow["variables"] = json!(["name", "lab", "Lab"]);
    let (status, body) = app
        .api(Method::POST, "/workflows", &key, Some(&workflow))
        .await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "Error");
    assert_eq!(
        fields(&body),
        [
            "variables[2]",
            "nodes.intro.templates[0]",
            "nodes.intro.templates[1]",
            "nodes.menu.digits.4",
            "nodes.one.option",
            "nodes.two.outcome",
        ]
    );
    let (status, body) = app
        .api(
            Method::POST,
            "/workflows",
            &key,
            Some(&json!({"start": "a", "nodes": {}})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["name"]);
    let (status, body) = app
        .api(
            Method::POST,
            "/workflows",
            &key,
            Some(&json!({"name": "x", "start": "a", "nodes": {"a": {"type": "dial"}}})),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    app.stop().await
}

#[tokio::test]
async fn a_batch_with_any_bad_entry_is_refused_whole_and_nothing_is_dialled() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let (_, key) = app.integrator().await?;
    let workflow_id = app.create_workflow(&key, &results_workflow()).await?;

    let mut missing_variable = entry("+15550300001", 1);
    missing_variable["workflow_variables"]
        .as_object_mut()
        .unwrap()
        .remove("lab");
    let request = json!({
        "workflow_id": workflow_id,
        "workflow_params": [
            entry("+15550300000", 0),
            missing_variable,
            entry("not a number", 2),
            entry("+15550300000", 3),
        ]
    });
    let (status, body) = app.api(Method::POST, "/call", &key, Some(&request)).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        fields(&body),
        [
            "workflow_params[2].phone_number",
            "workflow_params[3].phone_number"
        ]
    );
    let fixed = json!({
        "workflow_id": workflow_id,
        "workflow_params": [entry("+15550300000", 0), request["workflow_params"][1].clone()]
    });
    let (status, body) = app.api(Method::POST, "/call", &key, Some(&fixed)).await?;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["workflow_params[1].workflow_variables.lab"]);
    assert_eq!(
        body["message"],
        "workflow_params[1].workflow_variables.lab: is required by the workflow"
    );

    // An unknown workflow, another tenant's, and a deleted one are all unknown.
    let (_, other_key) = app.integrator().await?;
    let others = app.create_workflow(&other_key, &results_workflow()).await?;
    for unknown in [Uuid::now_v7().to_string(), others, "not-a-uuid".to_owned()] {
        let request =
            json!({"workflow_id": unknown, "workflow_params": [entry("+15550300000", 0)]});
        let (status, body) = app.api(Method::POST, "/call", &key, Some(&request)).await?;
        assert_eq!(status, 400);
        assert_eq!(fields(&body), ["workflow_id"]);
        assert_eq!(body["message"], "workflow_id: unknown workflow");
    }
    let request =
        json!({"workflow_id": workflow_id, "workflow_params": [], "tts_voice_gender": "robot"});
    let (_, body) = app.api(Method::POST, "/call", &key, Some(&request)).await?;
    assert_eq!(fields(&body), ["tts_voice_gender", "workflow_params"]);

    assert!(app.sim_summary().await?.is_empty(), "something was dialled");
    let mut connection = app.db().await?;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let batches: i64 = voice_gateway::db::schema::call_batches::table
        .count()
        .get_result(&mut connection)
        .await?;
    assert_eq!(batches, 0);
    app.stop().await
}

#[tokio::test]
async fn the_seed_request_is_accepted_as_the_seed_answers_and_its_call_speaks_the_accent()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, key) = app.integrator().await?;
    let workflow_id = app
        .create_workflow(
            &key,
            &json!({
                "name": "seed",
                "variables": ["name"],
                "start": "menu",
                "nodes": {
                    "menu": {"type": "gather", "prompts": [{"text": "Hello {name}, press 1."}],
                             "digits": {"1": "yes"}, "retries": 1,
                             "invalid": {"text": "No."}, "no_input": "bye"},
                    "yes": {"type": "hangup", "option": "1"},
                    "bye": {"type": "hangup"}
                }
            }),
        )
        .await?;
    // The seed's own example, byte for byte but for the workflow id; sent like its fetch()
    // example, without a Content-Type.
    let body = format!(
        r#"{{
"tts_voice_accent": "igbo",
"tts_voice_gender": "female",
"workflow_id": "{workflow_id}",
"workflow_params": [
{{
"phone_number": "+2348076960621",
"user_tag_identifiers": {{"customer_id": "CUST001"}},
"workflow_variables": {{
"name": "James"
}}
}}
]
}}"#
    );
    let response = app
        .http
        .post(format!("{}/voicebot/v1/call", app.address))
        .header("Authorization", format!("Bearer {key}"))
        .body(body)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await?;
    let batch_id = answer["data"]["batch_id"].as_str().unwrap().to_owned();
    assert_eq!(
        answer,
        json!({"data": {"batch_id": batch_id}, "message": "batch request created successfully", "status": "Ok"})
    );

    let calls = app.finished_sim_calls_to("+2348076960621").await?;
    assert_eq!(calls.len(), 1);
    let spoken = &calls[0]["spoken"][0];
    assert_eq!(spoken["text"], "Hello James, press 1.");
    assert_eq!(spoken["voice"], "WOMAN");
    assert_eq!(spoken["language"], "en-GB");

    let call_id = calls[0]["answer_url"]
        .as_str()
        .and_then(|url| url.split("attempt=").nth(1))
        .unwrap()
        .to_owned();
    let processed = attend_test_support::wait_until(
        crate::helpers::PATIENCE,
        "the call to be processed",
        || async {
            let (_, body) = app
                .api(Method::GET, &format!("/call/{call_id}"), &key, None)
                .await
                .ok()?;
            (body["data"]["processing_status"] == "VOICE_CALL_PROCESSED").then_some(body)
        },
    )
    .await?;
    assert_eq!(
        processed,
        json!({"data": {"call_id": call_id, "processing_status": "VOICE_CALL_PROCESSED"},
               "message": "call status found", "status": "Ok"})
    );
    let (status, batch) = app
        .api(Method::GET, &format!("/batches/{batch_id}"), &key, None)
        .await?;
    assert_eq!(status, 200);
    assert_eq!(batch["data"]["status"], "COMPLETED");
    assert_eq!(batch["data"]["progress"], 100.0);
    assert_eq!(batch["data"]["stats"]["replied_option_one_count"], 1);
    // No callback URL was configured: nothing is sent, and the batch says so.
    let callback = attend_test_support::wait_until(
        crate::helpers::PATIENCE,
        "the callback decision",
        || async {
            let (_, batch) = app
                .api(Method::GET, &format!("/batches/{batch_id}"), &key, None)
                .await
                .ok()?;
            let status = batch["data"]["callback"]["status"].clone();
            (status != "PENDING").then_some(status)
        },
    )
    .await?;
    assert_eq!(callback, "NOT_CONFIGURED");
    let (_, other_key) = app.integrator().await?;
    let (status, _) = app
        .api(Method::GET, &format!("/call/{call_id}"), &other_key, None)
        .await?;
    assert_eq!(status, 404);
    app.stop().await
}

#[tokio::test]
async fn a_retried_request_with_its_idempotency_key_creates_one_batch() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, key) = app.integrator().await?;
    let workflow_id = app.create_workflow(&key, &results_workflow()).await?;
    let request =
        json!({"workflow_id": workflow_id, "workflow_params": [entry("+15550300011", 1)]});
    let send = |body: Value| {
        app.http
            .post(format!("{}/voicebot/v1/call", app.address))
            .bearer_auth(&key)
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let first: Value = send(request.clone()).await?.json().await?;
    let second: Value = send(request.clone()).await?.json().await?;
    assert_eq!(first, second);
    let mut changed = request.clone();
    changed["workflow_params"][0]["phone_number"] = json!("+15550300012");
    assert_eq!(send(changed).await?.status(), 409);
    app.finished_sim_calls_to("+15550300011").await?;
    assert_eq!(app.sim_summary().await?.len(), 1);
    app.stop().await
}

#[tokio::test]
async fn the_callback_secret_is_shown_once_and_rotates() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (_, key) = app.integrator().await?;
    let (status, _) = app.api(Method::GET, "/settings", &key, None).await?;
    assert_eq!(status, 404);
    let secret = app
        .set_callback(&key, "https://crm.example.com/hooks")
        .await?;
    assert!(secret.starts_with("whsec_"));
    let (status, again) = app
        .api(
            Method::PUT,
            "/settings",
            &key,
            Some(&json!({"callback_url": "https://crm.example.com/v2/hooks"})),
        )
        .await?;
    assert_eq!(status, 200);
    assert!(again["data"].get("callback_secret").is_none(), "{again}");
    assert_eq!(
        again["data"]["callback_url"],
        "https://crm.example.com/v2/hooks"
    );
    let (_, rotated) = app
        .api(
            Method::PUT,
            "/settings",
            &key,
            Some(&json!({"callback_url": "https://crm.example.com/v2/hooks", "rotate_callback_secret": true})),
        )
        .await?;
    let new_secret = rotated["data"]["callback_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (_, shown) = app.api(Method::GET, "/settings", &key, None).await?;
    assert!(!shown.to_string().contains("whsec_"), "{shown}");
    let (status, refused) = app
        .api(
            Method::PUT,
            "/settings",
            &key,
            Some(&json!({"callback_url": "ftp://x", "colour": "blue"})),
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(fields(&refused), ["colour", "callback_url"]);
    app.stop().await
}

/// Returns the JSON body of the guide's first `curl` to `path` (`-d '{…}'`).
fn guide_body(guide: &str, path: &str) -> anyhow::Result<Value> {
    let at = guide
        .find(&format!("$GW/voicebot/v1{path}\""))
        .ok_or_else(|| anyhow::anyhow!("no curl to {path} in the guide"))?;
    let rest = &guide[at..];
    let start = rest
        .find("-d '")
        .ok_or_else(|| anyhow::anyhow!("no body"))?
        + 4;
    let end = rest[start..]
        .find("}'")
        .ok_or_else(|| anyhow::anyhow!("no end"))?
        + 1;
    Ok(serde_json::from_str(&rest[start..start + end])?)
}

#[tokio::test]
async fn the_guides_curl_examples_work_as_written() -> anyhow::Result<()> {
    let guide = include_str!("../../../../docs/robocall-batches.md");
    let app = TestApp::spawn().await?;
    let (_, key) = app.integrator().await?;
    let settings = guide_body(guide, "/settings")?;
    let (status, body) = app
        .api(Method::PUT, "/settings", &key, Some(&settings))
        .await?;
    assert_eq!(status, 200, "{body}");
    let workflow = guide_body(guide, "/workflows")?;
    let (status, created) = app
        .api(Method::POST, "/workflows", &key, Some(&workflow))
        .await?;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["data"]["options"], json!(["1", "2", "3"]));
    let mut batch = guide_body(guide, "/call")?;
    batch["workflow_id"] = created["data"]["workflow_id"].clone();
    let (status, body) = app.api(Method::POST, "/call", &key, Some(&batch)).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "batch request created successfully");
    app.finished_sim_calls_to("+2348076960623").await?;
    app.stop().await
}
