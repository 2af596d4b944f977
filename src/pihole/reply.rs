//! Pi-hole's response conventions: every JSON body carries `took` (seconds spent), errors are
//! `{"error": {"key", "message", "hint"}, "took"}`, and session answers have their own shape.

use std::time::Instant;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// When the request started: `took` is measured from here.
#[derive(Debug, Clone, Copy)]
pub struct Started(pub Instant);

impl<S: Send + Sync> FromRequestParts<S> for Started {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Started>()
            .copied()
            .unwrap_or(Started(Instant::now())))
    }
}

impl Started {
    /// `body` with `took` added, answered with `status`.
    pub fn reply(self, status: StatusCode, mut body: Value) -> Response {
        if let Value::Object(map) = &mut body {
            map.insert("took".into(), json!(self.0.elapsed().as_secs_f64()));
        }
        (status, Json(body)).into_response()
    }

    pub fn ok(self, body: Value) -> Response {
        self.reply(StatusCode::OK, body)
    }
}

/// A Pi-hole error: status, machine key, message and hint.
#[derive(Debug)]
pub struct PiError {
    pub status: StatusCode,
    pub key: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl PiError {
    pub fn new(status: StatusCode, key: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            key,
            message: message.into(),
            hint: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
    }

    pub fn not_found(uri: &str) -> Self {
        Self {
            hint: Some(uri.to_owned()),
            ..Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
        }
    }

    /// An error of hush's own store: logged, answered without details.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "Pi-hole API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; see the server log",
        )
    }

    pub fn into_response_at(self, started: Started) -> Response {
        started.reply(
            self.status,
            json!({ "error": { "key": self.key, "message": self.message, "hint": self.hint } }),
        )
    }
}

impl From<crate::store::StoreError> for PiError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for PiError {
    fn into_response(self) -> Response {
        self.into_response_at(Started(Instant::now()))
    }
}
