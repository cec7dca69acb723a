//! The writer lock: one writer at a time per store (the scale issue replaces it).
//!
//! The lock is an object created with `PutMode::Create` at `locks/writer.json`, naming its
//! owner and an expiry. A lock whose owner is a dead process on this host, or whose expiry
//! has passed, is stale and is broken by the next writer, which then runs recovery.

use std::fmt;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::{pretty, random_hex, Store, StoreError};

/// How long a lock is honoured when its owner cannot be checked (another host).
pub const LOCK_TTL_SECONDS: i64 = 6 * 3600;

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
#[derive(Debug)]
pub struct WriterLock {
    store: Store,
    info: LockInfo,
}

fn lock_path() -> Path {
    Path::from("locks/writer.json")
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
    if expired {
        return true;
    }
    if info.host == host_name() {
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
        return !alive;
    }
    false
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
            acquired: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            expires: (now + chrono::Duration::seconds(LOCK_TTL_SECONDS))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        };
        for _ in 0..3 {
            match self.put_create(&lock_path(), pretty(&info)).await {
                Ok(()) => {
                    return Ok(WriterLock {
                        store: self.clone(),
                        info,
                    })
                }
                Err(StoreError::AlreadyExists { .. }) => {
                    let held: Option<LockInfo> = self.get_json(&lock_path()).await.unwrap_or(None);
                    match held {
                        Some(h) if !is_stale(&h) => return Err(StoreError::Locked(Box::new(h))),
                        // Stale, unreadable (a crash mid-write) or gone since: break and retry.
                        _ => self.delete(&lock_path()).await?,
                    }
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

    /// Releases the lock if it is still ours.
    pub async fn release(self) -> Result<(), StoreError> {
        let held: Option<LockInfo> = self.store.get_json(&lock_path()).await?;
        if held.map(|h| h.token == self.info.token).unwrap_or(false) {
            self.store.delete(&lock_path()).await?;
        }
        Ok(())
    }
}
