//! Writing a batch into SQLite: one transaction that interns new names and clients, inserts the
//! rows with multi-row statements of a fixed size (the prepared statement is reused), and adds
//! the batch's [`BatchCounts`] to the counts tables. Periods still going on are counted lower
//! down only: an hour's counts wait in memory until it ends ([`super::open_hours`]), and a day
//! is counted in the hourly tables only until the first transaction after it has ended adds its
//! hours to the daily tables (`migrations/sqlite/0007_daily_counts_at_day_close.sql`).

use std::sync::OnceLock;

use sqlx::query_builder::Separated;
use sqlx::{AssertSqlSafe, QueryBuilder, SqlSafeStr, Sqlite, SqliteConnection};

use super::SqliteStore;
use super::open_hours::HourSums;
use crate::store::StoreError;
use crate::store::batch::{
    BatchCounts, Dictionary, EVERY_DAY, HashMap, Interner, ListKey, client_keys, row_ids,
    split_client_key,
};
use crate::store::row::QueryRow;
use crate::store::tables::{DAILY, HOURLY, MINUTE_COUNTS, PERIODS, Period, Subject};
use crate::store::time::{HOURS_PER_DAY, today};

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

/// A counts-table key: its values are bound in column order.
trait CountKey: Eq + std::hash::Hash + Ord {
    fn bind(&self, values: &mut Separated<'_, Sqlite, &'static str>);
}

impl<const N: usize> CountKey for [i64; N] {
    fn bind(&self, values: &mut Separated<'_, Sqlite, &'static str>) {
        for value in self {
            values.push_bind(*value);
        }
    }
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
                let (address, name) = split_client_key(key);
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

impl SqliteStore {
    /// Writes `rows` in one transaction. On error nothing is written and `interner` is
    /// unchanged, so the same batch can be retried.
    pub async fn insert_batch(
        &self,
        rows: &[QueryRow],
        interner: &mut Interner,
        now_hour: i64,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let pools = self.pools().await?;
        let generation = self.generation();
        interner.check_generation(generation);
        let mut open_hours = self.open_hours.lock().await;
        let mut tx = pools.writer.begin().await?;
        let plan = open_hours.prepare(&mut tx, generation, now_hour).await?;
        let first_open_day = close_ended_days(&mut tx, plan.first_open_hour()).await?;
        let client_keys = client_keys(rows);
        let [name_lookup, client_lookup] = interner.look_up_rows(rows, &client_keys);
        let domains = resolve_ids(&mut tx, Dictionary::Domains, &name_lookup.missing).await?;
        let clients = resolve_ids(&mut tx, Dictionary::Clients, &client_lookup.missing).await?;
        let ids = row_ids(&name_lookup, &domains, &client_lookup, &clients);
        let keyed: Vec<(&QueryRow, &(i64, i64))> = rows.iter().zip(&ids).collect();
        // The statement text of a full chunk is made once; only the last chunk can be shorter.
        for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
            let sql = if chunk.len() == ROWS_PER_STATEMENT {
                full_row_insert().into_sql_str()
            } else {
                AssertSqlSafe(row_insert(chunk.len())).into_sql_str()
            };
            let mut insert = sqlx::query(sql);
            for (row, (domain, client)) in chunk {
                insert = insert
                    .bind(row.time_us)
                    .bind(*client)
                    .bind(*domain)
                    .bind(i64::from(row.qtype))
                    .bind(row.status.code())
                    .bind(i64::from(row.rcode))
                    .bind(row.rule.clone())
                    .bind(row.list.clone())
                    .bind(row.category.clone())
                    .bind(row.upstream.clone())
                    .bind(row.duration_us)
                    .bind(row.protocol.code())
                    .bind(row.group.clone());
            }
            insert.execute(&mut *tx).await?;
        }
        let mut counts = BatchCounts::of(rows, &ids, first_open_day);
        let fresh = HourSums::take_open(&mut counts, plan.first_open_hour());
        let minutes = counts.minutes.into_iter().collect();
        add_counts(&mut tx, MINUTE_COUNTS, "minute, status", minutes).await?;
        for ((period, [domains, clients]), lists) in
            PERIODS.iter().zip(counts.periods).zip(counts.client_lists)
        {
            let counts = PeriodCounts {
                subjects: [domains.into_iter().collect(), clients.into_iter().collect()],
                client_lists: lists.into_iter().collect(),
            };
            add_period_counts(&mut tx, period, counts).await?;
        }
        let written_out = open_hours.write_out_if_full(&mut tx, plan, &fresh).await?;
        tx.commit().await?;
        open_hours.commit(generation, plan, fresh, written_out);
        interner.remember(domains, clients);
        Ok(())
    }

    /// Adds the hours and days that have ended to the hourly and daily tables. The writer calls
    /// it when an hour ends, so that after a quiet stretch the last hour (and at midnight the
    /// last day) is complete within a second even when no batch comes to do it.
    pub async fn close_ended_periods(&self, now_hour: i64) -> Result<(), StoreError> {
        let pools = self.pools().await?;
        let generation = self.generation();
        let mut open_hours = self.open_hours.lock().await;
        let mut tx = pools.writer.begin().await?;
        let plan = open_hours.prepare(&mut tx, generation, now_hour).await?;
        close_ended_days(&mut tx, plan.first_open_hour()).await?;
        tx.commit().await?;
        open_hours.commit(generation, plan, HourSums::default(), false);
        Ok(())
    }
}

/// One period's counts to add: by domain and by client (`[period, id, status]`), and blocked
/// queries by client and list.
pub(super) struct PeriodCounts<'a> {
    pub subjects: [Vec<([i64; 3], i64)>; 2],
    pub client_lists: Vec<(ListKey<'a>, i64)>,
}

/// Adds `counts` to `period`'s tables.
pub(super) async fn add_period_counts(
    tx: &mut SqliteConnection,
    period: &Period,
    counts: PeriodCounts<'_>,
) -> Result<(), StoreError> {
    let unit = period.unit;
    for (subject, sums) in [Subject::Domain, Subject::Client]
        .into_iter()
        .zip(counts.subjects)
    {
        let column = subject.column();
        let keys = format!("{unit}, {column}, status");
        add_counts(tx, subject.table(period), &keys, sums).await?;
    }
    let keys = format!("{unit}, client_id, list, category");
    add_counts(tx, period.client_lists, &keys, counts.client_lists).await
}

/// The key columns after the period of each of a period's tables, in `Period::tables` order.
const PERIOD_KEYS: [&str; 3] = [
    "domain_id, status",
    "client_id, status",
    "client_id, list, category",
];

/// Adds the hourly counts of every ended day not yet in the daily tables to them, and returns
/// the first day that is not (today, or the day after the newest day a database from before
/// this scheme counted daily). A day ends with today, or earlier when its last hours are still
/// open (from `first_open_hour` on, not in the hourly tables yet). Without the state row every
/// day is counted daily.
async fn close_ended_days(
    tx: &mut SqliteConnection,
    first_open_hour: i64,
) -> Result<i64, StoreError> {
    let state: Option<(i64,)> =
        sqlx::query_as("SELECT first_open_day FROM daily_counts_state WHERE id = 0")
            .fetch_optional(&mut *tx)
            .await?;
    let Some((first_open_day,)) = state else {
        return Ok(EVERY_DAY);
    };
    let ended_before = today().min(first_open_hour.div_euclid(HOURS_PER_DAY));
    if first_open_day >= ended_before {
        return Ok(first_open_day);
    }
    for ((hourly, daily), keys) in HOURLY
        .tables()
        .into_iter()
        .zip(DAILY.tables())
        .zip(PERIOD_KEYS)
    {
        // `+` keeps SQLite on the hour-first key (see `Period::group_prefix`).
        let grouping: Vec<String> = keys.split(", ").map(|key| format!("+{key}")).collect();
        let sql = format!(
            "INSERT INTO {daily} (day, {keys}, count) \
             SELECT hour / {HOURS_PER_DAY}, {keys}, SUM(count) FROM {hourly} \
             WHERE hour >= ? AND hour < ? GROUP BY 1, {} \
             ON CONFLICT (day, {keys}) DO UPDATE SET count = count + excluded.count",
            grouping.join(", ")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(first_open_day * HOURS_PER_DAY)
            .bind(ended_before * HOURS_PER_DAY)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("UPDATE daily_counts_state SET first_open_day = ? WHERE id = 0")
        .bind(ended_before)
        .execute(&mut *tx)
        .await?;
    Ok(ended_before)
}

/// Adds `counts` to the counts table `table`, whose key columns are `keys` (in the order
/// [`CountKey::bind`] binds them) followed by `count`.
async fn add_counts<K: CountKey>(
    tx: &mut SqliteConnection,
    table: &str,
    keys: &str,
    mut counts: Vec<(K, i64)>,
) -> Result<(), StoreError> {
    // In key order each upsert lands next to the previous one in the table's B-tree (the keys
    // lead with the period, then the name or client), instead of at a random page.
    counts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
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

/// Ids for the `missing` names or clients: inserted if new, then read back.
async fn resolve_ids(
    tx: &mut SqliteConnection,
    dictionary: Dictionary,
    missing: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
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
