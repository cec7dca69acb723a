//! `RefCode`, the reference code (档号) of a record, DA/T 22-2015 form.
//!
//! Grammar (`formats/transfer-package.md`):
//! `全宗号-门类代码·年度-保管期限-机构或问题-件号`, e.g. `0194-WS·2016-D30-BGS-0001`.
//! The separator between category and year is U+00B7 MIDDLE DOT; look-alikes are refused
//! with a hint, because a 档号 that looks right but differs by one code point would never
//! be found again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

/// The middle dot of a 档号.
pub const MIDDLE_DOT: char = '\u{00B7}';

/// Characters people type instead of U+00B7.
const LOOK_ALIKES: [(char, &str); 6] = [
    ('\u{30FB}', "KATAKANA MIDDLE DOT"),
    ('\u{2027}', "HYPHENATION POINT"),
    ('\u{2022}', "BULLET"),
    ('\u{22C5}', "DOT OPERATOR"),
    ('\u{FF65}', "HALFWIDTH KATAKANA MIDDLE DOT"),
    ('.', "FULL STOP"),
];

/// A valid 档号, in NFC. Invariants: it parses by the grammar above; the item number has at
/// least four digits; every part is ASCII letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefCode {
    text: String,
    fonds: String,
    category: String,
    year: u16,
    retention: String,
    organization: String,
    item_number: u32,
}

/// Why a string is not a 档号.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefCodeError {
    /// Nothing given.
    #[error("the 档号 is empty")]
    Empty,
    /// A look-alike of U+00B7 was used.
    #[error(
        "the 档号 {text:?} uses {name} (U+{code:04X}) where DA/T 22 has MIDDLE DOT (U+00B7 ·) \
         between the category code and the year"
    )]
    LookAlike {
        /// The 档号 as given.
        text: String,
        /// The character used.
        code: u32,
        /// Its Unicode name.
        name: &'static str,
    },
    /// The structure is wrong.
    #[error(
        "the 档号 {text:?} is not of the form 全宗号-门类代码·年度-保管期限-机构或问题-件号 \
         (e.g. 0194-WS·2016-D30-BGS-0001): {problem}"
    )]
    Malformed {
        /// The 档号 as given.
        text: String,
        /// What part is wrong.
        problem: String,
    },
}

fn code_part(s: &str, max: usize, upper: bool) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars().all(|c| {
            c.is_ascii_digit() || c.is_ascii_uppercase() || (!upper && c.is_ascii_lowercase())
        })
}

/// Whether a retention code is well formed: `Y` (永久) or `D` and 1-3 digits (years).
pub fn is_retention_code(s: &str) -> bool {
    s == "Y"
        || (s.len() >= 2
            && s.len() <= 4
            && s.starts_with('D')
            && s[1..].chars().all(|c| c.is_ascii_digit())
            && !s[1..].starts_with('0'))
}

/// Whether a fonds (全宗号) or organisation code is well formed: 1-16 ASCII letters/digits.
pub fn is_code(s: &str) -> bool {
    code_part(s, 16, false)
}

/// Whether a category code (门类代码) is well formed: 1-8 ASCII capitals or digits.
pub fn is_category(s: &str) -> bool {
    code_part(s, 8, true)
}

impl RefCode {
    /// Parses and validates a 档号 (normalising it to NFC first).
    ///
    /// Surrounding white space is refused, not trimmed: the 档号 is an identifier, and one
    /// silently corrected here would differ from the `record.json` stored as received.
    pub fn parse(s: &str) -> Result<RefCode, RefCodeError> {
        let text: String = s.nfc().collect();
        if text.trim().is_empty() {
            return Err(RefCodeError::Empty);
        }
        let bad = |problem: String| RefCodeError::Malformed {
            text: text.clone(),
            problem,
        };
        if text.trim() != text {
            return Err(bad("white space before or after it".into()));
        }
        let Some((left, right)) = text.split_once(MIDDLE_DOT) else {
            if let Some((c, name)) = LOOK_ALIKES.iter().find(|(c, _)| text.contains(*c)) {
                return Err(RefCodeError::LookAlike {
                    text: text.clone(),
                    code: *c as u32,
                    name,
                });
            }
            return Err(bad(
                "no middle dot (U+00B7 ·) between category and year".into()
            ));
        };
        let left_parts: Vec<&str> = left.split('-').collect();
        let right_parts: Vec<&str> = right.split('-').collect();
        let ([fonds, category], [year, retention, organization, item]) =
            (left_parts.as_slice(), right_parts.as_slice())
        else {
            return Err(bad(format!(
                "expected 全宗号-门类代码 before the dot and 年度-保管期限-机构或问题-件号 after it, found {} and {} parts",
                left_parts.len(),
                right_parts.len()
            )));
        };
        if !is_code(fonds) {
            return Err(bad(format!(
                "全宗号 {fonds:?} must be 1-16 ASCII letters or digits"
            )));
        }
        if !is_category(category) {
            return Err(bad(format!(
                "门类代码 {category:?} must be 1-8 capital letters or digits"
            )));
        }
        let year_n = match (year.len(), year.parse::<u16>()) {
            (4, Ok(y)) if y >= 1000 => y,
            _ => return Err(bad(format!("年度 {year:?} must be a four-digit year"))),
        };
        if !is_retention_code(retention) {
            return Err(bad(format!(
                "保管期限 {retention:?} must be Y (永久) or D followed by years (D30, D10)"
            )));
        }
        if !is_code(organization) {
            return Err(bad(format!(
                "机构或问题 {organization:?} must be 1-16 ASCII letters or digits"
            )));
        }
        let item_n = match item.parse::<u32>() {
            Ok(n)
                if n >= 1
                    && item.len() >= 4
                    && item.len() <= 9
                    && item.chars().all(|c| c.is_ascii_digit()) =>
            {
                n
            }
            _ => {
                return Err(bad(format!(
                    "件号 {item:?} must be a number from 1, zero-padded to at least four digits"
                )))
            }
        };
        // Zero-padding beyond four digits for small numbers would give two spellings of one
        // record; only the shortest padding of at least four digits is accepted.
        if item.len() > 4 && item.starts_with('0') {
            return Err(bad(format!(
                "件号 {item:?} has more zero-padding than four digits need"
            )));
        }
        Ok(RefCode {
            fonds: fonds.to_string(),
            category: category.to_string(),
            year: year_n,
            retention: retention.to_string(),
            organization: organization.to_string(),
            item_number: item_n,
            text,
        })
    }

    /// The 档号 as text (NFC).
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// 全宗号.
    pub fn fonds(&self) -> &str {
        &self.fonds
    }
    /// 门类代码.
    pub fn category(&self) -> &str {
        &self.category
    }
    /// 年度.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// 保管期限 code.
    pub fn retention(&self) -> &str {
        &self.retention
    }
    /// 机构或问题 code.
    pub fn organization(&self) -> &str {
        &self.organization
    }
    /// 件号.
    pub fn item_number(&self) -> u32 {
        self.item_number
    }
    /// The series in which item numbers count.
    pub fn series(&self) -> SeriesKey {
        SeriesKey {
            fonds: self.fonds.clone(),
            category: self.category.clone(),
            year: self.year,
            retention: self.retention.clone(),
            organization: self.organization.clone(),
        }
    }
}

/// (全宗号, 门类代码, 年度, 保管期限, 机构或问题): DA/T 22 numbers items (件号) within it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// 全宗号.
    pub fonds: String,
    /// 门类代码.
    pub category: String,
    /// 年度.
    pub year: u16,
    /// 保管期限.
    pub retention: String,
    /// 机构或问题.
    pub organization: String,
}

impl SeriesKey {
    /// The 档号 of item `n` of this series.
    pub fn refcode(&self, n: u32) -> String {
        format!("{self}-{n:04}")
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}{MIDDLE_DOT}{}-{}-{}",
            self.fonds, self.category, self.year, self.retention, self.organization
        )
    }
}

impl fmt::Display for RefCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for RefCode {
    type Err = RefCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RefCode::parse(s)
    }
}

impl Serialize for RefCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RefCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RefCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_standard_example() {
        let r = RefCode::parse("0194-WS·2016-D30-BGS-0001").expect("valid");
        assert_eq!(
            (
                r.fonds(),
                r.category(),
                r.year(),
                r.retention(),
                r.organization(),
                r.item_number()
            ),
            ("0194", "WS", 2016, "D30", "BGS", 1)
        );
        assert_eq!(r.series().refcode(2), "0194-WS·2016-D30-BGS-0002");
        assert_eq!(
            RefCode::parse("A1-KJ·2020-Y-XZ-12345")
                .expect("valid")
                .item_number(),
            12345
        );
    }

    #[test]
    fn refuses_with_reasons() {
        let cases = [
            ("", "empty"),
            ("0194-WS\u{30FB}2016-D30-BGS-0001", "U+30FB"),
            ("0194-WS\u{2027}2016-D30-BGS-0001", "U+2027"),
            ("0194-WS.2016-D30-BGS-0001", "FULL STOP"),
            ("0194-WS2016-D30-BGS-0001", "no middle dot"),
            ("0194-ws·2016-D30-BGS-0001", "门类代码"),
            ("0194-WS·16-D30-BGS-0001", "年度"),
            ("0194-WS·2016-D0-BGS-0001", "保管期限"),
            ("0194-WS·2016-X30-BGS-0001", "保管期限"),
            ("0194-WS·2016-D30-BGS-001", "件号"),
            ("0194-WS·2016-D30-BGS-0000", "件号"),
            ("0194-WS·2016-D30-BGS-00001", "zero-padding"),
            ("0194-WS·2016-D30-0001", "parts"),
            ("01 94-WS·2016-D30-BGS-0001", "全宗号"),
            (" 0194-WS·2016-D30-BGS-0001", "white space"),
            ("0194-WS·2016-D30-BGS-0001\n", "white space"),
        ];
        for (input, needle) in cases {
            let e = RefCode::parse(input).expect_err(input).to_string();
            assert!(e.contains(needle), "{input}: {e}");
        }
        // The look-alike hint names the right character.
        let e = RefCode::parse("0194-WS\u{30FB}2016-D30-BGS-0001").expect_err("look-alike");
        assert!(e.to_string().contains("U+00B7"), "{e}");
    }
}
