//! The rolling fixity audit (定期检测 at scale): each run re-reads a share of the archive,
//! oldest-checked first, at a bounded rate, resumes where the last run stopped, and is
//! recorded as one `fixity.rolling` ledger entry.
//!
//! The order is the ledger's: records are taken in the order of their `record.stored`
//! entries, cyclically. A run covers the next `ceil(size × fraction)` ledger entries after the
//! previous run's `to` (a cycle ends with the run that reaches the ledger's size as it was
//! then, and the next starts again at 0), and checks every record stored in them, so
//! each record is re-read exactly once per cycle and the next one checked is always the one
//! checked longest ago. No listing, no per-record state: the cursor is the last
//! `fixity.rolling` entry, found by reading the ledger backwards from its end.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ledger::entry::{Entry, Event};
use crate::ocfl::validate::{self, BytesProgress, Severity};
use crate::sign::ArchiveKey;
use crate::store::{self, Store};
use crate::verify::{Damage, VerifyError};

/// The entry type that carries the cursor.
const ROLLING: &str = "fixity.rolling";

/// How far back the cursor is looked for before starting a new cycle: past this many entries
/// without a `fixity.rolling` entry, the audit starts again from entry 0 (which only
/// re-checks records early).
const CURSOR_LOOKBACK: u64 = 1 << 22;

/// What one rolling run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RollingReport {
    /// Ledger entries `[from, to)` covered by this run.
    pub from: u64,
    /// End of the covered range (exclusive).
    pub to: u64,
    /// The ledger's size when the run started.
    pub ledger_size: u64,
    /// Cycle number: 1 for the first pass over the ledger, +1 each time it wraps.
    pub cycle: u64,
    /// Records checked.
    pub records_checked: u64,
    /// Content files whose digests were recomputed.
    pub files_checked: u64,
    /// Bytes re-read.
    pub bytes_checked: u64,
    /// Seconds spent waiting to stay under the rate limit.
    pub throttled_seconds: f64,
    /// Problems found (error and warning level).
    pub damage: Vec<Damage>,
    /// Index of the `fixity.rolling` entry recording the run.
    pub ledger_index: Option<u64>,
}

impl RollingReport {
    /// True when no error-level damage was found.
    pub fn is_intact(&self) -> bool {
        !self.damage.iter().any(|d| d.severity == "error")
    }
}

/// Parses a fraction: `1/365`, `0.01` or `5%`. None unless 0 < fraction ≤ 1.
pub fn parse_fraction(s: &str) -> Option<f64> {
    let s = s.trim();
    let f = if let Some((a, b)) = s.split_once('/') {
        a.trim().parse::<f64>().ok()? / b.trim().parse::<f64>().ok()?
    } else if let Some(p) = s.strip_suffix('%') {
        p.trim().parse::<f64>().ok()? / 100.0
    } else {
        s.parse::<f64>().ok()?
    };
    (f.is_finite() && f > 0.0 && f <= 1.0).then_some(f)
}

/// Parses a rate in bytes per second: `50M`, `1.5G`, `800k`, `1000000` (powers of 1024).
pub fn parse_rate(s: &str) -> Option<u64> {
    let s = s.trim().trim_end_matches("/s").trim_end_matches(['B', 'b']);
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v = num.trim().parse::<f64>().ok()? * mult as f64;
    (v.is_finite() && v >= 1.0).then_some(v as u64)
}

/// Where the last rolling run stopped: (its `to`, the ledger's size when it ran, its cycle),
/// or zeros when there was none.
async fn cursor(
    ledger: &crate::ledger::log::Ledger,
    size: u64,
) -> Result<(u64, u64, u64), VerifyError> {
    let mut end = size;
    let floor = size.saturating_sub(CURSOR_LOOKBACK);
    while end > floor {
        let start = end.saturating_sub(256).max(floor);
        let entries = ledger.entries(start, end).await?;
        for bytes in entries.iter().rev() {
            let Ok(e) = Entry::decode(bytes) else {
                continue;
            };
            if e.kind == ROLLING {
                let num = |k: &str| e.fields.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
                return Ok((num("to"), num("ledger_size"), num("cycle")));
            }
        }
        end = start;
    }
    Ok((0, 0, 0))
}

/// Runs one rolling audit over `fraction` of the ledger, re-reading at most `max_rate`
/// bytes per second (None: unlimited), and records it as a `fixity.rolling` entry (durable
/// before it returns, whatever was found).
pub async fn rolling(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    fraction: f64,
    max_rate: Option<u64>,
    progress: Option<BytesProgress>,
) -> Result<RollingReport, VerifyError> {
    let ledger = crate::ledger::commit::open(store).await?;
    let size = ledger.size().await?;
    let (last_to, last_size, last_cycle) = cursor(&ledger, size).await?;
    // A run that reached the end of the ledger as it then was closes its cycle: the next
    // starts again from 0 (entries appended since, its own included, are in the next cycle).
    let (from, cycle) = if last_cycle == 0 || last_to >= last_size {
        (0, last_cycle + 1)
    } else {
        (last_to, last_cycle)
    };
    let span = ((size as f64) * fraction).ceil() as u64;
    let to = (from + span.max(1)).min(size);
    let mut report = RollingReport {
        from,
        to,
        ledger_size: size,
        cycle,
        ..Default::default()
    };
    let started = Instant::now();
    let opts = validate::Options {
        progress,
        ..Default::default()
    };
    let mut start = from;
    while start < to {
        let end = (start + 256).min(to);
        for (index, bytes) in (start..end).zip(ledger.entries(start, end).await?) {
            let Ok(e) = Entry::decode(&bytes) else {
                continue; // `ledger verify` reports it
            };
            if e.kind != "record.stored" {
                continue;
            }
            let (Some(oid), Some(rc)) = (e.field_str("object_id"), e.field_str("reference_code"))
            else {
                continue;
            };
            let root = crate::intake::object_root(store, oid);
            let damage =
                |file: Option<String>, code: &str, message: String, severity: &str| Damage {
                    reference_code: Some(rc.to_string()),
                    location: root.to_string(),
                    file,
                    code: code.into(),
                    message,
                    severity: severity.into(),
                };
            // The version 1 inventory the entry recorded is still the stored one.
            if let Some(digest) = e.field_str("inventory_sha512") {
                let inv = store::join(&root, "v1/inventory.json");
                match store.get_bytes(&inv).await? {
                    Some(b) if crate::digest::sha512_hex(&b) == digest => {}
                    Some(_) => report.damage.push(damage(
                        Some("v1/inventory.json".into()),
                        "LEDGER_INVENTORY_MISMATCH",
                        format!("the version's inventory differs from the one ledger entry {index} recorded"),
                        "error",
                    )),
                    None => report.damage.push(damage(
                        Some("v1/inventory.json".into()),
                        "RECORD_MISSING",
                        format!("ledger entry {index} records this version, but its inventory is missing"),
                        "error",
                    )),
                }
            }
            let r = validate::validate_object(store.backend().as_ref(), &root, &opts).await?;
            report.records_checked += 1;
            report.files_checked += r.files_checked;
            report.bytes_checked += r.bytes_checked;
            for f in r.findings {
                report.damage.push(damage(
                    f.path.clone(),
                    &f.code,
                    f.message.clone(),
                    match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    },
                ));
            }
            // Stay under the rate: never ahead of `bytes / rate` seconds since the start.
            if let Some(rate) = max_rate {
                let due = Duration::from_secs_f64(report.bytes_checked as f64 / rate as f64);
                let elapsed = started.elapsed();
                if due > elapsed {
                    tokio::time::sleep(due - elapsed).await;
                    report.throttled_seconds += (due - elapsed).as_secs_f64();
                }
            }
        }
        start = end;
    }
    let mut damaged: Vec<String> = report
        .damage
        .iter()
        .filter(|d| d.severity == "error")
        .filter_map(|d| d.reference_code.clone())
        .collect();
    damaged.sort();
    damaged.dedup();
    let event = Event::FixityRolling {
        cycle,
        from,
        to,
        ledger_size: size,
        records_checked: report.records_checked,
        files_checked: report.files_checked,
        bytes_checked: report.bytes_checked,
        result: if report.is_intact() {
            "intact"
        } else {
            "damaged"
        }
        .into(),
        damaged_count: damaged.len() as u64,
        damaged: damaged.into_iter().take(100).collect(),
    };
    let entries = crate::ledger::commit::encode_all(&[event], actor, &store::now_rfc3339())?;
    let appended = crate::ledger::commit::append_event(store, key, actor, &entries).await?;
    report.ledger_index = Some(appended.first_index);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_and_rates_parse() {
        assert_eq!(parse_fraction("1/4"), Some(0.25));
        assert_eq!(parse_fraction("5%"), Some(0.05));
        assert_eq!(parse_fraction("1"), Some(1.0));
        for bad in ["0", "2", "-1/3", "1/0", "x", ""] {
            assert_eq!(parse_fraction(bad), None, "{bad}");
        }
        assert_eq!(parse_rate("50M"), Some(50 << 20));
        assert_eq!(parse_rate("800k"), Some(800 << 10));
        assert_eq!(parse_rate("2G/s"), Some(2 << 30));
        assert_eq!(parse_rate("1000"), Some(1000));
        assert_eq!(parse_rate("0"), None);
        assert_eq!(parse_rate("fast"), None);
    }
}
