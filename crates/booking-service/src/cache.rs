//! Short-lived in-process caches for what every hot request reads: the tenant behind an API
//! key, the schedule of a product's agents, the bookings a slot search subtracts, and the
//! appointment type (with its reminder policy and entity) a free-form booking plans with.
//!
//! None of them decides anything on its own. Postgres refuses a double booking whatever a
//! cache says (the exclusion constraint), so a stale entry can at worst offer a slot that
//! booking then refuses with a clear 409, which is the race every caller already has between
//! hearing a slot and booking it. A write in this process invalidates at once (see
//! [`CalendarCache`]); a write through another replica shows within the time to live (for
//! busy times, within twice of it: see [`BusyLookup::RefreshDue`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use attend_runtime::cache::TtlCache;
use attend_runtime::db::DbPool;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::booking::plans::TypePlanning;
use crate::booking::slots::ProductSchedule;

/// Which version of the data a cached entry was read from: the catalog's (every tenant) and
/// its tenant's bookings'. An entry is served only while both are still current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    catalog: u64,
    bookings: u64,
}

/// Active bookings of some agents between two instants, by agent, each list sorted by start.
pub type BusyIntervals = HashMap<Uuid, Vec<(DateTime<Utc>, DateTime<Utc>)>>;

/// The agents and window of a busy-time read, per tenant.
type BusyKey = (Uuid, Vec<Uuid>, DateTime<Utc>, DateTime<Utc>);

/// Busy times as cached: the stamp they were read at, and whether a request has already
/// started reading them afresh.
#[derive(Debug)]
struct BusyEntry {
    stamp: Stamp,
    intervals: Arc<BusyIntervals>,
    refreshing: AtomicBool,
}

/// What the cache holds for a busy-time read.
#[derive(Debug)]
pub enum BusyLookup {
    /// Current: serve it.
    Current(Arc<BusyIntervals>),
    /// Current for this process (no write here since it was read) but older than the time
    /// to live: serve it, and read it afresh in the background. Only the first caller to
    /// see an entry so gets this; the others get [`BusyLookup::Current`] until the new read
    /// lands. A write through another replica therefore shows within twice the time to live.
    RefreshDue(Arc<BusyIntervals>),
    /// Nothing current: read the database now.
    Missing,
}

/// Product schedules and busy times for slot searches and bookings, and appointment types
/// for free-form bookings.
///
/// Every entry carries the [`Stamp`] read *before* its data was read, and a write bumps the
/// counters only *after* its transaction committed. So an entry read concurrently with a
/// write either saw the write or carries the old stamp and is never served: within this
/// process a search never misses a committed booking. Catalog edits (rare) invalidate every
/// tenant's entries, bookings only their tenant's.
///
/// Busy times older than the time to live whose stamp is still current are served while
/// one background read replaces them ([`BusyLookup::RefreshDue`]), when the cache has a
/// pool to read with ([`CalendarCache::with_refresh_pool`]). The stamp check comes first,
/// so this never serves an entry older than a write of this process: it only stretches
/// how long a write through another replica may take to show, to twice the time to live.
/// Clones share the entries.
#[derive(Clone)]
pub struct CalendarCache {
    inner: Arc<CalendarEntries>,
    refresh_pool: Option<DbPool>,
}

struct CalendarEntries {
    ttl: Duration,
    schedules: TtlCache<(Uuid, Uuid), (Stamp, Arc<ProductSchedule>)>,
    appointment_types: TtlCache<(Uuid, Uuid), (Stamp, Arc<TypePlanning>)>,
    busy: TtlCache<BusyKey, BusyEntry>,
    catalog_version: AtomicU64,
    booking_versions: Mutex<HashMap<Uuid, u64>>,
}

impl std::fmt::Debug for CalendarCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CalendarCache")
            .field("ttl", &self.inner.ttl)
            .field("refreshes_in_background", &self.refresh_pool.is_some())
            .finish_non_exhaustive()
    }
}

impl CalendarCache {
    /// Returns an empty cache whose entries are current for `ttl`. Without a refresh pool,
    /// busy times older than that are read again by the request that needs them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            inner: Arc::new(CalendarEntries {
                ttl,
                schedules: TtlCache::new(ttl, capacity),
                appointment_types: TtlCache::new(ttl, capacity),
                // Kept twice as long: an entry past `ttl` may still be served while it is
                // read afresh (see `BusyLookup::RefreshDue`).
                busy: TtlCache::new(ttl.saturating_mul(2), capacity),
                catalog_version: AtomicU64::new(0),
                booking_versions: Mutex::new(HashMap::new()),
            }),
            refresh_pool: None,
        }
    }

    /// Reads busy times that are due afresh in the background with `pool`, serving the
    /// previous ones meanwhile, instead of making a request wait for the read.
    #[must_use]
    pub fn with_refresh_pool(mut self, pool: DbPool) -> Self {
        self.refresh_pool = Some(pool);
        self
    }

    /// The pool background reads use, if any.
    pub fn refresh_pool(&self) -> Option<&DbPool> {
        self.refresh_pool.as_ref()
    }

    /// Returns the current stamp of `tenant_id`'s data; read it before reading the data.
    pub fn stamp(&self, tenant_id: Uuid) -> Stamp {
        let catalog = self.inner.catalog_version.load(Ordering::Acquire);
        let bookings = self
            .inner
            .booking_versions
            .lock()
            .map(|versions| versions.get(&tenant_id).copied().unwrap_or(0))
            .unwrap_or(u64::MAX);
        Stamp { catalog, bookings }
    }

    /// Returns the product's schedule if one read since the last catalog edit is cached.
    pub fn schedule(&self, tenant_id: Uuid, product_id: Uuid) -> Option<Arc<ProductSchedule>> {
        self.current_in_catalog(&self.inner.schedules, (tenant_id, product_id))
    }

    /// Remembers a schedule read at `stamp`.
    pub fn remember_schedule(
        &self,
        tenant_id: Uuid,
        product_id: Uuid,
        stamp: Stamp,
        schedule: Arc<ProductSchedule>,
    ) {
        self.inner
            .schedules
            .insert((tenant_id, product_id), Arc::new((stamp, schedule)));
    }

    /// Returns the appointment type's planning if one read since the last catalog edit is
    /// cached.
    pub fn appointment_type(&self, tenant_id: Uuid, type_id: Uuid) -> Option<Arc<TypePlanning>> {
        self.current_in_catalog(&self.inner.appointment_types, (tenant_id, type_id))
    }

    /// Remembers an appointment type's planning read at `stamp`.
    pub fn remember_appointment_type(
        &self,
        tenant_id: Uuid,
        type_id: Uuid,
        stamp: Stamp,
        planning: Arc<TypePlanning>,
    ) {
        self.inner
            .appointment_types
            .insert((tenant_id, type_id), Arc::new((stamp, planning)));
    }

    /// Returns the entry of `key` in `entries` if it was read since the last catalog edit.
    fn current_in_catalog<V>(
        &self,
        entries: &TtlCache<(Uuid, Uuid), (Stamp, Arc<V>)>,
        key: (Uuid, Uuid),
    ) -> Option<Arc<V>> {
        let entry = entries.get(&key)?;
        let (stamp, value) = &*entry;
        (stamp.catalog == self.inner.catalog_version.load(Ordering::Acquire))
            .then(|| Arc::clone(value))
    }

    /// Returns the busy times of `agent_ids` in `[from, until)` if cached and current.
    pub fn busy(
        &self,
        tenant_id: Uuid,
        agent_ids: &[Uuid],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<Arc<BusyIntervals>> {
        let (age, entry) =
            self.inner
                .busy
                .get_aged(&(tenant_id, agent_ids.to_vec(), from, until))?;
        (entry.stamp == self.stamp(tenant_id) && age < self.inner.ttl)
            .then(|| Arc::clone(&entry.intervals))
    }

    /// Looks up the busy times of `agent_ids` in `[from, until)`. A caller that gets
    /// [`BusyLookup::RefreshDue`] must read them afresh and [`CalendarCache::remember_busy`]
    /// them, or call [`CalendarCache::refresh_failed`].
    pub fn lookup_busy(
        &self,
        tenant_id: Uuid,
        agent_ids: &[Uuid],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> BusyLookup {
        let Some((age, entry)) =
            self.inner
                .busy
                .get_aged(&(tenant_id, agent_ids.to_vec(), from, until))
        else {
            return BusyLookup::Missing;
        };
        // The invariant: never serve what was read before a write of this process committed.
        if entry.stamp != self.stamp(tenant_id) {
            return BusyLookup::Missing;
        }
        let intervals = Arc::clone(&entry.intervals);
        if age < self.inner.ttl {
            return BusyLookup::Current(intervals);
        }
        if self.refresh_pool.is_none() {
            return BusyLookup::Missing;
        }
        if entry.refreshing.swap(true, Ordering::AcqRel) {
            BusyLookup::Current(intervals)
        } else {
            BusyLookup::RefreshDue(intervals)
        }
    }

    /// Call when a read for a [`BusyLookup::RefreshDue`] failed, so that a later request
    /// tries again.
    pub fn refresh_failed(
        &self,
        tenant_id: Uuid,
        agent_ids: &[Uuid],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) {
        if let Some((_, entry)) =
            self.inner
                .busy
                .get_aged(&(tenant_id, agent_ids.to_vec(), from, until))
        {
            entry.refreshing.store(false, Ordering::Release);
        }
    }

    /// Remembers busy times read at `stamp`.
    pub fn remember_busy(
        &self,
        tenant_id: Uuid,
        agent_ids: &[Uuid],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        stamp: Stamp,
        intervals: Arc<BusyIntervals>,
    ) {
        self.inner.busy.insert(
            (tenant_id, agent_ids.to_vec(), from, until),
            Arc::new(BusyEntry {
                stamp,
                intervals,
                refreshing: AtomicBool::new(false),
            }),
        );
    }

    /// Call after a transaction that booked, moved or cancelled an appointment of
    /// `tenant_id` committed.
    pub fn bookings_changed(&self, tenant_id: Uuid) {
        if let Ok(mut versions) = self.inner.booking_versions.lock() {
            *versions.entry(tenant_id).or_insert(0) += 1;
        }
    }

    /// Call after a catalog edit (entity, type, product, agent, hours) committed.
    pub fn catalog_changed(&self) {
        self.inner.catalog_version.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    fn intervals(agent_id: Uuid) -> Arc<BusyIntervals> {
        let start = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        Arc::new(HashMap::from([(
            agent_id,
            vec![(start, start + chrono::Duration::minutes(30))],
        )]))
    }

    #[test]
    fn a_booking_hides_busy_times_read_before_it_and_only_its_tenants() {
        let cache = CalendarCache::new(Duration::from_secs(60), 100);
        let (tenant, other_tenant, agent) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let from = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let until = from + chrono::Duration::days(1);
        for owner in [tenant, other_tenant] {
            let stamp = cache.stamp(owner);
            cache.remember_busy(owner, &[agent], from, until, stamp, intervals(agent));
            assert!(cache.busy(owner, &[agent], from, until).is_some());
        }

        cache.bookings_changed(tenant);

        assert!(cache.busy(tenant, &[agent], from, until).is_none());
        assert!(cache.busy(other_tenant, &[agent], from, until).is_some());
    }

    #[test]
    fn an_entry_read_while_a_write_committed_is_never_served() {
        let cache = CalendarCache::new(Duration::from_secs(60), 100);
        let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
        let from = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let until = from + chrono::Duration::days(1);
        let stamp_before_read = cache.stamp(tenant);
        cache.bookings_changed(tenant);
        cache.remember_busy(
            tenant,
            &[agent],
            from,
            until,
            stamp_before_read,
            intervals(agent),
        );
        assert!(cache.busy(tenant, &[agent], from, until).is_none());
    }

    /// A pool that is never used: it only switches background refreshes on.
    fn idle_pool() -> DbPool {
        let manager = diesel_async::pooled_connection::AsyncDieselConnectionManager::<
            diesel_async::AsyncPgConnection,
        >::new("postgres://127.0.0.1:1/unused");
        DbPool::builder(manager).max_size(1).build().unwrap()
    }

    #[test]
    fn an_expired_entry_is_served_while_one_caller_refreshes_it() {
        let cache =
            CalendarCache::new(Duration::from_millis(30), 100).with_refresh_pool(idle_pool());
        let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
        let from = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let until = from + chrono::Duration::days(1);
        let stamp = cache.stamp(tenant);
        cache.remember_busy(tenant, &[agent], from, until, stamp, intervals(agent));
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::Current(_)
        ));

        std::thread::sleep(Duration::from_millis(35));
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::RefreshDue(_)
        ));
        // Only the first caller refreshes; the others are served meanwhile.
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::Current(_)
        ));
        // A failed refresh lets the next caller try again.
        cache.refresh_failed(tenant, &[agent], from, until);
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::RefreshDue(_)
        ));
        // The refreshed entry is current again.
        let stamp = cache.stamp(tenant);
        cache.remember_busy(tenant, &[agent], from, until, stamp, intervals(agent));
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::Current(_)
        ));

        // Past twice the time to live nothing is served.
        std::thread::sleep(Duration::from_millis(65));
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::Missing
        ));
    }

    #[test]
    fn an_expired_entry_read_before_a_write_of_this_process_is_never_served() {
        let cache =
            CalendarCache::new(Duration::from_millis(30), 100).with_refresh_pool(idle_pool());
        let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
        let from = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let until = from + chrono::Duration::days(1);
        let stamp = cache.stamp(tenant);
        cache.remember_busy(tenant, &[agent], from, until, stamp, intervals(agent));
        std::thread::sleep(Duration::from_millis(35));
        cache.bookings_changed(tenant);
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::Missing
        ));
    }

    #[test]
    fn without_a_refresh_pool_an_expired_entry_is_read_again() {
        let cache = CalendarCache::new(Duration::from_millis(30), 100);
        let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
        let from = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let until = from + chrono::Duration::days(1);
        let stamp = cache.stamp(tenant);
        cache.remember_busy(tenant, &[agent], from, until, stamp, intervals(agent));
        std::thread::sleep(Duration::from_millis(35));
        assert!(matches!(
            cache.lookup_busy(tenant, &[agent], from, until),
            BusyLookup::Missing
        ));
        assert!(cache.busy(tenant, &[agent], from, until).is_none());
    }

    #[test]
    fn a_catalog_edit_invalidates_every_tenants_entries() {
        let cache = CalendarCache::new(Duration::from_secs(60), 100);
        let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
        let from = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let until = from + chrono::Duration::days(1);
        let stamp = cache.stamp(tenant);
        cache.remember_busy(tenant, &[agent], from, until, stamp, intervals(agent));
        cache.catalog_changed();
        assert!(cache.busy(tenant, &[agent], from, until).is_none());
    }
}
