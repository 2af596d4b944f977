//! The counts tables the writer keeps beside the raw rows, named in this one place: per minute
//! (queries by status), and per hour and per day (by name, by client, and blocked queries by
//! client and list). Writing, reading and retention take their names from here, and reading
//! picks its sources here: whole days, whole hours or minutes from the counts, and the raw rows
//! of the partial units at a range's edges, so that every range is exact. On PostgreSQL every
//! counts table also has `instance_id` in its key (instances never touch each other's counts),
//! and a read limited to one instance filters on it.

use super::Scope;
use super::sql::{Dialect, Sql};
use super::time::{DAY_US, HOUR_US, HOURS_PER_DAY, MINUTE_US, TimeRange, today};
use crate::dns::outcome::Status;

pub(super) const MINUTE_COUNTS: &str = "minute_counts";

/// The counts tables of one period, an hour or a day.
pub(super) struct Period {
    /// The key column: the period's number since the epoch.
    pub unit: &'static str,
    pub size_us: i64,
    pub domains: &'static str,
    pub clients: &'static str,
    pub client_lists: &'static str,
    /// Hourly tables are keyed by time first, so retention drops the oldest hour per step;
    /// daily ones are keyed by name or client first and hold a day per name, so old days go in
    /// one statement.
    time_first: bool,
}

pub(super) const HOURLY: Period = Period {
    unit: "hour",
    size_us: HOUR_US,
    domains: "hour_domains",
    clients: "hour_clients",
    client_lists: "hour_client_lists",
    time_first: true,
};

pub(super) const DAILY: Period = Period {
    unit: "day",
    size_us: DAY_US,
    domains: "day_domains",
    clients: "day_clients",
    client_lists: "day_client_lists",
    time_first: false,
};

pub(super) const PERIODS: [&Period; 2] = [&HOURLY, &DAILY];

/// What a period count is kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    Domain,
    Client,
}

impl Subject {
    pub fn column(self) -> &'static str {
        match self {
            Self::Domain => "domain_id",
            Self::Client => "client_id",
        }
    }

    pub fn table(self, period: &Period) -> &'static str {
        match self {
            Self::Domain => period.domains,
            Self::Client => period.clients,
        }
    }
}

impl Period {
    /// How a read groups a time range of this period's tables by name or client. Hourly
    /// tables are keyed time first, so the range is one stretch of the primary key, grouped in
    /// memory; `+` stops SQLite from walking the by-name index instead (it does so to save that
    /// grouping, and `NOT INDEXED` does not stop it on these tables), which is several times
    /// slower. Daily tables are keyed name first and stream in key order. PostgreSQL plans
    /// this well by itself.
    fn group_prefix(&self, dialect: Dialect) -> &'static str {
        if self.time_first && dialect == Dialect::Sqlite {
            "+"
        } else {
            ""
        }
    }

    /// This period's tables.
    pub fn tables(&self) -> [&'static str; 3] {
        [self.domains, self.clients, self.client_lists]
    }

    /// `sql` completed into the retention statement of `table`: it deletes counts of periods
    /// that ended before `cutoff` (in this period's unit); hourly tables one hour per step.
    pub fn retention_sql(&self, mut sql: Sql, table: &str, cutoff: i64) -> Sql {
        let unit = self.unit;
        sql.push(format_args!("DELETE FROM {table} WHERE {unit} < "))
            .push_bind(cutoff);
        if self.time_first {
            sql.push(format_args!(
                " AND {unit} = (SELECT MIN({unit}) FROM {table})"
            ));
        }
        sql
    }
}

/// Where the period counts of a time range come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sources {
    /// Whole days, from the daily tables (only for ranges over two days).
    days: Option<(i64, i64)>,
    /// Whole hours, from the hourly tables.
    hours: Vec<(i64, i64)>,
    /// Partial hours at the edges, from the raw rows (µs).
    raw: Vec<(i64, i64)>,
    /// Which instance's counts, when not every instance's.
    instance: Option<i64>,
}

impl Sources {
    /// The sources of `range`, within `scope` (not [`Scope::Nothing`], which reads nothing).
    pub fn of(range: TimeRange, scope: Scope) -> Self {
        let instance = scope.instance_id();
        let split = range.split(HOUR_US);
        let raw = split.partial;
        let Some((first, end)) = split.whole else {
            return Self {
                days: None,
                hours: Vec::new(),
                raw,
                instance,
            };
        };
        if (end - first) * HOUR_US <= 2 * DAY_US {
            return Self {
                days: None,
                hours: vec![(first, end)],
                raw,
                instance,
            };
        }
        let whole_hours = TimeRange {
            from_us: first * HOUR_US,
            to_us: end * HOUR_US,
        };
        let days = whole_hours.split(DAY_US);
        let mut hours: Vec<(i64, i64)> = days
            .partial
            .iter()
            .map(|(from, to)| (from / HOUR_US, to / HOUR_US))
            .collect();
        // The daily tables hold only days that have ended (SQLite adds a day to them at its
        // close): a range reaching past today reads today and later from the hourly tables.
        let today = today();
        let days = days.whole.and_then(|(first, end)| {
            if end > today {
                hours.push((first.max(today) * HOURS_PER_DAY, end * HOURS_PER_DAY));
            }
            (first < end.min(today)).then_some((first, end.min(today)))
        });
        Self {
            days,
            hours,
            raw,
            instance,
        }
    }

    /// The instance the reads are limited to, if any.
    pub fn instance(&self) -> Option<i64> {
        self.instance
    }

    fn periods(&self) -> impl Iterator<Item = (&'static Period, (i64, i64))> + '_ {
        let days = self.days.map(|days| (&DAILY, days));
        days.into_iter()
            .chain(self.hours.iter().map(|hours| (&HOURLY, *hours)))
    }

    /// Pushes a `UNION ALL` of rows `(id)`: every `subject` seen in this range, some more than
    /// once (count them with `COUNT(DISTINCT id)`: one pass that dedups everything at once).
    pub fn push_ids(&self, sql: &mut Sql, subject: Subject) {
        let column = subject.column();
        let mut union = Union::default();
        for (period, (first, end)) in self.periods() {
            union.next(sql);
            let unit = period.unit;
            sql.push(format_args!(
                "SELECT {column} AS id FROM {} WHERE {unit} >= ",
                subject.table(period)
            ))
            .push_bind(first)
            .push(format_args!(" AND {unit} < "))
            .push_bind(end);
            push_instance(sql, self.instance);
        }
        for (from, to) in &self.raw {
            union.next(sql);
            sql.push(format_args!("SELECT {column} AS id FROM queries WHERE "));
            push_time_range(sql, *from, *to);
            push_instance(sql, self.instance);
        }
        union.finish(sql, "SELECT CAST(0 AS BIGINT) AS id");
    }

    /// Pushes a `UNION ALL` of rows `(id, n)`, or `(id, n, blocked)` for
    /// [`Count::AllAndBlocked`]: `n` queries of `subject` `id` in one part of this range (of one
    /// status for [`Count::Only`]), `blocked` of them blocked. Each part is grouped on its own
    /// (hourly tables by `+id`, see [`Period::group_prefix`]), so the outer query sums a few
    /// rows per `id`.
    pub fn push_counts(&self, sql: &mut Sql, subject: Subject, count: Count) {
        let column = subject.column();
        let mut union = Union::default();
        for (period, (first, end)) in self.periods() {
            union.next(sql);
            let unit = period.unit;
            sql.push(format_args!(
                "SELECT {column} AS id, CAST(SUM(count) AS BIGINT) AS n"
            ));
            if count == Count::AllAndBlocked {
                sql.push(", CAST(SUM(CASE WHEN status = ")
                    .push_bind(Status::Blocked.code())
                    .push(" THEN count ELSE 0 END) AS BIGINT) AS blocked");
            }
            sql.push(format_args!(
                " FROM {} WHERE {unit} >= ",
                subject.table(period)
            ))
            .push_bind(first)
            .push(format_args!(" AND {unit} < "))
            .push_bind(end);
            push_instance(sql, self.instance);
            count.push_filter(sql);
            let prefix = period.group_prefix(sql.dialect());
            sql.push(format_args!(" GROUP BY {prefix}{column}"));
        }
        for (from, to) in &self.raw {
            union.next(sql);
            sql.push(format_args!("SELECT {column} AS id, COUNT(*) AS n"));
            if count == Count::AllAndBlocked {
                sql.push(", CAST(SUM(CASE WHEN status = ")
                    .push_bind(Status::Blocked.code())
                    .push(" THEN 1 ELSE 0 END) AS BIGINT) AS blocked");
            }
            sql.push(" FROM queries WHERE ");
            push_time_range(sql, *from, *to);
            push_instance(sql, self.instance);
            count.push_filter(sql);
            sql.push(format_args!(" GROUP BY {column}"));
        }
        let empty = match count {
            Count::AllAndBlocked => {
                "SELECT CAST(0 AS BIGINT) AS id, CAST(0 AS BIGINT) AS n, CAST(0 AS BIGINT) AS blocked"
            }
            Count::All | Count::Only(_) => "SELECT CAST(0 AS BIGINT) AS id, CAST(0 AS BIGINT) AS n",
        };
        union.finish(sql, empty);
    }

    /// Pushes a `UNION ALL` of rows `(client_id, list, category, n)`: `n` blocked queries of a
    /// client by a list in this range (`category` is '' for lists without one).
    pub fn push_client_lists(&self, sql: &mut Sql) {
        let mut union = Union::default();
        for (period, (first, end)) in self.periods() {
            union.next(sql);
            let unit = period.unit;
            sql.push(format_args!(
                "SELECT client_id, list, category, count AS n FROM {} WHERE {unit} >= ",
                period.client_lists
            ))
            .push_bind(first)
            .push(format_args!(" AND {unit} < "))
            .push_bind(end);
            push_instance(sql, self.instance);
        }
        for (from, to) in &self.raw {
            union.next(sql);
            sql.push(
                "SELECT client_id, list, COALESCE(category, '') AS category, COUNT(*) AS n \
                 FROM queries WHERE ",
            );
            push_time_range(sql, *from, *to);
            push_instance(sql, self.instance);
            sql.push(" AND list IS NOT NULL GROUP BY client_id, list, COALESCE(category, '')");
        }
        union.finish(
            sql,
            "SELECT CAST(0 AS BIGINT) AS client_id, '' AS list, '' AS category, CAST(0 AS BIGINT) AS n",
        );
    }
}

/// Pushes a `UNION ALL` of rows `(minute, status, n)` for `range`: the per-minute counts of its
/// whole minutes, and the raw rows of the partial minutes at its edges.
pub(super) fn push_minute_counts(sql: &mut Sql, range: TimeRange, scope: Scope) {
    let instance = scope.instance_id();
    let split = range.split(MINUTE_US);
    let mut union = Union::default();
    if let Some((first, end)) = split.whole {
        union.next(sql);
        sql.push(format_args!(
            "SELECT minute, status, count AS n FROM {MINUTE_COUNTS} WHERE minute >= "
        ))
        .push_bind(first)
        .push(" AND minute < ")
        .push_bind(end);
        push_instance(sql, instance);
    }
    for (from, to) in split.partial {
        union.next(sql);
        sql.push(format_args!(
            "SELECT time_us / {MINUTE_US} AS minute, status, COUNT(*) AS n FROM queries WHERE "
        ));
        push_time_range(sql, from, to);
        push_instance(sql, instance);
        sql.push(format_args!(" GROUP BY time_us / {MINUTE_US}, status"));
    }
    union.finish(
        sql,
        "SELECT CAST(0 AS BIGINT) AS minute, CAST(0 AS BIGINT) AS status, CAST(0 AS BIGINT) AS n",
    );
}

/// `time_us >= from AND time_us < to`, bound.
pub(super) fn push_time_range(sql: &mut Sql, from: i64, to: i64) {
    sql.push("time_us >= ")
        .push_bind(from)
        .push(" AND time_us < ")
        .push_bind(to);
}

/// `AND instance_id = ?` when reading one instance's rows (only PostgreSQL rows have one).
pub(super) fn push_instance(sql: &mut Sql, instance: Option<i64>) {
    if let Some(id) = instance {
        sql.push(" AND instance_id = ").push_bind(id);
    }
}

/// What [`Sources::push_counts`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    All,
    /// Only queries of this status.
    Only(Status),
    /// All queries, and the blocked ones apart.
    AllAndBlocked,
}

impl Count {
    fn push_filter(self, sql: &mut Sql) {
        if let Self::Only(status) = self {
            sql.push(" AND status = ").push_bind(status.code());
        }
    }
}

/// Joins the parts of a `UNION ALL`.
#[derive(Default)]
struct Union {
    parts: usize,
}

impl Union {
    fn next(&mut self, sql: &mut Sql) {
        if self.parts > 0 {
            sql.push(" UNION ALL ");
        }
        self.parts += 1;
    }

    /// Pushes `empty` (filtered to no rows) when there was no part, so the SQL stays valid.
    fn finish(self, sql: &mut Sql, empty: &str) {
        if self.parts == 0 {
            sql.push(empty).push(" WHERE 1 = 0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ranges_read_whole_days_then_whole_hours_then_raw_edges() {
        let from_us = 10 * DAY_US + 5 * HOUR_US + 30 * MINUTE_US;
        let to_us = 14 * DAY_US + 2 * HOUR_US + MINUTE_US;
        let sources = Sources::of(TimeRange { from_us, to_us }, Scope::All);
        assert_eq!(sources.days, Some((11, 14)));
        assert_eq!(
            sources.hours,
            vec![(10 * 24 + 6, 11 * 24), (14 * 24, 14 * 24 + 2)]
        );
        assert_eq!(
            sources.raw,
            vec![
                (from_us, 10 * DAY_US + 6 * HOUR_US),
                (14 * DAY_US + 2 * HOUR_US, to_us)
            ]
        );
        let short = Sources::of(
            TimeRange {
                from_us: HOUR_US + 1,
                to_us: 3 * HOUR_US,
            },
            Scope::All,
        );
        assert_eq!(short.days, None);
        assert_eq!(short.hours, vec![(2, 3)]);
        assert_eq!(short.raw, vec![(HOUR_US + 1, 2 * HOUR_US)]);
    }

    #[test]
    fn a_day_not_over_yet_is_read_from_the_hourly_tables() {
        let today = today();
        let range = TimeRange {
            from_us: (today - 3) * DAY_US,
            to_us: (today + 2) * DAY_US,
        };
        let sources = Sources::of(range, Scope::All);
        assert_eq!(sources.days, Some((today - 3, today)));
        assert_eq!(sources.hours, vec![(today * 24, (today + 2) * 24)]);
        assert!(sources.raw.is_empty());
    }
}
