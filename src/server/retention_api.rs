//! The retention API (保管期限与处置): holds (冻结), the due list (到期清单), and disposition
//! batches (销毁清册) with two approvals and witnessed execution, over
//! [`crate::retention`] (`formats/server.md`, "Retention"). Every change is the library's,
//! made in the caller's name; the two-person rules are the library's too, so the API and the
//! CLI refuse exactly the same things.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::authz::{require, Capability};
use super::{ApiError, AppState, Auth};
use crate::access::AccessError;
use crate::retention::{
    dispose, due, hold, policy, Action, Policy, RetentionError, RetentionState,
};
use crate::users::Principal;

/// The retention routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/holds", get(list_holds).post(place_hold))
        .route("/api/holds/{hold}/lift", post(lift_hold))
        .route("/api/retention/due", get(due_list))
        .route("/api/dispositions", get(list_batches).post(propose))
        .route("/api/dispositions/{batch}", get(show_batch))
        .route("/api/dispositions/{batch}/approve", post(approve))
        .route("/api/dispositions/{batch}/execute", post(execute))
        .route("/api/dispositions/{batch}/certificate", get(certificate))
}

impl From<RetentionError> for ApiError {
    fn from(e: RetentionError) -> Self {
        match e {
            RetentionError::Usage(m) => ApiError::bad_request(m),
            RetentionError::Refused(_) => {
                ApiError::new(StatusCode::CONFLICT, "refused", e.to_string())
            }
            RetentionError::NoSuchRecord(_)
            | RetentionError::NoSuchHold(_)
            | RetentionError::NoSuchBatch(_) => ApiError::not_found(e.to_string()),
            RetentionError::Access(a @ AccessError::Destroyed { .. }) => {
                ApiError::new(StatusCode::GONE, "destroyed", a.to_string())
            }
            RetentionError::Access(a) => a.into(),
            RetentionError::Store(s) => s.into(),
            e => ApiError::internal(&e),
        }
    }
}

/// The schedule in force; one that does not parse is the operator's to fix (500, logged).
fn policy_in_force(state: &AppState) -> Result<Policy, ApiError> {
    crate::retention::policy_in_force(&state.home).map_err(|e| ApiError::internal(&e))
}

/// `?as_of=` (default today, China Standard Time) and `?action=`.
fn date_and_action(
    as_of: Option<&str>,
    action: Option<&str>,
) -> Result<(chrono::NaiveDate, Option<Action>), ApiError> {
    let date = match as_of.filter(|s| !s.is_empty()) {
        Some(s) => policy::parse_as_of(s)?,
        None => policy::today_cst(),
    };
    let action = match action.filter(|s| !s.is_empty()) {
        Some(a) => Some(Action::parse(a).ok_or_else(|| {
            ApiError::bad_request(format!("action {a:?}: give destroy, transfer or review"))
        })?),
        None => None,
    };
    Ok((date, action))
}

/// `GET /api/holds`: every hold, active or lifted, with its lifting approvals.
#[utoipa::path(get, path = "/api/holds", tag = "retention",
    responses((status = 200, body = Vec<Object>, description = "holds: {hold, reference_codes, reason, authority, placed_by, placed_at, lift_approvals[], active}"),
        (status = 403, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn list_holds(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    require(&p, Capability::ReadRetention)?;
    Ok(Json(holds_json(&state).await?))
}

/// Holds with their `active` flag (the library computes it; JSON carries it).
pub async fn holds_json(state: &AppState) -> Result<Vec<serde_json::Value>, ApiError> {
    let st = RetentionState::load(&state.store).await?;
    Ok(st
        .holds
        .iter()
        .map(|h| {
            let mut v = serde_json::to_value(h).unwrap_or_default();
            v["active"] = h.active().into();
            v
        })
        .collect())
}

/// A hold to place.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewHold {
    /// 档号 of the records to hold.
    pub reference_codes: Vec<String>,
    /// Why (litigation, audit, …).
    pub reason: String,
    /// Who ordered it (court and case number, auditor, …).
    pub authority: String,
}

/// `POST /api/holds` (archivist): places a hold; held records are never due.
#[utoipa::path(post, path = "/api/holds", tag = "retention", request_body = NewHold,
    responses((status = 200, body = Object, description = "{hold, applied}"),
        (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn place_hold(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Json(h): Json<NewHold>,
) -> Result<Json<serde_json::Value>, ApiError> {
    place(&state, &p, &h).await.map(Json)
}

/// Places a hold in `p`'s name (the API and the pages).
pub async fn place(
    state: &AppState,
    p: &Principal,
    h: &NewHold,
) -> Result<serde_json::Value, ApiError> {
    require(p, Capability::Dispose)?;
    let (applied, id) = hold::place(
        &state.store,
        &state.key,
        &p.user,
        &h.reference_codes,
        &h.reason,
        &h.authority,
    )
    .await?;
    Ok(serde_json::json!({"hold": id, "applied": applied}))
}

/// Why a hold is lifted.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LiftHold {
    /// Why.
    pub reason: String,
}

/// `POST /api/holds/{hold}/lift` (archivist): one approval to lift; the second, by another
/// archivist, lifts it. The same archivist twice is refused (409).
#[utoipa::path(post, path = "/api/holds/{hold}/lift", tag = "retention", request_body = LiftHold,
    params(("hold" = String, Path, description = "hold id (H1, …)")),
    responses((status = 200, body = Object, description = "{hold, approval, lifted, applied}"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn lift_hold(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(id): UrlPath<String>,
    Json(l): Json<LiftHold>,
) -> Result<Json<hold::Lift>, ApiError> {
    lift(&state, &p, &id, &l.reason).await.map(Json)
}

/// Approves lifting a hold in `p`'s name.
pub async fn lift(
    state: &AppState,
    p: &Principal,
    id: &str,
    reason: &str,
) -> Result<hold::Lift, ApiError> {
    require(p, Capability::Dispose)?;
    Ok(hold::lift(&state.store, &state.key, &p.user, id, reason).await?)
}

/// `GET /api/retention/due` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueParams {
    /// Judge as of this date, China Standard Time (YYYY-MM-DD; default today).
    pub as_of: Option<String>,
    /// Only destroy, transfer or review.
    pub action: Option<String>,
    /// `csv` for the 销毁清册 columns as CSV (UTF-8 with BOM); also chosen by
    /// `Accept: text/csv`.
    pub format: Option<String>,
}

/// `GET /api/retention/due`: the records whose period has run, as JSON or CSV.
#[utoipa::path(get, path = "/api/retention/due", tag = "retention", params(DueParams),
    responses((status = 200, body = Object, description = "DueList: {as_of, policy_name, policy_sha256, action, items[], held[], waiting[], records_checked}; or text/csv"),
        (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn due_list(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    headers: HeaderMap,
    Query(q): Query<DueParams>,
) -> Result<Response, ApiError> {
    let list = due(&state, &p, &q).await?;
    let wants_csv = q.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"due-{}.csv\"", list.as_of),
                ),
            ],
            due::to_csv(&list.items),
        )
            .into_response())
    } else {
        Ok(Json(list).into_response())
    }
}

/// The due list for `p` (an archivist).
pub async fn due(state: &AppState, p: &Principal, q: &DueParams) -> Result<due::DueList, ApiError> {
    require(p, Capability::ReadRetention)?;
    if let Some(f) = q.format.as_deref().filter(|f| !f.is_empty()) {
        if f != "csv" && f != "json" {
            return Err(ApiError::bad_request(format!(
                "format {f:?}: give csv or json"
            )));
        }
    }
    let (date, action) = date_and_action(q.as_of.as_deref(), q.action.as_deref())?;
    let policy = policy_in_force(state)?;
    Ok(due::due_list(&state.store, &policy, date, action).await?)
}

/// `GET /api/dispositions`: every batch and its status.
#[utoipa::path(get, path = "/api/dispositions", tag = "retention",
    responses((status = 200, body = Vec<Object>, description = "{batch, status, action, as_of, records, approvers[]}"),
        (status = 403, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn list_batches(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    require(&p, Capability::ReadRetention)?;
    let st = RetentionState::load(&state.store).await?;
    Ok(Json(
        st.batches
            .values()
            .map(|b| {
                serde_json::json!({"batch": b.doc.batch, "status": b.status(),
                    "action": b.doc.action, "as_of": b.doc.as_of, "records": b.doc.items.len(),
                    "proposed_by": b.doc.proposed_by, "approvers": b.approvers()})
            })
            .collect(),
    ))
}

/// A batch to propose.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NewBatch {
    /// Judge as of this date, China Standard Time (default today).
    pub as_of: Option<String>,
    /// destroy (default) or transfer.
    pub action: Option<String>,
}

/// `POST /api/dispositions` (archivist): draws up a batch from the due list under the
/// schedule in force; held records and records already in a batch are left out.
#[utoipa::path(post, path = "/api/dispositions", tag = "retention", request_body = NewBatch,
    responses((status = 200, body = Object, description = "{batch, applied}"),
        (status = 400, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn propose(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Json(b): Json<NewBatch>,
) -> Result<Json<serde_json::Value>, ApiError> {
    propose_batch(&state, &p, &b).await.map(Json)
}

/// Proposes a batch in `p`'s name.
pub async fn propose_batch(
    state: &AppState,
    p: &Principal,
    b: &NewBatch,
) -> Result<serde_json::Value, ApiError> {
    require(p, Capability::Dispose)?;
    let (date, action) = date_and_action(
        b.as_of.as_deref(),
        Some(b.action.as_deref().unwrap_or("destroy")),
    )?;
    let policy = policy_in_force(state)?;
    let (applied, batch) = dispose::propose(
        &state.store,
        &state.key,
        &p.user,
        &policy,
        date,
        action.unwrap_or(Action::Destroy),
    )
    .await?;
    Ok(serde_json::json!({"batch": batch, "applied": applied}))
}

/// `GET /api/dispositions/{batch}`: the batch, its list, approvals and status.
#[utoipa::path(get, path = "/api/dispositions/{batch}", tag = "retention",
    params(("batch" = u64, Path, description = "batch number")),
    responses((status = 200, body = Object, description = "{status, batch}"),
        (status = 404, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn show_batch(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(batch): UrlPath<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&p, Capability::ReadRetention)?;
    let st = RetentionState::load(&state.store).await?;
    let b = st
        .batches
        .get(&batch)
        .ok_or(RetentionError::NoSuchBatch(batch))?;
    Ok(Json(
        serde_json::json!({"status": b.status(), "approvers": b.approvers(), "batch": b}),
    ))
}

/// `POST /api/dispositions/{batch}/approve` (archivist): two distinct archivists approve; the
/// same archivist twice is refused (409).
#[utoipa::path(post, path = "/api/dispositions/{batch}/approve", tag = "retention",
    params(("batch" = u64, Path, description = "batch number")),
    responses((status = 200, body = Object, description = "{batch, approval, approvers[], applied}"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn approve(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(batch): UrlPath<u64>,
) -> Result<Json<dispose::Approved>, ApiError> {
    approve_batch(&state, &p, batch).await.map(Json)
}

/// Approves a batch in `p`'s name.
pub async fn approve_batch(
    state: &AppState,
    p: &Principal,
    batch: u64,
) -> Result<dispose::Approved, ApiError> {
    require(p, Capability::Dispose)?;
    Ok(dispose::approve(&state.store, &state.key, &p.user, batch).await?)
}

/// Who witnessed a destruction.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Witnesses {
    /// The witnesses (监销人); two, distinct.
    pub witnesses: Vec<String>,
}

/// `POST /api/dispositions/{batch}/execute` (archivist): destroys an approved batch before
/// two witnesses, re-checking holds and due dates today, and returns the signed certificate.
#[utoipa::path(post, path = "/api/dispositions/{batch}/execute", tag = "retention", request_body = Witnesses,
    params(("batch" = u64, Path, description = "batch number")),
    responses((status = 200, body = Object, description = "{batch, already_executed, destroyed_now[], certificate, signed}"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn execute(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(batch): UrlPath<u64>,
    Json(w): Json<Witnesses>,
) -> Result<Json<dispose::Executed>, ApiError> {
    execute_batch(&state, &p, batch, &w.witnesses)
        .await
        .map(Json)
}

/// Executes a batch in `p`'s name.
pub async fn execute_batch(
    state: &AppState,
    p: &Principal,
    batch: u64,
    witnesses: &[String],
) -> Result<dispose::Executed, ApiError> {
    require(p, Capability::Dispose)?;
    let today = policy::today_cst();
    Ok(dispose::execute(&state.store, &state.key, &p.user, batch, witnesses, today).await?)
}

/// `GET /api/dispositions/{batch}/certificate`: the destruction certificate (销毁证明) of
/// an executed batch, printable text with the archive's signed note, as a download.
#[utoipa::path(get, path = "/api/dispositions/{batch}/certificate", tag = "retention",
    params(("batch" = u64, Path, description = "batch number")),
    responses((status = 200, content_type = "text/plain", description = "the certificate; `strongroom dispose verify` checks it"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn certificate(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(batch): UrlPath<u64>,
) -> Result<Response, ApiError> {
    require(&p, Capability::ReadRetention)?;
    let (_, doc) = dispose::certificate(&state.store, batch).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"certificate-{batch}.txt\""),
            ),
        ],
        doc.text,
    )
        .into_response())
}
