//! `querylog.database` and `querylog.instance`: where the store lives (a SQLite file, or a
//! PostgreSQL database shared by several instances) and the name this hush writes its rows
//! under.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// The store's location.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file, created with its schema at start.
    File(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL; it may carry credentials and `sslmode`.
    Postgres(String),
}

impl DatabaseLocation {
    /// The SQLite file, when the store is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

/// Never shows a URL's password.
impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

/// `url` with the password between `:` and `@` of its authority replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl FromStr for DatabaseLocation {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(
            if text.starts_with("postgres://") || text.starts_with("postgresql://") {
                Self::Postgres(text.to_owned())
            } else {
                Self::File(PathBuf::from(text))
            },
        )
    }
}

impl<'de> Deserialize<'de> for DatabaseLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

/// The default `querylog.instance`: the host's name (or "hush" where it cannot be read).
pub fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "hush".to_owned())
}

/// A problem with `querylog.database`, for validation.
pub(super) fn check_location(location: &DatabaseLocation) -> Result<(), String> {
    match location {
        DatabaseLocation::File(path) if path.as_os_str().is_empty() => {
            Err("a file path or a postgres:// URL is needed".to_owned())
        }
        DatabaseLocation::File(_) => Ok(()),
        DatabaseLocation::Postgres(url) => sqlx::postgres::PgConnectOptions::from_str(url)
            .map(|_| ())
            .map_err(|err| format!("not a usable PostgreSQL URL: {err}")),
    }
}

/// A problem with `querylog.instance`, for validation.
pub(super) fn check_instance(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("needs 1 to 64 characters".to_owned());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("holds a control character".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_postgres_and_never_show_their_password() {
        let url = "postgres://hush:s3cret@db.lan:5432/hush?sslmode=require";
        let location: DatabaseLocation = url.parse().unwrap();
        assert_eq!(location, DatabaseLocation::Postgres(url.to_owned()));
        assert_eq!(
            location.to_string(),
            "postgres://hush:***@db.lan:5432/hush?sslmode=require"
        );
        assert!(!format!("{location:?}").contains("s3cret"));
        assert_eq!(
            "hush.db".parse::<DatabaseLocation>().unwrap(),
            DatabaseLocation::File(PathBuf::from("hush.db"))
        );
        assert!(check_location(&"postgres://host:notaport/db".parse().unwrap()).is_err());
        assert!(check_instance("").is_err());
        assert!(check_instance("dns-1").is_ok());
    }
}
