//! BagIt (RFC 8493) bags: validation of a bag on disk and creation of a bag around a payload.
//!
//! Owns the BagIt tag-file grammar, path rules and the parallel fixity pass over a bag's
//! files. It reports what it finds as [`Finding`]s (codes in `formats/bagit-checks.md`) and
//! never decides whether a bag is fit for the archive: the intake does that on top.
//! It must not write into a bag it validates.

mod create;
mod hash;
mod text;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::digest::{Algorithm, Digests};
use crate::findings::Finding;

pub use create::create_bag;
pub use validate::validate;

/// The `bag-info.txt` elements of an unpacked bag, read as [`validate`] reads them (the
/// declared tag-file encoding, continuation lines joined), without validating anything
/// else: for a look at who sent a package before it is checked. Empty when the bag has no
/// readable bag-info; problems are left for [`validate`] to report.
pub fn read_info(root: &std::path::Path) -> Vec<(String, String)> {
    let mut ignored = Vec::new();
    let decl = std::fs::read(root.join("bagit.txt"))
        .map(|b| text::parse_declaration(&b, &mut ignored))
        .ok();
    let v1 = decl
        .as_ref()
        .and_then(|d| d.version)
        .unwrap_or(text::Version::V1_0)
        .is_rfc8493();
    let encoding = match decl.as_ref().map(|d| d.encoding_text.as_str()) {
        None | Some("") => text::Encoding::Utf8,
        Some(label) => text::Encoding::from_label(label),
    };
    std::fs::read(root.join("bag-info.txt"))
        .ok()
        .and_then(|b| text::decode(&b, &encoding, "bag-info.txt", &mut ignored))
        .map(|t| text::parse_info(&t, "bag-info.txt", v1, &mut ignored))
        .unwrap_or_default()
}

/// The first value of `label` (compared case-insensitively) among bag-info elements.
pub fn info_value<'a>(info: &'a [(String, String)], label: &str) -> Option<&'a str> {
    info.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(label))
        .map(|(_, v)| v.as_str())
}

/// How [`validate`] works. The default computes nothing extra and uses every core.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Digests to compute for every payload file on top of those the manifests declare
    /// (the archive's own sha512/sha256/sm3), in the same read.
    pub also_compute: Vec<Algorithm>,
    /// Worker threads hashing files; 0 means `std::thread::available_parallelism`.
    pub threads: usize,
}

/// One payload file (载荷文件) present on disk under `data/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFile {
    /// Path relative to the bag root, `/`-separated, starting `data/`, percent-decoded, spelt
    /// as on disk (the on-disk Unicode normalisation form wins over the manifest's).
    pub path: String,
    /// Size in bytes, as read.
    pub size: u64,
    /// Digests computed from the bytes: every payload-manifest algorithm strongroom knows,
    /// plus [`ValidateOptions::also_compute`].
    pub computed: Digests,
    /// Digests the payload manifests declare for this file (lowercase hex).
    pub declared: BTreeMap<Algorithm, String>,
}

/// What a bag says about itself, as read by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bag {
    /// The bag's root folder.
    pub root: PathBuf,
    /// `BagIt-Version` from `bagit.txt`, e.g. `"1.0"`.
    pub version: String,
    /// `Tag-File-Character-Encoding` from `bagit.txt`, e.g. `"UTF-8"`.
    pub encoding: String,
    /// `bag-info.txt` (`package-info.txt` before 0.96) in file order, continuation lines
    /// joined with one space.
    pub info: Vec<(String, String)>,
    /// Algorithms of the payload manifests that strongroom knows, sorted.
    pub manifest_algorithms: Vec<Algorithm>,
    /// Algorithms of the tag manifests that strongroom knows, sorted.
    pub tag_manifest_algorithms: Vec<Algorithm>,
    /// True when the bag has a `fetch.txt` (a "holey" bag).
    pub has_fetch: bool,
    /// Payload files present on disk, sorted by path.
    pub payload: Vec<PayloadFile>,
}

impl Bag {
    /// The first value of a bag-info element; labels compare case-insensitively.
    pub fn info_value(&self, key: &str) -> Option<&str> {
        info_value(&self.info, key)
    }

    /// Every value of a bag-info element, in file order; labels compare case-insensitively.
    pub fn info_values(&self, key: &str) -> Vec<&str> {
        self.info
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The outcome of [`validate`]: every finding, and the bag as far as it could be read.
#[derive(Debug, Clone)]
pub struct BagReport {
    /// Every problem found, errors and warnings.
    pub findings: Vec<Finding>,
    /// The bag; `None` only when the folder is not a bag at all (not a folder, or no
    /// readable `bagit.txt`).
    pub bag: Option<Bag>,
}

impl BagReport {
    /// True when no finding is an error: the bag is valid in the RFC 8493 sense.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(Finding::is_error)
    }
}

/// A failure of [`create_bag`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The folder has no `data/` payload folder.
    #[error("{0} has no data/ payload folder")]
    NoPayloadDir(PathBuf),
    /// A name under `data/` is not UTF-8 and cannot be written to a UTF-8 manifest.
    #[error("file name is not UTF-8: {0}")]
    NonUtf8Path(PathBuf),
    /// The payload holds something other than regular files and folders.
    #[error("not a regular file (symbolic link or special file): {0}")]
    NotRegular(PathBuf),
    /// No algorithm was asked for.
    #[error("at least one manifest algorithm is required")]
    NoAlgorithms,
    /// A bag-info element cannot be written as RFC 8493 requires.
    #[error("bag-info element {label:?}: {reason}")]
    InvalidInfo {
        /// The label.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tag file to be written already exists (bags are created, never rewritten).
    #[error("{0} already exists")]
    AlreadyExists(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    #[test]
    fn read_info_reads_labels_as_validate_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("bagit.txt"),
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        )
        .expect("write");
        fs::write(
            dir.path().join("bag-info.txt"),
            "agency-code: 11330100MB0000001Y\nExternal-Identifier: YJ-2016\n  -0001\n",
        )
        .expect("write");
        let info = read_info(dir.path());
        assert_eq!(info_value(&info, "Agency-Code"), Some("11330100MB0000001Y"));
        assert_eq!(
            info_value(&info, "External-Identifier"),
            Some("YJ-2016 -0001")
        );
        assert!(read_info(&dir.path().join("none")).is_empty());
    }

    fn codes(r: &BagReport) -> Vec<String> {
        r.findings.iter().map(|f| f.code.clone()).collect()
    }

    fn errors(r: &BagReport) -> Vec<&Finding> {
        r.findings.iter().filter(|f| f.is_error()).collect()
    }

    /// A payload with spaces, Chinese names, a nested folder, and a name needing escapes.
    fn payload(dir: &Path) {
        let data = dir.join("data");
        fs::create_dir_all(data.join("卷宗 一/子目录")).expect("mkdir");
        fs::write(data.join("a b.txt"), b"hello").expect("write");
        fs::write(data.join("卷宗 一/文书.txt"), "中文内容".as_bytes()).expect("write");
        fs::write(data.join("卷宗 一/子目录/100% done.bin"), vec![7u8; 3000]).expect("write");
        fs::write(data.join("line\nbreak.txt"), b"x").expect("write");
        fs::write(data.join("empty"), b"").expect("write");
    }

    fn new_bag() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        payload(t.path());
        create_bag(
            t.path(),
            &[
                ("Source-Organization".into(), "某某市档案馆".into()),
                (
                    "External-Identifier".into(),
                    "0194-WS·2016-D30-BGS-0001".into(),
                ),
            ],
            &[Algorithm::Sha512, Algorithm::Sha256],
        )
        .expect("create_bag");
        t
    }

    #[test]
    fn round_trip_is_valid_without_warnings() {
        let t = new_bag();
        let opts = ValidateOptions {
            also_compute: vec![Algorithm::Sm3],
            threads: 3,
        };
        let r = validate(t.path(), &opts);
        assert!(r.findings.is_empty(), "{:#?}", r.findings);
        let bag = r.bag.expect("bag");
        assert_eq!(bag.version, "1.0");
        assert_eq!(bag.encoding, "UTF-8");
        assert_eq!(
            bag.manifest_algorithms,
            vec![Algorithm::Sha256, Algorithm::Sha512]
        );
        assert_eq!(
            bag.tag_manifest_algorithms,
            vec![Algorithm::Sha256, Algorithm::Sha512]
        );
        assert!(!bag.has_fetch);
        assert_eq!(bag.info_value("source-organization"), Some("某某市档案馆"));
        assert_eq!(bag.info_value("payload-oxum"), Some("3018.5"));
        assert!(bag.info_value("Bagging-Date").is_some());
        let paths: Vec<&str> = bag.payload.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "data/a b.txt",
                "data/empty",
                "data/line\nbreak.txt",
                "data/卷宗 一/子目录/100% done.bin",
                "data/卷宗 一/文书.txt",
            ]
        );
        let f = &bag.payload[0];
        assert_eq!(f.size, 5);
        assert_eq!(
            f.computed[&Algorithm::Sha256],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(f.computed.contains_key(&Algorithm::Sm3), "also_compute");
        assert_eq!(
            f.declared[&Algorithm::Sha256],
            f.computed[&Algorithm::Sha256]
        );
        assert_eq!(f.declared.len(), 2);
        let manifest = fs::read_to_string(t.path().join("manifest-sha256.txt")).expect("read");
        assert!(manifest.contains("  data/line%0Abreak.txt\n"), "{manifest}");
        assert!(
            manifest.contains("  data/卷宗 一/子目录/100%25 done.bin\n"),
            "{manifest}"
        );
        let tags = fs::read_to_string(t.path().join("tagmanifest-sha512.txt")).expect("read");
        for name in [
            "bagit.txt",
            "bag-info.txt",
            "manifest-sha256.txt",
            "manifest-sha512.txt",
        ] {
            assert!(tags.contains(&format!("  {name}\n")), "{name} in {tags}");
        }
    }

    #[test]
    fn tampering_is_found() {
        let t = new_bag();
        let opts = ValidateOptions::default();
        fs::write(t.path().join("data/a b.txt"), b"HELLO").expect("write");
        let r = validate(t.path(), &opts);
        let mism: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.code == "BAG_DIGEST_MISMATCH")
            .collect();
        assert_eq!(mism.len(), 2, "one per manifest: {:#?}", r.findings);
        assert_eq!(mism[0].file.as_deref(), Some("data/a b.txt"));
        assert_eq!(mism[0].category, crate::findings::Category::Authenticity);
        assert!(mism[0].expected.is_some() && mism[0].found.is_some());
        assert!(!r.is_valid());

        fs::write(t.path().join("data/a b.txt"), b"hello").expect("write");
        fs::write(t.path().join("data/extra.txt"), b"extra").expect("write");
        fs::remove_file(t.path().join("data/empty")).expect("rm");
        let r = validate(t.path(), &opts);
        let c = codes(&r);
        assert!(c.contains(&"BAG_FILE_UNDECLARED".into()), "{c:?}");
        assert!(c.contains(&"BAG_FILE_MISSING".into()), "{c:?}");
        assert!(c.contains(&"BAG_OXUM_MISMATCH".into()), "{c:?}");
        let missing = r
            .findings
            .iter()
            .find(|f| f.code == "BAG_FILE_MISSING")
            .expect("missing");
        assert_eq!(missing.file.as_deref(), Some("data/empty"));

        fs::remove_file(t.path().join("data/extra.txt")).expect("rm");
        fs::write(t.path().join("data/empty"), b"").expect("write");
        fs::write(t.path().join("bag-info.txt"), b"Payload-Oxum: 3018.5\n").expect("write");
        let r = validate(t.path(), &opts);
        assert_eq!(
            codes(&r),
            vec!["BAG_DIGEST_MISMATCH", "BAG_DIGEST_MISMATCH"],
            "tag manifests"
        );
        assert_eq!(r.findings[0].file.as_deref(), Some("bag-info.txt"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused() {
        let t = new_bag();
        std::os::unix::fs::symlink("/etc/passwd", t.path().join("data/link")).expect("symlink");
        let r = validate(t.path(), &ValidateOptions::default());
        let e = errors(&r);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].code, "BAG_SYMLINK");
        assert_eq!(e[0].category, crate::findings::Category::Security);
        let t2 = tempfile::tempdir().expect("tempdir");
        payload(t2.path());
        std::os::unix::fs::symlink("/etc/passwd", t2.path().join("data/link")).expect("symlink");
        assert!(matches!(
            create_bag(t2.path(), &[], &[Algorithm::Sha256]),
            Err(Error::NotRegular(_))
        ));
    }

    #[test]
    fn hand_written_bag_edge_cases() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path();
        fs::create_dir_all(d.join("data")).expect("mkdir");
        fs::write(d.join("data/f"), b"abc").expect("write");
        fs::write(
            d.join("bagit.txt"),
            "BagIt-Version: 1.0\r\nTag-File-Character-Encoding: UTF-8\r\n",
        )
        .expect("w");
        let md5 = "900150983cd24fb0d6963f7d28e17f72";
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        fs::write(
            d.join("manifest-md5.txt"),
            format!("{md5}  data/f\n{md5}  data/f\n"),
        )
        .expect("w");
        fs::write(
            d.join("fetch.txt"),
            "https://example.org/g 10 data/g\nhttps://example.org/h - ../h\n",
        )
        .expect("w");
        fs::write(
            d.join("manifest-sha256.txt"),
            format!("{sha256}\tdata/f\n{sha256} data/g\n"),
        )
        .expect("w");
        fs::write(d.join("manifest-foo.txt"), "zz data/f\n").expect("w");
        let r = validate(d, &ValidateOptions::default());
        let c = codes(&r);
        for want in [
            "BAG_MANIFEST_DUPLICATE", // error in 1.0
            "BAG_FETCH_PRESENT",
            "BAG_FETCH_PENDING",  // data/g is listed in fetch.txt
            "BAG_FETCH_UNLISTED", // …but not in manifest-md5.txt
            "BAG_PATH_UNSAFE",    // ../h in fetch.txt
            "BAG_ALGORITHM_UNKNOWN",
        ] {
            assert!(c.contains(&want.to_string()), "{want} in {c:?}");
        }
        assert!(
            !c.contains(&"BAG_FILE_MISSING".to_string()),
            "fetched files may be absent: {c:?}"
        );
        let dup = r
            .findings
            .iter()
            .find(|f| f.code == "BAG_MANIFEST_DUPLICATE")
            .expect("dup");
        assert!(dup.is_error());
        let bag = r.bag.expect("bag");
        assert!(bag.has_fetch);
        assert_eq!(
            bag.manifest_algorithms,
            vec![Algorithm::Md5, Algorithm::Sha256]
        );
    }

    /// A 1.0 bag from tag-file texts; `data/hello.txt` holds "hello".
    fn tiny_bag(manifest: &str, extra: &[(&str, &[u8])]) -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path();
        fs::create_dir_all(d.join("data")).expect("mkdir");
        fs::write(d.join("data/hello.txt"), b"hello").expect("write");
        fs::write(
            d.join("bagit.txt"),
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        )
        .expect("write");
        fs::write(d.join("manifest-sha256.txt"), manifest).expect("write");
        for (name, body) in extra {
            fs::write(d.join(name), body).expect("write");
        }
        t
    }

    const HELLO256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn case_and_system_file_leniency_is_narrow() {
        let ok = tiny_bag(
            &format!("{HELLO256}  data/hello.txt\n{HELLO256}  data/HELLO.txt\n"),
            &[],
        );
        let r = validate(ok.path(), &ValidateOptions::default());
        assert!(r.is_valid(), "{:#?}", r.findings);
        assert!(codes(&r).contains(&"BAG_PATH_CASE_COLLISION".to_string()));
        let zeros = "0".repeat(64);
        let bad = tiny_bag(
            &format!("{HELLO256}  data/hello.txt\n{zeros}  data/HELLO.txt\n"),
            &[],
        );
        let r = validate(bad.path(), &ValidateOptions::default());
        assert_eq!(errors(&r).len(), 1, "{:#?}", r.findings);
        assert_eq!(errors(&r)[0].code, "BAG_FILE_MISSING");
        let sys = tiny_bag(
            &format!("{HELLO256}  data/hello.txt\n{zeros}  data/sub/.DS_Store\n"),
            &[("bag-info.txt", b"Payload-Oxum: 5.2\n")],
        );
        let r = validate(sys.path(), &ValidateOptions::default());
        assert!(r.is_valid(), "{:#?}", r.findings);
        assert_eq!(codes(&r), vec!["BAG_SYSTEM_FILE_MISSING"]);
    }

    #[test]
    fn tag_manifest_rules_and_oxum_syntax() {
        let t = tiny_bag(
            &format!("{HELLO256}  data/hello.txt\n"),
            &[
                ("bag-info.txt", b"Payload-Oxum: 5 files\n"),
                ("tagmanifest-md5.txt", b"d41d8cd98f00b204e9800998ecf8427e  tagmanifest-sha1.txt\n5d41402abc4b2a76b9719d911017c592  data/hello.txt\n"),
            ],
        );
        let r = validate(t.path(), &ValidateOptions::default());
        let mut e: Vec<&str> = errors(&r).iter().map(|f| f.code.as_str()).collect();
        e.sort();
        assert_eq!(
            e,
            vec![
                "BAG_OXUM_SYNTAX",
                "BAG_TAGMANIFEST_LISTS_PAYLOAD",
                "BAG_TAGMANIFEST_LISTS_TAGMANIFEST"
            ],
            "{:#?}",
            r.findings
        );
    }

    #[test]
    fn utf16_and_unsupported_encodings() {
        let t = tiny_bag(&format!("{HELLO256}  data/hello.txt\n"), &[]);
        let d = t.path();
        fs::write(
            d.join("bagit.txt"),
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-16\n",
        )
        .expect("write");
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "Source-Organization: 档案馆\n".encode_utf16() {
            utf16.extend(u.to_le_bytes());
        }
        fs::write(d.join("bag-info.txt"), &utf16).expect("write");
        let mut m = vec![0xFE, 0xFF];
        for u in format!("{HELLO256}  data/hello.txt\n").encode_utf16() {
            m.extend(u.to_be_bytes());
        }
        fs::write(d.join("manifest-sha256.txt"), &m).expect("write");
        let r = validate(d, &ValidateOptions::default());
        assert!(r.is_valid(), "{:#?}", r.findings);
        assert_eq!(codes(&r), vec!["BAG_ENCODING_NOT_UTF8"]);
        assert_eq!(
            r.bag.expect("bag").info_value("Source-Organization"),
            Some("档案馆")
        );

        fs::write(
            d.join("bagit.txt"),
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: GB18030\n",
        )
        .expect("write");
        fs::write(d.join("bag-info.txt"), b"A: 1\n").expect("write");
        fs::write(
            d.join("manifest-sha256.txt"),
            format!("{HELLO256}  data/hello.txt\n"),
        )
        .expect("write");
        let r = validate(d, &ValidateOptions::default());
        assert_eq!(
            codes(&r),
            vec!["BAG_ENCODING_UNSUPPORTED"],
            "ASCII content still read"
        );
    }

    #[test]
    fn not_a_bag() {
        let t = tempfile::tempdir().expect("tempdir");
        let r = validate(&t.path().join("nope"), &ValidateOptions::default());
        assert!(r.bag.is_none() && !r.is_valid());
        let r = validate(t.path(), &ValidateOptions::default());
        assert!(r.bag.is_none());
        let c = codes(&r);
        for want in [
            "BAG_DECLARATION_MISSING",
            "BAG_PAYLOAD_DIR_MISSING",
            "BAG_MANIFEST_MISSING",
        ] {
            assert!(c.contains(&want.to_string()), "{want} in {c:?}");
        }
    }

    /// Every code the sources emit is documented in formats/bagit-checks.md, and vice versa.
    #[test]
    fn codes_are_documented() {
        let doc = include_str!("../../formats/bagit-checks.md");
        let sources = [
            include_str!("mod.rs"),
            include_str!("text.rs"),
            include_str!("validate.rs"),
            include_str!("hash.rs"),
            include_str!("create.rs"),
        ];
        let scan = |s: &str, open: char, close: char| -> std::collections::BTreeSet<String> {
            let pat = format!("{open}BAG_");
            s.match_indices(&pat)
                .filter_map(|(i, _)| {
                    let rest = &s[i + 1..];
                    let end = rest.find(close)?;
                    let code = &rest[..end];
                    code.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                        .then(|| code.to_string())
                })
                .collect()
        };
        let emitted: std::collections::BTreeSet<String> =
            sources.iter().flat_map(|s| scan(s, '"', '"')).collect();
        let documented = scan(doc, '`', '`');
        assert!(emitted.len() > 40, "{emitted:?}");
        assert_eq!(emitted, documented);
    }

    #[test]
    fn create_refuses_bad_input() {
        let t = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            create_bag(t.path(), &[], &[Algorithm::Sha256]),
            Err(Error::NoPayloadDir(_))
        ));
        payload(t.path());
        assert!(matches!(
            create_bag(t.path(), &[], &[]),
            Err(Error::NoAlgorithms)
        ));
        for (l, v) in [
            ("A:B", "x"),
            (" A", "x"),
            ("A", "two\nlines"),
            ("Payload-Oxum", "1.1"),
        ] {
            assert!(
                matches!(
                    create_bag(t.path(), &[(l.into(), v.into())], &[Algorithm::Sha256]),
                    Err(Error::InvalidInfo { .. })
                ),
                "{l:?}: {v:?}"
            );
        }
        create_bag(t.path(), &[], &[Algorithm::Sha256]).expect("first");
        assert!(matches!(
            create_bag(t.path(), &[], &[Algorithm::Sha256]),
            Err(Error::AlreadyExists(_))
        ));
    }
}
