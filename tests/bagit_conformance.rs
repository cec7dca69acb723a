//! The Library of Congress BagIt conformance suite, run against `strongroom::bagit::validate`
//! directly and against the binary through the suite's own `test-harness`.

use std::path::{Path, PathBuf};
use std::process::Command;

use strongroom::bagit::{validate, ValidateOptions};

fn conformance_root() -> PathBuf {
    if let Ok(p) = std::env::var("STRONGROOM_CONFORMANCE") {
        return PathBuf::from(p);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/conformance")
}

fn suite() -> PathBuf {
    let s = conformance_root().join("bagit-conformance-suite");
    assert!(s.is_dir(), "conformance suite not found at {}", s.display());
    s
}

fn subdirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_bag_judged_as_the_suite_expects() {
    let suite = suite();
    let mut rows = Vec::new();
    let mut failures = 0;
    let mut count = 0;
    for version in subdirs(&suite) {
        let vname = version
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !vname.starts_with('v') {
            continue;
        }
        for category in ["valid", "invalid", "warning", "linux-only", "windows-only"] {
            for bag in subdirs(&version.join(category)) {
                count += 1;
                let report = validate(
                    &bag,
                    &ValidateOptions {
                        also_compute: vec![],
                        threads: 2,
                    },
                );
                let errors = report.findings.iter().filter(|f| f.is_error()).count();
                let warnings = report.findings.len() - errors;
                let ok = match category {
                    "valid" => report.is_valid(),
                    "warning" => report.is_valid() && warnings > 0,
                    // Paths escaping the bag; strongroom refuses Windows-style ones everywhere.
                    _ => !report.is_valid(),
                };
                if !ok {
                    failures += 1;
                }
                let codes: Vec<String> = report
                    .findings
                    .iter()
                    .map(|f| format!("{}{}", if f.is_error() { "E:" } else { "W:" }, f.code))
                    .collect();
                rows.push(format!(
                    "{} {vname}/{category}/{} errors={errors} warnings={warnings} {}",
                    if ok { "ok  " } else { "FAIL" },
                    bag.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    codes.join(" ")
                ));
                if !ok {
                    for f in &report.findings {
                        rows.push(format!("        {f}"));
                    }
                }
            }
        }
    }
    eprintln!("{}", rows.join("\n"));
    assert!(count >= 50, "expected the whole suite, found {count} bags");
    assert_eq!(
        failures,
        0,
        "{failures} bag(s) misjudged:\n{}",
        rows.join("\n")
    );
}

#[test]
fn the_suite_harness_finds_no_misjudgement() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("NOTICE: python3 not found; skipping the BagIt suite's own test-harness");
        return;
    }
    let suite = suite();
    let bin = Path::new(env!("CARGO_BIN_EXE_strongroom"));
    let harness = |verbose: bool| {
        let mut cmd = Command::new("python3");
        cmd.arg("test-harness");
        if verbose {
            cmd.arg("-v");
        }
        let out = cmd
            .arg("--")
            .arg(bin)
            .args(["bag", "validate"])
            .current_dir(&suite)
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONUTF8", "1")
            .output()
            .expect("run python3 test-harness");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // With -v the harness logs every bag to stdout, without level names: proof that it ran.
    let (verbose_out, verbose_err) = harness(true);
    let judged = verbose_out
        .lines()
        .filter(|l| l.starts_with("Expected "))
        .count();
    assert!(
        judged >= 40,
        "harness ran too few bags ({judged}):\n{verbose_out}\n{verbose_err}"
    );
    // Without -v it logs only misjudgements, through logging.basicConfig on stderr as
    // "LEVEL:root:message": ERROR for a valid bag rejected or an invalid bag accepted,
    // WARNING for a warning bag accepted without a word on stderr.
    let (_, stderr) = harness(false);
    let bad: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.starts_with("ERROR:") || l.starts_with("WARNING:") || l.starts_with("CRITICAL:")
        })
        .collect();
    assert!(
        bad.is_empty(),
        "harness reports misjudgements:\n{}\n--- full stderr:\n{stderr}",
        bad.join("\n")
    );
}
