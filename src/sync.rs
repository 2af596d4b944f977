//! With a shared database, keeps this instance in step with the others: custom rules and the
//! blocking switch changed anywhere are applied here as their change notices arrive, and in
//! full whenever the feed (re)connects.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::control::Control;
use crate::store::Change;

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
            if matches!(change, Change::Rules | Change::Resync)
                && let Err(err) = control.apply_custom_rules().await
            {
                warn!(%err, "could not read the shared custom rules");
            }
            if matches!(change, Change::Blocking | Change::Resync) {
                match shared.blocking().await {
                    Ok(Some(state)) => control.switch().apply(state),
                    Ok(None) => {}
                    Err(err) => warn!(%err, "could not read the shared blocking switch"),
                }
            }
        }
    }))
}
