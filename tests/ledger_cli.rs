//! `strongroom ledger …` through the binary, on a real home and `file://` store: the
//! checkpoint verifies with the archive's vkey, `prove` and `consistency` output verifies with
//! nothing but the merkle functions, `verify` passes on a good ledger and names a changed
//! bundle file.

mod common;

use bytes::Bytes;
use common::*;
use strongroom::ledger::checkpoint::Checkpoint;
use strongroom::ledger::entry::{Entry, Event};
use strongroom::ledger::log::{Ledger, TlogProof};
use strongroom::ledger::merkle::{self, Hash, LeafIndex, TreeSize};
use strongroom::sign::{self, ArchiveKey, Verifier};
use strongroom::store::Store;

/// The ledger's origin as the CLI derives it from `archive.json`.
fn origin(a: &Archive) -> String {
    let info: serde_json::Value = serde_json::from_slice(
        &std::fs::read(a.store().join("archive.json")).expect("archive.json"),
    )
    .expect("json");
    info.get("ledger_origin")
        .or_else(|| info.get("key_name"))
        .and_then(|v| v.as_str())
        .expect("origin")
        .to_string()
}

/// Appends `batches` of valid entries through the library, as a writer would.
fn append(a: &Archive, batches: &[u64]) -> Vec<u64> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let url = format!("file://{}", a.store().display());
        let store = Store::open(&url).expect("store");
        let key = ArchiveKey::load(&a.home).expect("key");
        let ledger = Ledger::new(store.clone(), origin(a));
        let lock = store.lock_writer("tester").await.expect("lock");
        let mut sizes = Vec::new();
        for &b in batches {
            let batch: Vec<Bytes> = (0..b)
                .map(|i| {
                    let e = Entry::new(
                        &Event::RecordRead {
                            reference_code: format!("0194-WS·2016-D30-BGS-{i:04}"),
                            object_id: format!("urn:strongroom:0194-WS·2016-D30-BGS-{i:04}"),
                            version: "v1".into(),
                            file: None,
                            purpose: "ledger CLI test".into(),
                        },
                        "tester",
                        "2026-01-01T00:00:00Z",
                    );
                    Bytes::from(e.encode().expect("encode"))
                })
                .collect();
            let done = ledger.append(&lock, &key, &batch).await.expect("append");
            sizes.push(done.checkpoint.size());
        }
        lock.release().await.expect("release");
        sizes
    })
}

fn ok(a: &Archive, args: &[&str]) -> String {
    let out = a.run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn ledger_commands_prove_and_verify() {
    let a = Archive::new();
    a.accept(&sample());
    let before = a.run(&["ledger", "checkpoint"]);
    let logged = if before.status.code() == Some(0) {
        Checkpoint::parse(
            text(&before.stdout)
                .split_once("\n\n")
                .map(|(t, _)| format!("{t}\n"))
                .as_deref()
                .expect("note text"),
        )
        .expect("checkpoint")
        .size()
        .0
    } else {
        // The transfer did not log entries (yet): the ledger starts empty.
        assert_eq!(before.status.code(), Some(1), "{}", text(&before.stderr));
        0
    };
    let sizes = append(&a, &[5, 295, 44]);
    let size = logged + 344;
    assert_eq!(sizes.last().copied(), Some(size));
    let origin = origin(&a);

    // The checkpoint verifies with the vkey, by the signed-note check alone and as a
    // checkpoint of this log.
    let note = ok(&a, &["ledger", "checkpoint"]);
    let vkey = ok(&a, &["ledger", "vkey"]);
    let verifier = Verifier::from_verifier_key(vkey.trim()).expect("vkey");
    sign::verify_note(&note, &verifier).expect("signed by the archive key");
    let cp = Checkpoint::verify(&note, &verifier, &origin).expect("checkpoint");
    assert_eq!(cp.size(), TreeSize(size));

    // prove: the tlog-proof verifies with nothing but the merkle functions.
    for (index, at) in [
        (logged + 7, None),
        (size - 1, None),
        (logged, Some(sizes[0])),
    ] {
        let mut args = vec!["ledger".to_string(), "prove".into(), index.to_string()];
        if let Some(s) = at {
            args.extend(["--size".into(), s.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text_proof = ok(&a, &args);
        assert!(text_proof.starts_with("c2sp.org/tlog-proof@v1\nextra "));
        let p = TlogProof::parse(&text_proof).expect("tlog-proof");
        assert_eq!(p.index, index);
        let c = Checkpoint::verify(&p.checkpoint, &verifier, &origin).expect("its checkpoint");
        assert_eq!(c.size().0, at.unwrap_or(size));
        let entry = p.extra.as_deref().expect("the entry's bytes");
        merkle::verify_inclusion(
            LeafIndex(index),
            c.size(),
            &merkle::leaf_hash(entry),
            &p.proof,
            c.root(),
        )
        .expect("inclusion verifies");
        // show: the same entry, decoded.
        let shown: serde_json::Value =
            serde_json::from_str(&ok(&a, &["ledger", "show", &index.to_string()]))
                .expect("show prints JSON");
        assert_eq!(shown["type"], "record.read");
        assert_eq!(
            Entry::decode(entry).expect("decode").actor,
            shown["actor"].as_str().expect("actor")
        );
    }

    // consistency: base64 hashes, one per line, from a kept checkpoint to the latest.
    let old = sizes[1];
    let old_note = std::fs::read_to_string(a.store().join(format!("ledger/checkpoints/{old:020}")))
        .expect("kept checkpoint");
    let old_cp = Checkpoint::verify(&old_note, &verifier, &origin).expect("old checkpoint");
    let lines = ok(
        &a,
        &["ledger", "consistency", &old.to_string(), &size.to_string()],
    );
    let proof: Vec<Hash> = lines
        .lines()
        .map(|l| Hash::from_base64(l).expect("base64 hash"))
        .collect();
    assert!(!proof.is_empty());
    merkle::verify_consistency(
        TreeSize(old),
        TreeSize(size),
        &proof,
        old_cp.root(),
        cp.root(),
    )
    .expect("consistency verifies");

    // verify: intact, also since a checkpoint kept earlier; then a changed bundle byte.
    let out = ok(&a, &["ledger", "verify"]);
    assert!(out.contains("ledger intact"), "{out}");
    let since = a.dir.path().join("old.checkpoint");
    std::fs::write(&since, &old_note).expect("write");
    ok(
        &a,
        &[
            "ledger",
            "verify",
            "--since",
            since.to_str().expect("utf-8"),
        ],
    );
    let bundle = a.store().join("ledger/tile/entries/000");
    let mut bytes = std::fs::read(&bundle).expect("bundle 0");
    bytes[10] ^= 0x01;
    std::fs::write(&bundle, &bytes).expect("tamper");
    let out = a.run(&["ledger", "verify"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("LEDGER_BUNDLE_MISMATCH ledger/tile/entries/000:"),
        "{stdout}"
    );
    let (code, v) = a.json(&["ledger", "verify"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["findings"][0]["path"], "ledger/tile/entries/000");

    // Usage errors exit 2.
    let out = a.run(&["ledger", "show", &size.to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
