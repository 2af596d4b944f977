//! Entries of `blocking.lists` and `blocking.allowlists`: where a list comes from (a path or an
//! http(s) URL) and optionally its display name, category and vendor.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// One configured list: where it comes from, and optionally what to call it. Written either as
/// a string (`"blocklists"`, `"https://…"`) or as a table
/// (`{ url = "https://…", name = "StevenBlack", category = "ads" }`, or `path = …`, and an
/// optional `vendor = "Xiaomi"` for telemetry lists). A name, category or vendor missing here is
/// taken from the list's header (`# Title:`, `# Category:`, `# Vendor:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub location: ListLocation,
    pub name: Option<String>,
    pub category: Option<String>,
    /// Whose devices' telemetry the list blocks, for the per-vendor report.
    pub vendor: Option<String>,
}

impl From<ListLocation> for ListEntry {
    fn from(location: ListLocation) -> Self {
        Self {
            location,
            name: None,
            category: None,
            vendor: None,
        }
    }
}

/// A vendor label: a short display name, printable, without control characters.
pub fn validate_vendor(text: &str) -> Result<(), String> {
    let valid = !text.trim().is_empty()
        && text.chars().count() <= 40
        && !text.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid vendor {text:?} (use up to 40 printable characters, e.g. \"Xiaomi\")"
        ))
    }
}

/// A category: lower-case letters, digits, `-` and `_`, so it can key statistics and URLs.
pub fn validate_category(text: &str) -> Result<(), String> {
    let valid = !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid category {text:?} (use up to 32 lower-case letters, digits, '-' or '_', e.g. \"telemetry\")"
        ))
    }
}

impl<'de> Deserialize<'de> for ListEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Table(Table),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            path: Option<String>,
            url: Option<String>,
            name: Option<String>,
            category: Option<String>,
            vendor: Option<String>,
        }
        use serde::de::Error;
        let table = match Form::deserialize(deserializer).map_err(|_| {
            D::Error::custom(
                "expected a path or URL string, or a table with `path` or `url` and optional `name`, `category` and `vendor`",
            )
        })? {
            Form::Text(text) => {
                return text.parse::<ListLocation>().map(ListEntry::from).map_err(D::Error::custom);
            }
            Form::Table(table) => table,
        };
        let location = match (table.path, table.url) {
            (Some(path), None) => ListLocation::Path(PathBuf::from(path)),
            (None, Some(url)) => match url.parse().map_err(D::Error::custom)? {
                location @ ListLocation::Url(_) => location,
                ListLocation::Path(_) => {
                    return Err(D::Error::custom(format!(
                        "`url` {url:?} is not an http(s) URL"
                    )));
                }
            },
            _ => {
                return Err(D::Error::custom(
                    "a list table needs exactly one of `path` and `url`",
                ));
            }
        };
        if let Some(category) = &table.category {
            validate_category(category).map_err(D::Error::custom)?;
        }
        if let Some(vendor) = &table.vendor {
            validate_vendor(vendor).map_err(D::Error::custom)?;
        }
        let name = table
            .name
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        Ok(Self {
            location,
            name,
            category: table.category,
            vendor: table.vendor.map(|vendor| vendor.trim().to_owned()),
        })
    }
}

/// Where a list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListLocation {
    /// A file, or a folder whose `*.txt` files are all read.
    Path(PathBuf),
    /// An http(s) URL, downloaded and refreshed.
    Url(String),
}

impl FromStr for ListLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a list location cannot be empty".into());
        }
        if let Some(rest) = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
        {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(format!("invalid list URL {text:?}"));
            }
            return Ok(Self::Url(text.to_owned()));
        }
        if text.contains("://") {
            return Err(format!(
                "list URL {text:?}: only http:// and https:// are supported"
            ));
        }
        Ok(Self::Path(PathBuf::from(text)))
    }
}

impl fmt::Display for ListLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}
