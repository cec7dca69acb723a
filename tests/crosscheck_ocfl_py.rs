//! Independent cross-check: ocfl-py (installed by tools/test into .venv) validates a store
//! that strongroom filled, digests included. ocfl-root.py exits 0 even when the store is
//! invalid, so its output is searched for "is INVALID" and for the objects it counted.

mod common;

use common::*;

fn ocfl_py() -> Option<String> {
    match std::env::var("STRONGROOM_OCFL_PY") {
        Ok(p) if std::path::Path::new(&p).exists() => Some(p),
        _ => {
            let required = std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS").unwrap_or_default();
            assert!(
                required.is_empty(),
                "ocfl-py is required here: run the suite with tools/test"
            );
            eprintln!("SKIPPED: ocfl-py not installed (run tools/test to install it)");
            None
        }
    }
}

#[test]
fn ocfl_py_accepts_a_store_strongroom_filled() {
    let Some(tool) = ocfl_py() else { return };
    let a = Archive::new();
    a.accept(&sample());
    let (_, rec) = &records(&sample())[0];
    let code = rec["reference_code"].as_str().expect("code");
    let mut changed = rec.clone();
    changed["title"] = "第二版题名".into();
    let meta = a.dir.path().join("record.json");
    std::fs::write(&meta, serde_json::to_vec_pretty(&changed).expect("json")).expect("write");
    let out = a.run(&[
        "amend",
        code,
        "--metadata",
        meta.to_str().expect("utf-8"),
        "--reason",
        "v2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = std::process::Command::new(&tool)
        .args(["validate", "--root"])
        .arg(a.store().join("ocfl"))
        .args(["--validate-objects", "--check-digests"])
        .output()
        .expect("run ocfl-root.py");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !all.contains("is INVALID"),
        "ocfl-py found the store invalid:\n{all}"
    );
    let n = records(&sample()).len();
    assert!(
        all.contains(&format!("{n} / {n} are VALID")) && all.contains("is VALID"),
        "ocfl-py did not report the objects valid:\n{all}"
    );

    // And it notices damage, so the check above can fail.
    let victim = walkdir::WalkDir::new(a.store().join("ocfl"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.path().to_string_lossy().contains("/content/files/"))
        .expect("a stored file")
        .into_path();
    std::fs::write(&victim, b"altered").expect("write");
    let out = std::process::Command::new(&tool)
        .args(["validate", "--root"])
        .arg(a.store().join("ocfl"))
        .args(["--validate-objects", "--check-digests"])
        .output()
        .expect("run ocfl-root.py");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("INVALID"),
        "ocfl-py missed a damaged file:\n{all}"
    );
}
