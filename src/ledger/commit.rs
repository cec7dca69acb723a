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
        ledger.recover(&lock).await?;
        store.recover(&lock).await?;
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
