//! The retention state in the store: holds, named events (起算事件), disposition batches,
//! their approvals and certificates, and the tombstones of destroyed records, as documents under `retention/`.
//!
//! A document counts only when the ledger entry at its `ledger_index` carries its `change`
//! id (and, where the entry names one, its `document_sha256`): anything else was left by a
//! change that crashed before its entry, or was altered afterwards, and is ignored (listed).
//! Every change runs in [`change`]: writer lock, recovery, documents create-only, sync, one
//! ledger entry (the commit point).

use std::collections::BTreeMap;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::RetentionError;
use crate::ledger::entry::Entry;
use crate::sign::ArchiveKey;
use crate::store::{self, Store};

/// The prefix of every retention document in the store.
pub const RETENTION_PREFIX: &str = "retention";

/// Version of the retention documents this code writes.
pub const RETENTION_FORMAT_VERSION: u32 = 1;

/// A hold as placed (`retention/holds/<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldDoc {
    /// `strongroom.hold`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`RETENTION_FORMAT_VERSION`].
    pub format_version: u32,
    /// The change that placed it (its ledger entry carries the same id).
    pub change: String,
    /// Index of that entry.
    pub ledger_index: u64,
    /// `H1`, `H2`, …
    pub hold: String,
    /// 档号 of the records held.
    pub reference_codes: Vec<String>,
    /// Why.
    pub reason: String,
    /// Who ordered it.
    pub authority: String,
    /// Who placed it.
    pub placed_by: String,
    /// When (RFC 3339 UTC).
    pub placed_at: String,
}

/// A named event recorded for records (`retention/events/<E>.json`), e.g. the end of a
/// licence's validity or a case closed on appeal: a rule with `trigger = "event"` counts its
/// period from the day after it (起算事件).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDoc {
    /// `strongroom.retention.event`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`RETENTION_FORMAT_VERSION`].
    pub format_version: u32,
    /// The change that recorded it (its ledger entry carries the same id).
    pub change: String,
    /// Index of that entry.
    pub ledger_index: u64,
    /// `E1`, `E2`, …
    pub event: String,
    /// The event's name, as a schedule's rule names it (`event = "…"`).
    pub name: String,
    /// The day it happened (YYYY-MM-DD, China Standard Time).
    pub date: String,
    /// 档号 of the records it concerns.
    pub reference_codes: Vec<String>,
    /// What happened, and on whose word.
    pub reason: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When (RFC 3339 UTC).
    pub recorded_at: String,
}

/// One approval: of a hold's lifting, or of a disposition batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDoc {
    /// `strongroom.hold.lift` or `strongroom.disposition.approval`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`RETENTION_FORMAT_VERSION`].
    pub format_version: u32,
    /// The change (its ledger entry carries the same id).
    pub change: String,
    /// Index of that entry.
    pub ledger_index: u64,
    /// The hold id, or the batch number as text.
    pub subject: String,
    /// 1 or 2.
    pub approval: u32,
    /// The archivist.
    pub by: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Why (for lifting a hold).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One line of a disposition batch (销毁清册), as judged when proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueItem {
    /// 序号.
    pub seq: u64,
    /// 题名.
    pub title: String,
    /// 年度.
    pub year: i64,
    /// 档号.
    pub reference_code: String,
    /// OCFL object id.
    pub object_id: String,
    /// 应保管期限: the effective retention code.
    pub retention: String,
    /// 已保管期限: whole years kept as of the date.
    pub kept_years: u32,
    /// 页数/文件数: the record's files (main and attachments).
    pub files: u64,
    /// 备注: the rule, the due date and any flags.
    pub remarks: String,
    /// The rule that applied.
    pub rule: String,
    /// `destroy`, `transfer` or `review`.
    pub action: String,
    /// The day the period ran out.
    pub due_on: String,
    /// Problems and notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// A disposition batch as proposed (`retention/batches/<n>/proposal.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDoc {
    /// `strongroom.disposition.batch`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`RETENTION_FORMAT_VERSION`].
    pub format_version: u32,
    /// The change.
    pub change: String,
    /// Index of its `disposition.proposed` entry.
    pub ledger_index: u64,
    /// Batch number (1, 2, …).
    pub batch: u64,
    /// `destroy` or `transfer`.
    pub action: String,
    /// The date judged as of.
    pub as_of: String,
    /// `sha256:` of the policy (kept at `retention/policies/<hex>.toml`).
    pub policy_sha256: String,
    /// The policy's name.
    pub policy_name: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// When.
    pub proposed_at: String,
    /// The 销毁清册.
    pub items: Vec<DueItem>,
}

/// What stays of a destroyed record (`retention/destroyed/<sha256 of object id>.json`): it
/// restates its `record.destroyed` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// `strongroom.tombstone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`RETENTION_FORMAT_VERSION`].
    pub format_version: u32,
    /// The destruction write's change id.
    pub change: String,
    /// Index of its `record.destroyed` entry.
    pub ledger_index: u64,
    /// 档号.
    pub reference_code: String,
    /// 题名.
    pub title: String,
    /// OCFL object id.
    pub object_id: String,
    /// Its last version.
    pub version: String,
    /// sha512 of its last root inventory.json.
    pub inventory_sha512: String,
    /// Batch number.
    pub batch: u64,
    /// Rule applied.
    pub rule: String,
    /// Policy applied.
    pub policy_sha256: String,
    /// Approvers.
    pub approvers: Vec<String>,
    /// Witnesses (监销人).
    pub witnesses: Vec<String>,
    /// Who executed.
    pub destroyed_by: String,
    /// When (RFC 3339 UTC).
    pub destroyed_at: String,
    /// The date in China Standard Time.
    pub destroyed_on: String,
    /// `destroyed`, or `transferred` (out to another archive).
    #[serde(default = "destroyed")]
    pub disposition: String,
    /// For a transfer out: `sha256:` of the receiving archive's signed receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_sha256: Option<String>,
}

fn destroyed() -> String {
    "destroyed".into()
}

/// The ledger entry types that remove a record's object: destruction and transfer out.
pub const REMOVAL_EVENTS: [&str; 2] = ["record.destroyed", "record.transferred"];

/// A batch's certificate as kept (`retention/batches/<n>/certificate.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateDoc {
    /// `strongroom.destruction.certificate.kept`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`RETENTION_FORMAT_VERSION`].
    pub format_version: u32,
    /// The change.
    pub change: String,
    /// Index of its `disposition.certified` entry.
    pub ledger_index: u64,
    /// Batch number.
    pub batch: u64,
    /// The certificate.
    pub certificate: serde_json::Value,
    /// The certificate signed by the archive (C2SP signed note).
    pub signed: String,
    /// The printable form.
    pub text: String,
}

/// A hold and its lifting approvals.
#[derive(Debug, Clone, Serialize)]
pub struct Hold {
    /// As placed.
    #[serde(flatten)]
    pub doc: HoldDoc,
    /// Approvals to lift it.
    pub lift_approvals: Vec<ApprovalDoc>,
}

impl Hold {
    /// Whether it still holds: lifting needs two approvals by distinct archivists.
    pub fn active(&self) -> bool {
        distinct(&self.lift_approvals) < 2
    }
}

/// A batch, its approvals and its certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// As proposed.
    #[serde(flatten)]
    pub doc: BatchDoc,
    /// Approvals.
    pub approvals: Vec<ApprovalDoc>,
    /// The certificate, once executed.
    pub certificate: Option<CertificateDoc>,
}

impl Batch {
    /// Distinct approvers, in order.
    pub fn approvers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.approvals {
            if !out.contains(&a.by) {
                out.push(a.by.clone());
            }
        }
        out
    }

    /// `proposed`, `approved` (two distinct approvals), or `executed`.
    pub fn status(&self) -> &'static str {
        if self.certificate.is_some() {
            "executed"
        } else if self.approvers().len() >= 2 {
            "approved"
        } else {
            "proposed"
        }
    }
}

fn distinct(approvals: &[ApprovalDoc]) -> usize {
    let mut by: Vec<&str> = approvals.iter().map(|a| a.by.as_str()).collect();
    by.sort_unstable();
    by.dedup();
    by.len()
}

/// A document not counted, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Ignored {
    /// Its path.
    pub path: String,
    /// Why it does not count.
    pub reason: String,
}

/// Everything committed under `retention/`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionState {
    /// Every hold placed, lifted or not.
    pub holds: Vec<Hold>,
    /// Batches by number.
    pub batches: BTreeMap<u64, Batch>,
    /// Tombstones by object id.
    pub tombstones: BTreeMap<String, Tombstone>,
    /// Named events recorded, in ledger order.
    pub events: Vec<EventDoc>,
    /// Documents that do not count.
    pub ignored: Vec<Ignored>,
}

#[derive(Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: String,
    change: String,
    ledger_index: u64,
}

/// `sha256:` of bytes.
pub fn sha256_tag(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::digest::sha256_hex(bytes))
}

/// Where a hold is kept.
pub fn hold_path(hold: &str) -> Path {
    store::path_of([RETENTION_PREFIX, "holds", &format!("{hold}.json")])
}

/// Where a recorded named event is kept.
pub fn event_path(event: &str) -> Path {
    store::path_of([RETENTION_PREFIX, "events", &format!("{event}.json")])
}

/// Where a hold's lifting approval is kept.
pub fn hold_lift_path(hold: &str, approval: u32) -> Path {
    store::path_of([
        RETENTION_PREFIX,
        "holds",
        &format!("{hold}.lift-{approval}.json"),
    ])
}

/// Where a batch document is kept (`proposal.json`, `approval-1.json`, `certificate.json`).
pub fn batch_path(batch: u64, name: &str) -> Path {
    store::path_of([RETENTION_PREFIX, "batches", &batch.to_string(), name])
}

/// Where a destroyed record's tombstone is kept.
pub fn tombstone_path(object_id: &str) -> Path {
    store::path_of([
        RETENTION_PREFIX,
        "destroyed",
        &format!("{}.json", crate::digest::sha256_hex(object_id.as_bytes())),
    ])
}

/// Where a policy applied by a batch is kept.
pub fn policy_path(sha256: &str) -> Path {
    let hex = sha256.strip_prefix("sha256:").unwrap_or(sha256);
    store::path_of([RETENTION_PREFIX, "policies", &format!("{hex}.toml")])
}

impl RetentionState {
    /// Reads every committed document under `retention/`.
    pub async fn load(store: &Store) -> Result<RetentionState, RetentionError> {
        let mut st = RetentionState::default();
        let mut paths = store.list_paths(&Path::from(RETENTION_PREFIX)).await?;
        paths.sort();
        if paths.is_empty() {
            return Ok(st);
        }
        let size = store.ledger_size().await?;
        let ledger = crate::ledger::commit::open(store).await?;
        let mut entries: BTreeMap<u64, Option<Entry>> = BTreeMap::new();
        let mut lifts = Vec::new();
        let mut approvals = Vec::new();
        let mut certificates = Vec::new();
        for path in paths {
            let p = path.to_string();
            if !p.ends_with(".json") {
                continue;
            }
            let Some(bytes) = store.get_bytes(&path).await? else {
                continue;
            };
            let mut ignore = |reason: &str| {
                st.ignored.push(Ignored {
                    path: p.clone(),
                    reason: reason.to_string(),
                })
            };
            let Ok(h) = serde_json::from_slice::<Header>(&bytes) else {
                ignore("not a retention document");
                continue;
            };
            if h.ledger_index >= size {
                ignore("its ledger entry was never written (a change that did not finish)");
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(v) = entries.entry(h.ledger_index) {
                let e = ledger.entry(h.ledger_index).await?;
                v.insert(Entry::decode(&e).ok());
            }
            let entry = entries.get(&h.ledger_index).and_then(Option::as_ref);
            let Some(entry) = entry.filter(|e| e.field_str("change") == Some(h.change.as_str()))
            else {
                ignore("the ledger entry at its index is another change (one that did not finish)");
                continue;
            };
            if entry
                .field_str("document_sha256")
                .is_some_and(|d| d != sha256_tag(&bytes))
            {
                ignore("changed since it was recorded: its digest is not the one in its entry");
                continue;
            }
            let parsed = match h.kind.as_str() {
                "strongroom.hold" => serde_json::from_slice::<HoldDoc>(&bytes)
                    .map(|doc| {
                        st.holds.push(Hold {
                            doc,
                            lift_approvals: Vec::new(),
                        })
                    })
                    .is_ok(),
                "strongroom.retention.event" => serde_json::from_slice::<EventDoc>(&bytes)
                    .map(|doc| st.events.push(doc))
                    .is_ok(),
                "strongroom.hold.lift" => serde_json::from_slice::<ApprovalDoc>(&bytes)
                    .map(|a| lifts.push(a))
                    .is_ok(),
                "strongroom.disposition.batch" => serde_json::from_slice::<BatchDoc>(&bytes)
                    .map(|doc| {
                        st.batches.insert(
                            doc.batch,
                            Batch {
                                doc,
                                approvals: Vec::new(),
                                certificate: None,
                            },
                        );
                    })
                    .is_ok(),
                "strongroom.disposition.approval" => serde_json::from_slice::<ApprovalDoc>(&bytes)
                    .map(|a| approvals.push(a))
                    .is_ok(),
                "strongroom.destruction.certificate.kept" => {
                    serde_json::from_slice::<CertificateDoc>(&bytes)
                        .map(|c| certificates.push(c))
                        .is_ok()
                }
                // The receiving archive's receipt, kept with a transfer batch.
                "strongroom.transfer.out.receipt" => entry.kind == "record.transferred",
                "strongroom.tombstone" => serde_json::from_slice::<Tombstone>(&bytes)
                    .ok()
                    .filter(|t| {
                        REMOVAL_EVENTS.contains(&entry.kind.as_str())
                            && entry.field_str("object_id") == Some(t.object_id.as_str())
                    })
                    .map(|t| {
                        st.tombstones.insert(t.object_id.clone(), t);
                    })
                    .is_some(),
                _ => false,
            };
            if !parsed {
                ignore("not a retention document of a known type, or not its entry's subject");
            }
        }
        for a in lifts {
            if let Some(h) = st.holds.iter_mut().find(|h| h.doc.hold == a.subject) {
                h.lift_approvals.push(a);
            }
        }
        for a in approvals {
            if let Some(b) = a
                .subject
                .parse::<u64>()
                .ok()
                .and_then(|n| st.batches.get_mut(&n))
            {
                b.approvals.push(a);
            }
        }
        for c in certificates {
            if let Some(b) = st.batches.get_mut(&c.batch) {
                b.certificate = Some(c);
            }
        }
        for b in st.batches.values_mut() {
            b.approvals.sort_by_key(|a| a.ledger_index);
        }
        for h in &mut st.holds {
            h.lift_approvals.sort_by_key(|a| a.ledger_index);
        }
        st.holds.sort_by_key(|h| h.doc.ledger_index);
        st.events.sort_by_key(|e| e.ledger_index);
        Ok(st)
    }

    /// The active holds on a record.
    pub fn holds_on(&self, reference_code: &str) -> Vec<&Hold> {
        self.holds
            .iter()
            .filter(|h| h.active() && h.doc.reference_codes.iter().any(|r| r == reference_code))
            .collect()
    }

    /// Every named event recorded for a record, in the order recorded.
    pub fn events_naming(&self, reference_code: &str) -> Vec<&EventDoc> {
        self.events
            .iter()
            .filter(|e| e.reference_codes.iter().any(|r| r == reference_code))
            .collect()
    }

    /// The date of each named event recorded for a record, as the schedule counts it: when
    /// one name was recorded more than once (a correction), the latest recording counts.
    pub fn event_dates(&self, reference_code: &str) -> BTreeMap<String, chrono::NaiveDate> {
        let mut out = BTreeMap::new();
        for e in self.events_naming(reference_code) {
            if let Ok(d) = chrono::NaiveDate::parse_from_str(&e.date, "%Y-%m-%d") {
                out.insert(e.name.clone(), d);
            }
        }
        out
    }

    /// Every hold that ever named a record (placed or lifted).
    pub fn holds_naming(&self, reference_code: &str) -> Vec<&Hold> {
        self.holds
            .iter()
            .filter(|h| h.doc.reference_codes.iter().any(|r| r == reference_code))
            .collect()
    }
}

/// What one change wrote.
pub type Applied = crate::ledger::commit::DocumentChange;

/// A change's documents, content-addressed blobs, and the one entry that commits them.
pub type Plan = crate::ledger::commit::DocumentPlan;

/// The frame of every retention change (`ledger::commit::commit_documents`) over the
/// committed retention state. `build` gets the state, the index the entry will take and the
/// change id.
pub async fn change<F>(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    build: F,
) -> Result<Applied, RetentionError>
where
    F: FnOnce(&RetentionState, u64, &str) -> Result<Plan, RetentionError>,
{
    crate::ledger::commit::commit_documents(
        store,
        key,
        actor,
        "retention",
        |s| Box::pin(RetentionState::load(s)),
        build,
    )
    .await
}

/// The tombstone of a destroyed (or transferred) record, when it has one that its
/// `record.destroyed` (`record.transferred`) entry commits.
pub async fn tombstone(
    store: &Store,
    object_id: &str,
) -> Result<Option<Tombstone>, crate::ledger::log::LedgerError> {
    let path = tombstone_path(object_id);
    let Some(bytes) = store.get_bytes(&path).await? else {
        return Ok(None);
    };
    let Ok(t) = serde_json::from_slice::<Tombstone>(&bytes) else {
        return Ok(None);
    };
    if t.ledger_index >= store.ledger_size().await? || t.object_id != object_id {
        return Ok(None);
    }
    let ledger = crate::ledger::commit::open(store).await?;
    let entry = ledger.entry(t.ledger_index).await?;
    let committed = Entry::decode(&entry).is_ok_and(|e| {
        REMOVAL_EVENTS.contains(&e.kind.as_str())
            && e.field_str("object_id") == Some(object_id)
            && e.field_str("change") == Some(t.change.as_str())
    });
    Ok(committed.then_some(t))
}
