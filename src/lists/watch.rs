//! Reloading when a local list changes on disk. Polling the modification times of the
//! configured files (and the `*.txt` files of configured folders) every few seconds is cheap
//! for a handful of files and works on every file system, including network mounts where
//! change notifications do not arrive.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::Rebuild;
use super::source::{configured, list_files};
use crate::config::{Config, ListLocation};

/// How often list files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// What a list file looked like: path, modification time and length (`None` when missing).
type Stamp = (PathBuf, Option<(SystemTime, u64)>);

/// Starts the watch; it rebuilds the rules whenever a stamp changes.
pub fn spawn<H: Rebuild>(host: Arc<H>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = stamps(&host.config());
        loop {
            tokio::time::sleep(interval).await;
            let now = stamps(&host.config());
            if now != last {
                info!("a list file changed; reloading");
                if let Err(err) = host.rebuild().await {
                    warn!(%err, "reload after a list change failed");
                }
                last = now;
            }
        }
    })
}

fn stamps(config: &Config) -> Vec<Stamp> {
    let stamp = |path: PathBuf| {
        let meta = std::fs::metadata(&path).ok();
        let seen = meta.and_then(|meta| Some((meta.modified().ok()?, meta.len())));
        (path, seen)
    };
    let mut stamps = Vec::new();
    for (entry, ..) in configured(config) {
        let ListLocation::Path(path) = &entry.location else {
            continue;
        };
        // The folder itself is stamped too, so a file added to it or removed is noticed.
        stamps.push(stamp(path.clone()));
        if path.is_dir()
            && let Ok(files) = list_files(path)
        {
            stamps.extend(files.into_iter().map(stamp));
        }
    }
    stamps
}
