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

/// How [`validate`] works.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Digests to compute for every payload file on top of those the manifests declare
    /// (the archive's own sha512/sha256/sm3), in the same read.
    pub also_compute: Vec<Algorithm>,
    /// Worker threads hashing files; 0 means `std::thread::available_parallelism`.
    pub threads: usize,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            also_compute: Vec::new(),
            threads: 0,
        }
    }
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
        self.info
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
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
