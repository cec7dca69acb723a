//! Opening a transfer package safely (安全性): a bag folder, `.tar`, `.tar.zst` or `.zip`.
//!
//! Owns path safety, unpacking limits and the optional virus scan; knows nothing of BagIt
//! beyond finding `bagit.txt`. Every refusal is a `PKG_*` finding
//! (`formats/transfer-package-security.md`); an [`Error`] means the environment failed
//! (staging directory not writable), not the package.

mod names;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::findings::{Category, Finding};

pub use names::NameChecker;

/// Limits on what a package may unpack to. Exceeding one stops unpacking at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of all files.
    pub max_total_bytes: u64,
    /// Number of files.
    pub max_files: u64,
    /// Bytes in one path (UTF-8); every component is also held to 255 bytes.
    pub max_path_bytes: usize,
    /// Uncompressed / compressed bytes, for compressed packages (bomb guard).
    pub max_ratio: u64,
    /// Folder depth.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 64 << 30,
            max_files: 1_000_000,
            max_path_bytes: 1024,
            max_ratio: 100,
            max_depth: 32,
        }
    }
}

/// What kind of package it is (by content, not by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKind {
    /// A folder, used in place.
    Directory,
    /// A POSIX tar.
    Tar,
    /// A tar compressed with zstd.
    TarZstd,
    /// A zip.
    Zip,
}

/// Environment failures while opening a package.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The staging directory could not be made or written.
    #[error("cannot stage the package under {path}")]
    Staging {
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The package path could not be read at all.
    #[error("cannot read the package {path}")]
    Read {
        /// Which.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The virus-scan command could not be started.
    #[error("cannot run the virus-scan command {command:?}")]
    Scan {
        /// The command.
        command: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// An opened package: where its bag is and what was found on the way.
#[derive(Debug)]
pub struct Unpacked {
    /// The bag root (the folder holding `bagit.txt`, or the best guess when none does).
    pub root: PathBuf,
    /// What the package was.
    pub kind: PackageKind,
    /// Security findings.
    pub findings: Vec<Finding>,
    /// Payload bytes unpacked (or found in the folder).
    pub bytes: u64,
    /// Files unpacked (or found).
    pub files: u64,
    // Keeps the staging copy alive; dropping it removes the copy.
    _staging: Option<tempfile::TempDir>,
}

impl Unpacked {
    /// True when nothing refuses the package on safety grounds.
    pub fn is_safe(&self) -> bool {
        !self.findings.iter().any(Finding::is_error)
    }
}

fn finding(code: &str, message: impl Into<String>) -> Finding {
    Finding::error(code, Category::Security, message)
}

/// Detects the package kind from its first bytes.
pub fn detect(path: &Path) -> Result<Option<PackageKind>, Error> {
    if path.is_dir() {
        return Ok(Some(PackageKind::Directory));
    }
    let mut head = [0u8; 512];
    let mut f = File::open(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Read {
                    path: path.into(),
                    source,
                })
            }
        }
    }
    let head = &head[..n];
    Ok(if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Some(PackageKind::TarZstd)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(PackageKind::Zip)
    } else if n >= 262 && &head[257..262] == b"ustar" {
        Some(PackageKind::Tar)
    } else {
        None
    })
}

/// Opens a package: a folder is walked in place, an archive is unpacked under
/// `staging_parent` with every safety check and limit applied while streaming.
pub fn open(package: &Path, staging_parent: &Path, limits: &Limits) -> Result<Unpacked, Error> {
    let Some(kind) = detect(package)? else {
        return Ok(Unpacked {
            root: package.to_path_buf(),
            kind: PackageKind::Directory,
            findings: vec![finding(
                "PKG_UNKNOWN_FORMAT",
                "the package is neither a folder nor a .tar, .tar.zst or .zip archive",
            )
            .file(package.display().to_string())],
            bytes: 0,
            files: 0,
            _staging: None,
        });
    };
    if kind == PackageKind::Directory {
        return Ok(walk_folder(package, limits));
    }
    std::fs::create_dir_all(staging_parent).map_err(|source| Error::Staging {
        path: staging_parent.into(),
        source,
    })?;
    let tmp = tempfile::Builder::new()
        .prefix("unpack-")
        .tempdir_in(staging_parent)
        .map_err(|source| Error::Staging {
            path: staging_parent.into(),
            source,
        })?;
    let dest = tmp.path().to_path_buf();
    let compressed_len = std::fs::metadata(package).map(|m| m.len()).unwrap_or(0);
    let mut x = Extractor::new(&dest, limits, compressed_len);
    let file = File::open(package).map_err(|source| Error::Read {
        path: package.into(),
        source,
    })?;
    let counted = CountingReader::new(file);
    let consumed = counted.count.clone();
    match kind {
        PackageKind::Tar => x.tar(counted, None),
        PackageKind::TarZstd => match zstd::Decoder::new(counted) {
            Ok(d) => x.tar(d, Some(consumed)),
            Err(e) => x.stop(finding(
                "PKG_CORRUPT",
                format!("not a readable zstd stream: {e}"),
            )),
        },
        PackageKind::Zip => x.zip(package),
        PackageKind::Directory => {}
    }
    if x.stopped {
        // Leave nothing behind of a refused package: a bomb must not fill the disk.
        let _ = std::fs::remove_dir_all(&dest);
        let _ = std::fs::create_dir_all(&dest);
    }
    let root = bag_root(&dest);
    Ok(Unpacked {
        root,
        kind,
        findings: x.findings,
        bytes: x.bytes,
        files: x.files,
        _staging: Some(tmp),
    })
}

/// The bag root inside an unpacked tree: the top, or its single folder when only that
/// folder holds `bagit.txt`.
fn bag_root(dest: &Path) -> PathBuf {
    if dest.join("bagit.txt").exists() {
        return dest.to_path_buf();
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dest)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.is_dir() => only.clone(),
        _ => dest.to_path_buf(),
    }
}

fn walk_folder(root: &Path, limits: &Limits) -> Unpacked {
    let mut findings = Vec::new();
    let mut names = NameChecker::new(limits);
    let (mut bytes, mut files) = (0u64, 0u64);
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                findings.push(finding(
                    "PKG_UNREADABLE",
                    format!("cannot read the folder: {e}"),
                ));
                continue;
            }
        };
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let Some(rel_str) = rel.to_str() else {
            findings.push(
                finding("PKG_NAME_NOT_UTF8", "a file name is not valid UTF-8")
                    .file(rel.to_string_lossy().into_owned()),
            );
            continue;
        };
        let ft = entry.file_type();
        findings.extend(names.check(rel_str));
        if ft.is_symlink() {
            findings.push(
                finding(
                    "PKG_LINK",
                    "links are not accepted: a package holds the files themselves",
                )
                .file(rel_str.to_string()),
            );
        } else if ft.is_file() {
            files += 1;
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            if files > limits.max_files {
                findings.push(too_many(limits));
                break;
            }
            if bytes > limits.max_total_bytes {
                findings.push(too_large(limits));
                break;
            }
        } else if !ft.is_dir() {
            findings.push(
                finding(
                    "PKG_SPECIAL_FILE",
                    "device files, FIFOs and sockets are not accepted",
                )
                .file(rel_str.to_string()),
            );
        }
    }
    Unpacked {
        root: root.to_path_buf(),
        kind: PackageKind::Directory,
        findings,
        bytes,
        files,
        _staging: None,
    }
}

fn too_many(limits: &Limits) -> Finding {
    finding(
        "PKG_TOO_MANY_FILES",
        "the package holds more files than the limit",
    )
    .expected_found(format!("at most {}", limits.max_files), "more")
}

fn too_large(limits: &Limits) -> Finding {
    finding(
        "PKG_TOO_LARGE",
        "the package unpacks to more bytes than the limit",
    )
    .expected_found(format!("at most {} bytes", limits.max_total_bytes), "more")
}

/// Counts bytes read through it (the compressed side, for the ratio check).
struct CountingReader<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        CountingReader {
            inner,
            count: Default::default(),
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Why writing one entry stopped.
enum CopyStop {
    Io(io::Error),
    Limit(Box<Finding>),
}

struct Extractor<'a> {
    dest: &'a Path,
    limits: &'a Limits,
    names: NameChecker,
    findings: Vec<Finding>,
    bytes: u64,
    files: u64,
    stopped: bool,
    compressed_len: u64,
}

/// Below this many bytes out, the ratio is not judged (tiny packages compress well).
const RATIO_GRACE: u64 = 1 << 20;

impl<'a> Extractor<'a> {
    fn new(dest: &'a Path, limits: &'a Limits, compressed_len: u64) -> Self {
        Extractor {
            dest,
            limits,
            names: NameChecker::new(limits),
            findings: Vec::new(),
            bytes: 0,
            files: 0,
            stopped: false,
            compressed_len,
        }
    }

    fn stop(&mut self, f: Finding) {
        self.findings.push(f);
        self.stopped = true;
    }

    fn bomb(&self, out: u64, consumed: u64) -> Finding {
        finding(
            "PKG_COMPRESSION_RATIO",
            "the package expands far more than real records do (a compression bomb?); unpacking stopped",
        )
        .expected_found(
            format!("at most {}× its compressed size", self.limits.max_ratio),
            format!("{out} bytes from {consumed} compressed bytes so far"),
        )
    }

    /// Checks a path and returns where to write it, or records why not.
    fn target(&mut self, raw: &[u8]) -> Option<(String, PathBuf)> {
        let Ok(name) = std::str::from_utf8(raw) else {
            self.findings.push(
                finding("PKG_NAME_NOT_UTF8", "an entry's name is not valid UTF-8")
                    .file(String::from_utf8_lossy(raw).into_owned()),
            );
            return None;
        };
        let name = name
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if name.is_empty() || name == "." {
            return None;
        }
        let problems = self.names.check(&name);
        if !problems.is_empty() {
            self.findings.extend(problems);
            return None;
        }
        let path = self.dest.join(&name);
        Some((name, path))
    }

    fn mkdirs(&mut self, dir: &Path) -> bool {
        match std::fs::create_dir_all(dir) {
            Ok(()) => true,
            Err(e) => {
                self.stop(finding(
                    "PKG_UNPACK_FAILED",
                    format!("cannot create {}: {e}", dir.display()),
                ));
                false
            }
        }
    }

    /// Streams one file out, holding the totals and the ratio as it goes.
    fn write_file(
        &mut self,
        name: &str,
        path: &Path,
        mut src: impl Read,
        consumed: Option<&std::sync::atomic::AtomicU64>,
    ) {
        self.files += 1;
        if self.files > self.limits.max_files {
            let f = too_many(self.limits);
            self.stop(f);
            return;
        }
        if let Some(parent) = path.parent() {
            if !self.mkdirs(parent) {
                return;
            }
        }
        let mut out = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.findings.push(
                    finding("PKG_DUPLICATE_ENTRY", "the archive holds this path twice")
                        .file(name.to_string()),
                );
                return;
            }
            Err(e) => {
                self.stop(finding(
                    "PKG_UNPACK_FAILED",
                    format!("cannot write {name}: {e}"),
                ));
                return;
            }
        };
        let mut buf = vec![0u8; 256 << 10];
        let r: Result<(), CopyStop> = (|| loop {
            let n = match src.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyStop::Io(e)),
            };
            self.bytes += n as u64;
            if self.bytes > self.limits.max_total_bytes {
                return Err(CopyStop::Limit(Box::new(too_large(self.limits))));
            }
            if let Some(c) = consumed {
                let used = c.load(std::sync::atomic::Ordering::Relaxed).max(1);
                if self.bytes > RATIO_GRACE && self.bytes / used > self.limits.max_ratio {
                    return Err(CopyStop::Limit(Box::new(self.bomb(self.bytes, used))));
                }
            }
            out.write_all(&buf[..n]).map_err(CopyStop::Io)?;
        })();
        match r {
            Ok(()) => {}
            Err(CopyStop::Limit(f)) => self.stop(*f),
            Err(CopyStop::Io(e)) => self.stop(read_failure(name, &e)),
        }
    }

    fn tar<R: Read>(
        &mut self,
        reader: R,
        consumed: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    ) {
        let mut archive = tar::Archive::new(reader);
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => return self.stop(read_failure("the archive", &e)),
        };
        for entry in entries {
            if self.stopped {
                return;
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return self.stop(read_failure("the archive", &e)),
            };
            let raw = entry.path_bytes().into_owned();
            let kind = entry.header().entry_type();
            use tar::EntryType as T;
            match kind {
                T::Regular | T::Continuous | T::GNUSparse => {
                    let Some((name, path)) = self.target(&raw) else {
                        continue;
                    };
                    self.write_file(&name, &path, entry, consumed.as_deref());
                }
                T::Directory => {
                    if let Some((_, path)) = self.target(&raw) {
                        self.mkdirs(&path);
                    }
                }
                T::Symlink | T::Link => self.findings.push(
                    finding(
                        "PKG_LINK",
                        "links are not accepted: a package holds the files themselves",
                    )
                    .file(String::from_utf8_lossy(&raw).into_owned()),
                ),
                T::Char | T::Block | T::Fifo => self.findings.push(
                    finding(
                        "PKG_SPECIAL_FILE",
                        "device files and FIFOs are not accepted",
                    )
                    .file(String::from_utf8_lossy(&raw).into_owned()),
                ),
                // Metadata entries the tar crate has already applied to the next entry.
                T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
                other => self.findings.push(
                    finding(
                        "PKG_UNSUPPORTED_ENTRY",
                        format!("unsupported tar entry type {other:?}"),
                    )
                    .file(String::from_utf8_lossy(&raw).into_owned()),
                ),
            }
        }
    }

    fn zip(&mut self, package: &Path) {
        let file = match File::open(package) {
            Ok(f) => f,
            Err(e) => return self.stop(read_failure("the archive", &e)),
        };
        let mut z = match zip::ZipArchive::new(file) {
            Ok(z) => z,
            Err(e) => return self.stop(zip_failure(&e)),
        };
        // Declared sizes first: a bomb is refused before a byte is written.
        let mut declared = 0u64;
        for i in 0..z.len() {
            let Ok(f) = z.by_index_raw(i) else { continue };
            declared = declared.saturating_add(f.size());
            let ratio_ok = f.size() <= RATIO_GRACE
                || f.size() / f.compressed_size().max(1) <= self.limits.max_ratio;
            if !ratio_ok {
                let bomb = self.bomb(f.size(), f.compressed_size());
                return self.stop(bomb.file(String::from_utf8_lossy(f.name_raw()).into_owned()));
            }
        }
        if declared > self.limits.max_total_bytes {
            let f = too_large(self.limits);
            return self.stop(f);
        }
        if declared > RATIO_GRACE && declared / self.compressed_len.max(1) > self.limits.max_ratio {
            let bomb = self.bomb(declared, self.compressed_len);
            return self.stop(bomb);
        }
        for i in 0..z.len() {
            if self.stopped {
                return;
            }
            let (raw, is_dir, is_link, encrypted) = match z.by_index_raw(i) {
                Ok(f) => (
                    f.name_raw().to_vec(),
                    f.is_dir(),
                    f.is_symlink(),
                    f.encrypted(),
                ),
                Err(e) => return self.stop(zip_failure(&e)),
            };
            let shown = String::from_utf8_lossy(&raw).into_owned();
            if is_link {
                self.findings.push(
                    finding(
                        "PKG_LINK",
                        "links are not accepted: a package holds the files themselves",
                    )
                    .file(shown),
                );
                continue;
            }
            if encrypted {
                self.findings.push(
                    finding(
                        "PKG_ENCRYPTED",
                        "encrypted zip entries cannot be checked or preserved",
                    )
                    .file(shown),
                );
                continue;
            }
            let Some((name, path)) = self.target(&raw) else {
                continue;
            };
            if is_dir {
                self.mkdirs(&path);
                continue;
            }
            match z.by_index(i) {
                Ok(entry) => self.write_file(&name, &path, entry, None),
                Err(e) => return self.stop(zip_failure(&e)),
            }
        }
    }
}

fn read_failure(what: &str, e: &io::Error) -> Finding {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Finding::error(
            "PKG_TRUNCATED",
            Category::Integrity,
            format!("{what} ends early: the package is truncated ({e})"),
        )
    } else {
        Finding::error(
            "PKG_CORRUPT",
            Category::Integrity,
            format!("{what} cannot be read: {e}"),
        )
    }
}

fn zip_failure(e: &zip::result::ZipError) -> Finding {
    match e {
        zip::result::ZipError::Io(io) => read_failure("the zip", io),
        other => Finding::error(
            "PKG_CORRUPT",
            Category::Integrity,
            format!("the zip cannot be read (truncated or damaged?): {other}"),
        ),
    }
}

/// Runs `command` on every file under `root` as `sh -c '<command> "$1"' scan <file>`;
/// a non-zero exit refuses the package (`VIRUS_SCAN_FAILED`, with the scanner's output).
pub fn virus_scan(root: &Path, command: &str) -> Result<Vec<Finding>, Error> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        let result = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{command} \"$1\""))
            .arg("virus-scan")
            .arg(entry.path())
            .output()
            .map_err(|source| Error::Scan {
                command: command.into(),
                source,
            })?;
        if !result.status.success() {
            let mut said = String::from_utf8_lossy(&result.stdout).into_owned();
            said.push_str(&String::from_utf8_lossy(&result.stderr));
            let said: String = said.chars().take(500).collect();
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            out.push(
                finding(
                    "VIRUS_SCAN_FAILED",
                    format!("the virus scanner refused the file: {}", said.trim()),
                )
                .file(rel.to_string_lossy().into_owned()),
            );
        }
    }
    Ok(out)
}
