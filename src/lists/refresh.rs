//! Keeping URL lists fresh: downloads them at start and then every `blocking.refresh`, and
//! rebuilds the rules when a copy changed. Startup does not wait for this: hush serves with the
//! cached copies meanwhile.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::warn;

use super::Rebuild;
use super::download::Downloader;
use super::source::url_lists;

/// Starts the refresh loop; it runs until aborted.
pub fn spawn<H: Rebuild>(host: Arc<H>, downloader: Arc<Downloader>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let config = host.config();
            if downloader.fetch_all(&url_lists(&config)).await
                && let Err(err) = host.rebuild().await
            {
                warn!(%err, "new list downloads could not be applied");
            }
            tokio::time::sleep(config.blocking.refresh.0).await;
        }
    })
}
