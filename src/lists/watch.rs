//! Reloading when a local list changes on disk. Polling the modification times of the
//! configured files (and the `*.txt` files of configured folders) every few seconds is cheap
//! for a handful of files and works on every file system, including network mounts where
//! change notifications do not arrive.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Config, ListLocation};
use crate::control::Control;

/// How often list files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// What a list file looked like: path, modification time and length (`None` when missing).
type Stamp = (PathBuf, Option<(SystemTime, u64)>);

/// Starts the watch; it reloads the rules whenever a stamp changes.
pub fn spawn(control: Arc<Control>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = stamps(&control.config());
        loop {
            tokio::time::sleep(interval).await;
            let now = stamps(&control.config());
            if now != last {
                info!("a list file changed; reloading");
                if let Err(err) = control.reload().await {
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
    let entries = config
        .blocking
        .lists
        .iter()
        .chain(&config.blocking.allowlists);
    for entry in entries {
        let ListLocation::Path(path) = &entry.location else {
            continue;
        };
        match std::fs::read_dir(path) {
            Ok(dir) => {
                let mut files: Vec<PathBuf> = dir
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|file| file.extension().is_some_and(|ext| ext == "txt"))
                    .collect();
                files.sort();
                stamps.push(stamp(path.clone()));
                stamps.extend(files.into_iter().map(stamp));
            }
            Err(_) => stamps.push(stamp(path.clone())),
        }
    }
    stamps
}
