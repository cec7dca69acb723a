//! X.509 certificates, CRLs and chain validation for seals: parse, check every signature on
//! the way from a signer to a trust anchor, validity at the signing time, CA flag and key
//! usage, revocation. Pure: no store, no registry, no clock (the time is always given).
//!
//! Specified in `formats/seals.md` ("Certificates"). Never panics on input: every parse
//! failure is a `SEAL_MALFORMED` problem.

use crate::seals::verdict::{
    AlgorithmPolicy, ChainLink, ChainVerdict, DigestAlgorithm, SealCode, SealProblem,
    SignatureAlgorithm,
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};

/// Object identifiers of the algorithms seals may use.
pub(crate) mod oids {
    use const_oid::ObjectIdentifier as O;
    pub const RSA_ENCRYPTION: O = O::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA1_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.5");
    pub const SHA256_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.13");
    pub const RSASSA_PSS: O = O::new_unwrap("1.2.840.113549.1.1.10");
    pub const MGF1: O = O::new_unwrap("1.2.840.113549.1.1.8");
    pub const EC_PUBLIC_KEY: O = O::new_unwrap("1.2.840.10045.2.1");
    pub const P256: O = O::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: O = O::new_unwrap("1.3.132.0.34");
    pub const SM2_CURVE: O = O::new_unwrap("1.2.156.10197.1.301");
    pub const SM2_SIGN: O = O::new_unwrap("1.2.156.10197.1.301.1");
    pub const SM2_WITH_SM3: O = O::new_unwrap("1.2.156.10197.1.501");
    pub const ECDSA_SHA1: O = O::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: O = O::new_unwrap("1.2.840.10045.4.3.4");
    pub const ED25519: O = O::new_unwrap("1.3.101.112");
    pub const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const SM3: O = O::new_unwrap("1.2.156.10197.1.401");
}

/// The SM2 signer ID GB/T 35275 uses when none is agreed.
pub const SM2_DEFAULT_SIGNER_ID: &str = "1234567812345678";

/// Longest chain followed from a signer to an anchor.
const MAX_CHAIN: usize = 10;

/// Extensions whose meaning this module applies, or which cannot narrow what a seal may do
/// for an archive that asks for no particular policy (RFC 5280 6.1 with `anyPolicy`): a
/// critical extension outside this list makes the certificate unverifiable here, never
/// silently accepted.
const UNDERSTOOD_EXTENSIONS: [(&str, &str); 11] = [
    ("2.5.29.15", "keyUsage"),
    ("2.5.29.19", "basicConstraints"),
    ("2.5.29.37", "extKeyUsage"),
    ("2.5.29.14", "subjectKeyIdentifier"),
    ("2.5.29.35", "authorityKeyIdentifier"),
    ("2.5.29.17", "subjectAltName"),
    ("2.5.29.18", "issuerAltName"),
    ("2.5.29.32", "certificatePolicies"),
    ("2.5.29.31", "cRLDistributionPoints"),
    ("1.3.6.1.5.5.7.1.1", "authorityInfoAccess"),
    ("1.3.6.1.5.5.7.48.1.5", "ocspNoCheck"),
];

/// Names of extensions a certificate may carry that this module does not apply.
fn extension_name(oid: &str) -> &'static str {
    match oid {
        "2.5.29.30" => "nameConstraints",
        "2.5.29.36" => "policyConstraints",
        "2.5.29.54" => "inhibitAnyPolicy",
        "2.5.29.33" => "policyMappings",
        _ => "an extension this archive does not know",
    }
}

/// Extended key usages that fit a seal or signature on a document: any purpose, S/MIME
/// (e-mail protection, what most CAs issue for signing persons), RFC 9336 document signing,
/// Adobe's authentic documents and Microsoft's document signing. A policy may add more
/// (`signer_extended_key_usages` in `[seals]`).
pub const SEAL_EXTENDED_KEY_USAGES: [(&str, &str); 5] = [
    ("2.5.29.37.0", "anyExtendedKeyUsage"),
    ("1.3.6.1.5.5.7.3.4", "emailProtection"),
    ("1.3.6.1.5.5.7.3.36", "documentSigning"),
    ("1.2.840.113583.1.1.5", "Adobe authenticDocumentsTrust"),
    ("1.3.6.1.4.1.311.10.3.12", "Microsoft documentSigning"),
];

// ---------------------------------------------------------------------------------------------
// Small DER and PEM helpers (raw slices are needed to verify signatures over exact bytes).

/// One DER TLV split off an input: (tag, content, whole TLV, rest).
pub(crate) type Split<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// Splits one DER TLV off `input`. `None` when malformed.
pub(crate) fn tlv(input: &[u8]) -> Option<Split<'_>> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in the structures read here
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2usize)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    let content = input.get(header..end)?;
    Some((tag, content, whole, input.get(end..)?))
}

/// PEM blocks of `text` as (label, DER). Lines outside blocks are ignored.
pub(crate) fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, SealProblem> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_string(), String::new()));
        } else if line.starts_with("-----END ") {
            if let Some((label, b64)) = current.take() {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| malformed(format!("the PEM block {label} is not base64: {e}")))?;
                out.push((label, der));
            }
        } else if let Some((_, b64)) = current.as_mut() {
            if !line.contains(':') {
                b64.push_str(line);
            }
        }
    }
    Ok(out)
}

pub(crate) fn malformed(message: impl Into<String>) -> SealProblem {
    SealProblem::new(SealCode::Malformed, message)
}

fn to_utc(t: x509_cert::time::Time) -> DateTime<Utc> {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Serial number bytes as lower-case hex without leading zero bytes.
fn serial_hex(bytes: &[u8]) -> String {
    normalize_serial(&hex::encode(bytes))
}

/// Lower-case hex with leading zeros removed (at least one digit kept), for comparisons.
pub fn normalize_serial(hex: &str) -> String {
    let lower = hex.trim().to_ascii_lowercase().replace(':', "");
    let trimmed = lower.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

use crate::digest::sha256_hex;

// ---------------------------------------------------------------------------------------------
// Public keys and signature verification.

/// The kind of a public key, as far as seals care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// RSA with its modulus size.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
    /// EC key on P-256.
    EcP256,
    /// EC key on P-384.
    EcP384,
    /// SM2 key (EC on sm2p256v1).
    Sm2,
    /// Ed25519 key.
    Ed25519,
    /// Anything else (the OID and, for EC keys, the curve OID).
    Other {
        /// Dotted OID of the key algorithm (and curve).
        oid: String,
    },
}

impl KeyAlgorithm {
    /// Words for messages, e.g. `RSA 2048-bit`.
    pub fn describe(&self) -> String {
        match self {
            KeyAlgorithm::Rsa { bits } => format!("RSA {bits}-bit"),
            KeyAlgorithm::EcP256 => "EC P-256".into(),
            KeyAlgorithm::EcP384 => "EC P-384".into(),
            KeyAlgorithm::Sm2 => "SM2".into(),
            KeyAlgorithm::Ed25519 => "Ed25519".into(),
            KeyAlgorithm::Other { oid } => format!("unknown key type {oid}"),
        }
    }
}

/// A parsed SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// What kind of key.
    pub algorithm: KeyAlgorithm,
    /// The whole SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey bits (PKCS#1 RSAPublicKey, EC point, raw Ed25519 key).
    pub key_bytes: Vec<u8>,
}

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, SealProblem> {
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| malformed(format!("the public key cannot be read: {e}")))?;
        Self::from_spki(&spki)
    }

    fn from_spki(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<Self, SealProblem> {
        let spki_der = spki
            .to_der()
            .map_err(|e| malformed(format!("the public key cannot be encoded: {e}")))?;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| malformed("the public key is not a whole number of bytes"))?
            .to_vec();
        let oid = spki.algorithm.oid;
        let algorithm = if oid == oids::RSA_ENCRYPTION || oid == oids::RSASSA_PSS {
            KeyAlgorithm::Rsa {
                bits: rsa_bits(&key_bytes)
                    .ok_or_else(|| malformed("the RSA key cannot be read"))?,
            }
        } else if oid == oids::ED25519 {
            KeyAlgorithm::Ed25519
        } else if oid == oids::EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            match curve {
                Some(c) if c == oids::P256 => KeyAlgorithm::EcP256,
                Some(c) if c == oids::P384 => KeyAlgorithm::EcP384,
                Some(c) if c == oids::SM2_CURVE => KeyAlgorithm::Sm2,
                Some(c) => KeyAlgorithm::Other {
                    oid: format!("{oid} curve {c}"),
                },
                None => KeyAlgorithm::Other {
                    oid: oid.to_string(),
                },
            }
        } else if oid == oids::SM2_CURVE {
            KeyAlgorithm::Sm2
        } else {
            KeyAlgorithm::Other {
                oid: oid.to_string(),
            }
        };
        Ok(PublicKey {
            algorithm,
            spki_der,
            key_bytes,
        })
    }

    /// SHA-256 of the SubjectPublicKeyInfo DER, lower-case hex.
    pub fn fingerprint_sha256(&self) -> String {
        sha256_hex(&self.spki_der)
    }
}

/// Modulus size of a PKCS#1 RSAPublicKey.
fn rsa_bits(key: &[u8]) -> Option<u32> {
    let (tag, seq, _, _) = tlv(key)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, modulus, _, _) = tlv(seq)?;
    if tag != 0x02 {
        return None;
    }
    let start = modulus.iter().position(|b| *b != 0)?;
    let significant = modulus.get(start..)?;
    let first = *significant.first()?;
    let bytes = u32::try_from(significant.len()).ok()?;
    Some(bytes * 8 - first.leading_zeros())
}

/// Maps a digest OID to the digest algorithm.
pub(crate) fn digest_from_oid(oid: &ObjectIdentifier) -> Option<DigestAlgorithm> {
    match *oid {
        o if o == oids::SHA1 => Some(DigestAlgorithm::Sha1),
        o if o == oids::SHA256 => Some(DigestAlgorithm::Sha256),
        o if o == oids::SHA384 => Some(DigestAlgorithm::Sha384),
        o if o == oids::SHA512 => Some(DigestAlgorithm::Sha512),
        o if o == oids::SM3 => Some(DigestAlgorithm::Sm3),
        _ => None,
    }
}

/// Digest and mask hash of RSASSA-PSS parameters (salt length must equal the hash length
/// for ring; anything else is reported as not supported).
fn pss_digest(params: Option<&der::Any>) -> Result<DigestAlgorithm, SealProblem> {
    let not_supported = |why: &str| {
        SealProblem::new(
            SealCode::AlgorithmNotAllowed,
            format!("RSA-PSS parameters not supported: {why}"),
        )
    };
    let params = params.ok_or_else(|| not_supported("no parameters"))?;
    let der = params
        .to_der()
        .map_err(|_| malformed("RSA-PSS parameters cannot be read"))?;
    let (_, mut body, _, _) = tlv(&der).ok_or_else(|| malformed("RSA-PSS parameters"))?;
    // Defaults (RFC 8017): SHA-1, MGF1-SHA-1, salt 20.
    let mut hash = DigestAlgorithm::Sha1;
    let mut mgf_hash = DigestAlgorithm::Sha1;
    let mut salt: u64 = 20;
    while !body.is_empty() {
        let (tag, content, _, rest) = tlv(body).ok_or_else(|| malformed("RSA-PSS parameters"))?;
        body = rest;
        match tag {
            0xa0 => {
                let ai = spki::AlgorithmIdentifierOwned::from_der(content)
                    .map_err(|_| malformed("RSA-PSS hash"))?;
                hash = digest_from_oid(&ai.oid).ok_or_else(|| not_supported("unknown hash"))?;
            }
            0xa1 => {
                let ai = spki::AlgorithmIdentifierOwned::from_der(content)
                    .map_err(|_| malformed("RSA-PSS mask generation"))?;
                if ai.oid != oids::MGF1 {
                    return Err(not_supported("mask generation is not MGF1"));
                }
                let inner = ai
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<spki::AlgorithmIdentifierOwned>().ok())
                    .ok_or_else(|| malformed("RSA-PSS MGF1 hash"))?;
                mgf_hash = digest_from_oid(&inner.oid)
                    .ok_or_else(|| not_supported("unknown MGF1 hash"))?;
            }
            0xa2 => {
                let (t, n, _, _) = tlv(content).ok_or_else(|| malformed("RSA-PSS salt"))?;
                if t != 0x02 || n.len() > 8 {
                    return Err(malformed("RSA-PSS salt length"));
                }
                salt = n.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            }
            _ => {}
        }
    }
    let want = match hash {
        DigestAlgorithm::Sha256 => 32,
        DigestAlgorithm::Sha384 => 48,
        DigestAlgorithm::Sha512 => 64,
        _ => return Err(not_supported("hash must be SHA-256, SHA-384 or SHA-512")),
    };
    if mgf_hash != hash || salt != want {
        return Err(not_supported(
            "MGF1 hash must equal the hash and the salt must be as long as the hash",
        ));
    }
    Ok(hash)
}

/// Verifies `signature` over `message` with `key`, under `policy`.
///
/// `alg` is the signature AlgorithmIdentifier; `digest_hint` the digest to use when the
/// identifier names only the key type (CMS SignerInfo with `rsaEncryption`, `id-ecPublicKey`).
/// Returns the algorithm's name for the evidence.
pub(crate) fn verify_signature(
    key: &PublicKey,
    alg: &spki::AlgorithmIdentifierOwned,
    digest_hint: Option<DigestAlgorithm>,
    message: &[u8],
    signature: &[u8],
    policy: &AlgorithmPolicy,
) -> Result<String, SealProblem> {
    use ring::signature as rs;
    let not_allowed = |what: String| SealProblem::new(SealCode::AlgorithmNotAllowed, what);
    let o = alg.oid;
    let (family, digest): (SignatureAlgorithm, Option<DigestAlgorithm>) =
        if o == oids::RSA_ENCRYPTION {
            (SignatureAlgorithm::RsaPkcs1, digest_hint)
        } else if o == oids::SHA1_WITH_RSA {
            (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha1))
        } else if o == oids::SHA256_WITH_RSA {
            (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha256))
        } else if o == oids::SHA384_WITH_RSA {
            (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha384))
        } else if o == oids::SHA512_WITH_RSA {
            (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha512))
        } else if o == oids::RSASSA_PSS {
            (
                SignatureAlgorithm::RsaPss,
                Some(pss_digest(alg.parameters.as_ref())?),
            )
        } else if o == oids::ED25519 {
            (SignatureAlgorithm::Ed25519, None)
        } else if o == oids::SM2_WITH_SM3 || o == oids::SM2_SIGN {
            (SignatureAlgorithm::Sm2, Some(DigestAlgorithm::Sm3))
        } else if o == oids::EC_PUBLIC_KEY
            || o == oids::ECDSA_SHA1
            || o == oids::ECDSA_SHA256
            || o == oids::ECDSA_SHA384
            || o == oids::ECDSA_SHA512
        {
            let digest = match o {
                x if x == oids::ECDSA_SHA1 => Some(DigestAlgorithm::Sha1),
                x if x == oids::ECDSA_SHA256 => Some(DigestAlgorithm::Sha256),
                x if x == oids::ECDSA_SHA384 => Some(DigestAlgorithm::Sha384),
                x if x == oids::ECDSA_SHA512 => Some(DigestAlgorithm::Sha512),
                _ => digest_hint,
            };
            match key.algorithm {
                KeyAlgorithm::EcP384 => (SignatureAlgorithm::EcdsaP384, digest),
                KeyAlgorithm::Sm2 if o == oids::EC_PUBLIC_KEY => {
                    (SignatureAlgorithm::Sm2, Some(DigestAlgorithm::Sm3))
                }
                _ => (SignatureAlgorithm::EcdsaP256, digest),
            }
        } else {
            return Err(not_allowed(format!(
                "the signature algorithm {o} is not supported"
            )));
        };
    let name = match digest {
        Some(d) if family != SignatureAlgorithm::Sm2 => {
            format!("{} with {}", family.name(), d.name())
        }
        Some(_) => "SM2 with SM3".to_string(),
        None => family.name().to_string(),
    };
    if !policy.signature_algorithms.contains(&family) {
        return Err(not_allowed(format!(
            "the signature algorithm {name} is not allowed by the archive's policy"
        )));
    }
    if let Some(d) = digest {
        if !policy.digests.contains(&d) {
            return Err(not_allowed(format!(
                "the digest {} is not allowed by the archive's policy",
                d.name()
            )));
        }
    }
    let key_fits = matches!(
        (&key.algorithm, family),
        (KeyAlgorithm::Rsa { .. }, SignatureAlgorithm::RsaPkcs1)
            | (KeyAlgorithm::Rsa { .. }, SignatureAlgorithm::RsaPss)
            | (KeyAlgorithm::EcP256, SignatureAlgorithm::EcdsaP256)
            | (KeyAlgorithm::EcP384, SignatureAlgorithm::EcdsaP384)
            | (KeyAlgorithm::Ed25519, SignatureAlgorithm::Ed25519)
            | (KeyAlgorithm::Sm2, SignatureAlgorithm::Sm2)
    );
    if !key_fits {
        return Err(SealProblem::new(
            SealCode::BadSignature,
            format!(
                "the signature algorithm {name} does not fit the {} key",
                key.algorithm.describe()
            ),
        ));
    }
    if let KeyAlgorithm::Rsa { bits } = key.algorithm {
        if bits < policy.min_rsa_bits {
            return Err(SealProblem::new(
                SealCode::KeyTooSmall,
                format!(
                    "the RSA key has {bits} bits; the archive's policy requires at least {}",
                    policy.min_rsa_bits
                ),
            ));
        }
    }
    let bad = || {
        SealProblem::new(
            SealCode::BadSignature,
            format!("the {name} signature does not verify"),
        )
    };
    if family == SignatureAlgorithm::Sm2 {
        use sm2::dsa::signature::Verifier as _;
        let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_SIGNER_ID, &key.key_bytes)
            .map_err(|_| malformed("the SM2 public key cannot be read"))?;
        let sig = sm2::dsa::Signature::from_der(signature).map_err(|_| bad())?;
        return vk
            .verify(message, &sig)
            .map(|_| name.clone())
            .map_err(|_| bad());
    }
    let large = matches!(key.algorithm, KeyAlgorithm::Rsa { bits } if bits >= 2048);
    let ring_alg: &'static dyn rs::VerificationAlgorithm = match (family, digest, large) {
        (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha256), true) => {
            &rs::RSA_PKCS1_2048_8192_SHA256
        }
        (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha384), true) => {
            &rs::RSA_PKCS1_2048_8192_SHA384
        }
        (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha512), true) => {
            &rs::RSA_PKCS1_2048_8192_SHA512
        }
        (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha1), true) => {
            &rs::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha256), false) => {
            &rs::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha512), false) => {
            &rs::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
        }
        (SignatureAlgorithm::RsaPkcs1, Some(DigestAlgorithm::Sha1), false) => {
            &rs::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        (SignatureAlgorithm::RsaPss, Some(DigestAlgorithm::Sha256), true) => {
            &rs::RSA_PSS_2048_8192_SHA256
        }
        (SignatureAlgorithm::RsaPss, Some(DigestAlgorithm::Sha384), true) => {
            &rs::RSA_PSS_2048_8192_SHA384
        }
        (SignatureAlgorithm::RsaPss, Some(DigestAlgorithm::Sha512), true) => {
            &rs::RSA_PSS_2048_8192_SHA512
        }
        (SignatureAlgorithm::EcdsaP256, Some(DigestAlgorithm::Sha256), _) => {
            &rs::ECDSA_P256_SHA256_ASN1
        }
        (SignatureAlgorithm::EcdsaP256, Some(DigestAlgorithm::Sha384), _) => {
            &rs::ECDSA_P256_SHA384_ASN1
        }
        (SignatureAlgorithm::EcdsaP384, Some(DigestAlgorithm::Sha256), _) => {
            &rs::ECDSA_P384_SHA256_ASN1
        }
        (SignatureAlgorithm::EcdsaP384, Some(DigestAlgorithm::Sha384), _) => {
            &rs::ECDSA_P384_SHA384_ASN1
        }
        (SignatureAlgorithm::Ed25519, _, _) => &rs::ED25519,
        _ => {
            return Err(not_allowed(format!(
                "the combination {name} with a {} key is not supported",
                key.algorithm.describe()
            )))
        }
    };
    rs::UnparsedPublicKey::new(ring_alg, &key.key_bytes)
        .verify(message, signature)
        .map(|_| name.clone())
        .map_err(|_| bad())
}

// ---------------------------------------------------------------------------------------------
// Certificates.

/// Key usage bits of a certificate that seals care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUsageBits {
    /// digitalSignature.
    pub digital_signature: bool,
    /// nonRepudiation (contentCommitment).
    pub non_repudiation: bool,
    /// keyCertSign.
    pub key_cert_sign: bool,
    /// cRLSign.
    pub crl_sign: bool,
}

/// A parsed X.509 certificate with its DER.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs_der: Vec<u8>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    signature_algorithm: spki::AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    /// Subject name (RFC 4514).
    pub subject: String,
    /// Issuer name (RFC 4514).
    pub issuer: String,
    /// Serial number, lower-case hex without leading zeros.
    pub serial_hex: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// The subject's public key.
    pub public_key: PublicKey,
    /// Key usage, when the certificate has the extension.
    pub key_usage: Option<KeyUsageBits>,
    /// Basic constraints cA flag.
    pub is_ca: bool,
    /// Basic constraints pathLenConstraint: how many CA certificates may follow below it.
    pub path_len: Option<u8>,
    /// Extended key usage purposes (dotted OIDs), when the certificate has the extension.
    pub extended_key_usage: Option<Vec<String>>,
    /// Critical extensions this module does not apply (dotted OID and name): the certificate
    /// cannot be judged (RFC 5280 4.2: a critical extension not processed means rejection).
    pub unprocessed_critical: Vec<(String, &'static str)>,
    /// Subject key identifier, when present.
    pub subject_key_id: Option<Vec<u8>>,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint_sha256: String,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, SealProblem> {
        let parsed = x509_cert::Certificate::from_der(der)
            .map_err(|e| malformed(format!("a certificate cannot be read: {e}")))?;
        Self::from_parsed(der, &parsed)
    }

    /// Parses every `CERTIFICATE` block of a PEM text.
    pub fn from_pem(text: &str) -> Result<Vec<Self>, SealProblem> {
        pem_blocks(text)?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE" || label == "X509 CERTIFICATE")
            .map(|(_, der)| Self::from_der(&der))
            .collect()
    }

    /// Parses DER, or PEM when the bytes look like text.
    pub fn parse_any(bytes: &[u8]) -> Result<Vec<Self>, SealProblem> {
        if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| malformed("the PEM certificate file is not UTF-8"))?;
            Self::from_pem(text)
        } else {
            Ok(vec![Self::from_der(bytes)?])
        }
    }

    pub(crate) fn from_parsed(
        der: &[u8],
        parsed: &x509_cert::Certificate,
    ) -> Result<Self, SealProblem> {
        let (_, body, _, _) = tlv(der).ok_or_else(|| malformed("a certificate cannot be read"))?;
        let (_, _, tbs, _) = tlv(body).ok_or_else(|| malformed("a certificate cannot be read"))?;
        let tbs_cert = parsed.tbs_certificate();
        let enc = |r: der::Result<Vec<u8>>| {
            r.map_err(|e| malformed(format!("a certificate cannot be encoded: {e}")))
        };
        let ext_err =
            |e: der::Error| malformed(format!("a certificate extension cannot be read: {e}"));
        let key_usage = tbs_cert
            .get_extension::<KeyUsage>()
            .map_err(ext_err)?
            .map(|(_, ku)| KeyUsageBits {
                digital_signature: ku.digital_signature(),
                non_repudiation: ku.non_repudiation(),
                key_cert_sign: ku.key_cert_sign(),
                crl_sign: ku.crl_sign(),
            });
        let basic = tbs_cert
            .get_extension::<BasicConstraints>()
            .map_err(ext_err)?
            .map(|(_, bc)| bc);
        let extended_key_usage = tbs_cert
            .get_extension::<ExtendedKeyUsage>()
            .map_err(ext_err)?
            .map(|(_, eku)| eku.0.iter().map(ToString::to_string).collect());
        let unprocessed_critical = tbs_cert
            .extensions()
            .map(|exts| {
                exts.iter()
                    .filter(|e| e.critical)
                    .map(|e| e.extn_id.to_string())
                    .filter(|oid| !UNDERSTOOD_EXTENSIONS.iter().any(|(o, _)| o == oid))
                    .map(|oid| {
                        let name = extension_name(&oid);
                        (oid, name)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let subject_key_id = tbs_cert
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(ext_err)?
            .map(|(_, ski)| ski.0.as_bytes().to_vec());
        let signature = parsed
            .signature()
            .as_bytes()
            .ok_or_else(|| malformed("a certificate's signature is not a whole number of bytes"))?
            .to_vec();
        Ok(Certificate {
            der: der.to_vec(),
            tbs_der: tbs.to_vec(),
            subject_der: enc(tbs_cert.subject().to_der())?,
            issuer_der: enc(tbs_cert.issuer().to_der())?,
            signature_algorithm: parsed.signature_algorithm().clone(),
            signature,
            subject: tbs_cert.subject().to_string(),
            issuer: tbs_cert.issuer().to_string(),
            serial_hex: serial_hex(tbs_cert.serial_number().as_bytes()),
            not_before: to_utc(tbs_cert.validity().not_before),
            not_after: to_utc(tbs_cert.validity().not_after),
            public_key: PublicKey::from_spki(tbs_cert.subject_public_key_info())?,
            key_usage,
            is_ca: basic.as_ref().is_some_and(|bc| bc.ca),
            path_len: basic.and_then(|bc| bc.path_len_constraint),
            extended_key_usage,
            unprocessed_critical,
            subject_key_id,
            fingerprint_sha256: sha256_hex(der),
        })
    }

    /// The certificate's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// DER of the subject name (for exact comparisons).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// DER of the issuer name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// Whether the certificate is self-issued (subject equals issuer).
    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// Checks that `issuer_key` signed this certificate, under `policy`.
    pub fn verify_signed_by(
        &self,
        issuer_key: &PublicKey,
        policy: &AlgorithmPolicy,
    ) -> Result<(), SealProblem> {
        verify_signature(
            issuer_key,
            &self.signature_algorithm,
            None,
            &self.tbs_der,
            &self.signature,
            policy,
        )
        .map(|_| ())
    }

    /// The evidence form of this certificate.
    pub fn link(&self) -> ChainLink {
        ChainLink {
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            serial_hex: self.serial_hex.clone(),
            fingerprint_sha256: self.fingerprint_sha256.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            der_base64: base64::engine::general_purpose::STANDARD.encode(&self.der),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CRLs, anchors, revocations.

/// A parsed certificate revocation list (RFC 5280 §5).
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs_der: Vec<u8>,
    issuer_der: Vec<u8>,
    signature_algorithm: spki::AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    /// Issuer name (RFC 4514).
    pub issuer: String,
    /// When the CRL was issued.
    pub this_update: DateTime<Utc>,
    /// When the next CRL is due, if stated.
    pub next_update: Option<DateTime<Utc>>,
    /// Revoked certificates: (serial, lower-case hex; revocation time).
    pub revoked: Vec<(String, DateTime<Utc>)>,
}

impl Crl {
    /// Parses a DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self, SealProblem> {
        let parsed =
            x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der)
                .map_err(|e| malformed(format!("the CRL cannot be read: {e}")))?;
        let (_, body, _, _) = tlv(der).ok_or_else(|| malformed("the CRL cannot be read"))?;
        let (_, _, tbs, _) = tlv(body).ok_or_else(|| malformed("the CRL cannot be read"))?;
        let t = &parsed.tbs_cert_list;
        Ok(Crl {
            der: der.to_vec(),
            tbs_der: tbs.to_vec(),
            issuer_der: t
                .issuer
                .to_der()
                .map_err(|e| malformed(format!("the CRL issuer cannot be encoded: {e}")))?,
            signature_algorithm: parsed.signature_algorithm.clone(),
            signature: parsed
                .signature
                .as_bytes()
                .ok_or_else(|| malformed("the CRL signature is not a whole number of bytes"))?
                .to_vec(),
            issuer: t.issuer.to_string(),
            this_update: to_utc(t.this_update),
            next_update: t.next_update.map(to_utc),
            revoked: t
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| {
                    (
                        serial_hex(r.serial_number.as_bytes()),
                        to_utc(r.revocation_date),
                    )
                })
                .collect(),
        })
    }

    /// Parses the first `X509 CRL` block of a PEM text.
    pub fn from_pem(text: &str) -> Result<Self, SealProblem> {
        let (_, der) = pem_blocks(text)?
            .into_iter()
            .find(|(label, _)| label == "X509 CRL")
            .ok_or_else(|| malformed("no X509 CRL block in the PEM text"))?;
        Self::from_der(&der)
    }

    /// Parses DER or PEM.
    pub fn parse_any(bytes: &[u8]) -> Result<Self, SealProblem> {
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            let text =
                std::str::from_utf8(bytes).map_err(|_| malformed("the PEM CRL is not UTF-8"))?;
            Self::from_pem(text)
        } else {
            Self::from_der(bytes)
        }
    }

    /// The CRL's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Checks that `issuer` issued this CRL: names match, cRLSign allowed, signature verifies.
    pub fn verify(
        &self,
        issuer: &Certificate,
        policy: &AlgorithmPolicy,
    ) -> Result<(), SealProblem> {
        if issuer.subject_der != self.issuer_der {
            return Err(SealProblem::new(
                SealCode::BadSignature,
                format!(
                    "the CRL was issued by {}, not by {}",
                    self.issuer, issuer.subject
                ),
            ));
        }
        if issuer.key_usage.is_some_and(|ku| !ku.crl_sign) {
            return Err(SealProblem::new(
                SealCode::KeyUsage,
                format!("the certificate of {} may not sign CRLs", issuer.subject),
            ));
        }
        verify_signature(
            &issuer.public_key,
            &self.signature_algorithm,
            None,
            &self.tbs_der,
            &self.signature,
            policy,
        )
        .map(|_| ())
    }

    /// The revocations this CRL lists, attributed to `issuer` by fingerprint.
    /// Call [`Crl::verify`] first.
    pub fn revocations(&self, issuer: &Certificate) -> Vec<Revocation> {
        self.revoked
            .iter()
            .map(|(serial, at)| Revocation {
                issuer_fingerprint_or_name: issuer.fingerprint_sha256.clone(),
                serial_hex: serial.clone(),
                revoked_at: *at,
            })
            .collect()
    }
}

/// A trust anchor as the seal registry hands it over: a CA (or agency) certificate, or a
/// bare public key, with the window in which the registry trusts it.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchor {
    /// The anchor's certificate, when the agency has a PKI.
    pub certificate: Option<Certificate>,
    /// A bare SubjectPublicKeyInfo DER, for agencies without a PKI (or in addition).
    pub public_key: Option<Vec<u8>>,
    /// Trusted from (inclusive); `None` for no lower bound.
    pub not_before: Option<DateTime<Utc>>,
    /// Trusted until (inclusive); `None` for no upper bound.
    pub not_after: Option<DateTime<Utc>>,
}

/// A revoked certificate as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The issuer's certificate SHA-256 fingerprint (hex, optionally prefixed `sha256:`) or
    /// the issuer's name (RFC 4514).
    pub issuer_fingerprint_or_name: String,
    /// The revoked certificate's serial, hex (any case, leading zeros ignored).
    pub serial_hex: String,
    /// When it was revoked.
    pub revoked_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Chain validation.

enum Reached {
    /// The certificate is itself the anchor's certificate, or has the anchor's key.
    Is(String),
    /// The certificate was signed by the anchor (with the anchor's certificate, if any).
    SignedBy(String, Option<Box<Certificate>>),
}

fn anchor_name(anchor: &TrustAnchor) -> String {
    match (&anchor.certificate, &anchor.public_key) {
        (Some(c), _) => c.subject.clone(),
        (None, Some(k)) => format!("public key sha256:{}", sha256_hex(k)),
        (None, None) => "empty anchor".into(),
    }
}

fn try_anchor(
    cert: &Certificate,
    anchor: &TrustAnchor,
    policy: &AlgorithmPolicy,
    errors: &mut Vec<SealProblem>,
) -> Option<Reached> {
    if let Some(ac) = &anchor.certificate {
        if ac.der == cert.der {
            return Some(Reached::Is(anchor_name(anchor)));
        }
        if ac.subject_der == cert.issuer_der {
            match cert.verify_signed_by(&ac.public_key, policy) {
                Ok(()) => {
                    return Some(Reached::SignedBy(
                        anchor_name(anchor),
                        Some(Box::new(ac.clone())),
                    ))
                }
                Err(p) => errors.push(p),
            }
        }
    }
    if let Some(spki_der) = &anchor.public_key {
        if *spki_der == cert.public_key.spki_der {
            return Some(Reached::Is(anchor_name(anchor)));
        }
        if let Ok(key) = PublicKey::from_spki_der(spki_der) {
            // A bare key has no name to tell whether it is meant as this certificate's
            // issuer: its failures say nothing and are not reported.
            if cert.verify_signed_by(&key, policy).is_ok() {
                return Some(Reached::SignedBy(anchor_name(anchor), None));
            }
        }
    }
    None
}

fn role(index: usize, cert: &Certificate) -> String {
    if index == 0 {
        "the signer's certificate".to_string()
    } else {
        format!("the issuing certificate \"{}\"", cert.subject)
    }
}

/// Builds a chain from `signer` through `pool` to one of `anchors` and checks it at time `at`.
///
/// Checked: every signature on the way (under `policy`, including RSA key sizes), each
/// certificate valid at `at` (`not_before ≤ at ≤ not_after`), each anchor's registry window,
/// the CA flag and keyCertSign (when key usage is present) on issuers, digitalSignature or
/// nonRepudiation (when key usage is present) on the signer, and that no certificate was
/// revoked at or before `at` (a revocation after `at` leaves the chain valid and is noted).
///
/// `Err` when no chain to an anchor can be built (`SEAL_UNTRUSTED_SIGNER`, or the reason a
/// candidate link failed: bad signature, algorithm, key size); otherwise the chain with every
/// problem found as data in [`ChainVerdict::problems`].
pub fn validate_chain(
    signer: &Certificate,
    pool: &[Certificate],
    anchors: &[TrustAnchor],
    revocations: &[Revocation],
    at: DateTime<Utc>,
    policy: &AlgorithmPolicy,
) -> Result<ChainVerdict, SealProblem> {
    let mut chain: Vec<Certificate> = vec![signer.clone()];
    let mut link_errors: Vec<SealProblem> = Vec::new();
    let (anchor_label, anchor_used) = 'build: loop {
        let Some(current) = chain.last().cloned() else {
            return Err(malformed("empty chain"));
        };
        for anchor in anchors {
            match try_anchor(&current, anchor, policy, &mut link_errors) {
                Some(Reached::Is(name)) => break 'build (name, anchor),
                Some(Reached::SignedBy(name, cert)) => {
                    if let Some(c) = cert {
                        chain.push(*c);
                    }
                    break 'build (name, anchor);
                }
                None => {}
            }
        }
        if chain.len() >= MAX_CHAIN || current.is_self_issued() {
            return Err(untrusted(signer, link_errors));
        }
        let next = pool.iter().find(|c| {
            c.subject_der == current.issuer_der
                && !chain.iter().any(|x| x.der == c.der)
                && match current.verify_signed_by(&c.public_key, policy) {
                    Ok(()) => true,
                    Err(p) => {
                        link_errors.push(p);
                        false
                    }
                }
        });
        match next {
            Some(c) => chain.push(c.clone()),
            None => return Err(untrusted(signer, link_errors)),
        }
    };

    let mut problems = Vec::new();
    let mut notes = Vec::new();
    // The anchor's registry window.
    let label = anchor_label.clone();
    if let Some(nb) = anchor_used.not_before {
        if at < nb {
            problems.push(SealProblem::new(
                SealCode::NotYetValid,
                format!(
                    "the archive trusts \"{label}\" only from {}, after the signing time {}",
                    day(nb),
                    day(at)
                ),
            ));
        }
    }
    if let Some(na) = anchor_used.not_after {
        if at > na {
            problems.push(SealProblem::new(
                SealCode::Expired,
                format!(
                    "the archive trusted \"{label}\" only until {}, before the signing time {}",
                    day(na),
                    day(at)
                ),
            ));
        }
    }
    for (i, cert) in chain.iter().enumerate() {
        let who = role(i, cert);
        if at < cert.not_before {
            problems.push(SealProblem::new(
                SealCode::NotYetValid,
                format!(
                    "{who} is valid only from {}, after it signed on {}",
                    day(cert.not_before),
                    day(at)
                ),
            ));
        }
        if at > cert.not_after {
            problems.push(SealProblem::new(
                SealCode::Expired,
                format!(
                    "{who} expired on {}, before it signed on {}",
                    day(cert.not_after),
                    day(at)
                ),
            ));
        }
        for (oid, name) in &cert.unprocessed_critical {
            problems.push(SealProblem::new(
                SealCode::Unverifiable,
                format!(
                    "{who} carries the critical extension {name} ({oid}), which this archive \
                     does not check: the seal cannot be judged"
                ),
            ));
        }
        if i == 0 {
            if let Some(ku) = cert.key_usage {
                if !ku.digital_signature && !ku.non_repudiation {
                    problems.push(SealProblem::new(
                        SealCode::KeyUsage,
                        format!("{who} may not be used for signatures (key usage lacks digitalSignature and nonRepudiation)"),
                    ));
                }
            }
            if let Some(ekus) = &cert.extended_key_usage {
                let fits = |oid: &String| {
                    SEAL_EXTENDED_KEY_USAGES.iter().any(|(o, _)| o == oid)
                        || policy.signer_extended_key_usages.contains(oid)
                };
                if !ekus.iter().any(fits) {
                    problems.push(SealProblem::new(
                        SealCode::KeyUsage,
                        format!(
                            "{who} is restricted to other purposes (extended key usage {}): \
                             none of them is document signing",
                            ekus.join(", ")
                        ),
                    ));
                }
            }
        } else {
            // Certificates between the signer and this one that are CAs (self-issued ones
            // do not count, RFC 5280 6.1.4 (l)).
            let below = chain[1..i].iter().filter(|c| !c.is_self_issued()).count();
            if let Some(max) = cert.path_len {
                if below > usize::from(max) {
                    problems.push(SealProblem::new(
                        SealCode::KeyUsage,
                        format!(
                            "{who} allows at most {max} intermediate CA certificates below it \
                             (pathLenConstraint), but this chain has {below}"
                        ),
                    ));
                }
            }
            if !cert.is_ca {
                problems.push(SealProblem::new(
                    SealCode::KeyUsage,
                    format!("{who} is not a CA certificate but issued another certificate"),
                ));
            }
            if cert.key_usage.is_some_and(|ku| !ku.key_cert_sign) {
                problems.push(SealProblem::new(
                    SealCode::KeyUsage,
                    format!("{who} may not sign certificates (key usage lacks keyCertSign)"),
                ));
            }
        }
        if let KeyAlgorithm::Rsa { bits } = cert.public_key.algorithm {
            if i == 0 && bits < policy.min_rsa_bits {
                problems.push(SealProblem::new(
                    SealCode::KeyTooSmall,
                    format!(
                        "{who} has an RSA key of {bits} bits; the archive's policy requires at least {}",
                        policy.min_rsa_bits
                    ),
                ));
            }
        }
        // Revocation: by serial, attributed to this certificate's issuer.
        let issuer_fp = chain.get(i + 1).map(|c| c.fingerprint_sha256.as_str());
        let serial = normalize_serial(&cert.serial_hex);
        for r in revocations {
            let named = r.issuer_fingerprint_or_name.trim();
            let as_fp = named
                .strip_prefix("sha256:")
                .unwrap_or(named)
                .to_ascii_lowercase();
            let by_issuer = Some(as_fp.as_str()) == issuer_fp || named == cert.issuer;
            if !by_issuer || normalize_serial(&r.serial_hex) != serial {
                continue;
            }
            if r.revoked_at <= at {
                problems.push(SealProblem::new(
                    SealCode::Revoked,
                    format!(
                        "{who} was revoked on {}, before it signed on {}",
                        day(r.revoked_at),
                        day(at)
                    ),
                ));
            } else {
                notes.push(format!(
                    "{who} was revoked on {}, after it signed on {}: the seal stays valid",
                    day(r.revoked_at),
                    day(at)
                ));
            }
        }
    }
    Ok(ChainVerdict {
        chain: chain.iter().map(Certificate::link).collect(),
        anchor: anchor_label,
        problems,
        notes,
    })
}

fn untrusted(signer: &Certificate, link_errors: Vec<SealProblem>) -> SealProblem {
    // A link that failed for a reason other than a bad signature (algorithm, key size) is the
    // more useful report; a merely unknown issuer is "untrusted signer".
    if let Some(p) = link_errors
        .into_iter()
        .find(|p| p.code != SealCode::BadSignature)
    {
        return p;
    }
    SealProblem::new(
        SealCode::UntrustedSigner,
        format!(
            "the signer \"{}\" (certificate issued by \"{}\") does not chain to any certificate or key the archive trusts for this agency",
            signer.subject, signer.issuer
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_splits_short_and_long_forms_and_refuses_truncation() {
        let (tag, content, whole, rest) = tlv(&[0x04, 0x02, 0xaa, 0xbb, 0xff]).expect("short");
        assert_eq!(
            (tag, content, whole, rest),
            (4, &[0xaa, 0xbb][..], &[4, 2, 0xaa, 0xbb][..], &[0xff][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(0u8, 0x80));
        assert_eq!(tlv(&long).expect("long").1.len(), 0x80);
        assert!(tlv(&long[..50]).is_none());
        assert!(tlv(&[0x1f, 0x01, 0x00]).is_none(), "high tag");
        assert!(tlv(&[0x30, 0x80]).is_none(), "indefinite length");
        assert!(
            tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none(),
            "length too long"
        );
        assert!(tlv(&[]).is_none());
    }

    #[test]
    fn serials_compare_without_case_colons_or_leading_zeros() {
        assert_eq!(normalize_serial("00:A1:0f"), "a10f");
        assert_eq!(normalize_serial("0000"), "0");
        assert_eq!(serial_hex(&[0x00, 0x80, 0x01]), "8001");
    }

    #[test]
    fn rsa_bits_counts_the_modulus() {
        // SEQUENCE { INTEGER 0x00 0x80 ... (2048 bits), INTEGER 3 }
        let mut modulus = vec![0x00, 0x80];
        modulus.extend(std::iter::repeat_n(1u8, 255));
        let mut inner = vec![0x02, 0x82, 0x01, 0x01];
        inner.extend(&modulus);
        inner.extend([0x02, 0x01, 0x03]);
        let mut key = vec![0x30, 0x82, 0x01, 0x08];
        key.extend(&inner);
        assert_eq!(rsa_bits(&key), Some(2048));
        assert_eq!(rsa_bits(&key[..20]), None);
        assert_eq!(
            rsa_bits(&[0x30, 0x03, 0x02, 0x01, 0x00]),
            None,
            "zero modulus"
        );
    }

    #[test]
    fn garbage_certificates_crls_and_pem_are_malformed_not_panics() {
        let mut seed = 0x1234_5678_9abc_def0_u64;
        for i in 0..3000 {
            let len = (i % 300) + 1;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            if i % 2 == 0 {
                bytes[0] = 0x30;
            }
            let cert = Certificate::from_der(&bytes).expect_err("garbage certificate");
            assert_eq!(cert.code, SealCode::Malformed);
            assert!(Crl::from_der(&bytes).is_err());
            assert!(PublicKey::from_spki_der(&bytes).is_err());
        }
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----").is_err());
        assert!(Certificate::from_pem("no pem here")
            .expect("empty")
            .is_empty());
        assert!(Crl::from_pem("").is_err());
    }

    #[test]
    fn problems_serialize_with_their_stable_code() {
        let p = SealProblem::new(SealCode::UntrustedSigner, "x");
        assert_eq!(p.code.as_str(), "SEAL_UNTRUSTED_SIGNER");
        assert_eq!(
            serde_json::to_string(&p).expect("json"),
            r#"{"code":"SEAL_UNTRUSTED_SIGNER","message":"x"}"#
        );
    }
}
