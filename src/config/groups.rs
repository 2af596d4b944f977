//! `[[clients]]` and `[[groups]]`: different rules for different devices. A group is a set of
//! block lists and allowlists, optionally active only inside a weekly time window; a client
//! entry names devices (by address, network or device name) and the groups they belong to.
//! `blocking.lists` and `blocking.allowlists` are the group `default`.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use super::ListEntry;

/// The name of the group formed by `blocking.lists` and `blocking.allowlists`.
pub const DEFAULT_GROUP: &str = "default";
/// Groups are kept as bits of a 16-bit mask in every rule: `default` and 15 more.
pub const MAX_GROUPS: usize = 16;

/// One `[[clients]]` entry: which devices, and the groups they belong to (exactly these: an
/// entry without `default` leaves the default lists out for its devices).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    #[serde(rename = "match")]
    pub matches: Vec<ClientMatch>,
    pub groups: Vec<String>,
}

/// How a client entry recognises a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMatch {
    /// An address (as a /32 or /128) or a network.
    Network(IpNet),
    /// A device name from DNS over TLS or HTTPS (`<device>.<tls name>`, `/dns-query/<device>`),
    /// lower-case; compared exactly.
    Device(String),
}

impl FromStr for ClientMatch {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        // Queries from IPv4-mapped IPv6 addresses are matched as IPv4, so configured ones are too.
        if let Ok(address) = text.parse::<IpAddr>() {
            return Ok(Self::Network(IpNet::from(address.to_canonical())));
        }
        if let Ok(network) = text.parse::<IpNet>() {
            return Ok(Self::Network(network.trunc()));
        }
        let is_label = !text.is_empty()
            && text.len() <= 63
            && !text.starts_with('-')
            && !text.ends_with('-')
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        // Something with dots or slashes was meant as an address or network.
        if is_label && !text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self::Device(text.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{text:?} is neither an address, a network (CIDR) nor a device name (one DNS label)"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for ClientMatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One `[[groups]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    #[serde(default)]
    pub lists: Vec<ListEntry>,
    #[serde(default)]
    pub allowlists: Vec<ListEntry>,
    /// When set, the group's lists apply only inside this window.
    pub schedule: Option<ScheduleConfig>,
}

/// A weekly window: on `days` (the days a window starts), from `from` (inclusive) to `to`
/// (exclusive), running past midnight when `to` is before `from`, the whole day when they are
/// equal; in `timezone` (an IANA name) or else the system's local time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub days: Vec<Weekday>,
    pub from: ClockTime,
    pub to: ClockTime,
    pub timezone: Option<String>,
}

/// A day of the week, written `mon` … `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday = 0 … Sunday = 6.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// As written in the config: `mon` … `sun`.
    pub fn name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][usize::from(self.index())]
    }
}

impl<'de> Deserialize<'de> for Weekday {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let day = match text.trim().to_ascii_lowercase().as_str() {
            "mon" | "monday" => Self::Mon,
            "tue" | "tuesday" => Self::Tue,
            "wed" | "wednesday" => Self::Wed,
            "thu" | "thursday" => Self::Thu,
            "fri" | "friday" => Self::Fri,
            "sat" | "saturday" => Self::Sat,
            "sun" | "sunday" => Self::Sun,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "{text:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"
                )));
            }
        };
        Ok(day)
    }
}

/// A time of day, `HH:MM`, as minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub u16);

impl FromStr for ClockTime {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("{text:?} is not a time of day (HH:MM, e.g. \"21:00\")");
        let (hours, minutes) = text.trim().split_once(':').ok_or_else(invalid)?;
        let (Ok(hours), Ok(minutes)) = (hours.parse::<u16>(), minutes.parse::<u16>()) else {
            return Err(invalid());
        };
        if hours > 23 || minutes > 59 || text.trim().len() != 5 {
            return Err(invalid());
        }
        Ok(Self(hours * 60 + minutes))
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A group or client name: printable, 1 to 64 characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        Err(format!(
            "{name:?} is not a usable name (1 to 64 printable characters)"
        ))
    } else {
        Ok(())
    }
}

/// Checks the `[[groups]]` and `[[clients]]` tables together: names unique and known, at most
/// [`MAX_GROUPS`] groups, schedules with days and a time zone that exists. `Err` carries the
/// dotted key and the message.
pub fn validate_groups(
    groups: &[GroupConfig],
    clients: &[ClientEntry],
) -> Result<(), (String, String)> {
    let mut known = vec![DEFAULT_GROUP];
    for (i, group) in groups.iter().enumerate() {
        let key = |field: &str| format!("groups[{i}].{field}");
        validate_name(&group.name).map_err(|message| (key("name"), message))?;
        if known.contains(&group.name.as_str()) {
            let message = if group.name == DEFAULT_GROUP {
                "\"default\" is blocking.lists and blocking.allowlists; give this group another name".to_owned()
            } else {
                format!("a second group named {:?}", group.name)
            };
            return Err((key("name"), message));
        }
        known.push(&group.name);
        if let Some(schedule) = &group.schedule {
            if schedule.days.is_empty() {
                return Err((
                    key("schedule.days"),
                    "no days: name the days the window starts on, e.g. [\"mon\", \"fri\"]".into(),
                ));
            }
            let mut days = schedule.days.clone();
            days.sort();
            if days.windows(2).any(|pair| pair[0] == pair[1]) {
                return Err((
                    key("schedule.days"),
                    "a day is named twice: its windows would overlap".into(),
                ));
            }
            if let Some(zone) = &schedule.timezone
                && jiff::tz::TimeZone::get(zone).is_err()
            {
                return Err((
                    key("schedule.timezone"),
                    format!("{zone:?} is not a known IANA time zone (e.g. \"Europe/Berlin\")"),
                ));
            }
        }
    }
    if known.len() > MAX_GROUPS {
        return Err((
            "groups".into(),
            format!("{} groups with default; at most {MAX_GROUPS}", known.len()),
        ));
    }
    let mut client_names: Vec<&str> = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let key = |field: &str| format!("clients[{i}].{field}");
        validate_name(&client.name).map_err(|message| (key("name"), message))?;
        if client_names.contains(&client.name.as_str()) {
            return Err((
                key("name"),
                format!("a second client named {:?}", client.name),
            ));
        }
        client_names.push(&client.name);
        if client.matches.is_empty() {
            return Err((
                key("match"),
                "nothing to match: give addresses, networks or device names".into(),
            ));
        }
        if client.groups.is_empty() {
            return Err((
                key("groups"),
                "no groups: name at least one (\"default\" for the default lists)".into(),
            ));
        }
        if let Some(unknown) = client.groups.iter().find(|g| !known.contains(&g.as_str())) {
            return Err((
                key("groups"),
                format!("unknown group {unknown:?} (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_and_times_parse_or_say_why() {
        let network = |text: &str| match text.parse::<ClientMatch>() {
            Ok(ClientMatch::Network(net)) => net.to_string(),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(network("192.168.1.5"), "192.168.1.5/32");
        assert_eq!(
            network("::ffff:192.168.1.5"),
            "192.168.1.5/32",
            "mapped: as queries are"
        );
        assert_eq!(network("192.168.1.77/24"), "192.168.1.0/24");
        assert_eq!(network("fd00::50"), "fd00::50/128");
        assert_eq!(
            "Tablet".parse::<ClientMatch>(),
            Ok(ClientMatch::Device("tablet".into()))
        );
        for bad in ["10.0.0.300", "10.0.0.0/33", "", "-tablet", "a.b", "42"] {
            assert!(bad.parse::<ClientMatch>().is_err(), "{bad:?}");
        }
        assert_eq!("21:05".parse::<ClockTime>(), Ok(ClockTime(21 * 60 + 5)));
        assert_eq!(ClockTime(7 * 60).to_string(), "07:00");
        for bad in ["24:00", "7:00", "21:60", "2100", "ab:cd"] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad:?}");
        }
    }
}
