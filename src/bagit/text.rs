//! The grammar of BagIt tag files (RFC 8493 §2): character encodings, lines, the bag
//! declaration, bag-info elements, manifest and fetch lines, percent-encoding and path rules.
//!
//! Pure functions over bytes and strings; no I/O, so each rule is unit-tested on its own.

use crate::findings::{Category, Finding};

/// A BagIt version `M.N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// The version RFC 8493 defines.
    pub const V1_0: Version = Version { major: 1, minor: 0 };

    /// Whether RFC 8493 (1.0) rules apply: percent-encoded paths, strict bag-info labels,
    /// duplicate manifest lines as errors.
    pub fn is_rfc8493(self) -> bool {
        self >= Version::V1_0
    }

    /// Parses `M.N` (digits only, nothing around).
    pub fn parse(s: &str) -> Option<Version> {
        let (a, b) = s.split_once('.')?;
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return None;
        }
        Some(Version {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
    }
}

/// A tag-file character encoding this validator can decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    /// UTF-16 with a byte-order mark, big-endian without one (RFC 2781).
    Utf16,
    Utf16Le,
    Utf16Be,
    Latin1,
    Ascii,
    Unsupported(String),
}

impl Encoding {
    /// Maps an IANA charset name (case-insensitive, common aliases).
    pub fn from_label(label: &str) -> Encoding {
        let l = label.trim().to_ascii_lowercase().replace('_', "-");
        match l.as_str() {
            "utf-8" | "utf8" => Encoding::Utf8,
            "utf-16" | "utf16" => Encoding::Utf16,
            "utf-16le" => Encoding::Utf16Le,
            "utf-16be" => Encoding::Utf16Be,
            "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" | "iso-ir-100" | "cp819"
            | "ibm819" | "iso-8859-1:1987" => Encoding::Latin1,
            "us-ascii" | "ascii" | "ansi-x3.4-1968" => Encoding::Ascii,
            _ => Encoding::Unsupported(label.to_string()),
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes a tag file (not `bagit.txt`). Problems are pushed as findings; `None` when the
/// bytes cannot be decoded at all.
pub(crate) fn decode(
    bytes: &[u8],
    enc: &Encoding,
    file: &str,
    findings: &mut Vec<Finding>,
) -> Option<String> {
    let bad =
        |msg: String| Finding::error("BAG_TAG_FILE_ENCODING", Category::Integrity, msg).file(file);
    match enc {
        Encoding::Utf8 => {
            let body = match bytes.strip_prefix(UTF8_BOM) {
                Some(rest) => {
                    findings.push(
                        Finding::warning(
                            "BAG_TAG_FILE_BOM",
                            Category::Usability,
                            "tag file starts with a UTF-8 byte-order mark, which BagIt tag files should not carry",
                        )
                        .file(file),
                    );
                    rest
                }
                None => bytes,
            };
            match std::str::from_utf8(body) {
                Ok(s) => Some(s.to_string()),
                Err(e) => {
                    findings.push(bad(format!(
                        "not valid UTF-8 as bagit.txt declares (first bad byte at offset {})",
                        e.valid_up_to()
                    )));
                    None
                }
            }
        }
        Encoding::Utf16 | Encoding::Utf16Le | Encoding::Utf16Be => {
            let (mut le, body) = match bytes {
                [0xFF, 0xFE, rest @ ..] => (true, rest),
                [0xFE, 0xFF, rest @ ..] => (false, rest),
                _ => (false, bytes),
            };
            if bytes.len() >= 2 && !matches!(bytes[..2], [0xFF, 0xFE] | [0xFE, 0xFF]) {
                le = *enc == Encoding::Utf16Le;
            }
            if body.len() % 2 != 0 {
                findings.push(bad("UTF-16 text with an odd number of bytes".into()));
                return None;
            }
            let units = body.chunks_exact(2).map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            });
            match char::decode_utf16(units).collect::<Result<String, _>>() {
                Ok(s) => Some(s),
                Err(_) => {
                    findings.push(bad("not valid UTF-16 (unpaired surrogate)".into()));
                    None
                }
            }
        }
        Encoding::Latin1 => Some(bytes.iter().map(|&b| b as char).collect()),
        Encoding::Ascii => {
            if let Some(pos) = bytes.iter().position(|b| !b.is_ascii()) {
                findings.push(bad(format!("non-ASCII byte at offset {pos}")));
                return None;
            }
            Some(bytes.iter().map(|&b| b as char).collect())
        }
        // Already reported as BAG_ENCODING_UNSUPPORTED; text that is valid UTF-8 (plain
        // ASCII, say) is still read so that the rest of the bag gets checked.
        Encoding::Unsupported(_) => match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.to_string()),
            Err(_) => {
                findings.push(bad(
                    "cannot decode the tag file in its declared encoding".into()
                ));
                None
            }
        },
    }
}

/// Splits text into lines ended by LF, CR or CRLF (RFC 8493 §2); a last line without an
/// end is still a line, and the empty piece after a final line end is not.
pub(crate) fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                out.push(&text[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        out.push(&text[start..]);
    }
    out
}

/// What `bagit.txt` declares.
#[derive(Debug, Clone)]
pub(crate) struct Declaration {
    /// The version as written (empty when absent).
    pub version_text: String,
    /// The parsed version; `None` when malformed.
    pub version: Option<Version>,
    /// The encoding as written (empty when absent).
    pub encoding_text: String,
}

/// Parses the bag declaration (RFC 8493 §2.1.1): UTF-8 without a BOM, exactly the two lines
/// `BagIt-Version: M.N` and `Tag-File-Character-Encoding: ENCODING`, in that order.
pub(crate) fn parse_declaration(bytes: &[u8], findings: &mut Vec<Finding>) -> Declaration {
    const FILE: &str = "bagit.txt";
    let err =
        |msg: String| Finding::error("BAG_DECLARATION_SYNTAX", Category::Integrity, msg).file(FILE);
    let mut decl = Declaration {
        version_text: String::new(),
        version: None,
        encoding_text: String::new(),
    };
    let body = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => {
            findings.push(
                Finding::error(
                    "BAG_DECLARATION_BOM",
                    Category::Integrity,
                    "bagit.txt starts with a byte-order mark; RFC 8493 forbids one",
                )
                .file(FILE),
            );
            rest
        }
        None => bytes,
    };
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            findings.push(err(format!(
                "bagit.txt is not UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            )));
            return decl;
        }
    };
    let mut ls = lines(text);
    let mut trailing_blank = 0;
    while ls.len() > 2 && ls.last().is_some_and(|l| l.is_empty()) {
        ls.pop();
        trailing_blank += 1;
    }
    if trailing_blank > 0 {
        findings.push(
            Finding::warning(
                "BAG_DECLARATION_SYNTAX",
                Category::Integrity,
                "bagit.txt ends with blank lines after its two declaration lines",
            )
            .file(FILE),
        );
    }
    if ls.len() != 2 {
        findings.push(
            err("bagit.txt must hold exactly two lines (BagIt-Version, Tag-File-Character-Encoding)".into())
                .expected_found("2 lines", format!("{} lines", ls.len())),
        );
    }
    let element = |idx: usize, label: &str, findings: &mut Vec<Finding>| -> Option<String> {
        let line = *ls.get(idx)?;
        let Some((l, v)) = line.split_once(':') else {
            findings.push(
                err(format!("line {} is not \"{label}: value\"", idx + 1))
                    .expected_found(format!("{label}: …"), line),
            );
            return None;
        };
        if l != label {
            let msg = if l.trim().eq_ignore_ascii_case(label) {
                format!(
                    "line {}: label must be exactly {label:?}, without whitespace",
                    idx + 1
                )
            } else {
                format!("line {}: expected the {label} element", idx + 1)
            };
            findings.push(err(msg).expected_found(label, l));
            return None;
        }
        let Some(value) = v.strip_prefix(' ') else {
            findings.push(err(format!(
                "line {}: a single space must follow the colon",
                idx + 1
            )));
            return Some(v.trim().to_string());
        };
        if value.trim() != value || value.is_empty() {
            findings.push(
                err(format!(
                    "line {}: {label} value has extra whitespace or is empty",
                    idx + 1
                ))
                .expected_found("value without surrounding whitespace", format!("{value:?}")),
            );
        }
        Some(value.trim().to_string())
    };
    if let Some(v) = element(0, "BagIt-Version", findings) {
        decl.version = Version::parse(&v);
        if decl.version.is_none() {
            findings.push(
                Finding::error(
                    "BAG_VERSION_INVALID",
                    Category::Integrity,
                    "BagIt-Version must be two dot-separated numbers",
                )
                .file(FILE)
                .expected_found("M.N, e.g. 1.0", v.clone()),
            );
        }
        decl.version_text = v;
    }
    if let Some(e) = element(1, "Tag-File-Character-Encoding", findings) {
        decl.encoding_text = e;
    }
    decl
}

/// Whether a payload-oxum value is `OctetCount.StreamCount`.
pub(crate) fn parse_oxum(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.split_once('.')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Parses bag-info elements (RFC 8493 §2.2.2): `label: value`, continuation lines start
/// with a space or tab and are joined with one space.
pub(crate) fn parse_info(
    text: &str,
    file: &str,
    rfc8493: bool,
    findings: &mut Vec<Finding>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let syntax = |line: usize, msg: String, error: bool| {
        let f = if error {
            Finding::error("BAG_INFO_SYNTAX", Category::Integrity, msg)
        } else {
            Finding::warning("BAG_INFO_SYNTAX", Category::Integrity, msg)
        };
        f.file(file)
            .expected_found("label: value", format!("line {line}"))
    };
    for (i, line) in lines(text).into_iter().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            findings.push(syntax(n, format!("line {n} is blank"), false));
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match out.last_mut() {
                Some((_, v)) => {
                    if !v.is_empty() {
                        v.push(' ');
                    }
                    v.push_str(line.trim());
                }
                None => findings.push(syntax(
                    n,
                    format!("line {n} is indented but continues no element"),
                    true,
                )),
            }
            continue;
        }
        let Some((label, value)) = line.split_once(':') else {
            findings.push(syntax(n, format!("line {n} has no colon"), true));
            continue;
        };
        if label.trim().is_empty() {
            findings.push(syntax(n, format!("line {n} has an empty label"), true));
            continue;
        }
        if label.trim() != label {
            findings.push(syntax(
                n,
                format!("line {n}: label {label:?} starts or ends with whitespace"),
                rfc8493,
            ));
        }
        if !value.is_empty() && !value.starts_with([' ', '\t']) {
            findings.push(syntax(
                n,
                format!("line {n}: no whitespace after the colon"),
                false,
            ));
        }
        out.push((label.trim().to_string(), value.trim().to_string()));
    }
    out
}

/// One line of a manifest: the digest and the path as written (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManifestLine {
    pub line: usize,
    /// Lowercase hex.
    pub digest: String,
    /// The path after percent-decoding, before any clean-up.
    pub path: String,
}

/// Parses manifest lines `checksum<whitespace>filepath` (RFC 8493 §2.1.3).
pub(crate) fn parse_manifest(
    text: &str,
    file: &str,
    rfc8493: bool,
    hex_len: Option<usize>,
    findings: &mut Vec<Finding>,
) -> Vec<ManifestLine> {
    let mut out = Vec::new();
    let all = lines(text);
    let last_content = all.iter().rposition(|l| !l.is_empty()).map_or(0, |p| p + 1);
    for (i, line) in all.iter().enumerate() {
        let n = i + 1;
        let syntax = |msg: String| {
            Finding::error("BAG_MANIFEST_SYNTAX", Category::Integrity, msg)
                .file(file)
                .expected_found("checksum filepath", format!("line {n}: {line:?}"))
        };
        if line.is_empty() {
            if n <= last_content {
                findings.push(
                    Finding::warning(
                        "BAG_MANIFEST_SYNTAX",
                        Category::Integrity,
                        format!("line {n} is blank"),
                    )
                    .file(file),
                );
            }
            continue;
        }
        let Some(sep) = line.find([' ', '\t']) else {
            findings.push(syntax(format!(
                "line {n} has no whitespace between checksum and path"
            )));
            continue;
        };
        let digest = &line[..sep];
        let path = line[sep..].trim_start_matches([' ', '\t']);
        if digest.is_empty() || path.is_empty() {
            findings.push(syntax(format!("line {n} lacks a checksum or a path")));
            continue;
        }
        if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            findings.push(syntax(format!("line {n}: checksum is not hexadecimal")));
            continue;
        }
        if let Some(len) = hex_len {
            if digest.len() != len {
                findings.push(syntax(format!(
                    "line {n}: checksum has {} hex digits, the algorithm gives {len}",
                    digest.len()
                )));
                continue;
            }
        }
        out.push(ManifestLine {
            line: n,
            digest: digest.to_ascii_lowercase(),
            path: if rfc8493 {
                percent_decode(path)
            } else {
                path.to_string()
            },
        });
    }
    out
}

/// One line of `fetch.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchLine {
    pub line: usize,
    pub url: String,
    /// `None` for `-` (unspecified).
    pub length: Option<u64>,
    pub path: String,
}

/// Parses `fetch.txt` lines `url length filepath` (RFC 8493 §2.2.3).
pub(crate) fn parse_fetch(
    text: &str,
    rfc8493: bool,
    findings: &mut Vec<Finding>,
) -> Vec<FetchLine> {
    let mut out = Vec::new();
    for (i, line) in lines(text).into_iter().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let syntax = |msg: String| {
            Finding::error("BAG_FETCH_SYNTAX", Category::Integrity, msg)
                .file("fetch.txt")
                .expected_found("url length filepath", format!("line {n}: {line:?}"))
        };
        let mut rest = line;
        let mut next = || -> Option<&str> {
            let r = rest.trim_start_matches([' ', '\t']);
            let end = r.find([' ', '\t'])?;
            let tok = &r[..end];
            rest = r[end..].trim_start_matches([' ', '\t']);
            Some(tok)
        };
        let (Some(url), Some(len)) = (next(), next()) else {
            findings.push(syntax(format!("line {n} does not have three fields")));
            continue;
        };
        let path = rest;
        if path.is_empty() {
            findings.push(syntax(format!("line {n} has no file path")));
            continue;
        }
        if !is_absolute_uri(url) {
            findings.push(syntax(format!("line {n}: {url:?} is not an absolute URI")));
            continue;
        }
        let length = if len == "-" {
            None
        } else if let Ok(v) = len.parse::<u64>() {
            Some(v)
        } else {
            findings.push(syntax(format!(
                "line {n}: length {len:?} is not a number or '-'"
            )));
            continue;
        };
        out.push(FetchLine {
            line: n,
            url: url.to_string(),
            length,
            path: if rfc8493 {
                percent_decode(path)
            } else {
                path.to_string()
            },
        });
    }
    out
}

/// RFC 3986 `scheme ":" …`.
fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
}

/// Decodes the only three escapes RFC 8493 defines in file paths: `%0A`, `%0D`, `%25`
/// (hex case-insensitive). Any other `%` stays as written.
pub(crate) fn percent_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let esc = rest.get(pos..pos + 3).map(str::to_ascii_uppercase);
        match esc.as_deref() {
            Some("%0A") => out.push('\n'),
            Some("%0D") => out.push('\r'),
            Some("%25") => out.push('%'),
            _ => {
                out.push('%');
                rest = &rest[pos + 1..];
                continue;
            }
        }
        rest = &rest[pos + 3..];
    }
    out.push_str(rest);
    out
}

/// Encodes `%`, LF and CR in a path as RFC 8493 §2.1.3 requires, and nothing else.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

/// Why a path from a manifest or fetch file is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsafe {
    Empty,
    Absolute,
    Backslash,
    HomeShortcut,
    Parent,
    DotOrEmptySegment,
    Control,
}

impl Unsafe {
    pub fn describe(self) -> &'static str {
        match self {
            Unsafe::Empty => "the path is empty",
            Unsafe::Absolute => "the path is absolute and points outside the bag",
            Unsafe::Backslash => {
                "the path contains a backslash, a path separator or escape on other systems"
            }
            Unsafe::HomeShortcut => {
                "the path starts with '~', a home-folder shortcut outside the bag"
            }
            Unsafe::Parent => "the path contains '..' and can escape the bag",
            Unsafe::DotOrEmptySegment => "the path has an empty or '.' segment",
            Unsafe::Control => "the path contains a NUL or control character",
        }
    }
}

/// Checks a bag-relative path and returns it cleaned of leading `./` segments (the bool says
/// whether any were removed, which deserves a warning).
pub(crate) fn clean_path(p: &str) -> Result<(String, bool), Unsafe> {
    if p.is_empty() {
        return Err(Unsafe::Empty);
    }
    if p.starts_with('/') {
        return Err(Unsafe::Absolute);
    }
    if p.contains('\\') {
        return Err(Unsafe::Backslash);
    }
    let b = p.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err(Unsafe::Absolute);
    }
    if p.chars()
        .any(|c| c == '\0' || (c.is_control() && c != '\n' && c != '\r' && c != '\t'))
    {
        return Err(Unsafe::Control);
    }
    let mut rest = p;
    let mut dot_slash = false;
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
        dot_slash = true;
    }
    if rest.starts_with('~') {
        return Err(Unsafe::HomeShortcut);
    }
    if rest.starts_with('/') {
        return Err(Unsafe::DotOrEmptySegment);
    }
    for seg in rest.split('/') {
        match seg {
            ".." => return Err(Unsafe::Parent),
            "" | "." => return Err(Unsafe::DotOrEmptySegment),
            _ => {}
        }
    }
    Ok((rest.to_string(), dot_slash))
}

/// Names that operating systems drop into folders on their own (Finder, Explorer).
pub(crate) fn is_system_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name.to_ascii_lowercase().as_str(),
        ".ds_store"
            | "thumbs.db"
            | "ehthumbs.db"
            | "desktop.ini"
            | ".spotlight-v100"
            | ".trashes"
            | ".fseventsd"
            | ".localized"
    ) || name.starts_with("._")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn line_endings() {
        assert_eq!(lines("a\nb\r\nc\rd"), vec!["a", "b", "c", "d"]);
        assert_eq!(lines("a\n"), vec!["a"]);
        assert_eq!(lines("a\n\n"), vec!["a", ""]);
        assert!(lines("").is_empty());
    }

    #[test]
    fn declaration_good_and_bad() {
        let mut f = vec![];
        let d = parse_declaration(
            b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
            &mut f,
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(d.version, Some(Version::V1_0));
        assert_eq!(d.encoding_text, "UTF-8");

        let mut f = vec![];
        parse_declaration(
            b"BagIt-Version: 0.97\r\nTag-File-Character-Encoding: UTF-8",
            &mut f,
        );
        assert!(f.is_empty(), "no final newline is fine: {f:?}");

        let cases: &[(&[u8], &str)] = &[
            (
                b"\xEF\xBB\xBFBagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
                "BAG_DECLARATION_BOM",
            ),
            (b"BagIt-Version: 1.0\n", "BAG_DECLARATION_SYNTAX"),
            (
                b"BagIt-Version : 1.0\nTag-File-Character-Encoding : UTF-8\n",
                "BAG_DECLARATION_SYNTAX",
            ),
            (
                b"BagIt-Version: .97\nTag-File-Character-Encoding: UTF-8\n",
                "BAG_VERSION_INVALID",
            ),
            (
                b"BagIt-Version: 1.0 \nTag-File-Character-Encoding: UTF-8\n",
                "BAG_DECLARATION_SYNTAX",
            ),
            (
                b"Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n",
                "BAG_DECLARATION_SYNTAX",
            ),
            (
                b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\nExtra: x\n",
                "BAG_DECLARATION_SYNTAX",
            ),
            (
                b"BagIt-Version:1.0\nTag-File-Character-Encoding: UTF-8\n",
                "BAG_DECLARATION_SYNTAX",
            ),
        ];
        for (input, code) in cases {
            let mut f = vec![];
            parse_declaration(input, &mut f);
            assert!(
                f.iter().any(|x| x.code == *code && x.is_error()),
                "{:?}: {f:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn info_continuations_and_labels() {
        let mut f = vec![];
        let info = parse_info(
            "Source-Organization: 某某市档案馆\nExternal-Description: first part\n   second part\n\tthird\nTest : 3\nX:   5  \n",
            "bag-info.txt",
            false,
            &mut f,
        );
        assert_eq!(
            info[0],
            ("Source-Organization".into(), "某某市档案馆".into())
        );
        assert_eq!(info[1].1, "first part second part third");
        assert_eq!(info[2], ("Test".into(), "3".into()));
        assert_eq!(info[3], ("X".into(), "5".into()));
        assert!(f.iter().all(|x| !x.is_error()), "{f:?}");
        assert_eq!(codes(&f), vec!["BAG_INFO_SYNTAX"]);

        let mut f = vec![];
        parse_info("Test : 3\n", "bag-info.txt", true, &mut f);
        assert!(
            f.iter().any(Finding::is_error),
            "RFC 8493 forbids label whitespace"
        );
        for bad in [
            "  leading continuation\n",
            "no colon here\n",
            ": empty label\n",
        ] {
            let mut f = vec![];
            parse_info(bad, "bag-info.txt", false, &mut f);
            assert!(f.iter().any(Finding::is_error), "{bad:?}");
        }
    }

    #[test]
    fn manifest_lines() {
        let mut f = vec![];
        let m = parse_manifest(
            "D41D8CD98F00B204E9800998ECF8427E  data/a b.txt\r\nd41d8cd98f00b204e9800998ecf8427e\tdata/c%25d%0Ae\n",
            "manifest-md5.txt",
            true,
            Some(32),
            &mut f,
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(m[0].path, "data/a b.txt");
        assert_eq!(m[0].digest, "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(m[1].path, "data/c%d\ne");
        let mut f = vec![];
        let m = parse_manifest("abc data/%25\n", "manifest-x.txt", false, None, &mut f);
        assert_eq!(m[0].path, "data/%25", "no decoding before 1.0");
        for bad in [
            "nothex data/x\n",
            "abcd\n",
            " abcd data/x\n",
            "d41d8cd98f00 data/x\n",
        ] {
            let mut f = vec![];
            let m = parse_manifest(bad, "manifest-md5.txt", true, Some(32), &mut f);
            assert!(m.is_empty() && f.iter().any(Finding::is_error), "{bad:?}");
        }
    }

    #[test]
    fn percent_round_trip() {
        let s = "data/100% a\nb\rc%7E";
        assert_eq!(percent_encode(s), "data/100%25 a%0Ab%0Dc%257E");
        assert_eq!(percent_decode(&percent_encode(s)), s);
        assert_eq!(percent_decode("data/%7Ex%zz%"), "data/%7Ex%zz%");
    }

    #[test]
    fn path_rules() {
        assert_eq!(clean_path("data/a"), Ok(("data/a".into(), false)));
        assert_eq!(clean_path("./data/a"), Ok(("data/a".into(), true)));
        assert_eq!(
            clean_path("data/dir1/~x"),
            Ok(("data/dir1/~x".into(), false))
        );
        for (p, why) in [
            ("/tmp/foo", Unsafe::Absolute),
            ("C:\\Windows", Unsafe::Backslash),
            ("c:/x", Unsafe::Absolute),
            ("../../README.md", Unsafe::Parent),
            ("data/../../x", Unsafe::Parent),
            ("~/foo", Unsafe::HomeShortcut),
            ("~root/foo", Unsafe::HomeShortcut),
            ("data//x", Unsafe::DotOrEmptySegment),
            ("data/./x", Unsafe::DotOrEmptySegment),
            ("", Unsafe::Empty),
            ("data/a\0b", Unsafe::Control),
        ] {
            assert_eq!(clean_path(p), Err(why), "{p:?}");
        }
    }

    #[test]
    fn fetch_lines() {
        let mut f = vec![];
        let l = parse_fetch(
            "http://x/a%201 - data/test 1.txt\r\nhttps://x/b 12 data/b\n",
            true,
            &mut f,
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(l[0].path, "data/test 1.txt");
        assert_eq!(l[0].length, None);
        assert_eq!(l[1].length, Some(12));
        for bad in [
            "relative/url - data/x\n",
            "http://x 1x data/x\n",
            "http://x -\n",
        ] {
            let mut f = vec![];
            assert!(parse_fetch(bad, true, &mut f).is_empty(), "{bad:?}");
            assert!(f.iter().any(Finding::is_error));
        }
    }

    #[test]
    fn encodings() {
        let mut f = vec![];
        let s = decode(b"\xFF\xFEa\x00b\x00", &Encoding::Utf16, "x", &mut f);
        assert_eq!(s.as_deref(), Some("ab"));
        let s = decode(b"\x00a\x00b", &Encoding::Utf16, "x", &mut f);
        assert_eq!(s.as_deref(), Some("ab"));
        let s = decode(b"caf\xE9", &Encoding::Latin1, "x", &mut f);
        assert_eq!(s.as_deref(), Some("café"));
        assert!(f.is_empty());
        assert_eq!(
            decode(b"\xEF\xBB\xBFa", &Encoding::Utf8, "x", &mut f).as_deref(),
            Some("a")
        );
        assert_eq!(codes(&f), vec!["BAG_TAG_FILE_BOM"]);
        assert!(decode(b"caf\xE9", &Encoding::Utf8, "x", &mut f).is_none());
        assert_eq!(Encoding::from_label("iso-8859-1"), Encoding::Latin1);
        assert!(matches!(
            Encoding::from_label("GB18030"),
            Encoding::Unsupported(_)
        ));
    }
}
