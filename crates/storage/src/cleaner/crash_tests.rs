//! `kill -9` at every file operation of the swap: after reopening, each cleaned group is
//! either entirely old or entirely new, no key's latest value is lost, offsets are intact,
//! and no cleaner temporary file is left.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::AtomicBool;

use strait_records::{decode_records, BatchBuilder, BatchIter};

use super::swap::OpBudget;
use super::{CleanerContext, OffsetMap, Throttler};
use crate::{CleanupPolicy, LogConfig, PartitionLog};

const NOW: i64 = 1_700_000_000_000;

type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

fn records(log: &PartitionLog) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, i64::MAX, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            for rec in decode_records(&b).unwrap() {
                out.push((
                    rec.offset(&b),
                    rec.key.map(|k| k.to_vec()),
                    rec.value.map(|v| v.to_vec()),
                ));
            }
            next = b.last_offset() + 1;
        }
    }
    out
}

fn fill(log: &mut PartitionLog, round: usize) {
    for k in 0..12 {
        let v = format!("r{round}-{k}-{}", "p".repeat(30));
        let b = BatchBuilder::new(0)
            .append(NOW, Some(format!("k{k}").as_bytes()), Some(v.as_bytes()))
            .build()
            .unwrap();
        log.append_leader(&b, 0, NOW, crate::VerificationGuard::NONE)
            .unwrap();
    }
}

/// A log that has been cleaned once (so the next pass merges shrunk segments) and then
/// received more data.
fn build(dir: &Path, delay_delete: bool) -> PartitionLog {
    let cfg = LogConfig {
        file_delete_delay_ms: if delay_delete { 60_000 } else { 0 },
        ..config()
    };
    let mut log = PartitionLog::open(dir, cfg, NOW).unwrap();
    for round in 0..3 {
        fill(&mut log, round);
    }
    let mut map = OffsetMap::new(1 << 16, 0.9);
    let (throttler, abort) = (Throttler::unlimited(), AtomicBool::new(false));
    let ctx = CleanerContext {
        throttler: &throttler,
        abort: &abort,
        io_buffer_bytes: 4096,
    };
    assert!(log.clean_once(&mut map, &ctx, NOW).unwrap().is_some());
    for round in 3..6 {
        fill(&mut log, round);
    }
    log
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".cleaner-swap"))
        .collect()
}

fn crash_at_every_step(delay_delete: bool) {
    let (throttler, abort) = (Throttler::unlimited(), AtomicBool::new(false));
    let ctx = CleanerContext {
        throttler: &throttler,
        abort: &abort,
        io_buffer_bytes: 4096,
    };
    let mut map = OffsetMap::new(1 << 16, 0.9);
    // The reference result of the same pass, completed (the build is deterministic).
    let new = {
        let ref_dir = tempfile::tempdir().unwrap();
        let mut r = build(ref_dir.path(), delay_delete);
        let plan = r.plan_cleaning(NOW).unwrap().unwrap();
        let out = plan.clean(&mut map, &ctx, NOW).unwrap();
        r.commit_cleaning(out, NOW).unwrap();
        records(&r)
    };
    let mut budget = 0;
    loop {
        let dir = tempfile::tempdir().unwrap();
        let mut log = build(dir.path(), delay_delete);
        let old = records(&log);
        let plan = log.plan_cleaning(NOW).unwrap().unwrap();
        let output = plan.clean(&mut map, &ctx, NOW).unwrap();
        let groups: Vec<(i64, i64)> = {
            let bases: Vec<i64> = output.groups.iter().map(|g| g.base_offset).collect();
            let end = output.stats.end_offset;
            bases
                .iter()
                .enumerate()
                .map(|(i, b)| (*b, bases.get(i + 1).copied().unwrap_or(end)))
                .collect()
        };
        assert!(groups.len() >= 2, "{groups:?}");
        assert!(
            output.groups.iter().any(|g| g.replaced.len() > 1),
            "a group merges segments"
        );
        let result = log.commit_cleaning_with_budget(output, NOW, &mut OpBudget(Some(budget)));
        let finished = result.is_ok();
        drop(log); // kill -9: no close, no clean-shutdown marker

        let log = PartitionLog::open(dir.path(), config(), NOW).unwrap();
        let got = records(&log);
        assert!(
            leftovers(dir.path()).is_empty(),
            "budget {budget}: {:?}",
            leftovers(dir.path())
        );
        for (from, to) in &groups {
            let slice = |v: &[Rec]| -> Vec<Rec> {
                v.iter()
                    .filter(|r| r.0 >= *from && r.0 < *to)
                    .cloned()
                    .collect()
            };
            let g = slice(&got);
            assert!(
                g == slice(&old) || g == slice(&new),
                "budget {budget}: group [{from}, {to}) is a mix"
            );
        }
        // Everything after the cleaned range is untouched, and the latest value of every
        // key is where it was.
        let tail = |v: &[Rec]| -> Vec<Rec> {
            v.iter()
                .filter(|r| r.0 >= groups.last().unwrap().1)
                .cloned()
                .collect()
        };
        assert_eq!(tail(&got), tail(&old), "budget {budget}");
        let mut latest = std::collections::BTreeMap::new();
        for r in &old {
            latest.insert(r.1.clone(), r.clone());
        }
        for r in latest.values() {
            assert!(got.contains(r), "budget {budget}: latest {r:?} lost");
        }
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(log.log_end_offset(), old.last().unwrap().0 + 1);
        if finished {
            assert_eq!(got, new);
            break;
        }
        budget += 1;
        assert!(budget < 200, "the swap never completes");
    }
    // 2 groups or more, each: manifest + 3 renames + 3 deletes per segment + 3 renames +
    // manifest removal.
    assert!(
        budget >= 2 * 11,
        "every step was exercised ({budget} operations)"
    );
}

#[test]
fn crash_at_each_swap_step_leaves_old_or_new_segments() {
    crash_at_every_step(false);
}

#[test]
fn crash_at_each_swap_step_with_delayed_deletes() {
    crash_at_every_step(true);
}
