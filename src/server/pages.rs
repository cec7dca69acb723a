//! The archivists' web pages (网页): server-rendered HTML (maud), no JavaScript, in Chinese
//! and English, over the same handlers' logic as the API: sign in with a token (kept in an
//! HttpOnly, SameSite=Strict cookie), search with facets and highlighted snippets, a record
//! page (metadata, files, seal verdicts, fixity, ledger history with proof links), transfers
//! and their reports; the retention pages are in [`retention`], the copies for courts in
//! [`copies`]. Every record page view and download is a `record.read` entry, as in
//! the API.

use std::sync::Arc;

use axum::extract::{Form, FromRequestParts, Path as UrlPath, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use super::api::{self, SearchParams};
use super::authz::Capability;
use super::{cookie, request_token, ApiError, AppState, TOKEN_COOKIE};
use crate::users::Principal;

pub mod copies;
pub mod retention;

/// The page routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", post(signout))
        .route("/lang/{lang}", get(set_lang))
        .route("/search", get(search_page))
        .route("/records/{refcode}", get(record_page))
        .route("/records/{refcode}/fixity", post(fixity_page))
        .route("/transfers", get(transfers_page))
        .route("/transfers/{id}", get(transfer_page))
        .merge(retention::routes())
        .merge(copies::routes())
}

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文 (default).
    Zh,
    /// English.
    En,
}

impl Lang {
    fn of(parts: &Parts) -> Lang {
        match cookie(parts, "lang").as_deref() {
            Some("en") => Lang::En,
            Some("zh") => Lang::Zh,
            _ => {
                let accept = parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if accept.trim_start().starts_with("en") {
                    Lang::En
                } else {
                    Lang::Zh
                }
            }
        }
    }

    /// The text in this language.
    fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// A signed-in page visitor, or a redirect to the sign-in page.
pub struct Visitor {
    /// Who.
    pub p: Principal,
    /// Their language.
    pub lang: Lang,
}

impl FromRequestParts<Arc<AppState>> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let lang = Lang::of(parts);
        let Some(token) = request_token(parts) else {
            return Err(Redirect::to("/signin").into_response());
        };
        let users = state.users().await.map_err(IntoResponse::into_response)?;
        match users.authenticate(&token, chrono::Utc::now()) {
            Some(p) => Ok(Visitor { p, lang }),
            None => Err(Redirect::to("/signin?expired=1").into_response()),
        }
    }
}

/// The language alone, for pages without sign-in.
pub struct PageLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang(Lang::of(parts)))
    }
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;color:#1b1b1b;line-height:1.5}
header{background:#13315c;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}header form{margin:0}main{max-width:72rem;margin:0 auto;padding:1rem 1.2rem}
a{color:#0b4f9c}table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border-bottom:1px solid #ccd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.layout{display:grid;grid-template-columns:15rem 1fr;gap:1.5rem}@media(max-width:50rem){.layout{grid-template-columns:1fr}}
.facets h3{font-size:1rem;margin:.8rem 0 .2rem}.facets ul{list-style:none;padding:0;margin:0}
.hit{margin:0 0 1rem}.hit h3{margin:0;font-size:1.05rem}.snippet b{background:#ffe88a;font-weight:bold}
.ok{color:#116b2e;font-weight:bold}.bad{color:#a40000;font-weight:bold}code{word-break:break-all;font-size:.85em}
input,button{font:inherit;padding:.3rem .5rem}label{display:block;margin:.4rem 0 .1rem}
pre{white-space:pre-wrap;overflow-wrap:anywhere}dt{font-weight:bold}dd{margin:0 0 .3rem 1.2rem}
.skip{position:absolute;left:-10rem}.skip:focus{left:1rem;background:#fff;color:#000}";

fn page(lang: Lang, who: Option<&Principal>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · strongroom" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { (lang.t("跳到正文", "Skip to content")) }
                header role="banner" {
                    strong { "strongroom " (lang.t("电子档案库", "archive")) }
                    @if let Some(p) = who {
                        nav aria-label=(lang.t("主导航", "Main")) {
                            a href="/search" { (lang.t("检索", "Search")) }
                            @if Capability::ReadTransfers.allowed(&p.role) {
                                " · " a href="/transfers" { (lang.t("移交", "Transfers")) }
                            }
                            @if Capability::ReadRetention.allowed(&p.role) { (retention::nav(lang)) }
                            @if Capability::ReadCopies.allowed(&p.role) { (copies::nav(lang)) }
                        }
                        span { (p.user) " (" (p.role) ")" }
                        form method="post" action="/signout" {
                            button type="submit" { (lang.t("退出", "Sign out")) }
                        }
                    }
                    span {
                        a href="/lang/zh" lang="zh-CN" { "中文" } " | " a href="/lang/en" lang="en" { "English" }
                    }
                }
                main id="main" role="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The visitor, when signed in and its role has `cap`; otherwise the page to answer with:
/// the sign-in redirect, or the refusal page (403) naming what the role cannot do
/// (`(zh, en)`).
// The Err is the page a handler answers with at once, as axum hands it the rejection.
#[allow(clippy::result_large_err)]
fn admit(
    v: Result<Visitor, Response>,
    cap: Capability,
    what: (&str, &str),
) -> Result<Visitor, Response> {
    let v = v?;
    if cap.allowed(&v.p.role) {
        Ok(v)
    } else {
        Err(error_page(
            v.lang,
            Some(&v.p),
            ApiError::forbidden(v.lang.t(what.0, what.1)),
        ))
    }
}

fn error_page(lang: Lang, who: Option<&Principal>, e: ApiError) -> Response {
    let status = e.status;
    let title = lang.t("出错了", "Something went wrong");
    let body = html! { p role="alert" { (e.message) } };
    (status, page(lang, who, title, body)).into_response()
}

async fn home(v: Result<Visitor, Response>) -> Redirect {
    match v {
        Ok(_) => Redirect::to("/search"),
        Err(_) => Redirect::to("/signin"),
    }
}

#[derive(Deserialize)]
struct SigninQuery {
    expired: Option<String>,
}

async fn signin_form(PageLang(lang): PageLang, Query(q): Query<SigninQuery>) -> Markup {
    sign_in_markup(
        lang,
        q.expired.is_some().then(|| {
            lang.t(
                "令牌无效、已过期或已撤销。",
                "The token is unknown, expired or revoked.",
            )
        }),
    )
}

fn sign_in_markup(lang: Lang, problem: Option<&str>) -> Markup {
    let title = lang.t("登录", "Sign in");
    page(
        lang,
        None,
        title,
        html! {
            @if let Some(p) = problem { p.bad role="alert" { (p) } }
            form method="post" action="/signin" {
                label for="token" { (lang.t("API 令牌（由安全管理员签发）", "API token (issued by the security administrator)")) }
                input id="token" name="token" type="password" size="60" required autocomplete="off";
                " "
                button type="submit" { (title) }
            }
        },
    )
}

#[derive(Deserialize)]
struct SigninForm {
    token: String,
}

async fn signin(
    State(state): State<Arc<AppState>>,
    PageLang(lang): PageLang,
    Form(f): Form<SigninForm>,
) -> Response {
    let token = f.token.trim().to_string();
    let users = match state.users().await {
        Ok(u) => u,
        Err(e) => return error_page(lang, None, e),
    };
    let Some(p) = users.authenticate(&token, chrono::Utc::now()) else {
        return (
            StatusCode::UNAUTHORIZED,
            sign_in_markup(
                lang,
                Some(lang.t(
                    "令牌无效、已过期或已撤销。",
                    "The token is unknown, expired or revoked.",
                )),
            ),
        )
            .into_response();
    };
    // A court comes for its copies; everyone else starts at search.
    let start = match p.role {
        crate::users::Role::Court(_) => "/copies",
        _ => "/search",
    };
    (
        [(
            header::SET_COOKIE,
            format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"),
        )],
        Redirect::to(start),
    )
        .into_response()
}

async fn signout() -> Response {
    (
        [(
            header::SET_COOKIE,
            format!("{TOKEN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Redirect::to("/signin"),
    )
        .into_response()
}

async fn set_lang(UrlPath(lang): UrlPath<String>, headers: HeaderMap) -> Response {
    let lang = if lang == "en" { "en" } else { "zh" };
    // Back to the page the visitor was on, if it was one of ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|r| r.find('/').map(|i| r[i..].to_string()))
        .unwrap_or_else(|| "/".into());
    (
        [(
            header::SET_COOKIE,
            format!("lang={lang}; Path=/; SameSite=Strict"),
        )],
        Redirect::to(&back),
    )
        .into_response()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn search_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    Query(params): Query<SearchParams>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    let title = lang.t("检索", "Search");
    if !Capability::Search.allowed(&v.p.role) {
        return error_page(
            lang,
            Some(&v.p),
            ApiError::forbidden(lang.t(
                "您的角色不能检索档案内容。",
                "Your role cannot search the records.",
            )),
        );
    }
    let results = if params.q.is_empty() && params.agency.is_none() && params.year.is_none() {
        None
    } else {
        match api::run_search(&state, &v.p, &params).await {
            Ok(r) => Some(r),
            Err(e) => return error_page(lang, Some(&v.p), e),
        }
    };
    let link = |dim: &str, value: &str| -> String {
        let mut s = format!("/search?q={}", enc(&params.q));
        let (mut agency, mut year, mut retention) = (
            params.agency.clone().unwrap_or_default(),
            params.year.clone().unwrap_or_default(),
            params.retention.clone().unwrap_or_default(),
        );
        match dim {
            "agency" => agency = value.into(),
            "year" => year = value.into(),
            "retention" => retention = value.into(),
            _ => {}
        }
        for (k, v) in [("agency", agency), ("year", year), ("retention", retention)] {
            if !v.is_empty() {
                s.push_str(&format!("&{k}={}", enc(&v)));
            }
        }
        s
    };
    let body = html! {
        form method="get" action="/search" role="search" {
            label for="q" { (lang.t("检索词（题名、全文、档号……）", "Words (title, full text, 档号 …)")) }
            input id="q" name="q" type="search" size="50" value=(params.q);
            " "
            button type="submit" { (title) }
        }
        @if let Some(r) = &results {
            div.layout {
                aside.facets aria-label=(lang.t("分面", "Facets")) {
                    @if let Some(f) = &r.facets {
                        @for (dim, values) in f {
                            @if !values.is_empty() {
                                h3 { (facet_name(lang, dim)) }
                                ul {
                                    @for (value, n) in values {
                                        li {
                                            @if matches!(dim.as_str(), "agency" | "year" | "retention") {
                                                a href=(link(dim, value)) { (value) } " (" (n) ")"
                                            } @else {
                                                (value) " (" (n) ")"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section aria-label=(lang.t("结果", "Results")) {
                    p role="status" { (lang.t("共", "")) (r.total) (lang.t(" 件", " records found")) }
                    @for h in &r.hits {
                        article.hit {
                            h3 { a href=(format!("/records/{}", enc(&h.reference_code))) { (h.title) } }
                            div { code { (h.reference_code) } " · " (h.agency) " · " (h.date) }
                            // The search library builds this HTML itself, escaped, with <b> marks.
                            p.snippet { (PreEscaped(&h.snippet_html)) }
                        }
                    }
                }
            }
        }
    };
    page(lang, Some(&v.p), title, body).into_response()
}

fn facet_name(lang: Lang, dim: &str) -> String {
    match dim {
        "agency" => lang.t("立档单位", "Agency"),
        "fonds" => lang.t("全宗", "Fonds"),
        "year" => lang.t("年度", "Year"),
        "retention" => lang.t("保管期限", "Retention"),
        "format" => lang.t("格式", "Format"),
        other => other,
    }
    .to_string()
}

#[derive(Deserialize)]
struct PurposeQuery {
    purpose: Option<String>,
}

async fn record_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(refcode): UrlPath<String>,
    Query(q): Query<PurposeQuery>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    match record_markup(&state, &v, &refcode, q.purpose.as_deref(), None).await {
        Ok(m) => m.into_response(),
        // An archivist sees what remains of a destroyed record: its tombstone and history.
        Err(e) if e.code == "destroyed" && Capability::ReadRetention.allowed(&v.p.role) => {
            match tombstone_markup(&state, &v, &refcode).await {
                Ok(m) => (StatusCode::GONE, m).into_response(),
                Err(e) => error_page(v.lang, Some(&v.p), e),
            }
        }
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

/// The page of a destroyed or transferred record (墓碑): what the tombstone keeps, and the
/// record's history from the ledger.
async fn tombstone_markup(
    state: &AppState,
    v: &Visitor,
    refcode: &str,
) -> Result<Markup, ApiError> {
    let lang = v.lang;
    let rc = crate::refcode::RefCode::parse(refcode.trim())
        .map_err(|_| ApiError::not_found(format!("no record {refcode}")))?;
    let t = crate::retention::state::tombstone(&state.store, &crate::intake::object_id(&rc))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no record {refcode}")))?;
    let history = api::record_history(state, &t.reference_code).await?;
    let body = html! {
        p.bad role="alert" {
            @if t.disposition == "transferred" { (lang.t("本件已移交进馆，此处不再保存。", "This record was transferred out and is no longer kept here.")) }
            @else { (lang.t("本件已依销毁清册销毁，仅存墓碑记录。", "This record was destroyed by a disposition batch; only its tombstone remains.")) }
        }
        h2 { (lang.t("墓碑", "Tombstone")) }
        dl #tombstone {
            dt { (lang.t("档号", "Reference code")) } dd { code { (t.reference_code) } }
            dt { (lang.t("题名", "Title")) } dd { (t.title) }
            dt { (lang.t("销毁清册", "Batch")) } dd { a href=(format!("/dispositions/{}", t.batch)) { (t.batch) } " · " (t.rule) }
            dt { (lang.t("日期", "Date")) } dd { (t.destroyed_on) " · " (t.destroyed_by) }
            dt { (lang.t("批准人", "Approved by")) } dd { (t.approvers.join(", ")) }
            dt { (lang.t("监销人", "Witnesses")) } dd { (t.witnesses.join(", ")) }
            dt { (lang.t("最后版本", "Last version")) } dd { (t.version) " " code { (t.inventory_sha512) } }
            dt { (lang.t("账本条目", "Ledger entry")) } dd { a href=(format!("/api/ledger/proof/{}", t.ledger_index)) { (t.ledger_index) } }
        }
        h2 { (lang.t("账本历史", "Ledger history")) }
        table {
            thead { tr { th scope="col" { "#" } th scope="col" { (lang.t("事件", "Event")) } th scope="col" { (lang.t("时间", "Time")) }
                th scope="col" { (lang.t("操作者", "Actor")) } } }
            tbody { @for h in &history { tr { td { (h.index) } td { (h.entry.kind) } td { (h.entry.time) } td { (h.entry.actor) } } } }
        }
    };
    Ok(page(lang, Some(&v.p), &t.reference_code, body))
}

async fn record_markup(
    state: &AppState,
    v: &Visitor,
    refcode: &str,
    purpose: Option<&str>,
    fixity: Option<serde_json::Value>,
) -> Result<Markup, ApiError> {
    let lang = v.lang;
    let f = api::visible_record(state, &v.p, refcode).await?;
    let purpose = purpose
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("查阅 consultation (web)")
        .chars()
        .take(200)
        .collect::<String>();
    let read = api::read(state, &v.p, &purpose, &f.view.read_target()).await?;
    let history = api::record_history(state, &f.view.reference_code).await?;
    // Holds naming it (冻结), for those who work on retention.
    let holds = if Capability::ReadRetention.allowed(&v.p.role) {
        crate::retention::RetentionState::load(&state.store)
            .await?
            .holds_naming(&f.view.reference_code)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    } else {
        Vec::new()
    };
    let title = f
        .view
        .metadata
        .get("title")
        .and_then(|t| t.as_str())
        .unwrap_or(&f.view.reference_code)
        .to_string();
    let rc = enc(&f.view.reference_code);
    let meta: Vec<(String, String)> = f
        .view
        .metadata
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.as_str() != "files")
                .map(|(k, v)| {
                    let s = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Array(a) => a
                            .iter()
                            .map(|x| {
                                x.as_str()
                                    .map(String::from)
                                    .unwrap_or_else(|| x.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(lang.t("、", ", ")),
                        other => other.to_string(),
                    };
                    (field_label(lang, k), s)
                })
                .collect()
        })
        .unwrap_or_default();
    let seals: Vec<(String, bool, String)> = f
        .evidence
        .iter()
        .flat_map(|e| e.files.iter())
        .filter_map(|ef| {
            ef.seal.as_ref().map(|s| {
                let detail = s
                    .signers
                    .first()
                    .and_then(|sg| serde_json::to_value(sg).ok())
                    .and_then(|v| v.get("subject").and_then(|x| x.as_str()).map(String::from))
                    .unwrap_or_else(|| s.format.clone());
                (ef.path.clone(), s.valid, detail)
            })
        })
        .collect();
    let body = html! {
        p { (lang.t("档号", "Reference code")) ": " code { (f.view.reference_code) } " · "
            (lang.t("版本", "Version")) " " (f.view.head) " · "
            (lang.t("密级", "Classification")) " " (f.classification) " · "
            (lang.t("立档单位", "Agency")) " " (f.agency) }
        p role="note" { (lang.t("本次查阅已记入账本，条目 ", "This view is recorded in the ledger as entry ")) (read)
            (lang.t("，目的：", ", purpose: ")) (purpose) }
        @if !holds.is_empty() {
            h2 { (lang.t("冻结", "Holds")) }
            ul #holds {
                @for h in &holds {
                    li { a href="/holds" { (h.doc.hold) } " · "
                        @if h.active() { span.bad { (lang.t("有效：不得销毁或移交", "active: not to be destroyed or transferred")) } }
                        @else { (lang.t("已解除", "lifted")) }
                        " · " (h.doc.authority) " · " (h.doc.reason) }
                }
            }
        }
        h2 { (lang.t("著录信息", "Metadata")) }
        table {
            tbody { @for (k, val) in &meta { tr { th scope="row" { (k) } td { (val) } } } }
        }
        h2 { (lang.t("文件", "Files")) }
        table {
            thead { tr { th scope="col" { (lang.t("路径", "Path")) } th scope="col" { "SHA-256" } } }
            tbody {
                @for file in &f.view.files {
                    tr {
                        td { a href=(format!("/api/records/{rc}/files/{}?purpose={}", enc_path(&file.path), enc(&purpose))) { (file.path) } }
                        td { code { (file.sha256.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
        h2 { (lang.t("电子印章验证", "Seal verdicts")) }
        @if seals.is_empty() {
            p { (lang.t("本件没有印章文件。", "This record has no seal files.")) }
        } @else {
            ul {
                @for (path, valid, detail) in &seals {
                    li { code { (path) } ": "
                        @if *valid { span.ok { (lang.t("有效", "valid")) } } @else { span.bad { (lang.t("无效", "not valid")) } }
                        " (" (detail) ")" }
                }
            }
        }
        h2 { (lang.t("固定性检测", "Fixity")) }
        @if let Some(r) = &fixity {
            @if r.get("intact").and_then(|b| b.as_bool()) == Some(true) {
                p.ok role="status" { (lang.t("完好：所有摘要一致。", "Intact: every digest matches.")) " "
                    (lang.t("账本条目 ", "Ledger entry ")) (r.get("ledger_index").cloned().unwrap_or_default()) }
            } @else {
                p.bad role="alert" { (lang.t("发现损坏！", "Damage found!")) }
                pre { (serde_json::to_string_pretty(r).unwrap_or_default()) }
            }
        }
        @if Capability::VerifyFixity.allowed(&v.p.role) {
            form method="post" action=(format!("/records/{rc}/fixity")) {
                button type="submit" { (lang.t("立即重新计算摘要", "Re-read and check digests now")) }
            }
        }
        h2 { (lang.t("账本历史", "Ledger history")) }
        table {
            thead { tr { th scope="col" { "#" } th scope="col" { (lang.t("事件", "Event")) } th scope="col" { (lang.t("时间", "Time")) }
                th scope="col" { (lang.t("操作者", "Actor")) } th scope="col" { (lang.t("证明", "Proof")) } } }
            tbody {
                @for h in &history {
                    tr {
                        td { (h.index) } td { (h.entry.kind) } td { (h.entry.time) } td { (h.entry.actor) }
                        td { a href=(h.proof) { (lang.t("包含证明", "inclusion proof")) } }
                    }
                }
            }
        }
    };
    Ok(page(lang, Some(&v.p), &title, body))
}

/// The archivist's name of a `record.json` member (DA/T 46 terms; `formats/record.schema.json`).
fn field_label(lang: Lang, key: &str) -> String {
    let (zh, en) = match key {
        "reference_code" => ("档号", "Reference code"),
        "title" => ("题名", "Title"),
        "creator" => ("责任者", "Creator"),
        "date" => ("日期", "Date"),
        "retention" => ("保管期限", "Retention"),
        "fonds" => ("全宗号", "Fonds"),
        "category" => ("门类", "Category"),
        "year" => ("年度", "Year"),
        "organization" => ("机构（问题）", "Organisation"),
        "item_number" => ("件号", "Item number"),
        "classification" => ("密级", "Classification"),
        "case_number" => ("案号", "Case number"),
        "document_number" => ("文号", "Document number"),
        "keywords" => ("主题词", "Keywords"),
        "description" => ("附注", "Description"),
        "closed_date" => ("办结日期", "Closed"),
        "language" => ("语种", "Language"),
        _ => return key.to_string(),
    };
    lang.t(zh, en).to_string()
}

fn enc_path(p: &str) -> String {
    p.split('/').map(enc).collect::<Vec<_>>().join("/")
}

async fn fixity_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(refcode): UrlPath<String>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !Capability::VerifyFixity.allowed(&v.p.role) {
        return error_page(
            v.lang,
            Some(&v.p),
            ApiError::forbidden("fixity checks are for archivists and auditors"),
        );
    }
    let refs = vec![refcode.clone()];
    let result = async {
        let f = api::visible_record(&state, &v.p, &refcode).await?;
        let refs = vec![f.view.reference_code.clone()];
        let report = crate::verify::verify(&state.store, &refs, &v.p.user, None)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let index =
            crate::verify::record_audit(&state.store, &state.key, &v.p.user, &refs, &report)
                .await
                .map_err(|e| ApiError::internal(&e))?;
        Ok::<_, ApiError>(serde_json::json!({
            "intact": report.is_intact(), "ledger_index": index, "report": report,
        }))
    }
    .await;
    drop(refs);
    match result {
        Ok(r) => match record_markup(&state, &v, &refcode, None, Some(r)).await {
            Ok(m) => m.into_response(),
            Err(e) => error_page(v.lang, Some(&v.p), e),
        },
        Err(e) => error_page(v.lang, Some(&v.p), e),
    }
}

async fn transfers_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    if !Capability::ReadTransfers.allowed(&v.p.role) {
        return error_page(
            lang,
            Some(&v.p),
            ApiError::forbidden(
                lang.t("您的角色不能查看移交。", "Your role cannot see transfers."),
            ),
        );
    }
    let accepted = match crate::access::transfer_records(&state.store).await {
        Ok(t) => t,
        Err(e) => return error_page(lang, Some(&v.p), e.into()),
    };
    let visible = |agency: &str| super::authz::transfer_visible(&v.p, agency);
    let received = state.jobs_visible(&v.p);
    let body = html! {
        h2 { (lang.t("本服务器收到的移交", "Received by this server")) }
        @if received.is_empty() { p { (lang.t("暂无。", "None yet.")) } }
        ul {
            @for s in &received {
                li { a href=(format!("/transfers/{}", s.id)) { (s.id) } " · " (s.state) " · "
                    (s.agency_code.as_deref().unwrap_or("")) "/" (s.external_identifier.as_deref().unwrap_or("")) " · " (s.submitted_at) }
            }
        }
        h2 { (lang.t("已接收的移交", "Accepted transfers")) }
        table {
            thead { tr { th scope="col" { (lang.t("立档单位", "Agency")) } th scope="col" { (lang.t("移交编号", "Transfer")) }
                th scope="col" { (lang.t("件数", "Records")) } th scope="col" { (lang.t("账本条目", "Ledger entry")) } } }
            tbody {
                @for t in accepted.iter().filter(|t| visible(&t.transfer.agency_code)) {
                    tr { td { (t.transfer.agency_code) } td { (t.transfer.external_identifier) } td { (t.records.len()) } td { (t.ledger_index) } }
                }
            }
        }
    };
    page(lang, Some(&v.p), lang.t("移交", "Transfers"), body).into_response()
}

async fn transfer_page(
    State(state): State<Arc<AppState>>,
    v: Result<Visitor, Response>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let v = match v {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang;
    let Some(s) = state.jobs_visible(&v.p).into_iter().find(|s| s.id == id) else {
        return error_page(
            lang,
            Some(&v.p),
            ApiError::not_found(format!("no transfer {id}")),
        );
    };
    let findings: Vec<serde_json::Value> = s
        .report
        .as_ref()
        .and_then(|r| r.get("findings"))
        .and_then(|f| f.as_array())
        .cloned()
        .unwrap_or_default();
    let field = |f: &serde_json::Value, k: &str| {
        f.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    let body = html! {
        p { (lang.t("状态", "State")) ": " strong { (s.state) } " · " (s.bytes) " bytes · " (s.submitted_by) " · " (s.submitted_at) }
        @if let Some(e) = &s.error { p.bad role="alert" { (e) } }
        @if let Some(r) = &s.receipt {
            h2 { (lang.t("接收凭证", "Receipt")) }
            p { a href=(format!("/api/transfers/{}/receipt", s.id)) { (lang.t("下载签名凭证", "Download the signed receipt")) } }
            pre { (serde_json::to_string_pretty(r).unwrap_or_default()) }
        }
        @if !findings.is_empty() {
            h2 { (lang.t("检测报告：全部问题", "Report: every problem")) }
            table {
                thead { tr { th scope="col" { (lang.t("代码", "Code")) } th scope="col" { (lang.t("类别", "Category")) } th scope="col" { (lang.t("位置", "Where")) } th scope="col" { (lang.t("说明", "Message")) } } }
                tbody {
                    @for f in &findings {
                        tr { td { code { (field(f, "code")) } } td { (field(f, "category")) } td { (field(f, "file")) } td { (field(f, "message")) } }
                    }
                }
            }
        }
    };
    page(
        lang,
        Some(&v.p),
        &format!("{} {id}", lang.t("移交", "Transfer")),
        body,
    )
    .into_response()
}

impl AppState {
    /// The uploads the caller may see, as the transfers API lists them.
    pub fn jobs_visible(&self, p: &Principal) -> Vec<super::transfers::TransferStatus> {
        if !Capability::ReadTransfers.allowed(&p.role) {
            return Vec::new();
        }
        self.jobs.visible_to(p)
    }
}
