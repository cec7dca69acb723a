//! Crash: the intake process is SIGKILLed before each of its writes in turn (the store's
//! fault-injection wrapper, armed by STRONGROOM_TEST_KILL_AT_WRITE), during a multi-record
//! transfer and during a version-2 write. After each kill, the next start recovers; the store
//! must validate, every receipted transfer be complete, and the interrupted one be all or
//! nothing and succeed when retried.

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Copies an archive's home, pointing its config at the copied store.
fn clone_home(from: &Path, to: &Path) {
    copy_tree(from, to);
    let cfg = to.join("config.toml");
    let text = std::fs::read_to_string(&cfg).expect("config");
    let from_abs = std::fs::canonicalize(from).expect("abs");
    let to_abs = std::fs::canonicalize(to).expect("abs");
    std::fs::write(
        &cfg,
        text.replace(
            from_abs.to_str().expect("utf-8"),
            to_abs.to_str().expect("utf-8"),
        ),
    )
    .expect("write");
}

fn run(home: &Path, args: &[&str], kill_at: Option<usize>) -> std::process::Output {
    let mut c = Command::new(bin());
    c.arg("--home")
        .arg(home)
        .arg("--as")
        .arg("tester")
        .args(args);
    match kill_at {
        Some(n) => c.env("STRONGROOM_TEST_KILL_AT_WRITE", n.to_string()),
        None => c.env_remove("STRONGROOM_TEST_KILL_AT_WRITE"),
    };
    c.output().expect("run")
}

fn listed(home: &Path) -> Vec<String> {
    let out = run(home, &["--json", "list"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| r["reference_code"].as_str().expect("code").to_string())
        .collect()
}

fn codes_of(bag: &Path) -> Vec<String> {
    records(bag)
        .into_iter()
        .map(|(_, r)| r["reference_code"].as_str().expect("code").to_string())
        .collect()
}

/// After a kill: recovery (run by verify), a valid store and ledger, the earlier transfer intact.
fn check_recovered(home: &Path, must: &[String], batch: &[String], what: &str) -> bool {
    let v = run(home, &["verify"], None);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{what}: verify after recovery: {}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
    // The ledger verifies and agrees with the store (`verify` above holds each to the other).
    let v = run(home, &["ledger", "verify"], None);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{what}: ledger verify after recovery: {}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
    let v = run(
        home,
        &[
            "ocfl",
            "validate",
            home.join("store/ocfl").to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(v.status.code(), Some(0), "{what}: {}", text(&v.stdout));
    let have = listed(home);
    for m in must {
        assert!(have.contains(m), "{what}: receipted record {m} lost");
    }
    let present = batch.iter().filter(|b| have.contains(b)).count();
    assert!(
        present == 0 || present == batch.len(),
        "{what}: transfer half present ({present}/{})",
        batch.len()
    );
    present == batch.len()
}

/// A second transfer: the sample in the 2017 series, plus a 3 MiB file that is streamed.
fn second_package(dir: &Path) -> PathBuf {
    next_year_package(dir, "CRASH-2", |i, folder, rec| {
        if i == 0 {
            let mut big = String::new();
            let mut n = 0;
            while big.len() < 3 << 20 {
                big.push_str(&format!("第{n}行 line {n} of a long attachment\n"));
                n += 1;
            }
            std::fs::write(folder.join("长附件.txt"), big).expect("write");
            let files = rec["files"].as_array_mut().expect("files");
            let order = files.len() as u64 + 1;
            files.push(
                serde_json::json!({"path": "长附件.txt", "order": order, "role": "attachment"}),
            );
        }
    })
}

fn ocfl_py_check(store: &Path, what: &str) {
    let Ok(tool) = std::env::var("STRONGROOM_OCFL_PY") else {
        return;
    };
    let out = Command::new(&tool)
        .args(["validate", "--root"])
        .arg(store.join("ocfl"))
        .args(["--validate-objects", "--check-digests"])
        .output()
        .expect("ocfl-py");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("is INVALID"), "{what}: ocfl-py: {all}");
}

#[test]
fn sigkill_before_every_write_of_a_transfer() {
    let a = Archive::new();
    a.accept(&sample());
    let first = codes_of(&sample());
    let second = second_package(a.dir.path());
    let batch = codes_of(&second);
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 1000, "transfer never completed");
        let home = a.dir.path().join(format!("h{n}"));
        clone_home(&a.home, &home);
        let out = run(
            &home,
            &["transfer", second.to_str().expect("utf-8")],
            Some(n),
        );
        if out.status.signal() != Some(9) {
            assert_eq!(
                out.status.code(),
                Some(0),
                "after {n} writes: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            check_recovered(&home, &first, &batch, "completed");
            break;
        }
        let what = format!("killed before write {n}");
        check_recovered(&home, &first, &batch, &what);
        ocfl_py_check(&home.join("store"), &what);
        // The archive is usable again: the retry is accepted (or found already accepted).
        let retry = run(&home, &["transfer", second.to_str().expect("utf-8")], None);
        assert_eq!(
            retry.status.code(),
            Some(0),
            "{what}: retry: {}",
            text(&retry.stdout)
        );
        assert!(check_recovered(&home, &first, &batch, &what));
        std::fs::remove_dir_all(&home).expect("cleanup");
    }
    assert!(n > 20, "only {n} writes: the failpoint did not engage");
    eprintln!(
        "killed before each of {} writes; every state recovered",
        n - 1
    );
}

#[test]
fn sigkill_before_every_write_of_a_version_2() {
    let a = Archive::new();
    a.accept(&sample());
    let first = codes_of(&sample());
    let (_, rec) = &records(&sample())[0];
    let code = rec["reference_code"].as_str().expect("code").to_string();
    let mut changed = rec.clone();
    changed["title"] = "更正后的题名".into();
    let meta = a.dir.path().join("record.json");
    std::fs::write(&meta, serde_json::to_vec_pretty(&changed).expect("json")).expect("write");
    let args = [
        "amend",
        code.as_str(),
        "--metadata",
        meta.to_str().expect("utf-8"),
        "--reason",
        "更正",
    ];
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 200, "amend never completed");
        let home = a.dir.path().join(format!("v{n}"));
        clone_home(&a.home, &home);
        let out = run(&home, &args, Some(n));
        let killed = out.status.signal() == Some(9);
        if !killed {
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        let what = format!("amend killed before write {n}");
        check_recovered(&home, &first, &[], &what);
        let shown = run(&home, &["--json", "show", &code], None);
        let v: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
        let head = v["head"].as_str().expect("head");
        match head {
            "v1" => assert_eq!(v["metadata"]["title"], rec["title"], "{what}"),
            "v2" => assert_eq!(v["metadata"]["title"], "更正后的题名", "{what}"),
            other => panic!("{what}: head {other}"),
        }
        if !killed {
            assert_eq!(head, "v2");
            break;
        }
        ocfl_py_check(&home.join("store"), &what);
        std::fs::remove_dir_all(&home).expect("cleanup");
    }
    assert!(n > 5, "only {n} writes: the failpoint did not engage");
}
