//! Old bundles stay verifiable: a version-1 bundle issued by strongroom (record
//! `0194-WS·2016-D30-BGS-0002` of the sample transfer, archive key
//! `archive.example.gov.cn/strongroom`), kept in `tests/data/v1/` with its verifier key, must
//! verify with every check of `formats/copy-bundle.md` §7, and only with its own key. Add a
//! folder per bundle format version as versions are released; never regenerate old ones.
//!
//! Run with `cargo test -p verify-copy --test compat`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use verify_copy::{verify_file, KeySource, Options};

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn a_version_1_bundle_verifies_with_every_check() {
    let key = std::fs::read_to_string(data("v1/archive.vkey")).unwrap();
    let options = Options {
        key: Some(key),
        ..Options::default()
    };
    let report = verify_file(&data("v1/bundle.zip"), &options).unwrap();
    assert!(report.is_valid(), "{}", report.to_text());
    assert_eq!(report.key_source, KeySource::Given);
    assert!(report.notices.is_empty());
    for check in [
        "bundle.readable",
        "key",
        "manifest.signature",
        "manifest.format",
        "files.listed",
        "file.digest",
        "checkpoint.signature",
        "entry.proof",
        "record.inventory",
        "record.files",
    ] {
        assert!(
            report.checks.iter().any(|c| c.check == check && c.passed),
            "{check} did not run: {}",
            report.to_text()
        );
    }
}

#[test]
fn the_bundles_own_key_is_used_only_with_a_notice_and_another_key_fails() {
    let report = verify_file(&data("v1/bundle.zip"), &Options::default()).unwrap();
    assert!(report.is_valid());
    assert_eq!(report.key_source, KeySource::Bundle);
    assert!(report.notices[0].contains("NO KEY GIVEN"));
    // Go's known-answer key: a valid key, but not the archive's.
    let other = Options {
        key: Some("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW".into()),
        ..Options::default()
    };
    let report = verify_file(&data("v1/bundle.zip"), &other).unwrap();
    assert!(!report.is_valid());
    let failed: Vec<&str> = report.failures().map(|c| c.check).collect();
    assert!(failed.contains(&"manifest.signature"), "{failed:?}");
    assert!(failed.contains(&"checkpoint.signature"), "{failed:?}");
}

#[test]
fn a_file_that_is_not_a_zip_is_reported_not_panicked_on() {
    let report = verify_copy::verify(
        std::io::Cursor::new(b"not a zip".to_vec()),
        &Options::default(),
    );
    assert!(!report.is_valid());
    assert_eq!(report.checks[0].check, "bundle.readable");
}
