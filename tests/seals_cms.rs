//! Detached CMS seals (`X.p7s`) against fixtures made at test time with Debian's `openssl`:
//! a root CA, an agency intermediate, RSA / RSA-PSS / ECDSA P-256 / P-384 / Ed25519 signers,
//! an expired, a revoked-before and a revoked-after signer with the intermediate's CRL, an
//! untrusted signer, a 1024-bit RSA signer, a signer whose key usage forbids signatures.
//! OpenSSL 3.0 cannot make CMS with Ed25519 keys, so that SignedData is assembled here.
//!
//! Cross-check: for the RSA and ECDSA cases `openssl cms -verify` (at the signing time, with
//! the CRL in force then, `-auth_level 2` for the 2048-bit minimum) must agree with our verdict.
//! Without `openssl` the tests skip, unless STRONGROOM_REQUIRE_CROSSCHECKS is set.

use chrono::{DateTime, Utc};
use der::{Decode, Encode};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use strongroom::seals::cms::verify_detached;
use strongroom::seals::verdict::{AlgorithmPolicy, SealCode, SealVerdict, TimeSource};
use strongroom::seals::x509::{Certificate, Crl, Revocation, TrustAnchor};

const SCRIPT: &str = r#"
set -eu
cat > ca.cnf <<'EOF'
[ca]
default_ca = CA_default
[CA_default]
dir = $ENV::CADIR
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
policy = policy_any
default_days = 3650
default_crl_days = 30
unique_subject = no
email_in_dn = no
[policy_any]
commonName = supplied
organizationName = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_signer]
basicConstraints = CA:false
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_enc]
basicConstraints = CA:false
keyUsage = critical,keyEncipherment
subjectKeyIdentifier = hash
[v3_ca_pathlen0]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_signer_server]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[v3_signer_email]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = emailProtection,clientAuth
[v3_signer_crit]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
1.3.6.1.4.1.55555.1 = critical,ASN1:UTF8String:must be understood
EOF
export CADIR=.
mkca() { mkdir -p $1/newcerts; : > $1/index.txt; echo 1000 > $1/serial; echo 1000 > $1/crlnumber; }
mkca root; mkca inter; mkca other
openssl req -x509 -newkey rsa:2048 -nodes -keyout root/key.pem -out root/cert.pem -subj "/CN=Strongroom Test Root CA" -days 7300 -config ca.cnf -extensions v3_ca 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other/key.pem -out other/cert.pem -subj "/CN=Unknown Other CA" -days 7300 -config ca.cnf -extensions v3_ca 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout inter/key.pem -out inter/req.pem -subj "/O=档案馆测试/CN=Agency Intermediate CA" -utf8 -config ca.cnf 2>/dev/null
CADIR=root openssl ca -batch -config ca.cnf -cert root/cert.pem -keyfile root/key.pem -in inter/req.pem -out inter/cert.pem -extensions v3_ca -days 5000 -notext 2>/dev/null
signer() {
  openssl genpkey $2 -out $1.key 2>/dev/null
  openssl req -new -key $1.key -out $1.req -subj "/CN=$1 signer" -config ca.cnf 2>/dev/null
  CADIR=$4 openssl ca -batch -config ca.cnf -cert $4/cert.pem -keyfile $4/key.pem -in $1.req -out $1.pem -extensions $3 -notext $5 2>/dev/null
}
RSA="-algorithm RSA -pkeyopt rsa_keygen_bits:2048"
signer rsa "$RSA" v3_signer inter ""
signer ec256 "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" v3_signer inter ""
signer ec384 "-algorithm EC -pkeyopt ec_paramgen_curve:P-384" v3_signer inter ""
signer ed25519 "-algorithm ED25519" v3_signer inter ""
signer rsa1024 "-algorithm RSA -pkeyopt rsa_keygen_bits:1024" v3_signer inter ""
signer expired "$RSA" v3_signer inter "-startdate 20200101000000Z -enddate 20210101000000Z"
signer revoked_before "$RSA" v3_signer inter ""
signer revoked_after "$RSA" v3_signer inter ""
signer untrusted "$RSA" v3_signer other ""
signer keyenc "$RSA" v3_enc inter ""
openssl pkey -in ed25519.key -outform DER -out ed25519.key.der
signer eku_server "$RSA" v3_signer_server inter ""
signer eku_email "$RSA" v3_signer_email inter ""
signer crit "$RSA" v3_signer_crit inter ""
# pathlen:0 on a CA under the root, then a CA below it anyway, then a signer: too deep.
mkca pl0; mkca sub
openssl req -new -newkey rsa:2048 -nodes -keyout pl0/key.pem -out pl0/req.pem -subj "/CN=Pathlen Zero CA" -config ca.cnf 2>/dev/null
CADIR=root openssl ca -batch -config ca.cnf -cert root/cert.pem -keyfile root/key.pem -in pl0/req.pem -out pl0/cert.pem -extensions v3_ca_pathlen0 -days 5000 -notext 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout sub/key.pem -out sub/req.pem -subj "/CN=Sub CA Below Pathlen Zero" -config ca.cnf 2>/dev/null
CADIR=pl0 openssl ca -batch -config ca.cnf -cert pl0/cert.pem -keyfile pl0/key.pem -in sub/req.pem -out sub/cert.pem -extensions v3_ca -days 4000 -notext 2>/dev/null
signer deep "$RSA" v3_signer sub ""
cat sub/cert.pem pl0/cert.pem > deep_chain.pem
# SM2 (GB/T 32918) with SM3 and the default signer ID: a CA and a signer, both made by openssl.
SM2ID=distid:1234567812345678
openssl genpkey -algorithm SM2 -out sm2ca.key
openssl genpkey -algorithm SM2 -out sm2.key
openssl req -x509 -new -key sm2ca.key -sm3 -sigopt $SM2ID -subj "/CN=SM2 Test Root CA" -days 3650 -config ca.cnf -extensions v3_ca -out sm2ca.pem
openssl req -new -key sm2.key -sm3 -sigopt $SM2ID -subj "/CN=sm2 signer" -config ca.cnf -out sm2.req
openssl x509 -req -in sm2.req -CA sm2ca.pem -CAkey sm2ca.key -sm3 -sigopt $SM2ID -vfyopt $SM2ID -extfile ca.cnf -extensions v3_signer -days 3650 -set_serial 7 -out sm2.pem 2>/dev/null
openssl pkey -in sm2.key -outform DER -out sm2.key.der
openssl pkey -in sm2.key -pubout -out sm2.pub.pem
head -c 300000 /dev/urandom > doc.bin
printf 'small file signed for the mutation test\n' > small.txt
ca_inter() { CADIR=inter openssl ca -batch -config ca.cnf -cert inter/cert.pem -keyfile inter/key.pem "$@" 2>/dev/null; }
# The CRL in force when everything is signed lists only revoked_before.
ca_inter -revoke revoked_before.pem
ca_inter -gencrl -out crl_at_signing.pem
sleep 1
sign() { openssl cms -sign -binary -outform DER -in $3 -signer $1.pem -inkey $1.key -certfile $4 -out $2 $5; }
sign rsa rsa.p7s doc.bin inter/cert.pem ""
sign rsa rsa_noattr.p7s doc.bin inter/cert.pem -noattr
sign rsa rsa_pss.p7s doc.bin inter/cert.pem "-keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:digest"
sign rsa rsa_pss_maxsalt.p7s doc.bin inter/cert.pem "-keyopt rsa_padding_mode:pss"
sign ec256 ec256.p7s doc.bin inter/cert.pem ""
sign ec256 ec256_noattr.p7s doc.bin inter/cert.pem -noattr
sign ec384 ec384.p7s doc.bin inter/cert.pem "-md sha384"
sign rsa1024 rsa1024.p7s doc.bin inter/cert.pem ""
sign expired expired.p7s doc.bin inter/cert.pem ""
sign untrusted untrusted.p7s doc.bin other/cert.pem ""
sign keyenc keyenc.p7s doc.bin inter/cert.pem ""
sign eku_server eku_server.p7s doc.bin inter/cert.pem ""
sign eku_email eku_email.p7s doc.bin inter/cert.pem ""
sign crit crit.p7s doc.bin inter/cert.pem ""
sign deep deep.p7s doc.bin deep_chain.pem ""
sign rsa small.p7s small.txt inter/cert.pem ""
sign revoked_before revoked_before.p7s doc.bin inter/cert.pem ""
sign revoked_after revoked_after.p7s doc.bin inter/cert.pem ""
openssl cms -sign -binary -outform PEM -in doc.bin -signer rsa.pem -inkey rsa.key -certfile inter/cert.pem -out rsa_pem.p7s
# Later, revoked_after is revoked too: the registry's revocations come from this CRL.
sleep 2
ca_inter -revoke revoked_after.pem
ca_inter -gencrl -out crl.pem
# openssl cms has no -CRLfile: the CRL goes into the -CAfile store.
cat root/cert.pem crl_at_signing.pem > root_with_crl_at_signing.pem
openssl crl -in crl.pem -outform DER -out crl.der
"#;

/// The fixtures folder, made once per test process; `None` when openssl is missing.
fn fixtures() -> Option<&'static Path> {
    static DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    DIR.get_or_init(|| {
        let found = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            let required = std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS").unwrap_or_default();
            assert!(
                required.is_empty(),
                "openssl is required here (apt-get install openssl)"
            );
            eprintln!("SKIPPED: openssl not installed: seal fixtures cannot be made");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .current_dir(dir.path())
            .output()
            .expect("run sh");
        assert!(
            out.status.success(),
            "making the openssl fixtures failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(dir)
    })
    .as_ref()
    .map(|d| d.path())
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn cert(dir: &Path, name: &str) -> Certificate {
    let pem = String::from_utf8(read(dir, name)).expect("utf-8");
    Certificate::from_pem(&pem)
        .expect("certificate")
        .into_iter()
        .next()
        .expect("one certificate")
}

fn anchors(dir: &Path) -> Vec<TrustAnchor> {
    vec![TrustAnchor {
        certificate: Some(cert(dir, "root/cert.pem")),
        ..TrustAnchor::default()
    }]
}

/// The revocations of the intermediate's CRL, after checking its signature.
fn crl_revocations(dir: &Path) -> Vec<Revocation> {
    let crl = Crl::parse_any(&read(dir, "crl.pem")).expect("crl");
    let issuer = cert(dir, "inter/cert.pem");
    crl.verify(&issuer, &AlgorithmPolicy::default())
        .expect("CRL signed by the intermediate");
    crl.revocations(&issuer)
}

fn verify_with(dir: &Path, p7s: &str, content: &[u8], revocations: &[Revocation]) -> SealVerdict {
    verify_detached(
        &read(dir, p7s),
        content,
        &anchors(dir),
        revocations,
        Utc::now(),
        &AlgorithmPolicy::default(),
    )
    .expect("content readable")
}

fn verify(dir: &Path, p7s: &str) -> SealVerdict {
    verify_with(dir, p7s, &read(dir, "doc.bin"), &crl_revocations(dir))
}

/// `openssl cms -verify` at the seal's signing time: whether it accepts, and what it said.
fn openssl_verify(
    dir: &Path,
    p7s: &str,
    content: &str,
    at: DateTime<Utc>,
    crl: bool,
) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir)
        .args(["cms", "-verify", "-binary", "-inform"])
        .arg(if p7s.contains("pem") { "PEM" } else { "DER" })
        .args(["-in", p7s, "-content", content, "-CAfile"])
        .arg(if crl {
            "root_with_crl_at_signing.pem"
        } else {
            "root/cert.pem"
        })
        .args(["-purpose", "any", "-auth_level", "2", "-out", "/dev/null"])
        .args(["-attime", &at.timestamp().to_string()]);
    if crl {
        cmd.arg("-crl_check");
    }
    let out = cmd.output().expect("run openssl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What `openssl cms -verify` says for the case our first code names.
fn openssl_words(code: SealCode) -> &'static [&'static str] {
    match code {
        SealCode::Expired => &["certificate has expired"],
        SealCode::Revoked => &["certificate revoked"],
        SealCode::UntrustedSigner => &[
            "self-signed certificate in certificate chain",
            "unable to get local issuer certificate",
        ],
        SealCode::DigestMismatch => &["verification failure"],
        SealCode::BadSignature => &["bad signature", "verification failure"],
        SealCode::KeyTooSmall => &["too weak"],
        SealCode::Unverifiable => &["unhandled critical extension", "unsupported certificate"],
        _ => &[""],
    }
}

fn signing_time(v: &SealVerdict) -> DateTime<Utc> {
    v.signers
        .first()
        .and_then(|s| s.signing_time)
        .unwrap_or(v.intake_time)
}

/// Our verdict, checked against `want` codes and against openssl.
fn case(p7s: &str, content: &str, want: &[SealCode], crl_for_openssl: bool) -> Option<SealVerdict> {
    let dir = fixtures()?;
    let v = verify_with(dir, p7s, &read(dir, content), &crl_revocations(dir));
    assert_eq!(
        v.codes(),
        want,
        "{p7s}: {}",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    );
    assert_eq!(v.valid, want.is_empty());
    let (theirs, said) = openssl_verify(dir, p7s, content, signing_time(&v), crl_for_openssl);
    assert_eq!(
        theirs, v.valid,
        "{p7s}: openssl cms -verify says {theirs} ({said}), strongroom says {}: {:?}",
        v.valid, v.problems
    );
    if let Some(first) = want.first() {
        assert!(
            openssl_words(*first).iter().any(|w| said.contains(w)),
            "{p7s}: openssl refused it for another reason than {first}: {said}"
        );
    }
    Some(v)
}

#[test]
fn rsa_with_signed_attributes_is_valid_and_says_so_with_evidence() {
    let Some(v) = case("rsa.p7s", "doc.bin", &[], true) else {
        return;
    };
    let s = &v.signers[0];
    assert_eq!(s.subject.as_deref(), Some("CN=rsa signer"));
    assert_eq!(s.time_source, Some(TimeSource::SigningTimeAttribute));
    assert!(s.signed_attributes);
    assert_eq!(s.digest_algorithm.as_deref(), Some("SHA-256"));
    assert_eq!(
        s.signature_algorithm.as_deref(),
        Some("RSA PKCS#1 v1.5 with SHA-256")
    );
    assert_eq!(s.chain.len(), 3, "signer, intermediate, root");
    assert_eq!(s.anchor.as_deref(), Some("CN=Strongroom Test Root CA"));
    assert!(
        s.chain[1].subject.contains("档案馆测试"),
        "{}",
        s.chain[1].subject
    );
    let dir = fixtures().expect("fixtures");
    let digest = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &read(dir, "doc.bin"),
    ));
    assert_eq!(s.content_digest_hex.as_deref(), Some(digest.as_str()));
    // The evidence round-trips through JSON, with the stable codes.
    let json = serde_json::to_string(&v).expect("json");
    let back: SealVerdict = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, v);
}

#[test]
fn rsa_without_signed_attributes_uses_the_intake_time() {
    let Some(v) = case("rsa_noattr.p7s", "doc.bin", &[], true) else {
        return;
    };
    assert_eq!(v.signers[0].time_source, Some(TimeSource::IntakeTime));
    assert!(!v.signers[0].signed_attributes);
}

#[test]
fn rsa_pss_is_valid() {
    let Some(v) = case("rsa_pss.p7s", "doc.bin", &[], false) else {
        return;
    };
    assert_eq!(
        v.signers[0].signature_algorithm.as_deref(),
        Some("RSA-PSS with SHA-256")
    );
}

#[test]
fn pem_encoded_p7s_is_valid() {
    case("rsa_pem.p7s", "doc.bin", &[], false);
}

#[test]
fn ecdsa_p256_with_and_without_attributes_and_p384_are_valid() {
    case("ec256.p7s", "doc.bin", &[], true);
    case("ec256_noattr.p7s", "doc.bin", &[], false);
    let Some(v) = case("ec384.p7s", "doc.bin", &[], false) else {
        return;
    };
    assert_eq!(
        v.signers[0].signature_algorithm.as_deref(),
        Some("ECDSA P-384 with SHA-384")
    );
}

#[test]
fn file_changed_after_signing_is_a_digest_mismatch() {
    // The signed digest no longer matches; without attributes the signature itself fails.
    case("rsa.p7s", "small.txt", &[SealCode::DigestMismatch], false);
    case("ec256.p7s", "small.txt", &[SealCode::DigestMismatch], false);
    case(
        "rsa_noattr.p7s",
        "small.txt",
        &[SealCode::BadSignature],
        false,
    );
    let Some(v) = case(
        "ec256_noattr.p7s",
        "small.txt",
        &[SealCode::BadSignature],
        false,
    ) else {
        return;
    };
    assert!(v.problems[0].message.contains("does not verify"));
}

#[test]
fn one_flipped_bit_in_the_file_is_found() {
    let Some(dir) = fixtures() else { return };
    let mut doc = read(dir, "doc.bin");
    doc[150_000] ^= 0x01;
    let v = verify_with(dir, "rsa.p7s", &doc, &[]);
    assert_eq!(v.codes(), [SealCode::DigestMismatch]);
    assert!(v.problems[0].message.contains("altered after signing"));
}

#[test]
fn untrusted_signer_is_refused() {
    let Some(v) = case(
        "untrusted.p7s",
        "doc.bin",
        &[SealCode::UntrustedSigner],
        false,
    ) else {
        return;
    };
    assert!(
        v.problems[0].message.contains("does not chain"),
        "{}",
        v.problems[0].message
    );
}

#[test]
fn expired_at_signing_time_says_when() {
    let Some(v) = case("expired.p7s", "doc.bin", &[SealCode::Expired], true) else {
        return;
    };
    let m = &v.problems[0].message;
    assert!(
        m.contains("the signer's certificate expired on 2021-01-01")
            && m.contains("before it signed on"),
        "{m}"
    );
}

#[test]
fn revoked_before_signing_is_refused() {
    let Some(v) = case("revoked_before.p7s", "doc.bin", &[SealCode::Revoked], true) else {
        return;
    };
    assert!(
        v.problems[0].message.contains("was revoked on"),
        "{}",
        v.problems[0].message
    );
}

#[test]
fn revoked_after_signing_stays_valid_and_says_so() {
    // openssl cannot judge this one with the final CRL (it treats any listed certificate as
    // revoked, whatever the time): it is cross-checked with the CRL in force at signing time.
    let Some(v) = case("revoked_after.p7s", "doc.bin", &[], true) else {
        return;
    };
    let notes = &v.signers[0].notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("after it signed") && n.contains("stays valid")),
        "{notes:?}"
    );
    // The final CRL does list it: our revocation list came from there.
    let dir = fixtures().expect("fixtures");
    let serial = cert(dir, "revoked_after.pem").serial_hex;
    assert!(crl_revocations(dir).iter().any(|r| r.serial_hex == serial));
}

#[test]
fn rsa_1024_is_too_small_under_the_default_policy() {
    let Some(v) = case("rsa1024.p7s", "doc.bin", &[SealCode::KeyTooSmall], false) else {
        return;
    };
    assert!(v.problems[0].message.contains("1024"));
    // A policy that allows 1024 bits accepts it.
    let dir = fixtures().expect("fixtures");
    let policy = AlgorithmPolicy {
        min_rsa_bits: 1024,
        ..AlgorithmPolicy::default()
    };
    let v = verify_detached(
        &read(dir, "rsa1024.p7s"),
        read(dir, "doc.bin").as_slice(),
        &anchors(dir),
        &[],
        Utc::now(),
        &policy,
    )
    .expect("verdict");
    assert!(v.valid, "{:?}", v.problems);
}

#[test]
fn policy_without_ecdsa_refuses_the_algorithm() {
    let Some(dir) = fixtures() else { return };
    let mut policy = AlgorithmPolicy::default();
    policy
        .signature_algorithms
        .retain(|a| !matches!(a, strongroom::seals::verdict::SignatureAlgorithm::EcdsaP256));
    let v = verify_detached(
        &read(dir, "ec256.p7s"),
        read(dir, "doc.bin").as_slice(),
        &anchors(dir),
        &[],
        Utc::now(),
        &policy,
    )
    .expect("verdict");
    assert_eq!(v.codes(), [SealCode::AlgorithmNotAllowed]);
    let mut policy = AlgorithmPolicy::default();
    policy
        .digests
        .retain(|d| !matches!(d, strongroom::seals::verdict::DigestAlgorithm::Sha384));
    let v = verify_detached(
        &read(dir, "ec384.p7s"),
        read(dir, "doc.bin").as_slice(),
        &anchors(dir),
        &[],
        Utc::now(),
        &policy,
    )
    .expect("verdict");
    assert_eq!(v.codes(), [SealCode::AlgorithmNotAllowed]);
}

#[test]
fn key_usage_without_signatures_is_refused() {
    let Some(dir) = fixtures() else { return };
    let v = verify(dir, "keyenc.p7s");
    assert_eq!(v.codes(), [SealCode::KeyUsage], "{:?}", v.problems);
}

#[test]
fn a_signer_restricted_to_other_purposes_is_refused_and_email_protection_fits() {
    let Some(dir) = fixtures() else {
        return;
    };
    // openssl's `-purpose any` does not judge extended key usage: ours alone here.
    let v = verify(dir, "eku_server.p7s");
    assert_eq!(v.codes(), vec![SealCode::KeyUsage], "{:?}", v.problems);
    assert!(
        v.problems[0].message.contains("1.3.6.1.5.5.7.3.1"),
        "{:?}",
        v.problems
    );
    let v = verify(dir, "eku_email.p7s");
    assert!(v.valid, "{:?}", v.problems);
    // A policy may accept another purpose (here TLS server authentication).
    let policy = AlgorithmPolicy {
        signer_extended_key_usages: vec!["1.3.6.1.5.5.7.3.1".into()],
        ..AlgorithmPolicy::default()
    };
    let v = verify_detached(
        &read(dir, "eku_server.p7s"),
        &read(dir, "doc.bin")[..],
        &anchors(dir),
        &[],
        Utc::now(),
        &policy,
    )
    .expect("readable");
    assert!(v.valid, "{:?}", v.problems);
}

#[test]
fn an_unknown_critical_extension_makes_the_seal_unverifiable_as_openssl_says() {
    let Some(v) = case("crit.p7s", "doc.bin", &[SealCode::Unverifiable], false) else {
        return;
    };
    assert!(
        v.problems[0].message.contains("1.3.6.1.4.1.55555.1"),
        "{:?}",
        v.problems
    );
}

#[test]
fn a_chain_deeper_than_a_path_length_constraint_is_refused_as_openssl_says() {
    let Some(v) = case("deep.p7s", "doc.bin", &[SealCode::KeyUsage], false) else {
        return;
    };
    assert!(
        v.problems[0].message.contains("pathLenConstraint"),
        "{:?}",
        v.problems
    );
    assert_eq!(
        v.signers[0].chain.len(),
        4,
        "signer, sub, pathlen-0 CA, root"
    );
}

#[test]
fn intermediate_as_anchor_and_bare_key_anchor_both_work() {
    let Some(dir) = fixtures() else { return };
    let p7s = read(dir, "rsa.p7s");
    let doc = read(dir, "doc.bin");
    let inter = cert(dir, "inter/cert.pem");
    let by_cert = [TrustAnchor {
        certificate: Some(inter.clone()),
        ..TrustAnchor::default()
    }];
    let v = verify_detached(
        &p7s,
        doc.as_slice(),
        &by_cert,
        &[],
        Utc::now(),
        &AlgorithmPolicy::default(),
    )
    .expect("v");
    assert!(v.valid, "{:?}", v.problems);
    assert_eq!(v.signers[0].chain.len(), 2);
    let by_key = [TrustAnchor {
        public_key: Some(inter.public_key.spki_der.clone()),
        ..TrustAnchor::default()
    }];
    let v = verify_detached(
        &p7s,
        doc.as_slice(),
        &by_key,
        &[],
        Utc::now(),
        &AlgorithmPolicy::default(),
    )
    .expect("v");
    assert!(v.valid, "{:?}", v.problems);
    assert!(v.signers[0]
        .anchor
        .as_deref()
        .is_some_and(|a| a.starts_with("public key sha256:")));
    // The registry's window for the anchor ended before the signing time.
    let ended = [TrustAnchor {
        certificate: Some(inter),
        not_after: Some(Utc::now() - chrono::Duration::days(1)),
        ..TrustAnchor::default()
    }];
    let v = verify_detached(
        &p7s,
        doc.as_slice(),
        &ended,
        &[],
        Utc::now(),
        &AlgorithmPolicy::default(),
    )
    .expect("v");
    assert_eq!(v.codes(), [SealCode::Expired]);
}

#[test]
fn revocation_by_issuer_name_and_serial_is_honoured() {
    let Some(dir) = fixtures() else { return };
    let signer = cert(dir, "rsa.pem");
    let rev = [Revocation {
        issuer_fingerprint_or_name: signer.issuer.clone(),
        serial_hex: signer.serial_hex.to_uppercase(),
        revoked_at: Utc::now() - chrono::Duration::days(1),
    }];
    let v = verify_with(dir, "rsa.p7s", &read(dir, "doc.bin"), &rev);
    assert_eq!(v.codes(), [SealCode::Revoked]);
}

#[test]
fn crl_in_der_and_pem_parse_alike_and_a_wrong_issuer_is_refused() {
    let Some(dir) = fixtures() else { return };
    let pem = Crl::parse_any(&read(dir, "crl.pem")).expect("pem");
    let der = Crl::parse_any(&read(dir, "crl.der")).expect("der");
    assert_eq!(pem.revoked, der.revoked);
    assert_eq!(pem.revoked.len(), 2);
    let root = cert(dir, "root/cert.pem");
    let err = pem
        .verify(&root, &AlgorithmPolicy::default())
        .expect_err("not the root's CRL");
    assert_eq!(err.code, SealCode::BadSignature);
}

#[test]
fn truncated_and_garbage_p7s_are_malformed() {
    let Some(dir) = fixtures() else { return };
    let p7s = read(dir, "rsa.p7s");
    let doc = read(dir, "doc.bin");
    for bad in [
        &p7s[..p7s.len() / 2],
        &p7s[..10],
        &b""[..],
        &b"this is not a signature at all"[..],
        &b"-----BEGIN PKCS7-----\n!!!\n-----END PKCS7-----\n"[..],
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
    ] {
        let v = verify_detached(
            bad,
            doc.as_slice(),
            &anchors(dir),
            &[],
            Utc::now(),
            &AlgorithmPolicy::default(),
        )
        .expect("verdict");
        assert!(!v.valid);
        assert_eq!(v.codes(), [SealCode::Malformed], "{:?}", v.problems);
    }
}

/// A tiny deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `input`: a bit flip, a few random bytes, a truncation or an insertion.
fn mutate(rng: &mut Rng, input: &[u8], i: usize) -> Vec<u8> {
    let mut m = input.to_vec();
    match i % 4 {
        0 => {
            let pos = rng.below(m.len());
            m[pos] ^= 1 << rng.below(8);
        }
        1 => {
            for _ in 0..1 + rng.below(8) {
                let pos = rng.below(m.len());
                m[pos] = rng.next() as u8;
            }
        }
        2 => m.truncate(rng.below(m.len())),
        _ => {
            let pos = rng.below(m.len());
            let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
            m.splice(pos..pos, extra);
        }
    }
    m
}

#[test]
fn mutated_certificates_and_crls_never_panic() {
    let Some(dir) = fixtures() else { return };
    let crl = read(dir, "crl.der");
    let issuer = cert(dir, "inter/cert.pem");
    let policy = AlgorithmPolicy::default();
    let mut rng = Rng(0x0c71_5eed_u64);
    let mut accepted = 0;
    for i in 0..2000 {
        if let Ok(c) = Crl::parse_any(&mutate(&mut rng, &crl, i)) {
            if c.verify(&issuer, &policy).is_ok() {
                accepted += 1;
            }
        }
        let der = mutate(&mut rng, issuer.der(), i);
        if let Ok(c) = Certificate::from_der(&der) {
            let _ = c.verify_signed_by(&cert(dir, "root/cert.pem").public_key, &policy);
        }
    }
    assert!(accepted < 200, "{accepted} mutated CRLs still verified");
}

#[test]
fn two_thousand_mutated_p7s_never_panic() {
    let Some(dir) = fixtures() else { return };
    let p7s = read(dir, "small.p7s");
    let doc = read(dir, "small.txt");
    let anchors = anchors(dir);
    let policy = AlgorithmPolicy::default();
    let mut rng = Rng(0x5eed_5ea1_u64);
    let mut valid = 0;
    // STRONGROOM_SEAL_MUTANTS runs more, e.g. 200000 for a longer fuzzing session.
    let count: usize = std::env::var("STRONGROOM_SEAL_MUTANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    for i in 0..count {
        let m = mutate(&mut rng, &p7s, i);
        let v = verify_detached(&m, doc.as_slice(), &anchors, &[], Utc::now(), &policy)
            .expect("reading a slice cannot fail");
        if v.valid {
            valid += 1;
        }
    }
    // A flip in an unsigned part (e.g. an unused certificate bit) may leave it valid; most
    // mutations must not.
    assert!(
        valid < count / 10,
        "{valid} of {count} mutants were judged valid"
    );
}

/// How a SignedData is assembled in test code, for what `openssl cms -sign` cannot make.
struct Build<'a> {
    /// Signer certificate (PEM file) and the other certificates to carry.
    signer: &'a str,
    others: &'a [&'a str],
    /// Digest OID and function for the message-digest attribute.
    digest_oid: &'a str,
    digest: &'a dyn Fn(&[u8]) -> Vec<u8>,
    /// Signature algorithm OID and the signing function (over the signed message).
    signature_oid: &'a str,
    sign: &'a dyn Fn(&[u8]) -> Vec<u8>,
    with_attrs: bool,
    /// GB/T 35275 content type OIDs instead of PKCS#7's.
    gm_oids: bool,
}

fn first_cert(dir: &Path, name: &str) -> x509_cert::Certificate {
    let pem = read(dir, name);
    x509_cert::Certificate::load_pem_chain(&pem).expect("pem")[0].clone()
}

/// The signed message of a SignerInfo: the DER SET OF signed attributes, or the content.
fn assemble_p7s(dir: &Path, b: &Build, content: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
    use cms::content_info::{CmsVersion, ContentInfo};
    use cms::signed_data::{
        CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo,
        SignerInfos,
    };
    use const_oid::ObjectIdentifier as O;
    use der::asn1::{OctetString, SetOfVec};
    use der::Any;

    let signer = first_cert(dir, b.signer);
    let mut certs = vec![CertificateChoices::Certificate(signer.clone())];
    for other in b.others {
        certs.push(CertificateChoices::Certificate(first_cert(dir, other)));
    }
    let digest_alg = spki::AlgorithmIdentifierOwned {
        oid: O::new_unwrap(b.digest_oid),
        parameters: None,
    };
    let (data_oid, signed_data_oid) = if b.gm_oids {
        ("1.2.156.10197.6.1.4.2.1", "1.2.156.10197.6.1.4.2.2")
    } else {
        ("1.2.840.113549.1.7.1", "1.2.840.113549.1.7.2")
    };
    let id_data = O::new_unwrap(data_oid);
    let attr = |oid: &str, value: Any| x509_cert::attr::Attribute {
        oid: O::new_unwrap(oid),
        values: SetOfVec::try_from(vec![value]).expect("set"),
    };
    let signed_attrs = b.with_attrs.then(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock");
        let time = x509_cert::time::Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(now.as_secs()))
                .expect("time"),
        );
        SetOfVec::try_from(vec![
            attr(
                "1.2.840.113549.1.9.3",
                Any::encode_from(&id_data).expect("oid"),
            ),
            attr(
                "1.2.840.113549.1.9.4",
                Any::encode_from(&OctetString::new((b.digest)(content)).expect("octets"))
                    .expect("any"),
            ),
            attr(
                "1.2.840.113549.1.9.5",
                Any::encode_from(&time).expect("time"),
            ),
        ])
        .expect("attrs")
    });
    let message = match &signed_attrs {
        Some(a) => a.to_der().expect("der"),
        None => content.to_vec(),
    };
    let sig = (b.sign)(&message);
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.tbs_certificate().issuer().clone(),
            serial_number: signer.tbs_certificate().serial_number().clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs,
        signature_algorithm: spki::AlgorithmIdentifierOwned {
            oid: O::new_unwrap(b.signature_oid),
            parameters: None,
        },
        signature: OctetString::new(sig).expect("sig"),
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).expect("set"),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: id_data,
            econtent: None,
        },
        certificates: Some(CertificateSet::try_from(certs).expect("certs")),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![si]).expect("signers"),
    };
    let p7s = ContentInfo {
        content_type: O::new_unwrap(signed_data_oid),
        content: Any::encode_from(&sd).expect("sd"),
    }
    .to_der()
    .expect("der");
    (p7s, message)
}

/// Ed25519 CMS (RFC 8419) assembled here: OpenSSL 3.0's `cms -sign` cannot use Ed25519 keys.
fn ed25519_p7s(dir: &Path, content: &[u8], with_attrs: bool) -> Vec<u8> {
    use ring::signature::KeyPair as _;
    let key =
        ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&read(dir, "ed25519.key.der"))
            .expect("ed25519 key");
    let signer = first_cert(dir, "ed25519.pem");
    assert_eq!(
        signer
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
        key.public_key().as_ref()
    );
    let digest = |m: &[u8]| {
        ring::digest::digest(&ring::digest::SHA512, m)
            .as_ref()
            .to_vec()
    };
    let sign = |m: &[u8]| key.sign(m).as_ref().to_vec();
    assemble_p7s(
        dir,
        &Build {
            signer: "ed25519.pem",
            others: &["inter/cert.pem"],
            digest_oid: "2.16.840.1.101.3.4.2.3",
            digest: &digest,
            signature_oid: "1.3.101.112",
            sign: &sign,
            with_attrs,
            gm_oids: false,
        },
        content,
    )
    .0
}

/// No openssl cross-check here: OpenSSL 3.0's `cms -verify` cannot verify Ed25519 SignedData
/// either ("invalid digest" with signed attributes, "operation not supported" without).
#[test]
fn ed25519_cms_built_here_is_valid_and_detects_changes() {
    let Some(dir) = fixtures() else { return };
    let doc = read(dir, "doc.bin");
    for with_attrs in [true, false] {
        let p7s = ed25519_p7s(dir, &doc, with_attrs);
        // Our own parser reads back what we built.
        assert!(cms::content_info::ContentInfo::from_der(&p7s).is_ok());
        let v = verify_detached(
            &p7s,
            doc.as_slice(),
            &anchors(dir),
            &crl_revocations(dir),
            Utc::now(),
            &AlgorithmPolicy::default(),
        )
        .expect("verdict");
        assert!(v.valid, "attrs {with_attrs}: {:?}", v.problems);
        assert_eq!(v.signers[0].signature_algorithm.as_deref(), Some("Ed25519"));
        let v = verify_detached(
            &p7s,
            &b"changed"[..],
            &anchors(dir),
            &[],
            Utc::now(),
            &AlgorithmPolicy::default(),
        )
        .expect("verdict");
        let want = if with_attrs {
            SealCode::DigestMismatch
        } else {
            SealCode::BadSignature
        };
        assert_eq!(v.codes(), [want]);
    }
}

#[test]
fn a_signature_claiming_a_time_after_intake_is_refused() {
    let Some(dir) = fixtures() else { return };
    let yesterday = Utc::now() - chrono::Duration::days(1);
    let v = verify_detached(
        &read(dir, "rsa.p7s"),
        read(dir, "doc.bin").as_slice(),
        &anchors(dir),
        &[],
        yesterday,
        &AlgorithmPolicy::default(),
    )
    .expect("verdict");
    assert_eq!(v.codes(), [SealCode::NotYetValid]);
}

#[test]
fn rsa_pss_with_a_salt_other_than_the_hash_length_is_reported_not_supported() {
    // openssl signs PSS with the longest salt by default; ring verifies only salt = hash
    // length (what RFC 8702 / CMS profiles recommend). Reported, never judged invalid silently.
    let Some(dir) = fixtures() else { return };
    let v = verify(dir, "rsa_pss_maxsalt.p7s");
    assert_eq!(v.codes(), [SealCode::AlgorithmNotAllowed]);
    assert!(
        v.problems[0].message.contains("salt"),
        "{}",
        v.problems[0].message
    );
}

const SM2_ID: &str = "1234567812345678";

fn sm3(m: &[u8]) -> Vec<u8> {
    use sm3::Digest as _;
    sm3::Sm3::digest(m).to_vec()
}

/// The SM2 signer's key (openssl writes SEC1 `ECPrivateKey`: the scalar follows `04 20`).
fn sm2_key(dir: &Path) -> sm2::dsa::SigningKey {
    let der = read(dir, "sm2.key.der");
    assert_eq!(der.get(5..7), Some(&[0x04, 0x20][..]), "SEC1 SM2 key");
    sm2::dsa::SigningKey::from_slice(SM2_ID, &der[7..39]).expect("sm2 key")
}

fn sm2_sign(key: &sm2::dsa::SigningKey, m: &[u8]) -> Vec<u8> {
    use sm2::dsa::signature::Signer as _;
    let sig: sm2::dsa::Signature = key.sign(m);
    sig.to_der().as_bytes().to_vec()
}

fn sm2_anchors(dir: &Path) -> Vec<TrustAnchor> {
    vec![TrustAnchor {
        certificate: Some(cert(dir, "sm2ca.pem")),
        ..TrustAnchor::default()
    }]
}

fn sm2_build<'a>(
    sign: &'a dyn Fn(&[u8]) -> Vec<u8>,
    signature_oid: &'a str,
    with_attrs: bool,
    gm_oids: bool,
) -> Build<'a> {
    Build {
        signer: "sm2.pem",
        others: &[],
        digest_oid: "1.2.156.10197.1.401",
        digest: &sm3,
        signature_oid,
        sign,
        with_attrs,
        gm_oids,
    }
}

/// A unique scratch folder inside the fixtures (tests run in parallel).
fn scratch(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(format!("scratch-{name}"));
    std::fs::create_dir_all(&p).expect("mkdir");
    p
}

#[test]
fn sm2_cms_per_gbt_35275_is_valid_under_an_sm2_ca_made_by_openssl() {
    let Some(dir) = fixtures() else { return };
    let key = sm2_key(dir);
    let sign = |m: &[u8]| sm2_sign(&key, m);
    let doc = read(dir, "doc.bin");
    // SM2-with-SM3 or sm2sign as the signature OID; PKCS#7 or GB/T 35275 content types;
    // with and without signed attributes.
    for (oid, attrs, gm) in [
        ("1.2.156.10197.1.501", true, false),
        ("1.2.156.10197.1.301.1", true, true),
        ("1.2.156.10197.1.501", false, true),
    ] {
        let (p7s, _) = assemble_p7s(dir, &sm2_build(&sign, oid, attrs, gm), &doc);
        let v = verify_detached(
            &p7s,
            doc.as_slice(),
            &sm2_anchors(dir),
            &[],
            Utc::now(),
            &AlgorithmPolicy::default(),
        )
        .expect("verdict");
        assert!(v.valid, "{oid} attrs {attrs} gm {gm}: {:?}", v.problems);
        let s = &v.signers[0];
        assert_eq!(s.signature_algorithm.as_deref(), Some("SM2 with SM3"));
        assert_eq!(s.digest_algorithm.as_deref(), Some("SM3"));
        assert_eq!(s.chain.len(), 2, "signer and the SM2 root");
        let v = verify_detached(
            &p7s,
            &b"changed"[..],
            &sm2_anchors(dir),
            &[],
            Utc::now(),
            &AlgorithmPolicy::default(),
        )
        .expect("verdict");
        let want = if attrs {
            SealCode::DigestMismatch
        } else {
            SealCode::BadSignature
        };
        assert_eq!(v.codes(), [want]);
    }
    // The RSA root does not vouch for the SM2 signer.
    let (p7s, _) = assemble_p7s(
        dir,
        &sm2_build(&sign, "1.2.156.10197.1.501", true, false),
        &doc,
    );
    let v = verify_detached(
        &p7s,
        doc.as_slice(),
        &anchors(dir),
        &[],
        Utc::now(),
        &AlgorithmPolicy::default(),
    )
    .expect("verdict");
    assert_eq!(v.codes(), [SealCode::UntrustedSigner]);
    // A policy without SM2 refuses it.
    let mut policy = AlgorithmPolicy::default();
    policy
        .signature_algorithms
        .retain(|a| *a != strongroom::seals::verdict::SignatureAlgorithm::Sm2);
    let v = verify_detached(
        &p7s,
        doc.as_slice(),
        &sm2_anchors(dir),
        &[],
        Utc::now(),
        &policy,
    )
    .expect("verdict");
    assert!(
        v.codes().contains(&SealCode::AlgorithmNotAllowed),
        "{:?}",
        v.problems
    );
}

#[test]
fn sm2_signatures_agree_with_openssl_dgst_both_ways() {
    let Some(dir) = fixtures() else { return };
    let work = scratch(dir, "sm2");
    let doc = read(dir, "doc.bin");
    let key = sm2_key(dir);
    // Ours, checked by openssl: the bare signature over the signed attributes.
    let sign = |m: &[u8]| sm2_sign(&key, m);
    let (_, message) = assemble_p7s(
        dir,
        &sm2_build(&sign, "1.2.156.10197.1.501", true, false),
        &doc,
    );
    std::fs::write(work.join("msg"), &message).expect("write");
    std::fs::write(work.join("sig"), sm2_sign(&key, &message)).expect("write");
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["dgst", "-sm3", "-verify", "sm2.pub.pem", "-sigopt"])
        .arg(format!("distid:{SM2_ID}"))
        .arg("-signature")
        .arg(work.join("sig"))
        .arg(work.join("msg"))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
        "openssl dgst -sm3 -verify refused our SM2 signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // openssl's, checked by us: the signature inside the CMS comes from `openssl dgst -sign`.
    let by_openssl = |m: &[u8]| {
        std::fs::write(work.join("msg2"), m).expect("write");
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(["dgst", "-sm3", "-sign", "sm2.key", "-sigopt"])
            .arg(format!("distid:{SM2_ID}"))
            .arg("-out")
            .arg(work.join("sig2"))
            .arg(work.join("msg2"))
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(work.join("sig2")).expect("sig2")
    };
    let (p7s, _) = assemble_p7s(
        dir,
        &sm2_build(&by_openssl, "1.2.156.10197.1.501", true, true),
        &doc,
    );
    let v = verify_detached(
        &p7s,
        doc.as_slice(),
        &sm2_anchors(dir),
        &[],
        Utc::now(),
        &AlgorithmPolicy::default(),
    )
    .expect("verdict");
    assert!(v.valid, "{:?}", v.problems);
}

#[test]
fn every_seal_code_is_documented_in_formats_seals_md() {
    const DOC: &str = include_str!("../formats/seals.md");
    use SealCode::*;
    for code in [
        UntrustedSigner,
        Expired,
        NotYetValid,
        Revoked,
        DigestMismatch,
        BadSignature,
        AlgorithmNotAllowed,
        KeyTooSmall,
        KeyUsage,
        Malformed,
        Unverifiable,
    ] {
        let json = serde_json::to_string(&code).expect("json");
        assert_eq!(json, format!("\"{}\"", code.as_str()));
        assert!(
            DOC.contains(&format!("| `{}` |", code.as_str())),
            "{code} is not in the codes table of formats/seals.md"
        );
    }
}

/// (tag, header length, total length) of the DER TLV at the start of `b`.
fn tlv_len(b: &[u8]) -> (u8, usize, usize) {
    let first = b[1] as usize;
    if first < 0x80 {
        (b[0], 2, 2 + first)
    } else {
        let n = first & 0x7f;
        let len = b[2..2 + n]
            .iter()
            .fold(0usize, |a, x| (a << 8) | *x as usize);
        (b[0], 2 + n, 2 + n + len)
    }
}

#[test]
fn signed_attributes_are_verified_as_encoded_even_when_not_in_der_order() {
    // Some signers write the SET OF attributes unsorted; the signature is over their bytes.
    // The DER decoder re-sorts SETs, so the verifier must use the bytes as given.
    let Some(dir) = fixtures() else { return };
    let doc = read(dir, "doc.bin");
    let key =
        ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&read(dir, "ed25519.key.der"))
            .expect("ed25519 key");
    let mut p7s = ed25519_p7s(dir, &doc, true);
    // The signed attributes: the [0] IMPLICIT SET just before the content-type attribute.
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03,
    ];
    let pos = p7s
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("content-type attribute");
    let start = (0..pos).rev().find(|i| p7s[*i] == 0xa0).expect("[0]");
    let (_, hl, total) = tlv_len(&p7s[start..]);
    let body = p7s[start + hl..start + total].to_vec();
    let mut attrs = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let (_, _, len) = tlv_len(&body[at..]);
        attrs.push(body[at..at + len].to_vec());
        at += len;
    }
    assert_eq!(attrs.len(), 3);
    attrs.reverse();
    let reversed: Vec<u8> = attrs.concat();
    assert_ne!(reversed, body, "the order changed");
    p7s[start + hl..start + total].copy_from_slice(&reversed);
    let mut set = p7s[start..start + total].to_vec();
    set[0] = 0x31;
    let signature = key.sign(&set);
    // The 64-byte signature is the last OCTET STRING of the SignerInfo: the file's tail.
    let n = p7s.len();
    p7s[n - 64..].copy_from_slice(signature.as_ref());
    let v = verify_detached(
        &p7s,
        doc.as_slice(),
        &anchors(dir),
        &[],
        Utc::now(),
        &AlgorithmPolicy::default(),
    )
    .expect("verdict");
    assert!(v.valid, "{:?}", v.problems);
}
