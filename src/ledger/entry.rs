//! Ledger entries: what one leaf of the ledger says, and its one canonical byte sequence.
//!
//! An entry is a JSON object in RFC 8785 canonical form (no trailing newline): `v` (entry
//! format version), `type` (the event), `time` (RFC 3339 UTC), `actor`, and the event's own
//! fields. Canonical form makes the encoding unique: decoding refuses any other spelling of
//! the same object, so a leaf hash identifies one entry. An entry holds identifiers and
//! digests, never record content, so destroying a record never touches the ledger.
//!
//! Event types will grow: [`Entry::decode`] accepts any `type`, and only [`Event`] knows the
//! fields of the types this version writes. Specified in `formats/ledger.md` ("Entries").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::sign;

/// The entry format version this code writes in `v`.
pub const ENTRY_VERSION: u32 = 1;

/// Largest entry a tlog-tiles entry bundle can hold (a big-endian u16 length prefix).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Errors reading or writing an entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// Not a JSON object at all.
    #[error("ledger entry is not a JSON object")]
    Json(#[source] serde_json::Error),
    /// JSON, but not the canonical spelling of itself.
    #[error("ledger entry is not in RFC 8785 canonical form")]
    NotCanonical,
    /// A required member is missing or of the wrong type.
    #[error("ledger entry lacks a valid {0:?} member")]
    Missing(&'static str),
    /// Written by a newer strongroom with an entry format this one does not know.
    #[error(
        "ledger entry format version {0} is newer than this strongroom reads ({ENTRY_VERSION})"
    )]
    Version(u64),
    /// Encoding failed or the result is too large for an entry bundle.
    #[error(
        "ledger entry of {len} bytes is larger than an entry bundle holds ({MAX_ENTRY_BYTES})"
    )]
    TooLarge {
        /// Its encoded length.
        len: usize,
    },
    /// Canonicalisation failed.
    #[error("cannot encode ledger entry")]
    Encode(#[source] sign::Error),
}

/// One ledger entry as read: the common members and whatever else its type carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Entry format version ([`ENTRY_VERSION`]).
    pub v: u32,
    /// Event type, e.g. `transfer.accepted`; unknown types are kept as they are.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339 UTC time the event was recorded.
    pub time: String,
    /// Who caused it (`--as`, or the server's authenticated user).
    pub actor: String,
    /// The event's own members.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Entry {
    /// Builds an entry for `event` by `actor` at `time`.
    pub fn new(event: &Event, actor: &str, time: &str) -> Entry {
        let (kind, fields) = event.to_parts();
        Entry {
            v: ENTRY_VERSION,
            kind: kind.to_string(),
            time: time.to_string(),
            actor: actor.to_string(),
            fields,
        }
    }

    /// The one byte sequence of this entry (RFC 8785), refused if a bundle cannot hold it.
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        let text = sign::canonical_json(self).map_err(EntryError::Encode)?;
        if text.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge { len: text.len() });
        }
        Ok(text.into_bytes())
    }

    /// Reads an entry, requiring canonical form and the common members; any `type` is
    /// accepted.
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        let value: Value = serde_json::from_slice(bytes).map_err(EntryError::Json)?;
        let obj = value.as_object().ok_or(EntryError::Missing("(object)"))?;
        let v = obj
            .get("v")
            .and_then(Value::as_u64)
            .ok_or(EntryError::Missing("v"))?;
        if v > u64::from(ENTRY_VERSION) {
            return Err(EntryError::Version(v));
        }
        for member in ["type", "time", "actor"] {
            if !obj.get(member).is_some_and(Value::is_string) {
                return Err(EntryError::Missing(member));
            }
        }
        let canonical = sign::canonical_json(&value).map_err(EntryError::Encode)?;
        if canonical.as_bytes() != bytes {
            return Err(EntryError::NotCanonical);
        }
        serde_json::from_value(value).map_err(EntryError::Json)
    }

    /// A string member of the event, when present.
    pub fn field_str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
}

/// The events this version of strongroom writes. Each maps to a `type` and its members; see
/// `formats/ledger.md` for the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `transfer.accepted` (移交接收): a transfer is in the archive. The record list is
    /// referenced by digest (it can be larger than an entry may be); each record also has its
    /// own `record.stored` entry in the same batch.
    TransferAccepted {
        /// Agency-Code.
        agency_code: String,
        /// External-Identifier.
        external_identifier: String,
        /// `sha512:` fingerprint of the payload (as in the receipt).
        payload_fingerprint: String,
        /// Number of records.
        records: u64,
        /// `sha256:` of the canonical JSON of the transfer's record list (the `records` of
        /// its transfer record in the store).
        records_digest: String,
        /// sha256 of the signed receipt's canonical JSON (the note text).
        receipt_sha256: String,
    },
    /// `record.stored`: version 1 of a record's OCFL object.
    RecordStored {
        /// 档号.
        reference_code: String,
        /// OCFL object id.
        object_id: String,
        /// `v1`.
        version: String,
        /// sha512 of the version's inventory.json.
        inventory_sha512: String,
        /// The transfer it came in, `<Agency-Code>/<External-Identifier>`.
        transfer: String,
    },
    /// `record.amended` (著录更正): a new version correcting a record's metadata.
    RecordAmended {
        /// 档号.
        reference_code: String,
        /// OCFL object id.
        object_id: String,
        /// The new version, `vN`.
        version: String,
        /// sha512 of the version's inventory.json.
        inventory_sha512: String,
        /// sha512 of the new record.json.
        record_json_sha512: String,
        /// Why, as the archivist gave it.
        reason: String,
        /// The metadata fields changed (`amend --set`); empty when a whole record.json was
        /// given, and then not written.
        fields: Vec<String>,
    },
    /// `record.read`: a person read a record's metadata or a file (DESIGN.md: every read by a
    /// person is recorded).
    RecordRead {
        /// 档号.
        reference_code: String,
        /// OCFL object id.
        object_id: String,
        /// The version read.
        version: String,
        /// The logical path read, or None for the metadata view.
        file: Option<String>,
        /// Why (`--purpose`).
        purpose: String,
    },
    /// `seal.verified`: a seal over a record's file was verified at intake (the verdict and
    /// its evidence are in the record's `evidence/intake.json`).
    SealVerified {
        /// 档号.
        reference_code: String,
        /// OCFL object id.
        object_id: String,
        /// Logical path of the sealed file.
        file: String,
        /// Logical path of the seal file.
        seal_file: String,
        /// `valid` (intake refuses anything else).
        result: String,
        /// The trust anchor the signer chained to.
        anchor: String,
        /// sha256 of the verdict's canonical JSON, as kept in the evidence.
        verdict_sha256: String,
    },
    /// `fixity.audited` (定期检测): a run of `verify` re-read the archive's bytes; what was
    /// checked and what failed (DA/T 70 asks for the four checks periodically in storage).
    FixityAudited {
        /// `all`, or the 档号 asked for (their list, or its sha256 when long).
        scope: String,
        /// Records checked.
        records_checked: u64,
        /// Files whose digests were recomputed.
        files_checked: u64,
        /// Bytes re-read.
        bytes_checked: u64,
        /// `intact` or `damaged`.
        result: String,
        /// 档号 of the damaged records (at most 100; `damaged_count` counts them all).
        damaged: Vec<String>,
        /// Number of damaged records.
        damaged_count: u64,
        /// Problems found (error-level findings).
        problems: u64,
    },
    /// `seal.anchor.added`: a trust anchor (an agency's CA certificate or bare public key)
    /// entered the seal registry (`formats/seals.md`, "The seal registry").
    SealAnchorAdded {
        /// Agency-Code whose seals the anchor vouches for.
        agency_code: String,
        /// `sha256:` of the anchor's DER (certificate, or SubjectPublicKeyInfo of a bare key).
        anchor_fingerprint: String,
        /// `certificate` or `public_key`.
        anchor_kind: String,
        /// The registry change's id (also in its documents).
        change: String,
        /// `sha256:` of the anchor document as stored.
        document_sha256: String,
    },
    /// `seal.anchor.revoked`: an anchor is no longer trusted from `revoked_at` on.
    SealAnchorRevoked {
        /// Agency-Code.
        agency_code: String,
        /// `sha256:` fingerprint of the anchor.
        anchor_fingerprint: String,
        /// RFC 3339 time from which the anchor is not trusted.
        revoked_at: String,
        /// The registry change's id.
        change: String,
        /// `sha256:` of the revocation document as stored.
        document_sha256: String,
    },
    /// `seal.certificate.revoked`: a certificate (issuer, serial) revoked by hand.
    SealCertificateRevoked {
        /// Agency-Code.
        agency_code: String,
        /// `sha256:` fingerprint of the issuing CA anchor.
        issuer_fingerprint: String,
        /// Serial number, lowercase hex.
        serial: String,
        /// RFC 3339 revocation time.
        revoked_at: String,
        /// The registry change's id.
        change: String,
        /// `sha256:` of the revocation document as stored.
        document_sha256: String,
    },
    /// `seal.crl.imported`: a CRL, verified with an anchor's key, entered the registry.
    SealCrlImported {
        /// Agency-Code.
        agency_code: String,
        /// `sha256:` of the CRL's DER.
        crl_sha256: String,
        /// `sha256:` fingerprint of the anchor that issued (and signed) it.
        issuer_fingerprint: String,
        /// The CRL's thisUpdate (RFC 3339).
        this_update: String,
        /// Number of revoked certificates it lists.
        revoked: u64,
        /// The registry change's id.
        change: String,
        /// `sha256:` of the CRL's summary document as stored.
        document_sha256: String,
    },
    /// `copy.issued` (出具核对无误的电子副本): an authenticated copy bundle was issued for a
    /// court (`formats/copy-bundle.md`); the bundle cannot hold this entry's proof, so it
    /// names the copy by `copy_id` and the manifest by digest.
    CopyIssued {
        /// The copy's id, as in the bundle's manifest.
        copy_id: String,
        /// Who the copy is for (`--for`, e.g. the court).
        requested_for: String,
        /// The request as given (`--request`).
        request: String,
        /// 档号 of the records copied, in the order asked.
        records: Vec<String>,
        /// The version copied of each record, in the same order.
        versions: Vec<String>,
        /// sha256 of the signed manifest's text (its canonical JSON line and line feed).
        manifest_sha256: String,
        /// The size of the checkpoint every proof in the bundle leads to.
        checkpoint_size: u64,
    },
    /// `hold.placed` (冻结): records may not be disposed of until the hold is lifted.
    HoldPlaced {
        /// The hold's id (`H1`, `H2`, …).
        hold: String,
        /// 档号 of the records held.
        reference_codes: Vec<String>,
        /// Why (litigation, audit, …).
        reason: String,
        /// Who ordered it (a court, an auditor, …).
        authority: String,
        /// The retention change's id (also in its document).
        change: String,
        /// `sha256:` of the hold document as stored.
        document_sha256: String,
    },
    /// `hold.lift.approved` (first archivist) or `hold.lifted` (the second, distinct one): a
    /// hold is lifted only with two approvals.
    HoldLift {
        /// The hold's id.
        hold: String,
        /// 1 or 2.
        approval: u32,
        /// Why.
        reason: String,
        /// The retention change's id.
        change: String,
        /// `sha256:` of the approval document as stored.
        document_sha256: String,
    },
    /// `disposition.proposed` (销毁清册 drawn up): a disposition batch from the due list.
    DispositionProposed {
        /// Batch number.
        batch: u64,
        /// `destroy` or `transfer`.
        action: String,
        /// The date it was judged as of (China Standard Time).
        as_of: String,
        /// `sha256:` of the retention policy applied.
        policy_sha256: String,
        /// Records in the batch.
        records: u64,
        /// The retention change's id.
        change: String,
        /// `sha256:` of the batch document as stored.
        document_sha256: String,
    },
    /// `disposition.approved`: one of the two approvals a batch needs.
    DispositionApproved {
        /// Batch number.
        batch: u64,
        /// 1 or 2.
        approval: u32,
        /// The retention change's id.
        change: String,
        /// `sha256:` of the approval document as stored.
        document_sha256: String,
    },
    /// `record.destroyed` (销毁): a record's OCFL object was removed; what it was stays here.
    RecordDestroyed {
        /// 档号.
        reference_code: String,
        /// OCFL object id.
        object_id: String,
        /// Its last version.
        version: String,
        /// sha512 of its last root inventory.json.
        inventory_sha512: String,
        /// The disposition batch.
        batch: u64,
        /// The retention rule that applied.
        rule: String,
        /// `sha256:` of the retention policy applied.
        policy_sha256: String,
        /// The two archivists who approved the batch.
        approvers: Vec<String>,
        /// The witnesses (监销人).
        witnesses: Vec<String>,
        /// The destruction write's change id (also in the tombstone).
        change: String,
    },
    /// `disposition.certified`: the signed destruction certificate of a batch was issued.
    DispositionCertified {
        /// Batch number.
        batch: u64,
        /// Records destroyed by the batch.
        destroyed: u64,
        /// Records of the batch not destroyed (held, no longer due, gone).
        not_destroyed: u64,
        /// `sha256:` of the certificate's signed note.
        certificate_sha256: String,
        /// The retention change's id.
        change: String,
        /// `sha256:` of the certificate document as stored.
        document_sha256: String,
    },
    /// `record.reappraised` (鉴定): a new version whose metadata carries a new retention
    /// code; the 档号 and object id stay as they are.
    RecordReappraised {
        /// 档号.
        reference_code: String,
        /// OCFL object id.
        object_id: String,
        /// The new version, `vN`.
        version: String,
        /// sha512 of the version's inventory.json.
        inventory_sha512: String,
        /// sha512 of the new record.json.
        record_json_sha512: String,
        /// The code before.
        retention_from: String,
        /// The code now.
        retention_to: String,
        /// Why.
        reason: String,
    },
    /// `record.transferred` (移交进馆): a record's object removed after the receiving
    /// archive's signed receipt for it was recorded.
    RecordTransferred {
        /// 档号.
        reference_code: String,
        /// OCFL object id.
        object_id: String,
        /// Its last version.
        version: String,
        /// sha512 of its last inventory.json.
        inventory_sha512: String,
        /// The transfer batch.
        batch: u64,
        /// The receiving archive (its receipt's `archive`).
        receiving_archive: String,
        /// `sha256:` of the receipt's signed note.
        receipt_sha256: String,
        /// The removal's change id (also in its tombstone).
        change: String,
    },
    /// `copy.repaired` (副本修复): `verify --repair` restored one object file of one copy of
    /// the archive (the primary or a replica) from bytes that match what the ledger promised.
    CopyRepaired {
        /// The copy repaired: `primary` or the replica's name in `config.toml`.
        copy: String,
        /// The object's path in the store.
        path: String,
        /// `missing` or `damaged`.
        problem: String,
        /// Where the good bytes came from: another copy's name, or `ocfl` for the fixed
        /// object declaration.
        source: String,
        /// sha512 of the restored bytes.
        sha512: String,
    },
    /// `fixity.rolling` (定期检测, rolling): one run of the rolling audit re-read the records
    /// stored by ledger entries `[from, to)`; the next run starts at `to` (`docs/scale.md`).
    FixityRolling {
        /// Pass over the ledger, from 1; it grows each time the audit wraps to entry 0.
        cycle: u64,
        /// First ledger entry covered.
        from: u64,
        /// End of the covered range (exclusive): where the next run starts.
        to: u64,
        /// The ledger's size when the run started.
        ledger_size: u64,
        /// Records checked.
        records_checked: u64,
        /// Files whose digests were recomputed.
        files_checked: u64,
        /// Bytes re-read.
        bytes_checked: u64,
        /// `intact` or `damaged`.
        result: String,
        /// 档号 of the damaged records (at most 100).
        damaged: Vec<String>,
        /// Number of damaged records.
        damaged_count: u64,
    },
    /// `retention.event.recorded` (起算事件): a named event happened on a date for records;
    /// rules with `trigger = "event"` naming it count their period from the day after.
    RetentionEventRecorded {
        /// The event's id (`E1`, `E2`, …).
        event: String,
        /// Its name, as a schedule's rule names it.
        name: String,
        /// The day it happened (YYYY-MM-DD, China Standard Time).
        date: String,
        /// 档号 of the records it concerns.
        reference_codes: Vec<String>,
        /// What happened, on whose word.
        reason: String,
        /// The retention change's id (also in its document).
        change: String,
        /// `sha256:` of the event document as stored.
        document_sha256: String,
    },
    /// `user.added` (三员分立): a person or system got an account with one role
    /// (`formats/users.md`).
    UserAdded {
        /// The user's name.
        user: String,
        /// Its role: `agency:<code>`, `archivist`, `court:<id>`, `auditor`, `security-admin`,
        /// `system-admin`.
        role: String,
        /// The change's id (also in its document).
        change: String,
        /// `sha256:` of the change document as stored.
        document_sha256: String,
    },
    /// `user.revoked`: an account can no longer sign in; its tokens stop working.
    UserRevoked {
        /// The user's name.
        user: String,
        /// The change's id.
        change: String,
        /// `sha256:` of the change document as stored.
        document_sha256: String,
    },
    /// `token.issued`: an API token for a user (the token itself is never recorded, its
    /// digest only in the change document).
    TokenIssued {
        /// The user's name.
        user: String,
        /// The token's public id (the part before its secret).
        token_id: String,
        /// RFC 3339 expiry, when it has one.
        expires: Option<String>,
        /// The change's id.
        change: String,
        /// `sha256:` of the change document as stored.
        document_sha256: String,
    },
    /// `token.revoked`: a token stops working.
    TokenRevoked {
        /// The user's name.
        user: String,
        /// The token's public id.
        token_id: String,
        /// The change's id.
        change: String,
        /// `sha256:` of the change document as stored.
        document_sha256: String,
    },
    /// `copy.granted` (调阅授权): an archivist granted a court (`court:<id>`) a copy issued for
    /// it: the court may download that copy and read the records it names on the server.
    CopyGranted {
        /// The court's id.
        court: String,
        /// The copy's id (its `copy.issued` entry names it too).
        copy_id: String,
        /// 档号 of the records the court may read through it.
        reference_codes: Vec<String>,
        /// The grant's change id (also in its document).
        change: String,
        /// `sha256:` of the grant document as stored.
        document_sha256: String,
    },
    /// An archivist revoked a court's grant (撤销调阅授权): from then on the court can no
    /// longer download that copy nor read the records it names through it.
    CopyRevoked {
        /// The court's id.
        court: String,
        /// The copy whose grant is revoked.
        copy_id: String,
        /// Index of the `copy.granted` entry revoked.
        grant_ledger_index: u64,
        /// Why (a court order ended, a request withdrawn, a grant made in error).
        reason: String,
        /// The revocation's change id (also in its document).
        change: String,
        /// `sha256:` of the revocation document as stored.
        document_sha256: String,
    },
    /// `writer.fenced` (写入者隔离): recovery found writes left by writers whose lock was
    /// broken while they may still be alive (a lease run out, not a dead process), and fences
    /// them before undoing those writes: this entry's claim takes the ledger index their
    /// batches planned, so a writer that wakes up can no longer commit them. Also written,
    /// with no writes, by a writer that took the lock by breaking such a writer's lease: it
    /// may be about to claim the tip with a document change or plain events.
    WriterFenced {
        /// The lock tokens of the writers fenced.
        writers: Vec<String>,
        /// The versions undone after this entry, as `object_root@vN` (a removal has none); at
        /// most [`FENCED_VERSIONS_LISTED`], so that the entry fits a bundle.
        versions: Vec<String>,
        /// How many versions are undone in all.
        versions_count: u64,
        /// The intents and removals left behind, as store paths.
        writes: Vec<String>,
    },
}

impl Event {
    fn to_parts(&self) -> (&'static str, Map<String, Value>) {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        let kind = match self {
            Event::TransferAccepted {
                agency_code,
                external_identifier,
                payload_fingerprint,
                records,
                records_digest,
                receipt_sha256,
            } => {
                put("agency_code", agency_code.as_str().into());
                put("external_identifier", external_identifier.as_str().into());
                put("payload_fingerprint", payload_fingerprint.as_str().into());
                put("records", (*records).into());
                put("records_digest", records_digest.as_str().into());
                put("receipt_sha256", receipt_sha256.as_str().into());
                "transfer.accepted"
            }
            Event::RecordStored {
                reference_code,
                object_id,
                version,
                inventory_sha512,
                transfer,
            } => {
                put("reference_code", reference_code.as_str().into());
                put("object_id", object_id.as_str().into());
                put("version", version.as_str().into());
                put("inventory_sha512", inventory_sha512.as_str().into());
                put("transfer", transfer.as_str().into());
                "record.stored"
            }
            Event::RecordAmended {
                reference_code,
                object_id,
                version,
                inventory_sha512,
                record_json_sha512,
                reason,
                fields,
            } => {
                put("reference_code", reference_code.as_str().into());
                put("object_id", object_id.as_str().into());
                put("version", version.as_str().into());
                put("inventory_sha512", inventory_sha512.as_str().into());
                put("record_json_sha512", record_json_sha512.as_str().into());
                put("reason", reason.as_str().into());
                if !fields.is_empty() {
                    put("fields", fields.clone().into());
                }
                "record.amended"
            }
            Event::RecordRead {
                reference_code,
                object_id,
                version,
                file,
                purpose,
            } => {
                put("reference_code", reference_code.as_str().into());
                put("object_id", object_id.as_str().into());
                put("version", version.as_str().into());
                if let Some(f) = file {
                    put("file", f.as_str().into());
                }
                put("purpose", purpose.as_str().into());
                "record.read"
            }
            Event::SealVerified {
                reference_code,
                object_id,
                file,
                seal_file,
                result,
                anchor,
                verdict_sha256,
            } => {
                put("reference_code", reference_code.as_str().into());
                put("object_id", object_id.as_str().into());
                put("file", file.as_str().into());
                put("seal_file", seal_file.as_str().into());
                put("result", result.as_str().into());
                put("anchor", anchor.as_str().into());
                put("verdict_sha256", verdict_sha256.as_str().into());
                "seal.verified"
            }
            Event::FixityAudited {
                scope,
                records_checked,
                files_checked,
                bytes_checked,
                result,
                damaged,
                damaged_count,
                problems,
            } => {
                put("scope", scope.as_str().into());
                put("records_checked", (*records_checked).into());
                put("files_checked", (*files_checked).into());
                put("bytes_checked", (*bytes_checked).into());
                put("result", result.as_str().into());
                put("damaged", damaged.clone().into());
                put("damaged_count", (*damaged_count).into());
                put("problems", (*problems).into());
                "fixity.audited"
            }
            Event::SealAnchorAdded {
                agency_code,
                anchor_fingerprint,
                anchor_kind,
                change,
                document_sha256,
            } => {
                put("agency_code", agency_code.as_str().into());
                put("anchor_fingerprint", anchor_fingerprint.as_str().into());
                put("anchor_kind", anchor_kind.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "seal.anchor.added"
            }
            Event::SealAnchorRevoked {
                agency_code,
                anchor_fingerprint,
                revoked_at,
                change,
                document_sha256,
            } => {
                put("agency_code", agency_code.as_str().into());
                put("anchor_fingerprint", anchor_fingerprint.as_str().into());
                put("revoked_at", revoked_at.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "seal.anchor.revoked"
            }
            Event::SealCertificateRevoked {
                agency_code,
                issuer_fingerprint,
                serial,
                revoked_at,
                change,
                document_sha256,
            } => {
                put("agency_code", agency_code.as_str().into());
                put("issuer_fingerprint", issuer_fingerprint.as_str().into());
                put("serial", serial.as_str().into());
                put("revoked_at", revoked_at.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "seal.certificate.revoked"
            }
            Event::SealCrlImported {
                agency_code,
                crl_sha256,
                issuer_fingerprint,
                this_update,
                revoked,
                change,
                document_sha256,
            } => {
                put("agency_code", agency_code.as_str().into());
                put("crl_sha256", crl_sha256.as_str().into());
                put("issuer_fingerprint", issuer_fingerprint.as_str().into());
                put("this_update", this_update.as_str().into());
                put("revoked", (*revoked).into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "seal.crl.imported"
            }
            Event::CopyIssued {
                copy_id,
                requested_for,
                request,
                records,
                versions,
                manifest_sha256,
                checkpoint_size,
            } => {
                put("copy_id", copy_id.as_str().into());
                put("requested_for", requested_for.as_str().into());
                put("request", request.as_str().into());
                put("records", records.clone().into());
                put("versions", versions.clone().into());
                put("manifest_sha256", manifest_sha256.as_str().into());
                put("checkpoint_size", (*checkpoint_size).into());
                "copy.issued"
            }
            Event::HoldPlaced {
                hold,
                reference_codes,
                reason,
                authority,
                change,
                document_sha256,
            } => {
                put("hold", hold.as_str().into());
                put("reference_codes", reference_codes.clone().into());
                put("reason", reason.as_str().into());
                put("authority", authority.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "hold.placed"
            }
            Event::HoldLift {
                hold,
                approval,
                reason,
                change,
                document_sha256,
            } => {
                put("hold", hold.as_str().into());
                put("approval", (*approval).into());
                put("reason", reason.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                if *approval >= 2 {
                    "hold.lifted"
                } else {
                    "hold.lift.approved"
                }
            }
            Event::DispositionProposed {
                batch,
                action,
                as_of,
                policy_sha256,
                records,
                change,
                document_sha256,
            } => {
                put("batch", (*batch).into());
                put("action", action.as_str().into());
                put("as_of", as_of.as_str().into());
                put("policy_sha256", policy_sha256.as_str().into());
                put("records", (*records).into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "disposition.proposed"
            }
            Event::DispositionApproved {
                batch,
                approval,
                change,
                document_sha256,
            } => {
                put("batch", (*batch).into());
                put("approval", (*approval).into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "disposition.approved"
            }
            Event::RecordDestroyed {
                reference_code,
                object_id,
                version,
                inventory_sha512,
                batch,
                rule,
                policy_sha256,
                approvers,
                witnesses,
                change,
            } => {
                put("reference_code", reference_code.as_str().into());
                put("object_id", object_id.as_str().into());
                put("version", version.as_str().into());
                put("inventory_sha512", inventory_sha512.as_str().into());
                put("batch", (*batch).into());
                put("rule", rule.as_str().into());
                put("policy_sha256", policy_sha256.as_str().into());
                put("approvers", approvers.clone().into());
                put("witnesses", witnesses.clone().into());
                put("change", change.as_str().into());
                "record.destroyed"
            }
            Event::DispositionCertified {
                batch,
                destroyed,
                not_destroyed,
                certificate_sha256,
                change,
                document_sha256,
            } => {
                put("batch", (*batch).into());
                put("destroyed", (*destroyed).into());
                put("not_destroyed", (*not_destroyed).into());
                put("certificate_sha256", certificate_sha256.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "disposition.certified"
            }
            Event::RecordReappraised {
                reference_code,
                object_id,
                version,
                inventory_sha512,
                record_json_sha512,
                retention_from,
                retention_to,
                reason,
            } => {
                put("reference_code", reference_code.as_str().into());
                put("object_id", object_id.as_str().into());
                put("version", version.as_str().into());
                put("inventory_sha512", inventory_sha512.as_str().into());
                put("record_json_sha512", record_json_sha512.as_str().into());
                put("retention_from", retention_from.as_str().into());
                put("retention_to", retention_to.as_str().into());
                put("reason", reason.as_str().into());
                "record.reappraised"
            }
            Event::RecordTransferred {
                reference_code,
                object_id,
                version,
                inventory_sha512,
                batch,
                receiving_archive,
                receipt_sha256,
                change,
            } => {
                put("reference_code", reference_code.as_str().into());
                put("object_id", object_id.as_str().into());
                put("version", version.as_str().into());
                put("inventory_sha512", inventory_sha512.as_str().into());
                put("batch", (*batch).into());
                put("receiving_archive", receiving_archive.as_str().into());
                put("receipt_sha256", receipt_sha256.as_str().into());
                put("change", change.as_str().into());
                "record.transferred"
            }
            Event::CopyRepaired {
                copy,
                path,
                problem,
                source,
                sha512,
            } => {
                put("copy", copy.as_str().into());
                put("path", path.as_str().into());
                put("problem", problem.as_str().into());
                put("source", source.as_str().into());
                put("sha512", sha512.as_str().into());
                "copy.repaired"
            }
            Event::FixityRolling {
                cycle,
                from,
                to,
                ledger_size,
                records_checked,
                files_checked,
                bytes_checked,
                result,
                damaged,
                damaged_count,
            } => {
                put("cycle", (*cycle).into());
                put("from", (*from).into());
                put("to", (*to).into());
                put("ledger_size", (*ledger_size).into());
                put("records_checked", (*records_checked).into());
                put("files_checked", (*files_checked).into());
                put("bytes_checked", (*bytes_checked).into());
                put("result", result.as_str().into());
                put("damaged", damaged.clone().into());
                put("damaged_count", (*damaged_count).into());
                "fixity.rolling"
            }
            Event::RetentionEventRecorded {
                event,
                name,
                date,
                reference_codes,
                reason,
                change,
                document_sha256,
            } => {
                put("event", event.as_str().into());
                put("name", name.as_str().into());
                put("date", date.as_str().into());
                put("reference_codes", reference_codes.clone().into());
                put("reason", reason.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "retention.event.recorded"
            }
            Event::UserAdded {
                user,
                role,
                change,
                document_sha256,
            } => {
                put("user", user.as_str().into());
                put("role", role.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "user.added"
            }
            Event::UserRevoked {
                user,
                change,
                document_sha256,
            } => {
                put("user", user.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "user.revoked"
            }
            Event::TokenIssued {
                user,
                token_id,
                expires,
                change,
                document_sha256,
            } => {
                put("user", user.as_str().into());
                put("token_id", token_id.as_str().into());
                if let Some(e) = expires {
                    put("expires", e.as_str().into());
                }
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "token.issued"
            }
            Event::TokenRevoked {
                user,
                token_id,
                change,
                document_sha256,
            } => {
                put("user", user.as_str().into());
                put("token_id", token_id.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "token.revoked"
            }
            Event::CopyGranted {
                court,
                copy_id,
                reference_codes,
                change,
                document_sha256,
            } => {
                put("court", court.as_str().into());
                put("copy_id", copy_id.as_str().into());
                put("reference_codes", reference_codes.clone().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "copy.granted"
            }
            Event::CopyRevoked {
                court,
                copy_id,
                grant_ledger_index,
                reason,
                change,
                document_sha256,
            } => {
                put("court", court.as_str().into());
                put("copy_id", copy_id.as_str().into());
                put("grant_ledger_index", (*grant_ledger_index).into());
                put("reason", reason.as_str().into());
                put("change", change.as_str().into());
                put("document_sha256", document_sha256.as_str().into());
                "copy.revoked"
            }
            Event::WriterFenced {
                writers,
                versions,
                versions_count,
                writes,
            } => {
                put("writers", writers.clone().into());
                put("versions", versions.clone().into());
                put("versions_count", (*versions_count).into());
                put("writes", writes.clone().into());
                "writer.fenced"
            }
        };
        (kind, m)
    }
}

/// At most this many versions are named in a `writer.fenced` entry (a crashed transfer of
/// thousands of records would not fit an entry); `versions_count` gives them all.
pub const FENCED_VERSIONS_LISTED: usize = 100;

/// The types an entry records a new object version with, and so the ones `verify` matches
/// against the OCFL store.
pub const VERSION_EVENTS: [&str; 3] = ["record.stored", "record.amended", "record.reappraised"];

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Event {
        Event::RecordStored {
            reference_code: "0194-WS·2016-D30-BGS-0001".into(),
            object_id: "urn:strongroom:0194-WS·2016-D30-BGS-0001".into(),
            version: "v1".into(),
            inventory_sha512: "ab".repeat(64),
            transfer: "AG/T-1".into(),
        }
    }

    #[test]
    fn encoding_is_canonical_and_round_trips() {
        let e = Entry::new(&stored(), "archivist", "2026-12-01T00:00:00Z");
        let bytes = e.encode().expect("encode");
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        // Members sorted, no white space, UTF-8 kept.
        assert!(text.starts_with("{\"actor\":\"archivist\",\"inventory_sha512\""));
        assert!(text.contains("0194-WS·2016"));
        assert!(!text.contains(' '));
        assert_eq!(Entry::decode(&bytes).expect("decode"), e);
    }

    #[test]
    fn other_spellings_of_the_same_entry_are_refused() {
        let e = Entry::new(&stored(), "archivist", "2026-12-01T00:00:00Z");
        let bytes = e.encode().expect("encode");
        let pretty = serde_json::to_vec_pretty(&e).expect("json");
        assert!(matches!(
            Entry::decode(&pretty),
            Err(EntryError::NotCanonical)
        ));
        let mut spaced = bytes.clone();
        spaced.push(b'\n');
        assert!(Entry::decode(&spaced).is_err());
    }

    #[test]
    fn unknown_types_are_read_and_missing_members_named() {
        let unknown = br#"{"actor":"x","hold":"H-1","time":"2030-01-01T00:00:00Z","type":"hold.placed.v9","v":1}"#;
        let e = Entry::decode(unknown).expect("unknown type is accepted");
        assert_eq!(e.kind, "hold.placed.v9");
        assert_eq!(e.field_str("hold"), Some("H-1"));
        let no_actor = br#"{"time":"t","type":"x","v":1}"#;
        assert!(matches!(
            Entry::decode(no_actor),
            Err(EntryError::Missing("actor"))
        ));
        let newer = br#"{"actor":"x","time":"t","type":"x","v":2}"#;
        assert!(matches!(Entry::decode(newer), Err(EntryError::Version(2))));
        assert!(Entry::decode(b"[1]").is_err());
    }

    #[test]
    fn retention_events_have_their_types_and_members() {
        let destroyed = Event::RecordDestroyed {
            reference_code: "0194-WS·2016-D10-BGS-0001".into(),
            object_id: "urn:strongroom:0194-WS·2016-D10-BGS-0001".into(),
            version: "v2".into(),
            inventory_sha512: "ab".repeat(64),
            batch: 3,
            rule: "ws-year-end".into(),
            policy_sha256: "sha256:00".into(),
            approvers: vec!["alice".into(), "bob".into()],
            witnesses: vec!["王".into(), "李".into()],
            change: "c".into(),
        };
        let e = Entry::new(&destroyed, "carol", "2027-01-02T00:00:00Z");
        let back = Entry::decode(&e.encode().expect("encode")).expect("decode");
        assert_eq!(back.kind, "record.destroyed");
        assert_eq!(back.fields["batch"], 3);
        assert_eq!(back.fields["witnesses"][1], "李");
        let lift = |approval| Event::HoldLift {
            hold: "H1".into(),
            approval,
            reason: "r".into(),
            change: "c".into(),
            document_sha256: "sha256:00".into(),
        };
        assert_eq!(Entry::new(&lift(1), "a", "t").kind, "hold.lift.approved");
        assert_eq!(Entry::new(&lift(2), "b", "t").kind, "hold.lifted");
        assert!(VERSION_EVENTS.contains(&"record.reappraised"));
    }

    #[test]
    fn an_entry_too_large_for_a_bundle_is_refused() {
        let e = Entry::new(
            &Event::RecordAmended {
                reference_code: "r".into(),
                object_id: "o".into(),
                version: "v2".into(),
                inventory_sha512: String::new(),
                record_json_sha512: String::new(),
                reason: "x".repeat(MAX_ENTRY_BYTES),
                fields: Vec::new(),
            },
            "a",
            "t",
        );
        assert!(matches!(e.encode(), Err(EntryError::TooLarge { .. })));
    }
}
