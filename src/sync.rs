//! With a shared database, keeps this instance in step with the others: custom rules and the
//! blocking switch changed anywhere are applied here as their change notices arrive, and in
//! full whenever the feed (re)connects. A switch flipped here while the database was down is
//! written when it is back (the latest flip wins), instead of being undone by the resync.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::control::Control;
use crate::store::{Change, PgStore, StoreError};

/// Starts following the shared database's changes; `None` with a SQLite store.
pub fn spawn(control: Arc<Control>) -> Option<JoinHandle<()>> {
    let shared = control.store().shared()?.clone();
    Some(tokio::spawn(async move {
        let mut feed = shared.changes();
        loop {
            let change = feed.next().await;
            if change == Change::Resync {
                info!(
                    database = shared.shown(),
                    "synchronising with the shared database"
                );
            }
            if let Err(err) = apply(&control, &shared, change).await {
                warn!(%err, "could not apply the shared database's changes; retrying");
                feed.resync_later().await;
            }
        }
    }))
}

async fn apply(control: &Control, shared: &PgStore, change: Change) -> Result<(), StoreError> {
    if matches!(change, Change::Rules | Change::Resync) {
        control.apply_custom_rules().await?;
    }
    if matches!(change, Change::Blocking | Change::Resync) {
        if let Some(state) = shared.take_pending_switch() {
            if let Err(err) = shared.set_blocking(state).await {
                shared.keep_pending_switch(state);
                return Err(err);
            }
        } else if let Some(state) = shared.blocking().await? {
            control.switch().apply(state);
        }
    }
    Ok(())
}
