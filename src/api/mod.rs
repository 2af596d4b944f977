//! The HTTP API (axum): the listener ([`ApiServer`]), routes, bearer-token auth, body limits and
//! JSON errors. Handlers are thin: they parse parameters, call the store or [`Control`], and
//! shape JSON.

mod error;
mod history;
mod manage;
mod params;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::error;

pub use error::ApiError;

use crate::control::Control;

/// Request bodies are small JSON objects; anything larger is refused.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot serve the API on {addr}: {source}. Pick another api.listen address (port 0 lets the OS choose)"
)]
pub struct ApiBindError {
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
    /// Binds `addr` and serves the API over `control` on it.
    pub async fn start(addr: SocketAddr, control: Arc<Control>) -> Result<Self, ApiBindError> {
        let bind_error = |source| ApiBindError { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(control);
        let task = tokio::spawn(async move {
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

/// The API's routes over `control`.
pub fn router(control: Arc<Control>) -> Router {
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
        .route("/api/rules", get(manage::rules).post(manage::add_rule))
        .route("/api/rules/{id}", delete(manage::delete_rule))
        .route("/api/lists", get(manage::lists))
        .route(
            "/api/lists/refresh",
            axum::routing::post(manage::refresh_lists),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&control),
            require_token,
        ));
    Router::new()
        .route("/api/health", get(status::health))
        .route("/metrics", get(status::metrics))
        .merge(protected)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(control)
}

/// With `api.token` set, `/api/*` (but health) needs `Authorization: Bearer <token>`.
async fn require_token(
    State(control): State<Arc<Control>>,
    request: Request,
    next: Next,
) -> Response {
    let config = control.config();
    let expected = config.api.token.as_bytes();
    if expected.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::as_bytes);
    match given {
        Some(given) if constant_time_eq(given, expected) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "wrong token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <token>` header",
        )
        .into_response(),
    }
}

/// Compares without an early exit, so response timing does not reveal how much of a guess
/// was right. (The length is not secret.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(super::constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!super::constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!super::constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!super::constant_time_eq(b"", b"x"));
    }
}
