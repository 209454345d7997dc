//! The fetcher's side of an incremental fetch session (KIP-227): what the source holds for
//! each partition, and which partitions the next request must carry.
//!
//! Invariants: [`Session::plan`] lists a partition only when its request data differs from
//! what the session holds (new, moved offset, new epoch, new size limit) and forgets only
//! partitions the session holds that are no longer wanted, so a round in which nothing
//! changed sends an empty request; the cost of planning such a round is one map lookup per
//! wanted partition and no allocation (the forgotten set is only computed when the counts
//! say something left). [`Session::commit`] is called only once the source accepted the
//! request, so a failed request leaves the session as the source still has it.

use std::collections::{HashMap, HashSet};

use strait_client::fetch::FetchPartitionSpec;

/// Request data the fetcher wants for one partition this round, borrowed from its
/// assignment (no allocation unless it has to be sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Want<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub partition_max_bytes: i32,
}

impl Want<'_> {
    fn matches(&self, s: &FetchPartitionSpec) -> bool {
        s.fetch_offset == self.fetch_offset
            && s.current_leader_epoch == self.current_leader_epoch
            && s.last_fetched_epoch == self.last_fetched_epoch
            && s.partition_max_bytes == self.partition_max_bytes
    }

    pub fn to_spec(self) -> FetchPartitionSpec {
        let mut spec = FetchPartitionSpec::new(self.topic, self.partition, self.fetch_offset);
        spec.current_leader_epoch = self.current_leader_epoch;
        spec.last_fetched_epoch = self.last_fetched_epoch;
        spec.partition_max_bytes = self.partition_max_bytes;
        spec
    }
}

/// Partitions to drop from the session: `(source topic, [partition])`, sorted.
pub(super) type Forgotten = Vec<(String, Vec<i32>)>;

/// An open incremental fetch session.
pub(super) struct Session {
    pub id: i32,
    /// Epoch of the next request.
    pub epoch: i32,
    /// What the session holds: the last request data sent, by source topic and partition.
    sent: HashMap<String, HashMap<i32, FetchPartitionSpec>>,
    len: usize,
}

impl Session {
    /// A session the source just created from a full request carrying `specs`.
    pub fn new(id: i32, specs: Vec<FetchPartitionSpec>) -> Self {
        let mut s = Session {
            id,
            epoch: 1,
            sent: HashMap::new(),
            len: 0,
        };
        s.commit(specs, &[]);
        s
    }

    /// Partitions the session holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    fn get(&self, topic: &str, partition: i32) -> Option<&FetchPartitionSpec> {
        self.sent.get(topic).and_then(|m| m.get(&partition))
    }

    /// The incremental request for `wanted` (distinct partitions): the specs that differ
    /// from what the session holds, and the held partitions no longer wanted.
    pub fn plan(&self, wanted: &[Want<'_>]) -> (Vec<FetchPartitionSpec>, Forgotten) {
        let mut changed = Vec::new();
        let mut held = 0usize;
        for w in wanted {
            match self.get(w.topic, w.partition) {
                Some(s) => {
                    held += 1;
                    if !w.matches(s) {
                        changed.push(w.to_spec());
                    }
                }
                None => changed.push(w.to_spec()),
            }
        }
        if held == self.len {
            // Every partition the session holds is still wanted.
            return (changed, Vec::new());
        }
        let keep: HashSet<(&str, i32)> = wanted.iter().map(|w| (w.topic, w.partition)).collect();
        let mut forgotten: Forgotten = Vec::new();
        for (topic, parts) in &self.sent {
            let mut gone: Vec<i32> = parts
                .keys()
                .filter(|p| !keep.contains(&(topic.as_str(), **p)))
                .copied()
                .collect();
            if !gone.is_empty() {
                gone.sort_unstable();
                forgotten.push((topic.clone(), gone));
            }
        }
        forgotten.sort();
        (changed, forgotten)
    }

    /// Records that the source accepted a request carrying `changed` and `forgotten`.
    pub fn commit(&mut self, changed: Vec<FetchPartitionSpec>, forgotten: &[(String, Vec<i32>)]) {
        for (topic, parts) in forgotten {
            if let Some(m) = self.sent.get_mut(topic) {
                for p in parts {
                    if m.remove(p).is_some() {
                        self.len -= 1;
                    }
                }
                if m.is_empty() {
                    self.sent.remove(topic);
                }
            }
        }
        for spec in changed {
            let m = self.sent.entry(spec.topic.clone()).or_default();
            if m.insert(spec.partition, spec).is_none() {
                self.len += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(topic: &str, partition: i32, offset: i64) -> Want<'_> {
        Want {
            topic,
            partition,
            fetch_offset: offset,
            current_leader_epoch: 0,
            last_fetched_epoch: -1,
            partition_max_bytes: 1 << 20,
        }
    }

    fn session_of(wanted: &[Want<'_>]) -> Session {
        Session::new(1, wanted.iter().map(|w| w.to_spec()).collect())
    }

    #[test]
    fn an_idle_session_sends_no_partitions() {
        let names: Vec<String> = (0..100).map(|t| format!("t{t}")).collect();
        let wanted: Vec<Want<'_>> = names
            .iter()
            .flat_map(|t| (0..100).map(move |p| want(t, p, 7)))
            .collect();
        let s = session_of(&wanted);
        assert_eq!(s.len(), 10_000);
        let (changed, forgotten) = s.plan(&wanted);
        assert!(changed.is_empty());
        assert!(forgotten.is_empty());
    }

    #[test]
    fn only_moved_new_and_gone_partitions_are_sent() {
        let s = session_of(&[want("a", 0, 5), want("a", 1, 5), want("b", 0, 5)]);
        // a-1 moved, b-0 left, c-0 is new.
        let (changed, forgotten) = s.plan(&[want("a", 0, 5), want("a", 1, 9), want("c", 0, 0)]);
        let sent: Vec<(String, i32, i64)> = changed
            .iter()
            .map(|c| (c.topic.clone(), c.partition, c.fetch_offset))
            .collect();
        assert_eq!(sent, vec![("a".into(), 1, 9), ("c".into(), 0, 0)]);
        assert_eq!(forgotten, vec![("b".to_string(), vec![0])]);
    }

    #[test]
    fn commit_makes_the_next_identical_round_empty() {
        let mut s = session_of(&[want("a", 0, 5), want("b", 0, 5)]);
        let next = [want("a", 0, 8)];
        let (changed, forgotten) = s.plan(&next);
        s.commit(changed, &forgotten);
        assert_eq!(s.len(), 1);
        let (changed, forgotten) = s.plan(&next);
        assert!(changed.is_empty() && forgotten.is_empty());
        // A changed size limit (an alter of replica.fetch.max.bytes) is request data too.
        let bigger = [Want {
            partition_max_bytes: 2 << 20,
            ..next[0]
        }];
        assert_eq!(s.plan(&bigger).0.len(), 1);
    }
}
