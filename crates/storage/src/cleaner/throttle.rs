//! `log.cleaner.io.max.bytes.per.second`: one throttler shared by every cleaner thread,
//! counting bytes read and written (Kafka's `Throttler`). Callers report bytes as they go;
//! once per check interval the observed rate is compared with the limit and the caller
//! sleeps long enough to bring it back down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the observed rate is evaluated (Kafka: 300 ms).
const CHECK_INTERVAL: Duration = Duration::from_millis(300);

#[derive(Debug)]
pub struct Throttler {
    bytes_per_second: f64,
    window: Mutex<(Instant, f64)>,
}

impl Throttler {
    /// A throttler at `bytes_per_second`; a non-finite, non-positive or `f64::MAX` rate means
    /// unlimited.
    pub fn new(bytes_per_second: f64) -> Throttler {
        Throttler {
            bytes_per_second,
            window: Mutex::new((Instant::now(), 0.0)),
        }
    }

    pub fn unlimited() -> Throttler {
        Throttler::new(f64::MAX)
    }

    fn limited(&self) -> bool {
        self.bytes_per_second.is_finite()
            && self.bytes_per_second > 0.0
            && self.bytes_per_second < f64::MAX
    }

    /// Accounts `bytes` of cleaner I/O and sleeps if the shared rate is above the limit.
    pub fn maybe_throttle(&self, bytes: u64) {
        if !self.limited() {
            return;
        }
        let sleep = {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            w.1 += bytes as f64;
            let elapsed = w.0.elapsed();
            if elapsed < CHECK_INTERVAL {
                return;
            }
            let needed = Duration::from_secs_f64(w.1 / self.bytes_per_second);
            *w = (Instant::now(), 0.0);
            needed.saturating_sub(elapsed)
        };
        // Sleep outside the lock so other threads keep accounting; the window restarted
        // when the debt was computed, so their bytes count against the next interval.
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_the_rate() {
        let t = Throttler::new(100_000.0);
        let start = Instant::now();
        // One second's worth of bytes, reported in the first check interval: the call after
        // the interval must sleep for the rest of that second.
        t.maybe_throttle(100_000);
        std::thread::sleep(CHECK_INTERVAL);
        t.maybe_throttle(0);
        assert!(
            start.elapsed() >= Duration::from_millis(950),
            "{:?}",
            start.elapsed()
        );
        let u = Throttler::unlimited();
        let start = Instant::now();
        u.maybe_throttle(u64::MAX);
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
