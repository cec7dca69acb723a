//! The usability check (可用性, DA/T 70-2018) through the binary: a record file in a refused
//! format rejects the transfer with an `FMT_*` finding that names the record and the file,
//! and nothing is stored; the sample's files are identified and their formats kept in the
//! evidence. Formats and codes: `formats/file-formats.md`.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;

/// The sample's first record (folder 0001-平台建设通知), its main file.
const NOTICE: &str = "0001-平台建设通知";
/// The sample's third record, whose main file is 目录.xml.
const CATALOGUE: &str = "0003-电子证照目录";

fn archive_with_sample() -> Archive {
    let a = Archive::new();
    a.accept(&sample());
    a
}

/// Runs `transfer PACKAGE --report FILE`: asserts exit 1, the store unchanged and the report
/// kept in it; returns the report written to FILE.
fn rejected(a: &Archive, package: &Path) -> serde_json::Value {
    let before = a.snapshot();
    let kept = a.reports();
    let report = a.dir.path().join("report.json");
    let out = a.run(&[
        "transfer",
        package.to_str().expect("utf-8 path"),
        "--report",
        report.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a rejection: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        a.snapshot(),
        before,
        "a rejected transfer changed the store"
    );
    assert_eq!(
        a.reports(),
        kept + 1,
        "the report was not kept in the store"
    );
    let bytes = std::fs::read(&report).expect("--report FILE written");
    serde_json::from_slice(&bytes).expect("the report is JSON")
}

/// The report's error findings.
fn errors(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect()
}

/// Asserts the report refuses exactly one thing: `code` about `file` of record `folder`.
fn refuses_only(report: &serde_json::Value, code: &str, folder: &str, file: &str) {
    let errs = errors(report);
    let codes: Vec<&str> = errs.iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(codes, [code], "{report:#}");
    let f = errs[0];
    assert_eq!(f["category"], "usability", "{f:#}");
    assert_eq!(f["file"], format!("data/{folder}/{file}"), "{f:#}");
    let record = f["record"].as_str().expect("the finding names the record");
    assert!(
        record.contains(folder) && record.contains("·2017-"),
        "record {record:?} should name the 档号 and folder"
    );
    assert!(
        !f["message"].as_str().unwrap_or_default().is_empty(),
        "{f:#}"
    );
}

fn zip_of_files(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in files {
        z.start_file(*name, opts).expect("zip entry");
        z.write_all(data).expect("zip write");
    }
    z.finish().expect("zip finish").into_inner()
}

#[test]
fn a_main_file_that_is_a_zip_archive_is_refused() {
    let a = archive_with_sample();
    let bag = next_year_package(a.dir.path(), "T-FMT-ZIP", |i, folder, rec| {
        if i == 0 {
            // The agency zipped the document instead of sending it.
            let pdf = std::fs::read(folder.join("正文.pdf")).expect("sample pdf");
            std::fs::remove_file(folder.join("正文.pdf")).expect("rm");
            std::fs::write(folder.join("正文.zip"), zip_of_files(&[("正文.pdf", &pdf)]))
                .expect("write zip");
            rec["files"][0]["path"] = "正文.zip".into();
        }
    });
    let report = rejected(&a, &bag);
    refuses_only(&report, "FMT_ARCHIVE", NOTICE, "正文.zip");
    let f = errors(&report)[0];
    assert_eq!(f["found"], "ZIP Format", "{f:#}");
}

#[test]
fn a_zip_archive_named_pdf_is_refused_by_its_content() {
    let a = archive_with_sample();
    let bag = next_year_package(a.dir.path(), "T-FMT-ZIP-PDF", |i, folder, _| {
        if i == 0 {
            let p = folder.join("正文.pdf");
            let pdf = std::fs::read(&p).expect("sample pdf");
            std::fs::write(&p, zip_of_files(&[("正文.pdf", &pdf)])).expect("write");
        }
    });
    refuses_only(&rejected(&a, &bag), "FMT_ARCHIVE", NOTICE, "正文.pdf");
}

#[test]
fn an_encrypted_pdf_is_refused() {
    let a = archive_with_sample();
    let bag = next_year_package(a.dir.path(), "T-FMT-ENC", |i, folder, _| {
        if i == 0 {
            // The sample PDF with an /Encrypt entry in its trailer: what a password-protected
            // PDF carries. The trailer follows the xref table, so no offset moves.
            let p = folder.join("正文.pdf");
            let pdf = std::fs::read(&p).expect("sample pdf");
            let trailer: &[u8] = b"<< /Size 6 /Root 1 0 R >>";
            let at = pdf
                .windows(trailer.len())
                .position(|w| w == trailer)
                .expect("the sample PDF's trailer is as expected");
            let mut enc = pdf[..at].to_vec();
            enc.extend_from_slice(b"<< /Size 6 /Root 1 0 R /Encrypt 6 0 R /ID [<00> <00>] >>");
            enc.extend_from_slice(&pdf[at + trailer.len()..]);
            std::fs::write(&p, enc).expect("write");
        }
    });
    refuses_only(&rejected(&a, &bag), "FMT_ENCRYPTED", NOTICE, "正文.pdf");
}

#[test]
fn an_unknown_binary_is_refused() {
    let a = archive_with_sample();
    let bag = next_year_package(a.dir.path(), "T-FMT-BIN", |i, folder, _| {
        if i == 2 {
            let junk: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
            std::fs::write(folder.join("目录.xml"), junk).expect("write");
        }
    });
    refuses_only(&rejected(&a, &bag), "FMT_UNKNOWN", CATALOGUE, "目录.xml");
}

#[test]
fn every_problem_is_reported_at_once() {
    let a = archive_with_sample();
    let bag = next_year_package(a.dir.path(), "T-FMT-ALL", |i, folder, _| match i {
        0 => std::fs::write(folder.join("正文.pdf"), b"").expect("write"),
        2 => std::fs::write(folder.join("目录.xml"), b"\x7FELF\x02\x01\x01\0").expect("write"),
        _ => {}
    });
    let report = rejected(&a, &bag);
    let mut codes: Vec<&str> = errors(&report)
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    codes.sort();
    assert_eq!(codes, ["FMT_EMPTY", "FMT_EXECUTABLE"], "{report:#}");
}

#[test]
fn the_sample_is_accepted_and_its_formats_are_in_the_evidence() {
    let a = Archive::new();
    let accepted = a.accept(&sample());
    assert_eq!(accepted["decision"], "accepted");
    // (record folder, file, registry id, detail)
    let want = [
        (NOTICE, "正文.pdf", "fmt/18", "PDF 1.4"),
        (NOTICE, "附件/清单.txt", "x-fmt/111", "UTF-8"),
        ("0002-会议纪要", "会议 纪要 第1期.txt", "x-fmt/111", "UTF-8"),
        ("0002-会议纪要", "签到表.png", "fmt/13", ""),
        (CATALOGUE, "目录.xml", "fmt/101", "XML 1.0, UTF-8"),
    ];
    for (folder, rec) in records(&sample()) {
        let refcode = rec["reference_code"].as_str().expect("档号");
        let out = a.run(&["get", refcode, "evidence/intake.json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let ev: serde_json::Value = serde_json::from_slice(&out.stdout).expect("evidence JSON");
        let files = ev["files"].as_array().expect("files");
        for (_, file, id, detail) in want.iter().filter(|w| w.0 == folder) {
            let f = files
                .iter()
                .find(|f| f["path"] == *file)
                .unwrap_or_else(|| panic!("{file} in the evidence: {ev:#}"));
            let format = &f["format"];
            assert_eq!(format["id"], *id, "{file}: {format:#}");
            if !detail.is_empty() {
                assert_eq!(format["detail"], *detail, "{file}: {format:#}");
            }
        }
        let fmt_warnings: Vec<&serde_json::Value> = ev["warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter(|f| f["code"].as_str().unwrap_or("").starts_with("FMT_"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(fmt_warnings.is_empty(), "{fmt_warnings:#?}");
    }
}
