//! The blocking switch as the instances share it: one row, `off_until_ms` 0 for on, -1 for
//! off until switched on, otherwise off until that Unix time in milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::PgStore;
use crate::dns::policy::SwitchState;
use crate::store::StoreError;
use crate::store::time::unix_micros;

const ON: i64 = 0;
const OFF: i64 = -1;

fn encode(state: SwitchState) -> i64 {
    match state {
        SwitchState::On => ON,
        SwitchState::Off => OFF,
        SwitchState::OffUntil(until) => until
            .duration_since(UNIX_EPOCH)
            .map_or(1, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            })
            .max(1),
    }
}

fn decode(value: i64) -> SwitchState {
    match value {
        ON => SwitchState::On,
        until if until > 0 => {
            SwitchState::OffUntil(UNIX_EPOCH + Duration::from_millis(until.unsigned_abs()))
        }
        _ => SwitchState::Off,
    }
}

impl PgStore {
    /// The shared switch, if anyone ever flipped it.
    pub async fn blocking(&self) -> Result<Option<SwitchState>, StoreError> {
        let row: Option<(i64,)> = self.observe(
            sqlx::query_as("SELECT off_until_ms FROM blocking_state")
                .fetch_optional(self.pool().await?)
                .await,
        )?;
        Ok(row.map(|(value,)| decode(value)))
    }

    /// Shares `state` with every instance (they hear of it through the change feed).
    pub async fn set_blocking(&self, state: SwitchState) -> Result<(), StoreError> {
        self.observe(
            sqlx::query(
                "INSERT INTO blocking_state (off_until_ms, changed_us) VALUES ($1, $2) \
                 ON CONFLICT (only_row) DO UPDATE SET off_until_ms = excluded.off_until_ms, \
                 changed_us = excluded.changed_us",
            )
            .bind(encode(state))
            .bind(unix_micros(SystemTime::now()))
            .execute(self.pool().await?)
            .await,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_states_survive_the_database() {
        let until = UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        for state in [
            SwitchState::On,
            SwitchState::Off,
            SwitchState::OffUntil(until),
        ] {
            assert_eq!(decode(encode(state)), state);
        }
    }
}
