//! Server metrics in the Prometheus text exposition format (version 0.0.4) at `/metrics`:
//! requests by route and status, their latency, transfers by outcome, bytes received.
//! Plain counters behind one mutex: a handful of series, no need for a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::authz::{require, Capability};
use super::{ApiError, AppState, Auth};

/// Latency buckets in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Debug, Default)]
struct Inner {
    /// (method, route, status) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// route → (bucket counts, sum, count).
    latency: BTreeMap<String, ([u64; BUCKETS.len()], f64, u64)>,
    /// outcome → count.
    transfers: BTreeMap<String, u64>,
    upload_bytes: u64,
    record_reads: u64,
}

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: std::sync::Mutex<Inner>,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut g) = self.inner.lock() {
            f(&mut g);
        }
    }

    /// A transfer ended with `outcome` (`accepted`, `rejected`, `failed`, …).
    pub fn transfer(&self, outcome: &str) {
        self.with(|m| *m.transfers.entry(outcome.to_string()).or_default() += 1);
    }

    /// Upload bytes received.
    pub fn uploaded(&self, n: u64) {
        self.with(|m| m.upload_bytes += n);
    }

    /// A record read recorded in the ledger.
    pub fn record_read(&self) {
        self.with(|m| m.record_reads += 1);
    }

    /// The exposition text.
    pub fn render(&self, jobs_running: usize) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        let _ = writeln!(
            out,
            "# HELP strongroom_http_requests_total HTTP requests by method, route and status.\n# TYPE strongroom_http_requests_total counter"
        );
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "strongroom_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_http_request_duration_seconds Request latency by route.\n# TYPE strongroom_http_request_duration_seconds histogram"
        );
        for (route, (buckets, sum, count)) in &m.latency {
            let r = escape(route);
            let mut cumulative = 0;
            for (b, n) in BUCKETS.iter().zip(buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "strongroom_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "strongroom_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {count}\nstrongroom_http_request_duration_seconds_sum{{route=\"{r}\"}} {sum}\nstrongroom_http_request_duration_seconds_count{{route=\"{r}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_transfers_total Transfers received through the server, by outcome.\n# TYPE strongroom_transfers_total counter"
        );
        for (outcome, n) in &m.transfers {
            let _ = writeln!(
                out,
                "strongroom_transfers_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_upload_bytes_total Package bytes received.\n# TYPE strongroom_upload_bytes_total counter\nstrongroom_upload_bytes_total {}",
            m.upload_bytes
        );
        let _ = writeln!(
            out,
            "# HELP strongroom_record_reads_total Record reads recorded in the ledger.\n# TYPE strongroom_record_reads_total counter\nstrongroom_record_reads_total {}",
            m.record_reads
        );
        let _ = writeln!(
            out,
            "# HELP strongroom_transfer_checks_running Transfers being checked now.\n# TYPE strongroom_transfer_checks_running gauge\nstrongroom_transfer_checks_running {jobs_running}"
        );
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Middleware: counts every request by its route template (never the raw path, which would
/// put 档号 into the metrics and grow without bound).
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    // A change that succeeded was committed by this process: the replicas follow.
    if !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") && resp.status().is_success() {
        state.replicator.poke();
    }
    state.metrics.with(|m| {
        *m.requests
            .entry((method, route.clone(), status))
            .or_default() += 1;
        let l = m.latency.entry(route).or_default();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            l.0[i] += 1;
        }
        l.1 += secs;
        l.2 += 1;
    });
    resp
}

/// `GET /metrics` (system administrator or auditor token).
pub async fn handler(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Response, ApiError> {
    require(&p, Capability::Metrics)?;
    let mut text = state.metrics.render(state.jobs.running());
    // Replica lag is against the ledger as it is now, not as the last round saw it.
    match state.store.ledger_size().await {
        Ok(size) => text.push_str(&state.replicator.render(size)),
        Err(e) => tracing::warn!(error = %e, "metrics: the ledger's size could not be read"),
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text + &search_cache(&state),
    )
        .into_response())
}

/// The search result cache's counters, and those of the partial results per segment
/// (`serve --search-cache`).
fn search_cache(state: &AppState) -> String {
    let c = state.index_reader.cache().stats();
    let p = state.index_reader.partials().stats();
    format!(
        "# HELP strongroom_search_cache_total Searches answered from the result cache (hit) or run on the index (miss).\n# TYPE strongroom_search_cache_total counter\nstrongroom_search_cache_total{{result=\"hit\"}} {}\nstrongroom_search_cache_total{{result=\"miss\"}} {}\n\
         # HELP strongroom_search_segments_total Index segments a search run on the index reused a partial result for (hit) or searched (miss).\n# TYPE strongroom_search_segments_total counter\nstrongroom_search_segments_total{{result=\"hit\"}} {}\nstrongroom_search_segments_total{{result=\"miss\"}} {}\n",
        c.hits, c.misses, p.hits, p.misses
    )
}
