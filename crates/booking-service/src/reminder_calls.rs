//! The `/appointments` dialect's commands: reminder calls whose date and time are free text.
//!
//! A reminder call is not an appointment with an instant: its clients send "Apr 5" and
//! "3 PM" only to have them spoken. Placing one stores a `reminder_calls` row and, in the same
//! transaction, a `reminder.due.voice` with `spoken_when` and no `appointment_start`, which
//! the voice gateway calls at once. Outcomes come back through `reminder.outcome`.

use attend_events::{from_timestamp, to_timestamp, v1};
use attend_runtime::{HandlerError, outbox};
use chrono::{DateTime, SubsecRound, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::auth::Tenant;
use crate::db::reminder_calls::{self as queries, NewReminderCall, ReminderCallRow};
use crate::events::outcome_name;

/// Waiting for a call: the gateway reported it could not place one, or it was never placed.
pub const PENDING: &str = "pending";
/// The call is handed to the voice gateway.
pub const CALLING: &str = "calling";
/// The callee pressed 1.
pub const CONFIRMED: &str = "confirmed";
/// The callee pressed 2.
pub const RESCHEDULE_REQUESTED: &str = "reschedule_requested";
/// The callee pressed 3, then 1.
pub const CANCELLED: &str = "cancelled";
/// The call ended without an answer to the menu.
pub const NO_ANSWER: &str = "no_answer";
/// Cancelled through the API before a call was placed.
pub const ABORTED: &str = "aborted";

/// Every status of the dialect, as its clients know them.
pub const STATUSES: [&str; 7] = [
    PENDING,
    CALLING,
    CONFIRMED,
    RESCHEDULE_REQUESTED,
    CANCELLED,
    NO_ANSWER,
    ABORTED,
];

/// Statuses that never change again: the callee answered, or the call was aborted.
const FINAL_STATUSES: [&str; 4] = [CONFIRMED, RESCHEDULE_REQUESTED, CANCELLED, ABORTED];

/// Locale of the dialect's calls: the original spoke English only and its clients send none.
const LOCALE: &str = "en";

/// A validated request for one reminder call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderCallRequest {
    /// Callee, E.164.
    pub phone_e164: String,
    /// Callee's name.
    pub name: String,
    /// Free-text date.
    pub date: String,
    /// Free-text time.
    pub time: String,
}

/// Returns what the call says for "when": "<date> at <time>", or the part that was given.
/// Both empty (the original accepts that) reads as the original's own fallback wording.
pub fn spoken_when(date: &str, time: &str) -> String {
    match (date.trim(), time.trim()) {
        ("", "") => "your scheduled time".to_owned(),
        (date, "") => date.to_owned(),
        ("", time) => time.to_owned(),
        (date, time) => format!("{date} at {time}"),
    }
}

/// Stores the reminder calls and their `reminder.due.voice` events in one transaction, so
/// either every call is placed or none is; returns the stored rows in request order.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, calls = requests.len()))]
pub async fn place_calls(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    requests: &[ReminderCallRequest],
) -> anyhow::Result<Vec<ReminderCallRow>> {
    // Postgres keeps microseconds: answer exactly what a later GET reads.
    let now = Utc::now().trunc_subsecs(6);
    connection
        .transaction::<_, anyhow::Error, _>(async |connection| {
            let time_zone = queries::tenant_time_zone(connection, tenant.id)
                .await?
                .unwrap_or_else(|| "UTC".to_owned());
            let mut stored = Vec::with_capacity(requests.len());
            for request in requests {
                let call = NewReminderCall {
                    id: Uuid::now_v7(),
                    tenant_id: tenant.id,
                    phone_e164: &request.phone_e164,
                    name: &request.name,
                    date_text: &request.date,
                    time_text: &request.time,
                    status: CALLING,
                    reminder_id: Uuid::now_v7(),
                    created_at: now,
                    called_at: Some(now),
                };
                queries::insert(connection, &call).await?;
                let due = reminder_due(tenant, &call, request, &time_zone, now);
                outbox::enqueue(connection, Some(tenant.id), &due).await?;
                stored.push(ReminderCallRow {
                    id: call.id,
                    tenant_id: call.tenant_id,
                    phone_e164: request.phone_e164.clone(),
                    name: request.name.clone(),
                    date_text: request.date.clone(),
                    time_text: request.time.clone(),
                    status: CALLING.to_owned(),
                    reminder_id: call.reminder_id,
                    call_uuid: None,
                    created_at: now,
                    called_at: Some(now),
                    outcome_at: None,
                });
            }
            Ok(stored)
        })
        .await
}

fn reminder_due(
    tenant: &Tenant,
    call: &NewReminderCall<'_>,
    request: &ReminderCallRequest,
    time_zone: &str,
    now: DateTime<Utc>,
) -> v1::ReminderDue {
    v1::ReminderDue {
        reminder_id: call.reminder_id.to_string(),
        appointment_id: call.id.to_string(),
        tenant_id: tenant.id.to_string(),
        channel: v1::Channel::Voice.into(),
        recipient: Some(v1::Recipient {
            name: request.name.clone(),
            phone_e164: request.phone_e164.clone(),
            locale: LOCALE.to_owned(),
            time_zone: time_zone.to_owned(),
            ..v1::Recipient::default()
        }),
        business_name: tenant.name.clone(),
        appointment_start: None,
        location: String::new(),
        due_at: Some(to_timestamp(now)),
        attempt: 1,
        spoken_when: spoken_when(&request.date, &request.time),
        participant: String::new(),
        // The dialect knows one zone, the call's: the business is where its caller is.
        business_time_zone: time_zone.to_owned(),
        ..v1::ReminderDue::default()
    }
}

/// Aborts the tenant's call `id` if it is still `pending`; returns whether it did.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id, reminder_call_id = %id))]
pub async fn abort(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> diesel::QueryResult<bool> {
    queries::transition(connection, tenant_id, id, PENDING, ABORTED).await
}

/// Returns the dialect status an outcome leaves a call in, or `None` for an outcome that
/// says nothing (unspecified).
///
/// An opt-out maps to `no_answer`: the callee asked for no more calls without answering the
/// reminder, and the appointment itself stands; the dialect has no status for it. A final
/// failure maps back to `pending`, where the original leaves a call it could not place (and
/// where `PATCH …/cancel` can abort it).
pub fn status_after(outcome: v1::ReminderOutcomeKind) -> Option<&'static str> {
    use v1::ReminderOutcomeKind as Kind;
    match outcome {
        Kind::Confirmed => Some(CONFIRMED),
        Kind::RescheduleRequested => Some(RESCHEDULE_REQUESTED),
        Kind::Cancelled => Some(CANCELLED),
        Kind::NoAnswer | Kind::Busy | Kind::Machine | Kind::Expired | Kind::OptedOut => {
            Some(NO_ANSWER)
        }
        Kind::Failed => Some(PENDING),
        // SMS progress; reminder calls are voice only.
        Kind::Sent | Kind::Unparsable | Kind::Suppressed | Kind::Unspecified => None,
    }
}

/// Applies `outcome` if its reminder belongs to a reminder call; returns `false` when it
/// does not, so the native appointment logic handles it.
///
/// A call in a final status never changes again, so a late or repeated outcome changes
/// nothing; a later attempt's outcome may replace `no_answer` or `pending`.
pub async fn apply_outcome(
    connection: &mut AsyncPgConnection,
    outcome: &v1::ReminderOutcome,
) -> Result<bool, HandlerError> {
    let Ok(reminder_id) = outcome.reminder_id.parse::<Uuid>() else {
        return Ok(false);
    };
    let Some(call) = queries::find_by_reminder_for_update(connection, reminder_id).await? else {
        return Ok(false);
    };
    let kind = outcome.outcome();
    let Some(status) = status_after(kind) else {
        tracing::warn!(reminder_call_id = %call.id, "outcome without a kind ignored");
        return Ok(true);
    };
    if FINAL_STATUSES.contains(&call.status.as_str()) {
        tracing::debug!(reminder_call_id = %call.id, status = %call.status, outcome = outcome_name(kind), "outcome ignored: the call is final");
        return Ok(true);
    }
    let occurred_at = from_timestamp(outcome.occurred_at.as_ref()).unwrap_or_else(|_| Utc::now());
    let call_uuid = Some(outcome.provider_ref.as_str()).filter(|reference| !reference.is_empty());
    queries::record_outcome(connection, call.id, status, occurred_at, call_uuid).await?;
    tracing::info!(reminder_call_id = %call.id, outcome = outcome_name(kind), status, "reminder call outcome applied");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_when_joins_what_was_given() {
        assert_eq!(spoken_when("Apr 5", "3 PM"), "Apr 5 at 3 PM");
        assert_eq!(spoken_when("Apr 5", ""), "Apr 5");
        assert_eq!(spoken_when(" ", "3 PM"), "3 PM");
        assert_eq!(spoken_when("", ""), "your scheduled time");
    }

    #[test]
    fn every_outcome_maps_to_a_dialect_status() {
        use v1::ReminderOutcomeKind as Kind;
        assert_eq!(status_after(Kind::Confirmed), Some("confirmed"));
        assert_eq!(
            status_after(Kind::RescheduleRequested),
            Some("reschedule_requested")
        );
        assert_eq!(status_after(Kind::Cancelled), Some("cancelled"));
        for kind in [
            Kind::NoAnswer,
            Kind::Busy,
            Kind::Machine,
            Kind::Expired,
            Kind::OptedOut,
        ] {
            assert_eq!(status_after(kind), Some("no_answer"), "{kind:?}");
        }
        assert_eq!(status_after(Kind::Failed), Some("pending"));
        assert_eq!(status_after(Kind::Unspecified), None);
        for status in [status_after(Kind::Confirmed), status_after(Kind::Failed)] {
            assert!(STATUSES.contains(&status.unwrap()));
        }
    }
}
