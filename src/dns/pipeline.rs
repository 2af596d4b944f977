//! The query pipeline, in order. Each stage lives in its own module and knows nothing of the
//! stages after it; this file is the one place that says what runs when, and why there. It is
//! cut in two where the network begins: everything before the upstream runs synchronously.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{LowerQuery, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::admission::Admission;
use super::answer_check::{cloaked_by, rebinding};
use super::cache::{AnswerCache, CacheHit, CacheQuestion};
use super::local::SharedLocal;
use super::outcome::{Blocked, FailureReason, Outcome, RefusalReason};
use super::policy::{BlockingSwitch, Decision, Policy, SharedPolicy};
use super::reply::Reply;
use super::upstream::Forwarders;
use crate::rules::{GroupMask, QueryName};

/// A query's answer and how it came about.
pub struct Resolution {
    pub answer: Answer,
    pub outcome: Outcome,
}

/// What goes back to the client.
pub enum Answer {
    /// A reply made for this query.
    Built(Reply),
    /// An answer from the cache, TTLs still to be counted down.
    Cached(CacheHit),
}

impl Answer {
    /// The records as they were received or made (TTLs aside): what the answer check reads.
    fn records(&self) -> &Reply {
        match self {
            Self::Built(reply) => reply,
            Self::Cached(hit) => hit.stored(),
        }
    }

    pub fn rcode(&self) -> ResponseCode {
        self.records().rcode
    }
}

pub struct Pipeline {
    pub admission: Admission,
    pub policy: SharedPolicy,
    pub switch: Arc<BlockingSwitch>,
    pub local: SharedLocal,
    pub cache: AnswerCache,
    pub forwarders: Forwarders,
}

/// A query the local stages could not answer: it goes upstream.
#[derive(Debug, Clone, Copy)]
pub struct Forward {
    /// Allowed by a rule, or blocking is off: the answer check does not apply.
    exempt: bool,
    /// The client's active groups, for the answer check.
    groups: GroupMask,
}

impl Pipeline {
    /// The stages that need nothing but memory: admission, policy, ANY, cache. Blocked, refused
    /// and cached queries end here, synchronously, so the listener can answer them inline;
    /// the rest come back as [`Forward`] for [`Pipeline::forward`].
    pub fn resolve_locally(
        &self,
        client: IpAddr,
        device: Option<&str>,
        query: &LowerQuery,
    ) -> Result<Resolution, Forward> {
        // Admission first: a refused client costs no rule lookup, cache slot or upstream query.
        if let Err(reason) = self.admission.admit(client) {
            return Ok(Resolution::refused(ResponseCode::Refused, reason));
        }
        // Only class IN is forwarded; CH/HS/ANY-class queries are not hush's business.
        if query.query_class() != DNSClass::IN {
            return Ok(Resolution::refused(
                ResponseCode::NotImp,
                RefusalReason::Unsupported,
            ));
        }
        // Policy before the cache, so a reload applies at once and a blocked name never
        // reaches the upstream.
        let name = query.name();
        let query_type = query.query_type();
        let blocking = self.switch.is_on();
        let policy = self.policy.load();
        // The client's groups, once: the same rules decide the name and, later, its answer.
        let groups = policy.groups_for(client, device);
        // The name's text, once: rules, local names, forwarded zones and the cache look it up.
        let text = QueryName::from_lower(name);
        let exempt = !blocking || {
            match policy.decide_text(text.as_ref(), groups) {
                Decision::Block(blocked) => return Ok(block(&policy, query, blocked)),
                Decision::Allow { .. } => true,
                Decision::Pass => false,
            }
        };
        // Local records after policy (a local name can still be blocked) and before the cache:
        // the house's own names are answered here and never leave it.
        if let Some(reply) =
            self.local
                .load()
                .answer(text.as_ref(), query.original().name(), query_type)
        {
            return Ok(Resolution {
                answer: Answer::Built(reply),
                outcome: Outcome::Local,
            });
        }
        // Names of a forwarded zone are the house's own too (the router's): private addresses
        // and CNAMEs there are expected, so the answer check leaves them alone.
        let exempt = exempt || self.forwarders.zone_holding(name, text.as_ref()).is_some();
        // RFC 8482: ANY is answered minimally, after policy (a blocked name stays blocked) and
        // before anything is forwarded: ANY answers are the favourite of amplification attacks
        // and nothing a real client may depend on.
        if query_type == RecordType::ANY {
            return Ok(Resolution {
                answer: Answer::Built(Reply::minimal_any(query.original().name())),
                outcome: Outcome::Refused(RefusalReason::AnyQuery),
            });
        }
        // Cache before upstream: a hit never leaves the box. The answer check still runs on
        // hits because the rules may have changed since the answer was stored.
        let forward = Forward { exempt, groups };
        match self
            .cache
            .get(&CacheQuestion::new(name, text.as_ref(), query_type))
        {
            Some(hit) => Ok(self.checked(query, Answer::Cached(hit), forward, Outcome::Cached)),
            None => Err(forward),
        }
    }

    /// The upstream stage, then the answer check, for a query [`Pipeline::resolve_locally`]
    /// passed on.
    pub async fn forward(&self, query: &LowerQuery, forward: Forward) -> Resolution {
        let (name, query_type) = (query.name(), query.query_type());
        let text = QueryName::from_lower(name);
        let question = CacheQuestion::new(name, text.as_ref(), query_type);
        let upstreams = self.forwarders.for_name(name, text.as_ref());
        match upstreams.resolve(&Name::from(name), query_type).await {
            Ok(answer) => {
                self.cache
                    .insert(&question, name, &answer.reply, answer.ttl);
                let forwarded = Outcome::Forwarded {
                    upstream: answer.upstream,
                };
                self.checked(query, Answer::Built(answer.reply), forward, forwarded)
            }
            // A forged or broken answer is an error, not something to paper over with a stale
            // one: the client learns why (RFC 8914).
            Err(reason @ FailureReason::DnssecBogus) => Resolution {
                answer: Answer::Built(Reply::bogus()),
                outcome: Outcome::Failed(reason),
            },
            // Every upstream failed: an expired answer (RFC 8767) beats SERVFAIL.
            Err(reason) => match self.cache.get_stale(&question) {
                Some(stale) => self.checked(query, Answer::Cached(stale), forward, Outcome::Cached),
                None => Resolution {
                    answer: Answer::Built(Reply::empty(ResponseCode::ServFail)),
                    outcome: Outcome::Failed(reason),
                },
            },
        }
    }

    /// The answer check: CNAME cloaking, then rebinding protection. Exempt: an allowed query
    /// name (allow wins) and every name while blocking is off.
    fn checked(
        &self,
        query: &LowerQuery,
        answer: Answer,
        forward: Forward,
        outcome: Outcome,
    ) -> Resolution {
        if !forward.exempt {
            let policy = self.policy.load();
            let records = answer.records();
            let blocked = cloaked_by(&policy, forward.groups, records)
                .or_else(|| rebinding(&policy, query.name(), records));
            if let Some(blocked) = blocked {
                return block(&policy, query, blocked);
            }
        }
        Resolution { answer, outcome }
    }
}

fn block(policy: &Policy, query: &LowerQuery, blocked: Blocked) -> Resolution {
    Resolution {
        answer: Answer::Built(Reply::blocked(
            policy.answer_for(&blocked),
            policy.ttl,
            query.original().name(),
            query.query_type(),
        )),
        outcome: Outcome::Blocked(blocked),
    }
}

impl Resolution {
    fn refused(rcode: ResponseCode, reason: RefusalReason) -> Self {
        Self {
            answer: Answer::Built(Reply::empty(rcode)),
            outcome: Outcome::Refused(reason),
        }
    }
}
