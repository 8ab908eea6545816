//! Agents: the people whose time is booked, the appointment types they serve, their weekly
//! hours and dated exceptions to them.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{
    agent_appointment_types, agents, appointment_types, schedule_exceptions, working_hours,
};
use crate::domain::catalog::{NewAgent, NewScheduleException};

/// An agent row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agents, check_for_backend(diesel::pg::Pg))]
pub struct AgentRow {
    /// Agent id.
    pub id: Uuid,
    /// The entity they work at.
    pub entity_id: Uuid,
    /// male | female | diverse | unspecified.
    pub gender: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A weekly working span row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = working_hours, check_for_backend(diesel::pg::Pg))]
pub struct WorkingHoursRow {
    /// The agent.
    pub agent_id: Uuid,
    /// ISO weekday.
    pub weekday: i16,
    /// First minute from local midnight.
    pub start_minute: i16,
    /// Minute after the last.
    pub end_minute: i16,
}

/// A schedule exception row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedule_exceptions, check_for_backend(diesel::pg::Pg))]
pub struct ScheduleExceptionRow {
    /// Exception id.
    pub id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// Local date.
    pub on_date: NaiveDate,
    /// closed | open.
    pub kind: String,
    /// Span start.
    pub start_minute: Option<i16>,
    /// Span end.
    pub end_minute: Option<i16>,
    /// Note, possibly empty.
    pub note: String,
}

/// Returns the tenant's live agent, or `None`.
pub async fn find_agent(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<AgentRow>> {
    agents::table
        .filter(agents::id.eq(id))
        .filter(agents::tenant_id.eq(tenant_id))
        .filter(agents::deleted_at.is_null())
        .select(AgentRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Locks the tenant's live agent for a change; returns their entity id, or `None` when there
/// is no such agent.
pub async fn lock_agent(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<Uuid>> {
    agents::table
        .filter(agents::id.eq(id))
        .filter(agents::tenant_id.eq(tenant_id))
        .filter(agents::deleted_at.is_null())
        .select(agents::entity_id)
        .for_update()
        .first(connection)
        .await
        .optional()
}

/// Returns whether the tenant's agent is live, holding a share lock on them until the
/// transaction ends.
pub async fn agent_is_live(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<bool> {
    let found: Option<Uuid> = agents::table
        .filter(agents::id.eq(id))
        .filter(agents::tenant_id.eq(tenant_id))
        .filter(agents::deleted_at.is_null())
        .select(agents::id)
        .for_share()
        .first(connection)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Returns a page of the tenant's live agents in creation order, after `after`, of one entity
/// when `entity_id` is given and serving one appointment type when `appointment_type_id` is.
pub async fn list_agents(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    entity_id: Option<Uuid>,
    appointment_type_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<AgentRow>> {
    let mut query = agents::table
        .filter(agents::tenant_id.eq(tenant_id))
        .filter(agents::deleted_at.is_null())
        .select(AgentRow::as_select())
        .order(agents::id)
        .limit(limit)
        .into_boxed();
    if let Some(entity_id) = entity_id {
        query = query.filter(agents::entity_id.eq(entity_id));
    }
    if let Some(appointment_type_id) = appointment_type_id {
        query = query.filter(
            agents::id.eq_any(
                agent_appointment_types::table
                    .filter(agent_appointment_types::appointment_type_id.eq(appointment_type_id))
                    .select(agent_appointment_types::agent_id),
            ),
        );
    }
    if let Some(after) = after {
        query = query.filter(agents::id.gt(after));
    }
    query.load(connection).await
}

/// Returns the live appointment types these agents serve, as `(agent_id, type_id)` by type.
pub async fn appointment_types_of(
    connection: &mut AsyncPgConnection,
    agent_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, Uuid)>> {
    agent_appointment_types::table
        .inner_join(appointment_types::table)
        .filter(agent_appointment_types::agent_id.eq_any(agent_ids))
        .filter(appointment_types::deleted_at.is_null())
        .select((
            agent_appointment_types::agent_id,
            agent_appointment_types::appointment_type_id,
        ))
        .order(agent_appointment_types::appointment_type_id)
        .load(connection)
        .await
}

/// Returns the weekly hours of these agents, by weekday and start.
pub async fn working_hours_of(
    connection: &mut AsyncPgConnection,
    agent_ids: &[Uuid],
) -> QueryResult<Vec<WorkingHoursRow>> {
    working_hours::table
        .filter(working_hours::agent_id.eq_any(agent_ids))
        .select(WorkingHoursRow::as_select())
        .order((working_hours::weekday, working_hours::start_minute))
        .load(connection)
        .await
}

/// Inserts an agent without their appointment types and hours.
#[tracing::instrument(skip_all, fields(agent_id = %id))]
pub async fn insert_agent(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    agent: &NewAgent,
) -> QueryResult<()> {
    diesel::insert_into(agents::table)
        .values((
            agents::id.eq(id),
            agents::tenant_id.eq(tenant_id),
            agents::entity_id.eq(agent.entity_id),
            agents::gender.eq(&agent.gender),
            agents::first_name.eq(&agent.first_name),
            agents::last_name.eq(&agent.last_name),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Overwrites an agent's own columns (their entity never changes).
#[tracing::instrument(skip_all, fields(agent_id = %id))]
pub async fn update_agent(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    agent: &NewAgent,
) -> QueryResult<()> {
    diesel::update(agents::table.find(id))
        .set((
            agents::gender.eq(&agent.gender),
            agents::first_name.eq(&agent.first_name),
            agents::last_name.eq(&agent.last_name),
            agents::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Replaces the appointment types the agent serves and their weekly hours.
pub async fn replace_types_and_hours(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    agent: &NewAgent,
) -> QueryResult<()> {
    diesel::delete(agent_appointment_types::table.filter(agent_appointment_types::agent_id.eq(id)))
        .execute(connection)
        .await?;
    if !agent.appointment_type_ids.is_empty() {
        let rows: Vec<_> = agent
            .appointment_type_ids
            .iter()
            .map(|type_id| {
                (
                    agent_appointment_types::appointment_type_id.eq(*type_id),
                    agent_appointment_types::agent_id.eq(id),
                )
            })
            .collect();
        diesel::insert_into(agent_appointment_types::table)
            .values(rows)
            .execute(connection)
            .await?;
    }
    diesel::delete(working_hours::table.filter(working_hours::agent_id.eq(id)))
        .execute(connection)
        .await?;
    if !agent.working_hours.is_empty() {
        let rows: Vec<_> = agent
            .working_hours
            .iter()
            .map(|span| {
                (
                    working_hours::agent_id.eq(id),
                    working_hours::weekday.eq(span.weekday),
                    working_hours::start_minute.eq(span.start_minute),
                    working_hours::end_minute.eq(span.end_minute),
                )
            })
            .collect();
        diesel::insert_into(working_hours::table)
            .values(rows)
            .execute(connection)
            .await?;
    }
    Ok(())
}

/// Soft-deletes the agent. Their hours and exceptions stay, unreachable, with the row.
#[tracing::instrument(skip_all, fields(agent_id = %id))]
pub async fn soft_delete_agent(connection: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(agents::table.find(id))
        .set((
            agents::deleted_at.eq(diesel::dsl::now),
            agents::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Inserts a schedule exception of the agent.
#[tracing::instrument(skip_all, fields(agent_id = %agent_id, exception_id = %id))]
pub async fn insert_exception(
    connection: &mut AsyncPgConnection,
    agent_id: Uuid,
    id: Uuid,
    exception: &NewScheduleException,
) -> QueryResult<ScheduleExceptionRow> {
    diesel::insert_into(schedule_exceptions::table)
        .values((
            schedule_exceptions::id.eq(id),
            schedule_exceptions::agent_id.eq(agent_id),
            schedule_exceptions::on_date.eq(exception.date),
            schedule_exceptions::kind.eq(&exception.kind),
            schedule_exceptions::start_minute.eq(exception.start_minute),
            schedule_exceptions::end_minute.eq(exception.end_minute),
            schedule_exceptions::note.eq(&exception.note),
        ))
        .returning(ScheduleExceptionRow::as_returning())
        .get_result(connection)
        .await
}

/// Returns one exception of the agent, or `None`.
pub async fn find_exception(
    connection: &mut AsyncPgConnection,
    agent_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<ScheduleExceptionRow>> {
    schedule_exceptions::table
        .filter(schedule_exceptions::id.eq(id))
        .filter(schedule_exceptions::agent_id.eq(agent_id))
        .select(ScheduleExceptionRow::as_select())
        .first(connection)
        .await
        .optional()
}

/// Returns the agent's exceptions from `from` to `to` (both inclusive, each when given), by
/// date and start.
pub async fn list_exceptions(
    connection: &mut AsyncPgConnection,
    agent_id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> QueryResult<Vec<ScheduleExceptionRow>> {
    let mut query = schedule_exceptions::table
        .filter(schedule_exceptions::agent_id.eq(agent_id))
        .select(ScheduleExceptionRow::as_select())
        .order((
            schedule_exceptions::on_date,
            schedule_exceptions::start_minute.asc().nulls_first(),
            schedule_exceptions::id,
        ))
        .into_boxed();
    if let Some(from) = from {
        query = query.filter(schedule_exceptions::on_date.ge(from));
    }
    if let Some(to) = to {
        query = query.filter(schedule_exceptions::on_date.le(to));
    }
    query.load(connection).await
}

/// Deletes one exception of the agent; returns whether it existed.
#[tracing::instrument(skip_all, fields(agent_id = %agent_id, exception_id = %id))]
pub async fn delete_exception(
    connection: &mut AsyncPgConnection,
    agent_id: Uuid,
    id: Uuid,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        schedule_exceptions::table
            .filter(schedule_exceptions::id.eq(id))
            .filter(schedule_exceptions::agent_id.eq(agent_id)),
    )
    .execute(connection)
    .await?;
    Ok(deleted == 1)
}
