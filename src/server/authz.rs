//! Authorization (授权): which role may do what, and which records a caller may see. One
//! table ([`Capability::allowed`]) so that the separation of duties (三员分立) can be read and
//! tested in one place (`formats/server.md`, "Roles").

use std::collections::HashMap;

use crate::search::Scope;
use crate::users::{Principal, Role};

use super::ApiError;

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Submit a transfer package (移交).
    SubmitTransfer,
    /// See transfers' status, reports and receipts (an agency: its own).
    ReadTransfers,
    /// Read records: list, metadata, files, versions (within [`record_visible`]).
    ReadRecords,
    /// A record's history from the ledger (identifiers and digests, no content).
    RecordHistory,
    /// Search (within [`search_scope`]).
    Search,
    /// Re-read a record's bytes and check its digests (fixity, on demand).
    VerifyFixity,
    /// Verify a seal over a file the caller sends (nothing stored is read).
    VerifySeal,
    /// The ledger's checkpoint, key and proofs.
    ReadLedger,
    /// Read ledger entries themselves.
    ReadLedgerEntries,
    /// Add and revoke users, issue and revoke tokens.
    ManageUsers,
    /// Prometheus metrics.
    Metrics,
    /// The server's configuration (no secrets).
    ReadConfig,
    /// Read holds (冻结), due lists (到期清单), disposition batches and their certificates.
    ReadRetention,
    /// Place and lift holds; propose, approve and execute disposition batches (销毁).
    Dispose,
    /// Issue a copy for a court and grant it to the court (调阅授权).
    IssueCopies,
    /// List and download copies (a court: those granted to it).
    ReadCopies,
}

/// Every capability, for the matrix.
pub const ALL: [Capability; 16] = [
    Capability::SubmitTransfer,
    Capability::ReadTransfers,
    Capability::ReadRecords,
    Capability::RecordHistory,
    Capability::Search,
    Capability::VerifyFixity,
    Capability::VerifySeal,
    Capability::ReadLedger,
    Capability::ReadLedgerEntries,
    Capability::ManageUsers,
    Capability::Metrics,
    Capability::ReadConfig,
    Capability::ReadRetention,
    Capability::Dispose,
    Capability::IssueCopies,
    Capability::ReadCopies,
];

impl Capability {
    /// Whether `role` has this capability. The system administrator reads no content and
    /// grants nothing; the security administrator manages users and reads no content; the
    /// auditor reads the ledger and metrics and no content.
    pub fn allowed(self, role: &Role) -> bool {
        use Capability as C;
        match role {
            Role::Archivist => !matches!(self, C::ManageUsers | C::Metrics | C::ReadConfig),
            Role::Agency(_) => matches!(
                self,
                C::SubmitTransfer
                    | C::ReadTransfers
                    | C::ReadRecords
                    | C::RecordHistory
                    | C::Search
                    | C::VerifySeal
                    | C::ReadLedger
            ),
            Role::Court(_) => matches!(
                self,
                C::ReadRecords | C::Search | C::VerifySeal | C::ReadLedger | C::ReadCopies
            ),
            Role::Auditor => matches!(
                self,
                C::RecordHistory
                    | C::VerifyFixity
                    | C::VerifySeal
                    | C::ReadLedger
                    | C::ReadLedgerEntries
                    | C::Metrics
            ),
            Role::SecurityAdmin => matches!(self, C::ManageUsers | C::VerifySeal | C::ReadLedger),
            Role::SystemAdmin => matches!(self, C::Metrics | C::ReadConfig | C::ReadLedger),
        }
    }
}

/// Refuses with 403 unless the caller's role has `cap`.
pub fn require(p: &Principal, cap: Capability) -> Result<(), ApiError> {
    if cap.allowed(&p.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "the role {} may not do this ({cap:?})",
            p.role
        )))
    }
}

/// Whether the caller may see a record of `agency` with 密级 `classification`: archivists
/// every record; an agency its own 公开 records; a court the records `granted` to it (the
/// records its copies name, whatever their 密级: an archivist granted them). 内部 and 限制
/// records go only to archivists and to what an archivist grants.
pub fn record_visible(
    p: &Principal,
    agency: &str,
    reference_code: &str,
    classification: &str,
    granted: &[String],
) -> bool {
    match &p.role {
        Role::Archivist => true,
        Role::Agency(code) => code == agency && classification == "公开",
        Role::Court(_) => granted.iter().any(|r| r == reference_code),
        _ => false,
    }
}

/// The search scope of a caller (only called after [`Capability::Search`] was checked);
/// `granted`: the records granted to a court ([`AppState::granted`](super::AppState::granted)).
pub fn search_scope(p: &Principal, granted: Vec<String>) -> Scope {
    match &p.role {
        Role::Archivist => Scope::All,
        Role::Agency(code) => Scope::AgencyPublic(code.clone()),
        Role::Court(_) => Scope::Records(granted),
        _ => Scope::Records(Vec::new()),
    }
}

/// Whether the caller may see a transfer of `agency`.
pub fn transfer_visible(p: &Principal, agency: &str) -> bool {
    match &p.role {
        Role::Archivist => true,
        Role::Agency(code) => code == agency,
        _ => false,
    }
}

/// Role → capabilities, for documentation.
pub fn matrix() -> HashMap<String, Vec<&'static str>> {
    let roles = [
        Role::Agency("<code>".into()),
        Role::Archivist,
        Role::Court("<id>".into()),
        Role::Auditor,
        Role::SecurityAdmin,
        Role::SystemAdmin,
    ];
    roles
        .iter()
        .map(|r| {
            (
                r.as_string(),
                ALL.iter()
                    .filter(|c| c.allowed(r))
                    .map(|c| name(*c))
                    .collect(),
            )
        })
        .collect()
}

fn name(c: Capability) -> &'static str {
    match c {
        Capability::SubmitTransfer => "submit-transfer",
        Capability::ReadTransfers => "read-transfers",
        Capability::ReadRecords => "read-records",
        Capability::RecordHistory => "record-history",
        Capability::Search => "search",
        Capability::VerifyFixity => "verify-fixity",
        Capability::VerifySeal => "verify-seal",
        Capability::ReadLedger => "read-ledger",
        Capability::ReadLedgerEntries => "read-ledger-entries",
        Capability::ManageUsers => "manage-users",
        Capability::Metrics => "metrics",
        Capability::ReadConfig => "read-config",
        Capability::ReadRetention => "read-retention",
        Capability::Dispose => "dispose",
        Capability::IssueCopies => "issue-copies",
        Capability::ReadCopies => "read-copies",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_role_does_everything() {
        for (role, caps) in matrix() {
            assert!(caps.len() < ALL.len(), "{role} can do everything");
        }
        // 三员分立: the three administrators' duties do not overlap on users, content, config.
        assert!(!Capability::ReadRecords.allowed(&Role::SystemAdmin));
        assert!(!Capability::ManageUsers.allowed(&Role::SystemAdmin));
        assert!(!Capability::ReadRecords.allowed(&Role::SecurityAdmin));
        assert!(!Capability::ReadRecords.allowed(&Role::Auditor));
        assert!(!Capability::ManageUsers.allowed(&Role::Auditor));
        assert!(!Capability::ManageUsers.allowed(&Role::Archivist));
    }
}
