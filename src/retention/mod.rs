//! Retention and disposition (保管期限与处置): schedules as data, the due list, holds (冻结),
//! disposition batches (销毁清册) with two approvals, witnessed destruction with a signed
//! certificate, transfer out (移交进馆), re-appraisal (鉴定), and the named events (起算事件)
//! that event-triggered rules count from.
//!
//! Owns the documents under `retention/` in the store (`formats/retention.md`) and the
//! removal of a destroyed record's object (through `Store::remove_objects`). Every change is a
//! ledger entry, which is its commit point; nothing here rewrites a stored byte.

pub mod appraise;
pub mod dispose;
pub mod due;
pub mod event;
pub mod hold;
pub mod policy;
pub mod state;
pub mod transfer_out;

use crate::access::AccessError;
use crate::ledger::entry::EntryError;
use crate::ledger::log::LedgerError;
use crate::store::StoreError;

pub use policy::{Action, Evaluation, Policy, RecordFacts};
pub use state::{RetentionState, Tombstone};

/// Errors of retention and disposition. Refusals (the rules said no) are told apart from a
/// failing store.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The policy file is not a schedule this strongroom reads.
    #[error("retention policy: {0}")]
    Policy(String),
    /// An argument that cannot be right.
    #[error("{0}")]
    Usage(String),
    /// The rules refuse it (same approver twice, a held record, a batch not approved, …).
    #[error("refused: {0}")]
    Refused(String),
    /// No such record in the archive.
    #[error("no record with 档号 {0} in the archive")]
    NoSuchRecord(String),
    /// No such hold.
    #[error("no hold {0}")]
    NoSuchHold(String),
    /// No such disposition batch.
    #[error("no disposition batch {0}")]
    NoSuchBatch(u64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A ledger entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// Reading or amending a record failed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Signing the certificate failed.
    #[error("cannot sign the destruction certificate")]
    Sign(#[from] crate::sign::Error),
}

impl RetentionError {
    /// True when the error is a refusal or bad input (exit 1), not a failure (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RetentionError::Policy(_)
                | RetentionError::Usage(_)
                | RetentionError::Refused(_)
                | RetentionError::NoSuchRecord(_)
                | RetentionError::NoSuchHold(_)
                | RetentionError::NoSuchBatch(_)
        ) || matches!(
            self,
            RetentionError::Access(
                AccessError::NoSuchRecord(_)
                    | AccessError::Invalid(_)
                    | AccessError::Destroyed { .. }
            )
        )
    }
}

/// The schedule in force for an archive: `<home>/retention-policy.toml` when it exists, else
/// the shipped default. A home schedule that cannot be read or parsed is an error naming the
/// file (intake and the server refuse to guess).
pub fn policy_in_force(home: &crate::home::Home) -> Result<Policy, RetentionError> {
    let local = home.dir().join("retention-policy.toml");
    if !local.exists() {
        return Policy::default_schedule();
    }
    let text = std::fs::read_to_string(&local)
        .map_err(|e| RetentionError::Policy(format!("{}: {e}", local.display())))?;
    Policy::parse(&text).map_err(|e| RetentionError::Policy(format!("{}: {e}", local.display())))
}
