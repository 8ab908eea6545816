//! Appointments, their customers and their reminders.

use attend_runtime::prepared::PreparedSql;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{appointment_reminders, appointments, customers};
use crate::domain::names;

/// An appointment row joined with its customer.
#[derive(Debug, Clone, Queryable)]
pub struct AppointmentRecord {
    /// Appointment id.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Start instant.
    pub starts_at: DateTime<Utc>,
    /// End instant.
    pub ends_at: DateTime<Utc>,
    /// IANA zone of the customer.
    pub time_zone: String,
    /// Free-text location.
    pub location: Option<String>,
    /// Who or what it is with, as free text (the `/reminder` dialect's `participant`);
    /// `None` for slot bookings, whose agent is the participant.
    pub participant: Option<String>,
    /// scheduled | confirmed | reschedule_requested | cancelled.
    pub status: String,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// When it was booked.
    pub created_at: DateTime<Utc>,
    /// Customer id.
    pub customer_id: Uuid,
    /// Customer name.
    pub customer_name: String,
    /// Customer phone, E.164, when known.
    pub customer_phone: Option<String>,
    /// Customer locale.
    pub customer_locale: String,
    /// The catalog the appointment was booked from, for slot bookings.
    pub catalog: CatalogLinks,
    /// The integrator's values for `{metadata.key}` (a JSON object of strings).
    pub metadata: serde_json::Value,
    /// The customer's given name, possibly empty.
    pub customer_first_name: String,
    /// The customer's family name, possibly empty.
    pub customer_last_name: String,
}

/// Where a slot booking sits in the catalog; all `None` for free-form appointments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Queryable)]
pub struct CatalogLinks {
    /// Business entity.
    pub entity_id: Option<Uuid>,
    /// Appointment type.
    pub appointment_type_id: Option<Uuid>,
    /// Product.
    pub product_id: Option<Uuid>,
    /// Agent whose time it holds.
    pub agent_id: Option<Uuid>,
    /// Who booked, when not the participant.
    pub booker_id: Option<Uuid>,
}

/// A reminder row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = appointment_reminders, check_for_backend(diesel::pg::Pg))]
pub struct ReminderRow {
    /// Reminder id.
    pub id: Uuid,
    /// voice | sms.
    pub channel: String,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// scheduled | dispatched | completed | cancelled.
    pub state: String,
    /// How it ended, once it has.
    pub outcome: Option<String>,
    /// Detail of the outcome.
    pub outcome_detail: Option<String>,
    /// When it ended.
    pub outcome_at: Option<DateTime<Utc>>,
    /// reminder | follow_up | no_show.
    pub kind: String,
    /// The tenant's text chosen for it; `None` for the channel's own.
    pub template: Option<String>,
    /// Where a voice reminder falls back to once unanswered.
    pub fallback_channel: Option<String>,
    /// The fallback's text.
    pub fallback_template: Option<String>,
}

/// A reminder to insert.
#[derive(Debug, Clone, Copy)]
pub struct NewReminder<'a> {
    /// Its id, the key every service uses.
    pub id: Uuid,
    /// voice | sms.
    pub channel: &'a str,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// reminder | follow_up | no_show.
    pub kind: &'a str,
    /// The tenant's text; `None` for the channel's own.
    pub template: Option<&'a str>,
    /// The fallback channel of a voice reminder.
    pub fallback_channel: Option<&'a str>,
    /// The fallback's text.
    pub fallback_template: Option<&'a str>,
}

impl<'a> NewReminder<'a> {
    /// A reminder before the start with the channel's own text and no fallback.
    pub fn plain(id: Uuid, channel: &'a str, due_at: DateTime<Utc>) -> Self {
        Self {
            id,
            channel,
            due_at,
            kind: "reminder",
            template: None,
            fallback_channel: None,
            fallback_template: None,
        }
    }

    /// Returns the row as [`reminders_of`] would read it back before it went out.
    pub fn as_scheduled_row(&self) -> ReminderRow {
        ReminderRow {
            id: self.id,
            channel: self.channel.to_owned(),
            due_at: self.due_at,
            state: "scheduled".to_owned(),
            outcome: None,
            outcome_detail: None,
            outcome_at: None,
            kind: self.kind.to_owned(),
            template: self.template.map(str::to_owned),
            fallback_channel: self.fallback_channel.map(str::to_owned),
            fallback_template: self.fallback_template.map(str::to_owned),
        }
    }
}

/// A new appointment to insert.
#[derive(Debug, Clone, Copy)]
pub struct NewAppointmentRow<'a> {
    /// Its id.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Customer id.
    pub customer_id: Uuid,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// IANA zone name.
    pub time_zone: &'a str,
    /// Location.
    pub location: Option<&'a str>,
    /// Who or what it is with, as free text.
    pub participant: Option<&'a str>,
    /// Catalog links of a slot booking.
    pub catalog: CatalogLinks,
    /// api | voicebot | dialect.
    pub source: &'a str,
    /// `{metadata.key}` values, a JSON object of strings.
    pub metadata: Option<&'a serde_json::Value>,
}

/// A customer as found or created for a booking: what its answer and event show.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct BookedCustomer {
    /// Customer id.
    pub id: Uuid,
    /// Name as stored (an existing customer keeps theirs).
    pub name: String,
    /// Given name, possibly empty.
    pub first_name: String,
    /// Family name, possibly empty.
    pub last_name: String,
}

/// Finds a booked customer or creates one, in one statement: the tenant's first live
/// customer (by id) with the phone and the folded names; when there is one its locale is
/// updated, else `$6` is inserted. Every parameter is used in both branches.
const FIND_OR_CREATE_BOOKED_CUSTOMER: &str = "\
    WITH found AS ( \
        SELECT id FROM customers \
        WHERE tenant_id = $1 AND phone_e164 = $2 AND first_name_folded = $3 \
          AND last_name_folded = $4 AND deleted_at IS NULL \
        ORDER BY id LIMIT 1 \
    ), touched AS ( \
        UPDATE customers SET locale = $5, updated_at = now() \
        FROM found WHERE customers.id = found.id \
        RETURNING customers.id, customers.name, customers.first_name, customers.last_name \
    ), created AS ( \
        INSERT INTO customers (id, tenant_id, name, first_name, last_name, \
                               first_name_folded, last_name_folded, phone_e164, locale) \
        SELECT $6, $1, $7, $8, $9, $3, $4, $2, $5 \
        WHERE NOT EXISTS (SELECT 1 FROM found) \
        RETURNING id, name, first_name, last_name \
    ) \
    SELECT id, name, first_name, last_name FROM touched \
    UNION ALL \
    SELECT id, name, first_name, last_name FROM created";

/// Returns the tenant's customer with this phone and name (matched case- and
/// accent-insensitively), updating their locale, or creates one, with their stored names so
/// that a booking need not read them back. One round trip.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
pub async fn find_or_create_booked_customer(
    mut connection: &AsyncPgConnection,
    tenant_id: Uuid,
    name: &str,
    phone_e164: &str,
    locale: &str,
) -> QueryResult<BookedCustomer> {
    use diesel::sql_types::Text;
    let (first_name, last_name) = split_name(name);
    let first_name_folded = names::fold(first_name);
    let last_name_folded = names::fold(last_name);
    // A customer found and then soft-deleted before the update reached it yields no row;
    // the second attempt no longer finds them and creates one.
    for _ in 0..2 {
        let customer: Option<BookedCustomer> = PreparedSql::new(FIND_OR_CREATE_BOOKED_CUSTOMER)
            .bind::<diesel::sql_types::Uuid, _>(tenant_id)
            .bind::<Text, _>(phone_e164)
            .bind::<Text, _>(&first_name_folded)
            .bind::<Text, _>(&last_name_folded)
            .bind::<Text, _>(locale)
            .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
            .bind::<Text, _>(name)
            .bind::<Text, _>(first_name)
            .bind::<Text, _>(last_name)
            .get_result(&mut connection)
            .await
            .optional()?;
        if let Some(customer) = customer {
            return Ok(customer);
        }
    }
    Err(diesel::result::Error::NotFound)
}

/// Sets the given and family names of a customer, when the caller sent them apart.
pub async fn set_customer_names(
    connection: &mut AsyncPgConnection,
    customer_id: Uuid,
    first_name: &str,
    last_name: &str,
) -> QueryResult<()> {
    diesel::update(customers::table.find(customer_id))
        .set((
            customers::first_name.eq(first_name),
            customers::last_name.eq(last_name),
            customers::first_name_folded.eq(names::fold(first_name)),
            customers::last_name_folded.eq(names::fold(last_name)),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Splits a display name at its last space: "Ada King Lovelace" is "Ada King" "Lovelace".
fn split_name(name: &str) -> (&str, &str) {
    match name.trim().rsplit_once(char::is_whitespace) {
        Some((first, last)) => (first.trim(), last.trim()),
        None => ("", name.trim()),
    }
}

/// The status of a new appointment.
pub const NEW_STATUS: &str = "scheduled";

/// Inserts an appointment booked at `booked_at` (its creation and status time; Postgres
/// keeps microseconds of it) with status [`NEW_STATUS`]. Every value is the caller's, so
/// that it can build the answer and the event without reading the row back, and send this
/// write together with the reminders' and the outbox's (see `outbox::enqueue_with`).
#[tracing::instrument(skip_all, fields(appointment_id = %row.id))]
pub async fn insert_appointment(
    mut connection: &AsyncPgConnection,
    row: &NewAppointmentRow<'_>,
    booked_at: DateTime<Utc>,
) -> QueryResult<()> {
    let empty = serde_json::Value::Object(serde_json::Map::new());
    diesel::insert_into(appointments::table)
        .values((
            appointments::id.eq(row.id),
            appointments::tenant_id.eq(row.tenant_id),
            appointments::customer_id.eq(row.customer_id),
            appointments::starts_at.eq(row.starts_at),
            appointments::ends_at.eq(row.ends_at),
            appointments::time_zone.eq(row.time_zone),
            appointments::location.eq(row.location),
            appointments::participant.eq(row.participant),
            appointments::entity_id.eq(row.catalog.entity_id),
            appointments::appointment_type_id.eq(row.catalog.appointment_type_id),
            appointments::product_id.eq(row.catalog.product_id),
            appointments::agent_id.eq(row.catalog.agent_id),
            appointments::booker_id.eq(row.catalog.booker_id),
            appointments::source.eq(row.source),
            appointments::metadata.eq(row.metadata.unwrap_or(&empty)),
            appointments::status.eq(NEW_STATUS),
            appointments::status_changed_at.eq(booked_at),
            appointments::created_at.eq(booked_at),
            appointments::updated_at.eq(booked_at),
        ))
        .execute(&mut connection)
        .await?;
    Ok(())
}

/// Inserts reminders of an appointment.
pub async fn insert_reminders(
    connection: &AsyncPgConnection,
    appointment_id: Uuid,
    tenant_id: Uuid,
    reminders: &[NewReminder<'_>],
) -> QueryResult<()> {
    // One single-row insert per reminder, all sent together: a single-row insert is prepared
    // once per connection and then only executed, where a batch insert of a `Vec` (whose SQL
    // depends on its length) is prepared again on every execution, a round trip and a parse
    // and plan in Postgres each time.
    futures_util::future::try_join_all(reminders.iter().map(|reminder| async move {
        let mut connection = connection;
        diesel::insert_into(appointment_reminders::table)
            .values((
                appointment_reminders::id.eq(reminder.id),
                appointment_reminders::appointment_id.eq(appointment_id),
                appointment_reminders::tenant_id.eq(tenant_id),
                appointment_reminders::channel.eq(reminder.channel),
                appointment_reminders::due_at.eq(reminder.due_at),
                appointment_reminders::kind.eq(reminder.kind),
                appointment_reminders::template.eq(reminder.template),
                appointment_reminders::fallback_channel.eq(reminder.fallback_channel),
                appointment_reminders::fallback_template.eq(reminder.fallback_template),
            ))
            .execute(&mut connection)
            .await
    }))
    .await?;
    Ok(())
}

/// Returns the tenant's appointment with its customer, or `None` (also for another tenant's).
#[tracing::instrument(skip_all, fields(appointment_id = %id))]
pub async fn find_appointment(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<AppointmentRecord>> {
    appointments::table
        .inner_join(customers::table)
        .filter(appointments::id.eq(id))
        .filter(appointments::tenant_id.eq(tenant_id))
        .select((
            appointments::id,
            appointments::tenant_id,
            appointments::starts_at,
            appointments::ends_at,
            appointments::time_zone,
            appointments::location,
            appointments::participant,
            appointments::status,
            appointments::status_changed_at,
            appointments::created_at,
            customers::id,
            customers::name,
            customers::phone_e164,
            customers::locale,
            (
                appointments::entity_id,
                appointments::appointment_type_id,
                appointments::product_id,
                appointments::agent_id,
                appointments::booker_id,
            ),
            appointments::metadata,
            customers::first_name,
            customers::last_name,
        ))
        .first(connection)
        .await
        .optional()
}

/// Returns the reminders of an appointment, earliest first.
pub async fn reminders_of(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
) -> QueryResult<Vec<ReminderRow>> {
    appointment_reminders::table
        .filter(appointment_reminders::appointment_id.eq(appointment_id))
        .order((appointment_reminders::due_at, appointment_reminders::id))
        .select(ReminderRow::as_select())
        .load(connection)
        .await
}

/// Sets the status of an appointment if it is currently one of `from`; returns whether it
/// changed.
pub async fn transition_status(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    from: &[&str],
    to: &str,
) -> QueryResult<bool> {
    let changed = diesel::update(appointments::table.find(id))
        .filter(appointments::status.eq_any(from))
        .set((
            appointments::status.eq(to),
            appointments::status_changed_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(changed == 1)
}

/// Marks every reminder of the appointment that has not gone out as cancelled.
pub async fn cancel_pending_reminders(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
) -> QueryResult<usize> {
    diesel::update(appointment_reminders::table)
        .filter(appointment_reminders::appointment_id.eq(appointment_id))
        .filter(appointment_reminders::state.eq("scheduled"))
        .set(appointment_reminders::state.eq("cancelled"))
        .execute(connection)
        .await
}

/// Marks a reminder as handed to its channel, unless it already moved on.
pub async fn mark_reminder_dispatched(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
) -> QueryResult<usize> {
    diesel::update(appointment_reminders::table.find(reminder_id))
        .filter(appointment_reminders::state.eq("scheduled"))
        .set(appointment_reminders::state.eq("dispatched"))
        .execute(connection)
        .await
}

/// Records a reminder's outcome unless it already has one; returns the appointment id when
/// it was recorded now.
pub async fn record_reminder_outcome(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    outcome: &str,
    detail: &str,
    occurred_at: DateTime<Utc>,
) -> QueryResult<Option<Uuid>> {
    diesel::update(appointment_reminders::table.find(reminder_id))
        .filter(appointment_reminders::outcome.is_null())
        .set((
            appointment_reminders::state.eq("completed"),
            appointment_reminders::outcome.eq(outcome),
            appointment_reminders::outcome_detail.eq(Some(detail).filter(|text| !text.is_empty())),
            appointment_reminders::outcome_at.eq(occurred_at),
        ))
        .returning(appointment_reminders::appointment_id)
        .get_result(connection)
        .await
        .optional()
}
