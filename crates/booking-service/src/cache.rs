//! Short-lived in-process caches for what every hot request reads: the tenant behind an API
//! key, the schedule of a product's agents, and the bookings a slot search subtracts.
//!
//! None of them decides anything on its own. Postgres refuses a double booking whatever a
//! cache says (the exclusion constraint), so a stale entry can at worst offer a slot that
//! booking then refuses with a clear 409, which is the race every caller already has between
//! hearing a slot and booking it. A write in this process invalidates at once (see
//! [`CalendarCache`]); a write through another replica shows within the time to live.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::booking::slots::ProductSchedule;

/// A map whose entries expire `ttl` after insertion, holding at most `capacity` of them.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, Arc<V>)>>,
}

impl<K: Eq + Hash, V> TtlCache<K, V> {
    /// Returns an empty cache.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the live entry of `key`.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let entries = self.entries.lock().ok()?;
        let (inserted, value) = entries.get(key)?;
        (inserted.elapsed() < self.ttl).then(|| Arc::clone(value))
    }

    /// Stores `value` under `key`. When full, expired entries go first, and everything if
    /// none has expired: a cache, not a store.
    pub fn insert(&self, key: K, value: Arc<V>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (inserted, _)| inserted.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

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

/// Product schedules and busy times for slot searches and bookings.
///
/// Every entry carries the [`Stamp`] read *before* its data was read, and a write bumps the
/// counters only *after* its transaction committed. So an entry read concurrently with a
/// write either saw the write or carries the old stamp and is never served: within this
/// process a search never misses a committed booking. Catalog edits (rare) invalidate every
/// tenant's entries, bookings only their tenant's.
#[derive(Debug)]
pub struct CalendarCache {
    schedules: TtlCache<(Uuid, Uuid), (Stamp, Arc<ProductSchedule>)>,
    busy: TtlCache<BusyKey, (Stamp, Arc<BusyIntervals>)>,
    catalog_version: AtomicU64,
    booking_versions: Mutex<HashMap<Uuid, u64>>,
}

impl CalendarCache {
    /// Returns an empty cache whose entries live at most `ttl`.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            schedules: TtlCache::new(ttl, capacity),
            busy: TtlCache::new(ttl, capacity),
            catalog_version: AtomicU64::new(0),
            booking_versions: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the current stamp of `tenant_id`'s data; read it before reading the data.
    pub fn stamp(&self, tenant_id: Uuid) -> Stamp {
        let catalog = self.catalog_version.load(Ordering::Acquire);
        let bookings = self
            .booking_versions
            .lock()
            .map(|versions| versions.get(&tenant_id).copied().unwrap_or(0))
            .unwrap_or(u64::MAX);
        Stamp { catalog, bookings }
    }

    /// Returns the product's schedule if one read since the last catalog edit is cached.
    pub fn schedule(&self, tenant_id: Uuid, product_id: Uuid) -> Option<Arc<ProductSchedule>> {
        let entry = self.schedules.get(&(tenant_id, product_id))?;
        let (stamp, schedule) = &*entry;
        (stamp.catalog == self.catalog_version.load(Ordering::Acquire))
            .then(|| Arc::clone(schedule))
    }

    /// Remembers a schedule read at `stamp`.
    pub fn remember_schedule(
        &self,
        tenant_id: Uuid,
        product_id: Uuid,
        stamp: Stamp,
        schedule: Arc<ProductSchedule>,
    ) {
        self.schedules
            .insert((tenant_id, product_id), Arc::new((stamp, schedule)));
    }

    /// Returns the busy times of `agent_ids` in `[from, until)` if cached and current.
    pub fn busy(
        &self,
        tenant_id: Uuid,
        agent_ids: &[Uuid],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<Arc<BusyIntervals>> {
        let entry = self
            .busy
            .get(&(tenant_id, agent_ids.to_vec(), from, until))?;
        let (stamp, intervals) = &*entry;
        (*stamp == self.stamp(tenant_id)).then(|| Arc::clone(intervals))
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
        self.busy.insert(
            (tenant_id, agent_ids.to_vec(), from, until),
            Arc::new((stamp, intervals)),
        );
    }

    /// Call after a transaction that booked, moved or cancelled an appointment of
    /// `tenant_id` committed.
    pub fn bookings_changed(&self, tenant_id: Uuid) {
        if let Ok(mut versions) = self.booking_versions.lock() {
            *versions.entry(tenant_id).or_insert(0) += 1;
        }
    }

    /// Call after a catalog edit (entity, type, product, agent, hours) committed.
    pub fn catalog_changed(&self) {
        self.catalog_version.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let cache = TtlCache::new(Duration::from_millis(30), 2);
        cache.insert(1, Arc::new("one"));
        assert_eq!(cache.get(&1).as_deref(), Some(&"one"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(&1).is_none());
        cache.insert(2, Arc::new("two"));
        cache.insert(3, Arc::new("three"));
        cache.insert(4, Arc::new("four"));
        assert!(cache.get(&4).is_some());
        assert!(cache.entries.lock().unwrap().len() <= 2);
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
