//! The seal registry: which keys the archive trusts to seal each agency's records, from when
//! to when, and what was revoked (`formats/seals.md`, "The seal registry").
//!
//! Owns the documents under `seals/` in the store and nothing else. Every change takes the
//! writer lock, writes its documents create-only, syncs, and then appends one ledger entry,
//! which is the commit point: a document counts only when the ledger entry at its
//! `ledger_index` carries its `change` id (and, where the entry names one, its digest).
//! Anything else under `seals/` was left by a change that crashed before its entry, or was
//! changed afterwards: readers ignore it (and list it), and the next change that needs the
//! path of a leftover deletes it.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::verdict::{AlgorithmPolicy, ChainLink, CrlUsed};
use super::x509::{self, KeyAlgorithm, PublicKey};

use crate::ledger::entry::{Entry, EntryError, Event};
use crate::ledger::log::LedgerError;
use crate::sign::ArchiveKey;
use crate::store::{self, Store, StoreError};

/// Version of the registry documents this code writes.
pub const REGISTRY_FORMAT_VERSION: u32 = 1;

/// The registry's prefix in the store.
pub const SEALS_PREFIX: &str = "seals";

/// Errors of the registry. Bad input is told apart from a failing store.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The certificate, key or CRL given is not what it claims to be.
    #[error("{0}")]
    BadInput(String),
    /// A usage error: an argument that cannot be right (agency code, date, window).
    #[error("{0}")]
    Usage(String),
    /// The change would repeat one already in the registry.
    #[error("{0}")]
    Duplicate(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A ledger entry could not be encoded.
    #[error(transparent)]
    Entry(#[from] EntryError),
}

/// What kind of key an anchor holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorKind {
    /// An X.509 CA certificate: it vouches for the certificates it issued, and its own key.
    Certificate,
    /// A bare public key, for an agency without a PKI.
    PublicKey,
}

impl AnchorKind {
    /// `certificate` or `public_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnchorKind::Certificate => "certificate",
            AnchorKind::PublicKey => "public_key",
        }
    }
}

/// The fixed SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A trust anchor as stored (`seals/anchors/<agency>/<fingerprint>.json`) and read back.
/// [`Registry::anchors_for`] hands it to the verifiers as an [`x509::TrustAnchor`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorRecord {
    /// `strongroom.seal.anchor`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// [`REGISTRY_FORMAT_VERSION`].
    pub format_version: u32,
    /// The registry change that added it (its ledger entry carries the same id).
    pub change: String,
    /// Index of the ledger entry that commits it.
    pub ledger_index: u64,
    /// Agency-Code whose seals it vouches for.
    pub agency_code: String,
    /// `certificate` or `public_key`.
    pub anchor: AnchorKind,
    /// `sha256:` of [`AnchorRecord::der_path`]'s bytes: the certificate's DER, or the bare
    /// key's SubjectPublicKeyInfo DER.
    pub fingerprint: String,
    /// Where the DER is kept in the store.
    pub der_path: String,
    /// `Ed25519`, `ECDSA P-256`, `RSA 3072`, …
    pub key_algorithm: String,
    /// Base64 of the SubjectPublicKeyInfo DER (the certificate's, or the bare key).
    pub public_key: String,
    /// The certificate's subject (RFC 4514), for certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The certificate's issuer (RFC 4514), for certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The certificate's serial number, lowercase hex, for certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The certificate's notBefore (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_not_before: Option<String>,
    /// The certificate's notAfter (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_not_after: Option<String>,
    /// Trusted from (RFC 3339); default the certificate's notBefore, none for a bare key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Trusted until (RFC 3339); default the certificate's notAfter, none for a bare key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// When it was added.
    pub added_at: String,
    /// Who added it.
    pub added_by: String,
    /// Filled in when read: when the anchor itself was revoked (`seal.anchor.revoked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Filled in when read: the DER at `der_path`, checked against the fingerprint.
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl AnchorRecord {
    /// The anchor's public key.
    pub fn key(&self) -> Result<PublicKey, String> {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&self.public_key)
            .map_err(|e| format!("stored public key is not base64: {e}"))?;
        PublicKey::from_spki_der(&der).map_err(|p| p.message)
    }

    /// The anchor as the verifiers take it: the certificate (or bare key) and the window.
    /// A bare key revoked at T is trusted until T; a revoked certificate anchor is handed on
    /// as a revocation instead ([`Registry::revocations`]).
    pub fn to_anchor(&self) -> x509::TrustAnchor {
        let certificate = match self.anchor {
            AnchorKind::Certificate => x509::Certificate::from_der(&self.der).ok(),
            AnchorKind::PublicKey => None,
        };
        let public_key = match self.anchor {
            AnchorKind::PublicKey => self.key().ok().map(|k| k.spki_der),
            AnchorKind::Certificate => None,
        };
        let mut not_after = self.valid_until.as_deref().and_then(parse_time);
        if self.anchor == AnchorKind::PublicKey {
            if let Some(r) = self.revoked_at.as_deref().and_then(parse_time) {
                not_after = Some(not_after.map_or(r, |u| u.min(r)));
            }
        }
        x509::TrustAnchor {
            certificate,
            public_key,
            not_before: self.valid_from.as_deref().and_then(parse_time),
            not_after,
        }
    }

    /// Whether `at` lies in the anchor's validity window; Err says which side it missed.
    pub fn window_contains(&self, at: DateTime<Utc>) -> Result<(), WindowMiss> {
        if let Some(from) = self.valid_from.as_deref().and_then(parse_time) {
            if at < from {
                return Err(WindowMiss::NotYet(from));
            }
        }
        if let Some(until) = self.valid_until.as_deref().and_then(parse_time) {
            if at > until {
                return Err(WindowMiss::Ended(until));
            }
        }
        Ok(())
    }
}

/// Which end of an anchor's window a time missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMiss {
    /// Before `valid_from`.
    NotYet(DateTime<Utc>),
    /// After `valid_until`.
    Ended(DateTime<Utc>),
}

/// An anchor's own revocation (`seals/anchors/<agency>/<fingerprint>.revoked.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorRevocation {
    /// `strongroom.seal.anchor-revocation`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// [`REGISTRY_FORMAT_VERSION`].
    pub format_version: u32,
    /// The registry change.
    pub change: String,
    /// Index of the ledger entry that commits it.
    pub ledger_index: u64,
    /// Agency-Code.
    pub agency_code: String,
    /// The anchor's fingerprint.
    pub fingerprint: String,
    /// Not trusted from this time on (RFC 3339).
    pub revoked_at: String,
    /// When it was recorded.
    pub recorded_at: String,
    /// Who recorded it.
    pub recorded_by: String,
}

/// Where a revocation came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationSource {
    /// `seal trust revoke`.
    Manual,
    /// A CRL, by the `sha256:` of its DER.
    Crl(String),
}

/// A revoked certificate: issuer and serial, with the time of revocation
/// (`seals/revocations/<issuer>/<serial>.json`, or an entry of an imported CRL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRecord {
    /// `strongroom.seal.revocation` (documents only; CRL entries carry it too when listed).
    #[serde(rename = "type")]
    pub doc_type: String,
    /// [`REGISTRY_FORMAT_VERSION`].
    pub format_version: u32,
    /// The registry change.
    pub change: String,
    /// Index of the ledger entry that commits it.
    pub ledger_index: u64,
    /// Agency-Code.
    pub agency_code: String,
    /// `sha256:` fingerprint of the issuing CA anchor.
    pub issuer_fingerprint: String,
    /// The issuer's name (RFC 4514).
    pub issuer: String,
    /// Serial number, lowercase hex, no leading zero bytes.
    pub serial: String,
    /// When it was revoked (RFC 3339).
    pub revoked_at: String,
    /// Manual or from a CRL.
    pub source: RevocationSource,
    /// When it was recorded.
    pub recorded_at: String,
    /// Who recorded it.
    pub recorded_by: String,
}

/// An imported CRL's summary (`seals/crls/<sha256>.json`; the DER beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlRecord {
    /// `strongroom.seal.crl`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// [`REGISTRY_FORMAT_VERSION`].
    pub format_version: u32,
    /// The registry change.
    pub change: String,
    /// Index of the ledger entry that commits it.
    pub ledger_index: u64,
    /// Agency-Code.
    pub agency_code: String,
    /// `sha256:` of the DER.
    pub crl_sha256: String,
    /// Where the DER is kept.
    pub der_path: String,
    /// Issuer (RFC 4514).
    pub issuer: String,
    /// The anchor whose key verified the CRL's signature.
    pub issuer_fingerprint: String,
    /// thisUpdate (RFC 3339).
    pub this_update: String,
    /// nextUpdate (RFC 3339), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    /// Number of revoked certificates listed.
    pub revoked: u64,
    /// When it was imported.
    pub imported_at: String,
    /// Who imported it.
    pub imported_by: String,
}

/// A document under `seals/` that readers do not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// Its store path.
    pub path: String,
    /// Why it is ignored.
    pub reason: String,
}

/// The registry as committed: what [`Registry::load`] read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Registry {
    /// Every committed anchor, by agency then fingerprint.
    pub anchors: Vec<AnchorRecord>,
    /// Every committed revocation: by hand, and each entry of each imported CRL.
    pub revocations: Vec<RevocationRecord>,
    /// Every imported CRL.
    pub crls: Vec<CrlRecord>,
    /// Documents not counted (left by a change that did not commit, or changed since).
    pub ignored: Vec<Ignored>,
}

/// The common members a document needs to be checked against its entry.
#[derive(Deserialize)]
struct Committed {
    change: String,
    ledger_index: u64,
}

fn sha256_tag(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::digest::sha256_hex(bytes))
}

/// Parses RFC 3339 (any offset) or a bare date `YYYY-MM-DD` (midnight UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// RFC 3339 UTC to the second.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Normalises a serial number given by a person (`0x`, colons and spaces allowed) to the
/// form certificates are compared in ([`x509::normalize_serial`]); None when it is not hex.
pub fn normalise_serial(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let hexits: String = s.chars().filter(|c| *c != ':' && *c != ' ').collect();
    if hexits.is_empty() || !hexits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(x509::normalize_serial(&hexits))
}

/// Checks an Agency-Code is usable as a store path segment: 1-64 of `A-Z a-z 0-9 . _ -`,
/// not starting with a dot.
pub fn check_agency(agency: &str) -> Result<(), RegistryError> {
    let ok = !agency.is_empty()
        && agency.len() <= 64
        && !agency.starts_with('.')
        && agency
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Usage(format!(
            "{agency:?} is not an Agency-Code the registry accepts: use 1-64 letters, digits, '.', '_' or '-' (e.g. 11330100MB0000000X)"
        )))
    }
}

/// Normalises a fingerprint given by a person: `sha256:` + 64 lowercase hex.
pub fn normalise_fingerprint(s: &str) -> Option<String> {
    let h = s.trim();
    let h = h.strip_prefix("sha256:").unwrap_or(h);
    let h: String = h.chars().filter(|c| *c != ':').collect::<String>();
    let h = h.to_ascii_lowercase();
    (h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("sha256:{h}"))
}

fn hex_of(fp: &str) -> &str {
    fp.strip_prefix("sha256:").unwrap_or(fp)
}

/// Where an anchor's documents are: `seals/anchors/<agency>/<fingerprint hex><ext>` with `ext`
/// `.json` (the anchor document), `.der` (certificate or key) or `.revoked.json`.
pub fn anchor_path(agency: &str, fp: &str, ext: &str) -> Path {
    store::path_of([
        SEALS_PREFIX,
        "anchors",
        agency,
        &format!("{}{ext}", hex_of(fp)),
    ])
}

fn revocation_path(issuer_fp: &str, serial: &str) -> Path {
    store::path_of([
        SEALS_PREFIX,
        "revocations",
        hex_of(issuer_fp),
        &format!("{serial}.json"),
    ])
}

fn crl_path(sha: &str, ext: &str) -> Path {
    store::path_of([SEALS_PREFIX, "crls", &format!("{}{ext}", hex_of(sha))])
}

/// Reads a PEM block labelled `label`, or DER when the bytes are not PEM text.
fn pem_or_der(bytes: &[u8], label: &str) -> Result<Vec<u8>, String> {
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the PEM file is not UTF-8".to_string())?;
    let blocks = x509::pem_blocks(text).map_err(|p| p.message)?;
    let labels: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
    blocks
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, der)| der.clone())
        .ok_or_else(|| format!("the PEM file holds {labels:?}, not a {label:?} block"))
}

/// Parses the one certificate of a PEM or DER file.
fn parse_certificate(bytes: &[u8]) -> Result<x509::Certificate, String> {
    let mut certs = x509::Certificate::parse_any(bytes).map_err(|p| {
        format!(
            "not an X.509 certificate (PEM \"CERTIFICATE\" or DER): {}",
            p.message
        )
    })?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        0 => Err("the file holds no certificate (PEM \"CERTIFICATE\" or DER)".into()),
        n => Err(format!(
            "the file holds {n} certificates: add each trust anchor on its own"
        )),
    }
}

/// Parses a bare public key: PEM `PUBLIC KEY`, SubjectPublicKeyInfo DER, or a raw 32-byte
/// Ed25519 key. Keys of a type no verifier supports are refused.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, String> {
    if bytes.windows(17).any(|w| w == b"-----BEGIN CERTIF") {
        return Err("this is a certificate: add it with --cert, not --key".into());
    }
    let der = if bytes.len() == 32 {
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(bytes);
        spki
    } else {
        pem_or_der(bytes, "PUBLIC KEY")?
    };
    let key = PublicKey::from_spki_der(&der).map_err(|p| {
        format!(
            "not a public key (PEM \"PUBLIC KEY\", SubjectPublicKeyInfo DER, or 32 raw Ed25519 bytes): {}",
            p.message
        )
    })?;
    if let KeyAlgorithm::Other { oid } = &key.algorithm {
        return Err(format!(
            "public key type {oid} is not supported (Ed25519, EC P-256/P-384, SM2 and RSA are)"
        ));
    }
    Ok(key)
}

impl Registry {
    /// Reads every committed document under `seals/`. A document is committed when the
    /// ledger's published size covers its `ledger_index` and the entry there carries its
    /// `change` (and its digest, where the entry names one); other documents are listed in
    /// [`Registry::ignored`] and count for nothing.
    pub async fn load(store: &Store) -> Result<Registry, RegistryError> {
        let mut reg = Registry::default();
        let mut paths = store.list_paths(&Path::from(SEALS_PREFIX)).await?;
        paths.sort();
        let size = store.ledger_size().await?;
        if paths.is_empty() {
            return Ok(reg);
        }
        let ledger = crate::ledger::commit::open(store).await?;
        let mut entries: BTreeMap<u64, Option<Entry>> = BTreeMap::new();
        let mut anchor_revocations: Vec<AnchorRevocation> = Vec::new();
        for path in paths {
            let p = path.to_string();
            if !p.ends_with(".json") {
                continue;
            }
            let Some(bytes) = store.get_bytes(&path).await? else {
                continue;
            };
            let ignore = |reg: &mut Registry, reason: &str| {
                reg.ignored.push(Ignored {
                    path: p.clone(),
                    reason: reason.to_string(),
                })
            };
            let Ok(c) = serde_json::from_slice::<Committed>(&bytes) else {
                ignore(&mut reg, "not a registry document");
                continue;
            };
            if c.ledger_index >= size {
                ignore(
                    &mut reg,
                    "its ledger entry was never written (a change that did not finish)",
                );
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(v) = entries.entry(c.ledger_index) {
                let e = ledger.entry(c.ledger_index).await?;
                v.insert(Entry::decode(&e).ok());
            }
            let entry = entries.get(&c.ledger_index).and_then(Option::as_ref);
            let Some(entry) = entry.filter(|e| e.field_str("change") == Some(c.change.as_str()))
            else {
                ignore(
                    &mut reg,
                    "the ledger entry at its index is another change (a change that did not finish)",
                );
                continue;
            };
            if entry
                .field_str("document_sha256")
                .is_some_and(|d| d != sha256_tag(&bytes))
            {
                ignore(
                    &mut reg,
                    "changed since it was recorded: its digest is not the one in its ledger entry",
                );
                continue;
            }
            let parsed = match entry.kind.as_str() {
                "seal.anchor.added" => match serde_json::from_slice::<AnchorRecord>(&bytes) {
                    Ok(mut a) => {
                        let der = store
                            .get_bytes(&store::stored_path(&a.der_path))
                            .await?
                            .unwrap_or_default();
                        if sha256_tag(&der) == a.fingerprint {
                            a.der = der.to_vec();
                            reg.anchors.push(a);
                        } else {
                            ignore(&mut reg, "the anchor's DER is missing or changed");
                        }
                        true
                    }
                    Err(_) => false,
                },
                "seal.anchor.revoked" => serde_json::from_slice::<AnchorRevocation>(&bytes)
                    .map(|a| anchor_revocations.push(a))
                    .is_ok(),
                "seal.certificate.revoked" => serde_json::from_slice::<RevocationRecord>(&bytes)
                    .map(|r| reg.revocations.push(r))
                    .is_ok(),
                "seal.crl.imported" => match serde_json::from_slice::<CrlRecord>(&bytes) {
                    Ok(crl) => {
                        let der = store
                            .get_bytes(&store::stored_path(&crl.der_path))
                            .await?
                            .unwrap_or_default();
                        if sha256_tag(&der) != crl.crl_sha256 {
                            ignore(&mut reg, "the CRL's DER is missing or changed");
                        } else if let Ok(list) = x509::Crl::from_der(&der) {
                            for (serial, at) in &list.revoked {
                                reg.revocations.push(RevocationRecord {
                                    doc_type: "strongroom.seal.revocation".into(),
                                    format_version: REGISTRY_FORMAT_VERSION,
                                    change: crl.change.clone(),
                                    ledger_index: crl.ledger_index,
                                    agency_code: crl.agency_code.clone(),
                                    issuer_fingerprint: crl.issuer_fingerprint.clone(),
                                    issuer: crl.issuer.clone(),
                                    serial: normalise_serial(serial).unwrap_or_default(),
                                    revoked_at: format_time(*at),
                                    source: RevocationSource::Crl(crl.crl_sha256.clone()),
                                    recorded_at: crl.imported_at.clone(),
                                    recorded_by: crl.imported_by.clone(),
                                });
                            }
                            reg.crls.push(crl);
                        } else {
                            ignore(&mut reg, "the CRL's DER no longer parses");
                        }
                        true
                    }
                    Err(_) => false,
                },
                _ => false,
            };
            if !parsed {
                ignore(&mut reg, "does not parse as the document its entry records");
            }
        }
        for r in anchor_revocations {
            if let Some(a) = reg
                .anchors
                .iter_mut()
                .find(|a| a.agency_code == r.agency_code && a.fingerprint == r.fingerprint)
            {
                a.revoked_at = Some(r.revoked_at);
            }
        }
        Ok(reg)
    }

    /// The anchors of one agency as the verifiers take them (see
    /// [`AnchorRecord::to_anchor`]).
    pub fn anchors_for(&self, agency: &str) -> Vec<x509::TrustAnchor> {
        self.anchor_records_for(agency)
            .iter()
            .map(AnchorRecord::to_anchor)
            .collect()
    }

    /// The anchor records of one agency (revoked ones included: `revoked_at` says since when).
    pub fn anchor_records_for(&self, agency: &str) -> Vec<AnchorRecord> {
        self.anchors
            .iter()
            .filter(|a| a.agency_code == agency)
            .cloned()
            .collect()
    }

    /// The imported CRLs issued by a certificate of `chain` (matched by the fingerprint of
    /// the certificate that verified the CRL): the ones a verdict on that chain consulted.
    pub fn crls_for_chain(&self, chain: &[ChainLink]) -> Vec<CrlUsed> {
        self.crls
            .iter()
            .filter(|c| {
                let fp = hex_of(&c.issuer_fingerprint).to_ascii_lowercase();
                chain.iter().any(|l| l.fingerprint_sha256 == fp)
            })
            .map(|c| CrlUsed {
                crl_sha256: c.crl_sha256.clone(),
                issuer: c.issuer.clone(),
                issuer_fingerprint: c.issuer_fingerprint.clone(),
                this_update: c.this_update.clone(),
                next_update: c.next_update.clone(),
                ledger_index: c.ledger_index,
            })
            .collect()
    }

    /// Every revoked certificate as the verifiers take it: each revocation by (issuer
    /// fingerprint, serial), and each revoked certificate anchor by (its issuer's name, its
    /// serial).
    pub fn revocations(&self) -> Vec<x509::Revocation> {
        let mut out: Vec<x509::Revocation> = self
            .revocations
            .iter()
            .filter_map(|r| {
                Some(x509::Revocation {
                    issuer_fingerprint_or_name: hex_of(&r.issuer_fingerprint).to_string(),
                    serial_hex: r.serial.clone(),
                    revoked_at: parse_time(&r.revoked_at)?,
                })
            })
            .collect();
        for a in &self.anchors {
            if let (Some(issuer), Some(serial), Some(at)) = (
                &a.issuer,
                &a.serial,
                a.revoked_at.as_deref().and_then(parse_time),
            ) {
                out.push(x509::Revocation {
                    issuer_fingerprint_or_name: issuer.clone(),
                    serial_hex: serial.clone(),
                    revoked_at: at,
                });
            }
        }
        out
    }

    /// The earliest revocation of certificate `serial` issued by `issuer` (RFC 4514 name).
    pub fn revocation_of(&self, issuer: &str, serial: &str) -> Option<&RevocationRecord> {
        self.revocations
            .iter()
            .filter(|r| r.issuer == issuer && r.serial == serial)
            .min_by_key(|r| parse_time(&r.revoked_at))
    }
}

/// What a registry change did.
pub type Applied = crate::ledger::commit::DocumentChange;

/// A change's documents (each checked for an uncommitted leftover first), its content-
/// addressed blobs, and the entry that commits them.
type Plan = crate::ledger::commit::DocumentPlan;

/// The frame of every change (`ledger::commit::commit_documents`) over the committed registry.
async fn change<F>(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    build: F,
) -> Result<Applied, RegistryError>
where
    F: FnOnce(&Registry, u64, &str) -> Result<Plan, RegistryError>,
{
    crate::ledger::commit::commit_documents(
        store,
        key,
        actor,
        "registry",
        |s| Box::pin(Registry::load(s)),
        build,
    )
    .await
}

/// What `seal trust add` adds.
#[derive(Debug, Clone)]
pub enum AnchorInput {
    /// A CA certificate, PEM or DER.
    Certificate(Vec<u8>),
    /// A bare public key: PEM, SPKI DER, or 32 raw Ed25519 bytes.
    PublicKey(Vec<u8>),
}

/// Adds a trust anchor for `agency`, trusted from `from` until `until` (defaults: the
/// certificate's own validity; unbounded for a bare key).
pub async fn add_anchor(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    agency: &str,
    input: AnchorInput,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(AnchorRecord, Applied), RegistryError> {
    check_agency(agency)?;
    if let (Some(f), Some(u)) = (from, until) {
        if f >= u {
            return Err(RegistryError::Usage(format!(
                "--from {} is not before --until {}",
                format_time(f),
                format_time(u)
            )));
        }
    }
    let (kind, der, key_info, cert) = match &input {
        AnchorInput::Certificate(b) => {
            let c = parse_certificate(b).map_err(RegistryError::BadInput)?;
            (
                AnchorKind::Certificate,
                c.der().to_vec(),
                c.public_key.clone(),
                Some(c),
            )
        }
        AnchorInput::PublicKey(b) => {
            let k = parse_public_key(b).map_err(RegistryError::BadInput)?;
            (AnchorKind::PublicKey, k.spki_der.clone(), k, None)
        }
    };
    let fingerprint = sha256_tag(&der);
    let mut anchor = AnchorRecord {
        doc_type: "strongroom.seal.anchor".into(),
        format_version: REGISTRY_FORMAT_VERSION,
        change: String::new(),
        ledger_index: 0,
        agency_code: agency.to_string(),
        anchor: kind,
        fingerprint: fingerprint.clone(),
        der_path: anchor_path(agency, &fingerprint, ".der").to_string(),
        key_algorithm: key_info.algorithm.describe(),
        public_key: {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&key_info.spki_der)
        },
        subject: cert.as_ref().map(|c| c.subject.clone()),
        issuer: cert.as_ref().map(|c| c.issuer.clone()),
        serial: cert.as_ref().map(|c| c.serial_hex.clone()),
        certificate_not_before: cert.as_ref().map(|c| format_time(c.not_before)),
        certificate_not_after: cert.as_ref().map(|c| format_time(c.not_after)),
        valid_from: from
            .or_else(|| cert.as_ref().map(|c| c.not_before))
            .map(format_time),
        valid_until: until
            .or_else(|| cert.as_ref().map(|c| c.not_after))
            .map(format_time),
        added_at: store::now_rfc3339(),
        added_by: actor.to_string(),
        revoked_at: None,
        der: Vec::new(),
    };
    let applied = change(store, key, actor, |reg, index, change_id| {
        if let Some(a) = reg
            .anchors
            .iter()
            .find(|a| a.agency_code == agency && a.fingerprint == fingerprint)
        {
            return Err(RegistryError::Duplicate(format!(
                "this {} ({fingerprint}) is already a trust anchor of agency {agency} (added {} by {}); nothing stored",
                a.anchor.as_str().replace('_', " "),
                a.added_at,
                a.added_by
            )));
        }
        anchor.change = change_id.to_string();
        anchor.ledger_index = index;
        let doc = store::pretty(&anchor);
        Ok(Plan {
            event: Event::SealAnchorAdded {
                agency_code: agency.to_string(),
                anchor_fingerprint: fingerprint.clone(),
                anchor_kind: kind.as_str().into(),
                change: change_id.to_string(),
                document_sha256: sha256_tag(&doc),
            },
            docs: vec![(anchor_path(agency, &fingerprint, ".json"), doc)],
            blobs: vec![(anchor_path(agency, &fingerprint, ".der"), Bytes::from(der))],
        })
    })
    .await?;
    Ok((anchor, applied))
}

/// Revokes an anchor itself: from `at` on, nothing it vouches for is trusted.
pub async fn revoke_anchor(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    agency: &str,
    fingerprint: &str,
    at: DateTime<Utc>,
) -> Result<Applied, RegistryError> {
    check_agency(agency)?;
    let fp = normalise_fingerprint(fingerprint).ok_or_else(|| {
        RegistryError::Usage(format!(
            "{fingerprint:?} is not an anchor fingerprint (sha256: and 64 hex digits, as `seal trust list` shows)"
        ))
    })?;
    change(store, key, actor, |reg, index, change_id| {
        let Some(a) = reg
            .anchors
            .iter()
            .find(|a| a.agency_code == agency && a.fingerprint == fp)
        else {
            return Err(RegistryError::BadInput(format!(
                "agency {agency} has no trust anchor {fp}; nothing stored"
            )));
        };
        if let Some(r) = &a.revoked_at {
            return Err(RegistryError::Duplicate(format!(
                "anchor {fp} of agency {agency} is already revoked since {r}; nothing stored"
            )));
        }
        let doc = AnchorRevocation {
            doc_type: "strongroom.seal.anchor-revocation".into(),
            format_version: REGISTRY_FORMAT_VERSION,
            change: change_id.into(),
            ledger_index: index,
            agency_code: agency.into(),
            fingerprint: fp.clone(),
            revoked_at: format_time(at),
            recorded_at: store::now_rfc3339(),
            recorded_by: actor.into(),
        };
        let bytes = store::pretty(&doc);
        Ok(Plan {
            event: Event::SealAnchorRevoked {
                agency_code: agency.into(),
                anchor_fingerprint: fp.clone(),
                revoked_at: doc.revoked_at.clone(),
                change: change_id.into(),
                document_sha256: sha256_tag(&bytes),
            },
            docs: vec![(anchor_path(agency, &fp, ".revoked.json"), bytes)],
            blobs: vec![],
        })
    })
    .await
}

/// Picks the issuing CA anchor of `agency`: the one named, else the only certificate anchor.
fn issuer_anchor<'r>(
    reg: &'r Registry,
    agency: &str,
    issuer: Option<&str>,
) -> Result<&'r AnchorRecord, RegistryError> {
    let cas: Vec<&AnchorRecord> = reg
        .anchors
        .iter()
        .filter(|a| a.agency_code == agency && a.anchor == AnchorKind::Certificate)
        .collect();
    match issuer {
        Some(i) => {
            let fp = normalise_fingerprint(i).ok_or_else(|| {
                RegistryError::Usage(format!(
                    "--issuer {i:?} is not a fingerprint (sha256: and 64 hex digits, as `seal trust list` shows)"
                ))
            })?;
            cas.into_iter()
                .find(|a| a.fingerprint == fp)
                .ok_or_else(|| {
                    RegistryError::BadInput(format!(
                        "agency {agency} has no CA certificate anchor {fp}; nothing stored"
                    ))
                })
        }
        None => match cas.as_slice() {
            [one] => Ok(one),
            [] => Err(RegistryError::BadInput(format!(
                "agency {agency} has no CA certificate in the registry, so no certificate of it can be revoked by serial (revoke a bare key with --anchor); nothing stored"
            ))),
            _ => Err(RegistryError::Usage(format!(
                "agency {agency} has {} CA certificates: say which issued the certificate with --issuer FINGERPRINT",
                cas.len()
            ))),
        },
    }
}

/// Revokes certificate `serial` issued by one of `agency`'s CA anchors, from `at` on.
pub async fn revoke_certificate(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    agency: &str,
    serial: &str,
    issuer: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Applied, RegistryError> {
    check_agency(agency)?;
    let serial_n = normalise_serial(serial).ok_or_else(|| {
        RegistryError::Usage(format!(
            "{serial:?} is not a serial number in hex (as `openssl x509 -serial` prints it)"
        ))
    })?;
    change(store, key, actor, |reg, index, change_id| {
        let ca = issuer_anchor(reg, agency, issuer)?;
        let issuer_name = ca.subject.clone().unwrap_or_default();
        if let Some(r) = reg.revocation_of(&issuer_name, &serial_n) {
            return Err(RegistryError::Duplicate(format!(
                "certificate {serial_n} of {issuer_name} is already revoked since {}; nothing stored",
                r.revoked_at
            )));
        }
        let doc = RevocationRecord {
            doc_type: "strongroom.seal.revocation".into(),
            format_version: REGISTRY_FORMAT_VERSION,
            change: change_id.into(),
            ledger_index: index,
            agency_code: agency.into(),
            issuer_fingerprint: ca.fingerprint.clone(),
            issuer: issuer_name,
            serial: serial_n.clone(),
            revoked_at: format_time(at),
            source: RevocationSource::Manual,
            recorded_at: store::now_rfc3339(),
            recorded_by: actor.into(),
        };
        let bytes = store::pretty(&doc);
        Ok(Plan {
            event: Event::SealCertificateRevoked {
                agency_code: agency.into(),
                issuer_fingerprint: ca.fingerprint.clone(),
                serial: serial_n.clone(),
                revoked_at: doc.revoked_at.clone(),
                change: change_id.into(),
                document_sha256: sha256_tag(&bytes),
            },
            docs: vec![(revocation_path(&ca.fingerprint, &serial_n), bytes)],
            blobs: vec![],
        })
    })
    .await
}

/// Imports a CRL (PEM or DER) issued by one of `agency`'s CA anchors: its signature must
/// verify with that anchor's key. Its entries count as revocations from then on.
pub async fn import_crl(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    agency: &str,
    bytes: &[u8],
    policy: &AlgorithmPolicy,
) -> Result<(CrlRecord, Applied), RegistryError> {
    check_agency(agency)?;
    let crl = x509::Crl::parse_any(bytes).map_err(|p| {
        RegistryError::BadInput(format!(
            "not an X.509 CRL (PEM \"X509 CRL\" or DER): {}",
            p.message
        ))
    })?;
    let der = crl.der().to_vec();
    let issuer = crl.issuer.clone();
    let crl_sha = sha256_tag(&der);
    let this_update = format_time(crl.this_update);
    let next_update = crl.next_update.map(format_time);
    let revoked = crl.revoked.len() as u64;
    let mut record: Option<CrlRecord> = None;
    let applied = change(store, key, actor, |reg, index, change_id| {
        if let Some(c) = reg.crls.iter().find(|c| c.crl_sha256 == crl_sha) {
            return Err(RegistryError::Duplicate(format!(
                "this CRL ({crl_sha}) was already imported on {} by {}; nothing stored",
                c.imported_at, c.imported_by
            )));
        }
        // Issuer: a CA anchor of the agency whose subject is the CRL's issuer, allowed to
        // sign CRLs, whose key verifies its signature.
        let mut why = Vec::new();
        let mut found = None;
        for a in reg
            .anchors
            .iter()
            .filter(|a| a.agency_code == agency && a.anchor == AnchorKind::Certificate)
        {
            let Ok(cert) = x509::Certificate::from_der(&a.der) else {
                continue;
            };
            if cert.subject != issuer {
                continue;
            }
            match crl.verify(&cert, policy) {
                Ok(()) => {
                    found = Some(a);
                    break;
                }
                Err(p) => why.push(p.message),
            }
        }
        let Some(ca) = found else {
            return Err(RegistryError::BadInput(if why.is_empty() {
                format!(
                    "the CRL's issuer {issuer:?} is not a CA certificate of agency {agency} in the registry; nothing stored"
                )
            } else {
                format!(
                    "the CRL names issuer {issuer:?} but that CA did not sign it ({}); nothing stored",
                    why.join("; ")
                )
            }));
        };
        let doc = CrlRecord {
            doc_type: "strongroom.seal.crl".into(),
            format_version: REGISTRY_FORMAT_VERSION,
            change: change_id.into(),
            ledger_index: index,
            agency_code: agency.into(),
            crl_sha256: crl_sha.clone(),
            der_path: crl_path(&crl_sha, ".der").to_string(),
            issuer: issuer.clone(),
            issuer_fingerprint: ca.fingerprint.clone(),
            this_update: this_update.clone(),
            next_update: next_update.clone(),
            revoked,
            imported_at: store::now_rfc3339(),
            imported_by: actor.into(),
        };
        let bytes = store::pretty(&doc);
        record = Some(doc);
        Ok(Plan {
            event: Event::SealCrlImported {
                agency_code: agency.into(),
                crl_sha256: crl_sha.clone(),
                issuer_fingerprint: ca.fingerprint.clone(),
                this_update: this_update.clone(),
                revoked,
                change: change_id.into(),
                document_sha256: sha256_tag(&bytes),
            },
            docs: vec![(crl_path(&crl_sha, ".json"), bytes)],
            blobs: vec![(crl_path(&crl_sha, ".der"), Bytes::from(der.clone()))],
        })
    })
    .await?;
    let record = record.ok_or_else(|| RegistryError::BadInput("CRL not recorded".into()))?;
    Ok((record, applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_normalised() {
        assert_eq!(normalise_serial("0x00:1A:2b").as_deref(), Some("1a2b"));
        assert_eq!(normalise_serial("1000").as_deref(), Some("1000"));
        assert_eq!(normalise_serial("0abc").as_deref(), Some("abc"));
        assert_eq!(normalise_serial("00").as_deref(), Some("0"));
        assert_eq!(normalise_serial("xyz"), None);
        assert_eq!(normalise_serial(""), None);
    }

    #[test]
    fn agency_codes_and_dates() {
        assert!(check_agency("11330100MB0000000X").is_ok());
        assert!(check_agency("../etc").is_err());
        assert!(check_agency("a/b").is_err());
        assert!(check_agency("").is_err());
        assert!(parse_time("2030-01-02").is_some());
        assert!(parse_time("2030-01-02T03:04:05+08:00").is_some());
        assert!(parse_time("tomorrow").is_none());
    }

    #[test]
    fn raw_ed25519_keys_are_wrapped_in_spki() {
        let k = parse_public_key(&[7u8; 32]).expect("raw key");
        assert_eq!(k.algorithm, KeyAlgorithm::Ed25519);
        assert_eq!(k.key_bytes, vec![7u8; 32]);
        assert_eq!(&k.spki_der[..12], &ED25519_SPKI_PREFIX);
        assert!(parse_public_key(b"garbage").is_err());
        assert!(parse_public_key(
            b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }
}
