//! The policy stage: what the current rules say about a name, for the groups of the client
//! asking. The [`Policy`] is an immutable snapshot (list rules, custom rules from the API,
//! clients and groups, the block answer) behind `arc-swap`, so a query reads it without a lock
//! and a reload replaces it whole. Whether blocking is on at all
//! is the [`BlockingSwitch`], which the API can flip or pause without rebuilding anything.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hickory_proto::rr::LowerName;

use super::outcome::{BlockCause, Blocked};
use crate::config::{BlockAnswer, Config};
use crate::groups::Groups;
use crate::rules::{GroupMask, QueryName, RuleMatch, RuleSet, Verdict, compile_builtin};

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
    /// Which groups each client belongs to, and which are active now.
    pub groups: Arc<Groups>,
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
    pub fn new(lists: Arc<RuleSet>, custom: Arc<RuleSet>, config: &Config) -> Self {
        let blocking = &config.blocking;
        Self {
            lists,
            custom,
            builtin: Arc::new(compile_builtin(
                blocking.doh_canary,
                blocking.block_private_relay,
            )),
            groups: Arc::new(Groups::new(config)),
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
            groups: Arc::clone(&self.groups),
            answer: self.answer,
            ttl: self.ttl,
            rebinding_protection: self.rebinding_protection,
        }
    }

    /// For a client in `groups`: an allow match in the custom rules or the lists of its groups
    /// wins; then hush's own rules, a custom block, a block by a list of its groups. Custom and
    /// built-in rules apply to every group.
    pub fn decide(&self, name: &LowerName, groups: GroupMask) -> Decision {
        self.decide_text(QueryName::from_lower(name).as_ref(), groups)
    }

    /// [`Policy::decide`] for a name whose text the caller has made already; a name without
    /// one (a label holding a dot or a non-ASCII byte) matches no rule.
    pub fn decide_text(&self, name: Option<&QueryName>, groups: GroupMask) -> Decision {
        match name {
            Some(name) => self.decide_name(name, groups),
            None => Decision::Pass,
        }
    }

    pub fn decide_name(&self, name: &QueryName, groups: GroupMask) -> Decision {
        let custom = self.custom.decide(name);
        let lists = self.lists.decide_for(name, groups);
        let allow = |rules: &Arc<RuleSet>, matched| Decision::Allow {
            rules: Arc::clone(rules),
            matched,
        };
        let block = |rules: &Arc<RuleSet>, matched, group| {
            Decision::Block(Blocked::by_rule(Arc::clone(rules), matched, group))
        };
        match (custom, lists) {
            (Verdict::Allowed(matched), _) => allow(&self.custom, matched),
            (_, Verdict::Allowed(matched)) => allow(&self.lists, matched),
            _ if let Verdict::Blocked(matched) = self.builtin.decide(name) => {
                block(&self.builtin, matched, None)
            }
            (Verdict::Blocked(matched), _) => block(&self.custom, matched, None),
            (_, Verdict::Blocked(matched)) => {
                // The group credited is the first of the client's groups that holds the list.
                let list_groups = self.lists.source(matched.source).groups;
                let group = list_groups.intersection(groups).first();
                let group = group.and_then(|index| self.groups.name(index)).cloned();
                block(&self.lists, matched, group)
            }
            (Verdict::Unlisted, Verdict::Unlisted) => Decision::Pass,
        }
    }

    /// The groups whose rules apply to a query of this client now.
    pub fn groups_for(&self, client: IpAddr, device: Option<&str>) -> GroupMask {
        self.groups.active_for(client, device)
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
    /// The `[[clients]]` entry of the client asked about, if one matches it.
    pub client: Option<String>,
    /// The groups the answer is for (the client's active groups, or `default`).
    pub groups: Vec<String>,
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
    /// The group whose list holds the rule; `None` for custom and built-in rules.
    pub group: Option<String>,
}

impl Policy {
    /// Why `name` is blocked, allowed or neither under this policy, for a query of `client` now
    /// (without one: for the group `default`).
    pub fn explain(&self, name: &QueryName, client: Option<IpAddr>) -> Explanation {
        let groups = client.map_or(GroupMask::DEFAULT, |client| self.groups_for(client, None));
        let entry = client.and_then(|client| self.groups.client_of(client, None));
        let mut explanation = Explanation {
            domain: name.as_str().to_owned(),
            client: entry.map(|entry| entry.name.to_string()),
            groups: self
                .groups
                .names(groups)
                .iter()
                .map(|g| g.to_string())
                .collect(),
            blocked_by: None,
            allowed_by: None,
        };
        match self.decide_name(name, groups) {
            Decision::Block(blocked) => {
                explanation.blocked_by = Some(RuleRef {
                    rule: blocked.rule(),
                    list: blocked.list().to_owned(),
                    location: blocked.location().to_owned(),
                    group: blocked.group.as_deref().map(str::to_owned),
                });
            }
            Decision::Allow { rules, matched } => {
                let source = rules.source(matched.source);
                let group = source.groups.intersection(groups).first();
                let group = group.filter(|_| source.groups != GroupMask::ALL);
                explanation.allowed_by = Some(RuleRef {
                    rule: rules.rule_text(&matched).to_string(),
                    list: source.name.to_string(),
                    location: source.location.clone(),
                    group: group
                        .and_then(|index| self.groups.name(index))
                        .map(|g| g.to_string()),
                });
            }
            Decision::Pass => {}
        }
        explanation
    }
}

/// Where the blocking switch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchState {
    On,
    /// Off until switched on.
    Off,
    /// Off until then (on again after it, by itself).
    OffUntil(SystemTime),
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

    /// The switch's position, to share with other instances.
    pub fn state(&self) -> SwitchState {
        match self.off_until_ms.load(Ordering::Relaxed) {
            ON => SwitchState::On,
            OFF => SwitchState::Off,
            until => SwitchState::OffUntil(UNIX_EPOCH + Duration::from_millis(until)),
        }
    }

    /// Puts the switch where another instance put it.
    pub fn apply(&self, state: SwitchState) {
        let value = match state {
            SwitchState::On => ON,
            SwitchState::Off => OFF,
            SwitchState::OffUntil(until) => unix_ms(until).clamp(1, OFF - 1),
        };
        self.off_until_ms.store(value, Ordering::Relaxed);
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
