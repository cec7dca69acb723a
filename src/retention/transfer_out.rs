//! Transfer out (移交进馆): an approved `transfer` batch written as a BagIt package in the
//! profile this archive accepts (so another strongroom can take it), and, once the receiving
//! archive's signed receipt is given back, the records removed here with `record.transferred`
//! entries that name that receipt.
//!
//! The package carries, beside each record's folder under `data/`, its intake evidence and
//! the offline ledger proofs of its versions in the tag folder `strongroom-evidence/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::due::{all_records, RecordInfo};
use super::state::{
    batch_path, tombstone_path, Batch, RetentionState, Tombstone, RETENTION_FORMAT_VERSION,
};
use super::RetentionError;
use crate::digest::Algorithm;
use crate::intake::receipt::Receipt;
use crate::ledger::commit::{encode_all, LedgerBatch};
use crate::ledger::entry::Event;
use crate::sign::{ArchiveKey, Verifier};
use crate::store::{self, CommitPlan, Store, StoreError};

/// The tag folder holding each record's intake evidence and ledger proofs.
pub const EVIDENCE_DIR: &str = "strongroom-evidence";

/// What `transfer-out` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    /// Batch number.
    pub batch: u64,
    /// The bag's folder.
    pub path: PathBuf,
    /// Its External-Identifier.
    pub external_identifier: String,
    /// 档号 of the records in it.
    pub records: Vec<String>,
}

fn approved_transfer(state: &RetentionState, batch: u64) -> Result<&Batch, RetentionError> {
    let b = state
        .batches
        .get(&batch)
        .ok_or(RetentionError::NoSuchBatch(batch))?;
    if b.doc.action != "transfer" {
        return Err(RetentionError::Refused(format!(
            "batch {batch} is a {} batch, not a transfer",
            b.doc.action
        )));
    }
    if b.approvers().len() < 2 {
        return Err(RetentionError::Refused(format!(
            "batch {batch} needs the approval of two distinct archivists before it leaves"
        )));
    }
    Ok(b)
}

/// The records of a batch still here, refusing held ones (a held record never leaves).
fn records_of(
    state: &RetentionState,
    b: &Batch,
    all: &BTreeMap<String, RecordInfo>,
) -> Result<Vec<RecordInfo>, RetentionError> {
    let mut out = Vec::new();
    for item in &b.doc.items {
        if state.tombstones.contains_key(&item.object_id) {
            continue;
        }
        let holds = state.holds_on(&item.reference_code);
        if !holds.is_empty() {
            return Err(RetentionError::Refused(format!(
                "{} is under hold {}: a held record cannot be transferred out",
                item.reference_code,
                holds
                    .iter()
                    .map(|h| h.doc.hold.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let r = all
            .get(&item.reference_code)
            .ok_or_else(|| RetentionError::NoSuchRecord(item.reference_code.clone()))?;
        out.push(r.clone());
    }
    Ok(out)
}

async fn copy_out(
    store: &Store,
    root: &object_store::path::Path,
    content_path: &str,
    to: &Path,
) -> Result<(), RetentionError> {
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io(to, e))?;
    }
    let mut f = tokio::fs::File::create(to).await.map_err(|e| io(to, e))?;
    let mut s = store.read_content(root, content_path).await?;
    while let Some(chunk) = s.next().await {
        f.write_all(&chunk?).await.map_err(|e| io(to, e))?;
    }
    f.sync_all().await.map_err(|e| io(to, e))?;
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> RetentionError {
    RetentionError::Store(StoreError::Source {
        path: path.display().to_string(),
        source,
    })
}

/// Writes an approved transfer batch as a BagIt package at `to` (which must not exist).
pub async fn write_package(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    batch: u64,
    to: &Path,
    external_identifier: Option<&str>,
) -> Result<Package, RetentionError> {
    if to.exists() {
        return Err(RetentionError::Usage(format!(
            "{} already exists: give a new folder for the package",
            to.display()
        )));
    }
    let state = RetentionState::load(store).await?;
    let b = approved_transfer(&state, batch)?;
    let all: BTreeMap<String, RecordInfo> = all_records(store)
        .await?
        .into_iter()
        .map(|r| (r.reference_code.clone(), r))
        .collect();
    let records = records_of(&state, b, &all)?;
    if records.is_empty() {
        return Err(RetentionError::Refused(format!(
            "batch {batch} has no record left here to transfer"
        )));
    }
    let mut agencies: Vec<&str> = records.iter().map(|r| r.facts.agency.as_str()).collect();
    agencies.sort_unstable();
    agencies.dedup();
    let mut fonds: Vec<&str> = records.iter().map(|r| r.facts.fonds.as_str()).collect();
    fonds.sort_unstable();
    fonds.dedup();
    let (Some(agency), Some(fonds_code), 1, 1) =
        (agencies.first(), fonds.first(), agencies.len(), fonds.len())
    else {
        return Err(RetentionError::Refused(format!(
            "a package holds one agency's records of one fonds; batch {batch} has agencies {} \
             and fonds {}",
            agencies.join(", "),
            fonds.join(", ")
        )));
    };
    let source = crate::access::transfer_records(store)
        .await?
        .into_iter()
        .find(|t| t.transfer.agency_code == *agency)
        .map(|t| t.transfer.source_organization)
        .unwrap_or_else(|| agency.to_string());
    let ext = external_identifier
        .map(String::from)
        .unwrap_or_else(|| format!("OUT-{batch}"));
    let ledger = crate::ledger::commit::open(store).await?;
    let data = to.join("data");
    for (n, r) in records.iter().enumerate() {
        let folder = format!("{:04}-{}", n + 1, r.reference_code);
        let root = crate::intake::object_root(store, &r.object_id);
        let state = r
            .inventory
            .logical_state(&r.inventory.head)
            .unwrap_or_default();
        for (logical, digest) in &state {
            let Some(cp) = r.inventory.content_path(digest) else {
                continue;
            };
            let dest = if logical == "record.json" {
                data.join(&folder).join("record.json")
            } else if let Some(p) = logical.strip_prefix("files/") {
                data.join(&folder).join(p)
            } else {
                to.join(EVIDENCE_DIR).join(&folder).join(logical)
            };
            copy_out(store, &root, cp, &dest).await?;
        }
        // The ledger proofs of every version, offline-checkable with the archive's key.
        let dir = to.join(EVIDENCE_DIR).join(&folder);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io(&dir, e))?;
        for (v, ver) in &r.inventory.versions {
            if let Some(i) = ver
                .message
                .as_deref()
                .and_then(store::ledger_index_of_message)
            {
                let proof = ledger.tlog_proof(i, None).await?;
                let p = dir.join(format!("{v}.tlog-proof"));
                tokio::fs::write(&p, proof).await.map_err(|e| io(&p, e))?;
            }
        }
    }
    let vkey = to.join(EVIDENCE_DIR).join("archive.pub");
    tokio::fs::write(&vkey, format!("{}\n", key.verifier_key()))
        .await
        .map_err(|e| io(&vkey, e))?;
    let info = vec![
        ("Source-Organization".to_string(), source),
        ("Agency-Code".to_string(), agency.to_string()),
        ("Fonds-Code".to_string(), fonds_code.to_string()),
        ("External-Identifier".to_string(), ext.clone()),
        ("Transferring-Archive".to_string(), key.name().to_string()),
        ("Disposition-Batch".to_string(), batch.to_string()),
    ];
    let bag = to.to_path_buf();
    tokio::task::spawn_blocking(move || {
        crate::bagit::create_bag(&bag, &info, &[Algorithm::Sha256, Algorithm::Sha512])
    })
    .await
    .map_err(|e| io(to, std::io::Error::other(e)))?
    .map_err(|e| io(to, std::io::Error::other(e)))?;
    // Every record a person's command read out is recorded (DESIGN: every read by a person).
    for r in &records {
        let target = crate::access::ReadTarget {
            reference_code: r.reference_code.clone(),
            object_id: r.object_id.clone(),
            version: r.inventory.head.clone(),
            file: None,
        };
        crate::access::record_read(
            store,
            key,
            actor,
            &format!("transfer out, batch {batch}"),
            &target,
        )
        .await?;
    }
    Ok(Package {
        batch,
        path: to.to_path_buf(),
        external_identifier: ext,
        records: records.iter().map(|r| r.reference_code.clone()).collect(),
    })
}

/// What confirmation did.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmed {
    /// Batch number.
    pub batch: u64,
    /// The receiving archive (the receipt's signer).
    pub receiving_archive: String,
    /// `sha256:` of the receipt's signed note.
    pub receipt_sha256: String,
    /// Records removed here.
    pub transferred: Vec<String>,
    /// True when this receipt had already been confirmed (nothing was changed now).
    pub already_confirmed: bool,
}

/// Records the receiving archive's receipt for a transfer batch and removes the records here:
/// every record still here must be in the receipt with the same file digests.
pub async fn confirm(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    batch: u64,
    receipt_note: &str,
    receiving: &Verifier,
) -> Result<Confirmed, RetentionError> {
    let doc = crate::sign::verify_document(receipt_note, receiving).map_err(|e| {
        RetentionError::Refused(format!(
            "the receipt does not verify with the receiving archive's key: {e}"
        ))
    })?;
    let receipt: Receipt = serde_json::from_value(doc)
        .map_err(|e| RetentionError::Refused(format!("not a strongroom receipt: {e}")))?;
    let receipt_sha256 = super::state::sha256_tag(receipt_note.as_bytes());
    let lock = store
        .lock_writer_waiting(actor, crate::ledger::commit::EVENT_LOCK_WAIT)
        .await?;
    let result = async {
        let ledger = crate::ledger::commit::open(store).await?;
        crate::ledger::commit::recover(store, &ledger, &lock, key).await?;
        let state = RetentionState::load(store).await?;
        let b = approved_transfer(&state, batch)?;
        let all: BTreeMap<String, RecordInfo> = all_records(store)
            .await?
            .into_iter()
            .map(|r| (r.reference_code.clone(), r))
            .collect();
        let records = records_of(&state, b, &all)?;
        if records.is_empty() {
            // Confirmed before (or a crash after the commit point, which the recovery above
            // has just finished): the same receipt is answered again, another is refused.
            let ours: Vec<&Tombstone> = b
                .doc
                .items
                .iter()
                .filter_map(|i| state.tombstones.get(&i.object_id))
                .filter(|t| t.batch == batch)
                .collect();
            if ours.is_empty() {
                return Err(RetentionError::Refused(format!(
                    "no record of batch {batch} is left here to transfer out"
                )));
            }
            if ours
                .iter()
                .any(|t| t.receipt_sha256.as_deref() != Some(receipt_sha256.as_str()))
            {
                return Err(RetentionError::Refused(format!(
                    "batch {batch} was already confirmed with another receipt"
                )));
            }
            return Ok(Confirmed {
                batch,
                receiving_archive: receipt.archive.clone(),
                receipt_sha256: receipt_sha256.clone(),
                transferred: ours.iter().map(|t| t.reference_code.clone()).collect(),
                already_confirmed: true,
            });
        }
        let approvers = b.approvers();
        for r in &records {
            let Some(got) = receipt
                .records
                .iter()
                .find(|x| x.reference_code == r.reference_code)
            else {
                return Err(RetentionError::Refused(format!(
                    "the receipt does not list {}: nothing is removed",
                    r.reference_code
                )));
            };
            let state = r
                .inventory
                .logical_state(&r.inventory.head)
                .unwrap_or_default();
            for (logical, sha512) in &state {
                let Some(p) = logical.strip_prefix("files/") else {
                    continue;
                };
                if !got
                    .files
                    .iter()
                    .any(|f| f.path == p && f.digests.sha512 == *sha512)
                {
                    return Err(RetentionError::Refused(format!(
                        "the receipt's {} lacks {p} with the digest kept here: nothing is removed",
                        r.reference_code
                    )));
                }
            }
        }
        let first = ledger.size().await?;
        let change_id = store::random_hex(8);
        let now = store::now_rfc3339();
        let today = super::policy::today_cst().to_string();
        let mut events = Vec::new();
        let mut after = Vec::new();
        let mut roots = Vec::new();
        for (i, r) in records.iter().enumerate() {
            events.push(Event::RecordTransferred {
                reference_code: r.reference_code.clone(),
                object_id: r.object_id.clone(),
                version: r.inventory.head.clone(),
                inventory_sha512: r.inventory_sha512.clone(),
                batch,
                receiving_archive: receipt.archive.clone(),
                receipt_sha256: receipt_sha256.clone(),
                change: change_id.clone(),
            });
            let rule = b
                .doc
                .items
                .iter()
                .find(|it| it.reference_code == r.reference_code)
                .map(|it| it.rule.clone())
                .unwrap_or_default();
            let t = Tombstone {
                kind: "strongroom.tombstone".into(),
                format_version: RETENTION_FORMAT_VERSION,
                change: change_id.clone(),
                ledger_index: first + i as u64,
                reference_code: r.reference_code.clone(),
                title: r.title.clone(),
                object_id: r.object_id.clone(),
                version: r.inventory.head.clone(),
                inventory_sha512: r.inventory_sha512.clone(),
                batch,
                rule,
                policy_sha256: b.doc.policy_sha256.clone(),
                approvers: approvers.clone(),
                witnesses: Vec::new(),
                destroyed_by: actor.to_string(),
                destroyed_at: now.clone(),
                destroyed_on: today.clone(),
                disposition: "transferred".into(),
                receipt_sha256: Some(receipt_sha256.clone()),
            };
            let path = tombstone_path(&r.object_id).to_string();
            let value = serde_json::to_value(&t).map_err(|source| StoreError::Json {
                path: path.clone(),
                source,
            })?;
            after.push((path, value));
            roots.push(crate::intake::object_root(store, &r.object_id));
        }
        // The receipt is kept with the batch, committed by the same entries.
        after.push((
            batch_path(batch, "receipt.json").to_string(),
            serde_json::json!({
                "type": "strongroom.transfer.out.receipt",
                "format_version": RETENTION_FORMAT_VERSION,
                "change": change_id,
                "ledger_index": first,
                "batch": batch,
                "receipt_sha256": receipt_sha256,
                "signed": receipt_note,
            }),
        ));
        let entries = encode_all(&events, actor, &now)?;
        let plan = CommitPlan {
            ledger_first: first,
            ledger_count: entries.len() as u64,
            after_commit: after,
        };
        let point = LedgerBatch::new(&ledger, key, entries);
        store.remove_objects(&lock, plan, &roots, &point).await?;
        Ok::<_, RetentionError>(Confirmed {
            batch,
            receiving_archive: receipt.archive.clone(),
            receipt_sha256: receipt_sha256.clone(),
            transferred: records.iter().map(|r| r.reference_code.clone()).collect(),
            already_confirmed: false,
        })
    }
    .await;
    let released = lock.release().await;
    let done = result?;
    released?;
    Ok(done)
}
