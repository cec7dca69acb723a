//! Reading the archive as an archivist does: list, show, fetch, and amend a record
//! (a metadata correction is a new OCFL version; the old one stays byte for byte).
//!
//! Reads only committed versions (`Store::committed_inventory`, against the ledger's
//! published size); writes only through `Store::commit` under the writer lock, with the
//! ledger entry as the commit point.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::digest::Algorithm;
use crate::findings::Finding;
use crate::intake::{object_id, object_root, TransferRecord};
use crate::ledger::commit::{encode_all, LedgerBatch};
use crate::ledger::entry::{EntryError, Event};
use crate::ledger::log::LedgerError;
use crate::ocfl::inventory::{version_number, Inventory, NewFile, User};
use crate::record;
use crate::refcode::RefCode;
use crate::sign::ArchiveKey;
use crate::store::{self, FileSource, StagedFile, Store, StoreError, VersionWrite};

/// Errors of the access layer.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No committed record has this 档号.
    #[error("no record with 档号 {0} in the archive")]
    NoSuchRecord(String),
    /// The record has no such version.
    #[error("record {record} has no version {version} (it has v1 to {head})")]
    NoSuchVersion {
        /// 档号.
        record: String,
        /// Asked for.
        version: String,
        /// Newest committed.
        head: String,
    },
    /// The record has no such file.
    #[error("record {record} version {version} has no file {file:?}; it has: {available}")]
    NoSuchFile {
        /// 档号.
        record: String,
        /// Version.
        version: String,
        /// Asked for.
        file: String,
        /// What there is.
        available: String,
    },
    /// An amendment's record.json failed its checks.
    #[error("the corrected record.json has {} problem(s)", .0.len())]
    Invalid(Vec<Finding>),
    /// The ledger could not be read or recovered.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A ledger entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The record was destroyed (销毁) by a disposition batch; its tombstone remains.
    #[error("record {reference_code} was {how} on {destroyed_on} by batch {batch}; `show` gives its tombstone")]
    Destroyed {
        /// 档号.
        reference_code: String,
        /// `destroyed`, or `transferred out`.
        how: String,
        /// The day (China Standard Time).
        destroyed_on: String,
        /// The disposition batch.
        batch: u64,
    },
}

/// One line of `list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordSummary {
    /// 档号.
    pub reference_code: String,
    /// 题名 at intake.
    pub title: String,
    /// OCFL object id.
    pub object_id: String,
    /// Newest committed version.
    pub version: String,
    /// `Agency-Code/External-Identifier` of the transfer that brought it.
    pub transfer: String,
}

/// Every committed transfer record.
pub async fn transfer_records(store: &Store) -> Result<Vec<TransferRecord>, StoreError> {
    let mut out = Vec::new();
    let mut paths = store.list_paths(&Path::from("transfers")).await?;
    paths.sort();
    for p in paths {
        if let Some(t) = store.get_json::<TransferRecord>(&p).await? {
            out.push(t);
        }
    }
    Ok(out)
}

/// Every record in the archive, by 档号.
pub async fn list(store: &Store) -> Result<Vec<RecordSummary>, StoreError> {
    let mut out = Vec::new();
    let ledger_size = store.ledger_size().await?;
    for t in transfer_records(store).await? {
        for r in &t.records {
            let inv = store
                .committed_inventory(&store::stored_path(&r.object_root), ledger_size)
                .await?;
            let Some(inv) = inv else { continue };
            out.push(RecordSummary {
                reference_code: r.reference_code.clone(),
                title: r.title.clone(),
                object_id: r.object_id.clone(),
                version: inv.head.clone(),
                transfer: format!(
                    "{}/{}",
                    t.transfer.agency_code, t.transfer.external_identifier
                ),
            });
        }
    }
    out.sort_by(|a, b| a.reference_code.cmp(&b.reference_code));
    Ok(out)
}

/// A stored file as `show` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileView {
    /// Logical path in the version (`files/正文.pdf`, `record.json`, `evidence/intake.json`).
    pub path: String,
    /// sha512 (OCFL manifest digest).
    pub sha512: String,
    /// sha256 (fixity), when recorded.
    pub sha256: Option<String>,
    /// Where the bytes are, relative to the object root.
    pub content_path: String,
}

/// A version as `show` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionView {
    /// `v1`, …
    pub version: String,
    /// When.
    pub created: String,
    /// Why.
    pub message: Option<String>,
    /// Who.
    pub user: Option<String>,
}

/// Everything `show` prints about a record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordView {
    /// 档号.
    pub reference_code: String,
    /// OCFL object id.
    pub object_id: String,
    /// Object root in the store.
    pub object_root: String,
    /// Newest committed version.
    pub head: String,
    /// Every committed version.
    pub versions: Vec<VersionView>,
    /// The head's record.json.
    pub metadata: serde_json::Value,
    /// The head's files.
    pub files: Vec<FileView>,
}

struct Located {
    refcode: RefCode,
    root: Path,
    inventory: Inventory,
}

async fn locate(store: &Store, refcode: &str) -> Result<Located, AccessError> {
    let rc =
        RefCode::parse(refcode.trim()).map_err(|_| AccessError::NoSuchRecord(refcode.into()))?;
    let root = object_root(store, &object_id(&rc));
    match store
        .committed_inventory(&root, store.ledger_size().await?)
        .await?
    {
        Some(inventory) => Ok(Located {
            refcode: rc,
            root,
            inventory,
        }),
        None => match crate::retention::state::tombstone(store, &object_id(&rc)).await? {
            Some(t) => Err(AccessError::Destroyed {
                how: if t.disposition == "transferred" {
                    "transferred out".into()
                } else {
                    "destroyed".into()
                },
                reference_code: t.reference_code,
                destroyed_on: t.destroyed_on,
                batch: t.batch,
            }),
            None => Err(AccessError::NoSuchRecord(refcode.into())),
        },
    }
}

fn pick_version(loc: &Located, version: Option<&str>) -> Result<String, AccessError> {
    let v = match version {
        None => loc.inventory.head.clone(),
        Some(v) if v.starts_with('v') => v.to_string(),
        Some(v) => format!("v{v}"),
    };
    if loc.inventory.versions.contains_key(&v) {
        Ok(v)
    } else {
        Err(AccessError::NoSuchVersion {
            record: loc.refcode.to_string(),
            version: v,
            head: loc.inventory.head.clone(),
        })
    }
}

async fn read_all(store: &Store, root: &Path, content_path: &str) -> Result<Bytes, StoreError> {
    Ok(store
        .get_bytes(&store::join(root, content_path))
        .await?
        .unwrap_or_default())
}

/// Metadata, files, digests and versions of one record.
pub async fn show(store: &Store, refcode: &str) -> Result<RecordView, AccessError> {
    let loc = locate(store, refcode).await?;
    let inv = &loc.inventory;
    let state = inv.logical_state(&inv.head).unwrap_or_default();
    let mut files = Vec::new();
    let mut metadata = serde_json::Value::Null;
    for (path, sha512) in &state {
        let content_path = inv.content_path(sha512).unwrap_or_default().to_string();
        if path == "record.json" {
            let b = read_all(store, &loc.root, &content_path).await?;
            metadata = serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null);
        }
        files.push(FileView {
            path: path.clone(),
            sha512: sha512.clone(),
            sha256: inv.sha256_of(&content_path).map(String::from),
            content_path,
        });
    }
    let mut versions: Vec<VersionView> = inv
        .versions
        .iter()
        .map(|(name, v)| VersionView {
            version: name.clone(),
            created: v.created.clone(),
            message: v.message.clone(),
            user: v.user.as_ref().map(|u| u.name.clone()),
        })
        .collect();
    versions.sort_by_key(|v| version_number(&v.version).unwrap_or(0));
    Ok(RecordView {
        reference_code: loc.refcode.to_string(),
        object_id: inv.id.clone(),
        object_root: loc.root.to_string(),
        head: inv.head.clone(),
        versions,
        metadata,
        files,
    })
}

/// What a person read: the subject of a `record.read` ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadTarget {
    /// 档号.
    pub reference_code: String,
    /// OCFL object id.
    pub object_id: String,
    /// The version read.
    pub version: String,
    /// The logical path read; None for the metadata view (`show`).
    pub file: Option<String>,
}

impl RecordView {
    /// What showing this view reads.
    pub fn read_target(&self) -> ReadTarget {
        ReadTarget {
            reference_code: self.reference_code.clone(),
            object_id: self.object_id.clone(),
            version: self.head.clone(),
            file: None,
        }
    }
}

/// Records that `actor` read `target` for `purpose`, as a `record.read` ledger entry, durable
/// before it returns (DESIGN.md: every read of a record by a person is a ledger entry; the
/// seed's art. 11 and 22: data used only for its purpose, abuse traceable). The caller shows
/// the content only after this returns `Ok`. Returns the entry's index.
pub async fn record_read(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    purpose: &str,
    target: &ReadTarget,
) -> Result<u64, AccessError> {
    let event = Event::RecordRead {
        reference_code: target.reference_code.clone(),
        object_id: target.object_id.clone(),
        version: target.version.clone(),
        file: target.file.clone(),
        purpose: purpose.to_string(),
    };
    let entries = encode_all(&[event], actor, &store::now_rfc3339())?;
    let index = crate::ledger::commit::append_event(store, key, actor, &entries)
        .await?
        .first_index;
    Ok(index)
}

/// Streams one file of a record. `file` is the path inside the record folder (`正文.pdf`)
/// or a logical path (`record.json`, `evidence/intake.json`, `files/正文.pdf`). Returns what
/// is read (for [`record_read`]) and the bytes.
pub async fn get(
    store: &Store,
    refcode: &str,
    file: &str,
    version: Option<&str>,
) -> Result<(ReadTarget, BoxStream<'static, Result<Bytes, StoreError>>), AccessError> {
    let (target, root, content_path) = locate_file(store, refcode, file, version).await?;
    Ok((target, store.read_content(&root, &content_path).await?))
}

/// Where one file of a committed version is: what reading it reads, the object root and the
/// content path under it (for ranged reads, which [`get`] does not do).
pub async fn locate_file(
    store: &Store,
    refcode: &str,
    file: &str,
    version: Option<&str>,
) -> Result<(ReadTarget, Path, String), AccessError> {
    let loc = locate(store, refcode).await?;
    let v = pick_version(&loc, version)?;
    let state = loc.inventory.logical_state(&v).unwrap_or_default();
    let logical = if state.contains_key(&format!("files/{file}")) {
        format!("files/{file}")
    } else {
        file.to_string()
    };
    let Some(digest) = state.get(&logical).cloned() else {
        return Err(AccessError::NoSuchFile {
            record: loc.refcode.to_string(),
            version: v,
            file: file.into(),
            available: state
                .keys()
                .map(|k| k.strip_prefix("files/").unwrap_or(k).to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let content_path = loc
        .inventory
        .content_path(&digest)
        .unwrap_or_default()
        .to_string();
    let target = ReadTarget {
        reference_code: loc.refcode.to_string(),
        object_id: loc.inventory.id.clone(),
        version: v,
        file: Some(logical),
    };
    Ok((target, loc.root, content_path))
}

/// What an amendment did (its `record.amended` ledger entry says the same).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Amendment {
    /// `strongroom.amendment`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Document version.
    pub format_version: u32,
    /// 档号.
    pub reference_code: String,
    /// OCFL object id.
    pub object_id: String,
    /// The new version.
    pub version: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub amended_by: String,
    /// When.
    pub amended_at: String,
    /// sha512 of the new record.json.
    pub record_json_sha512: String,
    /// Index of its `record.amended` entry in the ledger.
    pub ledger_index: u64,
}

/// Corrects a record's metadata: a new version whose record.json is `new_record_json`;
/// every other file is carried over unchanged (not copied: OCFL deduplicates by digest).
/// The 档号 in the new record.json must be the record's own.
pub async fn amend(
    store: &Store,
    key: &ArchiveKey,
    lock: &store::WriterLock,
    refcode: &str,
    new_record_json: Bytes,
    reason: &str,
    actor: &str,
) -> Result<Amendment, AccessError> {
    new_metadata_version(
        store,
        key,
        lock,
        refcode,
        new_record_json,
        reason,
        actor,
        MetadataChange::Correction { fields: Vec::new() },
    )
    .await
}

/// What kind of metadata version is written, and so which entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataChange {
    /// 著录更正: a correction (`record.amended`), naming the fields changed when known.
    Correction {
        /// Fields changed (empty when a whole record.json was given).
        fields: Vec<String>,
    },
    /// 鉴定: a re-appraisal of the retention period (`record.reappraised`).
    Reappraisal {
        /// The effective code before.
        from: String,
        /// The code now.
        to: String,
    },
}

/// The head's record.json of a committed record, as stored.
pub async fn current_record_json(store: &Store, refcode: &str) -> Result<Bytes, AccessError> {
    let loc = locate(store, refcode).await?;
    let inv = &loc.inventory;
    let state = inv.logical_state(&inv.head).unwrap_or_default();
    let cp = state
        .get("record.json")
        .and_then(|d| inv.content_path(d))
        .unwrap_or_default()
        .to_string();
    Ok(read_all(store, &loc.root, &cp).await?)
}

/// Writes a new version of a record whose record.json is `new_record_json` (checked like
/// intake's, the 档号 unchanged), recorded by the entry `change` calls for.
#[allow(clippy::too_many_arguments)]
pub async fn new_metadata_version(
    store: &Store,
    key: &ArchiveKey,
    lock: &store::WriterLock,
    refcode: &str,
    new_record_json: Bytes,
    reason: &str,
    actor: &str,
    change: MetadataChange,
) -> Result<Amendment, AccessError> {
    let ledger = crate::ledger::commit::open(store).await?;
    crate::ledger::commit::recover(store, &ledger, lock, key).await?;
    let loc = locate(store, refcode).await?;
    let folder = loc.refcode.to_string();
    let (meta, findings) = record::check_record_json(&new_record_json, &folder);
    let mut errors: Vec<Finding> = findings.into_iter().filter(Finding::is_error).collect();
    if let Some(m) = &meta {
        if m.reference_code != loc.refcode {
            errors.push(
                Finding::error(
                    "AMEND_REFCODE_CHANGED",
                    crate::findings::Category::Authenticity,
                    "an amendment keeps the record's 档号; the object id never changes",
                )
                .expected_found(loc.refcode.to_string(), m.reference_code.to_string()),
            );
        }
    }
    if !errors.is_empty() || meta.is_none() {
        return Err(AccessError::Invalid(errors));
    }
    let inv = &loc.inventory;
    let n = inv.head_number().unwrap_or(1) + 1;
    let (d, _) = crate::digest::digest_reader(
        &new_record_json[..],
        &[Algorithm::Sha256, Algorithm::Sha512],
    )
    .map_err(|e| StoreError::Source {
        path: "record.json".into(),
        source: e,
    })?;
    let state = inv.logical_state(&inv.head).unwrap_or_default();
    let mut files = Vec::new();
    for (path, sha512) in &state {
        if path == "record.json" {
            continue;
        }
        let cp = inv.content_path(sha512).unwrap_or_default();
        files.push(NewFile {
            logical_path: path.clone(),
            sha512: sha512.clone(),
            sha256: inv.sha256_of(cp).unwrap_or_default().to_string(),
        });
    }
    files.push(NewFile {
        logical_path: "record.json".into(),
        sha512: d[&Algorithm::Sha512].clone(),
        sha256: d[&Algorithm::Sha256].clone(),
    });
    let ledger_index = store.ledger_size().await?;
    let now = store::now_rfc3339();
    let message = match &change {
        MetadataChange::Correction { fields } if !fields.is_empty() => format!(
            "著录更正 metadata correction of {}: {reason} {}",
            fields.join(", "),
            store::ledger_marker(ledger_index)
        ),
        MetadataChange::Correction { .. } => format!(
            "著录更正 metadata correction: {reason} {}",
            store::ledger_marker(ledger_index)
        ),
        MetadataChange::Reappraisal { from, to } => format!(
            "鉴定 re-appraisal: retention {from} to {to}: {reason} {}",
            store::ledger_marker(ledger_index)
        ),
    };
    let (next, to_write) = Inventory::next_version(
        Some(inv),
        &inv.id,
        &files,
        now.clone(),
        message,
        User::actor(actor),
    );
    let mut sources: BTreeMap<String, Bytes> = BTreeMap::new();
    sources.insert("record.json".into(), new_record_json.clone());
    let staged = to_write
        .into_iter()
        .filter_map(|(cp, nf)| {
            sources.get(&nf.logical_path).map(|b| StagedFile {
                content_path: cp,
                source: FileSource::Bytes(b.clone()),
                size: b.len() as u64,
            })
        })
        .collect();
    let amendment = Amendment {
        kind: "strongroom.amendment".into(),
        format_version: 1,
        reference_code: folder,
        object_id: inv.id.clone(),
        version: format!("v{n}"),
        reason: reason.into(),
        amended_by: actor.into(),
        amended_at: now.clone(),
        record_json_sha512: d[&Algorithm::Sha512].clone(),
        ledger_index,
    };
    let event = match change {
        MetadataChange::Correction { fields } => Event::RecordAmended {
            reference_code: amendment.reference_code.clone(),
            object_id: amendment.object_id.clone(),
            version: amendment.version.clone(),
            inventory_sha512: crate::digest::sha512_hex(&next.to_json()),
            record_json_sha512: amendment.record_json_sha512.clone(),
            reason: reason.into(),
            fields,
        },
        MetadataChange::Reappraisal { from, to } => Event::RecordReappraised {
            reference_code: amendment.reference_code.clone(),
            object_id: amendment.object_id.clone(),
            version: amendment.version.clone(),
            inventory_sha512: crate::digest::sha512_hex(&next.to_json()),
            record_json_sha512: amendment.record_json_sha512.clone(),
            retention_from: from,
            retention_to: to,
            reason: reason.into(),
        },
    };
    let entries = encode_all(&[event], actor, &now)?;
    let write = VersionWrite {
        object_root: loc.root.clone(),
        previous: Some(inv.clone()),
        inventory: next,
        files: staged,
    };
    let plan = store::CommitPlan {
        ledger_first: ledger_index,
        ledger_count: entries.len() as u64,
        after_commit: Vec::new(),
    };
    let batch = LedgerBatch::new(&ledger, key, entries);
    store.commit(lock, plan, &[write], &|_| {}, &batch).await?;
    Ok(amendment)
}
