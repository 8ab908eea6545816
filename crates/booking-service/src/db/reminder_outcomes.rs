//! Recording reminder outcomes by attempt: an answer is final; a delivery outcome (busy, no
//! answer, machine, failed, expired) gives way to the outcome of a later attempt.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(QueryableByName)]
struct Recorded {
    #[diesel(sql_type = SqlUuid)]
    appointment_id: Uuid,
}

/// Records `outcome` of attempt `attempt` for the reminder when it has no outcome yet, or
/// holds a delivery outcome of an earlier attempt; returns the appointment id when it was
/// recorded now. A repeated or late webhook (same or older attempt), and anything after an
/// answer, changes nothing.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id, outcome, attempt))]
pub async fn record_outcome_of_attempt(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    outcome: &str,
    attempt: u32,
    detail: &str,
    occurred_at: DateTime<Utc>,
) -> QueryResult<Option<Uuid>> {
    let attempt = i32::try_from(attempt.max(1)).unwrap_or(i32::MAX);
    // The listed outcomes are the delivery outcomes, which a later attempt may follow; any
    // other is an answer and final. Rows recorded before attempts were tracked hold NULL:
    // their attempt was the first.
    let recorded: Option<Recorded> = diesel::sql_query(
        "UPDATE appointment_reminders
         SET state = 'completed', outcome = $2, outcome_attempt = $3,
             outcome_detail = $4, outcome_at = $5
         WHERE id = $1
           AND (outcome IS NULL
                OR (outcome IN ('busy', 'no_answer', 'machine', 'failed', 'expired')
                    AND COALESCE(outcome_attempt, 1) < $3))
         RETURNING appointment_id",
    )
    .bind::<SqlUuid, _>(reminder_id)
    .bind::<Text, _>(outcome)
    .bind::<Integer, _>(attempt)
    .bind::<Nullable<Text>, _>(Some(detail).filter(|text| !text.is_empty()))
    .bind::<Timestamptz, _>(occurred_at)
    .get_result(connection)
    .await
    .optional()?;
    Ok(recorded.map(|row| row.appointment_id))
}
