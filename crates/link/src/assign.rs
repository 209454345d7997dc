//! Spreading one source broker's mirror partitions over its `num.cluster.link.fetchers`
//! fetchers.
//!
//! Invariants: the spread is even (fetcher sizes differ by at most one) and sticky (a
//! partition keeps its fetcher unless evening out requires moving it), so a partition
//! coming or going moves as few others as possible, and the result depends only on the
//! previous assignment and the current partitions (never on map iteration order).

use std::collections::HashMap;

use crate::fetcher::Assignment;

/// A mirror partition: (mirror topic, partition).
pub type PartitionKey = (String, i32);

/// Splits `parts` over `n` fetchers (`n >= 1`), keeping each partition on its fetcher in
/// `previous` where the spread allows. Returns one list per fetcher, each sorted by
/// (topic, partition).
pub fn spread(
    previous: &HashMap<PartitionKey, usize>,
    parts: &[Assignment],
    n: usize,
) -> Vec<Vec<Assignment>> {
    let n = n.max(1);
    let mut sorted: Vec<&Assignment> = parts.iter().collect();
    sorted.sort_by(|a, b| (&a.mirror_topic, a.partition).cmp(&(&b.mirror_topic, b.partition)));
    let base = sorted.len() / n;
    let mut extras = sorted.len() % n;

    // Keep what was where it was, up to the even share.
    let mut kept: Vec<Vec<&Assignment>> = vec![Vec::new(); n];
    let mut unplaced: Vec<&Assignment> = Vec::new();
    for a in &sorted {
        match previous.get(&(a.mirror_topic.clone(), a.partition)) {
            Some(&f) if f < n => kept[f].push(a),
            _ => unplaced.push(a),
        }
    }
    for list in kept.iter_mut() {
        let mut limit = base;
        if list.len() > base && extras > 0 {
            limit += 1;
            extras -= 1;
        }
        if list.len() > limit {
            unplaced.extend(list.drain(limit..));
        }
    }
    unplaced.sort_by(|a, b| (&a.mirror_topic, a.partition).cmp(&(&b.mirror_topic, b.partition)));
    // The rest go to the least loaded fetcher (lowest index on ties): after the trimming
    // above, this fills every fetcher to `base` first, then hands out the remaining extras
    // one per fetcher, so sizes end up differing by at most one.
    for a in unplaced {
        let mut target = 0;
        for (i, list) in kept.iter().enumerate() {
            if list.len() < kept[target].len() {
                target = i;
            }
        }
        kept[target].push(a);
    }
    kept.into_iter()
        .map(|mut list| {
            list.sort_by(|a, b| {
                (&a.mirror_topic, a.partition).cmp(&(&b.mirror_topic, b.partition))
            });
            list.into_iter().cloned().collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(t: &str, p: i32) -> Assignment {
        Assignment {
            mirror_topic: t.into(),
            source_topic: t.into(),
            partition: p,
            leader_epoch: 0,
        }
    }

    fn index(lists: &[Vec<Assignment>]) -> HashMap<PartitionKey, usize> {
        lists
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.iter()
                    .map(move |a| ((a.mirror_topic.clone(), a.partition), i))
            })
            .collect()
    }

    fn sizes(lists: &[Vec<Assignment>]) -> Vec<usize> {
        lists.iter().map(Vec::len).collect()
    }

    #[test]
    fn even_and_sticky() {
        let six: Vec<Assignment> = (0..6).map(|p| part("t", p)).collect();
        let first = spread(&HashMap::new(), &six, 3);
        assert_eq!(sizes(&first), vec![2, 2, 2]);
        // Same input, same output.
        assert_eq!(index(&spread(&index(&first), &six, 3)), index(&first));

        // A partition goes: nobody else moves.
        let five: Vec<Assignment> = six.iter().filter(|a| a.partition != 4).cloned().collect();
        let after = spread(&index(&first), &five, 3);
        let (before, now) = (index(&first), index(&after));
        for (k, f) in &now {
            assert_eq!(before[k], *f, "{k:?} moved");
        }

        // Partitions come: the spread stays even and the old ones stay put where they can.
        let mut nine = six.clone();
        nine.extend((0..3).map(|p| part("u", p)));
        let grown = spread(&index(&first), &nine, 3);
        assert_eq!(sizes(&grown), vec![3, 3, 3]);
        let g = index(&grown);
        for a in &six {
            let k = (a.mirror_topic.clone(), a.partition);
            assert_eq!(g[&k], before[&k]);
        }

        // Fewer fetchers: partitions of removed fetchers move, sizes stay even.
        let shrunk = spread(&index(&grown), &nine, 2);
        let s = sizes(&shrunk);
        assert_eq!(s.iter().sum::<usize>(), 9);
        assert!(
            s.iter().max().unwrap() - s.iter().min().unwrap() <= 1,
            "{s:?}"
        );
    }

    #[test]
    fn uneven_previous_is_evened_out() {
        let parts: Vec<Assignment> = (0..4).map(|p| part("t", p)).collect();
        let prev: HashMap<PartitionKey, usize> = parts
            .iter()
            .map(|a| ((a.mirror_topic.clone(), a.partition), 0))
            .collect();
        let out = spread(&prev, &parts, 3);
        let s = sizes(&out);
        assert_eq!(s.iter().sum::<usize>(), 4);
        assert!(
            s.iter().max().unwrap() - s.iter().min().unwrap() <= 1,
            "{s:?}"
        );
        assert!(spread(&HashMap::new(), &[], 3).iter().all(Vec::is_empty));
    }
}
