//! Reloading when a local list or the config file changes on disk (so an edited `[[clients]]`
//! or `[[groups]]` applies without a signal). Polling the modification times of the config
//! file, the configured list files and the `*.txt` files of configured folders every few
//! seconds is cheap
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
        let config_file = host.config_path();
        let mut last = stamps(&host.config(), config_file.as_ref());
        loop {
            tokio::time::sleep(interval).await;
            let now = stamps(&host.config(), config_file.as_ref());
            if now != last {
                info!("a list file or the config file changed; reloading");
                if let Err(err) = host.rebuild().await {
                    warn!(%err, "reload after a list change failed");
                }
                last = now;
            }
        }
    })
}

fn stamps(config: &Config, config_file: Option<&PathBuf>) -> Vec<Stamp> {
    let stamp = |path: PathBuf| {
        let meta = std::fs::metadata(&path).ok();
        let seen = meta.and_then(|meta| Some((meta.modified().ok()?, meta.len())));
        (path, seen)
    };
    let mut stamps: Vec<Stamp> = config_file.cloned().map(stamp).into_iter().collect();
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
