//! The counts tables the writer keeps beside the raw rows, named in this one place: per minute
//! (queries by status), and per hour and per day (by name, by client, and blocked queries by
//! client and list). Writing, reading and retention take their names from here, and reading
//! builds its parts from here (which tables a range reads is `sources`'s). On PostgreSQL every
//! counts table also has `instance_id` in its key (instances never touch each other's counts),
//! and a read limited to one instance filters on it.

use super::Scope;
use super::sql::{Dialect, Sql};
use super::time::{DAY_US, HOUR_US, MINUTE_US, TimeRange};
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
    pub fn group_prefix(&self, dialect: Dialect) -> &'static str {
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
    pub fn push_filter(self, sql: &mut Sql) {
        if let Self::Only(status) = self {
            sql.push(" AND status = ").push_bind(status.code());
        }
    }
}

/// Joins the parts of a `UNION ALL`.
#[derive(Default)]
pub(super) struct Union {
    parts: usize,
}

impl Union {
    pub fn next(&mut self, sql: &mut Sql) {
        if self.parts > 0 {
            sql.push(" UNION ALL ");
        }
        self.parts += 1;
    }

    /// Pushes `empty` (filtered to no rows) when there was no part, so the SQL stays valid.
    pub fn finish(self, sql: &mut Sql, empty: &str) {
        if self.parts == 0 {
            sql.push(empty).push(" WHERE 1 = 0");
        }
    }
}
