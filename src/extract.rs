//! Text extraction for the search index: the words of a stored file, by its identified format.
//!
//! Owns turning one file's bytes into plain text (plain text in UTF-8, UTF-16 or GB18030/GBK;
//! XML; HTML; the PDF text layer; OFD page XML) within [`ExtractLimits`], and [`normalise`].
//! It must not write anything, touch the store or the index, or fail its caller: every problem
//! (unreadable, corrupt, encrypted, over a limit) comes back as [`Extracted::problem`] beside
//! whatever text was found, to be logged. Third-party parsers run under `catch_unwind`.
//! The rules are specified in `formats/text-extraction.md`.

use std::fs::File;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use encoding_rs::{CoderResult, Decoder, Encoding, GB18030, UTF_16BE, UTF_16LE, UTF_8};
use quick_xml::events::Event;

use crate::formats::Identification;

/// Version of the extraction rules in `formats/text-extraction.md`. Raise it whenever the text
/// produced for some file changes (a new format, another separator rule), so that an index
/// built with older rules knows it should be rebuilt.
pub const EXTRACT_VERSION: u32 = 1;

/// Bytes of a file read for sniffing and encoding detection.
const HEAD_BYTES: usize = 64 * 1024;
/// Chunk size of the streaming plain-text decoder.
const CHUNK_BYTES: usize = 256 * 1024;
/// Stack of the thread that runs lopdf: deep object nesting recurses.
const PDF_STACK_BYTES: usize = 64 * 1024 * 1024;
/// Largest `OFD.xml` and `Document.xml` read from an OFD package.
const OFD_META_BYTES: u64 = 4 * 1024 * 1024;

/// Bounds on the work done for one file; every extraction stops at the first one reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Most bytes read from the file (for OFD: most bytes decompressed from its pages).
    /// A PDF larger than this is not parsed at all (its cross-reference table is at the end).
    pub max_bytes_in: u64,
    /// Most characters of text returned; the text is cut there and `truncated` set.
    pub max_chars_out: usize,
    /// Wall-clock time after which extraction stops between pages, chunks or XML events.
    pub max_time: Duration,
}

impl Default for ExtractLimits {
    /// 64 MiB in, 1,000,000 characters out, 10 seconds.
    fn default() -> Self {
        ExtractLimits {
            max_bytes_in: 64 * 1024 * 1024,
            max_chars_out: 1_000_000,
            max_time: Duration::from_secs(10),
        }
    }
}

/// The text of one file, how it was obtained, and what went wrong on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The text found, possibly partial; empty for a scan, an image or a broken file.
    /// Not normalised: pass it through [`normalise`] before indexing.
    pub text: String,
    /// How the text was obtained: `utf-8`, `utf-8-lossy`, `utf-16le`, `utf-16be`, `gb18030`
    /// (plain text), `xml`, `html`, `pdf-text`, `ofd-xml`, or `none` (no text layer to read).
    pub method: &'static str,
    /// The source character encoding for plain text, XML and HTML (encoding_rs name, e.g.
    /// `UTF-8`, `gb18030`, `GBK`, `UTF-16LE`); `None` for PDF, OFD and `none`.
    pub encoding: Option<&'static str>,
    /// The text stops early: a byte, character or time limit was reached.
    pub truncated: bool,
    /// What went wrong, for the caller's log; never fatal. Starts with `encrypted` for an
    /// encrypted PDF.
    pub problem: Option<String>,
}

impl Extracted {
    fn none(problem: Option<String>) -> Extracted {
        Extracted {
            text: String::new(),
            method: "none",
            encoding: None,
            truncated: false,
            problem,
        }
    }
}

/// What kind of extraction a file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Xml,
    Html,
    Pdf,
    Ofd,
    Nothing,
}

/// Extracts the text of the file at `path`.
///
/// The kind of extraction follows `format` (the file's [`Identification`]) when given and
/// identified; an unidentified file, a plain-text or an XML file is sniffed from its first
/// bytes (HTML is not in the format registry: it is found as text or XML). Never fails and never
/// panics: problems come back in [`Extracted::problem`].
pub fn extract_text(
    path: &Path,
    format: Option<&Identification>,
    limits: &ExtractLimits,
) -> Extracted {
    let started = Instant::now();
    let deadline = started + limits.max_time;
    let mut kind = format.map(kind_of).unwrap_or(None);
    if matches!(kind, None | Some(Kind::Text) | Some(Kind::Xml)) {
        let head = match read_head(path, HEAD_BYTES) {
            Ok(h) => h,
            Err(e) => return Extracted::none(Some(format!("cannot read: {e}"))),
        };
        kind = Some(sniff(&head, kind));
    }
    match kind.unwrap_or(Kind::Nothing) {
        Kind::Nothing => Extracted::none(None),
        Kind::Text => extract_plain(path, limits, deadline),
        Kind::Xml => extract_markup(path, limits, deadline, Markup::Xml),
        Kind::Html => extract_markup(path, limits, deadline, Markup::Html),
        Kind::Pdf => extract_pdf(path, limits, deadline),
        Kind::Ofd => extract_ofd(path, limits, deadline),
    }
}

/// Prepares extracted text for indexing: every run of whitespace (including the ideographic
/// space U+3000 and line breaks) becomes one space, control characters, the byte-order mark,
/// zero-width spaces and the replacement character U+FFFD are dropped, ends are trimmed.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = true;
        } else if c.is_control() || matches!(c, '\u{feff}' | '\u{200b}' | '\u{fffd}') {
            continue;
        } else {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        }
    }
    out
}

/// The extraction kind named by an identification; `None` when the content must decide.
fn kind_of(id: &Identification) -> Option<Kind> {
    let fid = id.format_id.as_deref()?;
    let mime = id.mime.as_str();
    Some(match fid {
        "x-fmt/111" => Kind::Text,
        "fmt/101" => Kind::Xml,
        "strongroom/ofd" => Kind::Ofd,
        _ if mime == "application/pdf" => Kind::Pdf,
        _ if mime == "application/ofd" => Kind::Ofd,
        _ if mime == "text/html" || mime == "application/xhtml+xml" => Kind::Html,
        _ if mime.ends_with("/xml") || mime.ends_with("+xml") => Kind::Xml,
        _ if mime.starts_with("text/") => Kind::Text,
        _ => Kind::Nothing,
    })
}

/// Decides the kind from the first bytes; `hint` is what the identification said (text or XML).
fn sniff(head: &[u8], hint: Option<Kind>) -> Kind {
    if hint.is_none() {
        if head[..head.len().min(1024)]
            .windows(5)
            .any(|w| w == b"%PDF-")
        {
            return Kind::Pdf;
        }
        const BINARY: &[&[u8]] = &[
            b"\x89PNG",
            b"\xff\xd8\xff",
            b"GIF8",
            b"II*\0",
            b"MM\0*",
            b"RIFF",
            b"ID3",
            b"\0\0\0\x0cjP",
        ];
        if head.starts_with(b"PK\x03\x04") {
            return Kind::Ofd; // only a ZIP holding OFD.xml yields text; others come back empty
        }
        if BINARY.iter().any(|m| head.starts_with(m)) || (head.len() >= 8 && &head[4..8] == b"ftyp")
        {
            return Kind::Nothing;
        }
    }
    let (enc, _) = detect_text_encoding(head, false);
    let text = if enc == UTF_16LE || enc == UTF_16BE {
        enc.decode_with_bom_removal(head).0
    } else {
        if hint.is_none() && head.contains(&0) {
            return Kind::Nothing; // binary of some unknown kind
        }
        enc.decode_without_bom_handling(head).0
    };
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let lower: String = start
        .chars()
        .take(1024)
        .flat_map(char::to_lowercase)
        .collect();
    if lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || (lower.starts_with('<') && (lower.contains("<html") || lower.contains("<body")))
    {
        Kind::Html
    } else if lower.starts_with("<?xml") || hint == Some(Kind::Xml) {
        Kind::Xml
    } else {
        Kind::Text
    }
}

fn read_head(path: &Path, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n.min(HEAD_BYTES));
    File::open(path)?.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads at most `max` bytes; the flag says the file was longer.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let f = File::open(path)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = Vec::with_capacity(len.min(max) as usize);
    f.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    let over = buf.len() as u64 > max;
    buf.truncate(max as usize);
    Ok((buf, over))
}

/// The encoding of text from its first bytes: a byte-order mark, else valid UTF-8, else
/// GB18030 when it decodes without error, else UTF-8 with replacement (flag `true`).
/// `complete` says `head` is the whole file (no character cut at its end).
fn detect_text_encoding(head: &[u8], complete: bool) -> (&'static Encoding, bool) {
    if let Some((enc, _)) = Encoding::for_bom(head) {
        return (enc, false);
    }
    match std::str::from_utf8(head) {
        Ok(_) => return (UTF_8, false),
        Err(e) if e.error_len().is_none() && !complete => return (UTF_8, false),
        Err(_) => {}
    }
    // A GB18030 character is at most 4 bytes: allow one cut at the end of a partial head.
    let cuts = if complete { 0 } else { 3 };
    for cut in 0..=cuts.min(head.len()) {
        let part = &head[..head.len() - cut];
        if GB18030
            .decode_without_bom_handling_and_without_replacement(part)
            .is_some()
        {
            return (GB18030, false);
        }
    }
    (UTF_8, true)
}

/// The method name for plain text decoded with `enc`.
fn text_method(enc: &'static Encoding, lossy: bool) -> &'static str {
    if lossy {
        "utf-8-lossy"
    } else if enc == UTF_16LE {
        "utf-16le"
    } else if enc == UTF_16BE {
        "utf-16be"
    } else if enc == GB18030 || enc == encoding_rs::GBK {
        "gb18030"
    } else {
        "utf-8"
    }
}

/// Text collected under the character limit.
struct Sink {
    text: String,
    chars: usize,
    max: usize,
    full: bool,
}

impl Sink {
    fn new(max: usize) -> Sink {
        Sink {
            text: String::new(),
            chars: 0,
            max,
            full: false,
        }
    }

    /// Appends `s`, cutting it at the character limit.
    fn push(&mut self, s: &str) {
        if self.full || s.is_empty() {
            return;
        }
        let room = self.max - self.chars;
        match s.char_indices().nth(room) {
            Some((cut, _)) => {
                self.text.push_str(&s[..cut]);
                self.chars = self.max;
                self.full = true;
            }
            None => {
                self.chars += s.chars().count();
                self.text.push_str(s);
                if self.chars >= self.max {
                    self.full = true;
                }
            }
        }
    }

    /// Appends a space unless the text is empty or already ends in whitespace.
    fn separate(&mut self) {
        if self
            .text
            .chars()
            .next_back()
            .is_some_and(|c| !c.is_whitespace())
        {
            self.push(" ");
        }
    }
}

fn time_problem(limits: &ExtractLimits) -> String {
    format!("time limit of {:?} reached", limits.max_time)
}

/// Decodes `src` fully into `out` (streaming; `last` on the final chunk).
fn decode_chunk(decoder: &mut Decoder, src: &[u8], out: &mut String, last: bool) {
    let mut src = src;
    loop {
        let need = decoder
            .max_utf8_buffer_length(src.len())
            .unwrap_or(src.len().saturating_mul(3).saturating_add(16));
        out.reserve(need);
        let (res, read, _) = decoder.decode_to_string(src, out, last);
        src = &src[read..];
        if res == CoderResult::InputEmpty {
            break;
        }
    }
}

/// Plain text, streamed in chunks so that a large file costs only the characters kept.
fn extract_plain(path: &Path, limits: &ExtractLimits, deadline: Instant) -> Extracted {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Extracted::none(Some(format!("cannot read: {e}"))),
    };
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut sink = Sink::new(limits.max_chars_out);
    let mut decoder: Option<Decoder> = None;
    let mut method = "utf-8";
    let mut encoding = UTF_8.name();
    let mut read_total: u64 = 0;
    let mut truncated = false;
    let mut problem = None;
    let mut first = Vec::new();
    loop {
        let want = (limits.max_bytes_in - read_total).min(buf.len() as u64) as usize;
        if want == 0 {
            // At the byte limit: more bytes past it means the text is cut.
            let mut probe = [0u8; 1];
            truncated |= matches!(file.read(&mut probe), Ok(n) if n > 0);
            break;
        }
        let n = match file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                problem = Some(format!("read error: {e}"));
                break;
            }
        };
        read_total += n as u64;
        let eof = n == 0;
        // Gather the head before deciding the encoding.
        if decoder.is_none() {
            first.extend_from_slice(&buf[..n]);
            if first.len() < HEAD_BYTES && !eof && read_total < limits.max_bytes_in {
                continue;
            }
            let complete = eof;
            let (enc, lossy) = detect_text_encoding(&first, complete);
            method = text_method(enc, lossy);
            encoding = enc.name();
            let mut d = if enc == UTF_8 || enc == UTF_16LE || enc == UTF_16BE {
                enc.new_decoder_with_bom_removal()
            } else {
                enc.new_decoder_without_bom_handling()
            };
            let mut out = String::new();
            decode_chunk(&mut d, &first, &mut out, eof);
            sink.push(&out);
            decoder = Some(d);
            first = Vec::new();
        } else if let Some(d) = decoder.as_mut() {
            let mut out = String::new();
            decode_chunk(d, &buf[..n], &mut out, eof);
            sink.push(&out);
        }
        if eof {
            break;
        }
        if sink.full {
            truncated = true;
            break;
        }
        if Instant::now() > deadline {
            truncated = true;
            problem = Some(time_problem(limits));
            break;
        }
    }
    Extracted {
        text: sink.text,
        method,
        encoding: Some(encoding),
        truncated: truncated || sink.full,
        problem,
    }
}

/// Which markup stripper to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Markup {
    Xml,
    Html,
}

/// The encoding a markup document declares in its first bytes: BOM, `<?xml … encoding="…"?>`,
/// or (HTML) `charset=` in a meta element; `None` when it declares none.
fn declared_encoding(head: &[u8], markup: Markup) -> Option<&'static Encoding> {
    if let Some((enc, _)) = Encoding::for_bom(head) {
        return Some(enc);
    }
    let window = &head[..head.len().min(2048)];
    let ascii: String = window
        .iter()
        .map(|&b| {
            if b.is_ascii() {
                b.to_ascii_lowercase() as char
            } else {
                ' '
            }
        })
        .collect();
    let label_after = |key: &str, from: usize, end: usize| -> Option<&'static Encoding> {
        let at = ascii[from..end].find(key)? + from + key.len();
        let rest = ascii[at..].trim_start_matches([' ', '=', '"', '\'']);
        let label: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
            .collect();
        Encoding::for_label(label.as_bytes())
    };
    let trimmed = ascii.trim_start();
    if trimmed.starts_with("<?xml") {
        let start = ascii.len() - trimmed.len();
        let end = ascii[start..].find("?>").map_or(ascii.len(), |e| start + e);
        if let Some(enc) = label_after("encoding", start, end) {
            return Some(enc);
        }
    }
    if markup == Markup::Html {
        return label_after("charset", 0, ascii.len());
    }
    None
}

/// Decodes a whole markup document to UTF-8 text: its declared encoding, else the plain-text
/// rule. UTF-16 declared without a BOM is read as UTF-16LE.
fn decode_markup(bytes: &[u8], complete: bool, markup: Markup) -> (String, &'static Encoding) {
    let enc =
        declared_encoding(bytes, markup).unwrap_or_else(|| detect_text_encoding(bytes, complete).0);
    let enc = if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        Encoding::for_bom(bytes).map_or(enc, |(e, _)| e)
    } else {
        enc
    };
    let text = if Encoding::for_bom(bytes).is_some() {
        enc.decode_with_bom_removal(bytes).0
    } else {
        enc.decode_without_bom_handling(bytes).0
    };
    (text.into_owned(), enc)
}

/// XML or HTML: decoded by its declared encoding, tags stripped, entities resolved.
fn extract_markup(
    path: &Path,
    limits: &ExtractLimits,
    deadline: Instant,
    markup: Markup,
) -> Extracted {
    let (bytes, over) = match read_bounded(path, limits.max_bytes_in) {
        Ok(r) => r,
        Err(e) => return Extracted::none(Some(format!("cannot read: {e}"))),
    };
    let (doc, enc) = decode_markup(&bytes, !over, markup);
    drop(bytes);
    let mut sink = Sink::new(limits.max_chars_out);
    let (method, problem) = match markup {
        Markup::Xml => ("xml", xml_text(&doc, &mut sink, deadline, limits)),
        Markup::Html => ("html", html_text(&doc, &mut sink, deadline, limits)),
    };
    let timed_out = problem
        .as_deref()
        .is_some_and(|p| p.starts_with("time limit"));
    Extracted {
        text: sink.text,
        method,
        encoding: Some(enc.name()),
        truncated: over || sink.full || timed_out,
        problem,
    }
}

/// Resolves an XML entity reference body (`amp`, `#x4E2D`, `#20013`).
fn resolve_xml_ref(name: &str) -> Option<String> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    quick_xml::escape::resolve_xml_entity(name).map(str::to_string)
}

/// Collects the text content of `doc` into `sink`, a space between elements.
/// Returns the problem that stopped it, if any (the text before it is kept).
fn xml_text(
    doc: &str,
    sink: &mut Sink,
    deadline: Instant,
    limits: &ExtractLimits,
) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(doc);
    {
        let c = reader.config_mut();
        c.check_end_names = false;
        c.allow_unmatched_ends = true;
        c.allow_dangling_amp = true;
        c.check_comments = false;
    }
    let mut events = 0u64;
    loop {
        events += 1;
        if events.is_multiple_of(1024) && Instant::now() > deadline {
            return Some(time_problem(limits));
        }
        if sink.full {
            return None;
        }
        match reader.read_event() {
            Ok(Event::Eof) => return None,
            Ok(Event::Start(_)) | Ok(Event::End(_)) | Ok(Event::Empty(_)) => sink.separate(),
            Ok(Event::Text(t)) => match t.decode() {
                Ok(s) => sink.push(&s),
                Err(e) => {
                    return Some(format!(
                        "XML text at byte {}: {e}",
                        reader.buffer_position()
                    ))
                }
            },
            Ok(Event::CData(t)) => match t.decode() {
                Ok(s) => sink.push(&s),
                Err(e) => {
                    return Some(format!(
                        "XML CDATA at byte {}: {e}",
                        reader.buffer_position()
                    ))
                }
            },
            Ok(Event::GeneralRef(r)) => {
                if let Some(s) = r.decode().ok().and_then(|n| resolve_xml_ref(&n)) {
                    sink.push(&s);
                }
            }
            Ok(_) => {}
            Err(e) => {
                return Some(format!(
                    "XML not well-formed at byte {}: {e}",
                    reader.error_position()
                ))
            }
        }
    }
}

/// Finds `needle` (lower-case ASCII) in `hay` from `from`, ignoring ASCII case.
fn find_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= hay.len() || needle.is_empty() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

/// Resolves an HTML character reference body (`nbsp`, `#x4E2D`, `#20013`).
fn resolve_html_ref(name: &str) -> Option<String> {
    resolve_xml_ref(name)
        .or_else(|| quick_xml::escape::resolve_html5_entity(name).map(str::to_string))
}

/// Pushes `text` with its character references resolved.
fn push_html_text(sink: &mut Sink, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        sink.push(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after
            .char_indices()
            .take(32)
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '#'))
            .map(|(i, c)| (i, c == ';'));
        match end {
            Some((i, semi)) if i > 0 => match resolve_html_ref(&after[..i]) {
                Some(s) => {
                    sink.push(&s);
                    rest = &after[i + usize::from(semi)..];
                }
                None => {
                    sink.push("&");
                    rest = after;
                }
            },
            _ => {
                sink.push("&");
                rest = after;
            }
        }
    }
    sink.push(rest);
}

/// A simple HTML tag stripper: drops tags, comments, `<script>` and `<style>` contents;
/// block boundaries become spaces; character references are resolved.
fn html_text(
    doc: &str,
    sink: &mut Sink,
    deadline: Instant,
    limits: &ExtractLimits,
) -> Option<String> {
    let b = doc.as_bytes();
    let mut i = 0usize;
    let mut steps = 0u64;
    while i < b.len() {
        steps += 1;
        if steps.is_multiple_of(1024) && Instant::now() > deadline {
            return Some(time_problem(limits));
        }
        if sink.full {
            return None;
        }
        let Some(lt) = b[i..].iter().position(|&c| c == b'<').map(|p| p + i) else {
            push_html_text(sink, &doc[i..]);
            break;
        };
        push_html_text(sink, &doc[i..lt]);
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            i = find_ci(b, lt + 4, b"-->").map_or(b.len(), |e| e + 3);
            continue;
        }
        // The end of this tag: the first '>' outside quotes.
        let mut j = lt + 1;
        let mut quote = 0u8;
        while j < b.len() {
            let c = b[j];
            if quote != 0 {
                if c == quote {
                    quote = 0;
                }
            } else if c == b'"' || c == b'\'' {
                quote = c;
            } else if c == b'>' {
                break;
            }
            j += 1;
        }
        let tag_end = (j + 1).min(b.len());
        let name: Vec<u8> = rest[1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(u8::to_ascii_lowercase)
            .collect();
        if name == b"script" || name == b"style" {
            let close: &[u8] = if name == b"script" {
                b"</script"
            } else {
                b"</style"
            };
            i = match find_ci(b, tag_end, close) {
                Some(c) => b[c..]
                    .iter()
                    .position(|&x| x == b'>')
                    .map_or(b.len(), |p| c + p + 1),
                None => b.len(),
            };
        } else {
            i = tag_end;
        }
        // Tags separate words (inline ones too: a space is harmless to the index).
        sink.separate();
    }
    None
}

/// Maps a lopdf load error to a problem text.
fn pdf_load_problem(e: &lopdf::Error, bytes: &[u8]) -> String {
    let msg = e.to_string();
    let lower = msg.to_ascii_lowercase();
    if lower.contains("decrypt") || lower.contains("password") || lower.contains("encrypt") {
        format!("encrypted: {msg}")
    } else if bytes.windows(8).any(|w| w == b"/Encrypt") {
        format!("encrypted (and not readable: {msg})")
    } else {
        format!("PDF not readable: {msg}")
    }
}

/// The PDF text layer, page by page, in a thread of its own (large stack, bounded wait).
fn extract_pdf(path: &Path, limits: &ExtractLimits, deadline: Instant) -> Extracted {
    let mut out = Extracted {
        text: String::new(),
        method: "pdf-text",
        encoding: None,
        truncated: false,
        problem: None,
    };
    let (bytes, over) = match read_bounded(path, limits.max_bytes_in) {
        Ok(r) => r,
        Err(e) => {
            out.problem = Some(format!("cannot read: {e}"));
            return out;
        }
    };
    if over {
        out.truncated = true;
        out.problem = Some(format!(
            "PDF larger than the input limit of {} bytes: not parsed",
            limits.max_bytes_in
        ));
        return out;
    }
    let (tx, rx) = mpsc::channel();
    let lim = limits.clone();
    let spawned = std::thread::Builder::new()
        .name("extract-pdf".into())
        .stack_size(PDF_STACK_BYTES)
        .spawn(move || {
            let r = pdf_pages(&bytes, &lim, deadline);
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        out.problem = Some(format!("cannot start the PDF thread: {e}"));
        return out;
    }
    // A single lopdf call cannot be interrupted: wait a little past the deadline, then leave
    // the thread to finish on its own.
    let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    match rx.recv_timeout(wait) {
        Ok((text, truncated, problem)) => {
            out.text = text;
            out.truncated = truncated;
            out.problem = problem;
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            out.truncated = true;
            out.problem = Some(time_problem(limits));
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            out.problem = Some("PDF parser stopped without an answer".into());
        }
    }
    out
}

/// Loads the PDF and extracts the text of each page: (text, truncated, problem).
fn pdf_pages(
    bytes: &[u8],
    limits: &ExtractLimits,
    deadline: Instant,
) -> (String, bool, Option<String>) {
    let loaded = catch_unwind(AssertUnwindSafe(|| lopdf::Document::load_mem(bytes)));
    let doc = match loaded {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return (String::new(), false, Some(pdf_load_problem(&e, bytes))),
        Err(_) => {
            return (
                String::new(),
                false,
                Some("PDF parser panicked while loading".into()),
            )
        }
    };
    let mut problems: Vec<String> = Vec::new();
    let encrypted = catch_unwind(AssertUnwindSafe(|| {
        (doc.was_encrypted(), doc.is_encrypted())
    }));
    match encrypted {
        Ok((_, true)) => return (String::new(), false, Some("encrypted".into())),
        Ok((true, false)) => {
            problems.push("encrypted (opened with the empty user password)".into())
        }
        Ok((false, false)) => {}
        Err(_) => return (String::new(), false, Some("PDF parser panicked".into())),
    }
    let pages = match catch_unwind(AssertUnwindSafe(|| doc.get_pages())) {
        Ok(p) => p,
        Err(_) => {
            return (
                String::new(),
                false,
                Some("PDF parser panicked reading the page tree".into()),
            )
        }
    };
    let mut sink = Sink::new(limits.max_chars_out);
    let mut truncated = false;
    let mut bad_pages = 0usize;
    let mut panics = 0usize;
    for &page_id in pages.values() {
        if Instant::now() > deadline {
            truncated = true;
            problems.push(time_problem(limits));
            break;
        }
        if sink.full {
            truncated = true;
            break;
        }
        match catch_unwind(AssertUnwindSafe(|| pdf_page_text(&doc, page_id, &mut sink))) {
            Ok(Ok(0)) => {}
            Ok(Ok(_)) | Ok(Err(_)) => bad_pages += 1,
            Err(_) => panics += 1,
        }
        sink.push("\n");
    }
    if bad_pages > 0 {
        problems.push(format!(
            "text not decodable on {bad_pages} of {} pages",
            pages.len()
        ));
    }
    if panics > 0 {
        problems.push(format!(
            "PDF parser panicked on {panics} of {} pages",
            pages.len()
        ));
    }
    let text = sink.text.trim_end().to_string();
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    (text, truncated || sink.full, problem)
}

/// The text shown on one PDF page, in content-stream order, into `sink`: each positioning
/// (`Td`, `TD`, `Tm`, `T*`, `'`, `"`, `BT`, `ET`) ends a run, and runs are joined by
/// [`join_run`]; a large negative `TJ` adjustment is a word gap. Text in form XObjects and
/// annotations is not read. Returns how many strings or fonts could not be decoded.
fn pdf_page_text(
    doc: &lopdf::Document,
    page_id: lopdf::ObjectId,
    sink: &mut Sink,
) -> Result<usize, lopdf::Error> {
    let mut bad = 0usize;
    let fonts = doc.get_page_fonts(page_id)?;
    let mut encodings = std::collections::BTreeMap::new();
    for (name, font) in fonts {
        match font.get_font_encoding(doc) {
            Ok(e) => {
                encodings.insert(name, e);
            }
            Err(_) => bad += 1,
        }
    }
    let content = lopdf::content::Content::decode(&doc.get_page_content(page_id)?)?;
    let mut current: Option<&lopdf::Encoding> = None;
    let mut line = String::new();
    for op in &content.operations {
        if sink.full {
            break;
        }
        let operator = op.operator.as_str();
        match operator {
            "Tf" => {
                current = op
                    .operands
                    .first()
                    .and_then(|o| o.as_name().ok())
                    .and_then(|n| encodings.get(n));
            }
            "Tj" | "TJ" | "'" | "\"" => {
                if operator != "Tj" && operator != "TJ" {
                    join_run(sink, &line);
                    line.clear();
                }
                let Some(enc) = current else {
                    bad += 1;
                    continue;
                };
                let operands: &[lopdf::Object] = if operator == "\"" {
                    op.operands.get(2).map_or(&[], std::slice::from_ref)
                } else {
                    &op.operands
                };
                for o in operands {
                    bad += pdf_shown(enc, o, &mut line);
                }
            }
            "Td" | "TD" | "Tm" | "T*" | "BT" | "ET" => {
                join_run(sink, &line);
                line.clear();
            }
            _ => {}
        }
    }
    join_run(sink, &line);
    Ok(bad)
}

/// Appends the text of a `Tj`/`TJ` operand to `line`; returns the number of undecodable strings.
fn pdf_shown(enc: &lopdf::Encoding, operand: &lopdf::Object, line: &mut String) -> usize {
    match operand {
        lopdf::Object::String(bytes, _) => match lopdf::Document::decode_text(enc, bytes) {
            Ok(s) => {
                line.push_str(&s);
                0
            }
            Err(_) => 1,
        },
        lopdf::Object::Array(items) => {
            let mut bad = 0;
            for item in items {
                match item {
                    lopdf::Object::String(..) => bad += pdf_shown(enc, item, line),
                    other => {
                        // Adjustments are in thousandths of an em; -250 is about a space.
                        let gap = other.as_float().is_ok_and(|v| v < -250.0);
                        let cjk = line.chars().next_back().is_some_and(is_cjk);
                        if gap && !cjk && !line.ends_with(' ') {
                            line.push(' ');
                        }
                    }
                }
            }
            bad
        }
        _ => 0,
    }
}

/// Appends a run of text to `sink`, trimmed, with a space before it unless the text so far
/// ends in whitespace or both sides of the join are CJK (Chinese has no spaces between words,
/// and a line break inside a word must not split it).
fn join_run(sink: &mut Sink, run: &str) {
    let run = run.trim();
    if run.is_empty() {
        return;
    }
    if let (Some(a), Some(b)) = (sink.text.chars().next_back(), run.chars().next()) {
        if !(a.is_whitespace() || is_cjk(a) && is_cjk(b)) {
            sink.push(" ");
        }
    }
    sink.push(run);
}

/// Reads at most `max` bytes of the ZIP entry `name`; the flag says it was longer.
fn zip_entry(
    zip: &mut zip::ZipArchive<File>,
    name: &str,
    max: u64,
) -> Result<(Vec<u8>, bool), String> {
    let entry = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    let mut buf = Vec::new();
    entry
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| format!("{name}: {e}"))?;
    let over = buf.len() as u64 > max;
    buf.truncate(max as usize);
    Ok((buf, over))
}

/// The value of attribute `attr` or the text of element `elem` (local names), first found.
fn xml_first(doc: &str, elem: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut inside = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == elem => inside = true,
            Ok(Event::Text(t)) if inside => {
                let s = t.decode().ok()?.trim().to_string();
                if !s.is_empty() {
                    return Some(s);
                }
            }
            Ok(Event::End(_)) => inside = false,
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The `BaseLoc` of every `Page` element of an OFD `Document.xml`, in document order.
fn ofd_page_locs(doc: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut locs = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.local_name().as_ref() == b"Page" => {
                for a in e.attributes().flatten() {
                    if a.key.local_name().as_ref() == b"BaseLoc" {
                        if let Ok(v) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                            locs.push(v.trim().to_string());
                        }
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => return locs,
            Ok(_) => {}
        }
    }
}

/// Joins an OFD location to the folder of the file that names it (`/` means the package root).
fn ofd_resolve(base_dir: &str, loc: &str) -> String {
    let joined = if let Some(abs) = loc.strip_prefix('/') {
        abs.to_string()
    } else if base_dir.is_empty() {
        loc.to_string()
    } else {
        format!("{base_dir}/{loc}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(p),
        }
    }
    parts.join("/")
}

/// Digits of a path as numbers, for natural order of `Page_2` before `Page_10`.
fn natural_key(s: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut text = String::new();
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(
                num.unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(u64::from(d)),
            );
        } else {
            if let Some(n) = num.take() {
                key.push((std::mem::take(&mut text), n));
            }
            text.push(c);
        }
    }
    key.push((text, num.unwrap_or(0)));
    key
}

/// OFD: the `TextCode` text of each page's `Content.xml`, pages in document order.
fn extract_ofd(path: &Path, limits: &ExtractLimits, deadline: Instant) -> Extracted {
    let mut out = Extracted {
        text: String::new(),
        method: "ofd-xml",
        encoding: None,
        truncated: false,
        problem: None,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.problem = Some(format!("cannot read: {e}"));
            return out;
        }
    };
    let opened = catch_unwind(AssertUnwindSafe(|| zip::ZipArchive::new(file)));
    let mut zip = match opened {
        Ok(Ok(z)) => z,
        Ok(Err(e)) => {
            out.method = "none";
            out.problem = Some(format!("not a readable ZIP: {e}"));
            return out;
        }
        Err(_) => {
            out.method = "none";
            out.problem = Some("ZIP reader panicked".into());
            return out;
        }
    };
    let ofd_xml = match zip_entry(&mut zip, "OFD.xml", OFD_META_BYTES) {
        Ok((b, _)) => decode_markup(&b, true, Markup::Xml).0,
        Err(_) => {
            out.method = "none"; // a ZIP, but not an OFD: nothing to read
            return out;
        }
    };
    let mut problems = Vec::new();
    // Pages named by each document's Document.xml; all Content.xml pages when none are named.
    let mut pages: Vec<String> = Vec::new();
    if let Some(root) = xml_first(&ofd_xml, b"DocRoot") {
        let root = ofd_resolve("", &root);
        let dir = root.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        match zip_entry(&mut zip, &root, OFD_META_BYTES) {
            Ok((b, _)) => {
                let doc = decode_markup(&b, true, Markup::Xml).0;
                pages = ofd_page_locs(&doc)
                    .iter()
                    .map(|l| ofd_resolve(&dir, l))
                    .collect();
            }
            Err(e) => problems.push(format!("document root {e}")),
        }
    }
    if pages.is_empty() {
        let mut found: Vec<String> = zip
            .file_names()
            .filter(|n| n.ends_with("/Content.xml") && n.contains("/Pages/"))
            .map(str::to_string)
            .collect();
        found.sort_by_key(|n| natural_key(n));
        pages = found;
    }
    let mut sink = Sink::new(limits.max_chars_out);
    let mut budget = limits.max_bytes_in;
    for loc in &pages {
        if Instant::now() > deadline {
            out.truncated = true;
            problems.push(time_problem(limits));
            break;
        }
        if sink.full || budget == 0 {
            out.truncated = true;
            break;
        }
        // A page's BaseLoc names either its folder or its Content.xml.
        let name = if loc.ends_with(".xml") {
            loc.clone()
        } else {
            format!("{loc}/Content.xml")
        };
        let (bytes, over) = match zip_entry(&mut zip, &name, budget) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("page {e}"));
                continue;
            }
        };
        budget = budget.saturating_sub(bytes.len() as u64);
        out.truncated |= over;
        let doc = decode_markup(&bytes, !over, Markup::Xml).0;
        let mut page = Sink::new(limits.max_chars_out - sink.chars);
        if let Some(p) = ofd_page_text(&doc, &mut page, deadline, limits) {
            if !over {
                problems.push(format!("{name}: {p}"));
            }
        }
        sink.push(page.text.trim());
        sink.push("\n");
    }
    out.text = sink.text.trim_end().to_string();
    out.truncated |= sink.full;
    if !problems.is_empty() {
        out.problem = Some(problems.join("; "));
    }
    out
}

/// Is `c` a CJK character (no spaces between words)?
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// The `TextCode` runs of one OFD page: runs in a `TextObject` are joined as they are; between
/// text objects a space is put unless both sides are CJK.
fn ofd_page_text(
    doc: &str,
    sink: &mut Sink,
    deadline: Instant,
    limits: &ExtractLimits,
) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(doc);
    reader.config_mut().check_end_names = false;
    reader.config_mut().allow_unmatched_ends = true;
    let mut in_code = false;
    let mut object = String::new();
    let mut events = 0u64;
    let flush = |object: &mut String, sink: &mut Sink| {
        join_run(sink, object);
        object.clear();
    };
    loop {
        events += 1;
        if events.is_multiple_of(1024) && Instant::now() > deadline {
            flush(&mut object, sink);
            return Some(time_problem(limits));
        }
        match reader.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                b"TextCode" => in_code = true,
                b"TextObject" => flush(&mut object, sink),
                _ => {}
            },
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"TextCode" => in_code = false,
                b"TextObject" => flush(&mut object, sink),
                _ => {}
            },
            Ok(Event::Text(t)) if in_code => {
                if let Ok(s) = t.decode() {
                    object.push_str(&s);
                }
            }
            Ok(Event::CData(t)) if in_code => {
                if let Ok(s) = t.decode() {
                    object.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) if in_code => {
                if let Some(s) = r.decode().ok().and_then(|n| resolve_xml_ref(&n)) {
                    object.push_str(&s);
                }
            }
            Ok(Event::Eof) => {
                flush(&mut object, sink);
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                flush(&mut object, sink);
                return Some(format!(
                    "XML not well-formed at byte {}: {e}",
                    reader.error_position()
                ));
            }
        }
        if object.len() > limits.max_chars_out.saturating_mul(4) {
            flush(&mut object, sink);
        }
        if sink.full {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_collapses_whitespace_and_drops_controls() {
        assert_eq!(
            normalise("  a\t\r\n b\u{3000}\u{3000}c\u{0}\u{7}d\u{feff} "),
            "a b cd"
        );
        assert_eq!(normalise("政务\n\n服务"), "政务 服务");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn sniffing_decides_the_kind() {
        let cases: &[(&[u8], Kind)] = &[
            (b"%PDF-1.7\n", Kind::Pdf),
            (b"\x89PNG\r\n\x1a\n", Kind::Nothing),
            (b"<?xml version=\"1.0\"?><a/>", Kind::Xml),
            (b"<!DOCTYPE html><html><body>x</body></html>", Kind::Html),
            (b"  <HTML><p>x</p></HTML>", Kind::Html),
            (b"plain text", Kind::Text),
            (b"PK\x03\x04....", Kind::Ofd),
            (b"\x7fELF\x02\x01\x01\0\0\0", Kind::Nothing),
        ];
        for (head, want) in cases {
            assert_eq!(sniff(head, None), *want, "{head:?}");
        }
        assert_eq!(sniff(b"<html><p>x</p></html>", Some(Kind::Xml)), Kind::Html);
    }

    #[test]
    fn encodings_are_detected() {
        let (gbk, _, _) = encoding_rs::GBK.encode("关于网上政务服务平台建设的通知");
        assert_eq!(detect_text_encoding(&gbk, true), (GB18030, false));
        assert_eq!(
            detect_text_encoding("通知".as_bytes(), true),
            (UTF_8, false)
        );
        // A UTF-8 character cut at the end of a partial head is still UTF-8.
        let cut = &"通知".as_bytes()[..4];
        assert_eq!(detect_text_encoding(cut, false), (UTF_8, false));
        assert_eq!(detect_text_encoding(b"\xff\xfea\0", true).0, UTF_16LE);
        assert_eq!(detect_text_encoding(b"\x80\xff\x80", true), (UTF_8, true));
    }

    #[test]
    fn declared_encodings_are_read() {
        let x = b"<?xml version='1.0' encoding='GB2312'?><a/>";
        assert_eq!(declared_encoding(x, Markup::Xml), Some(encoding_rs::GBK));
        let h = b"<html><head><meta charset=\"gbk\"></head>";
        assert_eq!(declared_encoding(h, Markup::Html), Some(encoding_rs::GBK));
        assert_eq!(declared_encoding(b"<a/>", Markup::Xml), None);
    }

    #[test]
    fn html_is_stripped() {
        let mut sink = Sink::new(1000);
        let doc = "<p>A&amp;B&nbsp;&#x4E2D;&#25991;<script>var a='<p>';</script>\
                   <STYLE>p{}</STYLE><!-- c --><b title=\"a>b\">x</b> &bogus; &</p>";
        let far = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            html_text(doc, &mut sink, far, &ExtractLimits::default()),
            None
        );
        assert_eq!(normalise(&sink.text), "A&B 中文 x &bogus; &");
    }

    #[test]
    fn sink_cuts_at_the_character_limit() {
        let mut s = Sink::new(3);
        s.push("中文");
        s.push("字符");
        assert_eq!(s.text, "中文字");
        assert!(s.full);
    }

    #[test]
    fn ofd_paths_resolve() {
        assert_eq!(
            ofd_resolve("Doc_0", "Pages/Page_0/Content.xml"),
            "Doc_0/Pages/Page_0/Content.xml"
        );
        assert_eq!(
            ofd_resolve("Doc_0", "/Doc_0/Pages/Page_1"),
            "Doc_0/Pages/Page_1"
        );
        assert_eq!(ofd_resolve("", "../x/./y"), "x/y");
        let mut v = [
            "Doc_0/Pages/Page_10/Content.xml",
            "Doc_0/Pages/Page_2/Content.xml",
        ];
        v.sort_by_key(|n| natural_key(n));
        assert_eq!(v[0], "Doc_0/Pages/Page_2/Content.xml");
    }
}
