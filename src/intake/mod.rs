//! Intake (接收): a transfer package in, a signed receipt or one complete report out.
//!
//! Owns the order of the checks and the decision; delegates each check to its module
//! (`package` for safety, `bagit` for fixity and completeness, `record` for metadata,
//! `formats` for usability) and the write to `store`. Every check runs and every finding
//! is kept, so that the agency corrects everything in one round (the seed's art. 9).
//! Nothing is written to the OCFL root unless no check found an error.

mod checks;
pub mod receipt;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use object_store::path::Path as StorePath;
use serde::{Deserialize, Serialize};

use crate::bagit::{self, Bag};
use crate::digest::Algorithm;
use crate::findings::{Category, Finding};
use crate::ledger::commit::LedgerBatch;
use crate::ledger::entry::Event;
use crate::ocfl::inventory::{Inventory, NewFile, User};
use crate::ocfl::layout;
use crate::package::{self, Limits};
use crate::record::RecordMetadata;
use crate::refcode::RefCode;
use crate::sign::ArchiveKey;
use crate::store::{self, FileSource, StagedFile, Store, StoreError, VersionWrite};

pub use checks::RecordPlan;
pub use receipt::{Receipt, TransferId, TransferRecord, TransferReport};

/// Errors that stop intake before a decision: environment, not the package.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unpacking could not even start (staging directory, unreadable package path).
    #[error("cannot open the package")]
    Package(#[from] package::Error),
    /// The archive key could not sign.
    #[error("cannot sign the receipt")]
    Sign(#[from] crate::sign::Error),
    /// The ledger could not be read or recovered.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::log::LedgerError),
    /// A ledger entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] crate::ledger::entry::EntryError),
    /// The seal registry could not be read.
    #[error(transparent)]
    Seals(#[from] crate::seals::registry::RegistryError),
    /// A local file could not be read or written.
    #[error("{path}")]
    Io {
        /// Which file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// How intake runs.
#[derive(Debug, Clone)]
pub struct IntakeOptions {
    /// Safety limits for unpacking.
    pub limits: Limits,
    /// Optional virus-scan command, run on every file.
    pub virus_scan: Option<String>,
    /// Where archives are unpacked (outside the store).
    pub staging_dir: PathBuf,
    /// Who submits (`--as`).
    pub actor: String,
    /// Hashing threads (0: all cores).
    pub threads: usize,
    /// Seal policy per agency.
    pub seal_policy: crate::seals::policy::SealPolicy,
    /// The retention schedule in force (the home's, else the shipped one): a record whose
    /// class it gives another period is flagged with a warning. None: not checked.
    pub retention_policy: Option<crate::retention::Policy>,
}

/// Progress of a long intake, for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A phase starts; `total` bytes when known.
    Phase {
        /// What is happening.
        name: &'static str,
        /// Bytes to go through.
        total: Option<u64>,
    },
    /// Bytes done in the current phase.
    Bytes(u64),
}

/// What became of a transfer.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Stored; here is the signed receipt (signed-note text) and the receipt itself.
    Accepted {
        /// The receipt.
        receipt: Box<Receipt>,
        /// The signed-note text of its canonical JSON.
        signed: String,
        /// The signed ledger checkpoint that first includes the transfer's entries.
        checkpoint: String,
    },
    /// The same transfer with the same payload was already accepted: nothing stored.
    AlreadyAccepted {
        /// The original receipt, as signed then.
        signed: String,
        /// The signed checkpoint of the size the receipt names, when the ledger kept it.
        checkpoint: Option<String>,
    },
    /// Refused; nothing stored in the OCFL root. The report is kept under `reports/`.
    Rejected {
        /// Every problem.
        report: Box<TransferReport>,
        /// Where it was kept in the store.
        kept_at: Option<String>,
    },
}

/// The transfer record path of a transfer.
pub fn transfer_record_path(agency_code: &str, external_identifier: &str) -> StorePath {
    store::path_of([
        "transfers",
        agency_code,
        &format!("{external_identifier}.json"),
    ])
}

/// The OCFL object id of a record: never changes, even when it is re-appraised.
pub fn object_id(refcode: &RefCode) -> String {
    format!("urn:strongroom:{}", refcode.as_str())
}

/// The object's root in the store.
pub fn object_root(store: &Store, object_id: &str) -> StorePath {
    store::join(&store.ocfl_root(), &layout::object_root_0003(object_id))
}

/// Runs a transfer: unpack, check everything, then store and sign, or report.
pub async fn transfer(
    store: &Store,
    key: &ArchiveKey,
    package_path: &Path,
    opts: &IntakeOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Outcome, IntakeError> {
    std::fs::create_dir_all(&opts.staging_dir).map_err(|source| IntakeError::Io {
        path: opts.staging_dir.display().to_string(),
        source,
    })?;
    progress(Progress::Phase {
        name: "unpacking",
        total: None,
    });
    let (pkg, staging, limits) = (
        package_path.to_path_buf(),
        opts.staging_dir.clone(),
        opts.limits.clone(),
    );
    let unpacked = blocking(move || package::open(&pkg, &staging, &limits)).await??;
    let mut findings = unpacked.findings.clone();
    let package_name = package_path.display().to_string();
    if !unpacked.is_safe() {
        return reject(store, opts, &package_name, None, findings).await;
    }

    progress(Progress::Phase {
        name: "checking fixity",
        total: Some(unpacked.bytes),
    });
    let root = unpacked.root.clone();
    let threads = opts.threads;
    let bag_report = blocking(move || {
        bagit::validate(
            &root,
            &bagit::ValidateOptions {
                also_compute: vec![Algorithm::Sha256, Algorithm::Sha512],
                threads,
            },
        )
    })
    .await?;
    findings.extend(bag_report.findings.iter().cloned());
    let Some(bag) = bag_report.bag else {
        return reject(store, opts, &package_name, None, findings).await;
    };
    let (transfer_id, profile_findings) = checks::profile(&bag);
    findings.extend(profile_findings);

    if let Some(scan) = &opts.virus_scan {
        progress(Progress::Phase {
            name: "virus scan",
            total: None,
        });
        let (root, scan) = (bag.root.clone(), scan.clone());
        findings.extend(blocking(move || package::virus_scan(&root, &scan)).await??);
    }

    // Resubmission comes before the duplicate-档号 check: the same transfer with the same
    // payload is not a duplicate, it is an answered question.
    let fingerprint = checks::payload_fingerprint(&bag);
    if let Some(t) = &transfer_id {
        let path = transfer_record_path(&t.agency_code, &t.external_identifier);
        if let Some(rec) = store.get_json::<TransferRecord>(&path).await? {
            if rec.payload_fingerprint == fingerprint {
                return already_accepted(store, rec).await;
            }
            findings.push(
                Finding::error(
                    "TRANSFER_ID_REUSED",
                    Category::Authenticity,
                    format!(
                        "transfer {} of agency {} was already accepted with different content; \
                         a corrected package needs a new External-Identifier",
                        t.external_identifier, t.agency_code
                    ),
                )
                .expected_found(rec.payload_fingerprint, fingerprint.clone()),
            );
        }
    }

    progress(Progress::Phase {
        name: "checking records",
        total: None,
    });
    let fonds = transfer_id.as_ref().map(|t| t.fonds_code.clone());
    let agency = transfer_id.as_ref().map(|t| t.agency_code.clone());
    let (policy, require_seals) = opts
        .seal_policy
        .for_agency(agency.as_deref().unwrap_or_default());
    let seals = checks::SealContext {
        registry: crate::seals::registry::Registry::load(store).await?,
        agency,
        policy,
        require_seals,
        at: chrono::Utc::now(),
    };
    let b2 = bag.clone();
    let (plans, record_findings) =
        blocking(move || checks::records(&b2, fonds.as_deref(), &seals)).await?;
    findings.extend(record_findings);
    findings.extend(checks::against_archive(store, &plans).await?);
    if let (Some(policy), Some(t)) = (&opts.retention_policy, &transfer_id) {
        findings.extend(checks::against_schedule(&plans, policy, &t.agency_code));
    }

    if findings.iter().any(Finding::is_error) {
        return reject(store, opts, &package_name, transfer_id, findings).await;
    }
    let Some(transfer_id) = transfer_id else {
        // profile() reports missing bag-info fields as errors, so this is unreachable in
        // practice; refuse rather than store an unidentified transfer.
        return reject(store, opts, &package_name, None, findings).await;
    };

    // Another writer (a transfer in another process or on another node) is waited for.
    let lock = store
        .lock_writer_waiting(&opts.actor, store::WRITER_WAIT)
        .await?;
    let result = commit_transfer(
        store,
        key,
        &lock,
        &bag,
        &transfer_id,
        &fingerprint,
        &plans,
        &findings,
        opts,
        progress,
    )
    .await;
    let released = lock.release().await;
    let outcome = result?;
    released?;
    drop(unpacked);
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
async fn commit_transfer(
    store: &Store,
    key: &ArchiveKey,
    lock: &store::WriterLock,
    bag: &Bag,
    transfer_id: &TransferId,
    fingerprint: &str,
    plans: &[RecordPlan],
    findings: &[Finding],
    opts: &IntakeOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Outcome, IntakeError> {
    let ledger = crate::ledger::commit::open(store).await?;
    crate::ledger::commit::recover(store, &ledger, lock, key).await?;
    let record_path =
        transfer_record_path(&transfer_id.agency_code, &transfer_id.external_identifier);
    // Checked again under the lock: another writer may have committed since.
    if let Some(rec) = store.get_json::<TransferRecord>(&record_path).await? {
        if rec.payload_fingerprint == fingerprint {
            return already_accepted(store, rec).await;
        }
    }
    let late = checks::against_archive(store, plans).await?;
    if late.iter().any(Finding::is_error) {
        let mut all = findings.to_vec();
        all.extend(late);
        return reject(
            store,
            opts,
            &bag.root.display().to_string(),
            Some(transfer_id.clone()),
            all,
        )
        .await;
    }

    let accepted_at = store::now_rfc3339();
    // The batch: `transfer.accepted` at `first`, then one `record.stored` per record. Under
    // the writer lock nobody else appends, so the indices are known before the write.
    let first = store.ledger_size().await?;
    let transfer_name = format!(
        "{}/{}",
        transfer_id.agency_code, transfer_id.external_identifier
    );
    let mut events = Vec::new();
    let mut writes = Vec::new();
    let mut receipt_records = Vec::new();
    let mut stored = Vec::new();
    let mut totals = receipt::Totals::default();
    let user = User::actor(&opts.actor);
    for (i, plan) in plans.iter().enumerate() {
        let ledger_index = first + 1 + i as u64;
        let oid = object_id(&plan.metadata.reference_code);
        let root = object_root(store, &oid);
        let evidence =
            checks::evidence(bag, transfer_id, plan, findings, &accepted_at, &opts.actor);
        let evidence = Bytes::from(serde_json::to_vec_pretty(&evidence).unwrap_or_default());
        let (ev_digests, _) =
            crate::digest::digest_reader(&evidence[..], &[Algorithm::Sha256, Algorithm::Sha512])
                .map_err(|source| IntakeError::Io {
                    path: "intake evidence".into(),
                    source,
                })?;
        let mut new_files = Vec::new();
        let mut sources: BTreeMap<String, (FileSource, u64)> = BTreeMap::new();
        let rj = &plan.record_json;
        new_files.push(NewFile {
            logical_path: "record.json".into(),
            sha512: rj.sha512.clone(),
            sha256: rj.sha256.clone(),
        });
        sources.insert(
            "record.json".into(),
            (
                FileSource::Local(bag.root.join(&plan.record_json_path)),
                rj.size,
            ),
        );
        let mut receipt_files = Vec::new();
        for f in &plan.files {
            let logical = format!("files/{}", f.path);
            new_files.push(NewFile {
                logical_path: logical.clone(),
                sha512: f.digests.sha512.clone(),
                sha256: f.digests.sha256.clone(),
            });
            sources.insert(
                logical,
                (
                    FileSource::Local(bag.root.join(&f.bag_path)),
                    f.digests.size,
                ),
            );
            receipt_files.push(receipt::ReceiptFile {
                path: f.path.clone(),
                digests: f.digests.clone(),
            });
            totals.files += 1;
            totals.bytes += f.digests.size;
        }
        new_files.push(NewFile {
            logical_path: "evidence/intake.json".into(),
            sha512: ev_digests[&Algorithm::Sha512].clone(),
            sha256: ev_digests[&Algorithm::Sha256].clone(),
        });
        sources.insert(
            "evidence/intake.json".into(),
            (FileSource::Bytes(evidence.clone()), evidence.len() as u64),
        );
        let message = format!(
            "移交接收 transfer {} from {} {}",
            transfer_id.external_identifier,
            transfer_id.agency_code,
            store::ledger_marker(ledger_index)
        );
        let (inventory, to_write) = Inventory::next_version(
            None,
            &oid,
            &new_files,
            accepted_at.clone(),
            message,
            user.clone(),
        );
        let files = to_write
            .into_iter()
            .filter_map(|(content_path, nf)| {
                sources.get(&nf.logical_path).map(|(src, size)| StagedFile {
                    content_path,
                    source: src.clone(),
                    size: *size,
                })
            })
            .collect();
        events.push(Event::RecordStored {
            reference_code: plan.metadata.reference_code.to_string(),
            object_id: oid.clone(),
            version: "v1".into(),
            inventory_sha512: sha512_hex(&inventory.to_json()),
            transfer: transfer_name.clone(),
        });
        writes.push(VersionWrite {
            object_root: root.clone(),
            previous: None,
            inventory,
            files,
        });
        receipt_records.push(receipt::ReceiptRecord {
            reference_code: plan.metadata.reference_code.to_string(),
            title: plan.metadata.title.clone(),
            object_id: oid.clone(),
            version: "v1".into(),
            ledger_index,
            record_json: rj.clone(),
            files: receipt_files,
        });
        stored.push(receipt::StoredRecord {
            reference_code: plan.metadata.reference_code.to_string(),
            title: plan.metadata.title.clone(),
            object_id: oid,
            object_root: root.to_string(),
            version: "v1".into(),
        });
        totals.records += 1;
    }
    // One `seal.verified` per seal, after the records' entries (whose indices the versions
    // already name): the verdict itself is in the record's evidence/intake.json.
    let mut seal_events = Vec::new();
    for plan in plans {
        let oid = object_id(&plan.metadata.reference_code);
        for f in &plan.files {
            for (n, s) in f
                .pdf_signatures
                .iter()
                .flat_map(|p| p.signatures.iter())
                .enumerate()
            {
                let v = &s.verdict;
                let name = s
                    .field_name
                    .clone()
                    .unwrap_or_else(|| format!("signature-{}", n + 1));
                seal_events.push(Event::SealVerified {
                    reference_code: plan.metadata.reference_code.to_string(),
                    object_id: oid.clone(),
                    file: format!("files/{}", f.path),
                    seal_file: format!("files/{}#{name}", f.path),
                    result: if v.valid { "valid" } else { "invalid" }.into(),
                    anchor: v
                        .signers
                        .first()
                        .and_then(|s| s.anchor.clone())
                        .unwrap_or_default(),
                    verdict_sha256: sha256_hex(crate::sign::canonical_json(v)?.as_bytes()),
                });
            }
            if let Some(v) = &f.seal {
                seal_events.push(Event::SealVerified {
                    reference_code: plan.metadata.reference_code.to_string(),
                    object_id: oid.clone(),
                    file: crate::seals::sealed_path(&f.path)
                        .map(|p| format!("files/{p}"))
                        .unwrap_or_default(),
                    seal_file: format!("files/{}", f.path),
                    result: if v.valid { "valid" } else { "invalid" }.into(),
                    anchor: v
                        .signers
                        .first()
                        .and_then(|s| s.anchor.clone())
                        .unwrap_or_default(),
                    verdict_sha256: sha256_hex(crate::sign::canonical_json(v)?.as_bytes()),
                });
            }
        }
    }
    let receipt = Receipt {
        kind: "strongroom.receipt".into(),
        format_version: receipt::DOCUMENT_VERSION,
        archive: key.name().to_string(),
        transfer: transfer_id.clone(),
        accepted_at: accepted_at.clone(),
        accepted_by: opts.actor.clone(),
        payload_fingerprint: fingerprint.to_string(),
        totals: totals.clone(),
        checks: receipt::check_results(findings),
        records: receipt_records,
        ledger: receipt::ReceiptLedger {
            origin: ledger.origin().to_string(),
            transfer_index: first,
            tree_size: first + 1 + plans.len() as u64 + seal_events.len() as u64,
        },
    };
    let signed = key.sign_document(&receipt)?;
    let accepted = Event::TransferAccepted {
        agency_code: transfer_id.agency_code.clone(),
        external_identifier: transfer_id.external_identifier.clone(),
        payload_fingerprint: fingerprint.to_string(),
        records: plans.len() as u64,
        records_digest: format!(
            "sha256:{}",
            sha256_hex(crate::sign::canonical_json(&stored)?.as_bytes())
        ),
        receipt_sha256: sha256_hex(crate::sign::canonical_json(&receipt)?.as_bytes()),
    };
    events.insert(0, accepted);
    events.extend(seal_events);
    let entries = crate::ledger::commit::encode_all(&events, &opts.actor, &accepted_at)?;
    let record = TransferRecord {
        kind: "strongroom.transfer".into(),
        format_version: receipt::DOCUMENT_VERSION,
        transfer: transfer_id.clone(),
        payload_fingerprint: fingerprint.to_string(),
        records: stored,
        receipt: signed.clone(),
        ledger_index: first,
        tree_size: first + entries.len() as u64,
    };
    progress(Progress::Phase {
        name: "storing",
        total: Some(totals.bytes),
    });
    let bytes_progress = |n: u64| progress(Progress::Bytes(n));
    let plan = store::CommitPlan {
        ledger_first: first,
        ledger_count: entries.len() as u64,
        after_commit: vec![(
            record_path.to_string(),
            serde_json::to_value(&record).map_err(|e| IntakeError::Task(e.to_string()))?,
        )],
    };
    let batch = LedgerBatch::new(&ledger, key, entries);
    store
        .commit(lock, plan, &writes, &bytes_progress, &batch)
        .await?;
    let checkpoint = match batch.appended() {
        Some(a) => a.checkpoint.note,
        None => {
            return Err(IntakeError::Task(
                "the ledger batch left no checkpoint".into(),
            ))
        }
    };
    Ok(Outcome::Accepted {
        receipt: Box::new(receipt),
        signed,
        checkpoint,
    })
}

/// The answer to a resubmission: the original receipt and the checkpoint it names.
async fn already_accepted(store: &Store, rec: TransferRecord) -> Result<Outcome, IntakeError> {
    let ledger = crate::ledger::commit::open(store).await?;
    let checkpoint = ledger.checkpoint_at(rec.tree_size).await?.map(|c| c.note);
    Ok(Outcome::AlreadyAccepted {
        signed: rec.receipt,
        checkpoint,
    })
}

use crate::digest::{sha256_hex, sha512_hex};

async fn reject(
    store: &Store,
    opts: &IntakeOptions,
    package: &str,
    transfer: Option<TransferId>,
    mut findings: Vec<Finding>,
) -> Result<Outcome, IntakeError> {
    findings.sort_by_key(|f| (!f.is_error(), f.category));
    let report = TransferReport {
        kind: "strongroom.transfer-report".into(),
        format_version: receipt::DOCUMENT_VERSION,
        transfer,
        package: package.to_string(),
        checked_at: store::now_rfc3339(),
        submitted_by: opts.actor.clone(),
        decision: "rejected".into(),
        checks: receipt::check_results(&findings),
        findings,
    };
    // Kept so an archivist can later see what was refused and why; a store that cannot keep
    // it is an environment error, not a reason to lose the report.
    let kept_at = store.keep_report(&report).await?;
    Ok(Outcome::Rejected {
        report: Box::new(report),
        kept_at: Some(kept_at),
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IntakeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IntakeError::Task(e.to_string()))
}

/// Intake evidence kept inside each record's version (`evidence/intake.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntakeEvidence {
    /// `strongroom.intake-evidence`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Document version.
    pub format_version: u32,
    /// The transfer.
    pub transfer: TransferId,
    /// When.
    pub received_at: String,
    /// Who.
    pub received_by: String,
    /// bag-info.txt as received.
    pub bag_info: Vec<(String, String)>,
    /// The record folder in the package.
    pub package_folder: String,
    /// Per file: declared (incl. SM3) and computed digests, format.
    pub files: Vec<EvidenceFile>,
    /// Results per DA/T 70 property.
    pub checks: Vec<receipt::CheckResult>,
    /// Warnings about this record or the whole transfer.
    pub warnings: Vec<Finding>,
}

/// One file's intake evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceFile {
    /// Path in the record folder.
    pub path: String,
    /// Role from record.json (`metadata` for record.json itself).
    pub role: String,
    /// Bytes.
    pub size: u64,
    /// Digests the agency declared, by algorithm name.
    pub declared: BTreeMap<String, String>,
    /// Digests computed on intake.
    pub computed: BTreeMap<String, String>,
    /// Format identified by content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<EvidenceFormat>,
    /// For a seal file: the verdict, with the certificates and times it was judged by, so it
    /// can be shown years later when the certificates have expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<crate::seals::verdict::SealVerdict>,
    /// For a PDF with embedded signatures: each signature's byte range and verdict, and
    /// whether anything was appended after the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_signatures: Option<crate::seals::pdf::PdfSeals>,
}

/// A file's identified format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceFormat {
    /// Registry id.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Version detail.
    pub detail: Option<String>,
}

/// Reads one record's metadata; exposed for `show`.
pub fn parse_record_json(bytes: &[u8]) -> Option<RecordMetadata> {
    serde_json::from_slice(bytes).ok()
}
