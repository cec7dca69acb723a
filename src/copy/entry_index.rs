//! The entry index: which ledger entries name which record, a cache under
//! `<home>/cache/copy-index/` that follows the ledger so that a copy finds "every entry about
//! the record" without reading the whole ledger each time (`formats/copy-bundle.md` §8).
//!
//! Derived from the ledger alone and never authoritative: deleting it rebuilds it on the next
//! catch-up. It owns nothing in the store. Layout: `position` (`<size> <base64 root at that
//! size>`: how far it has read, and which log) and `records/<aa>/<sha256 of the 档号>`, one
//! decimal entry index a line (appended; duplicates from an interrupted catch-up are removed
//! when read).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ledger::entry::Entry;
use crate::ledger::log::{Ledger, LedgerError};
use crate::refcode::RefCode;

/// Entries read per step of a catch-up (a few entry bundles).
const STEP: u64 = 4096;

/// Errors of the entry index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The cache folder could not be read or written.
    #[error("entry index {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The entry index of one home.
pub struct EntryIndex {
    dir: PathBuf,
}

/// The 档号 an entry names: top-level string members, and strings in top-level arrays, that
/// are a 档号 or a record's object id (`urn:strongroom:<档号>`). Generic on purpose: event
/// types added later that name a record the same way are found without a change here.
pub fn records_named(entry: &Entry) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut consider = |s: &str| {
        let s = s.strip_prefix("urn:strongroom:").unwrap_or(s);
        if let Ok(rc) = RefCode::parse(s) {
            out.insert(rc.to_string());
        }
    };
    for value in entry.fields.values() {
        match value {
            serde_json::Value::String(s) => consider(s),
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(serde_json::Value::as_str)
                .for_each(&mut consider),
            _ => {}
        }
    }
    out
}

impl EntryIndex {
    /// The index kept under `<home>/cache/copy-index/`.
    pub fn in_home(home: &Path) -> EntryIndex {
        EntryIndex {
            dir: home.join("cache").join("copy-index"),
        }
    }

    fn record_file(&self, refcode: &str) -> PathBuf {
        let h = crate::digest::sha256_hex(refcode.as_bytes());
        self.dir.join("records").join(&h[..2]).join(h)
    }

    fn position_file(&self) -> PathBuf {
        self.dir.join("position")
    }

    /// How far the index has read, if it still belongs to this ledger.
    async fn position(&self, ledger: &Ledger) -> Result<u64, IndexError> {
        let path = self.position_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut parts = text.split_whitespace();
        let (Some(size), Some(root)) = (parts.next(), parts.next()) else {
            return Ok(0);
        };
        let Ok(size) = size.parse::<u64>() else {
            return Ok(0);
        };
        // A cache of another ledger (a home pointed at another store) or of a log that has
        // shrunk is rebuilt rather than trusted.
        if size == 0 || size > ledger.size().await? {
            return Ok(0);
        }
        if ledger.root_at(size).await?.to_base64() != root {
            return Ok(0);
        }
        Ok(size)
    }

    /// Reads the entries appended since the last catch-up, up to `size`, and records which
    /// records they name. `progress(done, total)` is called after each step. Returns the
    /// number of entries read.
    pub async fn catch_up(
        &self,
        ledger: &Ledger,
        size: u64,
        progress: &dyn Fn(u64, u64),
    ) -> Result<u64, IndexError> {
        let mut from = self.position(ledger).await?;
        if from == 0 && self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if from >= size {
            return Ok(0);
        }
        std::fs::create_dir_all(self.dir.join("records")).map_err(io(&self.dir))?;
        let start = from;
        while from < size {
            let to = (from + STEP).min(size);
            let mut named: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for (i, bytes) in ledger.entries(from, to).await?.iter().enumerate() {
                // An entry that does not decode names nothing we can trust; `ledger verify`
                // reports it.
                if let Ok(entry) = Entry::decode(bytes) {
                    for rc in records_named(&entry) {
                        named.entry(rc).or_default().push(from + i as u64);
                    }
                }
            }
            for (rc, indices) in named {
                let path = self.record_file(&rc);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io(&path))?;
                let lines: String = indices.iter().map(|i| format!("{i}\n")).collect();
                f.write_all(lines.as_bytes()).map_err(io(&path))?;
            }
            from = to;
            self.set_position(ledger, from).await?;
            progress(from - start, size - start);
        }
        Ok(size - start)
    }

    async fn set_position(&self, ledger: &Ledger, size: u64) -> Result<(), IndexError> {
        let root = ledger.root_at(size).await?.to_base64();
        let path = self.position_file();
        let tmp = self.dir.join("position.tmp");
        std::fs::write(&tmp, format!("{size} {root}\n")).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The indices below `size` of the entries naming `refcode`, ascending, each once.
    pub fn entries_naming(&self, refcode: &str, size: u64) -> Result<Vec<u64>, IndexError> {
        let path = self.record_file(refcode);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        let set: BTreeSet<u64> = text
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|i| *i < size)
            .collect();
        Ok(set.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_in_strings_arrays_and_object_ids() {
        let rc = "0194-WS·2016-D30-BGS-0001";
        let e = Entry::decode(
            format!(
                r#"{{"actor":"a","object_id":"urn:strongroom:{rc}","records":["{rc}","x"],"time":"t","type":"hold.placed","v":1}}"#
            )
            .as_bytes(),
        );
        let e = e.expect("entry");
        assert_eq!(records_named(&e).into_iter().collect::<Vec<_>>(), vec![rc]);
        let none = Entry::decode(
            br#"{"actor":"a","scope":"all","time":"t","type":"fixity.audited","v":1}"#,
        )
        .expect("entry");
        assert!(records_named(&none).is_empty());
    }
}
