//! The follower's truncation decision after a leader change (Kafka's
//! `AbstractFetcherThread.getOffsetTruncationState`).
//!
//! The follower asks the leader OffsetForLeaderEpoch for its latest epoch E; the leader
//! answers the largest epoch E' ≤ E it knows and where E' ended on it. Then:
//! * the follower knows E' too: truncate to min(leader's end of E', own end of E', own
//!   log end offset) — done;
//! * it does not (its floor of E' is an older epoch F): truncate to min(own end of F, own
//!   log end offset) and ask again with its new latest epoch;
//! * it has no epoch at or below E': truncate to min(leader's end, own log end) — done;
//! * UNDEFINED_EPOCH_OFFSET (`-1`, the leader knows no epoch ≤ E): truncate to the
//!   follower's high watermark, Kafka's conservative fallback — done;
//! * the leader has no epoch but an offset (pre-0.11 answers): min(that, own log end).
//!
//! The epoch step is `strait_link::failback::epoch_step`, the same computation the link's
//! failback walk uses (one owner); this module adds the follower's policy for the cases
//! where the two differ (undefined answers, no floor epoch).

use strait_link::failback::{epoch_step, EpochStep};

/// The leader's OffsetForLeaderEpoch answer for one partition (no error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub leader_epoch: i32,
    pub end_offset: i64,
}

/// What the follower does with one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// Truncate the log to `offset` and start fetching there.
    Complete { offset: i64 },
    /// Truncate to `offset`, then ask again for `next_epoch` (the latest epoch left).
    AskAgain { offset: i64, next_epoch: i32 },
}

/// The follower's log for the decision: its epoch cache `(epoch, start offset)`
/// ascending, log end offset and high watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerLog {
    pub epochs: Vec<(i32, i64)>,
    pub log_end_offset: i64,
    pub high_watermark: i64,
}

impl FollowerLog {
    /// The epoch to ask the leader about (`None`: no epochs, fetch from the high
    /// watermark without a truncation round trip).
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|e| e.0)
    }

    /// The decision for `answer`.
    pub fn truncation(&self, answer: EpochEndOffset) -> Truncation {
        let leo = self.log_end_offset;
        if answer.end_offset < 0 {
            return Truncation::Complete {
                offset: self.high_watermark.min(leo),
            };
        }
        if answer.leader_epoch < 0 {
            return Truncation::Complete {
                offset: answer.end_offset.min(leo),
            };
        }
        match epoch_step(&self.epochs, leo, answer.leader_epoch, answer.end_offset) {
            EpochStep::Done(offset) => Truncation::Complete { offset },
            EpochStep::NoFloor => Truncation::Complete {
                offset: answer.end_offset.min(leo),
            },
            EpochStep::Continue(offset) => {
                let next = self.epochs.iter().rev().find(|e| e.1 < offset).map(|e| e.0);
                match next {
                    Some(next_epoch) => Truncation::AskAgain { offset, next_epoch },
                    None => Truncation::Complete { offset },
                }
            }
        }
    }

    /// Applies a truncation to this model (the log and epoch cache lose `offset..`).
    pub fn truncate_to(&mut self, offset: i64) {
        self.log_end_offset = self.log_end_offset.min(offset);
        self.high_watermark = self.high_watermark.min(self.log_end_offset);
        let end = self.log_end_offset;
        self.epochs.retain(|e| e.1 < end);
    }

    /// The whole walk against `ask` (the leader's answer for an epoch); returns the final
    /// truncation offset. Each `AskAgain` drops at least the latest epoch (the floor of the
    /// answered epoch is older than it), so the walk ends within `epochs.len()` steps.
    pub fn walk(&mut self, mut ask: impl FnMut(i32) -> EpochEndOffset) -> i64 {
        let Some(mut epoch) = self.latest_epoch() else {
            return self.high_watermark.min(self.log_end_offset);
        };
        loop {
            match self.truncation(ask(epoch)) {
                Truncation::Complete { offset } => {
                    self.truncate_to(offset);
                    return self.log_end_offset;
                }
                Truncation::AskAgain { offset, next_epoch } => {
                    self.truncate_to(offset);
                    epoch = next_epoch;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_link::failback::end_offset_for;

    fn leader(epochs: &'static [(i32, i64)], end: i64) -> impl FnMut(i32) -> EpochEndOffset {
        move |e| {
            let (leader_epoch, end_offset) = end_offset_for(epochs, e, end);
            EpochEndOffset {
                leader_epoch,
                end_offset,
            }
        }
    }

    fn log(epochs: &[(i32, i64)], leo: i64, hw: i64) -> FollowerLog {
        FollowerLog {
            epochs: epochs.to_vec(),
            log_end_offset: leo,
            high_watermark: hw,
        }
    }

    #[test]
    fn same_epoch_truncates_to_the_shorter_end() {
        // Follower wrote epoch 1 up to 30 as old leader; the new leader has epoch 1 ending
        // at 25 and epoch 2 from 25.
        let mut f = log(&[(0, 0), (1, 10)], 30, 20);
        assert_eq!(f.walk(leader(&[(0, 0), (1, 10), (2, 25)], 40)), 25);
        assert_eq!(f.epochs, vec![(0, 0), (1, 10)]);
        // A follower behind the leader truncates nothing.
        let mut f = log(&[(0, 0), (1, 10)], 18, 12);
        assert_eq!(f.walk(leader(&[(0, 0), (1, 10), (2, 25)], 40)), 18);
    }

    #[test]
    fn unknown_leader_epoch_steps_back() {
        // Follower has 0@0, 3@20 (to 35); leader has 0@0, 2@15, 4@30. Asking with 3 the
        // leader answers (2, 30); the follower's floor of 2 is 0, ending at 20 here: truncate
        // to 20, ask with 0: the leader answers (0, 15) -> 15.
        let mut f = log(&[(0, 0), (3, 20)], 35, 10);
        let first = f.truncation(EpochEndOffset {
            leader_epoch: 2,
            end_offset: 30,
        });
        assert_eq!(
            first,
            Truncation::AskAgain {
                offset: 20,
                next_epoch: 0
            }
        );
        assert_eq!(f.walk(leader(&[(0, 0), (2, 15), (4, 30)], 50)), 15);
    }

    #[test]
    fn undefined_answers() {
        let f = log(&[(5, 0)], 30, 12);
        // UNDEFINED_EPOCH_OFFSET: back to the high watermark.
        assert_eq!(
            f.truncation(EpochEndOffset {
                leader_epoch: -1,
                end_offset: -1
            }),
            Truncation::Complete { offset: 12 }
        );
        // An offset without an epoch: min(it, log end).
        assert_eq!(
            f.truncation(EpochEndOffset {
                leader_epoch: -1,
                end_offset: 20
            }),
            Truncation::Complete { offset: 20 }
        );
        // The leader's epoch is below all of ours: its end offset bounds the log.
        assert_eq!(
            f.truncation(EpochEndOffset {
                leader_epoch: 2,
                end_offset: 7
            }),
            Truncation::Complete { offset: 0 }
        );
        // No epochs at all: start from the high watermark.
        let mut empty = log(&[], 9, 4);
        assert_eq!(empty.walk(leader(&[(0, 0)], 50)), 4);
    }
}
