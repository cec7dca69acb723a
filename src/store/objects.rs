//! The life of a write: intent → record versions → sync → ledger entries (the commit
//! point) → lookup documents → sync.
//!
//! Contract (DESIGN.md invariants 1–3): a version's files are written with create-only puts
//! (large files by multipart to a path that was checked empty under the writer lock), then
//! the version inventory and sidecar, then the root inventory and sidecar (create-only for
//! v1, atomic rename for later versions). Nothing is part of the archive until the ledger
//! batch that records it is durable ([`CommitPoint`]); `commit` MUST NOT return `Ok` before
//! that, and a caller MUST NOT acknowledge anything before `commit` returns `Ok`. Each
//! version's message names the ledger index of its entry (`[ledger N]`), so a reader knows a
//! version is committed when that index is inside the ledger's published size.

use std::path::PathBuf;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use serde::{Deserialize, Serialize};

use super::{join, path_of, pretty, random_hex, Store, StoreError, WriterLock};
use crate::ocfl::inventory::{Inventory, OBJECT_NAMASTE, OBJECT_NAMASTE_CONTENT};

/// Files at most this large are put in one create-only request; larger ones stream.
const SMALL_FILE: u64 = 1 << 20;
/// Part size for streamed files: bounded memory whatever the file size.
const PART: usize = 4 << 20;
/// Files written at once: enough to hide per-file latency, few enough to bound memory.
const CONCURRENT_FILES: usize = 16;

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// A file on local disk (the unpacked package).
    Local(PathBuf),
    /// Bytes in memory (record.json, intake evidence).
    Bytes(Bytes),
}

/// One content file of a new version.
#[derive(Debug, Clone)]
pub struct StagedFile {
    /// Path relative to the object root (`v1/content/files/正文.pdf`).
    pub content_path: String,
    /// Its bytes.
    pub source: FileSource,
    /// Its size, for progress.
    pub size: u64,
}

/// A new version of one object.
#[derive(Debug, Clone)]
pub struct VersionWrite {
    /// The object's root, under the OCFL storage root.
    pub object_root: Path,
    /// The inventory before this version (None for v1).
    pub previous: Option<Inventory>,
    /// The inventory with this version as head.
    pub inventory: Inventory,
    /// Content files this version adds.
    pub files: Vec<StagedFile>,
}

impl VersionWrite {
    fn version(&self) -> u32 {
        self.inventory.head_number().unwrap_or(0)
    }
}

/// Makes a write part of the archive once its versions are durable: appending its ledger
/// batch. The store decides nothing about entries; it only calls this at the right moment.
pub trait CommitPoint: Send + Sync {
    /// Appends the write's ledger entries. MUST NOT return `Ok` before they are durable and
    /// published (the ledger's checkpoint covers them).
    fn commit<'a>(&'a self, lock: &'a WriterLock) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// What a write will commit: the ledger batch it appends and the lookup documents it leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPlan {
    /// Ledger index the batch's first entry will take (the ledger's size under the lock).
    pub ledger_first: u64,
    /// Entries in the batch.
    pub ledger_count: u64,
    /// Documents put (create-only) once the batch is durable, e.g. the transfer record
    /// `transfers/<agency>/<id>.json` that answers a resubmission. They only restate what
    /// the ledger committed, so recovery writes any a crash left out.
    pub after_commit: Vec<(String, serde_json::Value)>,
}

/// What a write in progress is doing, durable before the first version byte, so that
/// recovery can undo it if its ledger batch never became durable, or finish it if it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The ledger batch and lookup documents of this write.
    pub plan: CommitPlan,
    /// Versions being written: (object root, version number).
    pub versions: Vec<(String, u32)>,
    /// Who.
    pub actor: String,
    /// When it started.
    pub started: String,
    /// The token of the writer lock its writer held: recovery judges the write by the claim
    /// on `ledger_first` (`ledger/next/<n>`) carrying this token (empty in intents written
    /// before claims named writers: judged by the ledger's size alone).
    #[serde(default)]
    pub writer: String,
}

impl Intent {
    /// Whether a ledger of `size` entries holds this write's whole batch.
    pub fn committed_in(&self, size: u64) -> bool {
        size >= self.plan.ledger_first + self.plan.ledger_count
    }
}

/// A removal in progress (`removals/<random>.json`): whole objects to delete once the ledger
/// batch recording their destruction is durable. Put and synced before the batch, so that
/// recovery finishes the deletion of a committed removal and forgets an uncommitted one
/// (whose objects were never touched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The ledger batch recording the removal, and the documents (tombstones) it leaves.
    pub plan: CommitPlan,
    /// Object roots to delete entirely.
    pub objects: Vec<String>,
    /// Who.
    pub actor: String,
    /// When it started.
    pub started: String,
    /// The token of the writer lock its writer held (as [`Intent::writer`]).
    #[serde(default)]
    pub writer: String,
}

/// Where removals in progress are kept.
pub const REMOVALS: &str = "removals";

/// The text in a version's `message` that names the ledger entry committing it.
pub fn ledger_marker(index: u64) -> String {
    format!("[ledger {index}]")
}

/// The ledger index a version message names, if any.
pub fn ledger_index_of_message(message: &str) -> Option<u64> {
    let start = message.rfind("[ledger ")? + "[ledger ".len();
    let end = message[start..].find(']')? + start;
    message[start..end].parse().ok()
}

/// OCFL sidecar text: `<digest>  inventory.json`.
pub fn sidecar(inventory_json: &[u8]) -> Bytes {
    let d = ring::digest::digest(&ring::digest::SHA512, inventory_json);
    Bytes::from(format!("{}  inventory.json\n", hex::encode(d.as_ref())))
}

impl Store {
    /// Writes every version, makes them durable, commits them through `point` (the ledger
    /// batch), then puts the plan's lookup documents. On failure before the commit point,
    /// everything written is rolled back before returning the error.
    pub async fn commit(
        &self,
        lock: &WriterLock,
        plan: CommitPlan,
        writes: &[VersionWrite],
        progress: &(dyn Fn(u64) + Sync),
        point: &dyn CommitPoint,
    ) -> Result<(), StoreError> {
        let size = self.ledger_size().await?;
        if size != plan.ledger_first {
            return Err(StoreError::Inconsistent {
                path: super::LEDGER_CHECKPOINT.into(),
                message: format!(
                    "the write planned ledger index {} but the ledger has {size} entries",
                    plan.ledger_first
                ),
            });
        }
        // Never start a write that could collide with what is stored: rolling it back would
        // then remove committed bytes. v1 needs an absent object; vN the head it was built on.
        for w in writes {
            match &w.previous {
                None => {
                    let namaste = join(&w.object_root, OBJECT_NAMASTE);
                    if self.exists(&namaste).await? {
                        return Err(StoreError::AlreadyExists {
                            path: w.object_root.to_string(),
                        });
                    }
                }
                Some(prev) => {
                    let root_inv = join(&w.object_root, "inventory.json");
                    let head = self.get_json::<Inventory>(&root_inv).await?.map(|i| i.head);
                    if head.as_deref() != Some(prev.head.as_str()) {
                        return Err(StoreError::Inconsistent {
                            path: root_inv.to_string(),
                            message: format!(
                                "the new version was built on {} but the object's head is {}",
                                prev.head,
                                head.unwrap_or_else(|| "missing".into())
                            ),
                        });
                    }
                }
            }
        }
        let intent = Intent {
            plan,
            versions: writes
                .iter()
                .map(|w| (w.object_root.to_string(), w.version()))
                .collect(),
            actor: lock.info().actor.clone(),
            started: super::now_rfc3339(),
            writer: lock.info().token.clone(),
        };
        let intent_path = path_of(["intents", &format!("{}.json", random_hex(12))]);
        self.put_create(&intent_path, pretty(&intent)).await?;
        self.sync().await?;
        let written = async {
            self.write_versions(writes, progress).await?;
            self.sync().await
        }
        .await;
        if let Err(e) = written {
            // Nothing of this write is in the ledger: undo it now rather than leave it to the
            // next start-up. The error we report is the original one.
            let _ = self.rollback(&intent).await;
            let _ = self.sync().await;
            let _ = self.delete(&intent_path).await;
            return Err(e);
        }
        // On error the batch may or may not have reached its commit point: only recovery,
        // after the ledger's own, can tell from what is durable, so the intent is left to it.
        point.commit(lock).await?;
        // Committed. The lookups restate it; a crash before the intent is deleted is
        // harmless (recovery sees the batch in the ledger and writes what is missing).
        self.put_after_commit(&intent.plan).await?;
        self.sync().await?;
        self.delete(&intent_path).await?;
        Ok(())
    }

    /// Removes whole objects: the one exception to append-only (DESIGN.md, destruction).
    /// Contract: the removal is put and synced first; then `point` appends the ledger batch
    /// recording it (the commit point: nothing is deleted before it is durable); then the
    /// plan's documents are put, every file of each object deleted, synced, and the removal
    /// forgotten. A crash after the commit point is finished by recovery (or by the next
    /// removal, which recovers first); a crash before it leaves every object as it was.
    pub async fn remove_objects(
        &self,
        lock: &WriterLock,
        plan: CommitPlan,
        roots: &[Path],
        point: &dyn CommitPoint,
    ) -> Result<(), StoreError> {
        let size = self.ledger_size().await?;
        if size != plan.ledger_first {
            return Err(StoreError::Inconsistent {
                path: super::LEDGER_CHECKPOINT.into(),
                message: format!(
                    "the removal planned ledger index {} but the ledger has {size} entries",
                    plan.ledger_first
                ),
            });
        }
        for root in roots {
            if !self.exists(&join(root, "inventory.json")).await? {
                return Err(StoreError::Inconsistent {
                    path: root.to_string(),
                    message: "the object to remove has no inventory".into(),
                });
            }
        }
        let removal = Removal {
            plan,
            objects: roots.iter().map(Path::to_string).collect(),
            actor: lock.info().actor.clone(),
            started: super::now_rfc3339(),
            writer: lock.info().token.clone(),
        };
        let path = path_of([REMOVALS, &format!("{}.json", random_hex(12))]);
        self.put_create(&path, pretty(&removal)).await?;
        self.sync().await?;
        // On error the batch may or may not be durable: recovery decides from the ledger.
        point.commit(lock).await?;
        self.finish_removal(&removal).await?;
        self.delete(&path).await?;
        Ok(())
    }

    /// The part of a committed removal after its commit point: its documents, then every
    /// file of each object, then sync. Idempotent.
    pub(crate) async fn finish_removal(&self, removal: &Removal) -> Result<(), StoreError> {
        self.put_after_commit(&removal.plan).await?;
        self.sync().await?;
        for root in &removal.objects {
            let root = super::stored_path(root);
            let mut paths = self.list_paths(&root).await?;
            // The declaration last: until the end the folder still says what it is.
            paths.sort_by_key(|p| p.filename().is_some_and(|f| f.starts_with("0=")));
            for p in paths {
                self.delete(&p).await?;
            }
        }
        self.sync().await
    }

    /// Puts a committed write's lookup documents, skipping those already there.
    pub(crate) async fn put_after_commit(&self, plan: &CommitPlan) -> Result<(), StoreError> {
        for (path, doc) in &plan.after_commit {
            let path = super::stored_path(path);
            match self.put_create(&path, pretty(doc)).await {
                Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn write_versions(
        &self,
        writes: &[VersionWrite],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        for w in writes {
            if w.previous.is_none() {
                // Declare the object first so the directory is never a stray in the root.
                self.put_create(
                    &join(&w.object_root, OBJECT_NAMASTE),
                    Bytes::from_static(OBJECT_NAMASTE_CONTENT.as_bytes()),
                )
                .await?;
            }
        }
        let jobs = writes.iter().flat_map(|w| {
            w.files
                .iter()
                .map(move |f| (join(&w.object_root, &f.content_path), f))
        });
        futures::stream::iter(jobs)
            .map(|(path, f)| async move {
                self.put_file(&path, f).await?;
                progress(f.size);
                Ok::<_, StoreError>(())
            })
            .buffer_unordered(CONCURRENT_FILES)
            .try_collect::<Vec<()>>()
            .await?;
        for w in writes {
            let json = Bytes::from(w.inventory.to_json());
            let side = sidecar(&json);
            let vdir = join(&w.object_root, &w.inventory.head);
            self.put_create(&join(&vdir, "inventory.json"), json.clone())
                .await?;
            self.put_create(&join(&vdir, "inventory.json.sha512"), side.clone())
                .await?;
            let root_inv = join(&w.object_root, "inventory.json");
            let root_side = join(&w.object_root, "inventory.json.sha512");
            if w.previous.is_none() {
                self.put_create(&root_inv, json).await?;
                self.put_create(&root_side, side).await?;
            } else {
                self.put_replace(&root_inv, json).await?;
                self.put_replace(&root_side, side).await?;
            }
        }
        Ok(())
    }

    async fn put_file(&self, path: &Path, f: &StagedFile) -> Result<(), StoreError> {
        match &f.source {
            FileSource::Bytes(b) => self.put_create(path, b.clone()).await,
            FileSource::Local(local) if f.size <= SMALL_FILE => {
                let b = tokio::fs::read(local)
                    .await
                    .map_err(|source| StoreError::Source {
                        path: local.display().to_string(),
                        source,
                    })?;
                self.put_create(path, Bytes::from(b)).await
            }
            FileSource::Local(local) => {
                // object_store has no create-only multipart upload: the path is checked empty
                // under the writer lock, and the inventory written later is the commit point.
                if self.exists(path).await? {
                    return Err(StoreError::AlreadyExists {
                        path: path.to_string(),
                    });
                }
                self.put_streamed(path, local).await
            }
        }
    }

    async fn put_streamed(&self, path: &Path, local: &std::path::Path) -> Result<(), StoreError> {
        use tokio::io::AsyncReadExt;
        let src_err = |source| StoreError::Source {
            path: local.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::open(local).await.map_err(src_err)?;
        let upload = self
            .backend()
            .put_multipart(path)
            .await
            .map_err(|e| StoreError::backend("put_multipart", path, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; PART];
        loop {
            let n = file.read(&mut buf).await.map_err(src_err)?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(2)
                .await
                .map_err(|e| StoreError::backend("put_part", path, e))?;
            writer.write(&buf[..n]);
        }
        writer
            .finish()
            .await
            .map_err(|e| StoreError::backend("complete_multipart", path, e))?;
        Ok(())
    }

    /// An object's inventory as of its newest committed version; None when the object does
    /// not exist or has no committed version (readers ignore uncommitted versions).
    /// `ledger_size` is the ledger's published size ([`Store::ledger_size`]), read once by
    /// the caller for a whole listing.
    pub async fn committed_inventory(
        &self,
        object_root: &Path,
        ledger_size: u64,
    ) -> Result<Option<Inventory>, StoreError> {
        let mut path = join(object_root, "inventory.json");
        loop {
            let Some(inv): Option<Inventory> = self.get_json(&path).await? else {
                return Ok(None);
            };
            let committed = match inv
                .versions
                .get(&inv.head)
                .and_then(|v| v.message.as_deref())
                .and_then(ledger_index_of_message)
            {
                Some(index) => index < ledger_size,
                // Not written by strongroom: nothing to wait for.
                None => true,
            };
            if committed {
                return Ok(Some(inv));
            }
            match inv.head_number() {
                Some(n) if n > 1 => {
                    path = join(object_root, &format!("v{}/inventory.json", n - 1));
                }
                _ => return Ok(None),
            }
        }
    }

    /// Streams one stored content file.
    pub async fn read_content(
        &self,
        object_root: &Path,
        content_path: &str,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let path = join(object_root, content_path);
        let r = self
            .backend()
            .get(&path)
            .await
            .map_err(|e| StoreError::backend("get", &path, e))?;
        let p2 = path.clone();
        Ok(r.into_stream()
            .map_err(move |e| StoreError::backend("get", &p2, e))
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_marker_round_trips() {
        let m = format!("移交 transfer A/B {}", ledger_marker(41));
        assert_eq!(ledger_index_of_message(&m), Some(41));
        assert_eq!(ledger_index_of_message("no marker"), None);
        assert_eq!(ledger_index_of_message("[ledger x]"), None);
    }
}
