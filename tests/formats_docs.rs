//! Keeps the format specs and the code in step: every finding code that `record.json` and the
//! 档号 can produce is listed in `formats/transfer-package.md`, and
//! `formats/record.schema.json` requires what `record::check_record_json` requires. When
//! check-jsonschema is installed (tools/test puts it in `.venv`), that independent validator
//! must agree with the code on the sample transfer and on a table of good and bad examples.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use strongroom::record::check_record_json;

const PACKAGE_DOC: &str = include_str!("../formats/transfer-package.md");
const SCHEMA: &str = include_str!("../formats/record.schema.json");
const RECORD_RS: &str = include_str!("../src/record.rs");
const REFCODE_RS: &str = include_str!("../src/refcode.rs");
const CHECKS_RS: &str = include_str!("../src/intake/checks.rs");

/// Codes like `META_FIELD_MISSING` that follow `open` + `prefix` and end at `close`.
fn scan(text: &str, prefix: &str, open: char, close: char) -> BTreeSet<String> {
    let pat = format!("{open}{prefix}");
    text.match_indices(&pat)
        .filter_map(|(i, _)| {
            let rest = &text[i + open.len_utf8()..];
            let code = &rest[..rest.find(close)?];
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                .then(|| code.to_string())
        })
        .collect()
}

/// Every `META_*` and `REFCODE_*` string literal in src/record.rs and src/refcode.rs, and the
/// record-level `REFCODE_*`, `RECORD_*` and `ITEM_NUMBER_*` codes of src/intake/checks.rs, are
/// documented in formats/transfer-package.md; and the document lists no code that is not
/// emitted.
#[test]
fn finding_codes_are_documented() {
    let prefixes = ["META_", "REFCODE_", "RECORD_", "ITEM_NUMBER_"];
    let mut emitted = BTreeSet::new();
    for src in [RECORD_RS, REFCODE_RS] {
        for p in ["META_", "REFCODE_"] {
            emitted.extend(scan(src, p, '"', '"'));
        }
    }
    let meta = emitted.iter().filter(|c| c.starts_with("META_")).count();
    assert!(meta >= 20, "too few META_ codes found: {emitted:?}");
    for p in ["REFCODE_", "RECORD_", "ITEM_NUMBER_"] {
        emitted.extend(scan(CHECKS_RS, p, '"', '"'));
    }
    let documented: BTreeSet<String> = prefixes
        .iter()
        .flat_map(|p| scan(PACKAGE_DOC, p, '`', '`'))
        .collect();
    let undocumented: Vec<_> = emitted.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&emitted).collect();
    assert!(
        undocumented.is_empty(),
        "codes emitted but missing from formats/transfer-package.md: {undocumented:?}"
    );
    assert!(
        stale.is_empty(),
        "codes in formats/transfer-package.md that the code does not emit: {stale:?}"
    );

    // The bag-info.txt fields the profile requires (REQUIRED_INFO) are each documented.
    let start = CHECKS_RS
        .find("REQUIRED_INFO: [&str;")
        .expect("REQUIRED_INFO in src/intake/checks.rs");
    let list = &CHECKS_RS[start..start + CHECKS_RS[start..].find("];").expect("end of list")];
    let fields: Vec<&str> = list.split('"').skip(1).step_by(2).collect();
    assert_eq!(fields.len(), 5, "{fields:?}");
    for f in fields {
        assert!(
            PACKAGE_DOC.contains(&format!("`{f}`")),
            "bag-info field {f} is not documented"
        );
    }
}

/// The example of the issue: it must pass both the code and the schema.
fn issue_example() -> Value {
    json!({
        "reference_code": "0194-WS·2016-D30-BGS-0001",
        "title": "关于网上政务服务平台建设的通知",
        "creator": "某市政务服务管理局",
        "date": "2016-05-12",
        "retention": "D30",
        "fonds": "0194",
        "category": "WS",
        "year": 2016,
        "organization": "BGS",
        "item_number": 1,
        "classification": "公开",
        "case_number": "（2016）某政许字第12号",
        "files": [
            {"path": "正文.pdf", "order": 1, "role": "main"},
            {"path": "附件/清单.txt", "order": 2, "role": "attachment"}
        ]
    })
}

/// The issue example with every optional field the code knows.
fn full_example() -> Value {
    let mut v = issue_example();
    let o = v.as_object_mut().expect("object");
    o.insert("document_number".into(), json!("某政发〔2016〕12号"));
    o.insert("closed_date".into(), json!("2016-06-30"));
    o.insert("keywords".into(), json!(["网上政务服务", "平台"]));
    o.insert("description".into(), json!("第一行\n\t第二行"));
    o.insert("language".into(), json!("zh"));
    v
}

/// Whether strongroom accepts a record.json; the codes it reported.
fn code_accepts(v: &Value) -> (bool, Vec<String>) {
    let bytes = serde_json::to_vec(v).expect("json");
    let (meta, findings) = check_record_json(&bytes, "0001-test");
    let errors = findings.iter().any(|f| f.is_error());
    (
        meta.is_some() && !errors,
        findings.iter().map(|f| f.code.clone()).collect(),
    )
}

fn without(v: &Value, field: &str) -> Value {
    let mut v = v.clone();
    v.as_object_mut().expect("object").remove(field);
    v
}

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("formats/record.schema.json is not valid JSON")
}

fn string_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// The schema's `required` list is exactly the set of fields whose absence the code refuses,
/// and its `properties` are exactly the fields the code knows.
#[test]
fn schema_matches_what_the_code_requires() {
    let s = schema();
    assert_eq!(
        s["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "draft 2020-12"
    );
    let required = string_set(&s["required"]);
    let properties: BTreeSet<String> = s["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    assert!(required.is_subset(&properties));

    let example = issue_example();
    let (ok, codes) = code_accepts(&example);
    assert!(ok, "the issue example is refused: {codes:?}");
    let full = full_example();
    let (ok, codes) = code_accepts(&full);
    assert!(ok, "the full example is refused: {codes:?}");

    // Required by the code: removing the field makes the record.json invalid.
    let mut refused_without = BTreeSet::new();
    for field in full.as_object().expect("object").keys() {
        let (ok, codes) = code_accepts(&without(&full, field));
        if ok {
            assert!(
                !required.contains(field),
                "{field} is required by the schema but the code accepts its absence"
            );
        } else {
            assert!(
                codes.iter().any(|c| c == "META_FIELD_MISSING"),
                "{field}: {codes:?}"
            );
            refused_without.insert(field.clone());
        }
    }
    assert_eq!(
        required, refused_without,
        "schema `required` differs from the fields the code requires"
    );
    // The same holds starting from the issue example (only case_number is optional there).
    for field in example.as_object().expect("object").keys() {
        let (ok, _) = code_accepts(&without(&example, field));
        assert_eq!(ok, !required.contains(field), "{field}");
    }

    // The fields the code knows are the schema's properties: RecordMetadata serialises each
    // one it parsed from the full example (unknown fields would land in `extra`).
    let (meta, _) = check_record_json(&serde_json::to_vec(&full).expect("json"), "0001-test");
    let known: BTreeSet<String> = serde_json::to_value(meta.expect("accepted"))
        .expect("serialise")
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        properties, known,
        "schema properties differ from the code's fields"
    );

    // Unknown fields: RecordMetadata has no deny_unknown_fields, and neither has the schema.
    assert_eq!(s["additionalProperties"], json!(true));
    let mut extra = example.clone();
    extra["来源系统"] = json!({"name": "OA", "version": 3});
    assert!(code_accepts(&extra).0);

    // Enumerations: each value the schema allows, the code accepts.
    for c in string_set(&s["properties"]["classification"]["enum"]) {
        let mut v = example.clone();
        v["classification"] = json!(c);
        assert!(code_accepts(&v).0, "classification {c}");
    }
    let roles = string_set(&s["$defs"]["file"]["properties"]["role"]["enum"]);
    assert_eq!(
        roles,
        ["attachment", "evidence", "main", "seal"]
            .map(String::from)
            .into()
    );
    for r in roles.iter().filter(|r| r.as_str() != "main") {
        let mut v = example.clone();
        v["files"][1]["role"] = json!(r);
        assert!(code_accepts(&v).0, "role {r}");
    }
    assert_eq!(
        string_set(&s["$defs"]["file"]["required"]),
        ["order", "path", "role"].map(String::from).into()
    );
}

/// Good and bad record.json examples: (name, valid, value). `valid` is what both the code and
/// the schema must say.
fn cases() -> Vec<(&'static str, bool, Value)> {
    let base = issue_example();
    let with = |pairs: &[(&str, Value)]| {
        let mut v = base.clone();
        for (k, x) in pairs {
            v[*k] = x.clone();
        }
        v
    };
    let files = |f: Value| with(&[("files", f)]);
    let main = |path: &str| files(json!([{"path": path, "order": 1, "role": "main"}]));
    let refcode = |r: &str| with(&[("reference_code", json!(r))]);
    let mut extra_member = base.clone();
    extra_member["files"][0]["note"] = json!("scanned 2016");
    let mut unknown = base.clone();
    unknown["来源系统"] = json!("OA");
    vec![
        // Good.
        ("issue-example", true, base.clone()),
        ("all-optional-fields", true, full_example()),
        ("unknown-field", true, unknown),
        ("file-entry-extra-member", true, extra_member),
        (
            "retention-Y",
            true,
            with(&[
                ("retention", json!("Y")),
                ("reference_code", json!("0194-WS·2016-Y-BGS-0001")),
            ]),
        ),
        (
            "retention-D5",
            true,
            with(&[
                ("retention", json!("D5")),
                ("reference_code", json!("0194-WS·2016-D5-BGS-0001")),
            ]),
        ),
        (
            "retention-D100",
            true,
            with(&[
                ("retention", json!("D100")),
                ("reference_code", json!("0194-WS·2016-D100-BGS-0001")),
            ]),
        ),
        (
            "item-number-five-digits",
            true,
            with(&[
                ("item_number", json!(10001)),
                ("reference_code", json!("0194-WS·2016-D30-BGS-10001")),
            ]),
        ),
        (
            "date-leap-day",
            true,
            with(&[("date", json!("2016-02-29"))]),
        ),
        (
            "date-2000-02-29",
            true,
            with(&[("date", json!("2000-02-29"))]),
        ),
        ("date-year-month", true, with(&[("date", json!("2016-05"))])),
        ("date-year", true, with(&[("date", json!("2016"))])),
        (
            "title-500",
            true,
            with(&[("title", json!("题".repeat(500)))]),
        ),
        (
            "title-line-separator",
            true,
            with(&[("title", json!("a\u{2028}b"))]),
        ),
        (
            "description-lf-tab",
            true,
            with(&[("description", json!("a\nb\tc"))]),
        ),
        (
            "classification-限制",
            true,
            with(&[("classification", json!("限制"))]),
        ),
        ("path-dots-inside-names", true, main("..a/b.")),
        (
            "roles-seal-evidence-order-gap",
            true,
            files(json!([
                {"path": "正文.ofd", "order": 1, "role": "main"},
                {"path": "正文.ofd.sig", "order": 5, "role": "seal"},
                {"path": "证据/时间戳.tsr", "order": 9, "role": "evidence"}
            ])),
        ),
        ("keywords-empty", true, with(&[("keywords", json!([]))])),
        // Bad: the three of the issue.
        ("missing-title", false, without(&base, "title")),
        ("retention-D99", false, with(&[("retention", json!("D99"))])),
        ("bad-date", false, with(&[("date", json!("2016-02-30"))])),
        // Bad: more.
        (
            "date-2015-02-29",
            false,
            with(&[("date", json!("2015-02-29"))]),
        ),
        (
            "date-1900-02-29",
            false,
            with(&[("date", json!("1900-02-29"))]),
        ),
        ("date-month-13", false, with(&[("date", json!("2016-13"))])),
        (
            "date-slashes",
            false,
            with(&[("date", json!("2016/05/12"))]),
        ),
        (
            "retention-D030",
            false,
            with(&[("retention", json!("D030"))]),
        ),
        ("retention-D3", false, with(&[("retention", json!("D3"))])),
        (
            "retention-Y-code-D30",
            false,
            with(&[("retention", json!("Y"))]),
        ),
        (
            "refcode-katakana-dot",
            false,
            refcode("0194-WS\u{30FB}2016-D30-BGS-0001"),
        ),
        (
            "refcode-hyphenation-point",
            false,
            refcode("0194-WS\u{2027}2016-D30-BGS-0001"),
        ),
        (
            "refcode-full-stop",
            false,
            refcode("0194-WS.2016-D30-BGS-0001"),
        ),
        (
            "refcode-over-padded",
            false,
            refcode("0194-WS·2016-D30-BGS-00001"),
        ),
        (
            "refcode-three-digits",
            false,
            refcode("0194-WS·2016-D30-BGS-001"),
        ),
        ("refcode-0000", false, refcode("0194-WS·2016-D30-BGS-0000")),
        (
            "refcode-not-string",
            false,
            with(&[("reference_code", json!(194))]),
        ),
        (
            "category-lowercase",
            false,
            with(&[
                ("category", json!("ws")),
                ("reference_code", json!("0194-ws·2016-D30-BGS-0001")),
            ]),
        ),
        (
            "title-501",
            false,
            with(&[("title", json!("题".repeat(501)))]),
        ),
        (
            "title-blank",
            false,
            with(&[("title", json!(" \u{3000} "))]),
        ),
        (
            "title-control",
            false,
            with(&[("title", json!("a\u{0085}b"))]),
        ),
        ("title-number", false, with(&[("title", json!(1))])),
        (
            "creator-201",
            false,
            with(&[("creator", json!("x".repeat(201)))]),
        ),
        (
            "description-cr",
            false,
            with(&[("description", json!("a\r\nb"))]),
        ),
        ("year-string", false, with(&[("year", json!("2016"))])),
        ("item-number-0", false, with(&[("item_number", json!(0))])),
        (
            "classification-秘密",
            false,
            with(&[("classification", json!("秘密"))]),
        ),
        (
            "classification-public",
            false,
            with(&[("classification", json!("public"))]),
        ),
        (
            "case-number-null",
            false,
            with(&[("case_number", Value::Null)]),
        ),
        (
            "keywords-blank",
            false,
            with(&[("keywords", json!(["平台", " "]))]),
        ),
        ("files-empty", false, files(json!([]))),
        (
            "files-no-main",
            false,
            files(json!([{"path": "a.pdf", "order": 1, "role": "attachment"}])),
        ),
        (
            "file-role-capital",
            false,
            files(json!([{"path": "a.pdf", "order": 1, "role": "Main"}])),
        ),
        (
            "file-order-0",
            false,
            files(json!([{"path": "a.pdf", "order": 0, "role": "main"}])),
        ),
        (
            "file-no-path",
            false,
            files(json!([{"order": 1, "role": "main"}])),
        ),
        ("path-dotdot", false, main("附件/../正文.pdf")),
        ("path-dot", false, main("./正文.pdf")),
        ("path-absolute", false, main("/正文.pdf")),
        ("path-backslash", false, main("附件\\清单.txt")),
        ("path-trailing-slash", false, main("附件/")),
        (
            "path-dotdot-after-line-separator",
            false,
            main("a\u{2028}/../b"),
        ),
        ("not-an-object", false, json!([base.clone()])),
    ]
}

/// The table is honest: the code says what each case claims.
#[test]
fn cases_are_judged_by_the_code_as_stated() {
    for (name, valid, v) in cases() {
        let (ok, codes) = code_accepts(&v);
        assert_eq!(ok, valid, "{name}: the code says {ok} ({codes:?})");
    }
}

fn check_jsonschema() -> Option<PathBuf> {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/check-jsonschema");
    if tool.exists() {
        return Some(tool);
    }
    let required = std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS").unwrap_or_default();
    assert!(
        required.is_empty(),
        "check-jsonschema is required here: run the suite with tools/test"
    );
    eprintln!("SKIPPED: check-jsonschema not installed (run tools/test to install it)");
    None
}

fn run_schema(tool: &Path, files: &[PathBuf], json_output: bool) -> std::process::Output {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("formats/record.schema.json");
    let mut cmd = Command::new(tool);
    cmd.arg("--schemafile").arg(schema);
    if json_output {
        cmd.args(["-o", "json"]);
    }
    cmd.args(files).output().expect("run check-jsonschema")
}

fn sample_record_jsons() -> Vec<PathBuf> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample-transfer/data");
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(data)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "record.json")
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

/// An independent validator (check-jsonschema) with formats/record.schema.json agrees with
/// the code: the sample transfer's records and the issue example pass, the issue's three bad
/// examples fail, and every case of the table gets the same verdict from both.
#[test]
fn check_jsonschema_agrees_with_the_code() {
    let Some(tool) = check_jsonschema() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_vec_pretty(v).expect("json")).expect("write");
        p
    };

    // The samples (checked by the code too) and the issue example pass.
    let mut good = sample_record_jsons();
    assert_eq!(good.len(), 3, "{good:?}");
    for p in &good {
        let (meta, findings) = check_record_json(&std::fs::read(p).expect("read"), "sample");
        assert!(meta.is_some(), "{}: {findings:?}", p.display());
    }
    good.push(write("issue-example", &issue_example()));
    let out = run_schema(&tool, &good, false);
    assert!(
        out.status.success(),
        "check-jsonschema refuses a good record.json:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The issue's bad examples fail, each on its own.
    let base = issue_example();
    let mut d99 = base.clone();
    d99["retention"] = json!("D99");
    let mut bad_date = base.clone();
    bad_date["date"] = json!("2016-02-30");
    for (name, v) in [
        ("bad-missing-title", without(&base, "title")),
        ("bad-retention-D99", d99),
        ("bad-date", bad_date),
    ] {
        assert!(!code_accepts(&v).0, "{name}: the code accepts it");
        let out = run_schema(&tool, &[write(name, &v)], false);
        assert!(
            !out.status.success(),
            "check-jsonschema accepts {name}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // The whole table in one run, verdicts per file.
    let table = cases();
    let paths: Vec<PathBuf> = table
        .iter()
        .enumerate()
        .map(|(i, (name, _, v))| write(&format!("case-{i:02}-{name}"), v))
        .collect();
    let out = run_schema(&tool, &paths, true);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check-jsonschema -o json: {e}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        report["parse_errors"].as_array().map_or(0, Vec::len),
        0,
        "{report:#}"
    );
    let refused: BTreeSet<String> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["filename"].as_str().map(String::from))
        .collect();
    let mut disagreements = Vec::new();
    for ((name, valid, _), path) in table.iter().zip(&paths) {
        let schema_valid = !refused.contains(path.to_str().expect("utf-8 path"));
        if schema_valid != *valid {
            disagreements.push(format!(
                "{name}: code says {valid}, schema says {schema_valid}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "formats/record.schema.json and src/record.rs disagree:\n{}\n{report:#}",
        disagreements.join("\n")
    );
}
