//! The query-log writer: one task, on a thread of its own, that receives query events from the
//! DNS side over a bounded channel and writes them to the store in batches (flushed when a batch
//! is full or a second has passed). A failing database is retried with backoff while DNS carries
//! on; the channel then fills and further events are dropped and counted by the [`EventSink`].
//! Retention runs in the same task, in small deletes between batches, so it never competes with
//! writing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, warn};

use crate::config::QueryLogConfig;
use crate::dns::outcome::{EventSink, QueryEvent};
use crate::store::time::{self, unix_micros};
use crate::store::{Interner, QueryRow, Store, WRITER_THREAD};

mod memory;
mod priority;
mod row;
use memory::batch_limit;
pub use memory::{MAX_BATCH, WriterMemory};
pub use row::Privacy;
use row::RowMaker;

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often the writer takes what is waiting in the channel. It polls rather than waits on the
/// channel: a waiting receiver is woken by every send, which at thousands of queries a second
/// costs a task wake-up (and often a sleeping runtime thread's) per query. At the default
/// queue of 65,536 events, draining every 50 ms keeps up with over a million queries a second.
const DRAIN_INTERVAL: Duration = Duration::from_millis(50);
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
/// Rows per retention delete, and deletes per retention pass.
const RETENTION_BATCH: i64 = 5_000;
const RETENTION_BATCHES_PER_PASS: usize = 20;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Attempts at the final flush on shutdown before the remaining rows are given up.
const SHUTDOWN_ATTEMPTS: u32 = 3;
/// The writer's thread's name, by which [`priority`] finds it beside its connection's.
const THREAD_NAME: &str = "hush-querylog";

/// Counters of the writer, read by `/api/health` and `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    /// Failed batch writes (each retried).
    pub errors: AtomicU64,
    /// Rows given up at shutdown because the database stayed unusable.
    pub lost: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl WriterStats {
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().map_or(None, |last| last.clone())
    }

    fn set_last_error(&self, error: Option<String>) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
    }
}

/// Where query events go.
pub enum EventTarget {
    /// The query log, as `querylog.enabled` says.
    QueryLog,
    /// A caller-supplied sink (tests watch outcomes through it); no query-log writer runs.
    Sink(EventSink),
}

impl EventTarget {
    /// The sink DNS emits into, and the writer behind it when one runs.
    pub fn open(
        self,
        config: &QueryLogConfig,
        store: &Store,
    ) -> (EventSink, Option<QueryLogWriter>) {
        match self {
            Self::Sink(sink) => (sink, None),
            Self::QueryLog if config.enabled => {
                let (sink, writer) = QueryLogWriter::spawn(
                    store.clone(),
                    config.retention.0,
                    Privacy::of(config),
                    WriterMemory::of(config),
                );
                (sink, Some(writer))
            }
            Self::QueryLog => (EventSink::disabled(), None),
        }
    }
}

/// The running writer task.
pub struct QueryLogWriter {
    shutdown: oneshot::Sender<()>,
    /// Resolves when the writer's thread has written what was queued; an error when the
    /// thread ended otherwise (a panic) or never started.
    finished: oneshot::Receiver<()>,
    /// Ends the task that sets the writer's priority ([`priority::watch`]).
    stop_watching: oneshot::Sender<()>,
    watcher: JoinHandle<()>,
    pub stats: Arc<WriterStats>,
}

impl QueryLogWriter {
    /// Starts the writer within `memory`; the returned sink is what the DNS handler emits
    /// into.
    pub fn spawn(
        store: Store,
        retention: Duration,
        privacy: Privacy,
        memory: WriterMemory,
    ) -> (EventSink, Self) {
        let (sender, receiver) = mpsc::channel(memory.queue.max(1));
        let (shutdown, shutdown_rx) = oneshot::channel();
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::new(store, Arc::clone(&stats), privacy, memory);
        // The writer runs on a thread of its own, not among the DNS tasks: turning a second's
        // events into rows and counts is milliseconds of work without an await, and a receive
        // loop sharing a runtime thread with it would wait that long (p99 at 20k QPS, blocked
        // names: 1.3-2.1 ms that way, 1.1-1.4 ms this way; benches/README, round four). Its
        // own thread rather than one of the runtime's blocking pool, because [`priority`]
        // changes the thread's scheduling policy. Timers and sockets stay the runtime's.
        let runtime = tokio::runtime::Handle::current();
        let (stop_watching, stop) = oneshot::channel();
        let watcher = tokio::spawn(priority::watch(
            sender.downgrade(),
            Arc::clone(&writer.heartbeat),
            stop,
            &[THREAD_NAME, WRITER_THREAD],
        ));
        let (done, finished) = oneshot::channel();
        let started = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                runtime.block_on(writer.run(receiver, shutdown_rx, retention));
                let _ = done.send(());
            });
        if let Err(err) = &started {
            error!(%err, "the query-log writer's thread could not start; queries are not logged");
        }
        (
            EventSink::new(sender),
            Self {
                shutdown,
                finished,
                stop_watching,
                watcher,
                stats,
            },
        )
    }

    /// Stops accepting events, writes everything already queued, then ends.
    pub async fn shutdown(self) {
        // Back at normal priority first: the last rows are written without waiting for idle
        // time.
        let _ = self.stop_watching.send(());
        if let Err(err) = self.watcher.await {
            error!(%err, "the query log's priority task ended abnormally");
        }
        let _ = self.shutdown.send(());
        if self.finished.await.is_err() {
            error!("query-log writer ended abnormally");
        }
    }
}

struct Writer {
    store: Store,
    stats: Arc<WriterStats>,
    interner: Interner,
    batch: Vec<QueryRow>,
    /// The batch is written once it holds this many rows ([`batch_limit`]).
    batch_limit: usize,
    backoff: Duration,
    rows: RowMaker,
    /// Counts the writer's once-a-second rounds, for [`priority::watch`] to see it is not
    /// starved.
    heartbeat: Arc<AtomicU64>,
    /// The hour (since the epoch, UTC) before which the store's hours and days are known to be
    /// complete.
    periods_closed_before: i64,
}

impl Writer {
    fn new(store: Store, stats: Arc<WriterStats>, privacy: Privacy, memory: WriterMemory) -> Self {
        Self {
            store,
            stats,
            interner: Interner::with_limit(memory.interned_names),
            batch: Vec::new(),
            batch_limit: batch_limit(memory.queue),
            backoff: Duration::from_millis(100),
            rows: RowMaker::new(privacy),
            heartbeat: Arc::default(),
            periods_closed_before: i64::MIN,
        }
    }

    async fn run(
        mut self,
        mut events: mpsc::Receiver<QueryEvent>,
        mut shutdown: oneshot::Receiver<()>,
        retention: Duration,
    ) {
        let mut flush_tick = tokio::time::interval(FLUSH_INTERVAL);
        let mut retention_tick = tokio::time::interval(RETENTION_INTERVAL);
        let mut drain_tick = tokio::time::interval(DRAIN_INTERVAL);
        drain_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = drain_tick.tick() => {
                    let open = self.drain(&mut events);
                    if self.batch.len() >= self.batch_limit {
                        self.flush().await;
                    }
                    if !open {
                        break;
                    }
                }
                _ = flush_tick.tick() => {
                    self.heartbeat.fetch_add(1, Ordering::Relaxed);
                    self.flush().await;
                    self.close_ended_periods().await;
                }
                _ = retention_tick.tick() => self.prune(retention).await,
            }
        }
        events.close();
        while let Some(event) = events.recv().await {
            self.batch.push(self.rows.row_of(event));
            if self.batch.len() >= self.batch_limit {
                self.flush_for_shutdown().await;
            }
        }
        self.flush_for_shutdown().await;
    }

    /// Moves the waiting events into the batch (up to its limit) without waiting for more;
    /// false once every sender is gone and the channel is empty.
    fn drain(&mut self, events: &mut mpsc::Receiver<QueryEvent>) -> bool {
        while self.batch.len() < self.batch_limit {
            match events.try_recv() {
                Ok(event) => self.batch.push(self.rows.row_of(event)),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    /// Writes the batch; on failure keeps it for the next attempt after a backoff sleep.
    async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        match self
            .store
            .insert_batch(&self.batch, &mut self.interner)
            .await
        {
            Ok(()) => {
                self.stats
                    .written
                    .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
                self.batch.clear();
                self.backoff = Duration::from_millis(100);
                self.stats.set_last_error(None);
                true
            }
            Err(err) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                warn!(%err, rows = self.batch.len(), retry_in = ?self.backoff, "query log write failed");
                self.stats.set_last_error(Some(err.to_string()));
                if err.is_file_fault() {
                    self.store.release().await;
                }
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                false
            }
        }
    }

    /// Completes the store's counts of the hour (and day) that just ended, once per hour (and
    /// at start, for periods that ended while hush was stopped), so that a quiet hour is
    /// complete within a second of its end even when no batch comes to do it.
    async fn close_ended_periods(&mut self) {
        let this_hour = time::this_hour();
        if this_hour == self.periods_closed_before {
            return;
        }
        match self.store.close_ended_periods().await {
            Ok(()) => self.periods_closed_before = this_hour,
            Err(err) => warn!(%err, "completing the hourly and daily counts failed; will retry"),
        }
    }

    async fn flush_for_shutdown(&mut self) {
        for _ in 0..SHUTDOWN_ATTEMPTS {
            if self.flush().await {
                return;
            }
        }
        let lost = self.batch.len() as u64;
        self.stats.lost.fetch_add(lost, Ordering::Relaxed);
        error!(
            rows = lost,
            "query log rows lost: the database stayed unusable at shutdown"
        );
        self.batch.clear();
    }

    async fn prune(&mut self, retention: Duration) {
        let cutoff = unix_micros(SystemTime::now() - retention);
        for _ in 0..RETENTION_BATCHES_PER_PASS {
            match self.store.delete_older_than(cutoff, RETENTION_BATCH).await {
                Ok(0) => return,
                Ok(deleted) => debug!(deleted, "retention removed old rows"),
                Err(err) => {
                    warn!(%err, "retention failed; will retry");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::dns::outcome::Outcome;

    fn event() -> QueryEvent {
        QueryEvent {
            time: SystemTime::now(),
            client: IpAddr::from([192, 168, 1, 23]),
            protocol: crate::dns::arrival::Protocol::Udp,
            device: None,
            name: hickory_proto::rr::LowerName::from(
                hickory_proto::rr::Name::from_ascii("tracker.example.").unwrap(),
            ),
            query_type: hickory_proto::rr::RecordType::A,
            outcome: Outcome::Cached,
            rcode: hickory_proto::op::ResponseCode::NoError,
            duration: Duration::from_micros(40),
        }
    }

    #[tokio::test]
    async fn a_small_queue_bounds_the_batch_too() {
        const QUEUE: usize = 1_024;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("history.db")).await.unwrap();
        let privacy = Privacy {
            anonymize_clients: false,
            log_names: true,
        };
        let memory = WriterMemory {
            queue: QUEUE,
            interned_names: 10_000,
        };
        let mut writer = Writer::new(store, Arc::default(), privacy, memory);
        let (sender, mut events) = mpsc::channel(QUEUE);
        // Two queues' worth arrive while the disk is busy: the second waits in the channel
        // (where a full queue drops and counts) instead of piling up in the batch.
        for _ in 0..2 {
            for _ in 0..QUEUE {
                sender.try_send(event()).unwrap();
            }
            assert!(writer.drain(&mut events));
        }
        assert_eq!(writer.batch.len(), QUEUE);
        assert_eq!(events.len(), QUEUE);
        assert_eq!(batch_limit(1_048_576), MAX_BATCH);
    }
}
