//! The answer cache: upstream answers kept for their TTL, keyed on the question, handed out with
//! TTLs counted down by the time spent in the cache. Expired answers are kept a while longer
//! for serve-stale (RFC 8767): when every upstream fails, a stale answer with a short TTL beats
//! SERVFAIL. Sharded so concurrent queries rarely meet on one lock; lookups hash the question
//! instead of building an owned key, and a hit shares the stored answer, whose records are also
//! kept encoded ([`super::wire`]) so most hits are answered without copying a record.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::rr::{LowerName, Record, RecordType};
use lru::LruCache;

use super::reply::Reply;
use super::wire::EncodedRecords;
use crate::rules::QueryName;

/// Longest time an answer is kept, whatever its TTL says.
const MAX_TTL: u32 = 86_400;
/// TTL of a stale answer (RFC 8767 §4 recommends 30 seconds).
const STALE_TTL: u32 = 30;

struct Entry {
    /// The question's name as [`CacheQuestion`] has it, to tell apart two questions whose
    /// keys collide.
    name: Box<[u8]>,
    query_type: RecordType,
    reply: Reply,
    /// The reply's records as bytes, for answering without the encoder.
    encoded: Option<EncodedRecords>,
    stored: Instant,
    ttl: u32,
}

/// An answer found in the cache. The records stay shared with the cache: they are copied (with
/// their TTLs counted down) only when a response is made of them.
pub struct CacheHit {
    entry: Arc<Entry>,
    ttl: HitTtl,
}

/// What a hit's records' TTLs become.
#[derive(Debug, Clone, Copy)]
enum HitTtl {
    /// Counted down by the seconds spent in the cache.
    Aged(u32),
    /// Expired and served stale (RFC 8767): a short fixed TTL.
    Stale,
}

impl CacheHit {
    /// The stored reply, TTLs as received: what the answer check reads.
    pub fn stored(&self) -> &Reply {
        &self.entry.reply
    }

    /// The TTL a record stored with `ttl` is handed out with now.
    pub fn ttl(&self, ttl: u32) -> u32 {
        match self.ttl {
            HitTtl::Aged(age) => ttl.saturating_sub(age),
            HitTtl::Stale => STALE_TTL,
        }
    }

    /// Whether the answer goes out as DNSSEC-validated. A fresh answer keeps its validation
    /// state; a stale one was validated while it was fresh and its signatures may have expired
    /// since, so it goes out without the AD bit.
    pub fn secure(&self) -> bool {
        self.entry.reply.secure && matches!(self.ttl, HitTtl::Aged(_))
    }

    /// The records as bytes, when they could be encoded on their own.
    pub fn encoded(&self) -> Option<&EncodedRecords> {
        self.entry.encoded.as_ref()
    }

    /// The reply with its TTLs as handed out now.
    pub fn to_reply(&self) -> Reply {
        let count_down = |records: &[Record]| -> Vec<Record> {
            records
                .iter()
                .map(|record| {
                    let mut record = record.clone();
                    record.ttl = self.ttl(record.ttl);
                    record
                })
                .collect()
        };
        let stored = &self.entry.reply;
        Reply {
            secure: self.secure(),
            authoritative: stored.authoritative,
            ..Reply::with_records(
                stored.rcode,
                count_down(&stored.answers),
                count_down(&stored.authorities),
            )
        }
    }
}

pub struct AnswerCache {
    shards: Vec<Mutex<LruCache<u64, Arc<Entry>>>>,
    hasher: foldhash::fast::RandomState,
    /// How long past expiry an entry stays for serve-stale.
    stale_for: Duration,
}

/// A question as the cache stores it. The name is its text in the rules' form ([`QueryName`]),
/// which the pipeline has made already: a lookup hashes and compares a short byte string
/// instead of walking a `LowerName`'s labels and lowering each one. A name without that text
/// (a label holding a dot or a non-ASCII byte) is its escaped presentation form behind a 0xFF
/// byte, which no text holds.
pub struct CacheQuestion<'a> {
    name: Cow<'a, [u8]>,
    query_type: RecordType,
}

impl<'a> CacheQuestion<'a> {
    /// The question for `name`, whose text (if it has one) is `text`.
    pub fn new(name: &LowerName, text: Option<&'a QueryName>, query_type: RecordType) -> Self {
        let name = match text {
            Some(text) => Cow::Borrowed(text.as_bytes()),
            None => {
                let mut odd = vec![0xFF];
                odd.extend_from_slice(name.to_ascii().as_bytes());
                Cow::Owned(odd)
            }
        };
        Self { name, query_type }
    }
}

/// Which answers a lookup may return.
#[derive(Clone, Copy)]
enum Freshness {
    Fresh,
    /// Expired, but within the serve-stale window.
    Stale,
}

impl AnswerCache {
    /// A cache holding about `capacity` answers (0 disables it), keeping expired ones for
    /// `stale_for` in case every upstream fails.
    pub fn new(capacity: usize, stale_for: Duration) -> Self {
        let shard_count = if capacity >= 1024 { 16 } else { 1 };
        let per_shard = capacity.div_ceil(shard_count);
        let shards = match NonZeroUsize::new(per_shard) {
            Some(size) => (0..shard_count)
                .map(|_| Mutex::new(LruCache::new(size)))
                .collect(),
            None => Vec::new(),
        };
        Self {
            shards,
            hasher: foldhash::fast::RandomState::default(),
            stale_for,
        }
    }

    fn key(&self, question: &CacheQuestion<'_>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(&question.name);
        question.query_type.hash(&mut hasher);
        hasher.finish()
    }

    fn shard(&self, key: u64) -> Option<std::sync::MutexGuard<'_, LruCache<u64, Arc<Entry>>>> {
        let shard = self.shards.get(key as usize % self.shards.len().max(1))?;
        // A poisoned shard only means a panic elsewhere mid-update; the cache is still coherent.
        Some(
            shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The cached answer, TTLs to be reduced by its age, if present and not expired.
    pub fn get(&self, question: &CacheQuestion<'_>) -> Option<CacheHit> {
        self.get_at(question, Instant::now(), Freshness::Fresh)
    }

    /// An expired answer still inside the serve-stale window, every TTL to be set to 30 s.
    pub fn get_stale(&self, question: &CacheQuestion<'_>) -> Option<CacheHit> {
        self.get_at(question, Instant::now(), Freshness::Stale)
    }

    fn get_at(
        &self,
        question: &CacheQuestion<'_>,
        now: Instant,
        wanted: Freshness,
    ) -> Option<CacheHit> {
        let key = self.key(question);
        let mut shard = self.shard(key)?;
        let entry = shard.get(&key)?;
        if *entry.name != *question.name || entry.query_type != question.query_type {
            return None;
        }
        let age = now.saturating_duration_since(entry.stored);
        let lifetime = Duration::from_secs(u64::from(entry.ttl));
        if age >= lifetime + self.stale_for {
            shard.pop(&key);
            return None;
        }
        let ttl = match (wanted, age < lifetime) {
            (Freshness::Fresh, true) => HitTtl::Aged(age.as_secs() as u32),
            (Freshness::Stale, false) => HitTtl::Stale,
            _ => return None,
        };
        Some(CacheHit {
            entry: Arc::clone(entry),
            ttl,
        })
    }

    /// Keeps `reply` to `question` (whose name is `name`) for `ttl` seconds (capped at a day);
    /// a zero TTL is not cached.
    pub fn insert(&self, question: &CacheQuestion<'_>, name: &LowerName, reply: &Reply, ttl: u32) {
        if ttl == 0 {
            return;
        }
        let key = self.key(question);
        let query_type = question.query_type;
        let entry = Arc::new(Entry {
            name: question.name.as_ref().into(),
            query_type,
            reply: reply.clone(),
            encoded: EncodedRecords::encode(name, query_type, reply),
            stored: Instant::now(),
            ttl: ttl.min(MAX_TTL),
        });
        if let Some(mut shard) = self.shard(key) {
            shard.put(key, entry);
        }
    }

    /// Number of answers held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().map_or(0, |shard| shard.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData};

    impl AnswerCache {
        fn put(&self, name: &LowerName, query_type: RecordType, reply: &Reply, ttl: u32) {
            let text = QueryName::from_lower(name);
            let question = CacheQuestion::new(name, text.as_ref(), query_type);
            self.insert(&question, name, reply, ttl);
        }

        fn ask(
            &self,
            name: &LowerName,
            query_type: RecordType,
            now: Instant,
            wanted: Freshness,
        ) -> Option<CacheHit> {
            let text = QueryName::from_lower(name);
            self.get_at(
                &CacheQuestion::new(name, text.as_ref(), query_type),
                now,
                wanted,
            )
        }
    }

    fn reply(ttl: u32) -> (LowerName, Reply) {
        let name = Name::from_ascii("www.example.com.").unwrap();
        let record = Record::from_rdata(name.clone(), ttl, RData::A(A::new(192, 0, 2, 1)));
        let reply = Reply::with_records(ResponseCode::NoError, vec![record], Vec::new());
        (LowerName::from(name), reply)
    }

    #[test]
    fn ttls_count_down_and_entries_expire() {
        let cache = AnswerCache::new(100, Duration::ZERO);
        let (name, stored) = reply(300);
        cache.put(&name, RecordType::A, &stored, 300);
        let now = Instant::now();
        let fresh = Freshness::Fresh;
        let hit = cache
            .ask(&name, RecordType::A, now + Duration::from_secs(100), fresh)
            .unwrap();
        assert!(hit.encoded().is_some(), "hits are answered from bytes");
        let later = hit.to_reply();
        assert_eq!(later.answers[0].ttl, 200);
        assert!(cache.ask(&name, RecordType::AAAA, now, fresh).is_none());
        assert!(
            cache
                .ask(&name, RecordType::A, now + Duration::from_secs(301), fresh)
                .is_none()
        );
        assert!(cache.is_empty(), "an expired entry is removed when met");
    }

    #[test]
    fn expired_answers_stay_for_serve_stale_with_a_short_ttl() {
        let cache = AnswerCache::new(100, Duration::from_secs(3600));
        let (name, stored) = reply(300);
        cache.put(&name, RecordType::A, &stored, 300);
        let now = Instant::now();
        let expired = now + Duration::from_secs(400);
        assert!(
            cache
                .ask(&name, RecordType::A, now, Freshness::Stale)
                .is_none(),
            "still fresh"
        );
        assert!(
            cache
                .ask(&name, RecordType::A, expired, Freshness::Fresh)
                .is_none()
        );
        let stale = cache
            .ask(&name, RecordType::A, expired, Freshness::Stale)
            .unwrap()
            .to_reply();
        assert_eq!(stale.answers[0].ttl, STALE_TTL);
        let too_old = now + Duration::from_secs(300 + 3600);
        assert!(
            cache
                .ask(&name, RecordType::A, too_old, Freshness::Stale)
                .is_none()
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn a_secure_answer_stays_secure_while_fresh_and_not_once_stale() {
        let cache = AnswerCache::new(100, Duration::from_secs(3600));
        let (name, mut stored) = reply(300);
        stored.secure = true;
        cache.put(&name, RecordType::A, &stored, 300);
        let now = Instant::now();
        let fresh = cache
            .ask(&name, RecordType::A, now, Freshness::Fresh)
            .unwrap()
            .to_reply();
        assert!(fresh.secure);
        let stale = cache
            .ask(
                &name,
                RecordType::A,
                now + Duration::from_secs(400),
                Freshness::Stale,
            )
            .unwrap()
            .to_reply();
        assert!(!stale.secure);
        assert_eq!(
            stale.answers,
            fresh
                .answers
                .iter()
                .map(|record| {
                    let mut record = record.clone();
                    record.ttl = STALE_TTL;
                    record
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn zero_capacity_and_zero_ttl_cache_nothing() {
        let (name, stored) = reply(300);
        let disabled = AnswerCache::new(0, Duration::ZERO);
        disabled.put(&name, RecordType::A, &stored, 300);
        assert!(
            disabled
                .ask(&name, RecordType::A, Instant::now(), Freshness::Fresh)
                .is_none()
        );
        let cache = AnswerCache::new(10, Duration::ZERO);
        cache.put(&name, RecordType::A, &stored, 0);
        assert!(
            cache
                .ask(&name, RecordType::A, Instant::now(), Freshness::Fresh)
                .is_none()
        );
    }

    #[test]
    fn least_recently_used_answers_are_evicted() {
        let cache = AnswerCache::new(2, Duration::ZERO);
        let (_, stored) = reply(300);
        let names: Vec<LowerName> = ["a.example.", "b.example.", "c.example."]
            .iter()
            .map(|n| LowerName::from(Name::from_ascii(n).unwrap()))
            .collect();
        for name in &names {
            cache.put(name, RecordType::A, &stored, 300);
        }
        assert_eq!(cache.len(), 2);
        assert!(
            cache
                .ask(&names[0], RecordType::A, Instant::now(), Freshness::Fresh)
                .is_none()
        );
        assert!(
            cache
                .ask(&names[2], RecordType::A, Instant::now(), Freshness::Fresh)
                .is_some()
        );
    }

    #[test]
    fn a_name_without_text_is_kept_apart_from_the_name_it_reads_like() {
        let cache = AnswerCache::new(100, Duration::ZERO);
        let (_, stored) = reply(300);
        let dotted = LowerName::from(Name::from_labels([&b"a.b"[..], b"example"]).unwrap());
        let plain = LowerName::from(Name::from_ascii("a.b.example.").unwrap());
        assert!(QueryName::from_lower(&dotted).is_none());
        cache.put(&dotted, RecordType::A, &stored, 300);
        let now = Instant::now();
        assert!(
            cache
                .ask(&dotted, RecordType::A, now, Freshness::Fresh)
                .is_some()
        );
        assert!(
            cache
                .ask(&plain, RecordType::A, now, Freshness::Fresh)
                .is_none()
        );
        let upper = LowerName::from(Name::from_ascii("A.B.Example.").unwrap());
        cache.put(&plain, RecordType::A, &stored, 300);
        assert!(
            cache
                .ask(&upper, RecordType::A, now, Freshness::Fresh)
                .is_some()
        );
        assert_eq!(cache.len(), 2);
    }
}
