//! RFC 3161 trusted timestamps over a bundle's checkpoint: the request a client sends, the
//! token out of a response, and verification of a token (CMS SignedData, RFC 5652) against
//! the data it stamps and the timestamp authority's certificate. A minimal DER reader is
//! enough for these fixed structures; nothing here builds or trusts certificate chains: the
//! TSA certificate is given by the verifier (or taken from the token, with a notice).

use ring::digest::{digest, Algorithm as DigestAlg, SHA256, SHA384, SHA512};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use crate::note::FormatError;

fn bad<T>(m: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(m.into()))
}

/// One DER element.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
    whole: &'a [u8],
}

fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), FormatError> {
    let (&tag, rest) = input
        .split_first()
        .ok_or_else(|| FormatError("DER ends early".into()))?;
    if tag & 0x1f == 0x1f {
        return bad("DER tag in high-tag-number form");
    }
    let (&first, mut rest) = rest
        .split_first()
        .ok_or_else(|| FormatError("DER ends in a length".into()))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return bad("unsupported DER length");
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return bad("DER element longer than its input");
    }
    let header = input.len() - rest.len();
    Ok((
        Tlv {
            tag,
            body: &rest[..len],
            whole: &input[..header + len],
        },
        &rest[len..],
    ))
}

fn one(input: &[u8]) -> Result<Tlv<'_>, FormatError> {
    let (t, rest) = read_tlv(input)?;
    if !rest.is_empty() {
        return bad("bytes after a DER element");
    }
    Ok(t)
}

fn children(body: &[u8]) -> Result<Vec<Tlv<'_>>, FormatError> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (t, r) = read_tlv(rest)?;
        out.push(t);
        rest = r;
    }
    Ok(out)
}

fn expect<'a>(t: Option<&Tlv<'a>>, tag: u8, what: &str) -> Result<Tlv<'a>, FormatError> {
    match t {
        Some(t) if t.tag == tag => Ok(*t),
        _ => bad(format!("malformed timestamp: {what}")),
    }
}

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn digest_alg(oid: &[u8]) -> Result<(&'static DigestAlg, &'static str), FormatError> {
    match oid {
        OID_SHA256 => Ok((&SHA256, "sha256")),
        OID_SHA384 => Ok((&SHA384, "sha384")),
        OID_SHA512 => Ok((&SHA512, "sha512")),
        _ => bad("the timestamp uses a digest other than SHA-256/384/512"),
    }
}

/// The DER `TimeStampReq` (RFC 3161 §2.4.1) for SHA-256 `hash`, with `nonce` (up to 8
/// bytes) and `certReq` true, so the token carries the TSA's certificate.
pub fn request(hash: &[u8; 32], nonce: u64) -> Vec<u8> {
    let mut alg = vec![0x30, 0x0d, 0x06, 0x09];
    alg.extend_from_slice(OID_SHA256);
    alg.extend_from_slice(&[0x05, 0x00]);
    let mut imprint = vec![0x30, (alg.len() + 34) as u8];
    imprint.extend_from_slice(&alg);
    imprint.extend_from_slice(&[0x04, 0x20]);
    imprint.extend_from_slice(hash);
    // A positive INTEGER: no leading zero bytes, a 0x00 before a high bit.
    let raw = nonce.to_be_bytes();
    let skip = raw.iter().take_while(|b| **b == 0).count().min(7);
    let mut n = raw[skip..].to_vec();
    if n[0] & 0x80 != 0 {
        n.insert(0, 0);
    }
    let mut body = vec![0x02, 0x01, 0x01];
    body.extend_from_slice(&imprint);
    body.extend_from_slice(&[0x02, n.len() as u8]);
    body.extend_from_slice(&n);
    body.extend_from_slice(&[0x01, 0x01, 0xff]);
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

/// The `TimeStampToken` (a CMS ContentInfo) out of a `TimeStampResp`, refusing a response
/// whose status is not granted (0) or grantedWithMods (1).
pub fn token_from_response(resp: &[u8]) -> Result<Vec<u8>, FormatError> {
    let top = one(resp)?;
    let parts = children(top.body)?;
    let status = expect(parts.first(), 0x30, "PKIStatusInfo")?;
    let code = expect(children(status.body)?.first(), 0x02, "PKIStatus")?;
    if code.body != [0] && code.body != [1] {
        return bad(format!(
            "the timestamp authority refused the request (PKIStatus {:?})",
            code.body
        ));
    }
    let token = expect(
        parts.get(1),
        0x30,
        "no timeStampToken in a granted response",
    )?;
    Ok(token.whole.to_vec())
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `genTime` as RFC 3339 (UTC).
    pub time: String,
    /// The imprint's digest algorithm.
    pub hash: &'static str,
    /// The token's nonce, when it has one.
    pub nonce: Option<Vec<u8>>,
}

struct Parsed<'a> {
    tst_info: &'a [u8],
    certificates: Vec<&'a [u8]>,
    signer_digest: (&'static DigestAlg, &'static str),
    signed_attrs: Tlv<'a>,
    signature: &'a [u8],
}

fn parse(token: &[u8]) -> Result<Parsed<'_>, FormatError> {
    let ci = children(one(token)?.body)?;
    let oid = expect(ci.first(), 0x06, "contentType")?;
    if oid.body != OID_SIGNED_DATA {
        return bad("the token is not CMS SignedData");
    }
    let explicit = expect(ci.get(1), 0xa0, "content")?;
    let sd = children(one(explicit.body)?.body)?;
    let encap = children(expect(sd.get(2), 0x30, "encapContentInfo")?.body)?;
    if expect(encap.first(), 0x06, "eContentType")?.body != OID_TST_INFO {
        return bad("the token does not carry a TSTInfo");
    }
    let e = expect(encap.get(1), 0xa0, "eContent")?;
    let tst_info = expect(Some(&one(e.body)?), 0x04, "eContent octets")?.body;
    let mut i = 3;
    let mut certificates = Vec::new();
    if let Some(c) = sd.get(i).filter(|t| t.tag == 0xa0) {
        certificates = children(c.body)?.iter().map(|t| t.whole).collect();
        i += 1;
    }
    if sd.get(i).is_some_and(|t| t.tag == 0xa1) {
        i += 1;
    }
    let infos = children(expect(sd.get(i), 0x31, "signerInfos")?.body)?;
    if infos.len() != 1 {
        return bad("the token must have exactly one signer");
    }
    let si = children(infos[0].body)?;
    let dalg = children(expect(si.get(2), 0x30, "digestAlgorithm")?.body)?;
    let signer_digest = digest_alg(expect(dalg.first(), 0x06, "digest OID")?.body)?;
    let signed_attrs = expect(si.get(3), 0xa0, "signedAttrs")?;
    let signature = expect(si.get(5), 0x04, "signature")?.body;
    Ok(Parsed {
        tst_info,
        certificates,
        signer_digest,
        signed_attrs,
        signature,
    })
}

fn gen_time(t: &[u8]) -> Result<String, FormatError> {
    let s = std::str::from_utf8(t).or_else(|_| bad("genTime is not text"))?;
    if s.len() < 15 || !s.ends_with('Z') || !s[..14].bytes().all(|b| b.is_ascii_digit()) {
        return bad("genTime is not YYYYMMDDhhmmss[.f]Z");
    }
    Ok(format!(
        "{}-{}-{}T{}:{}:{}{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14],
        &s[14..]
    ))
}

/// A certificate's public key: algorithm OID, curve OID (EC keys), key bytes.
struct CertKey {
    alg: Vec<u8>,
    curve: Option<Vec<u8>>,
    key: Vec<u8>,
}

/// The SubjectPublicKeyInfo of a DER certificate.
fn certificate_key(cert: &[u8]) -> Result<CertKey, FormatError> {
    let c = children(one(cert)?.body)?;
    let tbs = children(expect(c.first(), 0x30, "tbsCertificate")?.body)?;
    let offset = usize::from(tbs.first().is_some_and(|t| t.tag == 0xa0));
    let spki = children(expect(tbs.get(offset + 5), 0x30, "subjectPublicKeyInfo")?.body)?;
    let alg = children(expect(spki.first(), 0x30, "key algorithm")?.body)?;
    let oid = expect(alg.first(), 0x06, "key algorithm OID")?
        .body
        .to_vec();
    let curve = alg
        .get(1)
        .filter(|t| t.tag == 0x06)
        .map(|t| t.body.to_vec());
    let bits = expect(spki.get(1), 0x03, "subjectPublicKey")?.body;
    let (&unused, key) = bits
        .split_first()
        .ok_or_else(|| FormatError("empty key".into()))?;
    if unused != 0 {
        return bad("the key's BIT STRING has unused bits");
    }
    Ok(CertKey {
        alg: oid,
        curve,
        key: key.to_vec(),
    })
}

fn verify_with(cert: &[u8], p: &Parsed<'_>) -> Result<(), FormatError> {
    let CertKey { alg, curve, key } = certificate_key(cert)?;
    let (_, dname) = p.signer_digest;
    let v: &'static dyn VerificationAlgorithm =
        match (alg.as_slice(), curve.as_deref(), dname) {
            (OID_RSA, _, "sha256") => &signature::RSA_PKCS1_2048_8192_SHA256,
            (OID_RSA, _, "sha384") => &signature::RSA_PKCS1_2048_8192_SHA384,
            (OID_RSA, _, "sha512") => &signature::RSA_PKCS1_2048_8192_SHA512,
            (OID_EC, Some(OID_P256), "sha256") => &signature::ECDSA_P256_SHA256_ASN1,
            (OID_EC, Some(OID_P384), "sha384") => &signature::ECDSA_P384_SHA384_ASN1,
            (OID_ED25519, _, _) => &signature::ED25519,
            _ => return bad(
                "the TSA's key type and digest are not supported (RSA, ECDSA P-256/P-384, Ed25519)",
            ),
        };
    // The signature covers the DER of the signed attributes as a SET (RFC 5652 §5.4).
    let mut signed = p.signed_attrs.whole.to_vec();
    signed[0] = 0x31;
    UnparsedPublicKey::new(v, key)
        .verify(&signed, p.signature)
        .or_else(|_| bad("the TSA's signature does not verify with this certificate"))
}

/// Verifies `token` over `data`: the imprint is the digest of `data`, the signed attributes
/// hold the digest of the TSTInfo, and the signature verifies with `tsa_cert` (DER) or, when
/// None, with a certificate carried in the token (the caller must say so). Returns the stamp.
pub fn verify(token: &[u8], data: &[u8], tsa_cert: Option<&[u8]>) -> Result<Stamp, FormatError> {
    let p = parse(token)?;
    let tst = children(one(p.tst_info)?.body)?;
    let imprint = children(expect(tst.get(2), 0x30, "messageImprint")?.body)?;
    let ialg = children(expect(imprint.first(), 0x30, "imprint algorithm")?.body)?;
    let (dalg, hash) = digest_alg(expect(ialg.first(), 0x06, "imprint OID")?.body)?;
    let hashed = expect(imprint.get(1), 0x04, "hashedMessage")?.body;
    if hashed != digest(dalg, data).as_ref() {
        return bad("the timestamp is over other data than checkpoint.note");
    }
    let time = gen_time(expect(tst.get(4), 0x18, "genTime")?.body)?;
    let nonce = tst
        .iter()
        .skip(5)
        .find(|t| t.tag == 0x02)
        .map(|t| t.body.to_vec());
    // messageDigest attribute = digest of the TSTInfo.
    let mut found = false;
    for attr in children(p.signed_attrs.body)? {
        let a = children(attr.body)?;
        if a.first()
            .is_some_and(|o| o.tag == 0x06 && o.body == OID_MESSAGE_DIGEST)
        {
            let values = children(expect(a.get(1), 0x31, "attribute values")?.body)?;
            let v = expect(values.first(), 0x04, "messageDigest")?;
            if v.body != digest(p.signer_digest.0, p.tst_info).as_ref() {
                return bad("the token's messageDigest is not the digest of its TSTInfo");
            }
            found = true;
        }
    }
    if !found {
        return bad("the token has no messageDigest attribute");
    }
    match tsa_cert {
        Some(cert) => verify_with(cert, &p)?,
        None => {
            if !p.certificates.iter().any(|c| verify_with(c, &p).is_ok()) {
                return bad("no certificate in the token verifies its signature");
            }
        }
    }
    Ok(Stamp { time, hash, nonce })
}

/// A certificate from PEM (`-----BEGIN CERTIFICATE-----`) or DER bytes.
pub fn certificate_der(bytes: &[u8]) -> Result<Vec<u8>, FormatError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let Some(start) = text.find("-----BEGIN CERTIFICATE-----") else {
        return Ok(bytes.to_vec());
    };
    let rest = &text[start + 27..];
    let end = rest
        .find("-----END CERTIFICATE-----")
        .ok_or_else(|| FormatError("PEM certificate without an END line".into()))?;
    let b64: String = rest[..end].split_whitespace().collect();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .or_else(|_| bad("PEM certificate is not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_the_der_openssl_writes() {
        // `openssl ts -query -sha256 -cert` with nonce 0x79907D6EAEE2E791 over "hello\n".
        let hash = digest(&SHA256, b"hello\n");
        let mut h = [0u8; 32];
        h.copy_from_slice(hash.as_ref());
        let req = request(&h, 0x7990_7D6E_AEE2_E791);
        assert_eq!(req.len(), 69);
        assert_eq!(&req[..5], &[0x30, 0x43, 0x02, 0x01, 0x01]);
        assert_eq!(&req[56..58], &[0x02, 0x08]);
        assert_eq!(&req[66..], &[0x01, 0x01, 0xff]);
        let top = one(&req).expect("one element");
        assert_eq!(children(top.body).expect("children").len(), 4);
    }
}
