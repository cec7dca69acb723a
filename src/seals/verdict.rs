//! Seal verdicts as data: the stable problem codes, the evidence kept with a record, and the
//! algorithm policy a seal is judged by. Owns no parsing and no cryptography.
//!
//! Specified in `formats/seals.md` ("Signatures (CMS)", "Certificates"); the verdict is
//! serialized into the stored intake evidence, so field names and codes are stable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable codes of what can be wrong with a seal. Tests and reports compare these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SealCode {
    /// The signer does not chain to any trust anchor given (unknown signer).
    #[serde(rename = "SEAL_UNTRUSTED_SIGNER")]
    UntrustedSigner,
    /// A certificate in the chain (or the anchor's registry window) ended before the signing time.
    #[serde(rename = "SEAL_EXPIRED")]
    Expired,
    /// A certificate in the chain (or the anchor's registry window) starts after the signing time.
    #[serde(rename = "SEAL_NOT_YET_VALID")]
    NotYetValid,
    /// A certificate in the chain was revoked at or before the signing time.
    #[serde(rename = "SEAL_REVOKED")]
    Revoked,
    /// The file's digest differs from the one signed: the file was altered after signing.
    #[serde(rename = "SEAL_DIGEST_MISMATCH")]
    DigestMismatch,
    /// A signature (on the seal or on a certificate of the chain) does not verify.
    #[serde(rename = "SEAL_BAD_SIGNATURE")]
    BadSignature,
    /// A signature or digest algorithm is not allowed by the policy, or not supported.
    #[serde(rename = "SEAL_ALGORITHM_NOT_ALLOWED")]
    AlgorithmNotAllowed,
    /// An RSA key is smaller than the policy's minimum.
    #[serde(rename = "SEAL_KEY_TOO_SMALL")]
    KeyTooSmall,
    /// A certificate is used for something its key usage or CA flag does not permit.
    #[serde(rename = "SEAL_KEY_USAGE")]
    KeyUsage,
    /// The seal file (or a certificate or CRL in it) cannot be parsed.
    #[serde(rename = "SEAL_MALFORMED")]
    Malformed,
    /// The seal is well formed but cannot be checked here (e.g. an unattributed signature over
    /// a file larger than the in-memory limit).
    #[serde(rename = "SEAL_UNVERIFIABLE")]
    Unverifiable,
}

impl SealCode {
    /// The stable code as written in reports, e.g. `SEAL_EXPIRED`.
    pub fn as_str(self) -> &'static str {
        match self {
            SealCode::UntrustedSigner => "SEAL_UNTRUSTED_SIGNER",
            SealCode::Expired => "SEAL_EXPIRED",
            SealCode::NotYetValid => "SEAL_NOT_YET_VALID",
            SealCode::Revoked => "SEAL_REVOKED",
            SealCode::DigestMismatch => "SEAL_DIGEST_MISMATCH",
            SealCode::BadSignature => "SEAL_BAD_SIGNATURE",
            SealCode::AlgorithmNotAllowed => "SEAL_ALGORITHM_NOT_ALLOWED",
            SealCode::KeyTooSmall => "SEAL_KEY_TOO_SMALL",
            SealCode::KeyUsage => "SEAL_KEY_USAGE",
            SealCode::Malformed => "SEAL_MALFORMED",
            SealCode::Unverifiable => "SEAL_UNVERIFIABLE",
        }
    }
}

impl fmt::Display for SealCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a seal: a stable code and a message an archivist understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealProblem {
    /// Stable code, e.g. `SEAL_EXPIRED`.
    pub code: SealCode,
    /// What is wrong, with the dates involved, e.g. "the signer's certificate expired on
    /// 2025-03-01, before it signed on 2026-01-02".
    pub message: String,
}

impl SealProblem {
    /// A problem with `code` and `message`.
    pub fn new(code: SealCode, message: impl Into<String>) -> Self {
        SealProblem {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for SealProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SealProblem {}

/// Signature algorithm families a policy can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 (RFC 8017).
    RsaPkcs1,
    /// RSASSA-PSS (RFC 8017), MGF1 with the same hash, salt as long as the hash.
    RsaPss,
    /// ECDSA on P-256.
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// SM2 with SM3 (GB/T 32918, GB/T 35275).
    Sm2,
}

impl SignatureAlgorithm {
    /// Name used in evidence and messages.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaPkcs1 => "RSA PKCS#1 v1.5",
            SignatureAlgorithm::RsaPss => "RSA-PSS",
            SignatureAlgorithm::EcdsaP256 => "ECDSA P-256",
            SignatureAlgorithm::EcdsaP384 => "ECDSA P-384",
            SignatureAlgorithm::Ed25519 => "Ed25519",
            SignatureAlgorithm::Sm2 => "SM2",
        }
    }
}

/// Digest algorithms a policy can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestAlgorithm {
    /// SHA-1: recognised so that it can be refused by name; never in the default policy.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SM3 (GB/T 32905).
    Sm3,
}

impl DigestAlgorithm {
    /// Name used in evidence and messages.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "SHA-1",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha384 => "SHA-384",
            DigestAlgorithm::Sha512 => "SHA-512",
            DigestAlgorithm::Sm3 => "SM3",
        }
    }
}

/// Which algorithms and key sizes a seal may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlgorithmPolicy {
    /// Allowed signature algorithm families (default: all listed in [`SignatureAlgorithm`]).
    pub signature_algorithms: Vec<SignatureAlgorithm>,
    /// Smallest RSA modulus accepted, in bits (default 2048).
    pub min_rsa_bits: u32,
    /// Allowed digests (default SHA-256, SHA-384, SHA-512, SM3).
    pub digests: Vec<DigestAlgorithm>,
    /// Extended key usages (dotted OIDs) a signer's certificate may carry besides
    /// [`crate::seals::x509::SEAL_EXTENDED_KEY_USAGES`] (default: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signer_extended_key_usages: Vec<String>,
}

impl Default for AlgorithmPolicy {
    fn default() -> Self {
        AlgorithmPolicy {
            signature_algorithms: vec![
                SignatureAlgorithm::RsaPkcs1,
                SignatureAlgorithm::RsaPss,
                SignatureAlgorithm::EcdsaP256,
                SignatureAlgorithm::EcdsaP384,
                SignatureAlgorithm::Ed25519,
                SignatureAlgorithm::Sm2,
            ],
            min_rsa_bits: 2048,
            digests: vec![
                DigestAlgorithm::Sha256,
                DigestAlgorithm::Sha384,
                DigestAlgorithm::Sha512,
                DigestAlgorithm::Sm3,
            ],
            signer_extended_key_usages: Vec::new(),
        }
    }
}

/// Where the time a seal was judged at came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSource {
    /// The CMS signing-time signed attribute (claimed by the signer, covered by the signature).
    SigningTimeAttribute,
    /// No signing time was signed: the archive's intake time is used.
    IntakeTime,
    /// A document timestamp: the genTime of its RFC 3161 token.
    TimestampGenTime,
}

/// One certificate of a verified chain, as kept in the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// Subject name (RFC 4514).
    pub subject: String,
    /// Issuer name (RFC 4514).
    pub issuer: String,
    /// Serial number, lower-case hex.
    pub serial_hex: String,
    /// SHA-256 of the certificate's DER, lower-case hex.
    pub fingerprint_sha256: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// The certificate's DER, standard base64, so the verdict can be re-checked years later.
    pub der_base64: String,
}

/// What [`crate::seals::x509::validate_chain`] found: the chain from the signer up to the anchor,
/// and what is wrong with it (empty when it is valid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainVerdict {
    /// Signer first, then each issuer; the anchor's certificate last when the anchor has one.
    pub chain: Vec<ChainLink>,
    /// The trust anchor reached: its subject, or `public key sha256:<hex>` for a bare key.
    pub anchor: String,
    /// Problems found (expired, revoked, key usage, algorithm); empty when valid.
    pub problems: Vec<SealProblem>,
    /// Facts worth keeping that are not problems, e.g. a revocation after the signing time.
    pub notes: Vec<String>,
}

/// Evidence about one signer of a seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SignerEvidence {
    /// Signer's certificate subject, when the signer's certificate was found.
    pub subject: Option<String>,
    /// Signer's certificate serial, lower-case hex.
    pub serial_hex: Option<String>,
    /// The chain that was validated (signer first).
    pub chain: Vec<ChainLink>,
    /// The trust anchor reached, when one was.
    pub anchor: Option<String>,
    /// The time the certificates were judged at.
    pub signing_time: Option<DateTime<Utc>>,
    /// Where `signing_time` came from.
    pub time_source: Option<TimeSource>,
    /// Signature algorithm, e.g. `ECDSA P-256 with SHA-256`.
    pub signature_algorithm: Option<String>,
    /// Digest algorithm of the content, e.g. `SHA-256`.
    pub digest_algorithm: Option<String>,
    /// Digest of the content, lower-case hex.
    pub content_digest_hex: Option<String>,
    /// Whether the signature covers signed attributes (else the content directly).
    pub signed_attributes: bool,
    /// Problems with this signer; empty when valid.
    pub problems: Vec<SealProblem>,
    /// Facts that are not problems (e.g. revoked after signing).
    pub notes: Vec<String>,
    /// The imported CRLs of the chain's issuers that were consulted (their entries were among
    /// the revocations checked); the DER of each stays in the registry under its digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crls: Vec<CrlUsed>,
}

/// An imported CRL consulted for a verdict, as kept in the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlUsed {
    /// `sha256:` of the CRL's DER (the registry keeps it at `seals/crls/<hex>.der`).
    pub crl_sha256: String,
    /// The CRL's issuer (RFC 4514).
    pub issuer: String,
    /// `sha256:` fingerprint of the certificate whose key verified the CRL.
    pub issuer_fingerprint: String,
    /// thisUpdate (RFC 3339).
    pub this_update: String,
    /// nextUpdate (RFC 3339), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    /// The ledger entry that recorded its import.
    pub ledger_index: u64,
}

/// The verdict on one seal: valid or not, every problem, and the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealVerdict {
    /// True when there is at least one signer and no problem.
    pub valid: bool,
    /// Seal format, e.g. `cms-detached`.
    pub format: String,
    /// Every problem found, over all signers (also listed per signer).
    pub problems: Vec<SealProblem>,
    /// One entry per SignerInfo.
    pub signers: Vec<SignerEvidence>,
    /// When the verification ran against the registry (the intake time).
    pub intake_time: DateTime<Utc>,
}

impl SealVerdict {
    /// The codes of all problems, in order (convenient for tests and summaries).
    pub fn codes(&self) -> Vec<SealCode> {
        self.problems.iter().map(|p| p.code).collect()
    }
}

/// Failures that are not findings about the seal: the content could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Reading the signed content failed.
    #[error("reading the signed content: {source}")]
    ReadContent {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
