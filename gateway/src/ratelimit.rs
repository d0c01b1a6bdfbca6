//! Request rate limits per client address: a token bucket each, refilled at a steady rate
//! up to a burst. A client over its rate gets `429 request.too_many` at once, before any
//! work is done for it, so one misbehaving system cannot take the hub from the others.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept at most; past it, the fullest (idlest) ones are forgotten, which only ever
/// errs towards letting a request through.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by client address.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` at once; a rate of 0 admits everything.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(per_second).max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may start a request now (and takes a token if so).
    pub fn admit(&self, client: IpAddr) -> bool {
        self.admit_at(client, Instant::now())
    }

    fn admit_at(&self, client: IpAddr, now: Instant) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&client) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < burst
            });
            if buckets.len() >= MAX_TRACKED {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
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

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_clients_are_separate() {
        let limiter = RateLimiter::new(10, 20);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let t0 = Instant::now();
        assert_eq!((0..30).filter(|_| limiter.admit_at(a, t0)).count(), 20);
        assert!(limiter.admit_at(b, t0), "another client has its own bucket");
        // Half a second refills five.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..30).filter(|_| limiter.admit_at(a, t1)).count(), 5);
        // Never more than the burst, however long the pause.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| limiter.admit_at(a, t2)).count(), 20);
    }

    #[test]
    fn a_zero_rate_admits_everything() {
        let limiter = RateLimiter::new(0, 0);
        let a = IpAddr::from([10, 0, 0, 1]);
        assert!((0..10_000).all(|_| limiter.admit(a)));
    }
}
