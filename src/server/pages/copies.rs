//! The copies pages (调阅与副本): archivists list the copies issued for courts, issue one for
//! a court's request (a form), and revoke a grant (撤销调阅授权); a court's users see only the
//! copies granted to them and not revoked, with the bundle's download link and the records it
//! names. Plain forms posting to the same functions as the API
//! ([`crate::server::copies_api`]); a refusal is shown on the page with its reason.

use std::sync::Arc;

use axum::extract::{Form, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::{admit, enc, error_page, page, Lang, Visitor};
use crate::copy::grant::{self, GrantState, GrantStatus};
use crate::server::authz::Capability;
use crate::server::copies_api::{self as capi, NewCopy};
use crate::server::{ApiError, AppState};

/// The copies page routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/copies", get(copies_page).post(issue))
        .route("/copies/{copy_id}", get(copy_page))
        .route("/copies/{copy_id}/revoke", post(revoke))
}

/// The nav link of the copies pages (archivists and courts).
pub fn nav(lang: Lang) -> Markup {
    html! { " · " a href="/copies" { (lang.t("调阅副本", "Copies")) } }
}

/// The visitor, if signed in and its role has `cap`; otherwise the sign-in or refusal page.
// The Err is the page a handler answers with at once, as axum hands it the rejection.
#[allow(clippy::result_large_err)]
fn gate(v: Result<Visitor, Response>, cap: Capability) -> Result<Visitor, Response> {
    admit(
        v,
        cap,
        (
            "您的角色不能处理调阅副本。",
            "Your role cannot work on copies for courts.",
        ),
    )
}

/// A record page link whose read is recorded with the copy as its purpose.
fn record_link(copy: &GrantStatus, reference_code: &str) -> String {
    format!(
        "/records/{}?purpose={}",
        enc(reference_code),
        // A read's purpose is at most 200 characters.
        enc(
            &format!("copy {} ({})", copy.grant.copy_id, copy.grant.request)
                .chars()
                .take(200)
                .collect::<String>()
        )
    )
}

fn status_cell(lang: Lang, g: &GrantStatus) -> Markup {
    let expires = g.grant.expires.as_deref().unwrap_or("");
    html! {
        @match (&g.state, &g.revoked) {
            (GrantState::Revoked, Some(r)) => { span.bad { (lang.t("已撤销", "Revoked")) " " (r.revoked_at) } }
            (GrantState::Expired, _) => { span.bad { (lang.t("已过期", "Expired")) " " (expires) } }
            _ => {
                span.ok { (lang.t("授权有效", "Granted")) }
                @if !expires.is_empty() { " " (lang.t("至 ", "until ")) (expires) }
            }
        }
    }
}

/// The values a refused issue form is shown again with.
#[derive(Default, Deserialize)]
struct IssueForm {
    court: String,
    request: String,
    /// 档号, one a line (or separated by commas or spaces).
    records: String,
    #[serde(default)]
    version: String,
    /// YYYY-MM-DD or RFC 3339; empty: until revoked.
    #[serde(default)]
    expires: String,
}

fn issue_form(lang: Lang, f: &IssueForm) -> Markup {
    html! {
        h2 id="issue" { (lang.t("为法院出具副本", "Issue a copy for a court")) }
        form method="post" action="/copies" aria-labelledby="issue" {
            label for="court" { (lang.t("法院编号（court: 角色的编号）", "Court id (of its court: role)")) }
            input id="court" name="court" required size="30" value=(f.court);
            label for="request" { (lang.t("调卷函（案号、函号）", "The court's request (case number, letter)")) }
            input id="request" name="request" required size="60" value=(f.request);
            label for="records" { (lang.t("档号（每行一个）", "Reference codes (one a line)")) }
            textarea id="records" name="records" required rows="4" cols="40" { (f.records) }
            label for="version" { (lang.t("版本（留空为最新）", "Version (empty: the newest)")) }
            input id="version" name="version" size="6" value=(f.version);
            label for="expires" { (lang.t("授权截止日期（留空为撤销前一直有效）", "Grant expires on (empty: until revoked)")) }
            input id="expires" name="expires" type="date" value=(f.expires);
            p { button type="submit" { (lang.t("出具并授权", "Issue and grant")) } }
        }
    }
}

async fn copies_markup(
    state: &AppState,
    v: &Visitor,
    problem: Option<&str>,
    form: &IssueForm,
) -> Result<Markup, ApiError> {
    let lang = v.lang;
    let copies = capi::visible_grants(state, &v.p).await?;
    let archivist = Capability::IssueCopies.allowed(&v.p.role);
    let body = html! {
        @if let Some(p) = problem { p.bad role="alert" { (p) } }
        @if copies.is_empty() {
            p { (if archivist { lang.t("尚未出具副本。", "No copies issued yet.") }
                 else { lang.t("没有授予您的副本。", "No copies are granted to you.") }) }
        } @else {
            table {
                caption { (lang.t("副本", "Copies")) }
                thead { tr {
                    th scope="col" { (lang.t("副本", "Copy")) }
                    @if archivist { th scope="col" { (lang.t("法院", "Court")) } }
                    th scope="col" { (lang.t("调卷函", "Request")) }
                    th scope="col" { (lang.t("档号", "Records")) }
                    th scope="col" { (lang.t("出具", "Issued")) }
                    @if archivist { th scope="col" { (lang.t("状态", "Status")) } }
                    @else { th scope="col" { (lang.t("下载", "Download")) } }
                } }
                tbody {
                    @for g in &copies {
                        tr {
                            td { a href=(format!("/copies/{}", enc(&g.grant.copy_id))) title=(g.grant.copy_id) {
                                // The start of the id is enough to tell copies apart; the copy's page shows it whole.
                                code { (g.grant.copy_id.chars().take(12).collect::<String>()) "…" } } }
                            @if archivist { td { (g.grant.court) } }
                            td { (g.grant.request) }
                            td { @for rc in &g.grant.reference_codes {
                                a href=(record_link(g, rc)) { (rc) } br;
                            } }
                            td { (g.grant.granted_at) " · " (g.grant.granted_by) }
                            @if archivist { td { (status_cell(lang, g)) } }
                            @else { td { a href=(format!("/api/copies/{}/bundle", enc(&g.grant.copy_id))) download {
                                (lang.t("下载副本包", "Download the bundle")) " (" (g.grant.bundle_bytes) " bytes)" } } }
                        }
                    }
                }
            }
        }
        @if archivist { (issue_form(lang, form)) }
    };
    Ok(page(
        lang,
        Some(&v.p),
        lang.t("调阅副本", "Copies for courts"),
        body,
    ))
}

async fn copies_page(State(state): State<Arc<AppState>>, v: Result<Visitor, Response>) -> Response {
    let v = match gate(v, Capability::ReadCopies) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match copies_markup(&state, &v, None, &IssueForm::default()).await {
        Ok(m) => m.into_response(),
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

async fn issue(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    Form(f): Form<IssueForm>,
) -> Response {
    let v = match gate(v, Capability::IssueCopies) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let c = NewCopy {
        court: f.court.clone(),
        request: f.request.clone(),
        records: f
            .records
            .split(|c: char| c == '\n' || c == ',' || c == '，' || c.is_whitespace())
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
        version: Some(f.version.clone()).filter(|s| !s.trim().is_empty()),
        expires: Some(f.expires.clone()).filter(|s| !s.trim().is_empty()),
    };
    match capi::issue(&state, &v.p, &c).await {
        Ok((issued, _)) => {
            Redirect::to(&format!("/copies/{}", enc(&issued.copy_id))).into_response()
        }
        // Shown on the page with what was typed, so the archivist corrects it in one go.
        Err(e) if e.status.is_client_error() => {
            match copies_markup(&state, &v, Some(&e.message), &f).await {
                Ok(m) => (e.status, m).into_response(),
                Err(e) => error_page(v.lang, Some(&v.p), e),
            }
        }
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

async fn copy_markup(
    state: &AppState,
    v: &Visitor,
    copy_id: &str,
    problem: Option<&str>,
) -> Result<Markup, ApiError> {
    let lang = v.lang;
    let g = capi::one(state, &v.p, copy_id).await?;
    let archivist = Capability::IssueCopies.allowed(&v.p.role);
    let body = html! {
        @if let Some(p) = problem { p.bad role="alert" { (p) } }
        dl {
            @if archivist { dt { (lang.t("法院", "Court")) } dd { (g.grant.court) } }
            dt { (lang.t("调卷函", "Request")) } dd { (g.grant.request) }
            dt { (lang.t("出具与授权", "Issued and granted")) }
            dd { (g.grant.granted_at) " · " (g.grant.granted_by) " · "
                (lang.t("账本条目 ", "ledger entries ")) (g.grant.issued_ledger_index) ", " (g.grant.ledger_index) }
            dt { (lang.t("副本包", "Bundle")) }
            dd {
                @if g.state == GrantState::Revoked {
                    // Removed from the server with the revocation; the ledger keeps the rest.
                    (lang.t("副本包已随撤销移除", "The bundle was removed with the revocation"))
                } @else {
                    a href=(format!("/api/copies/{}/bundle", enc(&g.grant.copy_id))) download {
                        (lang.t("下载副本包", "Download the bundle")) }
                }
                " (" (g.grant.bundle_bytes) " bytes, sha256 " code { (g.grant.bundle_sha256) } ")"
            }
            dt { (lang.t("授权截止", "Grant expires")) }
            dd { (g.grant.expires.as_deref().unwrap_or(lang.t("撤销前一直有效", "never (until revoked)"))) }
            @if archivist { dt { (lang.t("状态", "Status")) } dd { (status_cell(lang, &g)) } }
        }
        p { (lang.t(
            "下载即记入账本（每件档案一条调阅记录）。副本包可用档案馆公布的验证密钥离线核验：strongroom copy verify 或 tools/verify-copy。",
            "A download is recorded in the ledger (a read of each record). The bundle is checked offline with the archive's published verifier key: strongroom copy verify or tools/verify-copy.")) }
        h2 { (lang.t("所含档案", "Records in it")) }
        table {
            thead { tr { th scope="col" { (lang.t("档号", "Reference code")) } th scope="col" { (lang.t("版本", "Version")) } } }
            tbody {
                @for (i, rc) in g.grant.reference_codes.iter().enumerate() {
                    tr { td { a href=(record_link(&g, rc)) { (rc) } } td { (g.grant.versions.get(i).map(String::as_str).unwrap_or("")) } }
                }
            }
        }
        @if let Some(r) = &g.revoked {
            h2 { (lang.t("撤销", "Revocation")) }
            p role="status" { (lang.t("该授权已撤销，法院已无法查看或下载。", "This grant is revoked: the court can no longer see or download it."))
                " " (r.revoked_at) " · " (r.revoked_by) " · " (lang.t("理由：", "reason: ")) (r.reason)
                " · " (lang.t("账本条目 ", "ledger entry ")) (r.ledger_index) }
        } @else if archivist {
            h2 id="revoke" { (lang.t("撤销授权", "Revoke the grant")) }
            form method="post" action=(format!("/copies/{}/revoke", enc(&g.grant.copy_id))) aria-labelledby="revoke" {
                label for="reason" { (lang.t("撤销理由（记入账本）", "Reason (recorded in the ledger)")) }
                input id="reason" name="reason" required size="60" maxlength=(grant::MAX_REASON_CHARS);
                " " button type="submit" { (lang.t("撤销", "Revoke")) }
            }
        }
    };
    Ok(page(
        lang,
        Some(&v.p),
        &format!("{} {copy_id}", lang.t("副本", "Copy")),
        body,
    ))
}

async fn copy_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(copy_id): UrlPath<String>,
) -> Response {
    let v = match gate(v, Capability::ReadCopies) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match copy_markup(&state, &v, &copy_id, None).await {
        Ok(m) => m.into_response(),
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    reason: String,
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(copy_id): UrlPath<String>,
    Form(f): Form<RevokeForm>,
) -> Response {
    let v = match gate(v, Capability::IssueCopies) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match capi::revoke(&state, &v.p, &copy_id, &f.reason).await {
        Ok(_) => Redirect::to(&format!("/copies/{}", enc(&copy_id))).into_response(),
        Err(e) => {
            if e.status == StatusCode::NOT_FOUND || !e.status.is_client_error() {
                return error_page(v.lang, Some(&v.p), e);
            }
            match copy_markup(&state, &v, &copy_id, Some(&e.message)).await {
                Ok(m) => (e.status, m).into_response(),
                Err(e) => error_page(v.lang, Some(&v.p), e),
            }
        }
    }
}
