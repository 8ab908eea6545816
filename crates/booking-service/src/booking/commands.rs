//! Book, move and cancel. Each runs inside the caller's transaction and writes its event
//! through the outbox there.
//!
//! Double booking is refused by Postgres (the `appointments_no_double_booking` exclusion
//! constraint), not by a check here: two requests racing for one slot both pass every check
//! below, and the database lets exactly one of them write.

use attend_events::v1;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use attend_runtime::outbox::{self, RelayWake};
use attend_runtime::pipelined::PipelinedTransaction;

use super::customers::{self, Person, missing_info};
use super::slots::{ProductSchedule, cached_schedule, entity_zone, step_of};
use super::{BookingError, Role, Subject};
use crate::cache::CalendarCache;
use crate::db::appointments::{
    self as queries, AppointmentRecord, CatalogLinks, NewAppointmentRow, NewReminder, ReminderRow,
};
use crate::db::scheduling::{self, ReminderDefault};
use crate::db::schema::{appointments, customers as customer_table};
use crate::domain::appointment::{Channel, NewAppointment, PlannedReminder};
use crate::domain::reminder_policy::{MessageKind, PlanChannel, PlannedMessage};
use crate::domain::slot_id::{SlotHolder, SlotId};
use crate::domain::slots::is_bookable_start;
use crate::events::{self, Business};

/// The constraint that makes double booking impossible.
const NO_DOUBLE_BOOKING: &str = "appointments_no_double_booking";

/// A request to book a slot.
#[derive(Debug, Clone)]
pub struct BookSlot {
    /// The product.
    pub product_id: Uuid,
    /// The appointment type the caller chose; checked against the product when given.
    pub appointment_type_id: Option<Uuid>,
    /// The slot.
    pub slot: SlotId,
    /// The start the caller heard; must be the slot's when given.
    pub start: Option<DateTime<Utc>>,
    /// Who books.
    pub booker: Person,
    /// Who the appointment is for; the booker when `None`.
    pub participant: Option<Person>,
    /// api | voicebot.
    pub source: &'static str,
    /// How the outbox relay learns of the booking's event: `InProcess` only when the
    /// caller wakes the relay after its commit (as `idempotency::run_once` does).
    pub relay_wake: RelayWake,
}

/// A request to move a booking.
#[derive(Debug, Clone, Copy)]
pub struct MoveBooking {
    /// The booking.
    pub appointment_id: Uuid,
    /// The slot the caller believes it is in; checked when given.
    pub old_slot: Option<SlotId>,
    /// Where to move it.
    pub new_slot: SlotId,
    /// The new start the caller heard; must be the new slot's when given.
    pub start: Option<DateTime<Utc>>,
}

/// A request to cancel a booking.
#[derive(Debug, Clone)]
pub struct CancelBooking {
    /// The booking.
    pub appointment_id: Uuid,
    /// The slot the caller believes it is in; checked when given.
    pub slot: Option<SlotId>,
    /// The start the caller believes it has; checked when given.
    pub start: Option<DateTime<Utc>>,
    /// Why, for the event: customer_request, api, reminder_reply.
    pub reason: String,
}

/// A booking as the commands return it.
#[derive(Debug, Clone)]
pub struct BookingView {
    /// Appointment id.
    pub appointment_id: Uuid,
    /// Its slot id (the agent's), when it holds an agent's time.
    pub slot_id: Option<SlotId>,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// scheduled | confirmed | reschedule_requested | cancelled.
    pub status: String,
    /// Catalog links.
    pub catalog: CatalogLinks,
    /// The participant (the appointment's customer).
    pub participant_id: Uuid,
    /// The appointment type's name, e.g. "Massage".
    pub type_name: String,
    /// Zone of the entity, to show times in.
    pub zone: Tz,
}

/// A free-form appointment to book: no agent, the messages its caller planned.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleAppointment<'a> {
    /// The id to give it.
    pub appointment_id: Uuid,
    /// The validated appointment.
    pub appointment: &'a NewAppointment,
    /// Who or what it is with, as free text.
    pub participant: Option<&'a str>,
    /// api | dialect.
    pub source: &'static str,
    /// Its reminders and follow-up (see [`plain_messages`] and `ReminderPolicy::plan`).
    pub messages: &'a [PlannedMessage],
    /// `{metadata.key}` values, a JSON object of strings.
    pub metadata: Option<&'a serde_json::Value>,
    /// The entity and appointment type it was booked under, when the caller named a type.
    pub catalog: CatalogLinks,
    /// `catalog.entity_id`'s row when the caller has already read it (the plan does);
    /// `None` reads it here.
    pub entity: Option<&'a scheduling::EntityRow>,
    /// The customer's given and family names when the caller sent them apart.
    pub names: Option<(&'a str, &'a str)>,
    /// How the outbox relay learns of the event: `InProcess` only when the caller wakes
    /// the relay after its commit (as `idempotency::run_once` does).
    pub relay_wake: RelayWake,
}

/// Returns reminders with the channel's own text for the `reminders` of a request.
pub fn plain_messages(reminders: &[PlannedReminder]) -> Vec<PlannedMessage> {
    reminders
        .iter()
        .map(|reminder| PlannedMessage {
            channel: match reminder.channel {
                Channel::Voice => PlanChannel::Voice,
                Channel::Sms => PlanChannel::Sms,
            },
            kind: MessageKind::Reminder,
            due_at: reminder.due_at,
            template: None,
            fallback_channel: None,
            fallback_template: None,
        })
        .collect()
}

/// Returns the reminder rows, each with a new id, for planned messages.
pub fn new_reminders(messages: &[PlannedMessage]) -> Vec<NewReminder<'_>> {
    messages
        .iter()
        .map(|message| NewReminder {
            id: Uuid::now_v7(),
            channel: message.channel.as_str(),
            due_at: message.due_at,
            kind: message.kind.as_str(),
            template: message.template.as_deref(),
            fallback_channel: message.fallback_channel.map(PlanChannel::as_str),
            fallback_template: message.fallback_template.as_deref(),
        })
        .collect()
}

/// [`schedule`] for a caller that already holds an open transaction on `connection` (the
/// dialects, which write their own rows in it after the appointment).
pub async fn schedule_within(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    tenant_name: &str,
    command: ScheduleAppointment<'_>,
) -> QueryResult<(AppointmentRecord, Vec<ReminderRow>)> {
    schedule(
        &mut PipelinedTransaction::within(connection),
        tenant_id,
        tenant_name,
        command,
    )
    .await
}

/// Books a free-form appointment of the tenant named `tenant_name`: finds or creates its
/// customer, stores it with its reminders and writes `appointment.scheduled` through the
/// outbox, in `transaction`. Returns what was stored. `POST /v1/appointments` books through
/// here, and the `/reminder` and `/events/reminders` dialects through [`schedule_within`].
pub async fn schedule(
    transaction: &mut PipelinedTransaction<'_>,
    tenant_id: Uuid,
    tenant_name: &str,
    command: ScheduleAppointment<'_>,
) -> QueryResult<(AppointmentRecord, Vec<ReminderRow>)> {
    let appointment = command.appointment;
    let reminders = new_reminders(command.messages);
    let mut customer = transaction
        .first_statement(async |connection| {
            queries::find_or_create_booked_customer(
                connection,
                tenant_id,
                &appointment.customer_name,
                &appointment.customer_phone,
                &appointment.customer_locale,
            )
            .await
        })
        .await?;
    let connection = transaction.connection().await?;
    let customer_id = customer.id;
    if let Some((first_name, last_name)) = command.names {
        queries::set_customer_names(connection, customer_id, first_name, last_name).await?;
        first_name.clone_into(&mut customer.first_name);
        last_name.clone_into(&mut customer.last_name);
    }
    let row = NewAppointmentRow {
        id: command.appointment_id,
        tenant_id,
        customer_id,
        starts_at: appointment.start,
        ends_at: appointment.end,
        time_zone: appointment.time_zone.name(),
        location: appointment.location.as_deref(),
        participant: command.participant,
        catalog: command.catalog,
        source: command.source,
        metadata: command.metadata,
    };
    let business = match command.entity {
        Some(entity) => FreeFormBusiness {
            entity: Some(entity.clone()),
        },
        None => business_of(connection, tenant_id, command.catalog.entity_id).await?,
    };
    // Postgres keeps microseconds: the answer and the event show what is stored.
    let booked_at = Utc::now().trunc_subsecs(6);
    let stored = AppointmentRecord {
        id: command.appointment_id,
        tenant_id,
        starts_at: appointment.start.trunc_subsecs(6),
        ends_at: appointment.end.trunc_subsecs(6),
        time_zone: appointment.time_zone.name().to_owned(),
        location: appointment.location.clone(),
        participant: command.participant.map(str::to_owned),
        status: queries::NEW_STATUS.to_owned(),
        status_changed_at: booked_at,
        created_at: booked_at,
        customer_id,
        customer_name: customer.name,
        customer_phone: Some(appointment.customer_phone.clone()),
        customer_locale: appointment.customer_locale.clone(),
        catalog: command.catalog,
        metadata: command
            .metadata
            .cloned()
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
        customer_first_name: customer.first_name,
        customer_last_name: customer.last_name,
    };
    let mut stored_reminders: Vec<ReminderRow> = reminders
        .iter()
        .map(|reminder| {
            let mut row = reminder.as_scheduled_row();
            row.due_at = row.due_at.trunc_subsecs(6);
            row
        })
        .collect();
    // reminders_of's order.
    stored_reminders.sort_by_key(|reminder| (reminder.due_at, reminder.id));
    let event = events::appointment_scheduled(
        &stored,
        business.as_business(tenant_name),
        &stored_reminders,
    );
    write_new_appointment(
        connection,
        NewAppointmentWrites {
            appointment_id: command.appointment_id,
            tenant_id,
            row: Some((&row, booked_at)),
            reminders: &reminders,
            event: &event,
            relay_wake: command.relay_wake,
        },
    )
    .await
    .map_err(diesel::result::Error::from)?;
    Ok((stored, stored_reminders))
}

/// The writes that make a new appointment, all known before the first is sent.
struct NewAppointmentWrites<'a> {
    /// The appointment's id.
    appointment_id: Uuid,
    /// Its tenant.
    tenant_id: Uuid,
    /// The appointment row and when it was booked; `None` when it is already written (a
    /// slot booking that had to try its agents one by one).
    row: Option<(&'a NewAppointmentRow<'a>, DateTime<Utc>)>,
    /// Its reminders.
    reminders: &'a [NewReminder<'a>],
    /// `appointment.scheduled`.
    event: &'a v1::AppointmentScheduled,
    /// See [`ScheduleAppointment::relay_wake`].
    relay_wake: RelayWake,
}

/// Sends the appointment, reminder and outbox inserts of a new appointment together: nothing
/// in one depends on another's answer (diesel-async pipelines futures polled together on
/// one connection), in the caller's transaction. The first failure in that order is
/// returned: when the appointment insert fails, the later ones fail only because the
/// transaction is aborted.
///
/// Postgres runs them in the order their executions are issued, and diesel-async issues a
/// statement not yet prepared on the connection only once its prepare has answered, so which
/// runs first depends on what the connection has prepared before. The reminders need the
/// appointment row, a foreign key that Postgres checks at `COMMIT` (migration
/// `2026-11-26-000001_reminder_fk_at_commit`) for exactly this: every insert here is
/// prepared once per connection, and they all go out in one round trip
/// (`tests/api/slot_bookings.rs`,
/// `a_booking_after_a_move_on_a_fresh_connection_writes_its_reminder_after_its_appointment`,
/// sets up a connection that runs the reminder insert first).
async fn write_new_appointment(
    connection: &AsyncPgConnection,
    writes: NewAppointmentWrites<'_>,
) -> Result<(), NewAppointmentFailure> {
    let appointment = async {
        match writes.row {
            Some((row, booked_at)) => queries::insert_appointment(connection, row, booked_at).await,
            None => Ok(()),
        }
    };
    let reminders = queries::insert_reminders(
        connection,
        writes.appointment_id,
        writes.tenant_id,
        writes.reminders,
    );
    let event = outbox::enqueue_with(
        connection,
        Some(writes.tenant_id),
        writes.event,
        writes.relay_wake,
    );
    let (appointment, reminders, event) = futures_util::join!(appointment, reminders, event);
    appointment.map_err(NewAppointmentFailure::Appointment)?;
    reminders.map_err(NewAppointmentFailure::Later)?;
    event.map_err(NewAppointmentFailure::Later)?;
    Ok(())
}

/// The first of a new appointment's writes that failed.
#[derive(Debug)]
enum NewAppointmentFailure {
    /// The appointment row: for a slot booking, the slot may have been taken meanwhile.
    Appointment(diesel::result::Error),
    /// A reminder or the event.
    Later(diesel::result::Error),
}

impl From<NewAppointmentFailure> for diesel::result::Error {
    fn from(failure: NewAppointmentFailure) -> Self {
        match failure {
            NewAppointmentFailure::Appointment(error) | NewAppointmentFailure::Later(error) => {
                error
            }
        }
    }
}

/// The business named in a free-form appointment's events: the entity of its type when it
/// has one, else the tenant.
struct FreeFormBusiness {
    entity: Option<scheduling::EntityRow>,
}

impl FreeFormBusiness {
    fn as_business<'a>(&'a self, tenant_name: &'a str) -> Business<'a> {
        match &self.entity {
            Some(entity) => Business {
                name: &entity.name,
                time_zone: Some(&entity.time_zone),
                agent_name: None,
            },
            None => Business::free_form(tenant_name),
        }
    }
}

async fn business_of(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Option<Uuid>,
) -> QueryResult<FreeFormBusiness> {
    let entity = match entity_id {
        Some(entity_id) => scheduling::entity(connection, tenant_id, entity_id).await?,
        None => None,
    };
    Ok(FreeFormBusiness { entity })
}

/// Books `command.slot` at `now`. The product's schedule comes from `cache` when it holds
/// a current one; the slot itself is always decided by the database.
pub async fn book(
    transaction: &mut PipelinedTransaction<'_>,
    tenant_id: Uuid,
    command: BookSlot,
    now: DateTime<Utc>,
    cache: Option<&CalendarCache>,
) -> Result<BookingView, BookingError> {
    // Read before BEGIN: a refused request then costs no transaction at all.
    let schedule = cached_schedule(
        transaction.connection_for_reads()?,
        tenant_id,
        command.product_id,
        now,
        cache,
    )
    .await?;
    let context = &schedule.context;
    if command
        .appointment_type_id
        .is_some_and(|expected| expected != context.appointment_type.id)
    {
        return Err(BookingError::ProductNotOfType);
    }
    if command
        .start
        .is_some_and(|start| start != command.slot.start)
    {
        return Err(BookingError::StartMismatch);
    }
    let participant = command.participant.as_ref().unwrap_or(&command.booker);
    let mut missing = missing_info(Role::Booker, &command.booker, &context.product.booker_info);
    if let Some(participant) = &command.participant {
        missing.extend(missing_info(
            Role::Participant,
            participant,
            &context.product.participant_info,
        ));
    } else {
        // The booker books for themself: what the participant must give, they give.
        for lacking in missing_info(
            Role::Booker,
            &command.booker,
            &context.product.participant_info,
        ) {
            if !missing.contains(&lacking) {
                missing.push(lacking);
            }
        }
    }
    if !missing.is_empty() {
        return Err(BookingError::MissingInfo(missing));
    }

    let candidates = bookable_agents(
        transaction.connection_for_reads()?,
        &schedule,
        command.slot,
        now,
    )
    .await?;
    let locale = &context.entity.locale;
    // The booker's statement goes out with BEGIN.
    let booker = transaction
        .first_statement(async |connection| {
            customers::resolve(connection, tenant_id, &command.booker, locale).await
        })
        .await?;
    let connection = transaction.connection().await?;
    let participant_customer = match &command.participant {
        Some(participant) => customers::resolve(connection, tenant_id, participant, locale).await?,
        None => booker.clone(),
    };
    let (booker_id, participant_id) = (booker.id, participant_customer.id);

    let start = command.slot.start;
    let end = start + Duration::minutes(i64::from(context.product.duration_minutes));
    let zone = entity_zone(context);
    let appointment_id = Uuid::now_v7();
    let row = NewAppointmentRow {
        id: appointment_id,
        tenant_id,
        customer_id: participant_id,
        starts_at: start,
        ends_at: end,
        time_zone: zone.name(),
        location: None,
        participant: None,
        catalog: CatalogLinks {
            entity_id: Some(context.entity.id),
            appointment_type_id: Some(context.appointment_type.id),
            product_id: Some(context.product.id),
            agent_id: None,
            booker_id: (booker_id != participant_id).then_some(booker_id),
        },
        source: command.source,
        metadata: None,
    };
    // Postgres keeps microseconds: the answer and the event show what is stored.
    let booked_at = now.trunc_subsecs(6);
    // One candidate: the constraint alone decides, and the insert goes out with the rest.
    let (agent_id, pending_row) = match candidates.as_slice() {
        [only] => (
            *only,
            Some(NewAppointmentRow {
                catalog: CatalogLinks {
                    agent_id: Some(*only),
                    ..row.catalog
                },
                ..row
            }),
        ),
        _ => {
            let agent_id = write_with_first_free_agent(
                connection,
                candidates,
                AgentWrite::Insert(row),
                booked_at,
            )
            .await?;
            (agent_id, None)
        }
    };
    // The participant's phone is called; a participant without one is reached through the
    // booker's.
    let has_phone = participant.phone.is_some() || command.booker.phone.is_some();
    let plan = if has_phone {
        plan_for_booking(&schedule, start, end, &participant_customer.locale, now)
    } else {
        Vec::new()
    };
    let mut participant_phone = participant_customer.phone.clone();
    if participant_phone.is_none() && command.booker.phone.is_some() {
        diesel::update(customer_table::table.find(participant_id))
            .filter(customer_table::phone_e164.is_null())
            .set(customer_table::phone_e164.eq(&command.booker.phone))
            .execute(connection)
            .await?;
        participant_phone.clone_from(&command.booker.phone);
    }
    let reminders = new_reminders(&plan);
    // The event is built from what is written rather than read back: every value is known
    // here, and two reads per booking were a tenth of its statements.
    let catalog = CatalogLinks {
        agent_id: Some(agent_id),
        ..row.catalog
    };
    let stored = AppointmentRecord {
        id: appointment_id,
        tenant_id,
        starts_at: start,
        ends_at: end,
        time_zone: zone.name().to_owned(),
        location: None,
        participant: None,
        status: queries::NEW_STATUS.to_owned(),
        status_changed_at: booked_at,
        created_at: booked_at,
        customer_id: participant_id,
        customer_name: participant_customer.name,
        customer_phone: participant_phone,
        customer_locale: participant_customer.locale,
        catalog,
        metadata: serde_json::Value::Object(serde_json::Map::new()),
        customer_first_name: participant.first_name.clone().unwrap_or_default(),
        customer_last_name: participant.last_name.clone().unwrap_or_default(),
    };
    let reminder_plans: Vec<ReminderRow> = reminders
        .iter()
        .map(NewReminder::as_scheduled_row)
        .collect();
    // The agent's name comes with the cached schedule, so naming them costs no statement.
    let business = Business {
        name: &context.entity.name,
        time_zone: Some(zone.name()),
        agent_name: schedule.agent_names.get(&agent_id).map(String::as_str),
    };
    let event = events::appointment_scheduled(&stored, business, &reminder_plans);
    write_new_appointment(
        connection,
        NewAppointmentWrites {
            appointment_id,
            tenant_id,
            row: pending_row.as_ref().map(|row| (row, booked_at)),
            reminders: &reminders,
            event: &event,
            relay_wake: command.relay_wake,
        },
    )
    .await
    .map_err(|failure| match failure {
        NewAppointmentFailure::Appointment(error) if is_double_booking(&error) => {
            BookingError::SlotTaken
        }
        failure => diesel::result::Error::from(failure).into(),
    })?;
    tracing::info!(%appointment_id, %agent_id, reminders = reminders.len(), "slot booked");
    Ok(BookingView {
        appointment_id,
        slot_id: Some(SlotId {
            holder: SlotHolder::Agent(agent_id),
            start,
        }),
        start,
        end,
        status: stored.status,
        catalog,
        participant_id,
        type_name: context.appointment_type.name.clone(),
        zone,
    })
}

/// Moves a booking to `command.new_slot` at `now`; the old time is freed only if the new
/// one is taken, because both happen in one update of one row.
pub async fn move_booking(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    command: MoveBooking,
    now: DateTime<Utc>,
    cache: Option<&CalendarCache>,
) -> Result<BookingView, BookingError> {
    let current = lock_booking(connection, tenant_id, command.appointment_id).await?;
    if current.status == "cancelled" {
        return Err(BookingError::BookingCancelled);
    }
    if current.starts_at <= now {
        return Err(BookingError::BookingStarted);
    }
    if let Some(old_slot) = command.old_slot
        && !slot_matches(old_slot, &current)
    {
        return Err(BookingError::OldSlotMismatch);
    }
    if command
        .start
        .is_some_and(|start| start != command.new_slot.start)
    {
        return Err(BookingError::StartMismatch);
    }
    let Some(product_id) = current.catalog.product_id else {
        return Err(BookingError::NotSlotBooking);
    };
    let schedule = cached_schedule(connection, tenant_id, product_id, now, cache).await?;
    let context = &schedule.context;
    let candidates = bookable_agents(connection, &schedule, command.new_slot, now).await?;

    let start = command.new_slot.start;
    let end = start + Duration::minutes(i64::from(context.product.duration_minutes));
    let agent_id = write_with_first_free_agent(
        connection,
        candidates,
        AgentWrite::Move {
            appointment_id: command.appointment_id,
            start,
            end,
        },
        now,
    )
    .await?;

    queries::cancel_pending_reminders(connection, command.appointment_id).await?;
    let stored = queries::find_appointment(connection, tenant_id, command.appointment_id)
        .await?
        .ok_or(diesel::result::Error::NotFound)?;
    let plan = plan_for_booking(&schedule, start, end, &stored.customer_locale, now);
    queries::insert_reminders(
        connection,
        command.appointment_id,
        tenant_id,
        &new_reminders(&plan),
    )
    .await?;
    let pending: Vec<_> = queries::reminders_of(connection, command.appointment_id)
        .await?
        .into_iter()
        .filter(|reminder| reminder.state == "scheduled")
        .collect();
    let zone = entity_zone(context);
    let business = Business {
        name: &context.entity.name,
        time_zone: Some(zone.name()),
        agent_name: schedule.agent_names.get(&agent_id).map(String::as_str),
    };
    let event = events::appointment_rescheduled(&stored, business, &pending, current.starts_at);
    outbox::enqueue(connection, Some(tenant_id), &event).await?;
    tracing::info!(appointment_id = %command.appointment_id, %agent_id, "booking moved");
    Ok(BookingView {
        appointment_id: command.appointment_id,
        slot_id: Some(SlotId {
            holder: SlotHolder::Agent(agent_id),
            start,
        }),
        start,
        end,
        status: stored.status,
        catalog: stored.catalog,
        participant_id: stored.customer_id,
        zone,
        type_name: context.appointment_type.name.clone(),
    })
}

/// Cancels a booking at `now`; cancelling a cancelled booking answers it unchanged.
pub async fn cancel(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    command: CancelBooking,
    now: DateTime<Utc>,
) -> Result<BookingView, BookingError> {
    let current = lock_booking(connection, tenant_id, command.appointment_id).await?;
    if command
        .slot
        .is_some_and(|slot| !slot_matches(slot, &current))
        || command
            .start
            .is_some_and(|start| start != current.starts_at)
    {
        return Err(BookingError::OldSlotMismatch);
    }
    let mut status = current.status.clone();
    if current.status != "cancelled" {
        if current.starts_at <= now {
            return Err(BookingError::BookingStarted);
        }
        queries::transition_status(
            connection,
            command.appointment_id,
            &["scheduled", "confirmed", "reschedule_requested"],
            "cancelled",
        )
        .await?;
        queries::cancel_pending_reminders(connection, command.appointment_id).await?;
        let event =
            events::appointment_cancelled(command.appointment_id, tenant_id, &command.reason, now);
        outbox::enqueue(connection, Some(tenant_id), &event).await?;
        status = "cancelled".to_owned();
        tracing::info!(appointment_id = %command.appointment_id, "booking cancelled");
    }
    let type_name = match current.catalog.appointment_type_id {
        Some(type_id) => scheduling::appointment_type(connection, tenant_id, type_id)
            .await?
            .map(|found| found.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(BookingView {
        appointment_id: command.appointment_id,
        slot_id: current.catalog.agent_id.map(|agent_id| SlotId {
            holder: SlotHolder::Agent(agent_id),
            start: current.starts_at,
        }),
        start: current.starts_at,
        end: current.ends_at,
        status,
        catalog: current.catalog,
        participant_id: current.customer_id,
        type_name,
        zone: current.time_zone.parse().unwrap_or(Tz::UTC),
    })
}

/// A new time or plan for a free-form appointment.
#[derive(Debug, Clone, Copy)]
pub struct ReplanAppointment<'a> {
    /// The appointment.
    pub appointment_id: Uuid,
    /// The new start (may be the old one).
    pub start: DateTime<Utc>,
    /// The new end.
    pub end: DateTime<Utc>,
    /// The recipient's zone.
    pub time_zone: Tz,
    /// The new plan: it replaces every reminder that has not gone out.
    pub messages: &'a [PlannedMessage],
    /// New `{metadata.key}` values.
    pub metadata: &'a serde_json::Value,
    /// The entity and type it now belongs to.
    pub catalog: CatalogLinks,
}

/// Moves a free-form appointment and replaces its pending reminders with `command.messages`,
/// writing `appointment.rescheduled` in the caller's transaction. A due time already past
/// fires at once while the appointment is ahead. A new start resets the status to
/// `scheduled` (the customer confirmed the old time, not this one).
pub async fn replan(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    tenant_name: &str,
    command: ReplanAppointment<'_>,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    let current = lock_booking(connection, tenant_id, command.appointment_id).await?;
    match current.status.as_str() {
        "cancelled" => return Err(BookingError::BookingCancelled),
        "no_show" => return Err(BookingError::NoShow),
        _ if current.starts_at <= now => return Err(BookingError::BookingStarted),
        _ => {}
    }
    if current.catalog.product_id.is_some() {
        return Err(BookingError::NotSlotBooking);
    }
    let moved = current.starts_at != command.start;
    let mut status = current.status.clone();
    if moved {
        status = "scheduled".to_owned();
    }
    diesel::update(appointments::table.find(command.appointment_id))
        .set((
            appointments::starts_at.eq(command.start),
            appointments::ends_at.eq(command.end),
            appointments::time_zone.eq(command.time_zone.name()),
            appointments::metadata.eq(command.metadata),
            appointments::entity_id.eq(command.catalog.entity_id),
            appointments::appointment_type_id.eq(command.catalog.appointment_type_id),
            appointments::status.eq(&status),
            appointments::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    if moved && current.status != status {
        diesel::update(appointments::table.find(command.appointment_id))
            .set(appointments::status_changed_at.eq(diesel::dsl::now))
            .execute(connection)
            .await?;
    }
    queries::cancel_pending_reminders(connection, command.appointment_id).await?;
    queries::insert_reminders(
        connection,
        command.appointment_id,
        tenant_id,
        &new_reminders(command.messages),
    )
    .await?;
    let stored = queries::find_appointment(connection, tenant_id, command.appointment_id)
        .await?
        .ok_or(diesel::result::Error::NotFound)?;
    let pending: Vec<_> = queries::reminders_of(connection, command.appointment_id)
        .await?
        .into_iter()
        .filter(|reminder| reminder.state == "scheduled")
        .collect();
    let business = business_of(connection, tenant_id, command.catalog.entity_id).await?;
    let event = events::appointment_rescheduled(
        &stored,
        business.as_business(tenant_name),
        &pending,
        current.starts_at,
    );
    outbox::enqueue(connection, Some(tenant_id), &event).await?;
    tracing::info!(appointment_id = %command.appointment_id, moved, reminders = pending.len(), "appointment replanned");
    Ok(())
}

/// Marks an appointment a no-show at `now`: its pending reminders and follow-up are dropped,
/// and the no-show message of its type's policy (SMS, the built-in text when the type has
/// none) is planned now; `appointment.no_show` carries both to the scheduler in the same
/// transaction. Recording it again changes nothing.
pub async fn record_no_show(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    tenant_name: &str,
    appointment_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    let current = lock_booking(connection, tenant_id, appointment_id).await?;
    match current.status.as_str() {
        "no_show" => return Ok(()),
        "cancelled" => return Err(BookingError::BookingCancelled),
        _ if current.starts_at > now => return Err(BookingError::NotStarted),
        _ => {}
    }
    queries::transition_status(
        connection,
        appointment_id,
        &["scheduled", "confirmed", "reschedule_requested"],
        "no_show",
    )
    .await?;
    diesel::update(appointments::table.find(appointment_id))
        .set(appointments::no_show_at.eq(now))
        .execute(connection)
        .await?;
    queries::cancel_pending_reminders(connection, appointment_id).await?;
    let stored = queries::find_appointment(connection, tenant_id, appointment_id)
        .await?
        .ok_or(diesel::result::Error::NotFound)?;
    let policy = match current.catalog.appointment_type_id {
        Some(type_id) => crate::db::reminder_policies::find(connection, type_id)
            .await?
            .map(|(policy, _)| policy),
        None => None,
    }
    .unwrap_or_default();
    let message = policy
        .no_show_message(now, &stored.customer_locale)
        .filter(|_| stored.customer_phone.is_some());
    let row = match &message {
        Some(message) => {
            let reminders = new_reminders(std::slice::from_ref(message));
            queries::insert_reminders(connection, appointment_id, tenant_id, &reminders).await?;
            reminders.iter().map(NewReminder::as_scheduled_row).next()
        }
        None => None,
    };
    let business = business_of(connection, tenant_id, current.catalog.entity_id).await?;
    let event = events::appointment_no_show(
        &stored,
        business.as_business(tenant_name),
        row.as_ref(),
        now,
    );
    outbox::enqueue(connection, Some(tenant_id), &event).await?;
    tracing::info!(%appointment_id, message = row.is_some(), "no-show recorded");
    Ok(())
}

/// The parts of a booking the commands check, read under a row lock.
struct LockedBooking {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    status: String,
    time_zone: String,
    customer_id: Uuid,
    catalog: CatalogLinks,
}

async fn lock_booking(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    appointment_id: Uuid,
) -> Result<LockedBooking, BookingError> {
    type Locked = (
        DateTime<Utc>,
        DateTime<Utc>,
        String,
        String,
        Uuid,
        CatalogLinks,
    );
    let found: Option<Locked> = appointments::table
        .filter(appointments::id.eq(appointment_id))
        .filter(appointments::tenant_id.eq(tenant_id))
        .select((
            appointments::starts_at,
            appointments::ends_at,
            appointments::status,
            appointments::time_zone,
            appointments::customer_id,
            (
                appointments::entity_id,
                appointments::appointment_type_id,
                appointments::product_id,
                appointments::agent_id,
                appointments::booker_id,
            ),
        ))
        .for_update()
        .first(connection)
        .await
        .optional()?;
    let (starts_at, ends_at, status, time_zone, customer_id, catalog) =
        found.ok_or(BookingError::NotFound(Subject::Booking))?;
    Ok(LockedBooking {
        starts_at,
        ends_at,
        status,
        time_zone,
        customer_id,
        catalog,
    })
}

fn slot_matches(slot: SlotId, booking: &LockedBooking) -> bool {
    let same_holder = match slot.holder {
        SlotHolder::Agent(agent_id) => booking.catalog.agent_id == Some(agent_id),
        SlotHolder::AnyAgentOf(type_id) => booking.catalog.appointment_type_id == Some(type_id),
    };
    same_holder && slot.start == booking.starts_at
}

/// Returns the agents who could take `slot` for the product now, in the order to try them.
async fn bookable_agents(
    connection: &mut AsyncPgConnection,
    schedule: &ProductSchedule,
    slot: SlotId,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, BookingError> {
    let context = &schedule.context;
    let type_id = context.appointment_type.id;
    let only_agent = match slot.holder {
        SlotHolder::Agent(agent_id) => Some(agent_id),
        SlotHolder::AnyAgentOf(slot_type) if slot_type == type_id => None,
        SlotHolder::AnyAgentOf(_) => return Err(BookingError::SlotOfOtherType),
    };
    if slot.start <= now {
        return Err(BookingError::SlotUnavailable("it is in the past"));
    }
    let agent_ids: Vec<Uuid> = match only_agent {
        Some(agent_id) if schedule.agent_ids.contains(&agent_id) => vec![agent_id],
        Some(_) => return Err(BookingError::AgentNotServingType),
        None if schedule.agent_ids.is_empty() => {
            return Err(BookingError::SlotUnavailable(
                "no agent serves this appointment type",
            ));
        }
        None => schedule.agent_ids.clone(),
    };
    let zone = entity_zone(context);
    let duration = Duration::minutes(i64::from(context.product.duration_minutes));
    let step = step_of(context);
    let working: Vec<Uuid> = agent_ids
        .into_iter()
        .filter(|agent_id| {
            schedule.calendars.get(agent_id).is_some_and(|calendar| {
                is_bookable_start(calendar, zone, slot.start, duration, step)
            })
        })
        .collect();
    if working.is_empty() {
        return Err(BookingError::SlotUnavailable(
            "it is outside the agent's working hours",
        ));
    }
    if working.len() == 1 {
        // One candidate: the constraint alone decides, no need to look at its bookings.
        return Ok(working);
    }
    // Agents already busy then are tried last: the constraint would refuse them, and each
    // refusal costs a savepoint.
    let busy = scheduling::busy(connection, &working, slot.start, slot.start + duration).await?;
    let mut ordered: Vec<(bool, Uuid)> = working
        .into_iter()
        .map(|agent_id| {
            let taken = busy
                .iter()
                .any(|(busy_agent, _, _)| *busy_agent == agent_id);
            (taken, agent_id)
        })
        .collect();
    ordered.sort();
    Ok(ordered.into_iter().map(|(_, agent_id)| agent_id).collect())
}

/// Returns the messages of a slot booking from `start` to `end`: the type's policy when it
/// has one, else the entity's default reminders. Reminders already due are left out: a
/// reminder minutes after booking by phone would only annoy.
fn plan_for_booking(
    schedule: &ProductSchedule,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    locale: &str,
    now: DateTime<Utc>,
) -> Vec<PlannedMessage> {
    let zone = entity_zone(&schedule.context);
    let planned = match &schedule.policy {
        Some(policy) => policy.plan(start, end, zone, locale),
        None => entity_default_messages(&schedule.reminder_defaults, start),
    };
    planned
        .into_iter()
        .filter(|message| message.due_at > now)
        .collect()
}

/// Returns the entity's default reminders for an appointment at `start`. They were stored as
/// elapsed seconds, so they stay elapsed time (see docs/reminder-policies.md).
fn entity_default_messages(
    defaults: &[ReminderDefault],
    start: DateTime<Utc>,
) -> Vec<PlannedMessage> {
    defaults
        .iter()
        .filter_map(|default| {
            Some(PlannedMessage {
                channel: PlanChannel::parse(default.channel)?,
                kind: MessageKind::Reminder,
                due_at: start - default.offset,
                template: None,
                fallback_channel: None,
                fallback_template: None,
            })
        })
        .collect()
}

/// What to write for the agent who gets the slot.
#[derive(Debug, Clone, Copy)]
enum AgentWrite<'a> {
    /// A new appointment (its `agent_id` is set per attempt).
    Insert(NewAppointmentRow<'a>),
    /// An existing appointment moved to a new time.
    Move {
        appointment_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

/// Writes `write` for the first of `candidates` the constraint lets through; returns that
/// agent. With several candidates each attempt is a savepoint, so losing the race for one
/// agent leaves the transaction usable for the next; with one there is nothing to fall back
/// to, and the savepoint's two round trips are skipped.
async fn write_with_first_free_agent(
    connection: &mut AsyncPgConnection,
    candidates: Vec<Uuid>,
    write: AgentWrite<'_>,
    now: DateTime<Utc>,
) -> Result<Uuid, BookingError> {
    let only_one = candidates.len() == 1;
    for agent_id in candidates {
        let attempt = if only_one {
            apply_agent_write(connection, write, agent_id, now).await
        } else {
            connection
                .transaction::<_, diesel::result::Error, _>(async |connection| {
                    apply_agent_write(connection, write, agent_id, now).await
                })
                .await
        };
        match attempt {
            Ok(()) => return Ok(agent_id),
            Err(error) if is_double_booking(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(BookingError::SlotTaken)
}

async fn apply_agent_write(
    connection: &mut AsyncPgConnection,
    write: AgentWrite<'_>,
    agent_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    match write {
        AgentWrite::Insert(mut row) => {
            row.catalog.agent_id = Some(agent_id);
            queries::insert_appointment(connection, &row, now).await
        }
        AgentWrite::Move {
            appointment_id,
            start,
            end,
        } => {
            diesel::update(appointments::table.find(appointment_id))
                .set((
                    appointments::agent_id.eq(agent_id),
                    appointments::starts_at.eq(start),
                    appointments::ends_at.eq(end),
                    // A new time is not confirmed yet.
                    appointments::status.eq("scheduled"),
                    appointments::status_changed_at.eq(diesel::dsl::now),
                    appointments::updated_at.eq(diesel::dsl::now),
                ))
                .execute(connection)
                .await
                .map(|_| ())
        }
    }
}

/// Returns whether a write of an agent's time failed because another booking holds or is
/// taking that time: the exclusion constraint refused it, or its check waited on another
/// booking of the same time that was waiting on this one. Two bookings whose index entries
/// go in before either checks wait on each other, and Postgres ends one of them with a
/// deadlock ("while checking exclusion constraint"); the other keeps the time. Nothing else
/// an appointment write waits on can close such a cycle. Seen in the fifty-callers test;
/// Postgres reports the deadlock under no constraint name, hence the message.
fn is_double_booking(error: &diesel::result::Error) -> bool {
    let refused = matches!(
        error,
        diesel::result::Error::DatabaseError(_, info)
            if info.constraint_name() == Some(NO_DOUBLE_BOOKING)
                || info.message().contains(NO_DOUBLE_BOOKING)
    );
    refused || attend_runtime::db::is_deadlock(error)
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_refused_or_deadlocked_write_of_an_agents_time_is_a_taken_slot() {
        assert!(is_double_booking(&database_error(
            DatabaseErrorKind::ExclusionViolation,
            "conflicting key value violates exclusion constraint \"appointments_no_double_booking\"",
        )));
        assert!(is_double_booking(&database_error(
            DatabaseErrorKind::Unknown,
            "deadlock detected",
        )));
        assert!(!is_double_booking(&database_error(
            DatabaseErrorKind::ForeignKeyViolation,
            "insert or update on table \"appointments\" violates foreign key constraint",
        )));
        assert!(!is_double_booking(&Error::NotFound));
    }
}
