//! `record.json`: a record's descriptive metadata (DA/T 46 profile) and its checks.
//!
//! Owns what a record.json must say and how each value is judged; every problem is a
//! `META_*` finding and all of them are collected (one round of corrections). The JSON
//! Schema in `formats/record.schema.json` says the same for other tools.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use unicode_normalization::{is_nfc, UnicodeNormalization};

use crate::findings::{Category, Finding};
use crate::refcode::{is_category, is_code, is_retention_code, RefCode};

/// What a file is to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    /// The record itself (正文).
    Main,
    /// An attachment (附件).
    Attachment,
    /// A signature or seal file for another file (电子签章), checked by the seals issue.
    Seal,
    /// Reserved for verification evidence.
    Evidence,
}

/// A file listed in record.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFile {
    /// Path inside the record folder, '/'-separated.
    pub path: String,
    /// Its place in the record (1, 2, …).
    pub order: u32,
    /// Its role.
    pub role: FileRole,
}

/// 密级. State secrets (秘密, 机密, 绝密) never enter this system (the seed, art. 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Classification {
    /// 公开.
    #[serde(rename = "公开")]
    Public,
    /// 内部.
    #[serde(rename = "内部")]
    Internal,
    /// 限制.
    #[serde(rename = "限制")]
    Restricted,
}

/// A record's metadata as received. Fields not named here are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMetadata {
    /// 档号.
    pub reference_code: RefCode,
    /// 题名.
    pub title: String,
    /// 责任者.
    pub creator: String,
    /// 日期 (ISO 8601: YYYY-MM-DD, YYYY-MM or YYYY).
    pub date: String,
    /// 保管期限 code.
    pub retention: String,
    /// 全宗号.
    pub fonds: String,
    /// 门类代码.
    pub category: String,
    /// 年度.
    pub year: u16,
    /// 机构或问题 code.
    pub organization: String,
    /// 件号.
    pub item_number: u32,
    /// 密级.
    pub classification: Classification,
    /// The record's files.
    pub files: Vec<RecordFile>,
    /// 案件号 / case number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    /// 文号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
    /// 办结日期.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_date: Option<String>,
    /// 主题词.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// 附注 / description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 语种 (e.g. `zh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Any further fields, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Longest values accepted, in characters.
pub const MAX_TITLE: usize = 500;
/// Longest creator, case number, document number.
pub const MAX_SHORT: usize = 200;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 5000;

const REQUIRED: [&str; 12] = [
    "reference_code",
    "title",
    "creator",
    "date",
    "retention",
    "fonds",
    "category",
    "year",
    "organization",
    "item_number",
    "classification",
    "files",
];

struct Checker<'a> {
    who: String,
    file: &'a str,
    out: Vec<Finding>,
}

impl Checker<'_> {
    fn err(&mut self, code: &str, cat: Category, msg: impl Into<String>) -> &mut Finding {
        self.out.push(
            Finding::error(code, cat, msg)
                .record(self.who.clone())
                .file(self.file.to_string()),
        );
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    fn invalid(&mut self, field: &str, msg: impl Into<String>, found: &Value) {
        let f = self.err(
            "META_FIELD_INVALID",
            Category::Authenticity,
            format!("{field}: {}", msg.into()),
        );
        f.found = Some(short(found));
    }

    /// A string field: present, a string, not empty, within `max`, no control characters.
    fn text(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        max: usize,
        multiline: bool,
    ) -> Option<String> {
        let v = obj.get(field)?;
        let Some(s) = v.as_str() else {
            self.invalid(field, "must be a string", v);
            return None;
        };
        let mut ok = true;
        if s.trim().is_empty() {
            self.err(
                "META_FIELD_EMPTY",
                Category::Integrity,
                format!("{field} is empty"),
            );
            ok = false;
        }
        let chars = s.chars().count();
        if chars > max {
            let f = self.err(
                "META_TOO_LONG",
                Category::Authenticity,
                format!("{field} is too long"),
            );
            f.expected = Some(format!("at most {max} characters"));
            f.found = Some(format!("{chars} characters"));
            ok = false;
        }
        if s.chars()
            .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
        {
            let f = self.err(
                "META_CONTROL_CHARACTER",
                Category::Authenticity,
                format!("{field} holds control characters"),
            );
            f.found = Some(s.escape_debug().to_string());
            ok = false;
        }
        if !is_nfc(s) {
            self.out.push(
                Finding::warning(
                    "META_NOT_NFC",
                    Category::Authenticity,
                    format!("{field} is not in Unicode NFC form; search may miss it"),
                )
                .record(self.who.clone())
                .file(self.file.to_string())
                .expected_found(s.nfc().collect::<String>(), s.to_string()),
            );
        }
        ok.then(|| s.to_string())
    }

    fn date(&mut self, obj: &Map<String, Value>, field: &str) -> Option<String> {
        let s = self.text(obj, field, 10, false)?;
        if valid_date(&s) {
            Some(s)
        } else {
            let f = self.err(
                "META_DATE_INVALID",
                Category::Authenticity,
                format!("{field} is not a valid ISO 8601 date"),
            );
            f.expected = Some("YYYY-MM-DD (or YYYY-MM, YYYY)".into());
            f.found = Some(s);
            None
        }
    }

    fn integer(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let v = obj.get(field)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.invalid(field, format!("must be from {min} to {max}"), v);
                None
            }
            None => {
                self.invalid(field, "must be a whole number", v);
                None
            }
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// ISO 8601 calendar date: YYYY-MM-DD, YYYY-MM or YYYY, and a real day.
pub fn valid_date(s: &str) -> bool {
    // Exactly YYYY, YYYY-MM or YYYY-MM-DD in ASCII digits: chrono alone would also take a
    // signed year or a space-padded month.
    let shape_ok = s.char_indices().all(|(i, c)| match i {
        4 | 7 => c == '-',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return false;
    }
    match s.len() {
        10 => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        7 => chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok(),
        4 => true,
        _ => false,
    }
}

/// A relative, '/'-separated path with no `..`, `.` or empty parts and no backslash.
pub fn valid_file_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Checks a record.json; returns the metadata when it is usable, and every finding.
/// `folder` names the record folder in findings until the 档号 is known.
pub fn check_record_json(bytes: &[u8], folder: &str) -> (Option<RecordMetadata>, Vec<Finding>) {
    let file = format!("data/{folder}/record.json");
    let mut c = Checker {
        who: folder.to_string(),
        file: &file,
        out: Vec::new(),
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            c.err(
                "META_NOT_UTF8",
                Category::Usability,
                format!("record.json is not UTF-8: {e}"),
            );
            return (None, c.out);
        }
    };
    let value: Value = match serde_json::from_str(text.trim_start_matches('\u{feff}')) {
        Ok(v) => v,
        Err(e) => {
            c.err(
                "META_NOT_JSON",
                Category::Usability,
                format!("record.json is not valid JSON: {e}"),
            );
            return (None, c.out);
        }
    };
    let Some(obj) = value.as_object() else {
        c.err(
            "META_NOT_OBJECT",
            Category::Usability,
            "record.json must be a JSON object",
        );
        return (None, c.out);
    };
    for field in REQUIRED {
        if obj.get(field).is_none_or(Value::is_null) {
            c.err(
                "META_FIELD_MISSING",
                Category::Integrity,
                format!("required field {field} is missing"),
            );
        }
    }

    let refcode = obj.get("reference_code").and_then(|v| match v.as_str() {
        Some(s) => match RefCode::parse(s) {
            Ok(r) => Some(r),
            Err(e) => {
                let f = c.err(
                    "META_REFCODE_INVALID",
                    Category::Authenticity,
                    e.to_string(),
                );
                f.found = Some(s.to_string());
                None
            }
        },
        None => {
            c.invalid("reference_code", "must be a string", v);
            None
        }
    });
    if let Some(r) = &refcode {
        c.who = format!("{r} ({folder})");
        for f in &mut c.out {
            f.record = Some(c.who.clone());
        }
    }
    let title = c.text(obj, "title", MAX_TITLE, false);
    let creator = c.text(obj, "creator", MAX_SHORT, false);
    let date = c.date(obj, "date");
    let retention = c.text(obj, "retention", 4, false).and_then(|r| {
        if is_retention_code(&r) {
            Some(r)
        } else {
            let f = c.err(
                "META_RETENTION_INVALID",
                Category::Authenticity,
                "retention (保管期限) is not a retention code",
            );
            f.expected = Some("Y (永久), D30, D10 or D followed by years".into());
            f.found = Some(r);
            None
        }
    });
    let code_field = |c: &mut Checker, field: &str, ok: fn(&str) -> bool, rule: &str| {
        c.text(obj, field, 16, false).and_then(|v| {
            if ok(&v) {
                Some(v)
            } else {
                let f = c.err(
                    "META_CODE_INVALID",
                    Category::Authenticity,
                    format!("{field} is not a valid code"),
                );
                f.expected = Some(rule.to_string());
                f.found = Some(v);
                None
            }
        })
    };
    let fonds = code_field(&mut c, "fonds", is_code, "1-16 ASCII letters or digits");
    let category = code_field(
        &mut c,
        "category",
        is_category,
        "1-8 capital letters or digits (WS 文书, …)",
    );
    let organization = code_field(
        &mut c,
        "organization",
        is_code,
        "1-16 ASCII letters or digits",
    );
    let year = c.integer(obj, "year", 1000, 9999).map(|y| y as u16);
    let item_number = c
        .integer(obj, "item_number", 1, 999_999_999)
        .map(|n| n as u32);
    let classification = obj.get("classification").and_then(|v| match v.as_str() {
        Some("公开") => Some(Classification::Public),
        Some("内部") => Some(Classification::Internal),
        Some("限制") => Some(Classification::Restricted),
        Some(s @ ("秘密" | "机密" | "绝密")) => {
            let f = c.err(
                "META_STATE_SECRET",
                Category::Security,
                "state secrets (秘密, 机密, 绝密) never enter this system (网上政务服务若干规定 art. 2); \
                 the record must not be transferred here",
            );
            f.found = Some(s.to_string());
            None
        }
        _ => {
            let f = c.err("META_CLASSIFICATION_INVALID", Category::Authenticity, "classification (密级) must be 公开, 内部 or 限制");
            f.found = Some(short(v));
            None
        }
    });

    // The 档号 must say what the fields say.
    if let Some(r) = &refcode {
        let pairs: [(&str, Option<String>, String); 6] = [
            ("fonds", fonds.clone(), r.fonds().to_string()),
            ("category", category.clone(), r.category().to_string()),
            ("year", year.map(|y| y.to_string()), r.year().to_string()),
            ("retention", retention.clone(), r.retention().to_string()),
            (
                "organization",
                organization.clone(),
                r.organization().to_string(),
            ),
            (
                "item_number",
                item_number.map(|n| n.to_string()),
                r.item_number().to_string(),
            ),
        ];
        for (field, value, in_code) in pairs {
            if let Some(v) = value {
                if v != in_code {
                    let f = c.err(
                        "META_REFCODE_MISMATCH",
                        Category::Authenticity,
                        format!("the 档号 says {field} {in_code} but the field {field} says {v}"),
                    );
                    f.expected = Some(in_code);
                    f.found = Some(v);
                }
            }
        }
    }

    let files = check_files(&mut c, obj);
    let case_number = c.text(obj, "case_number", MAX_SHORT, false);
    let document_number = c.text(obj, "document_number", MAX_SHORT, false);
    let closed_date = if obj.contains_key("closed_date") {
        c.date(obj, "closed_date")
    } else {
        None
    };
    let description = c.text(obj, "description", MAX_DESCRIPTION, true);
    let language = c.text(obj, "language", 35, false);
    let mut keywords = Vec::new();
    if let Some(v) = obj.get("keywords") {
        match v.as_array() {
            Some(items) => {
                for (i, k) in items.iter().enumerate() {
                    match k.as_str() {
                        Some(s) if !s.trim().is_empty() && !s.chars().any(char::is_control) => {
                            keywords.push(s.to_string())
                        }
                        _ => c.invalid(&format!("keywords[{i}]"), "must be a non-empty string", k),
                    }
                }
            }
            None => c.invalid("keywords", "must be an array of strings", v),
        }
    }

    let errors = c.out.iter().any(Finding::is_error);
    let meta = match (
        refcode,
        title,
        creator,
        date,
        retention,
        fonds,
        category,
        year,
        organization,
        item_number,
        classification,
        files,
    ) {
        (
            Some(reference_code),
            Some(title),
            Some(creator),
            Some(date),
            Some(retention),
            Some(fonds),
            Some(category),
            Some(year),
            Some(organization),
            Some(item_number),
            Some(classification),
            Some(files),
        ) if !errors => {
            let known: BTreeSet<&str> = REQUIRED
                .iter()
                .copied()
                .chain([
                    "case_number",
                    "document_number",
                    "closed_date",
                    "keywords",
                    "description",
                    "language",
                ])
                .collect();
            let extra = obj
                .iter()
                .filter(|(k, _)| !known.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Some(RecordMetadata {
                reference_code,
                title,
                creator,
                date,
                retention,
                fonds,
                category,
                year,
                organization,
                item_number,
                classification,
                files,
                case_number,
                document_number,
                closed_date,
                keywords,
                description,
                language,
                extra,
            })
        }
        _ => None,
    };
    (meta, c.out)
}

fn check_files(c: &mut Checker, obj: &Map<String, Value>) -> Option<Vec<RecordFile>> {
    let v = obj.get("files")?;
    let Some(items) = v.as_array() else {
        c.invalid("files", "must be an array", v);
        return None;
    };
    if items.is_empty() {
        c.err(
            "META_FILES_EMPTY",
            Category::Integrity,
            "files lists no file: a record needs at least one",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut paths = BTreeSet::new();
    let mut orders = BTreeSet::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let path = item.get("path").and_then(Value::as_str);
        let order = item.get("order").and_then(Value::as_u64);
        let role = item
            .get("role")
            .and_then(|r| serde_json::from_value::<FileRole>(r.clone()).ok());
        match path {
            Some(p) if valid_file_path(p) => {
                let key = caseless::default_case_fold_str(&p.nfc().collect::<String>());
                if !paths.insert(key) {
                    let f = c.err(
                        "META_FILE_DUPLICATE",
                        Category::Integrity,
                        format!("files[{i}] lists {p:?} twice"),
                    );
                    f.found = Some(p.to_string());
                    ok = false;
                }
            }
            Some(p) => {
                let f = c.err(
                    "META_FILE_PATH_INVALID",
                    Category::Security,
                    format!("files[{i}].path must be a relative path inside the record folder"),
                );
                f.found = Some(p.to_string());
                ok = false;
            }
            None => {
                c.err(
                    "META_FIELD_MISSING",
                    Category::Integrity,
                    format!("files[{i}].path is missing or not a string"),
                );
                ok = false;
            }
        }
        match order {
            Some(n) if n >= 1 && n <= u32::MAX as u64 => {
                if !orders.insert(n) {
                    c.err(
                        "META_FILE_ORDER_DUPLICATE",
                        Category::Integrity,
                        format!("files[{i}].order {n} is used twice"),
                    );
                    ok = false;
                }
            }
            _ => {
                c.invalid(
                    &format!("files[{i}].order"),
                    "must be a whole number from 1",
                    item.get("order").unwrap_or(&Value::Null),
                );
                ok = false;
            }
        }
        if role.is_none() {
            let f = c.err(
                "META_FILE_ROLE_INVALID",
                Category::Authenticity,
                format!("files[{i}].role must be main, attachment, seal or evidence"),
            );
            f.found = Some(short(item.get("role").unwrap_or(&Value::Null)));
            ok = false;
        }
        if let (Some(p), Some(o), Some(r)) = (path, order, role) {
            out.push(RecordFile {
                path: p.to_string(),
                order: o as u32,
                role: r,
            });
        }
    }
    if !out.iter().any(|f| f.role == FileRole::Main) && ok {
        c.err(
            "META_NO_MAIN_FILE",
            Category::Integrity,
            "no file has role main (正文)",
        );
        ok = false;
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::valid_date;

    #[test]
    fn dates_are_iso_8601_calendar_dates_only() {
        for good in ["2016-05-12", "2016-05", "2016", "2016-02-29", "0000"] {
            assert!(valid_date(good), "{good}");
        }
        for bad in [
            "+201-05-12",
            "-201-05-12",
            "+201-05",
            "2016- 5-12",
            "2016-05- 1",
            "2017-02-29",
            "2016-13",
            "2016/05/12",
            "16-05-12",
            "２０１６",
            "",
        ] {
            assert!(!valid_date(bad), "{bad}");
        }
    }
}
