//! verify-copy: checks a strongroom copy bundle (核对无误的电子副本) offline, with nothing from
//! the archive but its published verifier key. Implements `formats/copy-bundle.md` §7 step by
//! step and shares no code with strongroom: RFC 9162 proofs ([`merkle`]) and C2SP signed
//! notes, checkpoints and tlog-proofs ([`note`]) are re-implemented here from the specs.
//!
//! [`verify`] returns a [`Report`] of named checks (findings as data); it never stops at the
//! first problem, so one run lists every one.

pub mod merkle;
pub mod note;
pub mod tsp;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek};
use std::path::Path;

use ring::digest::{Context, SHA256, SHA512};
use serde_json::Value;

use merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash};
use note::{parse_hash_lines, parse_tlog_proof, verify_checkpoint, verify_note, VerifierKey};

/// The bundle format version this verifier reads (`format_version` in the manifest).
pub const FORMAT_VERSION: u64 = 1;
/// The manifest's `type`.
pub const MANIFEST_TYPE: &str = "strongroom.copy-manifest";
/// Entries kept in memory to be parsed (manifest, keys, checkpoint, proofs, inventories) are
/// refused above this size, so a hostile bundle cannot exhaust memory.
pub const MAX_PARSED_ENTRY: u64 = 64 << 20;

/// What the verifier is given besides the bundle.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The archive's verifier key as published (`--key`); None: the bundle's own, with a notice.
    pub key: Option<String>,
    /// A signed checkpoint the verifier already holds (`--known-checkpoint`).
    pub known_checkpoint: Option<String>,
    /// The consistency proof between it and the bundle's checkpoint (`--consistency`): base64
    /// hashes one a line, as `strongroom ledger consistency OLD NEW` prints them.
    pub consistency: Option<String>,
    /// The timestamp authority's certificate, PEM or DER (`--tsa-cert`); None: the one the
    /// token carries, with a notice.
    pub tsa_cert: Option<Vec<u8>>,
}

/// Where the trusted key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Given by the verifier (`--key`).
    Given,
    /// Taken from the bundle's `archive.vkey`: proves nothing until compared with the
    /// archive's published key.
    Bundle,
    /// No usable key.
    None,
}

impl KeySource {
    fn as_str(self) -> &'static str {
        match self {
            KeySource::Given => "given",
            KeySource::Bundle => "bundle",
            KeySource::None => "none",
        }
    }
}

/// One named check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The check's name (`formats/copy-bundle.md` §7), e.g. `file.digest`.
    pub check: &'static str,
    /// What it was about: a path in the bundle, a 档号, an entry index.
    pub subject: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found.
    pub message: String,
}

/// The verification report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every check run, in order.
    pub checks: Vec<Check>,
    /// Where the key came from.
    pub key_source: KeySource,
    /// Things the reader must know even when every check passes.
    pub notices: Vec<String>,
}

/// The loud notice printed when the bundle's own key is used.
pub const BUNDLE_KEY_NOTICE: &str = "NO KEY GIVEN: checked with the key inside the bundle \
(archive.vkey). That only shows the bundle is consistent with itself: compare that key with \
the archive's published verifier key, or run again with --key VKEY_FILE.";

impl Report {
    /// True when every check passed.
    pub fn is_valid(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The report as JSON (`formats/copy-bundle.md` §7).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "valid": self.is_valid(),
            "key_source": self.key_source.as_str(),
            "notices": self.notices,
            "checks": self.checks.iter().map(|c| serde_json::json!({
                "check": c.check, "subject": c.subject, "passed": c.passed, "message": c.message,
            })).collect::<Vec<_>>(),
        })
    }

    /// The report as text: notices, one line per check, then VALID or INVALID.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for n in &self.notices {
            s.push_str(&format!("!!! {n}\n"));
        }
        for c in &self.checks {
            let mark = if c.passed { "PASS" } else { "FAIL" };
            s.push_str(&format!(
                "{mark} {:<20} {}: {}\n",
                c.check, c.subject, c.message
            ));
        }
        s.push_str(if self.is_valid() {
            "VALID: every check passed\n"
        } else {
            "INVALID: see the FAIL lines above\n"
        });
        s
    }

    fn pass(&mut self, check: &'static str, subject: impl Into<String>, msg: impl Into<String>) {
        self.push(check, subject, true, msg);
    }

    fn fail(&mut self, check: &'static str, subject: impl Into<String>, msg: impl Into<String>) {
        self.push(check, subject, false, msg);
    }

    fn push(
        &mut self,
        check: &'static str,
        subject: impl Into<String>,
        ok: bool,
        msg: impl Into<String>,
    ) {
        self.checks.push(Check {
            check,
            subject: subject.into(),
            passed: ok,
            message: msg.into(),
        });
    }
}

/// Errors that stop verification before any check (the bundle file cannot be opened).
#[derive(Debug)]
pub enum Error {
    /// The bundle file could not be read.
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { path, .. } => write!(f, "cannot read {path}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
        }
    }
}

/// Verifies the bundle at `path`.
pub fn verify_file(path: &Path, options: &Options) -> Result<Report, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(verify(std::io::BufReader::new(file), options))
}

/// One entry of the bundle as read: its digests, and its bytes when it is parsed.
struct Entry {
    size: u64,
    sha256: String,
    sha512: String,
    bytes: Option<Vec<u8>>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Entries whose bytes the checks parse.
fn is_parsed(name: &str) -> bool {
    matches!(
        name,
        "manifest.note" | "archive.vkey" | "checkpoint.note" | "checkpoint.tst"
    ) || name.ends_with(".tlog-proof")
        || (name.starts_with("records/") && name.ends_with("/inventory.json"))
}

/// Reads every entry once, hashing it; keeps the bytes of the ones to parse.
fn read_bundle<R: Read + Seek>(reader: R, report: &mut Report) -> Option<BTreeMap<String, Entry>> {
    let mut zip = match zip::ZipArchive::new(reader) {
        Ok(z) => z,
        Err(e) => {
            report.fail(
                "bundle.readable",
                "(bundle)",
                format!("not a readable ZIP file: {e}"),
            );
            return None;
        }
    };
    let mut entries = BTreeMap::new();
    let mut problems = Vec::new();
    for i in 0..zip.len() {
        let mut f = match zip.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!("entry {i} cannot be read: {e}"));
                continue;
            }
        };
        let name = f.name().to_string();
        if f.is_dir() && f.size() == 0 {
            continue;
        }
        if !safe_name(&name) {
            problems.push(format!("{name:?} is not a safe relative path"));
            continue;
        }
        if entries.contains_key(&name) {
            problems.push(format!("{name:?} occurs twice"));
            continue;
        }
        let keep = is_parsed(&name);
        if keep && f.size() > MAX_PARSED_ENTRY {
            problems.push(format!("{name:?} is too large to be what its name says"));
            continue;
        }
        let (mut s256, mut s512) = (Context::new(&SHA256), Context::new(&SHA512));
        let mut kept = Vec::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    s256.update(&buf[..n]);
                    s512.update(&buf[..n]);
                    size += n as u64;
                    if keep {
                        kept.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) => {
                    problems.push(format!("{name:?} cannot be read: {e}"));
                    break;
                }
            }
        }
        entries.insert(
            name,
            Entry {
                size,
                sha256: hex(s256.finish().as_ref()),
                sha512: hex(s512.finish().as_ref()),
                bytes: keep.then_some(kept),
            },
        );
    }
    if problems.is_empty() {
        report.pass(
            "bundle.readable",
            "(bundle)",
            format!("{} files read", entries.len()),
        );
    } else {
        for p in problems {
            report.fail("bundle.readable", "(bundle)", p);
        }
    }
    Some(entries)
}

fn text_of<'a>(entries: &'a BTreeMap<String, Entry>, name: &str) -> Option<&'a str> {
    entries
        .get(name)
        .and_then(|e| e.bytes.as_deref())
        .and_then(|b| std::str::from_utf8(b).ok())
}

/// Verifies a bundle read from `reader` (`formats/copy-bundle.md` §7).
pub fn verify<R: Read + Seek>(reader: R, options: &Options) -> Report {
    let mut report = Report {
        checks: Vec::new(),
        key_source: KeySource::None,
        notices: Vec::new(),
    };
    let Some(entries) = read_bundle(reader, &mut report) else {
        return report;
    };

    // 2. The key.
    let key = match &options.key {
        Some(k) => match VerifierKey::parse(k) {
            Ok(k) => {
                report.key_source = KeySource::Given;
                report.pass("key", "--key", format!("trusting the given key {}", k.name));
                Some(k)
            }
            Err(e) => {
                report.fail("key", "--key", format!("the given key is unusable: {e}"));
                None
            }
        },
        None => match text_of(&entries, "archive.vkey").map(VerifierKey::parse) {
            Some(Ok(k)) => {
                report.key_source = KeySource::Bundle;
                report.notices.push(BUNDLE_KEY_NOTICE.to_string());
                report.pass(
                    "key",
                    "archive.vkey",
                    format!("using the bundle's own key {} (see the notice)", k.name),
                );
                Some(k)
            }
            Some(Err(e)) => {
                report.fail(
                    "key",
                    "archive.vkey",
                    format!("the bundle's key is unusable: {e}"),
                );
                None
            }
            None => {
                report.fail("key", "archive.vkey", "no key given and none in the bundle");
                None
            }
        },
    };

    // 3-4. The manifest.
    let manifest = check_manifest(&entries, key.as_ref(), &mut report);
    let Some(manifest) = manifest else {
        return report;
    };

    // 5-6. Every file listed, and its digests.
    check_files(&entries, &manifest, &mut report);

    // 7. The checkpoint.
    let checkpoint = check_checkpoint(&entries, &manifest, key.as_ref(), &mut report);

    // 7b. The trusted timestamp over the checkpoint, when the bundle carries one.
    check_timestamp(&entries, &manifest, options, &mut report);

    // 8-10. Per record: proofs, the inventory's link to the ledger, the files.
    let empty = Vec::new();
    let records = manifest
        .get("records")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for r in records {
        check_record(&entries, r, checkpoint.as_ref(), &mut report);
    }

    // 11. Consistency with a checkpoint the verifier holds.
    if let Some(known) = &options.known_checkpoint {
        check_known(
            known,
            options.consistency.as_deref(),
            key.as_ref(),
            checkpoint.as_ref(),
            &mut report,
        );
    }
    report
}

fn check_manifest(
    entries: &BTreeMap<String, Entry>,
    key: Option<&VerifierKey>,
    report: &mut Report,
) -> Option<Value> {
    let Some(note) = text_of(entries, "manifest.note") else {
        report.fail(
            "manifest.signature",
            "manifest.note",
            "the bundle has no manifest.note (or it is not UTF-8)",
        );
        return None;
    };
    let text = match key.map(|k| verify_note(note, k)) {
        Some(Ok(text)) => {
            report.pass(
                "manifest.signature",
                "manifest.note",
                "signed by the archive's key",
            );
            text
        }
        Some(Err(e)) => {
            report.fail(
                "manifest.signature",
                "manifest.note",
                format!("the manifest signature does not verify: {e}"),
            );
            // Go on reading it unsigned, so the rest of the report still names what differs.
            match note.rfind("\n\n") {
                Some(i) => &note[..i + 1],
                None => return None,
            }
        }
        None => {
            report.fail(
                "manifest.signature",
                "manifest.note",
                "no usable key to check it with",
            );
            match note.rfind("\n\n") {
                Some(i) => &note[..i + 1],
                None => return None,
            }
        }
    };
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains('\n') {
        report.fail(
            "manifest.format",
            "manifest.note",
            "the manifest text is not one line",
        );
        return None;
    }
    let m: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            report.fail(
                "manifest.format",
                "manifest.note",
                format!("the manifest is not JSON: {e}"),
            );
            return None;
        }
    };
    let version = m.get("format_version").and_then(Value::as_u64);
    let problem = if m.get("type").and_then(Value::as_str) != Some(MANIFEST_TYPE) {
        Some(format!("type is not {MANIFEST_TYPE}"))
    } else if version.is_none_or(|v| v > FORMAT_VERSION || v == 0) {
        Some(format!(
            "format_version {} is not one this verifier reads (1 to {FORMAT_VERSION})",
            m.get("format_version")
                .map(Value::to_string)
                .unwrap_or_default()
        ))
    } else if !m.get("files").is_some_and(Value::is_array)
        || !m.get("records").is_some_and(Value::is_array)
        || !m.get("checkpoint").is_some_and(Value::is_object)
    {
        Some("files, records or checkpoint is missing".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => {
            report.fail("manifest.format", "manifest.note", p);
            None
        }
        None => {
            report.pass(
                "manifest.format",
                "manifest.note",
                format!(
                    "copy {} for {} (request: {})",
                    m.get("copy_id").and_then(Value::as_str).unwrap_or("?"),
                    m.get("requested_for")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    m.get("request").and_then(Value::as_str).unwrap_or("?"),
                ),
            );
            Some(m)
        }
    }
}

fn check_files(entries: &BTreeMap<String, Entry>, manifest: &Value, report: &mut Report) {
    let mut listed = BTreeSet::new();
    let mut ok = true;
    for f in manifest["files"].as_array().into_iter().flatten() {
        let Some(path) = f.get("path").and_then(Value::as_str) else {
            report.fail(
                "files.listed",
                "manifest.note",
                "a files[] member has no path",
            );
            ok = false;
            continue;
        };
        listed.insert(path.to_string());
        let Some(e) = entries.get(path) else {
            report.fail(
                "files.listed",
                path,
                "removed: listed in the manifest but not in the bundle",
            );
            ok = false;
            continue;
        };
        let mut wrong = Vec::new();
        if f.get("size").and_then(Value::as_u64) != Some(e.size) {
            wrong.push(format!(
                "size {} (manifest: {})",
                e.size,
                f.get("size").unwrap_or(&Value::Null)
            ));
        }
        if f.get("sha256").and_then(Value::as_str) != Some(e.sha256.as_str()) {
            wrong.push(format!("sha256 {}", e.sha256));
        }
        if f.get("sha512").and_then(Value::as_str) != Some(e.sha512.as_str()) {
            wrong.push(format!("sha512 {}…", &e.sha512[..16]));
        }
        if wrong.is_empty() {
            report.pass("file.digest", path, "size, sha256 and sha512 as listed");
        } else {
            report.fail(
                "file.digest",
                path,
                format!(
                    "changed: the file differs from the manifest: {}",
                    wrong.join(", ")
                ),
            );
        }
    }
    for name in entries.keys() {
        if name != "manifest.note" && !listed.contains(name) {
            report.fail(
                "files.listed",
                name,
                "added: in the bundle but not listed in the manifest",
            );
            ok = false;
        }
    }
    if ok {
        report.pass(
            "files.listed",
            "(bundle)",
            format!("{} files, exactly those listed", listed.len()),
        );
    }
}

fn check_checkpoint(
    entries: &BTreeMap<String, Entry>,
    manifest: &Value,
    key: Option<&VerifierKey>,
    report: &mut Report,
) -> Option<(String, note::Checkpoint)> {
    let m = &manifest["checkpoint"];
    let path = m
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or("checkpoint.note");
    let Some(note) = text_of(entries, path) else {
        report.fail("checkpoint.signature", path, "the checkpoint is missing");
        return None;
    };
    let Some(key) = key else {
        report.fail(
            "checkpoint.signature",
            path,
            "no usable key to check it with",
        );
        return None;
    };
    match verify_checkpoint(note, key) {
        Ok(c) => {
            let mut wrong = Vec::new();
            if m.get("origin").and_then(Value::as_str) != Some(c.origin.as_str()) {
                wrong.push(format!("origin {:?}", c.origin));
            }
            if m.get("size").and_then(Value::as_u64) != Some(c.size) {
                wrong.push(format!("size {}", c.size));
            }
            let root = base64_of(&c.root);
            if m.get("root").and_then(Value::as_str) != Some(root.as_str()) {
                wrong.push(format!("root {root}"));
            }
            if wrong.is_empty() {
                report.pass(
                    "checkpoint.signature",
                    path,
                    format!(
                        "signed by the archive: {} size {} root {root}",
                        c.origin, c.size
                    ),
                );
                Some((note.to_string(), c))
            } else {
                report.fail(
                    "checkpoint.signature",
                    path,
                    format!(
                        "signed, but not the checkpoint the manifest names: {}",
                        wrong.join(", ")
                    ),
                );
                None
            }
        }
        Err(e) => {
            report.fail(
                "checkpoint.signature",
                path,
                format!("the checkpoint does not verify: {e}"),
            );
            None
        }
    }
}

fn base64_of(h: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn check_record(
    entries: &BTreeMap<String, Entry>,
    r: &Value,
    checkpoint: Option<&(String, note::Checkpoint)>,
    report: &mut Report,
) {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (refcode, object_id, version, head) =
        (s("reference_code"), s("object_id"), s("version"), s("head"));

    // 8. Each entry's proof.
    let mut proven: Vec<Value> = Vec::new();
    for e in r
        .get("entries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let index = e.get("index").and_then(Value::as_u64);
        let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
        let proof_path = e.get("proof").and_then(Value::as_str).unwrap_or("");
        let subject = format!(
            "{refcode} entry {}",
            index.map(|i| i.to_string()).unwrap_or("?".into())
        );
        let result = (|| -> Result<Value, String> {
            let index = index.ok_or("the manifest gives no index")?;
            let text = text_of(entries, proof_path).ok_or(format!("{proof_path} is missing"))?;
            let p = parse_tlog_proof(text).map_err(|e| format!("{proof_path}: {e}"))?;
            if p.index != index {
                return Err(format!("{proof_path} proves index {} not {index}", p.index));
            }
            let (note, c) = checkpoint.ok_or("no verified checkpoint to prove against")?;
            if &p.checkpoint != note {
                return Err(format!(
                    "{proof_path} leads to another checkpoint than checkpoint.note"
                ));
            }
            let entry: Value = serde_json::from_slice(&p.extra).map_err(|_| {
                format!("{proof_path}: the entry is not JSON (ledger entry altered)")
            })?;
            if entry.get("type").and_then(Value::as_str) != Some(kind) {
                return Err(format!(
                    "{proof_path}: the entry's type is not {kind} (ledger entry altered)"
                ));
            }
            verify_inclusion(p.index, c.size, &leaf_hash(&p.extra), &p.proof, &c.root).map_err(|e| {
                format!("{proof_path}: inclusion proof fails: {e} (a proof hash or the ledger entry was altered)")
            })?;
            Ok(entry)
        })();
        match result {
            Ok(entry) => {
                report.pass(
                    "entry.proof",
                    subject,
                    format!("{kind} is in the signed ledger"),
                );
                proven.push(entry);
            }
            Err(m) => report.fail("entry.proof", subject, m),
        }
    }

    // 9. The inventory, tied to a proven entry.
    let inv_path = s("inventory");
    let inv_sha512 = entries.get(&inv_path).map(|e| e.sha512.clone());
    let inventory: Option<Value> =
        text_of(entries, &inv_path).and_then(|t| serde_json::from_str(t).ok());
    let inv_result = (|| -> Result<String, String> {
        let inv = inventory
            .as_ref()
            .ok_or(format!("{inv_path} is missing or not JSON"))?;
        let digest = inv_sha512.clone().unwrap_or_default();
        if inv.get("id").and_then(Value::as_str) != Some(object_id.as_str()) {
            return Err(format!("the inventory's id is not {object_id}"));
        }
        if inv.get("head").and_then(Value::as_str) != Some(head.as_str()) {
            return Err(format!("the inventory's head is not {head}"));
        }
        if s("inventory_sha512") != digest {
            return Err("the inventory's sha512 is not the manifest's inventory_sha512".into());
        }
        let attested = proven.iter().find(|e| {
            matches!(
                e.get("type").and_then(Value::as_str),
                Some("record.stored" | "record.amended")
            ) && e.get("reference_code").and_then(Value::as_str) == Some(refcode.as_str())
                && e.get("version").and_then(Value::as_str) == Some(head.as_str())
                && e.get("inventory_sha512").and_then(Value::as_str) == Some(digest.as_str())
        });
        match attested {
            Some(e) => Ok(format!(
                "{head} inventory is the one the ledger's {} entry names",
                e.get("type").and_then(Value::as_str).unwrap_or("")
            )),
            None => Err(format!(
                "no proven record.stored/record.amended entry names this inventory (sha512 {}…) for {head}",
                digest.get(..16).unwrap_or("")
            )),
        }
    })();
    match inv_result {
        Ok(m) => report.pass("record.inventory", &refcode, m),
        Err(m) => report.fail("record.inventory", &refcode, m),
    }

    // 10b. The seal anchors, each tied to the registry's ledger entries.
    check_seal_anchors(entries, r, &refcode, &proven, report);

    // 10. The files of the version are exactly the inventory's, with its digests.
    let prefix = s("files_prefix");
    let files_result = (|| -> Result<String, Vec<String>> {
        let inv = inventory
            .as_ref()
            .ok_or(vec!["no readable inventory".to_string()])?;
        if inv.get("digestAlgorithm").and_then(Value::as_str) != Some("sha512") {
            return Err(vec!["the inventory's digestAlgorithm is not sha512".into()]);
        }
        let state = inv
            .pointer(&format!("/versions/{version}/state"))
            .and_then(Value::as_object)
            .ok_or(vec![format!("the inventory has no version {version}")])?;
        let mut expected: BTreeMap<String, String> = BTreeMap::new();
        for (digest, paths) in state {
            for p in paths
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                expected.insert(format!("{prefix}{p}"), digest.clone());
            }
        }
        let mut problems = Vec::new();
        for (path, digest) in &expected {
            match entries.get(path) {
                None => problems.push(format!("{path} removed: the inventory lists it")),
                Some(e) if &e.sha512 != digest => {
                    problems.push(format!("{path} changed: its sha512 is not the inventory's"))
                }
                Some(_) => {}
            }
        }
        for name in entries
            .keys()
            .filter(|n| n.starts_with(&prefix) && !prefix.is_empty())
        {
            if !expected.contains_key(name) {
                problems.push(format!("{name} added: not in the inventory's {version}"));
            }
        }
        if problems.is_empty() {
            Ok(format!(
                "{} files of {version} match the inventory",
                expected.len()
            ))
        } else {
            Err(problems)
        }
    })();
    match files_result {
        Ok(m) => report.pass("record.files", &refcode, m),
        Err(ps) => {
            for p in ps {
                report.fail("record.files", &refcode, p);
            }
        }
    }
}

fn check_known(
    known: &str,
    consistency: Option<&str>,
    key: Option<&VerifierKey>,
    checkpoint: Option<&(String, note::Checkpoint)>,
    report: &mut Report,
) {
    let subject = "--known-checkpoint";
    let result = (|| -> Result<String, String> {
        let key = key.ok_or("no usable key")?;
        let k = verify_checkpoint(known, key)
            .map_err(|e| format!("the known checkpoint does not verify: {e}"))?;
        let (_, c) = checkpoint.ok_or("the bundle has no verified checkpoint")?;
        if k.origin != c.origin {
            return Err(format!(
                "the known checkpoint is of another log ({})",
                k.origin
            ));
        }
        let proof = parse_hash_lines(consistency.unwrap_or(""))
            .map_err(|e| format!("the consistency proof: {e}"))?;
        let (old, new) = if k.size <= c.size { (&k, c) } else { (c, &k) };
        verify_consistency(old.size, new.size, &old.root, &new.root, &proof).map_err(|e| {
            format!(
                "the ledger at size {} is not proven an extension of size {}: {e}{}",
                new.size,
                old.size,
                if consistency.is_none() && old.size != new.size {
                    " (give the proof with --consistency FILE: strongroom ledger consistency OLD NEW)"
                } else {
                    ""
                }
            )
        })?;
        Ok(format!(
            "the known checkpoint (size {}) and the bundle's (size {}) are one log",
            k.size, c.size
        ))
    })();
    match result {
        Ok(m) => report.pass("known-checkpoint", subject, m),
        Err(m) => report.fail("known-checkpoint", subject, m),
    }
}

/// The loud notice printed when the TSA certificate comes from the token itself.
pub const TOKEN_CERT_NOTICE: &str = "NO TSA CERTIFICATE GIVEN: the timestamp was checked with \
the certificate inside the token. Compare it with the timestamp authority's published \
certificate, or run again with --tsa-cert FILE.";

fn check_timestamp(
    entries: &BTreeMap<String, Entry>,
    manifest: &Value,
    options: &Options,
    report: &mut Report,
) {
    let ts = &manifest["checkpoint"]["timestamp"];
    let Some(path) = ts.get("path").and_then(Value::as_str) else {
        if options.tsa_cert.is_some() {
            report.fail(
                "checkpoint.timestamp",
                "--tsa-cert",
                "a TSA certificate was given but the bundle carries no timestamp",
            );
        }
        return;
    };
    let result = (|| -> Result<String, String> {
        let token = entries
            .get(path)
            .and_then(|e| e.bytes.as_deref())
            .ok_or(format!("{path} is missing"))?;
        let data = entries
            .get("checkpoint.note")
            .and_then(|e| e.bytes.as_deref())
            .ok_or("checkpoint.note is missing")?;
        let cert = match &options.tsa_cert {
            Some(c) => Some(tsp::certificate_der(c).map_err(|e| format!("--tsa-cert: {e}"))?),
            None => None,
        };
        let stamp =
            tsp::verify(token, data, cert.as_deref()).map_err(|e| format!("{path}: {e}"))?;
        if ts
            .get("time")
            .and_then(Value::as_str)
            .is_some_and(|t| t != stamp.time)
        {
            return Err(format!(
                "{path} says {} but the manifest says otherwise",
                stamp.time
            ));
        }
        Ok(format!(
            "checkpoint.note existed at {} ({} RFC 3161 token{})",
            stamp.time,
            stamp.hash,
            if cert.is_some() {
                ", given TSA certificate"
            } else {
                ""
            }
        ))
    })();
    match result {
        Ok(m) => {
            if options.tsa_cert.is_none() {
                report.notices.push(TOKEN_CERT_NOTICE.to_string());
            }
            report.pass("checkpoint.timestamp", path, m);
        }
        Err(m) => report.fail("checkpoint.timestamp", path, m),
    }
}

fn check_seal_anchors(
    entries: &BTreeMap<String, Entry>,
    r: &Value,
    refcode: &str,
    proven: &[Value],
    report: &mut Report,
) {
    let anchors: Vec<&Value> = r
        .get("seal_anchors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let sha = |path: &Option<String>| {
        path.as_deref()
            .and_then(|p| entries.get(p))
            .map(|e| format!("sha256:{}", e.sha256))
    };
    let registered = |kind: &str, fp: &str, doc: &Option<String>| {
        proven.iter().any(|e| {
            str_of(e, "type").as_deref() == Some(kind)
                && str_of(e, "anchor_fingerprint").as_deref() == Some(fp)
                && doc.is_some()
                && str_of(e, "document_sha256") == *doc
        })
    };
    for e in proven
        .iter()
        .filter(|e| str_of(e, "type").as_deref() == Some("seal.verified"))
    {
        // The verdict names its anchor by subject or as `public key sha256:…`; the manifest
        // says which listed anchor that is (`named_as`).
        let fp = str_of(e, "anchor").unwrap_or_default();
        let listed = anchors.iter().any(|a| {
            str_of(a, "fingerprint").as_ref() == Some(&fp)
                || str_of(a, "named_as").as_ref() == Some(&fp)
        });
        if !listed {
            report.fail(
                "record.seal-anchors",
                refcode,
                format!("the seal verified against anchor {fp} but the bundle lacks that anchor"),
            );
        }
    }
    for a in anchors {
        let fp = str_of(a, "fingerprint").unwrap_or_default();
        let subject = format!("{refcode} anchor {}", fp.get(..19).unwrap_or(&fp));
        let mut problems = Vec::new();
        let der = str_of(a, "der");
        if sha(&der).as_deref() != Some(fp.as_str()) {
            problems.push("its certificate or key is missing or not the one the fingerprint names");
        }
        if !registered("seal.anchor.added", &fp, &sha(&str_of(a, "document"))) {
            problems.push("no proven seal.anchor.added entry names its document's digest");
        }
        let revocation = str_of(a, "revocation");
        if revocation.is_some() && !registered("seal.anchor.revoked", &fp, &sha(&revocation)) {
            problems.push("no proven seal.anchor.revoked entry names its revocation's digest");
        }
        if problems.is_empty() {
            report.pass(
                "record.seal-anchors",
                subject,
                if revocation.is_some() {
                    "the anchor and its revocation are the registry's, as the ledger recorded them"
                } else {
                    "the anchor is the registry's, as the ledger recorded it"
                },
            );
        } else {
            for p in problems {
                report.fail("record.seal-anchors", &subject, p);
            }
        }
    }
}
