//! The background replicator of `strongroom serve` (副本同步): keeps every configured replica
//! caught up with the primary without ever holding up intake. Owns when replication runs and
//! what `/metrics` says about it; how a replica is caught up is `crate::replica`'s.
//!
//! Queue semantics (`docs/scale.md` §3): a replica's own ledger size is its position in the
//! queue. Intake writes only the primary and wakes the replicator; a round catches each
//! replica up from its size to the primary's, so wake-ups that arrive during a round coalesce
//! into the next one, and nothing is lost when the process stops: the next round (here, on
//! another node, or `strongroom replicate`) starts from the replica's size again.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::AppState;
use crate::replica::{self, Copy, ReplicaConfig, ReplicationSettings};

/// How long a round waits for a replica's writer lock (held by another node's replicator, a
/// CLI `replicate` or a repair) before leaving that replica to the next round.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// What the replicator knows of one replica.
#[derive(Debug, Clone, Default)]
struct ReplicaState {
    /// Its ledger size when last read: its position in the queue.
    ledger_size: Option<u64>,
    /// Failed attempts in a row (0 after a success).
    failures: u32,
    /// Failed attempts since start.
    failures_total: u64,
    /// The last failure.
    last_error: Option<String>,
    /// Not tried again before this (back-off after a failure).
    retry_at: Option<Instant>,
}

/// The replicator: wake-ups, per-replica state and settings.
#[derive(Debug, Default)]
pub struct Replicator {
    wake: Notify,
    settings: ReplicationSettings,
    configs: Vec<ReplicaConfig>,
    state: std::sync::Mutex<BTreeMap<String, ReplicaState>>,
}

impl Replicator {
    /// A replicator for the configured replicas (none: it does nothing).
    pub fn new(configs: Vec<ReplicaConfig>, settings: ReplicationSettings) -> Replicator {
        let state = configs
            .iter()
            .map(|c| (c.name.clone(), ReplicaState::default()))
            .collect();
        Replicator {
            wake: Notify::new(),
            settings,
            configs,
            state: std::sync::Mutex::new(state),
        }
    }

    /// This process committed something: catch the replicas up soon. Many calls before the
    /// next round starts make one round.
    pub fn poke(&self) {
        if !self.configs.is_empty() {
            self.wake.notify_one();
        }
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut ReplicaState) -> T) -> Option<T> {
        let mut g = self.state.lock().ok()?;
        g.get_mut(name).map(f)
    }

    /// The `/metrics` lines: per replica its ledger size, how far it is behind a primary of
    /// `primary_size` entries, whether its last attempt succeeded, and failures.
    pub fn render(&self, primary_size: u64) -> String {
        let mut out = String::new();
        let Ok(g) = self.state.lock() else {
            return out;
        };
        if g.is_empty() {
            return out;
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_replica_ledger_size Ledger entries the replica holds: its position in the replication queue.\n# TYPE strongroom_replica_ledger_size gauge"
        );
        for (name, s) in g.iter() {
            if let Some(n) = s.ledger_size {
                let _ = writeln!(
                    out,
                    "strongroom_replica_ledger_size{{replica=\"{name}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_replica_lag_entries Ledger entries the primary holds that the replica does not yet (the whole ledger while its size is unknown).\n# TYPE strongroom_replica_lag_entries gauge"
        );
        for (name, s) in g.iter() {
            let lag = primary_size.saturating_sub(s.ledger_size.unwrap_or(0));
            let _ = writeln!(
                out,
                "strongroom_replica_lag_entries{{replica=\"{name}\"}} {lag}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_replica_up 1 when the last attempt to catch the replica up succeeded.\n# TYPE strongroom_replica_up gauge"
        );
        for (name, s) in g.iter() {
            let up = u8::from(s.ledger_size.is_some() && s.failures == 0);
            let _ = writeln!(out, "strongroom_replica_up{{replica=\"{name}\"}} {up}");
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_replica_failures_total Failed attempts to catch the replica up.\n# TYPE strongroom_replica_failures_total counter"
        );
        for (name, s) in g.iter() {
            let _ = writeln!(
                out,
                "strongroom_replica_failures_total{{replica=\"{name}\"}} {}",
                s.failures_total
            );
        }
        out
    }

    /// When the next round must start at the latest: the interval, or sooner when a replica's
    /// back-off ends first.
    fn next_wait(&self) -> Duration {
        let interval = Duration::from_secs(self.settings.interval_seconds.max(1));
        let now = Instant::now();
        let Ok(g) = self.state.lock() else {
            return interval;
        };
        g.values()
            .filter_map(|s| s.retry_at)
            .map(|t| t.saturating_duration_since(now))
            .fold(interval, Duration::min)
    }
}

/// Starts the replicator's task: a round at once (catching up what happened while no server
/// ran), then one after each wake-up and at least every `interval_seconds`. Does nothing when
/// no replica is configured.
pub fn spawn(state: Arc<AppState>) {
    if state.replicator.configs.is_empty() {
        return;
    }
    tracing::info!(
        replicas = state.replicator.configs.len(),
        interval_seconds = state.replicator.settings.interval_seconds,
        "replicator started"
    );
    tokio::spawn(async move {
        let mut open: BTreeMap<String, Copy> = BTreeMap::new();
        loop {
            round(&state, &mut open).await;
            let wait = state.replicator.next_wait();
            tokio::select! {
                _ = state.replicator.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// One round: every replica not backing off is caught up; a failure is logged and backs off.
async fn round(state: &AppState, open: &mut BTreeMap<String, Copy>) {
    let r = &state.replicator;
    for config in &r.configs {
        let name = config.name.as_str();
        let due = r
            .with(name, |s| s.retry_at.is_none_or(|t| t <= Instant::now()))
            .unwrap_or(false);
        if !due {
            continue;
        }
        let result = async {
            let copy = match open.get(name) {
                Some(c) => c.clone(),
                None => {
                    let c = config.open().await?;
                    open.insert(name.to_string(), c.clone());
                    c
                }
            };
            replica::replicate_waiting(&state.store, &copy, &state.key, &|_| {}, LOCK_WAIT).await
        }
        .await;
        match result {
            Ok(report) => {
                if report.to_size > report.from_size {
                    tracing::info!(
                        replica = name,
                        from = report.from_size,
                        to = report.to_size,
                        versions = report.versions_copied,
                        objects = report.objects_copied,
                        bytes = report.bytes_copied,
                        removed = report.records_removed,
                        "replica caught up"
                    );
                }
                r.with(name, |s| {
                    if s.failures > 0 {
                        tracing::info!(replica = name, "replica reachable again");
                    }
                    s.ledger_size = Some(report.to_size);
                    s.failures = 0;
                    s.last_error = None;
                    s.retry_at = None;
                });
            }
            Err(crate::replica::ReplicaError::Store(crate::store::StoreError::Locked(info))) => {
                // Another replicator (another node, the CLI) is at it: not a failure.
                tracing::debug!(replica = name, holder = %info.actor, "replica busy; next round");
            }
            Err(e) => {
                let why = replica::error_chain(&e);
                let failures = r
                    .with(name, |s| {
                        s.failures += 1;
                        s.failures_total += 1;
                        s.last_error = Some(why.clone());
                        s.failures
                    })
                    .unwrap_or(1);
                let backoff = r.settings.backoff(failures);
                r.with(name, |s| s.retry_at = Some(Instant::now() + backoff));
                // A replica that failed may come back as another server: open it afresh.
                open.remove(name);
                tracing::warn!(
                    replica = name,
                    error = %why,
                    failures,
                    retry_in_seconds = backoff.as_secs(),
                    "replica not caught up; intake goes on, retrying later"
                );
            }
        }
    }
}
