//! OCFL 1.1 (and 1.0) validation (OCFL 校验) of objects and storage roots read through
//! `object_store`: every problem becomes a coded finding (`E023`, `W004`, … from the spec's
//! validation codes), never an error.
//!
//! Owns the reading of inventories, sidecars, conformance declarations and the storage
//! hierarchy, and the streamed re-digesting of content. Uses only `list`, `get` and `head`, so
//! it runs the same on `memory://`, `file://` and `s3://`. It never writes. `Error` is kept for
//! environment failures (store unreachable, listing failed). The codes emitted are listed in
//! `formats/ocfl-validation.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Map, Value};

use super::layout::{Layout0003, EXTENSION_0003};
use crate::digest::{Algorithm, Hasher, CHUNK};

/// Whether a finding makes the object or storage root invalid (a MUST of the spec) or only
/// departs from a SHOULD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Breaks a MUST: the object or storage root is not valid OCFL.
    Error,
    /// Departs from a SHOULD: still valid.
    Warning,
}

/// One coded problem found by the validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcflFinding {
    /// The spec's validation code, e.g. `E023` or `W004`.
    pub code: String,
    /// Error (MUST) or warning (SHOULD).
    pub severity: Severity,
    /// The object root the finding belongs to, if any: the store path given to
    /// [`validate_object`], or the path relative to the storage root given to
    /// [`validate_storage_root`] (`None` for the object root itself under [`validate_local`]).
    pub object: Option<String>,
    /// The file or directory concerned, relative to the object root (or to the storage root
    /// when `object` is `None`).
    pub path: Option<String>,
    /// What is wrong, with expected and found values where there are some.
    pub message: String,
}

impl fmt::Display for OcflFinding {
    /// `CODE path: message`, the path joined onto the object root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = match (&self.object, &self.path) {
            (Some(o), Some(p)) if !o.is_empty() => format!("{o}/{p}"),
            (Some(o), None) if !o.is_empty() => o.clone(),
            (_, Some(p)) => p.clone(),
            _ => ".".to_string(),
        };
        write!(f, "{} {}: {}", self.code, loc, self.message)
    }
}

/// What a validation run found and how much it read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationReport {
    /// Every finding, errors and warnings, in the order found.
    pub findings: Vec<OcflFinding>,
    /// OCFL objects validated.
    pub objects_checked: usize,
    /// Content files whose digests were recomputed.
    pub files_checked: u64,
    /// Bytes read to recompute them.
    pub bytes_checked: u64,
}

impl ValidationReport {
    /// True when no finding is an error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The findings of severity error.
    pub fn errors(&self) -> impl Iterator<Item = &OcflFinding> + '_ {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The findings of severity warning.
    pub fn warnings(&self) -> impl Iterator<Item = &OcflFinding> + '_ {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// True when some finding carries `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    fn absorb(&mut self, other: ValidationReport) {
        self.findings.extend(other.findings);
        self.objects_checked += other.objects_checked;
        self.files_checked += other.files_checked;
        self.bytes_checked += other.bytes_checked;
    }
}

/// How thoroughly to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Recompute every content file's digests (manifest and fixity). Without it only the
    /// structure, inventories and sidecars are checked.
    pub check_digests: bool,
    /// Content files digested at once.
    pub concurrency: usize,
    /// Told the byte count of every content file once it is digested (for progress bars).
    pub progress: Option<BytesProgress>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            check_digests: true,
            concurrency: 4,
            progress: None,
        }
    }
}

/// A callback told how many bytes were just re-read.
#[derive(Clone)]
pub struct BytesProgress(pub std::sync::Arc<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for BytesProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BytesProgress")
    }
}

impl PartialEq for BytesProgress {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BytesProgress {}

/// The store could not be read: not a finding about the content.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing a prefix failed.
    #[error("listing {path:?} failed")]
    List {
        /// The prefix listed.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Reading an object failed for a reason other than its absence.
    #[error("reading {path:?} failed")]
    Read {
        /// The object read.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// The task hashing a file failed (it panicked or the runtime shut down).
    #[error("hashing {path:?} failed")]
    Hash {
        /// The object being hashed.
        path: String,
        /// The task's failure.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The local directory could not be opened as a store.
    #[error("opening {path:?} as a local store failed")]
    Open {
        /// The directory.
        path: std::path::PathBuf,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
}

/// Largest metadata file (inventory, layout, config) read into memory; larger ones are
/// reported rather than read, so that memory stays bounded whatever the store holds.
const MAX_METADATA: u64 = 256 << 20;
/// Largest conformance declaration or sidecar read.
const MAX_SMALL: u64 = 4096;

/// Extension names registered with the OCFL editors; other names give W013/W016.
const REGISTERED_EXTENSIONS: &[&str] = &[
    "0001-digest-algorithms",
    "0002-flat-direct-storage-layout",
    "0003-hash-and-id-n-tuple-storage-layout",
    "0004-hashed-n-tuple-storage-layout",
    "0005-mutable-head",
    "0006-flat-omit-prefix-storage-layout",
    "0007-n-tuple-omit-prefix-storage-layout",
    "0008-schema-registry",
    "0009-digest-algorithms",
    "0010-differential-ocfl-version",
    "0011-direct-clean-path-layout",
    "0012-hash-and-no-prefix-id-n-tuple-storage-layout",
];

/// OCFL specification versions this validator knows, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Spec {
    V1_0,
    V1_1,
}

impl Spec {
    fn parse(s: &str) -> Option<Spec> {
        match s {
            "1.0" => Some(Spec::V1_0),
            "1.1" => Some(Spec::V1_1),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Spec::V1_0 => "1.0",
            Spec::V1_1 => "1.1",
        }
    }
    fn inventory_type(self) -> String {
        format!("https://ocfl.io/{}/spec/#inventory", self.as_str())
    }
    fn from_inventory_type(t: &str) -> Option<Spec> {
        t.strip_prefix("https://ocfl.io/")
            .and_then(|r| r.strip_suffix("/spec/#inventory"))
            .and_then(Spec::parse)
    }
}

/// Collects findings for one object or storage root.
struct Sink {
    object: Option<String>,
    findings: Vec<OcflFinding>,
}

impl Sink {
    fn new(object: Option<String>) -> Self {
        Sink {
            object,
            findings: Vec::new(),
        }
    }
    fn push(&mut self, code: &str, severity: Severity, path: &str, message: String) {
        self.findings.push(OcflFinding {
            code: code.to_string(),
            severity,
            object: self.object.clone(),
            path: (!path.is_empty()).then(|| path.to_string()),
            message,
        });
    }
    fn err(&mut self, code: &str, path: &str, message: impl Into<String>) {
        self.push(code, Severity::Error, path, message.into());
    }
    fn warn(&mut self, code: &str, path: &str, message: impl Into<String>) {
        self.push(code, Severity::Warning, path, message.into());
    }
}

/// A listed file: its store location and size.
#[derive(Debug, Clone)]
struct Entry {
    location: Path,
    size: u64,
}

/// Every file under `root`, keyed by its path relative to `root` ('/'-separated, raw).
async fn list_all(store: &dyn ObjectStore, root: &Path) -> Result<BTreeMap<String, Entry>, Error> {
    let prefix = (!root.as_ref().is_empty()).then_some(root);
    let mut stream = store.list(prefix);
    let mut out = BTreeMap::new();
    while let Some(meta) = stream.try_next().await.map_err(|source| Error::List {
        path: root.to_string(),
        source,
    })? {
        let Some(parts) = meta.location.prefix_match(root) else {
            continue;
        };
        let rel: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
        if rel.is_empty() {
            continue;
        }
        out.insert(
            rel.join("/"),
            Entry {
                location: meta.location,
                size: meta.size,
            },
        );
    }
    Ok(out)
}

/// Reads a listed file whole if it is at most `limit` bytes; `Ok(None)` if it vanished.
async fn read_whole(
    store: &dyn ObjectStore,
    entry: &Entry,
    limit: u64,
) -> Result<Option<Result<bytes::Bytes, u64>>, Error> {
    if entry.size > limit {
        return Ok(Some(Err(entry.size)));
    }
    match store.get(&entry.location).await {
        Ok(r) => match r.bytes().await {
            Ok(b) => Ok(Some(Ok(b))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(Error::Read {
                path: entry.location.to_string(),
                source,
            }),
        },
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(Error::Read {
            path: entry.location.to_string(),
            source,
        }),
    }
}

/// A value read from an inventory, or "absent".
fn shown(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "absent".to_string(),
    }
}

fn join(root: &Path, rel: &str) -> String {
    if root.as_ref().is_empty() {
        rel.to_string()
    } else if rel.is_empty() {
        root.to_string()
    } else {
        format!("{root}/{rel}")
    }
}

/// Version directory name → (number, zero-padded width or 0 when not padded).
fn parse_version(name: &str) -> Option<(u64, usize)> {
    let digits = name.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    if n == 0 {
        return None;
    }
    let width = if digits.starts_with('0') {
        digits.len()
    } else {
        0
    };
    Some((n, width))
}

/// A URI in the RFC 3986 sense, as far as a SHOULD needs: a scheme, a colon, something.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !rest.chars().any(|c| c.is_whitespace())
}

/// Checks one content path (manifest or fixity) for E099/E100; true when well formed.
fn check_content_path(sink: &mut Sink, label: &str, where_: &str, p: &str) -> bool {
    if p.starts_with('/') || p.ends_with('/') {
        sink.err(
            "E100",
            label,
            format!("{where_}: content path {p:?} begins or ends with '/'"),
        );
        return false;
    }
    if p.split('/').any(|e| e.is_empty() || e == "." || e == "..") {
        sink.err(
            "E099",
            label,
            format!("{where_}: content path {p:?} has an empty, '.' or '..' element"),
        );
        return false;
    }
    true
}

/// Checks one logical path for E053/E052; true when well formed.
fn check_logical_path(sink: &mut Sink, label: &str, version: &str, p: &str) -> bool {
    if p.starts_with('/') || p.ends_with('/') {
        sink.err(
            "E053",
            label,
            format!("version {version}: logical path {p:?} begins or ends with '/'"),
        );
        return false;
    }
    if p.split('/').any(|e| e.is_empty() || e == "." || e == "..") {
        sink.err(
            "E052",
            label,
            format!("version {version}: logical path {p:?} has an empty, '.' or '..' element"),
        );
        return false;
    }
    true
}

/// Paths that repeat or that are a directory prefix of another path.
fn conflicts<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let all: Vec<&str> = paths.into_iter().collect();
    for p in &all {
        if !seen.insert(*p) {
            out.push(format!("{p:?} appears more than once"));
        }
    }
    for p in &all {
        let mut idx = 0;
        while let Some(i) = p[idx..].find('/') {
            let prefix = &p[..idx + i];
            if seen.contains(prefix) {
                out.push(format!(
                    "{prefix:?} is a file and also a directory of {p:?}"
                ));
            }
            idx += i + 1;
        }
    }
    out
}

/// One version block of an inventory.
#[derive(Debug, Clone, Default)]
struct VersionBlock {
    name: String,
    created: Option<Value>,
    message: Option<Value>,
    user: Option<Value>,
    /// digest → logical paths.
    state: BTreeMap<String, Vec<String>>,
}

/// An inventory as far as it could be read; absent parts stay empty after their finding.
#[derive(Debug, Clone, Default)]
struct Inventory {
    id: Option<String>,
    spec: Option<Spec>,
    alg_name: Option<String>,
    /// The content-addressing algorithm when it is one OCFL allows (sha512, sha256).
    alg: Option<Algorithm>,
    head: Option<String>,
    content_dir: String,
    /// digest → content paths, as written.
    manifest: BTreeMap<String, Vec<String>>,
    /// content path → digest.
    by_path: BTreeMap<String, String>,
    /// version number → block.
    versions: BTreeMap<u64, VersionBlock>,
    /// Known fixity algorithms: content path → digests given.
    fixity: Vec<(Algorithm, BTreeMap<String, Vec<String>>)>,
}

impl Inventory {
    fn version_by_name(&self, name: &str) -> Option<&VersionBlock> {
        parse_version(name).and_then(|(n, _)| self.versions.get(&n))
    }

    /// Logical path → content paths that hold it, for one version.
    fn resolved_state(&self, v: &VersionBlock) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        for (digest, paths) in &v.state {
            let content: BTreeSet<String> = self
                .manifest
                .get(digest)
                .map(|c| c.iter().cloned().collect())
                .unwrap_or_default();
            for p in paths {
                out.insert(p.clone(), content.clone());
            }
        }
        out
    }

    /// Logical path → lowercased digest, for one version.
    fn digest_state(v: &VersionBlock) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (digest, paths) in &v.state {
            for p in paths {
                out.insert(p.clone(), digest.to_ascii_lowercase());
            }
        }
        out
    }
}

const INVENTORY_KEYS: &[&str] = &[
    "id",
    "type",
    "digestAlgorithm",
    "head",
    "contentDirectory",
    "fixity",
    "manifest",
    "versions",
];
const VERSION_KEYS: &[&str] = &["created", "message", "state", "user"];

/// Reads an inventory strictly from JSON values, reporting every structural problem under
/// `label` (e.g. `inventory.json`, `v2/inventory.json`).
fn parse_inventory(sink: &mut Sink, label: &str, bytes: &[u8]) -> Option<Inventory> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            sink.err("E033", label, format!("inventory is not valid JSON: {e}"));
            return None;
        }
    };
    let Some(obj) = value.as_object() else {
        sink.err("E033", label, "inventory is not a JSON object");
        return None;
    };
    let mut inv = Inventory {
        content_dir: "content".to_string(),
        ..Inventory::default()
    };
    for k in obj.keys() {
        if !INVENTORY_KEYS.contains(&k.as_str()) {
            sink.err("E102", label, format!("inventory has an unknown key {k:?}"));
        }
    }
    match obj.get("id") {
        None => sink.err("E036", label, "inventory has no \"id\""),
        Some(Value::String(s)) => {
            if !is_uri(s) {
                sink.warn("W005", label, format!("id {s:?} is not a URI"));
            }
            inv.id = Some(s.clone());
        }
        Some(v) => sink.err("E037", label, format!("id must be a string, found {v}")),
    }
    match obj.get("type") {
        None => sink.err("E036", label, "inventory has no \"type\""),
        Some(Value::String(s)) => match Spec::from_inventory_type(s) {
            Some(spec) => inv.spec = Some(spec),
            None => sink.err(
                "E038",
                label,
                format!("type {s:?} is not the inventory URI of a known OCFL version"),
            ),
        },
        Some(v) => sink.err("E038", label, format!("type must be a string, found {v}")),
    }
    match obj.get("digestAlgorithm") {
        None => sink.err("E036", label, "inventory has no \"digestAlgorithm\""),
        Some(Value::String(s)) => {
            inv.alg_name = Some(s.clone());
            match s.as_str() {
                "sha512" => inv.alg = Some(Algorithm::Sha512),
                "sha256" => {
                    sink.warn(
                        "W004",
                        label,
                        "digestAlgorithm is sha256; sha512 is recommended",
                    );
                    inv.alg = Some(Algorithm::Sha256);
                }
                other => sink.err(
                    "E025",
                    label,
                    format!("digestAlgorithm {other:?} is not sha512 or sha256"),
                ),
            }
        }
        Some(v) => sink.err(
            "E025",
            label,
            format!("digestAlgorithm must be a string, found {v}"),
        ),
    }
    match obj.get("head") {
        None => sink.err("E036", label, "inventory has no \"head\""),
        Some(Value::String(s)) => {
            if parse_version(s).is_none() {
                sink.err("E040", label, format!("head {s:?} is not a version name"));
            }
            inv.head = Some(s.clone());
        }
        Some(v) => sink.err("E040", label, format!("head must be a string, found {v}")),
    }
    match obj.get("contentDirectory") {
        None => {}
        Some(Value::String(s)) => {
            if s == "." || s == ".." {
                sink.err(
                    "E018",
                    label,
                    format!("contentDirectory {s:?} is not allowed"),
                );
            } else if s.contains('/') || s.is_empty() {
                sink.err(
                    "E017",
                    label,
                    format!("contentDirectory {s:?} must be one non-empty path element"),
                );
            } else {
                inv.content_dir = s.clone();
            }
        }
        Some(v) => sink.err(
            "E017",
            label,
            format!("contentDirectory must be a string, found {v}"),
        ),
    }
    match obj.get("manifest") {
        None => sink.err("E041", label, "inventory has no \"manifest\""),
        Some(Value::Object(m)) => parse_manifest(sink, label, m, &mut inv),
        Some(v) => sink.err(
            "E106",
            label,
            format!("manifest must be an object, found {v}"),
        ),
    }
    match obj.get("versions") {
        None => sink.err("E043", label, "inventory has no \"versions\""),
        Some(Value::Object(m)) => parse_versions(sink, label, m, &mut inv),
        Some(v) => sink.err(
            "E044",
            label,
            format!("versions must be an object, found {v}"),
        ),
    }
    match obj.get("fixity") {
        None => {}
        Some(Value::Object(m)) => parse_fixity(sink, label, m, &mut inv),
        Some(v) => sink.err(
            "E111",
            label,
            format!("fixity must be an object, found {v}"),
        ),
    }
    // Every manifest entry must be used by some version's state.
    let used: BTreeSet<&str> = inv
        .versions
        .values()
        .flat_map(|v| v.state.keys().map(String::as_str))
        .collect();
    for d in inv.manifest.keys() {
        if !used.contains(d.as_str()) {
            sink.err(
                "E107",
                label,
                format!("manifest digest {d} is not referenced by any version state"),
            );
        }
    }
    Some(inv)
}

fn parse_manifest(sink: &mut Sink, label: &str, m: &Map<String, Value>, inv: &mut Inventory) {
    let mut lower = BTreeSet::new();
    for (digest, paths) in m {
        if !lower.insert(digest.to_ascii_lowercase()) {
            sink.err(
                "E096",
                label,
                format!("manifest digest {digest} appears more than once (ignoring case)"),
            );
        }
        let Some(arr) = paths.as_array() else {
            sink.err(
                "E092",
                label,
                format!("manifest entry {digest} must be an array of content paths"),
            );
            continue;
        };
        let mut list = Vec::new();
        for p in arr {
            let Some(p) = p.as_str() else {
                sink.err(
                    "E092",
                    label,
                    format!("manifest entry {digest} holds a non-string {p}"),
                );
                continue;
            };
            if check_content_path(sink, label, "manifest", p) {
                inv.by_path.insert(p.to_string(), digest.clone());
            }
            list.push(p.to_string());
        }
        inv.manifest.insert(digest.clone(), list);
    }
    for c in conflicts(inv.manifest.values().flatten().map(String::as_str)) {
        sink.err(
            "E101",
            label,
            format!("manifest content paths conflict: {c}"),
        );
    }
}

fn parse_versions(sink: &mut Sink, label: &str, m: &Map<String, Value>, inv: &mut Inventory) {
    if m.is_empty() {
        sink.err(
            "E008",
            label,
            "versions is empty: an object needs at least one version",
        );
        return;
    }
    let mut widths = BTreeSet::new();
    for (name, block) in m {
        let Some((n, width)) = parse_version(name) else {
            sink.err(
                "E104",
                label,
                format!("version key {name:?} is not 'v' followed by a positive integer"),
            );
            continue;
        };
        widths.insert(width);
        let vb = parse_version_block(sink, label, name, block, inv);
        inv.versions.insert(n, vb);
    }
    if widths.len() > 1 {
        let code = if widths.iter().any(|w| *w > 0) && widths.contains(&0) {
            "E011"
        } else {
            "E012"
        };
        sink.err(
            code,
            label,
            "version names mix zero-padded and unpadded (or differently padded) numbers",
        );
    } else if widths.iter().any(|w| *w > 0) {
        sink.warn(
            "W001",
            label,
            "version names are zero-padded; v1, v2, … is recommended",
        );
    }
    if let Some(width) = widths.iter().copied().find(|w| *w > 0) {
        // A padded scheme of width w holds at most 10^(w-1) - 1 versions.
        let max = 10u64.checked_pow((width - 1) as u32).unwrap_or(u64::MAX);
        if inv.versions.keys().any(|n| *n >= max) {
            sink.err(
                "E011",
                label,
                format!("zero-padded version names of width {width} cannot hold every version"),
            );
        }
    }
    let nums: Vec<u64> = inv.versions.keys().copied().collect();
    if let Some(first) = nums.first() {
        if *first != 1 {
            sink.err("E009", label, format!("versions start at v{first}, not v1"));
        }
    }
    let expected: Vec<u64> = (1..=nums.len() as u64).collect();
    if nums.first() == Some(&1) && nums != expected {
        sink.err(
            "E010",
            label,
            format!("version numbers are not continuous: {nums:?}"),
        );
    }
    if let (Some(head), Some(last)) = (&inv.head, inv.versions.values().next_back()) {
        if parse_version(head).is_some() && *head != last.name {
            sink.err(
                "E040",
                label,
                format!(
                    "head is {head:?} but the highest version is {:?}",
                    last.name
                ),
            );
        }
    }
}

fn parse_version_block(
    sink: &mut Sink,
    label: &str,
    name: &str,
    block: &Value,
    inv: &Inventory,
) -> VersionBlock {
    let mut vb = VersionBlock {
        name: name.to_string(),
        ..VersionBlock::default()
    };
    let Some(obj) = block.as_object() else {
        sink.err(
            "E047",
            label,
            format!("version {name} is not a JSON object"),
        );
        return vb;
    };
    for k in obj.keys() {
        if !VERSION_KEYS.contains(&k.as_str()) {
            sink.err(
                "E102",
                label,
                format!("version {name} has an unknown key {k:?}"),
            );
        }
    }
    match obj.get("created") {
        None => sink.err("E048", label, format!("version {name} has no \"created\"")),
        Some(Value::String(s)) => {
            if chrono::DateTime::parse_from_rfc3339(s).is_err() || !s.contains(['T', 't']) {
                sink.err(
                    "E049",
                    label,
                    format!(
                        "version {name}: created {s:?} is not an RFC 3339 date-time with seconds and time zone"
                    ),
                );
            }
            vb.created = Some(Value::String(s.clone()));
        }
        Some(v) => {
            sink.err(
                "E049",
                label,
                format!("version {name}: created must be a string, found {v}"),
            );
            vb.created = Some(v.clone());
        }
    }
    match obj.get("message") {
        None => {}
        Some(Value::String(_)) => vb.message = obj.get("message").cloned(),
        Some(v) => {
            sink.err(
                "E094",
                label,
                format!("version {name}: message must be a string, found {v}"),
            );
            vb.message = Some(v.clone());
        }
    }
    match obj.get("user") {
        None => {}
        Some(Value::Object(u)) => {
            match u.get("name") {
                Some(Value::String(_)) => {}
                None => sink.err("E054", label, format!("version {name}: user has no name")),
                Some(v) => sink.err(
                    "E054",
                    label,
                    format!("version {name}: user name must be a string, found {v}"),
                ),
            }
            match u.get("address") {
                None => sink.warn(
                    "W008",
                    label,
                    format!("version {name}: user has no address"),
                ),
                Some(Value::String(a)) => {
                    if !is_uri(a) {
                        sink.warn(
                            "W009",
                            label,
                            format!("version {name}: user address {a:?} is not a URI"),
                        );
                    }
                }
                Some(v) => sink.err(
                    "E054",
                    label,
                    format!("version {name}: user address must be a string, found {v}"),
                ),
            }
            vb.user = obj.get("user").cloned();
        }
        Some(v) => {
            sink.err(
                "E054",
                label,
                format!("version {name}: user must be an object, found {v}"),
            );
            vb.user = Some(v.clone());
        }
    }
    if !obj.contains_key("message") || !obj.contains_key("user") {
        sink.warn(
            "W007",
            label,
            format!("version {name} lacks a message or a user"),
        );
    }
    match obj.get("state") {
        None => sink.err("E048", label, format!("version {name} has no \"state\"")),
        Some(Value::Object(state)) => {
            let mut logical = Vec::new();
            for (digest, paths) in state {
                if !inv.manifest.contains_key(digest) {
                    sink.err(
                        "E050",
                        label,
                        format!("version {name}: state digest {digest} is not in the manifest"),
                    );
                }
                let Some(arr) = paths.as_array() else {
                    sink.err(
                        "E051",
                        label,
                        format!("version {name}: state entry {digest} must be an array of logical paths"),
                    );
                    continue;
                };
                let mut list = Vec::new();
                for p in arr {
                    match p.as_str() {
                        Some(s) => {
                            check_logical_path(sink, label, name, s);
                            list.push(s.to_string());
                        }
                        None => sink.err(
                            "E051",
                            label,
                            format!("version {name}: state entry {digest} holds a non-string {p}"),
                        ),
                    }
                }
                logical.extend(list.iter().cloned());
                vb.state.insert(digest.clone(), list);
            }
            for c in conflicts(logical.iter().map(String::as_str)) {
                sink.err(
                    "E095",
                    label,
                    format!("version {name}: logical paths conflict: {c}"),
                );
            }
        }
        Some(v) => sink.err(
            "E050",
            label,
            format!("version {name}: state must be an object of digests, found {v}"),
        ),
    }
    vb
}

fn parse_fixity(sink: &mut Sink, label: &str, m: &Map<String, Value>, inv: &mut Inventory) {
    for (alg_name, block) in m {
        let Some(block) = block.as_object() else {
            sink.err(
                "E057",
                label,
                format!("fixity block {alg_name:?} must be an object of digests"),
            );
            continue;
        };
        let mut lower = BTreeSet::new();
        let mut by_path: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (digest, paths) in block {
            if !lower.insert(digest.to_ascii_lowercase()) {
                sink.err(
                    "E097",
                    label,
                    format!(
                        "fixity {alg_name} digest {digest} appears more than once (ignoring case)"
                    ),
                );
            }
            let Some(arr) = paths.as_array() else {
                sink.err(
                    "E057",
                    label,
                    format!("fixity {alg_name} entry {digest} must be an array of content paths"),
                );
                continue;
            };
            for p in arr {
                let Some(p) = p.as_str() else {
                    sink.err(
                        "E057",
                        label,
                        format!("fixity {alg_name} entry {digest} holds a non-string {p}"),
                    );
                    continue;
                };
                if !check_content_path(sink, label, &format!("fixity {alg_name}"), p) {
                    continue;
                }
                if !inv.by_path.contains_key(p) {
                    sink.err(
                        "E057",
                        label,
                        format!("fixity {alg_name} names {p:?}, which is not in the manifest"),
                    );
                }
                by_path
                    .entry(p.to_string())
                    .or_default()
                    .push(digest.to_ascii_lowercase());
            }
        }
        // Unknown algorithms (blake2b-160, size, …) are ignored, as the spec requires (E028).
        if let Ok(alg) = alg_name.parse::<Algorithm>() {
            inv.fixity.push((alg, by_path));
        }
    }
}

/// What one content file's digests must be.
#[derive(Debug, Clone)]
struct Expect {
    alg: Algorithm,
    digest: String,
    code: &'static str,
    source: String,
}

struct DigestJob {
    rel: String,
    entry: Entry,
    expect: Vec<Expect>,
}

/// Streams one file through every digest it needs and compares.
async fn run_digest_job(
    store: &dyn ObjectStore,
    job: DigestJob,
) -> Result<(Vec<(String, &'static str, String)>, u64), Error> {
    let mut algs: Vec<Algorithm> = job.expect.iter().map(|e| e.alg).collect();
    algs.sort();
    algs.dedup();
    let mut hashers: Vec<Hasher> = algs.into_iter().map(Hasher::new).collect();
    let mut bytes = 0u64;
    let mut out = Vec::new();
    let read_err = |source| Error::Read {
        path: job.entry.location.to_string(),
        source,
    };
    let get = match store.get(&job.entry.location).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => {
            out.push((
                job.rel.clone(),
                "E092",
                "content file disappeared while being validated".to_string(),
            ));
            return Ok((out, 0));
        }
        Err(e) => return Err(read_err(e)),
    };
    let mut stream = get.into_stream();
    // Chunks are gathered to CHUNK bytes and each digest of a chunk runs as its own task on
    // tokio's blocking pool when there is one: sha512 and sha256 of one large file then use
    // two cores (one digest of one stream cannot be split), and several files more. Memory
    // stays at one buffer per job.
    let runtime = tokio::runtime::Handle::try_current().ok();
    let mut buf = bytes::BytesMut::new();
    loop {
        let next = stream.next().await;
        let done = next.is_none();
        if let Some(chunk) = next {
            buf.extend_from_slice(&chunk.map_err(read_err)?);
        }
        if buf.len() >= CHUNK || (done && !buf.is_empty()) {
            let data = buf.split().freeze();
            bytes += data.len() as u64;
            hashers = match &runtime {
                Some(rt) => {
                    let tasks: Vec<_> = hashers
                        .into_iter()
                        .map(|mut h| {
                            let data = data.clone();
                            rt.spawn_blocking(move || {
                                h.update(&data);
                                h
                            })
                        })
                        .collect();
                    let mut next = Vec::with_capacity(tasks.len());
                    for t in tasks {
                        next.push(t.await.map_err(|e| Error::Hash {
                            path: job.entry.location.to_string(),
                            source: e,
                        })?);
                    }
                    next
                }
                None => {
                    for h in &mut hashers {
                        h.update(&data);
                    }
                    hashers
                }
            };
        }
        if done {
            break;
        }
    }
    let got: BTreeMap<Algorithm, String> = hashers
        .into_iter()
        .map(|h| (h.algorithm(), h.finish()))
        .collect();
    for e in &job.expect {
        if let Some(actual) = got.get(&e.alg) {
            if *actual != e.digest {
                out.push((
                    job.rel.clone(),
                    e.code,
                    format!(
                        "{} digest mismatch: {} says {}, file has {}",
                        e.alg, e.source, e.digest, actual
                    ),
                ));
            }
        }
    }
    Ok((out, bytes))
}

/// The parts of an object's validation the storage-root walk needs back.
struct ObjectOutcome {
    report: ValidationReport,
    id: Option<String>,
    spec: Option<Spec>,
}

/// Validates the OCFL object whose root is `root`.
pub async fn validate_object(
    store: &dyn ObjectStore,
    root: &Path,
    opts: &Options,
) -> Result<ValidationReport, Error> {
    let files = list_all(store, root).await?;
    let label = (!root.as_ref().is_empty()).then(|| root.to_string());
    Ok(check_object(store, &files, label, opts).await?.report)
}

async fn check_object(
    store: &dyn ObjectStore,
    files: &BTreeMap<String, Entry>,
    object_label: Option<String>,
    opts: &Options,
) -> Result<ObjectOutcome, Error> {
    let mut sink = Sink::new(object_label);
    let mut report = ValidationReport {
        objects_checked: 1,
        ..ValidationReport::default()
    };

    // Top level of the object root.
    let mut top_files = BTreeSet::new();
    let mut top_dirs = BTreeSet::new();
    for rel in files.keys() {
        match rel.split_once('/') {
            None => {
                top_files.insert(rel.as_str());
            }
            Some((d, _)) => {
                top_dirs.insert(d);
            }
        }
    }

    // Conformance declaration (NAMASTE).
    let decls: Vec<&str> = top_files
        .iter()
        .copied()
        .filter(|f| f.starts_with("0="))
        .collect();
    let mut spec = None;
    match decls.as_slice() {
        [] => sink.err(
            "E003",
            "",
            "no conformance declaration 0=ocfl_object_1.1 in the object root",
        ),
        [decl] => {
            let dvalue = &decl[2..];
            match dvalue.strip_prefix("ocfl_object_").and_then(Spec::parse) {
                None => sink.err(
                    "E006",
                    decl,
                    format!(
                        "declaration names {dvalue:?}, expected ocfl_object_1.1 or ocfl_object_1.0"
                    ),
                ),
                Some(s) => {
                    spec = Some(s);
                    if let Some(entry) = files.get(*decl) {
                        match read_whole(store, entry, MAX_SMALL).await? {
                            Some(Ok(b)) if b.as_ref() == format!("{dvalue}\n").as_bytes() => {}
                            Some(Ok(b)) => sink.err(
                                "E007",
                                decl,
                                format!(
                                    "declaration contents {:?}, expected {:?}",
                                    String::from_utf8_lossy(&b),
                                    format!("{dvalue}\n")
                                ),
                            ),
                            Some(Err(size)) => sink.err(
                                "E007",
                                decl,
                                format!(
                                    "declaration is {size} bytes, expected {:?}",
                                    format!("{dvalue}\n")
                                ),
                            ),
                            None => sink.err("E003", decl, "declaration vanished while being read"),
                        }
                    }
                }
            }
        }
        many => sink.err(
            "E003",
            "",
            format!("more than one conformance declaration: {many:?}"),
        ),
    }

    // Root inventory and its sidecar.
    let mut root_bytes = None;
    let mut inv = None;
    match files.get("inventory.json") {
        None => sink.err(
            "E063",
            "inventory.json",
            "object root has no inventory.json",
        ),
        Some(entry) => match read_whole(store, entry, MAX_METADATA).await? {
            Some(Ok(b)) => {
                inv = parse_inventory(&mut sink, "inventory.json", &b);
                root_bytes = Some(b);
            }
            Some(Err(size)) => sink.err(
                "E033",
                "inventory.json",
                format!("inventory is {size} bytes, beyond the {MAX_METADATA}-byte limit read"),
            ),
            None => sink.err(
                "E063",
                "inventory.json",
                "inventory vanished while being read",
            ),
        },
    }
    if let (Some(inv), Some(bytes)) = (&inv, &root_bytes) {
        check_sidecar(store, &mut sink, files, "", inv, bytes).await?;
    }

    // Allowed entries in the object root.
    let sidecar_name = inv
        .as_ref()
        .and_then(|i| i.alg_name.as_ref())
        .map(|a| format!("inventory.json.{a}"));
    for f in &top_files {
        let ok = f.starts_with("0=")
            || *f == "inventory.json"
            || Some(f.to_string()) == sidecar_name
            || (sidecar_name.is_none() && f.starts_with("inventory.json."));
        if !ok {
            sink.err(
                "E001",
                f,
                "file not allowed in an object root (only the declaration, inventory and sidecar)",
            );
        }
    }
    let mut version_dirs: BTreeMap<u64, &str> = BTreeMap::new();
    for d in &top_dirs {
        if let Some((n, _)) = parse_version(d) {
            version_dirs.insert(n, d);
        } else if *d != "logs" && *d != "extensions" {
            sink.err(
                "E001",
                d,
                "directory not allowed in an object root (only versions, logs, extensions)",
            );
        }
    }
    check_extensions_dir(&mut sink, files, "extensions/", "E067", "W013");

    let Some(inv) = inv else {
        if version_dirs.is_empty() {
            sink.err("E008", "", "object has no version directories");
        }
        report.findings = sink.findings;
        return Ok(ObjectOutcome {
            report,
            id: None,
            spec,
        });
    };

    // Inventory type against the declaration.
    if let (Some(decl), Some(t)) = (spec, inv.spec) {
        if decl != t {
            sink.err(
                "E038",
                "inventory.json",
                format!(
                    "inventory type is {} but the declaration says OCFL {}",
                    t.inventory_type(),
                    decl.as_str()
                ),
            );
        }
    }

    // Version directories against the versions block.
    for (n, v) in &inv.versions {
        if !version_dirs.contains_key(n) {
            sink.err(
                "E010",
                &v.name,
                format!(
                    "version {} is in the inventory but has no directory",
                    v.name
                ),
            );
        } else if version_dirs.get(n) != Some(&v.name.as_str()) {
            sink.err(
                "E014",
                version_dirs.get(n).copied().unwrap_or_default(),
                format!(
                    "version directory is not named {:?} as in the inventory",
                    v.name
                ),
            );
        }
    }
    for (n, d) in &version_dirs {
        if !inv.versions.contains_key(n) {
            sink.err(
                "E046",
                d,
                "version directory not in the root inventory's versions (root inventory not the most recent?)",
            );
        }
    }
    if version_dirs.is_empty() && inv.versions.is_empty() {
        sink.err("E008", "", "object has no versions");
    }

    // Contents of each version directory.
    let cdir = inv.content_dir.clone();
    let content_files: BTreeSet<&str> = files
        .keys()
        .filter(|rel| {
            let mut parts = rel.splitn(3, '/');
            let (Some(v), Some(c), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
                return false;
            };
            parse_version(v).is_some() && c == cdir
        })
        .map(String::as_str)
        .collect();
    let mut warned_dirs = BTreeSet::new();
    for rel in files.keys() {
        let mut parts = rel.splitn(3, '/');
        let (Some(v), Some(second)) = (parts.next(), parts.next()) else {
            continue;
        };
        if parse_version(v).is_none() {
            continue;
        }
        match parts.next() {
            None => {
                let ok = second == "inventory.json" || second.starts_with("inventory.json.");
                if !ok {
                    sink.err(
                        "E015",
                        rel,
                        format!("file in version directory outside its content directory {cdir:?}"),
                    );
                }
            }
            Some(_) if second == cdir => {
                if !inv.by_path.contains_key(rel.as_str()) {
                    sink.err(
                        "E023",
                        rel,
                        "content file is not in the root inventory's manifest",
                    );
                }
            }
            Some(_) => {
                let dir = format!("{v}/{second}");
                if warned_dirs.insert(dir.clone()) {
                    sink.warn(
                        "W002",
                        &dir,
                        format!(
                            "directory in version directory other than content directory {cdir:?}"
                        ),
                    );
                }
            }
        }
    }

    // Manifest paths must be existing files inside a version's content directory.
    for p in inv.by_path.keys() {
        let mut parts = p.splitn(3, '/');
        let inside = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(v), Some(c), Some(_)) if inv.version_by_name(v).is_some() && c == cdir
        );
        if !files.contains_key(p) {
            sink.err(
                "E092",
                p,
                "manifest names a content path that does not exist",
            );
        } else if !inside {
            sink.err(
                "E042",
                p,
                format!("manifest content path is not inside a version's {cdir:?} directory"),
            );
        }
    }

    // Version inventories, oldest first.
    let mut expects: BTreeMap<String, Vec<Expect>> = BTreeMap::new();
    let mut add_expect = |path: &str, e: Expect| {
        let list = expects.entry(path.to_string()).or_default();
        if !list.iter().any(|x| x.alg == e.alg && x.digest == e.digest) {
            list.push(e);
        }
    };
    if let Some(alg) = inv.alg {
        for (p, d) in &inv.by_path {
            add_expect(
                p,
                Expect {
                    alg,
                    digest: d.to_ascii_lowercase(),
                    code: "E092",
                    source: "inventory.json manifest".to_string(),
                },
            );
        }
    }
    for (alg, by_path) in &inv.fixity {
        for (p, ds) in by_path {
            for d in ds {
                add_expect(
                    p,
                    Expect {
                        alg: *alg,
                        digest: d.clone(),
                        code: "E093",
                        source: format!("inventory.json fixity {alg}"),
                    },
                );
            }
        }
    }
    let mut prev_spec: Option<(Spec, String)> = None;
    for (n, vb) in &inv.versions {
        let vname = vb.name.as_str();
        if !version_dirs.contains_key(n) {
            continue;
        }
        let vlabel = format!("{vname}/inventory.json");
        let Some(entry) = files.get(&vlabel) else {
            sink.warn("W010", vname, "version directory has no inventory.json");
            continue;
        };
        let bytes = match read_whole(store, entry, MAX_METADATA).await? {
            Some(Ok(b)) => b,
            Some(Err(size)) => {
                sink.err(
                    "E033",
                    &vlabel,
                    format!("inventory is {size} bytes, beyond the limit read"),
                );
                continue;
            }
            None => continue,
        };
        // The head version's inventory is normally a byte copy of the root one: its
        // structural findings would only repeat those already reported.
        let copy_of_root =
            inv.head.as_deref() == Some(vname) && root_bytes.as_deref() == Some(bytes.as_ref());
        let parsed = if copy_of_root {
            parse_inventory(&mut Sink::new(None), &vlabel, &bytes)
        } else {
            parse_inventory(&mut sink, &vlabel, &bytes)
        };
        let Some(vinv) = parsed else {
            continue;
        };
        check_sidecar(store, &mut sink, files, vname, &vinv, &bytes).await?;
        if let Some(s) = vinv.spec {
            if let Some((ps, pl)) = &prev_spec {
                if s < *ps {
                    sink.err(
                        "E103",
                        &vlabel,
                        format!(
                            "inventory is OCFL {} but the earlier {pl} is OCFL {}",
                            s.as_str(),
                            ps.as_str()
                        ),
                    );
                }
            }
            if let Some(decl) = spec {
                if s > decl {
                    sink.err(
                        "E103",
                        &vlabel,
                        format!(
                            "inventory is OCFL {} but the object declares {}",
                            s.as_str(),
                            decl.as_str()
                        ),
                    );
                }
            }
            prev_spec = Some((s, vlabel.clone()));
        }
        if vinv.head.as_deref() != Some(vname) {
            sink.err(
                "E040",
                &vlabel,
                format!("head is {}, expected {vname:?}", shown(&vinv.head)),
            );
        }
        if vinv.id != inv.id {
            sink.err(
                "E037",
                &vlabel,
                format!(
                    "id {} differs from the root inventory's {}",
                    shown(&vinv.id),
                    shown(&inv.id)
                ),
            );
        }
        if vinv.content_dir != inv.content_dir {
            sink.err(
                "E019",
                &vlabel,
                format!(
                    "contentDirectory {:?} differs from the root inventory's {:?}",
                    vinv.content_dir, inv.content_dir
                ),
            );
        }
        if inv.head.as_deref() == Some(vname) {
            if root_bytes.as_deref() != Some(bytes.as_ref()) {
                sink.err(
                    "E064",
                    &vlabel,
                    "inventory of the head version differs from the root inventory",
                );
            }
        } else {
            compare_versions(&mut sink, &vlabel, &inv, &vinv);
        }
        // Its manifest must cover every content file of its versions.
        for rel in &content_files {
            let in_range = rel
                .split('/')
                .next()
                .and_then(parse_version)
                .is_some_and(|(k, _)| k <= *n);
            if in_range && !vinv.by_path.contains_key(*rel) {
                sink.err(
                    "E023",
                    &vlabel,
                    format!("content file {rel:?} is not in this inventory's manifest"),
                );
            }
        }
        for p in vinv.by_path.keys() {
            if !files.contains_key(p) {
                sink.err(
                    "E092",
                    &vlabel,
                    format!("manifest names {p:?}, which does not exist"),
                );
            }
        }
        if inv.head.as_deref() != Some(vname) {
            if let Some(alg) = vinv.alg {
                for (p, d) in &vinv.by_path {
                    add_expect(
                        p,
                        Expect {
                            alg,
                            digest: d.to_ascii_lowercase(),
                            code: "E092",
                            source: format!("{vlabel} manifest"),
                        },
                    );
                }
            }
            for (alg, by_path) in &vinv.fixity {
                for (p, ds) in by_path {
                    for d in ds {
                        add_expect(
                            p,
                            Expect {
                                alg: *alg,
                                digest: d.clone(),
                                code: "E093",
                                source: format!("{vlabel} fixity {alg}"),
                            },
                        );
                    }
                }
            }
        }
    }
    if let (Some(decl), Some((ps, pl))) = (inv.spec, &prev_spec) {
        if decl < *ps {
            sink.err(
                "E103",
                "inventory.json",
                format!(
                    "root inventory is OCFL {} but {pl} is OCFL {}",
                    decl.as_str(),
                    ps.as_str()
                ),
            );
        }
    }

    // Digests of content, streamed with bounded concurrency.
    if opts.check_digests {
        let jobs: Vec<DigestJob> = expects
            .into_iter()
            .filter_map(|(rel, expect)| {
                files.get(&rel).map(|entry| DigestJob {
                    rel,
                    entry: entry.clone(),
                    expect,
                })
            })
            .collect();
        let mut results =
            futures::stream::iter(jobs.into_iter().map(|job| run_digest_job(store, job)))
                .buffer_unordered(opts.concurrency.max(1));
        let mut found = Vec::new();
        while let Some(r) = results.next().await {
            let (f, bytes) = r?;
            if let Some(p) = &opts.progress {
                (p.0)(bytes);
            }
            report.files_checked += 1;
            report.bytes_checked += bytes;
            found.extend(f);
        }
        found.sort();
        for (rel, code, msg) in found {
            sink.err(code, &rel, msg);
        }
    }

    report.findings = sink.findings;
    Ok(ObjectOutcome {
        report,
        id: inv.id.clone(),
        spec,
    })
}

/// Checks `inventory.json.<alg>` beside an inventory (in the root when `dir` is empty).
async fn check_sidecar(
    store: &dyn ObjectStore,
    sink: &mut Sink,
    files: &BTreeMap<String, Entry>,
    dir: &str,
    inv: &Inventory,
    bytes: &[u8],
) -> Result<(), Error> {
    let Some(alg_name) = &inv.alg_name else {
        return Ok(());
    };
    let name = if dir.is_empty() {
        format!("inventory.json.{alg_name}")
    } else {
        format!("{dir}/inventory.json.{alg_name}")
    };
    let Some(entry) = files.get(&name) else {
        sink.err("E058", &name, format!("inventory has no sidecar {name:?}"));
        return Ok(());
    };
    let text = match read_whole(store, entry, MAX_SMALL).await? {
        Some(Ok(b)) => b,
        Some(Err(size)) => {
            sink.err(
                "E061",
                &name,
                format!("sidecar is {size} bytes, not 'DIGEST inventory.json'"),
            );
            return Ok(());
        }
        None => return Ok(()),
    };
    let text = String::from_utf8_lossy(&text);
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let well_formed = matches!(tokens.as_slice(), [d, "inventory.json"] if d.bytes().all(|b| b.is_ascii_hexdigit()))
        && text.ends_with('\n')
        && text.trim_end_matches('\n').lines().count() == 1;
    if !well_formed {
        sink.err(
            "E061",
            &name,
            format!("sidecar {text:?} is not 'DIGEST inventory.json'"),
        );
        return Ok(());
    }
    let Ok(alg) = alg_name.parse::<Algorithm>() else {
        return Ok(());
    };
    let mut h = Hasher::new(alg);
    h.update(bytes);
    let actual = h.finish();
    let declared = tokens[0].to_ascii_lowercase();
    if declared != actual {
        let inv_path = if dir.is_empty() {
            "inventory.json".to_string()
        } else {
            format!("{dir}/inventory.json")
        };
        sink.err(
            "E060",
            &name,
            format!("sidecar says {declared}, {inv_path} has {alg_name} {actual}"),
        );
    }
    Ok(())
}

/// Compares the version blocks of an older inventory with the root inventory's (E066, W011).
fn compare_versions(sink: &mut Sink, label: &str, root: &Inventory, old: &Inventory) {
    let same_alg = root.alg.is_some() && root.alg == old.alg;
    for (n, ov) in &old.versions {
        let Some(rv) = root.versions.get(n) else {
            sink.err(
                "E066",
                label,
                format!("version {} is not in the root inventory", ov.name),
            );
            continue;
        };
        let (rs, os) = (root.resolved_state(rv), old.resolved_state(ov));
        let mut differs = rs.keys().ne(os.keys());
        if !differs {
            differs = rs.iter().any(|(p, rc)| {
                os.get(p)
                    .is_some_and(|oc| rc.is_disjoint(oc) && !(rc.is_empty() && oc.is_empty()))
            });
        }
        if !differs && same_alg {
            differs = Inventory::digest_state(rv) != Inventory::digest_state(ov);
        }
        if differs {
            sink.err(
                "E066",
                label,
                format!(
                    "version {} has a different state here than in the root inventory",
                    ov.name
                ),
            );
        }
        for (key, a, b) in [
            ("created", &ov.created, &rv.created),
            ("message", &ov.message, &rv.message),
            ("user", &ov.user, &rv.user),
        ] {
            if a != b {
                sink.warn(
                    "W011",
                    label,
                    format!("version {}: {key} differs from the root inventory", ov.name),
                );
            }
        }
    }
}

/// Checks an `extensions/` directory: only sub-directories, named as registered.
fn check_extensions_dir(
    sink: &mut Sink,
    files: &BTreeMap<String, Entry>,
    prefix: &str,
    file_code: &str,
    name_code: &str,
) {
    let mut names = BTreeSet::new();
    for rel in files.keys() {
        let Some(rest) = rel.strip_prefix(prefix) else {
            continue;
        };
        match rest.split_once('/') {
            None => sink.err(
                file_code,
                rel,
                "file directly in the extensions directory (only extension sub-directories allowed)",
            ),
            Some((name, _)) => {
                names.insert(name.to_string());
            }
        }
    }
    for name in names {
        if !REGISTERED_EXTENSIONS.contains(&name.as_str()) {
            sink.warn(
                name_code,
                &format!("{prefix}{name}"),
                format!("extension {name:?} is not a registered extension name"),
            );
        }
    }
}

/// Validates an OCFL storage root: its declaration, `ocfl_layout.json`, extensions and
/// hierarchy, then every object found in it (and, under layout 0003, that each object sits
/// where its identifier maps).
pub async fn validate_storage_root(
    store: &dyn ObjectStore,
    root: &Path,
    opts: &Options,
) -> Result<ValidationReport, Error> {
    let mut sink = Sink::new(None);
    let mut report = ValidationReport::default();
    let top = list_dir(store, root).await?;

    // Declaration 0=ocfl_1.1.
    let decls: Vec<&String> = top.files.keys().filter(|k| k.starts_with("0=")).collect();
    let mut root_spec = None;
    match decls.as_slice() {
        [] => sink.err("E069", "", "storage root has no declaration 0=ocfl_1.1"),
        [decl] => {
            let dvalue = &decl[2..];
            match dvalue.strip_prefix("ocfl_").and_then(Spec::parse) {
                None => sink.err(
                    "E079",
                    decl,
                    format!("declaration names {dvalue:?}, expected ocfl_1.1 or ocfl_1.0"),
                ),
                Some(s) => {
                    root_spec = Some(s);
                    if let Some(entry) = top.files.get(*decl) {
                        match read_whole(store, entry, MAX_SMALL).await? {
                            Some(Ok(b)) if b.as_ref() == format!("{dvalue}\n").as_bytes() => {}
                            Some(_) => sink.err(
                                "E080",
                                decl,
                                format!("declaration contents must be {:?}", format!("{dvalue}\n")),
                            ),
                            None => {}
                        }
                    }
                }
            }
        }
        many => sink.err("E076", "", format!("more than one declaration: {many:?}")),
    }

    // Storage root extensions: small, listed whole.
    let ext_root = Path::parse(join(root, "extensions")).map_err(|e| Error::List {
        path: join(root, "extensions"),
        source: e.into(),
    })?;
    let ext_files: BTreeMap<String, Entry> = if top.dirs.contains("extensions") {
        list_all(store, &ext_root)
            .await?
            .into_iter()
            .map(|(k, e)| (format!("extensions/{k}"), e))
            .collect()
    } else {
        BTreeMap::new()
    };
    check_extensions_dir(&mut sink, &ext_files, "extensions/", "E112", "W016");

    // ocfl_layout.json and the layout it names.
    let mut layout: Option<Layout0003> = None;
    if let Some(entry) = top.files.get("ocfl_layout.json") {
        match read_whole(store, entry, MAX_SMALL * 16).await? {
            Some(Ok(b)) => match serde_json::from_slice::<Value>(&b) {
                Ok(Value::Object(m)) => {
                    if !m.get("description").is_some_and(Value::is_string) {
                        sink.err(
                            "E070",
                            "ocfl_layout.json",
                            "layout has no string \"description\"",
                        );
                    }
                    match m.get("extension") {
                        Some(Value::String(ext)) => {
                            if ext == EXTENSION_0003 {
                                layout =
                                    Some(read_0003_config(store, &mut sink, &ext_files).await?);
                            } else if !REGISTERED_EXTENSIONS.contains(&ext.as_str()) {
                                sink.err(
                                    "E071",
                                    "ocfl_layout.json",
                                    format!("extension {ext:?} is not a registered extension name"),
                                );
                            }
                        }
                        _ => sink.err(
                            "E070",
                            "ocfl_layout.json",
                            "layout has no string \"extension\"",
                        ),
                    }
                }
                Ok(_) => sink.err("E070", "ocfl_layout.json", "layout is not a JSON object"),
                Err(e) => sink.err(
                    "E070",
                    "ocfl_layout.json",
                    format!("layout is not JSON: {e}"),
                ),
            },
            Some(Err(size)) => sink.err(
                "E070",
                "ocfl_layout.json",
                format!("layout is {size} bytes"),
            ),
            None => {}
        }
    }
    // Other top-level files are ignored, as E087 requires.

    // Walk the hierarchy one directory at a time, so memory holds one directory's entries
    // and one object's listing, never the whole store.
    let mut stack: Vec<String> = top
        .dirs
        .iter()
        .filter(|d| *d != "extensions")
        .cloned()
        .collect();
    stack.reverse();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    while let Some(rel) = stack.pop() {
        let full = join(root, &rel);
        let dir_path = Path::parse(&full).map_err(|e| Error::List {
            path: full.clone(),
            source: e.into(),
        })?;
        let here = list_dir(store, &dir_path).await?;
        let is_object = here.files.keys().any(|f| f.starts_with("0=ocfl_object_"));
        if !is_object {
            // Files here belong to no object: in an intermediate directory (it has
            // sub-directories) or in a directory that ends the hierarchy without an object.
            for f in here.files.keys() {
                let p = format!("{rel}/{f}");
                if here.dirs.is_empty() {
                    sink.err(
                        "E072",
                        &p,
                        "file in the storage hierarchy outside any OCFL object",
                    );
                } else {
                    sink.err(
                        "E084",
                        &p,
                        "file in an intermediate directory of the storage hierarchy",
                    );
                }
            }
            for d in here.dirs.iter().rev() {
                stack.push(format!("{rel}/{d}"));
            }
            continue;
        }
        let files = list_all(store, &dir_path).await?;
        let mut extra = Sink::new(Some(rel.clone()));
        // Objects must end the hierarchy: a declaration deeper inside is a nested object.
        for k in files.keys() {
            if let Some((dir, name)) = k.rsplit_once('/') {
                if name.starts_with("0=ocfl_object_") {
                    extra.err(
                        "E082",
                        dir,
                        "object root inside another object (objects must terminate the hierarchy)",
                    );
                }
            }
        }
        let outcome = check_object(store, &files, Some(rel.clone()), opts).await?;
        if let (Some(rs), Some(os)) = (root_spec, outcome.spec) {
            if os > rs {
                extra.err(
                    "E081",
                    "",
                    format!(
                        "object declares OCFL {} inside an OCFL {} storage root",
                        os.as_str(),
                        rs.as_str()
                    ),
                );
            }
        }
        if let (None, Some(id)) = (&layout, &outcome.id) {
            // Without a known layout nothing else keeps two objects from sharing an id.
            if let Some(first) = ids.insert(id.clone(), rel.clone()) {
                extra.err(
                    "E037",
                    "",
                    format!("object id {id:?} is also the id of the object at {first:?}"),
                );
            }
        }
        if let (Some(layout), Some(id)) = (&layout, &outcome.id) {
            let expected = layout.object_root(id);
            if expected != rel {
                extra.err(
                    "E083",
                    "",
                    format!("object {id:?} is at {rel:?} but layout 0003 maps it to {expected:?}"),
                );
            }
        }
        report.absorb(outcome.report);
        report.findings.extend(extra.findings);
    }
    let mut findings = sink.findings;
    findings.append(&mut report.findings);
    report.findings = findings;
    Ok(report)
}

/// One directory level: files (name → entry) and sub-directory names.
struct DirListing {
    files: BTreeMap<String, Entry>,
    dirs: BTreeSet<String>,
}

async fn list_dir(store: &dyn ObjectStore, dir: &Path) -> Result<DirListing, Error> {
    let prefix = (!dir.as_ref().is_empty()).then_some(dir);
    let lr = store
        .list_with_delimiter(prefix)
        .await
        .map_err(|source| Error::List {
            path: dir.to_string(),
            source,
        })?;
    let mut out = DirListing {
        files: BTreeMap::new(),
        dirs: BTreeSet::new(),
    };
    for m in lr.objects {
        if let Some(name) = m.location.filename().map(str::to_string) {
            out.files.insert(
                name,
                Entry {
                    location: m.location,
                    size: m.size,
                },
            );
        }
    }
    for p in lr.common_prefixes {
        if let Some(name) = p.filename() {
            out.dirs.insert(name.to_string());
        }
    }
    Ok(out)
}

async fn read_0003_config(
    store: &dyn ObjectStore,
    sink: &mut Sink,
    files: &BTreeMap<String, Entry>,
) -> Result<Layout0003, Error> {
    let name = format!("extensions/{EXTENSION_0003}/config.json");
    let Some(entry) = files.get(&name) else {
        return Ok(Layout0003::default());
    };
    match read_whole(store, entry, MAX_SMALL * 16).await? {
        Some(Ok(b)) => match serde_json::from_slice::<Value>(&b)
            .map_err(|e| e.to_string())
            .and_then(|v| Layout0003::from_config(&v).map_err(|e| e.to_string()))
        {
            Ok(l) => return Ok(l),
            Err(e) => sink.err("E071", &name, format!("unusable layout configuration: {e}")),
        },
        Some(Err(size)) => sink.err("E071", &name, format!("configuration is {size} bytes")),
        None => {}
    }
    Ok(Layout0003::default())
}

/// Validates a local directory: an object root if it holds `0=ocfl_object_*`, a storage
/// root if it holds `0=ocfl_1.*`, otherwise an object (which then reports E003).
pub async fn validate_local(
    path: &std::path::Path,
    opts: &Options,
) -> Result<ValidationReport, Error> {
    let store = object_store::local::LocalFileSystem::new_with_prefix(path).map_err(|source| {
        Error::Open {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    let root = Path::default();
    let top = store
        .list_with_delimiter(None)
        .await
        .map_err(|source| Error::List {
            path: path.display().to_string(),
            source,
        })?;
    let names: Vec<String> = top
        .objects
        .iter()
        .filter_map(|m| m.location.filename().map(str::to_string))
        .collect();
    let is_object = names.iter().any(|n| n.starts_with("0=ocfl_object_"));
    let is_root = names
        .iter()
        .any(|n| n.starts_with("0=ocfl_") && !n.starts_with("0=ocfl_object_"));
    if is_root && !is_object {
        validate_storage_root(store.as_ref(), &root, opts).await
    } else {
        validate_object(store.as_ref(), &root, opts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names() {
        assert_eq!(parse_version("v1"), Some((1, 0)));
        assert_eq!(parse_version("v10"), Some((10, 0)));
        assert_eq!(parse_version("v001"), Some((1, 3)));
        for bad in [
            "v0",
            "v00",
            "v",
            "1",
            "v1a",
            "V1",
            "v-1",
            "v99999999999999999999999",
        ] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn uris() {
        for good in [
            "urn:x:1",
            "info:a/b",
            "https://example.org/x",
            "mailto:a@b.org",
        ] {
            assert!(is_uri(good), "{good}");
        }
        for bad in [
            "not_a_uri",
            "1 Wonky Way, Wibblesville, WW",
            ":x",
            "a b:c",
            "x:",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }

    #[test]
    fn path_conflicts() {
        assert!(conflicts(["a/b", "a/c", "ab"]).is_empty());
        assert_eq!(conflicts(["a", "a/b"]).len(), 1);
        assert_eq!(conflicts(["a/b", "a/b"]).len(), 1);
        assert!(conflicts(["a/b/c", "a/bc"]).is_empty());
    }

    #[test]
    fn finding_display() {
        let f = OcflFinding {
            code: "E023".into(),
            severity: Severity::Error,
            object: Some("3c0/ff4/240/object-01".into()),
            path: Some("v1/content/x".into()),
            message: "m".into(),
        };
        assert_eq!(f.to_string(), "E023 3c0/ff4/240/object-01/v1/content/x: m");
    }
}
