//! Named events (起算事件): the day something happened that a schedule's rule counts a
//! retention period from (`trigger = "event"`), such as the end of a licence's validity or a
//! case closed on appeal. Owns `retention/events/`; an event is never changed or removed, a
//! later recording of the same name for a record supersedes the earlier one.

use chrono::NaiveDate;

use super::state::RETENTION_FORMAT_VERSION;
use super::state::{change, event_path, sha256_tag, Applied, EventDoc, Plan};
use super::RetentionError;
use crate::ledger::entry::Event;
use crate::sign::ArchiveKey;
use crate::store::{self, Store};

/// Longest event name accepted (it is an identifier a schedule's rule names).
const MAX_NAME: usize = 64;

/// Checks an event's name: what a rule's `event = "…"` can name, without spaces or control
/// characters so that it reads the same in the ledger, the due list and the schedule.
pub fn check_name(name: &str) -> Result<(), RetentionError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"');
    if ok {
        Ok(())
    } else {
        Err(RetentionError::Usage(format!(
            "--name {name:?}: give the event's name as the schedule's rule names it (`event = \
             \"…\"`), 1 to {MAX_NAME} characters without spaces"
        )))
    }
}

/// Records that the named event happened on `date` for the records named (each must be in
/// the archive). The date is a calendar date in China Standard Time, not after `today`.
/// Returns what was written and the event's id (`E1`, …).
#[allow(clippy::too_many_arguments)]
pub async fn record(
    store: &Store,
    key: &ArchiveKey,
    actor: &str,
    reference_codes: &[String],
    name: &str,
    date: &str,
    reason: &str,
    today: NaiveDate,
) -> Result<(Applied, EventDoc), RetentionError> {
    if reference_codes.is_empty() {
        return Err(RetentionError::Usage(
            "name at least one record (档号) the event concerns".into(),
        ));
    }
    check_name(name)?;
    let day = super::policy::parse_as_of(date).map_err(|_| {
        RetentionError::Usage(format!(
            "--date {date:?} is not a date: give YYYY-MM-DD (a calendar date in China Standard \
             Time)"
        ))
    })?;
    if day > today {
        return Err(RetentionError::Usage(format!(
            "--date {day} is after today ({today}, China Standard Time): an event is recorded \
             once it has happened"
        )));
    }
    if reason.trim().is_empty() {
        return Err(RetentionError::Usage(
            "recording an event needs --reason (what happened, on whose word)".into(),
        ));
    }
    let size = store.ledger_size().await?;
    let mut codes = Vec::new();
    for r in reference_codes {
        let rc = crate::refcode::RefCode::parse(r.trim())
            .map_err(|_| RetentionError::NoSuchRecord(r.clone()))?;
        let root = crate::intake::object_root(store, &crate::intake::object_id(&rc));
        if store.committed_inventory(&root, size).await?.is_none() {
            return Err(RetentionError::NoSuchRecord(r.clone()));
        }
        if !codes.contains(&rc.to_string()) {
            codes.push(rc.to_string());
        }
    }
    let mut recorded = None;
    let applied = change(store, key, actor, |state, index, change_id| {
        let mut id = format!("E{}", state.events.len() + 1);
        if state.events.iter().any(|e| e.event == id) {
            id = format!("E{index}");
        }
        let doc = EventDoc {
            kind: "strongroom.retention.event".into(),
            format_version: RETENTION_FORMAT_VERSION,
            change: change_id.to_string(),
            ledger_index: index,
            event: id.clone(),
            name: name.to_string(),
            date: day.to_string(),
            reference_codes: codes.clone(),
            reason: reason.to_string(),
            recorded_by: actor.to_string(),
            recorded_at: store::now_rfc3339(),
        };
        let bytes = store::pretty(&doc);
        let plan = Plan {
            event: Event::RetentionEventRecorded {
                event: id.clone(),
                name: name.to_string(),
                date: day.to_string(),
                reference_codes: codes.clone(),
                reason: reason.to_string(),
                change: change_id.to_string(),
                document_sha256: sha256_tag(&bytes),
            },
            docs: vec![(event_path(&id), bytes)],
            blobs: Vec::new(),
        };
        recorded = Some(doc);
        Ok(plan)
    })
    .await?;
    let doc =
        recorded.ok_or_else(|| RetentionError::Refused("the event was not recorded".into()))?;
    Ok((applied, doc))
}
