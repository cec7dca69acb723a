//! Every class of bad package: a clear finding, nothing stored, the report kept.
//! One archive per test, which first holds the sample transfer so "unchanged" means something.

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn archive_with_sample() -> Archive {
    let a = Archive::new();
    a.accept(&sample());
    a
}

/// A second transfer: the sample's records in the next year's series, so they do not clash.
fn fresh_package(dir: &Path, name: &str) -> PathBuf {
    next_year_package(dir, name, |_, _, _| {})
}

fn first_file(bag: &Path) -> PathBuf {
    let (folder, rec) = &records(bag)[0];
    bag.join("data")
        .join(folder)
        .join(rec["files"][0]["path"].as_str().expect("path"))
}

fn has(codes: &[String], prefix: &str) -> bool {
    codes.iter().any(|c| c.starts_with(prefix))
}

#[test]
fn a_fresh_package_is_accepted() {
    // Guards the tests below: their packages differ from an acceptable one only by the defect.
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-OK");
    a.accept(&bag);
}

#[test]
fn traversal_in_a_tar_is_refused() {
    let a = archive_with_sample();
    let p = a.dir.path().join("evil.tar");
    let bag = fresh_package(a.dir.path(), "T-TRAV");
    let mut b = tar::Builder::new(std::fs::File::create(&p).expect("create"));
    b.append_dir_all("bag", &bag).expect("tar");
    // The tar crate refuses to write `..` paths, so write the header's name bytes directly.
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    {
        let name = b"bag/data/../../escape.txt";
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
    }
    h.set_cksum();
    b.append(&h, &b"evil"[..]).expect("append");
    b.finish().expect("finish");
    let codes = a.reject(&p);
    assert!(has(&codes, "PKG_"), "{codes:?}");
    assert!(!a.dir.path().join("escape.txt").exists());
}

#[test]
fn a_symlink_is_refused_in_a_tar_and_in_a_folder() {
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-LINK");
    let (folder, _) = &records(&bag)[0];
    std::os::unix::fs::symlink(
        "/etc/passwd",
        bag.join("data").join(folder).join("link.txt"),
    )
    .expect("symlink");
    let codes = a.reject(&bag);
    assert!(has(&codes, "PKG_"), "{codes:?}");
    let p = a.dir.path().join("link.tar");
    tar_of(&bag, &p);
    let codes = a.reject(&p);
    assert!(has(&codes, "PKG_"), "{codes:?}");
}

#[test]
fn a_zstd_bomb_fails_fast() {
    let a = archive_with_sample();
    let p = a.dir.path().join("bomb.tar.zst");
    let f = std::fs::File::create(&p).expect("create");
    let enc = zstd::Encoder::new(f, 1).expect("zstd");
    let mut b = tar::Builder::new(enc);
    // 4 GiB of zeros declared in one entry, streamed: compresses to a few hundred KiB.
    let size: u64 = 4 << 30;
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_path("bag/data/r/zeros.txt").expect("path");
    h.set_cksum();
    struct Zeros(u64);
    impl std::io::Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (buf.len() as u64).min(self.0) as usize;
            buf[..n].fill(0);
            self.0 -= n as u64;
            Ok(n)
        }
    }
    b.append(&h, Zeros(size)).expect("append");
    b.into_inner().expect("tar").finish().expect("zstd");
    assert!(std::fs::metadata(&p).expect("meta").len() < 8 << 20);
    let started = std::time::Instant::now();
    let codes = a.reject(&p);
    assert!(has(&codes, "PKG_"), "{codes:?}");
    // Not a timing assertion of speed: a bound that only a full 4 GiB extraction would break.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let staged: u64 = walkdir::WalkDir::new(a.home.join("staging"))
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(staged < 1 << 20, "staging left {staged} bytes behind");
}

#[test]
fn a_truncated_archive_is_refused() {
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-TRUNC");
    let p = a.dir.path().join("cut.tar");
    tar_of(&bag, &p);
    let len = std::fs::metadata(&p).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .expect("open");
    f.set_len(len / 2 + 100).expect("truncate");
    let codes = a.reject(&p);
    assert!(!codes.is_empty());
}

#[test]
fn a_missing_file_is_refused() {
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-MISS");
    std::fs::remove_file(first_file(&bag)).expect("rm");
    let codes = a.reject(&bag);
    assert!(has(&codes, "BAG_"), "{codes:?}");
}

#[test]
fn an_extra_file_is_refused() {
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-EXTRA");
    let (folder, _) = &records(&bag)[0];
    std::fs::write(
        bag.join("data").join(folder).join("extra.txt"),
        "不在清单中",
    )
    .expect("write");
    let codes = a.reject(&bag);
    assert!(has(&codes, "BAG_"), "{codes:?}");
}

#[test]
fn an_altered_file_is_refused() {
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-ALT");
    let p = first_file(&bag);
    let mut b = std::fs::read(&p).expect("read");
    let i = b.len() / 2;
    b[i] ^= 0x20;
    std::fs::write(&p, b).expect("write");
    let codes = a.reject(&bag);
    assert!(codes.iter().any(|c| c.contains("DIGEST")), "{codes:?}");
}

#[test]
fn a_wrong_declared_digest_is_refused() {
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-DIGEST");
    let m = bag.join("manifest-sha256.txt");
    let text = std::fs::read_to_string(&m).expect("manifest");
    let first = text.lines().next().expect("a line").to_string();
    let wrong = format!("{}{}", "0".repeat(64), &first[64..]);
    std::fs::write(&m, text.replacen(&first, &wrong, 1)).expect("write");
    let codes = a.reject(&bag);
    assert!(
        codes
            .iter()
            .any(|c| c.contains("DIGEST") || c.starts_with("BAG_")),
        "{codes:?}"
    );
}

#[test]
fn bad_metadata_is_reported_all_at_once() {
    let a = archive_with_sample();
    let bag = fresh_package(a.dir.path(), "T-META");
    let recs = records(&bag);
    // Record 0: a look-alike dot and a bad date; record 1: a missing title.
    let (f0, mut r0) = recs[0].clone();
    let code = r0["reference_code"]
        .as_str()
        .expect("档号")
        .replace('·', "\u{30FB}");
    r0["reference_code"] = code.into();
    r0["date"] = "2016-13-45".into();
    std::fs::write(
        bag.join("data").join(&f0).join("record.json"),
        serde_json::to_vec(&r0).expect("json"),
    )
    .expect("write");
    let (f1, mut r1) = recs[1].clone();
    r1.as_object_mut().expect("object").remove("title");
    std::fs::write(
        bag.join("data").join(&f1).join("record.json"),
        serde_json::to_vec(&r1).expect("json"),
    )
    .expect("write");
    rebag(&bag, &[]);
    let (code, report) = a.json(&["transfer", bag.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1));
    let codes = codes(&report);
    let meta: Vec<_> = codes.iter().filter(|c| c.starts_with("META_")).collect();
    assert!(
        meta.len() >= 3,
        "every metadata problem in one report: {report:#}"
    );
    let s = report.to_string();
    assert!(
        s.contains("U+00B7") || s.contains('\u{b7}'),
        "hint names the right dot: {report:#}"
    );
    assert!(s.contains(&f0) && s.contains(&f1), "names both records");
}

#[test]
fn a_duplicate_reference_code_is_refused() {
    let a = archive_with_sample();
    // The sample's records again under another transfer id.
    let bag = sample_copy(a.dir.path(), "T-DUP");
    rebag(&bag, &[("External-Identifier", "T-DUP")]);
    let codes = a.reject(&bag);
    assert!(codes.contains(&"REFCODE_EXISTS".to_string()), "{codes:?}");
}

#[test]
fn names_colliding_after_nfc_or_case_folding_are_refused() {
    let a = archive_with_sample();
    for (n, (x, y)) in [
        ("T-NFC", ("caf\u{e9}.txt", "cafe\u{301}.txt")),
        ("T-CASE", ("Note.txt", "note.txt")),
    ] {
        let bag = fresh_package(a.dir.path(), n);
        let (folder, _) = &records(&bag)[0];
        let d = bag.join("data").join(folder);
        std::fs::write(d.join(x), "一").expect("write");
        std::fs::write(d.join(y), "二").expect("write");
        let p = a.dir.path().join(format!("{n}.tar"));
        tar_of(&bag, &p);
        let codes = a.reject(&p);
        assert!(has(&codes, "PKG_"), "{n}: {codes:?}");
    }
}

#[test]
fn a_gap_in_item_numbers_is_refused_unless_the_archive_holds_them() {
    let a = Archive::new();
    let bag = sample_copy(a.dir.path(), "T-GAP");
    let recs = records(&bag);
    assert!(recs.len() >= 3);
    // Drop the second record: its number is missing from the run.
    std::fs::remove_dir_all(bag.join("data").join(&recs[1].0)).expect("rm");
    rebag(&bag, &[]);
    let codes = a.reject(&bag);
    assert!(codes.contains(&"ITEM_NUMBER_GAP".to_string()), "{codes:?}");
}

#[test]
fn md5_only_and_fetch_bags_pass_bag_validate_but_not_transfer() {
    let a = Archive::new();
    let bag = sample_copy(a.dir.path(), "T-MD5");
    let info = bag_info(&bag);
    for e in std::fs::read_dir(&bag).expect("dir") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("manifest-")
            || name.starts_with("tagmanifest-")
            || name == "bag-info.txt"
            || name == "bagit.txt"
        {
            std::fs::remove_file(e.path()).expect("rm");
        }
    }
    strongroom::bagit::create_bag(&bag, &info, &[strongroom::digest::Algorithm::Md5]).expect("bag");
    let v = a.run(&["bag", "validate", bag.to_str().expect("utf-8")]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    let codes = a.reject(&bag);
    assert!(
        codes.contains(&"PROFILE_WEAK_MANIFEST".to_string()),
        "{codes:?}"
    );

    let bag = sample_copy(a.dir.path(), "T-FETCH");
    let mut f = std::fs::File::create(bag.join("fetch.txt")).expect("fetch");
    writeln!(f, "https://example.org/x.txt 4 data/x.txt").expect("write");
    rebag(&bag, &[]);
    let codes = a.reject(&bag);
    assert!(codes.contains(&"PROFILE_FETCH".to_string()), "{codes:?}");
}
