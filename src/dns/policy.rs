//! The policy stage: what the current rules say about a name. The [`Policy`] is an immutable
//! snapshot (list rules, custom rules from the API, the block answer) behind `arc-swap`, so a
//! query reads it without a lock and a reload replaces it whole. Whether blocking is on at all
//! is the [`BlockingSwitch`], which the API can flip or pause without rebuilding anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hickory_proto::rr::LowerName;

use super::outcome::{BlockCause, Blocked};
use crate::config::{BlockAnswer, BlockingConfig};
use crate::rules::{QueryName, RuleMatch, RuleSet, Verdict, compile_builtin};

/// The shared, swappable policy.
pub type SharedPolicy = Arc<ArcSwap<Policy>>;

#[derive(Debug)]
pub struct Policy {
    /// Rules compiled from the configured lists.
    pub lists: Arc<RuleSet>,
    /// Rules added through the API.
    pub custom: Arc<RuleSet>,
    /// hush's own anti-bypass rules (browser DoH canary, iCloud Private Relay), answered with
    /// NXDOMAIN whatever `blocking.answer` says: that is the signal those clients look for.
    pub builtin: Arc<RuleSet>,
    pub answer: BlockAnswer,
    /// TTL of block answers, in seconds.
    pub ttl: u32,
    /// Block public names that answer with private addresses.
    pub rebinding_protection: bool,
}

/// The policy's word on one name.
#[derive(Debug)]
pub enum Decision {
    Block(Blocked),
    /// An allow rule matched: the name is forwarded and exempt from CNAME cloaking checks.
    Allow {
        rules: Arc<RuleSet>,
        matched: RuleMatch,
    },
    /// No rule matched.
    Pass,
}

impl Policy {
    pub fn new(lists: Arc<RuleSet>, custom: Arc<RuleSet>, blocking: &BlockingConfig) -> Self {
        Self {
            lists,
            custom,
            builtin: Arc::new(compile_builtin(
                blocking.doh_canary,
                blocking.block_private_relay,
            )),
            answer: blocking.answer,
            ttl: u32::try_from(blocking.ttl.0.as_secs()).unwrap_or(u32::MAX),
            rebinding_protection: blocking.rebinding_protection,
        }
    }

    /// The same policy with other custom rules.
    pub fn with_custom(&self, custom: Arc<RuleSet>) -> Self {
        Self {
            lists: Arc::clone(&self.lists),
            custom,
            builtin: Arc::clone(&self.builtin),
            answer: self.answer,
            ttl: self.ttl,
            rebinding_protection: self.rebinding_protection,
        }
    }

    /// An allow match in the custom rules or the lists wins; then hush's own rules, a custom
    /// block, a list block.
    pub fn decide(&self, name: &LowerName) -> Decision {
        match QueryName::from_lower(name) {
            Some(name) => self.decide_name(&name),
            None => Decision::Pass,
        }
    }

    pub fn decide_name(&self, name: &QueryName) -> Decision {
        let custom = self.custom.decide(name);
        let lists = self.lists.decide(name);
        let allow = |rules: &Arc<RuleSet>, matched| Decision::Allow {
            rules: Arc::clone(rules),
            matched,
        };
        let block = |rules: &Arc<RuleSet>, matched| {
            Decision::Block(Blocked::by_rule(Arc::clone(rules), matched))
        };
        match (custom, lists) {
            (Verdict::Allowed(matched), _) => allow(&self.custom, matched),
            (_, Verdict::Allowed(matched)) => allow(&self.lists, matched),
            _ if let Verdict::Blocked(matched) = self.builtin.decide(name) => {
                block(&self.builtin, matched)
            }
            (Verdict::Blocked(matched), _) => block(&self.custom, matched),
            (_, Verdict::Blocked(matched)) => block(&self.lists, matched),
            (Verdict::Unlisted, Verdict::Unlisted) => Decision::Pass,
        }
    }

    /// The answer for a blocked query: NXDOMAIN for hush's own rules, else `blocking.answer`.
    pub fn answer_for(&self, blocked: &Blocked) -> BlockAnswer {
        match &blocked.cause {
            BlockCause::Rule { rules, .. } if Arc::ptr_eq(rules, &self.builtin) => {
                BlockAnswer::Nxdomain
            }
            _ => self.answer,
        }
    }
}

/// The answer to "would this name be blocked, and why?", as `hush check` and `/api/check` give
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub domain: String,
    /// The blocking rule, when one decides.
    pub blocked_by: Option<RuleRef>,
    /// The allow rule that lets the name through, when one matches.
    pub allowed_by: Option<RuleRef>,
}

/// A rule named for people: its text, its list's name and where that list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub rule: String,
    pub list: String,
    pub location: String,
}

impl Policy {
    /// Why `name` is blocked, allowed or neither under this policy.
    pub fn explain(&self, name: &QueryName) -> Explanation {
        let mut explanation = Explanation {
            domain: name.as_str().to_owned(),
            blocked_by: None,
            allowed_by: None,
        };
        match self.decide_name(name) {
            Decision::Block(blocked) => {
                explanation.blocked_by = Some(RuleRef {
                    rule: blocked.rule(),
                    list: blocked.list().to_owned(),
                    location: blocked.location().to_owned(),
                });
            }
            Decision::Allow { rules, matched } => {
                let source = rules.source(matched.source);
                explanation.allowed_by = Some(RuleRef {
                    rule: rules.rule_text(&matched).to_string(),
                    list: source.name.to_string(),
                    location: source.location.clone(),
                });
            }
            Decision::Pass => {}
        }
        explanation
    }
}

/// Whether blocking is on: on, off, or paused until a moment.
#[derive(Debug)]
pub struct BlockingSwitch {
    /// 0: on. `u64::MAX`: off until switched on. Otherwise: off until this Unix time in ms.
    off_until_ms: AtomicU64,
}

const ON: u64 = 0;
const OFF: u64 = u64::MAX;

impl BlockingSwitch {
    pub fn new(enabled: bool) -> Self {
        Self {
            off_until_ms: AtomicU64::new(if enabled { ON } else { OFF }),
        }
    }

    /// True when queries should be checked against the rules now.
    pub fn is_on(&self) -> bool {
        match self.off_until_ms.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            until => unix_ms(SystemTime::now()) >= until,
        }
    }

    pub fn turn_on(&self) {
        self.off_until_ms.store(ON, Ordering::Relaxed);
    }

    /// Turns blocking off, for `duration` if given (it then comes back by itself).
    pub fn turn_off(&self, duration: Option<Duration>) {
        let until = match duration {
            Some(duration) => unix_ms(SystemTime::now() + duration).clamp(1, OFF - 1),
            None => OFF,
        };
        self.off_until_ms.store(until, Ordering::Relaxed);
    }

    /// When a pause ends, if blocking is paused.
    pub fn paused_until(&self) -> Option<SystemTime> {
        match self.off_until_ms.load(Ordering::Relaxed) {
            ON | OFF => None,
            until if unix_ms(SystemTime::now()) >= until => None,
            until => Some(UNIX_EPOCH + Duration::from_millis(until)),
        }
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_ends_by_itself() {
        let switch = BlockingSwitch::new(true);
        assert!(switch.is_on());
        switch.turn_off(Some(Duration::from_millis(50)));
        assert!(!switch.is_on());
        assert!(switch.paused_until().is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(switch.is_on());
        assert_eq!(switch.paused_until(), None);
        switch.turn_off(None);
        assert!(!switch.is_on());
        assert_eq!(switch.paused_until(), None);
        switch.turn_on();
        assert!(switch.is_on());
        assert!(!BlockingSwitch::new(false).is_on());
    }
}
