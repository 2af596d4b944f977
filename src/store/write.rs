//! Writing the query history: a batch of rows becomes one transaction that interns new names
//! and clients, inserts the rows with multi-row statements, and adds the batch to the
//! per-minute, per-hour and per-day counts. Retention deletes old rows in small batches so it never stalls writing.

use std::collections::HashMap as StdHashMap;
use std::sync::OnceLock;

use sqlx::query_builder::Separated;
use sqlx::{AssertSqlSafe, QueryBuilder, SqlSafeStr, Sqlite, SqliteConnection};

use super::row::QueryRow;
use super::tables::{DAILY, HOURLY, MINUTE_COUNTS, PERIODS, Subject};
use super::time::MINUTE_US;
use super::{Store, StoreError};

/// The writer's maps are keyed by names and small integers it made itself: a fast hash serves
/// (the standard SipHash was a visible share of the writer's time).
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;

/// Rows per INSERT statement: 500 rows × 13 values stays far below SQLite's 32,766 variables,
/// and a fixed size lets the statement cache reuse the prepared statement.
const ROWS_PER_STATEMENT: usize = 500;
/// The columns a query row is inserted with, in bind order.
const ROW_COLUMNS: &str = "time_us, client_id, domain_id, qtype, status, rcode, rule, list, \
                           category, upstream, duration_us, protocol, group_name";
const ROW_VALUES: usize = 13;

/// `INSERT INTO queries (…) VALUES (?, …), …` for `rows` rows.
fn row_insert(rows: usize) -> String {
    let placeholders = format!("({})", vec!["?"; ROW_VALUES].join(", "));
    format!(
        "INSERT INTO queries ({ROW_COLUMNS}) VALUES {}",
        vec![placeholders.as_str(); rows].join(", ")
    )
}

/// The statement of a full chunk, made once.
fn full_row_insert() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| row_insert(ROWS_PER_STATEMENT))
}

/// Names kept in the interner before it is emptied: bounds memory on a long-running box.
const MAX_INTERNED: usize = 200_000;

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

/// Blocked queries of one client from one list in one hour or day. Borrowed from the rows: a
/// batch has few distinct keys but many rows, so strings are copied per key, not per row.
#[derive(PartialEq, Eq, Hash)]
struct ListKey<'a> {
    period: i64,
    client: i64,
    list: &'a str,
    category: &'a str,
}

impl CountKey for ListKey<'_> {
    fn bind(&self, values: &mut Separated<'_, Sqlite, &'static str>) {
        values
            .push_bind(self.period)
            .push_bind(self.client)
            .push_bind(self.list.to_owned())
            .push_bind(self.category.to_owned());
    }
}

/// Ids of names and clients already in the database, so most rows need no lookup. A client
/// is keyed by [`client_key`].
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

/// A client's key in the interner: its address, and its device name after a space when it has
/// one (neither an address nor a device name holds a space).
fn client_key(row: &QueryRow) -> String {
    match &row.client_name {
        Some(name) => format!("{} {name}", row.client),
        None => row.client.clone(),
    }
}

impl Dictionary {
    /// The table with its key columns, and those columns as a key expression.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::Domains => ("domains (name)", "name"),
            Self::Clients => ("clients (address, name)", "address, name"),
        }
    }

    /// The key columns of `key`, bound in order.
    fn bind_key(self, values: &mut Separated<'_, Sqlite, &'static str>, key: &str) {
        match self {
            Self::Domains => {
                values.push_bind(key.to_owned());
            }
            Self::Clients => {
                let (address, name) = key.split_once(' ').unwrap_or((key, ""));
                values
                    .push_bind(address.to_owned())
                    .push_bind(name.to_owned());
            }
        }
    }

    /// The key as read back: the same form as [`client_key`] for clients.
    fn key_sql(self) -> &'static str {
        match self {
            Self::Domains => "SELECT name, id FROM domains WHERE (name) IN (VALUES ",
            Self::Clients => {
                "SELECT CASE name WHEN '' THEN address ELSE address || ' ' || name END, id \
                 FROM clients WHERE (address, name) IN (VALUES "
            }
        }
    }
}

impl Store {
    /// Writes `rows` in one transaction. On error nothing is written and `interner` is
    /// unchanged, so the same batch can be retried.
    pub async fn insert_batch(
        &self,
        rows: &[QueryRow],
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
        let client_keys: Vec<String> = rows.iter().map(client_key).collect();
        let clients = resolve_ids(
            &mut tx,
            Dictionary::Clients,
            client_keys.iter().map(String::as_str),
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
        let keyed: Vec<(&QueryRow, &String)> = rows.iter().zip(&client_keys).collect();
        // The statement text of a full chunk is made once; only the last chunk can be shorter.
        for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
            let sql = if chunk.len() == ROWS_PER_STATEMENT {
                full_row_insert().into_sql_str()
            } else {
                AssertSqlSafe(row_insert(chunk.len())).into_sql_str()
            };
            let mut insert = sqlx::query(sql);
            for (row, client) in chunk {
                insert = insert
                    .bind(row.time_us)
                    .bind(id_of(&clients, &interner.clients, client))
                    .bind(id_of(&domains, &interner.domains, &row.domain))
                    .bind(i64::from(row.qtype))
                    .bind(row.status.code())
                    .bind(i64::from(row.rcode))
                    .bind(row.rule.as_deref())
                    .bind(row.list.as_deref())
                    .bind(row.category.as_deref())
                    .bind(row.upstream.as_deref())
                    .bind(row.duration_us)
                    .bind(row.protocol.code())
                    .bind(row.group.as_deref());
            }
            insert.execute(&mut *tx).await?;
        }
        let mut minutes: HashMap<[i64; 2], i64> = HashMap::default();
        // Per period (hourly, daily) and subject (domain, client): [period, id, status] counts.
        let mut periods: [[HashMap<[i64; 3], i64>; 2]; 2] = Default::default();
        let mut client_lists: [HashMap<ListKey, i64>; 2] = Default::default();
        for (row, client) in &keyed {
            let status = row.status.code();
            *minutes
                .entry([row.time_us.div_euclid(MINUTE_US), status])
                .or_default() += 1;
            let domain = id_of(&domains, &interner.domains, &row.domain);
            let client = id_of(&clients, &interner.clients, client);
            for (i, period) in PERIODS.iter().enumerate() {
                let number = row.time_us.div_euclid(period.size_us);
                for (counts, id) in periods[i].iter_mut().zip([domain, client]) {
                    *counts.entry([number, id, status]).or_default() += 1;
                }
                if let Some(list) = &row.list {
                    let key = ListKey {
                        period: number,
                        client,
                        list,
                        category: row.category.as_deref().unwrap_or_default(),
                    };
                    *client_lists[i].entry(key).or_default() += 1;
                }
            }
        }
        add_counts(&mut tx, MINUTE_COUNTS, "minute, status", minutes).await?;
        for ((period, by_subject), lists) in PERIODS.iter().zip(periods).zip(client_lists) {
            let unit = period.unit;
            for (subject, counts) in [Subject::Domain, Subject::Client]
                .into_iter()
                .zip(by_subject)
            {
                let column = subject.column();
                add_counts(
                    &mut tx,
                    subject.table(period),
                    &format!("{unit}, {column}, status"),
                    counts,
                )
                .await?;
            }
            add_counts(
                &mut tx,
                period.client_lists,
                &format!("{unit}, client_id, list, category"),
                lists,
            )
            .await?;
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
        deleted +=
            QueryBuilder::<Sqlite>::new(format!("DELETE FROM {MINUTE_COUNTS} WHERE minute < ?1"))
                .build()
                .bind(cutoff_us.div_euclid(MINUTE_US))
                .execute(&self.pools().await?.writer)
                .await?
                .rows_affected();
        for period in [&HOURLY, &DAILY] {
            let cutoff = cutoff_us.div_euclid(period.size_us);
            for sql in period.retention_sql() {
                deleted += QueryBuilder::<Sqlite>::new(sql)
                    .build()
                    .bind(cutoff)
                    .execute(&self.pools().await?.writer)
                    .await?
                    .rows_affected();
            }
        }
        Ok(deleted)
    }
}

/// Adds `counts` to the counts table `table`, whose key columns are `keys` (in the order
/// [`CountKey::bind`] binds them) followed by `count`.
async fn add_counts<K: CountKey>(
    tx: &mut SqliteConnection,
    table: &str,
    keys: &str,
    counts: HashMap<K, i64>,
) -> Result<(), StoreError> {
    let counts: Vec<(K, i64)> = counts.into_iter().collect();
    for chunk in counts.chunks(ROWS_PER_STATEMENT) {
        let mut upsert = QueryBuilder::<Sqlite>::new("INSERT INTO ");
        upsert.push(format_args!("{table} ({keys}, count) "));
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
    let mut found = HashMap::with_capacity_and_hasher(missing.len(), Default::default());
    for chunk in missing.chunks(ROWS_PER_STATEMENT) {
        let (table, key_columns) = dictionary.table();
        let mut insert = QueryBuilder::<Sqlite>::new(format!("INSERT INTO {table} "));
        insert.push_values(chunk, |mut values, value| {
            dictionary.bind_key(&mut values, value)
        });
        insert.push(format_args!(" ON CONFLICT ({key_columns}) DO NOTHING"));
        insert.build().execute(&mut *tx).await?;
        let mut select = QueryBuilder::<Sqlite>::new(dictionary.key_sql());
        for (i, value) in chunk.iter().enumerate() {
            select.push(if i == 0 { "(" } else { ", (" });
            let mut columns = select.separated(", ");
            dictionary.bind_key(&mut columns, value);
            select.push(")");
        }
        select.push(")");
        let rows: Vec<(String, i64)> = select.build_query_as().fetch_all(&mut *tx).await?;
        found.extend(rows);
    }
    Ok(found)
}
