//! Protection against overload and abusive clients: a global cap on requests in flight (load
//! shedding: refuse at once with 503 rather than queue without bound) and a per-project rate
//! limit in spans per second (429 with the time to wait).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::IngestError;

/// Caps the requests being decoded, converted or published at once.
#[derive(Clone)]
pub struct InflightLimit {
    permits: Arc<Semaphore>,
}

impl InflightLimit {
    /// `max_inflight_requests` is at least 1 (the settings are validated at load).
    pub fn new(max_inflight_requests: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_inflight_requests)),
        }
    }

    /// A slot for one request, or 503 when all are taken.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, IngestError> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            IngestError::Unavailable("too many requests in flight, retry later".into())
        })
    }
}

/// Per-project token buckets of `spans_per_second` tokens, refilled at that rate (one second of
/// burst). A bucket may go into debt: when it is full, a request larger than the whole bucket is
/// admitted and its excess delays the project's later requests. Without that, a request with
/// more spans than the limit (OTel SDKs export up to 512 per request) would be refused forever.
/// Buckets live in a bounded cache, so a flood of projects cannot grow memory without bound.
#[derive(Clone)]
pub struct ProjectRateLimit {
    spans_per_second: u32,
    buckets: moka::sync::Cache<String, Arc<Mutex<Bucket>>>,
}

/// One project's bucket as the instant it is full again ("theoretical arrival time" of the
/// GCRA): the tokens at `now` are `(now + 1 s − full_at) × rate`, capped at the burst. A
/// `full_at` more than a second ahead of `now` is debt. One instant instead of a token count
/// and a refill time keeps the arithmetic exact (no float drift).
struct Bucket {
    full_at: Instant,
}

/// The burst: a full bucket holds one second of spans.
const BURST: Duration = Duration::from_secs(1);

impl ProjectRateLimit {
    /// `spans_per_second = 0` disables the limit.
    pub fn new(spans_per_second: u32) -> Self {
        Self {
            spans_per_second,
            buckets: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    /// Takes `spans` tokens from the project's bucket, or answers 429 with the wait.
    pub fn check(&self, project_id: &str, spans: u64) -> Result<(), IngestError> {
        self.check_at(project_id, spans, Instant::now())
    }

    /// [`Self::check`] at a given instant, so tests can drive the clock.
    pub fn check_at(&self, project_id: &str, spans: u64, now: Instant) -> Result<(), IngestError> {
        if self.spans_per_second == 0 || spans == 0 {
            return Ok(());
        }
        let bucket = self
            .buckets
            .get_with_by_ref(project_id, || Arc::new(Mutex::new(Bucket { full_at: now })));
        // A poisoned lock only means another request panicked mid-update; the instant inside
        // is still a valid bucket state.
        let mut bucket = bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let start = bucket.full_at.max(now);
        // A request larger than the burst needs a full bucket; any other needs its own spans.
        let needed = self.duration_of(spans.min(u64::from(self.spans_per_second)));
        let admitted_at = start + needed;
        let refill_deadline = now + BURST;
        if admitted_at <= refill_deadline {
            bucket.full_at = start + self.duration_of(spans);
            return Ok(());
        }
        let wait = admitted_at - refill_deadline;
        Err(IngestError::RateLimited {
            message: format!(
                "project rate limit of {} spans/s exceeded",
                self.spans_per_second
            ),
            retry_after_secs: ceil_secs(wait),
        })
    }

    /// How long the bucket takes to refill `spans` tokens.
    fn duration_of(&self, spans: u64) -> Duration {
        let nanos = u128::from(spans) * 1_000_000_000 / u128::from(self.spans_per_second);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Whole seconds, rounded up and at least 1: `Retry-After` is in seconds, and a client that
/// waits the advertised time must find its request admitted.
fn ceil_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(result: Result<(), IngestError>) -> u64 {
        match result {
            Err(IngestError::RateLimited {
                retry_after_secs, ..
            }) => retry_after_secs,
            other => panic!("expected 429, got {other:?}"),
        }
    }

    #[test]
    fn rate_limit_refuses_beyond_the_burst_with_a_wait() {
        let limit = ProjectRateLimit::new(100);
        assert!(limit.check("p1", 60).is_ok());
        let error = limit.check("p1", 60).unwrap_err();
        assert!(
            matches!(
                error,
                IngestError::RateLimited {
                    retry_after_secs: 1,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            limit.check("p2", 60).is_ok(),
            "projects have their own buckets"
        );
        assert!(
            ProjectRateLimit::new(0).check("p1", 1_000_000).is_ok(),
            "0 = unlimited"
        );
    }

    #[test]
    fn a_request_larger_than_the_bucket_is_admitted_and_its_debt_delays_the_next() {
        let limit = ProjectRateLimit::new(10);
        let start = Instant::now();
        assert!(
            limit.check_at("p", 50, start).is_ok(),
            "5x the limit at a full bucket is admitted"
        );
        // Debt of 40 spans (4 s) plus a full bucket for the next 50-span request (1 s).
        assert_eq!(retry_after(limit.check_at("p", 50, start)), 5);
        assert_eq!(
            retry_after(limit.check_at("p", 1, start + Duration::from_millis(500))),
            4,
            "a small request waits until the debt is paid"
        );
        assert_eq!(
            retry_after(limit.check_at("p", 50, start + Duration::from_millis(4_900))),
            1
        );
        assert!(
            limit
                .check_at("p", 50, start + Duration::from_secs(5))
                .is_ok(),
            "admitted once the advertised wait has passed"
        );
        assert_eq!(
            retry_after(limit.check_at("p", 1, start + Duration::from_secs(5))),
            5,
            "the second large request's debt delays the next one in turn"
        );
    }

    #[test]
    fn a_small_request_waits_only_for_the_debt() {
        let limit = ProjectRateLimit::new(10);
        let start = Instant::now();
        assert!(limit.check_at("p", 50, start).is_ok());
        let wait = retry_after(limit.check_at("p", 10, start));
        assert_eq!(wait, 5, "40 spans of debt + 10 spans = 5 s");
        assert!(
            limit
                .check_at("p", 10, start + Duration::from_secs(wait))
                .is_ok()
        );
        assert!(
            limit
                .check_at("p", 1, start + Duration::from_secs(wait))
                .is_err(),
            "the bucket is empty again"
        );
    }

    #[test]
    fn steady_traffic_at_the_limit_is_admitted() {
        let limit = ProjectRateLimit::new(100);
        let start = Instant::now();
        for tick in 0..1_000u64 {
            let now = start + Duration::from_millis(10 * tick);
            assert!(
                limit.check_at("p", 1, now).is_ok(),
                "1 span every 10 ms at 100/s (tick {tick})"
            );
        }
        let limit = ProjectRateLimit::new(7);
        for second in 0..20u64 {
            let now = start + Duration::from_secs(second);
            assert!(limit.check_at("p", 7, now).is_ok(), "second {second}");
        }
    }

    #[test]
    fn the_burst_is_one_second_of_spans() {
        let limit = ProjectRateLimit::new(100);
        let start = Instant::now();
        for _ in 0..10 {
            assert!(limit.check_at("p", 10, start).is_ok());
        }
        assert_eq!(retry_after(limit.check_at("p", 1, start)), 1);
        assert!(
            limit
                .check_at("p", 1, start + Duration::from_millis(10))
                .is_ok(),
            "10 ms refill one span"
        );
        // An idle bucket refills to the burst, not beyond it.
        let later = start + Duration::from_secs(60);
        assert!(limit.check_at("p", 100, later).is_ok());
        assert!(limit.check_at("p", 1, later).is_err());
        // Over the burst only at a full bucket: a partly used bucket makes a large request wait
        // until it is full again.
        let limit = ProjectRateLimit::new(100);
        assert!(limit.check_at("q", 30, start).is_ok());
        let wait = retry_after(limit.check_at("q", 500, start));
        assert_eq!(wait, 1);
        assert!(
            limit
                .check_at("q", 500, start + Duration::from_millis(300))
                .is_ok()
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(ceil_secs(Duration::ZERO), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(4)), 4);
        assert_eq!(ceil_secs(Duration::from_millis(4_001)), 5);
    }

    #[test]
    fn inflight_limit_sheds_load() {
        let limit = InflightLimit::new(1);
        let permit = limit.admit().unwrap();
        assert!(limit.admit().is_err());
        drop(permit);
        assert!(limit.admit().is_ok());
    }
}
