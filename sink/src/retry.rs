//! Retry as a policy, not a loop per caller (Vector's `RetryLogic`): whether an error is worth
//! retrying is a property of the error (`StoreError::is_permanent`); how long to
//! keep trying is a [`RetryUntil`]; the pauses double up to a ceiling.

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

/// Doubling pauses from [`FIRST_BACKOFF`] up to `max` (validated ≥ [`FIRST_BACKOFF`] at load).
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self {
            next: FIRST_BACKOFF,
            max,
        }
    }

    /// The pause the next retry will wait (for logs).
    pub fn next_pause(&self) -> Duration {
        self.next
    }

    /// Waits the next pause. False when retrying should end instead: no retries at all, past
    /// the deadline, or shutdown requested (the shutdown path then retries under its deadline).
    pub async fn pause(&mut self, until: &RetryUntil) -> bool {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
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

    #[tokio::test]
    async fn pauses_double_up_to_the_ceiling() {
        let mut backoff = Backoff::new(Duration::from_millis(300));
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(backoff.next_pause().as_millis());
            backoff.next = (backoff.next * 2).min(backoff.max);
        }
        assert_eq!(seen, [100, 200, 300, 300]);
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
