//! Re-appraisal (鉴定) and field corrections (著录修改): new versions of a record's metadata,
//! never a change to its 档号 or object id.
//!
//! `extend` sets `retention_appraised` in record.json (the 档号 keeps the code it was
//! received with; the record shows both) with a `record.reappraised` entry; `set` changes
//! named fields with a `record.amended` entry that lists them.

use serde_json::Value;

use super::policy::Policy;
use super::RetentionError;
use crate::access::{self, Amendment, MetadataChange};
use crate::sign::ArchiveKey;
use crate::store::Store;

/// The fields that make up the 档号 (DA/T 22): never changed by a correction.
pub const REFCODE_FIELDS: [&str; 7] = [
    "reference_code",
    "fonds",
    "category",
    "year",
    "retention",
    "organization",
    "item_number",
];

/// Parses `--to`: `Y`, `D30`, or a number of years.
pub fn parse_retention_target(to: &str) -> Result<String, RetentionError> {
    let t = to.trim();
    let code = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        format!("D{}", t.trim_start_matches('0'))
    } else {
        t.to_string()
    };
    if crate::refcode::is_retention_code(&code) {
        Ok(code)
    } else {
        Err(RetentionError::Usage(format!(
            "--to {to:?} is not a retention period: give Y (永久), D30, D10, D followed by \
             years, or a number of years"
        )))
    }
}

/// Orders retention codes by length of keeping: None when a code means nothing.
fn rank(policy: &Policy, code: &str) -> Option<u64> {
    match policy.period_of(code)? {
        super::policy::Period::Permanent => Some(u64::MAX),
        super::policy::Period::Years(n) => Some(u64::from(n)),
    }
}

async fn object_of(
    store: &Store,
    refcode: &str,
) -> Result<serde_json::Map<String, Value>, RetentionError> {
    let bytes = access::current_record_json(store, refcode).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(RetentionError::Refused(format!(
            "the stored record.json of {refcode} is not a JSON object"
        ))),
    }
}

/// Re-appraises a record to a longer period (`--to`): a new version of its metadata.
pub async fn extend(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    refcode: &str,
    to: &str,
    reason: &str,
) -> Result<Amendment, RetentionError> {
    if reason.trim().is_empty() {
        return Err(RetentionError::Usage(
            "a re-appraisal needs --reason".into(),
        ));
    }
    let to = parse_retention_target(to)?;
    let policy = Policy::default_schedule()?;
    let lock = store
        .lock_writer_waiting(actor, crate::ledger::commit::EVENT_LOCK_WAIT)
        .await?;
    let result = async {
        let mut meta = object_of(store, refcode).await?;
        let received = meta
            .get("retention")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let from = meta
            .get("retention_appraised")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or(received);
        match (rank(&policy, &from), rank(&policy, &to)) {
            (Some(a), Some(b)) if b > a => {}
            _ => {
                return Err(RetentionError::Refused(format!(
                    "{refcode} is kept {from}; extending to {to} would not keep it longer \
                     (a shorter period is never set by extend)"
                )))
            }
        }
        meta.insert("retention_appraised".into(), Value::String(to.clone()));
        let bytes = pretty_json(&Value::Object(meta));
        access::new_metadata_version(
            store,
            key,
            &lock,
            refcode,
            bytes,
            reason,
            actor,
            MetadataChange::Reappraisal { from, to },
        )
        .await
        .map_err(RetentionError::from)
    }
    .await;
    let released = lock.release().await;
    let done = result?;
    released?;
    Ok(done)
}

fn pretty_json(v: &Value) -> bytes::Bytes {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b.into()
}

/// Corrects named fields (`FIELD=VALUE`; an empty value removes an optional field): a new
/// version whose entry lists the fields changed. Fields of the 档号, `files` and
/// `retention_appraised` (set by `extend`) are refused.
pub async fn set_fields(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    refcode: &str,
    assignments: &[String],
    reason: &str,
) -> Result<Amendment, RetentionError> {
    if reason.trim().is_empty() {
        return Err(RetentionError::Usage("a correction needs --reason".into()));
    }
    let mut parsed = Vec::new();
    for a in assignments {
        let Some((field, value)) = a.split_once('=') else {
            return Err(RetentionError::Usage(format!(
                "--set {a:?}: give FIELD=VALUE"
            )));
        };
        let field = field.trim();
        if REFCODE_FIELDS.contains(&field) {
            return Err(RetentionError::Refused(format!(
                "{field} is part of the 档号 and cannot be changed by a correction (the 档号 and \
                 the object id never change)"
            )));
        }
        if field == "files" || field == "retention_appraised" {
            return Err(RetentionError::Refused(format!(
                "{field} cannot be set by a correction{}",
                if field == "files" {
                    ": the files are the record itself"
                } else {
                    "; use `retention extend`"
                }
            )));
        }
        if field.is_empty() {
            return Err(RetentionError::Usage(format!(
                "--set {a:?}: empty field name"
            )));
        }
        parsed.push((field.to_string(), value.to_string()));
    }
    if parsed.is_empty() {
        return Err(RetentionError::Usage(
            "give at least one --set FIELD=VALUE".into(),
        ));
    }
    let lock = store
        .lock_writer_waiting(actor, crate::ledger::commit::EVENT_LOCK_WAIT)
        .await?;
    let result = async {
        let mut meta = object_of(store, refcode).await?;
        let mut changed = Vec::new();
        for (field, value) in &parsed {
            let old = meta.get(field).cloned();
            let new = if value.is_empty() {
                None
            } else if value.starts_with('[') || value.starts_with('{') {
                Some(serde_json::from_str(value).map_err(|e| {
                    RetentionError::Usage(format!("--set {field}: not valid JSON: {e}"))
                })?)
            } else if matches!(old, Some(Value::Number(_))) {
                Some(Value::Number(value.parse().map_err(|_| {
                    RetentionError::Usage(format!("--set {field}: {value:?} is not a number"))
                })?))
            } else {
                Some(Value::String(value.clone()))
            };
            if old == new {
                continue;
            }
            match new {
                Some(v) => {
                    meta.insert(field.clone(), v);
                }
                None => {
                    meta.remove(field);
                }
            }
            if !changed.contains(field) {
                changed.push(field.clone());
            }
        }
        if changed.is_empty() {
            return Err(RetentionError::Refused(
                "nothing would change: every field already has that value".into(),
            ));
        }
        let bytes = pretty_json(&Value::Object(meta));
        access::new_metadata_version(
            store,
            key,
            &lock,
            refcode,
            bytes,
            reason,
            actor,
            MetadataChange::Correction { fields: changed },
        )
        .await
        .map_err(RetentionError::from)
    }
    .await;
    let released = lock.release().await;
    let done = result?;
    released?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_targets() {
        assert_eq!(parse_retention_target("Y").ok().as_deref(), Some("Y"));
        assert_eq!(parse_retention_target("D30").ok().as_deref(), Some("D30"));
        assert_eq!(parse_retention_target("50").ok().as_deref(), Some("D50"));
        for bad in ["", "0", "forever", "D0", "d30", "1000"] {
            assert!(parse_retention_target(bad).is_err(), "{bad}");
        }
    }
}
