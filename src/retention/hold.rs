//! Holds (冻结): a court order, litigation or audit freezes records; a held record is never
//! due, cannot be destroyed or transferred out. Lifting a hold needs two distinct archivists.

use bytes::Bytes;

use super::state::{
    change, hold_lift_path, hold_path, sha256_tag, Applied, ApprovalDoc, HoldDoc, Plan,
    RETENTION_FORMAT_VERSION,
};
use super::RetentionError;
use crate::ledger::entry::Event;
use crate::sign::ArchiveKey;
use crate::store::{self, Store};

/// Places a hold on records (each must be in the archive). Returns what was written and the
/// hold's id.
pub async fn place(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    reference_codes: &[String],
    reason: &str,
    authority: &str,
) -> Result<(Applied, String), RetentionError> {
    if reference_codes.is_empty() {
        return Err(RetentionError::Usage(
            "name at least one record (档号) to hold".into(),
        ));
    }
    if reason.trim().is_empty() || authority.trim().is_empty() {
        return Err(RetentionError::Usage(
            "a hold needs --reason and --authority (who ordered it)".into(),
        ));
    }
    let size = store.ledger_size().await?;
    let mut codes = Vec::new();
    for r in reference_codes {
        let rc = crate::refcode::RefCode::parse(r.trim())
            .map_err(|_| RetentionError::NoSuchRecord(r.clone()))?;
        let root = crate::intake::object_root(store, &crate::intake::object_id(&rc));
        if store.committed_inventory(&root, size).await?.is_none() {
            return Err(RetentionError::NoSuchRecord(r.clone()));
        }
        if !codes.contains(&rc.to_string()) {
            codes.push(rc.to_string());
        }
    }
    let mut id = String::new();
    let applied = change(store, key, actor, |state, index, change_id| {
        id = format!("H{}", state.holds.len() + 1);
        while state.holds.iter().any(|h| h.doc.hold == id) {
            id = format!("H{}", index);
        }
        let doc = HoldDoc {
            kind: "strongroom.hold".into(),
            format_version: RETENTION_FORMAT_VERSION,
            change: change_id.to_string(),
            ledger_index: index,
            hold: id.clone(),
            reference_codes: codes.clone(),
            reason: reason.to_string(),
            authority: authority.to_string(),
            placed_by: actor.to_string(),
            placed_at: store::now_rfc3339(),
        };
        let bytes = store::pretty(&doc);
        Ok(Plan {
            event: Event::HoldPlaced {
                hold: id.clone(),
                reference_codes: codes.clone(),
                reason: reason.to_string(),
                authority: authority.to_string(),
                change: change_id.to_string(),
                document_sha256: sha256_tag(&bytes),
            },
            docs: vec![(hold_path(&id), bytes)],
            blobs: Vec::new(),
        })
    })
    .await?;
    Ok((applied, id))
}

/// What a lift did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lift {
    /// The hold.
    pub hold: String,
    /// This approval (1 or 2).
    pub approval: u32,
    /// Whether the hold is now lifted.
    pub lifted: bool,
    /// The change.
    pub applied: Applied,
}

/// Approves lifting a hold; the second approval by another archivist lifts it. The same
/// archivist twice is refused.
pub async fn lift(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    hold: &str,
    reason: &str,
) -> Result<Lift, RetentionError> {
    if reason.trim().is_empty() {
        return Err(RetentionError::Usage(
            "lifting a hold needs --reason".into(),
        ));
    }
    let mut approval = 0;
    let applied = change(store, key, actor, |state, index, change_id| {
        let h = state
            .holds
            .iter()
            .find(|h| h.doc.hold == hold)
            .ok_or_else(|| RetentionError::NoSuchHold(hold.to_string()))?;
        if !h.active() {
            return Err(RetentionError::Refused(format!(
                "hold {hold} is already lifted"
            )));
        }
        if let Some(a) = h.lift_approvals.iter().find(|a| a.by == actor) {
            return Err(RetentionError::Refused(format!(
                "{actor} already approved lifting hold {hold} (ledger entry {}); a second, \
                 distinct archivist must approve",
                a.ledger_index
            )));
        }
        approval = h.lift_approvals.len() as u32 + 1;
        let doc = ApprovalDoc {
            kind: "strongroom.hold.lift".into(),
            format_version: RETENTION_FORMAT_VERSION,
            change: change_id.to_string(),
            ledger_index: index,
            subject: hold.to_string(),
            approval,
            by: actor.to_string(),
            at: store::now_rfc3339(),
            reason: reason.to_string(),
        };
        let bytes: Bytes = store::pretty(&doc);
        Ok(Plan {
            event: Event::HoldLift {
                hold: hold.to_string(),
                approval,
                reason: reason.to_string(),
                change: change_id.to_string(),
                document_sha256: sha256_tag(&bytes),
            },
            docs: vec![(hold_lift_path(hold, approval), bytes)],
            blobs: Vec::new(),
        })
    })
    .await?;
    Ok(Lift {
        hold: hold.to_string(),
        approval,
        lifted: approval >= 2,
        applied,
    })
}
