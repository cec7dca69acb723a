//! `verify`: re-read every stored byte and check every digest and the OCFL structure, and
//! hold the store to the ledger: every version a ledger entry records is there with the
//! inventory digest the entry names (nothing quietly removed or rewritten), and every version
//! in the store has its entry (nothing quietly added).
//!
//! Read-only, except that it first runs crash recovery when no writer holds the lock, so
//! that a half-written version left by a crash is not reported as damage.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::entry::{Entry, VERSION_EVENTS};
use crate::ledger::log::LedgerError;
use crate::ocfl::inventory::Inventory;
use crate::ocfl::validate::{self, Severity};
use crate::store::{self, Store, StoreError};

/// Errors that stop verification (not damage: damage is reported).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The validator could not run.
    #[error("OCFL validation could not run")]
    Validate(#[from] validate::Error),
    /// An asked-for record is not in the archive.
    #[error("no record with 档号 {0} in the archive")]
    NoSuchRecord(String),
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The audit entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] crate::ledger::entry::EntryError),
}

/// One problem found in the store.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    /// 档号 of the damaged record, when the problem is inside one.
    pub reference_code: Option<String>,
    /// Object root or store path.
    pub location: String,
    /// File concerned, when known.
    pub file: Option<String>,
    /// OCFL validation code (`E092`) or strongroom code (`RECORD_MISSING`).
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// `error` or `warning`.
    pub severity: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records_checked: usize,
    /// Files whose digests were recomputed.
    pub files_checked: u64,
    /// Bytes re-read.
    pub bytes_checked: u64,
    /// Problems; empty when everything holds.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// True when no error-level damage was found.
    pub fn is_intact(&self) -> bool {
        !self.damage.iter().any(|d| d.severity == "error")
    }

    /// The 档号 of every damaged record.
    pub fn damaged_records(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .damage
            .iter()
            .filter(|d| d.severity == "error")
            .filter_map(|d| d.reference_code.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

fn refcode_for(roots: &BTreeMap<String, String>, object: Option<&str>) -> Option<String> {
    let object = object?.trim_end_matches('/');
    roots
        .iter()
        .find(|(root, _)| {
            root.as_str() == object || root.ends_with(object) || object.ends_with(root.as_str())
        })
        .map(|(_, rc)| rc.clone())
}

/// Verifies the named records, or the whole archive when `refs` is empty.
pub async fn verify(
    store: &Store,
    refs: &[String],
    actor: &str,
    progress: Option<validate::BytesProgress>,
) -> Result<VerifyReport, VerifyError> {
    let ledger = crate::ledger::commit::open(store).await?;
    if let Ok(lock) = store.lock_writer(actor).await {
        let r = match ledger.recover(&lock).await {
            Ok(_) => store
                .recover(&lock)
                .await
                .map(|_| ())
                .map_err(VerifyError::from),
            Err(e) => Err(e.into()),
        };
        lock.release().await?;
        r?;
    }
    let mut report = VerifyReport::default();
    // What the archive promised to keep, from the ledger: object root → 档号, and per object
    // every version an entry records with its inventory digest.
    let promised = promised_versions(store, &ledger).await?;
    let roots: BTreeMap<String, String> = promised
        .iter()
        .map(|(root, p)| (root.clone(), p.reference_code.clone()))
        .collect();
    let opts = validate::Options {
        progress,
        ..Default::default()
    };
    let mut reports = Vec::new();
    if refs.is_empty() {
        reports.push(
            validate::validate_storage_root(store.backend().as_ref(), &store.ocfl_root(), &opts)
                .await?,
        );
        report.records_checked = roots.len();
    } else {
        for rc in refs {
            let Some((root, _)) = roots.iter().find(|(_, code)| *code == rc) else {
                return Err(VerifyError::NoSuchRecord(rc.clone()));
            };
            reports.push(
                validate::validate_object(
                    store.backend().as_ref(),
                    &store::stored_path(root),
                    &opts,
                )
                .await?,
            );
            report.records_checked += 1;
        }
    }
    for r in reports {
        report.files_checked += r.files_checked;
        report.bytes_checked += r.bytes_checked;
        for f in r.findings {
            report.damage.push(Damage {
                reference_code: refcode_for(&roots, f.object.as_deref()),
                location: f.object.clone().unwrap_or_else(|| "ocfl".into()),
                file: f.path.clone(),
                code: f.code.clone(),
                message: f.message.clone(),
                severity: match f.severity {
                    Severity::Error => "error".into(),
                    Severity::Warning => "warning".into(),
                },
            });
        }
    }
    // Nothing quietly removed or rewritten: every version an entry records is there, with
    // the inventory the entry names.
    for (root, p) in &promised {
        if !refs.is_empty() && !refs.contains(&p.reference_code) {
            continue;
        }
        let damage = |file: String, code: &str, message: String| Damage {
            reference_code: Some(p.reference_code.clone()),
            location: root.clone(),
            file: Some(file),
            code: code.into(),
            message,
            severity: "error".into(),
        };
        for (version, (index, sha512)) in &p.versions {
            let file = format!("{version}/inventory.json");
            match store
                .get_bytes(&store::join(&store::stored_path(root), &file))
                .await
            {
                Ok(Some(bytes)) if sha512_hex(&bytes) == *sha512 => {}
                Ok(Some(_)) => report.damage.push(damage(
                    file,
                    "LEDGER_INVENTORY_MISMATCH",
                    format!(
                        "the version's inventory differs from the one ledger entry {index} \
                         recorded"
                    ),
                )),
                Ok(None) | Err(_) => report.damage.push(damage(
                    file,
                    "RECORD_MISSING",
                    format!(
                        "ledger entry {index} records this version, but its inventory is \
                         missing or unreadable"
                    ),
                )),
            }
        }
    }
    // Nothing quietly added: every committed version in the store has its entry.
    if refs.is_empty() {
        for root in object_roots(store).await? {
            let Some(inv): Option<Inventory> = store
                .get_json(&store::join(&root, "inventory.json"))
                .await
                .ok()
                .flatten()
            else {
                continue; // the OCFL validation above reports an unreadable inventory
            };
            let known = promised.get(root.as_ref());
            for version in inv.versions.keys() {
                if known.is_some_and(|p| p.versions.contains_key(version)) {
                    continue;
                }
                report.damage.push(Damage {
                    reference_code: known.map(|p| p.reference_code.clone()),
                    location: root.to_string(),
                    file: Some(format!("{version}/inventory.json")),
                    code: "VERSION_WITHOUT_ENTRY".into(),
                    message: format!(
                        "object {} has version {version}, which no ledger entry records",
                        inv.id
                    ),
                    severity: "error".into(),
                });
            }
        }
    }
    Ok(report)
}

/// Records a verification run as a `fixity.audited` ledger entry (what was checked, what
/// failed), durable before it returns; returns its index. The audit trail DA/T 70 asks for:
/// the archive can show when it last re-read everything, and what it found.
pub async fn record_audit(
    store: &Store,
    key: &crate::sign::ArchiveKey,
    actor: &str,
    refs: &[String],
    report: &VerifyReport,
) -> Result<u64, VerifyError> {
    let scope = if refs.is_empty() {
        "all".to_string()
    } else {
        let list = refs.join(",");
        if list.len() <= 1024 {
            list
        } else {
            format!("sha256:{}", crate::digest::sha256_hex(list.as_bytes()))
        }
    };
    let damaged = report.damaged_records();
    let event = crate::ledger::entry::Event::FixityAudited {
        scope,
        records_checked: report.records_checked as u64,
        files_checked: report.files_checked,
        bytes_checked: report.bytes_checked,
        result: if report.is_intact() {
            "intact"
        } else {
            "damaged"
        }
        .into(),
        damaged_count: damaged.len() as u64,
        damaged: damaged.into_iter().take(100).collect(),
        problems: report
            .damage
            .iter()
            .filter(|d| d.severity == "error")
            .count() as u64,
    };
    let entries = crate::ledger::commit::encode_all(&[event], actor, &store::now_rfc3339())?;
    let index = crate::ledger::commit::append_event(store, key, actor, &entries)
        .await?
        .first_index;
    Ok(index)
}

/// One object as the ledger knows it.
struct Promised {
    reference_code: String,
    /// version → (ledger index, inventory sha512).
    versions: BTreeMap<String, (u64, String)>,
}

/// Reads the ledger bundle by bundle and collects every version its entries record, less the
/// objects a later `record.destroyed` entry removed.
async fn promised_versions(
    store: &Store,
    ledger: &crate::ledger::log::Ledger,
) -> Result<BTreeMap<String, Promised>, VerifyError> {
    let size = ledger.size().await?;
    let mut out: BTreeMap<String, Promised> = BTreeMap::new();
    let mut start = 0;
    while start < size {
        let end = (start + 256).min(size);
        for (i, bytes) in (start..end).zip(ledger.entries(start, end).await?) {
            // `ledger verify` reports undecodable entries; unknown types are not ours here.
            let Ok(e) = Entry::decode(&bytes) else {
                continue;
            };
            if crate::retention::state::REMOVAL_EVENTS.contains(&e.kind.as_str()) {
                // Destroyed (销毁) or transferred out by a disposition batch: the ledger keeps
                // what it was, the store no longer holds it, and that is not damage.
                if let Some(oid) = e.field_str("object_id") {
                    out.remove(&crate::intake::object_root(store, oid).to_string());
                }
                continue;
            }
            if !VERSION_EVENTS.contains(&e.kind.as_str()) {
                continue;
            }
            let (Some(oid), Some(rc), Some(v), Some(d)) = (
                e.field_str("object_id"),
                e.field_str("reference_code"),
                e.field_str("version"),
                e.field_str("inventory_sha512"),
            ) else {
                continue;
            };
            let root = crate::intake::object_root(store, oid);
            out.entry(root.to_string())
                .or_insert_with(|| Promised {
                    reference_code: rc.to_string(),
                    versions: BTreeMap::new(),
                })
                .versions
                .insert(v.to_string(), (i, d.to_string()));
        }
        start = end;
    }
    Ok(out)
}

/// Every object root in the storage root: the folders holding an `0=ocfl_object_1.x`.
async fn object_roots(store: &Store) -> Result<Vec<object_store::path::Path>, StoreError> {
    let mut roots: Vec<_> = store
        .list_paths(&store.ocfl_root())
        .await?
        .into_iter()
        .filter(|p| {
            p.filename()
                .is_some_and(|f| f.starts_with("0=ocfl_object_"))
        })
        .filter_map(|p| {
            let parts: Vec<_> = p.parts().collect();
            let n = parts.len().checked_sub(1)?;
            Some(object_store::path::Path::from_iter(
                parts.into_iter().take(n),
            ))
        })
        .collect();
    roots.sort();
    Ok(roots)
}

use crate::digest::sha512_hex;
