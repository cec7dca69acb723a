//! Electronic seals and signatures (电子印章/电子签名): the seal registry of trusted agency
//! keys, and the verification of detached seals against it.
//!
//! Owns everything under `seals/` in the store (the registry) and the parsing and checking
//! of seal formats; it never writes records or touches `ocfl/`. Specified in
//! `formats/seals.md`.
//!
//! - [`registry`]: trust anchors per agency (CA certificates or bare public keys) with
//!   validity windows, revocations and imported CRLs, each change a ledger entry.
//! - [`jws`]: detached JWS seals (RFC 7515 / RFC 7797) for agencies with a bare key.
//! - [`cms`]: detached CMS SignedData seals (`X.p7s`, RFC 5652) for agencies with a PKI.
//! - [`x509`]: certificates, CRLs and chain validation (the anchors the registry hands over).
//! - [`verdict`]: verdict codes, evidence and algorithm policy, shared by every format.
//! - [`policy`]: per-agency seal policy from the archive's configuration.

pub mod cms;
pub mod jws;
pub mod pdf;
pub mod policy;
pub mod registry;
pub mod verdict;
pub mod x509;

use std::path::Path;

use chrono::{DateTime, Utc};

use registry::Registry;
use verdict::{AlgorithmPolicy, SealCode, SealError, SealProblem, SealVerdict};

/// The seal forms a file `X` may have beside it: `X.p7s` (CMS) or `X.jws` (JWS).
pub const SEAL_SUFFIXES: [&str; 2] = [".p7s", ".jws"];

/// The file a seal file seals: its path without the seal suffix (`正文.pdf.p7s` →
/// `正文.pdf`), or None when the name has no seal suffix.
pub fn sealed_path(seal_path: &str) -> Option<&str> {
    SEAL_SUFFIXES.iter().find_map(|s| {
        let lower = seal_path.to_ascii_lowercase();
        lower
            .ends_with(s)
            .then(|| &seal_path[..seal_path.len() - s.len()])
            .filter(|p| !p.is_empty() && !p.ends_with('/'))
    })
}

/// Verifies the seal file `seal` over `file` against agency `agency`'s anchors in `registry`,
/// judged at `at` when the seal carries no signing time: the one entry point for the CLI's
/// verification service and intake. The form is chosen by the seal's suffix. Problems with
/// the seal are data in the verdict; only reading the files is an error.
pub fn verify_seal_file(
    file: &Path,
    seal: &Path,
    registry: &Registry,
    agency: &str,
    policy: &AlgorithmPolicy,
    at: DateTime<Utc>,
) -> Result<SealVerdict, SealError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| SealError::ReadContent { source });
    let name = seal.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".jws") {
        let size = std::fs::metadata(seal)
            .map_err(|source| SealError::ReadContent { source })?
            .len();
        if size > jws::MAX_JWS_SIZE {
            return Ok(refused(
                "jws-detached",
                at,
                SealCode::Malformed,
                format!(
                    "the seal file is {size} bytes: a detached JWS is a header and a signature, \
                     at most {} bytes",
                    jws::MAX_JWS_SIZE
                ),
            ));
        }
        let text = String::from_utf8_lossy(&read(seal)?).into_owned();
        let mut verdict = jws::verify_detached(file, &text, registry, agency, policy, at)
            .map_err(|source| SealError::ReadContent { source })?;
        record_crls(&mut verdict, registry);
        Ok(verdict)
    } else if name.ends_with(".p7s") {
        let sig = read(seal)?;
        let content =
            std::fs::File::open(file).map_err(|source| SealError::ReadContent { source })?;
        let mut verdict = cms::verify_detached(
            &sig,
            std::io::BufReader::new(content),
            &registry.anchors_for(agency),
            &registry.revocations(),
            at,
            policy,
        )?;
        record_crls(&mut verdict, registry);
        Ok(verdict)
    } else {
        Ok(refused(
            "unknown",
            at,
            SealCode::Malformed,
            "a seal file must be a detached CMS signature (.p7s) or a detached JWS (.jws)".into(),
        ))
    }
}

/// Records in each signer's evidence the imported CRLs of its chain's issuers that the
/// verdict consulted, and notes when the newest of an issuer's CRLs was already due for
/// replacement at the signing time (a revocation published after it would be unknown here).
pub fn record_crls(verdict: &mut SealVerdict, registry: &Registry) {
    for signer in &mut verdict.signers {
        signer.crls = registry.crls_for_chain(&signer.chain);
        let mut newest: std::collections::BTreeMap<&str, &verdict::CrlUsed> = Default::default();
        for c in &signer.crls {
            let slot = newest.entry(c.issuer_fingerprint.as_str()).or_insert(c);
            if registry::parse_time(&c.this_update) > registry::parse_time(&slot.this_update) {
                *slot = c;
            }
        }
        let mut notes = Vec::new();
        for c in newest.values() {
            let due = c.next_update.as_deref().and_then(registry::parse_time);
            if let (Some(due), Some(at)) = (due, signer.signing_time) {
                if at > due {
                    notes.push(format!(
                        "the newest CRL of \"{}\" known to the archive was due for renewal on \
                         {}, before the signing time {}: a revocation published since is not \
                         known here",
                        c.issuer,
                        x509::day(due),
                        x509::day(at)
                    ));
                }
            }
        }
        signer.notes.extend(notes);
    }
}

/// Verifies every signature embedded in the PDF at `file` against agency `agency`'s anchors
/// in `registry` (the entry point for intake and the verification service), with the CRLs
/// consulted recorded in each signature's evidence.
pub fn verify_pdf_file(
    file: &Path,
    registry: &Registry,
    agency: &str,
    policy: &AlgorithmPolicy,
    at: DateTime<Utc>,
) -> Result<pdf::PdfSeals, SealError> {
    let mut seals = pdf::verify_pdf(
        file,
        &registry.anchors_for(agency),
        &registry.revocations(),
        at,
        policy,
    )?;
    for s in &mut seals.signatures {
        record_crls(&mut s.verdict, registry);
    }
    Ok(seals)
}

fn refused(format: &str, at: DateTime<Utc>, code: SealCode, message: String) -> SealVerdict {
    let problem = SealProblem::new(code, message);
    SealVerdict {
        valid: false,
        format: format.into(),
        problems: vec![problem],
        signers: Vec::new(),
        intake_time: at,
    }
}

#[cfg(test)]
mod tests {
    use super::sealed_path;

    #[test]
    fn a_seal_names_the_file_it_seals() {
        assert_eq!(sealed_path("正文.pdf.p7s"), Some("正文.pdf"));
        assert_eq!(sealed_path("附件/清单.txt.JWS"), Some("附件/清单.txt"));
        assert_eq!(sealed_path("正文.pdf"), None);
        assert_eq!(sealed_path(".p7s"), None);
        assert_eq!(sealed_path("dir/.jws"), None);
    }
}

/// A verification report the archive signs (art. 16: the competent body's confirmation): what
/// was checked, against what, when, by whom, and the verdict. Signed in the archive's one
/// envelope (`formats/signed-note.md`), so `strongroom receipt verify` or any signed-note
/// verifier checks it; specified in `formats/seals.md`, "The verification service".
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VerificationReport {
    /// `strongroom.seal-verification-report`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Document version (1).
    pub format_version: u32,
    /// The archive's key name (the signer of the report).
    pub archive: String,
    /// RFC 3339 UTC time of the check.
    pub checked_at: String,
    /// Who asked (`--as`).
    pub checked_by: String,
    /// The sealed file: its name as given, size and digests.
    pub file: ReportedFile,
    /// The seal file (absent when the seals checked are those embedded in a PDF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<ReportedFile>,
    /// The Agency-Code whose anchors the seal was checked against.
    pub agency: String,
    /// The outcome and its evidence, for a detached seal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<SealVerdict>,
    /// The outcome for each signature embedded in a PDF, and the document's own problems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<pdf::PdfSeals>,
    /// True when every seal checked is valid.
    pub valid: bool,
}

/// A file named in a [`VerificationReport`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReportedFile {
    /// The file name as given (no folders).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Lowercase hex SHA-512.
    pub sha512: String,
}

impl ReportedFile {
    /// Digests a file (streamed).
    pub fn of(path: &Path) -> Result<ReportedFile, SealError> {
        use crate::digest::Algorithm;
        let f = std::fs::File::open(path).map_err(|source| SealError::ReadContent { source })?;
        let (d, size) = crate::digest::digest_reader(f, &[Algorithm::Sha256, Algorithm::Sha512])
            .map_err(|source| SealError::ReadContent { source })?;
        Ok(ReportedFile {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size,
            sha256: d.get(&Algorithm::Sha256).cloned().unwrap_or_default(),
            sha512: d.get(&Algorithm::Sha512).cloned().unwrap_or_default(),
        })
    }
}
