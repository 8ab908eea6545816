//! The operator API: read-only views of reminder jobs. It shows ids, statuses and times, never
//! a recipient's name or number.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, ResponseError, web};
use anyhow::Context;
use attend_runtime::Problem;
use attend_runtime::db::DbPool;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::jobs::{self, Job};
use crate::policy;

/// Registers the scheduler's routes; `pool` works in the scheduler's schema.
pub fn configure(config: &mut web::ServiceConfig, pool: DbPool) {
    config
        .app_data(web::Data::new(pool))
        .route("/v1/jobs/{reminder_id}", web::get().to(get_job))
        .route("/v1/stats", web::get().to(get_stats))
        .route(
            "/v1/tenants/{tenant_id}/policy",
            web::get().to(get_tenant_policy),
        );
}

/// How an operator request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No job has this reminder id.
    #[error("reminder job not found")]
    JobNotFound,
    /// Anything unexpected; the cause goes to the logs, not to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn problem(&self) -> Problem {
        match self {
            Self::JobNotFound => Problem::not_found("reminder job"),
            Self::Internal(_) => Problem::internal(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(error) = self {
            tracing::error!(error.message = %error, error.cause_chain = ?error, "request failed");
        }
        self.problem().error_response()
    }
}

/// A reminder job as the operator API shows it.
#[derive(Debug, Serialize)]
pub struct JobResponse {
    /// The reminder's id.
    pub reminder_id: Uuid,
    /// Its appointment.
    pub appointment_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// `voice` or `sms` (the current attempt's).
    pub channel: &'static str,
    /// `reminder`, `follow_up` or `no_show`.
    pub kind: &'static str,
    /// The channel the job started on, once it fell back to `channel`.
    pub fell_back_from: Option<&'static str>,
    /// `pending`, `dispatched`, `completed`, `cancelled` or `expired`.
    pub status: &'static str,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it fires (fired).
    pub due_at: DateTime<Utc>,
    /// When its appointment starts.
    pub appointment_start: DateTime<Utc>,
    /// `superseded`, `appointment_cancelled` or `no_show`, for a cancelled job.
    pub cancel_reason: Option<&'static str>,
    /// How it ended, for a completed job.
    pub outcome: Option<&'static str>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When `reminder.due` was written.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When the outcome occurred.
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobResponse {
    fn from(job: Job) -> Self {
        Self {
            reminder_id: job.reminder_id,
            appointment_id: job.appointment_id,
            tenant_id: job.tenant_id,
            channel: job.channel.as_str(),
            kind: job.kind.as_str(),
            fell_back_from: job.fell_back_from.map(|channel| channel.as_str()),
            status: job.status.as_str(),
            attempt: job.attempt,
            due_at: job.due_at,
            appointment_start: job.appointment_start,
            cancel_reason: job.cancel_reason.map(|reason| reason.as_str()),
            outcome: job.outcome.map(|outcome| outcome.as_str()),
            created_at: job.created_at,
            updated_at: job.updated_at,
            dispatched_at: job.dispatched_at,
            completed_at: job.completed_at,
        }
    }
}

/// `GET /v1/jobs/{reminder_id}`: one job; a malformed or unknown id is a 404 problem.
async fn get_job(
    pool: web::Data<DbPool>,
    reminder_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = pool.get().await.context("no database connection")?;
    let job = jobs::find(&mut connection, reminder_id.into_inner())
        .await
        .context("failed to read a reminder job")?
        .ok_or(ApiError::JobNotFound)?;
    Ok(HttpResponse::Ok().json(JobResponse::from(job)))
}

/// Job counts as the operator API shows them.
#[derive(Debug, Serialize)]
pub struct StatsResponse {
    /// Jobs in each status, every status listed.
    pub jobs_by_status: BTreeMap<&'static str, i64>,
    /// All jobs.
    pub jobs_total: i64,
}

/// `GET /v1/stats`: job counts by status.
async fn get_stats(pool: web::Data<DbPool>) -> Result<HttpResponse, ApiError> {
    let mut connection = pool.get().await.context("no database connection")?;
    let counts = jobs::count_by_status(&mut connection)
        .await
        .context("failed to count reminder jobs")?;
    let jobs_total = counts.iter().map(|(_, count)| count).sum();
    let jobs_by_status = counts
        .into_iter()
        .map(|(status, count)| (status.as_str(), count))
        .collect();
    Ok(HttpResponse::Ok().json(StatsResponse {
        jobs_by_status,
        jobs_total,
    }))
}

/// A tenant's reminder policy as the operator API shows it.
#[derive(Debug, Serialize)]
pub struct PolicyResponse {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The `tenant.settings_changed` version applied; 0 while the defaults apply.
    pub version: i64,
    /// The calling window's first minute after local midnight.
    pub window_start_minute: u32,
    /// The calling window's end (exclusive), minutes after local midnight.
    pub window_end_minute: u32,
    /// Voice attempts after the first.
    pub voice_max_retries: u32,
    /// Seconds from an attempt's outcome to the next attempt.
    pub voice_retry_interval_seconds: u64,
    /// Outcomes that earn another voice attempt.
    pub voice_retry_on: Vec<&'static str>,
}

/// `GET /v1/tenants/{tenant_id}/policy`: the policy the scheduler applies to the tenant (the
/// defaults, version 0, until its first `tenant.settings_changed`); a malformed id is 404.
async fn get_tenant_policy(
    pool: web::Data<DbPool>,
    tenant_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant_id.into_inner();
    let mut connection = pool.get().await.context("no database connection")?;
    let version = policy::stored_version(&mut connection, tenant_id)
        .await
        .context("failed to read a tenant policy version")?
        .unwrap_or(0);
    let tenant_policy = policy::policy_of(&mut connection, tenant_id)
        .await
        .context("failed to read a tenant policy")?;
    Ok(HttpResponse::Ok().json(PolicyResponse {
        tenant_id,
        version,
        window_start_minute: tenant_policy.window.start_minute(),
        window_end_minute: tenant_policy.window.end_minute(),
        voice_max_retries: tenant_policy.voice_retry.max_retries,
        voice_retry_interval_seconds: tenant_policy.voice_retry.interval.as_secs(),
        voice_retry_on: tenant_policy
            .voice_retry
            .retry_on
            .iter()
            .map(|outcome| outcome.as_str())
            .collect(),
    }))
}
