//! Retrying passing source faults with exponential backoff.

use std::future::Future;
use std::time::Duration;

use crate::traits::SourceError;

/// How often and how patiently to retry a retryable source fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; `None` retries forever (following the tip).
    pub attempts: Option<u32>,
    /// Delay before the first retry; doubled after each.
    pub initial_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: Some(6), initial_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails with a fault that is not
    /// retryable, or runs out of attempts; logs each retry.
    ///
    /// # Errors
    /// The last error of `op`.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut op: F) -> Result<T, E>
    where
        E: SourceError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delay = self.initial_delay;
        let mut attempt = 1u32;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(err) if err.is_retryable() && self.attempts.is_none_or(|max| attempt < max) => {
                    tracing::warn!(attempt, what, error = %err, "retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.max_delay);
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}
