//! Seals at intake, through the binary: a record's `seal` file (`X.jws` beside `X`) is
//! verified against the transfer agency's anchors in the registry; a valid seal is kept with
//! its verdict in the record's evidence and a `seal.verified` ledger entry; any problem
//! refuses the transfer with an authenticity finding naming the record and the seal file.

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

const AGENCY: &str = "11330100MB0000000X";

fn ed25519() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("pkcs8");
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
}

/// A detached JWS with unencoded payload (RFC 7797) over `payload`.
fn jws(key: &Ed25519KeyPair, payload: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","b64":false,"crit":["b64"]}"#);
    let mut input = format!("{h}.").into_bytes();
    input.extend_from_slice(payload);
    format!("{h}..{}", URL_SAFE_NO_PAD.encode(key.sign(&input).as_ref()))
}

fn register(a: &Archive, key: &Ed25519KeyPair) {
    let raw = a.dir.path().join("agency.raw");
    std::fs::write(&raw, key.public_key().as_ref()).expect("raw key");
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        AGENCY,
        "--key",
        raw.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// The sample with a seal over the first record's first file, named `sealed_name` (normally
/// that file's path plus `.jws`); `after` may change the bag once it is sealed.
fn sealed_sample(
    dir: &Path,
    name: &str,
    key: &Ed25519KeyPair,
    sealed_name: Option<&str>,
    after: impl Fn(&Path, &str),
) -> (PathBuf, String, String) {
    let bag = sample_copy(dir, name);
    let (folder, mut rec) = records(&bag).into_iter().next().expect("a record");
    let file = rec["files"][0]["path"].as_str().expect("path").to_string();
    let folder_path = bag.join("data").join(&folder);
    let content = std::fs::read(folder_path.join(&file)).expect("content");
    let seal_name = sealed_name
        .map(String::from)
        .unwrap_or_else(|| format!("{file}.jws"));
    std::fs::write(folder_path.join(&seal_name), jws(key, &content)).expect("seal");
    let next_order = rec["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["order"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    rec["files"]
        .as_array_mut()
        .expect("files")
        .push(serde_json::json!({"path": seal_name, "order": next_order, "role": "seal"}));
    std::fs::write(
        folder_path.join("record.json"),
        serde_json::to_vec_pretty(&rec).expect("json"),
    )
    .expect("record.json");
    after(&folder_path, &file);
    rebag(&bag, &[("External-Identifier", name)]);
    let code = rec["reference_code"].as_str().expect("档号").to_string();
    (bag, code, seal_name)
}

#[test]
fn a_valid_seal_is_kept_with_its_verdict_and_a_ledger_entry() {
    let a = Archive::new();
    let key = ed25519();
    register(&a, &key);
    let (bag, code, seal) = sealed_sample(a.dir.path(), "SEALED-1", &key, None, |_, _| {});
    let r = a.accept(&bag);
    assert_eq!(r["decision"], "accepted");

    // The verdict is in the record's intake evidence.
    let out = a.run(&["get", &code, "evidence/intake.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).expect("evidence");
    let sealed = ev["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == seal.as_str())
        .expect("the seal file's evidence");
    assert_eq!(sealed["role"], "seal");
    assert_eq!(sealed["seal"]["valid"], true, "{sealed:#}");
    assert_eq!(sealed["seal"]["format"], "jws-detached");

    // And summarised in the ledger, in the transfer's batch.
    let size = r["receipt"]["ledger"]["tree_size"].as_u64().expect("size");
    let out = a.run(&["ledger", "show", &(size - 1).to_string()]);
    let entry: serde_json::Value = serde_json::from_slice(&out.stdout).expect("entry");
    assert_eq!(entry["type"], "seal.verified", "{entry:#}");
    assert_eq!(entry["reference_code"], code.as_str());
    assert_eq!(entry["seal_file"], format!("files/{seal}"));
    assert_eq!(entry["result"], "valid");
    // The receipt names the size of the checkpoint that includes the seal's entry too.
    let both = a.dir.path().join("receipt.txt");
    std::fs::write(
        &both,
        format!(
            "{}\n{}",
            r["signed"].as_str().expect("signed"),
            r["checkpoint"].as_str().expect("checkpoint")
        ),
    )
    .expect("write");
    let v = a.run(&["receipt", "verify", both.to_str().expect("utf-8")]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    for cmd in [&["verify"][..], &["ledger", "verify"][..]] {
        let v = a.run(cmd);
        assert_eq!(v.status.code(), Some(0), "{cmd:?}: {}", text(&v.stdout));
    }
}

/// Rejects `bag` and returns its findings (code, record, file).
fn rejected(a: &Archive, bag: &Path) -> Vec<(String, String, String)> {
    let codes = a.reject(bag);
    assert!(!codes.is_empty());
    let report = a.dir.path().join("report.json");
    let out = a.run(&[
        "transfer",
        bag.to_str().expect("utf-8"),
        "--report",
        report.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_string(),
                f["record"].as_str().unwrap_or_default().to_string(),
                f["file"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_file_changed_after_sealing_or_an_unknown_signer_refuses_the_transfer() {
    let a = Archive::new();
    let key = ed25519();
    register(&a, &key);

    // The file was changed after it was sealed (the manifests are redone, so only the seal
    // can tell).
    let (bag, code, seal) = sealed_sample(a.dir.path(), "SEALED-2", &key, None, |dir, file| {
        let p = dir.join(file);
        let mut b = std::fs::read(&p).expect("read");
        b.extend_from_slice(b"\n% appended after sealing\n");
        std::fs::write(&p, b).expect("write");
    });
    let found = rejected(&a, &bag);
    let hit = found
        .iter()
        .find(|(c, _, f)| c.starts_with("SEAL_") && f.ends_with(&seal))
        .unwrap_or_else(|| panic!("no seal finding on {seal}: {found:?}"));
    assert!(hit.1.contains(&code), "names the record: {hit:?}");
    assert_eq!(hit.0, "SEAL_BAD_SIGNATURE", "{found:?}");

    // Sealed by a key the registry does not hold for this agency.
    let stranger = ed25519();
    let (bag, _, seal) = sealed_sample(a.dir.path(), "SEALED-3", &stranger, None, |_, _| {});
    let found = rejected(&a, &bag);
    assert!(
        found
            .iter()
            .any(|(c, _, f)| c.starts_with("SEAL_") && f.ends_with(&seal)),
        "{found:?}"
    );

    // A seal whose name does not match a file of the record.
    let (bag, _, _) = sealed_sample(
        a.dir.path(),
        "SEALED-4",
        &key,
        Some("no-such-file.pdf.jws"),
        |_, _| {},
    );
    let found = rejected(&a, &bag);
    assert!(
        found.iter().any(|(c, _, _)| c == "SEAL_TARGET_MISSING"),
        "{found:?}"
    );
}

fn set_policy(a: &Archive, toml: &str) {
    let path = a.home.join("config.toml");
    let mut text = std::fs::read_to_string(&path).expect("config");
    text.push('\n');
    text.push_str(toml);
    std::fs::write(&path, text).expect("config");
}

#[test]
fn the_agency_policy_can_require_seals_and_restrict_algorithms() {
    let a = Archive::new();
    let key = ed25519();
    register(&a, &key);
    set_policy(
        &a,
        &format!("[seals.agencies.{AGENCY}]\nrequire_seals = true\nsignature_algorithms = [\"sm2\", \"ecdsa-p256\"]\n"),
    );
    // Records without a seal are refused, one finding per record.
    let bag = sample_copy(a.dir.path(), "UNSEALED");
    rebag(&bag, &[("External-Identifier", "UNSEALED")]);
    let codes = a.reject(&bag);
    let unsealed = records(&bag).len();
    assert_eq!(
        codes.iter().filter(|c| *c == "SEAL_REQUIRED").count(),
        unsealed,
        "{codes:?}"
    );
    // An Ed25519 seal is refused when the agency's policy allows only SM2 and ECDSA P-256.
    let (bag, _, _) = sealed_sample(a.dir.path(), "SEALED-5", &key, None, |_, _| {});
    let codes = a.reject(&bag);
    assert!(
        codes.contains(&"SEAL_ALGORITHM_NOT_ALLOWED".to_string()),
        "{codes:?}"
    );
    // A misspelt rule is an environment error, not silently ignored.
    set_policy(&a, "[seals.agencies.OTHER]\nrequire_seal = true\n");
    let out = a.run(&["transfer", bag.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("require_seal"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_verification_service_signs_its_report() {
    let a = Archive::new();
    let key = ed25519();
    register(&a, &key);
    let dir = a.dir.path();
    let file = dir.join("批复.pdf");
    std::fs::write(&file, b"%PDF-1.4\n% a file sealed by the agency\n%%EOF\n").expect("file");
    let seal = dir.join("批复.pdf.jws");
    std::fs::write(&seal, jws(&key, &std::fs::read(&file).expect("read"))).expect("seal");
    let (code, v) = a.json(&[
        "seal",
        "verify",
        file.to_str().expect("utf-8"),
        "--agency",
        AGENCY,
        "--signed",
    ]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["verdict"]["valid"], true);
    let note = v["signed"].as_str().expect("signed report");
    let report_file = dir.join("report.txt");
    std::fs::write(&report_file, note).expect("write");
    let (code, checked) = a.json(&["receipt", "verify", report_file.to_str().expect("utf-8")]);
    assert_eq!(code, Some(0), "{checked:#}");
    let doc = &checked["document"];
    assert_eq!(doc["type"], "strongroom.seal-verification-report");
    assert_eq!(doc["agency"], AGENCY);
    assert_eq!(doc["file"]["name"], "批复.pdf");
    assert_eq!(doc["verdict"]["valid"], true);
    assert_eq!(doc["checked_by"], "tester");
    // Altered, it no longer verifies.
    std::fs::write(&report_file, note.replacen("批复.pdf", "批复2.pdf", 1)).expect("write");
    let out = a.run(&["receipt", "verify", report_file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
}

/// Python's `cryptography` (installed with pyHanko by tools/test) judges the same detached
/// JWS seals as strongroom: a valid one, and one whose file changed after sealing.
#[test]
fn ed25519_jws_verdicts_agree_with_python_cryptography() {
    let py = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let has = py.exists()
        && std::process::Command::new(&py)
            .args(["-c", "import cryptography"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS")
                .unwrap_or_default()
                .is_empty(),
            "Python cryptography is required here: run the suite with tools/test"
        );
        eprintln!("SKIPPED: Python cryptography not installed in .venv (run tools/test)");
        return;
    }
    const CHECK: &str = r#"
import base64, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
key, jws, data = (open(p, 'rb').read() for p in sys.argv[1:4])
header, empty, sig = jws.decode().strip().split('.')
pad = lambda s: s + '=' * (-len(s) % 4)
try:
    Ed25519PublicKey.from_public_bytes(key).verify(
        base64.urlsafe_b64decode(pad(sig)), header.encode() + b'.' + data)
    print('valid')
except Exception:
    print('invalid')
"#;
    let a = Archive::new();
    let key = ed25519();
    register(&a, &key);
    let dir = a.dir.path();
    let raw = dir.join("agency.raw");
    let file = dir.join("决定书.txt");
    let original = "行政许可决定书\n".as_bytes();
    std::fs::write(&file, original).expect("file");
    let seal = dir.join("决定书.txt.jws");
    std::fs::write(&seal, jws(&key, original)).expect("seal");
    for (content, want) in [
        (original.to_vec(), "valid"),
        ("行政许可决定书（改）\n".as_bytes().to_vec(), "invalid"),
    ] {
        std::fs::write(&file, &content).expect("file");
        let out = std::process::Command::new(&py)
            .args(["-c", CHECK])
            .arg(&raw)
            .arg(&seal)
            .arg(&file)
            .output()
            .expect("python");
        assert_eq!(text(&out.stdout).trim(), want, "{}", text(&out.stderr));
        let (code, v) = a.json(&[
            "seal",
            "verify",
            file.to_str().expect("utf-8"),
            "--agency",
            AGENCY,
        ]);
        assert_eq!(v["verdict"]["valid"], want == "valid", "{v:#}");
        assert_eq!(code, Some(if want == "valid" { 0 } else { 1 }));
    }
}
