//! Time as the store keeps it: microseconds since the Unix epoch, and the minute, hour and day
//! units its counts tables are keyed by.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const MINUTE_US: i64 = 60_000_000;
pub const HOUR_US: i64 = 60 * MINUTE_US;
pub const DAY_US: i64 = 24 * HOUR_US;
pub const HOURS_PER_DAY: i64 = DAY_US / HOUR_US;

/// Today's number: days since the Unix epoch (UTC), the unit of the daily counts.
pub fn today() -> i64 {
    unix_micros(SystemTime::now()).div_euclid(DAY_US)
}

/// This hour's number: hours since the Unix epoch, the unit of the hourly counts.
pub fn this_hour() -> i64 {
    unix_micros(SystemTime::now()).div_euclid(HOUR_US)
}

/// Microseconds since the Unix epoch, the unit of every stored time.
pub fn unix_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
    })
}

/// The inverse of [`unix_micros`].
pub fn from_unix_micros(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// A half-open time range in microseconds since the epoch: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_us: i64,
    pub to_us: i64,
}

impl TimeRange {
    /// The range cut at the boundaries of `unit_us`: the whole units inside it (as unit
    /// numbers, `[first, end)`), and the parts before and after them that cover only part of
    /// a unit (as microsecond ranges; empty ones left out). A range within one unit is one
    /// partial part.
    pub fn split(self, unit_us: i64) -> Split {
        let first = ceil_div(self.from_us, unit_us);
        let end = self.to_us.div_euclid(unit_us);
        if first >= end {
            return Split {
                whole: None,
                partial: vec![(self.from_us, self.to_us)],
            };
        }
        let partial = [(self.from_us, first * unit_us), (end * unit_us, self.to_us)]
            .into_iter()
            .filter(|(from, to)| from < to)
            .collect();
        Split {
            whole: Some((first, end)),
            partial,
        }
    }
}

/// A [`TimeRange`] cut at unit boundaries, see [`TimeRange::split`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Whole units `[first, end)`, in units.
    pub whole: Option<(i64, i64)>,
    /// Partial units at the edges, in microseconds.
    pub partial: Vec<(i64, i64)>,
}

fn ceil_div(value: i64, unit: i64) -> i64 {
    -(-value).div_euclid(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_into_whole_units_and_partial_edges() {
        let range = |from_us, to_us| TimeRange { from_us, to_us };
        let m = MINUTE_US;
        assert_eq!(
            range(30_000_000, 3 * m + 1).split(m),
            Split {
                whole: Some((1, 3)),
                partial: vec![(30_000_000, m), (3 * m, 3 * m + 1)],
            }
        );
        assert_eq!(
            range(m, 3 * m).split(m),
            Split {
                whole: Some((1, 3)),
                partial: vec![],
            }
        );
        assert_eq!(
            range(m + 5, 2 * m - 5).split(m),
            Split {
                whole: None,
                partial: vec![(m + 5, 2 * m - 5)],
            }
        );
        assert_eq!(
            range(m + 5, 2 * m + 5).split(m),
            Split {
                whole: None,
                partial: vec![(m + 5, 2 * m + 5)],
            }
        );
    }
}
