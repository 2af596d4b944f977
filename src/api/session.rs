//! Logged-in sessions of the dashboard (and, later, of other API front ends): a random session
//! id kept in a cookie, a CSRF token the page sends back on every change, and an idle expiry.
//! Sessions live in memory: a restart logs everyone out, which for a household's dashboard
//! costs one password entry and keeps no secret on disk. Failed logins are counted per client
//! address so that guessing is slow.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};

/// Sessions kept at most; past it the least recently used one is dropped. A household has a
/// handful of browsers; the bound only stops a flood of logins from growing memory.
const MAX_SESSIONS: usize = 1_024;

/// A session as the handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub csrf: String,
}

#[derive(Debug)]
struct Entry {
    csrf: String,
    last_used: Instant,
}

/// The open sessions, each ending after `idle` without use.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    open: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a new session.
    pub fn open(&self) -> Session {
        let session = Session {
            id: random_token(),
            csrf: random_token(),
        };
        let now = Instant::now();
        if let Ok(mut open) = self.open.lock() {
            open.retain(|_, entry| now.duration_since(entry.last_used) < self.idle);
            if open.len() >= MAX_SESSIONS
                && let Some(oldest) = open
                    .iter()
                    .min_by_key(|(_, entry)| entry.last_used)
                    .map(|(id, _)| id.clone())
            {
                open.remove(&oldest);
            }
            open.insert(
                session.id.clone(),
                Entry {
                    csrf: session.csrf.clone(),
                    last_used: now,
                },
            );
        }
        session
    }

    /// The session with this id if it is open and not idle too long; using it restarts its
    /// idle time.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut open = self.open.lock().ok()?;
        let entry = open.get_mut(id)?;
        if now.duration_since(entry.last_used) >= self.idle {
            open.remove(id);
            return None;
        }
        entry.last_used = now;
        Some(Session {
            id: id.to_owned(),
            csrf: entry.csrf.clone(),
        })
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
    }
}

/// 256 random bits, hex-encoded: unguessable, and safe in a cookie or header as it is.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Failed logins per client address over the last minute.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// Failed logins a minute from one address that are still checked; later attempts in that
/// minute are refused unchecked.
pub const MAX_FAILURES_PER_MINUTE: usize = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (a flood of spoofed sources must not grow memory).
const MAX_ADDRESSES: usize = 4_096;

impl LoginLimiter {
    /// Whether a login attempt from `client` may be checked now.
    pub fn allows(&self, client: IpAddr) -> bool {
        let Ok(mut failures) = self.failures.lock() else {
            return false;
        };
        let now = Instant::now();
        match failures.get_mut(&client) {
            Some(times) => {
                while times
                    .front()
                    .is_some_and(|time| now.duration_since(*time) >= WINDOW)
                {
                    times.pop_front();
                }
                times.len() < MAX_FAILURES_PER_MINUTE
            }
            None => true,
        }
    }

    pub fn record_failure(&self, client: IpAddr) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&client) {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|time| now.duration_since(*time) < WINDOW)
            });
        }
        if failures.len() < MAX_ADDRESSES || failures.contains_key(&client) {
            failures.entry(client).or_default().push_back(now);
        }
    }

    pub fn record_success(&self, client: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_touch_expire_and_close() {
        let sessions = Sessions::new(Duration::from_millis(80));
        let session = sessions.open();
        assert_eq!(session.id.len(), 64);
        assert_ne!(session.id, session.csrf);
        assert_eq!(sessions.touch(&session.id), Some(session.clone()));
        assert_eq!(sessions.touch("not-a-session"), None);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            sessions.touch(&session.id).is_some(),
            "use restarts idle time"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(sessions.touch(&session.id).is_some());
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(sessions.touch(&session.id), None, "idle too long");
        let other = sessions.open();
        sessions.close(&other.id);
        assert_eq!(sessions.touch(&other.id), None);
    }

    #[test]
    fn ten_failures_a_minute_then_refused() {
        let limiter = LoginLimiter::default();
        let client: IpAddr = "192.168.1.9".parse().unwrap();
        let other: IpAddr = "192.168.1.10".parse().unwrap();
        for _ in 0..MAX_FAILURES_PER_MINUTE {
            assert!(limiter.allows(client));
            limiter.record_failure(client);
        }
        assert!(!limiter.allows(client));
        assert!(limiter.allows(other), "per address");
        limiter.record_success(client);
        assert!(limiter.allows(client));
    }
}
