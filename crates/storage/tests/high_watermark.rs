//! The high watermark of a replicated partition log: appends do not move it, the leader
//! increments it and the follower sets it (clamped to the log), every "committed" bound
//! (HighWatermark reads on both the record and the sendfile path, the last stable offset,
//! ListOffsets, DeleteRecords, retention, the cleaner) stops at it, truncation lowers it,
//! and `high-watermark-checkpoint` brings it back after clean and unclean restarts. A
//! single-replica log keeps HW == LEO throughout; a property test checks random
//! appends/increments/updates/truncations against the invariants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use strait_records::{BatchBuilder, BatchIter, ControlRecordType};
use strait_storage::{
    CleanerContext, CleanupPolicy, FetchIsolation, LogConfig, OffsetMap, PartitionLog,
    StorageError, Throttler,
};

const NOW: i64 = 1_700_000_000_000;
const CHECKPOINT: &str = "high-watermark-checkpoint";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 200,
        index_interval_bytes: 64,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> PartitionLog {
    PartitionLog::open(dir, config(), NOW).unwrap()
}

fn open_replicated(dir: &Path) -> PartitionLog {
    let mut log = open(dir);
    log.set_replicated(true);
    log
}

/// A plain batch of one record at `base` with key `key`, stamped `ts`.
fn batch(base: i64, key: &str, ts: i64) -> Vec<u8> {
    BatchBuilder::new(base)
        .leader_epoch(1)
        .append(
            ts,
            Some(key.as_bytes()),
            Some(format!("v{base}").as_bytes()),
        )
        .build()
        .unwrap()
}

/// Mirrors `n` one-record batches after the log end, keys cycling through `keys` names.
fn fill(log: &mut PartitionLog, n: i64, keys: i64, ts: i64) {
    for _ in 0..n {
        let base = log.log_end_offset();
        log.append_mirrored(&batch(base, &format!("k{}", base % keys), ts), NOW)
            .unwrap();
    }
}

/// Offsets of the records a fetch loop at `isolation` returns, through the record path or
/// the sendfile-slice path.
fn read_all(log: &PartitionLog, isolation: FetchIsolation, slice: bool) -> Vec<i64> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    loop {
        let bytes = if slice {
            let s = log
                .read_isolated_slice(next, 1 << 20, isolation, true)
                .unwrap();
            s.records.read().unwrap()
        } else {
            log.read_isolated(next, 1 << 20, isolation, true)
                .unwrap()
                .records
                .to_vec()
        };
        if bytes.is_empty() {
            return out;
        }
        for b in BatchIter::new(&bytes) {
            let b = b.unwrap();
            out.extend(b.base_offset()..=b.last_offset());
            next = b.last_offset() + 1;
        }
    }
}

fn checkpoint_value(dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join(CHECKPOINT)).ok()?;
    text.lines().nth(2)?.trim().parse().ok()
}

#[test]
fn single_replica_hw_is_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    assert!(!log.is_replicated());
    fill(&mut log, 6, 100, NOW);
    assert_eq!(log.high_watermark(), 6);
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(
        read_all(&log, FetchIsolation::HighWatermark, false).len(),
        6
    );
    log.truncate_to(4).unwrap();
    assert_eq!((log.high_watermark(), log.log_end_offset()), (4, 4));
    // The replication-only operations are refused, not ignored.
    for r in [
        log.update_high_watermark(2),
        log.maybe_increment_high_watermark(2),
    ] {
        assert!(matches!(r, Err(StorageError::InvalidArgument(_))), "{r:?}");
    }
    assert_eq!(log.high_watermark(), 4);
    log.close().unwrap();
    let log = open(dir.path());
    assert!(!log.is_replicated());
    assert_eq!(log.high_watermark(), 4);
    // Close wrote what it exposed as committed.
    assert_eq!(checkpoint_value(dir.path()), Some(4));
}

#[test]
fn appends_do_not_move_a_replicated_hw_and_updates_clamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    assert!(log.is_replicated());
    fill(&mut log, 5, 100, NOW);
    assert_eq!((log.high_watermark(), log.log_end_offset()), (0, 5));

    // Leader: only forward, at most the log end.
    assert!(log.maybe_increment_high_watermark(3).unwrap());
    assert!(!log.maybe_increment_high_watermark(2).unwrap());
    assert!(!log.maybe_increment_high_watermark(3).unwrap());
    assert_eq!(log.high_watermark(), 3);
    assert!(log.maybe_increment_high_watermark(99).unwrap());
    assert_eq!(log.high_watermark(), 5);
    fill(&mut log, 2, 100, NOW);
    assert_eq!(log.high_watermark(), 5);

    // Follower: set to the leader's value, min own log end, may go down.
    assert!(log.update_high_watermark(2).unwrap());
    assert_eq!(log.high_watermark(), 2);
    assert!(log.update_high_watermark(1_000).unwrap());
    assert_eq!(log.high_watermark(), 7);
    assert!(!log.update_high_watermark(7).unwrap());

    // The log start bounds it from below.
    log.delete_records_before(4).unwrap();
    assert!(log.update_high_watermark(0).unwrap());
    assert_eq!(log.high_watermark(), 4);

    // Back to single replica: committed is the log end again.
    log.set_replicated(false);
    assert_eq!(log.high_watermark(), 7);
    fill(&mut log, 1, 100, NOW);
    assert_eq!(log.high_watermark(), 8);
}

#[test]
fn hw_reads_stop_at_the_hw_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    fill(&mut log, 10, 100, NOW);
    assert!(log.segment_count() > 2, "{:?}", log.segment_base_offsets());
    log.maybe_increment_high_watermark(6).unwrap();
    for slice in [false, true] {
        assert_eq!(
            read_all(&log, FetchIsolation::HighWatermark, slice),
            (0..6).collect::<Vec<_>>()
        );
        assert_eq!(
            read_all(&log, FetchIsolation::TxnCommitted, slice),
            (0..6).collect::<Vec<_>>()
        );
        assert_eq!(
            read_all(&log, FetchIsolation::LogEnd, slice),
            (0..10).collect::<Vec<_>>()
        );
    }
    // A fetch at the high watermark returns nothing but is in range; reports say 6.
    let s = log
        .read_isolated_slice(6, 1 << 20, FetchIsolation::HighWatermark, true)
        .unwrap();
    assert!(s.records.is_empty());
    assert_eq!((s.high_watermark, s.last_stable_offset), (6, 6));
    let r = log
        .read_isolated(0, 1 << 20, FetchIsolation::HighWatermark, true)
        .unwrap();
    assert_eq!(r.high_watermark, 6);
    assert_eq!(log.fetchable_offset(FetchIsolation::LogEnd), 10);
    assert_eq!(log.fetchable_offset(FetchIsolation::HighWatermark), 6);
    assert_eq!(log.fetchable_offset(FetchIsolation::TxnCommitted), 6);
}

#[test]
fn list_offsets_for_consumers_stop_at_the_hw() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    for i in 0..6 {
        log.append_mirrored(&batch(i, "k", NOW + i * 10), NOW)
            .unwrap();
    }
    log.maybe_increment_high_watermark(3).unwrap();
    let hw = FetchIsolation::HighWatermark;
    // Below the high watermark: found on both views.
    assert_eq!(
        log.offset_for_timestamp_isolated(NOW + 10, hw)
            .unwrap()
            .unwrap()
            .offset,
        1
    );
    // At or above it: only the replica view finds it.
    assert_eq!(
        log.offset_for_timestamp(NOW + 40).unwrap().unwrap().offset,
        4
    );
    assert_eq!(
        log.offset_for_timestamp_isolated(NOW + 40, hw).unwrap(),
        None
    );
    assert_eq!(log.max_timestamp_offset().unwrap().unwrap().offset, 5);
    assert_eq!(log.max_timestamp_offset_isolated(hw).unwrap(), None);
    log.maybe_increment_high_watermark(6).unwrap();
    assert_eq!(
        log.max_timestamp_offset_isolated(hw)
            .unwrap()
            .unwrap()
            .offset,
        5
    );
}

fn txn_data(base: i64, pid: i64) -> Vec<u8> {
    BatchBuilder::new(base)
        .leader_epoch(1)
        .producer(pid, 0, 0)
        .transactional(true)
        .append(NOW, Some(b"t"), Some(b"v"))
        .build()
        .unwrap()
}

fn commit(base: i64, pid: i64) -> Vec<u8> {
    BatchBuilder::end_txn_marker(base, ControlRecordType::Commit, pid, 0, 5, NOW)
        .leader_epoch(1)
        .build()
        .unwrap()
}

#[test]
fn lso_never_passes_the_hw() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    fill(&mut log, 2, 100, NOW); // 0-1
    log.append_mirrored(&txn_data(2, 7), NOW).unwrap(); // 2: open transaction
    fill(&mut log, 2, 100, NOW); // 3-4
    assert_eq!(log.first_unstable_offset(), Some(2));
    // HW below the open transaction: the HW bounds.
    log.maybe_increment_high_watermark(1).unwrap();
    assert_eq!(log.last_stable_offset(), 1);
    // HW past it: the transaction bounds.
    log.maybe_increment_high_watermark(5).unwrap();
    assert_eq!(log.last_stable_offset(), 2);

    // Committed, but the marker is above the HW: the LSO is the HW, not the log end.
    log.append_mirrored(&commit(5, 7), NOW).unwrap(); // 5
    fill(&mut log, 1, 100, NOW); // 6
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(log.last_stable_offset(), 5);
    assert_eq!(
        read_all(&log, FetchIsolation::TxnCommitted, true),
        (0..5).collect::<Vec<_>>()
    );
    log.maybe_increment_high_watermark(7).unwrap();
    assert_eq!(log.last_stable_offset(), 7);
}

#[test]
fn delete_records_and_retention_never_reach_the_hw() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            retention_ms: 1_000,
            ..config()
        },
        NOW,
    )
    .unwrap();
    log.set_replicated(true);
    // Old data: time retention would delete every non-active segment.
    fill(&mut log, 12, 100, NOW - 1_000_000);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "{bases:?}");
    let hw = bases[2] + 1; // inside the third segment
    log.maybe_increment_high_watermark(hw).unwrap();

    let r = log.delete_records_before(hw + 1);
    assert!(
        matches!(r, Err(StorageError::OffsetOutOfRange { high_watermark, .. }) if high_watermark == hw),
        "{r:?}"
    );
    assert_eq!(log.log_start_offset(), 0);

    assert_eq!(log.enforce_retention(NOW).unwrap(), 2);
    assert_eq!(log.log_start_offset(), bases[2]);
    assert_eq!(log.segment_base_offsets(), bases[2..].to_vec());
    // Nothing more while the HW stays: the segment holding it is kept.
    assert_eq!(log.enforce_retention(NOW).unwrap(), 0);
    // Size retention obeys the same bound.
    log.update_config(LogConfig {
        retention_ms: -1,
        retention_bytes: 0,
        ..config()
    });
    assert_eq!(log.enforce_retention(NOW).unwrap(), 0);
    // Once the HW reaches the next segment, it goes.
    log.maybe_increment_high_watermark(bases[3]).unwrap();
    assert_eq!(log.enforce_retention(NOW).unwrap(), 1);
    assert_eq!(log.log_start_offset(), bases[3]);
    assert!(log.high_watermark() >= log.log_start_offset());
    assert_eq!(log.delete_records_before(bases[3]).unwrap(), bases[3]);
}

#[test]
fn the_cleaner_never_cleans_at_or_above_the_hw() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            cleanup_policy: CleanupPolicy {
                delete: false,
                compact: true,
            },
            min_cleanable_dirty_ratio: 0.0,
            ..config()
        },
        NOW,
    )
    .unwrap();
    log.set_replicated(true);
    // Two keys over and over: almost everything is cleanable by key.
    fill(&mut log, 20, 2, NOW);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 6, "{bases:?}");
    let hw = bases[3] + 1;
    log.maybe_increment_high_watermark(hw).unwrap();
    let plan = log.plan_cleaning(NOW).unwrap().unwrap();
    assert!(plan.first_uncleanable_offset() <= hw, "{plan:?}");
    let above: Vec<(i64, i64)> = support::offsets(&log, bases[3]);

    let (throttler, abort) = (Throttler::unlimited(), AtomicBool::new(false));
    let ctx = CleanerContext {
        throttler: &throttler,
        abort: &abort,
        io_buffer_bytes: 8192,
    };
    let mut map = OffsetMap::new(1 << 20, 0.9);
    while log.clean_once(&mut map, &ctx, NOW).unwrap().is_some() {}
    assert!(log.cleaner_checkpoint().is_some_and(|c| c <= hw));
    // Everything from the segment holding the HW on is untouched.
    assert_eq!(support::offsets(&log, bases[3]), above);
    // Below it, the older duplicates are gone.
    assert!(support::offsets(&log, 0).len() < 20);
}

#[test]
fn truncation_lowers_the_hw() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    fill(&mut log, 10, 100, NOW);
    log.maybe_increment_high_watermark(8).unwrap();
    log.truncate_to(9).unwrap();
    assert_eq!(log.high_watermark(), 8);
    log.truncate_to(5).unwrap();
    assert_eq!((log.high_watermark(), log.log_end_offset()), (5, 5));
    fill(&mut log, 3, 100, NOW);
    assert_eq!(log.high_watermark(), 5);
    log.truncate_fully_and_start_at(20).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.high_watermark(),
            log.log_end_offset()
        ),
        (20, 20, 20)
    );
}

#[test]
fn hw_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    fill(&mut log, 8, 100, NOW);
    log.maybe_increment_high_watermark(5).unwrap();
    log.close().unwrap();
    assert_eq!(checkpoint_value(dir.path()), Some(5));
    let mut log = open(dir.path());
    // Opened single-replica (the broker switches it); the checkpoint applies at the switch.
    assert_eq!(log.high_watermark(), 8);
    log.set_replicated(true);
    assert_eq!((log.high_watermark(), log.log_end_offset()), (5, 8));
}

#[test]
fn hw_after_a_crash_after_and_before_the_checkpoint_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    fill(&mut log, 8, 100, NOW);
    log.maybe_increment_high_watermark(4).unwrap();
    log.checkpoint_high_watermark().unwrap();
    // Moved after the checkpoint write; then kill -9 (no close).
    log.maybe_increment_high_watermark(7).unwrap();
    drop(log);
    let mut log = open_replicated(dir.path());
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.high_watermark(), 4);

    // A flush writes it too.
    log.maybe_increment_high_watermark(6).unwrap();
    log.flush().unwrap();
    drop(log);
    let log = open_replicated(dir.path());
    assert_eq!(log.high_watermark(), 6);
    drop(log);

    // Crash before any checkpoint was ever written: a new replica starts at the log start.
    let fresh = tempfile::tempdir().unwrap();
    let mut log = open_replicated(fresh.path());
    fill(&mut log, 3, 100, NOW);
    log.maybe_increment_high_watermark(3).unwrap();
    drop(log);
    assert_eq!(checkpoint_value(fresh.path()), None);
    let log = open_replicated(fresh.path());
    assert_eq!((log.high_watermark(), log.log_end_offset()), (0, 3));
}

#[test]
fn hw_is_capped_by_a_log_end_a_crash_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    fill(&mut log, 6, 100, NOW);
    log.maybe_increment_high_watermark(6).unwrap();
    log.checkpoint_high_watermark().unwrap();
    let active = *log.segment_base_offsets().last().unwrap();
    let active_end = log.log_end_offset();
    drop(log);
    // The unflushed tail of the active segment was lost: cut its last bytes.
    let path = dir.path().join(format!("{active:020}.log"));
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 0);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let log = open_replicated(dir.path());
    assert!(log.log_end_offset() < active_end);
    assert_eq!(log.high_watermark(), log.log_end_offset());
}

#[test]
fn a_log_that_changed_as_single_replica_keeps_its_committed_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_replicated(dir.path());
    fill(&mut log, 4, 100, NOW);
    log.maybe_increment_high_watermark(2).unwrap();
    log.close().unwrap();
    // Reopened and written as a single replica (everything exposed as committed), then
    // switched: the old checkpoint no longer describes it, the HW must not go back.
    let mut log = open(dir.path());
    fill(&mut log, 2, 100, NOW);
    log.set_replicated(true);
    assert_eq!(log.high_watermark(), 6);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Under random appends, leader increments, follower updates and truncations the HW
    /// stays within [log start, log end]; increments never lower it, appends never move it.
    #[test]
    fn hw_stays_within_the_log(ops in proptest::collection::vec((0u8..4, 0i64..40), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_replicated(dir.path());
        for (op, n) in ops {
            let before = log.high_watermark();
            match op {
                0 => {
                    fill(&mut log, n % 4 + 1, 100, NOW);
                    prop_assert_eq!(log.high_watermark(), before);
                }
                1 => {
                    let moved = log.maybe_increment_high_watermark(n).unwrap();
                    prop_assert!(log.high_watermark() >= before);
                    prop_assert_eq!(moved, log.high_watermark() != before);
                    prop_assert_eq!(log.high_watermark(), before.max(n.min(log.log_end_offset())));
                }
                2 => {
                    log.update_high_watermark(n).unwrap();
                    prop_assert_eq!(
                        log.high_watermark(),
                        n.max(log.log_start_offset()).min(log.log_end_offset())
                    );
                }
                _ => {
                    log.truncate_to(n).unwrap();
                    prop_assert!(log.high_watermark() <= before);
                }
            }
            prop_assert!(log.log_start_offset() <= log.high_watermark());
            prop_assert!(log.high_watermark() <= log.log_end_offset());
            prop_assert!(log.last_stable_offset() <= log.high_watermark());
        }
    }
}
