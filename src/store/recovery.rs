//! Start-up recovery: undo every write whose commit record never became durable.
//!
//! Runs under the writer lock before any new write. Idempotent: a crash during recovery is
//! recovered by the next run, because the intent is deleted only after the undo is durable.

use object_store::path::Path;
use serde::Serialize;

use super::objects::{sidecar, Intent};
use super::{join, Store, StoreError, WriterLock};

/// What recovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Writes that had committed (only their intent was left).
    pub completed: usize,
    /// Versions removed, as `object_root@vN`.
    pub removed: Vec<String>,
    /// Leftover staging objects deleted.
    pub staging_removed: usize,
}

impl RecoveryReport {
    /// True when there was nothing to do.
    pub fn is_clean(&self) -> bool {
        self.completed == 0 && self.removed.is_empty() && self.staging_removed == 0
    }
}

impl Store {
    /// Undoes every uncommitted write and clears `staging/`.
    pub async fn recover(&self, _lock: &WriterLock) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport::default();
        for intent_path in self.list_paths(&Path::from("intents")).await? {
            let Some(intent): Option<Intent> = self.get_json(&intent_path).await? else {
                continue;
            };
            if self
                .exists(&super::stored_path(&intent.commit_record))
                .await?
            {
                report.completed += 1;
            } else {
                report.removed.extend(self.rollback(&intent).await?);
                self.sync().await?;
            }
            self.delete(&intent_path).await?;
        }
        for p in self.list_paths(&Path::from("staging")).await? {
            self.delete(&p).await?;
            report.staging_removed += 1;
        }
        if !report.is_clean() {
            self.sync().await?;
        }
        Ok(report)
    }

    /// Removes the versions an uncommitted intent names, newest state first.
    pub(crate) async fn rollback(&self, intent: &Intent) -> Result<Vec<String>, StoreError> {
        let mut removed = Vec::new();
        for (root, n) in &intent.versions {
            let root = super::stored_path(root);
            if *n <= 1 {
                // The object did not exist before this write: remove all of it.
                for p in self.list_paths(&root).await? {
                    self.delete(&p).await?;
                }
            } else {
                // Point the root inventory back at the previous version first, so that the
                // object is valid at every step, then remove the version directory.
                let prev = join(&root, &format!("v{}/inventory.json", n - 1));
                let Some(prev_json) = self.get_bytes(&prev).await? else {
                    return Err(StoreError::Inconsistent {
                        path: prev.to_string(),
                        message: "previous version inventory missing during rollback".into(),
                    });
                };
                self.put_replace(&join(&root, "inventory.json"), prev_json.clone())
                    .await?;
                self.put_replace(&join(&root, "inventory.json.sha512"), sidecar(&prev_json))
                    .await?;
                for p in self.list_paths(&join(&root, &format!("v{n}"))).await? {
                    self.delete(&p).await?;
                }
            }
            removed.push(format!("{root}@v{n}"));
        }
        Ok(removed)
    }
}
