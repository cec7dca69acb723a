//! The transfer-level checks that need the whole package: profile, records against their
//! files, item-number series, and the archive's existing holdings.
//!
//! Each function returns findings; none stops at the first problem.

use std::collections::{BTreeMap, BTreeSet};

use crate::bagit::Bag;
use crate::digest::Algorithm;
use crate::findings::{Category, Finding};
use crate::formats::{self, Identification, Registry};
use crate::record::{self, FileRole, RecordMetadata};
use crate::refcode::{RefCode, SeriesKey};
use crate::seals::registry::Registry as SealRegistry;
use crate::seals::verdict::{AlgorithmPolicy, SealVerdict};
use crate::store::{Store, StoreError};

use super::receipt::{check_results, FileDigests, TransferId};
use super::{object_id, object_root, EvidenceFile, EvidenceFormat, IntakeEvidence};

/// bag-info.txt fields the transfer profile requires (`formats/transfer-package.md`).
pub const REQUIRED_INFO: [&str; 5] = [
    "Source-Organization",
    "Agency-Code",
    "Fonds-Code",
    "External-Identifier",
    "Payload-Oxum",
];

/// A record that passed its checks, ready to store.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// The record's folder under `data/`.
    pub folder: String,
    /// Parsed record.json.
    pub metadata: RecordMetadata,
    /// record.json's path in the bag.
    pub record_json_path: String,
    /// record.json's digests.
    pub record_json: FileDigests,
    /// The record's files in record.json order.
    pub files: Vec<PlannedFile>,
}

/// One file of a record.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Path inside the record folder.
    pub path: String,
    /// Path inside the bag.
    pub bag_path: String,
    /// Computed digests.
    pub digests: FileDigests,
    /// Declared digests by algorithm.
    pub declared: BTreeMap<Algorithm, String>,
    /// Its role.
    pub role: FileRole,
    /// Identified format (main and attachment files).
    pub format: Option<Identification>,
    /// For a `seal` file: the verdict on it, over the file it seals.
    pub seal: Option<SealVerdict>,
    /// For a PDF that carries embedded signatures: their verdicts.
    pub pdf_signatures: Option<crate::seals::pdf::PdfSeals>,
}

/// What seals are checked against: the registry as committed when the transfer is checked,
/// the transfer's agency, the algorithm policy and the time a seal without a signing time is
/// judged at (the intake time).
#[derive(Debug, Clone)]
pub struct SealContext {
    /// The seal registry.
    pub registry: SealRegistry,
    /// `Agency-Code` of the transfer (None when bag-info lacks it: reported elsewhere).
    pub agency: Option<String>,
    /// Allowed algorithms and key sizes.
    pub policy: AlgorithmPolicy,
    /// Whether every record must carry a seal (the agency's policy).
    pub require_seals: bool,
    /// The intake time.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Profile checks on bag-info and manifests; returns the transfer id when complete.
pub fn profile(bag: &Bag) -> (Option<TransferId>, Vec<Finding>) {
    let mut out = Vec::new();
    for field in REQUIRED_INFO {
        match bag.info_value(field) {
            Some(v) if !v.trim().is_empty() => {}
            _ => out.push(
                Finding::error(
                    "PROFILE_INFO_MISSING",
                    Category::Integrity,
                    format!("bag-info.txt must give {field}"),
                )
                .file("bag-info.txt"),
            ),
        }
    }
    if !bag
        .manifest_algorithms
        .iter()
        .any(|a| a.is_transfer_manifest())
    {
        out.push(
            Finding::error(
                "PROFILE_WEAK_MANIFEST",
                Category::Authenticity,
                "the payload needs a sha256, sha512 or sm3 manifest; md5 and sha1 cannot prove \
                 a file unchanged for decades, and other algorithms are not kept as evidence",
            )
            .expected_found(
                "manifest-sha256.txt, manifest-sha512.txt or manifest-sm3.txt",
                bag.manifest_algorithms
                    .iter()
                    .map(|a| format!("manifest-{a}.txt"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        );
    }
    if bag.has_fetch {
        out.push(
            Finding::error(
                "PROFILE_FETCH",
                Category::Integrity,
                "fetch.txt is not accepted: every file must be in the package itself",
            )
            .file("fetch.txt"),
        );
    }
    let get = |k: &str| bag.info_value(k).map(|v| v.trim().to_string());
    let id = match (
        get("Agency-Code"),
        get("External-Identifier"),
        get("Source-Organization"),
        get("Fonds-Code"),
    ) {
        (Some(a), Some(e), Some(s), Some(f))
            if !a.is_empty() && !e.is_empty() && !s.is_empty() && !f.is_empty() =>
        {
            Some(TransferId {
                agency_code: a,
                external_identifier: e,
                source_organization: s,
                fonds_code: f,
            })
        }
        _ => None,
    };
    (id, out)
}

/// `sha512:` over the sorted `path\tsha512` lines of the payload: equal for the same bag
/// whether it came as a folder, a tar or a zip.
pub fn payload_fingerprint(bag: &Bag) -> String {
    let mut lines: Vec<String> = bag
        .payload
        .iter()
        .map(|f| {
            format!(
                "{}\t{}\n",
                f.path,
                f.computed
                    .get(&Algorithm::Sha512)
                    .map(String::as_str)
                    .unwrap_or("")
            )
        })
        .collect();
    lines.sort();
    let mut h = crate::digest::Hasher::new(Algorithm::Sha512);
    for l in &lines {
        h.update(l.as_bytes());
    }
    format!("sha512:{}", h.finish())
}

fn digests_of(f: &crate::bagit::PayloadFile) -> FileDigests {
    FileDigests {
        size: f.size,
        sha256: f
            .computed
            .get(&Algorithm::Sha256)
            .cloned()
            .unwrap_or_default(),
        sha512: f
            .computed
            .get(&Algorithm::Sha512)
            .cloned()
            .unwrap_or_default(),
    }
}

/// Checks every record folder against its record.json and its files.
pub fn records(
    bag: &Bag,
    fonds_code: Option<&str>,
    seals: &SealContext,
) -> (Vec<RecordPlan>, Vec<Finding>) {
    let registry = Registry::builtin();
    let mut out = Vec::new();
    // folder → (path in folder → payload file)
    let mut folders: BTreeMap<String, BTreeMap<String, &crate::bagit::PayloadFile>> =
        BTreeMap::new();
    for f in &bag.payload {
        let rel = f.path.strip_prefix("data/").unwrap_or(&f.path);
        match rel.split_once('/') {
            Some((folder, inner)) => {
                folders
                    .entry(folder.to_string())
                    .or_default()
                    .insert(inner.to_string(), f);
            }
            None => out.push(
                Finding::error(
                    "PACKAGE_LOOSE_FILE",
                    Category::Integrity,
                    "files must be inside a record folder under data/, next to its record.json",
                )
                .file(f.path.clone()),
            ),
        }
    }
    if folders.is_empty() {
        out.push(Finding::error(
            "PACKAGE_NO_RECORDS",
            Category::Integrity,
            "the package holds no record folder under data/",
        ));
    }
    let mut plans = Vec::new();
    for (folder, files) in &folders {
        let Some(rj) = files.get("record.json") else {
            out.push(
                Finding::error(
                    "RECORD_JSON_MISSING",
                    Category::Integrity,
                    "every record folder needs a record.json",
                )
                .record(folder.clone())
                .file(format!("data/{folder}/record.json")),
            );
            continue;
        };
        let rj_path = bag.root.join(&rj.path);
        let bytes = match std::fs::read(&rj_path) {
            Ok(b) => b,
            Err(e) => {
                out.push(
                    Finding::error(
                        "RECORD_JSON_UNREADABLE",
                        Category::Usability,
                        format!("cannot read record.json: {e}"),
                    )
                    .record(folder.clone())
                    .file(rj.path.clone()),
                );
                continue;
            }
        };
        let (meta, meta_findings) = record::check_record_json(&bytes, folder);
        out.extend(meta_findings);
        let Some(meta) = meta else { continue };
        let who = format!("{} ({folder})", meta.reference_code);
        if let Some(fc) = fonds_code {
            if meta.fonds != fc.trim() {
                out.push(
                    Finding::error(
                        "RECORD_FONDS_MISMATCH",
                        Category::Authenticity,
                        "the record's fonds (全宗号) differs from the package's Fonds-Code",
                    )
                    .record(who.clone())
                    .file(rj.path.clone())
                    .expected_found(fc.trim(), meta.fonds.clone()),
                );
            }
        }
        let declared: BTreeSet<&str> = meta.files.iter().map(|f| f.path.as_str()).collect();
        for inner in files.keys().filter(|k| k.as_str() != "record.json") {
            if !declared.contains(inner.as_str()) {
                out.push(
                    Finding::error(
                        "RECORD_FILE_UNDECLARED",
                        Category::Integrity,
                        "the file is in the record folder but not listed in record.json `files`",
                    )
                    .record(who.clone())
                    .file(format!("data/{folder}/{inner}")),
                );
            }
        }
        let mut planned = Vec::new();
        let mut ok = true;
        // A valid signature embedded in one of the record's PDFs is a seal too.
        let mut sealed_inside = false;
        let mut sorted = meta.files.clone();
        sorted.sort_by_key(|f| f.order);
        for rf in &sorted {
            let Some(pf) = files.get(&rf.path) else {
                out.push(
                    Finding::error(
                        "RECORD_FILE_MISSING",
                        Category::Integrity,
                        "record.json lists the file but the package does not hold it",
                    )
                    .record(who.clone())
                    .file(format!("data/{folder}/{}", rf.path)),
                );
                ok = false;
                continue;
            };
            let mut format = None;
            let mut seal = None;
            let mut pdf_signatures = None;
            if matches!(rf.role, FileRole::Main | FileRole::Attachment) {
                let abs = bag.root.join(&pf.path);
                let (identified, findings) = formats::assess(&registry, &abs, &pf.path, &who);
                out.extend(findings);
                if identified
                    .as_ref()
                    .is_some_and(|i| i.mime == "application/pdf")
                {
                    let (pdf, findings) = check_pdf_signatures(&abs, seals, &pf.path, &who);
                    out.extend(findings);
                    sealed_inside |= pdf.as_ref().is_some_and(|p| p.valid());
                    pdf_signatures = pdf;
                }
                format = identified;
            }
            if rf.role == FileRole::Seal {
                let (verdict, findings) = check_seal(bag, seals, files, &rf.path, &pf.path, &who);
                out.extend(findings);
                seal = verdict;
            }
            planned.push(PlannedFile {
                path: rf.path.clone(),
                bag_path: pf.path.clone(),
                digests: digests_of(pf),
                declared: pf.declared.clone(),
                role: rf.role,
                format,
                seal,
                pdf_signatures,
            });
        }
        let has_seal = sealed_inside || sorted.iter().any(|f| f.role == FileRole::Seal);
        if seals.require_seals && !has_seal {
            out.push(
                Finding::error(
                    "SEAL_REQUIRED",
                    Category::Authenticity,
                    "the archive's policy requires every record of this agency to carry a seal \
                     (a `seal` file X.p7s or X.jws beside the file X it seals, or a signed PDF); \
                     this one has none",
                )
                .record(who.clone())
                .file(rj.path.clone()),
            );
        }
        if ok {
            plans.push(RecordPlan {
                folder: folder.clone(),
                metadata: meta,
                record_json_path: rj.path.clone(),
                record_json: digests_of(rj),
                files: planned,
            });
        }
    }
    out.extend(series_within_transfer(&plans));
    (plans, out)
}

/// Verifies one `seal` file of a record over the file it seals (`X.p7s` or `X.jws` beside
/// `X`, in the same record) against the transfer agency's anchors. Every problem is an
/// authenticity finding on the seal file, in the verdict's words.
fn check_seal(
    bag: &Bag,
    seals: &SealContext,
    files: &BTreeMap<String, &crate::bagit::PayloadFile>,
    seal_path: &str,
    seal_bag_path: &str,
    who: &str,
) -> (Option<SealVerdict>, Vec<Finding>) {
    let at = |f: Finding| f.record(who.to_string()).file(seal_bag_path.to_string());
    let Some(target) = crate::seals::sealed_path(seal_path) else {
        return (
            None,
            vec![at(Finding::error(
                "SEAL_NAME",
                Category::Authenticity,
                "a seal file is named after the file it seals plus .p7s (CMS) or .jws (JWS), \
                 e.g. 正文.pdf.p7s",
            ))],
        );
    };
    let Some(sealed) = files.get(target) else {
        return (
            None,
            vec![at(Finding::error(
                "SEAL_TARGET_MISSING",
                Category::Authenticity,
                format!("the seal is for {target}, which this record does not hold"),
            ))],
        );
    };
    let Some(agency) = seals.agency.as_deref() else {
        return (None, Vec::new()); // bag-info lacks Agency-Code: PROFILE_INFO_MISSING says so
    };
    match crate::seals::verify_seal_file(
        &bag.root.join(&sealed.path),
        &bag.root.join(seal_bag_path),
        &seals.registry,
        agency,
        &seals.policy,
        seals.at,
    ) {
        Ok(v) => {
            let findings = v
                .problems
                .iter()
                .map(|p| {
                    at(Finding::error(
                        p.code.as_str(),
                        Category::Authenticity,
                        format!("seal over {target}: {}", p.message),
                    ))
                })
                .collect();
            (Some(v), findings)
        }
        Err(e) => (
            None,
            vec![at(Finding::error(
                "SEAL_UNREADABLE",
                Category::Authenticity,
                format!("cannot read the seal or the file it seals: {e}"),
            ))],
        ),
    }
}

/// Verifies the signatures embedded in a PDF of the record against the transfer agency's
/// anchors: None when it has none. Every problem, of a signature or of the document (changed
/// after its last signature), is an authenticity finding on the PDF.
fn check_pdf_signatures(
    abs: &std::path::Path,
    seals: &SealContext,
    bag_path: &str,
    who: &str,
) -> (Option<crate::seals::pdf::PdfSeals>, Vec<Finding>) {
    let at = |f: Finding| f.record(who.to_string()).file(bag_path.to_string());
    let Some(agency) = seals.agency.as_deref() else {
        return (None, Vec::new());
    };
    match crate::seals::verify_pdf_file(abs, &seals.registry, agency, &seals.policy, seals.at) {
        Ok(pdf) if pdf.signatures.is_empty() && pdf.problems.is_empty() => (None, Vec::new()),
        Ok(pdf) => {
            let mut findings: Vec<Finding> = pdf
                .problems
                .iter()
                .map(|p| {
                    at(Finding::error(
                        p.code.as_str(),
                        Category::Authenticity,
                        format!("this PDF's signatures: {}", p.message),
                    ))
                })
                .collect();
            for (n, s) in pdf.signatures.iter().enumerate() {
                let name = s
                    .field_name
                    .clone()
                    .unwrap_or_else(|| format!("signature {}", n + 1));
                findings.extend(s.verdict.problems.iter().map(|p| {
                    at(Finding::error(
                        p.code.as_str(),
                        Category::Authenticity,
                        format!("embedded signature {name}: {}", p.message),
                    ))
                }));
            }
            (Some(pdf), findings)
        }
        Err(e) => (
            None,
            vec![at(Finding::error(
                "SEAL_UNREADABLE",
                Category::Authenticity,
                format!("cannot read the PDF to check its signatures: {e}"),
            ))],
        ),
    }
}

fn series_of(m: &RecordMetadata) -> SeriesKey {
    SeriesKey {
        fonds: m.fonds.clone(),
        category: m.category.clone(),
        year: m.year,
        retention: m.retention.clone(),
        organization: m.organization.clone(),
    }
}

/// 档号 and item numbers must not repeat within one transfer.
fn series_within_transfer(plans: &[RecordPlan]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen_code: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen_item: BTreeMap<(SeriesKey, u32), &str> = BTreeMap::new();
    for p in plans {
        let code = p.metadata.reference_code.as_str();
        if let Some(first) = seen_code.insert(code, &p.folder) {
            out.push(
                Finding::error(
                    "REFCODE_DUPLICATE_IN_TRANSFER",
                    Category::Authenticity,
                    format!(
                        "档号 {code} is used by two records of this transfer (also folder {first})"
                    ),
                )
                .record(p.folder.clone()),
            );
            continue;
        }
        let key = (series_of(&p.metadata), p.metadata.item_number);
        if let Some(first) = seen_item.insert(key.clone(), &p.folder) {
            out.push(
                Finding::error(
                    "ITEM_NUMBER_REPEATED",
                    Category::Integrity,
                    format!(
                        "item number (件号) {} repeats in series {} (also folder {first})",
                        key.1, key.0
                    ),
                )
                .record(p.folder.clone()),
            );
        }
    }
    out
}

async fn archive_holds(store: &Store, ledger_size: u64, refcode: &str) -> Result<bool, StoreError> {
    let Ok(rc) = RefCode::parse(refcode) else {
        return Ok(false);
    };
    let oid = object_id(&rc);
    Ok(store
        .committed_inventory(&object_root(store, &oid), ledger_size)
        .await?
        .is_some())
}

/// Whether the record with this 档号 left the archive (destroyed or transferred out): its
/// number is accounted for, not a gap.
async fn disposed(store: &Store, refcode: &str) -> Result<bool, crate::ledger::log::LedgerError> {
    let Ok(rc) = RefCode::parse(refcode) else {
        return Ok(false);
    };
    Ok(crate::retention::state::tombstone(store, &object_id(&rc))
        .await?
        .is_some())
}

/// Checks each record's own retention against the schedule in force: a record whose class the
/// schedule gives another period (a rule's `period`) is flagged with a warning, never
/// refused, since the record's own retention decides (`retention-policies/README.md`).
pub fn against_schedule(
    plans: &[RecordPlan],
    policy: &crate::retention::Policy,
    agency: &str,
) -> Vec<Finding> {
    let today = crate::retention::policy::today_cst();
    let mut out = Vec::new();
    for p in plans {
        let Ok(metadata) = serde_json::to_value(&p.metadata) else {
            continue;
        };
        let facts = crate::retention::due::facts_of(&metadata, &p.metadata.reference_code, agency);
        let e = policy.evaluate(&facts, today);
        let Some(rule) = e.rule.as_deref() else {
            continue;
        };
        let Some(period) = policy
            .rules
            .iter()
            .find(|r| r.id == rule)
            .and_then(|r| r.period.clone())
            .filter(|p| *p != e.retention)
        else {
            continue;
        };
        let code = p.metadata.reference_code.as_str();
        out.push(
            Finding::warning(
                "RETENTION_PERIOD_DIFFERS",
                Category::Authenticity,
                format!(
                    "the retention schedule in force ({}) gives this record's class {period} \
                     (rule {rule}), the record has {}; its own retention decides, an archivist \
                     may re-appraise it",
                    policy.name, e.retention
                ),
            )
            .record(format!("{code} ({})", p.folder))
            .expected_found(period, e.retention.clone()),
        );
    }
    out
}

/// Checks against what the archive already holds: no 档号 twice, no gap in a series run
/// unless the archive holds the missing numbers (or held them: destroyed or transferred out).
///
/// A 档号 whose record was destroyed or transferred out keeps its tombstone: it is refused
/// too, since taking it in again would bring back, under the same 档号 and object id, a record
/// the ledger says is gone.
pub async fn against_archive(
    store: &Store,
    plans: &[RecordPlan],
) -> Result<Vec<Finding>, crate::ledger::log::LedgerError> {
    let mut out = Vec::new();
    let ledger_size = store.ledger_size().await?;
    let mut runs: BTreeMap<SeriesKey, BTreeSet<u32>> = BTreeMap::new();
    for p in plans {
        let code = p.metadata.reference_code.as_str();
        let oid = object_id(&p.metadata.reference_code);
        if let Some(t) = crate::retention::state::tombstone(store, &oid).await? {
            let how = if t.disposition == "transferred" {
                "transferred out (移交)"
            } else {
                "destroyed (销毁)"
            };
            out.push(
                Finding::error(
                    "REFCODE_DISPOSED",
                    Category::Authenticity,
                    format!(
                        "the record with 档号 {code} was {how} on {} by disposition batch {} \
                         (ledger entry {}); a 档号 that left the archive is never taken in again",
                        t.destroyed_on, t.batch, t.ledger_index
                    ),
                )
                .record(format!("{code} ({})", p.folder)),
            );
        } else if archive_holds(store, ledger_size, code).await? {
            out.push(
                Finding::error(
                    "REFCODE_EXISTS",
                    Category::Authenticity,
                    format!("the archive already holds a record with 档号 {code}"),
                )
                .record(format!("{code} ({})", p.folder)),
            );
        }
        runs.entry(series_of(&p.metadata))
            .or_default()
            .insert(p.metadata.item_number);
    }
    for (series, numbers) in runs {
        let (Some(&lo), Some(&hi)) = (numbers.first(), numbers.last()) else {
            continue;
        };
        let mut missing = Vec::new();
        for n in lo..hi {
            if !numbers.contains(&n)
                && !archive_holds(store, ledger_size, &series.refcode(n)).await?
                && !disposed(store, &series.refcode(n)).await?
            {
                missing.push(n);
            }
            if missing.len() > 100 {
                break;
            }
        }
        if !missing.is_empty() {
            out.push(
                Finding::error(
                    "ITEM_NUMBER_GAP",
                    Category::Integrity,
                    format!(
                        "item numbers (件号) of series {series} run from {lo:04} to {hi:04} but \
                         neither this transfer nor the archive holds {}",
                        missing
                            .iter()
                            .map(|n| format!("{n:04}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .expected_found(
                    format!("every number from {lo:04} to {hi:04}"),
                    format!("{} missing", missing.len()),
                ),
            );
        }
    }
    Ok(out)
}

/// Builds the intake evidence for one record.
pub fn evidence(
    bag: &Bag,
    transfer: &TransferId,
    plan: &RecordPlan,
    findings: &[Finding],
    when: &str,
    who: &str,
) -> IntakeEvidence {
    let names = |m: &BTreeMap<Algorithm, String>| {
        m.iter()
            .map(|(a, d)| (a.name().to_string(), d.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let computed = |d: &FileDigests| {
        BTreeMap::from([
            ("sha256".to_string(), d.sha256.clone()),
            ("sha512".to_string(), d.sha512.clone()),
        ])
    };
    let declared_rj = bag
        .payload
        .iter()
        .find(|f| f.path == plan.record_json_path)
        .map(|f| names(&f.declared))
        .unwrap_or_default();
    let mut files = vec![EvidenceFile {
        path: "record.json".into(),
        role: "metadata".into(),
        size: plan.record_json.size,
        declared: declared_rj,
        computed: computed(&plan.record_json),
        format: None,
        seal: None,
        pdf_signatures: None,
    }];
    for f in &plan.files {
        files.push(EvidenceFile {
            path: f.path.clone(),
            role: serde_json::to_value(f.role)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            size: f.digests.size,
            declared: names(&f.declared),
            computed: computed(&f.digests),
            format: f.format.as_ref().map(|i| EvidenceFormat {
                id: i.format_id.clone(),
                name: i.name.clone(),
                mime: i.mime.clone(),
                detail: i.detail.clone(),
            }),
            seal: f.seal.clone(),
            pdf_signatures: f.pdf_signatures.clone(),
        });
    }
    let code = plan.metadata.reference_code.as_str();
    let warnings = findings
        .iter()
        .filter(|f| {
            !f.is_error()
                && f.record
                    .as_deref()
                    .map(|r| r.contains(code) || r == plan.folder)
                    .unwrap_or(true)
        })
        .cloned()
        .collect();
    IntakeEvidence {
        kind: "strongroom.intake-evidence".into(),
        format_version: super::receipt::DOCUMENT_VERSION,
        transfer: transfer.clone(),
        received_at: when.to_string(),
        received_by: who.to_string(),
        bag_info: bag.info.clone(),
        package_folder: format!("data/{}", plan.folder),
        files,
        checks: check_results(findings),
        warnings,
    }
}
