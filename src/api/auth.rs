//! Who may use the API: nobody needs to log in when neither `api.token` nor `api.password` is
//! set; otherwise a request carries `Authorization: Bearer <api.token>` (scripts) or the
//! `hush_session` cookie of a login (the dashboard), and a cookie-authenticated change also
//! carries the session's `X-CSRF-Token`. `/api/auth` logs in and out: either secret is the
//! password, wrong ones are answered after a delay, and at most ten a minute per address are
//! checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::schema::{AuthStatus, ErrorBody, Login, LoginAnswer};
use super::session::{LoginLimiter, Session, Sessions};
use crate::config::ApiConfig;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hush_session";
/// The header a cookie-authenticated change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a wrong password waits before its 401: slows guessing without a lock-out.
pub const WRONG_PASSWORD_DELAY: Duration = Duration::from_secs(1);

/// The secrets, sessions and failed-login counts of one API listener.
pub struct Auth {
    token: String,
    /// `api.password`, a PHC string (argon2id), validated at config load.
    password_hash: String,
    pub sessions: Sessions,
    pub limiter: LoginLimiter,
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// No secret is configured: everyone is let in.
    Open,
    Bearer,
    Cookie(Session),
}

impl Auth {
    pub fn new(config: &ApiConfig) -> Self {
        Self::with_idle(config, config.session_timeout.0)
    }

    /// The secrets of `config` with sessions that end after `idle` without use.
    pub fn with_idle(config: &ApiConfig, idle: Duration) -> Self {
        Self {
            token: config.token.clone(),
            password_hash: config.password.clone(),
            sessions: Sessions::new(idle),
            limiter: LoginLimiter::default(),
        }
    }

    /// Whether requests must prove anything.
    pub fn required(&self) -> bool {
        !self.token.is_empty() || !self.password_hash.is_empty()
    }

    /// Whether `password` is `api.token` or matches `api.password`. The argon2 check takes tens
    /// of milliseconds of CPU, so it runs off the async threads.
    pub async fn check_password(&self, password: &str) -> bool {
        if !self.token.is_empty() && constant_time_eq(password.as_bytes(), self.token.as_bytes()) {
            return true;
        }
        if self.password_hash.is_empty() {
            return false;
        }
        let (hash, password) = (self.password_hash.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false)
    }

    /// How `headers` authenticate, if they do.
    pub fn credential(&self, headers: &HeaderMap) -> Result<Credential, ApiError> {
        if !self.required() {
            return Ok(Credential::Open);
        }
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if let Some(given) = bearer {
            if !self.token.is_empty() && constant_time_eq(given.as_bytes(), self.token.as_bytes()) {
                return Ok(Credential::Bearer);
            }
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong token"));
        }
        match cookie(headers, SESSION_COOKIE).and_then(|id| self.sessions.touch(id)) {
            Some(session) => Ok(Credential::Cookie(session)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "log in first (POST /api/auth), or send `Authorization: Bearer <token>`",
            )),
        }
    }
}

/// The middleware in front of every protected route.
pub async fn require_auth(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    match auth.credential(request.headers()) {
        Ok(Credential::Cookie(session)) if changes_state(request.method()) => {
            match csrf_matches(request.headers(), &session) {
                Ok(()) => next.run(request).await,
                Err(err) => err.into_response(),
            }
        }
        Ok(_) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_matches(headers: &HeaderMap, session: &Session) -> Result<(), ApiError> {
    let given = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
    match given {
        Some(given) if constant_time_eq(given, session.csrf.as_bytes()) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a change made with a session cookie needs its `X-CSRF-Token` header",
        )),
    }
}

/// Whether a login is needed and whether this request has one.
#[utoipa::path(get, path = "/api/auth", tag = "auth",
    responses((status = 200, body = AuthStatus)))]
pub async fn status(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Json<AuthStatus> {
    let credential = auth.credential(&headers).ok();
    let csrf = match &credential {
        Some(Credential::Cookie(session)) => Some(session.csrf.clone()),
        _ => None,
    };
    Json(AuthStatus {
        required: auth.required(),
        authenticated: credential.is_some(),
        csrf,
    })
}

/// Logs in with `api.password` or `api.token`: sets the `hush_session` cookie and answers the
/// CSRF token changes made with it must carry.
#[utoipa::path(post, path = "/api/auth", tag = "auth", request_body = Login,
    responses((status = 200, body = LoginAnswer), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(auth): State<Arc<Auth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    payload: Result<Json<Login>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(login) =
        payload.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let client: IpAddr = peer.ip().to_canonical();
    if !auth.limiter.allows(client) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many wrong passwords from this address; try again in a minute",
        ));
    }
    if !auth.required() {
        return Ok(Json(LoginAnswer { csrf: None }).into_response());
    }
    if !auth.check_password(&login.password).await {
        auth.limiter.record_failure(client);
        tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong password"));
    }
    auth.limiter.record_success(client);
    let session = auth.sessions.open();
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        session.id
    );
    let mut response = Json(LoginAnswer {
        csrf: Some(session.csrf),
    })
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}

/// Ends the cookie's session (a change like any other: the CSRF token applies).
#[utoipa::path(delete, path = "/api/auth", tag = "auth",
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn logout(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Credential::Cookie(session) = auth.credential(&headers)? {
        csrf_matches(&headers, &session)?;
        auth.sessions.close(&session.id);
    }
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Compares without an early exit, so response timing does not reveal how much of a guess
/// was right. (The length is not secret.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; hush_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
