//! The archive's store: every byte of the archive, through `object_store` and nothing else.
//!
//! Owns the store layout (`formats/store-layout.md`): the OCFL storage root under `ocfl/`,
//! transfer records under `transfers/`, write intents under `intents/`, rejected-transfer
//! reports under `reports/`, the writer lock under `locks/` (the ledger's objects under
//! `ledger/` are the ledger module's). It owns the life of a write: intent → versions →
//! sync → ledger batch (the commit point) → lookups → sync, and the recovery that undoes
//! anything a crash left uncommitted. It decides nothing about what is accepted; that is
//! `intake`'s job.

pub mod durability;
pub mod faults;
mod lock;
mod objects;
mod recovery;
pub mod s3;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use durability::{Durability, SyncFs, Volatile};
pub use lock::{LockInfo, WriterLock, WRITER_WAIT};
pub use objects::{FileSource, StagedFile, VersionWrite};
pub use recovery::{RecoveryReport, Unfenced};
pub use s3::S3Settings;

use crate::ocfl::layout;

/// The version of the store layout this code writes (`formats/store-layout.md`).
pub const STORE_FORMAT_VERSION: u32 = 1;
/// The oldest store layout this code reads.
pub const OLDEST_SUPPORTED_STORE_FORMAT: u32 = 1;

/// The OCFL storage root's prefix inside the store.
pub const OCFL_ROOT: &str = "ocfl";

/// The ledger's latest signed checkpoint: its size is the commit horizon of every write
/// (`formats/ledger.md`).
pub const LEDGER_CHECKPOINT: &str = "ledger/checkpoint";

/// Errors of the store layer. Each keeps its cause and the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not one we can open.
    #[error(
        "unsupported store URL {url:?}: use file:///absolute/path, s3://bucket/prefix or memory://"
    )]
    UnsupportedUrl {
        /// The URL given.
        url: String,
    },
    /// An object_store operation failed.
    #[error("store {op} failed at {path}")]
    Backend {
        /// What we were doing (`put`, `get`, `list`, …).
        op: &'static str,
        /// The object's path in the store.
        path: String,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },
    /// A create-only put found the object already there.
    #[error("{path} already exists in the store and is never overwritten")]
    AlreadyExists {
        /// The object's path.
        path: String,
    },
    /// The sync step failed: nothing after it may be acknowledged.
    #[error("could not make writes durable (sync of {path})")]
    Sync {
        /// The directory being synced.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document in the store does not parse.
    #[error("{path} in the store is not valid JSON of the expected form")]
    Json {
        /// The object's path.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The store was never initialised.
    #[error("no archive at {url}: run `strongroom init` first")]
    NotInitialised {
        /// The store URL.
        url: String,
    },
    /// The server accepted a create-only put over an existing object: it ignores
    /// conditional writes, so two writers could overwrite each other.
    #[error(
        "the store at {url} ignores conditional writes (a create-only put overwrote an \
         existing object); strongroom refuses it: use a server that honours If-None-Match \
         (AWS S3, MinIO, Ceph RGW 19+)"
    )]
    NoConditionalWrites {
        /// The store URL.
        url: String,
    },
    /// Our lease on the writer lock ran out and another writer broke it: nothing more may be
    /// committed under it (recovery by the new holder undoes what was written).
    #[error("the writer lock was lost (its lease ran out and another writer took it)")]
    LockLost,
    /// A conditional update (`If-Match`) found another version of the object than the one
    /// read: someone replaced it since.
    #[error("{path} changed since it was read; the conditional update was refused")]
    Precondition {
        /// The object's path.
        path: String,
    },
    /// Another writer holds the lock.
    #[error("the store is locked by another writer ({0}); retry when it finishes")]
    Locked(Box<LockInfo>),
    /// The store holds something that breaks its own invariants.
    #[error("store inconsistency at {path}: {message}")]
    Inconsistent {
        /// Where.
        path: String,
        /// What.
        message: String,
    },
    /// The commit point (the ledger append) failed; the write was not acknowledged.
    #[error("the ledger could not record the write")]
    CommitPoint(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A local file to be stored could not be read.
    #[error("cannot read {path}")]
    Source {
        /// The local path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn backend(op: &'static str, path: &Path, source: object_store::Error) -> Self {
        match source {
            object_store::Error::AlreadyExists { .. } => StoreError::AlreadyExists {
                path: path.to_string(),
            },
            object_store::Error::Precondition { .. } => StoreError::Precondition {
                path: path.to_string(),
            },
            source => StoreError::Backend {
                op,
                path: path.to_string(),
                source,
            },
        }
    }
}

/// `archive.json` at the store's top: what this store is, and the key that signs for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// Always `strongroom-archive`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`STORE_FORMAT_VERSION`] at creation.
    pub format_version: u32,
    /// RFC 3339 time of `init`.
    pub created: String,
    /// The signed-note key name fixed at `init`.
    pub key_name: String,
    /// The published verifier key (C2SP signed-note form).
    pub verifier_key: String,
}

/// Which kind of backend a store is on: the few places that differ say so by matching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `file://`: local disk, durable after `syncfs`, no `PutMode::Update`.
    Local,
    /// `memory://`: tests.
    Memory,
    /// `s3://`: durable when a put is acknowledged; no rename (copy + delete).
    S3,
}

/// The archive's store.
#[derive(Clone)]
pub struct Store {
    os: Arc<dyn ObjectStore>,
    kind: BackendKind,
    durability: Arc<dyn Durability>,
    url: String,
    /// The directory of a `file://` store: only for the one thing object_store cannot do,
    /// removing the staging files a killed put leaves behind (see `recovery`).
    local_root: Option<std::path::PathBuf>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

/// One path segment, literally: on a local store the file's name is exactly the segment
/// (`PathPart::from` would percent-encode every non-ASCII byte, so `正文.pdf` would be stored
/// as `%E6%AD%A3…`). Only a segment object_store cannot hold at all (a control character,
/// `.` or `..`, which intake refuses anyway) falls back to the encoded form.
pub fn segment(seg: &str) -> PathPart<'_> {
    PathPart::parse(seg).unwrap_or_else(|_| PathPart::from(seg))
}

/// Builds a store path from literal segments.
pub fn path_of<'a>(segments: impl IntoIterator<Item = &'a str>) -> Path {
    Path::from_iter(segments.into_iter().map(segment))
}

/// Joins a '/'-separated relative path of literal segments onto a base; the base is
/// already a store path and is not touched.
pub fn join(base: &Path, rel: &str) -> Path {
    rel.split('/')
        .filter(|s| !s.is_empty())
        .fold(base.clone(), |p, seg| p.join(segment(seg)))
}

/// A store path read back from a document we wrote (`Path::to_string` form, already
/// percent-encoded): parsed, never encoded again.
pub fn stored_path(s: &str) -> Path {
    Path::parse(s).unwrap_or_else(|_| Path::from(s))
}

impl Store {
    /// Opens a store by URL: `file:///abs/path` (created if missing), `s3://bucket/prefix`
    /// (reached through the `AWS_*` environment) or `memory://`.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &S3Settings::default())
    }

    /// Opens a store by URL, an `s3://` one with `s3` over the environment. Does not probe
    /// the server ([`Store::probe`]): the caller does, once per process.
    pub fn open_with(url: &str, s3: &S3Settings) -> Result<Store, StoreError> {
        if url.starts_with("s3://") {
            let os = s3::backend(url, s3)?;
            return Ok(Store {
                os: faults::KillAtWrite::from_env(os),
                kind: BackendKind::S3,
                // An S3 put is durable when the server acknowledges it.
                durability: Arc::new(Volatile),
                url: url.to_string(),
                local_root: None,
            });
        }
        if let Some(rest) = url.strip_prefix("file://") {
            let root = std::path::PathBuf::from(rest);
            if !root.is_absolute() {
                return Err(StoreError::UnsupportedUrl { url: url.into() });
            }
            std::fs::create_dir_all(&root).map_err(|source| StoreError::Source {
                path: root.display().to_string(),
                source,
            })?;
            let fs = LocalFileSystem::new_with_prefix(&root)
                .map_err(|source| StoreError::backend("open", &Path::from(""), source))?
                .with_automatic_cleanup(true);
            Ok(Store {
                os: faults::KillAtWrite::from_env(Arc::new(fs)),
                kind: BackendKind::Local,
                durability: Arc::new(SyncFs::new(root.clone())),
                url: url.to_string(),
                local_root: Some(root),
            })
        } else if url == "memory://" || url == "memory:///" {
            Ok(Store::with_backend(
                Arc::new(InMemory::new()),
                Arc::new(Volatile),
                url,
            ))
        } else {
            Err(StoreError::UnsupportedUrl { url: url.into() })
        }
    }

    /// A store over any backend and sync step (tests use this for the power-cut wrapper).
    pub fn with_backend(
        os: Arc<dyn ObjectStore>,
        durability: Arc<dyn Durability>,
        url: &str,
    ) -> Store {
        let kind = if url.starts_with("s3://") {
            BackendKind::S3
        } else if url.starts_with("file://") {
            // LocalFileSystem: no `PutMode::Update`, so replacing stays a staged rename.
            BackendKind::Local
        } else {
            BackendKind::Memory
        };
        Store {
            os,
            kind,
            durability,
            url: url.to_string(),
            local_root: None,
        }
    }

    /// Which kind of backend it is on.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend, for read-only tools such as the OCFL validator.
    pub fn backend(&self) -> &Arc<dyn ObjectStore> {
        &self.os
    }

    /// The OCFL storage root's path.
    pub fn ocfl_root(&self) -> Path {
        Path::from(OCFL_ROOT)
    }

    /// Makes everything written so far durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.durability.sync().await
    }

    /// Creates the store: archive identity and the OCFL storage root's declaration, layout and
    /// extension config. Refuses a store that already has an archive.
    pub async fn init(&self, info: &ArchiveInfo) -> Result<(), StoreError> {
        let root = self.ocfl_root();
        self.put_create(
            &join(&root, "0=ocfl_1.1"),
            Bytes::from_static(b"ocfl_1.1\n"),
        )
        .await?;
        self.put_create(
            &join(&root, "ocfl_layout.json"),
            pretty(&layout::layout_json_0003()),
        )
        .await?;
        self.put_create(
            &join(
                &root,
                "extensions/0003-hash-and-id-n-tuple-storage-layout/config.json",
            ),
            pretty(&layout::extension_config_0003()),
        )
        .await?;
        self.put_create(&Path::from("archive.json"), pretty(info))
            .await?;
        self.sync().await
    }

    /// The archive's identity, or [`StoreError::NotInitialised`].
    pub async fn archive_info(&self) -> Result<ArchiveInfo, StoreError> {
        match self.get_json(&Path::from("archive.json")).await? {
            Some(info) => Ok(info),
            None => Err(StoreError::NotInitialised {
                url: self.url.clone(),
            }),
        }
    }

    /// Create-only put: fails with [`StoreError::AlreadyExists`] rather than overwrite.
    pub async fn put_create(&self, path: &Path, bytes: Bytes) -> Result<(), StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.os
            .put_opts(path, PutPayload::from_bytes(bytes), opts)
            .await
            .map_err(|e| StoreError::backend("put", path, e))?;
        Ok(())
    }

    /// Replaces an object atomically: written under `staging/` first, then renamed over the
    /// target, because LocalFileSystem has no `PutMode::Update`. On S3 a plain put already
    /// replaces atomically (readers see the old or the new object, never a mix) and a rename
    /// would be a copy and a delete. Used only for the objects OCFL requires to change (an
    /// object's root inventory and its sidecar) and the ledger's current checkpoint.
    pub(crate) async fn put_replace(&self, path: &Path, bytes: Bytes) -> Result<(), StoreError> {
        if self.kind == BackendKind::S3 {
            return self
                .os
                .put(path, PutPayload::from_bytes(bytes))
                .await
                .map(|_| ())
                .map_err(|e| StoreError::backend("put", path, e));
        }
        let tmp = path_of(["staging", &random_hex(16)]);
        self.put_create(&tmp, bytes).await?;
        self.os
            .rename(&tmp, path)
            .await
            .map_err(|e| StoreError::backend("rename", path, e))
    }

    /// Replaces an object whatever is there. Only for restoring bytes the ledger vouches for
    /// (a replica being caught up, a damaged copy being repaired: `crate::replica`), never for
    /// a new write.
    pub(crate) async fn put_overwrite(&self, path: &Path, bytes: Bytes) -> Result<(), StoreError> {
        self.os
            .put(path, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| StoreError::backend("put", path, e))
    }

    /// The names of the store's top-level folders (one delimited listing).
    pub async fn list_top_prefixes(&self) -> Result<Vec<String>, StoreError> {
        let root = Path::from("");
        let r = self
            .os
            .list_with_delimiter(None)
            .await
            .map_err(|e| StoreError::backend("list", &root, e))?;
        Ok(r.common_prefixes
            .iter()
            .filter_map(|p| p.parts().next_back().map(|s| s.as_ref().to_string()))
            .collect())
    }

    /// Reads and parses a JSON object with the version a conditional update needs; None when
    /// absent.
    pub(crate) async fn get_json_versioned<T: DeserializeOwned>(
        &self,
        path: &Path,
    ) -> Result<Option<(T, object_store::UpdateVersion)>, StoreError> {
        let Some((bytes, version)) = self.get_bytes_versioned(path).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: path.to_string(),
            source,
        })?;
        Ok(Some((value, version)))
    }

    /// Replaces an object only if it is still the version read: a conditional update
    /// (`If-Match`) where the backend has one (S3, memory); LocalFileSystem has none, so
    /// there it is [`Store::put_replace`] and the caller's own check is all there is.
    pub(crate) async fn put_replace_if(
        &self,
        path: &Path,
        bytes: Bytes,
        version: object_store::UpdateVersion,
    ) -> Result<(), StoreError> {
        if self.kind == BackendKind::Local {
            return self.put_replace(path, bytes).await;
        }
        let opts = PutOptions {
            mode: PutMode::Update(version),
            ..Default::default()
        };
        self.os
            .put_opts(path, PutPayload::from_bytes(bytes), opts)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::backend("put", path, e))
    }

    /// Reads a whole (small) object with the version a conditional update needs; None when
    /// absent.
    pub(crate) async fn get_bytes_versioned(
        &self,
        path: &Path,
    ) -> Result<Option<(Bytes, object_store::UpdateVersion)>, StoreError> {
        let r = match self.os.get(path).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(StoreError::backend("get", path, e)),
        };
        let version = object_store::UpdateVersion {
            e_tag: r.meta.e_tag.clone(),
            version: r.meta.version.clone(),
        };
        let bytes = r
            .bytes()
            .await
            .map_err(|e| StoreError::backend("get", path, e))?;
        Ok(Some((bytes, version)))
    }

    /// Reads a whole (small) object; None when absent.
    pub async fn get_bytes(&self, path: &Path) -> Result<Option<Bytes>, StoreError> {
        match self.os.get(path).await {
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| StoreError::backend("get", path, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StoreError::backend("get", path, e)),
        }
    }

    /// Reads and parses a JSON object; None when absent.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &Path,
    ) -> Result<Option<T>, StoreError> {
        match self.get_bytes(path).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| StoreError::Json {
                    path: path.to_string(),
                    source,
                }),
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, path: &Path) -> Result<bool, StoreError> {
        match self.os.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StoreError::backend("head", path, e)),
        }
    }

    /// Every object path under a prefix.
    pub async fn list_paths(&self, prefix: &Path) -> Result<Vec<Path>, StoreError> {
        self.os
            .list(Some(prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| StoreError::backend("list", prefix, e))
    }

    /// Deletes an object (absent is fine).
    pub(crate) async fn delete(&self, path: &Path) -> Result<(), StoreError> {
        match self.os.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::backend("delete", path, e)),
        }
    }

    /// The ledger's published size: the number of entries its latest checkpoint covers, 0
    /// when nothing was ever appended (`ledger/checkpoint`, or further along the claims when it
    /// is stale). A version is committed when its entry's index is
    /// below it. The signature is not checked here (`ledger verify` does that).
    pub async fn ledger_size(&self) -> Result<u64, StoreError> {
        let path = Path::from(LEDGER_CHECKPOINT);
        let Some(note) = self.get_bytes(&path).await? else {
            return Ok(0);
        };
        let inconsistent = |message: String| StoreError::Inconsistent {
            path: LEDGER_CHECKPOINT.into(),
            message,
        };
        let text = std::str::from_utf8(&note)
            .map_err(|_| inconsistent("the checkpoint is not UTF-8".into()))?;
        // The note's text ends at its blank line; the signatures follow.
        let body = text
            .find("\n\n")
            .map(|i| &text[..=i])
            .ok_or_else(|| inconsistent("the checkpoint is not a signed note".into()))?;
        let mut size = crate::ledger::checkpoint::Checkpoint::parse(body)
            .map(|c| c.size().0)
            .map_err(|e| inconsistent(e.to_string()))?;
        // A stale `ledger/checkpoint` is not the size: follow the ledger's claims through the
        // batches written out (their kept checkpoint exists), as `Ledger::latest` does
        // (`formats/ledger.md` §7b). One GET of `ledger/next/<size>` (absent) when current.
        loop {
            let next = Path::from(format!("ledger/next/{size:020}"));
            let Some(bytes) = self.get_bytes(&next).await? else {
                return Ok(size);
            };
            let claim = crate::ledger::claim::Claim::decode(&bytes).map_err(|e| {
                StoreError::Inconsistent {
                    path: next.to_string(),
                    message: e.to_string(),
                }
            })?;
            let kept = Path::from(format!("ledger/checkpoints/{:020}", claim.new));
            if claim.old != size || !self.exists(&kept).await? {
                return Ok(size);
            }
            size = claim.new;
        }
    }

    /// Keeps a rejected transfer's report (outside the OCFL root) and returns its path.
    pub async fn keep_report<T: Serialize>(&self, report: &T) -> Result<String, StoreError> {
        let name = format!(
            "{}-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            random_hex(4)
        );
        let path = path_of(["reports", &name]);
        self.put_create(&path, pretty(report)).await?;
        self.sync().await?;
        Ok(path.to_string())
    }
}

/// Pretty JSON with a final newline, for documents people may read in the store.
pub fn pretty<T: Serialize + ?Sized>(value: &T) -> Bytes {
    let mut v = serde_json::to_vec_pretty(value).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// Random lowercase hex, for names that must not collide.
pub fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    // SystemRandom only fails when the OS has no entropy source; fall back to time+pid.
    if ring::rand::SystemRandom::new().fill(&mut buf).is_err() {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        let d = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
        buf.iter_mut().zip(d.as_ref()).for_each(|(b, d)| *b = *d);
    }
    hex::encode(buf)
}

/// RFC 3339 UTC time to the second, as OCFL's `created` wants.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
pub use objects::{
    ledger_index_of_message, ledger_marker, sidecar, CommitPlan, CommitPoint, Intent, Removal,
    REMOVALS,
};
