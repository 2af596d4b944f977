//! Admission: who may ask at all. Clients outside `dns.allowed_clients` are refused so hush is
//! never an open resolver; with `dns.rate_limit` set, each client IP has a token bucket.
//!
//! Over-limit queries get REFUSED rather than silence: a well-behaved stub resolver stops and
//! reports the error instead of retrying into the limit, and a REFUSED answer is no larger than
//! the query, so it gives a spoofed flood nothing to amplify.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use ipnet::IpNet;

use super::outcome::RefusalReason;
use crate::config::ClientNet;

/// Buckets kept per shard before idle ones are swept, bounding memory under a spoofed flood.
const MAX_BUCKETS_PER_SHARD: usize = 4096;
const SHARDS: usize = 16;

pub struct Admission {
    allowed: Vec<IpNet>,
    limiter: Option<RateLimiter>,
}

impl Admission {
    pub fn new(allowed: &[ClientNet], rate_limit: u32) -> Self {
        Self {
            allowed: allowed.iter().map(|net| net.0).collect(),
            limiter: (rate_limit > 0).then(|| RateLimiter::new(rate_limit)),
        }
    }

    pub fn admit(&self, client: IpAddr) -> Result<(), RefusalReason> {
        let client = client.to_canonical();
        if !self.allowed.iter().any(|net| net.contains(&client)) {
            return Err(RefusalReason::ClientNotAllowed);
        }
        match &self.limiter {
            Some(limiter) if !limiter.allow(client, Instant::now()) => {
                Err(RefusalReason::RateLimited)
            }
            _ => Ok(()),
        }
    }
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// A token bucket per client IP: `rate` queries per second with bursts of one second's worth.
struct RateLimiter {
    rate: f64,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

impl RateLimiter {
    fn new(rate: u32) -> Self {
        Self {
            rate: f64::from(rate),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let shard = match client {
            IpAddr::V4(ip) => usize::from(ip.octets()[3]),
            IpAddr::V6(ip) => usize::from(ip.octets()[15]),
        } % SHARDS;
        // A poisoned shard only means another query panicked mid-update; the counts stay usable.
        let mut buckets = self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_BUCKETS_PER_SHARD && !buckets.contains_key(&client) {
            let rate = self.rate;
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.refilled).as_secs_f64() * rate < rate
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.rate,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.rate);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn net(text: &str) -> ClientNet {
        text.parse().unwrap()
    }

    #[test]
    fn only_listed_networks_are_admitted() {
        let admission = Admission::new(&[net("192.168.0.0/16"), net("::1")], 0);
        assert_eq!(admission.admit("192.168.4.2".parse().unwrap()), Ok(()));
        assert_eq!(admission.admit("::1".parse().unwrap()), Ok(()));
        // IPv4 clients arriving on a dual-stack socket look like ::ffff:a.b.c.d.
        assert_eq!(
            admission.admit("::ffff:192.168.4.2".parse().unwrap()),
            Ok(())
        );
        assert_eq!(
            admission.admit("8.8.8.8".parse().unwrap()),
            Err(RefusalReason::ClientNotAllowed)
        );
    }

    #[test]
    fn the_bucket_refills_with_time() {
        let limiter = RateLimiter::new(5);
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let start = Instant::now();
        let allowed = (0..20).filter(|_| limiter.allow(client, start)).count();
        assert_eq!(allowed, 5);
        assert!(
            limiter.allow(other, start),
            "another client keeps its own bucket"
        );
        assert!(!limiter.allow(client, start + Duration::from_millis(100)));
        assert!(limiter.allow(client, start + Duration::from_millis(400)));
    }
}
