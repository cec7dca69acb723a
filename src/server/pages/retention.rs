//! The retention pages (保管期限与处置): the due list (到期清单), disposition batches (销毁清册)
//! with approve and execute buttons, and holds (冻结) with place and lift forms. Plain forms
//! posting to the same functions as the API ([`super::super::retention_api`]); a refusal
//! (the same archivist approving twice, a held record, …) is shown on the page with the
//! library's reason.

use std::sync::Arc;

use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::{admit, enc, error_page, page, Lang, Visitor};
use crate::retention::state::DueItem;
use crate::retention::RetentionState;
use crate::server::authz::Capability;
use crate::server::retention_api::{self as rapi, DueParams, NewBatch, NewHold};
use crate::server::{ApiError, AppState};

/// The retention page routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/retention/due", get(due_page))
        .route("/dispositions", get(batches_page).post(propose))
        .route("/dispositions/{batch}", get(batch_page))
        .route("/dispositions/{batch}/approve", post(approve))
        .route("/dispositions/{batch}/execute", post(execute))
        .route("/holds", get(holds_page).post(place_hold))
        .route("/holds/{hold}/lift", post(lift_hold))
}

/// The nav links of the retention pages (archivists only).
pub fn nav(lang: Lang) -> Markup {
    html! {
        " · " a href="/retention/due" { (lang.t("到期清单", "Due list")) }
        " · " a href="/dispositions" { (lang.t("销毁清册", "Disposition")) }
        " · " a href="/holds" { (lang.t("冻结", "Holds")) }
    }
}

/// The visitor, if signed in and its role has `cap`; otherwise the sign-in or refusal page.
// The Err is the page a handler answers with at once, as axum hands it the rejection.
#[allow(clippy::result_large_err)]
fn gate(v: Result<Visitor, Response>, cap: Capability) -> Result<Visitor, Response> {
    admit(
        v,
        cap,
        (
            "您的角色不能处理保管期限与处置。",
            "Your role cannot work on retention and disposition.",
        ),
    )
}

fn items_table(lang: Lang, items: &[DueItem]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { (lang.t("序号", "No.")) }
                th scope="col" { (lang.t("题名", "Title")) }
                th scope="col" { (lang.t("年度", "Year")) }
                th scope="col" { (lang.t("档号", "Reference code")) }
                th scope="col" { (lang.t("应保管期限", "Retention")) }
                th scope="col" { (lang.t("已保管期限", "Kept")) }
                th scope="col" { (lang.t("页数/文件数", "Files")) }
                th scope="col" { (lang.t("备注", "Remarks")) }
            } }
            tbody {
                @for i in items {
                    tr {
                        td { (i.seq) }
                        td { (i.title) }
                        td { (i.year) }
                        td { a href=(format!("/records/{}", enc(&i.reference_code))) { (i.reference_code) } }
                        td { (i.retention) }
                        td { (i.kept_years) (lang.t("年", " y")) }
                        td { (i.files) }
                        td { (i.remarks) }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct DueQuery {
    as_of: Option<String>,
    action: Option<String>,
}

async fn due_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    Query(q): Query<DueQuery>,
) -> Response {
    let v = match gate(v, Capability::ReadRetention) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    let params = DueParams {
        as_of: q.as_of.clone(),
        action: q.action.clone(),
        format: None,
    };
    let list = match rapi::due(&state, &v.p, &params).await {
        Ok(l) => l,
        Err(e) => return error_page(lang, Some(&v.p), e),
    };
    let action = q.action.clone().unwrap_or_default();
    let csv = format!(
        "/api/retention/due?format=csv&as_of={}&action={}",
        enc(&list.as_of),
        enc(&action)
    );
    let body = html! {
        form method="get" action="/retention/due" {
            label for="as_of" { (lang.t("截至日期（北京时间）", "As of (China Standard Time)")) }
            input id="as_of" name="as_of" type="date" value=(list.as_of);
            label for="action" { (lang.t("处置方式", "Action")) }
            select id="action" name="action" {
                option value="" selected[action.is_empty()] { (lang.t("全部", "All")) }
                option value="destroy" selected[action == "destroy"] { (lang.t("销毁", "Destroy")) }
                option value="transfer" selected[action == "transfer"] { (lang.t("移交进馆", "Transfer")) }
                option value="review" selected[action == "review"] { (lang.t("鉴定", "Review")) }
            }
            " " button type="submit" { (lang.t("查看", "Show")) }
        }
        p {
            (list.items.len()) (lang.t(" 件到期，共核查 ", " due of ")) (list.records_checked)
            (lang.t(" 件；保管期限表 ", " checked; schedule ")) (list.policy_name)
            " · " a href=(csv) { (lang.t("下载 CSV", "Download CSV")) }
        }
        (items_table(lang, &list.items))
        @if !list.held.is_empty() {
            h2 { (lang.t("已冻结，不列入", "Held, not listed")) }
            ul { @for (code, holds) in &list.held { li { (code) " (" (holds.join(", ")) ")" } } }
        }
        @if !list.waiting.is_empty() {
            h2 { (lang.t("等待起算事件", "Waiting for an event")) }
            ul { @for w in &list.waiting { li { (w.reference_code) " · " (w.event) " · " (w.rule) } } }
        }
        @if Capability::Dispose.allowed(&v.p.role) && !list.items.is_empty() && action != "review" {
            form method="post" action="/dispositions" {
                input type="hidden" name="as_of" value=(list.as_of);
                input type="hidden" name="action" value=(if action.is_empty() { "destroy" } else { action.as_str() });
                button type="submit" { (lang.t("据此编制销毁清册", "Propose a disposition batch from this list")) }
            }
        }
    };
    page(lang, Some(&v.p), lang.t("到期清单", "Due list"), body).into_response()
}

async fn batches_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
) -> Response {
    let v = match gate(v, Capability::ReadRetention) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    let st = match RetentionState::load(&state.store).await {
        Ok(s) => s,
        Err(e) => return error_page(lang, Some(&v.p), e.into()),
    };
    let body = html! {
        @if st.batches.is_empty() { p { (lang.t("尚无销毁清册。", "No disposition batches yet.")) } }
        table {
            thead { tr {
                th scope="col" { (lang.t("清册", "Batch")) }
                th scope="col" { (lang.t("状态", "Status")) }
                th scope="col" { (lang.t("处置方式", "Action")) }
                th scope="col" { (lang.t("截至", "As of")) }
                th scope="col" { (lang.t("件数", "Records")) }
                th scope="col" { (lang.t("批准人", "Approved by")) }
            } }
            tbody {
                @for b in st.batches.values() {
                    tr {
                        td { a href=(format!("/dispositions/{}", b.doc.batch)) { (b.doc.batch) } }
                        td { (status_label(lang, b.status())) }
                        td { (b.doc.action) }
                        td { (b.doc.as_of) }
                        td { (b.doc.items.len()) }
                        td { (b.approvers().join(", ")) }
                    }
                }
            }
        }
        p { a href="/retention/due" { (lang.t("从到期清单编制新的清册", "Propose a new batch from the due list")) } }
    };
    page(
        lang,
        Some(&v.p),
        lang.t("销毁清册", "Disposition batches"),
        body,
    )
    .into_response()
}

fn status_label(lang: Lang, status: &str) -> &'static str {
    match status {
        "executed" => lang.t("已执行", "executed"),
        "approved" => lang.t("已批准", "approved"),
        _ => lang.t("待批准", "proposed"),
    }
}

async fn batch_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(batch): UrlPath<u64>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    match batch_markup(&state, &v, batch, None).await {
        Ok(m) => m.into_response(),
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

/// A batch's page, with a notice (what was just done, or why it was refused) above it.
async fn batch_markup(
    state: &AppState,
    v: &Visitor,
    batch: u64,
    notice: Option<(bool, String)>,
) -> Result<Markup, ApiError> {
    let lang = v.lang;
    if !Capability::ReadRetention.allowed(&v.p.role) {
        return Err(ApiError::forbidden(lang.t(
            "您的角色不能处理保管期限与处置。",
            "Your role cannot work on retention and disposition.",
        )));
    }
    let st = RetentionState::load(&state.store).await?;
    let b = st
        .batches
        .get(&batch)
        .ok_or(crate::retention::RetentionError::NoSuchBatch(batch))?;
    let status = b.status();
    let may = Capability::Dispose.allowed(&v.p.role);
    let body = html! {
        @if let Some((ok, text)) = &notice {
            @if *ok { p.ok role="status" { (text) } } @else { p.bad role="alert" { (text) } }
        }
        dl {
            dt { (lang.t("状态", "Status")) } dd #status { (status_label(lang, status)) }
            dt { (lang.t("处置方式", "Action")) } dd { (b.doc.action) }
            dt { (lang.t("截至", "As of")) } dd { (b.doc.as_of) }
            dt { (lang.t("编制人", "Proposed by")) } dd { (b.doc.proposed_by) " · " (b.doc.proposed_at) }
            dt { (lang.t("保管期限表", "Schedule")) } dd { (b.doc.policy_name) " " code { (b.doc.policy_sha256) } }
            dt { (lang.t("批准", "Approvals")) }
            dd #approvals {
                @if b.approvals.is_empty() { (lang.t("尚无", "none yet")) }
                @for a in &b.approvals { (a.approval) ". " (a.by) " · " (a.at) br; }
            }
        }
        (items_table(lang, &b.doc.items))
        @if may && status == "proposed" {
            form method="post" action=(format!("/dispositions/{batch}/approve")) {
                p { (lang.t("须由两名不同的档案员批准。", "Two different archivists must approve.")) }
                button #approve type="submit" { (lang.t("批准", "Approve")) }
            }
        }
        @if may && status == "approved" && b.doc.action == "destroy" {
            form method="post" action=(format!("/dispositions/{batch}/execute")) {
                h2 { (lang.t("监销并执行销毁", "Execute before two witnesses")) }
                label for="witness1" { (lang.t("监销人一", "First witness")) }
                input #witness1 name="witness1" required;
                label for="witness2" { (lang.t("监销人二", "Second witness")) }
                input #witness2 name="witness2" required;
                p { (lang.t("执行时重新核查冻结与到期；被销毁的档案不可恢复。",
                    "Holds and due dates are checked again; destroyed records cannot be restored.")) }
                button #execute type="submit" { (lang.t("执行销毁", "Destroy")) }
            }
        }
        @if let Some(c) = &b.certificate {
            h2 { (lang.t("销毁证明", "Destruction certificate")) }
            p { a href=(format!("/api/dispositions/{batch}/certificate")) { (lang.t("下载证明", "Download the certificate")) } }
            pre { (c.text) }
        }
    };
    let title = format!("{} {batch}", lang.t("销毁清册", "Disposition batch"));
    Ok(page(lang, Some(&v.p), &title, body))
}

/// Shows the batch page with the outcome of an action: 200 when done, the refusal's status
/// (409, …) with the reason when not.
async fn after(
    state: &AppState,
    v: &Visitor,
    batch: u64,
    outcome: Result<String, ApiError>,
) -> Response {
    let (status, notice) = match outcome {
        Ok(text) => (StatusCode::OK, (true, text)),
        Err(e) if e.status.is_client_error() => (e.status, (false, e.message)),
        Err(e) => return error_page(v.lang, Some(&v.p), e),
    };
    match batch_markup(state, v, batch, Some(notice)).await {
        Ok(m) => (status, m).into_response(),
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

#[derive(Deserialize)]
struct ProposeForm {
    as_of: Option<String>,
    action: Option<String>,
}

async fn propose(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    Form(f): Form<ProposeForm>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let b = NewBatch {
        as_of: f.as_of,
        action: f.action,
    };
    match rapi::propose_batch(&state, &v.p, &b).await {
        Ok(x) => match x["batch"]["batch"].as_u64() {
            Some(n) => Redirect::to(&format!("/dispositions/{n}")).into_response(),
            None => Redirect::to("/dispositions").into_response(),
        },
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

async fn approve(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(batch): UrlPath<u64>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    let outcome = rapi::approve_batch(&state, &v.p, batch).await.map(|a| {
        if a.approvers.len() >= 2 {
            format!(
                "{} {}",
                lang.t("已批准：", "Approved by"),
                a.approvers.join(lang.t("、", " and "))
            )
        } else {
            lang.t(
                "已记录第一个批准；还须另一名档案员批准。",
                "First approval recorded; another archivist must approve.",
            )
            .to_string()
        }
    });
    after(&state, &v, batch, outcome).await
}

#[derive(Deserialize)]
struct ExecuteForm {
    witness1: String,
    witness2: String,
}

async fn execute(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(batch): UrlPath<u64>,
    Form(f): Form<ExecuteForm>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    let witnesses = [f.witness1, f.witness2];
    let outcome = rapi::execute_batch(&state, &v.p, batch, &witnesses)
        .await
        .map(|x| {
            format!(
                "{} {}",
                lang.t("已销毁：", "Destroyed:"),
                x.certificate
                    .destroyed
                    .iter()
                    .map(|d| d.reference_code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    after(&state, &v, batch, outcome).await
}

async fn holds_page(State(state): State<Arc<AppState>>, v: Result<Visitor, Response>) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    match holds_markup(&state, &v, None).await {
        Ok(m) => m.into_response(),
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

async fn holds_markup(
    state: &AppState,
    v: &Visitor,
    notice: Option<(bool, String)>,
) -> Result<Markup, ApiError> {
    let lang = v.lang;
    if !Capability::ReadRetention.allowed(&v.p.role) {
        return Err(ApiError::forbidden(lang.t(
            "您的角色不能处理保管期限与处置。",
            "Your role cannot work on retention and disposition.",
        )));
    }
    let st = RetentionState::load(&state.store).await?;
    let may = Capability::Dispose.allowed(&v.p.role);
    let body = html! {
        @if let Some((ok, text)) = &notice {
            @if *ok { p.ok role="status" { (text) } } @else { p.bad role="alert" { (text) } }
        }
        table {
            thead { tr {
                th scope="col" { (lang.t("冻结", "Hold")) }
                th scope="col" { (lang.t("状态", "Status")) }
                th scope="col" { (lang.t("档号", "Records")) }
                th scope="col" { (lang.t("依据", "Authority")) }
                th scope="col" { (lang.t("事由", "Reason")) }
                th scope="col" { (lang.t("解除批准", "Lift approvals")) }
                @if may { th scope="col" { (lang.t("解除", "Lift")) } }
            } }
            tbody {
                @for h in &st.holds {
                    tr {
                        td { (h.doc.hold) }
                        td { @if h.active() { (lang.t("有效", "active")) } @else { (lang.t("已解除", "lifted")) } }
                        td { @for r in &h.doc.reference_codes { a href=(format!("/records/{}", enc(r))) { (r) } br; } }
                        td { (h.doc.authority) }
                        td { (h.doc.reason) " · " (h.doc.placed_by) " · " (h.doc.placed_at) }
                        td { @for a in &h.lift_approvals { (a.by) ": " (a.reason) br; } }
                        @if may { td { @if h.active() {
                            form method="post" action=(format!("/holds/{}/lift", enc(&h.doc.hold))) {
                                label for=(format!("lift-{}", h.doc.hold)) { (lang.t("解除理由", "Reason")) }
                                input id=(format!("lift-{}", h.doc.hold)) name="reason" required;
                                " " button type="submit" { (lang.t("批准解除", "Approve lifting")) }
                            }
                        } } }
                    }
                }
            }
        }
        @if may {
            h2 { (lang.t("冻结档案", "Place a hold")) }
            form method="post" action="/holds" {
                label for="reference_codes" { (lang.t("档号（每行一个）", "Reference codes (one a line)")) }
                textarea id="reference_codes" name="reference_codes" rows="3" cols="40" required {}
                label for="authority" { (lang.t("依据（法院、案号、审计机关……）", "Authority (court and case, auditor, …)")) }
                input id="authority" name="authority" size="40" required;
                label for="reason" { (lang.t("事由", "Reason")) }
                input id="reason" name="reason" size="40" required;
                " " button type="submit" { (lang.t("冻结", "Place the hold")) }
            }
        }
    };
    Ok(page(lang, Some(&v.p), lang.t("冻结", "Holds"), body))
}

/// Shows the holds page with an outcome.
async fn holds_after(state: &AppState, v: &Visitor, outcome: Result<String, ApiError>) -> Response {
    let (status, notice) = match outcome {
        Ok(text) => (StatusCode::OK, (true, text)),
        Err(e) if e.status.is_client_error() => (e.status, (false, e.message)),
        Err(e) => return error_page(v.lang, Some(&v.p), e),
    };
    match holds_markup(state, v, Some(notice)).await {
        Ok(m) => (status, m).into_response(),
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

#[derive(Deserialize)]
struct PlaceForm {
    reference_codes: String,
    authority: String,
    reason: String,
}

async fn place_hold(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    Form(f): Form<PlaceForm>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let h = NewHold {
        reference_codes: f
            .reference_codes
            .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        reason: f.reason,
        authority: f.authority,
    };
    let lang = v.lang;
    let outcome = rapi::place(&state, &v.p, &h).await.map(|x| {
        format!(
            "{} {}",
            lang.t("已冻结：", "Hold placed:"),
            x["hold"].as_str().unwrap_or_default()
        )
    });
    holds_after(&state, &v, outcome).await
}

#[derive(Deserialize)]
struct LiftForm {
    reason: String,
}

async fn lift_hold(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(hold): UrlPath<String>,
    Form(f): Form<LiftForm>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    let outcome = rapi::lift(&state, &v.p, &hold, &f.reason).await.map(|l| {
        if l.lifted {
            format!("{} {hold}", lang.t("已解除冻结", "Lifted hold"))
        } else {
            lang.t(
                "已记录第一个解除批准；还须另一名档案员批准。",
                "First approval to lift recorded; another archivist must approve.",
            )
            .to_string()
        }
    });
    holds_after(&state, &v, outcome).await
}
