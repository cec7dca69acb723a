//! Court grants (调阅授权): a copy issued for a court (`court:<id>`) through the server, and
//! with it the court's right to download that copy and read the records it names. A grant is
//! a document under `grants/` in the store, committed by its `copy.granted` ledger entry,
//! exactly as the users' changes are (`formats/users.md`): a document counts only when the
//! entry at its `ledger_index` carries its change id and digest.
//!
//! The bundle itself is kept in the server's home (`<home>/copies/<copy_id>.zip`); the grant
//! names its sha256, so a bundle that changed on disk is refused rather than handed out.
//!
//! A grant can be revoked (撤销调阅授权): a revocation document in the same folder, committed
//! by its `copy.revoked` entry. A revoked grant gives its court nothing any more; the grant,
//! the revocation and every read the court made before it stay in the store and the ledger.
//!
//! A grant may carry an expiry (`expires`): past it the grant is expired and gives its court
//! nothing, exactly as a revoked one, without a ledger entry (the expiry is in the committed
//! grant document). The bundles of revoked and expired grants are removed from the home by
//! [`super::bundles`]; the grant documents and entries stay.

use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::ledger::entry::{Entry, EntryError, Event};
use crate::ledger::log::LedgerError;
use crate::retention::state::sha256_tag;
use crate::sign::ArchiveKey;
use crate::store::{self, Store, StoreError};

/// Version of the grant documents this code writes.
pub const GRANTS_FORMAT_VERSION: u32 = 1;

/// The prefix of the grant documents in the store.
pub const GRANTS_PREFIX: &str = "grants";

/// Errors of the grant registry.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// No committed grant has this copy id.
    #[error("no copy {0} was granted to a court")]
    NoSuchGrant(String),
    /// The grant was revoked already (a revocation is final).
    #[error("the grant of copy {copy_id} was already revoked (ledger entry {ledger_index})")]
    AlreadyRevoked {
        /// The copy.
        copy_id: String,
        /// The `copy.revoked` entry.
        ledger_index: u64,
    },
    /// A revocation needs its reason recorded.
    #[error("give the reason for revoking (1-{max} characters)", max = MAX_REASON_CHARS)]
    NoReason,
}

/// The longest reason a revocation records.
pub const MAX_REASON_CHARS: usize = 500;

/// A revocation of a grant (撤销调阅授权), `grants/<index>-<change>.json` with type
/// `strongroom.copy-grant-revocation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// `strongroom.copy-grant-revocation`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// [`GRANTS_FORMAT_VERSION`].
    pub format_version: u32,
    /// The change's id (also in the ledger entry).
    pub change: String,
    /// Index of its `copy.revoked` entry.
    pub ledger_index: u64,
    /// The court the grant was for.
    pub court: String,
    /// The copy whose grant is revoked.
    pub copy_id: String,
    /// Index of the `copy.granted` entry revoked.
    pub grant_ledger_index: u64,
    /// Why.
    pub reason: String,
    /// The archivist who revoked it.
    pub revoked_by: String,
    /// When (RFC 3339 UTC).
    pub revoked_at: String,
}

/// Where a grant stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantState {
    /// In force (授权有效): the court may download the copy and read its records.
    Active,
    /// Past its `expires` (已过期): the court has nothing through it.
    Expired,
    /// Revoked by an archivist (已撤销): the court has nothing through it.
    Revoked,
}

impl GrantState {
    /// The state's name as `--json` and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Active => "active",
            GrantState::Expired => "expired",
            GrantState::Revoked => "revoked",
        }
    }
}

/// A grant as the API, the pages and `copy list` show it: the grant, its state and, once
/// revoked, its revocation.
#[derive(Debug, Clone, Serialize)]
pub struct GrantStatus {
    /// The grant.
    #[serde(flatten)]
    pub grant: Grant,
    /// Its state when it was read.
    pub state: GrantState,
    /// The revocation, if revoked (then the court has nothing through it any more).
    pub revoked: Option<Revocation>,
}

/// One grant: a copy issued for a court, the records it names, and its bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `strongroom.copy-grant`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// [`GRANTS_FORMAT_VERSION`].
    pub format_version: u32,
    /// The change's id (also in the ledger entry).
    pub change: String,
    /// Index of its `copy.granted` entry.
    pub ledger_index: u64,
    /// The court's id (the `<id>` of `court:<id>`).
    pub court: String,
    /// The copy's id, as in the bundle's manifest and its `copy.issued` entry.
    pub copy_id: String,
    /// Index of the `copy.issued` entry.
    pub issued_ledger_index: u64,
    /// The court's request as recorded (case number, letter reference).
    pub request: String,
    /// 档号 of the records the copy names: the only records the court may read.
    pub reference_codes: Vec<String>,
    /// The version copied of each, in the same order.
    pub versions: Vec<String>,
    /// The bundle's file name in `<home>/copies/`.
    pub bundle: String,
    /// sha256 (hex) of the bundle's bytes.
    pub bundle_sha256: String,
    /// The bundle's size in bytes.
    pub bundle_bytes: u64,
    /// The archivist who issued and granted it.
    pub granted_by: String,
    /// When (RFC 3339 UTC).
    pub granted_at: String,
    /// When the grant lapses (RFC 3339 UTC); none: until revoked. Absent from documents
    /// written before grants could expire (they never do).
    #[serde(default)]
    pub expires: Option<String>,
}

impl Grant {
    /// Whether the grant has lapsed at `now`. An expiry that does not parse counts as
    /// lapsed: a grant gives access only while it is certainly in force.
    pub fn expired_at(&self, now: DateTime<Utc>) -> bool {
        match self.expires.as_deref() {
            None => false,
            Some(e) => crate::seals::registry::parse_time(e).is_none_or(|t| t <= now),
        }
    }
}

/// Every committed grant and revocation, in ledger order.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// The grants (revoked ones included).
    pub grants: Vec<Grant>,
    /// The revocations.
    pub revocations: Vec<Revocation>,
}

/// The type tag of a grant document.
const GRANT_TYPE: &str = "strongroom.copy-grant";
/// The type tag of a revocation document.
const REVOCATION_TYPE: &str = "strongroom.copy-grant-revocation";

impl Grants {
    /// Reads the documents under `grants/` that their ledger entries commit.
    pub async fn load(store: &Store) -> Result<Grants, GrantError> {
        let mut paths = store.list_paths(&Path::from(GRANTS_PREFIX)).await?;
        paths.sort();
        let mut out = Grants::default();
        if paths.is_empty() {
            return Ok(out);
        }
        let size = store.ledger_size().await?;
        let ledger = crate::ledger::commit::open(store).await?;
        for path in paths {
            let Some(bytes) = store.get_bytes(&path).await? else {
                continue;
            };
            // A document without its entry (a write cut short) or not ours counts for nothing.
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            let (kind, index, change, court) = match doc.get("type").and_then(|t| t.as_str()) {
                Some(GRANT_TYPE) => match serde_json::from_value::<Grant>(doc) {
                    Ok(g) => (
                        "copy.granted",
                        g.ledger_index,
                        g.change.clone(),
                        g.court.clone(),
                    ),
                    Err(_) => continue,
                },
                Some(REVOCATION_TYPE) => match serde_json::from_value::<Revocation>(doc) {
                    Ok(r) => (
                        "copy.revoked",
                        r.ledger_index,
                        r.change.clone(),
                        r.court.clone(),
                    ),
                    Err(_) => continue,
                },
                _ => continue,
            };
            if index >= size {
                continue;
            }
            let committed = Entry::decode(&ledger.entry(index).await?).is_ok_and(|e| {
                e.kind == kind
                    && e.field_str("change") == Some(change.as_str())
                    && e.field_str("document_sha256") == Some(sha256_tag(&bytes).as_str())
                    && e.field_str("court") == Some(court.as_str())
            });
            if !committed {
                continue;
            }
            if kind == "copy.granted" {
                if let Ok(g) = serde_json::from_slice::<Grant>(&bytes) {
                    out.grants.push(g);
                }
            } else if let Ok(r) = serde_json::from_slice::<Revocation>(&bytes) {
                out.revocations.push(r);
            }
        }
        out.grants.sort_by_key(|g| g.ledger_index);
        out.revocations.sort_by_key(|r| r.ledger_index);
        Ok(out)
    }

    /// The revocation of a copy's grant, if it was revoked.
    pub fn revocation_of(&self, copy_id: &str) -> Option<&Revocation> {
        self.revocations.iter().find(|r| r.copy_id == copy_id)
    }

    /// A grant's state at `now`: a revocation wins over an expiry (it is the recorded act).
    pub fn state_of(&self, g: &Grant, now: DateTime<Utc>) -> GrantState {
        if self.revocation_of(&g.copy_id).is_some() {
            GrantState::Revoked
        } else if g.expired_at(now) {
            GrantState::Expired
        } else {
            GrantState::Active
        }
    }

    /// The grants in force now (neither revoked nor expired).
    fn in_force(&self) -> impl Iterator<Item = &Grant> {
        let now = Utc::now();
        self.grants
            .iter()
            .filter(move |g| self.state_of(g, now) == GrantState::Active)
    }

    /// The grants in force for one court (a revoked grant gives it nothing).
    pub fn for_court(&self, court: &str) -> Vec<&Grant> {
        self.in_force().filter(|g| g.court == court).collect()
    }

    /// The records a court may read: those its grants in force name.
    pub fn records_of(&self, court: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .for_court(court)
            .iter()
            .flat_map(|g| g.reference_codes.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A grant by copy id (revoked or not).
    pub fn find(&self, copy_id: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.copy_id == copy_id)
    }

    /// Every grant with its state now and its revocation, in ledger order.
    pub fn statuses(&self) -> Vec<GrantStatus> {
        self.statuses_at(Utc::now())
    }

    /// Every grant with its state at `now` and its revocation, in ledger order.
    pub fn statuses_at(&self, now: DateTime<Utc>) -> Vec<GrantStatus> {
        self.grants
            .iter()
            .map(|g| GrantStatus {
                grant: g.clone(),
                state: self.state_of(g, now),
                revoked: self.revocation_of(&g.copy_id).cloned(),
            })
            .collect()
    }

    /// The grants an operator lists (`strongroom copy list`, and what `GET /api/copies`
    /// shows an archivist): those of `court` if given, in ledger order; only the ones in
    /// force at `now` unless `all`.
    pub fn listing(&self, court: Option<&str>, all: bool, now: DateTime<Utc>) -> Vec<GrantStatus> {
        self.statuses_at(now)
            .into_iter()
            .filter(|s| court.is_none_or(|c| s.grant.court == c))
            .filter(|s| all || s.state == GrantState::Active)
            .collect()
    }
}

/// What the grant is about (the caller issued the copy already).
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The court's id.
    pub court: String,
    /// The copy's id.
    pub copy_id: String,
    /// Index of the `copy.issued` entry.
    pub issued_ledger_index: u64,
    /// The request as recorded.
    pub request: String,
    /// 档号 of the copied records.
    pub reference_codes: Vec<String>,
    /// The version copied of each.
    pub versions: Vec<String>,
    /// The bundle's file name in `<home>/copies/`.
    pub bundle: String,
    /// sha256 (hex) of the bundle.
    pub bundle_sha256: String,
    /// Its size.
    pub bundle_bytes: u64,
    /// When the grant lapses (RFC 3339 UTC); none: until revoked.
    pub expires: Option<String>,
}

/// Grants a court its copy: the document, committed by its `copy.granted` entry through the
/// one document-change frame (`ledger::commit::commit_documents`).
pub async fn grant(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    g: &NewGrant,
) -> Result<Grant, GrantError> {
    let mut granted: Option<Grant> = None;
    crate::ledger::commit::commit_documents(
        store,
        key,
        actor,
        "grant",
        |_| Box::pin(async { Ok::<(), GrantError>(()) }),
        |_: &(), index, change| {
            let doc = Grant {
                doc_type: GRANT_TYPE.into(),
                format_version: GRANTS_FORMAT_VERSION,
                change: change.to_string(),
                ledger_index: index,
                court: g.court.clone(),
                copy_id: g.copy_id.clone(),
                issued_ledger_index: g.issued_ledger_index,
                request: g.request.clone(),
                reference_codes: g.reference_codes.clone(),
                versions: g.versions.clone(),
                bundle: g.bundle.clone(),
                bundle_sha256: g.bundle_sha256.clone(),
                bundle_bytes: g.bundle_bytes,
                granted_by: actor.to_string(),
                granted_at: store::now_rfc3339(),
                expires: g.expires.clone(),
            };
            let bytes = store::pretty(&doc);
            let path = store::path_of([GRANTS_PREFIX, &format!("{index:020}-{change}.json")]);
            let event = Event::CopyGranted {
                court: g.court.clone(),
                copy_id: g.copy_id.clone(),
                reference_codes: g.reference_codes.clone(),
                change: change.to_string(),
                document_sha256: sha256_tag(&bytes),
            };
            granted = Some(doc);
            Ok(crate::ledger::commit::DocumentPlan {
                docs: vec![(path, bytes)],
                blobs: Vec::new(),
                event,
            })
        },
    )
    .await?;
    granted.ok_or_else(|| {
        GrantError::Store(StoreError::Inconsistent {
            path: GRANTS_PREFIX.into(),
            message: "the grant was committed without its document".into(),
        })
    })
}

/// Revokes the grant of `copy_id` (撤销调阅授权): a revocation document committed by its
/// `copy.revoked` entry, through the same document-change frame as the grant. Refused (and
/// nothing written) for a copy never granted, a grant already revoked, or an empty reason.
/// The court's reads before it stay in the ledger. The bundle is the caller's to remove
/// ([`super::bundles::revoke`] does both).
pub async fn revoke(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    copy_id: &str,
    reason: &str,
) -> Result<(Grant, Revocation), GrantError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(GrantError::NoReason);
    }
    let mut done: Option<(Grant, Revocation)> = None;
    crate::ledger::commit::commit_documents(
        store,
        key,
        actor,
        "grant revocation",
        // Read under the writer lock, so two archivists revoking at once cannot both succeed.
        |s| Box::pin(Grants::load(s)),
        |grants: &Grants, index, change| {
            let g = grants
                .find(copy_id)
                .ok_or_else(|| GrantError::NoSuchGrant(copy_id.to_string()))?;
            if let Some(r) = grants.revocation_of(copy_id) {
                return Err(GrantError::AlreadyRevoked {
                    copy_id: copy_id.to_string(),
                    ledger_index: r.ledger_index,
                });
            }
            let doc = Revocation {
                doc_type: REVOCATION_TYPE.into(),
                format_version: GRANTS_FORMAT_VERSION,
                change: change.to_string(),
                ledger_index: index,
                court: g.court.clone(),
                copy_id: g.copy_id.clone(),
                grant_ledger_index: g.ledger_index,
                reason: reason.to_string(),
                revoked_by: actor.to_string(),
                revoked_at: store::now_rfc3339(),
            };
            let bytes = store::pretty(&doc);
            let path = store::path_of([GRANTS_PREFIX, &format!("{index:020}-{change}.json")]);
            let event = Event::CopyRevoked {
                court: g.court.clone(),
                copy_id: g.copy_id.clone(),
                grant_ledger_index: g.ledger_index,
                reason: reason.to_string(),
                change: change.to_string(),
                document_sha256: sha256_tag(&bytes),
            };
            done = Some((g.clone(), doc));
            Ok(crate::ledger::commit::DocumentPlan {
                docs: vec![(path, bytes)],
                blobs: Vec::new(),
                event,
            })
        },
    )
    .await?;
    done.ok_or_else(|| {
        GrantError::Store(StoreError::Inconsistent {
            path: GRANTS_PREFIX.into(),
            message: "the revocation was committed without its document".into(),
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn grant(copy_id: &str, court: &str, expires: Option<&str>) -> Grant {
        Grant {
            doc_type: GRANT_TYPE.into(),
            format_version: GRANTS_FORMAT_VERSION,
            change: format!("c-{copy_id}"),
            ledger_index: 0,
            court: court.into(),
            copy_id: copy_id.into(),
            issued_ledger_index: 0,
            request: "r".into(),
            reference_codes: vec![format!("rc-{copy_id}")],
            versions: vec!["v1".into()],
            bundle: format!("{copy_id}.zip"),
            bundle_sha256: String::new(),
            bundle_bytes: 0,
            granted_by: "arch".into(),
            granted_at: "2026-01-01T00:00:00Z".into(),
            expires: expires.map(String::from),
        }
    }

    fn revocation(copy_id: &str) -> Revocation {
        Revocation {
            doc_type: REVOCATION_TYPE.into(),
            format_version: GRANTS_FORMAT_VERSION,
            change: "x".into(),
            ledger_index: 9,
            court: "BJ-01".into(),
            copy_id: copy_id.into(),
            grant_ledger_index: 0,
            reason: "r".into(),
            revoked_by: "arch".into(),
            revoked_at: "2026-06-01T00:00:00Z".into(),
        }
    }

    /// A grant's state as a table: (expires, revoked, state at 2026-06-01 12:00 UTC).
    #[test]
    fn state_table() {
        let now = crate::seals::registry::parse_time("2026-06-01T12:00:00Z").unwrap();
        let cases: &[(Option<&str>, bool, GrantState)] = &[
            (None, false, GrantState::Active),
            (Some("2026-06-02"), false, GrantState::Active),
            (Some("2026-06-01T12:00:01Z"), false, GrantState::Active),
            // The expiry moment itself is past: a grant is in force strictly before it.
            (Some("2026-06-01T12:00:00Z"), false, GrantState::Expired),
            (
                Some("2026-06-01T20:00:00+08:00"),
                false,
                GrantState::Expired,
            ),
            (Some("2026-06-01"), false, GrantState::Expired),
            // An expiry that does not parse gives nothing (fail closed).
            (Some("someday"), false, GrantState::Expired),
            // A revocation wins over an expiry.
            (Some("2026-05-01"), true, GrantState::Revoked),
            (None, true, GrantState::Revoked),
        ];
        for (i, (expires, revoked, want)) in cases.iter().enumerate() {
            let id = format!("g{i}");
            let grants = Grants {
                grants: vec![grant(&id, "BJ-01", *expires)],
                revocations: if *revoked {
                    vec![revocation(&id)]
                } else {
                    vec![]
                },
            };
            assert_eq!(
                grants.state_of(&grants.grants[0], now),
                *want,
                "{expires:?} revoked={revoked}"
            );
        }
    }

    #[test]
    fn listing_filters_by_court_and_state_and_keeps_ledger_order() {
        let now = crate::seals::registry::parse_time("2026-06-01T12:00:00Z").unwrap();
        let grants = Grants {
            grants: vec![
                grant("a", "BJ-01", None),
                grant("b", "BJ-01", Some("2026-01-01")),
                grant("c", "BJ-02", None),
                grant("d", "BJ-01", None),
            ],
            revocations: vec![revocation("d")],
        };
        let ids = |v: Vec<GrantStatus>| v.into_iter().map(|s| s.grant.copy_id).collect::<Vec<_>>();
        assert_eq!(ids(grants.listing(None, false, now)), ["a", "c"]);
        assert_eq!(ids(grants.listing(None, true, now)), ["a", "b", "c", "d"]);
        assert_eq!(ids(grants.listing(Some("BJ-01"), false, now)), ["a"]);
        assert_eq!(
            ids(grants.listing(Some("BJ-01"), true, now)),
            ["a", "b", "d"]
        );
        assert!(grants.listing(Some("BJ-03"), true, now).is_empty());
        // A document written before grants could expire reads as never expiring.
        let mut old = serde_json::to_value(grant("e", "BJ-01", None)).unwrap();
        old.as_object_mut().unwrap().remove("expires");
        let old: Grant = serde_json::from_value(old).unwrap();
        assert_eq!(old.expires, None);
        assert!(!old.expired_at(now));
    }
}
