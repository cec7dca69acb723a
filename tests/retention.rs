//! Retention and disposition through the binary: the due list (columns, CSV, JSON, triggers),
//! holds and their two-archivist lifting, disposition batches (two distinct approvers,
//! witnesses, holds and due dates re-checked at execution), destruction (get refused with the
//! batch, show's tombstone, verify, ledger verify, OCFL validation, the index), the signed
//! certificate, re-appraisal and field corrections, and a SIGKILL before every write of an
//! execution followed by a second execution that finishes the batch.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The records of common::due_package: R1 (文书, year-end trigger, D5) due since 2022-01-01,
/// R3 (closed 2016-08-01, D5) since 2021-08-02, R2 (D10) due on 2027-01-01.
const R1: &str = DUE_R1;
const R2: &str = DUE_R2;
const R3: &str = DUE_R3;

fn archive() -> Archive {
    let a = Archive::new();
    let bag = due_package(a.dir.path());
    a.accept(&bag);
    a
}

fn due_codes(a: &Archive, as_of: &str) -> Vec<String> {
    let (code, v) = a.json(&["retention", "due", "--as-of", as_of]);
    assert_eq!(code, Some(0), "{v:#}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference_code"].as_str().unwrap().to_string())
        .collect()
}

fn refused(out: &Output, what: &str, says: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what} should be refused: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains(says), "{what}: {all} should say {says:?}");
}

fn verify_all(home: &Path) {
    for args in [&["verify"][..], &["ledger", "verify"][..]] {
        let out = Command::new(bin())
            .arg("--home")
            .arg(home)
            .args(args)
            .env_remove("STRONGROOM_TEST_KILL_AT_WRITE")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let out = Command::new(bin())
        .args(["ocfl", "validate"])
        .arg(home.join("store/ocfl"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "ocfl validate: {}",
        text(&out.stdout)
    );
}

#[test]
fn the_due_list_has_the_columns_of_a_destruction_list_in_text_csv_and_json() {
    let a = archive();
    // Closed-date trigger: the day after 2016-08-01, plus 5 years.
    assert!(due_codes(&a, "2021-08-01").is_empty());
    assert_eq!(due_codes(&a, "2021-08-02"), vec![R3]);
    // Year-end trigger: 1 January after 2016, plus 5 years.
    assert_eq!(due_codes(&a, "2021-12-31"), vec![R3]);
    assert_eq!(due_codes(&a, "2022-01-01"), vec![R1, R3]);
    assert_eq!(due_codes(&a, "2027-01-01"), vec![R2, R1, R3]);
    let (code, v) = a.json(&["retention", "due", "--as-of", "2022-01-01"]);
    assert_eq!(code, Some(0));
    let first = &v["items"][0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["title"], "关于网上政务服务平台建设的通知");
    assert_eq!(first["year"], 2016);
    assert_eq!(first["retention"], "D5");
    assert_eq!(first["kept_years"], 5);
    assert_eq!(first["files"], 2);
    assert_eq!(first["rule"], "ws-year-end");
    assert_eq!(first["action"], "destroy");
    assert_eq!(first["due_on"], "2022-01-01");
    assert_eq!(v["items"][1]["rule"], "closed-case");
    assert!(v["policy_sha256"].as_str().unwrap().starts_with("sha256:"));
    // CSV: the 销毁清册 columns, one row per record.
    let out = a.run(&["retention", "due", "--as-of", "2022-01-01", "--csv"]);
    ok(&out, "csv");
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "\u{feff}序号,题名,年度,档号,应保管期限,已保管期限,页数/文件数,备注"
    );
    assert!(lines[1].starts_with(&format!(
        "1,关于网上政务服务平台建设的通知,2016,{R1},D5,5年,2,"
    )));
    assert_eq!(lines.len(), 4, "{csv}");
    // Text, and a filter on the action.
    let out = a.run(&["retention", "due", "--as-of", "2022-01-01"]);
    assert!(text(&out.stdout).starts_with("序号\t题名\t年度\t档号"));
    assert!(due_codes_action(&a, "transfer").is_empty());
    // Bad input is refused with the reason, and changes nothing.
    let before = a.snapshot();
    refused(
        &a.run(&["retention", "due", "--as-of", "2022-02-30"]),
        "a date that does not exist",
        "YYYY-MM-DD",
    );
    refused(
        &a.run(&["retention", "due", "--action", "burn"]),
        "an unknown action",
        "destroy, transfer or review",
    );
    let bad = a.dir.path().join("bad.toml");
    std::fs::write(&bad, "format_version = 1\n").unwrap();
    refused(
        &a.run(&["retention", "due", "--policy", bad.to_str().unwrap()]),
        "a policy without rules",
        "no [[rule]]",
    );
    assert_eq!(a.snapshot(), before);
}

fn due_codes_action(a: &Archive, action: &str) -> Vec<Value> {
    let (_, v) = a.json(&[
        "retention",
        "due",
        "--as-of",
        "2047-01-01",
        "--action",
        action,
    ]);
    v["items"].as_array().unwrap().clone()
}

#[test]
fn a_held_record_is_never_due_and_lifting_needs_two_distinct_archivists() {
    let a = archive();
    let out = a.run_as(
        "alice",
        &[
            "hold",
            "place",
            R1,
            "--reason",
            "诉讼保全",
            "--authority",
            "某市中级人民法院 (2026)浙01民初1号",
        ],
    );
    ok(&out, "hold place");
    assert!(text(&out.stdout).contains("hold H1"));
    assert_eq!(due_codes(&a, "2030-01-01"), vec![R2, R3]);
    let (_, shown) = a.json(&["show", R1]);
    assert_eq!(shown["holds"][0]["hold"], "H1");
    assert_eq!(shown["holds"][0]["active"], true);
    // Holding a record not in the archive is refused.
    refused(
        &a.run(&[
            "hold",
            "place",
            "0194-WS·2016-D5-BGS-0099",
            "--reason",
            "x",
            "--authority",
            "y",
        ]),
        "a hold on no record",
        "no record",
    );
    ok(
        &a.run_as("alice", &["hold", "lift", "H1", "--reason", "结案"]),
        "lift 1",
    );
    assert_eq!(
        due_codes(&a, "2030-01-01"),
        vec![R2, R3],
        "one approval lifts nothing"
    );
    refused(
        &a.run_as("alice", &["hold", "lift", "H1", "--reason", "结案"]),
        "the same archivist twice",
        "distinct archivist",
    );
    ok(
        &a.run_as("bob", &["hold", "lift", "H1", "--reason", "结案"]),
        "lift 2",
    );
    assert_eq!(due_codes(&a, "2030-01-01"), vec![R2, R1, R3]);
    refused(
        &a.run_as("carol", &["hold", "lift", "H1", "--reason", "x"]),
        "lifting a lifted hold",
        "already lifted",
    );
    let (_, shown) = a.json(&["show", R1]);
    assert_eq!(shown["holds"][0]["active"], false);
    // Every step is in the ledger.
    let (_, e) = a.json(&["ledger", "show", "4"]);
    assert_eq!(e["type"], "hold.placed");
    assert_eq!(e["reference_codes"][0], R1);
    assert_eq!(e["actor"], "alice");
    verify_all(&a.home);
}

#[test]
fn destruction_needs_two_distinct_approvers_and_leaves_a_tombstone_and_a_certificate() {
    let a = archive();
    let (code, v) = a.json_as("carol", &["dispose", "propose"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["batch"]["batch"], 1);
    assert_eq!(v["batch"]["items"].as_array().unwrap().len(), 2);
    // Nothing more to propose while the batch is open.
    refused(
        &a.run(&["dispose", "propose"]),
        "a second batch",
        "nothing is due",
    );
    ok(
        &a.run_as("alice", &["dispose", "approve", "1"]),
        "approve 1",
    );
    refused(
        &a.run_as("alice", &["dispose", "approve", "1"]),
        "the same approver twice",
        "cannot approve twice",
    );
    let (code, v) = execute_batch(&a, 1);
    assert_eq!(code, Some(1), "one approval: {v:#}");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("two distinct archivists"));
    ok(&a.run_as("bob", &["dispose", "approve", "1"]), "approve 2");
    refused(
        &a.run(&[
            "dispose",
            "execute",
            "1",
            "--witness",
            "王监销",
            "--witness",
            "王监销",
        ]),
        "one witness",
        "two distinct witnesses",
    );
    let (code, x) = execute_batch(&a, 1);
    assert_eq!(code, Some(0), "{x:#}");
    assert_eq!(x["destroyed_now"], serde_json::json!([R1, R3]));
    let cert = &x["certificate"];
    assert_eq!(cert["approvers"], serde_json::json!(["alice", "bob"]));
    assert_eq!(cert["witnesses"], serde_json::json!(["王监销", "李监销"]));
    assert_eq!(cert["destroyed"].as_array().unwrap().len(), 2);
    let today = cert["executed_on"].as_str().unwrap().to_string();

    // get refuses, naming the date and the batch; show gives the tombstone.
    let out = a.run(&["get", R1, "正文.pdf", "-o", "/dev/null"]);
    refused(
        &out,
        "get of a destroyed record",
        &format!("destroyed on {today} by batch 1"),
    );
    let (code, t) = a.json(&["show", R1]);
    assert_eq!(code, Some(0));
    assert_eq!(t["destroyed"]["batch"], 1);
    assert_eq!(t["destroyed"]["witnesses"][1], "李监销");
    let out = a.run(&["show", R3]);
    assert!(text(&out.stdout).contains("DESTROYED"));
    // The kept record is untouched; the destroyed ones are no longer listed.
    let (_, list) = a.json(&["list"]);
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference_code"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![R2]);
    ok(
        &a.run(&["get", R2, "record.json", "-o", "/dev/null"]),
        "get kept",
    );
    // Its object is gone from the store entirely.
    let leftovers: Vec<_> = walkdir::WalkDir::new(a.store().join("ocfl"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("D5-BGS-0001"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // One record.destroyed entry per record, with what the issue asks for.
    let destroyed_index = x["certificate"]["destroyed"][0]["ledger_index"]
        .as_u64()
        .unwrap();
    let (_, e) = a.json(&["ledger", "show", &destroyed_index.to_string()]);
    assert_eq!(e["type"], "record.destroyed");
    assert_eq!(e["reference_code"], R1);
    assert_eq!(e["batch"], 1);
    assert_eq!(e["rule"], "ws-year-end");
    assert_eq!(e["approvers"], serde_json::json!(["alice", "bob"]));
    assert_eq!(e["inventory_sha512"].as_str().unwrap().len(), 128);
    verify_all(&a.home);

    // The certificate verifies against the archive key and the ledger; a changed byte does not.
    let file = a.dir.path().join("cert.txt");
    ok(
        &a.run(&["dispose", "certificate", "1", "-o", file.to_str().unwrap()]),
        "certificate",
    );
    let body = std::fs::read_to_string(&file).unwrap();
    assert!(body.contains("销毁证明"));
    assert!(body.contains(R1));
    let (code, v) = a.json(&["dispose", "verify", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["certificate"]["batch"], 1);
    let forged = a.dir.path().join("forged.txt");
    std::fs::write(&forged, body.replace("王监销", "张监销")).unwrap();
    let (code, v) = a.json(&["dispose", "verify", forged.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["valid"], false);

    // The index dropped them.
    let (_, s) = a.json(&["search", "政务服务"]);
    let hits: Vec<&str> = s["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reference_code"].as_str().unwrap())
        .collect();
    assert_eq!(hits, vec![R2]);
    // Executing again only shows the certificate.
    let (code, again) = execute_batch(&a, 1);
    assert_eq!(code, Some(0));
    assert_eq!(again["already_executed"], true);
    assert_eq!(again["signed"], x["signed"]);
}

#[test]
fn a_hold_placed_after_approval_blocks_execution_of_that_record() {
    let a = archive();
    let n = approved_batch(&a);
    ok(
        &a.run_as(
            "dora",
            &[
                "hold",
                "place",
                R1,
                "--reason",
                "审计",
                "--authority",
                "审计局",
            ],
        ),
        "hold after approval",
    );
    let (code, x) = execute_batch(&a, n);
    assert_eq!(code, Some(0), "{x:#}");
    assert_eq!(x["destroyed_now"], serde_json::json!([R3]));
    let nd = &x["certificate"]["not_destroyed"][0];
    assert_eq!(nd["reference_code"], R1);
    assert!(nd["reason"].as_str().unwrap().contains("under hold H1"));
    ok(
        &a.run(&["get", R1, "record.json", "-o", "/dev/null"]),
        "held record kept",
    );
    verify_all(&a.home);
}

#[test]
fn re_appraisal_and_corrections_are_new_versions_and_execution_rechecks_due_dates() {
    let a = archive();
    let n = approved_batch(&a);
    // Re-appraised after the batch was approved: execution judges it again today.
    let (code, v) = a.json_as(
        "alice",
        &[
            "retention",
            "extend",
            R1,
            "--to",
            "D30",
            "--reason",
            "具有长期查考价值",
        ],
    );
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["version"], "v2");
    refused(
        &a.run(&["retention", "extend", R1, "--to", "D10", "--reason", "x"]),
        "a shorter period",
        "would not keep it longer",
    );
    let (_, shown) = a.json(&["show", R1]);
    assert_eq!(shown["reference_code"], R1, "the 档号 stays");
    assert_eq!(shown["metadata"]["retention"], "D5");
    assert_eq!(shown["metadata"]["retention_appraised"], "D30");
    assert_eq!(shown["amendments"][0]["type"], "record.reappraised");
    assert_eq!(shown["amendments"][0]["retention_to"], "D30");
    assert_eq!(due_codes(&a, "2030-01-01"), vec![R2, R3]);
    let (code, x) = execute_batch(&a, n);
    assert_eq!(code, Some(0), "{x:#}");
    assert_eq!(x["destroyed_now"], serde_json::json!([R3]));
    assert!(x["certificate"]["not_destroyed"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("not due"));

    // Corrections by field: the entry names them; the 档号's fields are refused.
    let (code, v) = a.json(&[
        "amend",
        R1,
        "--set",
        "title=关于网上政务服务平台建设的通知（更正）",
        "--set",
        "description=题名有误，据原件更正",
        "--reason",
        "题名错字",
    ]);
    assert_eq!(code, Some(0), "{v:#}");
    let (_, e) = a.json(&["ledger", "show", &v["ledger_index"].to_string()]);
    assert_eq!(e["type"], "record.amended");
    assert_eq!(e["fields"], serde_json::json!(["title", "description"]));
    for field in [
        "year=2017",
        "retention=Y",
        "item_number=9",
        "reference_code=x",
    ] {
        let before = a.snapshot();
        refused(
            &a.run(&["amend", R1, "--set", field, "--reason", "x"]),
            field,
            "part of the 档号",
        );
        assert_eq!(a.snapshot(), before, "{field} changed the store");
    }
    refused(
        &a.run(&["amend", R1, "--set", "date=yesterday", "--reason", "x"]),
        "a bad date",
        "date",
    );
    let (_, shown) = a.json(&["show", R1]);
    assert_eq!(shown["head"], "v3");
    assert_eq!(shown["amendments"][1]["fields"][0], "title");
    assert_eq!(
        shown["metadata"]["title"],
        "关于网上政务服务平台建设的通知（更正）"
    );
    verify_all(&a.home);
}

/// Copies an archive's home, pointing its config at the copied store.
fn clone_home(from: &Path, to: &Path) {
    copy_tree(from, to);
    let cfg = to.join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let from_abs = std::fs::canonicalize(from).unwrap();
    let to_abs = std::fs::canonicalize(to).unwrap();
    std::fs::write(
        &cfg,
        text.replace(from_abs.to_str().unwrap(), to_abs.to_str().unwrap()),
    )
    .unwrap();
}

fn execute_in(home: &Path, kill_at: Option<usize>) -> Output {
    let mut c = Command::new(bin());
    c.arg("--home").arg(home).arg("--as").arg("carol").args([
        "--json",
        "dispose",
        "execute",
        "1",
        "--witness",
        "王监销",
        "--witness",
        "李监销",
    ]);
    match kill_at {
        Some(n) => c.env("STRONGROOM_TEST_KILL_AT_WRITE", n.to_string()),
        None => c.env_remove("STRONGROOM_TEST_KILL_AT_WRITE"),
    };
    c.output().unwrap()
}

#[test]
fn a_crash_before_any_write_of_an_execution_is_finished_by_executing_again() {
    let a = archive();
    assert_eq!(approved_batch(&a), 1);
    let mut n = 1;
    loop {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        clone_home(&a.home, &home);
        let out = execute_in(&home, Some(n));
        if out.status.code() == Some(0) {
            // The execution has fewer writes than n: every write was covered.
            eprintln!(
                "a SIGKILL before each of the {} writes of an execution",
                n - 1
            );
            assert!(n > 20, "an execution has more writes than {n}");
            break;
        }
        assert_eq!(
            out.status.signal(),
            Some(9),
            "write {n}: {}",
            text(&out.stderr)
        );
        let again = execute_in(&home, None);
        assert_eq!(
            again.status.code(),
            Some(0),
            "write {n}: the second execute: {}{}",
            text(&again.stdout),
            text(&again.stderr)
        );
        let x: Value = serde_json::from_slice(&again.stdout).unwrap();
        let destroyed: Vec<&str> = x["certificate"]["destroyed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["reference_code"].as_str().unwrap())
            .collect();
        assert_eq!(destroyed, vec![R1, R3], "write {n}");
        verify_all(&home);
        for r in [R1, R3] {
            let out = Command::new(bin())
                .arg("--home")
                .arg(&home)
                .args(["get", r, "record.json"])
                .output()
                .unwrap();
            assert!(
                text(&out.stderr).contains("destroyed on"),
                "write {n}: {r}: {}",
                text(&out.stderr)
            );
        }
        assert!(
            !home.join("store/removals").exists()
                || std::fs::read_dir(home.join("store/removals"))
                    .unwrap()
                    .count()
                    == 0,
            "write {n}: a removal was left behind"
        );
        n += 1;
    }
}

#[test]
fn a_transfer_batch_leaves_as_a_package_another_archive_takes_and_its_receipt_removes_it_here() {
    let a = Archive::new();
    a.accept(&sample());
    let policy = a.dir.path().join("to-state-archives.toml");
    std::fs::write(
        &policy,
        "format_version = 1\nname = \"移交进馆\"\n[[rule]]\nid = \"ws-transfer\"\n\
         match = { category = [\"WS\"] }\ntrigger = \"year_end\"\naction = \"transfer\"\n",
    )
    .unwrap();
    let (code, v) = a.json_as(
        "carol",
        &[
            "dispose",
            "propose",
            "--action",
            "transfer",
            "--as-of",
            "2047-01-01",
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["batch"]["items"].as_array().unwrap().len(), 3);
    let pkg = a.dir.path().join("package");
    let pkg_s = pkg.to_str().unwrap();
    refused(
        &a.run(&["transfer-out", "1", "--to", pkg_s]),
        "before approval",
        "two distinct archivists",
    );
    approve_by_two(&a, 1);
    refused(
        &a.run(&[
            "dispose",
            "execute",
            "1",
            "--witness",
            "a",
            "--witness",
            "b",
        ]),
        "executing a transfer batch",
        "transfer-out",
    );
    // A held record never leaves.
    let r2 = "0194-WS·2016-D30-BGS-0002";
    ok(
        &a.run(&[
            "hold",
            "place",
            r2,
            "--reason",
            "审计",
            "--authority",
            "审计局",
        ]),
        "hold",
    );
    refused(
        &a.run(&["transfer-out", "1", "--to", pkg_s]),
        "a held record",
        "cannot be transferred out",
    );
    assert!(!pkg.exists());
    ok(
        &a.run_as("alice", &["hold", "lift", "H1", "--reason", "审计结束"]),
        "lift 1",
    );
    ok(
        &a.run_as("bob", &["hold", "lift", "H1", "--reason", "审计结束"]),
        "lift 2",
    );
    let (code, p) = a.json(&["transfer-out", "1", "--to", pkg_s]);
    assert_eq!(code, Some(0), "{p:#}");
    assert!(pkg.join("strongroom-evidence/archive.pub").exists());

    // A second archive takes the package as an ordinary transfer.
    let b = Archive::new();
    let receipt = b.dir.path().join("receipt.txt");
    let out = b.run(&["transfer", pkg_s, "--receipt", receipt.to_str().unwrap()]);
    ok(&out, "the second archive's transfer");
    let (_, listed) = b.json(&["list"]);
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let got = b.run(&["get", SAMPLE_R1, "正文.pdf"]);
    ok(&got, "get in the second archive");
    assert_eq!(
        got.stdout,
        std::fs::read(sample().join("data/0001-平台建设通知/正文.pdf")).unwrap()
    );

    // Confirming with a key that did not sign the receipt removes nothing.
    let before = a.snapshot();
    let own_key = a.home.join("archive.pub");
    refused(
        &a.run(&[
            "transfer-out",
            "confirm",
            "1",
            receipt.to_str().unwrap(),
            "--key",
            own_key.to_str().unwrap(),
        ]),
        "a receipt under another key",
        "does not verify",
    );
    assert_eq!(a.snapshot(), before);
    let b_key = b.home.join("archive.pub");
    let (code, c) = a.json(&[
        "transfer-out",
        "confirm",
        "1",
        receipt.to_str().unwrap(),
        "--key",
        b_key.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{c:#}");
    assert_eq!(c["transferred"].as_array().unwrap().len(), 3);
    refused(
        &a.run(&["get", SAMPLE_R1, "正文.pdf"]),
        "get of a transferred record",
        "transferred out on",
    );
    // One record.transferred entry per record, naming the receipt.
    let (_, cp) = a.json(&["ledger", "checkpoint"]);
    let size = cp["size"].as_u64().unwrap();
    let transferred: Vec<Value> = (0..size)
        .map(|i| a.json(&["ledger", "show", &i.to_string()]).1)
        .filter(|e| e["type"] == "record.transferred")
        .collect();
    assert_eq!(transferred.len(), 3);
    for e in &transferred {
        assert_eq!(e["receipt_sha256"], c["receipt_sha256"]);
        assert_eq!(e["batch"], 1);
    }
    // Confirming again with the same receipt changes nothing and says so.
    let before = a.snapshot();
    let (code, again) = a.json(&[
        "transfer-out",
        "confirm",
        "1",
        receipt.to_str().unwrap(),
        "--key",
        b_key.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{again:#}");
    assert_eq!(again["already_confirmed"], true);
    assert_eq!(again["transferred"], c["transferred"]);
    assert_eq!(a.snapshot(), before);
    verify_all(&a.home);
    verify_all(&b.home);
}

const SAMPLE_R1: &str = "0194-WS·2016-D30-BGS-0001";

// --- Named events, the schedule at intake, disposed 档号 sent again, transfer-out crashes ---

const XK1: &str = "0194-WS·2016-D10-XK-0001";
const XK2: &str = "0194-WS·2016-D10-XK-0002";
const XK3: &str = "0194-WS·2016-D5-XK-0001";

/// The example schedule shipped with an event rule (行政许可 licence files, organization XK).
fn licence_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("retention-policies/licence-expiry.example.toml")
}

/// The sample transfer re-coded as 行政许可 licence files (机构或问题 XK): two D10, one D5.
fn licence_package(dir: &Path) -> PathBuf {
    let bag = sample_copy(dir, "licence-package");
    for (i, (folder, mut rec)) in records(&bag).into_iter().enumerate() {
        let (code, item) = [(XK1, 1), (XK2, 2), (XK3, 1)][i];
        rec["reference_code"] = code.into();
        rec["retention"] = code.split('-').nth(2).unwrap().into();
        rec["organization"] = "XK".into();
        rec["item_number"] = item.into();
        write_json(&bag.join("data").join(&folder).join("record.json"), &rec);
    }
    rebag(&bag, &[("External-Identifier", "XK-2016-0001")]);
    bag
}

fn due_with(a: &Archive, policy: &Path, as_of: &str) -> Value {
    let (code, v) = a.json(&[
        "retention",
        "due",
        "--as-of",
        as_of,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{v:#}");
    v
}

fn item_codes(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference_code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_named_event_starts_the_period_of_the_rules_that_count_from_it() {
    let a = Archive::new();
    a.accept(&licence_package(a.dir.path()));
    let policy = licence_policy();

    // Nothing recorded: never due, and the list says which event each record waits for.
    let v = due_with(&a, &policy, "2099-01-01");
    assert!(item_codes(&v, "items").is_empty(), "{v:#}");
    assert_eq!(item_codes(&v, "waiting"), vec![XK1, XK2, XK3]);
    for w in v["waiting"].as_array().unwrap() {
        assert_eq!(w["event"], "licence-expired");
        assert_eq!(w["rule"], "licence-expiry");
        assert!(w["reason"]
            .as_str()
            .unwrap()
            .contains("TRIGGER_EVENT_NOT_RECORDED"));
    }
    let out = a.run(&[
        "retention",
        "due",
        "--as-of",
        "2099-01-01",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    ok(&out, "due as text");
    assert!(text(&out.stderr).contains(&format!("waiting for event \"licence-expired\": {XK1}")));

    // Bad input is refused with the reason and changes nothing.
    let before = a.snapshot();
    let ev = |refs: &[&str], name: &str, date: &str, reason: &str| {
        let mut args = vec!["retention", "event"];
        args.extend_from_slice(refs);
        args.extend_from_slice(&["--name", name, "--date", date, "--reason", reason]);
        a.run(&args)
    };
    let reason = "许可证（2016）某政许字第12号有效期届满";
    for (out, what, says) in [
        (
            ev(
                &["0194-WS·2016-D10-XK-0009"],
                "licence-expired",
                "2020-06-30",
                reason,
            ),
            "an unknown record",
            "no record",
        ),
        (
            ev(&[XK1], "licence-expired", "2020-02-30", reason),
            "an impossible date",
            "not a date",
        ),
        (
            ev(&[XK1], "licence-expired", "2999-01-01", reason),
            "a date to come",
            "after today",
        ),
        (
            ev(&[XK1], "licence expired", "2020-06-30", reason),
            "a name with a space",
            "without spaces",
        ),
        (
            ev(&[XK1], "licence-expired", "2020-06-30", " "),
            "no reason",
            "--reason",
        ),
    ] {
        refused(&out, what, says);
    }
    assert_eq!(a.snapshot(), before, "a refused event changed the store");

    // Recorded for XK1 and XK3: each counts from the day after, 2020-07-01.
    let (code, v) = a.json(&[
        "retention",
        "event",
        XK1,
        XK3,
        "--name",
        "licence-expired",
        "--date",
        "2020-06-30",
        "--reason",
        reason,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["event"]["event"], "E1");
    let index = v["applied"]["ledger_index"].as_u64().unwrap();
    let (_, entry) = a.json(&["ledger", "show", &index.to_string()]);
    assert_eq!(entry["type"], "retention.event.recorded");
    assert_eq!(entry["name"], "licence-expired");
    assert_eq!(entry["date"], "2020-06-30");
    assert_eq!(entry["reference_codes"], serde_json::json!([XK1, XK3]));

    // D5 is due on 2025-07-01, D10 on 2030-07-01; XK2 still waits.
    let v = due_with(&a, &policy, "2025-06-30");
    assert!(item_codes(&v, "items").is_empty(), "{v:#}");
    let v = due_with(&a, &policy, "2025-07-01");
    assert_eq!(item_codes(&v, "items"), vec![XK3]);
    assert_eq!(v["items"][0]["due_on"], "2025-07-01");
    assert_eq!(v["items"][0]["kept_years"], 5);
    assert!(v["items"][0]["remarks"]
        .as_str()
        .unwrap()
        .contains("counted from event licence-expired of 2020-06-30"));
    assert_eq!(item_codes(&v, "waiting"), vec![XK2]);
    let v = due_with(&a, &policy, "2030-07-01");
    assert_eq!(item_codes(&v, "items"), vec![XK1, XK3]);

    // A name no rule of the schedule in force uses is recorded, with a warning; it starts
    // nothing.
    let out = ev(&[XK2], "case-closed-on-appeal", "2021-03-01", "二审终结");
    ok(&out, "an event no rule uses");
    assert!(
        text(&out.stderr).contains("no rule of the schedule in force"),
        "{}",
        text(&out.stderr)
    );
    let v = due_with(&a, &policy, "2099-01-01");
    assert_eq!(item_codes(&v, "waiting"), vec![XK2]);

    // `show` lists the events of a record.
    let (code, shown) = a.json(&["show", XK1]);
    assert_eq!(code, Some(0), "{shown:#}");
    let events = shown["retention_events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "licence-expired");
    assert_eq!(events[0]["date"], "2020-06-30");
    assert_eq!(events[0]["reason"], reason);
    let out = a.run(&["show", XK1]);
    assert!(text(&out.stdout).contains("E1 licence-expired on 2020-06-30"));

    // A batch proposed under the schedule takes the records the event made due.
    let (code, v) = a.json(&[
        "dispose",
        "propose",
        "--as-of",
        "2030-07-01",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(item_codes(&v["batch"], "items"), vec![XK1, XK3]);
    verify_all(&a.home);
}

#[test]
fn intake_flags_a_record_whose_class_the_schedule_in_force_gives_another_period() {
    let a = Archive::new();
    // A home schedule that does not parse stops a transfer, naming the file; nothing stored.
    let home_policy = a.home.join("retention-policy.toml");
    std::fs::write(&home_policy, "format_version = 1\n").unwrap();
    let bag = licence_package(a.dir.path());
    let before = a.snapshot();
    let out = a.run(&["transfer", bag.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("retention-policy.toml"));
    assert_eq!(a.snapshot(), before);

    // The example schedule gives licence files D10: XK3 (D5) is flagged, and accepted.
    std::fs::copy(licence_policy(), &home_policy).unwrap();
    let v = a.accept(&bag);
    let auth = v["receipt"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "authenticity")
        .unwrap()
        .clone();
    assert_eq!(auth["result"], "passed", "{auth:#}");
    assert_eq!(auth["warnings"], 1, "{auth:#}");
    let evidence = |code: &str| -> Value {
        let out = a.run(&["get", code, "evidence/intake.json"]);
        ok(&out, "get the evidence");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let flagged: Vec<Value> = evidence(XK3)["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "RETENTION_PERIOD_DIFFERS")
        .cloned()
        .collect();
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
    assert_eq!(flagged[0]["severity"], "warning");
    assert_eq!(flagged[0]["expected"], "D10");
    assert_eq!(flagged[0]["found"], "D5");
    assert!(flagged[0]["message"]
        .as_str()
        .unwrap()
        .contains("rule licence-expiry"));
    for code in [XK1, XK2] {
        assert!(
            !evidence(code)["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "RETENTION_PERIOD_DIFFERS"),
            "{code} has the period the schedule gives"
        );
    }
    // The record's own retention decides; the due list flags it too.
    let (code, shown) = a.json(&["show", XK3]);
    assert_eq!(code, Some(0));
    assert_eq!(shown["metadata"]["retention"], "D5");
}

#[test]
fn a_refcode_that_was_destroyed_or_transferred_out_is_refused_when_sent_again() {
    let a = archive();
    let batch = approved_batch(&a);
    let (code, x) = execute_batch(&a, batch);
    assert_eq!(code, Some(0), "{x:#}");
    let destroyed_on = x["certificate"]["executed_on"]
        .as_str()
        .unwrap()
        .to_string();

    // The agency sends the same records again under a new transfer identifier.
    let bag = due_package(a.dir.path());
    rebag(&bag, &[("External-Identifier", "YJ-2016-0002")]);
    let before = a.snapshot();
    let (code, report) = a.json(&["transfer", bag.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(a.snapshot(), before, "a refused transfer changed the store");
    let findings = report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    for r in [R1, R3] {
        let f = findings
            .iter()
            .find(|f| f["code"] == "REFCODE_DISPOSED" && f["record"].as_str().unwrap().contains(r))
            .unwrap_or_else(|| panic!("{r}: {findings:#?}"));
        let m = f["message"].as_str().unwrap();
        assert!(
            m.contains(&format!(
                "destroyed (销毁) on {destroyed_on} by disposition batch {batch}"
            )),
            "{m}"
        );
        assert_eq!(f["severity"], "error");
    }
    // R2 is still here: the ordinary duplicate finding.
    assert!(findings
        .iter()
        .any(|f| f["code"] == "REFCODE_EXISTS" && f["record"].as_str().unwrap().contains(R2)));
    for r in [R1, R3] {
        refused(
            &a.run(&["get", r, "record.json"]),
            "get after the refused transfer",
            "destroyed on",
        );
    }

    // A destroyed number inside a run is accounted for, not a gap: R1 (D5-0001) again with a
    // new D5-0003 is refused for R1 alone, not for skipping R3 (D5-0002).
    let bag = sample_copy(a.dir.path(), "skips-a-destroyed-number");
    let recoded = [R1, "0194-WS·2016-D5-BGS-0003", "0194-WS·2016-D10-BGS-0002"];
    for (i, (folder, mut rec)) in records(&bag).into_iter().enumerate() {
        let code = recoded[i];
        rec["reference_code"] = code.into();
        rec["retention"] = code.split('-').nth(2).unwrap().into();
        rec["item_number"] = code[code.len() - 1..].parse::<u32>().unwrap().into();
        write_json(&bag.join("data").join(&folder).join("record.json"), &rec);
    }
    rebag(&bag, &[("External-Identifier", "YJ-2016-0003")]);
    let (code, report) = a.json(&["transfer", bag.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report:#}");
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["REFCODE_DISPOSED"], "{report:#}");
    verify_all(&a.home);
}

/// An archive with a transfer batch of the sample's three records, approved and written out,
/// and a second archive that took the package; returns (A, B, the receipt file, B's key).
fn transferred_out() -> (Archive, Archive, PathBuf, PathBuf) {
    let a = Archive::new();
    a.accept(&sample());
    let policy = a.dir.path().join("to-state-archives.toml");
    std::fs::write(
        &policy,
        "format_version = 1\nname = \"移交进馆\"\n[[rule]]\nid = \"ws-transfer\"\n\
         match = { category = [\"WS\"] }\ntrigger = \"year_end\"\naction = \"transfer\"\n",
    )
    .unwrap();
    let (code, v) = a.json_as(
        "carol",
        &[
            "dispose",
            "propose",
            "--action",
            "transfer",
            "--as-of",
            "2047-01-01",
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{v:#}");
    approve_by_two(&a, 1);
    let pkg = a.dir.path().join("package");
    let (code, p) = a.json(&["transfer-out", "1", "--to", pkg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{p:#}");
    let b = Archive::new();
    let receipt = b.dir.path().join("receipt.txt");
    ok(
        &b.run(&[
            "transfer",
            pkg.to_str().unwrap(),
            "--receipt",
            receipt.to_str().unwrap(),
        ]),
        "the second archive's transfer",
    );
    let b_key = b.home.join("archive.pub");
    (a, b, receipt, b_key)
}

#[test]
fn a_refcode_transferred_out_is_refused_when_sent_back() {
    let (a, _b, receipt, b_key) = transferred_out();
    let (code, c) = a.json(&[
        "transfer-out",
        "confirm",
        "1",
        receipt.to_str().unwrap(),
        "--key",
        b_key.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{c:#}");
    let shown = a.run(&["show", SAMPLE_R1]);
    ok(&shown, "show of a transferred record");
    let shown = text(&shown.stdout);
    assert!(shown.contains("TRANSFERRED OUT (移交) on"), "{shown}");
    assert!(
        shown.contains(c["receipt_sha256"].as_str().unwrap()),
        "{shown}"
    );
    // The same transfer again is an answered question (its receipt); the same records under a
    // new transfer identifier are refused.
    let bag = sample_copy(a.dir.path(), "sent-back");
    rebag(&bag, &[("External-Identifier", "YJ-2016-0009")]);
    let before = a.snapshot();
    let (code, report) = a.json(&["transfer", bag.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(a.snapshot(), before);
    let all = report.to_string();
    assert!(all.contains("REFCODE_DISPOSED"), "{report:#}");
    assert!(
        all.contains("transferred out (移交) on") && all.contains("by disposition batch 1"),
        "{report:#}"
    );
}

fn confirm_in(home: &Path, receipt: &Path, key: &Path, kill_at: Option<usize>) -> Output {
    let mut c = Command::new(bin());
    c.arg("--home").arg(home).arg("--as").arg("carol").args([
        "--json",
        "transfer-out",
        "confirm",
        "1",
        receipt.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    match kill_at {
        Some(n) => c.env("STRONGROOM_TEST_KILL_AT_WRITE", n.to_string()),
        None => c.env_remove("STRONGROOM_TEST_KILL_AT_WRITE"),
    };
    c.output().unwrap()
}

#[test]
fn a_crash_at_any_write_of_a_transfer_out_confirm_is_finished_by_confirming_again() {
    let (a, _b, receipt, b_key) = transferred_out();
    let codes = [
        SAMPLE_R1,
        "0194-WS·2016-D30-BGS-0002",
        "0194-WS·2016-D30-BGS-0003",
    ];
    // How often the second confirm did the removal itself, and how often the recovery it runs
    // first had finished a removal already committed: both must happen.
    let (mut redone, mut finished) = (0, 0);
    let mut n = 1;
    loop {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        clone_home(&a.home, &home);
        let out = confirm_in(&home, &receipt, &b_key, Some(n));
        if out.status.code() == Some(0) {
            eprintln!(
                "a SIGKILL before each of the {} writes of a confirm: {redone} before its commit \
                 point, {finished} after",
                n - 1
            );
            assert!(n > 10, "a confirm has more writes than {n}");
            assert!(redone > 0 && finished > 0, "{redone} {finished}");
            break;
        }
        assert_eq!(
            out.status.signal(),
            Some(9),
            "write {n}: {}",
            text(&out.stderr)
        );
        let again = confirm_in(&home, &receipt, &b_key, None);
        assert_eq!(
            again.status.code(),
            Some(0),
            "write {n}: the second confirm: {}{}",
            text(&again.stdout),
            text(&again.stderr)
        );
        let c: Value = serde_json::from_slice(&again.stdout).unwrap();
        assert_eq!(c["transferred"], serde_json::json!(codes), "write {n}");
        if c["already_confirmed"] == true {
            finished += 1;
        } else {
            redone += 1;
        }
        verify_all(&home);
        for r in codes {
            let out = Command::new(bin())
                .arg("--home")
                .arg(&home)
                .args(["get", r, "record.json"])
                .output()
                .unwrap();
            assert!(
                text(&out.stderr).contains("transferred out on"),
                "write {n}: {r}: {}",
                text(&out.stderr)
            );
        }
        assert!(
            home.join("store/retention/batches/1/receipt.json").exists(),
            "write {n}: the receipt is kept"
        );
        assert!(
            !home.join("store/removals").exists()
                || std::fs::read_dir(home.join("store/removals"))
                    .unwrap()
                    .count()
                    == 0,
            "write {n}: a removal was left behind"
        );
        n += 1;
    }
}
