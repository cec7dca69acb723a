//! File formats for the usability check (可用性, DA/T 70-2018): which format a file is, judged
//! by its content, and whether the archive keeps that format for the long term.
//!
//! Owns the format registry (`formats/file-formats.toml`, embedded at build time; spec and
//! every `FMT_*` code in `formats/file-formats.md`) and the usability findings about one file.
//! It reads only bounded parts of a file: its head and tail, a few KiB at a PDF's
//! `startxref`, a ZIP's central directory under a byte budget. Files may be GiBs, and a check
//! that reads them whole would make intake as slow as the largest video. It does not decide
//! what happens to a refused file (intake does), and it never writes.
//!
//! Identification is by content only; the name's extension is compared afterwards and a
//! disagreement is a warning (`FMT_EXTENSION_MISMATCH`), never the basis of a decision.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::findings::{Category, Finding};

/// The registry as shipped: the source of truth for formats, spec in `formats/file-formats.md`.
pub const BUILTIN_TOML: &str = include_str!("../formats/file-formats.toml");

/// The registry file version this code reads (`version` at the top of the TOML).
pub const REGISTRY_VERSION: u32 = 1;

/// Bytes read from the start of every file: room for every signature (tar's is at 257,
/// a PE header may sit a few KiB in) and enough text to judge its encoding.
const HEAD: usize = 64 << 10;
/// Bytes read from the end of a text or XML file for the same encoding checks.
const TAIL: usize = 64 << 10;
/// A PDF's head and tail windows: the XMP packet that claims PDF/A, the trailer and a
/// linearised file's first-page trailer are found there in practice.
const PDF_WINDOW: usize = 1 << 20;
/// ISO 32000 readers look for `%%EOF` in the last 1024 bytes; so does this check.
const PDF_EOF_WINDOW: usize = 1024;
/// Read at the `startxref` offset: the cross-reference stream's dictionary, which carries
/// `/Encrypt` when the stream itself is too long to end inside the tail window.
const PDF_XREF_WINDOW: usize = 4 << 10;
/// Most a ZIP may make the zip crate read (central directory and local headers). Without it
/// the crate's search for the end record walks back through the whole of a damaged file.
const ZIP_BUDGET: u64 = 16 << 20;
/// Most of `OFD.xml` read to report its version and `DocType`.
const OFD_XML_MAX: u64 = 64 << 10;
/// Share of control bytes (besides tab, line breaks, form feed, SUB, ESC) a text may have.
const TEXT_MAX_CONTROL_PERCENT: usize = 1;

/// Environment failures, and a registry that does not load.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry is not TOML of the expected shape.
    #[error("the format registry does not parse")]
    Parse {
        /// The TOML error (with line and column).
        #[source]
        source: toml::de::Error,
    },
    /// The registry is of a version this code does not read.
    #[error(
        "the format registry has version {found}, this build reads version {REGISTRY_VERSION}"
    )]
    Version {
        /// The version the file states.
        found: u32,
    },
    /// One entry breaks a rule of `formats/file-formats.md` ("Registry rules").
    #[error("format registry entry {id:?}: {problem}")]
    Entry {
        /// The entry's id.
        id: String,
        /// Which rule.
        problem: String,
    },
    /// The file could not be opened or read.
    #[error("cannot read {path}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// How an entry recognises content (`by` in the TOML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Byte signatures at fixed offsets.
    Magic,
    /// Byte signatures, then the PDF checks (encryption, truncation, PDF/A claim).
    Pdf,
    /// A PDF whose XMP metadata claims this PDF/A part and conformance level.
    Pdfa,
    /// A ZIP container holding given entries (none: the generic ZIP archive).
    Zip,
    /// The XML detector.
    Xml,
    /// The plain-text detector.
    Text,
}

/// Why a format is refused (`refusal` in the TOML); each has its own `FMT_*` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refusal {
    /// A container of other files (`FMT_ARCHIVE`).
    Archive,
    /// A program (`FMT_EXECUTABLE`).
    Executable,
    /// A format to convert into a preservation format first (`FMT_NOT_PRESERVATION`).
    Convert,
}

impl Refusal {
    fn code(self) -> &'static str {
        match self {
            Refusal::Archive => "FMT_ARCHIVE",
            Refusal::Executable => "FMT_EXECUTABLE",
            Refusal::Convert => "FMT_NOT_PRESERVATION",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    version: u32,
    format: Vec<RawFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFormat {
    id: String,
    name: String,
    #[serde(default)]
    version: Option<String>,
    mime: String,
    #[serde(default)]
    extensions: Vec<String>,
    preservation: bool,
    #[serde(default)]
    refusal: Option<Refusal>,
    #[serde(default)]
    hint: Option<String>,
    by: Method,
    #[serde(default)]
    signatures: Option<Vec<Vec<RawPart>>>,
    #[serde(default)]
    entries: Option<Vec<String>>,
    #[serde(default)]
    part: Option<u8>,
    #[serde(default)]
    conformance: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    at: usize,
    #[serde(default)]
    within: Option<usize>,
    #[serde(default)]
    hex: Option<String>,
    #[serde(default)]
    ascii: Option<String>,
}

/// One part of a signature: `bytes` at `at`, or anywhere up to `within` bytes later.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    at: usize,
    within: usize,
    bytes: Vec<u8>,
}

/// One registry entry (a row of the table in `formats/file-formats.md`).
#[derive(Debug, Clone)]
pub struct Format {
    /// PRONOM PUID, or a `strongroom/…` id where PRONOM has none.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version, where the entry is one version of a format.
    pub version: Option<String>,
    /// MIME type.
    pub mime: String,
    /// Usual extensions, lower case without dot; compared with names only to warn.
    pub extensions: Vec<String>,
    /// Accepted for long-term preservation.
    pub preservation: bool,
    /// Why it is refused, when it is.
    pub refusal: Option<Refusal>,
    /// What the agency should do instead, for refused formats.
    pub hint: Option<String>,
    /// How content is recognised.
    pub method: Method,
    signatures: Vec<Vec<Pattern>>,
    entries: Vec<String>,
    pdfa: Option<(u8, Option<char>)>,
}

/// The format registry: the formats the archive can identify and whether it keeps each.
#[derive(Debug, Clone)]
pub struct Registry {
    version: u32,
    formats: Vec<Format>,
}

/// What a file was identified as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// Registry id (PRONOM PUID or `strongroom/…`); `None` when empty or unknown.
    pub format_id: Option<String>,
    /// Format name (`unknown`, `empty file` when not identified).
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// On the preservation allow-list.
    pub preservation: bool,
    /// The content is encrypted (a PDF with `/Encrypt`, a ZIP entry with the encryption flag).
    pub encrypted: bool,
    /// Version and profile found in the content, e.g. `PDF/A-1b, PDF 1.4` or `XML 1.0, UTF-8`.
    pub detail: Option<String>,
}

/// A problem met while identifying, turned into a finding by [`assess`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Issue {
    Empty,
    Damaged(String),
    Encrypted(String),
    Encoding { error: bool, message: String },
}

/// Identification with what is needed to judge it.
#[derive(Debug)]
struct Examined {
    ident: Identification,
    /// Index into `Registry::formats`.
    format: Option<usize>,
    issues: Vec<Issue>,
    /// Bytes read from the file, all windows together (tests hold this to a bound).
    bytes_read: u64,
}

impl Registry {
    /// The registry shipped with this build (`formats/file-formats.toml`).
    pub fn builtin() -> Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // Not input: the file is part of the build and `tests::builtin_registry_loads`
                // fails before a broken one can ship.
                Registry::from_toml(BUILTIN_TOML).expect("formats/file-formats.toml loads")
            })
            .clone()
    }

    /// Loads a registry from TOML text, checking the rules of `formats/file-formats.md`.
    pub fn from_toml(text: &str) -> Result<Registry, Error> {
        let raw: RawRegistry = toml::from_str(text).map_err(|source| Error::Parse { source })?;
        if raw.version != REGISTRY_VERSION {
            return Err(Error::Version { found: raw.version });
        }
        let mut ids = BTreeSet::new();
        let mut formats = Vec::with_capacity(raw.format.len());
        for r in raw.format {
            if !ids.insert(r.id.clone()) {
                return Err(entry_error(&r.id, "the id is used twice"));
            }
            formats.push(Format::from_raw(r)?);
        }
        let count = |m: Method, f: &dyn Fn(&Format) -> bool| {
            formats.iter().filter(|x| x.method == m && f(x)).count()
        };
        if count(Method::Zip, &|f| f.entries.is_empty()) != 1 {
            return Err(entry_error(
                "(registry)",
                "exactly one `by = \"zip\"` entry must have empty `entries` (the generic ZIP)",
            ));
        }
        if count(Method::Xml, &|_| true) > 1 || count(Method::Text, &|_| true) > 1 {
            return Err(entry_error(
                "(registry)",
                "at most one `xml` and one `text` entry",
            ));
        }
        Ok(Registry {
            version: raw.version,
            formats,
        })
    }

    /// The registry file's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every entry, in file order.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&Format> {
        self.formats.iter().find(|f| f.id == id)
    }

    /// Identifies a file by its content. Unknown and empty files are identifications
    /// (`format_id: None`); an error means the file could not be read.
    pub fn identify(&self, path: &Path) -> Result<Identification, Error> {
        self.examine(path).map(|e| e.ident)
    }

    fn examine(&self, path: &Path) -> Result<Examined, Error> {
        let read_err = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut src = Source::open(path).map_err(read_err)?;
        if src.len == 0 {
            return Ok(Examined {
                ident: not_identified("empty file", None),
                format: None,
                issues: vec![Issue::Empty],
                bytes_read: 0,
            });
        }
        let head = src.read_at(0, HEAD).map_err(read_err)?;
        let mut ex = if is_zip(&head) {
            self.examine_zip(&mut src).map_err(read_err)?
        } else if let Some(i) = self.best_signature(&head) {
            match self.formats[i].method {
                Method::Pdf => self.examine_pdf(&mut src, i).map_err(read_err)?,
                _ => self.found(i, self.formats[i].version.clone(), vec![]),
            }
        } else {
            let tail = if src.len > (HEAD + TAIL) as u64 {
                Some(src.read_at(src.len - TAIL as u64, TAIL).map_err(read_err)?)
            } else {
                None
            };
            let text = Windows {
                head: &head,
                tail: tail.as_deref(),
                len: src.len,
            };
            let by = |m: Method| self.formats.iter().position(|f| f.method == m);
            match (detect_xml(&text), by(Method::Xml)) {
                (Some((detail, issues)), Some(i)) => self.found(i, Some(detail), issues),
                _ => match (detect_text(&text), by(Method::Text)) {
                    (Some((detail, issues)), Some(i)) => self.found(i, Some(detail), issues),
                    _ => Examined {
                        ident: not_identified("unknown", Some(first_bytes(&head))),
                        format: None,
                        issues: vec![],
                        bytes_read: 0,
                    },
                },
            }
        };
        ex.bytes_read += src.read;
        Ok(ex)
    }

    fn found(&self, i: usize, detail: Option<String>, issues: Vec<Issue>) -> Examined {
        let f = &self.formats[i];
        let encrypted = issues.iter().any(|x| matches!(x, Issue::Encrypted(_)));
        Examined {
            ident: Identification {
                format_id: Some(f.id.clone()),
                name: f.name.clone(),
                mime: f.mime.clone(),
                preservation: f.preservation,
                encrypted,
                detail,
            },
            format: Some(i),
            issues,
            bytes_read: 0,
        }
    }

    /// The `magic`/`pdf` entry whose signature matches best: most bytes at their fixed
    /// offsets, then most bytes found in a window, then the first in the file.
    fn best_signature(&self, head: &[u8]) -> Option<usize> {
        let mut best: Option<((usize, usize), usize)> = None;
        for (i, f) in self.formats.iter().enumerate() {
            if !matches!(f.method, Method::Magic | Method::Pdf) {
                continue;
            }
            for sig in &f.signatures {
                let Some(score) = signature_score(sig, head) else {
                    continue;
                };
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, i));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    fn examine_pdf(&self, src: &mut Source, i: usize) -> io::Result<Examined> {
        // Small files are one window; larger ones a head and a tail window.
        let whole = src.len <= (2 * PDF_WINDOW) as u64;
        let head = src.read_at(0, if whole { 2 * PDF_WINDOW } else { PDF_WINDOW })?;
        let tail = if whole {
            Vec::new()
        } else {
            src.read_at(src.len - PDF_WINDOW as u64, PDF_WINDOW)?
        };
        let last: &[u8] = if whole { &head } else { &tail };
        let mut issues = Vec::new();
        let end = &last[last.len().saturating_sub(PDF_EOF_WINDOW)..];
        if find(end, b"%%EOF").is_none() {
            issues.push(Issue::Damaged(
                "the PDF has no %%EOF marker in its last 1024 bytes: it is truncated or damaged"
                    .into(),
            ));
        }
        // The cross-reference section the file points to: for a long cross-reference
        // stream its dictionary (with any /Encrypt) lies before the tail window.
        let xref = match startxref(last) {
            Some(off) if off < src.len => src.read_at(off, PDF_XREF_WINDOW)?,
            _ => Vec::new(),
        };
        if [&head, &tail, &xref]
            .iter()
            .any(|w| pdf_trailer_encrypted(w))
        {
            issues.push(Issue::Encrypted(
                "the PDF trailer has /Encrypt: its content is encrypted".into(),
            ));
        }
        let pdf_version = pdf_header_version(&head);
        let pdf = pdf_version
            .as_deref()
            .map(|v| format!("PDF {v}"))
            .or_else(|| self.formats[i].version.as_ref().map(|v| format!("PDF {v}")));
        // The newest claim wins: an incremental update appends its XMP at the end.
        let claim = xmp_pdfa_claim(last).or_else(|| xmp_pdfa_claim(&head));
        let Some((part, conformance)) = claim else {
            return Ok(self.found(i, pdf, issues));
        };
        let claimed = format!(
            "PDF/A-{part}{}",
            conformance
                .map(|c| c.to_ascii_lowercase().to_string())
                .unwrap_or_default()
        );
        let refined = self
            .formats
            .iter()
            .position(|f| f.method == Method::Pdfa && f.pdfa == Some((part, conformance)));
        let with_pdf = |s: String| match &pdf {
            Some(p) => format!("{s}, {p}"),
            None => s,
        };
        Ok(match refined {
            Some(j) => self.found(j, Some(with_pdf(claimed)), issues),
            None => self.found(
                i,
                Some(with_pdf(format!(
                    "XMP claims {claimed}, a level the registry does not list"
                ))),
                issues,
            ),
        })
    }

    fn examine_zip(&self, src: &mut Source) -> io::Result<Examined> {
        let generic = self
            .formats
            .iter()
            .position(|f| f.method == Method::Zip && f.entries.is_empty());
        let Some(generic) = generic else {
            // `from_toml` guarantees one; kept total rather than panicking.
            return Ok(Examined {
                ident: not_identified("unknown", Some("ZIP container".into())),
                format: None,
                issues: vec![],
                bytes_read: 0,
            });
        };
        let mut budget = Budget {
            inner: BufReader::new(src.file.try_clone()?),
            used: 0,
            limit: ZIP_BUDGET,
        };
        let mut ex = self.zip_container(&mut budget, generic);
        ex.bytes_read += budget.used;
        Ok(ex)
    }

    fn zip_container<R: Read + Seek>(&self, r: &mut Budget<R>, generic: usize) -> Examined {
        let damaged = |why: String| {
            let mut e = self.found(generic, Some("damaged ZIP container".into()), vec![]);
            e.issues.push(Issue::Damaged(why));
            e
        };
        let mut zip = match zip::ZipArchive::new(&mut *r) {
            Ok(z) => z,
            Err(e) => {
                return damaged(if budget_hit(&e) {
                    format!(
                        "the ZIP central directory is not found and read within the {} MiB this \
                         check reads",
                        ZIP_BUDGET >> 20
                    )
                } else {
                    format!("the ZIP central directory cannot be read ({e})")
                })
            }
        };
        let names: BTreeSet<String> = zip.file_names().map(str::to_string).collect();
        let matched = self
            .formats
            .iter()
            .position(|f| {
                f.method == Method::Zip
                    && !f.entries.is_empty()
                    && f.entries.iter().all(|e| names.contains(e))
            })
            .unwrap_or(generic);
        let mut issues = Vec::new();
        let mut encrypted = Vec::new();
        let count = zip.len();
        for k in 0..count {
            match zip.by_index_raw(k) {
                Ok(entry) if entry.encrypted() => encrypted.push(entry.name().to_string()),
                Ok(_) => {}
                Err(e) if budget_hit(&e) => {
                    issues.push(Issue::Damaged(format!(
                        "the ZIP's {} entries need more than the {} MiB this check reads",
                        count,
                        ZIP_BUDGET >> 20
                    )));
                    break;
                }
                Err(e) => {
                    issues.push(Issue::Damaged(format!(
                        "ZIP entry {k} cannot be read ({e})"
                    )));
                    break;
                }
            }
        }
        if let Some(first) = encrypted.first() {
            issues.push(Issue::Encrypted(format!(
                "{} of {} ZIP entries are encrypted, e.g. {first:?}",
                encrypted.len(),
                count
            )));
        }
        let detail = if matched == generic {
            Some(format!("{} entries", count))
        } else if self.formats[matched].entries.iter().any(|e| e == "OFD.xml")
            && encrypted.is_empty()
        {
            ofd_detail(&mut zip).or_else(|| self.formats[matched].version.clone())
        } else {
            self.formats[matched].version.clone()
        };
        self.found(matched, detail, issues)
    }
}

impl Format {
    fn from_raw(r: RawFormat) -> Result<Format, Error> {
        let bad = |p: &str| Err(entry_error(&r.id, p));
        if r.id.trim().is_empty() || r.name.trim().is_empty() || r.mime.trim().is_empty() {
            return bad("id, name and mime must not be empty");
        }
        if r.extensions.iter().any(|e| {
            e.is_empty() || e.starts_with('.') || e.chars().any(|c| c.is_ascii_uppercase())
        }) {
            return bad("extensions are lower case, without the dot");
        }
        match (r.preservation, r.refusal) {
            (true, Some(_)) => return bad("an accepted format has no `refusal`"),
            (false, None) => return bad("a refused format needs `refusal`"),
            _ => {}
        }
        let needs_signatures = matches!(r.by, Method::Magic | Method::Pdf);
        if needs_signatures != r.signatures.is_some() {
            return bad("`signatures` is given exactly for `magic` and `pdf` entries");
        }
        if (r.by == Method::Zip) != r.entries.is_some() {
            return bad("`entries` is given exactly for `zip` entries");
        }
        if (r.by == Method::Pdfa) != r.part.is_some()
            || (r.by != Method::Pdfa && r.conformance.is_some())
        {
            return bad("`part` (and `conformance`) are given exactly for `pdfa` entries");
        }
        let mut signatures = Vec::new();
        for sig in r.signatures.as_deref().unwrap_or_default() {
            if sig.is_empty() {
                return bad("a signature has no parts");
            }
            let mut parts = Vec::new();
            for p in sig {
                let bytes = match (&p.hex, &p.ascii) {
                    (Some(h), None) => match hex::decode(h) {
                        Ok(b) => b,
                        Err(_) => return bad("`hex` is not hexadecimal"),
                    },
                    (None, Some(a)) => a.as_bytes().to_vec(),
                    _ => return bad("a signature part has exactly one of `hex` and `ascii`"),
                };
                if bytes.is_empty() {
                    return bad("a signature part is empty");
                }
                if p.at + p.within.unwrap_or(0) + bytes.len() > HEAD {
                    return bad("a signature part lies beyond the bytes read (64 KiB)");
                }
                parts.push(Pattern {
                    at: p.at,
                    within: p.within.unwrap_or(0),
                    bytes,
                });
            }
            signatures.push(parts);
        }
        let pdfa = match r.part {
            Some(part @ 1..=4) => {
                let c = match r.conformance.as_deref() {
                    None => None,
                    Some(s) => {
                        let mut it = s.chars();
                        match (it.next(), it.next()) {
                            (Some(c), None) if c.is_ascii_uppercase() => Some(c),
                            _ => return bad("`conformance` is one upper-case letter"),
                        }
                    }
                };
                Some((part, c))
            }
            Some(_) => return bad("PDF/A `part` is 1 to 4"),
            None => None,
        };
        Ok(Format {
            id: r.id,
            name: r.name,
            version: r.version,
            mime: r.mime,
            extensions: r.extensions,
            preservation: r.preservation,
            refusal: r.refusal,
            hint: r.hint,
            method: r.by,
            signatures,
            entries: r.entries.unwrap_or_default(),
            pdfa,
        })
    }
}

fn entry_error(id: &str, problem: &str) -> Error {
    Error::Entry {
        id: id.to_string(),
        problem: problem.to_string(),
    }
}

fn not_identified(name: &str, detail: Option<String>) -> Identification {
    Identification {
        format_id: None,
        name: name.to_string(),
        mime: "application/octet-stream".into(),
        preservation: false,
        encrypted: false,
        detail,
    }
}

/// Identifies a file and judges it: its identification (none when unreadable) and its
/// `FMT_*` findings, located at `display_path` (the path in the package) and `record`.
pub fn assess(
    reg: &Registry,
    path: &Path,
    display_path: &str,
    record: &str,
) -> (Option<Identification>, Vec<Finding>) {
    let at = |f: Finding| f.record(record).file(display_path);
    let ex = match reg.examine(path) {
        Ok(ex) => ex,
        Err(e) => {
            let cause = match &e {
                Error::Read { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            let f = Finding::error(
                "FMT_UNREADABLE",
                Category::Usability,
                format!("the file cannot be read to identify its format: {cause}"),
            );
            return (None, vec![at(f)]);
        }
    };
    let mut out = Vec::new();
    let format = ex.format.map(|i| &reg.formats[i]);
    let mut damaged = false;
    for issue in &ex.issues {
        out.push(at(match issue {
            Issue::Empty => Finding::error(
                "FMT_EMPTY",
                Category::Usability,
                "the file is empty: a record's file must hold its content",
            ),
            Issue::Damaged(why) => {
                damaged = true;
                Finding::error(
                    "FMT_DAMAGED",
                    Category::Usability,
                    format!("{why}; send an intact copy"),
                )
            }
            Issue::Encrypted(why) => Finding::error(
                "FMT_ENCRYPTED",
                Category::Usability,
                format!(
                    "{why}; an archive cannot keep the key for decades, send it without \
                     encryption or passwords"
                ),
            ),
            Issue::Encoding {
                error: true,
                message,
            } => Finding::error("FMT_TEXT_ENCODING", Category::Usability, message.clone()),
            Issue::Encoding {
                error: false,
                message,
            } => Finding::warning("FMT_TEXT_ENCODING", Category::Usability, message.clone()),
        }));
    }
    let ext = Path::new(display_path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase());
    match format {
        None if ex.issues.contains(&Issue::Empty) => {}
        None => out.push(at(Finding::error(
            "FMT_UNKNOWN",
            Category::Usability,
            format!(
                "the content matches no format the archive knows ({}); send it in a format \
                 listed in formats/file-formats.md, such as PDF/A, OFD, TIFF or XML",
                ex.ident.detail.as_deref().unwrap_or("no detail")
            ),
        ))),
        // A ZIP that cannot be read is reported as damaged only: what it holds is unknown.
        Some(f) if damaged && f.method == Method::Zip => {}
        Some(f) if !f.preservation => {
            let code = f.refusal.unwrap_or(Refusal::Convert).code();
            let hint = f
                .hint
                .as_deref()
                .unwrap_or("convert it to a preservation format");
            out.push(at(Finding::error(
                code,
                Category::Usability,
                format!(
                    "the content is {} ({}), which the archive does not keep for the long \
                     term: {hint}",
                    f.name, f.id
                ),
            )
            .expected_found(
                "a preservation format (formats/file-formats.md)",
                f.name.clone(),
            )));
        }
        Some(f) => {
            if !ext.as_ref().is_some_and(|e| f.extensions.contains(e)) {
                let expected = f
                    .extensions
                    .iter()
                    .map(|e| format!(".{e}"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                let found = ext
                    .as_ref()
                    .map(|e| format!(".{e}"))
                    .unwrap_or("no extension".into());
                out.push(at(Finding::warning(
                    "FMT_EXTENSION_MISMATCH",
                    Category::Usability,
                    format!(
                        "the content is {} but the name says otherwise; the archive goes by \
                         the content, the name should agree",
                        f.name
                    ),
                )
                .expected_found(expected, found)));
            }
        }
    }
    (Some(ex.ident), out)
}

/// The usability findings (`FMT_*`) for one file; see [`assess`].
pub fn check_usability(
    reg: &Registry,
    path: &Path,
    display_path: &str,
    record: &str,
) -> Vec<Finding> {
    assess(reg, path, display_path, record).1
}

// ------------------------------------------------------------------------------ reading

/// A file read in bounded windows, counting what it read.
struct Source {
    file: File,
    len: u64,
    read: u64,
}

impl Source {
    fn open(path: &Path) -> io::Result<Source> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Source { file, len, read: 0 })
    }

    /// Up to `max` bytes from `offset` (fewer at the end of the file).
    fn read_at(&mut self, offset: u64, max: usize) -> io::Result<Vec<u8>> {
        self.file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(max.min(usize::try_from(self.len).unwrap_or(max)));
        (&mut self.file).take(max as u64).read_to_end(&mut buf)?;
        self.read += buf.len() as u64;
        Ok(buf)
    }
}

/// A reader that fails once a parser has read `limit` bytes through it.
struct Budget<R> {
    inner: R,
    used: u64,
    limit: u64,
}

/// The error a [`Budget`] reader fails with, told apart from real I/O errors by its type.
#[derive(Debug, thiserror::Error)]
#[error("the format check's read budget is exhausted")]
struct BudgetExhausted;

/// Whether the zip crate stopped because the [`Budget`] ran out.
fn budget_hit(e: &zip::result::ZipError) -> bool {
    match e {
        zip::result::ZipError::Io(io) => io.get_ref().is_some_and(|x| x.is::<BudgetExhausted>()),
        _ => false,
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.limit.saturating_sub(self.used);
        if left == 0 && !buf.is_empty() {
            return Err(io::Error::other(BudgetExhausted));
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let k = self.inner.read(&mut buf[..n])?;
        self.used += k as u64;
        Ok(k)
    }
}

impl<R: Seek> Seek for Budget<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// The windows of a text-like file: the head, and the tail when the file is longer than
/// both together (otherwise the head is the whole file).
struct Windows<'a> {
    head: &'a [u8],
    tail: Option<&'a [u8]>,
    /// The file's length.
    len: u64,
}

impl Windows<'_> {
    /// (bytes, starts inside the file, ends inside the file) for each window.
    fn parts(&self) -> Vec<(&[u8], bool, bool)> {
        match self.tail {
            None => vec![(self.head, false, false)],
            Some(t) => vec![(self.head, false, true), (t, true, false)],
        }
    }
}

// --------------------------------------------------------------------------- signatures

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// (bytes matched at their fixed offset, bytes matched inside a window), or `None`.
fn signature_score(sig: &[Pattern], head: &[u8]) -> Option<(usize, usize)> {
    let mut score = (0, 0);
    for p in sig {
        let end = (p.at + p.within + p.bytes.len()).min(head.len());
        let area = head.get(p.at..end)?;
        match find(area, &p.bytes)? {
            0 => score.0 += p.bytes.len(),
            _ => score.1 += p.bytes.len(),
        }
    }
    Some(score)
}

fn is_zip(head: &[u8]) -> bool {
    // Local file header, empty archive, spanned archive marker.
    [b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"]
        .iter()
        .any(|m| head.starts_with(*m))
}

fn first_bytes(head: &[u8]) -> String {
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02X}")).collect();
    format!("starts with {}", hex.join(" "))
}

// ---------------------------------------------------------------------------------- PDF

/// PDF delimiters and white space end a name token (ISO 32000-1 §7.2.2).
fn ends_name(b: Option<&u8>) -> bool {
    match b {
        None => true,
        Some(b) => b"\0\t\n\x0c\r ()<>[]{}/%".contains(b),
    }
}

fn has_name(dict: &[u8], name: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = find(&dict[from..], name) {
        let at = from + i;
        if ends_name(dict.get(at + name.len())) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The `<< … >>` dictionary enclosing position `at`, when the window holds all of it.
fn enclosing_dict(w: &[u8], at: usize) -> Option<&[u8]> {
    let mut depth = 0usize;
    let mut i = at;
    let start = loop {
        if i < 2 {
            return None;
        }
        match &w[i - 2..i] {
            b">>" => {
                depth += 1;
                i -= 2;
            }
            b"<<" if depth == 0 => break i - 2,
            b"<<" => {
                depth -= 1;
                i -= 2;
            }
            _ => i -= 1,
        }
    };
    let mut depth = 0usize;
    let mut j = at;
    let end = loop {
        if j + 2 > w.len() {
            return None;
        }
        match &w[j..j + 2] {
            b"<<" => {
                depth += 1;
                j += 2;
            }
            b">>" if depth == 0 => break j + 2,
            b">>" => {
                depth -= 1;
                j += 2;
            }
            _ => j += 1,
        }
    };
    Some(&w[start..end])
}

/// A trailer (it names `/Root`) or a cross-reference stream dictionary (`/XRef`) in the
/// window holds an `/Encrypt` key. `/Encrypt` elsewhere (a name in a page's content) and
/// `/EncryptMetadata` do not count.
fn pdf_trailer_encrypted(w: &[u8]) -> bool {
    let key = b"/Encrypt";
    let mut from = 0;
    while let Some(i) = find(&w[from..], key) {
        let at = from + i;
        from = at + key.len();
        if !ends_name(w.get(at + key.len())) {
            continue;
        }
        if let Some(d) = enclosing_dict(w, at) {
            if has_name(d, b"/Root") || has_name(d, b"/XRef") {
                return true;
            }
        }
    }
    false
}

/// The offset after the last `startxref` keyword.
fn startxref(w: &[u8]) -> Option<u64> {
    let i = rfind(w, b"startxref")?;
    let rest = &w[i + b"startxref".len()..];
    let digits: Vec<u8> = rest
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// `1.4` from a `%PDF-1.4` header in the first 1024 bytes.
fn pdf_header_version(head: &[u8]) -> Option<String> {
    let area = &head[..head.len().min(1024 + 8)];
    let i = find(area, b"%PDF-")?;
    let v: Vec<u8> = area[i + 5..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .copied()
        .collect();
    (!v.is_empty()).then(|| String::from_utf8_lossy(&v).into_owned())
}

/// The value of an XMP property written as an attribute (`pdfaid:part="1"`) or an element
/// (`<pdfaid:part>1</pdfaid:part>`); the last one in the window.
fn xmp_value(w: &[u8], prop: &[u8]) -> Option<String> {
    let mut from = w.len();
    while let Some(i) = rfind(&w[..from], prop) {
        from = i;
        let mut rest = &w[i + prop.len()..];
        while let [b, tail @ ..] = rest {
            if b.is_ascii_whitespace() {
                rest = tail;
            } else {
                break;
            }
        }
        let value: &[u8] = match rest {
            [b'=', tail @ ..] => {
                let tail = tail.trim_ascii_start();
                match tail {
                    [q @ (b'"' | b'\''), v @ ..] => {
                        let end = v.iter().position(|b| b == q)?;
                        &v[..end]
                    }
                    _ => continue,
                }
            }
            [b'>', v @ ..] => {
                let end = v.iter().position(|b| *b == b'<')?;
                &v[..end]
            }
            _ => continue,
        };
        // A closing tag or an unrelated word gives an empty or long value: look further back.
        match std::str::from_utf8(value.trim_ascii()) {
            Ok(v) if !v.is_empty() && v.len() <= 16 => return Some(v.to_string()),
            _ => {}
        }
    }
    None
}

/// (part, conformance) claimed by the XMP packet's PDF/A identification schema.
fn xmp_pdfa_claim(w: &[u8]) -> Option<(u8, Option<char>)> {
    let part: u8 = xmp_value(w, b"pdfaid:part")?.parse().ok()?;
    let conformance = xmp_value(w, b"pdfaid:conformance")
        .and_then(|c| c.chars().next())
        .map(|c| c.to_ascii_uppercase());
    Some((part, conformance))
}

// ---------------------------------------------------------------------------------- OFD

/// `OFD 1.0, DocType OFD` from the `ofd:OFD` root element of `OFD.xml` (GB/T 33190 §7.3),
/// whose `DocType` is `OFD` or `OFD-A` (the archival profile).
fn ofd_detail<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> Option<String> {
    let entry = zip.by_name("OFD.xml").ok()?;
    let mut head = Vec::new();
    entry.take(OFD_XML_MAX).read_to_end(&mut head).ok()?;
    // Only the root element's attributes: the body has `ofd:Version` elements of its own.
    let start = find(&head, b":OFD").or_else(|| find(&head, b"<OFD"))?;
    let len = find(&head[start..], b">")?;
    let root = &head[start..start + len];
    let attr = |name: &[u8]| xmp_value(root, name);
    let version = attr(b"Version");
    let doctype = attr(b"DocType");
    match (version, doctype) {
        (None, None) => None,
        (v, d) => Some(format!(
            "OFD {}, DocType {}",
            v.as_deref().unwrap_or("?"),
            d.as_deref().unwrap_or("?")
        )),
    }
}

// ---------------------------------------------------------------------------- encodings

/// Valid UTF-8; a window that starts or ends inside the file may cut one character.
fn utf8_ok(buf: &[u8], starts_inside: bool, ends_inside: bool) -> bool {
    let mut b = buf;
    if starts_inside {
        let skip = b
            .iter()
            .take(3)
            .take_while(|x| (0x80..0xC0).contains(*x))
            .count();
        b = &b[skip..];
    }
    match std::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => ends_inside && e.error_len().is_none(),
    }
}

/// Valid GB18030 byte structure (one, two or four bytes; GB 18030-2005 §6). GBK and
/// GB2312 are subsets, so this also accepts them. A window starting inside the file is
/// read from its first byte below 0x30, which no multi-byte sequence contains.
fn gb18030_ok(buf: &[u8], starts_inside: bool, ends_inside: bool) -> bool {
    let mut i = 0;
    if starts_inside {
        match buf.iter().position(|b| *b < 0x30) {
            Some(p) => i = p + 1,
            None => return true,
        }
    }
    while i < buf.len() {
        let b = buf[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        if !(0x81..=0xFE).contains(&b) {
            return false;
        }
        let Some(&b2) = buf.get(i + 1) else {
            return ends_inside;
        };
        match b2 {
            0x40..=0x7E | 0x80..=0xFE => i += 2,
            0x30..=0x39 => {
                match (buf.get(i + 2), buf.get(i + 3)) {
                    (Some(0x81..=0xFE), Some(0x30..=0x39)) => {}
                    (Some(0x81..=0xFE), None) | (None, _) if ends_inside => return true,
                    _ => return false,
                }
                i += 4;
            }
            _ => return false,
        }
    }
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf16 {
    Le,
    Be,
}

fn utf16_units(buf: &[u8], e: Utf16) -> impl Iterator<Item = u16> + '_ {
    buf.chunks_exact(2).map(move |c| match e {
        Utf16::Le => u16::from_le_bytes([c[0], c[1]]),
        Utf16::Be => u16::from_be_bytes([c[0], c[1]]),
    })
}

/// Decodes UTF-16, tolerating a surrogate pair cut at a window edge.
fn utf16_decode(buf: &[u8], e: Utf16, starts_inside: bool, ends_inside: bool) -> Option<String> {
    let mut units: Vec<u16> = utf16_units(buf, e).collect();
    if starts_inside && units.first().is_some_and(|u| (0xDC00..0xE000).contains(u)) {
        units.remove(0);
    }
    if ends_inside && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
        units.pop();
    }
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// Too many control characters for a text (tab, CR, LF, FF, SUB and ESC allowed).
fn too_many_controls(chars: impl Iterator<Item = u32>) -> bool {
    let (mut n, mut bad) = (0usize, 0usize);
    for c in chars {
        n += 1;
        if (c < 0x20 && ![0x09, 0x0A, 0x0C, 0x0D, 0x1A, 0x1B].contains(&c)) || c == 0x7F {
            bad += 1;
        }
    }
    bad * 100 > n * TEXT_MAX_CONTROL_PERCENT
}

const BOM_UTF8: &[u8] = b"\xEF\xBB\xBF";

fn bom_utf16(head: &[u8]) -> Option<Utf16> {
    match head {
        [0xFF, 0xFE, ..] => Some(Utf16::Le),
        [0xFE, 0xFF, ..] => Some(Utf16::Be),
        _ => None,
    }
}

/// Checks every window of a UTF-16 file; the text of its head (without BOM) when all
/// decode. An odd byte count is not UTF-16.
fn utf16_windows(w: &Windows, e: Utf16, bom: bool) -> Result<String, ()> {
    if w.len % 2 == 1 {
        return Err(());
    }
    let mut head = None;
    for (i, (buf, s, end)) in w.parts().into_iter().enumerate() {
        // The tail window starts at `len - TAIL`: both even, so on a code-unit boundary.
        let buf = if i == 0 && bom {
            &buf[2.min(buf.len())..]
        } else {
            buf
        };
        let text = utf16_decode(buf, e, s, end).ok_or(())?;
        if i == 0 {
            head = Some(text);
        }
    }
    head.ok_or(())
}

// ---------------------------------------------------------------------------------- XML

/// Recognises XML 1.0/1.1 by its start: an optional BOM, white space, then `<?xml`, a
/// comment, a DOCTYPE or an element; in UTF-8, UTF-16 or an ASCII-compatible encoding.
/// Returns the detail and any encoding issue.
fn detect_xml(w: &Windows) -> Option<(String, Vec<Issue>)> {
    let head = w.head;
    let utf16 = bom_utf16(head).or(match head {
        [b'<', 0, c, 0, ..] if c.is_ascii_alphabetic() || *c == b'?' || *c == b'!' => {
            Some(Utf16::Le)
        }
        [0, b'<', 0, c, ..] if c.is_ascii_alphabetic() || *c == b'?' || *c == b'!' => {
            Some(Utf16::Be)
        }
        _ => None,
    });
    if let Some(e) = utf16 {
        let text = utf16_windows(w, e, bom_utf16(head).is_some()).ok()?;
        let decl = xml_start(text.as_bytes())?;
        let name = match e {
            Utf16::Le => "UTF-16LE",
            Utf16::Be => "UTF-16BE",
        };
        let mut issues = Vec::new();
        if let Some(d) = decl.encoding.as_deref() {
            if !d.to_ascii_lowercase().starts_with("utf-16") {
                issues.push(Issue::Encoding {
                    error: true,
                    message: format!(
                        "the XML declaration says encoding {d:?} but the file is {name}"
                    ),
                });
            }
        }
        return Some((decl.detail(name), issues));
    }
    let body = head.strip_prefix(BOM_UTF8).unwrap_or(head);
    if w.parts().iter().any(|(b, _, _)| b.contains(&0)) {
        return None;
    }
    let decl = xml_start(body)?;
    let declared = decl.encoding.clone();
    let bom = head.starts_with(BOM_UTF8);
    let label = declared
        .as_deref()
        .map(|d| d.to_ascii_lowercase())
        .unwrap_or_else(|| "utf-8".into());
    let mut issues = Vec::new();
    let check = |ok: &dyn Fn(&[u8], bool, bool) -> bool| {
        w.parts().iter().all(|(b, s, e)| {
            let b = if !*s {
                b.strip_prefix(BOM_UTF8).unwrap_or(b)
            } else {
                b
            };
            ok(b, *s, *e)
        })
    };
    let name = match label.as_str() {
        "utf-8" | "utf8" => {
            if !check(&utf8_ok) {
                issues.push(Issue::Encoding {
                    error: true,
                    message: format!(
                        "the XML is {} but its bytes are not valid UTF-8",
                        if declared.is_some() {
                            "declared UTF-8"
                        } else {
                            "undeclared, so UTF-8,"
                        }
                    ),
                });
            }
            "UTF-8".to_string()
        }
        "gb18030" | "gbk" | "gb2312" | "gb_2312-80" | "euc-cn" | "cp936" | "x-gbk" => {
            if bom {
                issues.push(Issue::Encoding {
                    error: true,
                    message: format!(
                        "the XML starts with a UTF-8 byte-order mark but declares {label}"
                    ),
                });
            } else if !check(&gb18030_ok) {
                issues.push(Issue::Encoding {
                    error: true,
                    message: format!(
                        "the XML declares {label} but its bytes are not valid GB18030"
                    ),
                });
            }
            label.to_uppercase()
        }
        "us-ascii" | "ascii" => {
            if !check(&|b: &[u8], _, _| b.is_ascii()) {
                issues.push(Issue::Encoding {
                    error: true,
                    message: "the XML declares US-ASCII but has bytes above 0x7F".into(),
                });
            }
            "US-ASCII".to_string()
        }
        // Every byte is a character in ISO 8859-1: nothing to check.
        "iso-8859-1" | "latin1" | "iso_8859-1" => "ISO-8859-1".to_string(),
        "utf-16" | "utf-16le" | "utf-16be" => {
            issues.push(Issue::Encoding {
                error: true,
                message: format!("the XML declares {label} but its bytes are 8-bit"),
            });
            label.to_uppercase()
        }
        other => {
            issues.push(Issue::Encoding {
                error: false,
                message: format!(
                    "the XML declares encoding {other:?}, which this check cannot verify; \
                     UTF-8 or GB18030 is preferred"
                ),
            });
            other.to_uppercase()
        }
    };
    Some((decl.detail(&name), issues))
}

struct XmlStart {
    version: Option<String>,
    encoding: Option<String>,
}

impl XmlStart {
    fn detail(&self, encoding: &str) -> String {
        match &self.version {
            Some(v) => format!("XML {v}, {encoding}"),
            None => format!("XML (no declaration), {encoding}"),
        }
    }
}

/// The start of an XML document in an ASCII-compatible text, and its declaration's values.
fn xml_start(b: &[u8]) -> Option<XmlStart> {
    let b = b.trim_ascii_start();
    let none = XmlStart {
        version: None,
        encoding: None,
    };
    let start = match b {
        [b'<', b'?', b'x', b'm', b'l', ws, ..] if ws.is_ascii_whitespace() => {
            let end = find(&b[..b.len().min(1024)], b"?>")?;
            let decl = &b[..end];
            XmlStart {
                version: xmp_value(decl, b"version"),
                encoding: xmp_value(decl, b"encoding"),
            }
        }
        [b'<', b'?', ..] => none,
        [b'<', b'!', b'-', b'-', ..] => none,
        [b'<', b'!', rest @ ..]
            if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"DOCTYPE") =>
        {
            none
        }
        [b'<', c, ..] if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' || *c >= 0x80 => none,
        _ => return None,
    };
    // Markup closes somewhere: a lone `<` at the start of a text is not XML.
    find(b, b">")?;
    // HTML is not XML; left to the text detector, it is kept as text with a warning.
    let lower = b[..b.len().min(64)].to_ascii_lowercase();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return None;
    }
    Some(start)
}

// --------------------------------------------------------------------------------- text

/// Recognises plain text: UTF-8 (with or without BOM), UTF-16 with a BOM, or GB18030
/// (GBK, GB2312); no NUL byte and few control characters. Returns the detail and issues.
fn detect_text(w: &Windows) -> Option<(String, Vec<Issue>)> {
    if let Some(e) = bom_utf16(w.head) {
        let text = utf16_windows(w, e, true).ok()?;
        if text.contains('\0') || too_many_controls(text.chars().map(u32::from)) {
            return None;
        }
        let name = match e {
            Utf16::Le => "UTF-16LE",
            Utf16::Be => "UTF-16BE",
        };
        return Some((name.to_string(), vec![]));
    }
    let parts = w.parts();
    if parts.iter().any(|(b, _, _)| b.contains(&0))
        || too_many_controls(
            parts
                .iter()
                .flat_map(|(b, _, _)| b.iter().map(|x| u32::from(*x))),
        )
    {
        return None;
    }
    let bom = w.head.starts_with(BOM_UTF8);
    let all = |ok: &dyn Fn(&[u8], bool, bool) -> bool| parts.iter().all(|(b, s, e)| ok(b, *s, *e));
    if all(&utf8_ok) {
        let ascii = parts.iter().all(|(b, _, _)| b.is_ascii());
        let name = if bom {
            "UTF-8 with BOM"
        } else if ascii {
            "ASCII (UTF-8)"
        } else {
            "UTF-8"
        };
        return Some((name.to_string(), vec![]));
    }
    // Many UTF-8 byte sequences are also valid GB18030 structure, so a mixed file may pass
    // as GB18030; a BOM says UTF-8 outright.
    if !bom && all(&gb18030_ok) {
        return Some(("GB18030".to_string(), vec![]));
    }
    // Neither: when it starts as UTF-8 (a BOM, or real non-ASCII UTF-8 before the first bad
    // byte) it is a text with a broken or mixed encoding, which a reader decades from now
    // cannot decode; otherwise it is not a text this check knows.
    let body = w.head.strip_prefix(BOM_UTF8).unwrap_or(w.head);
    let valid = match std::str::from_utf8(body) {
        Ok(s) => s.len(),
        Err(e) => e.valid_up_to(),
    };
    if bom || !body[..valid].is_ascii() {
        return Some((
            "UTF-8".to_string(),
            vec![Issue::Encoding {
                error: true,
                message: "the text starts as UTF-8 but has bytes that are neither valid UTF-8 \
                          nor GB18030; save it again in one encoding (UTF-8)"
                    .into(),
            }],
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn reg() -> Registry {
        Registry::builtin()
    }

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Dir {
            Dir(tempfile::tempdir().expect("tempdir"))
        }
        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let p = self.0.path().join(name);
            std::fs::write(&p, bytes).expect("write");
            p
        }
    }

    fn id_of(p: &Path) -> Identification {
        reg().identify(p).expect("identify")
    }

    fn codes(p: &Path) -> Vec<String> {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        check_usability(&reg(), p, &format!("data/r/{name}"), "R-1 (r)")
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    /// A minimal PDF: header, one page, classic xref and trailer. `extra` lands in the
    /// trailer dictionary; `body` is an extra object before the xref (e.g. an XMP packet).
    fn pdf(version: &str, body: &str, trailer_extra: &str) -> Vec<u8> {
        format!(
            "%PDF-{version}\n%\u{e2}\u{e3}\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
             2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n{body}\n\
             xref\n0 3\n0000000000 65535 f \ntrailer\n<< /Size 3 /Root 1 0 R {trailer_extra}>>\n\
             startxref\n100\n%%EOF\n"
        )
        .into_bytes()
    }

    fn xmp(part: u8, conformance: &str) -> String {
        format!(
            "4 0 obj\n<< /Type /Metadata /Subtype /XML >>\nstream\n\
             <?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
             <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
             <rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\" \
             pdfaid:part=\"{part}\" pdfaid:conformance=\"{conformance}\"/>\n\
             </rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>\nendstream\nendobj"
        )
    }

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            z.start_file(*name, opts).expect("start");
            z.write_all(data).expect("write");
        }
        z.finish().expect("finish").into_inner()
    }

    /// Sets general-purpose bit 0 (encrypted) on every local and central header.
    fn mark_encrypted(mut zip: Vec<u8>) -> Vec<u8> {
        let mut i = 0;
        while i + 8 < zip.len() {
            if zip[i..].starts_with(b"PK\x03\x04") {
                zip[i + 6] |= 1;
            } else if zip[i..].starts_with(b"PK\x01\x02") {
                zip[i + 8] |= 1;
            }
            i += 1;
        }
        zip
    }

    const OFD_XML: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0" DocType="OFD-A"><ofd:DocBody/></ofd:OFD>"#;

    #[test]
    fn builtin_registry_loads() {
        let r = Registry::from_toml(BUILTIN_TOML).expect("registry loads");
        assert_eq!(r.version(), REGISTRY_VERSION);
        assert!(r.formats().len() > 30);
        let ids: BTreeSet<&str> = r.formats().iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids.len(), r.formats().len(), "ids are unique");
        // Every entry parses with its own rule and says why it is refused, if it is.
        for f in r.formats() {
            assert_eq!(f.preservation, f.refusal.is_none(), "{}", f.id);
            if !f.preservation {
                assert!(f.hint.is_some(), "{} needs a hint", f.id);
            }
        }
    }

    #[test]
    fn registry_rules_are_enforced() {
        let ok = r#"version = 1
[[format]]
id = "x-fmt/263"
name = "ZIP"
mime = "application/zip"
preservation = false
refusal = "archive"
by = "zip"
entries = []
"#;
        Registry::from_toml(ok).expect("minimal registry");
        let dup = format!("{ok}{}", &ok["version = 1\n".len()..]);
        assert!(matches!(
            Registry::from_toml(&dup),
            Err(Error::Entry { .. })
        ));
        let v2 = ok.replace("version = 1", "version = 2");
        assert!(matches!(
            Registry::from_toml(&v2),
            Err(Error::Version { found: 2 })
        ));
        let unknown = ok.replace("by = \"zip\"", "by = \"zip\"\ncolour = 1");
        assert!(matches!(
            Registry::from_toml(&unknown),
            Err(Error::Parse { .. })
        ));
        let no_refusal = ok.replace("refusal = \"archive\"\n", "");
        assert!(matches!(
            Registry::from_toml(&no_refusal),
            Err(Error::Entry { .. })
        ));
        let bad_hex = format!(
            "{ok}[[format]]\nid = \"a\"\nname = \"a\"\nmime = \"a/a\"\npreservation = true\n\
             by = \"magic\"\nsignatures = [[{{ at = 0, hex = \"XY\" }}]]\n"
        );
        assert!(matches!(
            Registry::from_toml(&bad_hex),
            Err(Error::Entry { .. })
        ));
    }

    /// Every FMT_ code this module emits is documented in formats/file-formats.md and vice
    /// versa; every registry id appears in its table.
    #[test]
    fn codes_and_formats_are_documented() {
        let doc = include_str!("../formats/file-formats.md");
        let scan = |s: &str, open: char, close: char| -> BTreeSet<String> {
            let pat = format!("{open}FMT_");
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
        let emitted = scan(include_str!("formats.rs"), '"', '"');
        let documented = scan(doc, '`', '`');
        assert!(emitted.len() >= 10, "{emitted:?}");
        assert_eq!(emitted, documented);
        for f in reg().formats() {
            assert!(
                doc.contains(&format!("`{}`", f.id)),
                "{} missing from the doc",
                f.id
            );
        }
    }

    #[test]
    fn accepted_formats_are_identified() {
        let d = Dir::new();
        let mut jp2 = hex::decode("0000000C6A5020200D0A870A00000014667479706A703220").expect("hex");
        jp2.extend([0u8; 64]);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("a.pdf", pdf("1.4", "", ""), "fmt/18"),
            ("a2.pdf", pdf("1.7", "", ""), "fmt/276"),
            ("a3.pdf", pdf("2.0", "", ""), "fmt/1129"),
            ("le.tif", b"II*\0\x08\0\0\0rest".to_vec(), "fmt/353"),
            ("be.tiff", b"MM\0*\0\0\0\x08rest".to_vec(), "fmt/353"),
            (
                "a.jpg",
                b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x02\x00".to_vec(),
                "fmt/44",
            ),
            (
                "exif.jpg",
                b"\xFF\xD8\xFF\xE1\x00\x10Exif\x00\x00".to_vec(),
                "fmt/41",
            ),
            ("a.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "fmt/13"),
            ("a.jp2", jp2, "x-fmt/392"),
            ("a.wav", b"RIFF\x24\0\0\0WAVEfmt ".to_vec(), "fmt/6"),
            ("a.mp3", b"ID3\x03\0\0\0\0\0\0".to_vec(), "fmt/134"),
            ("a.mp4", b"\0\0\0\x18ftypmp42\0\0\0\0".to_vec(), "fmt/199"),
            ("a.xml", b"<?xml version=\"1.0\"?><a/>".to_vec(), "fmt/101"),
            (
                "b.xml",
                b"<root>\xE7\x9B\xAE\xE5\xBD\x95</root>".to_vec(),
                "fmt/101",
            ),
            (
                "c.xml",
                b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a/>".to_vec(),
                "fmt/101",
            ),
            (
                "a.txt",
                "会议纪要\n第1期\n".as_bytes().to_vec(),
                "x-fmt/111",
            ),
            ("ascii.txt", b"plain\r\ntext\t1\n".to_vec(), "x-fmt/111"),
            // 会议纪要 in GB18030 (GBK code points), and a four-byte sequence.
            (
                "gb.txt",
                b"\xBB\xE1\xD2\xE9\xBC\xCD\xD2\xAA\r\nGB18030 \x81\x30\x81\x30\n".to_vec(),
                "x-fmt/111",
            ),
            (
                "a.ofd",
                zip_with(&[("OFD.xml", OFD_XML), ("Doc_0/Document.xml", b"<a/>")]),
                "strongroom/ofd",
            ),
        ];
        for (name, bytes, want) in cases {
            let p = d.file(name, &bytes);
            let id = id_of(&p);
            assert_eq!(id.format_id.as_deref(), Some(want), "{name}: {id:?}");
            assert!(id.preservation && !id.encrypted, "{name}: {id:?}");
            assert_eq!(codes(&p), Vec::<String>::new(), "{name}");
        }
        let id = id_of(&d.file("v.ofd", &zip_with(&[("OFD.xml", OFD_XML)])));
        assert_eq!(id.detail.as_deref(), Some("OFD 1.0, DocType OFD-A"));
        let id = id_of(&d.file("gb.txt", b"\xBB\xE1\xD2\xE9\n"));
        assert_eq!(id.detail.as_deref(), Some("GB18030"));
        // 目录 in GBK is also valid UTF-8 (U+013F U+00BC): short texts are ambiguous and
        // UTF-8 is preferred; either way the file is accepted.
        let id = id_of(&d.file("gb2.txt", b"\xC4\xBF\xC2\xBC\n"));
        assert_eq!(id.detail.as_deref(), Some("UTF-8"));
    }

    #[test]
    fn xml_in_other_encodings() {
        let d = Dir::new();
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><目录/>";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let id = id_of(&d.file("le.xml", &le));
        assert_eq!(id.format_id.as_deref(), Some("fmt/101"));
        assert_eq!(id.detail.as_deref(), Some("XML 1.0, UTF-16LE"));
        let be: Vec<u8> = "<a>x</a>"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(
            id_of(&d.file("be.xml", &be)).detail.as_deref(),
            Some("XML (no declaration), UTF-16BE")
        );
        let gb = b"<?xml version=\"1.0\" encoding=\"GB18030\"?>\n<\xC4\xBF\xC2\xBC/>";
        let p = d.file("gb.xml", gb);
        assert_eq!(id_of(&p).detail.as_deref(), Some("XML 1.0, GB18030"));
        assert!(codes(&p).is_empty());
        // Declared UTF-8, but GBK bytes: an encoding error, still XML.
        let p = d.file(
            "bad.xml",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<\xBB\xE1\xD2\xE9/>",
        );
        assert_eq!(id_of(&p).format_id.as_deref(), Some("fmt/101"));
        assert_eq!(codes(&p), ["FMT_TEXT_ENCODING"]);
        let p = d.file(
            "sjis.xml",
            b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a/>",
        );
        let f = check_usability(&reg(), &p, "data/r/sjis.xml", "R");
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].code.as_str(), f[0].is_error()),
            ("FMT_TEXT_ENCODING", false)
        );
    }

    #[test]
    fn pdfa_is_detected() {
        let d = Dir::new();
        for (part, conf, id, detail) in [
            (1, "B", "fmt/354", "PDF/A-1b, PDF 1.4"),
            (1, "A", "fmt/95", "PDF/A-1a, PDF 1.4"),
            (2, "U", "fmt/478", "PDF/A-2u, PDF 1.4"),
            (3, "b", "fmt/480", "PDF/A-3b, PDF 1.4"),
        ] {
            let p = d.file("a.pdf", &pdf("1.4", &xmp(part, conf), ""));
            let i = id_of(&p);
            assert_eq!(i.format_id.as_deref(), Some(id));
            assert_eq!(i.detail.as_deref(), Some(detail));
            assert!(i.preservation);
            assert!(codes(&p).is_empty());
        }
        // Element form, PDF/A-4 without a conformance level.
        let x = "<rdf:Description><pdfaid:part>4</pdfaid:part><pdfaid:rev>2020</pdfaid:rev></rdf:Description>";
        let i = id_of(&d.file("a4.pdf", &pdf("2.0", x, "")));
        assert_eq!(i.format_id.as_deref(), Some("fmt/1910"));
        assert_eq!(i.detail.as_deref(), Some("PDF/A-4, PDF 2.0"));
        // A plain PDF says its version only.
        let i = id_of(&d.file("p.pdf", &pdf("1.5", "", "")));
        assert_eq!(i.detail.as_deref(), Some("PDF 1.5"));
    }

    #[test]
    fn pdfa_claim_at_the_end_of_a_large_file_is_found() {
        let d = Dir::new();
        let p = d.0.path().join("big.pdf");
        let mut f = File::create(&p).expect("create");
        f.write_all(b"%PDF-1.7\n").expect("write");
        f.seek(SeekFrom::Start(8 << 20)).expect("seek");
        f.write_all(&pdf("1.7", &xmp(2, "B"), "")[9..])
            .expect("write");
        drop(f);
        let i = id_of(&p);
        assert_eq!(i.format_id.as_deref(), Some("fmt/477"), "{i:?}");
    }

    #[test]
    fn encrypted_pdf_is_refused() {
        let d = Dir::new();
        let p = d.file("e.pdf", &pdf("1.6", "", "/Encrypt 5 0 R /ID [<01><01>] "));
        let i = id_of(&p);
        assert!(i.encrypted, "{i:?}");
        assert_eq!(codes(&p), ["FMT_ENCRYPTED"]);
        // A cross-reference stream dictionary carries the key instead of a trailer.
        let xref = "%PDF-1.5\n1 0 obj\n<< /Type /Catalog >>\nendobj\n\
                    9 0 obj\n<< /Type /XRef /Size 10 /W [1 2 1] /Root 1 0 R /Encrypt 8 0 R /Length 4 >>\n\
                    stream\n\0\0\0\0\nendstream\nendobj\nstartxref\n48\n%%EOF\n";
        let p = d.file("x.pdf", xref.as_bytes());
        assert_eq!(codes(&p), ["FMT_ENCRYPTED"]);
        // /EncryptMetadata or /Encrypt as a name in a content stream is no encryption.
        let p = d.file(
            "n.pdf",
            &pdf(
                "1.4",
                "3 0 obj\n<< /Length 20 >>\nstream\n/Encrypt Do\nendstream\nendobj",
                "",
            ),
        );
        assert!(!id_of(&p).encrypted);
        assert!(codes(&p).is_empty());
    }

    #[test]
    fn truncated_pdf_is_damaged() {
        let d = Dir::new();
        let full = pdf("1.4", "", "");
        let p = d.file("t.pdf", &full[..full.len() - 20]);
        assert_eq!(codes(&p), ["FMT_DAMAGED"]);
    }

    #[test]
    fn archives_and_executables_are_refused() {
        let d = Dir::new();
        let mut tar = vec![0u8; 1024];
        tar[..5].copy_from_slice(b"a.txt");
        tar[257..263].copy_from_slice(b"ustar\0");
        let mut pe = vec![0u8; 256];
        pe[..2].copy_from_slice(b"MZ");
        pe[128..132].copy_from_slice(b"PE\0\0");
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            (
                "a.zip",
                zip_with(&[("a.pdf", &pdf("1.4", "", ""))]),
                "x-fmt/263",
                "FMT_ARCHIVE",
            ),
            ("empty.zip", zip_with(&[]), "x-fmt/263", "FMT_ARCHIVE"),
            ("a.tar", tar, "x-fmt/265", "FMT_ARCHIVE"),
            (
                "a.gz",
                b"\x1F\x8B\x08\0\0\0\0\0".to_vec(),
                "x-fmt/266",
                "FMT_ARCHIVE",
            ),
            ("a.bz2", b"BZh91AY&SY".to_vec(), "x-fmt/268", "FMT_ARCHIVE"),
            ("a.xz", b"\xFD7zXZ\0\0".to_vec(), "fmt/1098", "FMT_ARCHIVE"),
            (
                "a.zst",
                b"\x28\xB5\x2F\xFD\0\0".to_vec(),
                "strongroom/zstd",
                "FMT_ARCHIVE",
            ),
            (
                "a.7z",
                b"7z\xBC\xAF\x27\x1C\0\x04".to_vec(),
                "fmt/484",
                "FMT_ARCHIVE",
            ),
            (
                "a.rar",
                b"Rar!\x1A\x07\x00\xCF".to_vec(),
                "x-fmt/264",
                "FMT_ARCHIVE",
            ),
            (
                "b.rar",
                b"Rar!\x1A\x07\x01\x00".to_vec(),
                "strongroom/rar5",
                "FMT_ARCHIVE",
            ),
            (
                "a.elf",
                b"\x7FELF\x02\x01\x01\0".to_vec(),
                "fmt/688",
                "FMT_EXECUTABLE",
            ),
            ("a.exe", pe, "strongroom/pe", "FMT_EXECUTABLE"),
            (
                "a.doc",
                b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0".to_vec(),
                "fmt/111",
                "FMT_NOT_PRESERVATION",
            ),
            (
                "a.docx",
                zip_with(&[
                    ("[Content_Types].xml", b"<Types/>"),
                    ("word/document.xml", b"<w/>"),
                ]),
                "fmt/412",
                "FMT_NOT_PRESERVATION",
            ),
        ];
        for (name, bytes, want, code) in cases {
            let p = d.file(name, &bytes);
            let i = id_of(&p);
            assert_eq!(i.format_id.as_deref(), Some(want), "{name}: {i:?}");
            assert!(!i.preservation, "{name}");
            assert_eq!(codes(&p), [code], "{name}");
        }
        // The finding names the record and the file, and what to do.
        let p = d.file("x.pdf", &zip_with(&[("a.pdf", b"%PDF-1.4")]));
        let f = check_usability(&reg(), &p, "data/r/x.pdf", "R-1 (r)");
        assert_eq!(f[0].record.as_deref(), Some("R-1 (r)"));
        assert_eq!(f[0].file.as_deref(), Some("data/r/x.pdf"));
        assert!(f[0].message.contains("unpack"), "{}", f[0].message);
    }

    #[test]
    fn encrypted_zip_entries_are_flagged() {
        let d = Dir::new();
        let ofd = mark_encrypted(zip_with(&[
            ("OFD.xml", OFD_XML),
            ("Doc_0/Document.xml", b"<a/>"),
        ]));
        let p = d.file("e.ofd", &ofd);
        let i = id_of(&p);
        assert_eq!(i.format_id.as_deref(), Some("strongroom/ofd"));
        assert!(i.encrypted);
        assert_eq!(codes(&p), ["FMT_ENCRYPTED"]);
        let p = d.file("e.zip", &mark_encrypted(zip_with(&[("a.txt", b"secret")])));
        let mut c = codes(&p);
        c.sort();
        assert_eq!(c, ["FMT_ARCHIVE", "FMT_ENCRYPTED"]);
    }

    #[test]
    fn damaged_zip_is_reported_once() {
        let d = Dir::new();
        let z = zip_with(&[("OFD.xml", OFD_XML)]);
        let p = d.file("cut.ofd", &z[..z.len() - 30]);
        assert_eq!(codes(&p), ["FMT_DAMAGED"]);
    }

    #[test]
    fn zip_reads_stay_within_the_budget() {
        let d = Dir::new();
        // Starts like a ZIP, has no end record: the zip crate would search all of it.
        let p = d.0.path().join("broken.ofd");
        let mut f = File::create(&p).expect("create");
        f.write_all(b"PK\x03\x04\x14\0\0\0").expect("write");
        f.set_len(40 << 20).expect("set_len");
        drop(f);
        let ex = reg().examine(&p).expect("examine");
        assert_eq!(ex.ident.format_id.as_deref(), Some("x-fmt/263"));
        assert!(
            matches!(&ex.issues[..], [Issue::Damaged(_)]),
            "{:?}",
            ex.issues
        );
        assert!(
            ex.bytes_read <= ZIP_BUDGET + HEAD as u64,
            "{}",
            ex.bytes_read
        );
        assert_eq!(codes(&p), ["FMT_DAMAGED"]);
        // A directory larger than the budget is reported as such.
        let z = zip_with(&[("OFD.xml", OFD_XML), ("Doc_0/Document.xml", b"<a/>")]);
        let r = reg();
        let generic = r
            .formats()
            .iter()
            .position(|f| f.method == Method::Zip && f.entries.is_empty())
            .expect("generic zip");
        let mut small = Budget {
            inner: io::Cursor::new(z),
            used: 0,
            limit: 64,
        };
        let ex = r.zip_container(&mut small, generic);
        match &ex.issues[..] {
            [Issue::Damaged(why)] => assert!(why.contains("MiB this check reads"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_unknown_and_unreadable() {
        let d = Dir::new();
        let p = d.file("e.pdf", b"");
        assert_eq!(id_of(&p).format_id, None);
        assert_eq!(codes(&p), ["FMT_EMPTY"]);
        let bin: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let p = d.file("u.bin", &bin);
        let i = id_of(&p);
        assert_eq!((i.format_id.as_deref(), i.name.as_str()), (None, "unknown"));
        assert_eq!(codes(&p), ["FMT_UNKNOWN"]);
        // Latin-1 text that is neither UTF-8 nor GB18030 (é before a space).
        let p = d.file("l.txt", b"caf\xE9 au lait\n");
        assert_eq!(codes(&p), ["FMT_UNKNOWN"]);
        let missing = d.0.path().join("missing.pdf");
        assert!(matches!(reg().identify(&missing), Err(Error::Read { .. })));
        let (id, f) = assess(&reg(), &missing, "data/r/missing.pdf", "R");
        assert!(id.is_none());
        assert_eq!(f[0].code, "FMT_UNREADABLE");
    }

    #[test]
    fn extension_mismatch_is_a_warning() {
        let d = Dir::new();
        for (name, bytes) in [
            ("scan.pdf", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
            ("doc.txt", pdf("1.4", "", "")),
            ("noext", pdf("1.4", "", "")),
        ] {
            let p = d.file(name, &bytes);
            let f = check_usability(&reg(), &p, &format!("data/r/{name}"), "R");
            assert_eq!(f.len(), 1, "{name}: {f:?}");
            assert_eq!(f[0].code, "FMT_EXTENSION_MISMATCH");
            assert!(!f[0].is_error());
        }
        let p = d.file("SCAN.PNG", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        assert!(
            codes(&p).is_empty(),
            "extensions compare case-insensitively"
        );
    }

    #[test]
    fn text_with_broken_encoding() {
        let d = Dir::new();
        // Starts as UTF-8 Chinese, then a byte neither UTF-8 nor GB18030 allows.
        let mut b = "会议纪要\n".as_bytes().to_vec();
        b.extend(b"\xFF\n");
        let p = d.file("m.txt", &b);
        assert_eq!(codes(&p), ["FMT_TEXT_ENCODING"]);
        // A large UTF-8 text whose tail window starts inside a character.
        // 20 000 lines of 37 bytes and one more byte: the tail window starts at byte 29 of a
        // line, the middle of a three-byte character.
        let text = format!("{}a", "网上政务服务平台建设清单\n".repeat(20_000));
        assert_eq!((text.len() - TAIL) % 37 % 3, 2);
        let p = d.file("big.txt", text.as_bytes());
        assert!(codes(&p).is_empty());
        assert_eq!(id_of(&p).detail.as_deref(), Some("UTF-8"));
    }

    #[test]
    fn a_large_file_is_identified_from_bounded_reads() {
        let d = Dir::new();
        let p = d.0.path().join("large.pdf");
        let mut f = File::create(&p).expect("create");
        f.write_all(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
            .expect("write");
        let size: u64 = 50 << 20;
        f.set_len(size).expect("set_len");
        f.seek(SeekFrom::End(0)).expect("seek");
        f.write_all(b"\ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n9\n%%EOF\n")
            .expect("write");
        drop(f);
        let ex = reg().examine(&p).expect("examine");
        assert_eq!(ex.ident.format_id.as_deref(), Some("fmt/276"));
        assert!(ex.issues.is_empty(), "{:?}", ex.issues);
        // Head, tail and the startxref window: a few MiB of the 50.
        assert!(
            ex.bytes_read <= (2 * PDF_WINDOW + HEAD + PDF_XREF_WINDOW) as u64,
            "{}",
            ex.bytes_read
        );
        // A large text: head and tail only.
        let p = d.0.path().join("large.txt");
        let mut f = File::create(&p).expect("create");
        let line = b"0123456789 abcdefghij\n";
        for _ in 0..(8 << 20) / line.len() {
            f.write_all(line).expect("write");
        }
        drop(f);
        let ex = reg().examine(&p).expect("examine");
        assert_eq!(ex.ident.format_id.as_deref(), Some("x-fmt/111"));
        assert!(ex.bytes_read <= (HEAD + TAIL) as u64, "{}", ex.bytes_read);
    }

    #[test]
    fn gb18030_structure() {
        assert!(gb18030_ok(b"\xC4\xBF\xC2\xBC", false, false));
        assert!(gb18030_ok(b"\x81\x30\x81\x30", false, false));
        assert!(!gb18030_ok(b"\xC4", false, false));
        assert!(gb18030_ok(b"\xC4", false, true));
        assert!(!gb18030_ok(b"\xC4\x20", false, false));
        assert!(!gb18030_ok(b"\x80", false, false));
        assert!(!gb18030_ok(b"\xFF", false, false));
        // Resynchronised after the first byte below 0x30.
        assert!(gb18030_ok(b"\xBF\xC2\xBC\n\xC4\xBF", true, false));
    }
}
