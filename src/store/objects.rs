//! The life of a write: intent → record versions → sync → commit record → sync.
//!
//! Contract (DESIGN.md invariants 1–3): a version's files are written with create-only puts
//! (large files by multipart to a path that was checked empty under the writer lock), then
//! the version inventory and sidecar, then the root inventory and sidecar (create-only for
//! v1, atomic rename for later versions). Nothing is part of the archive until the one
//! create-only commit record is durable; `commit` MUST NOT return `Ok` before that, and a
//! caller MUST NOT acknowledge anything before `commit` returns `Ok`.

use std::path::PathBuf;

use bytes::Bytes;
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

/// What a write in progress is doing, durable before the first version byte, so that
/// recovery can undo it if its commit record never appears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The commit record that will make this write part of the archive.
    pub commit_record: String,
    /// Versions being written: (object root, version number).
    pub versions: Vec<(String, u32)>,
    /// Who.
    pub actor: String,
    /// When it started.
    pub started: String,
}

/// The text in a version's `message` that names its commit record.
pub fn commit_marker(commit_record: &str) -> String {
    format!("[commit {commit_record}]")
}

/// The commit record a version message names, if any.
pub fn commit_of_message(message: &str) -> Option<&str> {
    let start = message.rfind("[commit ")? + "[commit ".len();
    let end = message[start..].find(']')? + start;
    Some(&message[start..end])
}

/// OCFL sidecar text: `<digest>  inventory.json`.
pub fn sidecar(inventory_json: &[u8]) -> Bytes {
    let d = ring::digest::digest(&ring::digest::SHA512, inventory_json);
    Bytes::from(format!("{}  inventory.json\n", hex::encode(d.as_ref())))
}

impl Store {
    /// Writes every version, then the commit record, making each step durable in turn.
    /// On failure everything written is rolled back before returning the error.
    pub async fn commit(
        &self,
        lock: &WriterLock,
        commit_record: &Path,
        commit_doc: Bytes,
        writes: &[VersionWrite],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        if self.exists(commit_record).await? {
            return Err(StoreError::AlreadyExists {
                path: commit_record.to_string(),
            });
        }
        let intent = Intent {
            commit_record: commit_record.to_string(),
            versions: writes
                .iter()
                .map(|w| (w.object_root.to_string(), w.version()))
                .collect(),
            actor: lock.info().actor.clone(),
            started: super::now_rfc3339(),
        };
        let intent_path = path_of(["intents", &format!("{}.json", random_hex(12))]);
        self.put_create(&intent_path, pretty(&intent)).await?;
        self.sync().await?;
        let result = async {
            self.write_versions(writes, progress).await?;
            self.sync().await?;
            self.put_create(commit_record, commit_doc).await?;
            self.sync().await
        }
        .await;
        match result {
            Ok(()) => {
                // The intent is done; a crash before this delete is harmless (recovery sees
                // the commit record and only deletes the intent).
                self.delete(&intent_path).await?;
                Ok(())
            }
            Err(e) => {
                // Undo now rather than leave it to the next start-up; the error we report is
                // the original one.
                let _ = self.rollback(&intent).await;
                let _ = self.sync().await;
                let _ = self.delete(&intent_path).await;
                Err(e)
            }
        }
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
    pub async fn committed_inventory(
        &self,
        object_root: &Path,
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
                .and_then(commit_of_message)
            {
                Some(record) => self.exists(&super::stored_path(record)).await?,
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
    fn commit_marker_round_trips() {
        let m = format!("移交 transfer A/B {}", commit_marker("transfers/A/B.json"));
        assert_eq!(commit_of_message(&m), Some("transfers/A/B.json"));
        assert_eq!(commit_of_message("no marker"), None);
    }
}
