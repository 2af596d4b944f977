//! Test fixtures, one file per job: the loopback upstream ([`upstream`]), hush instances
//! ([`instance`]), the DNS client ([`client`]) and namespaces ([`namespace`]).

mod browser;
mod client;
mod instance;
mod namespace;
mod postgres;
mod signed;
mod tls;
mod upstream;

pub use browser::*;
pub use client::*;
pub use instance::*;
pub use namespace::*;
pub use postgres::*;
pub use signed::*;
pub use tls::*;
pub use upstream::*;

use std::path::Path;
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(5);
/// TTL of the zone's positive records.
pub const ZONE_TTL: u32 = 300;
/// Number and size of the TXT strings of `big.example.com`: far beyond 512 bytes.
pub const BIG_TXT_RECORDS: usize = 30;
/// How long the upstream takes to answer names starting with "slow".
pub const SLOW_ANSWER: Duration = Duration::from_millis(300);

/// Path of a file in the shared corpus, or `None` (with a note) when the corpus is absent.
pub fn corpus(relative: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "note: {} is absent; skipping this corpus check",
            path.display()
        );
        None
    }
}

/// Runs each named test body (an `async fn(Backend)`) twice: on a SQLite file and on a fresh
/// database of a private PostgreSQL cluster (skipped with a note where PostgreSQL is missing).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(backend) = $crate::support::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            }
        )*
    };
}
