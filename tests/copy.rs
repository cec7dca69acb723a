//! Court copies (issue 7) through the binaries: `strongroom copy` issues a bundle that
//! `strongroom copy verify` and the standalone `verify-copy` (built on its own with
//! `cargo build -p verify-copy`) accept; every tamper case of the issue is rejected with a
//! failing check that names it; a bundle issued before later intakes verifies against a later
//! checkpoint through a consistency proof; refusals change nothing.
//!
//! Some tamper cases re-sign the manifest with the archive's own key, to show that the layer
//! below the manifest (proofs, the checkpoint, the inventory's link to the ledger) catches the
//! change by itself, even if the archive itself re-signed the bundle.
//!
//! Run with `cargo test --test copy`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{text, Archive};
use serde_json::Value;
use strongroom::digest::{sha256_hex, sha512_hex};
use strongroom::sign::ArchiveKey;

/// The standalone verifier, built once by cargo on its own (`-p verify-copy`) in a target
/// folder of its own, so it cannot lean on anything strongroom's build produced.
fn verify_copy_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target").join("verify-copy-standalone");
        let out = Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["build", "--quiet", "--offline", "-p", "verify-copy"])
            .arg("--target-dir")
            .arg(&target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo build -p verify-copy failed: {}",
            text(&out.stderr)
        );
        target.join("debug").join("verify-copy")
    })
}

/// An archive with the sample transfer, one read of the first record, and its verifier key
/// in a file.
struct Fixture {
    archive: Archive,
    refcode: String,
    vkey: PathBuf,
}

fn fixture() -> Fixture {
    let archive = Archive::new();
    archive.accept(&common::sample());
    let (_, list) = archive.json(&["list"]);
    let refcode = list[0]["reference_code"].as_str().unwrap().to_string();
    let out = archive.run(&["show", &refcode, "--purpose", "court request check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let vkey = archive.dir.path().join("archive.vkey");
    let out = archive.run(&["ledger", "vkey"]);
    std::fs::write(&vkey, &out.stdout).unwrap();
    Fixture {
        archive,
        refcode,
        vkey,
    }
}

impl Fixture {
    fn issue(&self, name: &str) -> (PathBuf, Value) {
        let out = self.archive.dir.path().join(name);
        let (code, v) = self.archive.json(&[
            "copy",
            &self.refcode,
            "--request",
            "(2026)浙0102民初123号 调取函",
            "--for",
            "杭州市上城区人民法院",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "copy failed: {v:#}");
        (out, v)
    }

    /// `strongroom copy verify --json --key` on a bundle: (exit code, report).
    fn verify(&self, bundle: &Path, extra: &[&str]) -> (Option<i32>, Value) {
        let mut args = vec![
            "copy",
            "verify",
            bundle.to_str().unwrap(),
            "--key",
            self.vkey.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.archive.json(&args)
    }

    fn key(&self) -> ArchiveKey {
        ArchiveKey::load(&self.archive.home).unwrap()
    }
}

/// The failed checks of a report, as `check: subject: message` lines.
fn failures(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == Value::Bool(false))
        .map(|c| {
            format!(
                "{}: {}: {}",
                c["check"].as_str().unwrap(),
                c["subject"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect()
}

fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().to_string(), b)
        })
        .collect()
}

fn write_zip(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in files {
        z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

fn get<'a>(files: &'a mut [(String, Vec<u8>)], name: &str) -> &'a mut Vec<u8> {
    &mut files.iter_mut().find(|(n, _)| n == name).unwrap().1
}

fn manifest(files: &[(String, Vec<u8>)]) -> Value {
    let note =
        std::str::from_utf8(&files.iter().find(|(n, _)| n == "manifest.note").unwrap().1).unwrap();
    serde_json::from_str(note.split('\n').next().unwrap()).unwrap()
}

/// Re-lists every file's digests in the manifest and signs it with `key`.
fn resign(files: &mut [(String, Vec<u8>)], key: &ArchiveKey) {
    let mut m = manifest(files);
    let mut listed: Vec<Value> = files
        .iter()
        .filter(|(n, _)| n != "manifest.note")
        .map(|(n, b)| {
            serde_json::json!({"path": n, "size": b.len(), "sha256": sha256_hex(b), "sha512": sha512_hex(b)})
        })
        .collect();
    listed.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    m["files"] = Value::Array(listed);
    *get(files, "manifest.note") = key.sign_document(&m).unwrap().into_bytes();
}

/// Tampers with a copy of `bundle`, verifies it, and asserts it is rejected with a failed
/// `check` whose line mentions `word`.
fn assert_rejected(
    f: &Fixture,
    bundle: &Path,
    case: &str,
    check: &str,
    word: &str,
    tamper: impl FnOnce(&mut Vec<(String, Vec<u8>)>),
) {
    let mut files = read_zip(bundle);
    tamper(&mut files);
    let out = f
        .archive
        .dir
        .path()
        .join(format!("tampered-{}.zip", case.replace(' ', "-")));
    write_zip(&out, &files);
    let (code, report) = f.verify(&out, &[]);
    let failed = failures(&report);
    assert_eq!(code, Some(1), "{case}: accepted: {report:#}");
    assert_eq!(report["valid"], Value::Bool(false), "{case}");
    assert!(
        failed
            .iter()
            .any(|l| l.starts_with(&format!("{check}:")) && l.contains(word)),
        "{case}: no failed {check} check mentioning {word:?}; failures: {failed:#?}"
    );
}

fn record_path(f: &Fixture, rest: &str) -> String {
    format!("records/{}/{rest}", f.refcode)
}

#[test]
fn a_copy_verifies_and_every_tamper_case_is_rejected_by_name() {
    let f = fixture();
    let (bundle, issued) = f.issue("copy.zip");
    let size = issued["checkpoint_size"].as_u64().unwrap();
    // transfer.accepted, record.stored and the read at least; the issue's own entry follows.
    assert!(
        issued["records"][0]["entries"].as_u64().unwrap() >= 3,
        "{issued:#}"
    );
    assert_eq!(issued["ledger_index"].as_u64(), Some(size));

    // The copy.issued entry names the manifest's digest, the court and the record.
    let (code, entry) = f.archive.json(&["ledger", "show", &size.to_string()]);
    assert_eq!(code, Some(0));
    assert_eq!(entry["type"], "copy.issued");
    assert_eq!(entry["manifest_sha256"], issued["manifest_sha256"]);
    assert_eq!(entry["requested_for"], "杭州市上城区人民法院");
    assert_eq!(entry["records"][0].as_str(), Some(f.refcode.as_str()));
    let files = read_zip(&bundle);
    let note = std::str::from_utf8(&files.iter().find(|(n, _)| n == "manifest.note").unwrap().1)
        .unwrap()
        .to_string();
    let text_end = note.rfind("\n\n").unwrap() + 1;
    assert_eq!(
        entry["manifest_sha256"].as_str(),
        Some(sha256_hex(&note.as_bytes()[..text_end]).as_str())
    );
    assert_eq!(manifest(&files)["copy_id"], entry["copy_id"]);
    // The files are the stored ones, byte for byte.
    let (_, show) = f.archive.json(&["show", &f.refcode]);
    for file in show["files"].as_array().unwrap() {
        let name = record_path(&f, &format!("v1/{}", file["path"].as_str().unwrap()));
        let (_, bytes) = files.iter().find(|(n, _)| *n == name).unwrap();
        assert_eq!(sha512_hex(bytes), file["sha512"].as_str().unwrap());
    }

    // It verifies, through strongroom and through the standalone verifier.
    let (code, report) = f.verify(&bundle, &[]);
    assert_eq!(code, Some(0), "{:#?}", failures(&report));
    assert_eq!(report["key_source"], "given");
    let out = Command::new(verify_copy_bin())
        .arg(&bundle)
        .arg("--key")
        .arg(&f.vkey)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    for check in [
        "manifest.signature",
        "checkpoint.signature",
        "entry.proof",
        "record.inventory",
        "record.files",
    ] {
        assert!(stdout.contains(&format!("PASS {check}")), "{stdout}");
    }
    assert!(stdout.ends_with("VALID: every check passed\n"), "{stdout}");
    // Without --key it still runs, with the bundle's key and a loud notice.
    let out = Command::new(verify_copy_bin())
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("NO KEY GIVEN"),
        "{}",
        text(&out.stderr)
    );

    let pdf = record_path(&f, "v1/files/正文.pdf");
    let list = record_path(&f, "v1/files/附件/清单.txt");
    let record_json = record_path(&f, "v1/record.json");
    let key = f.key();
    let other = ArchiveKey::generate(key.name()).unwrap();

    assert_rejected(
        &f,
        &bundle,
        "changed file byte",
        "file.digest",
        "changed",
        |files| {
            get(files, &pdf)[10] ^= 0x01;
        },
    );
    assert_rejected(
        &f,
        &bundle,
        "file removed",
        "files.listed",
        "removed",
        |files| {
            files.retain(|(n, _)| *n != list);
        },
    );
    assert_rejected(
        &f,
        &bundle,
        "file added",
        "files.listed",
        "added",
        |files| {
            files.push((
                record_path(&f, "v1/files/补充.txt"),
                b"added later".to_vec(),
            ));
        },
    );
    assert_rejected(
        &f,
        &bundle,
        "changed record.json",
        "file.digest",
        "record.json",
        |files| {
            let b = get(files, &record_json);
            *b = String::from_utf8(b.clone())
                .unwrap()
                .replacen("通知", "通告", 1)
                .into_bytes();
        },
    );
    // Even re-signed by the archive, a changed record.json is not the one the ledger recorded.
    assert_rejected(
        &f,
        &bundle,
        "changed record.json re-signed",
        "record.files",
        "record.json changed",
        |files| {
            let b = get(files, &record_json);
            *b = String::from_utf8(b.clone())
                .unwrap()
                .replacen("通知", "通告", 1)
                .into_bytes();
            resign(files, &key);
        },
    );
    let proof = record_path(&f, "ledger/1.tlog-proof");
    assert_rejected(
        &f,
        &bundle,
        "proof hash changed",
        "entry.proof",
        "inclusion proof fails",
        |files| {
            let t = String::from_utf8(get(files, &proof).clone()).unwrap();
            let mut lines: Vec<String> = t.split('\n').map(String::from).collect();
            // Line 3 is the first proof hash (header, extra, index come first).
            let mut h = B64.decode(&lines[3]).unwrap();
            h[0] ^= 0x80;
            lines[3] = B64.encode(h);
            *get(files, &proof) = lines.join("\n").into_bytes();
            resign(files, &key);
        },
    );
    assert_rejected(
        &f,
        &bundle,
        "checkpoint from a different key",
        "checkpoint.signature",
        "no signature by the trusted key",
        |files| {
            let t = String::from_utf8(get(files, "checkpoint.note").clone()).unwrap();
            let body = &t[..t.rfind("\n\n").unwrap() + 1];
            *get(files, "checkpoint.note") = other.sign_note(body).unwrap().into_bytes();
            resign(files, &key);
        },
    );
    assert_rejected(
        &f,
        &bundle,
        "checkpoint size changed",
        "checkpoint.signature",
        "does not verify",
        |files| {
            let t = String::from_utf8(get(files, "checkpoint.note").clone()).unwrap();
            let size_line = format!("\n{size}\n");
            *get(files, "checkpoint.note") = t
                .replacen(&size_line, &format!("\n{}\n", size + 1), 1)
                .into_bytes();
        },
    );
    assert_rejected(
        &f,
        &bundle,
        "manifest signed by another key",
        "manifest.signature",
        "no signature by the trusted key",
        |files| {
            resign(files, &other);
        },
    );
    assert_rejected(
        &f,
        &bundle,
        "ledger entry altered",
        "entry.proof",
        "inclusion proof fails",
        |files| {
            let t = String::from_utf8(get(files, &proof).clone()).unwrap();
            let mut lines: Vec<String> = t.split('\n').map(String::from).collect();
            let entry = String::from_utf8(
                B64.decode(lines[1].strip_prefix("extra ").unwrap())
                    .unwrap(),
            )
            .unwrap();
            let altered = entry.replacen("\"actor\":\"tester\"", "\"actor\":\"someone\"", 1);
            assert_ne!(entry, altered);
            lines[1] = format!("extra {}", B64.encode(altered));
            *get(files, &proof) = lines.join("\n").into_bytes();
            resign(files, &key);
        },
    );

    // The standalone verifier rejects a tampered bundle too, naming the check.
    let tampered = f.archive.dir.path().join("tampered-changed-file-byte.zip");
    let out = Command::new(verify_copy_bin())
        .arg(&tampered)
        .arg("--key")
        .arg(&f.vkey)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("FAIL file.digest"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).ends_with("INVALID: see the FAIL lines above\n"));
}

#[test]
fn a_copy_verifies_against_a_later_checkpoint_through_a_consistency_proof() {
    let f = fixture();
    let (bundle, issued) = f.issue("early.zip");
    let size = issued["checkpoint_size"].as_u64().unwrap();
    // Later intakes: the ledger grows past the bundle's checkpoint.
    let later_pkg = common::next_year_package(f.archive.dir.path(), "YJ-2017-LATER", |_, _, _| {});
    f.archive.accept(&later_pkg);
    let (_, cp) = f.archive.json(&["ledger", "checkpoint"]);
    let later_size = cp["size"].as_u64().unwrap();
    assert!(later_size > size + 1);
    // The entry index read the whole (short) ledger once, and now reads only what is new.
    assert_eq!(issued["entries_scanned"].as_u64(), Some(size));
    let (_, second) = f.issue("second.zip");
    assert_eq!(second["entries_scanned"].as_u64(), Some(later_size - size));
    assert_eq!(second["checkpoint_size"].as_u64(), Some(later_size));
    // It is a cache: deleted, it is rebuilt from the ledger and finds the same entries.
    std::fs::remove_dir_all(f.archive.home.join("cache/copy-index")).unwrap();
    let (_, third) = f.issue("third.zip");
    assert_eq!(third["entries_scanned"].as_u64(), Some(later_size + 1));
    // The earlier copy's copy.issued entry names the record: later copies carry it.
    assert_eq!(
        third["records"][0]["entries"].as_u64(),
        Some(second["records"][0]["entries"].as_u64().unwrap() + 1)
    );
    let known = f.archive.dir.path().join("later.checkpoint");
    std::fs::write(&known, cp["note"].as_str().unwrap()).unwrap();
    let out = f.archive.run(&[
        "ledger",
        "consistency",
        &size.to_string(),
        &later_size.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let proof = f.archive.dir.path().join("consistency.txt");
    std::fs::write(&proof, &out.stdout).unwrap();

    let args = [
        "--known-checkpoint",
        known.to_str().unwrap(),
        "--consistency",
        proof.to_str().unwrap(),
    ];
    let (code, report) = f.verify(&bundle, &args);
    assert_eq!(code, Some(0), "{:#?}", failures(&report));
    let known_check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "known-checkpoint")
        .unwrap();
    assert_eq!(known_check["passed"], Value::Bool(true));
    let out = Command::new(verify_copy_bin())
        .arg(&bundle)
        .args(["--key", f.vkey.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // A proof that does not link the two, or none at all, is refused by name.
    let lines = text(&std::fs::read(&proof).unwrap());
    let first_dropped: String = lines.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&proof, first_dropped).unwrap();
    let (code, report) = f.verify(&bundle, &args);
    assert_eq!(code, Some(1));
    assert!(
        failures(&report)
            .iter()
            .any(|l| l.starts_with("known-checkpoint:")),
        "{report:#}"
    );
    let (code, report) = f.verify(&bundle, &["--known-checkpoint", known.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        failures(&report)
            .iter()
            .any(|l| l.contains("--consistency")),
        "{report:#}"
    );
}

#[test]
fn refused_copies_write_nothing_and_append_nothing() {
    let f = fixture();
    let (_, before) = f.archive.json(&["ledger", "checkpoint"]);
    let out_path = f.archive.dir.path().join("none.zip");
    let out = f.archive.run(&[
        "copy",
        "0194-WS·2016-D30-BGS-9999",
        "--request",
        "r",
        "--for",
        "c",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no record with 档号"),
        "{}",
        text(&out.stdout)
    );
    let out = f.archive.run(&[
        "copy",
        &f.refcode,
        "--version",
        "7",
        "--request",
        "r",
        "--for",
        "c",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("no version v7"),
        "{}",
        text(&out.stdout)
    );
    assert!(!out_path.exists());
    std::fs::write(&out_path, b"keep me").unwrap();
    let out = f.archive.run(&[
        "copy",
        &f.refcode,
        "--request",
        "r",
        "--for",
        "c",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&out_path).unwrap(), b"keep me");
    let (_, after) = f.archive.json(&["ledger", "checkpoint"]);
    assert_eq!(
        before["size"], after["size"],
        "a refused copy appended to the ledger"
    );
    // A stored file that no longer matches its inventory is never certified.
    std::fs::remove_file(&out_path).unwrap();
    let (_, show) = f.archive.json(&["show", &f.refcode]);
    let (_, before) = f.archive.json(&["ledger", "checkpoint"]);
    let pdf = show["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"].as_str().unwrap().ends_with(".pdf"))
        .unwrap();
    let stored = f
        .archive
        .store()
        .join(show["object_root"].as_str().unwrap())
        .join(pdf["content_path"].as_str().unwrap());
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&stored, bytes).unwrap();
    let out = f.archive.run(&[
        "copy",
        &f.refcode,
        "--request",
        "r",
        "--for",
        "c",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("does not match its inventory digest"),
        "{}",
        text(&out.stdout)
    );
    assert!(!out_path.exists());
    let (_, after) = f.archive.json(&["ledger", "checkpoint"]);
    assert_eq!(
        before["size"], after["size"],
        "a refused copy appended to the ledger"
    );
    // No partial file is left beside the output.
    let leftovers: Vec<_> = std::fs::read_dir(f.archive.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty());
}

/// A local RFC 3161 timestamp authority: `openssl ts -reply` behind a one-thread HTTP
/// endpoint on 127.0.0.1, with its own RSA key and a self-signed timeStamping certificate.
struct Tsa {
    dir: tempfile::TempDir,
    url: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

const TS_CNF: &str = "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = ./serial\n\
crypto_device = builtin\nsigner_cert = ./tsa.crt\nsigner_key = ./tsa.key\nsigner_digest = sha256\n\
default_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\n\
tsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n[ req ]\ndistinguished_name = dn\n\
prompt = no\n[ dn ]\nCN = strongroom test TSA\n[ ext ]\nbasicConstraints = critical,CA:false\n\
keyUsage = critical,digitalSignature\nextendedKeyUsage = critical,timeStamping\n";

impl Tsa {
    fn start() -> Tsa {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ts.cnf"), TS_CNF).unwrap();
        std::fs::write(dir.path().join("serial"), "01\n").unwrap();
        let out = Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key",
            ])
            .args([
                "-out",
                "tsa.crt",
                "-days",
                "3650",
                "-config",
                "ts.cnf",
                "-extensions",
                "ext",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/tsa", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (count, path) = (requests.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let Ok(k) = conn.read(&mut chunk) else {
                        break None;
                    };
                    if k == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..k]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break Some(buf[end + 4..end + 4 + len].to_vec());
                        }
                    }
                };
                let Some(body) = body else { continue };
                let (q, r) = (format!("q{n}.tsq"), format!("r{n}.tsr"));
                std::fs::write(path.join(&q), body).unwrap();
                let ok = Command::new("openssl")
                    .current_dir(&path)
                    .args([
                        "ts",
                        "-reply",
                        "-queryfile",
                        &q,
                        "-config",
                        "ts.cnf",
                        "-out",
                        &r,
                    ])
                    .output()
                    .is_ok_and(|o| o.status.success());
                let reply = if ok {
                    std::fs::read(path.join(&r)).unwrap()
                } else {
                    Vec::new()
                };
                let status = if ok {
                    "200 OK"
                } else {
                    "500 Internal Server Error"
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&reply);
            }
        });
        Tsa { dir, url, requests }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("tsa.crt")
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn configure_tsa(f: &Fixture, url: &str) {
    let path = f.archive.home.join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[timestamp]\nurl = \"{url}\"\ntimeout_secs = 20\n"
    ));
    std::fs::write(path, config).unwrap();
}

#[test]
fn a_timestamped_copy_carries_an_rfc3161_token_that_the_verifier_checks() {
    let tsa = Tsa::start();
    let f = fixture();
    configure_tsa(&f, &tsa.url);
    let (bundle, issued) = f.issue("stamped.zip");
    let size = issued["checkpoint_size"].as_u64().unwrap();
    assert_eq!(tsa.requests(), 1);
    // The token is kept in the store, one per checkpoint size.
    assert!(f
        .archive
        .store()
        .join(format!("timestamps/{size:020}.tst"))
        .is_file());

    let cert = tsa.cert();
    let (code, report) = f.verify(&bundle, &["--tsa-cert", cert.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{:#?}", failures(&report));
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "checkpoint.timestamp")
        .unwrap();
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("given TSA certificate"),
        "{check}"
    );
    let m = manifest(&read_zip(&bundle));
    assert_eq!(
        m["checkpoint"]["timestamp"]["authority"].as_str(),
        Some(tsa.url.as_str())
    );

    // OpenSSL agrees that the token stamps checkpoint.note.
    let files = read_zip(&bundle);
    let dir = f.archive.dir.path();
    for name in ["checkpoint.note", "checkpoint.tst"] {
        std::fs::write(
            dir.join(name),
            &files.iter().find(|(n, _)| n == name).unwrap().1,
        )
        .unwrap();
    }
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "ts",
            "-verify",
            "-data",
            "checkpoint.note",
            "-in",
            "checkpoint.tst",
            "-token_in",
        ])
        .arg("-CAfile")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("Verification: OK"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // Without the certificate: valid, with a notice; with another TSA's: refused by name.
    let (code, report) = f.verify(&bundle, &[]);
    assert_eq!(code, Some(0));
    assert!(report["notices"]
        .to_string()
        .contains("NO TSA CERTIFICATE GIVEN"));
    let other = Tsa::start();
    let (code, report) = f.verify(&bundle, &["--tsa-cert", other.cert().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        failures(&report)
            .iter()
            .any(|l| l.starts_with("checkpoint.timestamp:")),
        "{report:#}"
    );
    // A token altered (even with the manifest re-signed by the archive) is refused.
    let key = f.key();
    assert_rejected(
        &f,
        &bundle,
        "timestamp altered",
        "checkpoint.timestamp",
        "checkpoint.tst",
        |files| {
            let t = get(files, "checkpoint.tst");
            let at = t.len() - 30;
            t[at] ^= 0x01;
            resign(files, &key);
        },
    );
}

/// With an authority configured, each transfer's checkpoint is timestamped as it is published,
/// and `ledger timestamp` stamps the latest on demand (once per checkpoint).
#[test]
fn a_transfer_timestamps_its_checkpoint_and_ledger_timestamp_stamps_the_latest() {
    let tsa = Tsa::start();
    let archive = Archive::new();
    let path = archive.home.join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!("\n[timestamp]\nurl = \"{}\"\n", tsa.url));
    std::fs::write(path, config).unwrap();
    archive.accept(&common::sample());
    let (_, cp) = archive.json(&["ledger", "checkpoint"]);
    let size = cp["size"].as_u64().unwrap();
    let token = archive.store().join(format!("timestamps/{size:020}.tst"));
    assert!(token.is_file(), "the transfer's checkpoint is stamped");
    assert_eq!(tsa.requests(), 1);
    // A read appends an entry: a new checkpoint, stamped on demand.
    let (_, list) = archive.json(&["list"]);
    let refcode = list[0]["reference_code"].as_str().unwrap().to_string();
    let out = archive.run(&["show", &refcode]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (code, v) = archive.json(&["ledger", "timestamp"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["size"].as_u64(), Some(size + 1));
    assert_eq!(tsa.requests(), 2);
    let (code, _) = archive.json(&["ledger", "timestamp"]);
    assert_eq!(code, Some(0));
    assert_eq!(tsa.requests(), 2, "a stamped checkpoint keeps its token");
}

#[test]
fn an_unreachable_timestamp_authority_issues_no_copy() {
    let f = fixture();
    // A port nobody listens on: bind one, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    configure_tsa(&f, &format!("http://127.0.0.1:{port}/tsa"));
    let (_, before) = f.archive.json(&["ledger", "checkpoint"]);
    let out_path = f.archive.dir.path().join("unstamped.zip");
    let out = f.archive.run(&[
        "copy",
        &f.refcode,
        "--request",
        "r",
        "--for",
        "c",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("timestamp authority"),
        "{}",
        text(&out.stderr)
    );
    assert!(!out_path.exists());
    let (_, after) = f.archive.json(&["ledger", "checkpoint"]);
    assert_eq!(before["size"], after["size"]);
}

/// A detached JWS (RFC 7797, EdDSA) over `payload`, as an agency's seal.
fn jws(key: &ring::signature::Ed25519KeyPair, payload: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","b64":false,"crit":["b64"]}"#);
    let mut input = format!("{h}.").into_bytes();
    input.extend_from_slice(payload);
    format!("{h}..{}", URL_SAFE_NO_PAD.encode(key.sign(&input).as_ref()))
}

#[test]
fn a_sealed_record_carries_its_seal_anchor_tied_to_the_registry_entries() {
    use ring::signature::KeyPair as _;
    let a = Archive::new();
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let raw = a.dir.path().join("agency.raw");
    std::fs::write(&raw, key.public_key().as_ref()).unwrap();
    let out = a.run(&[
        "seal",
        "trust",
        "add",
        "--agency",
        "11330100MB0000000X",
        "--key",
        raw.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The sample with a seal over the first record's first file.
    let bag = common::sample_copy(a.dir.path(), "SEALED-COPY");
    let (folder, mut rec) = common::records(&bag).into_iter().next().unwrap();
    let file = rec["files"][0]["path"].as_str().unwrap().to_string();
    let folder = bag.join("data").join(folder);
    let seal = format!("{file}.jws");
    std::fs::write(
        folder.join(&seal),
        jws(&key, &std::fs::read(folder.join(&file)).unwrap()),
    )
    .unwrap();
    let order = rec["files"].as_array().unwrap().len() as u64 + 1;
    rec["files"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"path": seal, "order": order, "role": "seal"}));
    common::write_json(&folder.join("record.json"), &rec);
    common::rebag(&bag, &[("External-Identifier", "SEALED-COPY")]);
    a.accept(&bag);
    let refcode = rec["reference_code"].as_str().unwrap().to_string();
    let vkey = a.dir.path().join("archive.vkey");
    std::fs::write(&vkey, a.run(&["ledger", "vkey"]).stdout).unwrap();
    let f = Fixture {
        archive: a,
        refcode,
        vkey,
    };

    let (bundle, issued) = f.issue("sealed.zip");
    let m = manifest(&read_zip(&bundle));
    let anchors = m["records"][0]["seal_anchors"].as_array().unwrap();
    assert_eq!(anchors.len(), 1, "{m:#}");
    let types: Vec<&str> = m["records"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"seal.verified") && types.contains(&"seal.anchor.added"),
        "{types:?}"
    );
    assert!(issued["records"][0]["entries"].as_u64().unwrap() >= 4);
    let (code, report) = f.verify(&bundle, &[]);
    assert_eq!(code, Some(0), "{:#?}", failures(&report));
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check"] == "record.seal-anchors" && c["passed"] == Value::Bool(true)));
    // The seal file itself is in the copy, beside the file it seals.
    assert!(read_zip(&bundle)
        .iter()
        .any(|(n, _)| n.ends_with(&format!("v1/files/{seal}"))));

    // Another key put in the anchor's place is not the anchor the registry recorded.
    let der = anchors[0]["der"].as_str().unwrap().to_string();
    let key2 = f.key();
    assert_rejected(
        &f,
        &bundle,
        "seal anchor swapped",
        "record.seal-anchors",
        "fingerprint",
        |files| {
            let b = get(files, &der);
            let at = b.len() - 1;
            b[at] ^= 0x01;
            resign(files, &key2);
        },
    );
}
