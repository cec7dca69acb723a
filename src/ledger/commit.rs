//! The ledger as the store's commit point: a write is part of the archive when the batch of
//! entries recording it is durable and published in a signed checkpoint.
//!
//! The store calls [`LedgerBatch`] (its [`CommitPoint`]) after a write's versions are durable;
//! intake and access build the entries. Nothing here writes to `ocfl/`.

use bytes::Bytes;
use futures::future::BoxFuture;

use super::entry::{Entry, EntryError, Event};
use super::log::{Appended, Ledger, LedgerError};
use crate::sign::ArchiveKey;
use crate::store::{CommitPoint, Store, StoreError, WriterLock};

/// The ledger of a store: its origin is the archive's key name, fixed at `init`
/// (`formats/ledger.md`, "Checkpoints").
pub async fn open(store: &Store) -> Result<Ledger, StoreError> {
    let info = store.archive_info().await?;
    Ok(Ledger::new(store.clone(), info.key_name))
}

/// Encodes events as entries by one actor at one time.
pub fn encode_all(events: &[Event], actor: &str, time: &str) -> Result<Vec<Bytes>, EntryError> {
    events
        .iter()
        .map(|e| Entry::new(e, actor, time).encode().map(Bytes::from))
        .collect()
}

/// What a writer's start-up recovery did: the ledger's, the fence (if one was needed), the
/// store's.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// The ledger's recovery.
    pub ledger: crate::ledger::LedgerRecovery,
    /// The `writer.fenced` entry's index, when writes of a writer that may still wake up were
    /// found and it was fenced.
    pub fenced_at: Option<u64>,
    /// The store's recovery (after the fence).
    pub store: crate::store::RecoveryReport,
}

/// Start-up recovery of a writer holding the archive's key, under `lock`: the ledger's (roll
/// claimed batches forward, sweep), then the store's. A write that the store's recovery left
/// in place because its writer may still wake up and claim its ledger index (its lock was
/// broken when its lease ran out, not because it died: `RecoveryReport::unfenced`) is fenced
/// first: one `writer.fenced` entry is appended through the ordinary claim, taking that
/// index, so the writer's own claim can no longer succeed (it stops with `LockLost`); then the
/// store's recovery runs again and undoes the write. A lock taken by breaking the lease of a
/// holder that may be alive is fenced the same way even when it left no write in the store:
/// it may be about to claim the tip with a document change or plain events prepared on what
/// it read, and after the fence it cannot. Costs nothing when the lock was taken free or from
/// a dead holder and nothing was left behind. If the writer wakes and claims first, the fence
/// finds its claim (`Overtaken`): its batch is committed (on the state it read, which nothing
/// had changed since), and the store's recovery then keeps its write.
pub async fn recover(
    store: &Store,
    ledger: &Ledger,
    lock: &WriterLock,
    key: &ArchiveKey,
) -> Result<Recovered, LedgerError> {
    let mut done = Recovered {
        ledger: ledger.recover(lock).await?,
        ..Recovered::default()
    };
    done.store = store.recover(lock).await?;
    // Holders whose lease we broke while they may be alive: even with no write of theirs
    // left in the store, one may be between its last lock confirmation and its claim with a
    // document change or plain events, which would commit at the ledger's tip.
    let broken = lock.take_fence_due();
    if done.store.unfenced.is_empty() && broken.is_empty() {
        return Ok(done);
    }
    let left = std::mem::take(&mut done.store.unfenced);
    let mut writers: Vec<String> = left.iter().map(|u| u.writer.clone()).collect();
    writers.extend(broken);
    writers.sort();
    writers.dedup();
    let versions: Vec<String> = left.iter().flat_map(|u| u.versions.clone()).collect();
    let mut writes: Vec<String> = left.iter().map(|u| u.path.clone()).collect();
    writes.truncate(super::entry::FENCED_VERSIONS_LISTED);
    let event = Event::WriterFenced {
        writers,
        versions_count: versions.len() as u64,
        versions: versions
            .into_iter()
            .take(super::entry::FENCED_VERSIONS_LISTED)
            .collect(),
        writes,
    };
    let entries = encode_all(
        std::slice::from_ref(&event),
        &lock.info().actor,
        &crate::store::now_rfc3339(),
    )?;
    match ledger.append(lock, key, &entries).await {
        Ok(a) => done.fenced_at = Some(a.first_index),
        // The writer woke and claimed first: its batch is committed, and the store's recovery
        // below keeps its write.
        Err(LedgerError::Overtaken { .. }) => {}
        Err(e) => return Err(e),
    }
    if left.is_empty() {
        return Ok(done);
    }
    let again = store.recover(lock).await?;
    done.store.completed += again.completed;
    done.store.removed.extend(again.removed);
    done.store.staging_removed += again.staging_removed;
    done.store.orphans_removed += again.orphans_removed;
    // Still unfenced: planned past the ledger's end (nothing a fence at the end can take).
    done.store.unfenced = again.unfenced;
    Ok(done)
}

/// How long an event waits for a writer (e.g. a transfer being stored) to release the lock.
pub const EVENT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Appends entries that record no new object version (a read by a person, a fixity audit):
/// takes the writer lock (waiting up to [`EVENT_LOCK_WAIT`]), settles any interrupted write
/// first (its batch owns the next indices), appends, releases. Durable when it returns `Ok`.
pub async fn append_event(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    entries: &[Bytes],
) -> Result<Appended, LedgerError> {
    let lock = store.lock_writer_waiting(actor, EVENT_LOCK_WAIT).await?;
    let result = async {
        let ledger = open(store).await?;
        recover(store, &ledger, &lock, key).await?;
        ledger.append(&lock, key, entries).await
    }
    .await;
    let released = lock.release().await;
    let appended = result?;
    released?;
    Ok(appended)
}

/// One write's ledger batch, appended when the store reaches its commit point.
pub struct LedgerBatch<'a> {
    ledger: &'a Ledger,
    key: &'a ArchiveKey,
    entries: Vec<Bytes>,
    appended: std::sync::Mutex<Option<Appended>>,
}

impl<'a> LedgerBatch<'a> {
    /// A batch of encoded entries, to be signed for with `key`.
    pub fn new(ledger: &'a Ledger, key: &'a ArchiveKey, entries: Vec<Bytes>) -> Self {
        LedgerBatch {
            ledger,
            key,
            entries,
            appended: std::sync::Mutex::new(None),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where the batch landed and the checkpoint that published it, once committed.
    pub fn appended(&self) -> Option<Appended> {
        self.appended.lock().ok().and_then(|a| a.clone())
    }
}

impl CommitPoint for LedgerBatch<'_> {
    fn commit<'b>(&'b self, lock: &'b WriterLock) -> BoxFuture<'b, Result<(), StoreError>> {
        Box::pin(async move {
            let appended = self
                .ledger
                .append(lock, self.key, &self.entries)
                .await
                .map_err(|e| StoreError::CommitPoint(Box::new(e)))?;
            if let Ok(mut slot) = self.appended.lock() {
                *slot = Some(appended);
            }
            Ok(())
        })
    }
}

/// A change to documents outside `ocfl/` (the seal registry, retention state): documents put
/// create-only, content-addressed blobs, and the one ledger entry that commits them.
pub struct DocumentPlan {
    /// Documents, create-only (a leftover of an unfinished change at the path is removed).
    pub docs: Vec<(object_store::path::Path, Bytes)>,
    /// Content-addressed blobs (equal bytes already there are fine).
    pub blobs: Vec<(object_store::path::Path, Bytes)>,
    /// The entry.
    pub event: Event,
}

/// What a committed [`DocumentPlan`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DocumentChange {
    /// The entry's type.
    pub event: String,
    /// Its index.
    pub ledger_index: u64,
    /// The change id.
    pub change: String,
    /// The documents written.
    pub documents: Vec<String>,
}

/// The frame of every document change: take the writer lock (waiting up to
/// [`EVENT_LOCK_WAIT`]), settle interrupted writes, `load` the committed state, `build` the
/// plan from it (given the index its entry will take and a fresh change id), write blobs and
/// documents, sync, append the entry (the commit point), release. A document becomes part of
/// the archive only with its entry; readers ignore one without (`what` names the kind of
/// change in errors).
pub async fn commit_documents<S, E, L, F>(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    what: &str,
    load: L,
    build: F,
) -> Result<DocumentChange, E>
where
    L: for<'s> FnOnce(&'s Store) -> BoxFuture<'s, Result<S, E>>,
    F: FnOnce(&S, u64, &str) -> Result<DocumentPlan, E>,
    E: From<StoreError> + From<LedgerError> + From<EntryError>,
{
    let lock = store.lock_writer_waiting(actor, EVENT_LOCK_WAIT).await?;
    let result = async {
        let ledger = open(store).await?;
        recover(store, &ledger, &lock, key).await?;
        let state = load(store).await?;
        let index = ledger.size().await?;
        let change_id = crate::store::random_hex(8);
        let plan = build(&state, index, &change_id)?;
        for (path, bytes) in &plan.blobs {
            match store.put_create(path, bytes.clone()).await {
                Ok(()) => {}
                Err(StoreError::AlreadyExists { .. }) => {
                    // Content-addressed: equal bytes are a leftover or the same object.
                    if store.get_bytes(path).await?.as_ref() != Some(bytes) {
                        return Err(StoreError::Inconsistent {
                            path: path.to_string(),
                            message: "holds other bytes than its name's digest".into(),
                        }
                        .into());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        for (path, bytes) in &plan.docs {
            // `build` refused anything committed at this path, so what is here is a leftover
            // of a change that never reached its entry: garbage, under the lock.
            if store.exists(path).await? {
                store.delete(path).await?;
            }
            store.put_create(path, bytes.clone()).await?;
        }
        store.sync().await?;
        let entries = encode_all(
            std::slice::from_ref(&plan.event),
            actor,
            &crate::store::now_rfc3339(),
        )?;
        let appended = ledger.append(&lock, key, &entries).await?;
        if appended.first_index != index {
            return Err(StoreError::Inconsistent {
                path: "ledger/checkpoint".into(),
                message: format!(
                    "the {what} change was recorded at {} instead of {index}",
                    appended.first_index
                ),
            }
            .into());
        }
        let kind = entries
            .first()
            .and_then(|e| Entry::decode(e).ok())
            .map(|e| e.kind)
            .unwrap_or_default();
        Ok::<_, E>(DocumentChange {
            event: kind,
            ledger_index: index,
            change: change_id,
            documents: plan.docs.iter().map(|(p, _)| p.to_string()).collect(),
        })
    }
    .await;
    let released = lock.release().await;
    let applied = result?;
    released?;
    Ok(applied)
}
