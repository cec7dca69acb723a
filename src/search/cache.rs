//! The result cache: recent search results, valid for the reader generation they were
//! computed on.
//!
//! A search that counts every match and its facets costs in proportion to how many records
//! match, and archivists repeat the same searches (the start page's facets, a word refined by
//! a filter, the next page). Results are kept per tantivy reader generation: a reload after a
//! catch-up commit makes a new generation, and the first search on it empties the cache, so a
//! cached answer is always the answer the index would give now.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::query::{Filters, Scope, SearchResults};

/// What a search asked: equal keys on one generation have equal results.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub query: String,
    pub filters: Filters,
    pub scope: Scope,
    pub limit: usize,
    pub facets: bool,
}

/// The cache of one opened index (shared by its clones).
#[derive(Debug, Default)]
pub struct ResultCache {
    /// Most entries kept; 0: off.
    capacity: AtomicUsize,
    /// The generation the entries belong to, and the entries.
    entries: Mutex<(u64, HashMap<Key, SearchResults>)>,
    counts: HitCounts,
}

/// Hits and misses of a cache (the result cache, the partial results).
#[derive(Debug, Default)]
pub(crate) struct HitCounts {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl HitCounts {
    /// Counts one look-up.
    pub(crate) fn record(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (hits, misses) so far.
    pub(crate) fn read(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// Counters of a result cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Searches answered from the cache.
    pub hits: u64,
    /// Searches run on the index (while the cache is on).
    pub misses: u64,
}

impl ResultCache {
    /// Keeps at most `entries` results (0 turns the cache off and empties it).
    pub fn set_capacity(&self, entries: usize) {
        self.capacity.store(entries, Ordering::Relaxed);
        if entries == 0 {
            self.lock().1.clear();
        }
    }

    /// Its counters.
    pub fn stats(&self) -> CacheStats {
        let (hits, misses) = self.counts.read();
        CacheStats { hits, misses }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<Key, SearchResults>)> {
        // A panic while holding it cannot leave it inconsistent: entries are whole values.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, generation: u64, key: &Key) -> Option<SearchResults> {
        if self.capacity.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let found = {
            let g = self.lock();
            (g.0 == generation).then(|| g.1.get(key).cloned()).flatten()
        };
        self.counts.record(found.is_some());
        found
    }

    pub(crate) fn put(&self, generation: u64, key: Key, results: &SearchResults) {
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return;
        }
        let mut g = self.lock();
        if g.0 != generation {
            // Generations only grow: an older searcher's result is not kept over newer ones.
            if generation < g.0 {
                return;
            }
            *g = (generation, HashMap::new());
        }
        if g.1.len() >= capacity {
            // Crude but bounded: the working set of an archive's searches refills it quickly.
            g.1.clear();
        }
        g.1.insert(key, results.clone());
    }
}
