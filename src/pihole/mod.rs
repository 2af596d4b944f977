//! A Pi-hole v6 compatible API (`[pihole] listen`, off by default) on its own listener, so that
//! what people already use with a Pi-hole works against hush: Home Assistant's Pi-hole
//! integration (the `hole` library), the Pi-hole apps, scripts. Pi-hole's paths, parameters,
//! JSON shapes, status codes and error shape; every number comes from the same store and
//! windows as the native API. Sessions ([`auth`]), statistics ([`stats`]), history and the
//! query log ([`history`]), and the blocking switch, info, domains and lists ([`manage`]).

pub mod auth;
pub mod history;
pub mod manage;
pub mod reply;
pub mod stats;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use auth::PiAuth;
use reply::{PiError, Started};

use crate::api::{ApiBindError, ApiServer};
use crate::control::Control;

/// Starts the Pi-hole API when `pihole.listen` is set.
pub async fn serve(control: &Arc<Control>) -> Result<Option<ApiServer>, ApiBindError> {
    match control.config().pihole.address() {
        Some(addr) => ApiServer::serve("pihole.listen", addr, router(Arc::clone(control)))
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// The Pi-hole API's routes over `control`.
pub fn router(control: Arc<Control>) -> Router {
    let auth = Arc::new(PiAuth::new(&control.config().api));
    let protected = Router::new()
        .route("/api/stats/summary", get(stats::summary))
        .route("/api/stats/top_domains", get(stats::top_domains))
        .route("/api/stats/top_clients", get(stats::top_clients))
        .route("/api/stats/upstreams", get(stats::upstreams))
        .route("/api/stats/query_types", get(stats::query_types))
        .route("/api/history", get(history::history))
        .route("/api/history/clients", get(history::history_clients))
        .route("/api/queries", get(history::queries))
        .route(
            "/api/dns/blocking",
            get(manage::blocking).post(manage::set_blocking),
        )
        .route("/api/info/version", get(manage::version))
        .route("/api/info/ftl", get(manage::ftl))
        .route("/api/domains", get(manage::domains))
        .route("/api/domains/{type}", get(manage::domains))
        .route(
            "/api/domains/{type}/{kind}",
            get(manage::domains).post(manage::add_domains),
        )
        .route(
            "/api/domains/{type}/{kind}/{domain}",
            get(manage::domains).delete(manage::delete_domain),
        )
        .route("/api/lists", get(manage::lists))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&auth),
            auth::require_session,
        ))
        .with_state(control);
    let sessions = Router::new()
        .route(
            "/api/auth",
            post(auth::login).get(auth::status).delete(auth::logout),
        )
        .with_state(auth);
    Router::new()
        .merge(protected)
        .merge(sessions)
        .fallback(not_found)
        // Pi-hole answers a known path asked with another method as an unknown one.
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn(start_clock))
}

/// Notes when the request arrived, for `took`.
async fn start_clock(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Started(Instant::now()));
    next.run(request).await
}

async fn not_found(request: Request) -> Response {
    PiError::not_found(request.uri().path()).into_response()
}
