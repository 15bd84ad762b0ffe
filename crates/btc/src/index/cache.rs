//! A bounded map for hot rows (address ids, running totals, unspent outputs): two generations, the young one taking
//! every insert and hit, the old one dropped whole when the young one fills.
//! An entry used at least once per generation stays; memory stays below two
//! generations' worth. Cheaper than an LRU list and close enough for a cache
//! whose misses cost one store read.

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// A two-generation cache holding at most `2 * capacity` entries.
#[derive(Debug)]
pub(crate) struct GenCache<K, V> {
    young: FxHashMap<K, V>,
    old: FxHashMap<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq + Copy, V: Copy> GenCache<K, V> {
    /// An empty cache whose generations hold `capacity` entries each.
    pub(crate) fn new(capacity: usize) -> Self {
        GenCache { young: FxHashMap::default(), old: FxHashMap::default(), capacity: capacity.max(1) }
    }

    /// The value of `key`, moving it to the young generation on a hit in the old one.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        if let Some(value) = self.young.get(key) {
            return Some(*value);
        }
        let value = self.old.remove(key)?;
        self.insert(*key, value);
        Some(value)
    }

    /// Inserts `key` with `value`, retiring the old generation when the young one is full.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.young.len() >= self.capacity {
            self.old = std::mem::take(&mut self.young);
            self.young.reserve(self.capacity.min(1 << 16));
        }
        self.young.insert(key, value);
    }

    /// Removes `key` from both generations, returning its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.young.remove(key).or_else(|| self.old.remove(key))
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_recently_used_entries_within_its_bound() {
        let mut cache = GenCache::new(2);
        cache.insert(1, 'a');
        cache.insert(2, 'b');
        cache.insert(3, 'c'); // 1 and 2 retire to the old generation
        assert_eq!(cache.get(&1), Some('a')); // back to young: {3, 1}
        cache.insert(4, 'd'); // young full: old = {3, 1}, 2 dropped
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.get(&3), Some('c'));
        assert_eq!(cache.get(&4), Some('d'));
        assert_eq!(cache.remove(&4), Some('d'));
        assert_eq!(cache.get(&4), None);
        cache.clear();
        assert_eq!(cache.get(&4), None);
    }
}
