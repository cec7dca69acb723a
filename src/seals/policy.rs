//! The seal policy: per agency, which algorithms and key sizes a seal may use and whether a
//! record may come without one. Configuration of this archive (`[seals]` in the home's
//! `config.toml`), read by intake and by the verification service; documented in
//! `formats/seals.md`, "Policy".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::verdict::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};

/// One agency's rules; every field left out falls back to the default section, then to
/// [`AlgorithmPolicy::default`] and "seals not required".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencySealPolicy {
    /// Refuse a record that carries no seal at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_seals: Option<bool>,
    /// Signature algorithm families allowed (`rsa-pkcs1`, `rsa-pss`, `ecdsa-p256`,
    /// `ecdsa-p384`, `ed25519`, `sm2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_algorithms: Option<Vec<SignatureAlgorithm>>,
    /// Smallest RSA modulus accepted, in bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rsa_bits: Option<u32>,
    /// Digests allowed (`sha256`, `sha384`, `sha512`, `sm3`; `sha1` only if named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<Vec<DigestAlgorithm>>,
    /// Extended key usages (dotted OIDs) accepted on a signer's certificate besides the
    /// document-signing ones every policy accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_extended_key_usages: Option<Vec<String>>,
}

/// `[seals]` of `config.toml`: a default section and one per Agency-Code.
///
/// ```toml
/// [seals]
/// min_rsa_bits = 3072
///
/// [seals.agencies.11330100MB0000000X]
/// require_seals = true
/// signature_algorithms = ["sm2", "ecdsa-p256"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealPolicy {
    /// Default: refuse a record that carries no seal at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_seals: Option<bool>,
    /// Default signature algorithm families allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_algorithms: Option<Vec<SignatureAlgorithm>>,
    /// Default smallest RSA modulus, in bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rsa_bits: Option<u32>,
    /// Default digests allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<Vec<DigestAlgorithm>>,
    /// Default extra extended key usages accepted on signers' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_extended_key_usages: Option<Vec<String>>,
    /// Rules per Agency-Code, over the default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agencies: BTreeMap<String, AgencySealPolicy>,
}

impl SealPolicy {
    /// The algorithm policy and the "seals required" rule for `agency`.
    pub fn for_agency(&self, agency: &str) -> (AlgorithmPolicy, bool) {
        let own = self.agencies.get(agency);
        let pick = |f: fn(&AgencySealPolicy) -> bool| own.is_some_and(f);
        let base = AlgorithmPolicy::default();
        let policy = AlgorithmPolicy {
            signature_algorithms: own
                .and_then(|o| o.signature_algorithms.clone())
                .or_else(|| self.signature_algorithms.clone())
                .unwrap_or(base.signature_algorithms),
            min_rsa_bits: own
                .and_then(|o| o.min_rsa_bits)
                .or(self.min_rsa_bits)
                .unwrap_or(base.min_rsa_bits),
            digests: own
                .and_then(|o| o.digests.clone())
                .or_else(|| self.digests.clone())
                .unwrap_or(base.digests),
            signer_extended_key_usages: own
                .and_then(|o| o.signer_extended_key_usages.clone())
                .or_else(|| self.signer_extended_key_usages.clone())
                .unwrap_or(base.signer_extended_key_usages),
        };
        let required = if pick(|o| o.require_seals.is_some()) {
            own.and_then(|o| o.require_seals).unwrap_or(false)
        } else {
            self.require_seals.unwrap_or(false)
        };
        (policy, required)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agency_section_overrides_the_default_field_by_field() {
        let p: SealPolicy = toml::from_str(
            r#"
            min_rsa_bits = 3072
            require_seals = false
            [agencies.AG1]
            require_seals = true
            signature_algorithms = ["sm2", "ecdsa-p256"]
            "#,
        )
        .expect("policy");
        let (ag1, req1) = p.for_agency("AG1");
        assert!(req1);
        assert_eq!(
            ag1.signature_algorithms,
            vec![SignatureAlgorithm::Sm2, SignatureAlgorithm::EcdsaP256]
        );
        assert_eq!(ag1.min_rsa_bits, 3072, "from the default section");
        let (other, req) = p.for_agency("AG2");
        assert!(!req);
        assert_eq!(other.min_rsa_bits, 3072);
        assert_eq!(
            other.signature_algorithms,
            AlgorithmPolicy::default().signature_algorithms
        );
        assert_eq!(
            SealPolicy::default().for_agency("X"),
            (AlgorithmPolicy::default(), false)
        );
        let bad: Result<SealPolicy, _> = toml::from_str("min_rsa_bit = 1");
        assert!(bad.is_err(), "a misspelt rule is an error, not ignored");
        let bad: Result<SealPolicy, _> = toml::from_str(r#"signature_algorithms = ["dsa"]"#);
        assert!(bad.is_err());
    }
}
