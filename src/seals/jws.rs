//! Detached JWS seals (`X.jws` beside a file `X`): RFC 7515 compact serialization with a
//! detached payload, unencoded (RFC 7797, `"b64":false`) or base64url-encoded (RFC 7515
//! appendix F), verified against an agency's trust anchors in the seal registry.
//!
//! Owns the JWS parsing and the mapping of JWS `alg` values to ring; the verdict types and
//! codes are `verdict`'s, the anchors the registry's. Specified in `formats/seals.md` ("JWS").
//!
//! ring verifies a signature over a message held in memory (its ECDSA and RSA verifiers hash
//! the whole message themselves), so the file is read into memory: files larger than
//! [`MAX_JWS_PAYLOAD`] are refused with `SEAL_UNVERIFIABLE` instead of being half-checked.

use std::io::Read;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::registry::{AnchorRecord, Registry, WindowMiss};
use super::verdict::{
    AlgorithmPolicy, DigestAlgorithm, SealCode, SealProblem, SealVerdict, SignatureAlgorithm,
    SignerEvidence, TimeSource,
};
use super::x509::{KeyAlgorithm, PublicKey};

/// Largest file a JWS seal is verified over (256 MiB): the whole file is held in memory.
pub const MAX_JWS_PAYLOAD: u64 = 256 * 1024 * 1024;

/// Largest `.jws` file read (a compact JWS with a detached payload is a header and a
/// signature: a few kilobytes).
pub const MAX_JWS_SIZE: u64 = 64 * 1024;

/// The seal format named in verdicts.
pub const FORMAT: &str = "jws-detached";

/// A parsed compact JWS with a detached payload.
#[derive(Debug, Clone, PartialEq)]
pub struct DetachedJws {
    /// The protected header as sent (base64url), part of the signing input.
    pub header_b64: String,
    /// The decoded protected header.
    pub header: Map<String, Value>,
    /// `alg`.
    pub alg: String,
    /// False for RFC 7797 unencoded payloads.
    pub b64: bool,
    /// `kid`, when given.
    pub kid: Option<String>,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

fn malformed(m: impl Into<String>) -> SealProblem {
    SealProblem::new(SealCode::Malformed, m)
}

/// Parses `header..signature`. Refuses an attached payload, a header that is not a JSON
/// object, a `crit` naming anything but `b64`, and `b64` without `crit` (RFC 7797 §6).
pub fn parse(text: &str) -> Result<DetachedJws, SealProblem> {
    let text = text.trim();
    let parts: Vec<&str> = text.split('.').collect();
    let [h, payload, sig] = parts.as_slice() else {
        return Err(malformed(format!(
            "the seal is not a JWS in compact form (header..signature): it has {} part(s) separated by '.', not 3",
            parts.len()
        )));
    };
    if !payload.is_empty() {
        return Err(malformed(
            "the JWS carries its payload inside; a seal beside a file must have a detached (empty) payload",
        ));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| malformed("the JWS header is not base64url"))?;
    let header: Map<String, Value> = match serde_json::from_slice(&header_bytes) {
        Ok(Value::Object(m)) => m,
        _ => return Err(malformed("the JWS header is not a JSON object")),
    };
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the JWS header has no \"alg\""))?
        .to_string();
    let b64 = match header.get("b64") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(malformed("the JWS header's \"b64\" is not true or false")),
    };
    let crit: Vec<&str> = match header.get("crit") {
        None => Vec::new(),
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| malformed("\"crit\" lists a non-string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(malformed(
                "the JWS header's \"crit\" is not a non-empty list",
            ))
        }
    };
    if let Some(unknown) = crit.iter().find(|c| **c != "b64") {
        return Err(malformed(format!(
            "the JWS header marks {unknown:?} critical, which this archive does not understand"
        )));
    }
    if header.contains_key("b64") && !crit.contains(&"b64") {
        return Err(malformed(
            "the JWS header sets \"b64\" without listing it in \"crit\" (RFC 7797 requires both)",
        ));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| malformed("the JWS signature is not base64url"))?;
    if signature.is_empty() && alg != "none" {
        return Err(malformed("the JWS has an empty signature"));
    }
    Ok(DetachedJws {
        header_b64: (*h).to_string(),
        kid: header.get("kid").and_then(Value::as_str).map(String::from),
        header,
        alg,
        b64,
        signature,
    })
}

/// What a JWS `alg` needs: the key algorithm, policy family, digest and ring verifier.
struct AlgSpec {
    key: KeyKind,
    family: SignatureAlgorithm,
    digest: DigestAlgorithm,
    verifier: &'static dyn ring::signature::VerificationAlgorithm,
    name: &'static str,
}

/// The key type an `alg` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Ed25519,
    P256,
    P384,
    Rsa,
}

impl KeyKind {
    fn fits(self, key: &KeyAlgorithm) -> bool {
        matches!(
            (self, key),
            (KeyKind::Ed25519, KeyAlgorithm::Ed25519)
                | (KeyKind::P256, KeyAlgorithm::EcP256)
                | (KeyKind::P384, KeyAlgorithm::EcP384)
                | (KeyKind::Rsa, KeyAlgorithm::Rsa { .. })
        )
    }
}

fn alg_spec(alg: &str) -> Option<AlgSpec> {
    use ring::signature as s;
    use DigestAlgorithm as D;
    use KeyKind as K;
    use SignatureAlgorithm as F;
    let (key, family, digest, verifier, name): (_, _, _, &'static dyn s::VerificationAlgorithm, _) =
        match alg {
            "EdDSA" | "Ed25519" => (K::Ed25519, F::Ed25519, D::Sha512, &s::ED25519, "Ed25519"),
            "ES256" => (
                K::P256,
                F::EcdsaP256,
                D::Sha256,
                &s::ECDSA_P256_SHA256_FIXED,
                "ECDSA P-256 with SHA-256",
            ),
            "ES384" => (
                K::P384,
                F::EcdsaP384,
                D::Sha384,
                &s::ECDSA_P384_SHA384_FIXED,
                "ECDSA P-384 with SHA-384",
            ),
            "RS256" => (
                K::Rsa,
                F::RsaPkcs1,
                D::Sha256,
                &s::RSA_PKCS1_2048_8192_SHA256,
                "RSA PKCS#1 v1.5 with SHA-256",
            ),
            "RS384" => (
                K::Rsa,
                F::RsaPkcs1,
                D::Sha384,
                &s::RSA_PKCS1_2048_8192_SHA384,
                "RSA PKCS#1 v1.5 with SHA-384",
            ),
            "RS512" => (
                K::Rsa,
                F::RsaPkcs1,
                D::Sha512,
                &s::RSA_PKCS1_2048_8192_SHA512,
                "RSA PKCS#1 v1.5 with SHA-512",
            ),
            "PS256" => (
                K::Rsa,
                F::RsaPss,
                D::Sha256,
                &s::RSA_PSS_2048_8192_SHA256,
                "RSA-PSS with SHA-256",
            ),
            "PS384" => (
                K::Rsa,
                F::RsaPss,
                D::Sha384,
                &s::RSA_PSS_2048_8192_SHA384,
                "RSA-PSS with SHA-384",
            ),
            "PS512" => (
                K::Rsa,
                F::RsaPss,
                D::Sha512,
                &s::RSA_PSS_2048_8192_SHA512,
                "RSA-PSS with SHA-512",
            ),
            _ => return None,
        };
    Some(AlgSpec {
        key,
        family,
        digest,
        verifier,
        name,
    })
}

/// RFC 7638 thumbprint of an Ed25519 or EC key (base64url of SHA-256 of the canonical JWK),
/// so that a `kid` holding it names the anchor.
fn jwk_thumbprint(key: &PublicKey) -> Option<String> {
    let b = |x: &[u8]| URL_SAFE_NO_PAD.encode(x);
    let jwk = match &key.algorithm {
        KeyAlgorithm::Ed25519 => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b(&key.key_bytes)
        ),
        KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => {
            let (crv, n) = if key.algorithm == KeyAlgorithm::EcP256 {
                ("P-256", 32)
            } else {
                ("P-384", 48)
            };
            let p = key.key_bytes.get(1..)?;
            format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                b(p.get(..n)?),
                b(p.get(n..)?)
            )
        }
        _ => return None,
    };
    Some(b(ring::digest::digest(
        &ring::digest::SHA256,
        jwk.as_bytes(),
    )
    .as_ref()))
}

/// Whether `kid` names `anchor`: its fingerprint (with or without `sha256:`) or the RFC 7638
/// thumbprint of its key.
fn kid_names(kid: &str, anchor: &AnchorRecord, key: &PublicKey) -> bool {
    let fp = anchor.fingerprint.as_str();
    kid == fp
        || Some(kid) == fp.strip_prefix("sha256:")
        || jwk_thumbprint(key).as_deref() == Some(kid)
}

fn read_bounded(path: &std::path::Path, limit: u64) -> Result<Option<Vec<u8>>, std::io::Error> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= limit).then_some(buf))
}

fn verdict(
    at: DateTime<Utc>,
    signer: Option<SignerEvidence>,
    problems: Vec<SealProblem>,
) -> SealVerdict {
    SealVerdict {
        valid: signer.is_some() && problems.is_empty(),
        format: FORMAT.into(),
        problems,
        signers: signer.into_iter().collect(),
        intake_time: at,
    }
}

/// Verifies the detached JWS in `jws_text` over the file at `file` against the anchors of
/// `agency` in `registry`, judged at `at` (the intake time: a JWS carries no signed signing
/// time). Problems are data in the verdict; only reading the file can fail.
pub fn verify_detached(
    file: &std::path::Path,
    jws_text: &str,
    registry: &Registry,
    agency: &str,
    policy: &AlgorithmPolicy,
    at: DateTime<Utc>,
) -> Result<SealVerdict, std::io::Error> {
    let jws = match parse(jws_text) {
        Ok(j) => j,
        Err(p) => return Ok(verdict(at, None, vec![p])),
    };
    let Some(spec) = alg_spec(&jws.alg) else {
        return Ok(verdict(
            at,
            None,
            vec![SealProblem::new(
                SealCode::AlgorithmNotAllowed,
                format!(
                    "the seal uses algorithm {:?}, which is not allowed: only EdDSA, ES256, ES384, RS256/384/512 and PS256/384/512 are accepted",
                    jws.alg
                ),
            )],
        ));
    };
    let mut evidence = SignerEvidence {
        signing_time: Some(at),
        time_source: Some(TimeSource::IntakeTime),
        signature_algorithm: Some(spec.name.into()),
        digest_algorithm: Some(spec.digest.name().into()),
        ..SignerEvidence::default()
    };
    if !policy.signature_algorithms.contains(&spec.family) || !policy.digests.contains(&spec.digest)
    {
        let p = SealProblem::new(
            SealCode::AlgorithmNotAllowed,
            format!(
                "the seal uses {} ({}), which this archive's policy does not allow",
                spec.name, jws.alg
            ),
        );
        evidence.problems.push(p.clone());
        return Ok(verdict(at, Some(evidence), vec![p]));
    }
    let size = std::fs::metadata(file)?.len();
    if size > MAX_JWS_PAYLOAD {
        let p = SealProblem::new(
            SealCode::Unverifiable,
            format!(
                "the file is {size} bytes; a JWS seal is verified in memory and only up to {MAX_JWS_PAYLOAD} bytes (256 MiB)"
            ),
        );
        evidence.problems.push(p.clone());
        return Ok(verdict(at, Some(evidence), vec![p]));
    }
    let Some(payload) = read_bounded(file, MAX_JWS_PAYLOAD)? else {
        let p = SealProblem::new(
            SealCode::Unverifiable,
            "the file grew past 256 MiB while it was read; a JWS seal is verified in memory",
        );
        evidence.problems.push(p.clone());
        return Ok(verdict(at, Some(evidence), vec![p]));
    };
    evidence.content_digest_hex = Some(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &payload,
    )));
    let mut input = Vec::with_capacity(jws.header_b64.len() + 1 + payload.len());
    input.extend_from_slice(jws.header_b64.as_bytes());
    input.push(b'.');
    if jws.b64 {
        input.extend_from_slice(URL_SAFE_NO_PAD.encode(&payload).as_bytes());
    } else {
        input.extend_from_slice(&payload);
    }
    drop(payload);

    // Candidate keys: the agency's anchors whose key fits the algorithm.
    let anchors = registry.anchor_records_for(agency);
    let candidates: Vec<(AnchorRecord, PublicKey)> = anchors
        .into_iter()
        .filter_map(|a| a.key().ok().map(|k| (a, k)))
        .filter(|(_, k)| spec.key.fits(&k.algorithm))
        .collect();
    let named: Vec<&(AnchorRecord, PublicKey)> = match &jws.kid {
        Some(kid) => candidates
            .iter()
            .filter(|(a, k)| kid_names(kid, a, k))
            .collect(),
        None => candidates.iter().collect(),
    };
    if named.is_empty() {
        let p = SealProblem::new(
            SealCode::UntrustedSigner,
            match &jws.kid {
                Some(kid) => format!(
                    "unknown signer: the seal names key {kid:?}, which is not a trust anchor of agency {agency} for {}",
                    spec.name
                ),
                None => format!(
                    "unknown signer: agency {agency} has no trust anchor with a key for {} in the seal registry",
                    spec.name
                ),
            },
        );
        evidence.problems.push(p.clone());
        return Ok(verdict(at, Some(evidence), vec![p]));
    }
    let verified = named.iter().find(|(_, k)| {
        ring::signature::UnparsedPublicKey::new(spec.verifier, &k.key_bytes)
            .verify(&input, &jws.signature)
            .is_ok()
    });
    let Some((anchor, key)) = verified else {
        let p = if jws.kid.is_some() {
            SealProblem::new(
                SealCode::BadSignature,
                "the signature does not match the file: the file was altered after it was sealed, or the seal was damaged",
            )
        } else {
            SealProblem::new(
                SealCode::BadSignature,
                format!(
                    "the signature verifies with none of agency {agency}'s {} key(s) for {}: the file was altered after it was sealed, or it was sealed by a key not in the registry",
                    named.len(),
                    spec.name
                ),
            )
        };
        evidence.problems.push(p.clone());
        return Ok(verdict(at, Some(evidence), vec![p]));
    };
    evidence.anchor = Some(match &anchor.subject {
        Some(s) => format!("{s} ({})", anchor.fingerprint),
        None => format!("public key {}", anchor.fingerprint),
    });
    evidence.subject = anchor.subject.clone();
    evidence.serial_hex = anchor.serial.clone();
    let mut problems = Vec::new();
    if let KeyAlgorithm::Rsa { bits } = key.algorithm {
        if bits < policy.min_rsa_bits {
            problems.push(SealProblem::new(
                SealCode::KeyTooSmall,
                format!(
                    "the signing key is RSA {bits} bits; the policy requires at least {}",
                    policy.min_rsa_bits
                ),
            ));
        }
    }
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    match anchor.window_contains(at) {
        Ok(()) => {}
        Err(WindowMiss::Ended(until)) => problems.push(SealProblem::new(
            SealCode::Expired,
            format!(
                "the signing key of agency {agency} was trusted only until {}; the seal is judged at {}",
                day(until),
                day(at)
            ),
        )),
        Err(WindowMiss::NotYet(from)) => problems.push(SealProblem::new(
            SealCode::NotYetValid,
            format!(
                "the signing key of agency {agency} is trusted only from {}; the seal is judged at {}",
                day(from),
                day(at)
            ),
        )),
    }
    if let Some(r) = anchor
        .revoked_at
        .as_deref()
        .and_then(super::registry::parse_time)
    {
        if r <= at {
            problems.push(SealProblem::new(
                SealCode::Revoked,
                format!(
                    "the signing key of agency {agency} was revoked on {}, before the seal was judged at {}",
                    day(r),
                    day(at)
                ),
            ));
        } else {
            evidence
                .notes
                .push(format!("the signing key was revoked later, on {}", day(r)));
        }
    }
    if let (Some(issuer), Some(serial)) = (&anchor.issuer, &anchor.serial) {
        if let Some(r) = registry.revocation_of(issuer, serial) {
            if let Some(t) = super::registry::parse_time(&r.revoked_at) {
                if t <= at {
                    problems.push(SealProblem::new(
                        SealCode::Revoked,
                        format!(
                            "the signing certificate (serial {serial}) was revoked on {}, before the seal was judged at {}",
                            day(t),
                            day(at)
                        ),
                    ));
                } else {
                    evidence.notes.push(format!(
                        "the signing certificate was revoked later, on {}",
                        day(t)
                    ));
                }
            }
        }
    }
    evidence.problems = problems.clone();
    Ok(verdict(at, Some(evidence), problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn parses_unencoded_and_encoded_detached_forms() {
        let h = b(r#"{"alg":"EdDSA","b64":false,"crit":["b64"]}"#);
        let j = parse(&format!("{h}..{}", b("sig"))).expect("unencoded");
        assert!(!j.b64);
        assert_eq!(j.alg, "EdDSA");
        let h = b(r#"{"alg":"ES256","kid":"k1"}"#);
        let j = parse(&format!("{h}..{}\n", b("sig"))).expect("encoded");
        assert!(j.b64);
        assert_eq!(j.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn refuses_malformed_headers() {
        let cases = [
            "garbage".to_string(),
            format!("{}.{}.{}", b(r#"{"alg":"EdDSA"}"#), b("payload"), b("s")),
            format!("{}..{}", b("[1]"), b("s")),
            format!("{}..{}", b(r#"{"b64":false}"#), b("s")),
            format!("{}..{}", b(r#"{"alg":"EdDSA","b64":false}"#), b("s")),
            format!("{}..{}", b(r#"{"alg":"EdDSA","crit":["exp"]}"#), b("s")),
            format!("{}..!!", b(r#"{"alg":"EdDSA"}"#)),
            format!("{}..", b(r#"{"alg":"EdDSA"}"#)),
        ];
        for c in cases {
            let e = parse(&c).expect_err(&c);
            assert_eq!(e.code, SealCode::Malformed, "{c}: {e}");
        }
    }

    #[test]
    fn thumbprint_of_rfc8037_example_key() {
        // RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .expect("x");
        let key = super::super::registry::parse_public_key(&x).expect("key");
        assert_eq!(
            jwk_thumbprint(&key).as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
    }
}
