//! The follower: the ONLY code path that writes the search index.
//!
//! The index remembers how many ledger entries it has applied ([`super::Position`], the
//! payload of each tantivy commit) and catches up from there in batches of
//! [`CatchUpOptions::batch_entries`] entries, one tantivy commit each. Each batch (re)indexes
//! every record a `record.stored`, `record.amended`, `record.reappraised` or `record.destroyed`
//! entry names (a destroyed one is only deleted), from the store as of the ledger size read
//! at the start: its committed inventory head, its
//! `record.json`, its intake evidence and its files' text; a record no longer in the store is
//! only deleted. Other entry types are skipped but still advance the position. Applying a
//! batch twice gives the same index (delete by 档号, then add), so a crash mid-batch just
//! re-applies it. Reads the store and the ledger, never writes them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tantivy::schema::Facet;
use tantivy::{DateTime, IndexWriter, TantivyDocument, TantivyError, Term};

use super::{Fields, Position, SearchError, SearchIndex, FORMAT_VERSION, WRITER_HEAP};
use crate::intake::{object_id, object_root};
use crate::ledger::entry::Entry;
use crate::refcode::RefCode;
use crate::store::{self, Store};

/// Records read and extracted at once within a batch.
const RECORDS_IN_FLIGHT: usize = 8;

/// How a catch-up runs.
#[derive(Debug, Clone)]
pub struct CatchUpOptions {
    /// Ledger entries per tantivy commit.
    pub batch_entries: u64,
    /// Most bytes of one file read for text extraction (the rest is not indexed).
    pub max_file_bytes: u64,
    /// Extract the text of files (off: metadata only).
    pub extract_text: bool,
}

impl Default for CatchUpOptions {
    /// 1,000 entries per commit, 64 MiB per file, text on.
    fn default() -> Self {
        CatchUpOptions {
            batch_entries: 1000,
            max_file_bytes: 64 * 1024 * 1024,
            extract_text: true,
        }
    }
}

/// What a catch-up did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CatchUp {
    /// Position before.
    pub from: u64,
    /// Position after (the ledger size read at the start, unless busy).
    pub to: u64,
    /// Another process holds the writer lock: nothing was applied and the index may be behind
    /// the ledger.
    pub busy: bool,
    /// The index was emptied first (another format or archive, or a ledger shorter than its
    /// position).
    pub rebuilt: bool,
    /// Documents (re)written.
    pub records_indexed: u64,
    /// Records named by the ledger but no longer in the store (deleted from the index).
    pub records_removed: u64,
    /// Entries that could not be decoded (skipped; `ledger verify` reports them).
    pub malformed_entries: u64,
    /// Files whose text could not be (fully) extracted: `档号 path: problem`.
    pub extraction_problems: Vec<String>,
}

/// Applies the ledger entries the index has not seen yet. `progress(done, total)` is called
/// after each batch with the ledger position reached and the target size.
pub async fn catch_up(
    store: &Store,
    index: &SearchIndex,
    opts: &CatchUpOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<CatchUp, SearchError> {
    let ledger = crate::ledger::commit::open(store).await?;
    let size = ledger.size().await?;
    let position = index.position()?;
    let mut report = CatchUp::default();
    let mut start = match &position {
        Some(p) if p.origin == ledger.origin() && p.format_version == FORMAT_VERSION => p.applied,
        Some(_) => {
            report.rebuilt = true;
            0
        }
        None => 0,
    };
    if start > size {
        // The ledger is shorter than what was applied: another store. Start again.
        report.rebuilt = true;
        start = 0;
    }
    report.from = start;
    report.to = start;
    if start == size && !report.rebuilt && position.is_some() {
        // Another process (a CLI transfer following its own write) may have committed what
        // this process's reader has not seen yet.
        index.reload(start)?;
        return Ok(report);
    }
    let mut writer: IndexWriter<TantivyDocument> = match index.index().writer(WRITER_HEAP) {
        Ok(w) => w,
        Err(TantivyError::LockFailure(..)) => {
            report.busy = true;
            return Ok(report);
        }
        Err(e) => return Err(index.err(e)),
    };
    if report.rebuilt {
        writer.delete_all_documents().map_err(|e| index.err(e))?;
    }
    let batch = opts.batch_entries.max(1);
    let mut pos = start;
    loop {
        let end = (pos + batch).min(size);
        let entries = ledger.entries(pos, end).await?;
        let mut touched: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut destroyed: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for (at, bytes) in (pos..).zip(&entries) {
            let Ok(entry) = Entry::decode(bytes) else {
                report.malformed_entries += 1;
                continue;
            };
            // Every entry naming a record is a line of its history (kept after destruction:
            // the history of a destroyed record is the evidence of its lawful end).
            if let Some(code) = entry.field_str("reference_code") {
                let f = index.fields();
                let mut line = TantivyDocument::default();
                line.add_text(f.kind, super::schema::KIND_ENTRY);
                line.add_text(f.entry_of, code);
                line.add_u64(f.entry_index, at);
                writer.add_document(line).map_err(|e| index.err(e))?;
            }
            if matches!(
                entry.kind.as_str(),
                "record.stored"
                    | "record.amended"
                    | "record.reappraised"
                    | "record.destroyed"
                    | "record.transferred"
            ) {
                if let Some(code) = entry.field_str("reference_code") {
                    // A destroyed record leaves the index whatever the store still shows
                    // (its object may be half removed until recovery finishes the removal).
                    if entry.kind == "record.destroyed" || entry.kind == "record.transferred" {
                        destroyed.insert(code.to_string());
                    } else {
                        destroyed.remove(code);
                    }
                    let hint = entry.field_str("transfer").map(String::from);
                    let slot = touched.entry(code.to_string()).or_default();
                    if slot.is_none() {
                        *slot = hint;
                    }
                }
            }
        }
        // Records are read and their text extracted concurrently, applied in 档号 order.
        let mut docs = futures::stream::iter(
            touched
                .iter()
                .filter(|(code, _)| !destroyed.contains(code.as_str())),
        )
        .map(|(code, transfer)| async move {
            let mut problems = Vec::new();
            let doc = record_doc(
                store,
                index,
                code,
                transfer.as_deref(),
                size,
                opts,
                &mut problems,
            )
            .await;
            (code, doc, problems)
        })
        .buffered(RECORDS_IN_FLIGHT);
        for code in &destroyed {
            writer.delete_term(Term::from_field_text(index.fields().refcode, code));
            report.records_removed += 1;
        }
        while let Some((code, doc, problems)) = docs.next().await {
            report.extraction_problems.extend(problems);
            writer.delete_term(Term::from_field_text(index.fields().refcode, code));
            match doc? {
                Some(doc) => {
                    writer.add_document(doc).map_err(|e| index.err(e))?;
                    report.records_indexed += 1;
                }
                None => report.records_removed += 1,
            }
        }
        let payload = serde_json::to_string(&Position {
            format_version: FORMAT_VERSION,
            origin: ledger.origin().to_string(),
            applied: end,
        })
        .unwrap_or_default();
        let mut prepared = writer.prepare_commit().map_err(|e| index.err(e))?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(|e| index.err(e))?;
        index.reload(end)?;
        pos = end;
        report.to = pos;
        progress(pos, size);
        if pos >= size {
            break;
        }
    }
    writer.wait_merging_threads().map_err(|e| index.err(e))?;
    Ok(report)
}

/// Rebuilds the index in `dir` from scratch: removes the directory, then catches up from 0.
/// Refused with [`SearchError::Busy`] while another process writes the index.
pub async fn reindex(
    store: &Store,
    dir: &Path,
    opts: &CatchUpOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<(SearchIndex, CatchUp), SearchError> {
    if dir.exists() {
        let old = SearchIndex::open(dir)?;
        match old.index().writer::<TantivyDocument>(WRITER_HEAP) {
            Ok(w) => drop(w),
            Err(TantivyError::LockFailure(..)) => return Err(SearchError::Busy(dir.into())),
            Err(e) => return Err(old.err(e)),
        }
        drop(old);
        std::fs::remove_dir_all(dir).map_err(|source| SearchError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let index = SearchIndex::open(dir)?;
    let report = catch_up(store, &index, opts, progress).await?;
    Ok((index, report))
}

/// A string member of a JSON object, trimmed, when present and not empty.
fn text_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `YYYY-MM-DD`, `YYYY-MM` or `YYYY` as the UTC midnight of its first day.
pub(crate) fn parse_date(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let full = match s.len() {
        4 => format!("{s}-01-01"),
        7 => format!("{s}-01"),
        _ => s.to_string(),
    };
    let d = NaiveDate::parse_from_str(&full, "%Y-%m-%d").ok()?;
    let secs = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(DateTime::from_timestamp_secs(secs))
}

/// The document of one record as of ledger size `size`; None when the store has no committed
/// version of it (destroyed, or never committed).
async fn record_doc(
    store: &Store,
    index: &SearchIndex,
    code: &str,
    transfer: Option<&str>,
    size: u64,
    opts: &CatchUpOptions,
    problems: &mut Vec<String>,
) -> Result<Option<TantivyDocument>, SearchError> {
    let f = index.fields();
    let Ok(rc) = RefCode::parse(code) else {
        return Ok(None);
    };
    let root = object_root(store, &object_id(&rc));
    let Some(inv) = store.committed_inventory(&root, size).await? else {
        return Ok(None);
    };
    let state = inv.logical_state(&inv.head).unwrap_or_default();
    let read_json = |logical: &str| {
        let cp = state
            .get(logical)
            .and_then(|d| inv.content_path(d))
            .map(String::from);
        let root = root.clone();
        async move {
            let Some(cp) = cp else {
                return Ok::<Value, SearchError>(Value::Null);
            };
            let bytes = store.get_bytes(&store::join(&root, &cp)).await?;
            Ok(bytes
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null))
        }
    };
    let meta = read_json("record.json").await?;
    let evidence = read_json("evidence/intake.json").await?;

    let mut doc = metadata_doc(f, code, &meta, &evidence, transfer);
    // The description, and the text of main and attachment files.
    let mut text = Vec::new();
    if let Some(d) = text_of(&meta, "description") {
        text.push(d.to_string());
    }
    let files = meta
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for file in &files {
        let Some(path) = file.get("path").and_then(Value::as_str) else {
            continue;
        };
        let role = file.get("role").and_then(Value::as_str).unwrap_or("");
        if !opts.extract_text || !(role == "main" || role == "attachment") {
            continue;
        }
        let Some(cp) = state
            .get(&format!("files/{path}"))
            .and_then(|d| inv.content_path(d))
        else {
            continue;
        };
        match file_text(store, &root, cp, opts.max_file_bytes).await? {
            (t, None) => text.push(t),
            (t, Some(problem)) => {
                problems.push(format!("{code} {path}: {problem}"));
                text.push(t);
            }
        }
    }
    add_text(f, &mut doc, &text.join("\n"));
    Ok(Some(doc))
}

/// The text field of a record's document: the description and the files' text, trimmed.
fn add_text(f: &Fields, doc: &mut TantivyDocument, text: &str) {
    if !text.trim().is_empty() {
        doc.add_text(f.text, text.trim());
    }
}

/// A record's document without its text: every field from its `record.json` (`meta`), its
/// intake evidence and its transfer (`AGENCY/…`, when the evidence names no agency), and
/// the names of its files.
fn metadata_doc(
    f: &Fields,
    code: &str,
    meta: &Value,
    evidence: &Value,
    transfer: Option<&str>,
) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.kind, super::schema::KIND_RECORD);
    doc.add_text(f.refcode, code);
    let mut add = |field, key: &str| {
        if let Some(s) = text_of(meta, key) {
            doc.add_text(field, s);
        }
    };
    add(f.title, "title");
    add(f.creator, "creator");
    add(f.fonds, "fonds");
    add(f.retention, "retention");
    add(f.classification, "classification");
    add(f.category, "category");
    add(f.case, "case_number");
    add(f.doc, "document_number");
    add(f.date_text, "date");
    if let Some(k) = meta.get("keywords").and_then(Value::as_array) {
        for s in k.iter().filter_map(Value::as_str) {
            doc.add_text(f.keywords, s);
        }
    }
    let agency = evidence
        .pointer("/transfer/agency_code")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| transfer.and_then(|t| t.split('/').next()).map(String::from));
    if let Some(a) = &agency {
        doc.add_text(f.agency, a);
        doc.add_facet(f.agency_facet, Facet::from_path([a.as_str()]));
    }
    if let Some(fonds) = text_of(meta, "fonds") {
        doc.add_facet(f.fonds_facet, Facet::from_path([fonds]));
    }
    if let Some(r) = text_of(meta, "retention") {
        doc.add_facet(f.retention_facet, Facet::from_path([r]));
    }
    if let Some(y) = meta.get("year").and_then(Value::as_i64) {
        doc.add_i64(f.year, y);
        doc.add_facet(f.year_facet, Facet::from_path([y.to_string()]));
    }
    if let Some(d) = text_of(meta, "date").and_then(parse_date) {
        doc.add_date(f.date, d);
    }
    if let Some(d) = text_of(meta, "closed_date").and_then(parse_date) {
        doc.add_date(f.closed, d);
    }
    // Formats as identified at intake, per file.
    let mut formats = BTreeSet::new();
    if let Some(files) = evidence.get("files").and_then(Value::as_array) {
        for file in files {
            let role = file.get("role").and_then(Value::as_str).unwrap_or("");
            if role == "main" || role == "attachment" {
                if let Some(name) = file.pointer("/format/name").and_then(Value::as_str) {
                    formats.insert(name.to_string());
                }
            }
        }
    }
    for name in &formats {
        doc.add_text(f.format, name);
        doc.add_facet(f.format_facet, Facet::from_path([name.as_str()]));
    }
    if let Some(files) = meta.get("files").and_then(Value::as_array) {
        for path in files
            .iter()
            .filter_map(|x| x.get("path").and_then(Value::as_str))
        {
            doc.add_text(f.file, path);
        }
    }
    doc
}

/// Indexes records given as `(档号, record.json, intake evidence, text)` — the text standing
/// for the extracted text of their files — in batches, one tantivy commit per batch, with the
/// document-building code of [`catch_up`]. Each record replaces any document of its 档号.
/// The commits carry no ledger position, so the next [`catch_up`] on this index rebuilds it
/// from the ledger. Returns the number of records indexed.
///
/// For bulk loads and benchmarks; the ledger follower remains the only writer of an archive's index
/// ([`catch_up`]).
pub fn index_records<I>(index: &SearchIndex, batches: I) -> Result<u64, SearchError>
where
    I: IntoIterator<Item = Vec<(String, Value, Value, String)>>,
{
    let f = index.fields();
    let mut writer: IndexWriter<TantivyDocument> = index
        .index()
        .writer(WRITER_HEAP)
        .map_err(|e| index.err(e))?;
    let mut n = 0u64;
    for batch in batches {
        for (code, meta, evidence, text) in batch {
            let mut doc = metadata_doc(f, &code, &meta, &evidence, None);
            let description = text_of(&meta, "description").unwrap_or("");
            add_text(f, &mut doc, &format!("{description}\n{text}"));
            writer.delete_term(Term::from_field_text(f.refcode, &code));
            writer.add_document(doc).map_err(|e| index.err(e))?;
            n += 1;
        }
        writer.commit().map_err(|e| index.err(e))?;
    }
    writer.wait_merging_threads().map_err(|e| index.err(e))?;
    // No ledger position: nothing of the history is in it.
    index.reload(0)?;
    Ok(n)
}

/// The text of one stored file and the problem met, if any: the first `max_bytes` are copied
/// to a temporary file, identified by content and extracted on a blocking thread.
async fn file_text(
    store: &Store,
    root: &object_store::path::Path,
    content_path: &str,
    max_bytes: u64,
) -> Result<(String, Option<String>), SearchError> {
    let io = |source| SearchError::Io {
        path: std::env::temp_dir(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new().map_err(io)?;
    let mut stream = store.read_content(root, content_path).await?;
    let mut copied = 0u64;
    let mut cut = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = max_bytes.saturating_sub(copied);
        let take = chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        tmp.write_all(&chunk[..take]).map_err(io)?;
        copied += take as u64;
        if take < chunk.len() {
            cut = true;
            break;
        }
    }
    tmp.flush().map_err(io)?;
    let (text, problem) = tokio::task::spawn_blocking(move || extract(tmp.path()))
        .await
        .map_err(|e| SearchError::Task(e.to_string()))?;
    let problem = match (problem, cut) {
        (p, false) => p,
        (Some(p), true) => Some(format!("only the first {max_bytes} bytes were read; {p}")),
        (None, true) => Some(format!("only the first {max_bytes} bytes were read")),
    };
    Ok((text, problem))
}

/// THE call site of text extraction (`crate::extract`): the normalised text of a local file
/// and the problem met, if any. Identification is by content (the format registry).
fn extract(path: &Path) -> (String, Option<String>) {
    let ident = crate::formats::Registry::builtin().identify(path).ok();
    let limits = crate::extract::ExtractLimits::default();
    let got = crate::extract::extract_text(path, ident.as_ref(), &limits);
    let problem = match (got.problem, got.truncated) {
        (Some(p), _) => Some(p),
        (None, true) => Some("text truncated at the extraction limits".to_string()),
        (None, false) => None,
    };
    (crate::extract::normalise(&got.text), problem)
}
