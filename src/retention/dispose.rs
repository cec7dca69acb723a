//! Disposition (处置): a batch (the 销毁清册) proposed from the due list, approved by two
//! distinct archivists, executed before two witnesses: holds and due dates re-checked on the
//! day it runs, each record's OCFL object removed with a `record.destroyed` entry, and a
//! destruction certificate signed by the archive, kept in the store and in the ledger.
//!
//! Crash safety: destruction goes through `Store::remove_objects` (the entries are the
//! commit point; recovery finishes a committed removal), and the certificate is a separate
//! change after it, so executing a half-done batch again destroys what is left and issues
//! the certificate.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::due::{all_records, due_list};
use super::policy::{Action, Policy};
use super::state::{
    batch_path, change, policy_path, sha256_tag, tombstone_path, Applied, ApprovalDoc, BatchDoc,
    CertificateDoc, Plan, RetentionState, Tombstone, RETENTION_FORMAT_VERSION,
};
use super::RetentionError;
use crate::ledger::commit::{encode_all, LedgerBatch};
use crate::ledger::entry::{Entry, Event};
use crate::sign::{ArchiveKey, Verifier};
use crate::store::{self, CommitPlan, Store};

/// Proposes a disposition batch for `action` from the due list as of `as_of`. Records already
/// in a batch not yet executed are left out.
pub async fn propose(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    policy: &Policy,
    as_of: NaiveDate,
    action: Action,
) -> Result<(Applied, BatchDoc), RetentionError> {
    if action == Action::Review {
        return Err(RetentionError::Usage(
            "a disposition batch destroys or transfers: --action destroy or transfer (review is \
             done with `retention extend`)"
                .into(),
        ));
    }
    let list = due_list(store, policy, as_of, Some(action)).await?;
    let mut proposed = None;
    let applied = change(store, key, actor, |state, index, change_id| {
        let pending: Vec<&str> = state
            .batches
            .values()
            .filter(|b| b.certificate.is_none())
            .flat_map(|b| b.doc.items.iter().map(|i| i.reference_code.as_str()))
            .collect();
        let mut items: Vec<_> = list
            .items
            .iter()
            .filter(|i| !pending.contains(&i.reference_code.as_str()))
            .filter(|i| state.holds_on(&i.reference_code).is_empty())
            .cloned()
            .collect();
        if items.is_empty() {
            return Err(RetentionError::Refused(format!(
                "nothing is due for {} as of {as_of} that is not held or already in a batch",
                action.as_str()
            )));
        }
        for (n, i) in items.iter_mut().enumerate() {
            i.seq = n as u64 + 1;
        }
        let batch = state.batches.keys().max().copied().unwrap_or(0) + 1;
        let doc = BatchDoc {
            kind: "strongroom.disposition.batch".into(),
            format_version: RETENTION_FORMAT_VERSION,
            change: change_id.to_string(),
            ledger_index: index,
            batch,
            action: action.as_str().into(),
            as_of: as_of.to_string(),
            policy_sha256: policy.sha256.clone(),
            policy_name: policy.name.clone(),
            proposed_by: actor.to_string(),
            proposed_at: store::now_rfc3339(),
            items,
        };
        let bytes = store::pretty(&doc);
        let event = Event::DispositionProposed {
            batch,
            action: doc.action.clone(),
            as_of: doc.as_of.clone(),
            policy_sha256: doc.policy_sha256.clone(),
            records: doc.items.len() as u64,
            change: change_id.to_string(),
            document_sha256: sha256_tag(&bytes),
        };
        proposed = Some(doc);
        Ok(Plan {
            docs: vec![(batch_path(batch, "proposal.json"), bytes)],
            blobs: vec![(
                policy_path(&policy.sha256),
                bytes::Bytes::from(policy.text.clone()),
            )],
            event,
        })
    })
    .await?;
    let doc = proposed.ok_or_else(|| RetentionError::Refused("no batch proposed".into()))?;
    Ok((applied, doc))
}

/// What an approval did.
#[derive(Debug, Clone, Serialize)]
pub struct Approved {
    /// Batch number.
    pub batch: u64,
    /// This approval (1 or 2).
    pub approval: u32,
    /// Everyone who approved it so far.
    pub approvers: Vec<String>,
    /// The change.
    pub applied: Applied,
}

/// Approves a batch. Two distinct archivists must approve; the same person twice is refused.
pub async fn approve(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    batch: u64,
) -> Result<Approved, RetentionError> {
    let mut approval = 0;
    let mut approvers = Vec::new();
    let applied = change(store, key, actor, |state, index, change_id| {
        let b = state
            .batches
            .get(&batch)
            .ok_or(RetentionError::NoSuchBatch(batch))?;
        if b.certificate.is_some() {
            return Err(RetentionError::Refused(format!(
                "batch {batch} was already executed"
            )));
        }
        approvers = b.approvers();
        if approvers.iter().any(|a| a == actor) {
            return Err(RetentionError::Refused(format!(
                "{actor} already approved batch {batch}: the same person cannot approve twice; \
                 a second, distinct archivist must approve"
            )));
        }
        if approvers.len() >= 2 {
            return Err(RetentionError::Refused(format!(
                "batch {batch} is already approved by {}",
                approvers.join(" and ")
            )));
        }
        approval = approvers.len() as u32 + 1;
        approvers.push(actor.to_string());
        let doc = ApprovalDoc {
            kind: "strongroom.disposition.approval".into(),
            format_version: RETENTION_FORMAT_VERSION,
            change: change_id.to_string(),
            ledger_index: index,
            subject: batch.to_string(),
            approval,
            by: actor.to_string(),
            at: store::now_rfc3339(),
            reason: String::new(),
        };
        let bytes = store::pretty(&doc);
        Ok(Plan {
            event: Event::DispositionApproved {
                batch,
                approval,
                change: change_id.to_string(),
                document_sha256: sha256_tag(&bytes),
            },
            docs: vec![(
                batch_path(batch, &format!("approval-{approval}.json")),
                bytes,
            )],
            blobs: Vec::new(),
        })
    })
    .await?;
    Ok(Approved {
        batch,
        approval,
        approvers,
        applied,
    })
}

/// A record the certificate lists as destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestroyedRecord {
    /// 序号 in the batch.
    pub seq: u64,
    /// 档号.
    pub reference_code: String,
    /// 题名.
    pub title: String,
    /// 年度.
    pub year: i64,
    /// 应保管期限.
    pub retention: String,
    /// OCFL object id.
    pub object_id: String,
    /// Last version.
    pub version: String,
    /// sha512 of its last inventory.
    pub inventory_sha512: String,
    /// Rule applied.
    pub rule: String,
    /// Its `record.destroyed` entry.
    pub ledger_index: u64,
    /// When (RFC 3339 UTC).
    pub destroyed_at: String,
}

/// A record of the batch that was not destroyed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotDestroyed {
    /// 档号.
    pub reference_code: String,
    /// Why.
    pub reason: String,
}

/// The destruction certificate (销毁证明), signed by the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// `strongroom.destruction.certificate`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Document version.
    pub format_version: u32,
    /// The archive (its key name, the ledger's origin).
    pub archive: String,
    /// Batch number.
    pub batch: u64,
    /// The date the batch was judged as of.
    pub as_of: String,
    /// The day it was executed (China Standard Time).
    pub executed_on: String,
    /// When (RFC 3339 UTC).
    pub executed_at: String,
    /// Who executed it.
    pub executed_by: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// The two approvers.
    pub approvers: Vec<String>,
    /// The witnesses (监销人).
    pub witnesses: Vec<String>,
    /// Policy name.
    pub policy_name: String,
    /// `sha256:` of the policy.
    pub policy_sha256: String,
    /// Records destroyed.
    pub destroyed: Vec<DestroyedRecord>,
    /// Records not destroyed.
    pub not_destroyed: Vec<NotDestroyed>,
    /// Index of the `disposition.certified` entry that records this certificate.
    pub ledger_index: u64,
}

impl Certificate {
    /// The printable form.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str("销毁证明 DESTRUCTION CERTIFICATE\n");
        s.push_str(&format!("档案馆 archive:        {}\n", self.archive));
        s.push_str(&format!("批次 batch:            {}\n", self.batch));
        s.push_str(&format!("清册日期 as of:        {}\n", self.as_of));
        s.push_str(&format!(
            "执行 executed:         {} (China Standard Time; {}) by {}\n",
            self.executed_on, self.executed_at, self.executed_by
        ));
        s.push_str(&format!("提出 proposed by:      {}\n", self.proposed_by));
        s.push_str(&format!(
            "批准 approved by:      {}\n",
            self.approvers.join(", ")
        ));
        s.push_str(&format!(
            "监销 witnessed by:     {}\n",
            self.witnesses.join(", ")
        ));
        s.push_str(&format!(
            "保管期限表 policy:     {} ({})\n",
            self.policy_name, self.policy_sha256
        ));
        s.push_str(&format!("账本 ledger entry:     {}\n", self.ledger_index));
        s.push_str(&format!("\n已销毁 destroyed ({}):\n", self.destroyed.len()));
        s.push_str("序号\t档号\t题名\t年度\t应保管期限\t版本\t账本\n");
        for d in &self.destroyed {
            s.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                d.seq, d.reference_code, d.title, d.year, d.retention, d.version, d.ledger_index
            ));
            s.push_str(&format!(
                "\tobject {}\n\tinventory sha512 {}\n",
                d.object_id, d.inventory_sha512
            ));
        }
        if !self.not_destroyed.is_empty() {
            s.push_str(&format!(
                "\n未销毁 not destroyed ({}):\n",
                self.not_destroyed.len()
            ));
            for n in &self.not_destroyed {
                s.push_str(&format!("{}\t{}\n", n.reference_code, n.reason));
            }
        }
        s
    }
}

/// What `execute` did.
#[derive(Debug, Clone, Serialize)]
pub struct Executed {
    /// Batch number.
    pub batch: u64,
    /// True when the batch had been executed before: nothing was done now.
    pub already_executed: bool,
    /// Destroyed by this run.
    pub destroyed_now: Vec<String>,
    /// The certificate.
    pub certificate: Certificate,
    /// The certificate signed by the archive (signed note).
    pub signed: String,
}

fn certificate_of(doc: &CertificateDoc) -> Result<Certificate, RetentionError> {
    serde_json::from_value(doc.certificate.clone()).map_err(|e| {
        RetentionError::Store(store::StoreError::Json {
            path: batch_path(doc.batch, "certificate.json").to_string(),
            source: e,
        })
    })
}

/// Executes an approved destruction batch before two witnesses on `today` (China Standard
/// Time): re-checks holds and due dates, destroys what may be destroyed, and issues the
/// certificate. Executing a batch again after a crash finishes it; after the certificate it
/// only returns it.
pub async fn execute(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    batch: u64,
    witnesses: &[String],
    today: NaiveDate,
) -> Result<Executed, RetentionError> {
    let mut wit: Vec<String> = Vec::new();
    for w in witnesses {
        let w = w.trim().to_string();
        if !w.is_empty() && !wit.contains(&w) {
            wit.push(w);
        }
    }
    if wit.len() < 2 {
        return Err(RetentionError::Usage(
            "destruction needs two distinct witnesses (监销人): --witness A --witness B".into(),
        ));
    }
    let lock = store
        .lock_writer_waiting(actor, crate::ledger::commit::EVENT_LOCK_WAIT)
        .await?;
    let result = execute_locked(store, key, actor, batch, &wit, today, &lock).await;
    let released = lock.release().await;
    let done = result?;
    released?;
    Ok(done)
}

async fn execute_locked(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    batch: u64,
    witnesses: &[String],
    today: NaiveDate,
    lock: &store::WriterLock,
) -> Result<Executed, RetentionError> {
    let ledger = crate::ledger::commit::open(store).await?;
    crate::ledger::commit::recover(store, &ledger, lock, key).await?;
    let state = RetentionState::load(store).await?;
    let b = state
        .batches
        .get(&batch)
        .ok_or(RetentionError::NoSuchBatch(batch))?;
    if let Some(c) = &b.certificate {
        return Ok(Executed {
            batch,
            already_executed: true,
            destroyed_now: Vec::new(),
            certificate: certificate_of(c)?,
            signed: c.signed.clone(),
        });
    }
    if b.doc.action != Action::Destroy.as_str() {
        return Err(RetentionError::Refused(format!(
            "batch {batch} is a {} batch; `dispose execute` destroys (transfer out is done with \
             `transfer-out`)",
            b.doc.action
        )));
    }
    let approvers = b.approvers();
    if approvers.len() < 2 {
        return Err(RetentionError::Refused(format!(
            "batch {batch} needs the approval of two distinct archivists; it has {}",
            if approvers.is_empty() {
                "none".to_string()
            } else {
                approvers.join(", ")
            }
        )));
    }
    let policy_text = store
        .get_bytes(&policy_path(&b.doc.policy_sha256))
        .await?
        .ok_or_else(|| store::StoreError::Inconsistent {
            path: policy_path(&b.doc.policy_sha256).to_string(),
            message: "the policy the batch was proposed under is not kept".into(),
        })?;
    let policy = Policy::parse(&String::from_utf8_lossy(&policy_text))?;
    if policy.sha256 != b.doc.policy_sha256 {
        return Err(store::StoreError::Inconsistent {
            path: policy_path(&b.doc.policy_sha256).to_string(),
            message: "the kept policy's bytes are not the version the batch names".into(),
        }
        .into());
    }
    let records: BTreeMap<String, super::due::RecordInfo> = all_records(store)
        .await?
        .into_iter()
        .map(|r| (r.reference_code.clone(), r))
        .collect();
    let mut not_destroyed = Vec::new();
    let mut to_destroy = Vec::new();
    for item in &b.doc.items {
        if let Some(t) = state.tombstones.get(&item.object_id) {
            if t.batch != batch {
                not_destroyed.push(NotDestroyed {
                    reference_code: item.reference_code.clone(),
                    reason: format!("already {} by batch {}", t.disposition, t.batch),
                });
            }
            continue;
        }
        let Some(r) = records.get(&item.reference_code) else {
            not_destroyed.push(NotDestroyed {
                reference_code: item.reference_code.clone(),
                reason: "no longer in the archive".into(),
            });
            continue;
        };
        let holds = state.holds_on(&item.reference_code);
        if !holds.is_empty() {
            not_destroyed.push(NotDestroyed {
                reference_code: item.reference_code.clone(),
                reason: format!(
                    "under hold {} (placed after the batch was proposed); lift it and propose again",
                    holds
                        .iter()
                        .map(|h| format!("{} by {}", h.doc.hold, h.doc.authority))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            continue;
        }
        let mut facts = r.facts.clone();
        facts.events = state.event_dates(&item.reference_code);
        let e = policy.evaluate(&facts, today);
        if !e.due || e.action != Action::Destroy {
            not_destroyed.push(NotDestroyed {
                reference_code: item.reference_code.clone(),
                reason: if e.due {
                    format!("the schedule now says {} for it", e.action.as_str())
                } else {
                    format!(
                        "not due as of {today}: retention {} runs until {}",
                        e.retention,
                        e.due_on
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "never (permanent)".into())
                    )
                },
            });
            continue;
        }
        to_destroy.push((item, r, e.rule.unwrap_or_default()));
    }
    let mut destroyed_now = Vec::new();
    if !to_destroy.is_empty() {
        let first = ledger.size().await?;
        let change_id = store::random_hex(8);
        let now = store::now_rfc3339();
        let mut events = Vec::new();
        let mut after = Vec::new();
        let mut roots = Vec::new();
        for (i, (item, r, rule)) in to_destroy.iter().enumerate() {
            events.push(Event::RecordDestroyed {
                reference_code: r.reference_code.clone(),
                object_id: r.object_id.clone(),
                version: r.inventory.head.clone(),
                inventory_sha512: r.inventory_sha512.clone(),
                batch,
                rule: rule.clone(),
                policy_sha256: policy.sha256.clone(),
                approvers: approvers.clone(),
                witnesses: witnesses.to_vec(),
                change: change_id.clone(),
            });
            let t = Tombstone {
                kind: "strongroom.tombstone".into(),
                format_version: RETENTION_FORMAT_VERSION,
                change: change_id.clone(),
                ledger_index: first + i as u64,
                reference_code: r.reference_code.clone(),
                title: item.title.clone(),
                object_id: r.object_id.clone(),
                version: r.inventory.head.clone(),
                inventory_sha512: r.inventory_sha512.clone(),
                batch,
                rule: rule.clone(),
                policy_sha256: policy.sha256.clone(),
                approvers: approvers.clone(),
                witnesses: witnesses.to_vec(),
                destroyed_by: actor.to_string(),
                destroyed_at: now.clone(),
                destroyed_on: today.to_string(),
                disposition: "destroyed".into(),
                receipt_sha256: None,
            };
            after.push((
                tombstone_path(&r.object_id).to_string(),
                serde_json::to_value(&t).map_err(|e| store::StoreError::Json {
                    path: tombstone_path(&r.object_id).to_string(),
                    source: e,
                })?,
            ));
            roots.push(crate::intake::object_root(store, &r.object_id));
            destroyed_now.push(r.reference_code.clone());
        }
        let entries = encode_all(&events, actor, &now)?;
        let plan = CommitPlan {
            ledger_first: first,
            ledger_count: entries.len() as u64,
            after_commit: after,
        };
        let point = LedgerBatch::new(&ledger, key, entries);
        store.remove_objects(lock, plan, &roots, &point).await?;
    }
    // The certificate covers everything this batch destroyed, in this run or before a crash.
    let state = RetentionState::load(store).await?;
    let mut destroyed: Vec<DestroyedRecord> = b
        .doc
        .items
        .iter()
        .filter_map(|item| {
            let t = state.tombstones.get(&item.object_id)?;
            (t.batch == batch).then(|| DestroyedRecord {
                seq: item.seq,
                reference_code: t.reference_code.clone(),
                title: t.title.clone(),
                year: item.year,
                retention: item.retention.clone(),
                object_id: t.object_id.clone(),
                version: t.version.clone(),
                inventory_sha512: t.inventory_sha512.clone(),
                rule: t.rule.clone(),
                ledger_index: t.ledger_index,
                destroyed_at: t.destroyed_at.clone(),
            })
        })
        .collect();
    destroyed.sort_by_key(|d| d.seq);
    let index = ledger.size().await?;
    let change_id = store::random_hex(8);
    let cert = Certificate {
        kind: "strongroom.destruction.certificate".into(),
        format_version: 1,
        archive: key.name().to_string(),
        batch,
        as_of: b.doc.as_of.clone(),
        executed_on: today.to_string(),
        executed_at: store::now_rfc3339(),
        executed_by: actor.to_string(),
        proposed_by: b.doc.proposed_by.clone(),
        approvers: approvers.clone(),
        witnesses: witnesses.to_vec(),
        policy_name: b.doc.policy_name.clone(),
        policy_sha256: b.doc.policy_sha256.clone(),
        destroyed,
        not_destroyed,
        ledger_index: index,
    };
    let signed = key.sign_document(&cert)?;
    let text = format!(
        "{}\n签名 Signed by the archive (verify with `strongroom dispose verify FILE`):\n{signed}",
        cert.to_text()
    );
    let doc = CertificateDoc {
        kind: "strongroom.destruction.certificate.kept".into(),
        format_version: RETENTION_FORMAT_VERSION,
        change: change_id.clone(),
        ledger_index: index,
        batch,
        certificate: serde_json::to_value(&cert).map_err(|e| store::StoreError::Json {
            path: batch_path(batch, "certificate.json").to_string(),
            source: e,
        })?,
        signed: signed.clone(),
        text: text.clone(),
    };
    let bytes = store::pretty(&doc);
    let path = batch_path(batch, "certificate.json");
    // Anything here is a leftover of a run that never reached its entry (the state above has
    // no certificate): garbage, under the lock.
    if store.exists(&path).await? {
        store.delete(&path).await?;
    }
    store.put_create(&path, bytes.clone()).await?;
    store.sync().await?;
    let event = Event::DispositionCertified {
        batch,
        destroyed: cert.destroyed.len() as u64,
        not_destroyed: cert.not_destroyed.len() as u64,
        certificate_sha256: sha256_tag(signed.as_bytes()),
        change: change_id,
        document_sha256: sha256_tag(&bytes),
    };
    let entries = encode_all(&[event], actor, &store::now_rfc3339())?;
    let appended = ledger.append(lock, key, &entries).await?;
    if appended.first_index != index {
        return Err(store::StoreError::Inconsistent {
            path: "ledger/checkpoint".into(),
            message: format!(
                "the certificate was recorded at {} instead of {index}",
                appended.first_index
            ),
        }
        .into());
    }
    Ok(Executed {
        batch,
        already_executed: false,
        destroyed_now,
        certificate: cert,
        signed,
    })
}

/// What checking a certificate found.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateCheck {
    /// The certificate, as signed.
    pub certificate: Certificate,
    /// Signed by this key.
    pub signer: String,
    /// Entries of the ledger checked against it.
    pub entries_checked: u64,
}

/// Checks a signed certificate: the archive's signature, its `disposition.certified` entry
/// (which names the signed note's digest), and each record's `record.destroyed` entry.
pub async fn verify_certificate(
    store: &Store,
    signed: &str,
    verifier: &Verifier,
) -> Result<CertificateCheck, RetentionError> {
    let refuse = |m: String| RetentionError::Refused(m);
    let doc = crate::sign::verify_document(signed, verifier)
        .map_err(|e| refuse(format!("the certificate's signature does not verify: {e}")))?;
    let cert: Certificate = serde_json::from_value(doc)
        .map_err(|e| refuse(format!("the signed document is not a certificate: {e}")))?;
    let ledger = crate::ledger::commit::open(store).await?;
    let size = ledger.size().await?;
    let entry_at = |i: u64| {
        let ledger = &ledger;
        async move {
            if i >= size {
                return Err(RetentionError::Refused(format!(
                    "ledger entry {i} is beyond the ledger ({size} entries)"
                )));
            }
            Entry::decode(&ledger.entry(i).await?).map_err(RetentionError::from)
        }
    };
    let e = entry_at(cert.ledger_index).await?;
    if e.kind != "disposition.certified"
        || e.fields.get("batch").and_then(|b| b.as_u64()) != Some(cert.batch)
        || e.field_str("certificate_sha256") != Some(sha256_tag(signed.as_bytes()).as_str())
    {
        return Err(refuse(format!(
            "ledger entry {} does not record this certificate",
            cert.ledger_index
        )));
    }
    for d in &cert.destroyed {
        let e = entry_at(d.ledger_index).await?;
        if e.kind != "record.destroyed"
            || e.field_str("object_id") != Some(d.object_id.as_str())
            || e.field_str("inventory_sha512") != Some(d.inventory_sha512.as_str())
            || e.fields.get("batch").and_then(|b| b.as_u64()) != Some(cert.batch)
        {
            return Err(refuse(format!(
                "ledger entry {} does not record the destruction of {}",
                d.ledger_index, d.reference_code
            )));
        }
    }
    Ok(CertificateCheck {
        entries_checked: cert.destroyed.len() as u64 + 1,
        signer: verifier.name().to_string(),
        certificate: cert,
    })
}

/// A batch's kept certificate (signed note and printable text).
pub async fn certificate(
    store: &Store,
    batch: u64,
) -> Result<(Certificate, CertificateDoc), RetentionError> {
    let state = RetentionState::load(store).await?;
    let b = state
        .batches
        .get(&batch)
        .ok_or(RetentionError::NoSuchBatch(batch))?;
    let c = b.certificate.clone().ok_or_else(|| {
        RetentionError::Refused(format!("batch {batch} has not been executed yet"))
    })?;
    Ok((certificate_of(&c)?, c))
}
