//! Retry as a policy, not a loop per caller (Vector's `RetryLogic`): whether an error is worth
//! retrying is a property of the error (`StoreError::is_permanent`); how long to
//! keep trying is a [`RetryUntil`]; the pauses grow at random up to a ceiling (jitter, so that
//! sinks that failed together do not retry together).

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Pause before the first retry.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// How long a transient failure is retried.
#[derive(Clone)]
pub enum RetryUntil {
    /// Not at all: the caller answers its clients at once and they retry (embedded mode, where
    /// a waiting client would only hit its request timeout).
    Never,
    /// Until shutdown is requested (the Kafka sink: nothing is committed meanwhile).
    Stopped(watch::Receiver<bool>),
    /// Until a point in time (the final write on shutdown).
    Deadline(Instant),
}

/// Pauses with "decorrelated jitter" (AWS Architecture Blog, "Exponential Backoff And
/// Jitter", Marc Brooker): the first is [`FIRST_BACKOFF`], each next one is drawn uniformly
/// from [`FIRST_BACKOFF`, 3 × the previous one], capped at `max` (validated ≥
/// [`FIRST_BACKOFF`] at load). Unlike plain doubling, sinks that hit the same outage spread
/// their retries instead of hammering the store in step; unlike "full jitter" a pause is never
/// shorter than [`FIRST_BACKOFF`].
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self {
            next: FIRST_BACKOFF.min(max),
            max,
        }
    }

    /// The pause after one of `previous`: uniform in [FIRST_BACKOFF, 3 × previous], at most `max`.
    fn after(&self, previous: Duration) -> Duration {
        use rand::Rng;
        let low = FIRST_BACKOFF.as_micros() as u64;
        let high = (previous.as_micros() as u64).saturating_mul(3).max(low);
        let drawn = rand::rng().random_range(low..=high);
        Duration::from_micros(drawn).min(self.max)
    }

    /// The pause the next retry will wait (for logs).
    pub fn next_pause(&self) -> Duration {
        self.next
    }

    /// Waits the next pause. False when retrying should end instead: no retries at all, past
    /// the deadline, or shutdown requested (the shutdown path then retries under its deadline).
    pub async fn pause(&mut self, until: &RetryUntil) -> bool {
        let wait = self.next;
        self.next = self.after(wait);
        match until {
            RetryUntil::Never => false,
            RetryUntil::Deadline(deadline) => {
                if Instant::now() + wait > *deadline {
                    return false;
                }
                tokio::time::sleep(wait).await;
                true
            }
            RetryUntil::Stopped(stop) => {
                let mut stop = stop.clone();
                tokio::select! {
                    () = stopped(&mut stop) => false,
                    () = tokio::time::sleep(wait) => true,
                }
            }
        }
    }
}

/// Retries `attempt` until it succeeds; false when `until` ends the retrying first.
pub async fn retry<F, Fut, E>(what: &str, max: Duration, until: &RetryUntil, attempt: F) -> bool
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut backoff = Backoff::new(max);
    loop {
        match attempt().await {
            Ok(()) => return true,
            Err(error) => tracing::warn!(%error, "{what} failed; retrying"),
        }
        if !backoff.pause(until).await {
            return false;
        }
    }
}

/// Completes once shutdown was requested (at once if it already was; never if the sender is
/// gone without a stop).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_jittered_within_the_first_pause_and_the_ceiling() {
        let max = Duration::from_millis(2_000);
        let mut pauses = Vec::new();
        for _ in 0..20 {
            let mut backoff = Backoff::new(max);
            for _ in 0..30 {
                let pause = backoff.next_pause();
                pauses.push(pause);
                backoff.next = backoff.after(pause);
            }
        }
        assert!(
            pauses.iter().all(|p| (FIRST_BACKOFF..=max).contains(p)),
            "{pauses:?}"
        );
        let distinct: std::collections::BTreeSet<Duration> = pauses.iter().copied().collect();
        assert!(
            distinct.len() > 100,
            "jittered, not all equal: {distinct:?}"
        );
        // They grow towards the ceiling: the later pauses of a run are mostly long ones.
        let late: Vec<&Duration> = pauses.chunks(30).flat_map(|run| &run[20..]).collect();
        let long = late.iter().filter(|p| ***p >= max / 4).count();
        assert!(long * 2 > late.len(), "{late:?}");
        // Equal to the ceiling when the ceiling is the first pause (the smallest allowed).
        let mut tight = Backoff::new(FIRST_BACKOFF);
        for _ in 0..10 {
            assert_eq!(tight.next_pause(), FIRST_BACKOFF);
            tight.next = tight.after(tight.next);
        }
    }

    #[tokio::test]
    async fn never_and_past_deadlines_end_the_retrying_at_once() {
        let mut backoff = Backoff::new(Duration::from_secs(1));
        assert!(!backoff.pause(&RetryUntil::Never).await);
        assert!(!backoff.pause(&RetryUntil::Deadline(Instant::now())).await);
        let (stop_tx, stop) = watch::channel(true);
        assert!(!backoff.pause(&RetryUntil::Stopped(stop)).await);
        drop(stop_tx);
    }

    #[tokio::test]
    async fn retry_runs_until_the_attempt_succeeds() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let until = RetryUntil::Deadline(Instant::now() + Duration::from_secs(5));
        let done = retry("test", Duration::from_millis(100), &until, || {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { if n < 2 { Err("not yet") } else { Ok(()) } }
        })
        .await;
        assert!(done);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
