//! How each query ended, as one typed value. Logging, statistics and the query history read
//! this instead of re-deriving "blocked" or "cached" from response codes.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, RecordType};
use tokio::sync::mpsc;

use super::arrival::{DeviceName, Protocol};
use crate::rules::{GroupMask, Polarity, RuleMatch, RuleSet, Source};

/// The end of one query.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Answered by an upstream (whatever its rcode: NXDOMAIN from upstream is still forwarded).
    Forwarded { upstream: Arc<str> },
    /// Answered from the answer cache.
    Cached,
    /// Answered from the local records, authoritatively.
    Local,
    /// Answered locally with a block answer.
    Blocked(Blocked),
    /// Not served, on purpose.
    Refused(RefusalReason),
    /// Could not be answered.
    Failed(FailureReason),
}

impl Outcome {
    /// The outcome's kind, as counted, stored and shown.
    pub fn status(&self) -> Status {
        match self {
            Self::Forwarded { .. } => Status::Forwarded,
            Self::Cached => Status::Cached,
            Self::Local => Status::Local,
            Self::Blocked(_) => Status::Blocked,
            Self::Refused(_) => Status::Refused,
            Self::Failed(_) => Status::Failed,
        }
    }
}

/// The kind of an [`Outcome`] without its details: the one vocabulary of metrics, the stored
/// `status` column (its [`Status::code`]) and the API (its [`Status::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Forwarded = 0,
    Cached = 1,
    Blocked = 2,
    Refused = 3,
    Failed = 4,
    Local = 5,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Forwarded,
        Status::Cached,
        Status::Blocked,
        Status::Refused,
        Status::Failed,
        Status::Local,
    ];

    /// The stored code; also the index into per-status counters.
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Cached => "cached",
            Self::Blocked => "blocked",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::Local => "local",
        }
    }

    /// The names for an error message: "forwarded, cached, … or failed".
    pub fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|status| status.name()).collect();
        match names.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.name() == text)
            .ok_or(UnknownStatus)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown status")]
pub struct UnknownStatus;

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a query was blocked.
#[derive(Clone)]
pub struct Blocked {
    pub cause: BlockCause,
    /// Set when the block came from the answer's CNAME chain, not the query name. Boxed: it is
    /// rare, and inline it would more than double the size of every query event waiting in
    /// the query log's queue.
    pub via_cname: Option<Box<LowerName>>,
    /// The group whose list blocked (`None` for custom, built-in and rebinding blocks).
    pub group: Option<Arc<str>>,
}

#[derive(Clone)]
pub enum BlockCause {
    /// A rule matched; the rule set is kept alive so the rule can be named later without
    /// copying strings on the hot path.
    Rule {
        rules: Arc<RuleSet>,
        matched: RuleMatch,
    },
    /// DNS rebinding protection: a public name answered with this private address.
    Rebinding { address: IpAddr },
}

/// The list name and category under which rebinding blocks are recorded.
pub const REBINDING_LIST: &str = "rebinding protection";
const REBINDING_CATEGORY: &str = "rebinding";

/// The source of rebinding blocks: hush itself, described like a list so that a block names
/// its list the same way whatever its cause.
static REBINDING_SOURCE: LazyLock<Source> = LazyLock::new(|| Source {
    name: Arc::from(REBINDING_LIST),
    location: "hush".to_owned(),
    polarity: Polarity::Block,
    category: Some(Arc::from(REBINDING_CATEGORY)),
    vendor: None,
    groups: GroupMask::ALL,
});

impl Blocked {
    pub fn by_rule(rules: Arc<RuleSet>, matched: RuleMatch, group: Option<Arc<str>>) -> Self {
        Self {
            cause: BlockCause::Rule { rules, matched },
            via_cname: None,
            group,
        }
    }

    fn source(&self) -> &Source {
        match &self.cause {
            BlockCause::Rule { rules, matched } => rules.source(matched.source),
            BlockCause::Rebinding { .. } => &REBINDING_SOURCE,
        }
    }

    /// The matching rule in list syntax (for rebinding, the private address answered).
    pub fn rule(&self) -> String {
        self.shared_rule().to_string()
    }

    /// [`Blocked::rule`] as a shared string, for the query log.
    pub fn shared_rule(&self) -> Arc<str> {
        match &self.cause {
            BlockCause::Rule { rules, matched } => rules.rule_text(matched).to_shared(),
            BlockCause::Rebinding { address } => Arc::from(address.to_string()),
        }
    }

    /// The display name of the list holding the rule.
    pub fn list(&self) -> &str {
        &self.source().name
    }

    /// [`Blocked::list`] and [`Blocked::category`] as the list's own shared strings, for the
    /// query log.
    pub fn shared_list_and_category(&self) -> (Arc<str>, Option<Arc<str>>) {
        let source = self.source();
        (Arc::clone(&source.name), source.category.clone())
    }

    /// Where that list comes from.
    pub fn location(&self) -> &str {
        &self.source().location
    }

    /// The category of that list, when it has one.
    pub fn category(&self) -> Option<&str> {
        self.source().category.as_deref()
    }
}

impl fmt::Debug for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocked")
            .field("rule", &self.rule())
            .field("list", &self.list())
            .field("via_cname", &self.via_cname)
            .field("group", &self.group)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The client is outside `dns.allowed_clients`.
    ClientNotAllowed,
    /// The client exceeded `dns.rate_limit`.
    RateLimited,
    /// Not a standard query of class IN with one question.
    Unsupported,
    /// An ANY query, answered minimally per RFC 8482 instead of forwarded.
    AnyQuery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// Every upstream timed out within `dns.upstream_timeout`.
    UpstreamTimeout,
    /// Upstreams answered SERVFAIL/REFUSED or could not be reached.
    UpstreamError,
    /// Too many upstream queries were already in flight (`dns.max_inflight`).
    Overloaded,
    /// The answer failed DNSSEC validation (`dns.dnssec`).
    DnssecBogus,
}

/// One record of the query history: who asked what, and how it ended.
#[derive(Debug, Clone)]
pub struct QueryEvent {
    pub time: SystemTime,
    pub client: IpAddr,
    pub protocol: Protocol,
    /// The name the device gave itself (DoT server name, DoH path), if it gave one.
    pub device: Option<DeviceName>,
    pub name: LowerName,
    pub query_type: RecordType,
    pub outcome: Outcome,
    pub rcode: ResponseCode,
    pub duration: Duration,
}

/// The sending half of the query-log channel. Never waits: a full channel drops the event and
/// counts it, because DNS answers must not wait for the disk.
#[derive(Debug, Default)]
pub struct EventSink {
    sender: Option<mpsc::Sender<QueryEvent>>,
    dropped: AtomicU64,
}

impl EventSink {
    pub fn new(sender: mpsc::Sender<QueryEvent>) -> Self {
        Self {
            sender: Some(sender),
            dropped: AtomicU64::new(0),
        }
    }

    /// A sink that discards everything (query log disabled).
    pub fn disabled() -> Self {
        Self::default()
    }

    pub fn emit(&self, event: QueryEvent) {
        if let Some(sender) = &self.sender
            && sender.try_send(event).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events waiting in the channel for the writer.
    pub fn queued(&self) -> usize {
        self.sender
            .as_ref()
            .map_or(0, |sender| sender.max_capacity() - sender.capacity())
    }

    /// Events lost to a full (or closed) channel since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_event_stays_small() {
        // The query log's queue holds up to `querylog.queue` events (65,536 by default) while
        // the writer catches up: every byte of an event is 64 KiB of peak memory then.
        // (A CNAME-cloaking block's target name, inline, made it 280.)
        let size = size_of::<QueryEvent>();
        assert!(size <= 208, "a query event takes {size} bytes");
    }

    #[test]
    fn status_codes_names_and_indexes_agree() {
        for (i, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status.index(), i);
            assert_eq!(Status::from_code(status.code()), Some(status));
            assert_eq!(status.name().parse::<Status>(), Ok(status));
        }
        assert_eq!(Status::from_code(99), None);
        assert_eq!("Blocked".parse::<Status>(), Err(UnknownStatus));
        assert_eq!(
            Status::names(),
            "forwarded, cached, blocked, refused, failed or local"
        );
    }
}
