//! What the query-log writer may hold in memory, from `querylog.queue` and
//! `querylog.cache_mb`: the events waiting for it, the rows of a batch, and the names whose ids
//! it remembers.

use crate::config::QueryLogConfig;

/// The most rows written in one transaction. Large batches are much cheaper per row (each
/// dirtied index page is written to the WAL once per transaction), and a busy network fills
/// one within a fraction of a second; a quiet one is flushed every second anyway. A smaller
/// `querylog.queue` lowers it to the queue's size ([`batch_limit`]).
pub const MAX_BATCH: usize = 20_000;

/// What the writer may hold in memory, from `querylog.queue` and `querylog.cache_mb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterMemory {
    /// Events that may wait for the writer; a batch holds no more rows ([`batch_limit`]).
    pub queue: usize,
    /// Names whose ids the writer keeps, so their rows need no lookup.
    pub interned_names: usize,
}

/// Names interned per MiB of the writer's page cache. The ids of names are a cache like the
/// pages are (~70 bytes a name), so a small box that shrinks one shrinks the other; the
/// default 32 MiB keeps 192,000 names.
const NAMES_PER_CACHE_MB: usize = 6_000;
/// Enough for a household's names in any case.
const MIN_INTERNED_NAMES: usize = 10_000;

impl WriterMemory {
    pub fn of(config: &QueryLogConfig) -> Self {
        let cache_mb = usize::try_from(config.cache_mb).unwrap_or(usize::MAX);
        Self {
            queue: config.queue,
            interned_names: cache_mb
                .saturating_mul(NAMES_PER_CACHE_MB)
                .max(MIN_INTERNED_NAMES),
        }
    }
}

/// The most rows the writer holds for the disk when `queue` events may wait for it: a small
/// box that shrinks the queue to save memory shrinks the batch with it, so the rows waiting for
/// the disk take no more room than the events waiting for the writer.
pub(super) fn batch_limit(queue: usize) -> usize {
    queue.clamp(1, MAX_BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writers_memory_follows_its_settings() {
        let mut config = QueryLogConfig::default();
        assert_eq!(
            WriterMemory::of(&config),
            WriterMemory {
                queue: 65_536,
                interned_names: 192_000
            }
        );
        config.cache_mb = 4;
        config.queue = 8_192;
        assert_eq!(WriterMemory::of(&config).interned_names, 24_000);
        config.cache_mb = 1;
        assert_eq!(WriterMemory::of(&config).interned_names, MIN_INTERNED_NAMES);
    }
}
