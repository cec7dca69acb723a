//! The due list (到期档案): records whose retention period has run as of a date, in the
//! columns of a destruction list (销毁清册), as text, CSV and JSON.
//!
//! Reads committed records only; a record under an active hold is never due.

use chrono::NaiveDate;
use serde::Serialize;

use super::policy::{Action, Policy, RecordFacts};
use super::state::{DueItem, RetentionState};
use super::RetentionError;
use crate::intake::object_root;
use crate::ocfl::inventory::Inventory;
use crate::store::{self, Store};

/// A committed record as the retention engine reads it.
#[derive(Debug, Clone)]
pub struct RecordInfo {
    /// 档号.
    pub reference_code: String,
    /// OCFL object id.
    pub object_id: String,
    /// 题名 (as now described).
    pub title: String,
    /// The head's record.json.
    pub metadata: serde_json::Value,
    /// The inventory as committed.
    pub inventory: Inventory,
    /// sha512 of the root inventory.json as stored.
    pub inventory_sha512: String,
    /// What the schedule looks at.
    pub facts: RecordFacts,
    /// Main and attachment files (页数/文件数).
    pub files: u64,
}

/// Reads one committed record; None when it is not (or no longer) in the archive.
pub async fn read_record(
    store: &Store,
    reference_code: &str,
    agency: &str,
    ledger_size: u64,
) -> Result<Option<RecordInfo>, RetentionError> {
    let Ok(rc) = crate::refcode::RefCode::parse(reference_code) else {
        return Ok(None);
    };
    let object_id = crate::intake::object_id(&rc);
    let root = object_root(store, &object_id);
    let Some(inv) = store.committed_inventory(&root, ledger_size).await? else {
        return Ok(None);
    };
    // The committed head's inventory, as stored (the root one may be a newer, uncommitted
    // version): what `record.destroyed` names.
    let inv_bytes = store
        .get_bytes(&store::join(&root, &format!("{}/inventory.json", inv.head)))
        .await?
        .unwrap_or_default();
    let state = inv.logical_state(&inv.head).unwrap_or_default();
    let metadata = match state.get("record.json").and_then(|d| inv.content_path(d)) {
        Some(cp) => store
            .get_bytes(&store::join(&root, cp))
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    };
    let s = |k: &str| {
        metadata
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let files = metadata
        .get("files")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter(|f| {
                    matches!(
                        f.get("role").and_then(|r| r.as_str()),
                        Some("main" | "attachment")
                    )
                })
                .count() as u64
        })
        .unwrap_or(0);
    let facts = facts_of(&metadata, &rc, agency);
    Ok(Some(RecordInfo {
        reference_code: rc.to_string(),
        object_id,
        title: s("title"),
        inventory_sha512: crate::digest::sha512_hex(&inv_bytes),
        metadata,
        inventory: inv,
        facts,
        files,
    }))
}

/// What a schedule looks at in a record's metadata (record.json) and the agency that
/// transferred it. Named events are the retention state's, not the record's: the caller adds
/// them.
pub fn facts_of(
    metadata: &serde_json::Value,
    rc: &crate::refcode::RefCode,
    agency: &str,
) -> RecordFacts {
    let s = |k: &str| {
        metadata
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    RecordFacts {
        fonds: s("fonds"),
        agency: agency.to_string(),
        organization: s("organization"),
        category: s("category"),
        year: metadata
            .get("year")
            .and_then(|y| y.as_i64())
            .unwrap_or(i64::from(rc.year())) as i32,
        retention: Some(s("retention"))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| rc.retention().to_string()),
        retention_appraised: metadata
            .get("retention_appraised")
            .and_then(|v| v.as_str())
            .map(String::from),
        closed_date: metadata
            .get("closed_date")
            .and_then(|v| v.as_str())
            .map(String::from),
        present: metadata
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default(),
        events: Default::default(),
    }
}

/// Every committed record with its agency, by 档号.
pub async fn all_records(store: &Store) -> Result<Vec<RecordInfo>, RetentionError> {
    let size = store.ledger_size().await?;
    let mut out = Vec::new();
    for t in crate::access::transfer_records(store).await? {
        for r in &t.records {
            if let Some(info) =
                read_record(store, &r.reference_code, &t.transfer.agency_code, size).await?
            {
                out.push(info);
            }
        }
    }
    out.sort_by(|a, b| a.reference_code.cmp(&b.reference_code));
    out.dedup_by(|a, b| a.reference_code == b.reference_code);
    Ok(out)
}

/// The due list as of a date.
#[derive(Debug, Clone, Serialize)]
pub struct DueList {
    /// The date judged as of (China Standard Time).
    pub as_of: String,
    /// The policy's name.
    pub policy_name: String,
    /// `sha256:` of the policy.
    pub policy_sha256: String,
    /// Only this action, when asked.
    pub action: Option<String>,
    /// The records due, numbered from 1.
    pub items: Vec<DueItem>,
    /// Due but under an active hold, so left out: 档号 and hold ids.
    pub held: Vec<(String, Vec<String>)>,
    /// Not due because their rule counts from a named event not yet recorded for them.
    pub waiting: Vec<Waiting>,
    /// Records checked.
    pub records_checked: u64,
}

/// A record whose rule waits for a named event (`trigger = "event"`) that is not recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    /// 档号.
    pub reference_code: String,
    /// 题名.
    pub title: String,
    /// The rule.
    pub rule: String,
    /// The event it waits for.
    pub event: String,
    /// Why it is not due, in words.
    pub reason: String,
}

/// Builds the due list as of `as_of`, for one action or all.
pub async fn due_list(
    store: &Store,
    policy: &Policy,
    as_of: NaiveDate,
    action: Option<Action>,
) -> Result<DueList, RetentionError> {
    let state = RetentionState::load(store).await?;
    let records = all_records(store).await?;
    let mut list = DueList {
        as_of: as_of.to_string(),
        policy_name: policy.name.clone(),
        policy_sha256: policy.sha256.clone(),
        action: action.map(|a| a.as_str().to_string()),
        items: Vec::new(),
        held: Vec::new(),
        waiting: Vec::new(),
        records_checked: records.len() as u64,
    };
    for r in &records {
        let mut facts = r.facts.clone();
        facts.events = state.event_dates(&r.reference_code);
        let e = policy.evaluate(&facts, as_of);
        if action.is_some_and(|a| a != e.action) {
            continue;
        }
        if !e.due {
            if let Some(w) = e
                .flags
                .iter()
                .find(|f| f.starts_with("TRIGGER_EVENT_NOT_RECORDED"))
            {
                let rule = e.rule.clone().unwrap_or_default();
                let event = policy
                    .rules
                    .iter()
                    .find(|x| x.id == rule)
                    .and_then(|x| x.event.clone())
                    .unwrap_or_default();
                list.waiting.push(Waiting {
                    reference_code: r.reference_code.clone(),
                    title: r.title.clone(),
                    reason: format!("not due: {w}; record it with `strongroom retention event`"),
                    rule,
                    event,
                });
            }
            continue;
        }
        let holds = state.holds_on(&r.reference_code);
        if !holds.is_empty() {
            list.held.push((
                r.reference_code.clone(),
                holds.iter().map(|h| h.doc.hold.clone()).collect(),
            ));
            continue;
        }
        let due_on = e.due_on.map(|d| d.to_string()).unwrap_or_default();
        let rule = e.rule.clone().unwrap_or_default();
        let mut remarks = format!("{rule}: {} due {due_on}", e.action.as_str());
        if e.retention != r.facts.retention {
            remarks.push_str(&format!(
                "; re-appraised from {} to {}",
                r.facts.retention, e.retention
            ));
        }
        // The 备注 names the event a period was counted from, so the list can be checked.
        if let Some((name, day)) = policy
            .rules
            .iter()
            .find(|x| x.id == rule)
            .and_then(|x| x.event.as_ref())
            .and_then(|n| facts.events.get(n).map(|d| (n, d)))
        {
            remarks.push_str(&format!("; counted from event {name} of {day}"));
        }
        for f in &e.flags {
            remarks.push_str("; ");
            remarks.push_str(f);
        }
        list.items.push(DueItem {
            seq: list.items.len() as u64 + 1,
            title: r.title.clone(),
            year: i64::from(r.facts.year),
            reference_code: r.reference_code.clone(),
            object_id: r.object_id.clone(),
            retention: e.retention.clone(),
            kept_years: e.kept_years,
            files: r.files,
            remarks,
            rule,
            action: e.action.as_str().to_string(),
            due_on,
            flags: e.flags.clone(),
        });
    }
    Ok(list)
}

/// The column heads of a destruction list (销毁清册).
pub const COLUMNS: [&str; 8] = [
    "序号",
    "题名",
    "年度",
    "档号",
    "应保管期限",
    "已保管期限",
    "页数/文件数",
    "备注",
];

fn row(i: &DueItem) -> [String; 8] {
    [
        i.seq.to_string(),
        i.title.clone(),
        i.year.to_string(),
        i.reference_code.clone(),
        i.retention.clone(),
        format!("{}年", i.kept_years),
        i.files.to_string(),
        i.remarks.clone(),
    ]
}

/// RFC 4180 CSV with the 销毁清册 columns, UTF-8 with a byte-order mark (so that spreadsheet
/// programs used in Chinese offices read it as UTF-8), CRLF line ends.
pub fn to_csv(items: &[DueItem]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("\u{feff}");
    out.push_str(&COLUMNS.map(field).join(","));
    out.push_str("\r\n");
    for i in items {
        out.push_str(&row(i).map(|s| field(&s)).join(","));
        out.push_str("\r\n");
    }
    out
}

/// A plain-text table, one record a line, tab-separated under the column heads.
pub fn to_text(items: &[DueItem]) -> String {
    let mut out = COLUMNS.join("\t");
    out.push('\n');
    for i in items {
        out.push_str(&row(i).join("\t"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let item = DueItem {
            seq: 1,
            title: "关于\"平台\",建设".into(),
            year: 2016,
            reference_code: "0194-WS·2016-D10-BGS-0001".into(),
            object_id: "o".into(),
            retention: "D10".into(),
            kept_years: 10,
            files: 2,
            remarks: "r".into(),
            rule: "r".into(),
            action: "destroy".into(),
            due_on: "2027-01-01".into(),
            flags: vec![],
        };
        let csv = to_csv(&[item]);
        assert!(csv
            .starts_with("\u{feff}序号,题名,年度,档号,应保管期限,已保管期限,页数/文件数,备注\r\n"));
        assert!(csv.contains(
            "1,\"关于\"\"平台\"\",建设\",2016,0194-WS·2016-D10-BGS-0001,D10,10年,2,r\r\n"
        ));
    }
}
