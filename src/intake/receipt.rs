//! The receipt (接收凭证), the rejection report, and the transfer record (the lookup that
//! answers a resubmission; the ledger's `transfer.accepted` entry is the commit).
//!
//! Formats: `formats/receipt.md`, `formats/transfer-report.md`, `formats/store-layout.md`.
//! The receipt is signed as a signed-note over its canonical JSON (`formats/signed-note.md`).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::findings::{Category, Finding};

/// Version of the receipt, report and transfer-record documents.
pub const DOCUMENT_VERSION: u32 = 1;

/// Identifies a transfer: (`Agency-Code`, `External-Identifier`), plus who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferId {
    /// `Agency-Code` (立档单位代码).
    pub agency_code: String,
    /// `External-Identifier`: the agency's own transfer id.
    pub external_identifier: String,
    /// `Source-Organization` (立档单位名称).
    pub source_organization: String,
    /// `Fonds-Code` (全宗号).
    pub fonds_code: String,
}

/// Two digests of one stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigests {
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Lowercase hex SHA-512.
    pub sha512: String,
}

/// A file in a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptFile {
    /// Path inside the record folder.
    pub path: String,
    /// Its digests.
    #[serde(flatten)]
    pub digests: FileDigests,
}

/// A record in a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// 档号.
    pub reference_code: String,
    /// 题名.
    pub title: String,
    /// OCFL object id.
    pub object_id: String,
    /// OCFL version (`v1`).
    pub version: String,
    /// Index of the record's `record.stored` entry in the ledger.
    pub ledger_index: u64,
    /// Digests of the stored `record.json`.
    pub record_json: FileDigests,
    /// Every file of the record.
    pub files: Vec<ReceiptFile>,
}

/// Totals of a transfer, as on a 移交接收登记表.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Records (件).
    pub records: u64,
    /// Files.
    pub files: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// The receipt (接收凭证): what the archive accepted, signed by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// `strongroom.receipt`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`DOCUMENT_VERSION`].
    pub format_version: u32,
    /// The archive's signing key name.
    pub archive: String,
    /// The transfer.
    pub transfer: TransferId,
    /// RFC 3339 time of acceptance.
    pub accepted_at: String,
    /// Who accepted it (the actor).
    pub accepted_by: String,
    /// `sha512:` digest over the sorted payload digests: what makes two packages the same.
    pub payload_fingerprint: String,
    /// Counts and bytes.
    pub totals: Totals,
    /// Each DA/T 70 check and its result (`passed`, or `passed with N warnings`).
    pub checks: Vec<CheckResult>,
    /// Every record stored.
    pub records: Vec<ReceiptRecord>,
    /// Where the transfer is in the ledger.
    pub ledger: ReceiptLedger,
}

/// A receipt's place in the ledger: its entries, and the size of the first checkpoint that
/// includes them (printed and kept with the receipt, signed on its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLedger {
    /// The ledger's origin (its checkpoint's first line).
    pub origin: String,
    /// Index of the `transfer.accepted` entry; the records' entries follow it.
    pub transfer_index: u64,
    /// Tree size of the checkpoint that first includes every entry of the transfer.
    pub tree_size: u64,
}

/// One DA/T 70 property and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The property.
    pub category: Category,
    /// `passed` or `failed`.
    pub result: String,
    /// Warnings under it.
    pub warnings: usize,
    /// Errors under it.
    pub errors: usize,
}

/// Summarises findings per DA/T 70 property.
pub fn check_results(findings: &[Finding]) -> Vec<CheckResult> {
    [
        Category::Authenticity,
        Category::Integrity,
        Category::Usability,
        Category::Security,
    ]
    .into_iter()
    .map(|category| {
        let errors = findings
            .iter()
            .filter(|f| f.category == category && f.is_error())
            .count();
        let warnings = findings
            .iter()
            .filter(|f| f.category == category && !f.is_error())
            .count();
        CheckResult {
            category,
            result: if errors == 0 { "passed" } else { "failed" }.into(),
            warnings,
            errors,
        }
    })
    .collect()
}

/// The report of a rejected transfer: every problem at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferReport {
    /// `strongroom.transfer-report`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`DOCUMENT_VERSION`].
    pub format_version: u32,
    /// The transfer, when bag-info named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferId>,
    /// The package as given on the command line.
    pub package: String,
    /// RFC 3339 time of the check.
    pub checked_at: String,
    /// Who submitted it.
    pub submitted_by: String,
    /// `rejected`.
    pub decision: String,
    /// Per-property summary.
    pub checks: Vec<CheckResult>,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
}

/// The transfer record of an accepted transfer (`transfers/<agency>/<id>.json`): written once
/// its ledger batch is durable, it restates the batch and keeps the signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    /// `strongroom.transfer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`DOCUMENT_VERSION`].
    pub format_version: u32,
    /// The transfer.
    pub transfer: TransferId,
    /// Same as the receipt's.
    pub payload_fingerprint: String,
    /// Records, with where they are stored.
    pub records: Vec<StoredRecord>,
    /// The signed receipt (signed-note text), returned again on resubmission.
    pub receipt: String,
    /// Index of the `transfer.accepted` entry.
    pub ledger_index: u64,
    /// Tree size of the checkpoint that first includes the transfer's entries.
    pub tree_size: u64,
}

/// Where one record of a transfer is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// 档号.
    pub reference_code: String,
    /// 题名.
    pub title: String,
    /// OCFL object id.
    pub object_id: String,
    /// Object root, relative to the store.
    pub object_root: String,
    /// Version written.
    pub version: String,
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {} ({n} B)", UNITS[u])
    }
}

impl Receipt {
    /// The printable form with the fields of a 移交接收登记表 (transfer-and-receipt register).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let t = &self.transfer;
        let _ = writeln!(s, "档案移交接收登记表 / Transfer and receipt register");
        let _ = writeln!(s, "接收凭证 Receipt of archive {}", self.archive);
        let _ = writeln!(
            s,
            "移交单位 Agency:            {} ({})",
            t.source_organization, t.agency_code
        );
        let _ = writeln!(s, "全宗号 Fonds:               {}", t.fonds_code);
        let _ = writeln!(s, "移交批次 Transfer id:       {}", t.external_identifier);
        let _ = writeln!(s, "接收时间 Accepted at:       {}", self.accepted_at);
        let _ = writeln!(s, "接收人 Accepted by:         {}", self.accepted_by);
        let _ = writeln!(
            s,
            "数量 Records / files:       {} 件 / {} files",
            self.totals.records, self.totals.files
        );
        let _ = writeln!(
            s,
            "数据量 Bytes:               {}",
            human_bytes(self.totals.bytes)
        );
        let _ = writeln!(
            s,
            "载体指纹 Payload fingerprint: {}",
            self.payload_fingerprint
        );
        let _ = writeln!(s, "检测结果 Checks (DA/T 70):");
        for c in &self.checks {
            let _ = writeln!(
                s,
                "  {:<28} {} ({} warnings)",
                c.category.to_string(),
                c.result,
                c.warnings
            );
        }
        let _ = writeln!(
            s,
            "账本 Ledger:                {} entries {}..{}, checkpoint size {}",
            self.ledger.origin,
            self.ledger.transfer_index,
            self.ledger.transfer_index + self.records.len() as u64,
            self.ledger.tree_size
        );
        let _ = writeln!(s, "档案清单 Records:");
        for r in &self.records {
            let _ = writeln!(
                s,
                "  {}  {}  [{} {}, ledger #{}]",
                r.reference_code, r.title, r.object_id, r.version, r.ledger_index
            );
            let _ = writeln!(s, "    record.json  sha256 {}", r.record_json.sha256);
            for f in &r.files {
                let _ = writeln!(
                    s,
                    "    {}  {} B  sha256 {}",
                    f.path, f.digests.size, f.digests.sha256
                );
                let _ = writeln!(s, "      sha512 {}", f.digests.sha512);
            }
        }
        s
    }
}

impl TransferReport {
    /// The printable form: one line per finding, grouped by DA/T 70 property.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "移交检测报告 Transfer REJECTED: {}", self.package);
        if let Some(t) = &self.transfer {
            let _ = writeln!(
                s,
                "  agency {} ({}), transfer id {}",
                t.source_organization, t.agency_code, t.external_identifier
            );
        }
        let errors = self.findings.iter().filter(|f| f.is_error()).count();
        let _ = writeln!(
            s,
            "  {} problem(s), {} warning(s); nothing was stored. Correct all of them and resubmit.",
            errors,
            self.findings.len() - errors
        );
        for c in &self.checks {
            let _ = writeln!(
                s,
                "  {:<28} {} ({} errors, {} warnings)",
                c.category.to_string(),
                c.result,
                c.errors,
                c.warnings
            );
        }
        for f in &self.findings {
            let _ = writeln!(s, "- {f}");
        }
        s
    }
}
