//! Signatures embedded in a PDF (ISO 32000 §12.8): finds every signature dictionary by its
//! `/ByteRange`, checks the range against its `/Contents`, verifies the CMS over the two signed
//! ranges with [`crate::seals::cms::verify_detached`], and judges whether what was appended after
//! a signature is only further signatures ("changed after signing" otherwise).
//!
//! Specified in `formats/seals.md` ("Embedded PDF signatures"). Reads the file in bounded
//! windows and streams the signed ranges: a PDF is never loaded whole. Owns no trust decisions
//! (anchors and revocations are given) and never writes. Never panics on input: a damaged PDF
//! gives coded problems, a PDF without signatures gives no signatures.

use crate::seals::cms;
use crate::seals::verdict::{AlgorithmPolicy, SealCode, SealError, SealProblem, SealVerdict};
use crate::seals::x509::{Revocation, TrustAnchor};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Most signature dictionaries examined in one PDF; more is a problem, not a longer wait.
pub const MAX_SIGNATURES: usize = 64;

/// Largest appended update (bytes after a signature) whose objects are inspected; a larger one
/// is reported as a change (it cannot be shown to be only signatures).
pub const MAX_INSPECTED_UPDATE: u64 = 32 * 1024 * 1024;

/// Largest `/Contents` gap accepted: the hex of the largest CMS `cms` accepts, and `<` `>`.
const MAX_CONTENTS_GAP: u64 = 2 * cms::MAX_SIGNATURE_FILE as u64 + 2;

/// How far around a keyword the enclosing object is looked for.
const OBJECT_WINDOW: u64 = 64 * 1024;

/// Read size of the streaming scan.
const SCAN_CHUNK: usize = 1024 * 1024;

/// Most `/FT` keys examined to find signature field names.
const MAX_FIELD_KEYS: usize = 4096;

/// What the signatures embedded in one PDF came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfSeals {
    /// Length of the file judged, in bytes.
    pub file_length: u64,
    /// Every signature dictionary found, in file order (earliest signature first).
    pub signatures: Vec<PdfSignature>,
    /// What was appended after the last signature's covered bytes, when anything was.
    pub changed_after_last_signature: Option<PdfUpdate>,
    /// Problems of the document as a whole (changes after signing, too many signatures);
    /// each signature's own problems are in its verdict.
    pub problems: Vec<SealProblem>,
}

impl PdfSeals {
    /// True when there is at least one signature, every signature is valid and the document
    /// has no problem.
    pub fn valid(&self) -> bool {
        !self.signatures.is_empty()
            && self.problems.is_empty()
            && self.signatures.iter().all(|s| s.verdict.valid)
    }

    /// Every problem: the document's, then each signature's (for a report).
    pub fn all_problems(&self) -> Vec<SealProblem> {
        let mut out = self.problems.clone();
        for s in &self.signatures {
            out.extend(s.verdict.problems.iter().cloned());
        }
        out
    }
}

/// One signature dictionary of a PDF and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfSignature {
    /// Byte offset of the `/ByteRange` key in the file.
    pub offset: u64,
    /// The `/ByteRange` as written: start and length of the two signed ranges.
    pub byte_range: [u64; 4],
    /// End of the bytes the signature covers (start of the second range plus its length): the
    /// document as it was when signed is the file's first `covers_up_to` bytes.
    pub covers_up_to: u64,
    /// `/SubFilter`, e.g. `adbe.pkcs7.detached`.
    pub sub_filter: Option<String>,
    /// The signature field's partial name (`/T` of the field whose `/V` is this dictionary).
    pub field_name: Option<String>,
    /// `/Name`: the signer's name as the signing software wrote it (not verified).
    pub signer_name: Option<String>,
    /// `/Reason` (not verified).
    pub reason: Option<String>,
    /// `/Location` (not verified).
    pub location: Option<String>,
    /// `/M`: the signing time as the signing software wrote it (a PDF date string, not
    /// verified; the CMS signing-time attribute is the one judged).
    pub m: Option<String>,
    /// What was appended after this signature and before the next one covered, for every
    /// signature but the last (the last one's is [`PdfSeals::changed_after_last_signature`]).
    pub update_after: Option<PdfUpdate>,
    /// The CMS verdict over the signed ranges, or the reason the signature could not be
    /// checked (`SEAL_MALFORMED`, `SEAL_UNVERIFIABLE`, ...).
    pub verdict: SealVerdict,
}

/// Bytes appended after a signature (an incremental update), and what is in them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfUpdate {
    /// Where the appended bytes start (the signature's `covers_up_to`).
    pub from: u64,
    /// How many bytes were appended.
    pub bytes: u64,
    /// True when every object in them is signature machinery (see `formats/seals.md`).
    pub only_signatures: bool,
    /// The objects that are not, each described, e.g. `object 4 0: a replaced object (stream)`.
    pub changes: Vec<String>,
}

/// Verifies every signature embedded in the PDF at `path` against `anchors` and `revocations`,
/// judged at each signature's signing time or else `at` (the intake time), under `policy`.
///
/// A PDF without signature dictionaries gives no signatures and no problems. Everything wrong
/// with a signature or with the document is data; `Err` only when the file cannot be read.
pub fn verify_pdf(
    path: &Path,
    anchors: &[TrustAnchor],
    revocations: &[Revocation],
    at: DateTime<Utc>,
    policy: &AlgorithmPolicy,
) -> Result<PdfSeals, SealError> {
    let io = |source| SealError::ReadContent { source };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut out = PdfSeals {
        file_length: len,
        signatures: Vec::new(),
        changed_after_last_signature: None,
        problems: Vec::new(),
    };
    let found = scan(&mut file, &[b"/ByteRange", b"/FT"]).map_err(io)?;
    let mut byte_ranges = found.first().cloned().unwrap_or_default();
    if byte_ranges.len() > MAX_SIGNATURES {
        out.problems.push(SealProblem::new(
            SealCode::Unverifiable,
            format!(
                "the PDF has {} signature byte ranges; only the first {MAX_SIGNATURES} are checked",
                byte_ranges.len()
            ),
        ));
        byte_ranges.truncate(MAX_SIGNATURES);
    }
    let field_keys = found.get(1).cloned().unwrap_or_default();
    let names = field_names(&mut file, len, &field_keys).map_err(io)?;

    for pos in byte_ranges {
        if let Some(sig) = signature_at(
            &mut file,
            path,
            len,
            pos,
            &names,
            anchors,
            revocations,
            at,
            policy,
        )? {
            out.signatures.push(sig);
        }
    }
    // Earliest signature first: the one covering the shortest prefix.
    out.signatures.sort_by_key(|s| (s.covers_up_to, s.offset));

    // What was appended after each signature's coverage.
    let ends: Vec<(u64, String)> = out
        .signatures
        .iter()
        .enumerate()
        .filter(|(_, s)| s.covers_up_to > 0)
        .map(|(i, s)| (s.covers_up_to, describe(i, s)))
        .collect();
    let mut updates: Vec<(u64, Option<PdfUpdate>)> = Vec::new();
    for (k, (from, _)) in ends.iter().enumerate() {
        let to = ends.get(k + 1).map_or(len, |(next, _)| *next);
        let update = if to > *from {
            Some(inspect_update(&mut file, *from, to).map_err(io)?)
        } else {
            None
        };
        updates.push((*from, update));
    }
    let last = updates.len().saturating_sub(1);
    for (k, (from, update)) in updates.into_iter().enumerate() {
        let Some(update) = update else { continue };
        let who = ends.get(k).map(|(_, d)| d.clone()).unwrap_or_default();
        if !update.only_signatures {
            let message = if k == last {
                format!(
                    "the PDF was changed after its last signature: {} bytes appended (an \
                     incremental update that is not only a signature): {}",
                    update.bytes,
                    update.changes.join("; ")
                )
            } else {
                format!(
                    "the PDF was changed after {who} and before the next signature: {} bytes \
                     appended (an incremental update that is not only a signature): {}",
                    update.bytes,
                    update.changes.join("; ")
                )
            };
            out.problems
                .push(SealProblem::new(SealCode::DigestMismatch, message));
        }
        if k == last {
            out.changed_after_last_signature = Some(update);
        } else if let Some(s) = out.signatures.iter_mut().find(|s| s.covers_up_to == from) {
            s.update_after = Some(update);
        }
    }
    Ok(out)
}

fn describe(i: usize, s: &PdfSignature) -> String {
    match &s.field_name {
        Some(name) => format!("signature {} (field {name})", i + 1),
        None => format!("signature {}", i + 1),
    }
}

fn refused(at: DateTime<Utc>, code: SealCode, message: String) -> SealVerdict {
    SealVerdict {
        valid: false,
        format: cms::FORMAT.to_string(),
        problems: vec![SealProblem::new(code, message)],
        signers: Vec::new(),
        intake_time: at,
    }
}

/// Reads the signature dictionary whose `/ByteRange` key is at `pos`, and verifies it.
/// None when the key is not followed by an array (not a signature dictionary's).
#[allow(clippy::too_many_arguments)]
fn signature_at(
    file: &mut File,
    path: &Path,
    len: u64,
    pos: u64,
    names: &HashMap<(u64, u64), String>,
    anchors: &[TrustAnchor],
    revocations: &[Revocation],
    at: DateTime<Utc>,
    policy: &AlgorithmPolicy,
) -> Result<Option<PdfSignature>, SealError> {
    let io = |source| SealError::ReadContent { source };
    let head = read_at(file, pos, 512, len).map_err(io)?;
    let after = head.get(b"/ByteRange".len()..).unwrap_or_default();
    let mut p = Parser::new(after);
    p.skip_ws();
    // An array, or an indirect reference (not allowed: the range must be direct); anything
    // else is the word in some text, not a signature dictionary.
    if !p.peek().is_some_and(|c| c == b'[' || c.is_ascii_digit()) {
        return Ok(None);
    }
    let mut sig = PdfSignature {
        offset: pos,
        byte_range: [0; 4],
        covers_up_to: 0,
        sub_filter: None,
        field_name: None,
        signer_name: None,
        reason: None,
        location: None,
        m: None,
        update_after: None,
        verdict: refused(at, SealCode::Malformed, String::new()),
    };
    let range = match p.value(0) {
        Some(Obj::Array(items)) if items.len() == 4 => {
            let nums: Vec<u64> = items.iter().filter_map(Obj::as_u64).collect();
            <[u64; 4]>::try_from(nums).ok()
        }
        _ => None,
    };
    let Some(range) = range else {
        sig.verdict = refused(
            at,
            SealCode::Malformed,
            "the signature's /ByteRange is not a direct array of four non-negative integers".into(),
        );
        return Ok(Some(sig));
    };
    sig.byte_range = range;
    let [a, b, c, d] = range;
    let end2 = c.checked_add(d);
    sig.covers_up_to = end2.unwrap_or(0);
    let shape = if a != 0 {
        Some("its first range does not start at the beginning of the file".to_string())
    } else if b == 0 || c <= b.saturating_add(1) {
        Some("its ranges leave no room for the signature between them".to_string())
    } else if end2.is_none_or(|e| e > len) {
        Some(format!(
            "its second range ends beyond the end of the file ({len} bytes)"
        ))
    } else if c - b > MAX_CONTENTS_GAP {
        Some(format!(
            "the gap between its ranges is {} bytes, more than a signature may take",
            c - b
        ))
    } else {
        None
    };
    if let Some(why) = shape {
        sig.covers_up_to = 0;
        sig.verdict = refused(
            at,
            SealCode::Malformed,
            format!("the signature's /ByteRange [{a} {b} {c} {d}] is not well formed: {why}"),
        );
        return Ok(Some(sig));
    }

    // The dictionary: from its object header before the key and the gap, to `endobj` after
    // them, with the /Contents gap itself left out.
    let start = pos.min(b);
    let lo = start.saturating_sub(OBJECT_WINDOW);
    let before = read_at(file, lo, (start - lo) as usize, len).map_err(io)?;
    let header = last_header(&before).map(|h| lo + h as u64);
    let stop = pos.max(c);
    let tail = read_at(file, stop, OBJECT_WINDOW as usize, len).map_err(io)?;
    let end = find(&tail, b"endobj").map(|e| stop + e as u64);
    let (Some(header), Some(end)) = (header, end) else {
        sig.verdict = refused(
            at,
            SealCode::Malformed,
            "the signature's /ByteRange is not inside a PDF object".into(),
        );
        return Ok(Some(sig));
    };
    let mut dict_bytes = read_at(file, header, (b - header.min(b)) as usize, len).map_err(io)?;
    dict_bytes.extend_from_slice(b"<>");
    dict_bytes.extend(read_at(file, c, (end.saturating_sub(c)) as usize, len).map_err(io)?);
    let parsed = parse_object(&dict_bytes);
    let dict = match &parsed {
        Some((num, gen, Obj::Dict(entries), _)) if b >= header && pos < end => {
            if let Some(name) = names.get(&(*num, *gen)) {
                sig.field_name = Some(name.clone());
            }
            entries.clone()
        }
        _ => Vec::new(),
    };
    let get = |k: &[u8]| dict.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    sig.sub_filter = get(b"SubFilter").and_then(Obj::as_name);
    sig.signer_name = get(b"Name").and_then(Obj::as_text);
    sig.reason = get(b"Reason").and_then(Obj::as_text);
    sig.location = get(b"Location").and_then(Obj::as_text);
    sig.m = get(b"M").and_then(Obj::as_text);

    // The gap must be the /Contents hex string of this dictionary.
    let gap = read_at(file, b, (c - b) as usize, len).map_err(io)?;
    let lead = read_at(file, b.saturating_sub(64), b.min(64) as usize, len).map_err(io)?;
    let lead = trim_end_ws(&lead);
    let is_contents = lead.ends_with(b"/Contents");
    let hex_ok = gap.len() >= 2
        && gap.first() == Some(&b'<')
        && gap.last() == Some(&b'>')
        && gap
            .get(1..gap.len() - 1)
            .is_some_and(|h| h.len() % 2 == 0 && h.iter().all(u8::is_ascii_hexdigit));
    if dict.is_empty() {
        sig.verdict = refused(
            at,
            SealCode::Malformed,
            "the signature dictionary around the /ByteRange cannot be read".into(),
        );
        return Ok(Some(sig));
    }
    if !is_contents || !hex_ok {
        sig.verdict = refused(
            at,
            SealCode::Malformed,
            "the bytes the /ByteRange leaves out are not the /Contents hex string of the \
             signature dictionary"
                .into(),
        );
        return Ok(Some(sig));
    }
    let timestamp = sig.sub_filter.as_deref() == Some("ETSI.RFC3161");
    match sig.sub_filter.as_deref() {
        Some("adbe.pkcs7.detached") | Some("ETSI.CAdES.detached") | Some("ETSI.RFC3161") => {}
        other => {
            let what = other.unwrap_or("(none)");
            sig.verdict = refused(
                at,
                SealCode::Unverifiable,
                format!(
                    "the signature's /SubFilter is {what}: only adbe.pkcs7.detached and \
                     ETSI.CAdES.detached signatures and ETSI.RFC3161 document timestamps are \
                     verified here"
                ),
            );
            return Ok(Some(sig));
        }
    }
    let der = match decode_contents(gap.get(1..gap.len() - 1).unwrap_or_default()) {
        Ok(der) => der,
        Err(why) => {
            sig.verdict = refused(at, SealCode::Malformed, why);
            return Ok(Some(sig));
        }
    };
    let reader = ranges_reader(path, a, b, c, d).map_err(io)?;
    sig.verdict = if timestamp {
        cms::verify_timestamp_token(&der, reader, anchors, revocations, at, policy)?
    } else {
        cms::verify_detached(&der, reader, anchors, revocations, at, policy)?
    };
    Ok(Some(sig))
}

/// The hex of `/Contents` (without `<` `>`) to the CMS DER: the signature is its first DER
/// element; after it only zero padding may follow.
fn decode_contents(hex_digits: &[u8]) -> Result<Vec<u8>, String> {
    let bytes = hex::decode(hex_digits)
        .map_err(|e| format!("the signature's /Contents is not hexadecimal ({e})"))?;
    let der_len = der_length(&bytes).ok_or_else(|| {
        "the signature's /Contents does not start with a DER-encoded CMS structure".to_string()
    })?;
    let (der, padding) = bytes.split_at(der_len.min(bytes.len()));
    if der_len > bytes.len() {
        return Err("the signature's /Contents is shorter than the CMS structure it starts".into());
    }
    if padding.iter().any(|&x| x != 0) {
        return Err(
            "the signature's /Contents has bytes after the CMS structure that are not zero \
             padding"
                .into(),
        );
    }
    Ok(der.to_vec())
}

/// Length of the DER element at the start of `b` (tag and length included); None when the
/// length is indefinite or cannot be read.
fn der_length(b: &[u8]) -> Option<usize> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some(2 + first as usize);
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut l: usize = 0;
    for i in 0..n {
        l = (l << 8) | *b.get(2 + i)? as usize;
    }
    (2 + n).checked_add(l)
}

/// A reader over `[a, a+b)` then `[c, c+d)` of the file: the signed bytes, streamed.
fn ranges_reader(path: &Path, a: u64, b: u64, c: u64, d: u64) -> std::io::Result<impl Read> {
    let mut first = File::open(path)?;
    first.seek(SeekFrom::Start(a))?;
    let mut second = File::open(path)?;
    second.seek(SeekFrom::Start(c))?;
    Ok(first.take(b).chain(second.take(d)))
}

/// Reads up to `n` bytes at `pos` (fewer at the end of the file).
fn read_at(file: &mut File, pos: u64, n: usize, len: u64) -> std::io::Result<Vec<u8>> {
    if pos >= len {
        return Ok(Vec::new());
    }
    let n = n.min((len - pos) as usize);
    file.seek(SeekFrom::Start(pos))?;
    let mut buf = Vec::with_capacity(n);
    file.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Every offset of each needle in the file, streamed in chunks (at most
/// `MAX_SIGNATURES + 1` for the first needle, `MAX_FIELD_KEYS` for the others).
fn scan(file: &mut File, needles: &[&[u8]]) -> std::io::Result<Vec<Vec<u64>>> {
    let mut out: Vec<Vec<u64>> = vec![Vec::new(); needles.len()];
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(1) - 1;
    file.seek(SeekFrom::Start(0))?;
    let mut buf: Vec<u8> = Vec::with_capacity(SCAN_CHUNK + overlap);
    let mut base: u64 = 0; // file offset of buf[0]
    let mut chunk = vec![0u8; SCAN_CHUNK];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        for (k, needle) in needles.iter().enumerate() {
            let cap = if k == 0 {
                MAX_SIGNATURES + 1
            } else {
                MAX_FIELD_KEYS
            };
            let Some(list) = out.get_mut(k) else { continue };
            for i in find_all(&buf, needle) {
                let at = base + i as u64;
                if list.len() < cap && list.last().is_none_or(|&l| l < at) {
                    list.push(at);
                }
            }
        }
        let keep = buf.len().min(overlap);
        let drop = buf.len() - keep;
        buf.drain(..drop);
        base += drop as u64;
    }
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return Vec::new();
    }
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn trim_end_ws(b: &[u8]) -> &[u8] {
    let n = b.iter().rposition(|c| !is_ws(*c)).map_or(0, |i| i + 1);
    b.get(..n).unwrap_or_default()
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// If `obj` at `i` in `b` is an object header keyword `N G obj`, the offset of `N`.
fn header_at(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i..i + 3) != Some(b"obj") {
        return None;
    }
    if let Some(&next) = b.get(i + 3) {
        if !(is_ws(next) || is_delim(next)) {
            return None;
        }
    }
    let mut j = i;
    let ws_then_digits = |j: &mut usize| -> bool {
        let mut saw_ws = false;
        while *j > 0 && b.get(*j - 1).is_some_and(|c| is_ws(*c)) {
            *j -= 1;
            saw_ws = true;
        }
        let end = *j;
        while *j > 0 && b.get(*j - 1).is_some_and(u8::is_ascii_digit) {
            *j -= 1;
        }
        saw_ws && *j < end
    };
    if !ws_then_digits(&mut j) || !ws_then_digits(&mut j) {
        return None;
    }
    if j > 0 && b.get(j - 1).is_some_and(|c| !(is_ws(*c) || is_delim(*c))) {
        return None;
    }
    Some(j)
}

/// Offset of the last object header in `b`.
fn last_header(b: &[u8]) -> Option<usize> {
    find_all(b, b"obj")
        .into_iter()
        .rev()
        .find_map(|i| header_at(b, i))
}

/// Signature field names: `/T` of every field dictionary with `/FT /Sig`, by the reference of
/// its `/V` (the signature dictionary). Later definitions win (incremental updates).
fn field_names(
    file: &mut File,
    len: u64,
    keys: &[u64],
) -> std::io::Result<HashMap<(u64, u64), String>> {
    let mut names = HashMap::new();
    let mut done: Vec<u64> = Vec::new();
    for &pos in keys {
        let lo = pos.saturating_sub(OBJECT_WINDOW / 4);
        let window = read_at(file, lo, (OBJECT_WINDOW / 2) as usize, len)?;
        let rel = (pos - lo) as usize;
        let Some(h) = window.get(..rel).and_then(last_header) else {
            continue;
        };
        if done.contains(&(lo + h as u64)) {
            continue;
        }
        done.push(lo + h as u64);
        let Some((_, _, Obj::Dict(d), _)) = window.get(h..).and_then(parse_object) else {
            continue;
        };
        let get = |k: &[u8]| d.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        if get(b"FT").and_then(Obj::as_name).as_deref() != Some("Sig") {
            continue;
        }
        if let (Some(Obj::Ref(n, g)), Some(t)) = (get(b"V"), get(b"T").and_then(Obj::as_text)) {
            names.insert((*n, *g), t);
        }
    }
    Ok(names)
}

/// Judges the bytes `[from, to)` appended after a signature (see `formats/seals.md`).
fn inspect_update(file: &mut File, from: u64, to: u64) -> std::io::Result<PdfUpdate> {
    let bytes = to - from;
    let mut update = PdfUpdate {
        from,
        bytes,
        only_signatures: true,
        changes: Vec::new(),
    };
    if bytes > MAX_INSPECTED_UPDATE {
        update.only_signatures = false;
        update.changes.push(format!(
            "the update is larger than the {MAX_INSPECTED_UPDATE} bytes inspected"
        ));
        return Ok(update);
    }
    let len = to;
    let region = read_at(file, from, bytes as usize, len)?;
    if region.iter().all(|c| is_ws(*c)) {
        return Ok(update);
    }
    // The /Size of the trailer the signed document ended with: objects numbered below it
    // existed when it was signed.
    let lo = from.saturating_sub(OBJECT_WINDOW);
    let before = read_at(file, lo, (from - lo) as usize, len)?;
    let prev_size = find_all(&before, b"/Size")
        .last()
        .and_then(|&i| before.get(i + 5..))
        .and_then(|rest| {
            let mut p = Parser::new(rest);
            p.value(0).as_ref().and_then(Obj::as_u64)
        })
        .unwrap_or(0);

    let mut objects: Vec<(u64, u64, Obj, bool)> = Vec::new();
    let mut i = 0;
    while i < region.len() {
        let Some(next) = region.get(i..).and_then(|r| {
            find_all(r, b"obj")
                .into_iter()
                .find_map(|k| header_at(r, k))
        }) else {
            break;
        };
        let start = i + next;
        match region.get(start..).and_then(parse_object) {
            Some((num, gen, obj, end)) => {
                let stream = region
                    .get(start..start + end)
                    .is_some_and(|s| find(s, b"endstream").is_some());
                objects.push((num, gen, obj, stream));
                i = start + end.max(1);
            }
            None => {
                update.changes.push(format!(
                    "an object at byte {} that cannot be read",
                    from + start as u64
                ));
                i = start + 3;
            }
        }
    }

    let mut prior: Vec<(u64, u64)> = Vec::new();
    for (num, gen, obj, stream) in &objects {
        match classify(obj, *stream, *num < prev_size) {
            Kind::Allowed => {}
            Kind::Change(what) => update.changes.push(format!("object {num} {gen}: {what}")),
            Kind::SameAsBefore(_) => prior.push((*num, *gen)),
        }
    }
    if !prior.is_empty() {
        let defs = definitions(file, from, &prior)?;
        for (num, gen, obj, stream) in &objects {
            let Kind::SameAsBefore(except) = classify(obj, *stream, *num < prev_size) else {
                continue;
            };
            let old = defs.get(&(*num, *gen)).and_then(|&at| {
                let w = read_at(file, at, OBJECT_WINDOW as usize, from).ok()?;
                parse_object(&w).map(|(_, _, o, _)| o)
            });
            match old {
                Some(old) if same_except(obj, &old, except) => {}
                Some(_) => update.changes.push(format!(
                    "object {num} {gen}: {} changed in more than {}",
                    kind_name(obj),
                    except
                        .iter()
                        .map(|k| format!("/{}", String::from_utf8_lossy(k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                None => update.changes.push(format!(
                    "object {num} {gen}: {} replaced, and its earlier version cannot be found \
                     to compare",
                    kind_name(obj)
                )),
            }
        }
    }
    update.only_signatures = update.changes.is_empty();
    Ok(update)
}

enum Kind {
    Allowed,
    Change(String),
    /// Allowed when equal to its earlier version apart from these keys.
    SameAsBefore(&'static [&'static [u8]]),
}

const PAGE_EXCEPT: &[&[u8]] = &[b"Annots"];
const CATALOG_EXCEPT: &[&[u8]] = &[
    b"AcroForm",
    b"DSS",
    b"Metadata",
    b"Extensions",
    b"Version",
    b"Perms",
];

fn kind_name(obj: &Obj) -> String {
    match obj.get(b"Type").and_then(Obj::as_name) {
        Some(t) => format!("a /{t} dictionary"),
        None => "an object".into(),
    }
}

/// The heuristic of "only signatures", per object of an appended update.
fn classify(obj: &Obj, stream: bool, existed: bool) -> Kind {
    let ty = obj.get(b"Type").and_then(Obj::as_name);
    let ft = obj.get(b"FT").and_then(Obj::as_name);
    let has = |k: &[u8]| obj.get(k).is_some();
    match ty.as_deref() {
        Some("Sig") | Some("DocTimeStamp") | Some("DSS") | Some("VRI") | Some("XRef")
        | Some("Metadata") => return Kind::Allowed,
        Some("Catalog") => return Kind::SameAsBefore(CATALOG_EXCEPT),
        Some("Page") if existed => return Kind::SameAsBefore(PAGE_EXCEPT),
        Some("Page") => return Kind::Change("a new page".into()),
        Some("ObjStm") => {
            return Kind::Change("an object stream (compressed objects cannot be inspected)".into())
        }
        _ => {}
    }
    if has(b"ByteRange") || ft.as_deref() == Some("Sig") {
        return Kind::Allowed; // a signature dictionary, or a signature field / widget
    }
    if !stream && ty.is_none() && is_info(obj) {
        return Kind::Allowed; // the document information dictionary (ModDate, Producer, ...)
    }
    if !stream && has(b"Fields") && ty.is_none() {
        return Kind::Allowed; // the AcroForm
    }
    if !stream && (has(b"VRI") || has(b"Certs") || has(b"OCSPs") || has(b"CRLs")) {
        return Kind::Allowed; // a DSS without /Type
    }
    if ty.as_deref() == Some("Annot") || has(b"Subtype") && has(b"Rect") {
        return Kind::Change("an annotation that is not a signature field".into());
    }
    if existed {
        return Kind::Change(if stream {
            "a replaced stream (e.g. page content)".into()
        } else {
            format!("{} replaced", kind_name(obj))
        });
    }
    // A new object that is not an annotation or a page: inert unless an object above refers to
    // it (appearance streams, fonts, certificate and CRL streams of a DSS).
    Kind::Allowed
}

/// A document information dictionary: only the keys of ISO 32000 §14.3.3 (not shown as page
/// content; signing software updates `/ModDate` and `/Producer`).
fn is_info(obj: &Obj) -> bool {
    const INFO: &[&[u8]] = &[
        b"Title",
        b"Author",
        b"Subject",
        b"Keywords",
        b"Creator",
        b"Producer",
        b"CreationDate",
        b"ModDate",
        b"Trapped",
    ];
    match obj {
        Obj::Dict(d) => !d.is_empty() && d.iter().all(|(k, _)| INFO.contains(&k.as_slice())),
        _ => false,
    }
}

fn same_except(new: &Obj, old: &Obj, except: &[&[u8]]) -> bool {
    let (Obj::Dict(a), Obj::Dict(b)) = (new, old) else {
        return false;
    };
    let keep = |d: &Vec<(Vec<u8>, Obj)>| {
        let mut v: Vec<(Vec<u8>, Obj)> = d
            .iter()
            .filter(|(k, _)| !except.contains(&k.as_slice()))
            .cloned()
            .collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    keep(a) == keep(b)
}

/// Offsets of the last definition before `before` of each wanted object, by a streaming scan.
fn definitions(
    file: &mut File,
    before: u64,
    wanted: &[(u64, u64)],
) -> std::io::Result<HashMap<(u64, u64), u64>> {
    let mut out = HashMap::new();
    file.seek(SeekFrom::Start(0))?;
    let mut base: u64 = 0;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; SCAN_CHUNK];
    let overlap = 64;
    while base < before {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        for i in find_all(&buf, b"obj") {
            let Some(h) = header_at(&buf, i) else {
                continue;
            };
            let at = base + h as u64;
            // A header cut by the previous chunk was seen whole there (the overlap).
            if at >= before || (base > 0 && h == 0) {
                continue;
            }
            let mut p = Parser::new(buf.get(h..).unwrap_or_default());
            let (Some(num), Some(gen)) = (p.int(), p.int()) else {
                continue;
            };
            if wanted.contains(&(num, gen)) {
                out.insert((num, gen), at);
            }
        }
        let keep = buf.len().min(overlap);
        let drop = buf.len() - keep;
        buf.drain(..drop);
        base += drop as u64;
    }
    Ok(out)
}

/// A PDF object value (ISO 32000 §7.3), as much as the checks here need.
#[derive(Debug, Clone, PartialEq)]
enum Obj {
    Null,
    Bool(bool),
    Num(Vec<u8>),
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Vec<(Vec<u8>, Obj)>),
    Ref(u64, u64),
}

impl Obj {
    fn as_u64(&self) -> Option<u64> {
        match self {
            Obj::Num(n) => std::str::from_utf8(n).ok()?.parse().ok(),
            _ => None,
        }
    }
    fn as_name(&self) -> Option<String> {
        match self {
            Obj::Name(n) => Some(String::from_utf8_lossy(n).into_owned()),
            _ => None,
        }
    }
    /// A text string: UTF-16BE with a BOM, UTF-8 with a BOM, else PDFDocEncoding read as Latin-1.
    fn as_text(&self) -> Option<String> {
        let Obj::Str(s) = self else { return None };
        if let Some(rest) = s.strip_prefix(&[0xfe, 0xff]) {
            let units: Vec<u16> = rest
                .chunks(2)
                .map(|c| {
                    u16::from_be_bytes([
                        c.first().copied().unwrap_or(0),
                        c.get(1).copied().unwrap_or(0),
                    ])
                })
                .collect();
            return Some(String::from_utf16_lossy(&units));
        }
        if let Some(rest) = s.strip_prefix(&[0xef, 0xbb, 0xbf]) {
            return Some(String::from_utf8_lossy(rest).into_owned());
        }
        Some(s.iter().map(|&c| c as char).collect())
    }
    fn get(&self, key: &[u8]) -> Option<&Obj> {
        match self {
            Obj::Dict(d) => d.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses `N G obj <value>` at the start of `b`; returns the value and the offset just after
/// `endobj` (or after the value when `endobj` is missing within reach).
fn parse_object(b: &[u8]) -> Option<(u64, u64, Obj, usize)> {
    let mut p = Parser::new(b);
    let num = p.int()?;
    let gen = p.int()?;
    p.skip_ws();
    if !p.keyword(b"obj") {
        return None;
    }
    let value = p.value(0)?;
    p.skip_ws();
    let mut end = p.pos;
    if p.keyword(b"stream") {
        let rest = b.get(p.pos..)?;
        let es = find(rest, b"endstream")?;
        end = p.pos + es + b"endstream".len();
    }
    let rest = b.get(end..)?;
    let mut q = Parser::new(rest);
    q.skip_ws();
    if q.keyword(b"endobj") {
        end += q.pos;
    }
    Some((num, gen, value, end))
}

const MAX_DEPTH: usize = 32;

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(b: &'a [u8]) -> Self {
        Parser { b, pos: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if is_ws(c) {
                self.pos += 1;
            } else if c == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }
    fn regular_run(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_ws(c) || is_delim(c) {
                break;
            }
            self.pos += 1;
        }
        self.b.get(start..self.pos).unwrap_or_default()
    }
    fn keyword(&mut self, k: &[u8]) -> bool {
        let save = self.pos;
        if self.regular_run() == k {
            true
        } else {
            self.pos = save;
            false
        }
    }
    fn int(&mut self) -> Option<u64> {
        self.skip_ws();
        let save = self.pos;
        let run = self.regular_run();
        match std::str::from_utf8(run).ok().and_then(|s| s.parse().ok()) {
            Some(n) if run.iter().all(u8::is_ascii_digit) => Some(n),
            _ => {
                self.pos = save;
                None
            }
        }
    }
    fn value(&mut self, depth: usize) -> Option<Obj> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        let c = self.peek()?;
        match c {
            b'/' => {
                self.pos += 1;
                let raw = self.regular_run();
                Some(Obj::Name(decode_name(raw)))
            }
            b'(' => self.literal().map(Obj::Str),
            b'<' if self.b.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut entries = Vec::new();
                loop {
                    self.skip_ws();
                    if self.b.get(self.pos..self.pos + 2) == Some(b">>") {
                        self.pos += 2;
                        return Some(Obj::Dict(entries));
                    }
                    let Obj::Name(k) = self.value(depth + 1)? else {
                        return None;
                    };
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                }
            }
            b'<' => {
                self.pos += 1;
                let start = self.pos;
                let end = start + find(self.b.get(start..)?, b">")?;
                self.pos = end + 1;
                let digits: Vec<u8> = self
                    .b
                    .get(start..end)?
                    .iter()
                    .copied()
                    .filter(|c| !is_ws(*c))
                    .collect();
                let mut digits = digits;
                if digits.len() % 2 == 1 {
                    digits.push(b'0');
                }
                hex::decode(digits).ok().map(Obj::Str)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek()? == b']' {
                        self.pos += 1;
                        return Some(Obj::Array(items));
                    }
                    items.push(self.value(depth + 1)?);
                }
            }
            _ if is_delim(c) => None,
            _ => {
                let run = self.regular_run();
                match run {
                    b"true" => Some(Obj::Bool(true)),
                    b"false" => Some(Obj::Bool(false)),
                    b"null" => Some(Obj::Null),
                    _ if run.iter().all(|c| c.is_ascii_digit() || b"+-.".contains(c))
                        && !run.is_empty() =>
                    {
                        // `N G R` is a reference.
                        if run.iter().all(u8::is_ascii_digit) {
                            let save = self.pos;
                            if let Some(g) = self.int() {
                                self.skip_ws();
                                if self.keyword(b"R") {
                                    let n = std::str::from_utf8(run).ok()?.parse().ok()?;
                                    return Some(Obj::Ref(n, g));
                                }
                            }
                            self.pos = save;
                        }
                        Some(Obj::Num(run.to_vec()))
                    }
                    _ => None,
                }
            }
        }
    }
    fn literal(&mut self) -> Option<Vec<u8>> {
        self.pos += 1; // (
        let mut out = Vec::new();
        let mut depth = 1usize;
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(out);
                    }
                    out.push(c);
                }
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = (e - b'0') as u32;
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + (d - b'0') as u32;
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
    }
}

fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        if c == b'#' {
            if let Some(v) = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_signature_dictionary() {
        let b = b"9 0 obj\n<< /Type /Sig /Contents <> /ByteRange [0 10 20 5] /M (D\\07220261201) \
                  /Name <FEFF4E2D6587> /V 3 0 R /A [1 2.5 -3 true null] /N#20x 1 >>\nendobj";
        let (n, g, obj, end) = parse_object(b).expect("parses");
        assert_eq!((n, g, end), (9, 0, b.len()));
        assert_eq!(
            obj.get(b"Type").and_then(Obj::as_name).as_deref(),
            Some("Sig")
        );
        assert_eq!(
            obj.get(b"M").and_then(Obj::as_text).as_deref(),
            Some("D:20261201")
        );
        assert_eq!(
            obj.get(b"Name").and_then(Obj::as_text).as_deref(),
            Some("中文")
        );
        assert_eq!(obj.get(b"V"), Some(&Obj::Ref(3, 0)));
        assert!(obj.get(b"N x").is_some());
    }

    #[test]
    fn finds_object_headers_but_not_endobj() {
        let b = b"endobj\n12 0 obj << >> endobj 7 3 obj";
        assert_eq!(last_header(b), Some(29));
        assert_eq!(header_at(b, 3), None);
        assert_eq!(header_at(b, 12), Some(7));
        assert_eq!(header_at(b, 25), None);
    }

    #[test]
    fn contents_may_carry_zero_padding_only() {
        assert_eq!(
            decode_contents(b"3003020100000000"),
            Ok(vec![0x30, 3, 2, 1, 0])
        );
        assert!(decode_contents(b"30030201000001").is_err());
        assert!(decode_contents(b"3080").is_err());
        assert!(decode_contents(b"30ff").is_err());
        assert!(decode_contents(b"zz").is_err());
    }

    #[test]
    fn classifies_appended_objects() {
        let dict = |s: &[u8]| parse_object(s).map(|(_, _, o, _)| o).expect("parses");
        let sig = dict(b"1 0 obj << /FT /Sig /T (S) /Subtype /Widget /Rect [0 0 0 0] >>");
        assert!(matches!(classify(&sig, false, false), Kind::Allowed));
        let note = dict(b"1 0 obj << /Type /Annot /Subtype /Text /Rect [0 0 9 9] >>");
        assert!(matches!(classify(&note, false, false), Kind::Change(_)));
        let content = dict(b"4 0 obj << /Length 3 >> stream\nabc\nendstream endobj");
        assert!(matches!(classify(&content, true, true), Kind::Change(_)));
        assert!(matches!(classify(&content, true, false), Kind::Allowed));
        let page = dict(b"3 0 obj << /Type /Page /Contents 4 0 R /Annots [8 0 R] >>");
        let old = dict(b"3 0 obj << /Type /Page /Contents 4 0 R >>");
        let moved = dict(b"3 0 obj << /Type /Page /Contents 9 0 R /Annots [8 0 R] >>");
        assert!(same_except(&page, &old, PAGE_EXCEPT));
        assert!(!same_except(&moved, &old, PAGE_EXCEPT));
    }

    #[test]
    fn the_streaming_scans_see_across_chunk_boundaries() {
        let mut bytes = vec![b' '; 5 * SCAN_CHUNK];
        let put = |b: &mut Vec<u8>, at: usize, s: &[u8]| {
            b.splice(at..at + s.len(), s.iter().copied());
        };
        let straddling = [SCAN_CHUNK - 5, 2 * SCAN_CHUNK - 1];
        for &at in &straddling {
            put(&mut bytes, at, b"/ByteRange");
        }
        // Object headers cut by a chunk boundary, and a later redefinition.
        put(&mut bytes, 3 * SCAN_CHUNK - 3, b"\n12 0 obj");
        put(&mut bytes, 4 * SCAN_CHUNK - 8, b"\n77 0 obj");
        put(&mut bytes, 4 * SCAN_CHUNK + 100, b"\n12 0 obj");
        let mut tmp = tempfile::tempfile().expect("tempfile");
        std::io::Write::write_all(&mut tmp, &bytes).expect("write");
        let found = scan(&mut tmp, &[b"/ByteRange", b"obj"]).expect("scan");
        assert_eq!(found[0], straddling.map(|a| a as u64).to_vec());
        let defs = definitions(&mut tmp, 5 * SCAN_CHUNK as u64, &[(12, 0), (77, 0), (7, 0)])
            .expect("defs");
        assert_eq!(defs.get(&(12, 0)), Some(&(4 * SCAN_CHUNK as u64 + 101)));
        assert_eq!(defs.get(&(77, 0)), Some(&(4 * SCAN_CHUNK as u64 - 7)));
        assert_eq!(defs.get(&(7, 0)), None);
        let early = definitions(&mut tmp, 4 * SCAN_CHUNK as u64, &[(12, 0)]).expect("defs");
        assert_eq!(early.get(&(12, 0)), Some(&(3 * SCAN_CHUNK as u64 - 2)));
    }

    #[test]
    fn no_panic_on_odd_bytes() {
        for b in [
            &b""[..],
            b"obj",
            b"1 0 obj",
            b"1 0 obj <<",
            b"1 0 obj << /A (unterminated",
            b"1 0 obj [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            b"1 0 obj <ff",
            b"1 0 obj << /Length 5 >> stream\nab",
        ] {
            let _ = parse_object(b);
            let _ = last_header(b);
        }
        assert_eq!(der_length(&[0x30]), None);
    }
}
