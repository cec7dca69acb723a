//! Transfers over HTTP (移交): a package of any size streams to a file under the home (never
//! held in memory), then the four checks run in the background through [`crate::intake`];
//! the client polls the status and fetches the receipt or the report.
//!
//! Nothing reaches the store before intake decides: an upload cut off half-way, or over the
//! size limit, leaves only its temporary file, which is removed at once. The outcome itself
//! is kept by intake in the store (transfer record with the signed receipt, or the report
//! under `reports/`). The status by id is kept in the server's home
//! (`<home>/server/transfers/<id>.json`, written durably before it is acknowledged), so it
//! survives a restart; a check the server stopped in is settled at the next start
//! ([`Jobs::load`]): accepted if its transfer record reached the store, else `abandoned`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::authz::{require, transfer_visible, Capability};
use super::{ApiError, AppState, Auth};
use crate::intake::{self, IntakeOptions, Outcome};
use crate::users::{Principal, Role};

/// Where a transfer stands.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransferStatus {
    /// The id this server gave the upload.
    pub id: String,
    /// `checking`, `accepted`, `already-accepted`, `rejected`, `failed`, or `abandoned` (the
    /// server stopped while checking it; nothing of it was stored).
    pub state: String,
    /// Who uploaded it.
    pub submitted_by: String,
    /// When the upload finished (RFC 3339).
    pub submitted_at: String,
    /// Package bytes received.
    pub bytes: u64,
    /// Agency-Code, once known.
    pub agency_code: Option<String>,
    /// External-Identifier, once known.
    pub external_identifier: Option<String>,
    /// When the checks ended.
    pub finished_at: Option<String>,
    /// Accepted: the receipt (`formats/receipt.md`).
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<serde_json::Value>,
    /// Rejected: the report (`formats/transfer-report.md`).
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    /// Failed, rejected without a report, or abandoned: why.
    pub error: Option<String>,
    #[serde(skip)]
    signed: Option<String>,
    /// The ledger's size when the checks began: a transfer record committed at or past it
    /// was committed by this check.
    #[serde(skip)]
    checked_from: Option<u64>,
}

/// Version of the status files this code writes.
pub const STATUS_FORMAT_VERSION: u32 = 1;

/// A status file, `<home>/server/transfers/<id>.json`.
#[derive(Serialize, Deserialize)]
struct SavedStatus {
    /// `strongroom.upload-status`.
    #[serde(rename = "type")]
    kind: String,
    format_version: u32,
    status: TransferStatus,
    /// The signed receipt and checkpoint (accepted).
    signed: Option<String>,
    /// The ledger size when the checks began.
    checked_from: Option<u64>,
}

/// Errors keeping the transfers' status.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// A status file could not be read or written.
    #[error("transfer status file {path}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be read while settling a check the server stopped in.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The ledger could not be read while settling a check the server stopped in.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::log::LedgerError),
}

/// The transfers this server received (kept in its home), and the background checks still
/// running.
#[derive(Default)]
pub struct Jobs {
    map: std::sync::Mutex<HashMap<String, TransferStatus>>,
    tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    running: AtomicUsize,
    /// One intake at a time: intake holds the store's writer lock while it commits.
    intake: tokio::sync::Mutex<()>,
    /// Where the status files are (`None`: kept in memory only).
    dir: Option<PathBuf>,
}

/// The folder of the status files in a home.
pub fn status_dir(home: &Path) -> PathBuf {
    home.join("server").join("transfers")
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a part:
/// a temporary file, fsync, rename, fsync of the folder.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

impl Jobs {
    /// The transfers received by earlier runs of the server on this home, with any check
    /// that was still running when it stopped settled now: `accepted` (with its receipt)
    /// when its transfer record reached the store during the check (the commit point was
    /// passed before the status could be written), else `abandoned` with the reason (the
    /// store's recovery removed whatever it had written) and its leftover upload removed.
    pub async fn load(
        home: &Path,
        store: &crate::store::Store,
        staging: &Path,
    ) -> Result<Jobs, JobsError> {
        let dir = status_dir(home);
        let jobs = Jobs {
            dir: Some(dir.clone()),
            ..Jobs::default()
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(jobs),
            Err(source) => return Err(JobsError::Io { path: dir, source }),
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JobsError::Io { path, source }
        };
        let mut recovered = false;
        for entry in entries {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                // A temporary file of a write cut short: the previous status stands.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let Ok(saved) = serde_json::from_slice::<SavedStatus>(&bytes) else {
                tracing::warn!(file = %path.display(), "not a transfer status file; ignored");
                continue;
            };
            let mut s = saved.status;
            s.signed = saved.signed;
            s.checked_from = saved.checked_from;
            if s.state == "checking" {
                if !recovered {
                    // A check cut short may have passed its commit point without its transfer
                    // record (recovery puts it), or left a write that recovery removes.
                    recover(store).await?;
                    recovered = true;
                }
                settle(&mut s, store).await?;
                let _ = std::fs::remove_file(
                    staging.join("uploads").join(format!("upload-{}.pkg", s.id)),
                );
                jobs.put(s)?;
            } else if let Ok(mut m) = jobs.map.lock() {
                m.insert(s.id.clone(), s);
            }
        }
        Ok(jobs)
    }

    /// Keeps `s` in memory, and durably in the home when it has one (the error says it could
    /// not be written; the status is in memory all the same).
    fn put(&self, s: TransferStatus) -> Result<(), JobsError> {
        let saved = self.save(&s);
        if let Ok(mut m) = self.map.lock() {
            m.insert(s.id.clone(), s);
        }
        saved
    }

    /// [`Jobs::put`] where a failure to keep the status can only be logged (the outcome
    /// itself is in the store whatever happens here).
    fn put_logged(&self, s: TransferStatus) {
        let id = s.id.clone();
        if let Err(e) = self.put(s) {
            tracing::error!(error = %anyhow_like(&e), transfer = %id, "the transfer's status could not be kept in the home");
        }
    }

    /// Writes the status file of `s`, durably.
    fn save(&self, s: &TransferStatus) -> Result<(), JobsError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let path = dir.join(format!("{}.json", s.id));
        let saved = SavedStatus {
            kind: "strongroom.upload-status".into(),
            format_version: STATUS_FORMAT_VERSION,
            status: s.clone(),
            signed: s.signed.clone(),
            checked_from: s.checked_from,
        };
        // Never an empty file in place of a status: a status that does not serialise is an
        // error naming the file, and the one on disk stays as it was.
        let bytes = serde_json::to_vec_pretty(&saved).map_err(|e| JobsError::Io {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        write_durably(&path, &bytes).map_err(|source| JobsError::Io { path, source })
    }

    fn get(&self, id: &str) -> Option<TransferStatus> {
        self.map.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn all(&self) -> Vec<TransferStatus> {
        let mut v: Vec<TransferStatus> = self
            .map
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at).then(a.id.cmp(&b.id)));
        v
    }

    /// The uploads `p` may see.
    pub fn visible_to(&self, p: &Principal) -> Vec<TransferStatus> {
        self.all().into_iter().filter(|s| visible(p, s)).collect()
    }

    /// Checks running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Waits up to `grace` for running checks, then abandons the rest (the store's recovery
    /// undoes a write that did not reach its ledger entry).
    pub async fn drain(&self, grace: Duration) {
        let mut tasks = self.tasks.lock().await;
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                running = self.running(),
                "transfer checks still running at shutdown are abandoned; recovery at the next start removes what they wrote"
            );
            tasks.abort_all();
        }
    }
}

/// Settles interrupted writes (the ledger's, then the store's) under the writer lock.
async fn recover(store: &crate::store::Store) -> Result<(), JobsError> {
    let lock = store
        .lock_writer_waiting("strongroom-serve", crate::ledger::commit::EVENT_LOCK_WAIT)
        .await?;
    let result = async {
        let ledger = crate::ledger::commit::open(store).await?;
        ledger.recover(&lock).await?;
        store.recover(&lock).await?;
        Ok::<(), JobsError>(())
    }
    .await;
    let released = lock.release().await;
    result?;
    released?;
    Ok(())
}

/// Settles a check the server stopped in (see [`Jobs::load`]).
async fn settle(s: &mut TransferStatus, store: &crate::store::Store) -> Result<(), JobsError> {
    s.finished_at = Some(crate::store::now_rfc3339());
    if let (Some(agency), Some(ext), Some(from)) =
        (&s.agency_code, &s.external_identifier, s.checked_from)
    {
        // Only what the published ledger covers counts (a record past it was rolled back).
        let size = store.ledger_size().await?;
        let path = intake::transfer_record_path(agency, ext);
        let rec = store
            .get_bytes(&path)
            .await?
            .and_then(|b| serde_json::from_slice::<crate::intake::receipt::TransferRecord>(&b).ok())
            .filter(|r| r.ledger_index >= from && r.ledger_index < size);
        if let Some(rec) = rec {
            let ledger = crate::ledger::commit::open(store).await?;
            let checkpoint = ledger.checkpoint_at(rec.tree_size).await?.map(|c| c.note);
            s.state = "accepted".into();
            s.receipt = rec
                .receipt
                .lines()
                .next()
                .and_then(|l| serde_json::from_str(l).ok());
            s.signed = Some(format!(
                "{}\n{}",
                rec.receipt,
                checkpoint.unwrap_or_default()
            ));
            tracing::info!(transfer = %s.id, "a transfer the server stopped checking had been accepted");
            return Ok(());
        }
    }
    s.state = "abandoned".into();
    s.error = Some(format!(
        "the server stopped while this transfer was being checked (submitted {}); nothing of it was stored (the archive's recovery removed what the check had written before its ledger entry): submit the package again",
        s.submitted_at
    ));
    tracing::warn!(transfer = %s.id, "a transfer the server stopped checking is abandoned");
    Ok(())
}

/// The upload routes (their own timeout; the size is checked while streaming).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/transfers", post(upload).get(list))
}

/// The status routes.
pub fn status_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/transfers/{id}", get(status))
        .route("/api/transfers/{id}/receipt", get(receipt))
        .route("/api/transfers/{id}/report", get(report))
}

fn visible(p: &Principal, s: &TransferStatus) -> bool {
    s.submitted_by == p.user
        || s.agency_code
            .as_deref()
            .is_some_and(|a| transfer_visible(p, a))
        || matches!(p.role, Role::Archivist)
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the package is larger than this server accepts ({max} bytes); nothing was stored"),
    )
}

/// Removes a temporary upload file when dropped, whatever happened to the request.
struct TempUpload(PathBuf);

impl Drop for TempUpload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `POST /api/transfers`: the body is the package (`.tar`, `.tar.zst` or `.zip`, told apart
/// by content). Answers 202 with the status once the upload is on disk; the checks go on in
/// the background.
#[utoipa::path(post, path = "/api/transfers", tag = "transfers",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the transfer package"),
    responses((status = 202, body = TransferStatus), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 413, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require(&p, Capability::SubmitTransfer)?;
    let max = state.limits.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let dir = state.home.staging_dir().join("uploads");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let id = crate::store::random_hex(8);
    let path = dir.join(format!("upload-{id}.pkg"));
    let guard = TempUpload(path.clone());
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut stream = body.into_data_stream();
    let mut n: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::warn!(error = %e, "upload ended early; discarded");
            ApiError::bad_request(
                "the upload ended before the whole package arrived; nothing was stored",
            )
        })?;
        n += chunk.len() as u64;
        if n > max {
            return Err(too_large(max));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    if declared.is_some_and(|d| d != n) {
        return Err(ApiError::bad_request(
            "the upload ended before the whole package arrived; nothing was stored",
        ));
    }
    file.flush().await.map_err(|e| ApiError::internal(&e))?;
    drop(file);
    state.metrics.uploaded(n);
    let status = TransferStatus {
        id: id.clone(),
        state: "checking".into(),
        submitted_by: p.user.clone(),
        submitted_at: crate::store::now_rfc3339(),
        bytes: n,
        agency_code: None,
        external_identifier: None,
        finished_at: None,
        receipt: None,
        report: None,
        error: None,
        signed: None,
        checked_from: None,
    };
    // Acknowledged only once its status is durable in the home (a restart still answers).
    let (st, saved) = (state.clone(), status.clone());
    tokio::task::spawn_blocking(move || st.jobs.put(saved))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    state.jobs.running.fetch_add(1, Ordering::Relaxed);
    let st = state.clone();
    let handle = tokio::runtime::Handle::current();
    // Intake's future is not `Send` (closures over borrowed streams inside), so it runs on a
    // blocking thread of its own, driven by this runtime.
    state.jobs.tasks.lock().await.spawn_blocking(move || {
        let result = handle.block_on(check(&st, &p, &id, &guard.0));
        drop(guard);
        if matches!(result, Ok(Checked::Outcome(Outcome::Accepted { .. }))) {
            // Searchable when reported accepted; and searches find the index caught up
            // instead of each paying for the catch-up.
            handle.block_on(super::api::follow_writes(&st));
        }
        finish(&st, &id, result);
        st.jobs.running.fetch_sub(1, Ordering::Relaxed);
    });
    let location = format!("/api/transfers/{}", status.id);
    let mut r = (StatusCode::ACCEPTED, Json(status)).into_response();
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

enum Checked {
    Outcome(Outcome),
    Refused(String),
}

async fn check(state: &AppState, p: &Principal, id: &str, path: &Path) -> Result<Checked, String> {
    let _one = state.jobs.intake.lock().await;
    let home = &state.home;
    let mut package = path.to_path_buf();
    // Look at bag-info before intake stores anything: an agency may only transfer its own
    // records, and the status names the transfer (so that a restart can tell whether a check
    // it stopped in was committed). Intake is handed the folder already unpacked.
    let mut _unpacked = None;
    let (pkg, staging, limits) = (path.to_path_buf(), home.staging_dir(), home.limits());
    let opened = tokio::task::spawn_blocking(move || crate::package::open(&pkg, &staging, &limits))
        .await
        .map_err(|e| e.to_string())?;
    match opened {
        Ok(u) if u.is_safe() => {
            let info = crate::bagit::read_info(&u.root);
            let value = |label| crate::bagit::info_value(&info, label).map(String::from);
            let agency = value("Agency-Code");
            if let (Role::Agency(code), Some(a)) = (&p.role, &agency) {
                if a != code {
                    return Ok(Checked::Refused(format!(
                        "the package's Agency-Code is {a}; the user {} may transfer only for {code}",
                        p.user
                    )));
                }
            }
            let ext = value("External-Identifier");
            package = u.root.clone();
            _unpacked = Some(u);
            if let Some(mut s) = state.jobs.get(id) {
                s.agency_code = agency;
                s.external_identifier = ext;
                s.checked_from = Some(state.store.ledger_size().await.map_err(|e| {
                    tracing::error!(error = %anyhow_like(&e), "the ledger's size cannot be read");
                    "the archive's ledger cannot be read; nothing was stored (the error is in the server's log)".to_string()
                })?);
                // Durable before intake may commit anything.
                state.jobs.put(s).map_err(|e| {
                    tracing::error!(error = %anyhow_like(&e), "the transfer's status cannot be kept");
                    "the server cannot keep the transfer's status; nothing was stored (the error is in the server's log)".to_string()
                })?;
            }
        }
        // Intake reports an unsafe or unreadable package in full.
        Ok(_) => {}
        Err(e) if matches!(p.role, Role::Agency(_)) => {
            return Err(format!("{:#}", anyhow_like(&e)));
        }
        Err(_) => {}
    }
    let opts = IntakeOptions {
        limits: home.limits(),
        virus_scan: home.config.virus_scan.clone(),
        staging_dir: home.staging_dir(),
        actor: p.user.clone(),
        threads: 0,
        seal_policy: home.config.seals.clone(),
        retention_policy: Some(crate::retention::policy_in_force(home).map_err(|e| {
            tracing::error!(error = %e, "the retention schedule in force cannot be read");
            "the archive's retention schedule cannot be read; nothing was stored (the error is in the server's log)".to_string()
        })?),
    };
    intake::transfer(&state.store, &state.key, &package, &opts, &|_| {})
        .await
        .map(Checked::Outcome)
        .map_err(|e| {
            tracing::error!(error = %anyhow_like(&e), "transfer check failed");
            "the archive could not check the transfer; nothing was stored (the error is in the server's log)".to_string()
        })
}

/// The error and its causes on one line.
fn anyhow_like(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn finish(state: &AppState, id: &str, result: Result<Checked, String>) {
    let Some(mut s) = state.jobs.get(id) else {
        return;
    };
    s.finished_at = Some(crate::store::now_rfc3339());
    match result {
        Ok(Checked::Outcome(Outcome::Accepted {
            receipt,
            signed,
            checkpoint,
        })) => {
            s.state = "accepted".into();
            s.agency_code = Some(receipt.transfer.agency_code.clone());
            s.external_identifier = Some(receipt.transfer.external_identifier.clone());
            s.receipt = serde_json::to_value(&receipt).ok();
            s.signed = Some(format!("{signed}\n{checkpoint}"));
        }
        Ok(Checked::Outcome(Outcome::AlreadyAccepted { signed, checkpoint })) => {
            s.state = "already-accepted".into();
            let doc: Option<serde_json::Value> = signed
                .lines()
                .next()
                .and_then(|l| serde_json::from_str(l).ok());
            if let Some(t) = doc.as_ref().and_then(|d| d.get("transfer")) {
                s.agency_code = t
                    .get("agency_code")
                    .and_then(|v| v.as_str())
                    .map(String::from);
                s.external_identifier = t
                    .get("external_identifier")
                    .and_then(|v| v.as_str())
                    .map(String::from);
            }
            s.receipt = doc;
            s.signed = Some(format!(
                "{signed}\n{}",
                checkpoint.as_deref().unwrap_or_default()
            ));
        }
        Ok(Checked::Outcome(Outcome::Rejected { report, .. })) => {
            s.state = "rejected".into();
            if let Some(t) = &report.transfer {
                s.agency_code = Some(t.agency_code.clone());
                s.external_identifier = Some(t.external_identifier.clone());
            }
            let mut v = serde_json::to_value(&report).ok();
            // The package is named by its upload, never by a path on the server.
            if let Some(obj) = v.as_mut().and_then(|v| v.as_object_mut()) {
                obj.insert("package".into(), format!("upload {id}").into());
            }
            s.report = v;
        }
        Ok(Checked::Refused(why)) => {
            s.state = "rejected".into();
            s.error = Some(why);
        }
        Err(why) => {
            s.state = "failed".into();
            s.error = Some(why);
        }
    }
    state.metrics.transfer(&s.state);
    if s.state == "accepted" {
        // Intake wrote the primary; replication is queued, never waited for.
        state.replicator.poke();
    }
    state.jobs.put_logged(s);
}

fn find(state: &AppState, p: &Principal, id: &str) -> Result<TransferStatus, ApiError> {
    require(p, Capability::ReadTransfers)?;
    match state.jobs.get(id) {
        Some(s) if visible(p, &s) => Ok(s),
        _ => Err(ApiError::not_found(format!("no transfer {id}"))),
    }
}

/// `GET /api/transfers/{id}`: where the transfer stands; the receipt or report when done.
#[utoipa::path(get, path = "/api/transfers/{id}", tag = "transfers",
    params(("id" = String, Path, description = "the id the upload returned")),
    responses((status = 200, body = TransferStatus), (status = 404, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn status(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<TransferStatus>, ApiError> {
    find(&state, &p, &id).map(Json)
}

/// `GET /api/transfers/{id}/receipt`: the signed receipt and the checkpoint that includes it
/// (text, as `strongroom receipt verify` reads it).
#[utoipa::path(get, path = "/api/transfers/{id}/receipt", tag = "transfers",
    params(("id" = String, Path, description = "the id the upload returned")),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn receipt(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let s = find(&state, &p, &id)?;
    match s.signed {
        Some(text) => {
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
        }
        None => Err(ApiError::not_found(format!(
            "transfer {id} has no receipt (it is {})",
            s.state
        ))),
    }
}

/// `GET /api/transfers/{id}/report`: the report of a rejected transfer.
#[utoipa::path(get, path = "/api/transfers/{id}/report", tag = "transfers",
    params(("id" = String, Path, description = "the id the upload returned")),
    responses((status = 200, body = Object), (status = 404, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn report(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = find(&state, &p, &id)?;
    match (s.report, s.error) {
        (Some(r), _) => Ok(Json(r)),
        (None, Some(e)) if s.state == "rejected" => Ok(Json(
            serde_json::json!({"decision": "rejected", "error": e}),
        )),
        _ => Err(ApiError::not_found(format!(
            "transfer {id} has no report (it is {})",
            s.state
        ))),
    }
}

/// One accepted transfer as the store keeps it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AcceptedTransfer {
    /// Agency-Code.
    pub agency_code: String,
    /// External-Identifier.
    pub external_identifier: String,
    /// Number of records.
    pub records: usize,
    /// Index of its `transfer.accepted` ledger entry.
    pub ledger_index: u64,
}

/// `GET /api/transfers`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransferList {
    /// Every accepted transfer in the store the caller may see.
    pub accepted: Vec<AcceptedTransfer>,
    /// Uploads this server received (kept in its home across restarts) that the caller may see.
    pub received: Vec<TransferStatus>,
}

/// `GET /api/transfers`: accepted transfers (from the store) and this server's uploads.
#[utoipa::path(get, path = "/api/transfers", tag = "transfers",
    responses((status = 200, body = TransferList)), security(("token" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<TransferList>, ApiError> {
    require(&p, Capability::ReadTransfers)?;
    let accepted = crate::access::transfer_records(&state.store)
        .await?
        .into_iter()
        .filter(|t| transfer_visible(&p, &t.transfer.agency_code))
        .map(|t| AcceptedTransfer {
            agency_code: t.transfer.agency_code,
            external_identifier: t.transfer.external_identifier,
            records: t.records.len(),
            ledger_index: t.ledger_index,
        })
        .collect();
    let received = state
        .jobs
        .all()
        .into_iter()
        .filter(|s| visible(&p, s))
        .collect();
    Ok(Json(TransferList { accepted, received }))
}
