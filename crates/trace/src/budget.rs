//! How much a trace may spend: a time limit, a size limit (coins and
//! transfers visited: the kernels' own `visited` count summed over the
//! models, each step counting at least one) and a cancel switch another thread can flip. The kernels call
//! [`Budget::spend`] once per transaction or transfer they take from their
//! queue: an atomic add and an atomic load, plus a clock read once every
//! [`CLOCK_EVERY`] units, so an unlimited budget costs next to nothing.
//!
//! This is not a scheduler: a trace that stops returns an error and no
//! partial result (a half-followed taint would add up to nothing).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Visited units between two reads of the clock.
pub const CLOCK_EVERY: u64 = 1024;

/// The limits of one trace and its cancel switch. Shared by reference with
/// the thread that may cancel it (wrap it in an `Arc`).
#[derive(Debug)]
pub struct Budget {
    time: Option<(Instant, Duration)>,
    max_visited: Option<u64>,
    cancelled: AtomicBool,
    visited: AtomicU64,
}

/// Why a trace stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// [`Budget::cancel`] was called.
    #[error("the trace was cancelled")]
    Cancelled,
    /// It ran longer than its time budget.
    #[error("the trace ran out of its time budget of {}s", .0.as_secs_f64())]
    Time(Duration),
    /// It visited more coins and transfers than its size budget.
    #[error("the trace visited more than its size budget of {0} coins and transfers")]
    Size(u64),
}

impl Default for Budget {
    fn default() -> Self {
        Budget::unlimited()
    }
}

impl Budget {
    /// No limits, never cancelled unless [`Budget::cancel`] is called.
    pub fn unlimited() -> Budget {
        Budget::new(None, None)
    }

    /// At most `time` from now and `max_visited` coins and transfers
    /// visited (each unlimited when `None`).
    pub fn new(time: Option<Duration>, max_visited: Option<u64>) -> Budget {
        Budget {
            time: time.map(|t| (Instant::now(), t)),
            max_visited,
            cancelled: AtomicBool::new(false),
            visited: AtomicU64::new(0),
        }
    }

    /// Asks the trace to stop at its next step.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Budget::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Coins and transfers visited so far, over every model (the progress of
    /// a running trace).
    pub fn visited(&self) -> u64 {
        self.visited.load(Ordering::Relaxed)
    }

    /// Counts `units` more coins or transfers visited.
    ///
    /// # Errors
    /// [`Stopped`] when the trace was cancelled or is over either limit.
    pub fn spend(&self, units: u64) -> Result<(), Stopped> {
        let before = self.visited.fetch_add(units, Ordering::Relaxed);
        let after = before + units;
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Stopped::Cancelled);
        }
        if let Some(max) = self.max_visited.filter(|max| after > *max) {
            return Err(Stopped::Size(max));
        }
        if let Some((start, limit)) = self.time {
            if before / CLOCK_EVERY != after / CLOCK_EVERY && start.elapsed() > limit {
                return Err(Stopped::Time(limit));
            }
        }
        Ok(())
    }

    /// [`Budget::spend`] of nothing: checks the switch and the clock (before
    /// a trace starts, or between its stages).
    ///
    /// # Errors
    /// As [`Budget::spend`].
    pub fn check(&self) -> Result<(), Stopped> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Stopped::Cancelled);
        }
        match self.time {
            Some((start, limit)) if start.elapsed() > limit => Err(Stopped::Time(limit)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stop_and_unlimited_does_not() {
        let free = Budget::unlimited();
        for _ in 0..10_000 {
            free.spend(7).unwrap();
        }
        assert_eq!(free.visited(), 70_000);

        let small = Budget::new(None, Some(10));
        small.spend(10).unwrap();
        assert_eq!(small.spend(1), Err(Stopped::Size(10)));

        let cancelled = Budget::unlimited();
        cancelled.cancel();
        assert_eq!(cancelled.spend(1), Err(Stopped::Cancelled));
        assert_eq!(cancelled.check(), Err(Stopped::Cancelled));

        let late = Budget::new(Some(Duration::ZERO), None);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(late.check(), Err(Stopped::Time(Duration::ZERO)));
        assert_eq!(late.spend(CLOCK_EVERY), Err(Stopped::Time(Duration::ZERO)));
    }
}
