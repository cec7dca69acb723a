//! `verify`: re-read every stored byte and check every digest and the OCFL structure, and
//! check that every record a commit record names is still there (nothing quietly removed).
//!
//! Read-only, except that it first runs crash recovery when no writer holds the lock, so
//! that a half-written version left by a crash is not reported as damage.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::access;
use crate::ocfl::validate::{self, Severity};
use crate::store::{Store, StoreError};

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
    if let Ok(lock) = store.lock_writer(actor).await {
        let r = store.recover(&lock).await;
        lock.release().await?;
        r?;
    }
    let mut report = VerifyReport::default();
    // object root → 档号, from the commit records: what the archive has promised to keep.
    let mut roots = BTreeMap::new();
    for t in access::transfer_records(store).await? {
        for r in t.records {
            roots.insert(r.object_root, r.reference_code);
        }
    }
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
                    &crate::store::stored_path(root),
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
    // Nothing quietly removed: every committed record still has its committed version.
    for (root, rc) in &roots {
        if !refs.is_empty() && !refs.contains(rc) {
            continue;
        }
        let present = store
            .committed_inventory(&crate::store::stored_path(root))
            .await
            .ok()
            .flatten()
            .is_some();
        if !present {
            report.damage.push(Damage {
                reference_code: Some(rc.clone()),
                location: root.clone(),
                file: Some("inventory.json".into()),
                code: "RECORD_MISSING".into(),
                message: "a committed record's object or its inventory is missing or unreadable"
                    .into(),
                severity: "error".into(),
            });
        }
    }
    Ok(report)
}
