//! A group's weekly window: open or closed at a moment, and when that changes next. Pure
//! calendar arithmetic on "minute of the week" in the schedule's time zone, so the edges
//! (midnight crossings, a window as long as a day) are tested with any clock the tests like.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::config::ScheduleConfig;

const DAY_MINUTES: u32 = 24 * 60;
const WEEK_MINUTES: u32 = 7 * DAY_MINUTES;

#[derive(Debug, Clone)]
pub struct Schedule {
    /// Bit `d` set: a window starts on weekday `d` (Monday = 0).
    days: u8,
    /// Minutes after midnight the window opens.
    from: u32,
    /// How long it stays open: 1 to 1440 minutes (`from == to` is a whole day).
    length: u32,
    zone: TimeZone,
    /// As configured, for showing.
    pub config: ScheduleConfig,
}

impl Schedule {
    /// The schedule of a validated `[[groups]]` entry (an unknown zone was refused there; the
    /// system's zone stands in should it vanish since).
    pub fn new(config: &ScheduleConfig) -> Self {
        let zone = config
            .timezone
            .as_deref()
            .and_then(|name| TimeZone::get(name).ok())
            .unwrap_or_else(TimeZone::system);
        let (from, to) = (u32::from(config.from.0), u32::from(config.to.0));
        let length = match (to + DAY_MINUTES - from) % DAY_MINUTES {
            0 => DAY_MINUTES,
            length => length,
        };
        Self {
            days: config
                .days
                .iter()
                .fold(0, |days, day| days | 1 << day.index()),
            from,
            length,
            zone,
            config: config.clone(),
        }
    }

    /// Whether the window is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        self.is_open_at_minute(minute_of_week(
            &at.to_zoned_datetime(self.zone.clone()).datetime(),
        ))
    }

    fn is_open_at_minute(&self, minute: u32) -> bool {
        (0..7u32).any(|day| {
            let start = day * DAY_MINUTES + self.from;
            self.days & (1 << day) != 0
                && (minute + WEEK_MINUTES - start) % WEEK_MINUTES < self.length
        })
    }

    /// The next moment after `at` when the window opens or closes, or `None` when it never
    /// changes (open on every day for the whole day).
    pub fn next_change(&self, at: Timestamp) -> Option<Timestamp> {
        let local = at.to_zoned_datetime(self.zone.clone()).datetime();
        let now = minute_of_week(&local);
        let open = self.is_open_at_minute(now);
        let edges = (0..7u32)
            .filter(|day| self.days & (1 << day) != 0)
            .flat_map(|day| {
                let start = day * DAY_MINUTES + self.from;
                [start, start + self.length]
            })
            .map(|edge| match (edge + WEEK_MINUTES - now) % WEEK_MINUTES {
                0 => WEEK_MINUTES,
                ahead => ahead,
            });
        let mut ahead: Vec<u32> = edges.collect();
        ahead.sort_unstable();
        let minutes = ahead
            .into_iter()
            .find(|&ahead| self.is_open_at_minute((now + ahead) % WEEK_MINUTES) != open)?;
        let this_minute = local.with().second(0).subsec_nanosecond(0).build().ok()?;
        let edge = this_minute.checked_add(i64::from(minutes).minutes()).ok()?;
        edge.to_zoned_datetime(self.zone.clone())
            .ok()
            .map(|zoned| zoned.timestamp())
    }
}

fn minute_of_week(local: &DateTime) -> u32 {
    let day = u32::from(local.weekday().to_monday_zero_offset().unsigned_abs());
    day * DAY_MINUTES
        + u32::from(local.hour().unsigned_abs()) * 60
        + u32::from(local.minute().unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClockTime, Weekday};

    fn schedule(days: &[Weekday], from: &str, to: &str) -> Schedule {
        Schedule::new(&ScheduleConfig {
            days: days.to_vec(),
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            timezone: Some("Europe/Berlin".into()),
        })
    }

    /// A moment given as Berlin wall-clock time.
    fn berlin(text: &str) -> Timestamp {
        text.parse::<DateTime>()
            .unwrap()
            .to_zoned_datetime(TimeZone::get("Europe/Berlin").unwrap())
            .unwrap()
            .timestamp()
    }

    #[test]
    fn a_school_night_window_crosses_midnight_from_its_start_day() {
        use Weekday::*;
        // 2026-12-07 is a Monday.
        let nights = schedule(&[Mon, Tue, Wed, Thu, Fri], "21:00", "07:00");
        let cases = [
            ("2026-12-07T20:59", false),
            ("2026-12-07T21:00", true), // `from` is inclusive
            ("2026-12-07T23:59", true),
            ("2026-12-08T00:00", true), // past midnight, started Monday
            ("2026-12-08T06:59", true),
            ("2026-12-08T07:00", false), // `to` is exclusive
            ("2026-12-12T06:00", true),  // Saturday morning: Friday's window
            ("2026-12-12T21:30", false), // Saturday night: no window starts
            ("2026-12-13T23:00", false), // Sunday night neither
            ("2026-12-14T03:00", false), // so Monday morning is free
        ];
        for (at, open) in cases {
            assert_eq!(nights.is_open(berlin(at)), open, "{at}");
        }
        assert_eq!(
            nights.next_change(berlin("2026-12-07T12:34:56")),
            Some(berlin("2026-12-07T21:00"))
        );
        assert_eq!(
            nights.next_change(berlin("2026-12-08T01:00")),
            Some(berlin("2026-12-08T07:00"))
        );
        // Friday's window closes Saturday 07:00; the next opens Monday 21:00.
        assert_eq!(
            nights.next_change(berlin("2026-12-12T08:00")),
            Some(berlin("2026-12-14T21:00"))
        );
    }

    #[test]
    fn equal_times_are_a_whole_day_and_every_day_never_changes() {
        use Weekday::*;
        let saturday = schedule(&[Sat], "00:00", "00:00");
        assert!(saturday.is_open(berlin("2026-12-12T00:00")));
        assert!(saturday.is_open(berlin("2026-12-12T23:59")));
        assert!(!saturday.is_open(berlin("2026-12-13T00:00")));
        let always = schedule(&[Mon, Tue, Wed, Thu, Fri, Sat, Sun], "08:00", "08:00");
        assert!(always.is_open(berlin("2026-12-09T03:00")));
        assert_eq!(always.next_change(berlin("2026-12-09T03:00")), None);
        let day_from_noon = schedule(&[Wed], "12:00", "12:00");
        assert!(day_from_noon.is_open(berlin("2026-12-10T11:59")));
        assert!(!day_from_noon.is_open(berlin("2026-12-10T12:00")));
    }

    #[test]
    fn the_zone_decides_the_wall_clock() {
        use Weekday::*;
        let mut tokyo = ScheduleConfig {
            days: vec![Mon],
            from: ClockTime(9 * 60),
            to: ClockTime(10 * 60),
            timezone: Some("Asia/Tokyo".into()),
        };
        let in_tokyo = Schedule::new(&tokyo);
        // 09:30 in Tokyo is 01:30 in Berlin (winter).
        assert!(in_tokyo.is_open(berlin("2026-12-07T01:30")));
        assert!(!in_tokyo.is_open(berlin("2026-12-07T09:30")));
        tokyo.timezone = Some("Europe/Berlin".into());
        assert!(Schedule::new(&tokyo).is_open(berlin("2026-12-07T09:30")));
    }
}
