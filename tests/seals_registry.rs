//! The seal registry and detached JWS seals through the binary: trust anchors (a CA made by
//! `openssl req -x509`, a bare Ed25519 key from `openssl genpkey`, keys made here with ring),
//! revocation, a CRL made by `openssl ca -gencrl`, each change a ledger entry, bad input
//! storing nothing; JWS seals made here with ring (valid, file changed, unknown signer,
//! algorithm not allowed, malformed, anchor window ended, anchor revoked).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        text(&out.stderr)
    );
}

/// A P-256 CA (`ca.pem`, `ca.key`) and a minimal `openssl ca` setup for CRLs.
fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "365",
            "-subj",
            "/CN=Test Agency CA/O=Test Agency",
        ],
    );
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = CA_default\n[CA_default]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n",
    )
    .expect("ca.cnf");
    std::fs::write(dir.join("index.txt"), "").expect("index");
    std::fs::write(dir.join("crlnumber"), "01\n").expect("crlnumber");
}

/// A signer certificate with `serial` (hex) issued by the CA, revoked, and a CRL listing it.
fn make_crl(dir: &Path, serial: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "signer.key",
            "-out",
            "signer.csr",
            "-subj",
            "/CN=Signer",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &format!("0x{serial}"),
            "-days",
            "30",
            "-out",
            "signer.pem",
        ],
    );
    let ca = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem"];
    let mut revoke = vec!["ca", "-revoke", "signer.pem"];
    revoke.extend_from_slice(&ca);
    openssl(dir, &revoke);
    let mut gencrl = vec!["ca", "-gencrl", "-out", "crl.pem"];
    gencrl.extend_from_slice(&ca);
    openssl(dir, &gencrl);
    openssl(
        dir,
        &[
            "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
        ],
    );
    dir.join("crl.pem")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn entry(a: &Archive, index: u64) -> serde_json::Value {
    let (code, v) = a.json(&["ledger", "show", &index.to_string()]);
    assert_eq!(code, Some(0), "ledger show {index}");
    v
}

fn assert_clean(a: &Archive) {
    let out = a.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = a.run(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn every_registry_change_is_a_ledger_entry() {
    let a = Archive::new();
    let d = a.dir.path();
    make_ca(d);
    openssl(d, &["genpkey", "-algorithm", "ed25519", "-out", "ed.key"]);
    openssl(d, &["pkey", "-in", "ed.key", "-pubout", "-out", "ed.pub"]);

    let (code, added) = a.json(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG1",
        "--cert",
        p(&d.join("ca.pem")),
    ]);
    assert_eq!(code, Some(0), "{added}");
    let ca_fp = added["anchor"]["fingerprint"]
        .as_str()
        .expect("fp")
        .to_string();
    let i_ca = added["applied"]["ledger_index"].as_u64().expect("index");
    assert_eq!(added["anchor"]["key_algorithm"], "EC P-256");
    assert!(
        added["anchor"]["valid_until"].is_string(),
        "window defaults to the certificate's"
    );

    let (code, added) = a.json(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG1",
        "--key",
        p(&d.join("ed.pub")),
        "--from",
        "2020-01-01",
    ]);
    assert_eq!(code, Some(0), "{added}");
    let key_fp = added["anchor"]["fingerprint"]
        .as_str()
        .expect("fp")
        .to_string();
    let i_key = added["applied"]["ledger_index"].as_u64().expect("index");
    assert_eq!(added["anchor"]["valid_from"], "2020-01-01T00:00:00Z");

    // The same anchor twice is refused and stores nothing.
    let before = a.snapshot();
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG1",
        "--key",
        p(&d.join("ed.pub")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already a trust anchor"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(a.snapshot(), before);

    let (code, list) = a.json(&["seal", "trust", "list", "--agency", "AG1"]);
    assert_eq!(code, Some(0));
    let fps: Vec<&str> = list["anchors"]
        .as_array()
        .expect("anchors")
        .iter()
        .filter_map(|x| x["fingerprint"].as_str())
        .collect();
    assert!(
        fps.contains(&ca_fp.as_str()) && fps.contains(&key_fp.as_str()),
        "{list}"
    );
    let (_, other) = a.json(&["seal", "trust", "list", "--agency", "AG2"]);
    assert_eq!(other["anchors"].as_array().map(Vec::len), Some(0));

    let (code, revoked) = a.json(&[
        "seal",
        "trust",
        "revoke",
        "--agency",
        "AG1",
        "--serial",
        "0A:BC",
        "--at",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(code, Some(0), "{revoked}");
    let i_rev = revoked["ledger_index"].as_u64().expect("index");

    make_crl(d, "1001");
    let (code, imported) = a.json(&[
        "seal",
        "trust",
        "import-crl",
        "--agency",
        "AG1",
        p(&d.join("crl.der")),
    ]);
    assert_eq!(code, Some(0), "{imported}");
    assert_eq!(imported["crl"]["revoked"], 1);
    let i_crl = imported["applied"]["ledger_index"].as_u64().expect("index");
    // The PEM form of the same CRL is the same CRL.
    let out = a.run(&[
        "seal",
        "trust",
        "import-crl",
        "--agency",
        "AG1",
        p(&d.join("crl.pem")),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let (_, list) = a.json(&["seal", "trust", "list"]);
    let serials: Vec<&str> = list["revocations"]
        .as_array()
        .expect("revocations")
        .iter()
        .filter_map(|r| r["serial"].as_str())
        .collect();
    assert!(
        serials.contains(&"abc") && serials.contains(&"1001"),
        "{list}"
    );
    assert_eq!(list["crls"].as_array().map(Vec::len), Some(1));

    let e = entry(&a, i_ca);
    assert_eq!(e["type"], "seal.anchor.added");
    assert_eq!(e["anchor_fingerprint"], ca_fp.as_str());
    assert_eq!(e["anchor_kind"], "certificate");
    assert_eq!(e["actor"], "tester");
    let e = entry(&a, i_key);
    assert_eq!(e["type"], "seal.anchor.added");
    assert_eq!(e["anchor_kind"], "public_key");
    let e = entry(&a, i_rev);
    assert_eq!(e["type"], "seal.certificate.revoked");
    assert_eq!(e["serial"], "abc");
    assert_eq!(e["issuer_fingerprint"], ca_fp.as_str());
    let e = entry(&a, i_crl);
    assert_eq!(e["type"], "seal.crl.imported");
    assert_eq!(e["revoked"], 1);

    let (code, r) = a.json(&[
        "seal",
        "trust",
        "revoke",
        "--agency",
        "AG1",
        "--anchor",
        &key_fp,
        "--at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(
        entry(&a, r["ledger_index"].as_u64().expect("i"))["type"],
        "seal.anchor.revoked"
    );
    let (_, list) = a.json(&["seal", "trust", "list", "--agency", "AG1"]);
    let revoked_key = list["anchors"]
        .as_array()
        .expect("anchors")
        .iter()
        .find(|x| x["fingerprint"] == key_fp.as_str())
        .expect("key anchor");
    assert_eq!(revoked_key["revoked_at"], "2026-01-01T00:00:00Z");

    assert_clean(&a);
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let a = Archive::new();
    let d = a.dir.path();
    make_ca(d);
    let garbage = d.join("garbage.pem");
    std::fs::write(
        &garbage,
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let junk = d.join("junk.der");
    std::fs::write(&junk, [0x30, 0x82, 0xff, 0xff, 1, 2, 3]).expect("write");
    // A CRL of another CA: no anchor of the agency issued it.
    let other = tempfile::tempdir().expect("tmp");
    make_ca(other.path());
    let foreign_crl = make_crl(other.path(), "77");
    let ca_pem = d.join("ca.pem");
    let before = a.snapshot();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![
                "seal",
                "trust",
                "add",
                "--agency",
                "AG1",
                "--cert",
                p(&garbage),
            ],
            1,
            "not an X.509 certificate",
        ),
        (
            vec![
                "seal",
                "trust",
                "add",
                "--agency",
                "AG1",
                "--cert",
                p(&junk),
            ],
            1,
            "not an X.509 certificate",
        ),
        (
            vec!["seal", "trust", "add", "--agency", "AG1", "--key", p(&junk)],
            1,
            "not a public key",
        ),
        (
            vec![
                "seal",
                "trust",
                "add",
                "--agency",
                "AG1",
                "--key",
                p(&ca_pem),
            ],
            1,
            "--cert, not --key",
        ),
        (
            vec![
                "seal",
                "trust",
                "add",
                "--agency",
                "../AG1",
                "--cert",
                p(&ca_pem),
            ],
            2,
            "not an Agency-Code",
        ),
        (
            vec![
                "seal",
                "trust",
                "add",
                "--agency",
                "AG 1",
                "--cert",
                p(&ca_pem),
            ],
            2,
            "not an Agency-Code",
        ),
        (
            vec![
                "seal",
                "trust",
                "add",
                "--agency",
                "AG1",
                "--cert",
                p(&ca_pem),
                "--from",
                "next week",
            ],
            2,
            "not a date",
        ),
        (
            vec![
                "seal",
                "trust",
                "add",
                "--agency",
                "AG1",
                "--cert",
                p(&ca_pem),
                "--from",
                "2030-01-01",
                "--until",
                "2029-01-01",
            ],
            2,
            "not before",
        ),
        (
            vec![
                "seal",
                "trust",
                "revoke",
                "--agency",
                "AG1",
                "--serial",
                "12",
                "--at",
                "yesterday",
            ],
            2,
            "not a date",
        ),
        (
            vec![
                "seal",
                "trust",
                "revoke",
                "--agency",
                "AG1",
                "--serial",
                "xyz",
                "--at",
                "2026-01-01",
            ],
            2,
            "not a serial",
        ),
        (
            vec![
                "seal",
                "trust",
                "revoke",
                "--agency",
                "AG1",
                "--serial",
                "12",
                "--at",
                "2026-01-01",
            ],
            1,
            "no CA certificate",
        ),
        (
            vec!["seal", "trust", "import-crl", "--agency", "AG1", p(&junk)],
            1,
            "not an X.509 CRL",
        ),
        (
            vec![
                "seal",
                "trust",
                "import-crl",
                "--agency",
                "AG1",
                p(&foreign_crl),
            ],
            1,
            "is not a CA certificate of agency AG1",
        ),
    ];
    for (args, want, says) in cases {
        let out = a.run(&args);
        assert_eq!(
            out.status.code(),
            Some(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(a.snapshot(), before, "{args:?} changed the store");
    }
    // With the CA registered, a CRL of a different CA with the same name is still refused.
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG1",
        "--cert",
        p(&d.join("ca.pem")),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let before = a.snapshot();
    let out = a.run(&[
        "seal",
        "trust",
        "import-crl",
        "--agency",
        "AG1",
        p(&foreign_crl),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("did not sign it"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(a.snapshot(), before);
    assert_clean(&a);
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A compact detached JWS over `payload` with `header`, signed by `sign`.
fn jws(header: &str, payload: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let h = b64(header.as_bytes());
    let unencoded = header.contains("\"b64\":false");
    let mut input = format!("{h}.").into_bytes();
    if unencoded {
        input.extend_from_slice(payload);
    } else {
        input.extend_from_slice(b64(payload).as_bytes());
    }
    format!("{h}..{}", b64(&sign(&input)))
}

fn ed25519() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("pkcs8");
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
}

struct Case<'a> {
    archive: &'a Archive,
    dir: PathBuf,
}

impl Case<'_> {
    /// Writes the file and its seal and runs `seal verify`: (exit code, problem codes).
    fn verify(
        &self,
        name: &str,
        content: &[u8],
        seal: &str,
        agency: &str,
        extra: &[&str],
    ) -> (i32, Vec<String>, serde_json::Value) {
        let file = self.dir.join(name);
        std::fs::write(&file, content).expect("file");
        let sig = self.dir.join(format!("{name}.jws"));
        std::fs::write(&sig, seal).expect("seal");
        let mut args = vec!["seal", "verify", p(&file), p(&sig), "--agency", agency];
        args.extend_from_slice(extra);
        let (code, v) = self.archive.json(&args);
        let codes = v["verdict"]["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .filter_map(|x| x["code"].as_str().map(String::from))
            .collect();
        (code.expect("exit code"), codes, v)
    }
}

#[test]
fn detached_jws_seals_are_judged_against_the_registry() {
    let a = Archive::new();
    let dir = a.dir.path().join("files");
    std::fs::create_dir_all(&dir).expect("dir");
    let c = Case {
        archive: &a,
        dir: dir.clone(),
    };

    let key = ed25519();
    let raw = dir.join("agency.raw");
    std::fs::write(&raw, key.public_key().as_ref()).expect("raw key");
    let (code, added) = a.json(&["seal", "trust", "add", "--agency", "AG1", "--key", p(&raw)]);
    assert_eq!(code, Some(0), "{added}");
    let fp = added["anchor"]["fingerprint"]
        .as_str()
        .expect("fp")
        .to_string();

    let content = "正文: the record's bytes\n".repeat(100).into_bytes();
    let unencoded = r#"{"alg":"EdDSA","b64":false,"crit":["b64"]}"#;
    let sign = |m: &[u8]| key.sign(m).as_ref().to_vec();
    let good = jws(unencoded, &content, sign);

    let (code, codes, v) = c.verify("a.pdf", &content, &good, "AG1", &[]);
    assert_eq!((code, codes.len()), (0, 0), "{v}");
    assert_eq!(v["verdict"]["valid"], true);
    assert_eq!(v["verdict"]["format"], "jws-detached");
    assert!(v["verdict"]["signers"][0]["anchor"]
        .as_str()
        .expect("anchor")
        .contains(&fp));

    // RFC 7515 appendix F: the encoded form, detached.
    let encoded = jws(r#"{"alg":"EdDSA"}"#, &content, sign);
    let (code, codes, _) = c.verify("b.pdf", &content, &encoded, "AG1", &[]);
    assert_eq!((code, codes), (0, vec![]));

    // The file changed after sealing.
    let mut changed = content.clone();
    changed[5] ^= 1;
    let (code, codes, _) = c.verify("c.pdf", &changed, &good, "AG1", &[]);
    assert_eq!((code, codes), (1, vec!["SEAL_BAD_SIGNATURE".to_string()]));

    // Sealed by a key the agency never registered, named by its kid.
    let stranger = ed25519();
    let kid_header = format!(
        r#"{{"alg":"EdDSA","b64":false,"crit":["b64"],"kid":"sha256:{}"}}"#,
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            stranger.public_key().as_ref()
        ))
    );
    let foreign = jws(&kid_header, &content, |m| {
        stranger.sign(m).as_ref().to_vec()
    });
    let (code, codes, v) = c.verify("d.pdf", &content, &foreign, "AG1", &[]);
    assert_eq!(
        (code, codes),
        (1, vec!["SEAL_UNTRUSTED_SIGNER".to_string()]),
        "{v}"
    );
    // A good seal checked against an agency with no anchors: unknown signer.
    let (code, codes, _) = c.verify("e.pdf", &content, &good, "AG9", &[]);
    assert_eq!(
        (code, codes),
        (1, vec!["SEAL_UNTRUSTED_SIGNER".to_string()])
    );

    // Algorithms the archive does not allow.
    for alg in ["none", "HS256", "ES256K"] {
        let h = format!(r#"{{"alg":"{alg}","b64":false,"crit":["b64"]}}"#);
        let s = jws(&h, &content, |_| {
            b"0123456789abcdef0123456789abcdef".to_vec()
        });
        let (code, codes, _) = c.verify("f.pdf", &content, &s, "AG1", &[]);
        assert_eq!(
            (code, codes),
            (1, vec!["SEAL_ALGORITHM_NOT_ALLOWED".to_string()]),
            "{alg}"
        );
    }

    // Truncated or garbage seals. A signature cut to a length base64url cannot have is
    // malformed; one cut to whole bytes decodes, and is too short to verify.
    let cut = good.len() - 2;
    let (code, codes, _) = c.verify("g.pdf", &content, &good[..cut], "AG1", &[]);
    assert_eq!((code, codes), (1, vec!["SEAL_BAD_SIGNATURE".to_string()]));
    for bad in [
        &good[..good.len() - 1],
        "garbage",
        "",
        &good.replace("..", ".eA."),
    ] {
        let (code, codes, _) = c.verify("g.pdf", &content, bad, "AG1", &[]);
        assert_eq!(
            (code, codes),
            (1, vec!["SEAL_MALFORMED".to_string()]),
            "{bad:?}"
        );
    }
    let header_only = good.split("..").next().expect("header").to_string();
    let (code, codes, _) = c.verify("h.pdf", &content, &header_only, "AG1", &[]);
    assert_eq!((code, codes), (1, vec!["SEAL_MALFORMED".to_string()]));

    // ES256 with a P-256 key registered as SubjectPublicKeyInfo DER.
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("p256");
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("p256 key");
    let mut spki =
        hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").expect("hex");
    spki.extend_from_slice(ec.public_key().as_ref());
    let spki_path = dir.join("p256.der");
    std::fs::write(&spki_path, &spki).expect("spki");
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG1",
        "--key",
        p(&spki_path),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let es = jws(
        r#"{"alg":"ES256","b64":false,"crit":["b64"]}"#,
        &content,
        |m| ec.sign(&rng, m).expect("sign").as_ref().to_vec(),
    );
    let (code, codes, v) = c.verify("i.pdf", &content, &es, "AG1", &[]);
    assert_eq!((code, codes), (0, vec![]), "{v}");

    // An anchor whose window has ended: the seal is judged after it.
    let old = ed25519();
    let old_raw = dir.join("old.raw");
    std::fs::write(&old_raw, old.public_key().as_ref()).expect("raw");
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG2",
        "--key",
        p(&old_raw),
        "--from",
        "2020-01-01",
        "--until",
        "2025-01-01",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = jws(unencoded, &content, |m| old.sign(m).as_ref().to_vec());
    let (code, codes, v) = c.verify("j.pdf", &content, &s, "AG2", &[]);
    assert_eq!((code, codes), (1, vec!["SEAL_EXPIRED".to_string()]), "{v}");
    assert!(v["verdict"]["problems"][0]["message"]
        .as_str()
        .expect("message")
        .contains("2025-01-01"));
    let (code, codes, _) = c.verify("j.pdf", &content, &s, "AG2", &["--at", "2024-06-01"]);
    assert_eq!((code, codes), (0, vec![]));
    let (code, codes, _) = c.verify("j.pdf", &content, &s, "AG2", &["--at", "2019-06-01"]);
    assert_eq!((code, codes), (1, vec!["SEAL_NOT_YET_VALID".to_string()]));

    // A revoked anchor: not trusted from the revocation on, still before it.
    let out = a.run(&[
        "seal",
        "trust",
        "revoke",
        "--agency",
        "AG1",
        "--anchor",
        &fp,
        "--at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (code, codes, _) = c.verify("k.pdf", &content, &good, "AG1", &["--at", "2026-06-01"]);
    assert_eq!((code, codes), (1, vec!["SEAL_REVOKED".to_string()]));
    let (code, codes, _) = c.verify("k.pdf", &content, &good, "AG1", &["--at", "2025-06-01"]);
    assert_eq!((code, codes), (0, vec![]));

    // The text report says it in words.
    let file = dir.join("c.pdf");
    let out = a.run(&[
        "seal",
        "verify",
        p(&file),
        p(&dir.join("c.pdf.jws")),
        "--agency",
        "AG1",
        "--at",
        "2025-06-01",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("altered after it was sealed"),
        "{}",
        text(&out.stdout)
    );
    // Default seal path: FILE.jws beside FILE.
    let out = a.run(&[
        "seal",
        "verify",
        p(&dir.join("a.pdf")),
        "--agency",
        "AG1",
        "--at",
        "2025-06-01",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    assert_clean(&a);
}

/// The commit rule: a registry document counts only when the ledger entry at its
/// `ledger_index` carries its change id. A document left by a change that crashed before its
/// entry (planted here as such a crash leaves it) gives no trust, stays ignored when a later
/// entry takes its index, and is replaced by the next change that needs its path. A committed
/// document changed afterwards no longer matches its entry's digest and is ignored too.
#[test]
fn a_document_without_its_ledger_entry_counts_for_nothing() {
    let a = Archive::new();
    let dir = a.dir.path().join("files");
    std::fs::create_dir_all(&dir).expect("dir");
    let key = ed25519();
    let raw = dir.join("agency.raw");
    std::fs::write(&raw, key.public_key().as_ref()).expect("raw");
    let mut spki = hex::decode("302a300506032b6570032100").expect("hex");
    spki.extend_from_slice(key.public_key().as_ref());
    let fp = hex::encode(ring::digest::digest(&ring::digest::SHA256, &spki));
    // A fresh archive's ledger is empty: the crashed change would have been entry 0.
    assert_eq!(a.run(&["ledger", "checkpoint"]).status.code(), Some(1));
    let size = 0;
    let anchors = a.store().join("seals/anchors/AG1");
    std::fs::create_dir_all(&anchors).expect("dir");
    std::fs::write(anchors.join(format!("{fp}.der")), &spki).expect("der");
    let doc = serde_json::json!({
        "type": "strongroom.seal.anchor", "format_version": 1, "change": "00000000deadbeef",
        "ledger_index": size, "agency_code": "AG1", "anchor": "public_key",
        "fingerprint": format!("sha256:{fp}"), "der_path": format!("seals/anchors/AG1/{fp}.der"),
        "key_algorithm": "Ed25519", "public_key": base64::engine::general_purpose::STANDARD.encode(&spki),
        "added_at": "2026-12-01T00:00:00Z", "added_by": "crashed",
    });
    write_json(&anchors.join(format!("{fp}.json")), &doc);

    let listed = |a: &Archive| {
        let (code, v) = a.json(&["seal", "trust", "list"]);
        assert_eq!(code, Some(0));
        (
            v["anchors"].as_array().map_or(0, Vec::len),
            v["ignored"].as_array().map_or(0, Vec::len),
        )
    };
    assert_eq!(listed(&a), (0, 1));
    let content = b"record bytes".to_vec();
    let file = dir.join("a.txt");
    std::fs::write(&file, &content).expect("file");
    std::fs::write(
        dir.join("a.txt.jws"),
        jws(
            r#"{"alg":"EdDSA","b64":false,"crit":["b64"]}"#,
            &content,
            |m| key.sign(m).as_ref().to_vec(),
        ),
    )
    .expect("seal");
    let verdict = |a: &Archive| {
        let (code, v) = a.json(&["seal", "verify", p(&file), "--agency", "AG1"]);
        (code, v["verdict"]["problems"][0]["code"].clone())
    };
    assert_eq!(
        verdict(&a),
        (Some(1), serde_json::json!("SEAL_UNTRUSTED_SIGNER"))
    );

    // Another change takes the index the crashed one would have had.
    assert_eq!(a.run(&["verify"]).status.code(), Some(0));
    assert_eq!(listed(&a), (0, 1));

    // The next change of that anchor replaces the leftover and commits.
    let out = a.run(&["seal", "trust", "add", "--agency", "AG1", "--key", p(&raw)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(listed(&a), (1, 0));
    assert_eq!(verdict(&a), (Some(0), serde_json::Value::Null));
    assert_clean(&a);

    // A committed document edited afterwards no longer matches its entry: ignored, named.
    let path = anchors.join(format!("{fp}.json"));
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    v["agency_code"] = serde_json::json!("AG1");
    v["valid_until"] = serde_json::json!("2099-01-01T00:00:00Z");
    write_json(&path, &v);
    assert_eq!(listed(&a), (0, 1));
    let out = a.run(&["seal", "trust", "list"]);
    assert!(
        text(&out.stderr).contains("changed since it was recorded"),
        "{}",
        text(&out.stderr)
    );
}

/// A signer certificate `<name>.pem` (key `<name>.key`) with `serial` issued by the CA.
fn issue(dir: &Path, name: &str, serial: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let pem = format!("{name}.pem");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &format!("0x{serial}"),
            "-days",
            "30",
            "-out",
            &pem,
        ],
    );
}

/// `openssl cms -sign` of `file` by `<signer>.pem`, detached, DER: `<file>.<signer>.p7s`.
fn cms_sign(dir: &Path, file: &str, signer: &str) -> PathBuf {
    let out = format!("{file}.{signer}.p7s");
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-outform",
            "DER",
            "-in",
            file,
            "-signer",
            &format!("{signer}.pem"),
            "-inkey",
            &format!("{signer}.key"),
            "-out",
            &out,
        ],
    );
    dir.join(out)
}

/// The registry as the CMS verifier sees it (`seal verify FILE X.p7s`): a signer revoked by an
/// imported CRL or by hand before it signed is `SEAL_REVOKED`; one revoked only after signing,
/// or never, is valid; another agency's registry does not know the signer.
#[test]
fn p7s_seals_are_judged_with_the_registry_and_its_revocations() {
    let a = Archive::new();
    let d = a.dir.path();
    make_ca(d);
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "AG1",
        "--cert",
        p(&d.join("ca.pem")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    make_crl(d, "1001"); // `signer.pem`, revoked in the CRL
    let out = a.run(&[
        "seal",
        "trust",
        "import-crl",
        "--agency",
        "AG1",
        p(&d.join("crl.pem")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    issue(d, "good", "2002");
    issue(d, "later", "3003");
    issue(d, "early", "4004");
    std::fs::write(d.join("doc.txt"), "正文\n").expect("doc");
    let doc = d.join("doc.txt");
    let verdict = |sig: &Path, agency: &str| {
        let (code, v) = a.json(&["seal", "verify", p(&doc), p(sig), "--agency", agency]);
        let codes: Vec<String> = v["verdict"]["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .filter_map(|x| x["code"].as_str().map(String::from))
            .collect();
        (code, codes)
    };
    let revoke = |serial: &str, at: &str| {
        let out = a.run(&[
            "seal", "trust", "revoke", "--agency", "AG1", "--serial", serial, "--at", at,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    };
    revoke("3003", "2099-01-01T00:00:00Z");
    revoke("4004", "2020-01-01T00:00:00Z");

    let revoked_by_crl = cms_sign(d, "doc.txt", "signer");
    assert_eq!(
        verdict(&revoked_by_crl, "AG1"),
        (Some(1), vec!["SEAL_REVOKED".to_string()])
    );
    let good = cms_sign(d, "doc.txt", "good");
    assert_eq!(verdict(&good, "AG1"), (Some(0), vec![]));
    // The evidence names the CRL consulted by digest, as the registry keeps it.
    let (_, v) = a.json(&["seal", "verify", p(&doc), p(&good), "--agency", "AG1"]);
    let crls = v["verdict"]["signers"][0]["crls"]
        .as_array()
        .expect("crls in the evidence");
    assert_eq!(crls.len(), 1, "{v:#}");
    let der = std::process::Command::new("openssl")
        .args(["crl", "-in", p(&d.join("crl.pem")), "-outform", "DER"])
        .output()
        .expect("openssl crl");
    let want = format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &der.stdout))
    );
    assert_eq!(crls[0]["crl_sha256"], want.as_str());
    assert!(crls[0]["ledger_index"].as_u64().is_some());
    assert_eq!(
        verdict(&good, "AG2"),
        (Some(1), vec!["SEAL_UNTRUSTED_SIGNER".to_string()])
    );
    let later = cms_sign(d, "doc.txt", "later");
    assert_eq!(verdict(&later, "AG1"), (Some(0), vec![]));
    let early = cms_sign(d, "doc.txt", "early");
    assert_eq!(
        verdict(&early, "AG1"),
        (Some(1), vec!["SEAL_REVOKED".to_string()])
    );
    assert_clean(&a);
}

/// A registry change killed before each of its writes in turn (the store's fault injection):
/// the registry never shows a half-made change, the retry succeeds (or finds the change
/// committed), and the ledger and the store verify.
#[test]
fn a_change_killed_at_any_write_is_all_or_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let key_dir = tempfile::tempdir().expect("tmp");
    let raw = key_dir.path().join("agency.raw");
    std::fs::write(&raw, ed25519().public_key().as_ref()).expect("raw");
    let add = ["seal", "trust", "add", "--agency", "AG1", "--key", p(&raw)];
    let anchors = |a: &Archive| {
        let (code, v) = a.json(&["seal", "trust", "list"]);
        assert_eq!(code, Some(0));
        v["anchors"].as_array().map_or(0, Vec::len)
    };
    for n in 1u32.. {
        assert!(n < 100, "the change never completed");
        let a = Archive::new();
        let out = a
            .cmd(&add)
            .env("STRONGROOM_TEST_KILL_AT_WRITE", n.to_string())
            .output()
            .expect("run");
        if out.status.signal().is_none() {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            assert_eq!(anchors(&a), 1);
            // The lock, the .der, the document, the ledger's tiles and checkpoints: each was
            // a kill point before the change could finish.
            assert!(
                n > 6,
                "only {} kill points: is fault injection armed?",
                n - 1
            );
            eprintln!(
                "a registry change survived kills at each of its {} writes",
                n - 1
            );
            break;
        }
        let seen = anchors(&a);
        assert!(seen <= 1, "kill at write {n}: {seen} anchors");
        let retry = a.run(&add);
        match retry.status.code() {
            Some(0) => {}
            Some(1) => assert!(
                text(&retry.stderr).contains("already a trust anchor"),
                "kill at write {n}: {}",
                text(&retry.stderr)
            ),
            other => panic!(
                "kill at write {n}: retry exit {other:?}: {}",
                text(&retry.stderr)
            ),
        }
        assert_eq!(anchors(&a), 1, "kill at write {n}");
        let (_, v) = a.json(&["seal", "trust", "list"]);
        assert_eq!(
            v["ignored"].as_array().map_or(0, Vec::len),
            0,
            "kill at write {n}: {v}"
        );
        assert_clean(&a);
    }
}
