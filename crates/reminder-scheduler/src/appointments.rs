//! What the scheduler remembers about each appointment: enough to apply appointment events
//! that arrive late or out of order (after redeliveries) without resurrecting reminders.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::appointments;
use crate::jobs::ReminderKind;

/// Whether an appointment still wants reminders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentStatus {
    /// Its reminders fire.
    Active,
    /// Final: no reminder of it fires, and no later event adds one.
    Cancelled,
    /// Final: the customer did not come. Only the no-show message may still fire; no later
    /// event adds a reminder or a follow-up.
    NoShow,
}

impl AppointmentStatus {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    /// Returns the status stored as `name`; the table's CHECK allows no other, so anything
    /// else reads as cancelled (the status that lets nothing fire).
    fn parse(name: &str) -> Self {
        match name {
            "active" => Self::Active,
            "no_show" => Self::NoShow,
            _ => Self::Cancelled,
        }
    }

    /// Returns whether the status is final: no later event adds a reminder.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Active)
    }
}

/// An appointment's row, locked for the rest of the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedAppointment {
    /// Active or cancelled.
    pub status: AppointmentStatus,
    /// Reschedules applied so far.
    pub reschedule_count: i32,
}

/// Returns the appointment's row locked `FOR UPDATE`, creating it as active with `start`
/// first when it is unknown. Events of one appointment handled at once by two instances
/// take turns on this lock.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment_id))]
pub async fn lock_or_create(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
    tenant_id: Uuid,
    start: DateTime<Utc>,
) -> QueryResult<LockedAppointment> {
    diesel::insert_into(appointments::table)
        .values((
            appointments::appointment_id.eq(appointment_id),
            appointments::tenant_id.eq(tenant_id),
            appointments::start.eq(Some(start)),
            appointments::status.eq(AppointmentStatus::Active.as_str()),
        ))
        .on_conflict_do_nothing()
        .execute(connection)
        .await?;
    let (status, reschedule_count): (String, i32) = appointments::table
        .find(appointment_id)
        .select((appointments::status, appointments::reschedule_count))
        .for_update()
        .first(connection)
        .await?;
    let status = AppointmentStatus::parse(&status);
    Ok(LockedAppointment {
        status,
        reschedule_count,
    })
}

/// An appointment's status and start, read under a share lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedAppointment {
    /// Active or cancelled.
    pub status: AppointmentStatus,
    /// When it starts; `None` for a tombstone.
    pub start: Option<DateTime<Utc>>,
}

impl SharedAppointment {
    /// Returns whether the appointment is still active and still starts at `start`, i.e.
    /// neither cancelled nor moved since a job copied `start`.
    pub fn is_active_at(&self, start: DateTime<Utc>) -> bool {
        self.status == AppointmentStatus::Active && self.start == Some(start)
    }

    /// Returns whether a job of `kind` that copied `start` may still get another attempt
    /// (retry or fallback): a reminder or follow-up while the appointment is active and
    /// unmoved, the no-show message while the appointment is a no-show.
    pub fn still_wants(&self, kind: ReminderKind, start: DateTime<Utc>) -> bool {
        match kind {
            ReminderKind::Reminder | ReminderKind::FollowUp => self.is_active_at(start),
            ReminderKind::NoShow => self.status == AppointmentStatus::NoShow,
        }
    }
}

/// Returns the appointment's status and start locked `FOR SHARE` for the rest of the
/// transaction, or `None` when it is unknown. A cancel or reschedule of the appointment
/// (which locks it `FOR UPDATE`) waits for the caller's commit, or the caller waits for
/// theirs and then reads what they wrote.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment_id))]
pub async fn lock_shared(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
) -> QueryResult<Option<SharedAppointment>> {
    let row: Option<(String, Option<DateTime<Utc>>)> = appointments::table
        .find(appointment_id)
        .select((appointments::status, appointments::start))
        .for_share()
        .first(connection)
        .await
        .optional()?;
    Ok(row.map(|(status, start)| SharedAppointment {
        status: AppointmentStatus::parse(&status),
        start,
    }))
}

/// Sets the start of an active appointment and counts one reschedule when `rescheduled`.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment_id, rescheduled))]
pub async fn set_start(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
    start: DateTime<Utc>,
    rescheduled: bool,
) -> QueryResult<()> {
    diesel::update(appointments::table.find(appointment_id))
        .set((
            appointments::start.eq(Some(start)),
            appointments::reschedule_count
                .eq(appointments::reschedule_count + i32::from(rescheduled)),
            appointments::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Marks the appointment cancelled, creating it as a tombstone (no start) when unknown so
/// that a late `appointment.scheduled` finds it cancelled.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment_id))]
pub async fn mark_cancelled(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
    tenant_id: Uuid,
) -> QueryResult<()> {
    diesel::insert_into(appointments::table)
        .values((
            appointments::appointment_id.eq(appointment_id),
            appointments::tenant_id.eq(tenant_id),
            appointments::start.eq(None::<DateTime<Utc>>),
            appointments::status.eq(AppointmentStatus::Cancelled.as_str()),
        ))
        .on_conflict(appointments::appointment_id)
        .do_update()
        .set((
            appointments::status.eq(AppointmentStatus::Cancelled.as_str()),
            appointments::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Marks the locked, active appointment a no-show. The caller holds its row lock
/// ([`lock_or_create`]) and drops its pending jobs in the same transaction.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment_id))]
pub async fn mark_no_show(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
) -> QueryResult<()> {
    diesel::update(appointments::table.find(appointment_id))
        .set((
            appointments::status.eq(AppointmentStatus::NoShow.as_str()),
            appointments::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}
