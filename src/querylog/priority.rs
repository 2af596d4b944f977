//! The history writer's CPU priority. While it keeps up, the writer's thread and its database
//! connection's threads run as background work (Linux `SCHED_IDLE`): they get every CPU cycle
//! the DNS side leaves over, and a DNS thread that wakes while they run takes the CPU at once.
//! When events pile up in the queue, or the writer misses its once-a-second round (a box busy
//! with other work leaves a background thread almost nothing), the threads return to normal
//! priority so that the log keeps its fair share of the CPU and rows are neither dropped nor
//! late; once the queue has stayed short for a while they go back.
//!
//! Why: the writer turns a second's queries into rows in one burst, and the connection's thread
//! then runs for tens of milliseconds in stretches of up to a few; at normal priority a thread
//! that slept most of the second keeps the CPU through such a stretch, and a DNS answer waits
//! it out: that is most of what the log adds to p99 (benches/README, rounds five and seven).
//!
//! Leaving `SCHED_IDLE` needs `CAP_SYS_NICE` or a high enough `RLIMIT_NICE`; without either the
//! threads could not come back when the log falls behind, so the writer then stays at normal
//! priority throughout, as before. Which case applies is found once, on a throwaway thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

/// How often the queue is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// How full the queue may get before the writer takes its normal share of the CPU.
const BEHIND_FRACTION: usize = 4;
/// How often the threads' policy is applied again when the mode has not changed, for a
/// connection opened since (a reconnect, or one the pool replaced).
const REAPPLY_EVERY: Duration = Duration::from_secs(5);
/// How long the queue must stay under [`CALM_FRACTION`] before the writer steps back after a
/// backlog: one second of looks that all saw it keep up. Short, because a burst (a device
/// catching up, a benchmark) is usually followed by ordinary traffic, whose answers should not
/// wait behind the writer's rounds; flapping is bounded anyway, since coming back needs the
/// queue to refill from 1/64 to a quarter.
const CALM_AFTER_BACKLOG: Duration = Duration::from_secs(1);
/// The same after the writer was starved: whatever starved it (other work on the box) is
/// likely still there, and each return to the background would starve it for
/// [`STALL_AFTER`] again.
const CALM_AFTER_STALL: Duration = Duration::from_secs(30);
const CALM_FRACTION: usize = 64;
/// The writer counts a heartbeat every second; this long without one means it is starved.
const STALL_AFTER: Duration = Duration::from_secs(3);

/// What the watcher sees of the writer at one look.
#[derive(Debug, Clone, Copy)]
struct Backlog {
    /// Events waiting in the queue, of `capacity`.
    queued: usize,
    capacity: usize,
    /// No heartbeat from the writer for [`STALL_AFTER`].
    stalled: bool,
}

impl Backlog {
    /// A quarter of the queue used, or the writer starved.
    fn behind(self) -> bool {
        self.stalled || self.queued.saturating_mul(BEHIND_FRACTION) >= self.capacity
    }

    /// Under 1/64 of the queue used.
    fn short(self) -> bool {
        self.queued.saturating_mul(CALM_FRACTION) < self.capacity
    }
}

/// Sets the priority of the threads named `threads` from how full `queue` is and whether the
/// writer's `heartbeat` still moves, until `stop` fires or the queue's senders are gone; then
/// leaves them at normal priority. It runs on the runtime's threads, at normal priority, so
/// that it notices a backlog even when the background threads get no CPU at all.
pub(super) async fn watch<T>(
    queue: mpsc::WeakSender<T>,
    heartbeat: Arc<AtomicU64>,
    mut stop: oneshot::Receiver<()>,
    threads: &'static [&'static str],
) {
    let mut priority = Priority::new(threads);
    let mut beats = heartbeat.load(Ordering::Relaxed);
    let mut beat_at = Instant::now();
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let Some(sender) = queue.upgrade() else {
                    break;
                };
                let capacity = sender.max_capacity();
                let queued = capacity - sender.capacity();
                drop(sender);
                let now = Instant::now();
                let latest = heartbeat.load(Ordering::Relaxed);
                if latest != beats {
                    beats = latest;
                    beat_at = now;
                }
                let stalled = now.duration_since(beat_at) >= STALL_AFTER;
                priority.update(Backlog { queued, capacity, stalled }, now);
            }
        }
    }
    priority.end();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Background,
    Normal,
}

/// Decides the writer's mode from how full its queue is, and applies it to the threads whose
/// names begin with one of `threads` (the writer's own and its connection's).
struct Priority {
    /// `None` when the threads could not come back from the background: everything then stays
    /// at normal priority.
    mode: Option<Mode>,
    calm: Calm,
    applied_at: Option<Instant>,
    threads: &'static [&'static str],
}

impl Priority {
    fn new(threads: &'static [&'static str]) -> Self {
        let available = can_leave_background();
        if !available {
            info!(
                "the query log's threads stay at normal priority: leaving the background needs CAP_SYS_NICE or RLIMIT_NICE"
            );
        }
        Self {
            mode: available.then_some(Mode::Background),
            calm: Calm::default(),
            applied_at: None,
            threads,
        }
    }

    /// Sets the threads' policy for `backlog` when the mode changes, and again every
    /// [`REAPPLY_EVERY`].
    fn update(&mut self, backlog: Backlog, now: Instant) {
        let Some(mode) = self.mode else {
            return;
        };
        let next = next_mode(mode, &mut self.calm, backlog, now);
        let due = self
            .applied_at
            .is_none_or(|at| now.duration_since(at) >= REAPPLY_EVERY);
        if next != mode {
            debug!(?next, ?backlog, "query log priority changed");
        } else if !due {
            return;
        }
        self.applied_at = Some(now);
        self.apply(next);
    }

    /// Back to normal priority for good (shutdown: the last rows are written without waiting
    /// for idle time).
    fn end(&mut self) {
        if self.mode.is_some() {
            self.apply(Mode::Normal);
            self.mode = None;
        }
    }

    fn apply(&mut self, mode: Mode) {
        let mut failed = None;
        for thread in sched::threads_named(self.threads) {
            match sched::set(thread, mode) {
                // A thread that ended between the listing and the call (a connection the pool
                // replaced) needs nothing.
                Err(err) if err.raw_os_error() == Some(libc::ESRCH) => {}
                Err(err) => failed = Some(err),
                Ok(()) => {}
            }
        }
        self.mode = Some(mode);
        if let Some(err) = failed {
            // Refused since the probe (a changed limit or security policy): normal priority is
            // always safe, so everything goes back there for good.
            warn!(%err, ?mode, "setting the query log's thread priority failed; staying at normal priority");
            for thread in sched::threads_named(self.threads) {
                let _ = sched::set(thread, Mode::Normal);
            }
            self.mode = None;
        }
    }
}

/// How long the writer has been calm in [`Mode::Normal`], and how long it must be.
#[derive(Debug)]
struct Calm {
    since: Option<Instant>,
    needed: Duration,
}

impl Default for Calm {
    fn default() -> Self {
        Self {
            since: None,
            needed: CALM_AFTER_BACKLOG,
        }
    }
}

/// The mode after seeing `backlog`: normal as soon as the writer is behind, background again
/// after the queue has stayed short for [`CALM_AFTER_BACKLOG`], or [`CALM_AFTER_STALL`] once
/// the writer was starved.
fn next_mode(mode: Mode, calm: &mut Calm, backlog: Backlog, now: Instant) -> Mode {
    if backlog.behind() {
        calm.since = None;
        // Why it left the background decides how long it stays out. A stall at normal
        // priority is a writer busy with a backlog or a slow disk, not a starved one.
        if mode == Mode::Background {
            calm.needed = if backlog.stalled {
                CALM_AFTER_STALL
            } else {
                CALM_AFTER_BACKLOG
            };
        }
        return Mode::Normal;
    }
    match mode {
        Mode::Background => Mode::Background,
        Mode::Normal if !backlog.short() => {
            calm.since = None;
            Mode::Normal
        }
        Mode::Normal => {
            let since = *calm.since.get_or_insert(now);
            if now.duration_since(since) >= calm.needed {
                calm.since = None;
                Mode::Background
            } else {
                Mode::Normal
            }
        }
    }
}

/// Whether a thread can enter the background and come back: tried on a thread of its own, so
/// that a refusal strands nothing that matters.
fn can_leave_background() -> bool {
    std::thread::Builder::new()
        .name("hush-probe".into())
        .spawn(|| {
            let me = sched::current();
            sched::set(me, Mode::Background).is_ok() && sched::set(me, Mode::Normal).is_ok()
        })
        .ok()
        .and_then(|probe| probe.join().ok())
        .unwrap_or(false)
}

mod sched {
    //! The Linux calls (hush runs on Linux only; its UDP listener uses recvmmsg too): threads
    //! by name from `/proc/self/task`, and `sched_setscheduler`.

    use super::Mode;

    pub(super) fn current() -> libc::pid_t {
        // SAFETY: gettid has no preconditions and cannot fail.
        unsafe { libc::gettid() }
    }

    pub(super) fn set(thread: libc::pid_t, mode: Mode) -> std::io::Result<()> {
        let policy = match mode {
            Mode::Background => libc::SCHED_IDLE,
            Mode::Normal => libc::SCHED_OTHER,
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the call's duration; an unknown thread id
        // is an error return (ESRCH), not undefined behaviour.
        if unsafe { libc::sched_setscheduler(thread, policy, &param) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// This process's threads whose name begins with one of `prefixes`.
    pub(super) fn threads_named(prefixes: &[&str]) -> Vec<libc::pid_t> {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        tasks
            .flatten()
            .filter_map(|task| {
                let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
                let name = name.trim_end();
                if !prefixes.iter().any(|prefix| name.starts_with(prefix)) {
                    return None;
                }
                task.file_name().to_str()?.parse().ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPACITY: usize = 65_536;

    fn waiting(queued: usize) -> Backlog {
        Backlog {
            queued,
            capacity: CAPACITY,
            stalled: false,
        }
    }

    #[test]
    fn a_backlog_brings_the_writer_back_and_a_calm_queue_sends_it_away() {
        let start = Instant::now();
        let mut calm = Calm::default();
        let mut step = |mode, backlog, after_ms| {
            next_mode(
                mode,
                &mut calm,
                backlog,
                start + Duration::from_millis(after_ms),
            )
        };
        assert_eq!(
            step(Mode::Background, waiting(CAPACITY / 4 - 1), 0),
            Mode::Background
        );
        assert_eq!(
            step(Mode::Background, waiting(CAPACITY / 4), 0),
            Mode::Normal
        );
        // Short but not yet for a second; a busy moment restarts the wait.
        assert_eq!(step(Mode::Normal, waiting(0), 100), Mode::Normal);
        assert_eq!(
            step(Mode::Normal, waiting(CAPACITY / 64), 1_050),
            Mode::Normal
        );
        assert_eq!(step(Mode::Normal, waiting(0), 1_100), Mode::Normal);
        assert_eq!(step(Mode::Normal, waiting(0), 2_050), Mode::Normal);
        assert_eq!(step(Mode::Normal, waiting(10), 2_100), Mode::Background);
        // A starved writer comes back however short its queue, stays while starved, and waits
        // longer before it tries the background again.
        let starved = Backlog {
            stalled: true,
            ..waiting(0)
        };
        assert_eq!(step(Mode::Background, starved, 3_000), Mode::Normal);
        assert_eq!(step(Mode::Normal, starved, 9_000), Mode::Normal);
        assert_eq!(step(Mode::Normal, waiting(0), 10_000), Mode::Normal);
        // A backlog while it waits does not shorten the wait.
        assert_eq!(
            step(Mode::Normal, waiting(CAPACITY / 4), 11_000),
            Mode::Normal
        );
        assert_eq!(step(Mode::Normal, waiting(0), 12_000), Mode::Normal);
        assert_eq!(step(Mode::Normal, waiting(0), 41_000), Mode::Normal);
        assert_eq!(step(Mode::Normal, waiting(0), 42_000), Mode::Background);
        // The next backlog has the short wait again, even if the writer, busy with it at
        // normal priority, misses its rounds.
        assert_eq!(
            step(Mode::Background, waiting(CAPACITY), 50_000),
            Mode::Normal
        );
        assert_eq!(step(Mode::Normal, starved, 54_000), Mode::Normal);
        assert_eq!(step(Mode::Normal, waiting(0), 54_500), Mode::Normal);
        assert_eq!(step(Mode::Normal, waiting(0), 55_500), Mode::Background);
    }

    #[test]
    fn a_thread_that_ended_is_not_a_failure() {
        let (ready, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || ready.send(sched::current()).unwrap())
            .join()
            .unwrap();
        let ended = wait.recv().unwrap();
        let err = sched::set(ended, Mode::Normal).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH), "{err}");
    }

    #[test]
    fn the_threads_named_follow_the_mode_and_end_at_normal_priority() {
        let (ready, wait) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("prio-test-work".into())
            .spawn(move || {
                ready.send(sched::current()).unwrap();
                let _ = stopped.recv();
            })
            .unwrap();
        let thread = wait.recv().unwrap();
        let policy = || {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{thread}/stat")).unwrap();
            // Field 41, counted after the command name's closing parenthesis.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(38).unwrap().parse::<i32>().unwrap()
        };
        let mut priority = Priority::new(&["prio-test-work"]);
        if priority.mode.is_none() {
            // No way back from the background here: nothing may be moved there.
            priority.update(waiting(0), Instant::now());
            assert_eq!(policy(), libc::SCHED_OTHER);
            println!("note: this process cannot leave SCHED_IDLE; only the fallback was tested");
        } else {
            priority.update(waiting(0), Instant::now());
            assert_eq!(policy(), libc::SCHED_IDLE);
            priority.update(waiting(CAPACITY / 2), Instant::now());
            assert_eq!(policy(), libc::SCHED_OTHER);
            priority.mode = Some(Mode::Background);
            priority.update(waiting(0), Instant::now() + REAPPLY_EVERY);
            assert_eq!(policy(), libc::SCHED_IDLE);
            priority.end();
            assert_eq!(policy(), libc::SCHED_OTHER);
            priority.update(waiting(0), Instant::now());
            assert_eq!(policy(), libc::SCHED_OTHER, "ended means ended");
        }
        stop.send(()).unwrap();
        worker.join().unwrap();
    }
}
