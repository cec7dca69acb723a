//! The ledger in the store: C2SP `tlog-tiles` under `ledger/`, appended in batches with one
//! durable commit each (group commit), signed checkpoints, proofs, recovery and verification.
//!
//! Owns every object under `ledger/` and nothing else: it never reads or writes `ocfl/`, and it
//! does not decide what an entry means (that is [`super::entry`]'s job; here an entry is opaque
//! bytes). The tree arithmetic is [`super::merkle`] and [`super::tiles`], the checkpoint text
//! [`super::checkpoint`], signatures [`crate::sign`]. Specified in `formats/ledger.md` §7-§10.
//!
//! **Durability contract.** [`Ledger::append`] signs the checkpoint of the new size, then puts
//! the batch's **claim** `ledger/next/<old size>` create-only ([`super::claim`]) and syncs:
//! that is the commit point. Exactly one claim can exist per size, so exactly one batch
//! follows each size whoever writes (a writer whose claim put finds another claim did not
//! commit and writes nothing). The entry bundles and hash tiles of the new size are then
//! written from the claim, synced, `ledger/checkpoints/<size>` created and `ledger/checkpoint`
//! advanced (never moved back), synced; `append` MUST NOT return `Ok` before that last sync,
//! so readers see an acknowledged batch. A batch whose claim is durable is in the ledger: a
//! crash after it is rolled forward by the next writer's recovery (or by a writer that finds
//! the claim), which writes the same bytes. `ledger/checkpoint` is the only ledger object ever
//! replaced; nothing within the committed size is ever deleted or rewritten.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{self, Checkpoint};
use super::claim::{Claim, ClaimError};
use super::merkle::{self, Hash, HashReader, LeafIndex, MissingNode, NodeId, TreeSize};
use super::tiles::{self, Resource, Tile, MAX_ENTRY_LEN, MAX_LEVEL, TILE_WIDTH};
use super::STORE_PREFIX;
use crate::findings::Severity;
use crate::sign::{self, ArchiveKey, Verifier};
use crate::store::{self, BackendKind, Store, StoreError, WriterLock};

/// The latest signed checkpoint, relative to the store's top.
pub const CHECKPOINT_PATH: &str = "ledger/checkpoint";

/// The folder that keeps every checkpoint ever published, named by its 20-digit size.
pub const CHECKPOINTS_DIR: &str = "ledger/checkpoints";

/// The folder of batch claims: `ledger/next/<old size, 20 digits>`, one per batch, create-only
/// and never changed (`formats/ledger.md` §7).
pub const NEXT_DIR: &str = "ledger/next";

/// First line of a C2SP `tlog-proof`.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most entries [`GroupCommit`] puts in one batch (one [`Ledger::append`]).
pub const MAX_BATCH: usize = 4096;

/// Create-only puts in flight at once during an append.
const WRITE_CONCURRENCY: usize = 16;

/// Scheduler yields [`GroupCommit`] waits for more entries before committing a batch.
const LINGER_ROUNDS: u32 = 8;

/// Bundles read ahead during [`Ledger::verify`].
const READ_AHEAD: usize = 8;

/// [`Ledger::recover`] probes this many consecutive tile indices right of the committed edge
/// at each level before it concludes there is no more garbage there: enough for any batch of
/// [`MAX_BATCH`] entries. Garbage further right (only from a crashed direct `append` of a
/// larger batch) is harmless: it lies beyond the committed size, is never read, and a later
/// append that reaches it replaces it after comparing bytes.
const RECOVER_PROBE: u64 = (MAX_BATCH as u64) / (TILE_WIDTH as u64) + 2;

/// At most this many leaf-level disagreements are remembered during `verify`.
const MAX_PENDING: usize = 1000;

const FULL: u64 = TILE_WIDTH as u64;

/// Errors of the ledger layer. Each keeps its cause and, where one exists, the path.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Tile arithmetic refused a request (a bug or an absurd size).
    #[error(transparent)]
    Tiles(#[from] tiles::Error),
    /// A tile or entry bundle in the store does not decode.
    #[error("malformed ledger object {path}")]
    Malformed {
        /// The object's path in the store.
        path: String,
        /// What is wrong with it.
        #[source]
        source: tiles::Error,
    },
    /// A proof or hash was refused.
    #[error(transparent)]
    Merkle(#[from] merkle::Error),
    /// A checkpoint could not be built, parsed or signed.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::Error),
    /// A checkpoint in the store does not parse or does not verify with the archive key.
    #[error("checkpoint {path} cannot be trusted")]
    BadCheckpoint {
        /// The object's path in the store.
        path: String,
        /// Why.
        #[source]
        source: Box<checkpoint::Error>,
    },
    /// A signature failed.
    #[error(transparent)]
    Sign(#[from] sign::Error),
    /// An entry longer than a bundle can hold.
    #[error("a ledger entry is {len} bytes; at most {MAX_ENTRY_LEN} fit in an entry bundle")]
    EntryTooLarge {
        /// Its length.
        len: usize,
    },
    /// An append of no entries.
    #[error("an empty batch cannot be appended")]
    EmptyBatch,
    /// An entry index not below the tree size.
    #[error("index {index} is out of range for a ledger of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size it was asked against.
        size: u64,
    },
    /// A tree size beyond the latest checkpoint.
    #[error("tree size {size} is beyond the ledger's size {latest}")]
    SizeOutOfRange {
        /// The size asked for.
        size: u64,
        /// The latest checkpoint's size.
        latest: u64,
    },
    /// No signed checkpoint of that size is kept.
    #[error("no signed checkpoint of size {size} is kept in {CHECKPOINTS_DIR}/")]
    NoCheckpoint {
        /// The size asked for.
        size: u64,
    },
    /// The store holds something that breaks the ledger's invariants.
    #[error("ledger inconsistency at {path}: {message}")]
    Inconsistent {
        /// Where.
        path: String,
        /// What.
        message: String,
    },
    /// The append failed at or after replacing `ledger/checkpoint`: the batch may or may not
    /// be in the ledger (it is iff the checkpoint that covers it survived). The caller MUST
    /// treat its entries as not acknowledged, and start-up recovery MUST reconcile.
    #[error("the ledger append failed while committing; it may or may not have committed")]
    CommitUncertain {
        /// The failure.
        #[source]
        source: Box<LedgerError>,
    },
    /// The group-commit batch holding this entry failed (shared by every entry of the batch).
    #[error("the ledger batch holding this entry failed")]
    BatchFailed {
        /// The batch's failure.
        #[source]
        source: Arc<LedgerError>,
    },
    /// The group-commit task has stopped (shut down, or stopped after an uncertain commit).
    #[error("the ledger's group-commit task has stopped")]
    Closed,
    /// Another batch was committed (claimed) after the size this writer read, while it held
    /// the lock and before that batch was written out: a writer stopped past its lease claimed
    /// it. It has been written out; this batch was not appended (its planned indices are
    /// taken), and the caller MUST treat it as not committed.
    #[error(
        "another batch was committed after ledger size {size} while this writer held the lock \
         (a writer stopped past its lease); it was written out and this batch was not appended"
    )]
    Overtaken {
        /// The size this writer read.
        size: u64,
    },
    /// A batch claim in the store does not decode.
    #[error("ledger claim {path} cannot be read")]
    BadClaim {
        /// The claim's path in the store.
        path: String,
        /// Why (boxed: it keeps `LedgerError` small).
        #[source]
        source: Box<ClaimError>,
    },
    /// A text is not a C2SP `tlog-proof`.
    #[error("not a C2SP tlog-proof: {0}")]
    ProofFormat(String),
    /// An entry the ledger writes itself (the recovery's `writer.fenced`) could not be encoded.
    #[error(transparent)]
    Entry(#[from] super::entry::EntryError),
}

fn inconsistent(path: impl fmt::Display, message: impl Into<String>) -> LedgerError {
    LedgerError::Inconsistent {
        path: path.to_string(),
        message: message.into(),
    }
}

/// A checkpoint with the signed note it came in.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The whole signed note: checkpoint text, blank line, signature lines.
    pub note: String,
    /// The checkpoint it carries.
    pub checkpoint: Checkpoint,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint note without checking its signature.
    pub fn parse(note: &str) -> Result<SignedCheckpoint, LedgerError> {
        let text = note_text(note)?;
        Ok(SignedCheckpoint {
            note: note.to_string(),
            checkpoint: Checkpoint::parse(text)?,
        })
    }

    /// Verifies the note with the trusted key, parses it and checks its origin.
    pub fn verify(
        note: &str,
        verifier: &Verifier,
        origin: &str,
    ) -> Result<SignedCheckpoint, LedgerError> {
        Ok(SignedCheckpoint {
            note: note.to_string(),
            checkpoint: Checkpoint::verify(note, verifier, origin)?,
        })
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size().0
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        *self.checkpoint.root()
    }
}

/// The text of a signed note (everything before the blank line, with its final newline).
fn note_text(note: &str) -> Result<&str, checkpoint::Error> {
    let split = note.rfind("\n\n").ok_or_else(|| {
        checkpoint::Error::Signature(sign::Error::MalformedNote(
            "no blank line between text and signatures".into(),
        ))
    })?;
    Ok(&note[..split + 1])
}

/// What [`Ledger::append`] did.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Index of the batch's first entry; the others follow in order.
    pub first_index: u64,
    /// The checkpoint that commits the batch (its size is `first_index` + batch length).
    pub checkpoint: SignedCheckpoint,
}

/// What [`Ledger::recover`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerRecovery {
    /// The committed size.
    pub size: u64,
    /// The ledger was rolled forward past `ledger/checkpoint` (an append that crashed after
    /// its commit point: its claim, or a kept checkpoint of a store written before claims):
    /// the size published now.
    pub rolled_forward: Option<u64>,
    /// Sizes of the claimed batches whose tiles and checkpoints recovery wrote, in order.
    pub claims_finished: Vec<u64>,
    /// `ledger/checkpoints/<size>` was missing and has been recreated from `ledger/checkpoint`.
    pub checkpoint_kept: bool,
    /// Tiles and bundles right of the committed edge (left by an interrupted append), removed.
    pub removed: Vec<String>,
    /// Things recovery does not repair (reported by `verify` too), e.g. a kept checkpoint that
    /// differs from `ledger/checkpoint` at the same size.
    pub warnings: Vec<String>,
}

/// One problem [`Ledger::verify`] found: a stable code, the store path, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerFinding {
    /// Stable code, e.g. `LEDGER_BUNDLE_MISMATCH` (`formats/ledger.md` §10).
    pub code: String,
    /// Error or warning.
    pub severity: Severity,
    /// The object concerned, relative to the store's top (e.g. `ledger/tile/entries/000.p/5`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LedgerFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev} {} {}: {}", self.code, self.path, self.message)
    }
}

/// What [`Ledger::verify`] checked and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerVerifyReport {
    /// The log's origin.
    pub origin: String,
    /// Size of the latest checkpoint (0 for an empty ledger).
    pub size: u64,
    /// Its root (base64), when there is a checkpoint.
    pub root: Option<String>,
    /// Entries re-read and hashed.
    pub entries_checked: u64,
    /// Entry bundles read.
    pub bundles_checked: u64,
    /// Hash tiles read and compared.
    pub tiles_checked: u64,
    /// Signed checkpoints checked (latest, kept, `since`).
    pub checkpoints_checked: u64,
    /// Problems; no error-level finding means the ledger is intact.
    pub findings: Vec<LedgerFinding>,
}

impl LedgerVerifyReport {
    /// True when no error-level finding was made.
    pub fn is_ok(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| matches!(f.severity, Severity::Error))
    }

    /// The codes of the findings, in order.
    pub fn codes(&self) -> Vec<&str> {
        self.findings.iter().map(|f| f.code.as_str()).collect()
    }
}

/// Verify codes (`formats/ledger.md` §10).
pub mod codes {
    /// Kept checkpoints exist but `ledger/checkpoint` does not.
    pub const CHECKPOINT_MISSING: &str = "LEDGER_CHECKPOINT_MISSING";
    /// A checkpoint's signature by the archive key is missing or does not verify.
    pub const CHECKPOINT_SIGNATURE: &str = "LEDGER_CHECKPOINT_SIGNATURE";
    /// A checkpoint is not UTF-8 or its signed text is not a checkpoint.
    pub const CHECKPOINT_MALFORMED: &str = "LEDGER_CHECKPOINT_MALFORMED";
    /// A checkpoint is for another log.
    pub const CHECKPOINT_ORIGIN: &str = "LEDGER_CHECKPOINT_ORIGIN";
    /// `ledger/checkpoints/<n>` is not named by its own size.
    pub const CHECKPOINT_NAME: &str = "LEDGER_CHECKPOINT_NAME";
    /// A correctly signed checkpoint whose root is not the log's root at its size.
    pub const CHECKPOINT_FORK: &str = "LEDGER_CHECKPOINT_FORK";
    /// A correctly signed kept checkpoint larger than the latest: entries were dropped.
    pub const CHECKPOINT_ROLLBACK: &str = "LEDGER_CHECKPOINT_ROLLBACK";
    /// `ledger/checkpoints/<latest size>` is missing (warning; recovery recreates it).
    pub const CHECKPOINT_NOT_KEPT: &str = "LEDGER_CHECKPOINT_NOT_KEPT";
    /// The latest checkpoint's root is neither the root of the entries nor of the tiles.
    pub const ROOT_MISMATCH: &str = "LEDGER_ROOT_MISMATCH";
    /// An entry bundle the tree needs is missing.
    pub const BUNDLE_MISSING: &str = "LEDGER_BUNDLE_MISSING";
    /// An entry bundle does not decode (truncated, extra bytes, wrong entry count).
    pub const BUNDLE_MALFORMED: &str = "LEDGER_BUNDLE_MALFORMED";
    /// An entry was changed: its leaf hash is not the one the signed tree holds.
    pub const BUNDLE_MISMATCH: &str = "LEDGER_BUNDLE_MISMATCH";
    /// A hash tile the tree needs is missing.
    pub const TILE_MISSING: &str = "LEDGER_TILE_MISSING";
    /// A hash tile is not `width × 32` bytes.
    pub const TILE_MALFORMED: &str = "LEDGER_TILE_MALFORMED";
    /// A hash tile differs from the hashes recomputed from the entries.
    pub const TILE_MISMATCH: &str = "LEDGER_TILE_MISMATCH";
    /// The tree could not be recomputed past some entry (bundle and tile both unusable).
    pub const UNVERIFIABLE: &str = "LEDGER_UNVERIFIABLE";
    /// The `--since` checkpoint does not verify with the archive key or is not a checkpoint.
    pub const SINCE_SIGNATURE: &str = "LEDGER_SINCE_SIGNATURE";
    /// The `--since` checkpoint is larger than the latest.
    pub const SINCE_BEYOND: &str = "LEDGER_SINCE_BEYOND";
    /// The `--since` checkpoint is not a prefix of the log (its root differs at its size).
    pub const SINCE_FORK: &str = "LEDGER_SINCE_FORK";
    /// `ledger/checkpoint` is older than the claims chain, which leads to a published size
    /// (warning: the next writer or reader advances it; the tree is checked at the chain's end).
    pub const CHECKPOINT_STALE: &str = "LEDGER_CHECKPOINT_STALE";
    /// A claimed batch (committed) is not yet written out (warning: a writer was stopped
    /// mid-append; the next writer's recovery rolls it forward).
    pub const CLAIM_PENDING: &str = "LEDGER_CLAIM_PENDING";
    /// A claim that does not decode, or whose batch does not follow the tree it claims to.
    pub const CLAIM_MALFORMED: &str = "LEDGER_CLAIM_MALFORMED";
    /// The consistency proof from the `--since` checkpoint to the latest does not verify.
    pub const SINCE_PROOF: &str = "LEDGER_SINCE_PROOF";
}

fn ledger_path(rel: &str) -> Path {
    store::join(&Path::from(STORE_PREFIX), rel)
}

/// Store path of a hash tile.
pub fn tile_path(t: &Tile) -> Path {
    ledger_path(&t.path())
}

/// Store path of the entry bundle beside level-0 tile `t` (same index and width).
pub fn bundle_path(t: &Tile) -> Path {
    ledger_path(&Resource::Entries(*t).path())
}

/// Store path of the latest checkpoint.
pub fn checkpoint_path() -> Path {
    Path::from(CHECKPOINT_PATH)
}

/// Store path of the claim on the batch after `old`: `ledger/next/<old, 20 digits>`.
pub fn claim_path(old: u64) -> Path {
    ledger_path(&format!("next/{old:020}"))
}

/// Store path of the kept checkpoint of `size`: `ledger/checkpoints/<size, 20 digits>`.
pub fn kept_checkpoint_path(size: u64) -> Path {
    ledger_path(&format!("checkpoints/{size:020}"))
}

fn tile_at(level: u8, index: u64, size: u64) -> Result<Tile, LedgerError> {
    tiles::tile_at(level, index, TreeSize(size)).ok_or_else(|| {
        inconsistent(
            format!("{STORE_PREFIX}/tile/{level}"),
            format!("the tree of size {size} has no tile {index} at level {level}"),
        )
    })
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The right edge of the tree: for each tile level, the hashes from the start of one tile
/// (tile index `first[level]`) to the end. That is all an append or a streaming check needs:
/// every node of a root lies in the rightmost tile of its level.
#[derive(Debug, Clone, Default)]
struct Edge {
    first: Vec<u64>,
    levels: Vec<Vec<Hash>>,
}

impl Edge {
    fn hash_at(&self, level: usize, index: u64) -> Option<Hash> {
        let base = self.first.get(level)?.checked_mul(FULL)?;
        let pos = index.checked_sub(base)?;
        self.levels
            .get(level)?
            .get(usize::try_from(pos).ok()?)
            .copied()
    }

    fn node(&self, node: NodeId) -> Option<Hash> {
        let level = usize::from(node.level / tiles::TILE_HEIGHT);
        let rise = u32::from(node.level % tiles::TILE_HEIGHT);
        let first = node.index.checked_shl(rise)?;
        let mut layer = (first..first.checked_add(1 << rise)?)
            .map(|i| self.hash_at(level, i))
            .collect::<Option<Vec<Hash>>>()?;
        while layer.len() > 1 {
            layer = layer
                .chunks_exact(2)
                .map(|p| merkle::node_hash(&p[0], &p[1]))
                .collect();
        }
        layer.first().copied()
    }

    fn root(&self, size: u64) -> Option<Hash> {
        merkle::root(self, TreeSize(size)).ok()
    }

    /// The hashes of level `level` from the start of its edge tile.
    fn level(&self, level: usize) -> &[Hash] {
        self.levels.get(level).map_or(&[][..], Vec::as_slice)
    }

    fn add_level(&mut self) {
        self.first.push(0);
        self.levels
            .push(Vec::with_capacity(usize::from(TILE_WIDTH)));
    }

    /// Append mode: adds leaf hashes and folds every newly completed tile into the level
    /// above, keeping everything (the caller writes the tiles). Called once per edge read by
    /// [`Ledger::read_edge`], whose levels each hold fewer than 256 hashes.
    fn grow(&mut self, leaves: impl IntoIterator<Item = Hash>) {
        if self.levels.is_empty() {
            self.add_level();
        }
        self.levels[0].extend(leaves);
        let mut level = 0;
        while level < self.levels.len() {
            let parents: Vec<Hash> = self.levels[level]
                .chunks_exact(usize::from(TILE_WIDTH))
                .map(merkle::root_of)
                .collect();
            if !parents.is_empty() {
                if self.levels.len() == level + 1 {
                    self.add_level();
                }
                self.levels[level + 1].extend(parents);
            }
            level += 1;
        }
    }

    /// After an append to `size`: drops the complete tiles, keeping each level's hashes from
    /// the start of its edge tile at `size`. Returns how many level-0 hashes were dropped.
    fn trim(&mut self, size: u64) -> usize {
        let mut dropped0 = 0;
        for (level, (first, hashes)) in self.first.iter_mut().zip(&mut self.levels).enumerate() {
            let count =
                tiles::hashes_at_level(TreeSize(size), u8::try_from(level).unwrap_or(MAX_LEVEL));
            let new_first = count / FULL;
            let drop = to_usize(new_first.saturating_sub(*first) * FULL).min(hashes.len());
            hashes.drain(..drop);
            *first = new_first;
            if level == 0 {
                dropped0 = drop;
            }
        }
        dropped0
    }

    /// Streaming mode: adds one leaf hash and returns the tiles it completed, lowest level
    /// first, as `(level, tile index, hashes)`; completed tiles leave the edge.
    fn push_leaf(&mut self, leaf: Hash) -> Vec<(usize, u64, Vec<Hash>)> {
        let mut done = Vec::new();
        let mut level = 0;
        let mut h = leaf;
        loop {
            if self.levels.len() == level {
                self.add_level();
            }
            self.levels[level].push(h);
            if self.levels[level].len() < usize::from(TILE_WIDTH) {
                return done;
            }
            let full = std::mem::replace(
                &mut self.levels[level],
                Vec::with_capacity(usize::from(TILE_WIDTH)),
            );
            let index = self.first[level];
            self.first[level] += 1;
            h = merkle::root_of(&full);
            done.push((level, index, full));
            level += 1;
        }
    }
}

impl HashReader for Edge {
    type Error = MissingNode;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        nodes
            .iter()
            .map(|&node| self.node(node).ok_or(MissingNode { node }))
            .collect()
    }
}

/// The archive's ledger: an RFC 9162 Merkle log stored as C2SP tiles under `ledger/`.
///
/// Cheap to clone; clones share one append queue, so appends from one process are serialised
/// even if the caller forgets. Readers need no lock: they read only objects a durable
/// checkpoint covers, which never change.
#[derive(Clone)]
pub struct Ledger {
    store: Store,
    origin: String,
    /// Serialises appends and recovery within this process (the writer lock does so across
    /// processes).
    serial: Arc<tokio::sync::Mutex<()>>,
    /// The right edge this process last committed, valid while `ledger/checkpoint` still
    /// holds the note it committed (checked on every append): saves re-reading and
    /// re-verifying the edge per batch.
    tail: Arc<StdMutex<Option<Tail>>>,
}

/// The right edge as of a checkpoint this process committed.
#[derive(Debug)]
struct Tail {
    note: String,
    checkpoint: Checkpoint,
    edge: Edge,
    /// The entries of the partial level-0 tile.
    bundle: Vec<Bytes>,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("store", &self.store)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// `ledger/checkpoint` as read, with the version a conditional replace of it needs.
struct Published {
    raw: Option<Bytes>,
    version: Option<object_store::UpdateVersion>,
}

impl Published {
    /// The size it says (None: no checkpoint yet). Its signature is not checked here.
    fn size(&self) -> Result<Option<u64>, LedgerError> {
        let Some(raw) = &self.raw else {
            return Ok(None);
        };
        let note = std::str::from_utf8(raw).map_err(|_| LedgerError::BadCheckpoint {
            path: CHECKPOINT_PATH.into(),
            source: Box::new(checkpoint::Error::Signature(sign::Error::MalformedNote(
                "not UTF-8".into(),
            ))),
        })?;
        Ok(Some(SignedCheckpoint::parse(note)?.size()))
    }
}

/// What one attempt at an append did.
enum Attempt {
    Done(Appended),
    /// A batch we did not know of was claimed after the size we read, while we hold the lock
    /// (a predecessor's, or `ledger/checkpoint` was stale): it was rolled forward; try again.
    Behind,
}

/// The tiles and bundles a batch from `old` to `new` adds, from the edge grown to `new` and
/// the entries of its level-0 edge tile onwards.
fn batch_writes(
    old: u64,
    new: u64,
    edge: &Edge,
    bundle: &[Bytes],
) -> Result<Vec<(Path, Bytes)>, LedgerError> {
    let mut writes: Vec<(Path, Bytes)> = Vec::new();
    for t in tiles::tiles_added(TreeSize(old), TreeSize(new)) {
        let level = usize::from(t.level());
        let first = edge.first.get(level).copied().unwrap_or(0);
        let offset = t
            .index()
            .checked_sub(first)
            .map(|d| to_usize(d * FULL))
            .ok_or_else(|| inconsistent(tile_path(&t), "tile left of the edge"))?;
        let range = offset..offset + usize::from(t.width());
        let hashes = edge
            .level(level)
            .get(range.clone())
            .ok_or_else(|| inconsistent(tile_path(&t), "edge shorter than the tile"))?;
        writes.push((tile_path(&t), Bytes::from(tiles::encode_tile(hashes))));
        if level == 0 {
            let es = bundle
                .get(range)
                .ok_or_else(|| inconsistent(bundle_path(&t), "fewer entries than the tile"))?;
            writes.push((bundle_path(&t), Bytes::from(tiles::encode_bundle(es)?)));
        }
    }
    Ok(writes)
}

/// How a create-only put of a tile or bundle went.
enum Put {
    Created,
    /// The same bytes were there (a retry).
    Identical,
    /// Different bytes were there and were replaced: garbage from an append of a store
    /// written before claims that crashed before its checkpoint. (Since claims, tiles beyond
    /// a size are only ever written from the one claim on it, so always with the same bytes.)
    Replaced,
}

impl Ledger {
    /// The ledger of `store`, whose checkpoints carry `origin` (the archive's configured
    /// origin line, e.g. `archive.example.gov.cn/strongroom`).
    pub fn new(store: Store, origin: impl Into<String>) -> Ledger {
        Ledger {
            store,
            origin: origin.into(),
            serial: Arc::new(tokio::sync::Mutex::new(())),
            tail: Arc::new(StdMutex::new(None)),
        }
    }

    /// The origin line of this log's checkpoints.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The store it lives in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The latest published checkpoint, None when the ledger is empty. Parses it; the
    /// signature is not checked (see [`SignedCheckpoint::verify`]).
    ///
    /// That is `ledger/checkpoint`, unless the claims chain goes further: a claim on its size
    /// whose batch is written out (its kept checkpoint exists) is followed, so a stale
    /// `ledger/checkpoint` (a writer that stalled and wrote an old one late) is never taken
    /// for the ledger's size. A claim whose batch is not yet written out stops the walk
    /// (its entries are committed but not readable yet; see [`Ledger::pending`]). Costs one
    /// GET of `ledger/next/<size>` (absent) beyond the checkpoint's.
    pub async fn latest(&self) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let published = self.read_checkpoint(&checkpoint_path()).await?;
        Ok(self.follow_finished(published).await?.0)
    }

    /// The first claimed batch not yet written out after the latest checkpoint, if any: the
    /// ledger is mid-commit (a writer is appending, or was stopped after its commit point and
    /// the next writer's recovery will finish it).
    pub async fn pending(&self) -> Result<Option<Claim>, LedgerError> {
        let published = self.read_checkpoint(&checkpoint_path()).await?;
        Ok(self.follow_finished(published).await?.1)
    }

    /// The claim on the batch after `old`, if one was put.
    pub async fn claim_at(&self, old: u64) -> Result<Option<Claim>, LedgerError> {
        let path = claim_path(old);
        let Some(bytes) = self.store.get_bytes(&path).await? else {
            return Ok(None);
        };
        let claim = Claim::decode(&bytes).map_err(|source| LedgerError::BadClaim {
            path: path.to_string(),
            source: Box::new(source),
        })?;
        if claim.old != old {
            return Err(inconsistent(
                path,
                format!("the claim follows size {}, its name says {old}", claim.old),
            ));
        }
        Ok(Some(claim))
    }

    /// Follows the claims chain from `cp` through batches that are written out (kept
    /// checkpoint present: their tiles were durable before it). Returns the last such
    /// checkpoint and the first claim that is not written out. Never writes.
    async fn follow_finished(
        &self,
        mut cp: Option<SignedCheckpoint>,
    ) -> Result<(Option<SignedCheckpoint>, Option<Claim>), LedgerError> {
        loop {
            let size = cp.as_ref().map_or(0, SignedCheckpoint::size);
            let Some(claim) = self.claim_at(size).await? else {
                return Ok((cp, None));
            };
            if !self.store.exists(&kept_checkpoint_path(claim.new)).await? {
                return Ok((cp, Some(claim)));
            }
            let next = SignedCheckpoint::parse(&claim.checkpoint)?;
            if next.size() != claim.new {
                return Err(inconsistent(
                    claim_path(size),
                    "the claim's checkpoint is not of the size it claims",
                ));
            }
            cp = Some(next);
        }
    }

    async fn read_published(&self) -> Result<Published, LedgerError> {
        Ok(
            match self.store.get_bytes_versioned(&checkpoint_path()).await? {
                None => Published {
                    raw: None,
                    version: None,
                },
                Some((raw, version)) => Published {
                    raw: Some(raw),
                    version: Some(version),
                },
            },
        )
    }

    /// Publishes `note` (the checkpoint of `size`) as `ledger/checkpoint` unless the one
    /// published is already as large: the latest checkpoint never moves back, even when a
    /// writer that stalled after its commit point wakes up late. `seen` is the checkpoint as
    /// last read; on S3 and memory the replace is conditional on it (`If-Match`), and a
    /// refused one is re-read and decided again. LocalFileSystem has no conditional update:
    /// there it is re-read right before the staged rename (a reader that still finds a stale
    /// one follows the claims chain past it, [`Ledger::latest`]).
    async fn advance_latest(
        &self,
        size: u64,
        note: &str,
        mut seen: Published,
    ) -> Result<(), LedgerError> {
        let path = checkpoint_path();
        let local = self.store.kind() == BackendKind::Local;
        for _ in 0..16 {
            if local {
                seen = self.read_published().await?;
            }
            if seen.size()?.is_some_and(|at| at >= size) {
                return Ok(());
            }
            let bytes = Bytes::from(note.to_string());
            let put = match (&seen.raw, seen.version.clone()) {
                (None, _) => self.store.put_create(&path, bytes).await,
                (Some(_), Some(v)) if !local => self.store.put_replace_if(&path, bytes, v).await,
                (Some(_), _) => self.store.put_replace(&path, bytes).await,
            };
            match put {
                Ok(()) => return Ok(()),
                Err(StoreError::AlreadyExists { .. } | StoreError::Precondition { .. }) => {
                    seen = self.read_published().await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(inconsistent(
            CHECKPOINT_PATH,
            "the latest checkpoint kept changing while this writer advanced it",
        ))
    }

    /// After a batch's tiles are durable: creates `ledger/checkpoints/<size>` (the same bytes
    /// already there are a retry; other bytes would be a second tree of this size, which the
    /// archive must never publish) and advances `ledger/checkpoint`, then syncs.
    async fn publish(&self, size: u64, note: &str, seen: Published) -> Result<(), LedgerError> {
        let kept = kept_checkpoint_path(size);
        match self
            .store
            .put_create(&kept, Bytes::from(note.to_string()))
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                if self.store.get_bytes(&kept).await?.as_deref() != Some(note.as_bytes()) {
                    return Err(inconsistent(
                        kept.to_string(),
                        "a different checkpoint of this size is already kept",
                    ));
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.advance_latest(size, note, seen).await?;
        self.store.sync().await?;
        Ok(())
    }

    /// Writes out a claimed batch: its tiles and bundles (the same bytes whoever writes them,
    /// so one already there is kept), sync, its kept checkpoint, `ledger/checkpoint`, sync.
    /// The claim is checked first: its checkpoint is for this log and its size, the tiles at
    /// its start give its `old_root`, and its entries give its `root`.
    async fn finish_claim(&self, claim: &Claim) -> Result<(), LedgerError> {
        let path = claim_path(claim.old);
        let signed = SignedCheckpoint::parse(&claim.checkpoint)?;
        if signed.size() != claim.new
            || signed.root() != claim.root
            || signed.checkpoint.origin() != self.origin
        {
            return Err(inconsistent(
                &path,
                "the claim's signed checkpoint is not of its size, root or this log",
            ));
        }
        let (mut edge, mut bundle) = self.read_tail_at(claim.old, &claim.old_root).await?;
        edge.grow(claim.entries.iter().map(|e| merkle::leaf_hash(e)));
        bundle.extend(claim.entries.iter().cloned());
        if edge.root(claim.new) != Some(claim.root) {
            return Err(inconsistent(
                &path,
                "the claimed entries do not give the claimed root",
            ));
        }
        let writes = batch_writes(claim.old, claim.new, &edge, &bundle)?;
        self.put_all(writes).await?;
        self.store.sync().await?;
        let seen = self.read_published().await?;
        self.publish(claim.new, &claim.checkpoint, seen).await
    }

    /// Rolls the ledger forward along the claims chain from `ledger/checkpoint`, writing out
    /// every claimed batch; returns the sizes reached, each with whether its batch had been
    /// written out already (its kept checkpoint existed). The caller holds `serial` (and,
    /// across processes, the writer lock).
    async fn roll_forward(&self) -> Result<Vec<(u64, bool)>, LedgerError> {
        let mut finished = Vec::new();
        let mut size = self.read_published().await?.size()?.unwrap_or(0);
        while let Some(claim) = self.claim_at(size).await? {
            let was_out = self.store.exists(&kept_checkpoint_path(claim.new)).await?;
            self.finish_claim(&claim).await?;
            finished.push((claim.new, was_out));
            size = claim.new;
        }
        Ok(finished)
    }

    async fn read_checkpoint(&self, path: &Path) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let Some(bytes) = self.store.get_bytes(path).await? else {
            return Ok(None);
        };
        let note = String::from_utf8(bytes.to_vec()).map_err(|_| LedgerError::BadCheckpoint {
            path: path.to_string(),
            source: Box::new(checkpoint::Error::Signature(sign::Error::MalformedNote(
                "not UTF-8".into(),
            ))),
        })?;
        let text = note_text(&note).map_err(|source| LedgerError::BadCheckpoint {
            path: path.to_string(),
            source: Box::new(source),
        })?;
        let checkpoint = Checkpoint::parse(text).map_err(|source| LedgerError::BadCheckpoint {
            path: path.to_string(),
            source: Box::new(source),
        })?;
        Ok(Some(SignedCheckpoint { note, checkpoint }))
    }

    /// Size of the latest published checkpoint, 0 when the ledger is empty.
    pub async fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.latest().await?.map_or(0, |c| c.size()))
    }

    async fn check_size(&self, size: u64) -> Result<u64, LedgerError> {
        let latest = self.size().await?;
        if size > latest {
            return Err(LedgerError::SizeOutOfRange { size, latest });
        }
        Ok(latest)
    }

    /// `ledger/checkpoints/<size>`: the checkpoint published at that size, if kept.
    pub async fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>, LedgerError> {
        self.read_checkpoint(&kept_checkpoint_path(size)).await
    }

    async fn read_tile_hashes(&self, t: &Tile) -> Result<Vec<Hash>, LedgerError> {
        let path = tile_path(t);
        let bytes = self
            .store
            .get_bytes(&path)
            .await?
            .ok_or_else(|| inconsistent(&path, "the hash tile is missing"))?;
        tiles::decode_tile(t, &bytes).map_err(|source| LedgerError::Malformed {
            path: path.to_string(),
            source,
        })
    }

    /// The entries of the bundle beside level-0 tile `t`.
    async fn read_bundle(&self, t: &Tile) -> Result<Vec<Bytes>, LedgerError> {
        let path = bundle_path(t);
        let bytes = self
            .store
            .get_bytes(&path)
            .await?
            .ok_or_else(|| inconsistent(&path, "the entry bundle is missing"))?;
        let entries =
            tiles::decode_bundle(&bytes, t.width()).map_err(|source| LedgerError::Malformed {
                path: path.to_string(),
                source,
            })?;
        Ok(entries.into_iter().map(|e| bytes.slice_ref(e)).collect())
    }

    /// Hashes of complete subtrees of the tree of `size`, read from the tiles of the `latest`
    /// size (`size <= latest`): a tile and any wider tile of the same index agree on their
    /// common prefix (`formats/ledger.md` §3, invariant 2), and the latest size's tiles exist
    /// for every size, checkpointed or not. Each tile is read once.
    async fn read_nodes(
        &self,
        nodes: &[NodeId],
        size: u64,
        latest: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        let tree = TreeSize(size);
        let mut locations = Vec::with_capacity(nodes.len());
        for n in nodes {
            let loc = tiles::node_location(*n, tree)?;
            let tile = tile_at(loc.tile.level(), loc.tile.index(), latest)?;
            locations.push(tiles::NodeLocation { tile, ..loc });
        }
        let mut needed: Vec<Tile> = locations.iter().map(|l| l.tile).collect();
        needed.sort();
        needed.dedup();
        let fetched = futures::future::try_join_all(needed.iter().map(|t| async move {
            let path = tile_path(t);
            let bytes = self
                .store
                .get_bytes(&path)
                .await?
                .ok_or_else(|| inconsistent(&path, "the hash tile is missing"))?;
            Ok::<_, LedgerError>((*t, bytes))
        }))
        .await?;
        locations
            .iter()
            .map(|loc| {
                let bytes = fetched
                    .iter()
                    .find(|(t, _)| *t == loc.tile)
                    .map(|(_, b)| b)
                    .ok_or_else(|| inconsistent(tile_path(&loc.tile), "tile not fetched"))?;
                tiles::hash_from_tile(loc, bytes).map_err(|source| LedgerError::Malformed {
                    path: tile_path(&loc.tile).to_string(),
                    source,
                })
            })
            .collect()
    }

    /// Entry bytes at `index` (below the latest size), reading one bundle.
    pub async fn entry(&self, index: u64) -> Result<Bytes, LedgerError> {
        let size = self.size().await?;
        if index >= size {
            return Err(LedgerError::IndexOutOfRange { index, size });
        }
        let t = tile_at(0, index / FULL, size)?;
        let entries = self.read_bundle(&t).await?;
        entries
            .get(to_usize(index % FULL))
            .cloned()
            .ok_or_else(|| inconsistent(bundle_path(&t), "the bundle is shorter than its width"))
    }

    /// Entries `[start, end)` (`end` at most the latest size), bundle by bundle.
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<Bytes>, LedgerError> {
        let size = self.size().await?;
        if end > size {
            return Err(LedgerError::SizeOutOfRange {
                size: end,
                latest: size,
            });
        }
        let mut out = Vec::with_capacity(to_usize(end.saturating_sub(start)));
        if start >= end {
            return Ok(out);
        }
        for n in start / FULL..=(end - 1) / FULL {
            let t = tile_at(0, n, size)?;
            let bundle = self.read_bundle(&t).await?;
            let base = n * FULL;
            let from = to_usize(start.saturating_sub(base));
            let to = to_usize((end - base).min(u64::from(t.width())));
            out.extend(bundle.get(from..to).into_iter().flatten().cloned());
        }
        Ok(out)
    }

    /// The inclusion proof (RFC 9162 PATH) of entry `index` in the tree of `size` entries
    /// (at most the latest size), read from that size's tiles.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        let latest = self.check_size(size).await?;
        let plan = merkle::inclusion_plan(LeafIndex(index), TreeSize(size))?;
        let hashes = self.read_nodes(plan.nodes(), size, latest).await?;
        Ok(plan.assemble(&hashes)?)
    }

    /// The consistency proof (RFC 9162 PROOF) from the tree of `old` entries to that of `new`
    /// (`0 < old <= new <=` the latest size).
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        let latest = self.check_size(new).await?;
        let plan = merkle::consistency_plan(TreeSize(old), TreeSize(new))?;
        let hashes = self.read_nodes(plan.nodes(), new, latest).await?;
        Ok(plan.assemble(&hashes)?)
    }

    /// The root of the tree of `size` entries (at most the latest size), from its tiles.
    pub async fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        let latest = self.check_size(size).await?;
        let plan = merkle::root_plan(TreeSize(size));
        let hashes = self.read_nodes(plan.nodes(), size, latest).await?;
        plan.assemble(&hashes)?
            .first()
            .copied()
            .ok_or_else(|| inconsistent(CHECKPOINT_PATH, "empty root plan"))
    }

    /// The C2SP `tlog-proof` of entry `index` against the signed checkpoint of `size`
    /// (default: the latest), whose `extra` line carries the entry's exact bytes.
    pub async fn tlog_proof(&self, index: u64, size: Option<u64>) -> Result<String, LedgerError> {
        let latest = self
            .latest()
            .await?
            .ok_or(LedgerError::IndexOutOfRange { index, size: 0 })?;
        let signed = match size {
            None => latest,
            Some(s) if s == latest.size() => latest,
            Some(s) if s > latest.size() => {
                return Err(LedgerError::SizeOutOfRange {
                    size: s,
                    latest: latest.size(),
                })
            }
            Some(s) => self
                .checkpoint_at(s)
                .await?
                .ok_or(LedgerError::NoCheckpoint { size: s })?,
        };
        let size = signed.size();
        if index >= size {
            return Err(LedgerError::IndexOutOfRange { index, size });
        }
        let proof = self.inclusion_proof(index, size).await?;
        let t = tile_at(0, index / FULL, size)?;
        let entry = self
            .read_bundle(&t)
            .await?
            .get(to_usize(index % FULL))
            .cloned()
            .ok_or_else(|| inconsistent(bundle_path(&t), "the bundle is shorter than its width"))?;
        Ok(TlogProof {
            extra: Some(entry.to_vec()),
            index,
            proof,
            checkpoint: signed.note,
        }
        .to_text())
    }

    /// Reads the right edge of the tree of `size`: each level's rightmost partial tile.
    async fn read_edge(&self, size: u64) -> Result<Edge, LedgerError> {
        let mut edge = Edge::default();
        let mut partial = Vec::new();
        for level in 0..=MAX_LEVEL {
            let count = tiles::hashes_at_level(TreeSize(size), level);
            if count == 0 {
                break;
            }
            edge.first.push(count / FULL);
            edge.levels.push(Vec::new());
            if !count.is_multiple_of(FULL) {
                partial.push(tile_at(level, count / FULL, size)?);
            }
        }
        let read =
            futures::future::try_join_all(partial.iter().map(|t| self.read_tile_hashes(t))).await?;
        for (t, hashes) in partial.iter().zip(read) {
            edge.levels[usize::from(t.level())] = hashes;
        }
        Ok(edge)
    }

    /// A create-only put of a tile or bundle beyond the committed size. An object already
    /// there is compared: the same bytes are a retry (or another process writing out the
    /// same claim); different bytes are garbage from an append that crashed before claims
    /// existed, deleted and put again.
    async fn put_new(&self, path: Path, bytes: Bytes) -> Result<Put, LedgerError> {
        let mut replaced = false;
        for _ in 0..4 {
            match self.store.put_create(&path, bytes.clone()).await {
                Ok(()) if replaced => return Ok(Put::Replaced),
                Ok(()) => return Ok(Put::Created),
                Err(StoreError::AlreadyExists { .. }) => {
                    match self.store.get_bytes(&path).await? {
                        Some(b) if b == bytes => return Ok(Put::Identical),
                        Some(_) => {
                            self.store.delete(&path).await?;
                            replaced = true;
                        }
                        // Deleted since (by someone replacing garbage too): put again.
                        None => {}
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(inconsistent(
            &path,
            "the object kept changing while it was written",
        ))
    }

    /// [`Ledger::put_new`] for every write, [`WRITE_CONCURRENCY`] at a time.
    async fn put_all(&self, writes: Vec<(Path, Bytes)>) -> Result<(), LedgerError> {
        futures::stream::iter(writes)
            .map(|(p, b)| self.put_new(p, b))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<Put>>()
            .await?;
        Ok(())
    }

    /// Appends a batch: one entry is one leaf, each at most 65,535 bytes. The caller holds the
    /// writer lock (the `lock` argument is the proof of it).
    ///
    /// Order: sign the checkpoint of the new size with `key` → put the claim
    /// `ledger/next/<old size>` create-only → sync (**the commit point**: exactly one claim
    /// can exist per size, and it holds everything needed to finish the batch) → the entry
    /// bundles and hash tiles of the new size ([`tiles::tiles_added`]) → sync → create
    /// `ledger/checkpoints/<size>` → advance `ledger/checkpoint` (never backwards) → sync.
    /// This function MUST NOT (and does not) return `Ok` before the last sync.
    ///
    /// Reads only the right edge (one partial tile per level and one partial bundle), checks
    /// that it gives the latest checkpoint's root and that the checkpoint verifies with `key`,
    /// and never touches an object within the committed size. The lock is confirmed before
    /// the batch is built and again right before the claim. A claim put that finds another
    /// claim means someone committed after the size read: if the lock is no longer ours we
    /// were stopped past our lease, and we stop with `LockLost` having written nothing; if it
    /// is, the batch found is rolled forward and ours appended after it. An error before the
    /// claim leaves the ledger as it was; at or after it, [`LedgerError::CommitUncertain`]
    /// (the batch is committed and recovery writes it out).
    pub async fn append(
        &self,
        lock: &WriterLock,
        key: &ArchiveKey,
        entries: &[Bytes],
    ) -> Result<Appended, LedgerError> {
        self.commit(lock, key, entries).await
    }

    /// [`Ledger::append`]'s body, shared with [`GroupCommit`].
    async fn commit(
        &self,
        lock: &WriterLock,
        key: &ArchiveKey,
        entries: &[Bytes],
    ) -> Result<Appended, LedgerError> {
        let _serial = self.serial.lock().await;
        // Still the writer? (Not if our lease ran out and another writer broke the lock.)
        lock.confirm().await?;
        if entries.is_empty() {
            return Err(LedgerError::EmptyBatch);
        }
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY_LEN) {
            return Err(LedgerError::EntryTooLarge { len: e.len() });
        }
        // Each retry follows a batch rolled forward under our lock; more than a few means
        // something keeps appending without it.
        for _ in 0..4 {
            if let Attempt::Done(a) = self.try_commit(lock, key, entries).await? {
                return Ok(a);
            }
        }
        Err(inconsistent(
            NEXT_DIR,
            "other batches kept being claimed while this writer held the lock",
        ))
    }

    async fn try_commit(
        &self,
        lock: &WriterLock,
        key: &ArchiveKey,
        entries: &[Bytes],
    ) -> Result<Attempt, LedgerError> {
        let seen = self.read_published().await?;
        let cached = self
            .tail
            .lock()
            .ok()
            .and_then(|mut t| t.take())
            .filter(|t| seen.raw.as_deref() == Some(t.note.as_bytes()));
        let (old, mut edge, mut bundle) = match cached {
            Some(t) => (t.checkpoint.size().0, t.edge, t.bundle),
            None => self.read_tail(seen.raw.as_deref(), key).await?,
        };
        let old_root = edge
            .root(old)
            .ok_or_else(|| inconsistent(CHECKPOINT_PATH, "cannot compute the root"))?;
        let new = old
            .checked_add(entries.len() as u64)
            .ok_or_else(|| inconsistent(CHECKPOINT_PATH, "the ledger is full"))?;
        edge.grow(entries.iter().map(|e| merkle::leaf_hash(e)));
        bundle.extend(entries.iter().cloned());
        let writes = batch_writes(old, new, &edge, &bundle)?;
        let root = edge
            .root(new)
            .ok_or_else(|| inconsistent(CHECKPOINT_PATH, "cannot compute the new root"))?;
        let checkpoint = Checkpoint::new(&self.origin, TreeSize(new), root)?;
        let note = checkpoint.sign(key)?;
        let claim = Claim {
            old,
            new,
            old_root,
            root,
            writer: lock.info().token.clone(),
            checkpoint: note.clone(),
            entries: entries.to_vec(),
        }
        .encode();

        // Once more right before the commit point: a writer stopped past its lease learns it
        // here. (One stopped between this check and the claim is stopped by the claim.)
        lock.confirm().await?;
        let path = claim_path(old);
        match self.store.put_create(&path, claim.clone()).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                // The same bytes are our own retry (Ed25519 signatures are deterministic).
                if self.store.get_bytes(&path).await?.as_deref() != Some(&claim[..]) {
                    // Another batch follows `old`. If the lock is no longer ours we are a
                    // writer stopped past its lease: we committed nothing and write nothing.
                    lock.confirm().await?;
                    // It is ours. The batch found is committed: write it out. If every batch
                    // found was already written out, only `ledger/checkpoint` was stale (any
                    // reader saw the true size, so did our caller): append after them. One
                    // that was not (claimed under our lock by a writer stopped past its lease)
                    // took the indices our caller planned: refuse.
                    let rolled = self.roll_forward().await?;
                    if rolled.iter().any(|(_, was_out)| !was_out) {
                        return Err(LedgerError::Overtaken { size: old });
                    }
                    return Ok(Attempt::Behind);
                }
            }
            Err(e) => return Err(e.into()),
        }
        let finish = async {
            self.store.sync().await?;
            // Committed: from here anyone who finds the claim writes the same bytes.
            self.put_all(writes).await?;
            self.store.sync().await?;
            self.publish(new, &note, seen).await
        };
        finish.await.map_err(|e| LedgerError::CommitUncertain {
            source: Box::new(e),
        })?;
        // Remember the edge of the new size for the next append.
        let drop0 = edge.trim(new);
        bundle.drain(..drop0.min(bundle.len()));
        if let Ok(mut t) = self.tail.lock() {
            *t = Some(Tail {
                note: note.clone(),
                checkpoint: checkpoint.clone(),
                edge,
                bundle,
            });
        }
        Ok(Attempt::Done(Appended {
            first_index: old,
            checkpoint: SignedCheckpoint { note, checkpoint },
        }))
    }

    /// The committed size, right edge and partial bundle, read from the store: the latest
    /// checkpoint (`raw`) must verify with `key`, the edge tiles must give its root, and the
    /// partial bundle must match the level-0 edge tile.
    async fn read_tail(
        &self,
        raw: Option<&[u8]>,
        key: &ArchiveKey,
    ) -> Result<(u64, Edge, Vec<Bytes>), LedgerError> {
        let Some(raw) = raw else {
            return Ok((0, Edge::default(), Vec::new()));
        };
        let bad = |source: checkpoint::Error| LedgerError::BadCheckpoint {
            path: CHECKPOINT_PATH.into(),
            source: Box::new(source),
        };
        let note = std::str::from_utf8(raw).map_err(|_| {
            bad(checkpoint::Error::Signature(sign::Error::MalformedNote(
                "not UTF-8".into(),
            )))
        })?;
        let latest = Checkpoint::verify(note, &key.verifier(), &self.origin).map_err(bad)?;
        let old = latest.size().0;
        let (edge, bundle) = self.read_tail_at(old, latest.root()).await?;
        Ok((old, edge, bundle))
    }

    /// The right edge and partial bundle of the tree of `old` entries, checked: the edge
    /// tiles must give `root`, and the partial bundle must match the level-0 edge tile.
    async fn read_tail_at(&self, old: u64, root: &Hash) -> Result<(Edge, Vec<Bytes>), LedgerError> {
        if old == 0 {
            if *root != merkle::empty_root() {
                return Err(inconsistent(
                    CHECKPOINT_PATH,
                    "size 0 with a non-empty root",
                ));
            }
            return Ok((Edge::default(), Vec::new()));
        }
        let edge = self.read_edge(old).await?;
        if edge.root(old) != Some(*root) {
            return Err(inconsistent(
                CHECKPOINT_PATH,
                format!(
                    "the tiles at the right edge do not give the signed root {root} of size {old}"
                ),
            ));
        }
        let mut bundle = Vec::new();
        if !old.is_multiple_of(FULL) {
            let t = tile_at(0, old / FULL, old)?;
            bundle = self.read_bundle(&t).await?;
            let leaves: Vec<Hash> = bundle.iter().map(|e| merkle::leaf_hash(e)).collect();
            if leaves.as_slice() != edge.level(0) {
                return Err(inconsistent(
                    bundle_path(&t),
                    "the partial entry bundle does not match its hash tile",
                ));
            }
        }
        Ok((edge, bundle))
    }

    /// The largest kept checkpoint of a size above `size`, if any: `checkpoints/` names are
    /// zero-padded, so one listing from `size` on finds it without reading the others.
    async fn newest_kept_after(&self, size: u64) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let dir = ledger_path("checkpoints");
        let from = kept_checkpoint_path(size);
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .backend()
            .list_with_offset(Some(&dir), &from)
            .try_collect()
            .await
            .map_err(|source| StoreError::Backend {
                op: "list",
                path: dir.to_string(),
                source,
            })?;
        let newest = listed
            .into_iter()
            .filter_map(|m| {
                let n: u64 = m.location.filename()?.parse().ok()?;
                (n > size).then_some((n, m.location))
            })
            .max_by_key(|(n, _)| *n);
        let Some((n, path)) = newest else {
            return Ok(None);
        };
        let Some(raw) = self.store.get_bytes(&path).await? else {
            return Ok(None);
        };
        let note = String::from_utf8(raw.to_vec())
            .map_err(|_| inconsistent(path.to_string(), "a kept checkpoint is not UTF-8"))?;
        let signed = SignedCheckpoint::parse(&note)?;
        if signed.size() != n {
            return Err(inconsistent(
                path.to_string(),
                format!(
                    "the kept checkpoint's size is {}, its name says {n}",
                    signed.size()
                ),
            ));
        }
        Ok(Some(signed))
    }

    /// Start-up recovery, under the writer lock. Makes sure `ledger/checkpoints/<size>` exists
    /// for the latest checkpoint (recreated from `ledger/checkpoint`, then synced), and removes
    /// the tiles and bundles right of the committed edge that an interrupted append left: at
    /// each level, partial tiles of the edge tile wider than committed, and any tile at the
    /// edge index and right of it. Never touches an object within the committed size, nor a
    /// kept checkpoint. Idempotent.
    pub async fn recover(&self, lock: &WriterLock) -> Result<LedgerRecovery, LedgerError> {
        let _serial = self.serial.lock().await;
        let _ = lock;
        // Claimed batches first: each is committed, and holds all it needs to be written out.
        let claims_finished: Vec<u64> = self
            .roll_forward()
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut latest = self.read_checkpoint(&checkpoint_path()).await?;
        let mut rolled_forward = claims_finished.last().copied();
        // An append that made its kept checkpoint durable but crashed before publishing it is
        // committed: publish it now (its tiles were durable before it was signed).
        if let Some(newer) = self
            .newest_kept_after(latest.as_ref().map_or(0, SignedCheckpoint::size))
            .await?
        {
            self.store
                .put_replace(&checkpoint_path(), Bytes::from(newer.note.clone()))
                .await?;
            self.store.sync().await?;
            rolled_forward = Some(newer.size());
            latest = Some(newer);
        }
        let size = latest.as_ref().map_or(0, SignedCheckpoint::size);
        let mut report = LedgerRecovery {
            size,
            rolled_forward,
            claims_finished,
            ..LedgerRecovery::default()
        };
        if let Some(l) = &latest {
            let path = kept_checkpoint_path(size);
            match self
                .store
                .put_create(&path, Bytes::from(l.note.clone()))
                .await
            {
                Ok(()) => {
                    self.store.sync().await?;
                    report.checkpoint_kept = true;
                }
                Err(StoreError::AlreadyExists { .. }) => {
                    let kept = self.store.get_bytes(&path).await?;
                    if kept.as_deref() != Some(l.note.as_bytes()) {
                        report.warnings.push(format!(
                            "{path} differs from {CHECKPOINT_PATH} at the same size; left as it is"
                        ));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }

        let mut garbage: Vec<Path> = Vec::new();
        for level in 0..=MAX_LEVEL {
            let count = tiles::hashes_at_level(TreeSize(size), level);
            let found_at_level = if self.store.kind() == BackendKind::S3 {
                self.garbage_listed(level, count, &mut garbage, &mut report)
                    .await?
            } else {
                self.garbage_probed(level, count, &mut garbage, &mut report)
                    .await?
            };
            if count == 0 && !found_at_level {
                break;
            }
        }
        garbage.sort();
        garbage.dedup();
        for p in garbage.iter().rev() {
            self.store.delete(p).await?;
            report.removed.push(p.to_string());
        }
        report.removed.sort();
        // A writer stopped past its lease may have claimed the size we settled on while we
        // looked for garbage (its claim is committed): write its batch out again, since some
        // of its tiles may have just been taken for garbage. The same bytes whoever writes.
        if let Some(claim) = self.claim_at(size).await? {
            self.finish_claim(&claim).await?;
            report.claims_finished.push(claim.new);
            report.rolled_forward = Some(claim.new);
            report.size = claim.new;
        }
        Ok(report)
    }

    /// Recovery's garbage search at one level by probing (local and memory stores, where a
    /// request is a system call): from the edge tile on, the `.p/` folder is listed and the
    /// full tile looked at, index by index, until [`RECOVER_PROBE`] consecutive indices hold
    /// nothing. Pushes what it finds to `garbage`; true if anything was found.
    async fn garbage_probed(
        &self,
        level: u8,
        count: u64,
        garbage: &mut Vec<Path>,
        report: &mut LedgerRecovery,
    ) -> Result<bool, LedgerError> {
        let edge = count / FULL;
        let width = count % FULL;
        let mut found_at_level = false;
        let mut empty_run = 0;
        let mut index = edge;
        while empty_run < RECOVER_PROBE {
            let mut found = false;
            let mut bases = vec![format!("tile/{level}/{}", tiles::encode_index(index))];
            if level == 0 {
                bases.push(format!("tile/entries/{}", tiles::encode_index(index)));
            }
            for base in bases {
                for p in self
                    .store
                    .list_paths(&ledger_path(&format!("{base}.p")))
                    .await?
                {
                    let w = p.filename().and_then(|f| f.parse::<u64>().ok());
                    match w {
                        Some(w) if index == edge && w <= width => {}
                        Some(w) if (1..FULL).contains(&w) => {
                            garbage.push(p);
                            found = true;
                        }
                        _ => report
                            .warnings
                            .push(format!("{p} is not a ledger object; left as it is")),
                    }
                }
                let full = ledger_path(&base);
                if self.store.exists(&full).await? {
                    garbage.push(full);
                    found = true;
                }
            }
            if found {
                found_at_level = true;
                empty_run = 0;
            } else {
                empty_run += 1;
            }
            index += 1;
        }
        Ok(found_at_level)
    }

    /// Recovery's garbage search at one level on S3, where every request is a round trip:
    /// one LIST per group of 1,000 tile indices (a folder of the tlog-tiles path encoding)
    /// that the probe window touches, starting after the last committed full tile (S3
    /// `start-after`), for the hash tiles and, at level 0, the entry bundles. The window is
    /// the same as [`Ledger::garbage_probed`]'s: from the edge to [`RECOVER_PROBE`] indices past
    /// the last garbage found. Typically 2 LISTs at level 0 and 1 above, instead of 18 LISTs
    /// and 18 HEADs per level and kind.
    async fn garbage_listed(
        &self,
        level: u8,
        count: u64,
        garbage: &mut Vec<Path>,
        report: &mut LedgerRecovery,
    ) -> Result<bool, LedgerError> {
        let edge = count / FULL;
        let width = u16::try_from(count % FULL).unwrap_or(0);
        let mut kinds = vec![format!("tile/{level}")];
        if level == 0 {
            kinds.push("tile/entries".to_string());
        }
        let mut found_at_level = false;
        for kind in kinds {
            let mut upto = edge + RECOVER_PROBE;
            let mut group = edge / 1000;
            loop {
                let first = group * 1000;
                let encoded = tiles::encode_index(first);
                let folder = match encoded.rsplit_once('/') {
                    Some((dir, _)) => format!("{kind}/{dir}"),
                    None => kind.clone(),
                };
                let prefix = ledger_path(&folder);
                let listed: Vec<object_store::ObjectMeta> = if edge > first {
                    let after = ledger_path(&format!("{kind}/{}", tiles::encode_index(edge - 1)));
                    self.store
                        .backend()
                        .list_with_offset(Some(&prefix), &after)
                        .try_collect()
                        .await
                } else {
                    self.store.backend().list(Some(&prefix)).try_collect().await
                }
                .map_err(|source| StoreError::Backend {
                    op: "list",
                    path: prefix.to_string(),
                    source,
                })?;
                for m in listed {
                    let rel = m
                        .location
                        .as_ref()
                        .strip_prefix(STORE_PREFIX)
                        .and_then(|r| r.strip_prefix('/'))
                        .unwrap_or_default();
                    let tile = match Resource::parse(rel) {
                        Ok(Resource::Tile(t)) | Ok(Resource::Entries(t)) if t.level() == level => t,
                        _ => {
                            report.warnings.push(format!(
                                "{} is not a ledger object; left as it is",
                                m.location
                            ));
                            continue;
                        }
                    };
                    let committed = tile.index() < edge
                        || (tile.index() == edge && tile.is_partial() && tile.width() <= width);
                    if !committed {
                        // Garbage within the window widens it, as a found index restarts the
                        // probe's count; garbage far beyond it (listed in the same group) is
                        // removed but does not widen it.
                        if tile.index() < upto {
                            upto = upto.max(tile.index() + RECOVER_PROBE);
                        }
                        garbage.push(m.location);
                        found_at_level = true;
                    }
                }
                group += 1;
                if group * 1000 >= upto {
                    break;
                }
            }
        }
        Ok(found_at_level)
    }

    /// `verify`'s walk along the claims chain from the latest checkpoint (read-only): a batch
    /// written out beyond it makes it stale (a warning; the tree is checked at the chain's
    /// end), a claimed batch not yet written out is pending (a warning), a claim that does
    /// not decode or whose checkpoint does not verify is an error.
    async fn follow_claims_in_verify(
        &self,
        v: &mut Verification,
        mut latest: Checkpoint,
        verifier: &Verifier,
    ) -> Result<(Checkpoint, u64), LedgerError> {
        let published = latest.size().0;
        let mut size = published;
        loop {
            let path = claim_path(size);
            let claim = match self.claim_at(size).await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(LedgerError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    v.error(codes::CLAIM_MALFORMED, &path, e.to_string());
                    break;
                }
            };
            if !self.store.exists(&kept_checkpoint_path(claim.new)).await? {
                v.warning(
                    codes::CLAIM_PENDING,
                    &path,
                    format!(
                        "the batch from size {size} to {} is claimed (committed) but not written out yet: a writer is appending or was stopped; the next writer's recovery writes it out",
                        claim.new
                    ),
                );
                break;
            }
            v.report.checkpoints_checked += 1;
            match Checkpoint::verify(&claim.checkpoint, verifier, &self.origin) {
                Ok(c) if c.size().0 == claim.new && *c.root() == claim.root => {
                    latest = c;
                    size = claim.new;
                }
                _ => {
                    v.error(
                        codes::CLAIM_MALFORMED,
                        &path,
                        "the claim's checkpoint does not verify with the archive key or is not of its size and root".into(),
                    );
                    break;
                }
            }
        }
        if size > published {
            v.warning(
                codes::CHECKPOINT_STALE,
                CHECKPOINT_PATH,
                format!(
                    "{CHECKPOINT_PATH} says size {published}, but the claims chain leads to the published size {size}; the next writer advances it"
                ),
            );
        }
        Ok((latest, size))
    }

    /// Sizes of the kept checkpoints (sorted) and the names in `checkpoints/` that are not
    /// 20-digit sizes.
    async fn kept_sizes(&self) -> Result<(Vec<(u64, Path)>, Vec<Path>), LedgerError> {
        let mut sizes = Vec::new();
        let mut odd = Vec::new();
        for p in self.store.list_paths(&Path::from(CHECKPOINTS_DIR)).await? {
            let n = p
                .filename()
                .filter(|f| f.len() == 20 && f.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|f| f.parse::<u64>().ok());
            match n {
                Some(n) if p == kept_checkpoint_path(n) => sizes.push((n, p)),
                _ => odd.push(p),
            }
        }
        sizes.sort();
        Ok((sizes, odd))
    }

    /// Verifies the whole ledger: recomputes every tile and bundle from the entries and the
    /// root, checks the latest checkpoint's signature (by `verifier`) and origin, checks that
    /// every kept `checkpoints/<n>` is correctly signed and is the log's root at `n` (so
    /// consistent with the latest), and with `since` (a signed checkpoint note someone kept)
    /// that it is a prefix of the log (also by a consistency proof from the tiles).
    ///
    /// Findings are data: a damaged ledger gives `Ok` with findings naming code and path
    /// (`formats/ledger.md` §10); `Err` only when the store itself fails. Memory is bounded:
    /// bundles are streamed one at a time and only the right edge of each level is kept.
    /// `progress` is called after each bundle with the number of entries checked so far.
    pub async fn verify(
        &self,
        verifier: &Verifier,
        since: Option<&str>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<LedgerVerifyReport, LedgerError> {
        let mut v = Verification {
            report: LedgerVerifyReport {
                origin: self.origin.clone(),
                ..LedgerVerifyReport::default()
            },
            seen: HashSet::new(),
        };
        let (kept, odd) = self.kept_sizes().await?;
        for p in odd {
            v.error(
                codes::CHECKPOINT_NAME,
                &p,
                "not named by a 20-digit tree size".to_string(),
            );
        }

        // The latest checkpoint. When it cannot be trusted (reported), the tree is checked
        // against the kept checkpoint of the size it claims, else the largest kept one that
        // verifies, so that one changed byte gives one finding.
        let latest_path = checkpoint_path();
        let raw = self.store.get_bytes(&latest_path).await?;
        let mut latest = None;
        let mut claimed = None;
        match &raw {
            None => {
                if let Some((n, _)) = kept.last() {
                    v.error(
                        codes::CHECKPOINT_MISSING,
                        &latest_path,
                        format!(
                            "no latest checkpoint, but signed checkpoints up to size {n} are kept"
                        ),
                    );
                }
            }
            Some(bytes) => {
                v.report.checkpoints_checked += 1;
                latest = v.checkpoint(bytes, &latest_path, verifier, &self.origin);
                claimed = parse_unverified(bytes);
            }
        }
        if latest.is_none() {
            let claimed_size = claimed.as_ref().map(|c| c.size().0);
            let mut candidates: Vec<&(u64, Path)> = kept.iter().rev().collect();
            candidates.sort_by_key(|(n, _)| Some(*n) != claimed_size);
            for (n, p) in candidates {
                let Some(bytes) = self.store.get_bytes(p).await? else {
                    continue;
                };
                let note = String::from_utf8_lossy(&bytes);
                if let Ok(c) = Checkpoint::verify(&note, verifier, &self.origin) {
                    if c.size().0 == *n {
                        latest = Some(c);
                        break;
                    }
                }
            }
        }
        let Some(latest) = latest.or(claimed) else {
            if let Some(note) = since {
                v.since_header(note, verifier, &self.origin, 0);
            }
            return Ok(v.report);
        };
        let (latest, size) = self
            .follow_claims_in_verify(&mut v, latest, verifier)
            .await?;
        v.report.size = size;
        v.report.root = Some(latest.root().to_base64());

        // Kept checkpoints beyond the latest: entries dropped or checkpoint rolled back.
        for (n, p) in kept.iter().filter(|(n, _)| *n > size) {
            let Some(bytes) = self.store.get_bytes(p).await? else {
                continue;
            };
            v.report.checkpoints_checked += 1;
            if v.checkpoint(&bytes, p, verifier, &self.origin).is_some() {
                v.error(
                    codes::CHECKPOINT_ROLLBACK,
                    p,
                    format!(
                        "the archive signed a checkpoint of size {n}, but the latest checkpoint has size {size}: entries after {size} were dropped or the latest checkpoint was rolled back"
                    ),
                );
            }
        }
        if size > 0 && !kept.iter().any(|(n, _)| *n == size) {
            v.warning(
                codes::CHECKPOINT_NOT_KEPT,
                kept_checkpoint_path(size),
                format!("the latest checkpoint (size {size}) is not kept; recovery recreates it"),
            );
        }
        let mut kept_in: std::collections::VecDeque<(u64, Path)> = kept
            .into_iter()
            .filter(|(n, _)| *n > 0 && *n <= size)
            .collect();
        let since_cp = since.and_then(|note| v.since_header(note, verifier, &self.origin, size));

        // Stream every bundle with its level-0 tile; E recomputes from the entries, T from the
        // stored leaf hashes, so a disagreement can be pinned on the bundle or on the tile.
        let mut e = Edge::default();
        let mut t = Edge::default();
        let mut pending: Vec<(Path, Path, usize)> = Vec::new();
        let mut count: u64 = 0;
        let bundles = size.div_ceil(FULL);
        let store = &self.store;
        let mut stream = futures::stream::iter(0..bundles)
            .map(|n| async move {
                let tile = tile_at(0, n, size)?;
                let (b, h) = futures::future::try_join(
                    store.get_bytes(&bundle_path(&tile)),
                    store.get_bytes(&tile_path(&tile)),
                )
                .await?;
                Ok::<_, LedgerError>((tile, b, h))
            })
            .buffered(READ_AHEAD);
        let mut aborted = false;
        while let Some(item) = stream.next().await {
            let (tile, bundle_bytes, tile_bytes) = item?;
            let bpath = bundle_path(&tile);
            let tpath = tile_path(&tile);
            v.report.bundles_checked += 1;
            v.report.tiles_checked += 1;
            let from_entries = match bundle_bytes {
                None => {
                    v.error(
                        codes::BUNDLE_MISSING,
                        &bpath,
                        "the entry bundle is missing".into(),
                    );
                    None
                }
                Some(b) => match tiles::decode_bundle(&b, tile.width()) {
                    Ok(es) => Some(es.iter().map(|e| merkle::leaf_hash(e)).collect::<Vec<_>>()),
                    Err(err) => {
                        v.error(codes::BUNDLE_MALFORMED, &bpath, err.to_string());
                        None
                    }
                },
            };
            let from_tile = match tile_bytes {
                None => {
                    v.error(
                        codes::TILE_MISSING,
                        &tpath,
                        "the hash tile is missing".into(),
                    );
                    None
                }
                Some(b) => match tiles::decode_tile(&tile, &b) {
                    Ok(h) => Some(h),
                    Err(err) => {
                        v.error(codes::TILE_MALFORMED, &tpath, err.to_string());
                        None
                    }
                },
            };
            let (e0, t0) = match (from_entries, from_tile) {
                (Some(a), Some(b)) => {
                    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
                        if pending.len() < MAX_PENDING {
                            pending.push((bpath.clone(), tpath.clone(), i));
                        }
                    }
                    (a, b)
                }
                (Some(a), None) => (a.clone(), a),
                (None, Some(b)) => (b.clone(), b),
                (None, None) => {
                    v.error(
                        codes::UNVERIFIABLE,
                        &bpath,
                        format!("neither the bundle nor its tile is usable: the tree cannot be recomputed past entry {count}"),
                    );
                    aborted = true;
                    break;
                }
            };
            for (he, ht) in e0.into_iter().zip(t0) {
                let done_e = e.push_leaf(he);
                let done_t = t.push_leaf(ht);
                count += 1;
                for ((level, index, hashes_e), (_, _, hashes_t)) in done_e.into_iter().zip(done_t) {
                    if level == 0 {
                        continue;
                    }
                    let level = u8::try_from(level).unwrap_or(MAX_LEVEL);
                    let full = tile_at(level, index, size)?;
                    v.report.tiles_checked += 1;
                    let stored = self.store.get_bytes(&tile_path(&full)).await?;
                    v.compare_tile(&full, stored.as_deref(), &hashes_e, &hashes_t);
                }
                while kept_in.front().is_some_and(|(n, _)| *n == count) {
                    if let Some((n, p)) = kept_in.pop_front() {
                        v.report.checkpoints_checked += 1;
                        if let Some(bytes) = self.store.get_bytes(&p).await? {
                            if let Some(c) = v.checkpoint(&bytes, &p, verifier, &self.origin) {
                                if c.size().0 != n {
                                    v.error(
                                        codes::CHECKPOINT_NAME,
                                        &p,
                                        format!("holds a checkpoint of size {}", c.size().0),
                                    );
                                } else if !v.root_matches(&c, &e, &t, n) {
                                    v.error(
                                        codes::CHECKPOINT_FORK,
                                        &p,
                                        format!(
                                            "signed by the archive key, but its root {} is not the log's root at size {n}: a fork",
                                            c.root()
                                        ),
                                    );
                                }
                            }
                        }
                        if n < size {
                            self.check_partials(&mut v, n, &e, &t).await?;
                        }
                    }
                }
                if let Some(c) = since_cp.as_ref().filter(|c| c.size().0 == count) {
                    if !v.root_matches(c, &e, &t, count) {
                        v.error(
                            codes::SINCE_FORK,
                            "(since)",
                            format!("its root {} is not the log's root at size {count}: the log is not an extension of it", c.root()),
                        );
                    }
                }
            }
            progress(count);
        }
        drop(stream);
        v.report.entries_checked = count;
        if aborted || count != size {
            return Ok(v.report);
        }

        // The partial tiles above level 0 at the latest size (level 0 was the last bundle).
        for level in 1..=MAX_LEVEL {
            let c = tiles::hashes_at_level(TreeSize(size), level);
            if c == 0 {
                break;
            }
            if !c.is_multiple_of(FULL) {
                let tile = tile_at(level, c / FULL, size)?;
                v.report.tiles_checked += 1;
                let stored = self.store.get_bytes(&tile_path(&tile)).await?;
                let l = usize::from(level);
                v.compare_tile(&tile, stored.as_deref(), e.level(l), t.level(l));
            }
        }

        // The root, and whom to blame for leaf-level disagreements.
        let signed = *latest.root();
        let root_e = e.root(size);
        let root_t = t.root(size);
        let entries_ok = root_e == Some(signed);
        let tiles_ok = root_t == Some(signed);
        for (bpath, tpath, i) in &pending {
            if entries_ok {
                v.error(
                    codes::TILE_MISMATCH,
                    tpath,
                    format!("hash {i} is not the leaf hash of entry {i} of {bpath}, and the entries give the signed root: the tile was changed"),
                );
            } else if tiles_ok {
                v.error(
                    codes::BUNDLE_MISMATCH,
                    bpath,
                    format!("entry {i} does not hash to the leaf hash in {tpath}, and the tiles give the signed root: the entry was changed"),
                );
            } else {
                v.error(
                    codes::BUNDLE_MISMATCH,
                    bpath,
                    format!("entry {i} does not hash to the leaf hash in {tpath}, and neither gives the signed root"),
                );
            }
        }
        if !entries_ok && !tiles_ok {
            v.error(
                codes::ROOT_MISMATCH,
                &latest_path,
                format!(
                    "the signed root {signed} of size {size} is not the root recomputed from the entries ({}): entries were changed, or the checkpoint forks from the log",
                    root_e.map_or_else(|| "none".into(), |r| r.to_base64())
                ),
            );
        }

        // The consistency proof a client would get from the tiles.
        if let Some(c) = since_cp.filter(|c| c.size().0 > 0 && c.size().0 < size) {
            let n = c.size().0;
            let checked = match self.consistency_proof(n, size).await {
                Ok(proof) => merkle::verify_consistency(
                    TreeSize(n),
                    TreeSize(size),
                    &proof,
                    c.root(),
                    &signed,
                )
                .map_err(LedgerError::from),
                Err(err) => Err(err),
            };
            if let Err(err) = checked {
                v.error(
                    codes::SINCE_PROOF,
                    "(since)",
                    format!("the consistency proof from size {n} to {size} does not verify: {err}"),
                );
            }
        }
        Ok(v.report)
    }

    /// At a kept checkpoint's size `n` below the latest: the partial tiles and the partial
    /// bundle of size `n` must agree with the recomputed edge.
    async fn check_partials(
        &self,
        v: &mut Verification,
        n: u64,
        e: &Edge,
        t: &Edge,
    ) -> Result<(), LedgerError> {
        for level in 0..=MAX_LEVEL {
            let c = tiles::hashes_at_level(TreeSize(n), level);
            if c == 0 {
                break;
            }
            if c.is_multiple_of(FULL) {
                continue;
            }
            let tile = tile_at(level, c / FULL, n)?;
            let l = usize::from(level);
            v.report.tiles_checked += 1;
            let stored = self.store.get_bytes(&tile_path(&tile)).await?;
            v.compare_tile(&tile, stored.as_deref(), e.level(l), t.level(l));
            if level == 0 {
                let bpath = bundle_path(&tile);
                v.report.bundles_checked += 1;
                match self.store.get_bytes(&bpath).await? {
                    None => v.error(
                        codes::BUNDLE_MISSING,
                        &bpath,
                        format!("the entry bundle of size {n} is missing"),
                    ),
                    Some(b) => match tiles::decode_bundle(&b, tile.width()) {
                        Err(err) => v.error(codes::BUNDLE_MALFORMED, &bpath, err.to_string()),
                        Ok(es) => {
                            let bad = es.iter().enumerate().find(|(i, x)| {
                                let h = merkle::leaf_hash(x);
                                e.level(0).get(*i) != Some(&h) && t.level(0).get(*i) != Some(&h)
                            });
                            if let Some((i, _)) = bad {
                                v.error(
                                    codes::BUNDLE_MISMATCH,
                                    &bpath,
                                    format!("entry {i} differs from the same entry in the log"),
                                );
                            }
                        }
                    },
                }
            }
        }
        Ok(())
    }
}

/// A stored checkpoint note parsed without checking its signature.
fn parse_unverified(bytes: &[u8]) -> Option<Checkpoint> {
    let note = std::str::from_utf8(bytes).ok()?;
    Checkpoint::parse(note_text(note).ok()?).ok()
}

/// The state of one [`Ledger::verify`] run.
struct Verification {
    report: LedgerVerifyReport,
    seen: HashSet<(&'static str, String)>,
}

impl Verification {
    fn push(&mut self, code: &'static str, severity: Severity, path: &str, message: String) {
        if self.seen.insert((code, path.to_string())) {
            self.report.findings.push(LedgerFinding {
                code: code.to_string(),
                severity,
                path: path.to_string(),
                message,
            });
        }
    }

    fn error(&mut self, code: &'static str, path: impl fmt::Display, message: String) {
        self.push(code, Severity::Error, &path.to_string(), message);
    }

    fn warning(&mut self, code: &'static str, path: impl fmt::Display, message: String) {
        self.push(code, Severity::Warning, &path.to_string(), message);
    }

    /// Checks a stored checkpoint note; returns the checkpoint when it verifies.
    fn checkpoint(
        &mut self,
        bytes: &[u8],
        path: &Path,
        verifier: &Verifier,
        origin: &str,
    ) -> Option<Checkpoint> {
        let Ok(note) = std::str::from_utf8(bytes) else {
            self.error(codes::CHECKPOINT_MALFORMED, path, "not UTF-8".into());
            return None;
        };
        match Checkpoint::verify(note, verifier, origin) {
            Ok(c) => Some(c),
            Err(checkpoint::Error::Signature(err)) => {
                self.error(
                    codes::CHECKPOINT_SIGNATURE,
                    path,
                    format!("does not verify with {}: {err}", verifier.verifier_key()),
                );
                None
            }
            Err(err @ checkpoint::Error::WrongOrigin { .. }) => {
                self.error(codes::CHECKPOINT_ORIGIN, path, err.to_string());
                None
            }
            Err(err) => {
                self.error(codes::CHECKPOINT_MALFORMED, path, err.to_string());
                None
            }
        }
    }

    /// Checks a `since` note before streaming; returns it when its size is within the log.
    fn since_header(
        &mut self,
        note: &str,
        verifier: &Verifier,
        origin: &str,
        size: u64,
    ) -> Option<Checkpoint> {
        self.report.checkpoints_checked += 1;
        match Checkpoint::verify(note, verifier, origin) {
            Err(err) => {
                self.error(
                    codes::SINCE_SIGNATURE,
                    "(since)",
                    format!("the given checkpoint cannot be trusted: {err}"),
                );
                None
            }
            Ok(c) if c.size().0 > size => {
                self.error(
                    codes::SINCE_BEYOND,
                    "(since)",
                    format!(
                        "the given checkpoint has size {}, the log only {size}: entries after {size} were dropped or the latest checkpoint was rolled back",
                        c.size().0
                    ),
                );
                None
            }
            Ok(c) if c.size().0 == 0 && *c.root() != merkle::empty_root() => {
                self.error(
                    codes::SINCE_FORK,
                    "(since)",
                    "a checkpoint of size 0 must carry the empty root".into(),
                );
                None
            }
            Ok(c) => Some(c),
        }
    }

    fn root_matches(&self, c: &Checkpoint, e: &Edge, t: &Edge, n: u64) -> bool {
        let r = Some(*c.root());
        e.root(n) == r || t.root(n) == r
    }

    /// A stored tile must equal the hashes recomputed from the entries or from the stored leaf
    /// hashes (so a changed bundle below it is not blamed on it).
    fn compare_tile(&mut self, tile: &Tile, stored: Option<&[u8]>, e: &[Hash], t: &[Hash]) {
        let path = tile_path(tile);
        let Some(bytes) = stored else {
            self.error(
                codes::TILE_MISSING,
                &path,
                "the hash tile is missing".into(),
            );
            return;
        };
        match tiles::decode_tile(tile, bytes) {
            Err(err) => self.error(codes::TILE_MALFORMED, &path, err.to_string()),
            Ok(h) if h.as_slice() == e || h.as_slice() == t => {}
            Ok(h) => {
                let i = h.iter().zip(e).position(|(a, b)| a != b).unwrap_or(0);
                self.error(
                    codes::TILE_MISMATCH,
                    &path,
                    format!("hash {i} differs from the hash recomputed from the entries"),
                );
            }
        }
    }
}

/// A C2SP `tlog-proof`: an entry's inclusion proof with the signed checkpoint it leads to,
/// verifiable offline. strongroom puts the entry's exact bytes in `extra`, so the proof
/// alone lets anyone recompute the leaf hash (`formats/ledger.md` §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The `extra` data: for strongroom, the entry's bytes (absent for an empty entry).
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = self.extra.as_ref().filter(|e| !e.is_empty()) {
            s.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses the text form strictly (header, optional `extra`, `index` without leading zeros,
    /// one base64 hash per line, an empty line, the checkpoint note).
    pub fn parse(text: &str) -> Result<TlogProof, LedgerError> {
        let bad = |m: &str| LedgerError::ProofFormat(m.to_string());
        let (header, mut rest) = text.split_once('\n').ok_or_else(|| bad("no header line"))?;
        if header != TLOG_PROOF_HEADER {
            return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
        }
        let next = |rest: &mut &str| -> Result<String, LedgerError> {
            let (line, tail) = rest
                .split_once('\n')
                .ok_or_else(|| bad("the proof ends before the checkpoint"))?;
            *rest = tail;
            Ok(line.to_string())
        };
        let mut line = next(&mut rest)?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(b64)
                    .map_err(|_| bad("extra is not standard base64"))?,
            );
            line = next(&mut rest)?;
        }
        let digits = line
            .strip_prefix("index ")
            .ok_or_else(|| bad("no index line"))?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(bad("the index is not a decimal without leading zeros"));
        }
        let index = digits.parse().map_err(|_| bad("the index is too large"))?;
        let mut proof = Vec::new();
        loop {
            let line = next(&mut rest)?;
            if line.is_empty() {
                break;
            }
            proof.push(Hash::from_base64(&line)?);
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: rest.to_string(),
        })
    }

    /// Verifies offline: the checkpoint's signature by `verifier` and its `origin`, and that
    /// the leaf hash of `extra` (the entry) is at `index` in the checkpointed tree. Returns
    /// the checkpoint.
    pub fn verify(&self, verifier: &Verifier, origin: &str) -> Result<Checkpoint, LedgerError> {
        let c = Checkpoint::verify(&self.checkpoint, verifier, origin)?;
        let leaf = merkle::leaf_hash(self.extra.as_deref().unwrap_or_default());
        merkle::verify_inclusion(
            LeafIndex(self.index),
            c.size(),
            &leaf,
            &self.proof,
            c.root(),
        )?;
        Ok(c)
    }
}

/// A request to the group-commit task.
enum Msg {
    Append {
        entry: Bytes,
        reply: oneshot::Sender<Result<(u64, SignedCheckpoint), LedgerError>>,
    },
    Shutdown(oneshot::Sender<WriterLock>),
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    entries: AtomicU64,
}

/// Group commit: many concurrent appenders share one durable commit.
///
/// A cloneable handle to one background task (tokio) that holds the writer lock for its
/// lifetime, drains up to [`MAX_BATCH`] queued entries at a time (lingering for a few
/// scheduler yields while more keep arriving, never on a timer) and appends them as one batch,
/// exactly as [`Ledger::append`] does. [`GroupCommit::append_one`] resolves only when the
/// batch holding the entry is committed (the same contract as `append`); the replies go out
/// right after the commit point, before `ledger/checkpoints/<size>` is created. After an
/// uncertain commit ([`LedgerError::CommitUncertain`]) the task refuses every later entry:
/// the process should stop and recover. When every handle is dropped the task ends and
/// releases the lock; [`GroupCommit::shutdown`] instead hands the lock back.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

impl GroupCommit {
    /// Starts the task on the current tokio runtime. `lock` must be the store's writer lock.
    pub fn start(ledger: Ledger, lock: WriterLock, key: Arc<ArchiveKey>) -> GroupCommit {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 2);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run_group_commit(ledger, lock, key, rx, counters.clone()));
        GroupCommit { tx, counters }
    }

    /// Queues one entry; resolves with its index and the checkpoint that commits it once its
    /// batch is durable. An entry over 65,535 bytes is refused at once.
    pub async fn append_one(&self, entry: Bytes) -> Result<(u64, SignedCheckpoint), LedgerError> {
        if entry.len() > MAX_ENTRY_LEN {
            return Err(LedgerError::EntryTooLarge { len: entry.len() });
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Append { entry, reply })
            .await
            .map_err(|_| LedgerError::Closed)?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }

    /// Batches committed so far (one `Ledger::append` each).
    pub fn batches(&self) -> u64 {
        self.counters.batches.load(Ordering::Relaxed)
    }

    /// Entries committed so far.
    pub fn entries(&self) -> u64 {
        self.counters.entries.load(Ordering::Relaxed)
    }

    /// Commits everything queued, stops the task and hands back the writer lock (to release
    /// it, or to go on writing). Other handles get [`LedgerError::Closed`] afterwards.
    pub async fn shutdown(self) -> Result<WriterLock, LedgerError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Shutdown(tx))
            .await
            .map_err(|_| LedgerError::Closed)?;
        rx.await.map_err(|_| LedgerError::Closed)
    }
}

type Reply = oneshot::Sender<Result<(u64, SignedCheckpoint), LedgerError>>;

async fn commit_batch(
    ledger: &Ledger,
    lock: &WriterLock,
    key: &ArchiveKey,
    batch: Vec<(Bytes, Reply)>,
    counters: &Counters,
    poisoned: &mut Option<Arc<LedgerError>>,
) {
    if batch.is_empty() {
        return;
    }
    if let Some(p) = poisoned {
        for (_, reply) in batch {
            let _ = reply.send(Err(LedgerError::BatchFailed { source: p.clone() }));
        }
        return;
    }
    let entries: Vec<Bytes> = batch.iter().map(|(e, _)| e.clone()).collect();
    match ledger.commit(lock, key, &entries).await {
        Ok(a) => {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters
                .entries
                .fetch_add(entries.len() as u64, Ordering::Relaxed);
            for (i, (_, reply)) in batch.into_iter().enumerate() {
                let _ = reply.send(Ok((a.first_index + i as u64, a.checkpoint.clone())));
            }
        }
        Err(err) => {
            let uncertain = matches!(err, LedgerError::CommitUncertain { .. });
            let err = Arc::new(err);
            if uncertain {
                *poisoned = Some(err.clone());
            }
            for (_, reply) in batch {
                let _ = reply.send(Err(LedgerError::BatchFailed {
                    source: err.clone(),
                }));
            }
        }
    }
}

async fn run_group_commit(
    ledger: Ledger,
    lock: WriterLock,
    key: Arc<ArchiveKey>,
    mut rx: mpsc::Receiver<Msg>,
    counters: Arc<Counters>,
) {
    let mut poisoned: Option<Arc<LedgerError>> = None;
    loop {
        let Some(first) = rx.recv().await else {
            // Every handle is gone: nothing more can arrive.
            let _ = lock.release().await;
            return;
        };
        let mut batch = Vec::new();
        let mut shutdown = None;
        match first {
            Msg::Append { entry, reply } => batch.push((entry, reply)),
            Msg::Shutdown(tx) => shutdown = Some(tx),
        }
        // Linger while entries keep arriving (appenders woken by the last batch's replies are
        // still queueing theirs): a few scheduler yields, never a timer.
        let mut rounds = 0;
        loop {
            let before = batch.len();
            while shutdown.is_none() && batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Append { entry, reply }) => batch.push((entry, reply)),
                    Ok(Msg::Shutdown(tx)) => shutdown = Some(tx),
                    Err(_) => break,
                }
            }
            let grew = batch.len() > before || rounds == 0;
            if shutdown.is_some() || batch.len() >= MAX_BATCH || rounds >= LINGER_ROUNDS || !grew {
                break;
            }
            rounds += 1;
            tokio::task::yield_now().await;
        }
        commit_batch(&ledger, &lock, &key, batch, &counters, &mut poisoned).await;
        if let Some(done) = shutdown {
            // Commit whatever is still queued, then hand the lock back.
            rx.close();
            loop {
                let mut batch = Vec::new();
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Msg::Append { entry, reply }) => batch.push((entry, reply)),
                        Ok(Msg::Shutdown(_)) => {}
                        Err(_) => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
                commit_batch(&ledger, &lock, &key, batch, &counters, &mut poisoned).await;
            }
            if let Err(lock) = done.send(lock) {
                let _ = lock.release().await;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect()
    }

    #[test]
    fn edge_roots_match_the_reference() {
        let hs = leaves(70_000);
        let mut streaming = Edge::default();
        for (i, h) in hs.iter().enumerate() {
            streaming.push_leaf(*h);
            let n = i as u64 + 1;
            if n.is_multiple_of(997) || n < 600 || n == 65_536 || n == 70_000 {
                assert_eq!(
                    streaming.root(n),
                    Some(merkle::root_of(&hs[..i + 1])),
                    "size {n}"
                );
            }
        }
        let mut grown = Edge::default();
        grown.grow(hs.iter().copied());
        assert_eq!(grown.root(70_000), Some(merkle::root_of(&hs)));
        assert_eq!(grown.level(0).len(), 70_000);
        assert_eq!(grown.level(1).len(), 273);
        assert_eq!(grown.level(2).len(), 1);
    }

    #[test]
    fn tlog_proof_text_round_trips() {
        let p = TlogProof {
            extra: Some(b"entry".to_vec()),
            index: 5,
            proof: leaves(3),
            checkpoint: "o\n6\nAAAA\n\n\u{2014} o sig\n".into(),
        };
        let text = p.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra ZW50cnk=\nindex 5\n"));
        assert_eq!(TlogProof::parse(&text).expect("parse"), p);
        for bad in [
            "c2sp.org/tlog-proof@v2\nindex 1\n\nx",
            "c2sp.org/tlog-proof@v1\nindex 01\n\nx",
            "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx",
            "c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\nx",
            "c2sp.org/tlog-proof@v1\nindex 1\n",
        ] {
            assert!(TlogProof::parse(bad).is_err(), "{bad:?}");
        }
        let no_extra = TlogProof {
            extra: None,
            index: 0,
            proof: vec![],
            checkpoint: "c".into(),
        };
        assert_eq!(no_extra.to_text(), "c2sp.org/tlog-proof@v1\nindex 0\n\nc");
    }

    #[test]
    fn kept_checkpoint_names_sort_numerically() {
        assert_eq!(
            kept_checkpoint_path(70_000).to_string(),
            "ledger/checkpoints/00000000000000070000"
        );
        assert!(kept_checkpoint_path(9).to_string() < kept_checkpoint_path(10).to_string());
        let t = tiles::tile_at(0, 273, TreeSize(70_000)).expect("tile");
        assert_eq!(tile_path(&t).to_string(), "ledger/tile/0/273.p/112");
        assert_eq!(bundle_path(&t).to_string(), "ledger/tile/entries/273.p/112");
    }
}
