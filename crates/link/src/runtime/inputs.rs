//! When the link loop may skip a reconcile pass: [`ReconcileInputs`] reduces everything a
//! pass reads to a comparable value, and [`needs_reconcile`] runs a pass only when that value
//! differs from the last pass that settled everything (or a fetcher ended). An idle link
//! then costs one look at its mirror topics every 250 ms, not a walk over every partition.

use std::collections::HashSet;

use crate::local::MirrorTopic;
use crate::shared::{lock, LinkShared};

/// Everything a reconcile pass reads, reduced to what can be compared cheaply: the source
/// metadata (by refresh generation), this link's mirror topics (name, partition count,
/// state, source topic and id), the topics being positioned and the fetcher count. Two
/// equal values mean a pass would compute the same assignments and change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReconcileInputs {
    metadata_generation: u64,
    mirrors: u64,
    positioning: u64,
    fetchers: usize,
}

impl ReconcileInputs {
    pub(super) fn of(shared: &LinkShared, metadata_generation: u64, fetchers: usize) -> Self {
        let positioning = lock(&shared.positioning).clone();
        Self::from_parts(
            &shared.mirrors(),
            &positioning,
            metadata_generation,
            fetchers,
        )
    }

    fn from_parts(
        mirrors: &[MirrorTopic],
        positioning: &HashSet<String>,
        metadata_generation: u64,
        fetchers: usize,
    ) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for m in mirrors {
            (
                &m.topic,
                m.partitions,
                m.mirror.state,
                &m.mirror.source_topic,
                &m.mirror.source_topic_id,
            )
                .hash(&mut h);
        }
        let mirrors = h.finish();
        let mut positioning: Vec<&String> = positioning.iter().collect();
        positioning.sort_unstable();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        positioning.hash(&mut h);
        ReconcileInputs {
            metadata_generation,
            mirrors,
            positioning: h.finish(),
            fetchers,
        }
    }
}

/// Must this pass reconcile? Only when its inputs differ from those of the last pass that
/// settled everything, or a fetcher ended (it is restarted by the pass).
pub(super) fn needs_reconcile(
    settled: Option<&ReconcileInputs>,
    now: &ReconcileInputs,
    fetchers_alive: bool,
) -> bool {
    !fetchers_alive || settled != Some(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::MirrorInfo;
    use crate::state::MirrorState;

    fn mirror(topic: &str, partitions: i32, state: MirrorState) -> MirrorTopic {
        MirrorTopic {
            topic: topic.into(),
            partitions,
            mirror: MirrorInfo {
                link_name: "l".into(),
                source_topic: topic.into(),
                source_topic_id: None,
                state,
                reason: None,
                reason_message: None,
                state_time_ms: 0,
                aborted_transactions: None,
            },
        }
    }

    #[test]
    fn an_unchanged_pass_does_no_reconcile_work() {
        let mirrors: Vec<_> = (0..100)
            .map(|t| mirror(&format!("t{t}"), 100, MirrorState::Active))
            .collect();
        let none = HashSet::new();
        let first = ReconcileInputs::from_parts(&mirrors, &none, 1, 1);
        // Nothing settled yet: the first pass runs.
        assert!(needs_reconcile(None, &first, true));
        // Same metadata, same mirrors, same fetchers: skipped.
        let again = ReconcileInputs::from_parts(&mirrors, &none, 1, 1);
        assert!(!needs_reconcile(Some(&first), &again, true));
        // A fetcher that ended is restarted by a pass.
        assert!(needs_reconcile(Some(&first), &again, false));
    }

    #[test]
    fn every_input_of_reconcile_makes_a_pass_run() {
        let base: Vec<_> = vec![
            mirror("a", 3, MirrorState::Active),
            mirror("b", 3, MirrorState::Active),
        ];
        let none = HashSet::new();
        let settled = ReconcileInputs::from_parts(&base, &none, 7, 1);
        let differs = |m: &[MirrorTopic], pos: &HashSet<String>, g: u64, n: usize| {
            needs_reconcile(
                Some(&settled),
                &ReconcileInputs::from_parts(m, pos, g, n),
                true,
            )
        };
        // Refreshed metadata (a leader moved, partitions grew on the source).
        assert!(differs(&base, &none, 8, 1));
        // Fetcher count altered.
        assert!(differs(&base, &none, 7, 2));
        // A topic being positioned.
        assert!(differs(&base, &HashSet::from(["b".to_string()]), 7, 1));
        // A mirror paused, promoted, grown, added or removed.
        let mut paused = base.clone();
        paused[1].mirror.state = MirrorState::Paused;
        assert!(differs(&paused, &none, 7, 1));
        let mut grown = base.clone();
        grown[0].partitions = 4;
        assert!(differs(&grown, &none, 7, 1));
        let mut added = base.clone();
        added.push(mirror("c", 1, MirrorState::Active));
        assert!(differs(&added, &none, 7, 1));
        assert!(differs(&base[..1], &none, 7, 1));
        let mut recreated = base.clone();
        recreated[0].mirror.source_topic_id = Some("id".into());
        assert!(differs(&recreated, &none, 7, 1));
        assert!(!differs(&base, &none, 7, 1));
    }
}
