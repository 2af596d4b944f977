//! The answer check: CNAME cloaking. Trackers hide behind first-party names that CNAME to them
//! (`metrics.shop.example CNAME shop.tracker.example`); when any name in an answer's CNAME chain
//! is blocked, the whole answer is blocked as if the query name were.

use hickory_proto::rr::{LowerName, RData};

use super::outcome::Blocked;
use super::policy::{Decision, Policy};
use super::reply::Reply;

/// The block that applies to `reply` because of its CNAME chain, if any.
pub fn cloaked_by(policy: &Policy, reply: &Reply) -> Option<Blocked> {
    reply.answers.iter().find_map(|record| {
        let RData::CNAME(target) = &record.data else {
            return None;
        };
        let target = LowerName::from(&target.0);
        match policy.decide(&target) {
            Decision::Block(blocked) => Some(Blocked {
                via_cname: Some(target),
                ..blocked
            }),
            Decision::Allow { .. } | Decision::Pass => None,
        }
    })
}
