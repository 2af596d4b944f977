//! Pi-hole sessions: `POST /api/auth {password}` answers a session `{valid, totp, sid, csrf,
//! validity, message}`; the sid then travels in the `X-FTL-SID` (or `sid`) header, the `sid`
//! cookie (whose changes also need `X-CSRF-TOKEN`) or `?sid=`; a session lasts Pi-hole's 1800 s
//! from its last use. The password is hush's: `api.password` or `api.token`. With neither set,
//! everything is open, as on a Pi-hole without a password.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::reply::{PiError, Started};
use crate::api::auth::{Auth, WRONG_PASSWORD_DELAY, constant_time_eq, cookie};
use crate::api::session::Session;
use crate::config::ApiConfig;

/// How long a session lasts after its last use: Pi-hole's default.
pub const VALIDITY: Duration = Duration::from_secs(1800);

/// The Pi-hole listener's secrets and sessions.
pub struct PiAuth(Auth);

impl PiAuth {
    pub fn new(config: &ApiConfig) -> Self {
        Self(Auth::with_idle(config, VALIDITY))
    }
}

/// Where a request's sid came from.
enum Carrier {
    Header,
    Cookie,
    Query,
}

/// The sid of a request: a header wins over the cookie (Home Assistant may send both), the
/// cookie over the query string.
fn sid_of<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<(&'a str, Carrier)> {
    let header = ["x-ftl-sid", "sid"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|value| value.to_str().ok()))
        .filter(|sid| !sid.is_empty());
    if let Some(sid) = header {
        return Some((sid, Carrier::Header));
    }
    if let Some(sid) = cookie(headers, "sid") {
        return Some((sid, Carrier::Cookie));
    }
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sid="))
        .map(|sid| (sid, Carrier::Query))
}

fn session_json(valid: bool, session: Option<&Session>, validity: i64, message: &str) -> Value {
    let mut object = json!({
        "valid": valid,
        "totp": false,
        "sid": session.map(|session| session.id.as_str()),
        "validity": validity,
        "message": message,
    });
    if let Some(session) = session {
        object["csrf"] = json!(session.csrf);
    }
    json!({ "session": object })
}

fn validity_seconds() -> i64 {
    i64::try_from(VALIDITY.as_secs()).unwrap_or(i64::MAX)
}

/// The middleware in front of every endpoint but `/api/auth`.
pub async fn require_session(
    State(auth): State<Arc<PiAuth>>,
    request: Request,
    next: Next,
) -> Response {
    let auth = &auth.0;
    if !auth.required() {
        return next.run(request).await;
    }
    let found = sid_of(request.headers(), request.uri())
        .and_then(|(sid, carrier)| Some((auth.sessions.touch(sid)?, carrier)));
    match found {
        None => PiError::unauthorized().into_response(),
        Some((session, Carrier::Cookie)) if request.method() != Method::GET => {
            let given = request
                .headers()
                .get("x-csrf-token")
                .map(HeaderValue::as_bytes);
            match given {
                Some(given) if constant_time_eq(given, session.csrf.as_bytes()) => {
                    next.run(request).await
                }
                _ => PiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Cookie authentication without a matching X-CSRF-TOKEN",
                )
                .into_response(),
            }
        }
        Some(_) => next.run(request).await,
    }
}

/// `POST /api/auth`: a session for the right password.
pub async fn login(
    State(auth): State<Arc<PiAuth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    started: Started,
    body: Bytes,
) -> Response {
    let auth = &auth.0;
    if !auth.required() {
        return started.ok(session_json(true, None, -1, "no password set"));
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return PiError::bad_request("Invalid request body data (no valid JSON)")
            .into_response_at(started);
    };
    let Some(password) = payload.get("password").and_then(Value::as_str) else {
        return PiError::bad_request("No password found in JSON payload").into_response_at(started);
    };
    let client = peer.ip().to_canonical();
    if !auth.limiter.allows(client) {
        return PiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limiting",
            "Rate-limiting login attempts",
        )
        .into_response_at(started);
    }
    if !auth.check_password(password).await {
        auth.limiter.record_failure(client);
        tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
        return started.reply(
            StatusCode::UNAUTHORIZED,
            session_json(false, None, -1, "password incorrect"),
        );
    }
    auth.limiter.record_success(client);
    let session = auth.sessions.open();
    let mut response = started.ok(session_json(
        true,
        Some(&session),
        validity_seconds(),
        "password correct",
    ));
    let cookie = format!(
        "sid={}; SameSite=Lax; Path=/; Max-Age={}; HttpOnly",
        session.id,
        VALIDITY.as_secs()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// `GET /api/auth`: the request's session, or 401 with an invalid one.
pub async fn status(
    State(auth): State<Arc<PiAuth>>,
    started: Started,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let auth = &auth.0;
    if !auth.required() {
        return started.ok(session_json(true, None, -1, "no password set"));
    }
    let Some((sid, _)) = sid_of(&headers, &uri) else {
        return started.reply(
            StatusCode::UNAUTHORIZED,
            session_json(false, None, -1, "no SID provided"),
        );
    };
    match auth.sessions.touch(sid) {
        Some(session) => started.ok(session_json(
            true,
            Some(&session),
            validity_seconds(),
            "correct password",
        )),
        None => started.reply(
            StatusCode::UNAUTHORIZED,
            session_json(false, None, -1, "session unknown"),
        ),
    }
}

/// `DELETE /api/auth`: ends the request's session.
pub async fn logout(
    State(auth): State<Arc<PiAuth>>,
    started: Started,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let auth = &auth.0;
    let session = sid_of(&headers, &uri).and_then(|(sid, _)| auth.sessions.touch(sid));
    match session {
        Some(session) if auth.required() => {
            auth.sessions.close(&session.id);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => started.reply(
            StatusCode::UNAUTHORIZED,
            session_json(!auth.required(), None, -1, "no valid session"),
        ),
    }
}
