//! Call attempts: one per reminder, from the queued row to its terminal outcome, and the
//! webhook nonces seen recently. Every function runs on the caller's connection, so the caller
//! decides the transaction; the ones that change an attempt expect it to be locked.

use std::time::Duration;

use attend_events::{Event as _, to_timestamp, v1};
use attend_runtime::db::literal_in;
use attend_runtime::prepared::PreparedSql;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::consent;
use crate::db::schema::{call_attempts, opt_outs, webhook_nonces};

/// Where an attempt is in its life. See the README's state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    /// Waiting for the dialer (first try, or after a refusal that proved no call was placed).
    Queued,
    /// Claimed: the make-call request is being sent. Committed before the request.
    Placing,
    /// The make-call request timed out or got a 5xx: the call may exist. Never sent again.
    Unknown,
    /// The carrier accepted the call.
    Placed,
    /// The carrier fetched the answer XML: the callee picked up.
    InProgress,
    /// The carrier reported the end of the call.
    Completed,
    /// No call was placed, finally.
    Failed,
    /// Queued, then its appointment was cancelled: never placed, no outcome reported.
    Dropped,
}

impl AttemptStatus {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Placing => "placing",
            Self::Unknown => "unknown",
            Self::Placed => "placed",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "dropped" => Self::Dropped,
            "queued" => Self::Queued,
            "placing" => Self::Placing,
            "unknown" => Self::Unknown,
            "placed" => Self::Placed,
            "in_progress" => Self::InProgress,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Returns whether a call may exist for the attempt and has not ended yet.
    pub fn awaits_carrier(self) -> bool {
        matches!(
            self,
            Self::Placing | Self::Unknown | Self::Placed | Self::InProgress
        )
    }
}

/// How a reminder call ended; reported once as `reminder.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The recipient pressed 1.
    Confirmed,
    /// The recipient pressed 2.
    RescheduleRequested,
    /// The recipient pressed 3, then 1.
    Cancelled,
    /// Nobody answered, or nothing usable was pressed.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// No call could be made, or its result is unknown.
    Failed,
    /// The recipient pressed 8: no more reminder calls to this number from this tenant.
    OptedOut,
    /// An answering machine picked up (the voicemail text was left).
    Machine,
    /// The calling window did not open again before the appointment.
    Expired,
}

impl Outcome {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::RescheduleRequested => "reschedule_requested",
            Self::Cancelled => "cancelled",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::OptedOut => "opted_out",
            Self::Machine => "machine",
            Self::Expired => "expired",
        }
    }

    /// Parses a stored (or workflow) outcome name.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "opted_out" => Self::OptedOut,
            "machine" => Self::Machine,
            "expired" => Self::Expired,
            "confirmed" => Self::Confirmed,
            "reschedule_requested" => Self::RescheduleRequested,
            "cancelled" => Self::Cancelled,
            "no_answer" => Self::NoAnswer,
            "busy" => Self::Busy,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Returns the event's enum value.
    pub fn kind(self) -> v1::ReminderOutcomeKind {
        match self {
            Self::Confirmed => v1::ReminderOutcomeKind::Confirmed,
            Self::RescheduleRequested => v1::ReminderOutcomeKind::RescheduleRequested,
            Self::Cancelled => v1::ReminderOutcomeKind::Cancelled,
            Self::NoAnswer => v1::ReminderOutcomeKind::NoAnswer,
            Self::Busy => v1::ReminderOutcomeKind::Busy,
            Self::Failed => v1::ReminderOutcomeKind::Failed,
            Self::OptedOut => v1::ReminderOutcomeKind::OptedOut,
            Self::Machine => v1::ReminderOutcomeKind::Machine,
            Self::Expired => v1::ReminderOutcomeKind::Expired,
        }
    }
}

/// One call, as the dialer and the webhooks see it: a reminder call, or a call of a robo-call
/// batch (no reminder; its batch data is in `batch_calls` under the same id).
#[derive(Debug, Clone)]
pub struct CallAttempt {
    /// The attempt id, carried in every webhook URL (the `call_id` of a batch call).
    pub id: Uuid,
    /// The reminder it delivers; `None` for a batch call.
    pub reminder_id: Option<Uuid>,
    /// The appointment it is about; `None` for a batch call.
    pub appointment_id: Option<Uuid>,
    /// The tenant.
    pub tenant_id: Uuid,
    /// The number to call, E.164.
    pub to_number: String,
    /// The recipient's name.
    pub recipient_name: String,
    /// The recipient's locale.
    pub locale: String,
    /// The recipient's IANA time zone.
    pub time_zone: String,
    /// Who is calling.
    pub business_name: String,
    /// When the appointment starts, when known as an instant.
    pub appointment_start: Option<DateTime<Utc>>,
    /// Where the appointment is.
    pub location: String,
    /// The ReminderDue attempt number (1 for the first).
    pub attempt: u32,
    /// Free text spoken instead of the formatted start, when set.
    pub spoken_when: String,
    /// Where the call is in its workflow.
    pub flow: FlowPosition,
    /// Where the attempt is in its life.
    pub status: AttemptStatus,
    /// Make-call requests sent so far.
    pub tries: u32,
    /// The carrier's CallUUID, once known.
    pub call_uuid: Option<String>,
    /// The terminal outcome, once settled.
    pub outcome: Option<Outcome>,
    /// The trace context of the reminder.due that created the attempt.
    pub traceparent: Option<String>,
}

impl CallAttempt {
    /// Returns whether this is a call of a robo-call batch rather than a reminder call.
    pub fn is_batch_call(&self) -> bool {
        self.reminder_id.is_none()
    }

    /// Returns whether the call's workflow has ended (a hangup turn was answered): any later
    /// webhook gets a goodbye and changes nothing.
    pub fn flow_finished(&self) -> bool {
        self.flow.current_node.is_none() && self.flow.step > 0
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = call_attempts, check_for_backend(diesel::pg::Pg))]
struct CallAttemptRow {
    id: Uuid,
    reminder_id: Option<Uuid>,
    appointment_id: Option<Uuid>,
    tenant_id: Uuid,
    to_number: String,
    recipient_name: String,
    locale: String,
    time_zone: String,
    business_name: String,
    appointment_start: Option<DateTime<Utc>>,
    location: String,
    status: String,
    tries: i32,
    call_uuid: Option<String>,
    outcome: Option<String>,
    traceparent: Option<String>,
    attempt: i32,
    spoken_when: String,
    workflow_id: Option<Uuid>,
    current_node: Option<String>,
    flow_step: i32,
    node_retries: i32,
    gathers_played: i32,
}

/// Where a call is in its workflow (stored on the attempt, so any replica answers the next
/// webhook).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowPosition {
    /// The workflow the call runs, fixed when the attempt is created.
    pub workflow_id: Option<Uuid>,
    /// The gather the call waits at.
    pub current_node: Option<String>,
    /// Turns answered so far; every gather URL names the step it was issued at, so a
    /// duplicate or stale webhook is recognised.
    pub step: i32,
    /// Invalid keys at the current gather.
    pub node_retries: i32,
    /// Gathers played in the whole call.
    pub gathers_played: i32,
}

impl CallAttemptRow {
    fn into_domain(self) -> QueryResult<CallAttempt> {
        let status =
            AttemptStatus::parse(&self.status).ok_or_else(|| corrupt("status", &self.status))?;
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some(raw) => Some(Outcome::parse(raw).ok_or_else(|| corrupt("outcome", raw))?),
        };
        Ok(CallAttempt {
            id: self.id,
            reminder_id: self.reminder_id,
            appointment_id: self.appointment_id,
            tenant_id: self.tenant_id,
            to_number: self.to_number,
            recipient_name: self.recipient_name,
            locale: self.locale,
            time_zone: self.time_zone,
            business_name: self.business_name,
            appointment_start: self.appointment_start,
            location: self.location,
            attempt: u32::try_from(self.attempt).unwrap_or(1),
            spoken_when: self.spoken_when,
            flow: FlowPosition {
                workflow_id: self.workflow_id,
                current_node: self.current_node,
                step: self.flow_step,
                node_retries: self.node_retries,
                gathers_played: self.gathers_played,
            },
            status,
            tries: u32::try_from(self.tries).unwrap_or(0),
            call_uuid: self.call_uuid,
            outcome,
            traceparent: self.traceparent,
        })
    }
}

fn corrupt(column: &str, value: &str) -> diesel::result::Error {
    // The CHECK constraints make this unreachable unless the schema and the code disagree.
    diesel::result::Error::DeserializationError(format!("unexpected {column} {value:?}").into())
}

fn into_domain(rows: Vec<CallAttemptRow>) -> QueryResult<Vec<CallAttempt>> {
    rows.into_iter().map(CallAttemptRow::into_domain).collect()
}

/// A reminder to call, as the consumer records it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = call_attempts)]
pub struct NewCallAttempt {
    /// A fresh UUIDv7.
    pub id: Uuid,
    /// The reminder's key; a second attempt for it is never created. `None` for batch calls.
    pub reminder_id: Option<Uuid>,
    /// The appointment; `None` for batch calls.
    pub appointment_id: Option<Uuid>,
    /// The tenant.
    pub tenant_id: Uuid,
    /// The number to call.
    pub to_number: String,
    /// The recipient's name.
    pub recipient_name: String,
    /// The recipient's locale.
    pub locale: String,
    /// The recipient's time zone.
    pub time_zone: String,
    /// Who is calling.
    pub business_name: String,
    /// When the appointment starts, if known as an instant.
    pub appointment_start: Option<DateTime<Utc>>,
    /// Where the appointment is.
    pub location: String,
    /// The ReminderDue attempt number.
    pub attempt: i32,
    /// Free text spoken instead of the formatted start.
    pub spoken_when: String,
    /// The workflow the call will run.
    pub workflow_id: Option<Uuid>,
    /// `queued` normally; `failed` when the reminder cannot be called at all.
    pub status: String,
    /// When the dialer may place the call (normally now).
    pub next_attempt_at: DateTime<Utc>,
    /// The trace context to continue.
    pub traceparent: Option<String>,
}

/// Records `attempt` unless its (reminder, attempt number) already has one; returns whether
/// it was new.
#[tracing::instrument(skip_all, fields(reminder_id = ?attempt.reminder_id))]
pub async fn insert(
    connection: &mut AsyncPgConnection,
    attempt: &NewCallAttempt,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(call_attempts::table)
        .values(attempt)
        .on_conflict((call_attempts::reminder_id, call_attempts::attempt))
        .do_nothing()
        .execute(connection)
        .await?;
    Ok(inserted == 1)
}

/// Returns the attempt `id`, locked until the transaction ends.
#[tracing::instrument(skip_all, fields(attempt_id = %id))]
pub async fn lock(
    mut connection: &AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<CallAttempt>> {
    let row = call_attempts::table
        .find(id)
        .for_update()
        .select(CallAttemptRow::as_select())
        .first(&mut connection)
        .await
        .optional()?;
    row.map(CallAttemptRow::into_domain).transpose()
}

/// Returns attempt number `attempt` of `reminder_id`, if any (for operators and tests).
pub async fn find_by_reminder(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    attempt: i32,
) -> QueryResult<Option<CallAttempt>> {
    let row = call_attempts::table
        .filter(call_attempts::reminder_id.eq(reminder_id))
        .filter(call_attempts::attempt.eq(attempt))
        .select(CallAttemptRow::as_select())
        .first(connection)
        .await
        .optional()?;
    row.map(CallAttemptRow::into_domain).transpose()
}

/// Claims up to `limit` queued reminder attempts that are due (SKIP LOCKED, so replicas share
/// the work) and marks them `placing` until `give_up_at`. The caller commits before calling
/// the carrier, so the attempt is on record before any call exists.
#[tracing::instrument(skip_all)]
pub async fn claim_due(
    connection: &mut AsyncPgConnection,
    limit: i64,
    give_up_at: DateTime<Utc>,
) -> QueryResult<Vec<CallAttempt>> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    // Literal, so that every plan can use call_attempts_due_idx.
    let ids: Vec<Uuid> = call_attempts::table
        .filter(literal_in(
            "call_attempts.status",
            &[AttemptStatus::Queued.as_str()],
        ))
        .filter(call_attempts::reminder_id.is_not_null())
        .filter(call_attempts::next_attempt_at.le(diesel::dsl::now))
        .order(call_attempts::next_attempt_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(call_attempts::id)
        .load(connection)
        .await?;
    mark_placing(connection, &ids, give_up_at).await
}

/// Claims up to `limit` queued batch calls that are due, sharing them fairly across tenants
/// (the tenant holding the fewest lines first; each tenant's calls in batch order) and never
/// more than `per_tenant_cap` batch calls of one tenant holding a line at once. The caller holds the pacer lock, so the counts it
/// reads stay true until it commits.
#[tracing::instrument(skip_all)]
pub async fn claim_batch_calls(
    connection: &mut AsyncPgConnection,
    limit: i64,
    per_tenant_cap: i64,
    give_up_at: DateTime<Utc>,
) -> QueryResult<Vec<CallAttempt>> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Claimable {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    // rn is the call's place in its tenant's queue, so lines + rn is how many lines the
    // tenant would hold with this call: taking the smallest first shares the free lines
    // max-min fairly, and a tenant with a 10,000-call batch holding lines never keeps a
    // newcomer's first call waiting for more than the next free line.
    let claimable: Vec<Claimable> = diesel::sql_query(
        "WITH active AS ( \
             SELECT a.tenant_id, count(*) AS lines FROM call_attempts a \
             WHERE a.reminder_id IS NULL \
               AND a.status IN ('placing', 'unknown', 'placed', 'in_progress') \
             GROUP BY a.tenant_id), \
         queued AS ( \
             SELECT a.id, a.tenant_id, row_number() OVER ( \
                 PARTITION BY a.tenant_id ORDER BY a.next_attempt_at, b.position) AS rn \
             FROM call_attempts a JOIN batch_calls b ON b.id = a.id \
             WHERE a.status = 'queued' AND a.reminder_id IS NULL \
               AND a.next_attempt_at <= now()) \
         SELECT q.id FROM queued q LEFT JOIN active USING (tenant_id) \
         WHERE q.rn <= $1 - coalesce(active.lines, 0) \
         ORDER BY coalesce(active.lines, 0) + q.rn, q.tenant_id \
         LIMIT $2",
    )
    .bind::<diesel::sql_types::BigInt, _>(per_tenant_cap)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(connection)
    .await?;
    let ids: Vec<Uuid> = claimable.into_iter().map(|row| row.id).collect();
    mark_placing(connection, &ids, give_up_at).await
}

/// Marks the queued attempts `ids` as `placing` until `give_up_at` and counts a try; returns
/// them. Attempts that are no longer queued are left alone.
async fn mark_placing(
    connection: &mut AsyncPgConnection,
    ids: &[Uuid],
    give_up_at: DateTime<Utc>,
) -> QueryResult<Vec<CallAttempt>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = diesel::update(
        call_attempts::table
            .filter(call_attempts::id.eq_any(ids))
            .filter(call_attempts::status.eq(AttemptStatus::Queued.as_str())),
    )
    .set((
        call_attempts::status.eq(AttemptStatus::Placing.as_str()),
        call_attempts::tries.eq(call_attempts::tries + 1),
        call_attempts::next_attempt_at.eq(give_up_at),
        call_attempts::updated_at.eq(diesel::dsl::now),
    ))
    .returning(CallAttemptRow::as_returning())
    .get_results(connection)
    .await?;
    into_domain(rows)
}

/// Returns how many calls hold a line at the carrier now (placing, unknown, placed or in
/// progress): every kind, every tenant.
pub async fn count_lines_in_use(connection: &mut AsyncPgConnection) -> QueryResult<i64> {
    // Literal, so that every plan can use call_attempts_active_idx.
    call_attempts::table
        .filter(literal_in("call_attempts.status", &LINE_STATUSES))
        .count()
        .get_result(connection)
        .await
}

/// The statuses in which a call may hold a line at the carrier.
const LINE_STATUSES: [&str; 4] = ["placing", "unknown", "placed", "in_progress"];

/// Returns up to `limit` attempts still waiting on the carrier past their deadline, locked
/// (SKIP LOCKED).
#[tracing::instrument(skip_all)]
pub async fn lock_overdue(
    connection: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<Vec<CallAttempt>> {
    // Literal, so that every plan can use call_attempts_waiting_idx.
    let rows = call_attempts::table
        .filter(call_attempts::outcome.is_null())
        .filter(literal_in("call_attempts.status", &LINE_STATUSES))
        .filter(call_attempts::next_attempt_at.le(diesel::dsl::now))
        .order(call_attempts::next_attempt_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(CallAttemptRow::as_select())
        .load(connection)
        .await?;
    into_domain(rows)
}

/// Sets the status of the locked attempt `id`, its deadline, and the last error.
pub async fn set_status(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    status: AttemptStatus,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(call_attempts::table.find(id))
        .set((
            call_attempts::status.eq(status.as_str()),
            call_attempts::next_attempt_at.eq(next_attempt_at),
            call_attempts::last_error.eq(last_error),
            call_attempts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Records that the carrier placed the call of attempt `id`, in one statement with no
/// transaction around it: the CallUUID unless one is known, and `placed` with its watchdog
/// only while the attempt is still `placing` (a webhook may have moved it on already; the
/// conditions are evaluated on the row as it is once locked). Returns whether the attempt
/// exists. This was a transaction of four statements per call.
pub async fn record_placed(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    call_uuid: Option<&str>,
    watchdog: DateTime<Utc>,
) -> QueryResult<bool> {
    use diesel::sql_types::{Nullable, Text, Timestamptz};
    // Every right-hand side reads the row as it was, so each CASE sees the old status.
    let updated = PreparedSql::new(
        "UPDATE call_attempts SET \
           call_uuid = COALESCE(call_uuid, $2), \
           status = CASE WHEN status = $4 THEN $5 ELSE status END, \
           next_attempt_at = CASE WHEN status = $4 THEN $3 ELSE next_attempt_at END, \
           last_error = CASE WHEN status = $4 THEN NULL ELSE last_error END, \
           updated_at = CASE WHEN status = $4 THEN now() ELSE updated_at END \
         WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<Nullable<Text>, _>(call_uuid)
    .bind::<Timestamptz, _>(watchdog)
    .bind::<Text, _>(AttemptStatus::Placing.as_str())
    .bind::<Text, _>(AttemptStatus::Placed.as_str())
    .execute(connection)
    .await?;
    Ok(updated == 1)
}

/// Puts the locked attempt `id`, just claimed, back in the queue until `next_attempt_at`
/// without counting the claim as a try (no request was sent).
pub async fn requeue_uncounted(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    next_attempt_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(call_attempts::table.find(id))
        .set((
            call_attempts::status.eq(AttemptStatus::Queued.as_str()),
            call_attempts::tries.eq(call_attempts::tries - 1),
            call_attempts::next_attempt_at.eq(next_attempt_at),
            call_attempts::last_error.eq("waiting for the calling window"),
            call_attempts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Marks the locked attempt `id`, just claimed, `dropped` (never placed on purpose) without
/// counting the claim as a try.
pub async fn drop_claimed(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    detail: &str,
) -> QueryResult<()> {
    diesel::update(call_attempts::table.find(id))
        .set((
            call_attempts::status.eq(AttemptStatus::Dropped.as_str()),
            call_attempts::tries.eq(call_attempts::tries - 1),
            call_attempts::next_attempt_at.eq(diesel::dsl::now),
            call_attempts::last_error.eq(detail),
            call_attempts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Records the carrier's CallUUID on the locked `attempt` unless it has one already.
pub async fn record_call_uuid(
    connection: &mut AsyncPgConnection,
    attempt: &CallAttempt,
    call_uuid: &str,
) -> QueryResult<()> {
    // The first report wins and later ones carry the same id: once the locked row has one,
    // the update would change nothing, and every webhook of a call would pay a statement.
    if attempt.call_uuid.is_some() {
        return Ok(());
    }
    diesel::update(
        call_attempts::table
            .find(attempt.id)
            .filter(call_attempts::call_uuid.is_null()),
    )
    .set(call_attempts::call_uuid.eq(call_uuid))
    .execute(connection)
    .await?;
    Ok(())
}

/// Stores where the locked attempt `id` is in its workflow and, with `in_progress`, that the
/// callee picked up (`in_progress`, its watchdog at that time): the answer webhook's two
/// writes in one statement.
pub async fn save_position(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    flow: &FlowPosition,
    in_progress: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    let picked_up = in_progress.map(|watchdog| {
        (
            call_attempts::status.eq(AttemptStatus::InProgress.as_str()),
            call_attempts::next_attempt_at.eq(watchdog),
            call_attempts::last_error.eq(None::<String>),
        )
    });
    diesel::update(call_attempts::table.find(id))
        .set((
            position_changes(flow),
            call_attempts::updated_at.eq(diesel::dsl::now),
            picked_up,
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// The columns of a workflow position, as one changeset.
type PositionChanges<'a> = (
    diesel::dsl::Eq<call_attempts::current_node, Option<&'a str>>,
    diesel::dsl::Eq<call_attempts::flow_step, i32>,
    diesel::dsl::Eq<call_attempts::node_retries, i32>,
    diesel::dsl::Eq<call_attempts::gathers_played, i32>,
);

fn position_changes(flow: &FlowPosition) -> PositionChanges<'_> {
    (
        call_attempts::current_node.eq(flow.current_node.as_deref()),
        call_attempts::flow_step.eq(flow.step),
        call_attempts::node_retries.eq(flow.node_retries),
        call_attempts::gathers_played.eq(flow.gathers_played),
    )
}

/// Returns whether `phone` opted out of `tenant_id`'s reminder calls.
pub async fn is_opted_out(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        opt_outs::table
            .filter(opt_outs::tenant_id.eq(tenant_id))
            .filter(opt_outs::phone.eq(phone)),
    ))
    .get_result(connection)
    .await
}

/// Returns which of `attempts`' (tenant, number) pairs opted out, in one statement: the
/// dialer checks a whole claimed round at once instead of one query per call.
pub async fn opted_out_among(
    connection: &mut AsyncPgConnection,
    attempts: &[CallAttempt],
) -> QueryResult<std::collections::HashSet<(Uuid, String)>> {
    let numbers: Vec<&str> = attempts
        .iter()
        .map(|attempt| attempt.to_number.as_str())
        .collect();
    let tenants: Vec<Uuid> = attempts.iter().map(|attempt| attempt.tenant_id).collect();
    // Filtering by both lists may return a pair of one attempt's tenant with another's
    // number; the caller matches exact pairs, so such a row only goes unused.
    let rows: Vec<(Uuid, String)> = opt_outs::table
        .filter(opt_outs::tenant_id.eq_any(tenants))
        .filter(opt_outs::phone.eq_any(numbers))
        .select((opt_outs::tenant_id, opt_outs::phone))
        .distinct()
        .load(connection)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Drops the queued (not yet placing) attempts of `appointment_id`; returns how many.
pub async fn drop_queued_of_appointment(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
) -> QueryResult<usize> {
    diesel::update(
        call_attempts::table
            .filter(call_attempts::appointment_id.eq(appointment_id))
            // Literal, so that every plan can use call_attempts_appointment_idx.
            .filter(literal_in(
                "call_attempts.status",
                &[AttemptStatus::Queued.as_str()],
            )),
    )
    .set((
        call_attempts::status.eq(AttemptStatus::Dropped.as_str()),
        call_attempts::last_error.eq("appointment cancelled before the call"),
        call_attempts::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await
}

/// What the hangup callback reported.
#[derive(Debug, Clone, Default)]
pub struct HangupReport {
    /// `CallStatus`: completed, no-answer, busy, failed, timeout.
    pub call_status: Option<String>,
    /// `HangupCause`.
    pub hangup_cause: Option<String>,
    /// `Duration`, in seconds.
    pub duration_seconds: Option<i32>,
}

/// Marks the locked attempt `id` completed with what the hangup callback said. Only the first
/// report is kept: a repeated callback changes nothing.
pub async fn record_hangup(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    report: &HangupReport,
) -> QueryResult<bool> {
    let updated = diesel::update(
        call_attempts::table
            .find(id)
            .filter(call_attempts::status.ne(AttemptStatus::Completed.as_str())),
    )
    .set((
        call_attempts::status.eq(AttemptStatus::Completed.as_str()),
        call_attempts::carrier_status.eq(report.call_status.as_deref()),
        call_attempts::hangup_cause.eq(report.hangup_cause.as_deref()),
        call_attempts::duration_seconds.eq(report.duration_seconds),
        call_attempts::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await?;
    Ok(updated == 1)
}

/// Settles the outcome of `attempt` unless it has one, and writes its `reminder.outcome`
/// event to the outbox in the same transaction. Returns whether this call settled it; a
/// second outcome for the same attempt changes nothing and emits nothing.
#[tracing::instrument(skip_all, fields(attempt_id = %attempt.id, outcome = outcome.as_str()))]
pub async fn settle(
    connection: &mut AsyncPgConnection,
    attempt: &CallAttempt,
    outcome: Outcome,
    detail: &str,
    provider_ref: Option<&str>,
) -> QueryResult<bool> {
    settle_at(connection, attempt, outcome, detail, provider_ref, None).await
}

/// Like [`settle`], and stores the workflow position `flow` in the same statement: the input
/// webhook's last step and its outcome in one write. When the attempt had an outcome already,
/// neither is written.
pub async fn settle_at(
    connection: &mut AsyncPgConnection,
    attempt: &CallAttempt,
    outcome: Outcome,
    detail: &str,
    provider_ref: Option<&str>,
    flow: Option<&FlowPosition>,
) -> QueryResult<bool> {
    let (Some(reminder_id), Some(appointment_id)) = (attempt.reminder_id, attempt.appointment_id)
    else {
        // Batch calls end through batches::settle_call; callers branch before this.
        tracing::error!(attempt_id = %attempt.id, "a batch call has no reminder outcome");
        return Ok(false);
    };
    let occurred_at = Utc::now();
    let updated = diesel::update(
        call_attempts::table
            .find(attempt.id)
            .filter(call_attempts::outcome.is_null()),
    )
    .set((
        call_attempts::outcome.eq(outcome.as_str()),
        call_attempts::outcome_detail.eq(detail),
        call_attempts::outcome_at.eq(occurred_at),
        call_attempts::updated_at.eq(diesel::dsl::now),
        flow.map(position_changes),
    ))
    .execute(connection)
    .await?;
    if updated == 0 {
        return Ok(false);
    }
    let event = v1::ReminderOutcome {
        reminder_id: reminder_id.to_string(),
        appointment_id: appointment_id.to_string(),
        tenant_id: attempt.tenant_id.to_string(),
        channel: v1::Channel::Voice.into(),
        outcome: outcome.kind().into(),
        detail: detail.to_owned(),
        occurred_at: Some(to_timestamp(occurred_at)),
        provider_ref: provider_ref.unwrap_or_default().to_owned(),
        attempt: attempt.attempt,
    };
    if outcome == Outcome::OptedOut {
        let recorded = diesel::insert_into(opt_outs::table)
            .values((
                opt_outs::tenant_id.eq(attempt.tenant_id),
                opt_outs::phone.eq(&attempt.to_number),
                opt_outs::reminder_id.eq(reminder_id),
                opt_outs::source.eq(consent::VOICE_KEYPRESS),
            ))
            .on_conflict_do_nothing()
            .execute(connection)
            .await?;
        if recorded == 1 {
            // A revocation on a reminder call stops every channel (FCC 24-18): the SMS side
            // hears it from this event.
            consent::publish_opted_out(connection, attempt.tenant_id, &attempt.to_number).await?;
        }
    }
    let event_id =
        attend_runtime::outbox::enqueue(connection, Some(attempt.tenant_id), &event).await?;
    tracing::info!(%event_id, routing_key = event.routing_key(), "outcome settled");
    Ok(true)
}

/// Records a webhook nonce; returns `false` when it was seen within `window` (a replay).
/// The unique key makes concurrent replicas agree: of two requests with one nonce, the second
/// waits for the first's transaction and then sees the conflict. One statement: a nonce seen
/// before the window is taken over in place (the conflict's update), a live one is left as it
/// is and nothing is written, so the answer is whether a row was written.
pub async fn record_nonce(
    mut connection: &AsyncPgConnection,
    nonce: &str,
    window: Duration,
) -> QueryResult<bool> {
    // The upsert's WHERE comes from this trait, not from QueryDsl.
    use diesel::query_dsl::methods::FilterDsl;
    let now = Utc::now();
    let written = diesel::insert_into(webhook_nonces::table)
        .values((
            webhook_nonces::nonce.eq(nonce),
            webhook_nonces::seen_at.eq(now),
        ))
        .on_conflict(webhook_nonces::nonce)
        .do_update()
        .set(webhook_nonces::seen_at.eq(diesel::upsert::excluded(webhook_nonces::seen_at)))
        .filter(webhook_nonces::seen_at.lt(now - window))
        .execute(&mut connection)
        .await?;
    Ok(written == 1)
}

/// Deletes nonces older than `window`; returns how many.
pub async fn prune_nonces(
    connection: &mut AsyncPgConnection,
    window: Duration,
) -> QueryResult<usize> {
    let cutoff = Utc::now() - window;
    diesel::delete(webhook_nonces::table.filter(webhook_nonces::seen_at.lt(cutoff)))
        .execute(connection)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_outcomes_round_trip_through_their_stored_names() {
        for status in [
            AttemptStatus::Queued,
            AttemptStatus::Placing,
            AttemptStatus::Unknown,
            AttemptStatus::Placed,
            AttemptStatus::InProgress,
            AttemptStatus::Completed,
            AttemptStatus::Failed,
            AttemptStatus::Dropped,
        ] {
            assert_eq!(AttemptStatus::parse(status.as_str()), Some(status));
        }
        for outcome in [
            Outcome::Confirmed,
            Outcome::RescheduleRequested,
            Outcome::Cancelled,
            Outcome::NoAnswer,
            Outcome::Busy,
            Outcome::Failed,
            Outcome::OptedOut,
            Outcome::Machine,
            Outcome::Expired,
        ] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }

    #[test]
    fn outcomes_map_to_the_event_kinds() {
        assert_eq!(
            Outcome::Cancelled.kind(),
            v1::ReminderOutcomeKind::Cancelled
        );
        assert_eq!(Outcome::NoAnswer.kind(), v1::ReminderOutcomeKind::NoAnswer);
    }
}
