//! The fetcher's per-partition bookkeeping: which partitions are backing off and until
//! when, and how an assignment change affects a fetch in flight.
//!
//! Invariants: a back-off belongs to one partition (the fetcher leaves that partition out
//! of its requests while the others keep being fetched at full speed); an assignment change
//! interrupts a fetch in flight only when it brings a partition that fetch does not carry
//! (new work should not wait out a long poll), never because partitions left or a source
//! leader epoch moved, so a flapping or failing partition cannot keep cutting the
//! connection and fetch session of the partitions it shares a fetcher with.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::apply::Key;
use super::Assignment;

/// Partitions backing off after a failure.
#[derive(Default)]
pub(super) struct Backoffs {
    until: HashMap<Key, Instant>,
}

impl Backoffs {
    /// Puts `keys` on back-off for `by`.
    pub fn delay(&mut self, keys: Vec<Key>, by: Duration) {
        let until = Instant::now() + by;
        for key in keys {
            self.until.insert(key, until);
        }
    }

    /// Forgets back-offs that are over.
    pub fn expire(&mut self) {
        let now = Instant::now();
        self.until.retain(|_, until| *until > now);
    }

    pub fn is_delayed(&self, a: &Assignment) -> bool {
        // Asked for every partition every round: nothing to look up (or allocate) in the
        // usual case of no partition backing off.
        !self.until.is_empty()
            && self
                .until
                .contains_key(&(a.mirror_topic.clone(), a.partition))
    }

    /// When the first partition is due again, if any is backing off.
    pub fn next_due(&self) -> Option<Instant> {
        self.until.values().min().copied()
    }
}

/// Does `next` bring a partition (by mirror topic and partition) that `in_flight` lacks?
pub(super) fn adds_partitions(next: &[Assignment], in_flight: &[&Assignment]) -> bool {
    // Linear in the partitions (a set, not a scan per partition): this runs on every
    // assignment change while a fetch of thousands of partitions is out.
    let flying: HashSet<(&str, i32)> = in_flight
        .iter()
        .map(|a| (a.mirror_topic.as_str(), a.partition))
        .collect();
    next.iter()
        .any(|n| !flying.contains(&(n.mirror_topic.as_str(), n.partition)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(topic: &str, partition: i32, epoch: i32) -> Assignment {
        Assignment {
            mirror_topic: topic.into(),
            source_topic: topic.into(),
            partition,
            leader_epoch: epoch,
        }
    }

    #[test]
    fn only_new_partitions_interrupt_a_fetch() {
        let flight = [a("t", 0, 1), a("t", 1, 1)];
        let refs: Vec<&Assignment> = flight.iter().collect();
        // A partition leaving, or a leader epoch moving, waits for the next round.
        assert!(!adds_partitions(&[a("t", 0, 1)], &refs));
        assert!(!adds_partitions(&[a("t", 0, 7), a("t", 1, 1)], &refs));
        assert!(adds_partitions(&[a("t", 0, 1), a("u", 0, 1)], &refs));
    }

    #[test]
    fn backoff_is_per_partition() {
        let mut b = Backoffs::default();
        b.delay(vec![("t".into(), 1)], Duration::from_secs(60));
        assert!(b.is_delayed(&a("t", 1, 0)));
        assert!(!b.is_delayed(&a("t", 0, 0)));
        b.expire();
        assert!(b.is_delayed(&a("t", 1, 0)));
        b.delay(vec![("t".into(), 1)], Duration::ZERO);
        b.expire();
        assert!(!b.is_delayed(&a("t", 1, 0)));
        assert!(b.next_due().is_none());
    }
}
