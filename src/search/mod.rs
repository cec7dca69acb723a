//! The search index: a tantivy index under `<home>/index/`, derived from the store and the
//! ledger and rebuilt from them at any time (DESIGN.md "Index: tantivy", invariant 6).
//!
//! Owns the index directory and nothing else: it reads the store and the ledger, never writes
//! them. [`follower::catch_up`] is the ONLY code path that writes an archive's index: it applies
//! ledger entries from the position the index last committed, in batches
//! ([`follower::index_records`] loads synthetic records into a scratch index for benchmarks;
//! its commits carry no position, so `catch_up` rebuilds such an index from the ledger). [`query::search`] reads it
//! within a caller's [`query::Scope`]. [`schema`] and [`tokenizer`] say what is indexed and
//! how. Specified in `formats/search.md`; keep the two in step.

pub mod cache;
pub mod follower;
pub mod partial;
pub mod query;
pub mod schema;
pub mod tokenizer;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher};

pub use follower::{catch_up, reindex, CatchUp, CatchUpOptions};
pub use query::{search, Facets, Filters, Hit, Scope, SearchResults};
pub use schema::Fields;

use crate::home::Home;
use crate::ledger::entry::EntryError;
use crate::ledger::log::LedgerError;
use crate::store::StoreError;

/// Version of the index format (schema, analyzers, position payload) in `formats/search.md`.
/// An index of another version is rebuilt from the ledger by the next catch-up.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest index format this code reads (the index is a cache: older ones are rebuilt).
pub const OLDEST_SUPPORTED_FORMAT: u32 = 2;

/// Errors of the search index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy failed on the index directory.
    #[error("search index at {path}")]
    Index {
        /// The index directory.
        path: PathBuf,
        /// tantivy's error.
        #[source]
        source: tantivy::TantivyError,
    },
    /// The index directory could not be created, opened or removed.
    #[error("search index directory {path}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The index was written with another schema or by another archive and is in use, so it
    /// cannot be rebuilt now.
    #[error("the search index at {0} has another format or archive; run `strongroom reindex`")]
    Incompatible(PathBuf),
    /// Another process holds the index's writer lock.
    #[error("the search index at {0} is being written by another process")]
    Busy(PathBuf),
    /// The query does not parse.
    #[error("query {query:?} does not parse")]
    Query {
        /// The query text.
        query: String,
        /// The parser's error.
        #[source]
        source: tantivy::query::QueryParserError,
    },
    /// A query's `refcode:` prefix could not be made into a query.
    #[error("refcode prefix {prefix:?}")]
    RefcodePrefix {
        /// What was asked for.
        prefix: String,
        /// tantivy's error.
        #[source]
        source: tantivy::TantivyError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A ledger entry could not be read.
    #[error("ledger entry {index}")]
    Entry {
        /// Its index.
        index: u64,
        /// Why.
        #[source]
        source: EntryError,
    },
    /// A blocking task (text extraction) failed.
    #[error("text extraction task failed: {0}")]
    Task(String),
}

/// Where the follower stands: kept as the payload of every tantivy commit (JSON), so the
/// documents and the position are committed together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// [`FORMAT_VERSION`] of the index.
    pub format_version: u32,
    /// The ledger's origin line (the archive it follows).
    pub origin: String,
    /// Number of ledger entries applied: entries `0..applied` are in the index.
    pub applied: u64,
}

/// An opened index, its fields and its one reader.
///
/// Clones share the reader: opening a reader opens every segment (term dictionaries, fast
/// fields), which costs more than most searches, so a process keeps one and reloads it when
/// the follower commits ([`SearchIndex::reload`]) instead of opening one per search.
#[derive(Clone)]
pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
    /// Ledger entries `0..n` are in what the reader shows (as of its last reload).
    read_to: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Recent results, per reader generation.
    cache: std::sync::Arc<cache::ResultCache>,
    /// Recent searches' results per unchanged segment.
    partials: std::sync::Arc<partial::PartialCache>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The index directory of a home: `<home>/index/`.
pub fn index_dir(home: &Home) -> PathBuf {
    home.dir().join("index")
}

impl SearchIndex {
    /// Opens the index in `dir`, creating an empty one when there is none. An index of another
    /// format is removed and created anew (it is derived data) unless its writer is busy.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        let io = |source| SearchError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let tv = |source| SearchError::Index {
            path: dir.to_path_buf(),
            source,
        };
        if dir.join("meta.json").exists() {
            let index = Index::open_in_dir(dir).map_err(tv)?;
            let fields = Fields::of(&index.schema());
            let position = read_position(&index).map_err(tv)?;
            let compatible = fields.is_some()
                && position
                    .as_ref()
                    .is_none_or(|p| p.format_version == FORMAT_VERSION);
            if let (true, Some(fields)) = (compatible, fields) {
                return SearchIndex::wrap(dir, index, fields);
            }
            // Another format: rebuild, unless someone is writing it.
            if index
                .writer::<tantivy::TantivyDocument>(WRITER_HEAP)
                .is_err()
            {
                return Err(SearchError::Incompatible(dir.to_path_buf()));
            }
            drop(index);
            std::fs::remove_dir_all(dir).map_err(io)?;
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let schema = schema::build();
        let index = Index::create_in_dir(dir, schema.clone()).map_err(tv)?;
        let fields = Fields::of(&schema).ok_or_else(|| SearchError::Incompatible(dir.into()))?;
        SearchIndex::wrap(dir, index, fields)
    }

    /// An index in memory (tests, benchmarks).
    pub fn in_ram() -> Result<SearchIndex, SearchError> {
        let schema = schema::build();
        let index = Index::create_in_ram(schema.clone());
        let dir = Path::new("(memory)");
        let fields = Fields::of(&schema).ok_or_else(|| SearchError::Incompatible(dir.into()))?;
        SearchIndex::wrap(dir, index, fields)
    }

    fn wrap(dir: &Path, index: Index, fields: Fields) -> Result<SearchIndex, SearchError> {
        index
            .tokenizers()
            .register(tokenizer::ANALYZER, tokenizer::analyzer());
        // Reloaded by the follower after each of its commits, not by a file watcher: the
        // follower is the only writer, and a watcher thread per opened index buys nothing.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|source| SearchError::Index {
                path: dir.to_path_buf(),
                source,
            })?;
        let applied = read_position(&index)
            .ok()
            .flatten()
            .filter(|p| p.format_version == FORMAT_VERSION)
            .map_or(0, |p| p.applied);
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            index,
            fields,
            reader,
            read_to: std::sync::Arc::new(applied.into()),
            cache: std::sync::Arc::default(),
            partials: std::sync::Arc::default(),
        })
    }

    /// Keeps the results of up to `entries` searches for the current reader generation, and
    /// their partial results per segment across generations ([`partial`]) (0, the default:
    /// none). For a long-running process that answers the same searches often.
    pub fn set_result_cache(&self, entries: usize) {
        self.cache.set_capacity(entries);
        self.partials
            .set_capacity(entries.saturating_mul(partial::PARTIALS_PER_RESULT));
    }

    /// The partial results kept per segment.
    pub fn partials(&self) -> &partial::PartialCache {
        &self.partials
    }

    /// The result cache.
    pub fn cache(&self) -> &cache::ResultCache {
        &self.cache
    }

    /// A searcher over the index as of the last [`SearchIndex::reload`] (or the opening).
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Makes the searchers that follow see the index's last commit (by this process or
    /// another), which applied ledger entries `0..applied`. Searchers already handed out keep
    /// the segments they hold.
    pub fn reload(&self, applied: u64) -> Result<(), SearchError> {
        self.reader.reload().map_err(|source| self.err(source))?;
        self.read_to
            .store(applied, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Ledger entries `0..n` are in every searcher handed out from now on (the position of
    /// the last reload; an index opened and not yet caught up: its committed position, which
    /// the caller checks against its ledger's origin through [`follower::catch_up`]).
    pub fn read_to(&self) -> u64 {
        self.read_to.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The tantivy index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Its fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The follower's committed position; None for an index never committed.
    pub fn position(&self) -> Result<Option<Position>, SearchError> {
        read_position(&self.index).map_err(|source| self.err(source))
    }

    fn err(&self, source: tantivy::TantivyError) -> SearchError {
        SearchError::Index {
            path: self.dir.clone(),
            source,
        }
    }
}

/// Memory budget of the index writer (split among its threads).
pub(crate) const WRITER_HEAP: usize = 128 * 1024 * 1024;

fn read_position(index: &Index) -> tantivy::Result<Option<Position>> {
    let metas = index.load_metas()?;
    Ok(metas
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok()))
}
