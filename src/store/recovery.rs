//! Start-up recovery: undo every write whose ledger batch never became durable, and finish
//! every write whose batch did (its lookup documents).
//!
//! Runs under the writer lock before any new write. Idempotent: a crash during recovery is
//! recovered by the next run, because the intent is deleted only after the undo is durable.
//!
//! A write is judged by the claim on its first ledger index (`ledger/next/<n>`): claimed with
//! its writer's lock token, it is committed; claimed by anyone else, it never can be. A write
//! with no claim yet is undone only if its writer can never claim: its lock was released, or
//! broken with its holder dead. One whose writer may still wake up (a lease run out on another
//! host, a paused process) is left in place, [`RecoveryReport::unfenced`], until the ledger
//! is fenced against it (`ledger::commit::recover` appends a `writer.fenced` entry: its claim
//! takes the index, `docs/scale.md` §2).

use object_store::path::Path;
use serde::Serialize;

use super::objects::{sidecar, Intent, Removal, REMOVALS};
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
    /// Half-written files of killed puts removed from a local store.
    pub orphans_removed: usize,
    /// Writes left in place because their writer may still wake up and claim their ledger
    /// index (its lease ran out, it may not be dead): the intent or removal paths. Undoing
    /// one needs the ledger fenced first (`ledger::commit::recover`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unfenced: Vec<Unfenced>,
}

/// A write left in place by recovery until its writer is fenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unfenced {
    /// The intent's or removal's path in the store.
    pub path: String,
    /// Its writer's lock token.
    pub writer: String,
    /// The ledger index its batch would take.
    pub ledger_first: u64,
    /// The versions it wrote, as `object_root@vN` (none for a removal).
    pub versions: Vec<String>,
}

/// What recovery makes of an interrupted write.
enum Verdict {
    /// Its batch is in the ledger: finish it.
    Committed,
    /// Its batch never will be: undo it (an intent) or forget it (a removal).
    Uncommitted,
    /// No batch yet, and its writer may still claim one: leave it until fenced.
    Unfenced,
}

impl RecoveryReport {
    /// True when there was nothing to do.
    pub fn is_clean(&self) -> bool {
        self.completed == 0
            && self.removed.is_empty()
            && self.staging_removed == 0
            && self.orphans_removed == 0
            && self.unfenced.is_empty()
    }
}

impl Store {
    /// Undoes every uncommitted write and clears `staging/`. A write whose writer may still
    /// wake up is left in place and listed in [`RecoveryReport::unfenced`].
    pub async fn recover(&self, lock: &WriterLock) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport::default();
        let ledger_size = self.ledger_size().await?;
        for intent_path in self.list_paths(&Path::from("intents")).await? {
            let Some(intent): Option<Intent> = self.get_json(&intent_path).await? else {
                continue;
            };
            let verdict = self
                .judge(
                    &intent.plan,
                    &intent.writer,
                    ledger_size,
                    lock,
                    &intent_path,
                )
                .await?;
            match verdict {
                Verdict::Committed => {
                    self.put_after_commit(&intent.plan).await?;
                    report.completed += 1;
                }
                Verdict::Uncommitted => report.removed.extend(self.rollback(&intent).await?),
                Verdict::Unfenced => {
                    report.unfenced.push(Unfenced {
                        path: intent_path.to_string(),
                        writer: intent.writer.clone(),
                        ledger_first: intent.plan.ledger_first,
                        versions: intent
                            .versions
                            .iter()
                            .map(|(r, n)| format!("{r}@v{n}"))
                            .collect(),
                    });
                    continue;
                }
            }
            let mut places: Vec<String> = intent.versions.iter().map(|(r, _)| r.clone()).collect();
            for (path, _) in &intent.plan.after_commit {
                if let Some((dir, _)) = path.rsplit_once('/') {
                    places.push(dir.to_string());
                }
            }
            report.orphans_removed += self.sweep_orphans(&places);
            self.sync().await?;
            self.delete(&intent_path).await?;
        }
        // Removals (destruction): finish a committed one, forget one whose batch never
        // became durable (its objects were not touched before the commit point).
        for removal_path in self.list_paths(&Path::from(REMOVALS)).await? {
            let Some(removal): Option<Removal> = self.get_json(&removal_path).await? else {
                continue;
            };
            let verdict = self
                .judge(
                    &removal.plan,
                    &removal.writer,
                    ledger_size,
                    lock,
                    &removal_path,
                )
                .await?;
            match verdict {
                Verdict::Committed => {
                    self.finish_removal(&removal).await?;
                    report.completed += 1;
                    report.removed.extend(removal.objects.iter().cloned());
                }
                Verdict::Uncommitted => {}
                Verdict::Unfenced => {
                    report.unfenced.push(Unfenced {
                        path: removal_path.to_string(),
                        writer: removal.writer.clone(),
                        ledger_first: removal.plan.ledger_first,
                        versions: Vec::new(),
                    });
                    continue;
                }
            }
            report.orphans_removed += self.sweep_orphans(&removal.objects);
            self.sync().await?;
            self.delete(&removal_path).await?;
        }
        for p in self.list_paths(&Path::from("staging")).await? {
            self.delete(&p).await?;
            report.staging_removed += 1;
        }
        report.orphans_removed += self.sweep_orphans(&["staging".into(), "intents".into()]);
        // Other writers put to `locks/` without the lock (that is how they wait for it), so
        // only a half-written file too old to be a put in flight is an orphan there.
        report.orphans_removed += self.sweep_stale_lock_orphans();
        if !report.is_clean() {
            self.sync().await?;
        }
        Ok(report)
    }

    /// Judges an interrupted write (an intent or a removal) of `writer` whose batch was
    /// planned at `plan.ledger_first`, the ledger's size being `ledger_size`.
    ///
    /// The claim on that index decides when there is one: the writer's own (its token) means
    /// committed, anyone else's means its claim can never succeed. Without a claim, a ledger
    /// already past the index was written before claims (judged by size, as are writes that
    /// name no writer); at or below it, the write is uncommitted, and undone now only if its
    /// writer can never claim ([`Store::may_still_write`]).
    async fn judge(
        &self,
        plan: &super::CommitPlan,
        writer: &str,
        ledger_size: u64,
        lock: &WriterLock,
        path: &Path,
    ) -> Result<Verdict, StoreError> {
        let first = plan.ledger_first;
        if !writer.is_empty() {
            let claim_path = Path::from(format!("ledger/next/{first:020}"));
            if let Some(bytes) = self.get_bytes(&claim_path).await? {
                let claim = crate::ledger::claim::Claim::decode(&bytes).map_err(|e| {
                    StoreError::Inconsistent {
                        path: claim_path.to_string(),
                        message: e.to_string(),
                    }
                })?;
                return Ok(if claim.writer == writer {
                    Verdict::Committed
                } else {
                    Verdict::Uncommitted
                });
            }
            if ledger_size <= first {
                let mine = writer == lock.info().token;
                return Ok(if mine || !self.may_still_write(writer).await? {
                    Verdict::Uncommitted
                } else {
                    Verdict::Unfenced
                });
            }
        }
        if ledger_size >= first + plan.ledger_count {
            Ok(Verdict::Committed)
        } else if ledger_size > first {
            // One writer at a time: nothing may append between a write's intent and its batch.
            Err(StoreError::Inconsistent {
                path: path.to_string(),
                message: format!(
                    "the ledger has {ledger_size} entries, part of this write's batch [{first}, {})",
                    first + plan.ledger_count
                ),
            })
        } else {
            Ok(Verdict::Uncommitted)
        }
    }

    /// Backend edge: LocalFileSystem writes each put to `<name>#<n>` and links it into place;
    /// a process killed in between leaves that file, which object_store never lists and so
    /// cannot delete, but which an OCFL validator reading the disk rejects (E072). Under the
    /// writer lock no put is in flight, so every such file below the given store paths is an
    /// orphan: remove it, and any empty folder (a killed put may have made the folder and
    /// not yet the file). Other backends have neither.
    fn sweep_orphans(&self, places: &[String]) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        let mut removed = 0;
        for place in places {
            let dir = root.join(place);
            // Deepest first, so that a folder emptied by removing its orphans goes too.
            for entry in walkdir::WalkDir::new(&dir)
                .contents_first(true)
                .into_iter()
                .filter_map(Result::ok)
            {
                let name = entry.file_name().to_string_lossy();
                if entry.file_type().is_file() && is_staging_name(&name) {
                    if std::fs::remove_file(entry.path()).is_ok() {
                        removed += 1;
                    }
                } else if entry.file_type().is_dir() {
                    // Fails, as it should, unless the folder is empty: a folder a killed put
                    // created before its file, or one its orphans left.
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
            let mut parent = dir.parent().map(std::path::Path::to_path_buf);
            while let Some(p) = parent {
                if !p.starts_with(root) || p == *root || std::fs::remove_dir(&p).is_err() {
                    break;
                }
                parent = p.parent().map(std::path::Path::to_path_buf);
            }
        }
        removed
    }

    /// `locks/**/<name>#<n>` files older than a minute: left by a process killed while it
    /// tried to take the lock (only on a local store).
    fn sweep_stale_lock_orphans(&self) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        let old = |e: &walkdir::DirEntry| {
            e.metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60))
        };
        walkdir::WalkDir::new(root.join("locks"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_file() && is_staging_name(&e.file_name().to_string_lossy())
            })
            .filter(old)
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count()
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

/// `<name>#<digits>`: the staging name LocalFileSystem gives a put in progress.
fn is_staging_name(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((base, n)) => {
            !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}
