//! Retention schedules (保管期限表) as data: parsing a policy file, matching a record to its
//! rule, and the date arithmetic that says when its period has run.
//!
//! Owns the meaning of `retention-policies/*.toml` (format in `retention-policies/README.md`)
//! and nothing in the store. Every date here is a calendar date in China Standard Time.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::RetentionError;

/// The policy format this code reads.
pub const POLICY_FORMAT_VERSION: u32 = 1;

/// The schedule strongroom ships (`retention-policies/default.toml`).
pub const DEFAULT_POLICY: &str = include_str!("../../retention-policies/default.toml");

/// What a retention code means: 永久 or a number of years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// 永久: never due.
    Permanent,
    /// 定期: this many years.
    Years(u32),
}

/// When the period starts (起算).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// 1 January after the record's year (年度).
    YearEnd,
    /// The day after the record's `closed_date` (办结日期).
    ClosedDate,
    /// The day after a named event recorded later (`strongroom retention event`).
    Event,
}

/// What happens when the period has run (处置方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// 销毁.
    Destroy,
    /// 移交进馆.
    Transfer,
    /// 鉴定: an archivist decides.
    Review,
}

impl Action {
    /// `destroy`, `transfer` or `review`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Destroy => "destroy",
            Action::Transfer => "transfer",
            Action::Review => "review",
        }
    }

    /// Parses `destroy`, `transfer` or `review`.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "destroy" => Some(Action::Destroy),
            "transfer" => Some(Action::Transfer),
            "review" => Some(Action::Review),
            _ => None,
        }
    }
}

/// What a rule matches: every key given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// 全宗号 accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fonds: Option<Vec<String>>,
    /// Agency-Codes accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<Vec<String>>,
    /// 机构或问题 codes accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Vec<String>>,
    /// 门类代码 accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Vec<String>>,
    /// Effective retention codes accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Vec<String>>,
    /// Metadata fields that must be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has: Vec<String>,
}

/// One rule of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Identifier recorded wherever the rule is applied.
    pub id: String,
    /// What it is for, for people.
    #[serde(default)]
    pub title: String,
    /// Which records it covers.
    #[serde(rename = "match", default)]
    pub matches: Match,
    /// When the period starts.
    pub trigger: Trigger,
    /// The event's name, for `trigger = "event"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// What happens at the end.
    pub action: Action,
    /// The period the schedule gives this class, when it gives one (a record whose own code
    /// differs is flagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    format_version: u32,
    #[serde(default)]
    name: String,
    #[serde(default)]
    codes: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "rule")]
    rules: Vec<Rule>,
}

/// A parsed schedule, with the version (digest) of the bytes it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// `sha256:` of the policy file's bytes: the version recorded wherever it is applied.
    pub sha256: String,
    /// The file's bytes, kept in the store when a batch is proposed under it.
    pub text: String,
    codes: BTreeMap<String, Period>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// The facts about a record that a schedule looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFacts {
    /// 全宗号.
    pub fonds: String,
    /// Agency-Code of the transfer that brought it.
    pub agency: String,
    /// 机构或问题.
    pub organization: String,
    /// 门类代码.
    pub category: String,
    /// 年度.
    pub year: i32,
    /// The code it was received with (in its 档号).
    pub retention: String,
    /// The code set by re-appraisal, if any; it decides over `retention`.
    pub retention_appraised: Option<String>,
    /// 办结日期 as recorded (YYYY-MM-DD, YYYY-MM or YYYY).
    pub closed_date: Option<String>,
    /// Names of the metadata fields present.
    pub present: Vec<String>,
    /// Named events recorded for the record (`retention event`), by name: the day each
    /// happened.
    pub events: BTreeMap<String, NaiveDate>,
}

/// A record judged against a schedule as of a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The rule that applied; None when none matched.
    pub rule: Option<String>,
    /// Its action (`review` when no rule matched).
    pub action: Action,
    /// The effective retention code (应保管期限).
    pub retention: String,
    /// First day of the period, when it can be known.
    pub start: Option<NaiveDate>,
    /// The day it falls due; None for 永久 or when the start is unknown.
    pub due_on: Option<NaiveDate>,
    /// Whole years kept as of the date (已保管期限).
    pub kept_years: u32,
    /// Whether the period has run as of the date.
    pub due: bool,
    /// Problems and notes (`PERIOD_DIFFERS`, `CODE_UNKNOWN`, …).
    pub flags: Vec<String>,
}

impl Policy {
    /// The schedule strongroom ships.
    pub fn default_schedule() -> Result<Policy, RetentionError> {
        Policy::parse(DEFAULT_POLICY)
    }

    /// Parses a policy file's text.
    pub fn parse(text: &str) -> Result<Policy, RetentionError> {
        let bad = |m: String| RetentionError::Policy(m);
        let file: PolicyFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if file.format_version != POLICY_FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {} is not one this strongroom reads ({POLICY_FORMAT_VERSION})",
                file.format_version
            )));
        }
        let mut codes = BTreeMap::new();
        for (code, v) in &file.codes {
            let period = match v {
                toml::Value::String(s) if s == "permanent" => Period::Permanent,
                toml::Value::Integer(n) if (1..=999).contains(n) => Period::Years(*n as u32),
                other => {
                    return Err(bad(format!(
                        "codes.{code} must be \"permanent\" or a number of years from 1 to 999, not {other}"
                    )))
                }
            };
            codes.insert(code.clone(), period);
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &file.rules {
            if r.id.trim().is_empty() || !seen.insert(r.id.clone()) {
                return Err(bad(format!("rule id {:?} is empty or used twice", r.id)));
            }
            if r.trigger == Trigger::Event && r.event.as_deref().is_none_or(str::is_empty) {
                return Err(bad(format!(
                    "rule {} has trigger \"event\" but names no event",
                    r.id
                )));
            }
        }
        if file.rules.is_empty() {
            return Err(bad("the policy has no [[rule]]".into()));
        }
        Ok(Policy {
            name: file.name,
            sha256: format!("sha256:{}", crate::digest::sha256_hex(text.as_bytes())),
            text: text.to_string(),
            codes,
            rules: file.rules,
        })
    }

    /// What a retention code means under this schedule.
    pub fn period_of(&self, code: &str) -> Option<Period> {
        if let Some(p) = self.codes.get(code) {
            return Some(*p);
        }
        if code == "Y" {
            return Some(Period::Permanent);
        }
        let n = code.strip_prefix('D')?;
        if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().map(Period::Years)
    }

    /// The code that decides a record's period: as re-appraised when that keeps it longer
    /// than the code it was received with, else as received. Re-appraisal only ever lengthens
    /// (`retention extend`), so a shorter `retention_appraised` did not come from it (an
    /// agency's record.json, a whole-file amendment) and is ignored, with a flag saying so.
    pub fn effective_retention(&self, r: &RecordFacts) -> (String, Option<String>) {
        let Some(a) = r.retention_appraised.as_deref() else {
            return (r.retention.clone(), None);
        };
        let rank = |code: &str| match self.period_of(code) {
            Some(Period::Permanent) => Some(u64::MAX),
            Some(Period::Years(n)) => Some(u64::from(n)),
            None => None,
        };
        match (rank(&r.retention), rank(a)) {
            (Some(received), Some(appraised)) if appraised > received => (a.to_string(), None),
            (None, Some(_)) => (a.to_string(), None),
            _ => (
                r.retention.clone(),
                Some(format!(
                    "APPRAISAL_IGNORED: retention_appraised {a} would not keep the record longer \
                     than {}; only `retention extend` re-appraises",
                    r.retention
                )),
            ),
        }
    }

    /// The first rule that matches.
    pub fn rule_for(&self, r: &RecordFacts) -> Option<&Rule> {
        self.rules.iter().find(|rule| {
            let m = &rule.matches;
            let ok = |list: &Option<Vec<String>>, v: &str| {
                list.as_ref().is_none_or(|l| l.iter().any(|x| x == v))
            };
            ok(&m.fonds, &r.fonds)
                && ok(&m.agency, &r.agency)
                && ok(&m.organization, &r.organization)
                && ok(&m.category, &r.category)
                && ok(&m.retention, &self.effective_retention(r).0)
                && m.has.iter().all(|f| r.present.contains(f))
        })
    }

    /// Judges a record as of `as_of`.
    pub fn evaluate(&self, r: &RecordFacts, as_of: NaiveDate) -> Evaluation {
        let (retention, ignored) = self.effective_retention(r);
        let mut flags: Vec<String> = ignored.into_iter().collect();
        let rule = self.rule_for(r);
        let Some(rule) = rule else {
            flags.push("NO_RULE: no rule of the schedule matches this record".into());
            return Evaluation {
                rule: None,
                action: Action::Review,
                retention,
                start: None,
                due_on: None,
                kept_years: 0,
                due: false,
                flags,
            };
        };
        if let Some(p) = &rule.period {
            if *p != retention {
                flags.push(format!(
                    "PERIOD_DIFFERS: the schedule gives this class {p}, the record has {retention}"
                ));
            }
        }
        let start = match rule.trigger {
            Trigger::YearEnd => year_end_start(r.year),
            Trigger::ClosedDate => match r.closed_date.as_deref() {
                Some(d) => closed_date_start(d),
                None => {
                    flags.push(
                        "CLOSED_DATE_MISSING: the rule counts from closed_date, which the record lacks"
                            .into(),
                    );
                    None
                }
            },
            Trigger::Event => {
                let name = rule.event.as_deref().unwrap_or_default();
                match r.events.get(name) {
                    // Like a closing date: the period starts the day after the event.
                    Some(d) => d.succ_opt(),
                    None => {
                        flags.push(format!(
                            "TRIGGER_EVENT_NOT_RECORDED: the period starts the day after event \
                             {name:?}, which is not recorded for this record"
                        ));
                        None
                    }
                }
            }
        };
        let period = self.period_of(&retention);
        if period.is_none() {
            flags.push(format!(
                "CODE_UNKNOWN: the schedule does not say what retention code {retention} means"
            ));
        }
        let due_on = match (period, start) {
            (Some(Period::Years(n)), Some(s)) => add_years(s, n),
            _ => None,
        };
        Evaluation {
            rule: Some(rule.id.clone()),
            action: rule.action,
            retention,
            start,
            due_on,
            kept_years: start.map(|s| whole_years(s, as_of)).unwrap_or(0),
            due: due_on.is_some_and(|d| as_of >= d),
            flags,
        }
    }
}

/// 1 January of the year after `year`.
pub fn year_end_start(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)
}

/// The day after a closing date; for a partial date (YYYY-MM, YYYY) the day after its last
/// day, so that nothing is counted early.
pub fn closed_date_start(closed: &str) -> Option<NaiveDate> {
    let last_day = match closed.len() {
        10 => NaiveDate::parse_from_str(closed, "%Y-%m-%d").ok()?,
        7 => {
            let first = NaiveDate::parse_from_str(&format!("{closed}-01"), "%Y-%m-%d").ok()?;
            first.checked_add_months(Months::new(1))?.pred_opt()?
        }
        4 => NaiveDate::from_ymd_opt(closed.parse().ok()?, 12, 31)?,
        _ => return None,
    };
    last_day.succ_opt()
}

/// `date` plus `n` calendar years; 29 February becomes 28 February in a common year.
pub fn add_years(date: NaiveDate, n: u32) -> Option<NaiveDate> {
    date.checked_add_months(Months::new(n.checked_mul(12)?))
}

/// Whole years from `start` to `as_of` (0 before the start).
pub fn whole_years(start: NaiveDate, as_of: NaiveDate) -> u32 {
    if as_of < start {
        return 0;
    }
    let mut y = (as_of.year() - start.year()).max(0) as u32;
    while y > 0 && add_years(start, y).is_none_or(|d| d > as_of) {
        y -= 1;
    }
    y
}

/// The calendar date in China Standard Time (UTC+8, no daylight saving) at instant `t`.
pub fn cst_date(t: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    (t + chrono::Duration::hours(8)).date_naive()
}

/// Today's calendar date in China Standard Time.
pub fn today_cst() -> NaiveDate {
    cst_date(chrono::Utc::now())
}

/// Parses an `--as-of` date: YYYY-MM-DD, a calendar date in China Standard Time.
pub fn parse_as_of(s: &str) -> Result<NaiveDate, RetentionError> {
    if s.len() == 10 && crate::record::valid_date(s) {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(d);
        }
    }
    Err(RetentionError::Usage(format!(
        "--as-of {s:?} is not a date: give YYYY-MM-DD (a calendar date in China Standard Time)"
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn ws(year: i32, code: &str) -> RecordFacts {
        RecordFacts {
            fonds: "0194".into(),
            agency: "AG".into(),
            organization: "BGS".into(),
            category: "WS".into(),
            year,
            retention: code.into(),
            present: vec!["title".into()],
            ..Default::default()
        }
    }

    fn case(year: i32, code: &str, closed: &str) -> RecordFacts {
        let mut r = ws(year, code);
        r.closed_date = Some(closed.into());
        r.present.push("closed_date".into());
        r
    }

    #[test]
    fn the_default_schedule_parses() {
        let p = Policy::default_schedule().unwrap();
        assert!(p.sha256.starts_with("sha256:"));
        assert_eq!(p.period_of("Y"), Some(Period::Permanent));
        assert_eq!(p.period_of("D30"), Some(Period::Years(30)));
        assert_eq!(p.period_of("D10"), Some(Period::Years(10)));
        assert_eq!(p.period_of("D15"), Some(Period::Years(15)));
        assert_eq!(p.period_of("C"), None);
        assert_eq!(p.period_of("D05"), None);
    }

    /// (record, as-of, rule, due on, due, years kept)
    type Row = (
        RecordFacts,
        &'static str,
        &'static str,
        Option<&'static str>,
        bool,
        u32,
    );

    #[test]
    fn due_dates_as_a_table() {
        let p = Policy::default_schedule().unwrap();
        let table: Vec<Row> = vec![
            // Year-end trigger: from 1 January after the year.
            (
                ws(2016, "D10"),
                "2026-12-31",
                "ws-year-end",
                Some("2027-01-01"),
                false,
                9,
            ),
            (
                ws(2016, "D10"),
                "2027-01-01",
                "ws-year-end",
                Some("2027-01-01"),
                true,
                10,
            ),
            (
                ws(2016, "D30"),
                "2046-12-31",
                "ws-year-end",
                Some("2047-01-01"),
                false,
                29,
            ),
            (
                ws(2016, "D30"),
                "2047-01-01",
                "ws-year-end",
                Some("2047-01-01"),
                true,
                30,
            ),
            // A record of a leap year counts the same.
            (
                ws(2020, "D10"),
                "2031-01-01",
                "ws-year-end",
                Some("2031-01-01"),
                true,
                10,
            ),
            // Before the period starts nothing is kept yet.
            (
                ws(2016, "D10"),
                "2016-06-01",
                "ws-year-end",
                Some("2027-01-01"),
                false,
                0,
            ),
            // Permanent: never due.
            (
                ws(2016, "Y"),
                "9999-12-31",
                "ws-year-end",
                None,
                false,
                7982,
            ),
            (
                case(2016, "Y", "2016-05-01"),
                "9999-12-31",
                "closed-case",
                None,
                false,
                7983,
            ),
            // Closed-date trigger: from the day after.
            (
                case(2016, "D10", "2016-05-12"),
                "2026-05-12",
                "closed-case",
                Some("2026-05-13"),
                false,
                9,
            ),
            (
                case(2016, "D10", "2016-05-12"),
                "2026-05-13",
                "closed-case",
                Some("2026-05-13"),
                true,
                10,
            ),
            // Closed on the last day of the year: starts 1 January.
            (
                case(2016, "D10", "2016-12-31"),
                "2027-01-01",
                "closed-case",
                Some("2027-01-01"),
                true,
                10,
            ),
            // Closed 28 February of a leap year: starts 29 February; 29 February + 10 years
            // is 28 February 2030.
            (
                case(2020, "D10", "2020-02-28"),
                "2030-02-27",
                "closed-case",
                Some("2030-02-28"),
                false,
                9,
            ),
            (
                case(2020, "D10", "2020-02-28"),
                "2030-02-28",
                "closed-case",
                Some("2030-02-28"),
                true,
                10,
            ),
            // ... and + 4 years is 29 February again.
            (
                case(2020, "D4", "2020-02-28"),
                "2024-02-29",
                "closed-case",
                Some("2024-02-29"),
                true,
                4,
            ),
            // Closed on 29 February: starts 1 March.
            (
                case(2020, "D10", "2020-02-29"),
                "2030-03-01",
                "closed-case",
                Some("2030-03-01"),
                true,
                10,
            ),
            // Partial closing dates count from after their last day.
            (
                case(2016, "D10", "2016-05"),
                "2026-05-31",
                "closed-case",
                Some("2026-06-01"),
                false,
                9,
            ),
            (
                case(2016, "D10", "2016"),
                "2027-01-01",
                "closed-case",
                Some("2027-01-01"),
                true,
                10,
            ),
        ];
        for (i, (r, as_of, rule, due_on, due, kept)) in table.into_iter().enumerate() {
            let e = p.evaluate(&r, d(as_of));
            assert_eq!(e.rule.as_deref(), Some(rule), "row {i}");
            assert_eq!(e.due_on, due_on.map(d), "row {i}");
            assert_eq!(e.due, due, "row {i}");
            assert_eq!(e.kept_years, kept, "row {i}");
        }
    }

    #[test]
    fn re_appraisal_decides_over_the_code_received() {
        let p = Policy::default_schedule().unwrap();
        let mut r = ws(2016, "D10");
        r.retention_appraised = Some("D30".into());
        let e = p.evaluate(&r, d("2030-01-01"));
        assert_eq!(e.retention, "D30");
        assert!(!e.due);
        assert_eq!(e.due_on, Some(d("2047-01-01")));
        r.retention_appraised = Some("Y".into());
        assert!(!p.evaluate(&r, d("9000-01-01")).due);
        // A shorter "re-appraisal" did not come from `extend`: ignored, and flagged.
        r.retention_appraised = Some("D1".into());
        let e = p.evaluate(&r, d("2020-01-01"));
        assert_eq!(e.retention, "D10");
        assert!(!e.due);
        assert!(e.flags.iter().any(|f| f.starts_with("APPRAISAL_IGNORED")));
    }

    #[test]
    fn rules_match_by_metadata_in_order_and_flag_what_they_cannot_judge() {
        let text = r#"
format_version = 1
name = "t"
[codes]
D30 = 30
[[rule]]
id = "agency-x"
match = { agency = ["X"], retention = ["D30"] }
trigger = "year_end"
action = "transfer"
period = "Y"
[[rule]]
id = "ev"
match = { fonds = ["0200"] }
trigger = "event"
event = "project-closed"
action = "destroy"
[[rule]]
id = "rest"
match = { organization = ["BGS"] }
trigger = "year_end"
action = "destroy"
"#;
        let p = Policy::parse(text).unwrap();
        let mut r = ws(2000, "D30");
        r.agency = "X".into();
        let e = p.evaluate(&r, d("2040-01-01"));
        assert_eq!(e.rule.as_deref(), Some("agency-x"));
        assert_eq!(e.action, Action::Transfer);
        assert!(e.due);
        assert!(e.flags.iter().any(|f| f.starts_with("PERIOD_DIFFERS")));
        let mut r2 = ws(2000, "D10");
        r2.fonds = "0200".into();
        let e2 = p.evaluate(&r2, d("2040-01-01"));
        assert_eq!(e2.rule.as_deref(), Some("ev"));
        assert!(!e2.due);
        assert!(e2
            .flags
            .iter()
            .any(|f| f.starts_with("TRIGGER_EVENT_NOT_RECORDED")));
        let mut r3 = ws(2000, "D10");
        r3.organization = "ZZ".into();
        let e3 = p.evaluate(&r3, d("2040-01-01"));
        assert_eq!(e3.rule, None);
        assert!(!e3.due);
        // A closed-date rule on a record without the date.
        let p0 = Policy::default_schedule().unwrap();
        let mut r4 = ws(2000, "D10");
        r4.present.push("closed_date".into());
        let e4 = p0.evaluate(&r4, d("2040-01-01"));
        assert!(!e4.due);
        assert!(e4
            .flags
            .iter()
            .any(|f| f.starts_with("CLOSED_DATE_MISSING")));
    }

    #[test]
    fn the_example_event_schedule_parses_and_counts_licences_from_their_expiry() {
        let p = Policy::parse(include_str!(
            "../../retention-policies/licence-expiry.example.toml"
        ))
        .unwrap();
        let mut r = ws(2016, "D10");
        r.organization = "XK".into();
        let e = p.evaluate(&r, d("2040-01-01"));
        assert_eq!(e.rule.as_deref(), Some("licence-expiry"));
        assert!(!e.due);
        r.events.insert("licence-expired".into(), d("2020-06-30"));
        assert_eq!(
            p.evaluate(&r, d("2040-01-01")).due_on,
            Some(d("2030-07-01"))
        );
        // Other records keep the shipped rules.
        assert_eq!(
            p.evaluate(&ws(2016, "D10"), d("2040-01-01"))
                .rule
                .as_deref(),
            Some("ws-year-end")
        );
    }

    /// (event date or none, code, as-of, due on, due, years kept)
    type EventRow = (
        Option<&'static str>,
        &'static str,
        &'static str,
        Option<&'static str>,
        bool,
        u32,
    );

    #[test]
    fn event_triggers_count_from_the_day_after_the_recorded_date() {
        let p = Policy::parse(
            "format_version = 1\n[[rule]]\nid = 'licence'\ntrigger = 'event'\n\
             event = 'licence-expired'\naction = 'destroy'\n",
        )
        .unwrap();
        let table: Vec<EventRow> = vec![
            (None, "D10", "2099-01-01", None, false, 0),
            (
                Some("2020-06-30"),
                "D5",
                "2025-06-30",
                Some("2025-07-01"),
                false,
                4,
            ),
            (
                Some("2020-06-30"),
                "D5",
                "2025-07-01",
                Some("2025-07-01"),
                true,
                5,
            ),
            // On the last day of a year: from 1 January, like the year-end trigger.
            (
                Some("2020-12-31"),
                "D10",
                "2031-01-01",
                Some("2031-01-01"),
                true,
                10,
            ),
            // 28 February of a leap year: from 29 February; + 1 year is 28 February.
            (
                Some("2024-02-28"),
                "D1",
                "2025-02-27",
                Some("2025-02-28"),
                false,
                0,
            ),
            (
                Some("2024-02-28"),
                "D1",
                "2025-02-28",
                Some("2025-02-28"),
                true,
                1,
            ),
            (Some("2020-06-30"), "Y", "9999-12-31", None, false, 7979),
        ];
        for (i, (event, code, as_of, due_on, due, kept)) in table.into_iter().enumerate() {
            let mut r = ws(2016, code);
            if let Some(e) = event {
                r.events.insert("licence-expired".into(), d(e));
            }
            // Another event's name does not start the period.
            r.events.insert("case-closed".into(), d("2001-01-01"));
            let e = p.evaluate(&r, d(as_of));
            assert_eq!(e.due_on, due_on.map(d), "row {i}");
            assert_eq!(e.due, due, "row {i}");
            assert_eq!(e.kept_years, kept, "row {i}");
            assert_eq!(
                e.flags
                    .iter()
                    .any(|f| f.starts_with("TRIGGER_EVENT_NOT_RECORDED")),
                event.is_none(),
                "row {i}"
            );
        }
    }

    #[test]
    fn bad_policies_are_refused_with_the_reason() {
        for (text, says) in [
            ("format_version = 2\n[[rule]]\nid='a'\ntrigger='year_end'\naction='destroy'\n", "format_version"),
            ("format_version = 1\n", "no [[rule]]"),
            ("format_version = 1\n[codes]\nD30 = 'forever'\n[[rule]]\nid='a'\ntrigger='year_end'\naction='destroy'\n", "codes.D30"),
            ("format_version = 1\n[[rule]]\nid='a'\ntrigger='event'\naction='destroy'\n", "names no event"),
            ("format_version = 1\n[[rule]]\nid='a'\ntrigger='year_end'\naction='burn'\n", "burn"),
            ("format_version = 1\n[[rule]]\nid='a'\ntrigger='year_end'\naction='destroy'\n[[rule]]\nid='a'\ntrigger='year_end'\naction='destroy'\n", "used twice"),
        ] {
            let e = Policy::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{e} should say {says}");
        }
    }

    #[test]
    fn as_of_is_a_calendar_date() {
        assert_eq!(parse_as_of("2027-01-01").unwrap(), d("2027-01-01"));
        for bad in [
            "2027-1-1",
            "2027-02-30",
            "tomorrow",
            "2027-01-01T00:00:00+08:00",
        ] {
            assert!(parse_as_of(bad).is_err(), "{bad}");
        }
        // China Standard Time is UTC+8: at 20:00 UTC it is already the next day there.
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        assert_eq!(cst_date(at("2026-12-31T15:59:59Z")), d("2026-12-31"));
        assert_eq!(cst_date(at("2026-12-31T16:00:00Z")), d("2027-01-01"));
    }
}
