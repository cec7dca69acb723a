//! Detached CMS SignedData seals (`X.p7s`, RFC 5652): parse, hash the signed file while
//! streaming it, check the signed attributes, the signature and the signer's chain.
//! Pure: the trust anchors, revocations and intake time are given by the caller.
//!
//! Specified in `formats/seals.md` ("Signatures (CMS)"). Never panics on input: a garbage
//! or truncated `.p7s` gives a verdict with `SEAL_MALFORMED`.

use crate::seals::verdict::{
    AlgorithmPolicy, DigestAlgorithm, SealCode, SealError, SealProblem, SealVerdict,
    SignerEvidence, TimeSource,
};
use crate::seals::x509::{
    self, day, digest_from_oid, malformed, pem_blocks, tlv, validate_chain, verify_signature,
    Certificate, Revocation, TrustAnchor,
};
use chrono::{DateTime, Utc};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use std::io::Read;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// GB/T 35275 (SM2 cryptographic message syntax) names SignedData with its own OID.
const GM_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.6.1.4.2.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// RFC 3161 `id-ct-TSTInfo`: the content a time-stamp token signs.
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-kp-timeStamping`: the one purpose a time-stamping authority's certificate has.
const ID_KP_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

/// The format name of a PDF document timestamp's verdict.
pub const TIMESTAMP_FORMAT: &str = "rfc3161-document-timestamp";

/// Largest file verified against a signature without signed attributes. Such a signature is
/// over the file itself and the verifiers (ring, sm2) need it whole in memory; with signed
/// attributes (the usual case) the file is only streamed through a digest, whatever its size.
pub const MAX_UNATTRIBUTED_CONTENT: u64 = 256 * 1024 * 1024;

/// Largest `.p7s` accepted (certificates included).
pub const MAX_SIGNATURE_FILE: usize = 16 * 1024 * 1024;

/// Most certificates a `.p7s` may carry (chain building tries each candidate issuer's key:
/// a seal stuffed with look-alike certificates must not cost minutes).
pub const MAX_CERTIFICATES: usize = 64;

/// Most SignerInfos a `.p7s` may carry.
pub const MAX_SIGNERS: usize = 16;

/// The format name in verdicts.
pub const FORMAT: &str = "cms-detached";

/// Decodes a `.p7s`: DER, or PEM (`PKCS7`, `CMS`). A detached signature must not embed
/// content; a time-stamp token (`encapsulated`) must.
fn decode_signature_file(
    sig: &[u8],
    encapsulated: bool,
) -> Result<(SignedData, RawParts), SealProblem> {
    if sig.len() > MAX_SIGNATURE_FILE {
        return Err(malformed(format!(
            "the signature file is {} bytes, more than the {MAX_SIGNATURE_FILE} accepted",
            sig.len()
        )));
    }
    let pem;
    let der: &[u8] = if sig.windows(11).any(|w| w == b"-----BEGIN ") {
        let text = std::str::from_utf8(sig)
            .map_err(|_| malformed("the PEM signature file is not UTF-8 text"))?;
        pem = pem_blocks(text)?
            .into_iter()
            .find(|(label, _)| label == "PKCS7" || label == "CMS")
            .ok_or_else(|| malformed("the PEM signature file has no PKCS7 or CMS block"))?
            .1;
        &pem
    } else {
        sig
    };
    let ci = ContentInfo::from_der(der)
        .map_err(|e| malformed(format!("the signature file is not a CMS structure ({e})")))?;
    if ci.content_type != ID_SIGNED_DATA && ci.content_type != GM_SIGNED_DATA {
        return Err(malformed(format!(
            "the signature file holds CMS content of type {}, not SignedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| malformed(format!("the CMS SignedData cannot be read ({e})")))?;
    let certificates = sd.certificates.as_ref().map_or(0, |c| c.0.len());
    if certificates > MAX_CERTIFICATES || sd.signer_infos.0.len() > MAX_SIGNERS {
        return Err(malformed(format!(
            "the signature file carries {certificates} certificates and {} signers; at most {MAX_CERTIFICATES} and {MAX_SIGNERS} are accepted",
            sd.signer_infos.0.len()
        )));
    }
    if sd.encap_content_info.econtent.is_some() != encapsulated {
        return Err(malformed(if encapsulated {
            "the time-stamp token carries no TSTInfo"
        } else {
            "the signature embeds its content; a detached signature over the file is expected"
        }));
    }
    let raw = raw_parts(der).ok_or_else(|| {
        malformed("the signature file is not in DER (indefinite lengths or trailing bytes)")
    })?;
    Ok((sd, raw))
}

/// Parts of a SignedData taken from the input bytes as they are: the decoder re-sorts
/// `SET OF`s, and signatures are over the bytes the signer wrote.
#[derive(Debug, Default)]
struct RawParts {
    /// Each certificate of `certificates` (other certificate formats skipped), as given.
    certificates: Vec<Vec<u8>>,
    /// Per SignerInfo: its signature value, and its signed attributes re-tagged as `SET OF`.
    signers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl RawParts {
    /// The signed attributes of `si` as its signer encoded them (found by its signature).
    fn signed_attrs_of(&self, si: &SignerInfo) -> Option<&[u8]> {
        self.signers
            .iter()
            .find(|(signature, _)| signature.as_slice() == si.signature.as_bytes())
            .and_then(|(_, attrs)| attrs.as_deref())
    }
}

/// Walks ContentInfo → SignedData → certificates and SignerInfos over the DER as given.
fn raw_parts(der: &[u8]) -> Option<RawParts> {
    let mut raw = RawParts::default();
    let (tag, ci, _, trailing) = tlv(der)?;
    if tag != 0x30 || !trailing.is_empty() {
        return None;
    }
    let (_, _, _, rest) = tlv(ci)?; // contentType
    let (tag, explicit, _, _) = tlv(rest)?;
    if tag != 0xa0 {
        return None;
    }
    let (tag, sd, _, _) = tlv(explicit)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, _, rest) = tlv(sd)?; // version
    let (_, _, _, rest) = tlv(rest)?; // digestAlgorithms
    let (_, _, _, mut rest) = tlv(rest)?; // encapContentInfo
    let signer_infos = loop {
        let (tag, content, _, after) = tlv(rest)?;
        match tag {
            0xa0 => {
                let mut certs = content;
                while !certs.is_empty() {
                    let (tag, _, whole, next) = tlv(certs)?;
                    if tag == 0x30 {
                        raw.certificates.push(whole.to_vec());
                    }
                    certs = next;
                }
            }
            0xa1 => {}
            0x31 => break content,
            _ => return None,
        }
        rest = after;
    };
    let mut infos = signer_infos;
    while !infos.is_empty() {
        let (tag, si, _, next) = tlv(infos)?;
        infos = next;
        if tag != 0x30 {
            return None;
        }
        let (_, _, _, rest) = tlv(si)?; // version
        let (_, _, _, rest) = tlv(rest)?; // sid
        let (_, _, _, rest) = tlv(rest)?; // digestAlgorithm
        let (tag, _, whole, after) = tlv(rest)?;
        let (attrs, rest) = if tag == 0xa0 {
            let mut set = whole.to_vec();
            if let Some(first) = set.first_mut() {
                *first = 0x31;
            }
            (Some(set), after)
        } else {
            (None, rest)
        };
        let (_, _, _, rest) = tlv(rest)?; // signatureAlgorithm
        let (tag, signature, _, _) = tlv(rest)?;
        if tag != 0x04 {
            return None;
        }
        raw.signers.push((signature.to_vec(), attrs));
    }
    Some(raw)
}

enum Hasher {
    Ring(ring::digest::Context),
    Sm3(sm3::Sm3),
}

impl Hasher {
    fn new(alg: DigestAlgorithm) -> Self {
        use ring::digest as d;
        match alg {
            DigestAlgorithm::Sha1 => Hasher::Ring(d::Context::new(&d::SHA1_FOR_LEGACY_USE_ONLY)),
            DigestAlgorithm::Sha256 => Hasher::Ring(d::Context::new(&d::SHA256)),
            DigestAlgorithm::Sha384 => Hasher::Ring(d::Context::new(&d::SHA384)),
            DigestAlgorithm::Sha512 => Hasher::Ring(d::Context::new(&d::SHA512)),
            DigestAlgorithm::Sm3 => Hasher::Sm3(<sm3::Sm3 as sm3::Digest>::new()),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Ring(c) => c.update(data),
            Hasher::Sm3(h) => sm3::Digest::update(h, data),
        }
    }
    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Ring(c) => c.finish().as_ref().to_vec(),
            Hasher::Sm3(h) => sm3::Digest::finalize(h).to_vec(),
        }
    }
}

/// What was read from the content: one digest per algorithm, and the bytes when needed.
struct Content {
    digests: Vec<(DigestAlgorithm, Vec<u8>)>,
    /// The whole content, when a signer has no signed attributes and it fit the limit.
    bytes: Option<Vec<u8>>,
    length: u64,
}

fn read_content(
    mut content: impl Read,
    algs: &[DigestAlgorithm],
    keep: bool,
) -> Result<Content, SealError> {
    let mut hashers: Vec<(DigestAlgorithm, Hasher)> =
        algs.iter().map(|a| (*a, Hasher::new(*a))).collect();
    let mut kept: Option<Vec<u8>> = keep.then(Vec::new);
    let mut buf = vec![0u8; 256 * 1024];
    let mut length: u64 = 0;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(SealError::ReadContent { source }),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        length = length.saturating_add(n as u64);
        for (_, h) in hashers.iter_mut() {
            h.update(chunk);
        }
        if length > MAX_UNATTRIBUTED_CONTENT {
            kept = None;
        } else if let Some(k) = kept.as_mut() {
            k.extend_from_slice(chunk);
        }
    }
    Ok(Content {
        digests: hashers.into_iter().map(|(a, h)| (a, h.finish())).collect(),
        bytes: kept,
        length,
    })
}

/// Verifies a detached CMS SignedData `sig` (DER or PEM) over `content`.
///
/// `content` is streamed through the digests the signers name; it is held in memory only when
/// a signer has no signed attributes (up to [`MAX_UNATTRIBUTED_CONTENT`]). With signed
/// attributes: the content-type attribute must be present and equal the encapsulated content
/// type, the message-digest attribute must equal the content's digest, and the signing-time
/// attribute, when present, is the time the certificates are judged at (else `intake_time`);
/// the signature is over the DER `SET OF` signed attributes.
///
/// The verdict carries every problem as data; `Err` only when the content cannot be read.
pub fn verify_detached(
    sig: &[u8],
    content: impl Read,
    anchors: &[TrustAnchor],
    revocations: &[Revocation],
    intake_time: DateTime<Utc>,
    policy: &AlgorithmPolicy,
) -> Result<SealVerdict, SealError> {
    let mut verdict = SealVerdict {
        valid: false,
        format: FORMAT.to_string(),
        problems: Vec::new(),
        signers: Vec::new(),
        intake_time,
    };
    let (sd, raw) = match decode_signature_file(sig, false) {
        Ok(parts) => parts,
        Err(p) => {
            // Drain nothing: the content is irrelevant when the seal cannot be read.
            verdict.problems.push(p);
            return Ok(verdict);
        }
    };

    // The certificates carried in the SignedData (the pool chains are built through).
    let mut pool: Vec<Certificate> = Vec::new();
    for der in &raw.certificates {
        match Certificate::from_der(der) {
            Ok(cert) => pool.push(cert),
            Err(p) => verdict.problems.push(p),
        }
    }

    let signer_infos: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    if signer_infos.is_empty() {
        verdict
            .problems
            .push(malformed("the signature file has no signer"));
        return Ok(verdict);
    }

    // Which digests to compute while streaming, and whether the bytes are needed.
    let mut algs: Vec<DigestAlgorithm> = Vec::new();
    let mut keep = false;
    for si in &signer_infos {
        if let Some(d) = digest_from_oid(&si.digest_alg.oid) {
            if !algs.contains(&d) {
                algs.push(d);
            }
        }
        if si.signed_attrs.is_none() {
            keep = true;
        }
    }
    let content = read_content(content, &algs, keep)?;

    for si in signer_infos {
        let signed_attrs_der = raw.signed_attrs_of(si);
        let ev = verify_signer(
            si,
            signed_attrs_der,
            &sd,
            &pool,
            &content,
            anchors,
            revocations,
            intake_time,
            (intake_time, TimeSource::IntakeTime),
            policy,
        );
        verdict.problems.extend(ev.problems.iter().cloned());
        verdict.signers.push(ev);
    }
    verdict.valid = verdict.problems.is_empty() && !verdict.signers.is_empty();
    Ok(verdict)
}

/// What a time-stamp token's TSTInfo (RFC 3161 §2.4.2) says.
struct TstInfo {
    imprint_alg: ObjectIdentifier,
    imprint: Vec<u8>,
    gen_time: DateTime<Utc>,
}

/// Reads the members of TSTInfo that are judged: messageImprint and genTime.
fn tst_info(der: &[u8]) -> Option<TstInfo> {
    let (tag, body, _, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, _, rest) = tlv(body)?; // version
    let (_, _, _, rest) = tlv(rest)?; // policy
    let (tag, imprint, _, rest) = tlv(rest)?; // messageImprint
    if tag != 0x30 {
        return None;
    }
    let (tag, alg_id, _, hashed) = tlv(imprint)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _, _) = tlv(alg_id)?;
    if tag != 0x06 {
        return None;
    }
    let imprint_alg = ObjectIdentifier::from_bytes(oid).ok()?;
    let (tag, hashed, _, _) = tlv(hashed)?;
    if tag != 0x04 {
        return None;
    }
    let (_, _, _, rest) = tlv(rest)?; // serialNumber
    let (tag, time, _, _) = tlv(rest)?; // genTime
    if tag != 0x18 {
        return None;
    }
    let text = std::str::from_utf8(time).ok()?;
    // YYYYMMDDhhmmss[.s...]Z (RFC 3161: UTC, fractions optional).
    let whole = text.strip_suffix('Z')?;
    let seconds = whole.split('.').next()?;
    let gen_time = chrono::NaiveDateTime::parse_from_str(seconds, "%Y%m%d%H%M%S")
        .ok()?
        .and_utc();
    Some(TstInfo {
        imprint_alg,
        imprint: hashed.to_vec(),
        gen_time,
    })
}

/// Verifies an RFC 3161 time-stamp token (a CMS SignedData over a TSTInfo) as a PDF document
/// timestamp over `content` (the signed byte ranges): the TSTInfo's message imprint must be
/// the digest of the content, the token's signature must verify over the TSTInfo, and the
/// time-stamping authority's certificate must chain to one of `anchors` at the token's
/// genTime, with the time-stamping purpose (RFC 3161 §2.3). The verdict's signing time is
/// the genTime. `Err` only when the content cannot be read.
pub fn verify_timestamp_token(
    token: &[u8],
    content: impl Read,
    anchors: &[TrustAnchor],
    revocations: &[Revocation],
    intake_time: DateTime<Utc>,
    policy: &AlgorithmPolicy,
) -> Result<SealVerdict, SealError> {
    let mut verdict = SealVerdict {
        valid: false,
        format: TIMESTAMP_FORMAT.to_string(),
        problems: Vec::new(),
        signers: Vec::new(),
        intake_time,
    };
    let (sd, raw) = match decode_signature_file(token, true) {
        Ok(parts) => parts,
        Err(p) => {
            verdict.problems.push(p);
            return Ok(verdict);
        }
    };
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        verdict.problems.push(malformed(format!(
            "the document timestamp signs content of type {}, not a TSTInfo",
            sd.encap_content_info.econtent_type
        )));
        return Ok(verdict);
    }
    let tst_der = match sd
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|c| c.decode_as::<OctetString>().ok())
    {
        Some(o) => o.as_bytes().to_vec(),
        None => {
            verdict
                .problems
                .push(malformed("the time-stamp token's TSTInfo cannot be read"));
            return Ok(verdict);
        }
    };
    let Some(tst) = tst_info(&tst_der) else {
        verdict
            .problems
            .push(malformed("the time-stamp token's TSTInfo cannot be read"));
        return Ok(verdict);
    };
    // The document's digest, as the token's message imprint names it.
    let Some(imprint_alg) = digest_from_oid(&tst.imprint_alg) else {
        verdict.problems.push(SealProblem::new(
            SealCode::AlgorithmNotAllowed,
            format!(
                "the timestamp's message imprint uses the digest {}, which is not supported",
                tst.imprint_alg
            ),
        ));
        return Ok(verdict);
    };
    let document = read_content(content, &[imprint_alg], false)?;
    let computed = document
        .digests
        .first()
        .map(|(_, d)| d.clone())
        .unwrap_or_default();
    let mut problems = Vec::new();
    if !policy.digests.contains(&imprint_alg) {
        problems.push(SealProblem::new(
            SealCode::AlgorithmNotAllowed,
            format!(
                "the timestamp's message imprint uses {}, which the archive's policy does not allow",
                imprint_alg.name()
            ),
        ));
    }
    if computed != tst.imprint {
        problems.push(SealProblem::new(
            SealCode::DigestMismatch,
            format!(
                "the document was altered after it was timestamped: its {} digest is {}, the timestamped digest is {}",
                imprint_alg.name(),
                hex::encode(&computed),
                hex::encode(&tst.imprint)
            ),
        ));
    }
    if tst.gen_time > intake_time {
        problems.push(SealProblem::new(
            SealCode::NotYetValid,
            format!(
                "the timestamp claims the time {}, after the archive received the document on {}",
                day(tst.gen_time),
                day(intake_time)
            ),
        ));
    }

    let mut pool: Vec<Certificate> = Vec::new();
    for der in &raw.certificates {
        match Certificate::from_der(der) {
            Ok(cert) => pool.push(cert),
            Err(p) => problems.push(p),
        }
    }
    let signer_infos: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    if signer_infos.len() != 1 {
        verdict.problems.extend(problems);
        verdict.problems.push(malformed(format!(
            "a time-stamp token has one signer, this one has {}",
            signer_infos.len()
        )));
        return Ok(verdict);
    }
    // The TSA's purpose is time-stamping, which no seal policy lists: allowed here, and
    // required below.
    let mut tsa_policy = policy.clone();
    tsa_policy
        .signer_extended_key_usages
        .push(ID_KP_TIME_STAMPING.to_string());
    let mut algs: Vec<DigestAlgorithm> = Vec::new();
    if let Some(d) = signer_infos
        .first()
        .and_then(|si| digest_from_oid(&si.digest_alg.oid))
    {
        algs.push(d);
    }
    let tst_content = read_content(&tst_der[..], &algs, true)?;
    for si in signer_infos {
        let signed_attrs_der = raw.signed_attrs_of(si);
        let mut ev = verify_signer(
            si,
            signed_attrs_der,
            &sd,
            &pool,
            &tst_content,
            anchors,
            revocations,
            intake_time,
            (tst.gen_time, TimeSource::TimestampGenTime),
            &tsa_policy,
        );
        // Judged at the genTime whatever the token's own signing-time attribute says.
        ev.signing_time = Some(tst.gen_time);
        ev.time_source = Some(TimeSource::TimestampGenTime);
        ev.content_digest_hex = Some(hex::encode(&computed));
        if let Ok(Some(tsa)) = find_signer(&si.sid, &pool, anchors) {
            let stamps = tsa
                .extended_key_usage
                .as_ref()
                .is_some_and(|e| e.iter().any(|o| o == ID_KP_TIME_STAMPING));
            if !stamps {
                ev.problems.push(SealProblem::new(
                    SealCode::KeyUsage,
                    format!(
                        "the certificate \"{}\" that signed the timestamp is not a time-stamping authority's (no extended key usage timeStamping)",
                        tsa.subject
                    ),
                ));
            }
        }
        problems.extend(ev.problems.iter().cloned());
        verdict.signers.push(ev);
    }
    for p in problems {
        if !verdict.problems.contains(&p) {
            verdict.problems.push(p);
        }
    }
    verdict.valid = verdict.problems.is_empty() && !verdict.signers.is_empty();
    Ok(verdict)
}

fn find_signer<'a>(
    sid: &SignerIdentifier,
    pool: &'a [Certificate],
    anchors: &'a [TrustAnchor],
) -> Result<Option<&'a Certificate>, SealProblem> {
    let candidates = pool
        .iter()
        .chain(anchors.iter().filter_map(|a| a.certificate.as_ref()));
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            let issuer = isn
                .issuer
                .to_der()
                .map_err(|e| malformed(format!("the signer's issuer cannot be encoded: {e}")))?;
            let serial = x509::normalize_serial(&hex::encode(isn.serial_number.as_bytes()));
            Ok(candidates
                .into_iter()
                .find(|c| c.issuer_der() == issuer.as_slice() && c.serial_hex == serial))
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            let want = ski.0.as_bytes();
            Ok(candidates
                .into_iter()
                .find(|c| c.subject_key_id.as_deref() == Some(want)))
        }
    }
}

/// When the certificates are judged: the signing-time attribute when signed, else `default`
/// (the intake time for a seal, the token's genTime for a time-stamp).
#[allow(clippy::too_many_arguments)]
fn verify_signer(
    si: &SignerInfo,
    signed_attrs_der: Option<&[u8]>,
    sd: &SignedData,
    pool: &[Certificate],
    content: &Content,
    anchors: &[TrustAnchor],
    revocations: &[Revocation],
    intake_time: DateTime<Utc>,
    default: (DateTime<Utc>, TimeSource),
    policy: &AlgorithmPolicy,
) -> SignerEvidence {
    let mut ev = SignerEvidence {
        signed_attributes: si.signed_attrs.is_some(),
        ..SignerEvidence::default()
    };

    // Digest algorithm.
    let digest = match digest_from_oid(&si.digest_alg.oid) {
        Some(d) => d,
        None => {
            ev.problems.push(SealProblem::new(
                SealCode::AlgorithmNotAllowed,
                format!(
                    "the digest algorithm {} is not supported",
                    si.digest_alg.oid
                ),
            ));
            return ev;
        }
    };
    ev.digest_algorithm = Some(digest.name().to_string());
    if !policy.digests.contains(&digest) {
        ev.problems.push(SealProblem::new(
            SealCode::AlgorithmNotAllowed,
            format!(
                "the digest {} is not allowed by the archive's policy",
                digest.name()
            ),
        ));
        return ev;
    }
    let computed = content
        .digests
        .iter()
        .find(|(a, _)| *a == digest)
        .map(|(_, d)| d.clone())
        .unwrap_or_default();
    ev.content_digest_hex = Some(hex::encode(&computed));

    // Signed attributes: content type, message digest, signing time; the signed message.
    let mut at = default.0;
    ev.time_source = Some(default.1);
    let message: Vec<u8> = match &si.signed_attrs {
        Some(attrs) => {
            let mut content_type_ok = false;
            let mut digest_seen = false;
            for attr in attrs.iter() {
                let single = if attr.values.len() == 1 {
                    attr.values.iter().next()
                } else {
                    None
                };
                if attr.oid == ID_CONTENT_TYPE {
                    content_type_ok = single
                        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
                        .is_some_and(|o| o == sd.encap_content_info.econtent_type);
                } else if attr.oid == ID_MESSAGE_DIGEST {
                    digest_seen = true;
                    match single.and_then(|v| v.decode_as::<OctetString>().ok()) {
                        Some(signed) if signed.as_bytes() == computed.as_slice() => {}
                        Some(signed) => ev.problems.push(SealProblem::new(
                            SealCode::DigestMismatch,
                            format!(
                                "the file was altered after signing: its {} digest is {}, the signed digest is {}",
                                digest.name(),
                                hex::encode(&computed),
                                hex::encode(signed.as_bytes())
                            ),
                        )),
                        None => ev
                            .problems
                            .push(malformed("the message-digest attribute cannot be read")),
                    }
                } else if attr.oid == ID_SIGNING_TIME {
                    match single.and_then(|v| v.decode_as::<x509_cert::time::Time>().ok()) {
                        Some(t) => {
                            let secs =
                                i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
                            if let Some(t) = DateTime::from_timestamp(secs, 0) {
                                at = t;
                                ev.time_source = Some(TimeSource::SigningTimeAttribute);
                            }
                        }
                        None => ev
                            .problems
                            .push(malformed("the signing-time attribute cannot be read")),
                    }
                }
            }
            if !content_type_ok {
                ev.problems.push(malformed(
                    "the content-type signed attribute is missing or does not match the content type",
                ));
            }
            if !digest_seen {
                ev.problems
                    .push(malformed("the message-digest signed attribute is missing"));
            }
            // Over the attributes as the signer encoded them (re-encoding would sort them).
            match signed_attrs_der {
                Some(der) => der.to_vec(),
                None => match attrs.to_der() {
                    Ok(der) => der,
                    Err(e) => {
                        ev.problems.push(malformed(format!(
                            "the signed attributes cannot be encoded: {e}"
                        )));
                        return ev;
                    }
                },
            }
        }
        None => match &content.bytes {
            Some(b) => b.clone(),
            None => {
                ev.problems.push(SealProblem::new(
                    SealCode::Unverifiable,
                    format!(
                        "the signature has no signed attributes, so it is over the whole file, and the file ({} bytes) is larger than the {MAX_UNATTRIBUTED_CONTENT} bytes this check holds in memory",
                        content.length
                    ),
                ));
                return ev;
            }
        },
    };
    ev.signing_time = Some(at);
    if at > intake_time {
        ev.problems.push(SealProblem::new(
            SealCode::NotYetValid,
            format!(
                "the seal claims to have been signed on {}, after the archive received it on {}",
                day(at),
                day(intake_time)
            ),
        ));
    }

    // The signer's certificate.
    let signer = match find_signer(&si.sid, pool, anchors) {
        Ok(Some(c)) => c,
        Ok(None) => {
            ev.problems.push(SealProblem::new(
                SealCode::UntrustedSigner,
                "the signer's certificate is neither in the signature file nor registered with the archive",
            ));
            return ev;
        }
        Err(p) => {
            ev.problems.push(p);
            return ev;
        }
    };
    ev.subject = Some(signer.subject.clone());
    ev.serial_hex = Some(signer.serial_hex.clone());

    // The signature itself.
    let mut small_key = None;
    match verify_signature(
        &signer.public_key,
        &si.signature_algorithm,
        Some(digest),
        &message,
        si.signature.as_bytes(),
        policy,
    ) {
        Ok(name) => ev.signature_algorithm = Some(name),
        // The chain reports the signer's small key, with the certificate named.
        Err(p) if p.code == SealCode::KeyTooSmall => small_key = Some(p),
        Err(p) => ev.problems.push(p),
    }

    // The chain at the signing time.
    match validate_chain(signer, pool, anchors, revocations, at, policy) {
        Ok(cv) => {
            ev.chain = cv.chain;
            ev.anchor = Some(cv.anchor);
            for p in cv.problems {
                if !ev.problems.contains(&p) {
                    ev.problems.push(p);
                }
            }
            ev.notes.extend(cv.notes);
        }
        Err(p) => {
            ev.chain = vec![signer.link()];
            if !ev.problems.contains(&p) {
                ev.problems.push(p);
            }
        }
    }
    if let Some(p) = small_key {
        if !ev.problems.iter().any(|q| q.code == SealCode::KeyTooSmall) {
            ev.problems.push(p);
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sig: &[u8]) -> SealVerdict {
        verify_detached(
            sig,
            &b"content"[..],
            &[],
            &[],
            Utc::now(),
            &AlgorithmPolicy::default(),
        )
        .expect("a slice reads")
    }

    #[test]
    fn garbage_and_empty_signatures_are_malformed() {
        for sig in [
            &b""[..],
            b"garbage",
            &[0x30, 0x03, 0x06, 0x01, 0x00],
            b"-----BEGIN CMS-----\nMAA=\n-----END CMS-----\n",
            b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        ] {
            let v = run(sig);
            assert!(!v.valid);
            assert_eq!(
                v.codes(),
                [SealCode::Malformed],
                "{sig:?}: {:?}",
                v.problems
            );
        }
    }

    #[test]
    fn random_der_like_input_never_panics() {
        let mut seed = 0xdead_beef_cafe_f00d_u64;
        for i in 0..3000 {
            let len = (i % 400) + 2;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            bytes[0] = 0x30;
            let v = run(&bytes);
            assert!(!v.valid);
        }
    }

    #[test]
    fn unreadable_content_is_an_error_not_a_verdict() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk gone"))
            }
        }
        // Only reached when the signature parses; garbage is judged before reading.
        let v = verify_detached(
            b"x",
            Broken,
            &[],
            &[],
            Utc::now(),
            &AlgorithmPolicy::default(),
        );
        assert!(v.is_ok_and(|v| v.codes() == [SealCode::Malformed]));
    }
}
