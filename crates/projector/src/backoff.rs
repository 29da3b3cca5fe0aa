//! Waiting between retries while NATS or PostgreSQL is away, without delaying a shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// 100 ms, doubling up to 2 s; back to 100 ms once a fetch succeeds.
pub(crate) struct Backoff {
    next: Duration,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }

    pub(crate) fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// Sleeps, unless `shutdown` comes first; true when it did.
pub(crate) async fn sleep_or_stop(shutdown: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_two_seconds_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..7).map(|_| backoff.next()).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[6], Duration::from_secs(2));
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(100));
    }
}
