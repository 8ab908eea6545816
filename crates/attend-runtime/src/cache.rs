//! A small in-process cache with a time to live, for values every hot request reads and that
//! may be seconds stale (each user says why that is safe for what it caches).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        self.get_aged(key).map(|(_, value)| value)
    }

    /// Returns the live entry of `key` and how long ago it was inserted.
    pub fn get_aged(&self, key: &K) -> Option<(Duration, Arc<V>)> {
        let entries = self.entries.lock().ok()?;
        let (inserted, value) = entries.get(key)?;
        let age = inserted.elapsed();
        (age < self.ttl).then(|| (age, Arc::clone(value)))
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
