//! The writer lock: one writer at a time per store, across processes and hosts.
//!
//! The lock is an object created with `PutMode::Create` at `locks/writer.json`, naming its
//! owner and the end of its lease. The holder renews the lease every [`LEASE_RENEW_SECONDS`]
//! while it works. A lock whose owner is a dead process on this host, or whose lease has run
//! out (a crashed or cut-off host), is stale. Breaking a stale lock is itself claimed with a
//! create-only put of `locks/broken/<token>.json`, so that of several writers that found the
//! same stale lock exactly one deletes it (a second delete could remove the lock the first
//! breaker has just taken). `docs/scale.md` says why this lock serialises writers on S3 as
//! well, with the ledger's per-batch claims (`ledger/next/<size>`) as a fence under it for a
//! holder stopped past its lease.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::{pretty, random_hex, Store, StoreError};

/// The lease: how long a lock is honoured after its last renewal when its owner cannot be
/// checked (another host). A crashed host blocks other writers at most this long.
pub const LOCK_TTL_SECONDS: i64 = 600;

/// How long a write (a transfer, an amendment) waits for another writer to finish before it
/// gives up with [`StoreError::Locked`]: several writers on one store queue rather than fail.
pub const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often the holder renews its lease: ten renewals fit in one lease, so a slow store or
/// a busy machine misses several before the lock goes stale.
pub const LEASE_RENEW_SECONDS: u64 = 60;

/// What the lock object says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random token of this holding.
    pub token: String,
    /// The actor (`--as`).
    pub actor: String,
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// The kernel's boot id when taken: after a reboot (a power cut) no process of the
    /// old boot is alive, even if its pid has been reused.
    #[serde(default)]
    pub boot_id: String,
    /// RFC 3339 time taken.
    pub acquired: String,
    /// RFC 3339 time after which anyone may break it.
    pub expires: String,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "held by {} (pid {} on {}) since {}, expires {}",
            self.actor, self.pid, self.host, self.acquired, self.expires
        )
    }
}

/// A held writer lock. Release it with [`WriterLock::release`]; a crash leaves it stale.
/// While held, a background task renews its lease; dropping the lock stops the renewals.
#[derive(Debug)]
pub struct WriterLock {
    store: Store,
    info: LockInfo,
    /// The lock as last written (its lease's end moves with each renewal).
    lease: Arc<std::sync::Mutex<LockInfo>>,
    lost: Arc<AtomicBool>,
    renewals: Option<tokio::task::JoinHandle<()>>,
    /// Tokens of holders whose lease this writer broke to take the lock while they may still
    /// be alive: each must be fenced in the ledger before anything they might still commit
    /// (`ledger::commit::recover`).
    fence_due: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        if let Some(h) = self.renewals.take() {
            h.abort();
        }
    }
}

fn lock_path() -> Path {
    Path::from("locks/writer.json")
}

fn break_claim_path(stale_token: &str) -> Path {
    super::path_of(["locks", "broken", &format!("{stale_token}.json")])
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Renews the lease every [`LEASE_RENEW_SECONDS`] until the task is aborted or the lock is
/// lost.
async fn renew_lease(store: Store, lease: Arc<std::sync::Mutex<LockInfo>>, lost: Arc<AtomicBool>) {
    let every = std::time::Duration::from_secs(LEASE_RENEW_SECONDS);
    loop {
        tokio::time::sleep(every).await;
        // An error (the store unreachable just now) is retried at the next tick: the lease has
        // room for several misses.
        if let Ok(false) = renew_once(&store, &lease, &lost).await {
            return;
        }
    }
}

/// One renewal. Gives the lock up (marks it lost, returns false) when the lock object no longer
/// carries our token (someone broke it: we are no longer the writer) or when the lease has less
/// than half its length left (the renewals stalled, a paused machine: another writer may be
/// about to break it). On a store with conditional updates (S3, memory) it replaces exactly
/// the version it read.
async fn renew_once(
    store: &Store,
    lease: &std::sync::Mutex<LockInfo>,
    lost: &AtomicBool,
) -> Result<bool, StoreError> {
    let Some(current) = lease.lock().ok().map(|l| l.clone()) else {
        return Ok(true);
    };
    let held = store.get_json_versioned::<LockInfo>(&lock_path()).await?;
    let left = chrono::DateTime::parse_from_rfc3339(&current.expires)
        .map(|t| t.signed_duration_since(chrono::Utc::now()).num_seconds())
        .unwrap_or(0);
    let version = match held {
        Some((h, version)) if h.token == current.token && left >= LOCK_TTL_SECONDS / 2 => version,
        _ => {
            lost.store(true, Ordering::SeqCst);
            return Ok(false);
        }
    };
    let mut next = current;
    next.expires = rfc3339(chrono::Utc::now() + chrono::Duration::seconds(LOCK_TTL_SECONDS));
    store
        .put_replace_if(&lock_path(), pretty(&next), version)
        .await?;
    if let Ok(mut l) = lease.lock() {
        *l = next;
    }
    Ok(true)
}

fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// This boot's id (Linux); empty where the kernel does not say.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn is_stale(info: &LockInfo) -> bool {
    let expired = chrono::DateTime::parse_from_rfc3339(&info.expires)
        .map(|t| t < chrono::Utc::now())
        .unwrap_or(true);
    expired || is_dead(info)
}

/// Whether the holder is known to be dead: a process of this host that no longer runs, or of
/// an earlier boot of it. A holder on another host, or one whose pid runs (even a pid reused
/// by another program), may still wake up and write.
fn is_dead(info: &LockInfo) -> bool {
    if info.host != host_name() {
        return false;
    }
    if !info.boot_id.is_empty() && info.boot_id != boot_id() {
        return true;
    }
    let alive = rustix::process::Pid::from_raw(info.pid as i32)
        .map(|pid| {
            // EPERM means the process exists but is not ours: still alive.
            match rustix::process::test_kill_process(pid) {
                Ok(()) => true,
                Err(e) => e == rustix::io::Errno::PERM,
            }
        })
        .unwrap_or(false);
    !alive
}

/// `locks/broken/<token>.json`: the breaker (who won the right to delete the stale lock) and,
/// since the fence (`docs/scale.md` §2), the holder it broke, so that a later recovery can
/// tell a dead holder from one that may still wake up.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BreakClaim {
    #[serde(flatten)]
    breaker: LockInfo,
    /// The stale lock as found (absent in claims written before the fence, or when the lock
    /// did not parse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    broken: Option<LockInfo>,
}

impl Store {
    /// Takes the writer lock, breaking a stale one. Fails with [`StoreError::Locked`] when a
    /// live writer holds it.
    pub async fn lock_writer(&self, actor: &str) -> Result<WriterLock, StoreError> {
        let now = chrono::Utc::now();
        let info = LockInfo {
            token: random_hex(16),
            actor: actor.to_string(),
            host: host_name(),
            pid: std::process::id(),
            boot_id: boot_id(),
            acquired: rfc3339(now),
            expires: rfc3339(now + chrono::Duration::seconds(LOCK_TTL_SECONDS)),
        };
        let mut broke_live = Vec::new();
        for _ in 0..5 {
            match self.put_create(&lock_path(), pretty(&info)).await {
                Ok(()) => {
                    let lost = Arc::new(AtomicBool::new(false));
                    let lease = Arc::new(std::sync::Mutex::new(info.clone()));
                    let renewals =
                        tokio::spawn(renew_lease(self.clone(), lease.clone(), lost.clone()));
                    return Ok(WriterLock {
                        store: self.clone(),
                        info,
                        lease,
                        lost,
                        renewals: Some(renewals),
                        fence_due: Arc::new(std::sync::Mutex::new(broke_live)),
                    });
                }
                Err(StoreError::AlreadyExists { .. }) => {
                    let Some(raw) = self.get_bytes(&lock_path()).await? else {
                        continue; // released since: try again
                    };
                    let held: Option<LockInfo> = serde_json::from_slice(&raw).ok();
                    let stale_token = match &held {
                        Some(h) if !is_stale(h) => {
                            return Err(StoreError::Locked(Box::new(h.clone())))
                        }
                        Some(h) => h.token.clone(),
                        // Unreadable: no writer ever leaves that; name it by its digest.
                        None => hex::encode(
                            &ring::digest::digest(&ring::digest::SHA256, &raw).as_ref()[..16],
                        ),
                    };
                    if self
                        .break_stale(&stale_token, &raw, held.as_ref(), &info)
                        .await?
                    {
                        // A holder that may still be alive (a paused process, another host)
                        // may still try to commit what it had prepared: fenced at recovery.
                        if let Some(h) = held.as_ref().filter(|h| !is_dead(h)) {
                            broke_live.push(h.token.clone());
                        }
                        continue;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
        let held: Option<LockInfo> = self.get_json(&lock_path()).await?;
        match held {
            Some(h) => Err(StoreError::Locked(Box::new(h))),
            None => Err(StoreError::Inconsistent {
                path: lock_path().to_string(),
                message: "the lock kept changing hands while we tried to take it".into(),
            }),
        }
    }
}

impl Store {
    /// Breaks the stale lock of `stale_token` (whose bytes were `raw`) if this writer wins
    /// the claim to break it; true when it did. Exactly one writer wins `locks/broken/<token>`;
    /// if that winner itself died before deleting the lock (its claim is stale), the claim is
    /// broken the same way, by a claim on the claimer's token. The lock is deleted only if it
    /// still holds the stale bytes, so a lock someone took since is never removed.
    async fn break_stale(
        &self,
        stale_token: &str,
        raw: &[u8],
        stale: Option<&LockInfo>,
        me: &LockInfo,
    ) -> Result<bool, StoreError> {
        let mut breaking = stale_token.to_string();
        for _ in 0..8 {
            let claim = BreakClaim {
                breaker: me.clone(),
                broken: stale.filter(|s| s.token == breaking).cloned(),
            };
            match self
                .put_create(&break_claim_path(&breaking), pretty(&claim))
                .await
            {
                Ok(()) => {
                    if self.get_bytes(&lock_path()).await?.as_deref() == Some(raw) {
                        self.delete(&lock_path()).await?;
                    }
                    return Ok(true);
                }
                Err(StoreError::AlreadyExists { .. }) => {
                    let claim: Option<LockInfo> = self
                        .get_json(&break_claim_path(&breaking))
                        .await
                        .unwrap_or(None);
                    match claim {
                        Some(c) if is_stale(&c) => breaking = c.token,
                        // A live writer is breaking it: let it finish.
                        _ => return Ok(false),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

impl Store {
    /// Whether the writer whose lock token is `token` may still write, as seen by the holder
    /// of the lock now: false when its lock was released (never broken: its holder finished
    /// or gave up, and never writes under that token again) or when it was broken and its
    /// holder is known dead (a process of this host that no longer runs, an earlier boot);
    /// true when it was broken while its holder may be alive (a lease run out on another host,
    /// a paused process), or the break claim does not say who it broke. Store recovery fences
    /// such a writer before it undoes its write (`docs/scale.md` §2).
    pub(crate) async fn may_still_write(&self, token: &str) -> Result<bool, StoreError> {
        let path = break_claim_path(token);
        let Some(raw) = self.get_bytes(&path).await? else {
            return Ok(false);
        };
        let claim: Option<BreakClaim> = serde_json::from_slice(&raw).ok();
        Ok(match claim.and_then(|c| c.broken) {
            Some(holder) => !is_dead(&holder),
            None => true,
        })
    }
}

impl Store {
    /// Takes the writer lock, waiting up to `wait` while a live writer holds it (a read that
    /// must be recorded, or a registry change, waits for a transfer being stored).
    pub async fn lock_writer_waiting(
        &self,
        actor: &str,
        wait: std::time::Duration,
    ) -> Result<WriterLock, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match self.lock_writer(actor).await {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                other => return other,
            }
        }
    }
}

impl WriterLock {
    /// Who holds it.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The store it locks.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// False once a renewal found the lock taken by someone else (our lease ran out and it
    /// was broken): nothing more may be committed under it.
    pub fn is_held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
    }

    /// Renews the lease now (the background task does it every [`LEASE_RENEW_SECONDS`]):
    /// false, and the lock lost, when it is no longer ours.
    pub async fn renew(&self) -> Result<bool, StoreError> {
        renew_once(&self.store, &self.lease, &self.lost).await
    }

    /// When the lease runs out unless renewed (RFC 3339).
    pub fn lease_expires(&self) -> String {
        self.lease
            .lock()
            .map(|l| l.expires.clone())
            .unwrap_or_else(|_| self.info.expires.clone())
    }

    /// Reads the lock object now and confirms it still carries our token; if another writer
    /// broke it (our lease ran out), marks the lock lost and fails with
    /// [`StoreError::LockLost`]. The ledger calls it before writing a batch and again right
    /// before its commit point, so a writer that was stopped past its lease (a paused VM, a
    /// long GC) learns it at the next step instead of at the next renewal.
    pub async fn confirm(&self) -> Result<(), StoreError> {
        if !self.is_held() {
            return Err(StoreError::LockLost);
        }
        let held: Option<LockInfo> = self.store.get_json(&lock_path()).await.unwrap_or(None);
        if held.is_some_and(|h| h.token == self.info.token) {
            Ok(())
        } else {
            self.lost.store(true, Ordering::SeqCst);
            Err(StoreError::LockLost)
        }
    }

    /// Takes the tokens of the holders this writer broke the lock of while they may still be
    /// alive (empty after the first call, and for a lock taken free or from a dead holder):
    /// the caller fences them (`ledger::commit::recover`).
    pub fn take_fence_due(&self) -> Vec<String> {
        self.fence_due
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Releases the lock if it is still ours.
    pub async fn release(mut self) -> Result<(), StoreError> {
        if let Some(h) = self.renewals.take() {
            h.abort();
        }
        let held: Option<LockInfo> = self.store.get_json(&lock_path()).await?;
        if held.map(|h| h.token == self.info.token).unwrap_or(false) {
            self.store.delete(&lock_path()).await?;
        }
        Ok(())
    }
}
