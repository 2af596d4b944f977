//! Counters the DNS side keeps for `/metrics`: queries by outcome and a latency histogram of
//! forwarded queries. Plain atomics, bumped once per query.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::arrival::Protocol;
use super::outcome::{Outcome, Status};

/// Upper bounds of the latency histogram buckets, in seconds (Prometheus `le` labels).
pub const LATENCY_BOUNDS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Debug, Default)]
pub struct DnsMetrics {
    /// Queries per [`Status`], indexed by [`Status::index`].
    by_status: [AtomicU64; Status::ALL.len()],
    /// Queries per [`Protocol`], indexed by [`Protocol::index`].
    by_protocol: [AtomicU64; Protocol::ALL.len()],
    /// Cumulative counts per bound of [`LATENCY_BOUNDS`] (the last bucket is +Inf).
    latency_buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    latency_sum_us: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    pub by_status: [(Status, u64); Status::ALL.len()],
    pub by_protocol: [(Protocol, u64); Protocol::ALL.len()],
    /// Cumulative bucket counts, one per bound plus +Inf.
    pub latency_buckets: Vec<u64>,
    pub latency_sum_seconds: f64,
}

impl MetricsSnapshot {
    pub fn count(&self, status: Status) -> u64 {
        self.by_status[status.index()].1
    }
}

impl DnsMetrics {
    pub fn record(&self, outcome: &Outcome, protocol: Protocol, duration: Duration) {
        self.by_protocol[protocol.index()].fetch_add(1, Ordering::Relaxed);
        let status = outcome.status();
        if status == Status::Forwarded {
            self.record_upstream_latency(duration);
        }
        self.by_status[status.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn record_upstream_latency(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        for (bound, bucket) in LATENCY_BOUNDS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_buckets[LATENCY_BOUNDS.len()].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            by_status: Status::ALL.map(|status| (status, load(&self.by_status[status.index()]))),
            by_protocol: Protocol::ALL
                .map(|protocol| (protocol, load(&self.by_protocol[protocol.index()]))),
            latency_buckets: self.latency_buckets.iter().map(load).collect(),
            latency_sum_seconds: load(&self.latency_sum_us) as f64 / 1e6,
        }
    }
}
