//! Statistics over the query history for the API: the summary, top lists and the timeline (the
//! per-client report is `report.rs`). Each reads the counts tables for the whole minutes, hours or days of the
//! range and the raw rows of the partial units at its edges ([`Sources`],
//! [`push_minute_counts`]), so every `from`/`to` window is exact to the microsecond while
//! long ranges stay cheap. The raw part costs at most two partial minutes (totals, timeline)
//! or two partial hours (top lists, distinct counts) of rows.

use super::tables::{Count, Subject, push_minute_counts};
use super::time::{MINUTE_US, TimeRange};
use super::{Scope, Store, StoreError};
use crate::dns::outcome::Status;

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub queries: i64,
    pub blocked: i64,
    pub blocked_percent: f64,
    pub cached: i64,
    pub forwarded: i64,
    pub failed: i64,
    pub refused: i64,
    /// Answered from the local records.
    pub local: i64,
    pub clients: i64,
    pub domains: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKind {
    Domains,
    Blocked,
    /// Names by their queries that were not blocked.
    Permitted,
    Clients,
    /// Clients by their blocked queries.
    BlockedClients,
    /// Clients by their queries that were not blocked.
    PermittedClients,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TopItem {
    pub name: String,
    pub count: i64,
    /// For clients: the device's own name, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// A stretch of the history: a time range, of one instance's rows or of all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub range: TimeRange,
    /// `querylog.instance` of the hush that wrote the rows; `None`: every instance.
    pub instance: Option<String>,
}

impl From<TimeRange> for Window {
    fn from(range: TimeRange) -> Self {
        Self {
            range,
            instance: None,
        }
    }
}

/// One timeline bucket: its start (µs) and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start_us: i64,
    pub queries: i64,
    pub blocked: i64,
    pub cached: i64,
    pub forwarded: i64,
}

impl Store {
    pub async fn summary(&self, window: impl Into<Window>) -> Result<Summary, StoreError> {
        let Window { range, instance } = window.into();
        let scope = self.scope(instance.as_deref()).await?;
        if scope == Scope::Nothing {
            return Ok(Summary::default());
        }
        let mut totals = self.sql("SELECT status, CAST(SUM(n) AS BIGINT) FROM (");
        push_minute_counts(&mut totals, range, scope);
        totals.push(") t GROUP BY status");
        let by_status: Vec<(i64, i64)> = self.fetch_all(totals).await?;
        let sources = self.sources(range, scope).await?;
        // `DISTINCT` in a subquery, not `COUNT(DISTINCT …)`: PostgreSQL sorts for the latter
        // but can hash the former (a day's hourly names are a quarter of a million rows).
        let distinct = |subject| {
            let mut sql = self.sql("SELECT COUNT(*) FROM (SELECT DISTINCT id FROM (");
            sources.push_ids(&mut sql, subject);
            sql.push(") u) t");
            sql
        };
        let (clients,): (i64,) = self.fetch_one(distinct(Subject::Client)).await?;
        let (domains,): (i64,) = self.fetch_one(distinct(Subject::Domain)).await?;
        let mut summary = Summary {
            clients,
            domains,
            ..Summary::default()
        };
        for (status, count) in by_status {
            summary.queries += count;
            match Status::from_code(status) {
                Some(Status::Forwarded) => summary.forwarded += count,
                Some(Status::Cached) => summary.cached += count,
                Some(Status::Blocked) => summary.blocked += count,
                Some(Status::Refused) => summary.refused += count,
                Some(Status::Failed) => summary.failed += count,
                Some(Status::Local) => summary.local += count,
                None => {}
            }
        }
        if summary.queries > 0 {
            let percent = summary.blocked as f64 * 100.0 / summary.queries as f64;
            summary.blocked_percent = (percent * 100.0).round() / 100.0;
        }
        Ok(summary)
    }

    pub async fn top(
        &self,
        kind: TopKind,
        limit: u32,
        window: impl Into<Window>,
    ) -> Result<Vec<TopItem>, StoreError> {
        let Window { range, instance } = window.into();
        let scope = self.scope(instance.as_deref()).await?;
        if scope == Scope::Nothing {
            return Ok(Vec::new());
        }
        let (subject, names) = match kind {
            TopKind::Domains | TopKind::Blocked | TopKind::Permitted => {
                (Subject::Domain, "domains d")
            }
            TopKind::Clients | TopKind::BlockedClients | TopKind::PermittedClients => {
                (Subject::Client, "clients d")
            }
        };
        let (name, client_name) = match subject {
            Subject::Domain => ("d.name", "NULL"),
            Subject::Client => (
                "d.address",
                "COALESCE(NULLIF(d.name, ''), NULLIF(l.name, ''))",
            ),
        };
        let labels = match subject {
            Subject::Domain => "",
            Subject::Client => " LEFT JOIN client_labels l ON l.address = d.address",
        };
        // Aggregation first; names are joined onto the few winners only.
        let (count, counted) = match kind {
            TopKind::Blocked | TopKind::BlockedClients => (Count::Only(Status::Blocked), "n"),
            TopKind::Domains | TopKind::Clients => (Count::All, "n"),
            TopKind::Permitted | TopKind::PermittedClients => (Count::AllAndBlocked, "n - blocked"),
        };
        let mut sql = self.sql(format_args!(
            "SELECT {name}, t.total, {client_name} FROM \
             (SELECT id, CAST(SUM({counted}) AS BIGINT) AS total FROM ("
        ));
        self.sources(range, scope)
            .await?
            .push_counts(&mut sql, subject, count);
        sql.push(format_args!(
            ") p GROUP BY id HAVING SUM({counted}) > 0 ORDER BY total DESC, id LIMIT "
        ))
        .push_bind(i64::from(limit))
        .push(format_args!(
            ") t JOIN {names} ON d.id = t.id{labels} ORDER BY t.total DESC, {name}"
        ));
        let rows: Vec<(String, i64, Option<String>)> = self.fetch_all(sql).await?;
        Ok(rows
            .into_iter()
            .map(|(name, count, client_name)| TopItem {
                name,
                count,
                client_name,
            })
            .collect())
    }

    /// Counts per bucket of `bucket_minutes`, aligned to the epoch, every bucket of the range
    /// present (empty ones as zero). The first and last bucket count only the part of them
    /// inside the range.
    pub async fn timeline(
        &self,
        bucket_minutes: i64,
        window: impl Into<Window>,
    ) -> Result<Vec<Bucket>, StoreError> {
        let Window { range, instance } = window.into();
        let scope = self.scope(instance.as_deref()).await?;
        let bucket_minutes = bucket_minutes.max(1);
        let mut sql = self.sql("SELECT (minute / ");
        sql.push_bind(bucket_minutes)
            .push(") * ")
            .push_bind(bucket_minutes)
            .push(" AS b, CAST(SUM(n) AS BIGINT)");
        for status in [Status::Blocked, Status::Cached, Status::Forwarded] {
            sql.push(", CAST(SUM(CASE WHEN status = ")
                .push_bind(status.code())
                .push(" THEN n ELSE 0 END) AS BIGINT)");
        }
        sql.push(" FROM (");
        push_minute_counts(&mut sql, range, scope);
        sql.push(") t GROUP BY 1 ORDER BY 1");
        let rows: Vec<(i64, i64, i64, i64, i64)> = if scope == Scope::Nothing {
            Vec::new()
        } else {
            self.fetch_all(sql).await?
        };
        let mut rows = rows.into_iter().peekable();
        let mut buckets = Vec::new();
        let first_minute = range.from_us.div_euclid(MINUTE_US);
        let end_minute = (range.to_us - 1).div_euclid(MINUTE_US) + 1;
        let mut start = first_minute.div_euclid(bucket_minutes) * bucket_minutes;
        while start < end_minute {
            let (queries, blocked, cached, forwarded) = match rows.peek() {
                Some(&(bucket, queries, blocked, cached, forwarded)) if bucket == start => {
                    rows.next();
                    (queries, blocked, cached, forwarded)
                }
                _ => (0, 0, 0, 0),
            };
            buckets.push(Bucket {
                start_us: start * MINUTE_US,
                queries,
                blocked,
                cached,
                forwarded,
            });
            start += bucket_minutes;
        }
        Ok(buckets)
    }
}
