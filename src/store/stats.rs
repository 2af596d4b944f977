//! Statistics over the query history for the API: the summary, top lists, the timeline and the
//! per-client report. Each reads the counts tables for the whole minutes, hours or days of the
//! range and the raw rows of the partial units at its edges ([`Sources`],
//! [`push_minute_counts`]), so every `from`/`to` window is exact to the microsecond while
//! long ranges stay cheap. The raw part costs at most two partial minutes (totals, timeline)
//! or two partial hours (top lists, distinct counts, the client report) of rows.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Sqlite};

use super::tables::{Count, Sources, Subject, push_minute_counts};
use super::time::{MINUTE_US, TimeRange};
use super::{Store, StoreError};
use crate::dns::outcome::Status;

/// What one client asked and what was blocked, by category and by list.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientReport {
    pub client: String,
    /// The name the device gave itself; a named device is reported apart from its address.
    pub client_name: Option<String>,
    pub queries: i64,
    pub blocked: i64,
    /// Blocked queries per list category, most first (`uncategorized` for lists without one).
    pub by_category: Vec<CategoryCount>,
    /// Blocked queries per list, most first.
    pub by_list: Vec<ListCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CategoryCount {
    pub category: String,
    pub blocked: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ListCount {
    pub list: String,
    pub category: Option<String>,
    pub blocked: i64,
}

/// The category name used for lists that have none.
pub const UNCATEGORIZED: &str = "uncategorized";

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
    pub async fn summary(&self, range: TimeRange) -> Result<Summary, StoreError> {
        let reader = &self.pools().await?.reader;
        let mut totals = QueryBuilder::<Sqlite>::new("SELECT status, SUM(n) FROM (");
        push_minute_counts(&mut totals, range);
        totals.push(") GROUP BY status");
        let by_status: Vec<(i64, i64)> = totals.build_query_as().fetch_all(reader).await?;
        let sources = Sources::of(range);
        let distinct = |subject| {
            let mut sql = QueryBuilder::<Sqlite>::new("SELECT COUNT(DISTINCT id) FROM (");
            sources.push_ids(&mut sql, subject);
            sql.push(")");
            sql
        };
        let (clients,): (i64,) = distinct(Subject::Client)
            .build_query_as()
            .fetch_one(reader)
            .await?;
        let (domains,): (i64,) = distinct(Subject::Domain)
            .build_query_as()
            .fetch_one(reader)
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

    /// Per client: queries, blocked, and blocked per category and list; most blocked first.
    pub async fn client_report(&self, range: TimeRange) -> Result<Vec<ClientReport>, StoreError> {
        let reader = &self.pools().await?.reader;
        let sources = Sources::of(range);
        let mut totals = QueryBuilder::<Sqlite>::new(
            "SELECT t.id, c.address, COALESCE(NULLIF(c.name, ''), NULLIF(l.name, '')), t.total, \
             t.blocked FROM (SELECT id, SUM(n) AS total, SUM(blocked) AS blocked FROM (",
        );
        sources.push_counts(&mut totals, Subject::Client, Count::AllAndBlocked);
        totals.push(
            ") GROUP BY id) t JOIN clients c ON c.id = t.id \
             LEFT JOIN client_labels l ON l.address = c.address",
        );
        let totals: Vec<ClientTotals> = totals.build_query_as().fetch_all(reader).await?;
        let mut lists =
            QueryBuilder::<Sqlite>::new("SELECT client_id, list, category, SUM(n) FROM (");
        sources.push_client_lists(&mut lists);
        lists.push(") GROUP BY client_id, list, category");
        let lists: Vec<(i64, String, String, i64)> =
            lists.build_query_as().fetch_all(reader).await?;
        Ok(assemble_reports(totals, lists))
    }

    pub async fn top(
        &self,
        kind: TopKind,
        limit: u32,
        range: TimeRange,
    ) -> Result<Vec<TopItem>, StoreError> {
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
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {name}, t.total, {client_name} FROM (SELECT id, SUM({counted}) AS total FROM ("
        ));
        Sources::of(range).push_counts(&mut sql, subject, count);
        sql.push(") GROUP BY id HAVING total > 0 ORDER BY total DESC, id LIMIT ")
            .push_bind(i64::from(limit))
            .push(format_args!(
                ") t JOIN {names} ON d.id = t.id{labels} ORDER BY t.total DESC, {name}"
            ));
        let rows: Vec<(String, i64, Option<String>)> = sql
            .build_query_as()
            .fetch_all(&self.pools().await?.reader)
            .await?;
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
        range: TimeRange,
    ) -> Result<Vec<Bucket>, StoreError> {
        let bucket_minutes = bucket_minutes.max(1);
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT (minute / ");
        sql.push_bind(bucket_minutes)
            .push(") * ")
            .push_bind(bucket_minutes)
            .push(" AS b, SUM(n)");
        for status in [Status::Blocked, Status::Cached, Status::Forwarded] {
            sql.push(", SUM(CASE WHEN status = ")
                .push_bind(status.code())
                .push(" THEN n ELSE 0 END)");
        }
        sql.push(" FROM (");
        push_minute_counts(&mut sql, range);
        sql.push(") GROUP BY b ORDER BY b");
        let rows: Vec<(i64, i64, i64, i64, i64)> = sql
            .build_query_as()
            .fetch_all(&self.pools().await?.reader)
            .await?;
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

/// One client's id, address, device name, queries and blocked queries.
type ClientTotals = (i64, String, Option<String>, i64, i64);

/// The client report from per-client totals and per-client, per-list blocked counts.
fn assemble_reports(
    totals: Vec<ClientTotals>,
    lists: Vec<(i64, String, String, i64)>,
) -> Vec<ClientReport> {
    let index: HashMap<i64, usize> = totals
        .iter()
        .enumerate()
        .map(|(i, (id, ..))| (*id, i))
        .collect();
    let mut reports: Vec<ClientReport> = totals
        .into_iter()
        .map(|(_, client, client_name, queries, blocked)| ClientReport {
            client,
            client_name,
            queries,
            blocked,
            ..ClientReport::default()
        })
        .collect();
    for (client, list, category, blocked) in lists {
        let Some(report) = index.get(&client).and_then(|&i| reports.get_mut(i)) else {
            continue;
        };
        let category = (!category.is_empty()).then_some(category);
        let category_name = category.clone().unwrap_or_else(|| UNCATEGORIZED.to_owned());
        match report
            .by_category
            .iter_mut()
            .find(|c| c.category == category_name)
        {
            Some(existing) => existing.blocked += blocked,
            None => report.by_category.push(CategoryCount {
                category: category_name,
                blocked,
            }),
        }
        report.by_list.push(ListCount {
            list,
            category,
            blocked,
        });
    }
    for report in &mut reports {
        report
            .by_category
            .sort_by(|a, b| b.blocked.cmp(&a.blocked).then(a.category.cmp(&b.category)));
        report
            .by_list
            .sort_by(|a, b| b.blocked.cmp(&a.blocked).then(a.list.cmp(&b.list)));
    }
    reports.sort_by(|a, b| {
        (b.blocked.cmp(&a.blocked))
            .then(a.client.cmp(&b.client))
            .then(a.client_name.cmp(&b.client_name))
    });
    reports
}
