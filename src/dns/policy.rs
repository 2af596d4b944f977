//! The policy stage: what the current rules say about a name. The [`Policy`] is an immutable
//! snapshot (rules plus the block settings) behind `arc-swap`, so a query reads it without a
//! lock and a reload replaces it whole.

use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::rr::LowerName;

use super::outcome::Blocked;
use crate::config::{BlockAnswer, BlockingConfig};
use crate::rules::{QueryName, RuleSet, Verdict};

/// The shared, swappable policy.
pub type SharedPolicy = Arc<ArcSwap<Policy>>;

#[derive(Debug)]
pub struct Policy {
    pub rules: Arc<RuleSet>,
    /// `false` forwards everything.
    pub enabled: bool,
    pub answer: BlockAnswer,
    /// TTL of block answers, in seconds.
    pub ttl: u32,
}

/// The policy's word on one name.
#[derive(Debug)]
pub enum Decision {
    Block(Blocked),
    /// An allow rule matched: the name is forwarded and exempt from CNAME cloaking checks.
    Allow,
    /// No rule matched, or blocking is off.
    Pass,
}

impl Policy {
    pub fn new(rules: Arc<RuleSet>, blocking: &BlockingConfig) -> Self {
        Self {
            rules,
            enabled: blocking.enabled,
            answer: blocking.answer,
            ttl: u32::try_from(blocking.ttl.0.as_secs()).unwrap_or(u32::MAX),
        }
    }

    pub fn decide(&self, name: &LowerName) -> Decision {
        if !self.enabled {
            return Decision::Pass;
        }
        let Some(query_name) = QueryName::from_lower(name) else {
            return Decision::Pass;
        };
        match self.rules.decide(&query_name) {
            Verdict::Blocked(matched) => Decision::Block(Blocked {
                rules: Arc::clone(&self.rules),
                matched,
                via_cname: None,
            }),
            Verdict::Allowed(_) => Decision::Allow,
            Verdict::Unlisted => Decision::Pass,
        }
    }
}
