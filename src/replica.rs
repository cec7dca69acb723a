//! Replicas (副本): other stores that hold a whole copy of the archive. Owns catching a replica
//! up from the primary (`strongroom replicate`) and repairing any copy from a good one
//! (`strongroom verify --repair`).
//!
//! The ledger is the authority for both: a replica receives only versions inside the primary's
//! published size, each checked against the inventory digest its ledger entry names before a
//! byte is copied; a repair restores a file only from a copy whose bytes hash to what the
//! ledger (or the inventory the ledger vouches for) promised, and records each repair as a
//! `copy.repaired` ledger entry. Specified in `formats/store-layout.md`, "Replicas".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::ledger::entry::{Entry, Event, VERSION_EVENTS};
use crate::ledger::log::{self, LedgerError};
use crate::ledger::tiles;
use crate::ocfl::inventory::{Inventory, OBJECT_NAMASTE, OBJECT_NAMASTE_CONTENT};
use crate::retention::state::{tombstone_path, REMOVAL_EVENTS};
use crate::sign::ArchiveKey;
use crate::store::{self, CommitPlan, CommitPoint, S3Settings, Store, StoreError, WriterLock};

/// Files at most this large are copied in one request; larger ones stream in parts.
const SMALL_COPY: u64 = 16 << 20;
/// Part size of a streamed copy.
const COPY_PART: usize = 8 << 20;
/// Top-level prefixes that are never copied: a store's own work in progress.
const LOCAL_ONLY: [&str; 6] = [
    "locks",
    "staging",
    "intents",
    store::REMOVALS,
    "probes",
    store::OCFL_ROOT,
];
/// Where tombstones live (`formats/retention.md`): copied only by the removal they restate.
const TOMBSTONES: &str = "retention/destroyed/";

/// A replica named in `config.toml` (`[[replicas]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaConfig {
    /// Its name in reports and ledger entries (`offsite`, `tape-gateway`).
    pub name: String,
    /// Its store URL (`s3://…`, `file://…`).
    pub store: String,
    /// How to reach it when it is on S3 (the `AWS_*` environment fills the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Settings>,
}

/// How a running server keeps its replicas caught up (`[replication]` in `config.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationSettings {
    /// Seconds between catch-up rounds when nothing wakes the replicator earlier: what picks
    /// up the commits of other writers (the CLI, other nodes). Default 60.
    pub interval_seconds: u64,
    /// Longest wait before retrying a replica that failed; the wait doubles from
    /// `interval_seconds` up to this. Default 900 (15 minutes).
    pub retry_max_seconds: u64,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        ReplicationSettings {
            interval_seconds: 60,
            retry_max_seconds: 900,
        }
    }
}

impl ReplicationSettings {
    /// True when nothing is set (the table is then left out of a written `config.toml`).
    pub fn is_default(&self) -> bool {
        *self == ReplicationSettings::default()
    }

    /// The wait before the next attempt after `failures` failures in a row (≥ 1): the
    /// interval doubled per failure, capped at `retry_max_seconds`, never under a second.
    pub fn backoff(&self, failures: u32) -> std::time::Duration {
        let base = self.interval_seconds.max(1);
        let doubled = base.saturating_mul(1u64 << failures.saturating_sub(1).min(20));
        std::time::Duration::from_secs(doubled.min(self.retry_max_seconds.max(1)))
    }
}

/// How far one replica is behind the primary: its ledger size is its position in the
/// replication queue (everything the primary's ledger holds past it is still to copy).
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaLag {
    /// The replica.
    pub replica: String,
    /// Its ledger size, when it could be read.
    pub ledger_size: Option<u64>,
    /// Entries the primary holds that it does not (the whole ledger when unreadable).
    pub behind: u64,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How far each configured replica is behind a primary of `primary_size` entries, reading
/// each replica's checkpoint (one GET) for at most `timeout`: a report, never a wait for
/// replication.
pub async fn lag(
    replicas: &[ReplicaConfig],
    primary_size: u64,
    timeout: std::time::Duration,
) -> Vec<ReplicaLag> {
    let mut out = Vec::new();
    for r in replicas {
        let read = async {
            Store::open_with(&r.store, &r.s3.clone().unwrap_or_default())?
                .ledger_size()
                .await
        };
        let (ledger_size, error) = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(n)) => (Some(n), None),
            Ok(Err(e)) => (None, Some(error_chain(&e))),
            Err(_) => (
                None,
                Some(format!("no answer within {} s", timeout.as_secs())),
            ),
        };
        out.push(ReplicaLag {
            replica: r.name.clone(),
            behind: primary_size.saturating_sub(ledger_size.unwrap_or(0)),
            ledger_size,
            error,
        });
    }
    out
}

/// An error and its causes on one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl ReplicaConfig {
    /// Opens the replica's store, probing an S3 one for conditional writes (as every store
    /// is probed before anything relies on create-only puts).
    pub async fn open(&self) -> Result<Copy, StoreError> {
        let store = Store::open_with(&self.store, &self.s3.clone().unwrap_or_default())?;
        if store.kind() == store::BackendKind::S3 {
            store.probe().await?;
        }
        Ok(Copy {
            name: self.name.clone(),
            store,
        })
    }
}

/// One copy of the archive: the primary or a replica.
#[derive(Debug, Clone)]
pub struct Copy {
    /// `primary`, or the replica's name.
    pub name: String,
    /// Its store.
    pub store: Store,
}

/// Errors of replication and repair (damage is reported, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A repair entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] crate::ledger::entry::EntryError),
    /// The replica holds another archive.
    #[error("replica {name} holds another archive ({path} differs from the primary's)")]
    OtherArchive {
        /// The replica.
        name: String,
        /// The object that differs.
        path: String,
    },
    /// The replica's ledger is not a prefix of the primary's.
    #[error(
        "replica {name}'s ledger has {replica_size} entries, the primary's {primary_size}: \
         it is not a copy of this archive's ledger"
    )]
    Diverged {
        /// The replica.
        name: String,
        /// Its size.
        replica_size: u64,
        /// The primary's.
        primary_size: u64,
    },
    /// The primary's own bytes disagree with its ledger: nothing is copied from it.
    #[error("the primary's {path} does not match its ledger ({why}): run `verify --repair`")]
    PrimaryDamaged {
        /// The object.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The signed checkpoint does not verify with the archive's key.
    #[error("the primary's checkpoint does not verify with the archive's key")]
    Unsigned,
}

/// What `replicate` did to one replica.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicateReport {
    /// The replica.
    pub replica: String,
    /// Its ledger size before.
    pub from_size: u64,
    /// Its ledger size now (the primary's when it started).
    pub to_size: u64,
    /// Object versions copied.
    pub versions_copied: u64,
    /// Objects copied (files, inventories, tiles, documents).
    pub objects_copied: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Records destroyed (销毁) or transferred out (移交) on the primary whose removal this
    /// run carried to the replica: objects deleted, tombstones put, as on the primary.
    pub records_removed: u64,
}

/// One file a copy lacked or held damaged, and what was done.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    /// The copy.
    pub copy: String,
    /// The object's path in the store.
    pub path: String,
    /// `missing` or `damaged`.
    pub problem: String,
    /// The copy its good bytes came from; None when no copy had them (not repaired).
    pub source: Option<String>,
    /// sha512 of the good bytes.
    pub sha512: String,
    /// Ledger index of the `copy.repaired` entry recording it.
    pub ledger_index: Option<u64>,
}

/// What `verify --repair` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// Copies checked, primary first.
    pub copies: Vec<String>,
    /// Files checked, over all copies.
    pub files_checked: u64,
    /// Every problem found, repaired or not.
    pub repairs: Vec<Repair>,
}

impl RepairReport {
    /// True when every problem found was repaired.
    pub fn all_repaired(&self) -> bool {
        self.repairs.iter().all(|r| r.source.is_some())
    }
}

fn sha512_hex(b: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA512, b).as_ref())
}

/// sha512 of an object, streamed; None when it is absent.
async fn object_sha512(s: &Store, path: &Path) -> Result<Option<String>, StoreError> {
    let r = match s.backend().get(path).await {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(backend("get", path, e)),
    };
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA512);
    let mut stream = r.into_stream();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| backend("get", path, e))?
    {
        ctx.update(&chunk);
    }
    Ok(Some(hex::encode(ctx.finish().as_ref())))
}

fn backend(op: &'static str, path: &Path, source: object_store::Error) -> StoreError {
    StoreError::Backend {
        op,
        path: path.to_string(),
        source,
    }
}

/// Copies `path` from one store to another, replacing what is there, but only if its bytes
/// hash to `sha512` (when given): a copy never spreads damage. Returns the bytes copied, or
/// None when the source's bytes do not match (nothing is left written then).
async fn copy_checked(
    from: &Store,
    to: &Store,
    path: &Path,
    sha512: Option<&str>,
) -> Result<Option<u64>, StoreError> {
    let r = from
        .backend()
        .get(path)
        .await
        .map_err(|e| backend("get", path, e))?;
    let size = r.meta.size;
    if size <= SMALL_COPY {
        let b = r.bytes().await.map_err(|e| backend("get", path, e))?;
        if sha512.is_some_and(|d| sha512_hex(&b) != d) {
            return Ok(None);
        }
        to.put_overwrite(path, b).await?;
        return Ok(Some(size));
    }
    let upload = to
        .backend()
        .put_multipart(path)
        .await
        .map_err(|e| backend("put_multipart", path, e))?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, COPY_PART);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA512);
    let mut stream = r.into_stream();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| backend("get", path, e))?
    {
        ctx.update(&chunk);
        w.wait_for_capacity(2)
            .await
            .map_err(|e| backend("put_part", path, e))?;
        w.write(&chunk);
    }
    if sha512.is_some_and(|d| hex::encode(ctx.finish().as_ref()) != d) {
        // Abandon the upload: on S3 and in memory nothing becomes visible.
        w.abort()
            .await
            .map_err(|e| backend("abort_multipart", path, e))?;
        return Ok(None);
    }
    w.finish()
        .await
        .map_err(|e| backend("complete_multipart", path, e))?;
    Ok(Some(size))
}

/// One version the ledger commits: (object root, version, entry index, inventory sha512).
type VersionAt = (Path, String, u64, String);

/// A record the ledger says was removed from the archive (销毁 destroyed, or 移交 transferred
/// out): its `record.destroyed` / `record.transferred` entry.
#[derive(Debug, Clone)]
struct RemovalAt {
    /// The entry's index.
    index: u64,
    /// The record's OCFL object id.
    object_id: String,
    /// Its object root in the store.
    root: Path,
}

/// What the ledger's entries `[from, to)` change in the store, in ledger order: the versions
/// they commit and the records they remove.
#[derive(Debug, Default)]
struct Changes {
    versions: Vec<VersionAt>,
    removals: Vec<RemovalAt>,
}

impl Changes {
    /// Object roots of the records removed.
    fn removed_roots(&self) -> std::collections::BTreeSet<String> {
        self.removals.iter().map(|r| r.root.to_string()).collect()
    }
}

/// Reads the ledger's entries `[from, to)` bundle by bundle.
async fn changes_in(
    primary: &Store,
    ledger: &log::Ledger,
    from: u64,
    to: u64,
) -> Result<Changes, ReplicaError> {
    let mut out = Changes::default();
    let mut start = from;
    while start < to {
        let end = (start + 256).min(to);
        for (i, bytes) in (start..end).zip(ledger.entries(start, end).await?) {
            let Ok(e) = Entry::decode(&bytes) else {
                continue; // `ledger verify` reports it
            };
            if REMOVAL_EVENTS.contains(&e.kind.as_str()) {
                if let Some(oid) = e.field_str("object_id") {
                    out.removals.push(RemovalAt {
                        index: i,
                        object_id: oid.to_string(),
                        root: crate::intake::object_root(primary, oid),
                    });
                }
                continue;
            }
            if !VERSION_EVENTS.contains(&e.kind.as_str()) {
                continue;
            }
            if let (Some(oid), Some(v), Some(d)) = (
                e.field_str("object_id"),
                e.field_str("version"),
                e.field_str("inventory_sha512"),
            ) {
                out.versions.push((
                    crate::intake::object_root(primary, oid),
                    v.to_string(),
                    i,
                    d.to_string(),
                ));
            }
        }
        start = end;
    }
    Ok(out)
}

/// Catches `replica` up with `primary`: everything the primary's published ledger covers and
/// the replica lacks. Order keeps the replica consistent at every step (a crash leaves it
/// behind, never wrong): object versions (files, version inventory, root inventory), then the
/// ledger's tiles and bundles, then its checkpoint, which is the replica's commit point.
pub async fn replicate(
    primary: &Store,
    replica: &Copy,
    key: &ArchiveKey,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ReplicateReport, ReplicaError> {
    replicate_waiting(primary, replica, key, progress, store::WRITER_WAIT).await
}

/// [`replicate`], waiting at most `wait` for the replica's writer lock (another replicator,
/// or a repair, may hold it); `StoreError::Locked` when it stays held.
pub async fn replicate_waiting(
    primary: &Store,
    replica: &Copy,
    key: &ArchiveKey,
    progress: &(dyn Fn(&str) + Sync),
    wait: std::time::Duration,
) -> Result<ReplicateReport, ReplicaError> {
    let target = &replica.store;
    let lock = target.lock_writer_waiting("replicate", wait).await?;
    let result = replicate_locked(primary, replica, key, progress, &lock).await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

async fn replicate_locked(
    primary: &Store,
    replica: &Copy,
    key: &ArchiveKey,
    progress: &(dyn Fn(&str) + Sync),
    lock: &WriterLock,
) -> Result<ReplicateReport, ReplicaError> {
    let target = &replica.store;
    let mut report = ReplicateReport {
        replica: replica.name.clone(),
        ..Default::default()
    };
    // The archive's identity and OCFL root declaration: identical or absent.
    for p in [
        "archive.json",
        "ocfl/0=ocfl_1.1",
        "ocfl/ocfl_layout.json",
        "ocfl/extensions/0003-hash-and-id-n-tuple-storage-layout/config.json",
    ] {
        let path = Path::from(p);
        let Some(want) = primary.get_bytes(&path).await? else {
            continue;
        };
        match target.get_bytes(&path).await? {
            Some(have) if have == want => {}
            Some(_) => {
                return Err(ReplicaError::OtherArchive {
                    name: replica.name.clone(),
                    path: p.into(),
                })
            }
            None => {
                target.put_create(&path, want.clone()).await?;
                report.objects_copied += 1;
                report.bytes_copied += want.len() as u64;
            }
        }
    }
    // What the primary has published, read once: everything copied is inside it.
    let ledger = crate::ledger::commit::open(primary).await?;
    let Some(published) = ledger.latest().await? else {
        return Ok(report); // an empty archive
    };
    log::SignedCheckpoint::verify(&published.note, &key.verifier(), ledger.origin())
        .map_err(|_| ReplicaError::Unsigned)?;
    let size = published.size();
    let from = target.ledger_size().await?;
    report.from_size = from;
    report.to_size = size;
    if from > size {
        return Err(ReplicaError::Diverged {
            name: replica.name.clone(),
            replica_size: from,
            primary_size: size,
        });
    }
    if from > 0 {
        let theirs = crate::ledger::commit::open(target)
            .await?
            .root_at(from)
            .await?;
        if theirs != ledger.root_at(from).await? {
            return Err(ReplicaError::Diverged {
                name: replica.name.clone(),
                replica_size: from,
                primary_size: size,
            });
        }
    }

    // A removal left half done by a crash is finished before anything else is written.
    target.recover(lock).await?;
    let changes = changes_in(primary, &ledger, from, size).await?;
    let removed = changes.removed_roots();

    // Object versions, in ledger order; none of a record removed within these entries: the
    // primary no longer holds it, and the replica must not either once it has caught up.
    for (root, v, index, digest) in &changes.versions {
        if removed.contains(root.as_ref()) {
            continue;
        }
        let (index, digest) = (*index, digest.clone());
        progress(&format!("{root} {v}"));
        let inv_path = store::join(root, &format!("{v}/inventory.json"));
        let Some(inv_bytes) = primary.get_bytes(&inv_path).await? else {
            return Err(ReplicaError::PrimaryDamaged {
                path: inv_path.to_string(),
                why: format!("missing; ledger entry {index} records it"),
            });
        };
        if sha512_hex(&inv_bytes) != digest {
            return Err(ReplicaError::PrimaryDamaged {
                path: inv_path.to_string(),
                why: format!("its digest is not the one ledger entry {index} records"),
            });
        }
        let inv: Inventory =
            serde_json::from_slice(&inv_bytes).map_err(|source| StoreError::Json {
                path: inv_path.to_string(),
                source,
            })?;
        // What this version writes on the replica, removed again if the primary turns out to
        // hold a damaged file: the replica never keeps half a version (an OCFL validator
        // would reject the stray files).
        let mut written: Vec<Path> = Vec::new();
        let copied = async {
            if v == "v1" {
                let n = store::join(root, OBJECT_NAMASTE);
                if !target.exists(&n).await? {
                    target
                        .put_create(&n, Bytes::from_static(OBJECT_NAMASTE_CONTENT.as_bytes()))
                        .await?;
                    written.push(n);
                    report.objects_copied += 1;
                }
            }
            let prefix = format!("{v}/");
            for (d, paths) in &inv.manifest {
                for cp in paths.iter().filter(|p| p.starts_with(&prefix)) {
                    let path = store::join(root, cp);
                    if target.exists(&path).await? {
                        continue; // immutable; damage there is `verify --repair`'s
                    }
                    match copy_checked(primary, target, &path, Some(d)).await? {
                        Some(n) => {
                            written.push(path);
                            report.objects_copied += 1;
                            report.bytes_copied += n;
                        }
                        None => {
                            return Err(ReplicaError::PrimaryDamaged {
                                path: path.to_string(),
                                why: "its bytes do not match the inventory's digest".into(),
                            })
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            for p in written.iter().rev() {
                target.delete(p).await?;
            }
            return Err(e);
        }
        let side = store::sidecar(&inv_bytes);
        for (rel, bytes) in [
            (format!("{v}/inventory.json"), inv_bytes.clone()),
            (format!("{v}/inventory.json.sha512"), side.clone()),
            ("inventory.json".to_string(), inv_bytes.clone()),
            ("inventory.json.sha512".to_string(), side.clone()),
        ] {
            let path = store::join(root, &rel);
            if target.get_bytes(&path).await?.as_ref() != Some(&bytes) {
                report.bytes_copied += bytes.len() as u64;
                target.put_overwrite(&path, bytes).await?;
                report.objects_copied += 1;
            }
        }
        report.versions_copied += 1;
    }

    // Documents outside the OCFL root and the ledger (transfer records, the seal registry,
    // rejection reports): all create-only, so present means the same.
    for top in primary.list_top_prefixes().await? {
        if LOCAL_ONLY.contains(&top.as_str()) || top == "ledger" {
            continue;
        }
        for path in primary.list_paths(&Path::from(top.as_str())).await? {
            // Tombstones arrive with the removal they restate, after its commit point.
            if path.as_ref().starts_with(TOMBSTONES) {
                continue;
            }
            if !target.exists(&path).await? {
                if let Some(n) = copy_checked(primary, target, &path, None).await? {
                    report.objects_copied += 1;
                    report.bytes_copied += n;
                }
            }
        }
    }

    // The ledger: the tiles and bundles the new size adds, its kept checkpoints, and last the
    // published checkpoint (the replica's commit point). When the entries record records
    // removed (销毁, 移交), publishing them is the commit point of the same removal the
    // primary made (`Store::remove_objects`): the removal is put on the replica first, the
    // objects go only once the replica's ledger records why, and its recovery finishes a
    // removal a crash interrupted.
    progress("ledger");
    let step = LedgerCopy {
        primary,
        target,
        from,
        size,
        note: Bytes::from(published.note.clone()),
        objects: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    };
    if changes.removals.is_empty() {
        step.run().await?;
    } else {
        let mut tombstones = Vec::new();
        let mut roots = Vec::new();
        for r in &changes.removals {
            progress(&format!(
                "{} removed (ledger entry {})",
                r.object_id, r.index
            ));
            tombstones.push(primary_tombstone(primary, r).await?);
            if target
                .exists(&store::join(&r.root, "inventory.json"))
                .await?
                && !roots.contains(&r.root)
            {
                roots.push(r.root.clone());
            }
        }
        let plan = CommitPlan {
            ledger_first: from,
            ledger_count: size - from,
            after_commit: tombstones,
        };
        target.remove_objects(lock, plan, &roots, &step).await?;
        // What a copy interrupted before its inventory left of a removed record (no
        // inventory, so not an object `remove_objects` takes): its stray files go too.
        for r in &changes.removals {
            for p in target.list_paths(&r.root).await? {
                target.delete(&p).await?;
            }
        }
        target.sync().await?;
        report.records_removed = changes.removals.len() as u64;
    }
    report.objects_copied += step.objects.load(Ordering::Relaxed);
    report.bytes_copied += step.bytes.load(Ordering::Relaxed);
    Ok(report)
}

/// The primary's tombstone of a removed record, as the replica must hold it: committed by
/// the entry that records the removal (same index and object), else replication stops.
async fn primary_tombstone(
    primary: &Store,
    r: &RemovalAt,
) -> Result<(String, serde_json::Value), ReplicaError> {
    let path = tombstone_path(&r.object_id);
    let damaged = |why: String| ReplicaError::PrimaryDamaged {
        path: path.to_string(),
        why,
    };
    let Some(bytes) = primary.get_bytes(&path).await? else {
        return Err(damaged(format!(
            "missing, though ledger entry {} records the removal (an unfinished removal: \
             run `strongroom verify` on the primary to finish it)",
            r.index
        )));
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: path.to_string(),
            source,
        })?;
    if doc.get("ledger_index").and_then(|i| i.as_u64()) != Some(r.index)
        || doc.get("object_id").and_then(|o| o.as_str()) != Some(r.object_id.as_str())
    {
        return Err(damaged(format!(
            "it does not restate ledger entry {}, which records the removal",
            r.index
        )));
    }
    Ok((path.to_string(), doc))
}

/// Copies the primary's ledger from one published size to another onto a replica, ending
/// with the checkpoint: the replica's commit point, for a plain catch-up and for a removal.
struct LedgerCopy<'a> {
    primary: &'a Store,
    target: &'a Store,
    from: u64,
    size: u64,
    /// The primary's signed checkpoint at `size`.
    note: Bytes,
    objects: AtomicU64,
    bytes: AtomicU64,
}

impl LedgerCopy<'_> {
    async fn run(&self) -> Result<(), StoreError> {
        let (primary, target, from, size) = (self.primary, self.target, self.from, self.size);
        // Every checkpoint published since (proofs against any of them work on the replica
        // too): their 20-digit names sort by size, so one listing from the replica's size
        // finds them.
        let kept_dir = Path::from("ledger/checkpoints");
        let kept: Vec<object_store::ObjectMeta> = primary
            .backend()
            .list_with_offset(Some(&kept_dir), &log::kept_checkpoint_path(from))
            .try_collect()
            .await
            .map_err(|e| backend("list", &kept_dir, e))?;
        let mut sizes = Vec::new();
        let mut ledger_paths = Vec::new();
        for m in kept {
            let n = m.location.filename().and_then(|f| f.parse::<u64>().ok());
            if let Some(n) = n.filter(|n| *n > from && *n <= size) {
                sizes.push(n);
                ledger_paths.push(m.location);
            }
        }
        // The tiles and bundles of each size a kept checkpoint names, partial ones included
        // (`ledger verify` checks every kept checkpoint against its own tiles), then the new
        // size's.
        sizes.sort_unstable();
        sizes.push(size);
        let mut at = from;
        let mut seen = std::collections::BTreeSet::new();
        for n in sizes {
            for t in tiles::tiles_added(
                crate::ledger::merkle::TreeSize(at),
                crate::ledger::merkle::TreeSize(n),
            ) {
                let p = log::tile_path(&t);
                if seen.insert(p.to_string()) {
                    ledger_paths.push(p);
                }
                if t.level() == 0 {
                    let b = log::bundle_path(&t);
                    if seen.insert(b.to_string()) {
                        ledger_paths.push(b);
                    }
                }
            }
            at = at.max(n);
        }
        for path in ledger_paths {
            if let Some(want) = primary.get_bytes(&path).await? {
                if target.get_bytes(&path).await?.as_ref() != Some(&want) {
                    self.objects.fetch_add(1, Ordering::Relaxed);
                    self.bytes.fetch_add(want.len() as u64, Ordering::Relaxed);
                    target.put_overwrite(&path, want).await?;
                }
            }
        }
        target.sync().await?;
        // A replica already at this checkpoint (nothing new) is left untouched.
        if target.get_bytes(&log::checkpoint_path()).await?.as_ref() != Some(&self.note) {
            target
                .put_overwrite(&log::checkpoint_path(), self.note.clone())
                .await?;
            target.sync().await?;
            self.objects.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl CommitPoint for LedgerCopy<'_> {
    fn commit<'b>(&'b self, _lock: &'b WriterLock) -> BoxFuture<'b, Result<(), StoreError>> {
        Box::pin(self.run())
    }
}

/// Checks every copy against the primary's ledger and restores every missing or damaged
/// object file from a copy whose bytes match what the ledger promised; each restored file is
/// a `copy.repaired` ledger entry. A copy is checked only for the versions its own ledger
/// covers (a replica behind is caught up by `replicate`, not here).
pub async fn repair(
    primary: &Store,
    replicas: &[Copy],
    key: &ArchiveKey,
    actor: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RepairReport, ReplicaError> {
    let lock = primary
        .lock_writer_waiting(actor, store::WRITER_WAIT)
        .await?;
    let mut locks = Vec::new();
    let result = async {
        let ledger = crate::ledger::commit::open(primary).await?;
        crate::ledger::commit::recover(primary, &ledger, &lock, key).await?;
        for r in replicas {
            locks.push(
                r.store
                    .lock_writer_waiting(actor, store::WRITER_WAIT)
                    .await?,
            );
        }
        let mut copies = vec![Copy {
            name: "primary".into(),
            store: primary.clone(),
        }];
        copies.extend(replicas.iter().cloned());
        let report = repair_locked(primary, &ledger, &copies, key, progress).await?;
        let entries: Vec<Bytes> = report
            .repairs
            .iter()
            .filter_map(|r| {
                r.source.as_ref().map(|source| Event::CopyRepaired {
                    copy: r.copy.clone(),
                    path: r.path.clone(),
                    problem: r.problem.clone(),
                    source: source.clone(),
                    sha512: r.sha512.clone(),
                })
            })
            .map(|e| {
                Entry::new(&e, actor, &store::now_rfc3339())
                    .encode()
                    .map(Bytes::from)
            })
            .collect::<Result<_, _>>()?;
        let mut report = report;
        if !entries.is_empty() {
            let appended = ledger.append(&lock, key, &entries).await?;
            let repaired = report.repairs.iter_mut().filter(|r| r.source.is_some());
            for (index, r) in (appended.first_index..).zip(repaired) {
                r.ledger_index = Some(index);
            }
        }
        Ok::<_, ReplicaError>(report)
    }
    .await;
    for l in locks {
        let _ = l.release().await;
    }
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

/// What one object file must be: exact bytes, with where they were found intact
/// (inventories, sidecars, the declaration), or bytes with a given sha512 (content).
enum Expect {
    Bytes(Bytes, String),
    Sha512(String),
}

impl Expect {
    fn sha512(&self) -> String {
        match self {
            Expect::Bytes(b, _) => sha512_hex(b),
            Expect::Sha512(d) => d.clone(),
        }
    }
}

async fn repair_locked(
    primary: &Store,
    ledger: &log::Ledger,
    copies: &[Copy],
    key: &ArchiveKey,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RepairReport, ReplicaError> {
    if let Some(cp) = ledger.latest().await? {
        log::SignedCheckpoint::verify(&cp.note, &key.verifier(), ledger.origin())
            .map_err(|_| ReplicaError::Unsigned)?;
    }
    let size = ledger.size().await?;
    let mut report = RepairReport {
        copies: copies.iter().map(|c| c.name.clone()).collect(),
        ..Default::default()
    };
    let mut sizes = Vec::new();
    for c in copies {
        sizes.push(c.store.ledger_size().await?.min(size));
    }
    // Object root → its versions in ledger order.
    let mut objects: BTreeMap<String, Vec<(String, u64, String)>> = BTreeMap::new();
    // A record the ledger says was destroyed (销毁) or transferred out is promised by no
    // copy: its files are never restored, from any copy that still holds them (a replica
    // that has not yet caught up with the removal; `replicate` removes them there).
    let changes = changes_in(primary, ledger, 0, size).await?;
    let removed = changes.removed_roots();
    for (root, v, index, digest) in changes.versions {
        if removed.contains(root.as_ref()) {
            continue;
        }
        objects
            .entry(root.to_string())
            .or_default()
            .push((v, index, digest));
    }
    for (root_s, versions) in &objects {
        progress(root_s);
        let root = store::stored_path(root_s);
        // The inventories the ledger vouches for, from whichever copy holds them intact.
        let mut trusted: BTreeMap<String, (Bytes, String)> = BTreeMap::new();
        for (v, _, digest) in versions {
            let path = store::join(&root, &format!("{v}/inventory.json"));
            for c in copies {
                if let Some(b) = c.store.get_bytes(&path).await? {
                    if sha512_hex(&b) == *digest {
                        trusted.insert(v.clone(), (b, c.name.clone()));
                        break;
                    }
                }
            }
        }
        for (c, copy_size) in copies.iter().zip(&sizes) {
            // The versions this copy's ledger covers, and what each must hold.
            let mut expected: Vec<(String, Expect)> = vec![(
                OBJECT_NAMASTE.to_string(),
                // The declaration's bytes are fixed by the OCFL spec.
                Expect::Bytes(
                    Bytes::from_static(OBJECT_NAMASTE_CONTENT.as_bytes()),
                    "ocfl".into(),
                ),
            )];
            let mut newest: Option<&(Bytes, String)> = None;
            let covered: Vec<_> = versions.iter().filter(|(_, i, _)| i < copy_size).collect();
            if covered.is_empty() {
                continue;
            }
            for (v, _, digest) in &covered {
                let Some(found) = trusted.get(v) else {
                    // No copy holds this version's inventory as the ledger recorded it.
                    report.repairs.push(Repair {
                        copy: c.name.clone(),
                        path: store::join(&root, &format!("{v}/inventory.json")).to_string(),
                        problem: "damaged".into(),
                        source: None,
                        sha512: digest.clone(),
                        ledger_index: None,
                    });
                    continue;
                };
                newest = Some(found);
                let (inv_bytes, from) = found;
                let inv: Inventory =
                    serde_json::from_slice(inv_bytes).map_err(|source| StoreError::Json {
                        path: format!("{root_s}/{v}/inventory.json"),
                        source,
                    })?;
                let prefix = format!("{v}/");
                for (d, paths) in &inv.manifest {
                    for p in paths.iter().filter(|p| p.starts_with(&prefix)) {
                        expected.push((p.clone(), Expect::Sha512(d.clone())));
                    }
                }
                expected.push((
                    format!("{v}/inventory.json"),
                    Expect::Bytes(inv_bytes.clone(), from.clone()),
                ));
                expected.push((
                    format!("{v}/inventory.json.sha512"),
                    Expect::Bytes(store::sidecar(inv_bytes), from.clone()),
                ));
            }
            if let Some((b, from)) = newest {
                expected.push((
                    "inventory.json".into(),
                    Expect::Bytes(b.clone(), from.clone()),
                ));
                expected.push((
                    "inventory.json.sha512".into(),
                    Expect::Bytes(store::sidecar(b), from.clone()),
                ));
            }
            for (rel, expect) in expected {
                let path = store::join(&root, &rel);
                report.files_checked += 1;
                let want = expect.sha512();
                let problem = match object_sha512(&c.store, &path).await? {
                    Some(d) if d == want => continue,
                    Some(_) => "damaged",
                    None => "missing",
                };
                let source = match &expect {
                    Expect::Bytes(b, from) => {
                        c.store.put_overwrite(&path, b.clone()).await?;
                        Some(from.clone())
                    }
                    Expect::Sha512(d) => {
                        let mut from = None;
                        for other in copies.iter().filter(|o| o.name != c.name) {
                            if !other.store.exists(&path).await? {
                                continue;
                            }
                            if copy_checked(&other.store, &c.store, &path, Some(d))
                                .await?
                                .is_some()
                            {
                                from = Some(other.name.clone());
                                break;
                            }
                        }
                        from
                    }
                };
                report.repairs.push(Repair {
                    copy: c.name.clone(),
                    path: path.to_string(),
                    problem: problem.into(),
                    source,
                    sha512: want,
                    ledger_index: None,
                });
            }
        }
    }
    for c in copies {
        c.store.sync().await?;
    }
    Ok(report)
}
