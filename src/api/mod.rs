//! The HTTP API (axum): the listener ([`ApiServer`]) with its routes, the dashboard's pages
//! ([`crate::web`]), who may call what ([`auth`]), body limits and JSON errors. Handlers are
//! thin: they parse parameters, call the store or [`Control`], and shape JSON.

pub mod auth;
pub mod error;
mod groups;
mod history;
mod manage;
mod openapi;
mod params;
pub mod schema;
pub mod session;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{delete, get};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::error;

pub use error::ApiError;

use auth::Auth;

use crate::control::Control;
use crate::web;

/// Request bodies are small JSON objects; anything larger is refused.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot serve HTTP on {addr}: {source}. Pick another {key} address (port 0 lets the OS choose)"
)]
pub struct ApiBindError {
    key: &'static str,
    addr: SocketAddr,
    source: std::io::Error,
}

/// The running HTTP listener.
pub struct ApiServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl ApiServer {
    /// Binds `addr` and serves the API and dashboard over `control` on it.
    pub async fn start(addr: SocketAddr, control: Arc<Control>) -> Result<Self, ApiBindError> {
        Self::serve("api.listen", addr, router(control)).await
    }

    /// Binds `addr` (the value of config key `key`) and serves `app` on it.
    pub async fn serve(
        key: &'static str,
        addr: SocketAddr,
        app: Router,
    ) -> Result<Self, ApiBindError> {
        let bind_error = |source| ApiBindError { key, addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(err) = served {
                error!(%err, "the API server stopped");
            }
        });
        Ok(Self {
            addr: bound,
            stop,
            task,
        })
    }

    /// The bound address (with the real port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and lets requests under way finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The API's and the dashboard's routes over `control`.
pub fn router(control: Arc<Control>) -> Router {
    let auth = Arc::new(Auth::new(&control.config().api));
    let protected = Router::new()
        .route("/api/stats/summary", get(history::summary))
        .route("/api/stats/top", get(history::top))
        .route("/api/stats/timeline", get(history::timeline))
        .route("/api/queries", get(history::queries))
        .route("/api/report/clients", get(history::client_report))
        .route(
            "/api/blocking",
            get(manage::blocking).post(manage::set_blocking),
        )
        .route("/api/check", get(manage::check))
        .route("/api/groups", get(groups::groups))
        .route("/api/clients", get(groups::clients))
        .route("/api/rules", get(manage::rules).post(manage::add_rule))
        .route("/api/rules/{id}", delete(manage::delete_rule))
        .route("/api/lists", get(manage::lists))
        .route(
            "/api/lists/refresh",
            axum::routing::post(manage::refresh_lists),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&auth),
            auth::require_auth,
        ))
        .route("/api/health", get(status::health))
        .route("/api/openapi.json", get(openapi::document))
        .route("/metrics", get(status::metrics))
        .with_state(control);
    let sessions = Router::new()
        .route(
            "/api/auth",
            get(auth::status).post(auth::login).delete(auth::logout),
        )
        .with_state(auth);
    Router::new()
        .merge(protected)
        .merge(sessions)
        .merge(web::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(web::security_headers))
}
