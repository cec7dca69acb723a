//! The copy bundles kept for court grants in the server's home (`<home>/copies/`): where a
//! grant's bundle lies, its removal when the grant is revoked, and the pruning of the bundles
//! of revoked and expired grants (`strongroom copy prune`).
//!
//! A bundle is a derived artefact: the grant, its revocation and every read stay in the
//! store and the ledger, which are the record. Removing a bundle therefore writes no ledger
//! entry, and never touches the store. Files in the folder that no grant names (a bundle
//! whose grant was cut short, one being issued right now) are listed, never removed.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::grant::{self, Grant, GrantError, GrantState, Grants, Revocation};
use crate::sign::ArchiveKey;
use crate::store::Store;

/// The folder of the bundles under the home.
pub const COPIES_DIR: &str = "copies";

/// Errors of the bundle housekeeping.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the grants failed.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// A file of the copies folder could not be read or removed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Where `g`'s bundle lies, or None when its name would leave the copies folder (the name
/// comes from a committed grant, but a path is never built from it blindly).
pub fn bundle_path(home_dir: &Path, g: &Grant) -> Option<PathBuf> {
    let name = g.bundle.as_str();
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    Some(home_dir.join(COPIES_DIR).join(name))
}

/// Removes `g`'s bundle: its size when it was removed, None when it was not there.
pub fn remove_bundle(home_dir: &Path, g: &Grant) -> Result<Option<u64>, BundleError> {
    let Some(path) = bundle_path(home_dir, g) else {
        return Ok(None);
    };
    let bytes = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(BundleError::Io { path, source }),
    };
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BundleError::Io { path, source }),
    }
}

/// A revocation done, with what became of the bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    /// The grant revoked.
    pub grant: Grant,
    /// The revocation committed.
    pub revocation: Revocation,
    /// Whether the bundle was removed from the home now (false: it was not there, or could
    /// not be removed, see `bundle_problem`).
    pub bundle_removed: bool,
    /// Why the bundle could not be removed (the revocation stands; `copy prune` removes it
    /// later).
    pub bundle_problem: Option<String>,
}

impl Revoked {
    /// The revocation as the API and `strongroom copy revoke --json` write it: `{grant,
    /// revocation, applied: {event, ledger_index, change}, bundle_removed, bundle_problem}`.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.revocation;
        serde_json::json!({
            "grant": self.grant,
            "revocation": r,
            "applied": {"event": "copy.revoked", "ledger_index": r.ledger_index, "change": r.change},
            "bundle_removed": self.bundle_removed,
            "bundle_problem": self.bundle_problem,
        })
    }
}

/// Revokes a grant ([`grant::revoke`]) and then removes its bundle from the home: the one
/// path of the API, the copy's page and `strongroom copy revoke`. The revocation is committed
/// first, so a crash in between leaves a revoked grant whose bundle `copy prune` removes; a
/// bundle that cannot be removed does not undo the revocation.
pub async fn revoke(
    home_dir: &Path,
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    copy_id: &str,
    reason: &str,
) -> Result<Revoked, GrantError> {
    let (g, r) = grant::revoke(store, key, actor, copy_id, reason).await?;
    let (bundle_removed, bundle_problem) = match remove_bundle(home_dir, &g) {
        Ok(removed) => (removed.is_some(), None),
        Err(e) => (false, Some(e.to_string())),
    };
    Ok(Revoked {
        grant: g,
        revocation: r,
        bundle_removed,
        bundle_problem,
    })
}

/// One bundle pruned (or, with a dry run, to be pruned).
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    /// The copy.
    pub copy_id: String,
    /// The court it was granted to.
    pub court: String,
    /// The grant's state: `revoked` or `expired`.
    pub state: GrantState,
    /// When it was revoked or expired (RFC 3339).
    pub since: String,
    /// The bundle's file name in `<home>/copies/`.
    pub bundle: String,
    /// Its size.
    pub bytes: u64,
}

/// What `copy prune` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// The moment grants were judged at (RFC 3339).
    pub as_of: String,
    /// Nothing was removed: `removed` lists what would be.
    pub dry_run: bool,
    /// Bundles of revoked or expired grants removed.
    pub removed: Vec<Pruned>,
    /// Their total size.
    pub bytes_removed: u64,
    /// Bundles of grants in force, kept.
    pub kept: usize,
    /// Grants revoked or expired whose bundle was gone already.
    pub already_gone: usize,
    /// Files in the folder that no grant names, left alone (a grant cut short by a crash,
    /// or a bundle being issued right now).
    pub unreferenced: Vec<String>,
}

/// Removes the bundles of the grants revoked or expired at `now` from `<home>/copies/`
/// (with `dry_run`, only says which).
pub async fn prune(
    home_dir: &Path,
    store: &Store,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<PruneReport, BundleError> {
    let grants = Grants::load(store).await?;
    let mut report = PruneReport {
        as_of: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        dry_run,
        ..PruneReport::default()
    };
    for s in grants.statuses_at(now) {
        let Some(path) = bundle_path(home_dir, &s.grant) else {
            continue;
        };
        let since = match (&s.state, &s.revoked) {
            (GrantState::Active, _) => {
                if path.exists() {
                    report.kept += 1;
                }
                continue;
            }
            (GrantState::Revoked, Some(r)) => r.revoked_at.clone(),
            _ => s.grant.expires.clone().unwrap_or_default(),
        };
        let bytes = if dry_run {
            std::fs::metadata(&path).ok().map(|m| m.len())
        } else {
            remove_bundle(home_dir, &s.grant)?
        };
        match bytes {
            Some(bytes) => {
                report.bytes_removed += bytes;
                report.removed.push(Pruned {
                    copy_id: s.grant.copy_id.clone(),
                    court: s.grant.court.clone(),
                    state: s.state,
                    since,
                    bundle: s.grant.bundle.clone(),
                    bytes,
                });
            }
            None => report.already_gone += 1,
        }
    }
    let dir = home_dir.join(COPIES_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(source) => return Err(BundleError::Io { path: dir, source }),
    };
    for e in entries {
        let e = e.map_err(|source| BundleError::Io {
            path: dir.clone(),
            source,
        })?;
        let name = e.file_name().to_string_lossy().into_owned();
        let named = grants.grants.iter().any(|g| g.bundle == name);
        let pruned = report.removed.iter().any(|p| p.bundle == name);
        if !named && !pruned {
            report.unreferenced.push(name);
        }
    }
    report.unreferenced.sort();
    Ok(report)
}
