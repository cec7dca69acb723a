//! Copies for courts over the server (核对无误的电子副本, 调阅授权): an archivist issues a
//! copy bundle for a court's request ([`crate::copy::issue`]) and grants it to the court
//! ([`crate::copy::grant`]); the court (`court:<id>`) lists and downloads only the copies
//! granted to it, and reads only the records they name (`formats/server.md`, "Copies and
//! court grants"); an archivist can revoke a grant (撤销调阅授权), after which the court has
//! nothing through it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::authz::{require, Capability};
use super::{ApiError, AppState, Auth};
use crate::copy::bundles;
use crate::copy::grant::{self, GrantError, GrantState, GrantStatus, NewGrant};
use crate::copy::{self, CopyError, CopyRequest};
use crate::users::{Principal, Role};

/// The copy routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/copies", get(list_copies).post(issue_copy))
        .route("/api/copies/{copy_id}", get(show_copy))
        .route("/api/copies/{copy_id}/bundle", get(download_bundle))
        .route("/api/copies/{copy_id}/revoke", post(revoke_grant))
}

impl From<CopyError> for ApiError {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::NoRecords | CopyError::Duplicate(_) => ApiError::bad_request(e.to_string()),
            CopyError::NoSuchRecord(_) | CopyError::NoSuchVersion { .. } => {
                ApiError::not_found(e.to_string())
            }
            CopyError::Damaged { .. } => {
                ApiError::new(StatusCode::CONFLICT, "refused", e.to_string())
            }
            CopyError::Store(s) => s.into(),
            e => ApiError::internal(&e),
        }
    }
}

/// A court's request for a copy.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCopy {
    /// The court's id: the `<id>` of the role `court:<id>` its users have.
    pub court: String,
    /// The request as it should be recorded (case number, letter reference).
    pub request: String,
    /// 档号 of the records to copy.
    pub records: Vec<String>,
    /// The version to copy (default: each record's newest).
    pub version: Option<String>,
    /// When the court's grant lapses (RFC 3339 or YYYY-MM-DD, in the future); none or empty:
    /// until revoked.
    #[serde(default)]
    pub expires: Option<String>,
}

/// `POST /api/copies` (archivist): issues the copy bundle (`copy.issued`) and grants it to
/// the court (`copy.granted`).
#[utoipa::path(post, path = "/api/copies", tag = "copies", request_body = NewCopy,
    responses((status = 200, body = Object, description = "{copy: Issued (formats/cli-json.md), grant}"),
        (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn issue_copy(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    Json(c): Json<NewCopy>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (issued, g) = issue(&state, &p, &c).await?;
    Ok(Json(serde_json::json!({"copy": issued, "grant": g})))
}

/// Issues the copy bundle for a court's request and grants it to the court (the API's and
/// the copies page's one path).
pub async fn issue(
    state: &Arc<AppState>,
    p: &Principal,
    c: &NewCopy,
) -> Result<(copy::Issued, grant::Grant), ApiError> {
    require(p, Capability::IssueCopies)?;
    let court = match Role::parse(&format!("court:{}", c.court.trim()))? {
        Role::Court(id) => id,
        _ => return Err(ApiError::bad_request("court: give the court's id")),
    };
    if c.request.trim().is_empty() {
        return Err(ApiError::bad_request(
            "request: record the court's request (case number, letter reference)",
        ));
    }
    let expires = match c
        .expires
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        None => None,
        Some(e) => {
            let t = crate::seals::registry::parse_time(e).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "expires: {e:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"
                ))
            })?;
            // Checked before the copy is issued: nothing is written for a grant that could
            // never be used.
            if t <= chrono::Utc::now() {
                return Err(ApiError::bad_request(format!(
                    "expires: {e} is already past; give a later date or none (until revoked)"
                )));
            }
            Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
    };
    let dir = state.home.dir().join("copies");
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::internal(&e))?;
    let name = format!("{}.zip", crate::store::random_hex(8));
    let output = dir.join(&name);
    let req = CopyRequest {
        records: c.records.iter().map(|r| r.trim().to_string()).collect(),
        version: c.version.clone().filter(|v| !v.trim().is_empty()),
        request: c.request.trim().to_string(),
        requested_for: format!("court:{court}"),
        actor: p.user.clone(),
        timestamp: state.home.config.timestamp.clone(),
    };
    // Issuing's future is not `Send` (its progress is a plain trait object); it runs on a
    // blocking thread driven by this runtime.
    let (st, out) = (state.clone(), output.clone());
    let handle = tokio::runtime::Handle::current();
    let issued = tokio::task::spawn_blocking(move || {
        handle.block_on(copy::issue(
            st.home.dir(),
            &st.store,
            &st.key,
            &req,
            &out,
            &copy::Quiet,
        ))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let path = output.clone();
    let (digests, bytes) = tokio::task::spawn_blocking(move || {
        crate::digest::digest_file(&path, &[crate::digest::Algorithm::Sha256])
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    let sha256 = digests
        .get(&crate::digest::Algorithm::Sha256)
        .cloned()
        .unwrap_or_default();
    let g = grant::grant(
        &state.store,
        &state.key,
        &p.user,
        &NewGrant {
            court,
            copy_id: issued.copy_id.clone(),
            issued_ledger_index: issued.ledger_index,
            request: c.request.trim().to_string(),
            reference_codes: issued
                .records
                .iter()
                .map(|r| r.reference_code.clone())
                .collect(),
            versions: issued.records.iter().map(|r| r.version.clone()).collect(),
            bundle: name,
            bundle_sha256: sha256,
            bundle_bytes: bytes,
            expires,
        },
    )
    .await?;
    Ok((issued, g))
}

/// The grants the caller may see: an archivist all (revoked and expired ones with their
/// state, as `strongroom copy list --all` lists them), a court its own grants in force.
pub async fn visible_grants(state: &AppState, p: &Principal) -> Result<Vec<GrantStatus>, ApiError> {
    require(p, Capability::ReadCopies)?;
    let all = state.grants().await?;
    Ok(match &p.role {
        Role::Archivist => all.listing(None, true, chrono::Utc::now()),
        Role::Court(id) => all
            .for_court(id)
            .into_iter()
            .map(|g| GrantStatus {
                grant: g.clone(),
                state: GrantState::Active,
                revoked: None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// `GET /api/copies`: the copies the caller may see (a court: those granted to it and not
/// revoked).
#[utoipa::path(get, path = "/api/copies", tag = "copies",
    responses((status = 200, body = Vec<Object>, description = "grants: {court, copy_id, request, reference_codes, versions, bundle_sha256, bundle_bytes, granted_by, granted_at, ledger_index, issued_ledger_index, revoked: null or {reason, revoked_by, revoked_at, ledger_index}}"),
        (status = 403, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn list_copies(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
) -> Result<Json<Vec<GrantStatus>>, ApiError> {
    visible_grants(&state, &p).await.map(Json)
}

/// One copy the caller may see (404 otherwise, as for one that does not exist).
pub async fn one(state: &AppState, p: &Principal, copy_id: &str) -> Result<GrantStatus, ApiError> {
    visible_grants(state, p)
        .await?
        .into_iter()
        .find(|g| g.grant.copy_id == copy_id)
        .ok_or_else(|| ApiError::not_found(format!("no copy {copy_id}")))
}

/// `GET /api/copies/{copy_id}`: one copy's grant (404 for a court it was not granted to, or
/// whose grant was revoked).
#[utoipa::path(get, path = "/api/copies/{copy_id}", tag = "copies",
    params(("copy_id" = String, Path, description = "the copy's id")),
    responses((status = 200, body = Object), (status = 404, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn show_copy(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(copy_id): UrlPath<String>,
) -> Result<Json<GrantStatus>, ApiError> {
    one(&state, &p, &copy_id).await.map(Json)
}

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> Self {
        match e {
            GrantError::NoSuchGrant(_) => ApiError::not_found(e.to_string()),
            GrantError::AlreadyRevoked { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            GrantError::NoReason => ApiError::bad_request(e.to_string()),
            GrantError::Store(s) => s.into(),
            e => ApiError::internal(&e),
        }
    }
}

/// Why a grant is revoked.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeGrant {
    /// The reason, as it should be recorded (1-500 characters).
    pub reason: String,
}

/// `POST /api/copies/{copy_id}/revoke {reason}` (archivist): revokes the court's grant of the
/// copy (`copy.revoked`) and removes its bundle from the home: `{grant, revocation, applied,
/// bundle_removed, bundle_problem}`.
#[utoipa::path(post, path = "/api/copies/{copy_id}/revoke", tag = "copies", request_body = RevokeGrant,
    params(("copy_id" = String, Path, description = "the copy's id")),
    responses((status = 200, body = Object, description = "{grant, revocation, applied: {event, ledger_index, change}, bundle_removed, bundle_problem}"),
        (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("token" = [])))]
pub async fn revoke_grant(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(copy_id): UrlPath<String>,
    Json(body): Json<RevokeGrant>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let done = revoke(&state, &p, &copy_id, &body.reason).await?;
    Ok(Json(done.to_json()))
}

/// Revokes a grant and removes its bundle (the API's and the copy page's one path).
pub async fn revoke(
    state: &AppState,
    p: &Principal,
    copy_id: &str,
    reason: &str,
) -> Result<bundles::Revoked, ApiError> {
    require(p, Capability::IssueCopies)?;
    let done = bundles::revoke(
        state.home.dir(),
        &state.store,
        &state.key,
        &p.user,
        copy_id,
        reason,
    )
    .await?;
    if let Some(problem) = &done.bundle_problem {
        tracing::warn!(copy = %copy_id, %problem, "the revoked grant's bundle could not be removed; strongroom copy prune removes it");
    }
    Ok(done)
}

/// `GET /api/copies/{copy_id}/bundle`: the bundle (ZIP), after its bytes were checked
/// against the grant's sha256 and the download recorded as a `record.read` of each record it
/// holds (purpose: the copy and its request).
#[utoipa::path(get, path = "/api/copies/{copy_id}/bundle", tag = "copies",
    params(("copy_id" = String, Path, description = "the copy's id")),
    responses((status = 200, content_type = "application/zip", description = "the copy bundle (formats/copy-bundle.md)"),
        (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "the bundle on disk does not match its grant"),
        (status = 410, body = super::ErrorBody, description = "the grant was revoked, or expired and its bundle pruned, or the bundle is gone")),
    security(("token" = [])))]
pub async fn download_bundle(
    State(state): State<Arc<AppState>>,
    Auth(p): Auth,
    UrlPath(copy_id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let status = one(&state, &p, &copy_id).await?;
    // Only an archivist sees a grant that is not in force; its bundle is removed with the
    // revocation (or by `copy prune` once expired), so say why rather than "missing".
    if let Some(r) = &status.revoked {
        return Err(ApiError::new(
            StatusCode::GONE,
            "revoked",
            format!(
                "the grant of copy {copy_id} was revoked by {} at {} (ledger entry {}); its bundle is no longer handed out (the ledger keeps the grant, the revocation and every read)",
                r.revoked_by, r.revoked_at, r.ledger_index
            ),
        ));
    }
    let g = status.grant;
    let Some(path) = bundles::bundle_path(state.home.dir(), &g) else {
        return Err(ApiError::not_found(format!("no bundle for copy {copy_id}")));
    };
    let check = path.clone();
    let digested = tokio::task::spawn_blocking(move || {
        crate::digest::digest_file(&check, &[crate::digest::Algorithm::Sha256])
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let sha256 = match digested {
        Ok((d, _)) => d
            .get(&crate::digest::Algorithm::Sha256)
            .cloned()
            .unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && status.state == GrantState::Expired => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "expired",
                format!(
                    "the grant of copy {copy_id} expired at {} and its bundle was pruned; an archivist can issue the copy again",
                    g.expires.as_deref().unwrap_or("?")
                ),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "bundle_missing",
                format!(
                    "the bundle of copy {copy_id} is no longer in this server's home; an archivist can issue the copy again"
                ),
            ))
        }
        Err(e) => return Err(ApiError::internal(&e)),
    };
    if sha256 != g.bundle_sha256 {
        tracing::error!(copy = %copy_id, "the bundle on disk does not match its grant's sha256");
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            format!("the bundle of copy {copy_id} does not match what was issued; it is not handed out (an archivist can issue the copy again)"),
        ));
    }
    let purpose = format!("copy {copy_id} ({})", g.request)
        .chars()
        .take(200)
        .collect::<String>();
    for (i, rc) in g.reference_codes.iter().enumerate() {
        let Ok(code) = crate::refcode::RefCode::parse(rc) else {
            continue;
        };
        let target = crate::access::ReadTarget {
            reference_code: rc.clone(),
            object_id: crate::intake::object_id(&code),
            version: g.versions.get(i).cloned().unwrap_or_default(),
            file: Some(format!("copy:{copy_id}")),
        };
        super::api::read(&state, &p, &purpose, &target).await?;
    }
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // Streamed in 1 MiB chunks: a bundle may be larger than memory.
    let chunks = futures::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let body = Body::from_stream(chunks);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_LENGTH, g.bundle_bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"copy-{copy_id}.zip\""),
            ),
        ],
        body,
    )
        .into_response())
}
