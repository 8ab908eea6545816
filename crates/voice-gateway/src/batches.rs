//! Robo-call batches (docs/robocall-batches.md): a batch is a row in `call_batches` and one
//! call attempt per number (with its `batch_calls` row), all written in the transaction that
//! accepts the request. Each call ends in exactly one result; the transaction that settles the
//! last one completes the batch and fixes the callback's body, so the stats are computed once,
//! from every result, and every retry sends the same bytes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde::ser::SerializeMap;
use uuid::Uuid;

use crate::attempts::{AttemptStatus, NewCallAttempt};
use crate::db::schema::{batch_calls, call_attempts, call_batches};

/// Most numbers one request may hold.
pub const MAX_CALLS_PER_BATCH: usize = 10_000;
/// Rows per INSERT statement (each attempt row binds 17 parameters; Postgres allows 65,535).
const INSERT_CHUNK: usize = 1_000;

/// How one call of a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallResult {
    /// Answered, and the callee chose an option.
    Completed,
    /// Answered, but no option was chosen (nothing pressed in time, only invalid keys, hung
    /// up first, or an answering machine).
    NoReply,
    /// Never answered: it rang out.
    Timeout,
    /// The line was busy.
    Busy,
    /// No call could be made or its result is unknown (carrier refusal, unreachable number,
    /// number opted out, no hangup report).
    Failed,
}

impl CallResult {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::NoReply => "no_reply",
            Self::Timeout => "timeout",
            Self::Busy => "busy",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "completed" => Self::Completed,
            "no_reply" => Self::NoReply,
            "timeout" => Self::Timeout,
            "busy" => Self::Busy,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Returns the callback's `status` of a call (`COMPLETED`, `NO_REPLY`, …).
    pub fn wire(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::NoReply => "NO_REPLY",
            Self::Timeout => "TIMEOUT",
            Self::Busy => "BUSY",
            Self::Failed => "FAILED",
        }
    }

    /// Returns whether a person (or a machine) picked up.
    pub fn answered(self) -> bool {
        matches!(self, Self::Completed | Self::NoReply)
    }
}

/// Returns how a batch call ended from its hangup report: an option chosen is `completed`
/// whatever the carrier says; otherwise the carrier's final `CallStatus` decides.
pub fn result_of_hangup(
    call_status: Option<&str>,
    hangup_cause: Option<&str>,
    option_selected: Option<&str>,
) -> (CallResult, String) {
    let status = call_status.unwrap_or_default().trim().to_ascii_lowercase();
    let cause = hangup_cause
        .map(str::trim)
        .filter(|cause| !cause.is_empty())
        .unwrap_or("unknown");
    let result = match (option_selected, status.as_str()) {
        (Some(_), _) => CallResult::Completed,
        (None, "completed") => CallResult::NoReply,
        (None, "no-answer" | "timeout") => CallResult::Timeout,
        (None, "busy") => CallResult::Busy,
        (None, _) => CallResult::Failed,
    };
    let status = if status.is_empty() {
        "missing"
    } else {
        &status
    };
    (
        result,
        format!("call status {status}, hangup cause {cause}"),
    )
}

/// A batch to create.
#[derive(Debug, Clone)]
pub struct NewBatch {
    /// The batch id.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
    /// The robocall workflow every call runs.
    pub workflow_id: Uuid,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request body.
    pub request_sha256: Vec<u8>,
    /// The accent asked for (defaulted).
    pub accent: String,
    /// The gender asked for (defaulted).
    pub gender: String,
    /// The carrier voice they map to.
    pub speak_voice: String,
    /// The carrier language they map to.
    pub speak_language: String,
    /// The workflow's options.
    pub options: Vec<String>,
}

/// One number of a batch, validated.
#[derive(Debug, Clone)]
pub struct BatchEntry {
    /// E.164.
    pub phone_number: String,
    /// Echoed in the callback as `user_tag_identifiers`.
    pub user_tags: serde_json::Value,
    /// The workflow's variables for this call.
    pub variables: BTreeMap<String, String>,
}

#[derive(Insertable)]
#[diesel(table_name = batch_calls)]
struct NewBatchCall<'a> {
    id: Uuid,
    batch_id: Uuid,
    tenant_id: Uuid,
    position: i32,
    phone_number: &'a str,
    user_tags: &'a serde_json::Value,
    variables: serde_json::Value,
}

/// Writes `batch` and one queued call per entry, in order; run it inside the transaction that
/// answers the request. Returns the call ids, in order.
pub async fn create(
    connection: &mut AsyncPgConnection,
    batch: &NewBatch,
    entries: &[BatchEntry],
) -> QueryResult<Vec<Uuid>> {
    let total = i32::try_from(entries.len()).unwrap_or(i32::MAX);
    diesel::insert_into(call_batches::table)
        .values((
            call_batches::id.eq(batch.id),
            call_batches::tenant_id.eq(batch.tenant_id),
            call_batches::workflow_id.eq(batch.workflow_id),
            call_batches::idempotency_key.eq(batch.idempotency_key.as_deref()),
            call_batches::request_sha256.eq(&batch.request_sha256),
            call_batches::tts_voice_accent.eq(&batch.accent),
            call_batches::tts_voice_gender.eq(&batch.gender),
            call_batches::speak_voice.eq(&batch.speak_voice),
            call_batches::speak_language.eq(&batch.speak_language),
            call_batches::options.eq(&batch.options),
            call_batches::total_calls.eq(total),
            call_batches::pending_calls.eq(total),
        ))
        .execute(connection)
        .await?;
    let now = Utc::now();
    let ids: Vec<Uuid> = entries.iter().map(|_| Uuid::now_v7()).collect();
    for (chunk_index, chunk) in entries.chunks(INSERT_CHUNK).enumerate() {
        let offset = chunk_index * INSERT_CHUNK;
        let attempts: Vec<NewCallAttempt> = chunk
            .iter()
            .enumerate()
            .map(|(index, entry)| NewCallAttempt {
                id: ids[offset + index],
                reminder_id: None,
                appointment_id: None,
                tenant_id: batch.tenant_id,
                to_number: entry.phone_number.clone(),
                recipient_name: String::new(),
                locale: batch.speak_language.clone(),
                time_zone: "UTC".to_owned(),
                business_name: String::new(),
                appointment_start: None,
                location: String::new(),
                attempt: 1,
                spoken_when: String::new(),
                workflow_id: Some(batch.workflow_id),
                status: AttemptStatus::Queued.as_str().to_owned(),
                next_attempt_at: now,
                traceparent: attend_runtime::telemetry::current_traceparent(),
            })
            .collect();
        diesel::insert_into(call_attempts::table)
            .values(&attempts)
            .execute(connection)
            .await?;
        let calls: Vec<NewBatchCall> = chunk
            .iter()
            .enumerate()
            .map(|(index, entry)| NewBatchCall {
                id: ids[offset + index],
                batch_id: batch.id,
                tenant_id: batch.tenant_id,
                position: i32::try_from(offset + index).unwrap_or(i32::MAX),
                phone_number: &entry.phone_number,
                user_tags: &entry.user_tags,
                variables: serde_json::to_value(&entry.variables).unwrap_or_default(),
            })
            .collect();
        diesel::insert_into(batch_calls::table)
            .values(&calls)
            .execute(connection)
            .await?;
    }
    Ok(ids)
}

/// Returns the batch `tenant_id` created with `key`, and the SHA-256 of that request.
pub async fn find_by_idempotency_key(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    key: &str,
) -> QueryResult<Option<(Uuid, Vec<u8>)>> {
    call_batches::table
        .filter(call_batches::tenant_id.eq(tenant_id))
        .filter(call_batches::idempotency_key.eq(key))
        .select((call_batches::id, call_batches::request_sha256))
        .first(connection)
        .await
        .optional()
}

/// What the webhooks need of a batch call.
#[derive(Debug, Clone)]
pub struct BatchCall {
    /// The call id (= attempt id).
    pub id: Uuid,
    /// Its batch.
    pub batch_id: Uuid,
    /// The workflow's variables for this call.
    pub variables: HashMap<String, String>,
    /// The option chosen, once the workflow ended at one.
    pub option_selected: Option<String>,
    /// Its result, once settled.
    pub result: Option<CallResult>,
    /// The `<Speak voice>` of the batch.
    pub speak_voice: String,
    /// The `<Speak language>` of the batch.
    pub speak_language: String,
}

/// Returns the batch call `id`.
pub async fn load_call(
    connection: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<BatchCall>> {
    type Row = (
        Uuid,
        Uuid,
        serde_json::Value,
        Option<String>,
        Option<String>,
        String,
        String,
    );
    let row: Option<Row> = batch_calls::table
        .inner_join(call_batches::table)
        .filter(batch_calls::id.eq(id))
        .select((
            batch_calls::id,
            batch_calls::batch_id,
            batch_calls::variables,
            batch_calls::option_selected,
            batch_calls::result,
            call_batches::speak_voice,
            call_batches::speak_language,
        ))
        .first(connection)
        .await
        .optional()?;
    Ok(row.map(
        |(id, batch_id, variables, option_selected, result, speak_voice, speak_language)| {
            BatchCall {
                id,
                batch_id,
                variables: serde_json::from_value(variables).unwrap_or_default(),
                option_selected,
                result: result.as_deref().and_then(CallResult::parse),
                speak_voice,
                speak_language,
            }
        },
    ))
}

/// Records that batch call `id` chose `option` (the first choice stays).
pub async fn record_option(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    option: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(
        batch_calls::table
            .find(id)
            .filter(batch_calls::option_selected.is_null())
            .filter(batch_calls::result.is_null()),
    )
    .set(batch_calls::option_selected.eq(option))
    .execute(connection)
    .await?;
    Ok(updated == 1)
}

/// Writes the result of batch call `id` unless it has one, counts its batch down, and
/// completes the batch when this was its last call (in the caller's transaction). A call
/// that chose an option is `completed` whatever `result` says: it reached its answer.
/// Returns whether this settled the call.
#[tracing::instrument(skip_all, fields(call_id = %id, result = result.as_str()))]
pub async fn settle_call(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    result: CallResult,
    detail: &str,
    duration_seconds: Option<i32>,
) -> QueryResult<bool> {
    let option: Option<Option<String>> = batch_calls::table
        .find(id)
        .select(batch_calls::option_selected)
        .first(connection)
        .await
        .optional()?;
    let Some(option) = option else {
        tracing::error!("no batch call with this id");
        return Ok(false);
    };
    let result = if option.is_some() {
        CallResult::Completed
    } else {
        result
    };
    let settled: Option<Uuid> = diesel::update(
        batch_calls::table
            .find(id)
            .filter(batch_calls::result.is_null()),
    )
    .set((
        batch_calls::result.eq(result.as_str()),
        batch_calls::result_detail.eq(detail),
        batch_calls::duration_seconds.eq(duration_seconds.unwrap_or(0).max(0)),
        batch_calls::settled_at.eq(diesel::dsl::now),
    ))
    .returning(batch_calls::batch_id)
    .get_result(connection)
    .await
    .optional()?;
    let Some(batch_id) = settled else {
        return Ok(false);
    };
    // The batch row is locked until commit: settlements of one batch count down one at a
    // time, and the one that reaches 0 sees every other result committed.
    let pending: i32 = diesel::update(call_batches::table.find(batch_id))
        .set(call_batches::pending_calls.eq(call_batches::pending_calls - 1))
        .returning(call_batches::pending_calls)
        .get_result(connection)
        .await?;
    tracing::info!(%batch_id, pending, "batch call settled");
    if pending == 0 {
        complete(connection, batch_id).await?;
    }
    Ok(true)
}

/// One call as the callback reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestCall {
    /// The call id.
    pub id: Uuid,
    /// `COMPLETED`, `NO_REPLY`, `TIMEOUT`, `BUSY` or `FAILED`.
    pub status: &'static str,
    /// The number called.
    pub phone_number: String,
    /// The entry's `user_tag_identifiers`, as sent.
    pub user_tag_identifiers: serde_json::Value,
    /// Seconds the call lasted once answered (0 when it was not).
    pub call_result_duration: i64,
    /// The option chosen, or `null`.
    pub call_result_options_selected: Option<String>,
    /// When the call was requested, UTC, `2024-06-21T10:00:00.000000`.
    pub created_at: String,
}

/// What the stats count, from any set of settled calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls in the batch.
    pub total: i64,
    /// Settled calls by result.
    pub by_result: BTreeMap<CallResult, i64>,
    /// Calls that chose each option.
    pub by_option: BTreeMap<String, i64>,
    /// Seconds of every answered call.
    pub answered_seconds: i64,
}

impl Tally {
    fn add(&mut self, result: CallResult, option: Option<&str>, duration_seconds: i64) {
        *self.by_result.entry(result).or_default() += 1;
        if result == CallResult::Completed
            && let Some(option) = option
        {
            *self.by_option.entry(option.to_owned()).or_default() += 1;
        }
        if result.answered() {
            self.answered_seconds += duration_seconds.max(0);
        }
    }

    fn count(&self, result: CallResult) -> i64 {
        self.by_result.get(&result).copied().unwrap_or(0)
    }
}

/// The callback's `stats`, in the seed's field order.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Every call of the batch.
    pub total_calls: i64,
    /// Calls that were answered (`COMPLETED` + `NO_REPLY`).
    pub completed_calls: i64,
    /// Calls that rang out unanswered (`TIMEOUT`).
    pub timeout_calls: i64,
    /// Calls that chose an option (`COMPLETED`).
    pub replied_calls: i64,
    /// `(option, count)` for options "1" and "2" always and every further option of the
    /// workflow, in order.
    pub option_counts: Vec<(String, i64)>,
    /// Mean seconds of the answered calls, two decimals (0.0 when none was answered).
    pub avg_duration: f64,
    /// `replied_calls` per `total_calls`, in percent, two decimals.
    pub success_rate: f64,
}

impl Stats {
    /// Returns the stats of `tally` for a workflow offering `options`.
    pub fn new(tally: &Tally, options: &[String]) -> Self {
        let completed_calls = tally.count(CallResult::Completed) + tally.count(CallResult::NoReply);
        let replied_calls = tally.count(CallResult::Completed);
        let mut listed: Vec<String> = vec!["1".to_owned(), "2".to_owned()];
        for option in options {
            if !listed.contains(option) {
                listed.push(option.clone());
            }
        }
        listed.sort();
        let option_counts = listed
            .into_iter()
            .map(|option| {
                let count = tally.by_option.get(&option).copied().unwrap_or(0);
                (option, count)
            })
            .collect();
        Self {
            total_calls: tally.total,
            completed_calls,
            timeout_calls: tally.count(CallResult::Timeout),
            replied_calls,
            option_counts,
            avg_duration: ratio(tally.answered_seconds, completed_calls, 1.0),
            success_rate: ratio(replied_calls, tally.total, 100.0),
        }
    }
}

/// Returns `numerator / denominator × scale` rounded to two decimals, 0.0 for no denominator.
fn ratio(numerator: i64, denominator: i64, scale: f64) -> f64 {
    if denominator <= 0 {
        return 0.0;
    }
    // Exact to the cent: integer arithmetic, rounded half up, then one division.
    let scaled = i128::from(numerator) * (scale * 100.0) as i128;
    let denominator = i128::from(denominator);
    let hundredths = (2 * scaled + denominator) / (2 * denominator);
    hundredths as f64 / 100.0
}

/// `replied_option_one_count` … `replied_option_nine_count`.
pub fn option_field(option: &str) -> String {
    let word = match option {
        "1" => "one",
        "2" => "two",
        "3" => "three",
        "4" => "four",
        "5" => "five",
        "6" => "six",
        "7" => "seven",
        "8" => "eight",
        "9" => "nine",
        other => other,
    };
    format!("replied_option_{word}_count")
}

impl Serialize for Stats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(6 + self.option_counts.len()))?;
        map.serialize_entry("total_calls", &self.total_calls)?;
        map.serialize_entry("completed_calls", &self.completed_calls)?;
        map.serialize_entry("timeout_calls", &self.timeout_calls)?;
        map.serialize_entry("replied_calls", &self.replied_calls)?;
        for (option, count) in &self.option_counts {
            map.serialize_entry(&option_field(option), count)?;
        }
        map.serialize_entry("avg_duration", &self.avg_duration)?;
        map.serialize_entry("success_rate", &self.success_rate)?;
        map.end()
    }
}

/// The completion callback's body (seed: "configured callback URL" payload).
#[derive(Debug, Clone, Serialize)]
pub struct CallbackPayload {
    /// The batch id.
    pub request_id: Uuid,
    /// `COMPLETED`.
    pub status: &'static str,
    /// The tenant id.
    pub integrator_id: Uuid,
    /// The stats.
    pub stats: Stats,
    /// Every call, in request order.
    pub request_calls: Vec<RequestCall>,
}

/// Returns `at` as the seed writes times: naive UTC with microseconds.
pub fn wire_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

type CallRow = (
    Uuid,
    String,
    serde_json::Value,
    Option<String>,
    Option<String>,
    Option<i32>,
    DateTime<Utc>,
);

/// Marks `batch_id` completed and fixes its callback body from every call's result.
async fn complete(connection: &mut AsyncPgConnection, batch_id: Uuid) -> QueryResult<()> {
    let (tenant_id, options): (Uuid, Vec<String>) = call_batches::table
        .find(batch_id)
        .select((call_batches::tenant_id, call_batches::options))
        .first(connection)
        .await?;
    let rows: Vec<CallRow> = batch_calls::table
        .filter(batch_calls::batch_id.eq(batch_id))
        .order(batch_calls::position)
        .select((
            batch_calls::id,
            batch_calls::phone_number,
            batch_calls::user_tags,
            batch_calls::option_selected,
            batch_calls::result,
            batch_calls::duration_seconds,
            batch_calls::created_at,
        ))
        .load(connection)
        .await?;
    let mut tally = Tally {
        total: i64::try_from(rows.len()).unwrap_or(i64::MAX),
        ..Tally::default()
    };
    let mut request_calls = Vec::with_capacity(rows.len());
    for (id, phone_number, user_tags, option, result, duration, created_at) in rows {
        // pending_calls reached 0, so every call has a result; a missing one would be a bug,
        // reported as failed rather than dropped from the stats.
        let result = result
            .as_deref()
            .and_then(CallResult::parse)
            .unwrap_or(CallResult::Failed);
        let duration = i64::from(duration.unwrap_or(0).max(0));
        let duration = if result.answered() { duration } else { 0 };
        tally.add(result, option.as_deref(), duration);
        request_calls.push(RequestCall {
            id,
            status: result.wire(),
            phone_number,
            user_tag_identifiers: user_tags,
            call_result_duration: duration,
            call_result_options_selected: option.filter(|_| result == CallResult::Completed),
            created_at: wire_time(created_at),
        });
    }
    let payload = CallbackPayload {
        request_id: batch_id,
        status: "COMPLETED",
        integrator_id: tenant_id,
        stats: Stats::new(&tally, &options),
        request_calls,
    };
    let body = serde_json::to_string(&payload)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    diesel::update(call_batches::table.find(batch_id))
        .set((
            call_batches::status.eq("completed"),
            call_batches::completed_at.eq(diesel::dsl::now),
            call_batches::callback_status.eq("pending"),
            call_batches::callback_body.eq(&body),
            call_batches::callback_next_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    tracing::info!(
        %batch_id,
        total = payload.stats.total_calls,
        replied = payload.stats.replied_calls,
        "batch completed, callback pending"
    );
    Ok(())
}

/// A batch as its status route shows it.
#[derive(Debug, Clone)]
pub struct BatchStatus {
    /// The batch id.
    pub id: Uuid,
    /// The workflow.
    pub workflow_id: Uuid,
    /// `processing` or `completed`.
    pub status: String,
    /// Calls in the batch.
    pub total_calls: i64,
    /// Calls not yet placed.
    pub queued_calls: i64,
    /// Calls placed and not yet ended.
    pub in_progress_calls: i64,
    /// Calls with a result.
    pub processed_calls: i64,
    /// The stats of the calls processed so far.
    pub stats: Stats,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its last call ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// The callback's state.
    pub callback_status: String,
    /// Callback requests sent.
    pub callback_attempts: i32,
    /// The receiver's last status code.
    pub callback_last_status: Option<i32>,
    /// When the receiver acknowledged it.
    pub callback_delivered_at: Option<DateTime<Utc>>,
}

type BatchRow = (
    Uuid,
    Uuid,
    String,
    i32,
    Vec<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    i32,
    Option<i32>,
    Option<DateTime<Utc>>,
);

/// Returns `tenant_id`'s batch `batch_id` with its progress.
pub async fn status(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    batch_id: Uuid,
) -> QueryResult<Option<BatchStatus>> {
    let row: Option<BatchRow> = call_batches::table
        .find(batch_id)
        .filter(call_batches::tenant_id.eq(tenant_id))
        .select((
            call_batches::id,
            call_batches::workflow_id,
            call_batches::status,
            call_batches::total_calls,
            call_batches::options,
            call_batches::created_at,
            call_batches::completed_at,
            call_batches::callback_status,
            call_batches::callback_attempts,
            call_batches::callback_last_status,
            call_batches::callback_delivered_at,
        ))
        .first(connection)
        .await
        .optional()?;
    let Some((
        id,
        workflow_id,
        status,
        total_calls,
        options,
        created_at,
        completed_at,
        callback_status,
        callback_attempts,
        callback_last_status,
        callback_delivered_at,
    )) = row
    else {
        return Ok(None);
    };
    #[derive(QueryableByName)]
    struct Group {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        result: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        option_selected: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        queued: bool,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        calls: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seconds: i64,
    }
    let groups: Vec<Group> = diesel::sql_query(
        "SELECT b.result, b.option_selected, (a.status = 'queued') AS queued, \
                count(*) AS calls, coalesce(sum(b.duration_seconds), 0)::bigint AS seconds \
         FROM batch_calls b JOIN call_attempts a ON a.id = b.id \
         WHERE b.batch_id = $1 \
         GROUP BY b.result, b.option_selected, (a.status = 'queued')",
    )
    .bind::<diesel::sql_types::Uuid, _>(batch_id)
    .load(connection)
    .await?;
    let mut tally = Tally {
        total: i64::from(total_calls),
        ..Tally::default()
    };
    let (mut queued_calls, mut in_progress_calls, mut processed_calls) = (0, 0, 0);
    for group in groups {
        match group.result.as_deref().and_then(CallResult::parse) {
            Some(result) => {
                processed_calls += group.calls;
                *tally.by_result.entry(result).or_default() += group.calls;
                if result == CallResult::Completed
                    && let Some(option) = group.option_selected
                {
                    *tally.by_option.entry(option).or_default() += group.calls;
                }
                if result.answered() {
                    tally.answered_seconds += group.seconds;
                }
            }
            None if group.queued => queued_calls += group.calls,
            None => in_progress_calls += group.calls,
        }
    }
    Ok(Some(BatchStatus {
        id,
        workflow_id,
        status,
        total_calls: i64::from(total_calls),
        queued_calls,
        in_progress_calls,
        processed_calls,
        stats: Stats::new(&tally, &options),
        created_at,
        completed_at,
        callback_status,
        callback_attempts,
        callback_last_status,
        callback_delivered_at,
    }))
}

/// Where a call is, as `processing_status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingStatus {
    /// Not placed yet.
    Queued,
    /// Being placed or in progress.
    Processing,
    /// Ended, with its result.
    Processed,
}

impl ProcessingStatus {
    /// Returns the wire value (`VOICE_CALL_QUEUED`, `VOICE_CALL_PROCESSING`,
    /// `VOICE_CALL_PROCESSED`).
    pub fn wire(self) -> &'static str {
        match self {
            Self::Queued => "VOICE_CALL_QUEUED",
            Self::Processing => "VOICE_CALL_PROCESSING",
            Self::Processed => "VOICE_CALL_PROCESSED",
        }
    }
}

/// Returns where `tenant_id`'s batch call `call_id` is.
pub async fn call_status(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    call_id: Uuid,
) -> QueryResult<Option<ProcessingStatus>> {
    let row: Option<(Option<String>, String)> = batch_calls::table
        .inner_join(call_attempts::table)
        .filter(batch_calls::id.eq(call_id))
        .filter(batch_calls::tenant_id.eq(tenant_id))
        .select((batch_calls::result, call_attempts::status))
        .first(connection)
        .await
        .optional()?;
    Ok(row.map(|(result, status)| match (result, status.as_str()) {
        (Some(_), _) => ProcessingStatus::Processed,
        (None, "queued") => ProcessingStatus::Queued,
        (None, _) => ProcessingStatus::Processing,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(calls: &[(CallResult, Option<&str>, i64)]) -> Tally {
        let mut tally = Tally {
            total: i64::try_from(calls.len()).unwrap(),
            ..Tally::default()
        };
        for (result, option, duration) in calls {
            tally.add(*result, *option, *duration);
        }
        tally
    }

    #[test]
    fn the_seed_example_serializes_in_its_field_order() {
        let stats = Stats::new(
            &tally(&[
                (CallResult::Completed, Some("1"), 32),
                (CallResult::Completed, Some("2"), 28),
            ]),
            &["1".to_owned(), "2".to_owned()],
        );
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"total_calls":2,"completed_calls":2,"timeout_calls":0,"replied_calls":2,"replied_option_one_count":1,"replied_option_two_count":1,"avg_duration":30.0,"success_rate":100.0}"#
        );
    }

    #[test]
    fn every_result_counts_where_the_docs_say() {
        let stats = Stats::new(
            &tally(&[
                (CallResult::Completed, Some("3"), 10),
                (CallResult::Completed, Some("1"), 11),
                (CallResult::NoReply, None, 9),
                (CallResult::Timeout, None, 0),
                (CallResult::Busy, None, 0),
                (CallResult::Failed, None, 0),
            ]),
            &["1".to_owned(), "3".to_owned()],
        );
        assert_eq!(stats.total_calls, 6);
        assert_eq!(stats.completed_calls, 3);
        assert_eq!(stats.replied_calls, 2);
        assert_eq!(stats.timeout_calls, 1);
        assert_eq!(
            stats.option_counts,
            [
                ("1".to_owned(), 1),
                ("2".to_owned(), 0),
                ("3".to_owned(), 1)
            ]
        );
        assert_eq!(stats.avg_duration, 10.0);
        assert_eq!(stats.success_rate, 33.33);
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["replied_option_three_count"], 1);
    }

    #[test]
    fn ratios_round_half_up_to_the_cent_and_survive_no_calls() {
        assert_eq!(ratio(2, 3, 100.0), 66.67);
        assert_eq!(ratio(1, 8, 1.0), 0.13);
        assert_eq!(ratio(0, 0, 100.0), 0.0);
        assert_eq!(ratio(61, 2, 1.0), 30.5);
    }

    #[test]
    fn hangups_map_to_results_and_an_option_wins() {
        let result = |status, option| result_of_hangup(Some(status), None, option).0;
        assert_eq!(result("completed", Some("2")), CallResult::Completed);
        assert_eq!(result("completed", None), CallResult::NoReply);
        assert_eq!(result("no-answer", None), CallResult::Timeout);
        assert_eq!(result("timeout", None), CallResult::Timeout);
        assert_eq!(result("busy", None), CallResult::Busy);
        assert_eq!(result("failed", None), CallResult::Failed);
        assert_eq!(result_of_hangup(None, None, None).0, CallResult::Failed);
    }

    #[test]
    fn times_are_written_as_the_seed_writes_them() {
        let at = "2024-06-21T10:00:00.5Z".parse().unwrap();
        assert_eq!(wire_time(at), "2024-06-21T10:00:00.500000");
    }
}
