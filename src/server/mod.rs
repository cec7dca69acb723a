//! The server (`strongroom serve`): the HTTP API under `/api/`, the archivists' web pages,
//! `/healthz` and `/metrics`, over the library's own modules (`formats/server.md`).
//!
//! Owns HTTP only: authentication (bearer token or sign-in cookie), authorization by role
//! ([`authz`]), limits, logs and metrics. Every state change goes through the library
//! (intake, access, users); nothing here writes the store directly. [`app`] builds the router
//! without a socket, so it can be tested and embedded; [`serve`] binds and runs it with
//! graceful shutdown.

pub mod api;
pub mod authz;
pub mod copies_api;
pub mod metrics;
pub mod pages;
pub mod replicator;
pub mod retention_api;
pub mod transfers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::{Mutex, RwLock};

use crate::access::AccessError;
use crate::home::{Home, HomeError};
use crate::search::{SearchError, SearchIndex};
use crate::sign::ArchiveKey;
use crate::store::{Store, StoreError};
use crate::users::{Principal, Users, UsersError};

pub use authz::Capability;

/// Limits of one server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest transfer package accepted by upload (bytes); larger ones get 413.
    pub max_upload_bytes: u64,
    /// Largest other request body (bytes).
    pub max_body_bytes: usize,
    /// Time a request other than an upload may take.
    pub request_timeout: Duration,
    /// Time an upload may take.
    pub upload_timeout: Duration,
    /// How long shutdown waits for running transfer checks before abandoning them (the
    /// store's recovery undoes an abandoned write at the next start).
    pub shutdown_grace: Duration,
    /// Search results kept for the current index generation (0: none).
    pub search_cache_entries: usize,
}

impl Default for ServerLimits {
    /// 64 GiB uploads, 16 MiB other bodies, 60 s per request, 6 h per upload, 10 min grace,
    /// 1,024 cached search results.
    fn default() -> Self {
        ServerLimits {
            max_upload_bytes: 64 << 30,
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(60),
            upload_timeout: Duration::from_secs(6 * 3600),
            shutdown_grace: Duration::from_secs(600),
            search_cache_entries: 1024,
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The home could not be opened.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The search index could not be opened.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The user registry could not be read.
    #[error(transparent)]
    Users(#[from] UsersError),
    /// The status of earlier uploads could not be read or settled.
    #[error(transparent)]
    Transfers(#[from] transfers::JobsError),
    /// The address could not be bound or the server failed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Everything a request handler may reach.
pub struct AppState {
    /// The home.
    pub home: Home,
    /// The store.
    pub store: Store,
    /// The archive's key (signs ledger checkpoints of reads and receipts).
    pub key: ArchiveKey,
    /// The search index, caught up under this lock (one writer).
    pub index: Mutex<SearchIndex>,
    /// The same index for searching while a catch-up holds the lock.
    pub index_reader: SearchIndex,
    /// The ledger size the index was last caught up to: a search skips the catch-up (and its
    /// lock) while the ledger has not grown.
    pub indexed_to: std::sync::atomic::AtomicU64,
    /// The users, cached with the ledger size they were read at.
    users: RwLock<(u64, Arc<Users>)>,
    /// The court grants (调阅授权), cached the same way.
    grants: RwLock<(u64, Arc<crate::copy::grant::Grants>)>,
    /// Transfers received by this server (kept in its home across restarts).
    pub jobs: transfers::Jobs,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// The background replicator (wake it after a commit).
    pub replicator: replicator::Replicator,
    /// Limits.
    pub limits: ServerLimits,
}

impl AppState {
    /// Opens the home's store, key and index.
    pub async fn open(home: Home, limits: ServerLimits) -> Result<Arc<AppState>, ServerError> {
        let store = home.store().await?;
        let key = home.key()?;
        let index = SearchIndex::open(&crate::search::index_dir(&home))?;
        index.set_result_cache(limits.search_cache_entries);
        let size = store.ledger_size().await.map_err(HomeError::from)?;
        let users = Users::load(&store).await?;
        let replicator = replicator::Replicator::new(
            home.config.replicas.clone(),
            home.config.replication.clone(),
        );
        let jobs = transfers::Jobs::load(home.dir(), &store, &home.staging_dir()).await?;
        Ok(Arc::new(AppState {
            home,
            store,
            key,
            index_reader: index.clone(),
            index: Mutex::new(index),
            indexed_to: std::sync::atomic::AtomicU64::new(u64::MAX),
            users: RwLock::new((size, Arc::new(users))),
            // Read at the first request that needs them.
            grants: RwLock::new((u64::MAX, Arc::default())),
            jobs,
            metrics: metrics::Metrics::default(),
            replicator,
            limits,
        }))
    }

    /// The users as of the ledger's current size: re-read when the ledger grew (a user or
    /// token may have been revoked by the CLI meanwhile; revocation must bite at once).
    pub async fn users(&self) -> Result<Arc<Users>, ApiError> {
        let size = self.store.ledger_size().await?;
        {
            let cached = self.users.read().await;
            if cached.0 == size {
                return Ok(cached.1.clone());
            }
        }
        // One load per ledger size: the requests that found the same change wait for it
        // instead of each reading the users again (a burst after every commit).
        let mut w = self.users.write().await;
        if w.0 >= size {
            return Ok(w.1.clone());
        }
        let fresh = Arc::new(Users::load(&self.store).await?);
        *w = (size, fresh.clone());
        Ok(fresh)
    }
}

impl AppState {
    /// The court grants as of the ledger's current size (a grant made by another process
    /// counts at once).
    pub async fn grants(&self) -> Result<Arc<crate::copy::grant::Grants>, ApiError> {
        let size = self.store.ledger_size().await?;
        {
            let cached = self.grants.read().await;
            if cached.0 == size {
                return Ok(cached.1.clone());
            }
        }
        // One load per ledger size, as for the users.
        let mut w = self.grants.write().await;
        if w.0 != u64::MAX && w.0 >= size {
            return Ok(w.1.clone());
        }
        let fresh = Arc::new(crate::copy::grant::Grants::load(&self.store).await?);
        *w = (size, fresh.clone());
        Ok(fresh)
    }

    /// The records granted to the caller: a court's, through its copies; nobody else's.
    pub async fn granted(&self, p: &Principal) -> Result<Vec<String>, ApiError> {
        match &p.role {
            crate::users::Role::Court(id) => Ok(self.grants().await?.records_of(id)),
            _ => Ok(Vec::new()),
        }
    }
}

/// An error as the client sees it: a status, a stable code and a message that names the
/// problem, never internals (those go to the log).
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`formats/server.md`, "Errors").
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404: also what a caller without access to a record gets, so that existence is not
    /// revealed.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 500 for a cause that must stay in the log.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> ApiError {
        let mut chain = cause.to_string();
        let mut src = cause.source();
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        tracing::error!(error = %chain, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the archive could not complete the request; the error is in the server's log",
        )
    }
}

/// The JSON body of every error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code: `unauthenticated`, `forbidden`, `not_found`, `bad_request`,
    /// `payload_too_large`, `busy`, `internal`, …
    pub error: String,
    /// What went wrong.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: self.code.to_string(),
                message: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"strongroom\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Locked(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the archive is busy with another write; try again shortly",
            ),
            e => ApiError::internal(&e),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::NoSuchRecord(r) => ApiError::not_found(format!("no record {r}")),
            AccessError::NoSuchVersion { .. } | AccessError::NoSuchFile { .. } => {
                ApiError::not_found(e.to_string())
            }
            AccessError::Destroyed { .. } => {
                ApiError::new(StatusCode::GONE, "destroyed", e.to_string())
            }
            AccessError::Store(s) => s.into(),
            e => ApiError::internal(&e),
        }
    }
}

impl From<UsersError> for ApiError {
    fn from(e: UsersError) -> Self {
        match e {
            UsersError::Usage(m) => ApiError::bad_request(m),
            UsersError::NotFound(m) => ApiError::not_found(m),
            UsersError::Duplicate(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            UsersError::Store(s) => s.into(),
            e => ApiError::internal(&e),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Query { .. } | SearchError::RefcodePrefix { .. } => {
                ApiError::bad_request(e.to_string())
            }
            SearchError::Busy(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the search index is being rebuilt; try again shortly",
            ),
            e => ApiError::internal(&e),
        }
    }
}

impl From<crate::ledger::log::LedgerError> for ApiError {
    fn from(e: crate::ledger::log::LedgerError) -> Self {
        use crate::ledger::log::LedgerError as L;
        match e {
            L::Store(s) => s.into(),
            L::IndexOutOfRange { .. } | L::SizeOutOfRange { .. } | L::NoCheckpoint { .. } => {
                ApiError::bad_request(e.to_string())
            }
            e => ApiError::internal(&e),
        }
    }
}

/// The cookie the web pages keep the token in.
pub const TOKEN_COOKIE: &str = "strongroom_token";

/// The caller, authenticated by `Authorization: Bearer <token>` or the sign-in cookie.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

/// The token a request carries, if any.
pub fn request_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        return v
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
    }
    cookie(parts, TOKEN_COOKIE)
}

/// A cookie's value.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = request_token(parts) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this needs an API token: send `Authorization: Bearer <token>` (issued with `strongroom token issue`)",
            ));
        };
        let users = state.users().await?;
        match users.authenticate(&token, chrono::Utc::now()) {
            Some(p) => Ok(Auth(p)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the token is unknown, expired or revoked",
            )),
        }
    }
}

/// The whole application: API, pages, health and metrics, with limits, logs and metrics
/// around every route.
pub fn app(state: Arc<AppState>) -> Router {
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};

    let timeout = |d| TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, d);
    // Uploads stream to disk with their own size check, and may take hours.
    let uploads = transfers::routes().layer(timeout(state.limits.upload_timeout));
    let rest = Router::new()
        .merge(transfers::status_routes())
        .merge(api::routes())
        .merge(retention_api::routes())
        .merge(copies_api::routes())
        .merge(pages::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::handler))
        .layer(RequestBodyLimitLayer::new(state.limits.max_body_bytes))
        .layer(timeout(state.limits.request_timeout));
    Router::new()
        .merge(uploads)
        .merge(rest)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(
            // One line per request at info: method, path, status, latency.
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such page or endpoint")
}

/// `GET /healthz`: 200 when the store and the ledger answer, 503 otherwise.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ledger_size().await {
        Ok(size) => Json(serde_json::json!({"status": "ok", "ledger_size": size})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}

/// Binds `addr`, starts the search index's catch-up in the background, and serves until
/// SIGINT or SIGTERM; then stops taking requests, lets
/// requests in flight finish, and waits up to `limits.shutdown_grace` for transfer checks
/// still running. `ready` is called with the bound address (port 0 picks one).
pub async fn serve(
    state: Arc<AppState>,
    addr: &str,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServerError> {
    let listen_err = |source| ServerError::Listen {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(listen_err)?;
    let local = listener.local_addr().map_err(listen_err)?;
    ready(local);
    // The index catches up while the server already answers (a search waits for it only if
    // it is the first this process serves).
    api::catch_up_in_background(state.clone());
    // Replicas are caught up in the background too: intake never waits for them.
    replicator::spawn(state.clone());
    let router = app(state.clone());
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(listen_err)?;
    tracing::info!("no longer accepting requests; waiting for running transfer checks");
    state.jobs.drain(state.limits.shutdown_grace).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

/// Labels for the OpenAPI document and logs: the capabilities each role has.
pub fn role_matrix() -> HashMap<String, Vec<&'static str>> {
    authz::matrix()
}
