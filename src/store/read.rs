//! Reading the query history for the API. Statistics come from the counts tables: totals and
//! timelines resolve to the minute, top lists and distinct counts to the hour. The query list pages through raw rows newest first by id, which grows
//! with insertion and so stays stable while new rows arrive. Every filter value is a bound
//! parameter; the SQL text itself is fixed.

use sqlx::{QueryBuilder, Sqlite};

use super::{Status, Store, StoreError};

/// A half-open time range in microseconds since the epoch: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_us: i64,
    pub to_us: i64,
}

impl TimeRange {
    /// The minutes whose counts fall in the range: from the minute holding `from` to the minute
    /// holding the last microsecond before `to`.
    fn minutes(self) -> (i64, i64) {
        self.units(60_000_000)
    }

    /// The same in hours.
    fn hours(self) -> (i64, i64) {
        self.units(3_600_000_000)
    }

    /// `[first, end)` in units of `size` microseconds.
    fn units(self, size: i64) -> (i64, i64) {
        (
            self.from_us.div_euclid(size),
            (self.to_us - 1).div_euclid(size) + 1,
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub queries: i64,
    pub blocked: i64,
    pub blocked_percent: f64,
    pub cached: i64,
    pub forwarded: i64,
    pub failed: i64,
    pub refused: i64,
    pub clients: i64,
    pub domains: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKind {
    Domains,
    Blocked,
    Clients,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TopItem {
    pub name: String,
    pub count: i64,
}

/// One timeline bucket: its start (µs) and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start_us: i64,
    pub queries: i64,
    pub blocked: i64,
}

/// Filters of `/api/queries`; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryFilter {
    pub client: Option<String>,
    /// A literal substring of the name.
    pub domain: Option<String>,
    pub status: Option<Status>,
    pub qtype: Option<u16>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Only rows with a smaller id (the previous page's `next`).
    pub before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QueryRow {
    pub id: i64,
    pub time_us: i64,
    pub client: String,
    pub domain: String,
    pub qtype: i64,
    pub status: i64,
    pub rcode: i64,
    pub rule: Option<String>,
    pub list: Option<String>,
    pub upstream: Option<String>,
    pub duration_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPage {
    pub rows: Vec<QueryRow>,
    /// The cursor for the next (older) page, if there may be one.
    pub next: Option<i64>,
}

impl Store {
    pub async fn summary(&self, range: TimeRange) -> Result<Summary, StoreError> {
        let (from, to) = range.minutes();
        let by_status: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT status, SUM(count) FROM minute_counts WHERE minute >= ?1 AND minute < ?2 GROUP BY status",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.reader)
        .await?;
        let (first_hour, end_hour) = range.hours();
        let (clients,): (i64,) = sqlx::query_as(
            "SELECT COUNT(DISTINCT client_id) FROM hour_clients WHERE hour >= ?1 AND hour < ?2",
        )
        .bind(first_hour)
        .bind(end_hour)
        .fetch_one(&self.reader)
        .await?;
        let (domains,): (i64,) = sqlx::query_as(
            "SELECT COUNT(DISTINCT domain_id) FROM hour_domains WHERE hour >= ?1 AND hour < ?2",
        )
        .bind(first_hour)
        .bind(end_hour)
        .fetch_one(&self.reader)
        .await?;
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
        range: TimeRange,
    ) -> Result<Vec<TopItem>, StoreError> {
        let (from, to) = range.hours();
        // Aggregate first, then join names onto the few winners.
        let sql = match kind {
            TopKind::Domains => {
                "SELECT d.name, t.n FROM (SELECT domain_id, SUM(count) AS n FROM hour_domains \
                 WHERE hour >= ?1 AND hour < ?2 GROUP BY domain_id ORDER BY n DESC, domain_id LIMIT ?3) t \
                 JOIN domains d ON d.id = t.domain_id ORDER BY t.n DESC, d.name"
            }
            TopKind::Blocked => {
                "SELECT d.name, t.n FROM (SELECT domain_id, SUM(count) AS n FROM hour_domains \
                 WHERE hour >= ?1 AND hour < ?2 AND status = 2 GROUP BY domain_id ORDER BY n DESC, domain_id LIMIT ?3) t \
                 JOIN domains d ON d.id = t.domain_id ORDER BY t.n DESC, d.name"
            }
            TopKind::Clients => {
                "SELECT c.address, t.n FROM (SELECT client_id, SUM(count) AS n FROM hour_clients \
                 WHERE hour >= ?1 AND hour < ?2 GROUP BY client_id ORDER BY n DESC, client_id LIMIT ?3) t \
                 JOIN clients c ON c.id = t.client_id ORDER BY t.n DESC, c.address"
            }
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(sql)
            .bind(from)
            .bind(to)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(name, count)| TopItem { name, count })
            .collect())
    }

    /// Counts per bucket of `bucket_minutes`, aligned to the epoch, every bucket of the range
    /// present (empty ones as zero).
    pub async fn timeline(
        &self,
        bucket_minutes: i64,
        range: TimeRange,
    ) -> Result<Vec<Bucket>, StoreError> {
        let (from, to) = range.minutes();
        let bucket_minutes = bucket_minutes.max(1);
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT (minute / ?3) * ?3 AS b, SUM(count), SUM(CASE WHEN status = 2 THEN count ELSE 0 END) \
             FROM minute_counts WHERE minute >= ?1 AND minute < ?2 GROUP BY b ORDER BY b",
        )
        .bind(from)
        .bind(to)
        .bind(bucket_minutes)
        .fetch_all(&self.reader)
        .await?;
        let mut rows = rows.into_iter().peekable();
        let mut buckets = Vec::new();
        let mut start = from.div_euclid(bucket_minutes) * bucket_minutes;
        while start < to {
            let (queries, blocked) = match rows.peek() {
                Some(&(bucket, queries, blocked)) if bucket == start => {
                    rows.next();
                    (queries, blocked)
                }
                _ => (0, 0),
            };
            buckets.push(Bucket {
                start_us: start * 60_000_000,
                queries,
                blocked,
            });
            start += bucket_minutes;
        }
        Ok(buckets)
    }

    pub async fn queries(&self, filter: &QueryFilter) -> Result<QueryPage, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT q.id, q.time_us, c.address AS client, d.name AS domain, q.qtype, q.status, q.rcode, \
             q.rule, q.list, q.upstream, q.duration_us \
             FROM queries q JOIN clients c ON c.id = q.client_id JOIN domains d ON d.id = q.domain_id WHERE 1 = 1",
        );
        if let Some(client) = &filter.client {
            sql.push(" AND q.client_id = (SELECT id FROM clients WHERE address = ")
                .push_bind(client.clone())
                .push(")");
        }
        if let Some(domain) = &filter.domain {
            // instr() is a literal substring test: '%' and '_' in the filter match themselves.
            sql.push(" AND q.domain_id IN (SELECT id FROM domains WHERE instr(name, ")
                .push_bind(domain.to_ascii_lowercase())
                .push(") > 0)");
        }
        if let Some(status) = filter.status {
            sql.push(" AND q.status = ").push_bind(status.code());
        }
        if let Some(qtype) = filter.qtype {
            sql.push(" AND q.qtype = ").push_bind(i64::from(qtype));
        }
        if let Some(from) = filter.from_us {
            sql.push(" AND q.time_us >= ").push_bind(from);
        }
        if let Some(to) = filter.to_us {
            sql.push(" AND q.time_us < ").push_bind(to);
        }
        if let Some(before) = filter.before {
            sql.push(" AND q.id < ").push_bind(before);
        }
        // One extra row tells whether another page exists.
        sql.push(" ORDER BY q.id DESC LIMIT ")
            .push_bind(i64::from(filter.limit) + 1);
        let mut rows: Vec<QueryRow> = sql.build_query_as().fetch_all(&self.reader).await?;
        let next = if rows.len() > filter.limit as usize {
            rows.truncate(filter.limit as usize);
            rows.last().map(|row| row.id)
        } else {
            None
        };
        Ok(QueryPage { rows, next })
    }
}
