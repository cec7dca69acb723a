//! The JSON API under `/api/` (records, search, verification, ledger, users, configuration)
//! and its OpenAPI document at `/api/openapi.json`, generated from the handlers' annotations
//! (`formats/server.md`). Transfers are in [`super::transfers`].
//!
//! Every read of a record's metadata or a file by a person is a `record.read` ledger entry,
//! durable before a byte is sent (`access::record_read`). A record the caller may not see is
//! answered 404, exactly as one that does not exist.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};
use object_store::{GetOptions, GetRange, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::authz::{record_visible, require, search_scope, Capability};
use super::{ApiError, AppState, Auth, ErrorBody};
use crate::access::{self, RecordView};
use crate::ledger::entry::Entry;
use crate::search::{self, CatchUpOptions, Filters};
use crate::users::{self, Principal, Role};

/// The API routes (transfers apart).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/records", get(list_records))
        .route("/api/records/{refcode}", get(show_record))
        .route("/api/records/{refcode}/versions", get(versions))
        .route("/api/records/{refcode}/history", get(history))
        .route("/api/records/{refcode}/files/{*path}", get(download))
        .route("/api/records/{refcode}/fixity", post(fixity))
        .route("/api/search", get(search_handler))
        .route("/api/seals/verify", post(verify_seal))
        .route("/api/ledger/checkpoint", get(checkpoint))
        .route("/api/ledger/vkey", get(vkey))
        .route("/api/ledger/entries/{index}", get(ledger_entry))
        .route("/api/ledger/proof/{index}", get(inclusion))
        .route("/api/ledger/consistency", get(consistency))
        .route("/api/users", get(list_users).post(add_user))
        .route("/api/users/{name}/revoke", post(revoke_user))
        .route("/api/users/{name}/tokens", post(issue_token))
        .route("/api/tokens/{id}/revoke", post(revoke_token))
        .route("/api/config", get(config))
        .route("/api/whoami", get(whoami))
        .route("/api/openapi.json", get(openapi))
}

/// The generated OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "strongroom", description = "A long-term electronic archive repository: transfers, records, search, verification, ledger, retention and disposition, copies for courts. Roles and scopes: formats/server.md."),
    paths(
        super::transfers::upload, super::transfers::list, super::transfers::status,
        super::transfers::receipt, super::transfers::report,
        list_records, show_record, versions, history, download, fixity, search_handler,
        verify_seal, checkpoint, vkey, ledger_entry, inclusion, consistency,
        list_users, add_user, revoke_user, issue_token, revoke_token, config, whoami,
        super::retention_api::list_holds, super::retention_api::place_hold,
        super::retention_api::lift_hold, super::retention_api::due_list,
        super::retention_api::list_batches, super::retention_api::propose,
        super::retention_api::show_batch, super::retention_api::approve,
        super::retention_api::execute, super::retention_api::certificate,
        super::copies_api::issue_copy, super::copies_api::list_copies,
        super::copies_api::show_copy, super::copies_api::download_bundle,
        super::copies_api::revoke_grant
    ),
    components(schemas(ErrorBody, super::transfers::TransferStatus, super::transfers::TransferList,
        RecordPage, RecordDetail, HistoryItem, NewUser, NewToken, Whoami,
        super::retention_api::NewHold, super::retention_api::LiftHold,
        super::retention_api::NewBatch, super::retention_api::Witnesses,
        super::copies_api::NewCopy, super::copies_api::RevokeGrant)),
    modifiers(&TokenSecurity)
)]
pub struct ApiDoc;

struct TokenSecurity;

impl utoipa::Modify for TokenSecurity {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/openapi.json` (no token needed: it describes, it holds nothing).
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A record's facts that decide who may see it.
pub struct Facts {
    /// `show`'s view.
    pub view: RecordView,
    /// Agency-Code of the transfer that brought it.
    pub agency: String,
    /// 密级.
    pub classification: String,
    /// The intake evidence of its first version (seal verdicts, formats, checks).
    pub evidence: Option<crate::intake::IntakeEvidence>,
}

/// Reads a record's view, agency and 密级, and answers 404 unless the caller may see it.
pub async fn visible_record(
    state: &AppState,
    p: &Principal,
    refcode: &str,
) -> Result<Facts, ApiError> {
    require(p, Capability::ReadRecords)?;
    let facts = facts(state, refcode).await?;
    let granted = state.granted(p).await?;
    if record_visible(
        p,
        &facts.agency,
        &facts.view.reference_code,
        &facts.classification,
        &granted,
    ) {
        Ok(facts)
    } else {
        Err(ApiError::not_found(format!("no record {refcode}")))
    }
}

/// A record's facts, whoever asks (callers check visibility).
pub async fn facts(state: &AppState, refcode: &str) -> Result<Facts, ApiError> {
    let view = access::show(&state.store, refcode).await?;
    let classification = view
        .metadata
        .get("classification")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let mut agency = String::new();
    let mut evidence = None;
    if let Some(f) = view.files.iter().find(|f| f.path == "evidence/intake.json") {
        let path = crate::store::join(
            &crate::store::stored_path(&view.object_root),
            &f.content_path,
        );
        if let Some(b) = state.store.get_bytes(&path).await? {
            if let Ok(e) = serde_json::from_slice::<crate::intake::IntakeEvidence>(&b) {
                agency = e.transfer.agency_code.clone();
                evidence = Some(e);
            }
        }
    }
    Ok(Facts {
        view,
        agency,
        classification,
        evidence,
    })
}

/// Paging of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Skip this many (default 0).
    #[serde(default)]
    pub offset: usize,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// `GET /api/records`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    /// Records the caller may see, in all.
    pub total: usize,
    /// This page, by 档号.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<access::RecordSummary>,
}

/// `GET /api/records`: the records the caller may see, by 档号.
#[utoipa::path(get, path = "/api/records", tag = "records", params(Paging),
    responses((status = 200, body = RecordPage), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
async fn list_records(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Query(paging): Query<Paging>,
) -> Result<Json<RecordPage>, ApiError> {
    require(&p, Capability::ReadRecords)?;
    let all = access::list(&state.store).await?;
    let granted = state.granted(&p).await?;
    let mut visible = Vec::new();
    for r in all {
        let ok = match &p.role {
            Role::Archivist => true,
            // Cheap pre-filter on the transfer's agency before reading the 密级.
            Role::Agency(code) if !r.transfer.starts_with(&format!("{code}/")) => false,
            _ => {
                let f = facts(&state, &r.reference_code).await?;
                record_visible(
                    &p,
                    &f.agency,
                    &r.reference_code,
                    &f.classification,
                    &granted,
                )
            }
        };
        if ok {
            visible.push(r);
        }
    }
    let limit = paging.limit.unwrap_or(100).min(1000);
    Ok(Json(RecordPage {
        total: visible.len(),
        records: visible
            .into_iter()
            .skip(paging.offset)
            .take(limit)
            .collect(),
    }))
}

/// Why a person reads (recorded with the read, the seed's art. 11).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Purpose {
    /// Why you read it (kept in the ledger with who read what); default `unspecified`.
    pub purpose: Option<String>,
    /// A version (`v1`, `2`); default the newest.
    pub version: Option<String>,
}

/// A record as `GET /api/records/{refcode}` returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordDetail {
    /// `show`'s view: 档号, object id, head, versions, metadata, files.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub view: RecordView,
    /// Agency-Code of the transfer that brought it.
    pub agency: String,
    /// 密级.
    pub classification: String,
    /// The `record.read` entry this read was recorded as.
    pub read_ledger_index: u64,
}

fn purpose_of(q: &Purpose) -> Result<String, ApiError> {
    let p = q.purpose.as_deref().unwrap_or("unspecified").trim();
    if p.is_empty() || p.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "purpose: say in 1-200 characters why you read the record",
        ));
    }
    Ok(p.to_string())
}

/// `GET /api/records/{refcode}`: metadata, files, digests, versions; recorded as a read.
#[utoipa::path(get, path = "/api/records/{refcode}", tag = "records",
    params(("refcode" = String, Path, description = "档号"), Purpose),
    responses((status = 200, body = RecordDetail), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn show_record(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(refcode): UrlPath<String>,
    Query(q): Query<Purpose>,
) -> Result<Json<RecordDetail>, ApiError> {
    let purpose = purpose_of(&q)?;
    let f = visible_record(&state, &p, &refcode).await?;
    let index = read(&state, &p, &purpose, &f.view.read_target()).await?;
    Ok(Json(RecordDetail {
        view: f.view,
        agency: f.agency,
        classification: f.classification,
        read_ledger_index: index,
    }))
}

/// Records a read in the ledger; content may be sent only after it returns.
pub async fn read(
    state: &AppState,
    p: &Principal,
    purpose: &str,
    target: &access::ReadTarget,
) -> Result<u64, ApiError> {
    let i = access::record_read(&state.store, &state.key, &p.user, purpose, target).await?;
    state.metrics.record_read();
    Ok(i)
}

/// `GET /api/records/{refcode}/versions`: every committed version (when, who, why).
#[utoipa::path(get, path = "/api/records/{refcode}/versions", tag = "records",
    params(("refcode" = String, Path, description = "档号")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn versions(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(refcode): UrlPath<String>,
) -> Result<Json<Vec<access::VersionView>>, ApiError> {
    let f = visible_record(&state, &p, &refcode).await?;
    Ok(Json(f.view.versions))
}

/// One ledger entry about a record.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    /// Leaf index.
    pub index: u64,
    /// The entry.
    #[schema(value_type = Object)]
    pub entry: Entry,
    /// Where its inclusion proof is.
    pub proof: String,
}

/// The ledger entries naming a record, oldest first: the index's history lines (one per entry
/// naming the record, `formats/search.md`) up to where it has followed the ledger, then a scan
/// of the entries it has not applied yet. Reads only the ledger bundles that hold them.
pub async fn record_history(state: &AppState, refcode: &str) -> Result<Vec<HistoryItem>, ApiError> {
    let idx = fresh_index(state).await?;
    let covered = idx.read_to();
    let code = refcode.to_string();
    let mut indices = tokio::task::spawn_blocking(move || search::query::history(&idx, &code))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    let ledger = crate::ledger::commit::open(&state.store).await?;
    let size = ledger.size().await?;
    let covered = covered.min(size);
    indices.retain(|i| *i < covered);
    let mut out = Vec::new();
    let mut push = |index: u64, e: Entry| {
        out.push(HistoryItem {
            index,
            entry: e,
            proof: format!("/api/ledger/proof/{index}"),
        })
    };
    // The indexed part: one read per ledger bundle (256 entries) that holds a line.
    let mut at = 0;
    while at < indices.len() {
        let bundle = indices[at] / 256;
        let run = indices[at..]
            .iter()
            .take_while(|i| **i / 256 == bundle)
            .count();
        let (first, last) = (indices[at], indices[at + run - 1]);
        let entries = ledger.entries(first, last + 1).await?;
        for &i in &indices[at..at + run] {
            let bytes = usize::try_from(i - first).ok().and_then(|k| entries.get(k));
            if let Some(e) = bytes.and_then(|b| Entry::decode(b).ok()) {
                // The line is the index's word; the entry is the ledger's. Both must agree.
                if e.field_str("reference_code") == Some(refcode) {
                    push(i, e);
                }
            }
        }
        at += run;
    }
    // The tail the index has not applied yet.
    let mut start = covered;
    while start < size {
        let end = (start + 256).min(size);
        for (i, bytes) in (start..).zip(ledger.entries(start, end).await?.iter()) {
            let Ok(e) = Entry::decode(bytes) else {
                continue;
            };
            if e.field_str("reference_code") == Some(refcode) {
                push(i, e);
            }
        }
        start = end;
    }
    Ok(out)
}

/// `GET /api/records/{refcode}/history`: the record's ledger entries with proof links.
#[utoipa::path(get, path = "/api/records/{refcode}/history", tag = "records",
    params(("refcode" = String, Path, description = "档号")),
    responses((status = 200, body = Vec<HistoryItem>), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn history(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(refcode): UrlPath<String>,
) -> Result<Json<Vec<HistoryItem>>, ApiError> {
    require(&p, Capability::RecordHistory)?;
    let f = facts(&state, &refcode).await?;
    // The auditor sees history (identifiers and digests), never content.
    if !matches!(p.role, Role::Auditor)
        && !record_visible(
            &p,
            &f.agency,
            &f.view.reference_code,
            &f.classification,
            &state.granted(&p).await?,
        )
    {
        return Err(ApiError::not_found(format!("no record {refcode}")));
    }
    Ok(Json(record_history(&state, &f.view.reference_code).await?))
}

/// Parses a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range against `size`.
/// `Ok(None)`: no usable Range header (the whole file); `Err`: unsatisfiable (416).
fn parse_range(h: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: answered with the whole file, as RFC 9110 allows
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| ())?, b.parse().map_err(|_| ())?);
            (a, b.min(size.saturating_sub(1)))
        }
    };
    if size == 0 || start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `GET /api/records/{refcode}/files/{path}`: one file's bytes, with HTTP Range; recorded as
/// a read before a byte is sent.
#[utoipa::path(get, path = "/api/records/{refcode}/files/{path}", tag = "records",
    params(("refcode" = String, Path, description = "档号"),
        ("path" = String, Path, description = "file path in the record folder, or record.json"), Purpose),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "the range asked for"), (status = 404, body = ErrorBody),
        (status = 416, body = ErrorBody)),
    security(("token" = [])))]
async fn download(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath((refcode, path)): UrlPath<(String, String)>,
    Query(q): Query<Purpose>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let purpose = purpose_of(&q)?;
    let f = visible_record(&state, &p, &refcode).await?;
    let (target, root, content_path) = access::locate_file(
        &state.store,
        &f.view.reference_code,
        &path,
        q.version.as_deref(),
    )
    .await?;
    let location = crate::store::join(&root, &content_path);
    let backend = state.store.backend();
    let meta = backend
        .head(&location)
        .await
        .map_err(|e| ApiError::from(crate::store::StoreError::backend("head", &location, e)))?;
    let size = meta.size;
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    )
    .map_err(|()| {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            format!("the file has {size} bytes"),
        )
    })?;
    read(&state, &p, &purpose, &target).await?;
    let opts = GetOptions {
        range: range.map(|(a, b)| GetRange::Bounded(a..b + 1)),
        ..Default::default()
    };
    let got = backend
        .get_opts(&location, opts)
        .await
        .map_err(|e| ApiError::from(crate::store::StoreError::backend("get", &location, e)))?;
    let stream = got.into_stream().map_err(std::io::Error::other).boxed();
    let name = path.rsplit('/').next().unwrap_or("file").to_string();
    let mut r = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename*=UTF-8''{}", percent(&name)),
        );
    r = match range {
        Some((a, b)) => r
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{size}"))
            .header(header::CONTENT_LENGTH, b - a + 1),
        None => r.header(header::CONTENT_LENGTH, size),
    };
    r.body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(&e))
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `POST /api/records/{refcode}/fixity`: re-reads the record's bytes now and checks every
/// digest; the run is recorded as a `fixity.audited` entry.
#[utoipa::path(post, path = "/api/records/{refcode}/fixity", tag = "verification",
    params(("refcode" = String, Path, description = "档号")),
    responses((status = 200, body = Object, description = "{intact, ledger_index, report}"), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn fixity(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(refcode): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&p, Capability::VerifyFixity)?;
    let f = facts(&state, &refcode).await?;
    let refs = vec![f.view.reference_code.clone()];
    let report = crate::verify::verify(&state.store, &refs, &p.user, None)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let index = crate::verify::record_audit(&state.store, &state.key, &p.user, &refs, &report)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({
        "reference_code": f.view.reference_code,
        "intact": report.is_intact(),
        "ledger_index": index,
        "report": report,
    })))
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query (formats/search.md "Query language"); empty: everything in scope.
    #[serde(default)]
    pub q: String,
    /// Only this agency.
    pub agency: Option<String>,
    /// Only this year, or `2016..2019`.
    pub year: Option<String>,
    /// Only this retention code.
    pub retention: Option<String>,
    /// Count per agency, fonds, year, retention, format (default true).
    pub facets: Option<bool>,
    /// Most hits (default 20, at most 200).
    pub limit: Option<usize>,
}

fn years(s: &str) -> Result<(i64, i64), ApiError> {
    let parse = |t: &str| {
        t.trim().parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "year: {t:?} is not a year (use 2016 or 2016..2019)"
            ))
        })
    };
    match s.split_once("..") {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => parse(s).map(|y| (y, y)),
    }
}

/// Catches the index up with the ledger and searches within the caller's scope.
pub async fn run_search(
    state: &AppState,
    p: &Principal,
    params: &SearchParams,
) -> Result<search::SearchResults, ApiError> {
    require(p, Capability::Search)?;
    let filters = Filters {
        agency: params.agency.clone().filter(|a| !a.is_empty()),
        years: params
            .year
            .as_deref()
            .filter(|y| !y.is_empty())
            .map(years)
            .transpose()?,
        retention: params.retention.clone().filter(|r| !r.is_empty()),
    };
    let idx = fresh_index(state).await?;
    let (q, scope) = (params.q.clone(), search_scope(p, state.granted(p).await?));
    let limit = params.limit.unwrap_or(20).min(200);
    let facets = params.facets.unwrap_or(true);
    tokio::task::spawn_blocking(move || search::search(&idx, &q, &filters, &scope, limit, facets))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}

/// The search index, caught up with the ledger when it has grown since the last catch-up.
async fn fresh_index(state: &AppState) -> Result<search::SearchIndex, ApiError> {
    use std::sync::atomic::Ordering;
    let size = state.store.ledger_size().await?;
    let indexed_to = state.indexed_to.load(Ordering::Acquire);
    if indexed_to == size {
        Ok(state.index_reader.clone())
    } else if indexed_to == u64::MAX {
        // The first search of this server waits for the index to reach the ledger.
        catch_up(state, state.index.lock().await).await
    } else {
        match state.index.try_lock() {
            Ok(guard) => catch_up(state, guard).await,
            // Another search is applying the newest entries: answer from the index as it
            // stands (at most that catch-up behind) instead of queueing behind it.
            Err(_) => Ok(state.index_reader.clone()),
        }
    }
}

/// Brings the search index up to the ledger after a write of this server (waiting for a
/// catch-up already running). A failure is logged: the write stands, and the next search
/// catches up.
pub async fn follow_writes(state: &AppState) {
    if let Err(e) = catch_up(state, state.index.lock().await).await {
        tracing::warn!(error = %e.message, "search index catch-up after a write failed; the next search retries");
    }
}

/// Starts bringing the search index up to the ledger in the background (issue 5: a `serve`
/// start-up catches up without making the first request wait for it). Searches meanwhile
/// answer from the index as it stands; the first one that finds the catch-up running waits
/// for it only if the index has never been caught up by this process.
pub fn catch_up_in_background(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let guard = state.index.lock().await;
        tracing::info!("search index: catching up with the ledger in the background");
        match catch_up(&state, guard).await {
            Ok(_) => tracing::info!(
                to = state.indexed_to.load(std::sync::atomic::Ordering::Acquire),
                seconds = started.elapsed().as_secs_f64(),
                "search index caught up"
            ),
            Err(e) => tracing::warn!(
                error = %e.message,
                "search index catch-up at start-up failed; the next search retries"
            ),
        }
    })
}

/// Brings the index up to the ledger (under its lock, one at a time) and returns it.
async fn catch_up(
    state: &AppState,
    index: tokio::sync::MutexGuard<'_, search::SearchIndex>,
) -> Result<search::SearchIndex, ApiError> {
    use std::sync::atomic::Ordering;
    let (store, idx) = (state.store.clone(), index.clone());
    let handle = tokio::runtime::Handle::current();
    // The follower's future is not `Send`; it runs on a blocking thread driven by this runtime.
    let c = tokio::task::spawn_blocking(move || {
        handle.block_on(search::catch_up(
            &store,
            &idx,
            &CatchUpOptions::default(),
            &|_, _| {},
        ))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    if c.busy {
        tracing::warn!("search index busy: results may be behind the ledger");
    } else {
        state.indexed_to.store(c.to, Ordering::Release);
    }
    Ok(index.clone())
}

/// `GET /api/search`: hits with snippets and facet counts, within the caller's scope
/// (an agency: its own 公开 records; an archivist: everything).
#[utoipa::path(get, path = "/api/search", tag = "search", params(SearchParams),
    responses((status = 200, body = Object, description = "search::SearchResults: {query, total, hits[], facets, warnings[]}"),
        (status = 400, body = ErrorBody)),
    security(("token" = [])))]
async fn search_handler(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Query(params): Query<SearchParams>,
) -> Result<Json<search::SearchResults>, ApiError> {
    run_search(&state, &p, &params).await.map(Json)
}

/// A seal verification request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SealRequest {
    /// Agency-Code whose anchors to verify against.
    pub agency: String,
    /// The sealed file, base64.
    pub file_base64: String,
    /// The seal (`.p7s` DER/PEM or `.jws` text), base64.
    pub seal_base64: String,
    /// `p7s` or `jws`.
    pub seal_kind: String,
}

/// `POST /api/seals/verify`: verifies a seal over a file the caller sends, against the seal
/// registry, now. Nothing is stored.
#[utoipa::path(post, path = "/api/seals/verify", tag = "verification", request_body = SealRequest,
    responses((status = 200, body = Object, description = "the SealVerdict (formats/seals.md)"), (status = 400, body = ErrorBody)),
    security(("token" = [])))]
async fn verify_seal(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Json(req): Json<SealRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    use base64::Engine;
    require(&p, Capability::VerifySeal)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let file = b64
        .decode(req.file_base64.trim())
        .map_err(|_| ApiError::bad_request("file_base64 is not base64"))?;
    let seal = b64
        .decode(req.seal_base64.trim())
        .map_err(|_| ApiError::bad_request("seal_base64 is not base64"))?;
    let ext = match req.seal_kind.as_str() {
        "p7s" => "p7s",
        "jws" => "jws",
        other => {
            return Err(ApiError::bad_request(format!(
                "seal_kind {other:?}: use p7s or jws"
            )))
        }
    };
    let registry = crate::seals::registry::Registry::load(&state.store)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let (policy, _) = state.home.config.seals.for_agency(&req.agency);
    let dir = tempfile::Builder::new()
        .prefix("seal-")
        .tempdir_in(state.home.staging_dir())
        .or_else(|_| tempfile::tempdir())
        .map_err(|e| ApiError::internal(&e))?;
    let (fp, sp) = (
        dir.path().join("file"),
        dir.path().join(format!("file.{ext}")),
    );
    std::fs::write(&fp, &file).map_err(|e| ApiError::internal(&e))?;
    std::fs::write(&sp, &seal).map_err(|e| ApiError::internal(&e))?;
    let verdict = tokio::task::spawn_blocking(move || {
        let r = crate::seals::verify_seal_file(
            &fp,
            &sp,
            &registry,
            &req.agency,
            &policy,
            chrono::Utc::now(),
        );
        drop(dir);
        r
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(
        serde_json::to_value(&verdict).map_err(|e| ApiError::internal(&e))?,
    ))
}

/// `GET /api/ledger/checkpoint`: the latest signed checkpoint.
#[utoipa::path(get, path = "/api/ledger/checkpoint", tag = "ledger",
    responses((status = 200, body = Object, description = "{origin, size, root, note}"), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn checkpoint(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&p, Capability::ReadLedger)?;
    let ledger = crate::ledger::commit::open(&state.store).await?;
    let Some(latest) = ledger.latest().await? else {
        return Err(ApiError::not_found(
            "the ledger is empty: no checkpoint yet",
        ));
    };
    Ok(Json(serde_json::json!({
        "origin": latest.checkpoint.origin(),
        "size": latest.size(),
        "root": latest.root().to_base64(),
        "note": latest.note,
    })))
}

/// `GET /api/ledger/vkey`: the verifier key checkpoints and receipts are signed with.
#[utoipa::path(get, path = "/api/ledger/vkey", tag = "ledger",
    responses((status = 200, body = Object, description = "{origin, verifier_key}")),
    security(("token" = [])))]
async fn vkey(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&p, Capability::ReadLedger)?;
    let info = state.store.archive_info().await?;
    Ok(Json(serde_json::json!({
        "origin": info.key_name, "verifier_key": info.verifier_key,
    })))
}

/// `GET /api/ledger/entries/{index}`: one entry (auditors, archivists).
#[utoipa::path(get, path = "/api/ledger/entries/{index}", tag = "ledger",
    params(("index" = u64, Path, description = "leaf index")),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)),
    security(("token" = [])))]
async fn ledger_entry(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(index): UrlPath<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&p, Capability::ReadLedgerEntries)?;
    let ledger = crate::ledger::commit::open(&state.store).await?;
    let bytes = ledger.entry(index).await?;
    Ok(Json(match Entry::decode(&bytes) {
        Ok(e) => serde_json::to_value(e).map_err(|e| ApiError::internal(&e))?,
        Err(e) => serde_json::json!({
            "index": index, "raw": String::from_utf8_lossy(&bytes), "error": e.to_string(),
        }),
    }))
}

/// A tree size.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SizeParam {
    /// Tree size the proof is against (default: the latest checkpoint's).
    pub size: Option<u64>,
}

/// `GET /api/ledger/proof/{index}`: the inclusion proof in C2SP tlog-proof form (text).
#[utoipa::path(get, path = "/api/ledger/proof/{index}", tag = "ledger",
    params(("index" = u64, Path, description = "leaf index"), SizeParam),
    responses((status = 200, content_type = "text/plain", body = String), (status = 400, body = ErrorBody)),
    security(("token" = [])))]
async fn inclusion(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(index): UrlPath<u64>,
    Query(s): Query<SizeParam>,
) -> Result<Response, ApiError> {
    require(&p, Capability::ReadLedger)?;
    let ledger = crate::ledger::commit::open(&state.store).await?;
    let proof = ledger.tlog_proof(index, s.size).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], proof).into_response())
}

/// Two tree sizes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older size.
    pub old: u64,
    /// The newer size (default: the latest).
    pub new: Option<u64>,
}

/// `GET /api/ledger/consistency?old=&new=`: the consistency proof (base64 hashes).
#[utoipa::path(get, path = "/api/ledger/consistency", tag = "ledger", params(ConsistencyParams),
    responses((status = 200, body = Object, description = "{old, new, proof[]}"), (status = 400, body = ErrorBody)),
    security(("token" = [])))]
async fn consistency(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Query(c): Query<ConsistencyParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&p, Capability::ReadLedger)?;
    let ledger = crate::ledger::commit::open(&state.store).await?;
    let new = match c.new {
        Some(n) => n,
        None => ledger.size().await?,
    };
    let proof = ledger.consistency_proof(c.old, new).await?;
    let hashes: Vec<String> = proof.iter().map(|h| h.to_base64()).collect();
    Ok(Json(
        serde_json::json!({"old": c.old, "new": new, "proof": hashes}),
    ))
}

/// `GET /api/users`: every user and its tokens (never a secret).
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
async fn list_users(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<Vec<users::User>>, ApiError> {
    require(&p, Capability::ManageUsers)?;
    let u = users::Users::load(&state.store).await?;
    Ok(Json(u.list().into_iter().cloned().collect()))
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// Name.
    pub name: String,
    /// Role: agency:<code>, archivist, court:<id>, auditor, security-admin, system-admin.
    pub role: String,
}

/// `POST /api/users` (security administrator).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
async fn add_user(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Json(u): Json<NewUser>,
) -> Result<Json<users::Applied>, ApiError> {
    require(&p, Capability::ManageUsers)?;
    let role = users::Role::parse(&u.role)?;
    Ok(Json(
        users::add_user(&state.store, &state.key, &p.user, &u.name, &role).await?,
    ))
}

/// `POST /api/users/{name}/revoke` (security administrator).
#[utoipa::path(post, path = "/api/users/{name}/revoke", tag = "users",
    params(("name" = String, Path, description = "user")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn revoke_user(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<users::Applied>, ApiError> {
    require(&p, Capability::ManageUsers)?;
    if name == p.user {
        return Err(ApiError::bad_request(
            "a security administrator cannot revoke themself; ask another",
        ));
    }
    Ok(Json(
        users::revoke_user(&state.store, &state.key, &p.user, &name).await?,
    ))
}

/// A token to issue.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// Expiry, RFC 3339 or YYYY-MM-DD; none: until revoked.
    pub expires: Option<String>,
}

/// `POST /api/users/{name}/tokens` (security administrator): the token is in the answer
/// once and never again.
#[utoipa::path(post, path = "/api/users/{name}/tokens", tag = "users", request_body = NewToken,
    params(("name" = String, Path, description = "user")),
    responses((status = 200, body = Object, description = "{user, token, token_id, expires, applied}"), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn issue_token(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(name): UrlPath<String>,
    Json(t): Json<NewToken>,
) -> Result<Json<users::Issued>, ApiError> {
    require(&p, Capability::ManageUsers)?;
    let expires = t
        .expires
        .as_deref()
        .map(|e| {
            crate::seals::registry::parse_time(e).ok_or_else(|| {
                ApiError::bad_request(format!("expires {e:?} is not a date or time"))
            })
        })
        .transpose()?;
    Ok(Json(
        users::issue_token(&state.store, &state.key, &p.user, &name, expires).await?,
    ))
}

/// `POST /api/tokens/{id}/revoke` (security administrator).
#[utoipa::path(post, path = "/api/tokens/{id}/revoke", tag = "users",
    params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<users::Applied>, ApiError> {
    require(&p, Capability::ManageUsers)?;
    Ok(Json(
        users::revoke_token(&state.store, &state.key, &p.user, &id).await?,
    ))
}

/// `GET /api/config` (system administrator): the configuration, without secrets.
#[utoipa::path(get, path = "/api/config", tag = "system",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
async fn config(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&p, Capability::ReadConfig)?;
    let c = &state.home.config;
    let l = &state.limits;
    Ok(Json(serde_json::json!({
        "store": c.store,
        "key_name": c.key_name,
        "virus_scan": c.virus_scan,
        "limits": c.limits,
        "server": {
            "max_upload_bytes": l.max_upload_bytes,
            "max_body_bytes": l.max_body_bytes,
            "request_timeout_seconds": l.request_timeout.as_secs(),
            "upload_timeout_seconds": l.upload_timeout.as_secs(),
        },
        "roles": super::role_matrix(),
    })))
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Whoami {
    /// User name.
    pub user: String,
    /// Role.
    pub role: String,
    /// Token id used.
    pub token_id: String,
}

/// `GET /api/whoami`.
#[utoipa::path(get, path = "/api/whoami", tag = "users",
    responses((status = 200, body = Whoami), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
async fn whoami(Auth(p): Auth) -> Json<Whoami> {
    Json(Whoami {
        user: p.user,
        role: p.role.as_string(),
        token_id: p.token_id,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=4-2"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Ok(None));
    }
}
