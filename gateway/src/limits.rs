//! Protection against overload and abusive clients: a global cap on requests in flight (load
//! shedding: refuse at once with 503 rather than queue without bound) and a per-project rate
//! limit in spans per second (429 with the time to wait).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::IngestError;

/// Caps the requests being decoded, converted or published at once.
#[derive(Clone)]
pub struct InflightLimit {
    permits: Arc<Semaphore>,
}

impl InflightLimit {
    pub fn new(max_inflight_requests: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_inflight_requests.max(1))),
        }
    }

    /// A slot for one request, or 503 when all are taken.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, IngestError> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            IngestError::Unavailable("too many requests in flight, retry later".into())
        })
    }
}

/// Per-project token buckets of `spans_per_second`, one second of burst. Buckets live in a
/// bounded cache, so a flood of projects cannot grow memory without bound.
#[derive(Clone)]
pub struct ProjectRateLimit {
    quota: Option<Quota>,
    spans_per_second: u32,
    buckets: moka::sync::Cache<String, Arc<DefaultDirectRateLimiter>>,
}

impl ProjectRateLimit {
    /// `spans_per_second = 0` disables the limit.
    pub fn new(spans_per_second: u32) -> Self {
        Self {
            quota: NonZeroU32::new(spans_per_second).map(Quota::per_second),
            spans_per_second,
            buckets: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    /// Takes `spans` tokens from the project's bucket, or answers 429 with the wait.
    pub fn check(&self, project_id: &str, spans: u64) -> Result<(), IngestError> {
        let (Some(quota), Some(spans)) = (
            self.quota,
            NonZeroU32::new(spans.min(u64::from(u32::MAX)) as u32),
        ) else {
            return Ok(());
        };
        let bucket = self
            .buckets
            .get_with_by_ref(project_id, || Arc::new(RateLimiter::direct(quota)));
        match bucket.check_n(spans) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                Err(IngestError::RateLimited {
                    message: format!(
                        "project rate limit of {} spans/s exceeded",
                        self.spans_per_second
                    ),
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                })
            }
            Err(_) => Err(IngestError::RateLimited {
                message: format!(
                    "request has {spans} spans, more than the project rate limit of {} spans/s allows at once; send smaller batches",
                    self.spans_per_second
                ),
                retry_after_secs: 1,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn inflight_limit_sheds_load() {
        let limit = InflightLimit::new(1);
        let permit = limit.admit().unwrap();
        assert!(limit.admit().is_err());
        drop(permit);
        assert!(limit.admit().is_ok());
    }
}
