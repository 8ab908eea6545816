//! What slots and bookings read from the catalog: entities, appointment types, products,
//! the agents who serve a type, and each agent's hours, exceptions and booked time.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{
    agent_appointment_types, agents, appointment_types, appointments, entities,
    entity_reminder_defaults, entity_sip_ids, products, schedule_exceptions, working_hours,
};
use crate::domain::slots::{AgentCalendar, DatedException, ExceptionKind, MinuteSpan, WeeklySpan};

/// The longest anything booked lasts; bounds the search for bookings overlapping a window.
const LONGEST_BOOKING: Duration = Duration::days(1);

/// A business entity.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = entities, check_for_backend(diesel::pg::Pg))]
pub struct EntityRow {
    /// Entity id.
    pub id: Uuid,
    /// Official name.
    pub name: String,
    /// IANA zone of its working hours.
    pub time_zone: String,
    /// Language of phone bookers.
    pub locale: String,
    /// ISO 4217 currency of its prices.
    pub currency: String,
    /// Step between slot starts, when set.
    pub slot_interval_minutes: Option<i32>,
}

/// An appointment type.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = appointment_types, check_for_backend(diesel::pg::Pg))]
pub struct AppointmentTypeRow {
    /// Type id.
    pub id: Uuid,
    /// Its entity.
    pub entity_id: Uuid,
    /// Name, e.g. "Massage".
    pub name: String,
}

/// A product.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct ProductRow {
    /// Product id.
    pub id: Uuid,
    /// Its appointment type.
    pub appointment_type_id: Uuid,
    /// Name.
    pub name: String,
    /// Length in minutes.
    pub duration_minutes: i32,
    /// Description.
    pub description: String,
    /// Price in minor units.
    pub price_cents: i64,
    /// Fields to ask the booker.
    pub booker_info: Vec<String>,
    /// Fields to ask the participant.
    pub participant_info: Vec<String>,
}

/// An agent.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agents, check_for_backend(diesel::pg::Pg))]
pub struct AgentRow {
    /// Agent id.
    pub id: Uuid,
    /// male | female | diverse | unspecified.
    pub gender: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// A product with its type and entity: everything a slot search or a booking needs.
#[derive(Debug, Clone)]
pub struct ProductContext {
    /// The product.
    pub product: ProductRow,
    /// Its appointment type.
    pub appointment_type: AppointmentTypeRow,
    /// Their entity.
    pub entity: EntityRow,
}

/// A default reminder of an entity.
#[derive(Debug, Clone, Copy)]
pub struct ReminderDefault {
    /// voice | sms, as stored.
    pub channel: &'static str,
    /// How long before the start.
    pub offset: Duration,
}

/// Returns the entity a SIP id routes to.
pub async fn entity_for_sip_id(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    sip_id: &str,
) -> QueryResult<Option<Uuid>> {
    entity_sip_ids::table
        .inner_join(entities::table)
        .filter(entity_sip_ids::tenant_id.eq(tenant_id))
        .filter(entity_sip_ids::sip_id.eq(sip_id))
        .filter(entities::deleted_at.is_null())
        .select(entities::id)
        .first(connection)
        .await
        .optional()
}

/// Returns the tenant's entity.
pub async fn entity(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<EntityRow>> {
    entities::table
        .filter(entities::id.eq(id))
        .filter(entities::tenant_id.eq(tenant_id))
        .filter(entities::deleted_at.is_null())
        .select(EntityRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Returns the entity's appointment types, by name.
pub async fn appointment_types_of(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Uuid,
) -> QueryResult<Vec<AppointmentTypeRow>> {
    appointment_types::table
        .filter(appointment_types::entity_id.eq(entity_id))
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::deleted_at.is_null())
        .order((appointment_types::name, appointment_types::id))
        .select(AppointmentTypeRow::as_select())
        .load(connection)
        .await
}

/// Returns the tenant's appointment type.
pub async fn appointment_type(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<AppointmentTypeRow>> {
    appointment_types::table
        .filter(appointment_types::id.eq(id))
        .filter(appointment_types::tenant_id.eq(tenant_id))
        .filter(appointment_types::deleted_at.is_null())
        .select(AppointmentTypeRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Returns the products of the given types, by type, then duration, then name.
pub async fn products_of(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    appointment_type_ids: &[Uuid],
) -> QueryResult<Vec<ProductRow>> {
    products::table
        .filter(products::appointment_type_id.eq_any(appointment_type_ids))
        .filter(products::tenant_id.eq(tenant_id))
        .filter(products::deleted_at.is_null())
        .order((
            products::appointment_type_id,
            products::duration_minutes,
            products::name,
        ))
        .select(ProductRow::as_select())
        .load(connection)
        .await
}

/// Returns the product with its type and entity, when all three are live and the tenant's.
pub async fn product_context(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    product_id: Uuid,
) -> QueryResult<Option<ProductContext>> {
    let found: Option<(ProductRow, AppointmentTypeRow, EntityRow)> = products::table
        .inner_join(appointment_types::table.inner_join(entities::table))
        .filter(products::id.eq(product_id))
        .filter(products::tenant_id.eq(tenant_id))
        .filter(products::deleted_at.is_null())
        .filter(appointment_types::deleted_at.is_null())
        .filter(entities::deleted_at.is_null())
        .select((
            ProductRow::as_select(),
            AppointmentTypeRow::as_select(),
            EntityRow::as_select(),
        ))
        .first(connection)
        .await
        .optional()?;
    Ok(
        found.map(|(product, appointment_type, entity)| ProductContext {
            product,
            appointment_type,
            entity,
        }),
    )
}

/// Returns the live agents who serve the appointment type, by id; only `only_agent` when
/// given.
pub async fn agents_serving(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    appointment_type_id: Uuid,
    only_agent: Option<Uuid>,
) -> QueryResult<Vec<AgentRow>> {
    let mut query = agents::table
        .inner_join(agent_appointment_types::table)
        .filter(agent_appointment_types::appointment_type_id.eq(appointment_type_id))
        .filter(agents::tenant_id.eq(tenant_id))
        .filter(agents::deleted_at.is_null())
        .select(AgentRow::as_select())
        .order(agents::id)
        .into_boxed();
    if let Some(agent_id) = only_agent {
        query = query.filter(agents::id.eq(agent_id));
    }
    query.load(connection).await
}

/// Returns the entity's default reminders, in order.
pub async fn reminder_defaults(
    connection: &mut AsyncPgConnection,
    entity_id: Uuid,
) -> QueryResult<Vec<ReminderDefault>> {
    let rows: Vec<(String, i32)> = entity_reminder_defaults::table
        .filter(entity_reminder_defaults::entity_id.eq(entity_id))
        .order(entity_reminder_defaults::position)
        .select((
            entity_reminder_defaults::channel,
            entity_reminder_defaults::offset_seconds,
        ))
        .load(connection)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(channel, offset_seconds)| ReminderDefault {
            channel: if channel == "sms" { "sms" } else { "voice" },
            offset: Duration::seconds(i64::from(offset_seconds)),
        })
        .collect())
}

/// Returns each agent's calendar for the local dates `first_date..=last_date`, with the
/// active bookings that overlap `[busy_from, busy_until)`.
pub async fn calendars(
    connection: &mut AsyncPgConnection,
    agent_ids: &[Uuid],
    first_date: NaiveDate,
    last_date: NaiveDate,
    busy_from: DateTime<Utc>,
    busy_until: DateTime<Utc>,
) -> QueryResult<HashMap<Uuid, AgentCalendar>> {
    let mut calendars = schedules(connection, agent_ids, first_date, Some(last_date)).await?;
    for (agent_id, start, end) in busy(connection, agent_ids, busy_from, busy_until).await? {
        if let Some(calendar) = calendars.get_mut(&agent_id) {
            calendar.busy.push((start, end));
        }
    }
    Ok(calendars)
}

/// Returns each agent's weekly hours and the exceptions dated from `first_date` (to
/// `last_date` when given), with no bookings.
pub async fn schedules(
    connection: &mut AsyncPgConnection,
    agent_ids: &[Uuid],
    first_date: NaiveDate,
    last_date: Option<NaiveDate>,
) -> QueryResult<HashMap<Uuid, AgentCalendar>> {
    let mut calendars: HashMap<Uuid, AgentCalendar> = agent_ids
        .iter()
        .map(|id| (*id, AgentCalendar::default()))
        .collect();

    let weekly: Vec<(Uuid, i16, i16, i16)> = working_hours::table
        .filter(working_hours::agent_id.eq_any(agent_ids))
        .select((
            working_hours::agent_id,
            working_hours::weekday,
            working_hours::start_minute,
            working_hours::end_minute,
        ))
        .load(connection)
        .await?;
    for (agent_id, weekday, start, end) in weekly {
        if let (Some(calendar), Some(span)) =
            (calendars.get_mut(&agent_id), minute_span(start, end))
        {
            calendar.weekly.push(WeeklySpan {
                weekday: u8::try_from(weekday).unwrap_or(0),
                span,
            });
        }
    }

    type ExceptionRow = (Uuid, NaiveDate, String, Option<i16>, Option<i16>);
    let mut exceptions_query = schedule_exceptions::table
        .filter(schedule_exceptions::agent_id.eq_any(agent_ids))
        .filter(schedule_exceptions::on_date.ge(first_date))
        .select((
            schedule_exceptions::agent_id,
            schedule_exceptions::on_date,
            schedule_exceptions::kind,
            schedule_exceptions::start_minute,
            schedule_exceptions::end_minute,
        ))
        .into_boxed();
    if let Some(last_date) = last_date {
        exceptions_query = exceptions_query.filter(schedule_exceptions::on_date.le(last_date));
    }
    let exceptions: Vec<ExceptionRow> = exceptions_query.load(connection).await?;
    for (agent_id, date, kind, start, end) in exceptions {
        let Some(calendar) = calendars.get_mut(&agent_id) else {
            continue;
        };
        let span = match (start, end) {
            (Some(start), Some(end)) => minute_span(start, end),
            _ => None,
        };
        calendar.exceptions.push(DatedException {
            date,
            kind: if kind == "open" {
                ExceptionKind::Open
            } else {
                ExceptionKind::Closed
            },
            span,
        });
    }
    Ok(calendars)
}

/// Returns the active bookings of the agents that overlap `[from, until)`, as
/// `(agent, start, end)`.
pub async fn busy(
    connection: &mut AsyncPgConnection,
    agent_ids: &[Uuid],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> QueryResult<Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)>> {
    let rows: Vec<(Option<Uuid>, DateTime<Utc>, DateTime<Utc>)> = appointments::table
        .filter(appointments::agent_id.eq_any(agent_ids))
        // A literal, not a bind: the partial index appointments_agent_start_idx is only
        // usable when Postgres can prove its `status <> 'cancelled'` from the query, and a
        // prepared statement's generic plan cannot with `status <> $2`. With the bind the
        // plan walked appointments_customer_idx instead (about 630 entries per read, a
        // sixth of the machine's CPU during the benchmark's getSlots phase).
        .filter(appointments::status.ne(sql::<Text>("'cancelled'")))
        .filter(appointments::starts_at.gt(from - LONGEST_BOOKING))
        .filter(appointments::starts_at.lt(until))
        .filter(appointments::ends_at.gt(from))
        .select((
            appointments::agent_id,
            appointments::starts_at,
            appointments::ends_at,
        ))
        .load(connection)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(agent_id, start, end)| agent_id.map(|agent_id| (agent_id, start, end)))
        .collect())
}

fn minute_span(start: i16, end: i16) -> Option<MinuteSpan> {
    let start = u16::try_from(start).ok()?;
    let end = u16::try_from(end).ok()?;
    (start < end).then_some(MinuteSpan { start, end })
}
