//! Per-segment partial results: what one search found in one index segment (its best hits,
//! its count, its facet counts), kept while that segment is unchanged, so that after a commit
//! only the new segments are searched.
//!
//! Every accepted transfer commits the index, which makes a new reader generation and so
//! empties the whole-result cache ([`super::cache`]). But a commit only *adds* a segment (or
//! marks deletions in one, or merges a few): the other segments, which hold nearly every
//! record, are the same files. A search's partial result for a segment is therefore kept under
//! the segment's id and its number of deleted documents (deletions only ever grow, so the
//! pair names exactly the documents alive in it), and a search after a commit reads the
//! unchanged segments' partials and searches only what is new.
//!
//! Scores must not depend on which segments were searched when: tantivy scores with BM25
//! statistics (document count, field lengths, term frequencies) taken over the whole index,
//! and those change with every commit. So while the cache is on, scoring uses the statistics
//! of a **scoring epoch**: the index as it was at one reload, kept until the number of
//! documents has moved by more than [`EPOCH_DRIFT`] or the epoch is [`EPOCH_MAX_AGE`] old.
//! Within an epoch a record's score is the same whichever segment holds it and whenever it
//! was searched; a new epoch starts the partials afresh. (tantivy's own statistics are no
//! more exact than this: they count deleted documents until a merge removes them.)

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tantivy::collector::{Collector, FacetCollector, FacetCounts, SegmentCollector};
use tantivy::index::SegmentId;
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::cache::{HitCounts, Key};

/// A scoring epoch ends when the number of documents has moved by more than this share.
pub const EPOCH_DRIFT: f64 = 0.05;
/// A scoring epoch ends at this age at the latest (it keeps its segments' files open).
pub const EPOCH_MAX_AGE: Duration = Duration::from_secs(600);
/// Partials kept per whole result the result cache may keep: an index has a few dozen
/// segments at most (tantivy's merge policy keeps their number logarithmic).
pub const PARTIALS_PER_RESULT: usize = 32;

/// What a search found in one segment.
#[derive(Clone)]
pub(crate) struct Partial {
    /// The best hits, best first: score and document within the segment.
    pub top: Vec<(Score, DocId)>,
    /// Every match.
    pub count: u64,
    /// Facet counts per dimension (in the order of the collector's facet fields); empty when
    /// facets were not asked for.
    pub facets: Vec<FacetCounts>,
}

/// The statistics searches score with while the partial cache is on.
#[derive(Clone)]
pub(crate) struct Epoch {
    /// Names the epoch in partials' keys.
    pub id: u64,
    /// The index as it was when the epoch began (a tantivy searcher is its own statistics
    /// provider).
    pub searcher: Searcher,
    num_docs: u64,
    began: Instant,
}

impl Epoch {
    fn still_fits(&self, current: &Searcher, now: Instant) -> bool {
        let (then, docs) = (self.num_docs as f64, current.num_docs() as f64);
        now.duration_since(self.began) < EPOCH_MAX_AGE
            && (docs - then).abs() <= then * EPOCH_DRIFT
            && (then > 0.0 || docs == 0.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PartialKey {
    search: Key,
    segment: SegmentId,
    deleted: u32,
    epoch: u64,
}

/// The partial results of one opened index (shared by its clones).
#[derive(Default)]
pub struct PartialCache {
    /// Most partials kept; 0: off (searches then score with the whole index's statistics).
    capacity: AtomicUsize,
    epoch: Mutex<Option<Epoch>>,
    next_epoch: AtomicU64,
    entries: Mutex<HashMap<PartialKey, Arc<Partial>>>,
    counts: HitCounts,
}

impl std::fmt::Debug for PartialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartialCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Counters of the partial cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialStats {
    /// Segments whose partial result was reused.
    pub hits: u64,
    /// Segments searched (while the cache is on).
    pub misses: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Entries are whole values: a panic while holding the lock leaves nothing half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PartialCache {
    /// Keeps at most `entries` partials (0 turns the cache off, empties it and ends the
    /// epoch).
    pub fn set_capacity(&self, entries: usize) {
        self.capacity.store(entries, Ordering::Relaxed);
        if entries == 0 {
            lock(&self.entries).clear();
            *lock(&self.epoch) = None;
        }
    }

    /// Its counters.
    pub fn stats(&self) -> PartialStats {
        let (hits, misses) = self.counts.read();
        PartialStats { hits, misses }
    }

    /// The epoch to score a search on `current` with; None when the cache is off.
    pub(crate) fn epoch(&self, current: &Searcher) -> Option<Epoch> {
        if self.capacity.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let mut g = lock(&self.epoch);
        match g.as_ref() {
            Some(e) if e.still_fits(current, now) => Some(e.clone()),
            _ => {
                let e = Epoch {
                    id: self.next_epoch.fetch_add(1, Ordering::Relaxed),
                    searcher: current.clone(),
                    num_docs: current.num_docs(),
                    began: now,
                };
                *g = Some(e.clone());
                // Partials of older epochs can never be asked for again.
                lock(&self.entries).clear();
                Some(e)
            }
        }
    }

    fn key(search: &Key, reader: &SegmentReader, epoch: u64) -> PartialKey {
        PartialKey {
            search: search.clone(),
            segment: reader.segment_id(),
            deleted: reader.num_deleted_docs(),
            epoch,
        }
    }

    pub(crate) fn get(
        &self,
        search: &Key,
        reader: &SegmentReader,
        epoch: u64,
    ) -> Option<Arc<Partial>> {
        let found = lock(&self.entries)
            .get(&Self::key(search, reader, epoch))
            .cloned();
        self.counts.record(found.is_some());
        found
    }

    pub(crate) fn put(
        &self,
        search: &Key,
        reader: &SegmentReader,
        epoch: u64,
        partial: Arc<Partial>,
    ) {
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return;
        }
        let mut g = lock(&self.entries);
        if g.len() >= capacity {
            // Bounded and crude, like the result cache: a working set refills it quickly.
            g.clear();
        }
        g.insert(Self::key(search, reader, epoch), partial);
    }
}

/// Collects a segment's partial result in one pass over its matches: the best `limit` hits,
/// the count and the facet counts of each facet field.
pub(crate) struct PartialCollector {
    pub limit: usize,
    pub facets: Vec<FacetCollector>,
}

/// A hit in the bounded heap: the heap's top is the worst kept (lowest score; among equal
/// scores the highest document, so that ties keep the earliest documents, as tantivy does).
#[derive(Clone, Copy)]
struct Kept(Score, DocId);

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // "Greater" = worse, so that BinaryHeap (a max-heap) has the worst on top.
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

type FacetChild = <FacetCollector as Collector>::Child;

/// [`PartialCollector`] on one segment.
pub(crate) struct PartialSegmentCollector {
    limit: usize,
    heap: BinaryHeap<Kept>,
    count: u64,
    facets: Vec<FacetChild>,
}

impl Collector for PartialCollector {
    type Fruit = Partial;
    type Child = PartialSegmentCollector;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<PartialSegmentCollector> {
        Ok(PartialSegmentCollector {
            limit: self.limit,
            heap: BinaryHeap::with_capacity(self.limit + 1),
            count: 0,
            facets: self
                .facets
                .iter()
                .map(|c| c.for_segment(ord, reader))
                .collect::<tantivy::Result<_>>()?,
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    /// Partials are merged by [`merge`], which knows each segment's ordinal in the searcher
    /// of the moment: a partial's hits carry only their document within the segment.
    fn merge_fruits(&self, _: Vec<Partial>) -> tantivy::Result<Partial> {
        Err(tantivy::TantivyError::InternalError(
            "partial results are merged by search::partial::merge".into(),
        ))
    }
}

impl SegmentCollector for PartialSegmentCollector {
    type Fruit = Partial;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.count += 1;
        if self.limit > 0 {
            let k = Kept(score, doc);
            if self.heap.len() < self.limit {
                self.heap.push(k);
            } else if self.heap.peek().is_some_and(|worst| k < *worst) {
                self.heap.pop();
                self.heap.push(k);
            }
        }
        for f in &mut self.facets {
            f.collect(doc, score);
        }
    }

    fn harvest(self) -> Partial {
        // Ascending by "worse" order = best first.
        let top = self
            .heap
            .into_sorted_vec()
            .into_iter()
            .map(|Kept(s, d)| (s, d))
            .collect();
        Partial {
            top,
            count: self.count,
            facets: self.facets.into_iter().map(|f| f.harvest()).collect(),
        }
    }
}

/// A search's merged partials: its best hits (with their address in the searcher of the
/// moment), its total and its facet counts per dimension.
pub(crate) type Merged = (Vec<(Score, tantivy::DocAddress)>, u64, Vec<FacetCounts>);

/// The merged result of a search's partials, with each hit's segment ordinal in the searcher
/// it was searched on: the best `limit` hits (best first; equal scores in index order), the
/// total, and each facet dimension's counts summed.
pub(crate) fn merge(
    partials: &[(SegmentOrdinal, Arc<Partial>)],
    limit: usize,
    facets: &[FacetCollector],
) -> tantivy::Result<Merged> {
    let mut top: Vec<(Score, tantivy::DocAddress)> = partials
        .iter()
        .flat_map(|(ord, p)| {
            p.top
                .iter()
                .map(move |(s, d)| (*s, tantivy::DocAddress::new(*ord, *d)))
        })
        .collect();
    top.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    top.truncate(limit);
    let total = partials.iter().map(|(_, p)| p.count).sum();
    let mut merged = Vec::with_capacity(facets.len());
    for (i, c) in facets.iter().enumerate() {
        let per_segment = partials
            .iter()
            .filter_map(|(_, p)| p.facets.get(i).cloned())
            .collect();
        merged.push(c.merge_fruits(per_segment)?);
    }
    Ok((top, total, merged))
}
