//! Reading the query history for the API. Statistics come from the counts tables: totals and
//! timelines resolve to the minute, top lists and distinct counts to the hour (to the day for
//! ranges over two days). The query list pages through raw rows newest first by id, which grows
//! with insertion and so stays stable while new rows arrive. Every filter value is a bound
//! parameter; the SQL text itself is fixed.

use sqlx::{QueryBuilder, Sqlite};

use super::write::HOUR_US;
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

    /// The counts tables for top lists and distinct counts over this range, and the range in
    /// their unit: hourly up to two days, daily beyond.
    fn period_tables(self) -> (PeriodTables, (i64, i64)) {
        const HOUR: i64 = 3_600_000_000;
        if self.to_us - self.from_us <= 48 * HOUR {
            (PeriodTables::HOURLY, self.units(HOUR))
        } else {
            (PeriodTables::DAILY, self.units(24 * HOUR))
        }
    }

    /// `[first, end)` in units of `size` microseconds.
    fn units(self, size: i64) -> (i64, i64) {
        (
            self.from_us.div_euclid(size),
            (self.to_us - 1).div_euclid(size) + 1,
        )
    }
}

/// A pair of counts tables of one granularity, with their statements.
struct PeriodTables {
    distinct_clients: &'static str,
    distinct_domains: &'static str,
    top_domains: &'static str,
    top_blocked: &'static str,
    top_clients: &'static str,
    client_totals: &'static str,
    client_lists: &'static str,
}

/// Declares the statements of one granularity; aggregation comes first, and names are joined
/// onto the few winners only.
macro_rules! period_tables {
    ($domains:literal, $clients:literal, $lists:literal, $unit:literal) => {
        PeriodTables {
            client_totals: concat!(
                "SELECT c.address, t.total, t.blocked FROM (SELECT client_id, SUM(count) AS total, \
                 SUM(CASE WHEN status = 2 THEN count ELSE 0 END) AS blocked FROM ", $clients,
                " WHERE ", $unit, " >= ?1 AND ", $unit, " < ?2 GROUP BY client_id) t \
                 JOIN clients c ON c.id = t.client_id"
            ),
            client_lists: concat!(
                "SELECT c.address, t.list, t.category, t.n FROM (SELECT client_id, list, category, SUM(count) AS n FROM ",
                $lists, " WHERE ", $unit, " >= ?1 AND ", $unit, " < ?2 GROUP BY client_id, list, category) t \
                 JOIN clients c ON c.id = t.client_id"
            ),
            distinct_clients: concat!(
                "SELECT COUNT(DISTINCT client_id) FROM ",
                $clients,
                " WHERE ",
                $unit,
                " >= ?1 AND ",
                $unit,
                " < ?2"
            ),
            distinct_domains: concat!(
                "SELECT COUNT(DISTINCT domain_id) FROM ",
                $domains,
                " WHERE ",
                $unit,
                " >= ?1 AND ",
                $unit,
                " < ?2"
            ),
            top_domains: concat!(
                "SELECT d.name, t.n FROM (SELECT domain_id, SUM(count) AS n FROM ",
                $domains,
                " WHERE ",
                $unit,
                " >= ?1 AND ",
                $unit,
                " < ?2 GROUP BY domain_id ORDER BY n DESC, domain_id LIMIT ?3) t \
                 JOIN domains d ON d.id = t.domain_id ORDER BY t.n DESC, d.name"
            ),
            top_blocked: concat!(
                "SELECT d.name, t.n FROM (SELECT domain_id, SUM(count) AS n FROM ",
                $domains,
                " WHERE ",
                $unit,
                " >= ?1 AND ",
                $unit,
                " < ?2 AND status = 2 GROUP BY domain_id ORDER BY n DESC, domain_id LIMIT ?3) t \
                 JOIN domains d ON d.id = t.domain_id ORDER BY t.n DESC, d.name"
            ),
            top_clients: concat!(
                "SELECT c.address, t.n FROM (SELECT client_id, SUM(count) AS n FROM ",
                $clients,
                " WHERE ",
                $unit,
                " >= ?1 AND ",
                $unit,
                " < ?2 GROUP BY client_id ORDER BY n DESC, client_id LIMIT ?3) t \
                 JOIN clients c ON c.id = t.client_id ORDER BY t.n DESC, c.address"
            ),
        }
    };
}

impl PeriodTables {
    // `NOT INDEXED` keeps SQLite on the primary key's hour range: with the by-name index of
    // migration 0002 its statistics sometimes chose to walk that whole index instead.
    const HOURLY: Self = period_tables!(
        "hour_domains NOT INDEXED",
        "hour_clients",
        "hour_client_lists",
        "hour"
    );
    const DAILY: Self = period_tables!("day_domains", "day_clients", "day_client_lists", "day");
}

/// What one client asked and what was blocked, by category and by list.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientReport {
    pub client: String,
    pub queries: i64,
    pub blocked: i64,
    /// Blocked queries per list category, most first (`uncategorized` for lists without one).
    pub by_category: Vec<CategoryCount>,
    /// Blocked queries per list, most first.
    pub by_list: Vec<ListCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub blocked: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListCount {
    pub list: String,
    pub category: Option<String>,
    pub blocked: i64,
}

/// The category name used for lists that have none.
pub const UNCATEGORIZED: &str = "uncategorized";

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
    pub category: Option<String>,
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
        .fetch_all(&self.pools().await?.reader)
        .await?;
        let (tables, (first, end)) = range.period_tables();
        let (clients,): (i64,) = sqlx::query_as(tables.distinct_clients)
            .bind(first)
            .bind(end)
            .fetch_one(&self.pools().await?.reader)
            .await?;
        let (domains,): (i64,) = sqlx::query_as(tables.distinct_domains)
            .bind(first)
            .bind(end)
            .fetch_one(&self.pools().await?.reader)
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

    /// Per client: queries, blocked, and blocked per category and list; most blocked first.
    pub async fn client_report(&self, range: TimeRange) -> Result<Vec<ClientReport>, StoreError> {
        let (tables, (first, end)) = range.period_tables();
        let totals: Vec<(String, i64, i64)> = sqlx::query_as(tables.client_totals)
            .bind(first)
            .bind(end)
            .fetch_all(&self.pools().await?.reader)
            .await?;
        let lists: Vec<(String, String, String, i64)> = sqlx::query_as(tables.client_lists)
            .bind(first)
            .bind(end)
            .fetch_all(&self.pools().await?.reader)
            .await?;
        let mut reports: Vec<ClientReport> = totals
            .into_iter()
            .map(|(client, queries, blocked)| ClientReport {
                client,
                queries,
                blocked,
                ..ClientReport::default()
            })
            .collect();
        let index: std::collections::HashMap<String, usize> = reports
            .iter()
            .enumerate()
            .map(|(i, r)| (r.client.clone(), i))
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
        reports.sort_by(|a, b| b.blocked.cmp(&a.blocked).then(a.client.cmp(&b.client)));
        Ok(reports)
    }

    pub async fn top(
        &self,
        kind: TopKind,
        limit: u32,
        range: TimeRange,
    ) -> Result<Vec<TopItem>, StoreError> {
        let (tables, (from, to)) = range.period_tables();
        let sql = match kind {
            TopKind::Domains => tables.top_domains,
            TopKind::Blocked => tables.top_blocked,
            TopKind::Clients => tables.top_clients,
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(sql)
            .bind(from)
            .bind(to)
            .bind(i64::from(limit))
            .fetch_all(&self.pools().await?.reader)
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
        .fetch_all(&self.pools().await?.reader)
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
        let fetch = i64::from(filter.limit) + 1;
        let domains = match &filter.domain {
            Some(text) => Some(self.matching_domains(text).await?),
            None => None,
        };
        let mut sql = QueryBuilder::<Sqlite>::new(ROW_COLUMNS);
        sql.push(" FROM queries q JOIN clients c ON c.id = q.client_id JOIN domains d ON d.id = q.domain_id WHERE ");
        match domains {
            Some(DomainMatch::Few(ids)) => {
                let rows = self.rows_of_names(&ids, filter, fetch).await?;
                return Ok(QueryPage::of(rows, filter.limit));
            }
            // Many names: matches are common, so walking newest-first and testing each row
            // finds a page quickly.
            Some(DomainMatch::Many) => {
                sql.push("q.domain_id IN (SELECT id FROM domains WHERE instr(name, ")
                    .push_bind(filter.domain.as_deref().unwrap_or("").to_ascii_lowercase())
                    .push(") > 0)");
                push_filters(&mut sql, filter);
            }
            None => {
                sql.push("1 = 1");
                push_filters(&mut sql, filter);
            }
        }
        sql.push(" ORDER BY q.id DESC LIMIT ").push_bind(fetch);
        let rows: Vec<QueryRow> = sql
            .build_query_as()
            .fetch_all(&self.pools().await?.reader)
            .await?;
        Ok(QueryPage::of(rows, filter.limit))
    }

    /// The newest `fetch` rows of a few names, newest first. The hours that hold them come from
    /// the hourly counts (indexed by name); each such hour's rows are then read through the time
    /// index, newest hour first, until the page is full, plus one more hour: a batch may number
    /// rows near an hour's edge slightly out of time order.
    async fn rows_of_names(
        &self,
        ids: &[i64],
        filter: &QueryFilter,
        fetch: i64,
    ) -> Result<Vec<QueryRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let reader = &self.pools().await?.reader;
        let push_ids = |sql: &mut QueryBuilder<Sqlite>| {
            let mut list = sql.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
        };
        let mut hours = QueryBuilder::<Sqlite>::new(
            "SELECT DISTINCT hour FROM hour_domains WHERE domain_id IN (",
        );
        push_ids(&mut hours);
        hours.push(")");
        if let Some(from) = filter.from_us {
            hours
                .push(" AND hour >= ")
                .push_bind(from.div_euclid(HOUR_US));
        }
        if let Some(to) = filter.to_us {
            hours
                .push(" AND hour <= ")
                .push_bind((to - 1).div_euclid(HOUR_US));
        }
        if let Some(before) = filter.before {
            // Hours after the cursor's row hold no row before it (but for the edge, see above).
            hours
                .push(" AND hour <= (SELECT time_us / ")
                .push_bind(HOUR_US)
                .push(" + 1 FROM queries WHERE id = ")
                .push_bind(before)
                .push(")");
        }
        hours.push(" ORDER BY hour DESC");
        let hours: Vec<(i64,)> = hours.build_query_as().fetch_all(reader).await?;
        let mut rows: Vec<QueryRow> = Vec::new();
        let mut full = false;
        for (hour,) in hours {
            let mut sql = QueryBuilder::<Sqlite>::new(ROW_COLUMNS);
            sql.push(
                " FROM queries q INDEXED BY queries_by_time JOIN clients c ON c.id = q.client_id \
                 JOIN domains d ON d.id = q.domain_id WHERE q.time_us >= ",
            )
            .push_bind(hour * HOUR_US)
            .push(" AND q.time_us < ")
            .push_bind((hour + 1) * HOUR_US)
            .push(" AND q.domain_id IN (");
            push_ids(&mut sql);
            sql.push(")");
            push_filters(&mut sql, filter);
            sql.push(" ORDER BY q.id DESC LIMIT ").push_bind(fetch);
            rows.extend(sql.build_query_as::<QueryRow>().fetch_all(reader).await?);
            if full {
                break;
            }
            full = rows.len() as i64 >= fetch;
        }
        rows.sort_unstable_by_key(|row| std::cmp::Reverse(row.id));
        rows.truncate(usize::try_from(fetch).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// The ids of names containing `text` (a literal substring: `instr`, not `LIKE`, so `%` and
    /// `_` match themselves), or `Many` past [`MAX_NAMES_BY_HOUR`].
    async fn matching_domains(&self, text: &str) -> Result<DomainMatch, StoreError> {
        let ids: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM domains WHERE instr(name, ?1) > 0 LIMIT ?2")
                .bind(text.to_ascii_lowercase())
                .bind(MAX_NAMES_BY_HOUR as i64 + 1)
                .fetch_all(&self.pools().await?.reader)
                .await?;
        Ok(if ids.len() > MAX_NAMES_BY_HOUR {
            DomainMatch::Many
        } else {
            DomainMatch::Few(ids.into_iter().map(|(id,)| id).collect())
        })
    }
}

/// The columns of a listed row, as [`QueryRow`] reads them.
const ROW_COLUMNS: &str = "SELECT q.id, q.time_us, c.address AS client, d.name AS domain, q.qtype, \
    q.status, q.rcode, q.rule, q.list, q.category, q.upstream, q.duration_us";

impl QueryPage {
    /// A page from `limit + 1` rows: the extra row only says whether another page exists.
    fn of(mut rows: Vec<QueryRow>, limit: u32) -> Self {
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|row| row.id)
        } else {
            None
        };
        Self { rows, next }
    }
}

/// Up to this many matching names, a domain filter reads the rows of each name's hours.
const MAX_NAMES_BY_HOUR: usize = 64;

enum DomainMatch {
    Few(Vec<i64>),
    Many,
}

/// Appends the filters other than `domain` as `AND` terms, every value bound.
fn push_filters(sql: &mut QueryBuilder<Sqlite>, filter: &QueryFilter) {
    if let Some(client) = &filter.client {
        sql.push(" AND q.client_id = (SELECT id FROM clients WHERE address = ")
            .push_bind(client.clone())
            .push(")");
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
}
