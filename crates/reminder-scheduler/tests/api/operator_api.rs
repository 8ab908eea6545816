//! The operator API and the runtime's health routes.

use attend_events::v1;
use reminder_scheduler::jobs::JobStatus;
use uuid::Uuid;

use crate::helpers::{Appointment, TestApp, in_seconds, plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_readable_by_id_and_malformed_or_unknown_ids_are_404_problems()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let reminder_id = Uuid::now_v7();
    let due_at = in_seconds(1800);
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Sms, due_at)]),
    )
    .await?;
    app.wait_for_status(reminder_id, JobStatus::Pending).await?;

    let response = app
        .api
        .get(format!("{}/v1/jobs/{reminder_id}", app.address()))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let body = response.text().await?;
    assert!(
        !body.contains("5550100001"),
        "the operator API leaks the phone number: {body}"
    );
    let job: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(job["reminder_id"], reminder_id.to_string());
    assert_eq!(
        job["appointment_id"],
        appointment.appointment_id.to_string()
    );
    assert_eq!(job["tenant_id"], appointment.tenant_id.to_string());
    assert_eq!(job["channel"], "sms");
    assert_eq!(job["status"], "pending");
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["outcome"], serde_json::Value::Null);
    let stored_due: chrono::DateTime<chrono::Utc> = serde_json::from_value(job["due_at"].clone())?;
    assert_eq!(stored_due, due_at);

    for path in [
        format!("/v1/jobs/{}", Uuid::now_v7()),
        "/v1/jobs/not-a-uuid".to_owned(),
    ] {
        let response = app
            .api
            .get(format!("{}{path}", app.address()))
            .send()
            .await?;
        assert_eq!(response.status(), 404, "{path}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{path}"
        );
        let problem: serde_json::Value = response.json().await?;
        assert_eq!(problem["status"], 404, "{path}");
        assert_eq!(problem["code"], "not_found", "{path}");
    }

    let stats: serde_json::Value = app
        .api
        .get(format!("{}/v1/stats", app.address()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(stats["jobs_by_status"]["pending"], 1, "{stats}");
    assert_eq!(stats["jobs_by_status"]["dispatched"], 0, "{stats}");
    assert_eq!(stats["jobs_total"], 1, "{stats}");

    for path in ["/healthz", "/readyz"] {
        let response = app
            .api
            .get(format!("{}{path}", app.address()))
            .send()
            .await?;
        assert_eq!(response.status(), 200, "{path}");
    }
    let metrics = app.metrics().await?;
    assert!(metrics.contains("attend_http_requests_total"), "{metrics}");
    app.stop().await
}
