//! Finding the free slots of a product: one agent's, or any agent's who serves its type.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::{BookingError, Subject};
use crate::cache::{BusyIntervals, BusyLookup, CalendarCache};
use crate::db::reminder_policies;
use crate::db::scheduling::{self, ProductContext, ReminderDefault};
use crate::domain::reminder_policy::ReminderPolicy;
use crate::domain::slot_id::{SlotHolder, SlotId};
use crate::domain::slots::{self, AgentCalendar, SlotSearch};
use crate::events;

/// The longest window one search may cover, so one request cannot ask for a year of slots.
pub const MAX_WINDOW: Duration = Duration::days(7);

/// What the caller asks for.
#[derive(Debug, Clone, Copy)]
pub struct SlotQuery {
    /// The product to book.
    pub product_id: Uuid,
    /// The appointment type the caller believes the product has; checked when given.
    pub appointment_type_id: Option<Uuid>,
    /// One agent, or any agent who serves the type.
    pub agent_id: Option<Uuid>,
    /// Which starts to consider.
    pub window: Window,
}

/// Which starts a search considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// A whole local day, in the zone the answer is shown in.
    Day(NaiveDate),
    /// From this instant to the end of its local day.
    From(DateTime<Utc>),
    /// From one instant to another.
    Between(DateTime<Utc>, DateTime<Utc>),
}

/// A free slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferedSlot {
    /// Its id, to book with.
    pub id: SlotId,
    /// Start.
    pub start: DateTime<Utc>,
    /// End: start plus the product's duration.
    pub end: DateTime<Utc>,
    /// The agent, when the search was for one.
    pub agent_id: Option<Uuid>,
}

/// Free slots and the zone to show them in.
#[derive(Debug, Clone)]
pub struct SlotAnswer {
    /// The slots, earliest first.
    pub slots: Vec<OfferedSlot>,
    /// The zone asked for, or the entity's.
    pub zone: Tz,
    /// The product searched.
    pub context: ProductContext,
}

/// Returns the product's step between starts: the entity's interval or the product's length.
pub fn step_of(context: &ProductContext) -> Duration {
    let minutes = context
        .entity
        .slot_interval_minutes
        .unwrap_or(context.product.duration_minutes);
    Duration::minutes(i64::from(minutes.max(1)))
}

/// Returns the zone of the entity's working hours (UTC if the stored name is unknown, which
/// validation prevents).
pub fn entity_zone(context: &ProductContext) -> Tz {
    context.entity.time_zone.parse().unwrap_or(Tz::UTC)
}

/// What a slot search or a booking needs besides bookings: the product, its agents' hours
/// and the entity's default reminders. Cached per product (see [`crate::cache`]).
#[derive(Debug, Clone)]
pub struct ProductSchedule {
    /// The product, its type and entity.
    pub context: ProductContext,
    /// Every live agent who serves the type, by id.
    pub agent_ids: Vec<Uuid>,
    /// Their display names ("First Last"), for the events of a booking: read with the ids,
    /// so a booking names its agent without another statement.
    pub agent_names: HashMap<Uuid, String>,
    /// Their weekly hours and exceptions from yesterday on; `busy` is empty.
    pub calendars: HashMap<Uuid, AgentCalendar>,
    /// The reminders a booking of the product gets when its type has no policy.
    pub reminder_defaults: Vec<ReminderDefault>,
    /// The reminder policy of the product's type, which replaces the entity's defaults.
    pub policy: Option<ReminderPolicy>,
}

/// Reads a product's schedule from the database.
pub async fn load_schedule(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    product_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ProductSchedule, BookingError> {
    let context = scheduling::product_context(connection, tenant_id, product_id)
        .await?
        .ok_or(BookingError::NotFound(Subject::Product))?;
    let agents =
        scheduling::agents_serving(connection, tenant_id, context.appointment_type.id, None)
            .await?;
    let agent_ids: Vec<Uuid> = agents.iter().map(|agent| agent.id).collect();
    let agent_names = agents
        .iter()
        .map(|agent| {
            let name = events::agent_display_name(&agent.first_name, &agent.last_name);
            (agent.id, name)
        })
        .collect();
    // Any zone's today is at most a day from UTC's.
    let yesterday = (now - Duration::days(2)).date_naive();
    let calendars = scheduling::schedules(connection, &agent_ids, yesterday, None).await?;
    let reminder_defaults = scheduling::reminder_defaults(connection, context.entity.id).await?;
    let policy = reminder_policies::find(connection, context.appointment_type.id)
        .await?
        .map(|(policy, _)| policy);
    Ok(ProductSchedule {
        context,
        agent_ids,
        agent_names,
        calendars,
        reminder_defaults,
        policy,
    })
}

/// Returns the product's schedule from `cache` when current, else from the database (and
/// remembers it).
pub async fn cached_schedule(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    product_id: Uuid,
    now: DateTime<Utc>,
    cache: Option<&CalendarCache>,
) -> Result<Arc<ProductSchedule>, BookingError> {
    let Some(cache) = cache else {
        return Ok(Arc::new(
            load_schedule(connection, tenant_id, product_id, now).await?,
        ));
    };
    if let Some(schedule) = cache.schedule(tenant_id, product_id) {
        return Ok(schedule);
    }
    let stamp = cache.stamp(tenant_id);
    let schedule = Arc::new(load_schedule(connection, tenant_id, product_id, now).await?);
    cache.remember_schedule(tenant_id, product_id, stamp, Arc::clone(&schedule));
    Ok(schedule)
}

/// Reads the active bookings of `agent_ids` overlapping `[from, until)`, by agent.
async fn read_busy(
    connection: &mut AsyncPgConnection,
    agent_ids: &[Uuid],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<BusyIntervals, BookingError> {
    let mut by_agent = BusyIntervals::new();
    for (agent_id, start, end) in scheduling::busy(connection, agent_ids, from, until).await? {
        by_agent.entry(agent_id).or_default().push((start, end));
    }
    for intervals in by_agent.values_mut() {
        intervals.sort_unstable();
    }
    Ok(by_agent)
}

/// Returns the active bookings of `agent_ids` overlapping `[from, until)`, from `cache`
/// when current, else from the database (and remembers them). Busy times due for a
/// refresh are served while a background task reads them afresh (see
/// [`crate::cache::BusyLookup::RefreshDue`]), so no request waits for that read.
pub async fn cached_busy(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    agent_ids: &[Uuid],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    cache: Option<&CalendarCache>,
) -> Result<Arc<BusyIntervals>, BookingError> {
    let Some(cache) = cache else {
        return Ok(Arc::new(
            read_busy(connection, agent_ids, from, until).await?,
        ));
    };
    match cache.lookup_busy(tenant_id, agent_ids, from, until) {
        BusyLookup::Current(intervals) => return Ok(intervals),
        BusyLookup::RefreshDue(intervals) => {
            refresh_busy_in_background(cache, tenant_id, agent_ids, from, until);
            return Ok(intervals);
        }
        BusyLookup::Missing => {}
    }
    let stamp = cache.stamp(tenant_id);
    let intervals = Arc::new(read_busy(connection, agent_ids, from, until).await?);
    cache.remember_busy(
        tenant_id,
        agent_ids,
        from,
        until,
        stamp,
        Arc::clone(&intervals),
    );
    Ok(intervals)
}

/// Reads busy times afresh on a connection of the cache's refresh pool, off the request.
fn refresh_busy_in_background(
    cache: &CalendarCache,
    tenant_id: Uuid,
    agent_ids: &[Uuid],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) {
    let (Some(pool), Ok(runtime)) = (
        cache.refresh_pool().cloned(),
        tokio::runtime::Handle::try_current(),
    ) else {
        cache.refresh_failed(tenant_id, agent_ids, from, until);
        return;
    };
    let cache = cache.clone();
    let agent_ids = agent_ids.to_vec();
    runtime.spawn(async move {
        let read = async {
            let mut connection = pool.get().await.map_err(anyhow::Error::new)?;
            // Read before the query, as for any entry: a write committing meanwhile makes
            // the new entry stale at once rather than hiding the write.
            let stamp = cache.stamp(tenant_id);
            let intervals = read_busy(&mut connection, &agent_ids, from, until)
                .await
                .map_err(|error| anyhow::anyhow!("{error:?}"))?;
            cache.remember_busy(
                tenant_id,
                &agent_ids,
                from,
                until,
                stamp,
                Arc::new(intervals),
            );
            anyhow::Ok(())
        };
        if let Err(error) = read.await {
            tracing::warn!(error.message = %error, "could not refresh cached busy times");
            cache.refresh_failed(tenant_id, &agent_ids, from, until);
        }
    });
}

/// Returns the free slots of `query` at `now`, shown in `display_zone` (the entity's zone
/// when `None`). A day is read in the display zone. The product's schedule and the busy
/// times come from `cache` when it holds current ones.
pub async fn find_slots(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    query: SlotQuery,
    display_zone: Option<Tz>,
    now: DateTime<Utc>,
    cache: Option<&CalendarCache>,
) -> Result<SlotAnswer, BookingError> {
    let schedule = cached_schedule(connection, tenant_id, query.product_id, now, cache).await?;
    let context = schedule.context.clone();
    let type_id = context.appointment_type.id;
    if query
        .appointment_type_id
        .is_some_and(|expected| expected != type_id)
    {
        return Err(BookingError::ProductNotOfType);
    }
    let agent_ids: Vec<Uuid> = match query.agent_id {
        Some(agent_id) if schedule.agent_ids.contains(&agent_id) => vec![agent_id],
        Some(_) => return Err(BookingError::AgentNotServingType),
        None => schedule.agent_ids.clone(),
    };
    let zone = entity_zone(&context);
    let display_zone = display_zone.unwrap_or(zone);
    let (from, until) = window_bounds(query.window, display_zone);
    let until = until.min(from + MAX_WINDOW);
    if until <= now || agent_ids.is_empty() {
        return Ok(SlotAnswer {
            slots: Vec::new(),
            zone: display_zone,
            context,
        });
    }

    let duration = Duration::minutes(i64::from(context.product.duration_minutes));
    // Read from the window's start rather than from now, so that repeated searches of one
    // window share a cache entry; bookings already past cost nothing.
    let busy = cached_busy(
        connection,
        tenant_id,
        &agent_ids,
        from,
        until + duration,
        cache,
    )
    .await?;
    let search = SlotSearch {
        zone,
        from,
        until,
        duration,
        step: step_of(&context),
        now,
    };
    // One slot per start: for "any agent" the agent is picked when booking, so a caller
    // hears each time once however many agents are free then.
    let mut by_start: BTreeMap<DateTime<Utc>, OfferedSlot> = BTreeMap::new();
    for agent_id in &agent_ids {
        let Some(calendar) = schedule.calendars.get(agent_id) else {
            continue;
        };
        let agent_busy = busy.get(agent_id).map_or(&[][..], Vec::as_slice);
        for start in slots::free_starts_around(calendar, agent_busy, &search) {
            let holder = match query.agent_id {
                Some(agent_id) => SlotHolder::Agent(agent_id),
                None => SlotHolder::AnyAgentOf(type_id),
            };
            by_start.entry(start).or_insert(OfferedSlot {
                id: SlotId { holder, start },
                start,
                end: start + duration,
                agent_id: query.agent_id,
            });
        }
    }
    Ok(SlotAnswer {
        slots: by_start.into_values().collect(),
        zone: display_zone,
        context,
    })
}

/// Returns the instants a window covers, reading days in `zone`.
pub fn window_bounds(window: Window, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start_of = |date: NaiveDate| slots::local_instant(zone, date, 0, false);
    let next_day = |date: NaiveDate| date.succ_opt().unwrap_or(date);
    match window {
        Window::Day(date) => (start_of(date), start_of(next_day(date))),
        Window::From(from) => {
            let date = from.with_timezone(&zone).date_naive();
            (from, start_of(next_day(date)))
        }
        Window::Between(from, until) => (from, until),
    }
}
