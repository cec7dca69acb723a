//! Court grants (调阅授权): a copy issued for a court (`court:<id>`) through the server, and
//! with it the court's right to download that copy and read the records it names. A grant is
//! a document under `grants/` in the store, committed by its `copy.granted` ledger entry,
//! exactly as the users' changes are (`formats/users.md`): a document counts only when the
//! entry at its `ledger_index` carries its change id and digest.
//!
//! The bundle itself is kept in the server's home (`<home>/copies/<copy_id>.zip`); the grant
//! names its sha256, so a bundle that changed on disk is refused rather than handed out.

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
}

/// Every committed grant, in ledger order.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// The grants.
    pub grants: Vec<Grant>,
}

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
            let Ok(g) = serde_json::from_slice::<Grant>(&bytes) else {
                continue;
            };
            if g.ledger_index >= size {
                continue;
            }
            let committed = Entry::decode(&ledger.entry(g.ledger_index).await?).is_ok_and(|e| {
                e.kind == "copy.granted"
                    && e.field_str("change") == Some(g.change.as_str())
                    && e.field_str("document_sha256") == Some(sha256_tag(&bytes).as_str())
                    && e.field_str("court") == Some(g.court.as_str())
            });
            if committed {
                out.grants.push(g);
            }
        }
        out.grants.sort_by_key(|g| g.ledger_index);
        Ok(out)
    }

    /// The grants for one court.
    pub fn for_court(&self, court: &str) -> Vec<&Grant> {
        self.grants.iter().filter(|g| g.court == court).collect()
    }

    /// The records a court may read: those its copies name.
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

    /// A grant by copy id.
    pub fn find(&self, copy_id: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.copy_id == copy_id)
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
                doc_type: "strongroom.copy-grant".into(),
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
