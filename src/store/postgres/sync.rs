//! The change feed: custom rules and the blocking switch, changed through any instance (or by
//! hand), are announced by triggers with `NOTIFY hush_changes`; each instance listens and
//! re-reads what changed. A lost connection is re-made, and every (re)connection starts with a
//! full resynchronisation, since notifications sent meanwhile were missed.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tracing::{debug, warn};

use super::PgStore;

const CHANNEL: &str = "hush_changes";
/// Wait between attempts to reach a database that is down.
const RETRY: Duration = Duration::from_secs(1);
/// A feed that heard nothing this long is re-made (with a full resynchronisation): a
/// connection the network dropped silently would otherwise wait for notices forever.
const IDLE: Duration = Duration::from_secs(60);

/// What to re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Rules,
    Blocking,
    /// Everything: the feed (re)connected and may have missed changes.
    Resync,
}

/// Listens for changes; see [`ChangeFeed::next`].
pub struct ChangeFeed {
    store: PgStore,
    listener: Option<PgListener>,
}

impl PgStore {
    pub fn changes(&self) -> ChangeFeed {
        ChangeFeed {
            store: self.clone(),
            listener: None,
        }
    }
}

impl ChangeFeed {
    /// The next change to apply; waits (reconnecting as needed) until there is one.
    pub async fn next(&mut self) -> Change {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match self.listen().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.store.set_reachable(true);
                        return Change::Resync;
                    }
                    Err(err) => {
                        debug!(%err, "change feed: database unreachable");
                        self.store.set_reachable(false);
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
            };
            let Ok(received) = tokio::time::timeout(IDLE, listener.try_recv()).await else {
                debug!("change feed idle; re-making it");
                self.listener = None;
                continue;
            };
            match received {
                Ok(Some(notification)) => match notification.payload() {
                    "rules" => return Change::Rules,
                    "blocking" => return Change::Blocking,
                    other => debug!(payload = other, "change feed: unknown change"),
                },
                Ok(None) => {
                    warn!("lost the shared database's change feed; reconnecting");
                    self.listener = None;
                    self.store.set_reachable(false);
                }
                Err(err) => {
                    warn!(%err, "lost the shared database's change feed; reconnecting");
                    self.listener = None;
                    self.store.set_reachable(false);
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// Drops the connection, so that the next change is a full resynchronisation (after a
    /// pause): for a caller that could not apply the last one.
    pub async fn resync_later(&mut self) {
        self.listener = None;
        tokio::time::sleep(RETRY).await;
    }

    async fn listen(&self) -> Result<PgListener, crate::store::StoreError> {
        let pool = self.store.pool().await?;
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}
