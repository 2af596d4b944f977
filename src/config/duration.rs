//! Durations in the config: `"500ms"`, `"10s"`, `"5m"`, `"24h"`, `"30d"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as `"500ms"`, `"10s"`, `"5m"`, `"24h"` or `"30d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration {text:?} (expected e.g. \"500ms\", \"10s\", \"5m\", \"24h\", \"30d\")"
            )
        };
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = text.split_at(split);
        let value: u64 = digits.parse().map_err(|_| bad())?;
        let millis_per_unit = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let millis = value.checked_mul(millis_per_unit).ok_or_else(bad)?;
        Ok(Self(Duration::from_millis(millis)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        let units = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (size, unit) in units {
            if millis >= size && millis.is_multiple_of(size) {
                return write!(f, "{}{unit}", millis / size);
            }
        }
        write!(f, "{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        let cases = [
            ("500ms", 500),
            ("10s", 10_000),
            ("5m", 300_000),
            ("24h", 86_400_000),
            ("30d", 2_592_000_000),
        ];
        for (text, millis) in cases {
            let parsed: HumanDuration = text.parse().unwrap();
            assert_eq!(parsed.0, Duration::from_millis(millis), "{text}");
            assert_eq!(parsed.to_string().parse::<HumanDuration>(), Ok(parsed));
        }
        for bad in [
            "",
            "10",
            "s",
            "1.5s",
            "-1s",
            "10 parsecs",
            "99999999999999999999d",
        ] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?} accepted");
        }
    }
}
