//! `acks=all` on the leader: admission before the append and the delayed produces
//! waiting for the high watermark (Kafka's `DelayedProduce` purgatory, per partition).
//!
//! Invariant: a waiter completes exactly once — successfully only when the high watermark
//! has reached its offset and the maximal ISR has at least `min.insync.replicas` members;
//! with NOT_ENOUGH_REPLICAS_AFTER_APPEND when the high watermark reached it with fewer;
//! with NOT_LEADER_OR_FOLLOWER when leadership is lost; or never (cancelled by the
//! caller's REQUEST_TIMED_OUT timer).

use strait_protocol::ErrorCode;

/// `acks=all` refused before the append (NOT_ENOUGH_REPLICAS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotEnoughReplicas {
    pub isr_size: usize,
    pub min_insync_replicas: usize,
}

impl NotEnoughReplicas {
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::NotEnoughReplicas
    }
}

impl std::fmt::Display for NotEnoughReplicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the in-sync replica set has {} members, below min.insync.replicas={}",
            self.isr_size, self.min_insync_replicas
        )
    }
}

/// A delayed `acks=all` produce: done when the high watermark reaches `required_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiter {
    id: u64,
    required_offset: i64,
}

/// The partition's parked `acks=all` produces.
#[derive(Debug, Clone, Default)]
pub(super) struct DelayedProduces {
    waiters: Vec<Waiter>,
}

impl DelayedProduces {
    pub(super) fn register(&mut self, id: u64, required_offset: i64) {
        self.waiters.push(Waiter {
            id,
            required_offset,
        });
    }

    pub(super) fn cancel(&mut self, id: u64) -> bool {
        let before = self.waiters.len();
        self.waiters.retain(|w| w.id != id);
        before != self.waiters.len()
    }

    /// Removes and returns the waiters at or below `high_watermark`.
    pub(super) fn complete(
        &mut self,
        high_watermark: i64,
        maximal_isr_size: usize,
        min_insync_replicas: usize,
    ) -> Vec<(u64, Result<(), ErrorCode>)> {
        let result = if maximal_isr_size >= min_insync_replicas {
            Ok(())
        } else {
            Err(ErrorCode::NotEnoughReplicasAfterAppend)
        };
        let mut done = Vec::new();
        self.waiters.retain(|w| {
            if w.required_offset > high_watermark {
                return true;
            }
            done.push((w.id, result));
            false
        });
        done
    }

    pub(super) fn fail_all(&mut self) -> Vec<(u64, ErrorCode)> {
        self.waiters
            .drain(..)
            .map(|w| (w.id, ErrorCode::NotLeaderOrFollower))
            .collect()
    }
}
