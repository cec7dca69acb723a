//! Authenticated copies for courts (核对无误的电子副本): builds the copy bundle of
//! `formats/copy-bundle.md` from committed records and the ledger, signs its manifest, and
//! records the issue as a `copy.issued` ledger entry before the bundle is handed out.
//!
//! Reads the store (committed versions only) and the ledger; writes only the bundle file, the
//! entry index cache under the home ([`entry_index`]), and one ledger entry through
//! `ledger::commit::append_event`. Verifying a bundle is `verify_copy`'s job (tools/verify-copy),
//! which shares no code with this module on purpose.

pub mod bundles;
pub mod entry_index;
pub mod grant;
pub mod timestamp;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::ObjectStoreExt as _;
use serde::Serialize;
use serde_json::json;

use crate::digest::{Algorithm, MultiHasher};
use crate::intake::{object_id, object_root, transfer_record_path, TransferRecord};
use crate::ledger::commit::{self, encode_all};
use crate::ledger::entry::{Entry, EntryError, Event};
use crate::ledger::log::{LedgerError, SignedCheckpoint};
use crate::ocfl::inventory::Inventory;
use crate::refcode::RefCode;
use crate::sign::{self, ArchiveKey};
use crate::store::{self, Store, StoreError};
use entry_index::{EntryIndex, IndexError};
use timestamp::{TimestampConfig, TimestampError};

/// The bundle format version written in the manifest's `format_version`.
pub const FORMAT_VERSION: u32 = 1;
/// The oldest bundle format `strongroom copy verify` reads.
pub const OLDEST_SUPPORTED_FORMAT: u32 = 1;
/// The manifest's `type`.
pub const MANIFEST_TYPE: &str = "strongroom.copy-manifest";

/// Errors issuing a copy.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The entry index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// No record was named.
    #[error("name at least one record (档号) to copy")]
    NoRecords,
    /// A record was named twice.
    #[error("record {0} is named twice")]
    Duplicate(String),
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
    /// A stored file does not have the digest its inventory names: the archive refuses to
    /// certify damaged bytes (run `strongroom verify`).
    #[error("record {record}: stored file {file} does not match its inventory digest; no copy issued (run strongroom verify)")]
    Damaged {
        /// 档号.
        record: String,
        /// Logical path.
        file: String,
    },
    /// The record's ledger entries are not where the store says they are.
    #[error("record {record}: {message}")]
    Inconsistent {
        /// 档号.
        record: String,
        /// What.
        message: String,
    },
    /// The output file exists already.
    #[error("{0} exists already; a copy bundle is never overwritten")]
    OutputExists(PathBuf),
    /// Writing the bundle failed.
    #[error("writing {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The ZIP writer failed.
    #[error("writing the bundle's ZIP container")]
    Zip(#[source] zip::result::ZipError),
    /// Signing the manifest failed.
    #[error("signing the manifest")]
    Sign(#[source] sign::Error),
    /// The `copy.issued` entry could not be encoded (e.g. too many records for one entry).
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The configured timestamp authority gave no usable token: no copy is issued without
    /// the timestamp the configuration asks for.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
}

/// What the court asked for and who issues it.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// 档号 of the records, in the order to list them.
    pub records: Vec<String>,
    /// The version to copy (`2` or `v2`; default: each record's newest committed version).
    pub version: Option<String>,
    /// The request as given (case number, letter reference).
    pub request: String,
    /// Who the copy is for (the court).
    pub requested_for: String,
    /// The archivist issuing it.
    pub actor: String,
    /// The RFC 3161 authority to timestamp the checkpoint with (`[timestamp]` of the config).
    pub timestamp: Option<TimestampConfig>,
}

/// One record in an issued copy.
#[derive(Debug, Clone, Serialize)]
pub struct CopiedRecord {
    /// 档号.
    pub reference_code: String,
    /// The version copied.
    pub version: String,
    /// Files of that version in the bundle.
    pub files: u64,
    /// Ledger entries about it, each with its proof.
    pub entries: u64,
}

/// What `copy` did (`formats/cli-json.md`).
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    /// The copy's id (in the manifest and the ledger entry).
    pub copy_id: String,
    /// The bundle written.
    pub output: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// sha256 of the manifest note's text.
    pub manifest_sha256: String,
    /// The checkpoint size every proof leads to.
    pub checkpoint_size: u64,
    /// Index of the `copy.issued` entry (its proof: `strongroom ledger prove INDEX`).
    pub ledger_index: u64,
    /// Entries the entry index read to catch up (0 when it was current).
    pub entries_scanned: u64,
    /// The records.
    pub records: Vec<CopiedRecord>,
}

/// Progress of a long issue, for the command line.
pub trait Progress {
    /// The entry index read `done` of `total` entries.
    fn index(&self, done: u64, total: u64);
    /// A record is being copied.
    fn record(&self, reference_code: &str);
}

/// No progress reporting.
pub struct Quiet;

impl Progress for Quiet {
    fn index(&self, _: u64, _: u64) {}
    fn record(&self, _: &str) {}
}

struct Located {
    refcode: RefCode,
    root: object_store::path::Path,
    inventory: Inventory,
    inventory_bytes: bytes::Bytes,
    version: String,
}

/// One file written into the bundle, as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
struct Listed {
    path: String,
    size: u64,
    sha256: String,
    sha512: String,
}

/// The bundle being written: a ZIP in a temporary file, and the list of what went in.
struct Bundle {
    zip: zip::ZipWriter<std::fs::File>,
    tmp: PathBuf,
    listed: Vec<Listed>,
}

impl Bundle {
    /// Entry options: the record's own files are *stored* (uncompressed: bit-exact at a glance,
    /// and as fast as the disk; deflating them cost 5x the time of hashing them twice), the
    /// small text the archive writes is deflated.
    fn options(size: u64, stored: bool) -> zip::write::SimpleFileOptions {
        use chrono::{Datelike, Timelike};
        // Entry times are the issue time in UTC (ZIP times carry no zone); informative only.
        let now = chrono::Utc::now();
        let modified = zip::DateTime::from_date_and_time(
            u16::try_from(now.year()).unwrap_or(1980),
            now.month() as u8,
            now.day() as u8,
            now.hour() as u8,
            now.minute() as u8,
            now.second() as u8,
        )
        .unwrap_or_default();
        zip::write::SimpleFileOptions::default()
            .compression_method(if stored {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            })
            .large_file(size >= u32::MAX as u64)
            .last_modified_time(modified)
    }

    fn io(&self, source: std::io::Error) -> CopyError {
        CopyError::Io {
            path: self.tmp.clone(),
            source,
        }
    }

    /// Adds bytes held in memory.
    fn add(&mut self, path: &str, bytes: &[u8]) -> Result<(), CopyError> {
        self.zip
            .start_file(path, Self::options(bytes.len() as u64, false))
            .map_err(CopyError::Zip)?;
        self.zip.write_all(bytes).map_err(|e| self.io(e))?;
        let mut h = MultiHasher::new(&[Algorithm::Sha256, Algorithm::Sha512]);
        h.update(bytes);
        self.list(path, h);
        Ok(())
    }

    fn list(&mut self, path: &str, h: MultiHasher) {
        let size = h.bytes();
        let d = h.finish();
        self.listed.push(Listed {
            path: path.to_string(),
            size,
            sha256: d.get(&Algorithm::Sha256).cloned().unwrap_or_default(),
            sha512: d.get(&Algorithm::Sha512).cloned().unwrap_or_default(),
        });
    }
}

fn pick_version(
    loc_inv: &Inventory,
    refcode: &str,
    version: Option<&str>,
) -> Result<String, CopyError> {
    let v = match version {
        None => loc_inv.head.clone(),
        Some(v) if v.starts_with('v') => v.to_string(),
        Some(v) => format!("v{v}"),
    };
    if loc_inv.versions.contains_key(&v) {
        Ok(v)
    } else {
        Err(CopyError::NoSuchVersion {
            record: refcode.to_string(),
            version: v,
            head: loc_inv.head.clone(),
        })
    }
}

async fn locate(
    store: &Store,
    refcode: &str,
    version: Option<&str>,
    size: u64,
) -> Result<Located, CopyError> {
    let rc = RefCode::parse(refcode.trim()).map_err(|_| CopyError::NoSuchRecord(refcode.into()))?;
    let root = object_root(store, &object_id(&rc));
    let inventory = store
        .committed_inventory(&root, size)
        .await?
        .ok_or_else(|| CopyError::NoSuchRecord(refcode.into()))?;
    // The head version's own inventory: byte for byte the one its ledger entry names (the
    // root inventory may already be a newer, not yet committed version's).
    let inv_path = store::join(&root, &format!("{}/inventory.json", inventory.head));
    let inventory_bytes =
        store
            .get_bytes(&inv_path)
            .await?
            .ok_or_else(|| CopyError::Inconsistent {
                record: rc.to_string(),
                message: format!("{inv_path} is missing"),
            })?;
    let version = pick_version(&inventory, rc.as_str(), version)?;
    Ok(Located {
        refcode: rc,
        root,
        inventory,
        inventory_bytes,
        version,
    })
}

/// The index of the `transfer.accepted` entry of the transfer that brought the record, from
/// its `record.stored` entry's `transfer` member and the transfer record in the store.
async fn transfer_entry(
    store: &Store,
    ledger: &crate::ledger::Ledger,
    refcode: &str,
    indices: &[u64],
) -> Result<Option<u64>, CopyError> {
    for &i in indices {
        let Ok(e) = Entry::decode(&ledger.entry(i).await?) else {
            continue;
        };
        if e.kind != "record.stored" || e.field_str("reference_code") != Some(refcode) {
            continue;
        }
        let Some((agency, id)) = e.field_str("transfer").and_then(|t| t.split_once('/')) else {
            continue;
        };
        let t: Option<TransferRecord> = store.get_json(&transfer_record_path(agency, id)).await?;
        return Ok(t.map(|t| t.ledger_index));
    }
    Ok(None)
}

/// Issues a copy bundle to `output`: builds it beside `output`, signs the manifest, appends
/// the `copy.issued` entry (durable), and only then moves the bundle into place. `home` holds
/// the entry index cache.
pub async fn issue(
    home: &Path,
    store: &Store,
    key: &ArchiveKey,
    req: &CopyRequest,
    output: &Path,
    progress: &dyn Progress,
) -> Result<Issued, CopyError> {
    if req.records.is_empty() {
        return Err(CopyError::NoRecords);
    }
    let mut seen = BTreeSet::new();
    for r in &req.records {
        if !seen.insert(r.trim()) {
            return Err(CopyError::Duplicate(r.clone()));
        }
    }
    if output.exists() {
        return Err(CopyError::OutputExists(output.to_path_buf()));
    }
    let ledger = commit::open(store).await?;
    let latest = ledger
        .latest()
        .await?
        .ok_or_else(|| CopyError::NoSuchRecord(req.records[0].clone()))?;
    // Our own checkpoint, but the bundle vouches for it: check it as the court will.
    let checkpoint = SignedCheckpoint::verify(&latest.note, &key.verifier(), ledger.origin())?;
    let size = checkpoint.size();

    let mut located = Vec::new();
    for r in &req.records {
        located.push(locate(store, r, req.version.as_deref(), size).await?);
    }

    let index = EntryIndex::in_home(home);
    let scanned = index
        .catch_up(&ledger, size, &|d, t| progress.index(d, t))
        .await?;

    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "copy.zip".into());
    let tmp = parent.join(format!(".{file_name}.{}.partial", store::random_hex(8)));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|source| CopyError::Io {
            path: tmp.clone(),
            source,
        })?;
    let bundle = Bundle {
        zip: zip::ZipWriter::new(file),
        tmp: tmp.clone(),
        listed: Vec::new(),
    };
    let result = write_and_record(
        bundle,
        store,
        &ledger,
        key,
        req,
        &checkpoint,
        &located,
        &index,
        progress,
    )
    .await;
    let (mut issued, zip_done) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // The entry is durable: now the bundle may exist under its name. A hard link, not a
    // rename, so that a file created there meanwhile is never replaced.
    drop(zip_done);
    // A file system without hard links gets a rename; on a clash the signed bundle is kept
    // under its temporary name (its copy.issued entry is already in the ledger).
    match std::fs::hard_link(&tmp, output) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CopyError::OutputExists(output.to_path_buf()));
        }
        Err(_) => std::fs::rename(&tmp, output).map_err(|source| CopyError::Io {
            path: output.to_path_buf(),
            source,
        })?,
    }
    if let Ok(dir) = std::fs::File::open(&parent) {
        let _ = dir.sync_all();
    }
    issued.output = output.to_path_buf();
    issued.entries_scanned = scanned;
    issued.bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(issued)
}

#[allow(clippy::too_many_arguments)]
async fn write_and_record(
    mut bundle: Bundle,
    store: &Store,
    ledger: &crate::ledger::Ledger,
    key: &ArchiveKey,
    req: &CopyRequest,
    checkpoint: &SignedCheckpoint,
    located: &[Located],
    index: &EntryIndex,
    progress: &dyn Progress,
) -> Result<(Issued, std::fs::File), CopyError> {
    let size = checkpoint.size();
    let copy_id = store::random_hex(16);
    let issued_at = store::now_rfc3339();
    let mut records_json = Vec::new();
    let mut copied = Vec::new();

    for loc in located {
        let rc = loc.refcode.to_string();
        progress.record(&rc);
        let base = format!("records/{rc}");
        bundle.add(&format!("{base}/inventory.json"), &loc.inventory_bytes)?;

        // The files of the version, streamed from the store and checked against the inventory.
        let state = loc
            .inventory
            .logical_state(&loc.version)
            .unwrap_or_default();
        let files_prefix = format!("{base}/{}/", loc.version);
        for (logical, sha512) in &state {
            let content_path =
                loc.inventory
                    .content_path(sha512)
                    .ok_or_else(|| CopyError::Inconsistent {
                        record: rc.clone(),
                        message: format!("the inventory has no content path for {logical}"),
                    })?;
            let name = format!("{files_prefix}{logical}");
            let size_hint = store
                .backend()
                .head(&store::join(&loc.root, content_path))
                .await
                .map(|m| m.size)
                .unwrap_or(0);
            bundle
                .zip
                .start_file(name.as_str(), Bundle::options(size_hint, true))
                .map_err(CopyError::Zip)?;
            let mut h = MultiHasher::new(&[Algorithm::Sha256, Algorithm::Sha512]);
            let mut stream = store.read_content(&loc.root, content_path).await?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                h.update(&chunk);
                bundle.zip.write_all(&chunk).map_err(|e| bundle.io(e))?;
            }
            let before = bundle.listed.len();
            bundle.list(&name, h);
            if bundle.listed.get(before).map(|l| &l.sha512) != Some(sha512) {
                return Err(CopyError::Damaged {
                    record: rc.clone(),
                    file: logical.clone(),
                });
            }
        }

        // Every entry about the record, each with its proof to the one checkpoint.
        let mut indices: BTreeSet<u64> = index.entries_naming(&rc, size)?.into_iter().collect();
        // Entries a version message names are there whatever the index says.
        for v in loc.inventory.versions.values() {
            if let Some(i) = v
                .message
                .as_deref()
                .and_then(store::ledger_index_of_message)
            {
                indices.insert(i);
            }
        }
        let list: Vec<u64> = indices.iter().copied().collect();
        if let Some(t) = transfer_entry(store, ledger, &rc, &list).await? {
            indices.insert(t);
        }
        // The trust anchors its seals were verified against: their documents, and the
        // registry's ledger entries for them, so a court can re-check each seal itself.
        let anchors_json =
            add_seal_anchors(&mut bundle, store, ledger, &rc, &base, size, &mut indices).await?;
        let mut entries_json = Vec::new();
        for &i in &indices {
            let text = ledger.tlog_proof(i, Some(size)).await?;
            let entry = ledger.entry(i).await?;
            let kind =
                Entry::decode(&entry)
                    .map(|e| e.kind)
                    .map_err(|_| CopyError::Inconsistent {
                        record: rc.clone(),
                        message: format!(
                            "ledger entry {i} does not decode (run strongroom ledger verify)"
                        ),
                    })?;
            let path = format!("{base}/ledger/{i}.tlog-proof");
            bundle.add(&path, text.as_bytes())?;
            entries_json.push(json!({"index": i, "type": kind, "proof": path}));
        }
        let inventory_sha512 = crate::digest::sha512_hex(&loc.inventory_bytes);
        let attested = entries_json
            .iter()
            .any(|e| matches!(e["type"].as_str(), Some("record.stored" | "record.amended")));
        if !attested {
            return Err(CopyError::Inconsistent {
                record: rc.clone(),
                message: "no record.stored or record.amended entry found for it".into(),
            });
        }
        copied.push(CopiedRecord {
            reference_code: rc.clone(),
            version: loc.version.clone(),
            files: state.len() as u64,
            entries: entries_json.len() as u64,
        });
        records_json.push(json!({
            "reference_code": rc,
            "object_id": loc.inventory.id,
            "version": loc.version,
            "head": loc.inventory.head,
            "inventory": format!("{base}/inventory.json"),
            "inventory_sha512": inventory_sha512,
            "files_prefix": files_prefix,
            "entries": entries_json,
            "seal_anchors": anchors_json,
        }));
    }

    let vkey = format!("{}\n", key.verifier_key());
    bundle.add("archive.vkey", vkey.as_bytes())?;
    bundle.add("checkpoint.note", checkpoint.note.as_bytes())?;
    let mut checkpoint_json = json!({
        "path": "checkpoint.note",
        "origin": checkpoint.checkpoint.origin(),
        "size": size,
        "root": checkpoint.root().to_base64(),
    });
    if let Some(cfg) = &req.timestamp {
        let (token, time) = timestamp::checkpoint_token(store, cfg, &checkpoint.note, size).await?;
        bundle.add("checkpoint.tst", &token)?;
        checkpoint_json["timestamp"] =
            json!({"path": "checkpoint.tst", "time": time, "authority": cfg.url});
    }
    let statement = statement(req, &copy_id, &issued_at, key.name(), size, &copied);
    bundle.add("statement.txt", statement.as_bytes())?;

    let mut files = bundle.listed.clone();
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let manifest = json!({
        "type": MANIFEST_TYPE,
        "format_version": FORMAT_VERSION,
        "archive": key.name(),
        "copy_id": copy_id,
        "issued_at": issued_at,
        "issued_by": req.actor,
        "request": req.request,
        "requested_for": req.requested_for,
        "checkpoint": checkpoint_json,
        "records": records_json,
        "files": files,
    });
    let note = key.sign_document(&manifest).map_err(CopyError::Sign)?;
    let text_end = note.rfind("\n\n").map_or(note.len(), |i| i + 1);
    let manifest_sha256 = crate::digest::sha256_hex(&note.as_bytes()[..text_end]);
    bundle
        .zip
        .start_file("manifest.note", Bundle::options(note.len() as u64, false))
        .map_err(CopyError::Zip)?;
    bundle
        .zip
        .write_all(note.as_bytes())
        .map_err(|e| bundle.io(e))?;

    // Encode the entry before finishing, so a copy the ledger cannot record is never written.
    let event = Event::CopyIssued {
        copy_id: copy_id.clone(),
        requested_for: req.requested_for.clone(),
        request: req.request.clone(),
        records: copied.iter().map(|c| c.reference_code.clone()).collect(),
        versions: copied.iter().map(|c| c.version.clone()).collect(),
        manifest_sha256: manifest_sha256.clone(),
        checkpoint_size: size,
    };
    let entries = encode_all(&[event], &req.actor, &issued_at)?;
    let tmp = bundle.tmp.clone();
    let file = bundle.zip.finish().map_err(CopyError::Zip)?;
    file.sync_all()
        .map_err(|source| CopyError::Io { path: tmp, source })?;
    let appended = commit::append_event(store, key, &req.actor, &entries).await?;
    Ok((
        Issued {
            copy_id,
            output: PathBuf::new(),
            bytes: 0,
            manifest_sha256,
            checkpoint_size: size,
            ledger_index: appended.first_index,
            entries_scanned: 0,
            records: copied,
        },
        file,
    ))
}

/// Adds the documents of every seal anchor the record's `seal.verified` entries name
/// (`records/<档号>/seal-anchors/<fingerprint hex>.{json,der,revoked.json}`) and puts the
/// indices of their registry entries (`seal.anchor.added`, `seal.anchor.revoked`) below `size`
/// into `indices`. Returns the manifest's `seal_anchors`.
async fn add_seal_anchors(
    bundle: &mut Bundle,
    store: &Store,
    ledger: &crate::ledger::Ledger,
    rc: &str,
    base: &str,
    size: u64,
    indices: &mut BTreeSet<u64>,
) -> Result<Vec<serde_json::Value>, CopyError> {
    let mut agency = None;
    let mut anchors = BTreeSet::new();
    for &i in indices.iter() {
        let Ok(e) = Entry::decode(&ledger.entry(i).await?) else {
            continue;
        };
        if e.field_str("reference_code") != Some(rc) {
            continue;
        }
        match e.kind.as_str() {
            "record.stored" => {
                agency = e
                    .field_str("transfer")
                    .and_then(|t| t.split_once('/'))
                    .map(|(a, _)| a.to_string());
            }
            "seal.verified" => {
                if let Some(a) = e.field_str("anchor") {
                    anchors.insert(a.to_string());
                }
            }
            _ => {}
        }
    }
    let Some(agency) = agency else {
        return Ok(Vec::new());
    };
    // A verdict names its anchor by subject (a certificate) or as `public key sha256:…` (a
    // bare key); the agency's anchor documents say which fingerprint that is.
    let mut fingerprints = std::collections::BTreeMap::new();
    if !anchors.is_empty() {
        let folder = store::path_of([crate::seals::registry::SEALS_PREFIX, "anchors", &agency]);
        for path in store.list_paths(&folder).await? {
            let name = path.filename().unwrap_or_default();
            if !name.ends_with(".json") || name.ends_with(".revoked.json") {
                continue;
            }
            let Some(doc) = store.get_json::<serde_json::Value>(&path).await? else {
                continue;
            };
            let fp = doc["fingerprint"].as_str().unwrap_or_default();
            let named = anchors.iter().find(|a| {
                a.strip_prefix("public key ") == Some(fp)
                    || doc["subject"].as_str() == Some(a.as_str())
            });
            if let Some(a) = named.filter(|_| !fp.is_empty()) {
                fingerprints.insert(fp.to_string(), a.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (fp, named_as) in fingerprints {
        let hex = fp.strip_prefix("sha256:").unwrap_or(&fp).to_string();
        let mut item = json!({"fingerprint": fp, "named_as": named_as});
        for (ext, member) in [
            (".json", "document"),
            (".der", "der"),
            (".revoked.json", "revocation"),
        ] {
            let path = crate::seals::registry::anchor_path(&agency, &fp, ext);
            let Some(bytes) = store.get_bytes(&path).await? else {
                continue;
            };
            if ext.ends_with(".json") {
                // Only registry changes the checkpoint covers belong in this copy.
                let index = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|d| d["ledger_index"].as_u64());
                match index {
                    Some(i) if i < size => {
                        indices.insert(i);
                    }
                    _ => continue,
                }
            }
            let name = format!("{base}/seal-anchors/{hex}{ext}");
            bundle.add(&name, &bytes)?;
            item[member] = name.into();
        }
        if item.get("document").is_some() {
            out.push(item);
        }
    }
    Ok(out)
}

/// The human-readable statement, Chinese then English (`formats/copy-bundle.md` §6).
fn statement(
    req: &CopyRequest,
    copy_id: &str,
    issued_at: &str,
    archive: &str,
    size: u64,
    records: &[CopiedRecord],
) -> String {
    let list: String = records
        .iter()
        .map(|r| format!("  {} {}\n", r.reference_code, r.version))
        .collect();
    format!(
        "电子档案核对无误副本说明\n\
         \n\
         本副本由 {archive} 于 {issued_at} 应 {for_} 的请求（{request}）出具，经办人 {actor}，副本编号 {copy_id}。\n\
         所含档案（档号 版本）：\n{list}\
         本副本包含上述档案该版本的全部文件（与馆藏逐字节一致）、OCFL 清单（列出每个版本每个文件的 SHA-512）、\n\
         著录信息与接收证据（含声明摘要与电子印章验证结论）、与该档案有关的每一条账本记录及其到\n\
         第 {size} 号签名检查点的 RFC 9162 包含证明，以及档案馆以 Ed25519 密钥对清单（manifest.note，\n\
         列出每个文件的 SHA-256 与 SHA-512）的签名。\n\
         核验方法：使用独立核验工具 verify-copy（或依 formats/copy-bundle.md 自行实现）并提供档案馆公布的\n\
         验证公钥：verify-copy 本文件.zip --key 公钥文件。全部检查通过即证明：文件即档案馆入库（或更正）时\n\
         账本所记录的文件，且清单与检查点均由该密钥签署。如持有更晚的检查点，可另加\n\
         --known-checkpoint 与 --consistency 证明账本未被改写。本副本的出具记录（copy.issued）在其后写入账本，\n\
         可凭副本编号向档案馆索取其证明。\n\
         \n\
         Statement of an authenticated copy\n\
         \n\
         Issued by {archive} at {issued_at} for {for_} on request \"{request}\" by {actor}; copy id {copy_id}.\n\
         Records (reference code, version):\n{list}\
         The bundle holds every file of these versions exactly as stored, each record's OCFL inventory\n\
         (the SHA-512 of every file of every version), its metadata and intake evidence (declared digests,\n\
         seal verdicts), every ledger entry about it with an RFC 9162 inclusion proof to the signed\n\
         checkpoint of size {size}, and the archive's Ed25519 signature over the manifest (manifest.note,\n\
         the SHA-256 and SHA-512 of every file). To check it, run the independent verifier with the\n\
         archive's published verifier key: verify-copy THIS.zip --key VKEY_FILE (or implement\n\
         formats/copy-bundle.md). If every check passes, the files are those the ledger recorded when the\n\
         archive stored (or corrected) the record, and the manifest and checkpoint were signed by that key.\n\
         With a later checkpoint, add --known-checkpoint and --consistency to show the log was not\n\
         rewritten. This copy's own ledger entry (copy.issued) is appended after it; ask the archive for its\n\
         proof by the copy id.\n",
        for_ = req.requested_for,
        request = req.request,
        actor = req.actor,
    )
}

/// Verifies a bundle with the standalone verifier's code (`strongroom copy verify`).
pub fn verify(
    path: &Path,
    options: &verify_copy::Options,
) -> Result<verify_copy::Report, verify_copy::Error> {
    verify_copy::verify_file(path, options)
}
