//! Recording reminder outcomes by attempt: an answer is final; a delivery outcome (busy, no
//! answer, machine, failed, expired, and SMS's sent and suppressed) gives way to the outcome
//! of a later attempt; a reply that is not an answer (unparsable) outranks every delivery
//! outcome and gives way to an answer.

use attend_runtime::prepared::PreparedSql;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// How an outcome ranks against the one a reminder already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeRank {
    /// It went out or could not: busy, no_answer, machine, failed, expired, sent, suppressed.
    /// A later attempt may still reach the recipient.
    Delivery,
    /// The recipient replied with something that is not an answer (unparsable): the message
    /// reached them, and a later reply may still answer.
    Reply,
    /// The recipient answered: confirmed, reschedule_requested, cancelled, opted_out. Final.
    Answer,
}

impl OutcomeRank {
    /// Returns the rank of a stored outcome name; an unknown name ranks as an answer, so it
    /// is never overwritten by guesswork.
    pub fn of(outcome: &str) -> Self {
        match outcome {
            "busy" | "no_answer" | "machine" | "failed" | "expired" | "sent" | "suppressed" => {
                Self::Delivery
            }
            "unparsable" => Self::Reply,
            _ => Self::Answer,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Reply => "reply",
            Self::Answer => "answer",
        }
    }
}

/// The appointment whose reminder an outcome was recorded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct RecordedOutcome {
    /// The appointment.
    #[diesel(sql_type = SqlUuid)]
    pub appointment_id: Uuid,
    /// Its tenant, as stored (not as the event claims).
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
}

/// Records `outcome` of attempt `attempt` for the reminder when it outranks what the reminder
/// holds; returns its appointment when it was recorded now. It does when the reminder
/// has no outcome yet, and:
/// - an answer or an unparsable reply replaces any delivery outcome, of whichever attempt
///   (the message reached the recipient); an answer also replaces an unparsable reply;
/// - a delivery outcome replaces the delivery outcome of an earlier attempt, and `sent` of
///   the same attempt (`sent` is progress: that attempt's delivery report follows it).
///
/// Anything after an answer, a repeated or late webhook (same or older attempt), and a
/// delivery outcome after a reply change nothing.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id, outcome, attempt))]
pub async fn record_outcome_of_attempt(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    outcome: &str,
    attempt: u32,
    detail: &str,
    occurred_at: DateTime<Utc>,
) -> QueryResult<Option<RecordedOutcome>> {
    let attempt = i32::try_from(attempt.max(1)).unwrap_or(i32::MAX);
    // Rows recorded before attempts were tracked hold NULL: their attempt was the first.
    PreparedSql::new(
        "UPDATE appointment_reminders
         SET state = 'completed', outcome = $2, outcome_attempt = $3,
             outcome_detail = $4, outcome_at = $5
         WHERE id = $1
           AND (outcome IS NULL
                OR ($6 <> 'delivery'
                    AND outcome IN ('busy', 'no_answer', 'machine', 'failed', 'expired',
                                    'sent', 'suppressed'))
                OR ($6 = 'answer' AND outcome = 'unparsable')
                OR ($6 = 'delivery'
                    AND outcome IN ('busy', 'no_answer', 'machine', 'failed', 'expired',
                                    'sent', 'suppressed')
                    AND COALESCE(outcome_attempt, 1) < $3)
                OR ($6 = 'delivery' AND $2 <> 'sent' AND outcome = 'sent'
                    AND COALESCE(outcome_attempt, 1) = $3))
         RETURNING appointment_id, tenant_id",
    )
    .bind::<SqlUuid, _>(reminder_id)
    .bind::<Text, _>(outcome)
    .bind::<Integer, _>(attempt)
    .bind::<Nullable<Text>, _>(Some(detail).filter(|text| !text.is_empty()))
    .bind::<Timestamptz, _>(occurred_at)
    .bind::<Text, _>(OutcomeRank::of(outcome).as_str())
    .get_result(connection)
    .await
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_rank_as_delivery_reply_or_answer() {
        for delivery in [
            "busy",
            "no_answer",
            "machine",
            "failed",
            "expired",
            "sent",
            "suppressed",
        ] {
            assert_eq!(
                OutcomeRank::of(delivery),
                OutcomeRank::Delivery,
                "{delivery}"
            );
        }
        assert_eq!(OutcomeRank::of("unparsable"), OutcomeRank::Reply);
        for answer in [
            "confirmed",
            "reschedule_requested",
            "cancelled",
            "opted_out",
        ] {
            assert_eq!(OutcomeRank::of(answer), OutcomeRank::Answer, "{answer}");
        }
    }
}
