//! The archive as a user drives it: the binary, a real home and store on disk.

mod common;

use common::*;
use std::path::Path;

#[test]
fn sample_transfer_is_accepted_listed_shown_fetched_and_verified() {
    let a = Archive::new();
    let dir = a.dir.path();
    let receipt_file = dir.join("receipt.txt");
    let out = a.run(&[
        "transfer",
        sample().to_str().expect("utf-8"),
        "--receipt",
        receipt_file.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let records = records(&sample());
    assert!(records.len() >= 3, "the sample has several records");
    for (_, r) in &records {
        let code = r["reference_code"].as_str().expect("档号");
        assert!(stdout.contains(code), "receipt names {code}");
    }
    assert!(
        stdout.contains("档案移交接收登记表"),
        "printable register form"
    );

    // The signed receipt verifies with the archive's key, and not once altered.
    let v = a.run(&["receipt", "verify", receipt_file.to_str().expect("utf-8")]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    let stdout_file = dir.join("stdout.txt");
    std::fs::write(&stdout_file, &out.stdout).expect("write");
    let v = a.run(&["receipt", "verify", stdout_file.to_str().expect("utf-8")]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "the note is found inside the printed output"
    );
    let signed = std::fs::read_to_string(&receipt_file).expect("receipt");
    let tampered = signed.replacen("\"files\"", "\"filez\"", 1);
    assert_ne!(tampered, signed);
    std::fs::write(&receipt_file, tampered).expect("write");
    let v = a.run(&["receipt", "verify", receipt_file.to_str().expect("utf-8")]);
    assert_eq!(
        v.status.code(),
        Some(1),
        "a tampered receipt must not verify"
    );

    // list / show / get
    let (code, list) = a.json(&["list"]);
    assert_eq!(code, Some(0));
    assert_eq!(list.as_array().map(Vec::len), Some(records.len()));
    let (folder, first) = &records[0];
    let refcode = first["reference_code"].as_str().expect("档号");
    let (code, shown) = a.json(&["show", refcode]);
    assert_eq!(code, Some(0));
    assert_eq!(shown["head"], "v1");
    assert_eq!(shown["metadata"]["title"], first["title"]);
    assert_eq!(shown["object_id"], format!("urn:strongroom:{refcode}"));
    for f in first["files"].as_array().expect("files") {
        let path = f["path"].as_str().expect("path");
        let got = a.run(&["get", refcode, path]);
        assert_eq!(
            got.status.code(),
            Some(0),
            "get {path}: {}",
            text(&got.stderr)
        );
        let want =
            std::fs::read(sample().join("data").join(folder).join(path)).expect("sample file");
        assert_eq!(
            got.stdout, want,
            "get returns the bytes as received: {path}"
        );
        assert!(shown["files"]
            .as_array()
            .expect("files")
            .iter()
            .any(|sf| sf["path"] == format!("files/{path}")));
    }
    let missing = a.run(&["get", refcode, "no-such-file.pdf"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no-such-file.pdf"));

    let v = a.run(&["verify"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
    let v = a.run(&[
        "ocfl",
        "validate",
        a.store().join("ocfl").to_str().expect("utf-8"),
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
}

#[test]
fn resubmission_stores_nothing_and_returns_the_original_receipt() {
    let a = Archive::new();
    let first = a.accept(&sample());
    let before = a.snapshot();
    let again = a.accept(&sample());
    assert_eq!(again["decision"], "already-accepted");
    assert_eq!(
        again["signed"], first["signed"],
        "the original receipt, unchanged"
    );
    assert_eq!(a.snapshot(), before);

    // The same bag as tar, tar.zst and zip is the same transfer.
    let dir = a.dir.path();
    for (name, make) in [
        ("bag.tar", tar_of as fn(&Path, &Path)),
        ("bag.tar.zst", tar_zst_of),
        ("bag.zip", zip_of),
    ] {
        let p = dir.join(name);
        make(&sample(), &p);
        let r = a.accept(&p);
        assert_eq!(r["decision"], "already-accepted", "{name}");
        assert_eq!(r["signed"], first["signed"], "{name}");
        assert_eq!(a.snapshot(), before, "{name}");
    }

    // The same transfer id with other content is refused.
    let changed = sample_copy(dir, "changed");
    let (folder, rec) = &records(&changed)[0];
    let file = rec["files"][0]["path"].as_str().expect("path");
    let p = changed.join("data").join(folder).join(file);
    let mut bytes = std::fs::read(&p).expect("read");
    bytes.extend_from_slice(b"\n");
    std::fs::write(&p, bytes).expect("write");
    rebag(&changed, &[]);
    let codes = a.reject(&changed);
    assert!(
        codes.contains(&"TRANSFER_ID_REUSED".to_string()),
        "{codes:?}"
    );
}

#[test]
fn archives_of_the_sample_are_accepted_like_the_folder() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, make) in [
        ("bag.tar", tar_of as fn(&Path, &Path)),
        ("bag.tar.zst", tar_zst_of),
        ("bag.zip", zip_of),
    ] {
        let a = Archive::new();
        let p = dir.path().join(name);
        make(&sample(), &p);
        let r = a.accept(&p);
        assert_eq!(r["decision"], "accepted", "{name}");
        let v = a.run(&["verify"]);
        assert_eq!(v.status.code(), Some(0), "{name}: {}", text(&v.stdout));
    }
}

#[test]
fn usage_and_environment_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(bin())
        .args([
            "--home",
            dir.path().join("nohome").to_str().expect("utf-8"),
            "list",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("strongroom init"),
        "{}",
        text(&out.stderr)
    );
    let a = Archive::new();
    let out = a.run(&["transfer", "/no/such/package"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/no/such/package"));
    let out = a.run(&["init"]);
    assert_eq!(out.status.code(), Some(2), "init twice is refused");
    let out = a.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn amendment_makes_version_2_and_keeps_version_1() {
    let a = Archive::new();
    a.accept(&sample());
    let (folder, rec) = &records(&sample())[0];
    let refcode = rec["reference_code"].as_str().expect("档号");
    let mut changed = rec.clone();
    changed["title"] = serde_json::Value::String("更正后的题名".into());
    let path = a.dir.path().join("record.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&changed).expect("json")).expect("write");
    let out = a.run(&[
        "amend",
        refcode,
        "--metadata",
        path.to_str().expect("utf-8"),
        "--reason",
        "题名有误",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let (_, shown) = a.json(&["show", refcode]);
    assert_eq!(shown["head"], "v2");
    assert_eq!(shown["metadata"]["title"], "更正后的题名");
    let v1 = a.run(&["get", refcode, "record.json", "--version", "1"]);
    let original =
        std::fs::read(sample().join("data").join(folder).join("record.json")).expect("read");
    assert_eq!(v1.stdout, original, "version 1 is unchanged");
    let v = a.run(&["verify"]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));

    // An amendment may not change the 档号.
    changed["reference_code"] = serde_json::Value::String("0194-WS·2016-D30-BGS-9999".into());
    std::fs::write(&path, serde_json::to_vec_pretty(&changed).expect("json")).expect("write");
    let out = a.run(&[
        "amend",
        refcode,
        "--metadata",
        path.to_str().expect("utf-8"),
        "--reason",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

fn flip_byte(p: &Path, at: usize) {
    let mut b = std::fs::read(p).expect("read");
    let i = at.min(b.len().saturating_sub(1));
    b[i] ^= 0x01;
    std::fs::write(p, b).expect("write");
}

fn find_stored(store: &Path, name_ends: &str) -> std::path::PathBuf {
    walkdir::WalkDir::new(store.join("ocfl"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && e.path().to_string_lossy().ends_with(name_ends))
        .map(|e| e.into_path())
        .unwrap_or_else(|| panic!("no stored file ending {name_ends}"))
}

#[test]
fn verify_names_each_damaged_record_and_file() {
    let a = Archive::new();
    a.accept(&sample());
    let recs = records(&sample());
    let (_, r0) = &recs[0];
    let (_, r1) = &recs[1];
    let f0 = r0["files"][0]["path"].as_str().expect("path");
    let code0 = r0["reference_code"].as_str().expect("档号");
    let code1 = r1["reference_code"].as_str().expect("档号");

    // A flipped byte in a stored file.
    let stored = find_stored(&a.store(), &format!("content/files/{f0}"));
    flip_byte(&stored, 10);
    let (code, rep) = a.json(&["verify"]);
    assert_eq!(code, Some(1), "{rep:#}");
    let damaged: Vec<String> = serde_json::from_value(rep["damage"].clone())
        .map(|d: Vec<serde_json::Value>| {
            d.iter()
                .filter_map(|x| x["reference_code"].as_str().map(String::from))
                .collect()
        })
        .expect("damage list");
    assert!(damaged.contains(&code0.to_string()), "{rep:#}");
    assert!(rep.to_string().contains(f0), "names the file: {rep:#}");
    flip_byte(&stored, 10);
    assert_eq!(a.run(&["verify"]).status.code(), Some(0));

    // A flipped byte in an inventory.
    let root = stored
        .ancestors()
        .find(|p| p.join("0=ocfl_object_1.1").exists())
        .expect("object root")
        .to_path_buf();
    flip_byte(&root.join("inventory.json"), 40);
    let (code, rep) = a.json(&["verify"]);
    assert_eq!(code, Some(1));
    assert!(rep.to_string().contains(code0), "{rep:#}");
    flip_byte(&root.join("inventory.json"), 40);

    // A deleted file, in another record.
    let f1 = r1["files"][0]["path"].as_str().expect("path");
    let stored1 = find_stored(&a.store(), &format!("content/files/{f1}"));
    std::fs::remove_file(&stored1).expect("delete");
    let (code, rep) = a.json(&["verify"]);
    assert_eq!(code, Some(1));
    assert!(rep.to_string().contains(code1), "{rep:#}");
    let named = a.run(&["verify", code1]);
    assert_eq!(named.status.code(), Some(1));
    assert!(text(&named.stdout).contains(code1));
    // Each run is in the ledger with what it found.
    let audit = ledger_entry(&a, ledger_size(&a) - 1);
    assert_eq!(audit["type"], "fixity.audited");
    assert_eq!(audit["scope"], code1);
    assert_eq!(audit["result"], "damaged");
    assert_eq!(audit["damaged"], serde_json::json!([code1]));
}

/// The ledger's size, from the latest signed checkpoint (its second line).
fn ledger_size(a: &Archive) -> u64 {
    let out = a.run(&["ledger", "checkpoint"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("checkpoint size line")
}

fn ledger_entry(a: &Archive, index: u64) -> serde_json::Value {
    let out = a.run(&["ledger", "show", &index.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("entry JSON")
}

#[test]
fn receipts_carry_their_ledger_entries_and_checkpoint() {
    let a = Archive::new();
    let r = a.accept(&sample());
    let receipt = &r["receipt"];
    let records = records(&sample());
    // transfer.accepted, then one record.stored per record, in the receipt's order.
    let first = receipt["ledger"]["transfer_index"].as_u64().expect("index");
    let size = receipt["ledger"]["tree_size"].as_u64().expect("size");
    assert_eq!(size, first + 1 + records.len() as u64);
    assert_eq!(ledger_size(&a), size);
    let accepted = ledger_entry(&a, first);
    assert_eq!(accepted["type"], "transfer.accepted");
    assert_eq!(accepted["actor"], "tester");
    for rec in receipt["records"].as_array().expect("records") {
        let e = ledger_entry(&a, rec["ledger_index"].as_u64().expect("index"));
        assert_eq!(e["type"], "record.stored");
        assert_eq!(e["reference_code"], rec["reference_code"]);
        assert_eq!(e["version"], "v1");
    }
    let checkpoint = r["checkpoint"].as_str().expect("checkpoint note");
    assert!(checkpoint.contains(&format!("\n{size}\n")), "{checkpoint}");

    // The receipt file holds both notes; a checkpoint altered or of another size fails.
    let file = a.dir.path().join("both.txt");
    let both = format!("{}\n{checkpoint}", r["signed"].as_str().expect("signed"));
    std::fs::write(&file, &both).expect("write");
    let v = a.run(&["receipt", "verify", file.to_str().expect("utf-8")]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    assert!(text(&v.stdout).contains(&format!("checkpoint of size {size}")));
    let forged = both.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    std::fs::write(&file, forged).expect("write");
    let v = a.run(&["receipt", "verify", file.to_str().expect("utf-8")]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v.stdout));
}

#[test]
fn reads_by_a_person_are_recorded_in_the_ledger_before_the_content_is_shown() {
    let a = Archive::new();
    a.accept(&sample());
    let (_, first) = &records(&sample())[0];
    let refcode = first["reference_code"].as_str().expect("档号");
    let file = first["files"][0]["path"].as_str().expect("path");
    let before = ledger_size(&a);

    let out = a.run(&["show", refcode, "--purpose", "（2026）某法民初字第1号 调卷"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = a.run(&["get", refcode, file, "--purpose", "出具复制件"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ledger_size(&a), before + 2, "one entry per read");

    let shown = ledger_entry(&a, before);
    assert_eq!(shown["type"], "record.read");
    assert_eq!(shown["actor"], "tester");
    assert_eq!(shown["reference_code"], refcode);
    assert_eq!(shown["purpose"], "（2026）某法民初字第1号 调卷");
    assert!(shown.get("file").is_none(), "show reads the metadata view");
    let got = ledger_entry(&a, before + 1);
    assert_eq!(got["type"], "record.read");
    assert_eq!(got["file"], format!("files/{file}"));
    assert_eq!(got["version"], "v1");
    assert_eq!(got["purpose"], "出具复制件");

    // A read of something that is not there records nothing.
    let missing = a.run(&["get", refcode, "no-such-file.pdf"]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(ledger_size(&a), before + 2);

    // Read entries are part of the ledger, not versions: the store still agrees with it.
    for cmd in [&["verify"][..], &["ledger", "verify"][..]] {
        let v = a.run(cmd);
        assert_eq!(v.status.code(), Some(0), "{cmd:?}: {}", text(&v.stdout));
    }
    // The verify run is itself recorded: what it checked and what it found.
    assert_eq!(ledger_size(&a), before + 3);
    let audit = ledger_entry(&a, before + 2);
    assert_eq!(audit["type"], "fixity.audited");
    assert_eq!(audit["scope"], "all");
    assert_eq!(audit["result"], "intact");
    assert_eq!(audit["damaged_count"], 0);
    assert!(audit["files_checked"].as_u64().unwrap_or(0) > 0, "{audit}");
}

#[test]
fn history_rewritten_consistently_in_ocfl_is_caught_by_the_ledger() {
    let a = Archive::new();
    a.accept(&sample());
    let (_, first) = &records(&sample())[0];
    let refcode = first["reference_code"].as_str().expect("档号");
    let (_, shown) = a.json(&["show", refcode]);
    let root = a
        .store()
        .join(shown["object_root"].as_str().expect("object root"));
    // Rewrite v1's inventory (its message) and make every OCFL digest agree, as someone with
    // write access to the disk could: the store alone still validates.
    let inv = std::fs::read_to_string(root.join("inventory.json")).expect("inventory");
    let forged = inv.replacen("移交接收", "移交接收（改）", 1);
    assert_ne!(forged, inv);
    let side = format!(
        "{}  inventory.json\n",
        hex::encode(ring::digest::digest(&ring::digest::SHA512, forged.as_bytes()).as_ref())
    );
    for dir in [root.clone(), root.join("v1")] {
        std::fs::write(dir.join("inventory.json"), &forged).expect("write");
        std::fs::write(dir.join("inventory.json.sha512"), &side).expect("write");
    }
    let v = a.run(&[
        "ocfl",
        "validate",
        a.store().join("ocfl").to_str().expect("utf-8"),
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    // The ledger recorded v1's inventory digest: verify names the record and the file.
    let v = a.run(&["verify"]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v.stdout));
    let out = text(&v.stdout);
    assert!(out.contains("LEDGER_INVENTORY_MISMATCH"), "{out}");
    assert!(out.contains(refcode), "{out}");
    assert!(out.contains("v1/inventory.json"), "{out}");
}
