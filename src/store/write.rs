//! Writing the query history: a batch of rows becomes one transaction that interns new names
//! and clients, inserts the rows with multi-row statements, and adds the batch to the
//! per-minute, per-hour and per-day counts. Retention deletes old rows in small batches so it never stalls writing.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{Status, Store, StoreError};

/// Rows per INSERT statement: 500 rows × 12 values stays far below SQLite's 32,766 variables,
/// and a fixed size lets the statement cache reuse the prepared statement.
const ROWS_PER_STATEMENT: usize = 500;
/// Names kept in the interner before it is emptied: bounds memory on a long-running box.
const MAX_INTERNED: usize = 200_000;
const MINUTE_US: i64 = 60_000_000;
pub(super) const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 86_400_000_000;
/// The hourly and daily counts tables with their primary keys.
const PERIOD_TABLES: [(&str, &str); 4] = [
    (
        "hour_domains (hour, domain_id, status, count)",
        "hour, domain_id, status",
    ),
    (
        "hour_clients (hour, client_id, status, count)",
        "hour, client_id, status",
    ),
    (
        "day_domains (day, domain_id, status, count)",
        "domain_id, day, status",
    ),
    (
        "day_clients (day, client_id, status, count)",
        "client_id, day, status",
    ),
];
/// The hourly and daily counts of blocked queries per client and list.
const CLIENT_LIST_TABLES: [(&str, &str); 2] = [
    (
        "hour_client_lists (hour, client_id, list, category, count)",
        "hour, client_id, list, category",
    ),
    (
        "day_client_lists (day, client_id, list, category, count)",
        "client_id, day, list, category",
    ),
];

/// A counts-table key: its values are bound in column order.
trait CountKey: Eq + std::hash::Hash {
    fn bind(&self, values: &mut Separated<'_, Sqlite, &'static str>);
}

impl<const N: usize> CountKey for [i64; N] {
    fn bind(&self, values: &mut Separated<'_, Sqlite, &'static str>) {
        for value in self {
            values.push_bind(*value);
        }
    }
}

/// Blocked queries of one client from one list in one hour or day.
#[derive(PartialEq, Eq, Hash)]
struct ListKey {
    period: i64,
    client: i64,
    list: String,
    category: String,
}

impl CountKey for ListKey {
    fn bind(&self, values: &mut Separated<'_, Sqlite, &'static str>) {
        values
            .push_bind(self.period)
            .push_bind(self.client)
            .push_bind(self.list.clone())
            .push_bind(self.category.clone());
    }
}

/// One query as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub time_us: i64,
    pub client: String,
    pub domain: String,
    pub qtype: u16,
    pub status: Status,
    pub rcode: u16,
    pub rule: Option<String>,
    pub list: Option<String>,
    pub category: Option<String>,
    pub upstream: Option<Arc<str>>,
    pub duration_us: i64,
}

/// Ids of names and clients already in the database, so most rows need no lookup.
#[derive(Debug, Default)]
pub struct Interner {
    domains: HashMap<String, i64>,
    clients: HashMap<String, i64>,
    /// The store generation these ids belong to.
    generation: u64,
}

/// Which interned table a value belongs to.
#[derive(Clone, Copy)]
enum Dictionary {
    Domains,
    Clients,
}

impl Dictionary {
    fn insert_sql(self) -> &'static str {
        match self {
            Self::Domains => "INSERT INTO domains (name) ",
            Self::Clients => "INSERT INTO clients (address) ",
        }
    }

    fn select_sql(self) -> &'static str {
        match self {
            Self::Domains => "SELECT name, id FROM domains WHERE name IN (",
            Self::Clients => "SELECT address, id FROM clients WHERE address IN (",
        }
    }

    fn conflict_sql(self) -> &'static str {
        match self {
            Self::Domains => " ON CONFLICT (name) DO NOTHING",
            Self::Clients => " ON CONFLICT (address) DO NOTHING",
        }
    }
}

impl Store {
    /// Writes `rows` in one transaction. On error nothing is written and `interner` is
    /// unchanged, so the same batch can be retried.
    pub async fn insert_batch(
        &self,
        rows: &[LogRow],
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let pools = self.pools().await?;
        let generation = self.generation();
        if interner.generation != generation {
            *interner = Interner {
                generation,
                ..Interner::default()
            };
        }
        let mut tx = pools.writer.begin().await?;
        let domains = resolve_ids(
            &mut tx,
            Dictionary::Domains,
            rows.iter().map(|r| r.domain.as_str()),
            &interner.domains,
        )
        .await?;
        let clients = resolve_ids(
            &mut tx,
            Dictionary::Clients,
            rows.iter().map(|r| r.client.as_str()),
            &interner.clients,
        )
        .await?;
        let id_of = |map: &HashMap<String, i64>, known: &HashMap<String, i64>, key: &str| {
            known
                .get(key)
                .or_else(|| map.get(key))
                .copied()
                .unwrap_or(0)
        };
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO queries (time_us, client_id, domain_id, qtype, status, rcode, rule, list, category, upstream, duration_us) ",
            );
            insert.push_values(chunk, |mut values, row| {
                values
                    .push_bind(row.time_us)
                    .push_bind(id_of(&clients, &interner.clients, &row.client))
                    .push_bind(id_of(&domains, &interner.domains, &row.domain))
                    .push_bind(i64::from(row.qtype))
                    .push_bind(row.status.code())
                    .push_bind(i64::from(row.rcode))
                    .push_bind(row.rule.clone())
                    .push_bind(row.list.clone())
                    .push_bind(row.category.clone())
                    .push_bind(row.upstream.as_deref().map(str::to_owned))
                    .push_bind(row.duration_us);
            });
            insert.build().execute(&mut *tx).await?;
        }
        let mut minutes: HashMap<[i64; 2], i64> = HashMap::new();
        let mut periods: [HashMap<[i64; 3], i64>; 4] = Default::default();
        let mut client_lists: [HashMap<ListKey, i64>; 2] = Default::default();
        for row in rows {
            let status = row.status.code();
            let (hour, day) = (
                row.time_us.div_euclid(HOUR_US),
                row.time_us.div_euclid(DAY_US),
            );
            *minutes
                .entry([row.time_us.div_euclid(MINUTE_US), status])
                .or_default() += 1;
            let domain = id_of(&domains, &interner.domains, &row.domain);
            let client = id_of(&clients, &interner.clients, &row.client);
            // Same order as PERIOD_TABLES.
            if let Some(list) = &row.list {
                for (counts, period) in client_lists.iter_mut().zip([hour, day]) {
                    let key = ListKey {
                        period,
                        client,
                        list: list.clone(),
                        category: row.category.clone().unwrap_or_default(),
                    };
                    *counts.entry(key).or_default() += 1;
                }
            }
            for (counts, key) in periods.iter_mut().zip([
                [hour, domain],
                [hour, client],
                [day, domain],
                [day, client],
            ]) {
                *counts.entry([key[0], key[1], status]).or_default() += 1;
            }
        }
        add_counts(
            &mut tx,
            "minute_counts (minute, status, count)",
            "minute, status",
            minutes,
        )
        .await?;
        for ((table, keys), counts) in PERIOD_TABLES.into_iter().zip(periods) {
            add_counts(&mut tx, table, keys, counts).await?;
        }
        for ((table, keys), counts) in CLIENT_LIST_TABLES.into_iter().zip(client_lists) {
            add_counts(&mut tx, table, keys, counts).await?;
        }
        tx.commit().await?;
        if interner.domains.len() + domains.len() > MAX_INTERNED {
            interner.domains.clear();
        }
        if interner.clients.len() + clients.len() > MAX_INTERNED {
            interner.clients.clear();
        }
        interner.domains.extend(domains);
        interner.clients.extend(clients);
        Ok(())
    }

    /// One small step of retention: deletes up to `batch` query rows older than `cutoff_us`,
    /// the per-minute counts before it, and the oldest hour (day) of hourly (daily) counts if it
    /// ended before it. Returns the rows deleted; call again until it returns 0.
    pub async fn delete_older_than(&self, cutoff_us: i64, batch: i64) -> Result<u64, StoreError> {
        let mut deleted = sqlx::query(
            "DELETE FROM queries WHERE id IN (SELECT id FROM queries WHERE time_us < ?1 ORDER BY id LIMIT ?2)",
        )
        .bind(cutoff_us)
        .bind(batch)
        .execute(&self.pools().await?.writer)
        .await?
        .rows_affected();
        deleted += sqlx::query("DELETE FROM minute_counts WHERE minute < ?1")
            .bind(cutoff_us.div_euclid(MINUTE_US))
            .execute(&self.pools().await?.writer)
            .await?
            .rows_affected();
        let (cutoff_hour, cutoff_day) =
            (cutoff_us.div_euclid(HOUR_US), cutoff_us.div_euclid(DAY_US));
        // Hourly tables are keyed by time first: drop the oldest hour per step. Daily tables are
        // keyed by domain/client first (for fast grouping), and hold one day per name, so old
        // days go in one statement.
        let expired = [
            (
                "DELETE FROM hour_domains WHERE hour = (SELECT MIN(hour) FROM hour_domains) AND hour < ?1",
                cutoff_hour,
            ),
            (
                "DELETE FROM hour_clients WHERE hour = (SELECT MIN(hour) FROM hour_clients) AND hour < ?1",
                cutoff_hour,
            ),
            ("DELETE FROM day_domains WHERE day < ?1", cutoff_day),
            ("DELETE FROM day_clients WHERE day < ?1", cutoff_day),
            (
                "DELETE FROM hour_client_lists WHERE hour = (SELECT MIN(hour) FROM hour_client_lists) AND hour < ?1",
                cutoff_hour,
            ),
            ("DELETE FROM day_client_lists WHERE day < ?1", cutoff_day),
        ];
        for (sql, cutoff) in expired {
            deleted += sqlx::query(sql)
                .bind(cutoff)
                .execute(&self.pools().await?.writer)
                .await?
                .rows_affected();
        }
        Ok(deleted)
    }
}

/// Adds `counts` to a counts table: `table` names it with its columns (keys, then `count`),
/// `keys` lists its primary key.
async fn add_counts<K: CountKey>(
    tx: &mut SqliteConnection,
    table: &'static str,
    keys: &'static str,
    counts: HashMap<K, i64>,
) -> Result<(), StoreError> {
    let counts: Vec<(K, i64)> = counts.into_iter().collect();
    for chunk in counts.chunks(ROWS_PER_STATEMENT) {
        let mut upsert = QueryBuilder::<Sqlite>::new("INSERT INTO ");
        upsert.push(table).push(" ");
        upsert.push_values(chunk, |mut values, (key, count)| {
            key.bind(&mut values);
            values.push_bind(*count);
        });
        upsert
            .push(" ON CONFLICT (")
            .push(keys)
            .push(") DO UPDATE SET count = count + excluded.count");
        upsert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Ids for the distinct `values` not in `known`: inserted if new, then read back.
async fn resolve_ids<'a>(
    tx: &mut SqliteConnection,
    dictionary: Dictionary,
    values: impl Iterator<Item = &'a str>,
    known: &HashMap<String, i64>,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut missing: Vec<&str> = values.filter(|value| !known.contains_key(*value)).collect();
    missing.sort_unstable();
    missing.dedup();
    let mut found = HashMap::with_capacity(missing.len());
    for chunk in missing.chunks(ROWS_PER_STATEMENT) {
        let mut insert = QueryBuilder::<Sqlite>::new(dictionary.insert_sql());
        insert.push_values(chunk, |mut values, value| {
            values.push_bind(*value);
        });
        insert.push(dictionary.conflict_sql());
        insert.build().execute(&mut *tx).await?;
        let mut select = QueryBuilder::<Sqlite>::new(dictionary.select_sql());
        let mut list = select.separated(", ");
        for value in chunk {
            list.push_bind(*value);
        }
        select.push(")");
        let rows: Vec<(String, i64)> = select.build_query_as().fetch_all(&mut *tx).await?;
        found.extend(rows);
    }
    Ok(found)
}
