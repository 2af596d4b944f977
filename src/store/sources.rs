//! Where a time range's counts are read from: whole days from the daily tables, whole hours
//! from the hourly ones, and raw rows for the partial hours at the range's edges and for the
//! hours the writer has not counted completely yet (SQLite's open hours), so that every range
//! is exact whichever tables it reads.

use super::sql::Sql;
use super::tables::{Count, DAILY, HOURLY, Period, Subject, Union, push_instance, push_time_range};
#[cfg(test)]
use super::time::MINUTE_US;
use super::time::{DAY_US, HOUR_US, HOURS_PER_DAY, TimeRange, today};
use super::{Scope, Store, StoreError};
use crate::dns::outcome::Status;

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
    /// The sources of `range`, within `scope` (not [`Scope::Nothing`], which reads nothing),
    /// when the hourly tables count every hour before `first_open_hour` (the store's
    /// `first_open_hour`; later hours come from the raw rows).
    pub fn of(range: TimeRange, scope: Scope, first_open_hour: i64) -> Self {
        let split = range.split(HOUR_US);
        let mut raw = split.partial;
        let mut days = None;
        let mut hours = Vec::new();
        if let Some((first, end)) = split.whole {
            if (end - first) * HOUR_US <= 2 * DAY_US {
                hours.push((first, end));
            } else {
                days = whole_days(first, end, first_open_hour, &mut hours);
            }
        }
        // Open hours are not (or only in part) in the hourly tables yet.
        let mut counted = Vec::with_capacity(hours.len());
        for (first, end) in hours {
            if first < first_open_hour {
                counted.push((first, end.min(first_open_hour)));
            }
            if end > first_open_hour {
                let open_from = first.max(first_open_hour);
                raw.push((open_from * HOUR_US, end * HOUR_US));
            }
        }
        raw.sort_unstable();
        Self {
            days,
            hours: counted,
            raw: joined(raw),
            instance: scope.instance_id(),
        }
    }

    /// Pushes ` FROM table WHERE` the periods `[first, end)` of `period`'s unit, of this
    /// range's instance.
    fn push_period_part(
        &self,
        sql: &mut Sql,
        period: &Period,
        table: &str,
        (first, end): (i64, i64),
    ) {
        let unit = period.unit;
        sql.push(format_args!(" FROM {table} WHERE {unit} >= "))
            .push_bind(first)
            .push(format_args!(" AND {unit} < "))
            .push_bind(end);
        push_instance(sql, self.instance);
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
            sql.push(format_args!("SELECT {column} AS id"));
            self.push_period_part(sql, period, subject.table(period), (first, end));
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
            sql.push(format_args!(
                "SELECT {column} AS id, CAST(SUM(count) AS BIGINT) AS n"
            ));
            if count == Count::AllAndBlocked {
                sql.push(", CAST(SUM(CASE WHEN status = ")
                    .push_bind(Status::Blocked.code())
                    .push(" THEN count ELSE 0 END) AS BIGINT) AS blocked");
            }
            self.push_period_part(sql, period, subject.table(period), (first, end));
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
            sql.push("SELECT client_id, list, category, count AS n");
            self.push_period_part(sql, period, period.client_lists, (first, end));
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

impl Store {
    /// The sources of `range` within `scope` as this store's tables stand now.
    pub(super) async fn sources(
        &self,
        range: TimeRange,
        scope: Scope,
    ) -> Result<Sources, StoreError> {
        Ok(Sources::of(range, scope, self.first_open_hour().await?))
    }
}

/// The whole days within the whole hours `[first, end)` that come from the daily tables; the
/// hours around them go to `hours`. The daily tables hold only days that have ended (SQLite adds
/// a day to them after its last hour is complete): a range reaching past them reads the rest
/// from the hourly tables.
fn whole_days(
    first: i64,
    end: i64,
    first_open_hour: i64,
    hours: &mut Vec<(i64, i64)>,
) -> Option<(i64, i64)> {
    let whole_hours = TimeRange {
        from_us: first * HOUR_US,
        to_us: end * HOUR_US,
    };
    let days = whole_hours.split(DAY_US);
    hours.extend(
        days.partial
            .iter()
            .map(|(from, to)| (from / HOUR_US, to / HOUR_US)),
    );
    let ended_before = today().min(first_open_hour.div_euclid(HOURS_PER_DAY));
    days.whole.and_then(|(first, end)| {
        if end > ended_before {
            hours.push((first.max(ended_before) * HOURS_PER_DAY, end * HOURS_PER_DAY));
        }
        (first < end.min(ended_before)).then_some((first, end.min(ended_before)))
    })
}

/// Sorted ranges with the touching ones made one.
fn joined(ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    let mut joined: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        match joined.last_mut() {
            Some(last) if last.1 == from => last.1 = to,
            _ => joined.push((from, to)),
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ranges_read_whole_days_then_whole_hours_then_raw_edges() {
        let from_us = 10 * DAY_US + 5 * HOUR_US + 30 * MINUTE_US;
        let to_us = 14 * DAY_US + 2 * HOUR_US + MINUTE_US;
        let sources = Sources::of(TimeRange { from_us, to_us }, Scope::All, i64::MAX);
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
            i64::MAX,
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
        let sources = Sources::of(range, Scope::All, i64::MAX);
        assert_eq!(sources.days, Some((today - 3, today)));
        assert_eq!(sources.hours, vec![(today * 24, (today + 2) * 24)]);
        assert!(sources.raw.is_empty());
    }

    #[test]
    fn hours_not_counted_yet_are_read_from_the_raw_rows() {
        let today = today();
        let from_us = (today - 5) * DAY_US + 30 * MINUTE_US;
        let to_us = today * DAY_US + 3 * HOUR_US + MINUTE_US;
        let range = TimeRange { from_us, to_us };
        // The writer has counted every hour up to 02:00 of yesterday.
        let open = (today - 1) * HOURS_PER_DAY + 2;
        let sources = Sources::of(range, Scope::All, open);
        assert_eq!(sources.days, Some((today - 4, today - 1)));
        assert_eq!(
            sources.hours,
            vec![((today - 5) * 24 + 1, (today - 4) * 24), (open - 2, open)]
        );
        // The open hours and the partial hour at the end are one stretch of raw rows.
        assert_eq!(
            sources.raw,
            vec![
                (from_us, (today - 5) * DAY_US + HOUR_US),
                (open * HOUR_US, to_us)
            ]
        );
        // A short range within the open hours reads raw rows only.
        let short = Sources::of(
            TimeRange {
                from_us: open * HOUR_US,
                to_us: (open + 2) * HOUR_US,
            },
            Scope::All,
            open,
        );
        assert!(short.hours.is_empty() && short.days.is_none());
        assert_eq!(short.raw, vec![(open * HOUR_US, (open + 2) * HOUR_US)]);
    }
}
