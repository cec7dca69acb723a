//! Findings as data: what a check found, coded and located, never an error that stops the run.
//!
//! Every intake check returns findings instead of failing, so that one report lists every
//! problem at once (the seed's art. 9: the agency corrects everything in one round).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The four properties of DA/T 70-2018 (四性) a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// 真实性: the record is what it claims to be (digests, seals, well-formed metadata).
    Authenticity,
    /// 完整性: nothing missing, nothing extra, counts and sequences whole.
    Integrity,
    /// 可用性: the files can be read in the long term (format on the allow-list, not encrypted).
    Usability,
    /// 安全性: the package is safe to unpack and store (paths, links, limits, virus scan).
    Security,
}

impl Category {
    /// The Chinese term used by DA/T 70.
    pub fn chinese(self) -> &'static str {
        match self {
            Category::Authenticity => "真实性",
            Category::Integrity => "完整性",
            Category::Usability => "可用性",
            Category::Security => "安全性",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Category::Authenticity => "authenticity",
            Category::Integrity => "integrity",
            Category::Usability => "usability",
            Category::Security => "security",
        };
        write!(f, "{name} ({})", self.chinese())
    }
}

/// Whether a finding refuses the transfer or only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The package is refused.
    Error,
    /// Reported, but the package may still be accepted.
    Warning,
}

/// One problem found by a check.
///
/// `code` is stable; tests compare codes. The codes are documented with their module:
/// `formats/transfer-report.md` (intake), `formats/bagit-checks.md` (`BAG_*`),
/// `formats/transfer-package-security.md` (`PKG_*`), `formats/file-formats.md` (`FMT_*`),
/// `formats/transfer-package.md` (`META_*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable machine-readable code, e.g. `DIGEST_MISMATCH`.
    pub code: String,
    /// The DA/T 70 property this check belongs to.
    pub category: Category,
    /// Error or warning.
    pub severity: Severity,
    /// The record's folder or reference code (档号), when the finding is about one record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The file's path inside the package, when the finding is about one file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// What is wrong, in words an agency clerk can act on.
    pub message: String,
    /// What the check expected, when there is a single expected value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What the check found instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

impl Finding {
    /// An error finding with no location yet.
    pub fn error(code: &str, category: Category, message: impl Into<String>) -> Self {
        Finding {
            code: code.to_string(),
            category,
            severity: Severity::Error,
            record: None,
            file: None,
            message: message.into(),
            expected: None,
            found: None,
        }
    }

    /// A warning finding with no location yet.
    pub fn warning(code: &str, category: Category, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(code, category, message)
        }
    }

    /// Names the record the finding is about.
    pub fn record(mut self, record: impl Into<String>) -> Self {
        self.record = Some(record.into());
        self
    }

    /// Names the file the finding is about.
    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Says what was expected and what was found.
    pub fn expected_found(mut self, expected: impl Into<String>, found: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self.found = Some(found.into());
        self
    }

    /// True when this finding refuses the package.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev} [{}] {}", self.code, self.category)?;
        if let Some(r) = &self.record {
            write!(f, " record {r}")?;
        }
        if let Some(file) = &self.file {
            write!(f, " file {file}")?;
        }
        write!(f, ": {}", self.message)?;
        if let (Some(e), Some(found)) = (&self.expected, &self.found) {
            write!(f, " (expected {e}, found {found})")?;
        }
        Ok(())
    }
}
