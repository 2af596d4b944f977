//! The hourly counts of the hours still going on: SQLite's writer sums them in memory and adds
//! them to the hourly tables once an hour has ended, one upsert per key and hour instead of one
//! per key and batch (`migrations/sqlite/0009_hourly_counts_at_hour_close.sql`).
//!
//! What holds after every committed transaction: the hourly tables are complete for the hours
//! before `first_open_hour` (the state row); for the hours from it on, the tables and these sums
//! together count every row written (the tables alone may hold a part, flushed when the sums
//! grew past their limit). Readers take the open hours from the raw rows. The sums die with the
//! process, so the first batch of a connection recounts the open hours from the raw rows. One
//! writing hush per file: a second store writing into the same file recounts the open hours
//! under the first one's sums, which would then be added twice at the hour's end.
//! Every change is planned inside the writer's transaction and applied only once it commits: a
//! failed batch leaves the sums as they were.

use sqlx::{AssertSqlSafe, SqliteConnection, SqliteExecutor};

use super::write::{PeriodCounts, add_period_counts};
use crate::store::StoreError;
use crate::store::batch::{BatchCounts, HashMap, ListKey};
use crate::store::tables::{HOURLY, PERIODS, Subject};
use crate::store::time::HOUR_US;

/// Sum keys kept per MiB of the writer's page cache (`querylog.cache_mb`): a key costs about
/// 45 bytes, so the sums stay within about a third of what the same setting gives the cache
/// (the default keeps 256k keys: an hour of a hundred thousand distinct names fits).
const KEYS_PER_CACHE_MB: usize = 8_000;
/// The fewest keys kept, whatever the cache.
const MIN_KEYS: usize = 10_000;

/// Blocked queries of a client by a list in an hour, owned: `(hour, client, list, category)`.
type OwnedListKey = (i64, i64, Box<str>, Box<str>);

/// Counts of open hours, keyed like the hourly tables.
#[derive(Debug, Default)]
pub(super) struct HourSums {
    /// `[hour, id, status]`, by domain then by client.
    subjects: [HashMap<[i64; 3], i64>; 2],
    client_lists: HashMap<OwnedListKey, i64>,
}

impl HourSums {
    /// Moves the hourly counts of hours from `first_open_hour` on out of `counts`.
    pub fn take_open(counts: &mut BatchCounts<'_>, first_open_hour: i64) -> Self {
        debug_assert_eq!(PERIODS[0].unit, HOURLY.unit);
        let mut open = Self::default();
        for (sums, kept) in counts.periods[0].iter_mut().zip(&mut open.subjects) {
            sums.retain(|key, count| {
                let is_open = key[0] >= first_open_hour;
                if is_open {
                    *kept.entry(*key).or_default() += *count;
                }
                !is_open
            });
        }
        counts.client_lists[0].retain(|key, count| {
            let is_open = key.period >= first_open_hour;
            if is_open {
                let owned = (key.period, key.client, key.list.into(), key.category.into());
                *open.client_lists.entry(owned).or_default() += *count;
            }
            !is_open
        });
        open
    }

    fn len(&self) -> usize {
        self.subjects.iter().map(HashMap::len).sum::<usize>() + self.client_lists.len()
    }

    fn merge(&mut self, other: Self) {
        for (sums, more) in self.subjects.iter_mut().zip(other.subjects) {
            for (key, count) in more {
                *sums.entry(key).or_default() += count;
            }
        }
        for (key, count) in other.client_lists {
            *self.client_lists.entry(key).or_default() += count;
        }
    }

    /// Forgets the hours before `hour`.
    fn forget_before(&mut self, hour: i64) {
        for sums in &mut self.subjects {
            sums.retain(|key, _| key[0] >= hour);
        }
        self.client_lists.retain(|key, _| key.0 >= hour);
    }

    /// The counts of the hours `wanted` picks, ready for [`add_period_counts`].
    fn counts(&self, wanted: impl Fn(i64) -> bool) -> PeriodCounts<'_> {
        let [domains, clients] = &self.subjects;
        let pick = |sums: &HashMap<[i64; 3], i64>| -> Vec<([i64; 3], i64)> {
            sums.iter()
                .filter(|(key, _)| wanted(key[0]))
                .map(|(key, count)| (*key, *count))
                .collect()
        };
        PeriodCounts {
            subjects: [pick(domains), pick(clients)],
            client_lists: self
                .client_lists
                .iter()
                .filter(|(key, _)| wanted(key.0))
                .map(|((hour, client, list, category), count)| {
                    let key = ListKey {
                        period: *hour,
                        client: *client,
                        list,
                        category,
                    };
                    (key, *count)
                })
                .collect(),
        }
    }
}

/// The open hours' sums of one store.
#[derive(Debug)]
pub(super) struct OpenHours {
    /// The connection generation the sums were made for; `None` before the first batch.
    generation: Option<u64>,
    first_open_hour: i64,
    sums: HourSums,
    /// Past this many keys the sums are written out (the hours stay open).
    limit: usize,
}

/// What a transaction does to the open hours, applied by [`OpenHours::commit`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(super) enum Plan {
    /// The open hours were recounted from the raw rows (the sums were for another connection
    /// or none were kept); hours before `first_open_hour` are now complete.
    Recounted { first_open_hour: i64 },
    /// The sums of the hours that ended were written; they now end before `first_open_hour`.
    Closed { first_open_hour: i64 },
    /// No hour ended.
    Unchanged { first_open_hour: i64 },
}

impl Plan {
    /// The first hour whose counts go to the sums in this transaction (`i64::MAX` for a
    /// database without the state row: every hour is counted as it is written).
    pub fn first_open_hour(self) -> i64 {
        match self {
            Self::Recounted { first_open_hour }
            | Self::Closed { first_open_hour }
            | Self::Unchanged { first_open_hour } => first_open_hour,
        }
    }
}

impl OpenHours {
    /// Sums sized for a writer page cache of `cache_mb` MiB.
    pub fn new(cache_mb: u32) -> Self {
        Self::with_limit(
            usize::try_from(cache_mb)
                .unwrap_or(usize::MAX)
                .saturating_mul(KEYS_PER_CACHE_MB)
                .max(MIN_KEYS),
        )
    }

    /// Sums that are written out past `limit` keys.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            generation: None,
            first_open_hour: i64::MAX,
            sums: HourSums::default(),
            limit,
        }
    }

    /// Brings the hourly tables up to `now_hour` inside `tx`: recounts the open hours from the
    /// raw rows when the sums are not this connection's (`generation`), else writes the sums of
    /// the hours that ended.
    pub async fn prepare(
        &self,
        tx: &mut SqliteConnection,
        generation: u64,
        now_hour: i64,
    ) -> Result<Plan, StoreError> {
        let Some(stored) = stored_first_open_hour(&mut *tx).await? else {
            return Ok(Plan::Unchanged {
                first_open_hour: i64::MAX,
            });
        };
        if self.generation != Some(generation) {
            recount_from(tx, stored).await?;
            set_first_open_hour(tx, now_hour).await?;
            return Ok(Plan::Recounted {
                first_open_hour: now_hour,
            });
        }
        if now_hour <= self.first_open_hour {
            return Ok(Plan::Unchanged {
                first_open_hour: self.first_open_hour,
            });
        }
        add_period_counts(tx, &HOURLY, self.sums.counts(|hour| hour < now_hour)).await?;
        set_first_open_hour(tx, now_hour).await?;
        Ok(Plan::Closed {
            first_open_hour: now_hour,
        })
    }

    /// Whether the sums with `fresh` added would pass the limit; if so, writes both inside `tx`
    /// (the hours stay open) and returns true.
    pub async fn write_out_if_full(
        &self,
        tx: &mut SqliteConnection,
        plan: Plan,
        fresh: &HourSums,
    ) -> Result<bool, StoreError> {
        let kept = self.kept(plan);
        if kept.map_or(0, HourSums::len) + fresh.len() <= self.limit {
            return Ok(false);
        }
        let first_open_hour = plan.first_open_hour();
        if let Some(kept) = kept {
            add_period_counts(tx, &HOURLY, kept.counts(|hour| hour >= first_open_hour)).await?;
        }
        add_period_counts(tx, &HOURLY, fresh.counts(|_| true)).await?;
        Ok(true)
    }

    /// Applies a committed transaction's `plan`, then keeps `fresh` (or, when the transaction
    /// wrote every sum out, keeps none).
    pub fn commit(&mut self, generation: u64, plan: Plan, fresh: HourSums, written_out: bool) {
        match plan {
            Plan::Recounted { first_open_hour } => {
                self.generation = Some(generation);
                self.sums = HourSums::default();
                self.first_open_hour = first_open_hour;
            }
            Plan::Closed { first_open_hour } => {
                self.sums.forget_before(first_open_hour);
                self.first_open_hour = first_open_hour;
            }
            Plan::Unchanged { .. } => {}
        }
        if written_out {
            self.sums = HourSums::default();
        } else {
            self.sums.merge(fresh);
        }
    }

    /// The sums still valid under `plan` (none after a recount).
    fn kept(&self, plan: Plan) -> Option<&HourSums> {
        match plan {
            Plan::Recounted { .. } => None,
            Plan::Closed { .. } | Plan::Unchanged { .. } => Some(&self.sums),
        }
    }
}

/// The stored first open hour; `None` for a database without the state row.
pub(super) async fn stored_first_open_hour<'e>(
    db: impl SqliteExecutor<'e>,
) -> Result<Option<i64>, StoreError> {
    let stored: Option<(i64,)> =
        sqlx::query_as("SELECT first_open_hour FROM hourly_counts_state WHERE id = 0")
            .fetch_optional(db)
            .await?;
    Ok(stored.map(|(hour,)| hour))
}

async fn set_first_open_hour(tx: &mut SqliteConnection, hour: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE hourly_counts_state SET first_open_hour = ? WHERE id = 0")
        .bind(hour)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Replaces the hourly counts of the hours from `first_hour` on with counts of the raw rows
/// (through the time index, which holds the name, the client and the status).
async fn recount_from(tx: &mut SqliteConnection, first_hour: i64) -> Result<(), StoreError> {
    for table in HOURLY.tables() {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE hour >= ?"
        )))
        .bind(first_hour)
        .execute(&mut *tx)
        .await?;
    }
    let from_us = first_hour.saturating_mul(HOUR_US);
    for subject in [Subject::Domain, Subject::Client] {
        let column = subject.column();
        let sql = format!(
            "INSERT INTO {} (hour, {column}, status, count) \
             SELECT time_us / {HOUR_US}, {column}, status, COUNT(*) FROM queries \
             WHERE time_us >= ? GROUP BY 1, 2, 3",
            subject.table(&HOURLY)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(from_us)
            .execute(&mut *tx)
            .await?;
    }
    let sql = format!(
        "INSERT INTO {} (hour, client_id, list, category, count) \
         SELECT time_us / {HOUR_US}, client_id, list, COALESCE(category, ''), COUNT(*) \
         FROM queries WHERE time_us >= ? AND list IS NOT NULL GROUP BY 1, 2, 3, 4",
        HOURLY.client_lists
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(from_us)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
