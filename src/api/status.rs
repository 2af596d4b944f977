//! `/api/health` and `/metrics`: is hush well, and its counters for Prometheus.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::schema::{Health, QueryLogHealth};
use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::control::Control;
use crate::dns::metrics::LATENCY_BOUNDS;
use crate::dns::outcome::Status;

/// Is hush well: uptime, blocking, rules, and the query log's counters. Needs no token.
#[utoipa::path(get, path = "/api/health", tag = "status",
    responses((status = 200, body = Health)))]
pub async fn health(State(control): State<Arc<Control>>) -> Json<Health> {
    let writer = control.writer();
    let last_error = writer.and_then(|w| w.last_error());
    let policy = control.policy();
    Json(Health {
        status: if last_error.is_some() || !control.store().is_reachable() {
            "degraded"
        } else {
            "ok"
        }
        .to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: control.uptime().as_secs(),
        blocking: control.switch().is_on(),
        rules: policy.lists.len() + policy.custom.len(),
        querylog: QueryLogHealth {
            enabled: writer.is_some(),
            queued: control.events().queued(),
            written: writer.map_or(0, |w| w.written.load(Ordering::Relaxed)),
            dropped: control.events().dropped(),
            errors: writer.map_or(0, |w| w.errors.load(Ordering::Relaxed)),
            last_error,
        },
    })
}

/// Counters in Prometheus' text format.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(control): State<Arc<Control>>) -> impl IntoResponse {
    let snapshot = control.metrics().snapshot();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP hush_queries_total DNS queries answered, by outcome."
    );
    let _ = writeln!(out, "# TYPE hush_queries_total counter");
    for (status, count) in snapshot.by_status {
        let _ = writeln!(out, "hush_queries_total{{status=\"{status}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP hush_queries_by_protocol_total DNS queries answered, by the protocol they came over."
    );
    let _ = writeln!(out, "# TYPE hush_queries_by_protocol_total counter");
    for (protocol, count) in snapshot.by_protocol {
        let _ = writeln!(
            out,
            "hush_queries_by_protocol_total{{protocol=\"{protocol}\"}} {count}"
        );
    }
    let cached = snapshot.count(Status::Cached);
    let _ = writeln!(
        out,
        "# HELP hush_cache_hits_total Queries answered from the answer cache."
    );
    let _ = writeln!(out, "# TYPE hush_cache_hits_total counter");
    let _ = writeln!(out, "hush_cache_hits_total {cached}");
    let _ = writeln!(
        out,
        "# HELP hush_upstream_latency_seconds Time to answer forwarded queries."
    );
    let _ = writeln!(out, "# TYPE hush_upstream_latency_seconds histogram");
    for (bound, count) in LATENCY_BOUNDS.iter().zip(&snapshot.latency_buckets) {
        let _ = writeln!(
            out,
            "hush_upstream_latency_seconds_bucket{{le=\"{bound}\"}} {count}"
        );
    }
    let total = snapshot.latency_buckets.last().copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "hush_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {total}"
    );
    let _ = writeln!(
        out,
        "hush_upstream_latency_seconds_sum {}",
        snapshot.latency_sum_seconds
    );
    let _ = writeln!(out, "hush_upstream_latency_seconds_count {total}");
    let writer = control.writer();
    let gauges = [
        (
            "hush_querylog_dropped_total",
            "counter",
            "Query-log events dropped because the queue was full.",
            control.events().dropped(),
        ),
        (
            "hush_querylog_written_total",
            "counter",
            "Query-log rows written.",
            writer.map_or(0, |w| w.written.load(Ordering::Relaxed)),
        ),
        (
            "hush_querylog_errors_total",
            "counter",
            "Failed query-log batch writes (retried).",
            writer.map_or(0, |w| w.errors.load(Ordering::Relaxed)),
        ),
        (
            "hush_querylog_queued",
            "gauge",
            "Query-log events waiting to be written.",
            control.events().queued() as u64,
        ),
    ];
    for (name, kind, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
