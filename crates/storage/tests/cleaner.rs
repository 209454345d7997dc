//! Log cleaner (compaction) tests: Kafka semantics against a simple model, tombstones and
//! the KIP-534 delete horizon, idempotent producers, bounded memory (multi-pass), races
//! with retention, and the segment keys (`segment.jitter.ms`, `file.delete.delay.ms`,
//! `preallocate`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use strait_records::{decode_records, BatchBuilder, Compression};
use strait_storage::{
    AppendError, CleanCommit, CleanerContext, CleanerError, CleanupPolicy, LogConfig, OffsetMap,
    PartitionLog, Throttler,
};
use support::for_each_batch;

const NOW: i64 = 1_700_000_000_000;
/// Appends here are not transactional: no coordinator verification.
const NO_TXN: strait_storage::VerificationGuard = strait_storage::VerificationGuard::NONE;

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 10_000,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config, NOW).unwrap()
}

type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>, i64);

fn kv(records: &[(&str, Option<&str>)], ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(0);
    for (k, v) in records {
        b = b.append(ts, Some(k.as_bytes()), v.map(str::as_bytes));
    }
    b.build().unwrap()
}

/// Every record in the log: (offset, key, value, timestamp).
fn all_records(log: &PartitionLog) -> Vec<Rec> {
    let mut out = Vec::new();
    let start = log.log_start_offset();
    for_each_batch(log, start, |b| {
        for rec in decode_records(b).unwrap() {
            if rec.offset(b) >= start {
                out.push((
                    rec.offset(b),
                    rec.key.as_ref().map(|k| k.to_vec()),
                    rec.value.as_ref().map(|v| v.to_vec()),
                    rec.timestamp(b),
                ));
            }
        }
    });
    out
}

/// (base, last, records_count, producer id, delete horizon, bytes) of one batch.
type BatchSummary = (i64, i64, i32, i64, Option<i64>, Vec<u8>);

/// Every batch in the log.
fn all_batches(log: &PartitionLog) -> Vec<BatchSummary> {
    let mut out = Vec::new();
    for_each_batch(log, log.log_start_offset(), |b| {
        out.push((
            b.base_offset(),
            b.last_offset(),
            b.records_count(),
            b.producer_id(),
            b.delete_horizon_ms(),
            b.as_bytes().to_vec(),
        ))
    });
    out
}

struct Cleaner {
    map: OffsetMap,
    throttler: Throttler,
    abort: AtomicBool,
}

impl Cleaner {
    fn new(map_bytes: usize) -> Self {
        Cleaner {
            map: OffsetMap::new(map_bytes, 0.9),
            throttler: Throttler::unlimited(),
            abort: AtomicBool::new(false),
        }
    }
    fn ctx(&self) -> CleanerContext<'_> {
        CleanerContext {
            throttler: &self.throttler,
            abort: &self.abort,
            io_buffer_bytes: 8192,
        }
    }
    /// Cleans until nothing is due; returns the number of passes swapped in.
    fn clean_all(&mut self, log: &mut PartitionLog, now: i64) -> Result<usize, CleanerError> {
        let mut passes = 0;
        loop {
            let ctx = CleanerContext {
                throttler: &self.throttler,
                abort: &self.abort,
                io_buffer_bytes: 8192,
            };
            match log.clean_once(&mut self.map, &ctx, now)? {
                None => return Ok(passes),
                Some(CleanCommit::Swapped(_)) => passes += 1,
                Some(CleanCommit::Discarded { reason }) => panic!("discarded: {reason}"),
            }
            assert!(passes < 1000, "cleaning does not converge");
        }
    }
}

/// Checks the cleaned log against the original records (Kafka's guarantees):
/// * from the cleaner checkpoint on, the log is unchanged;
/// * below it, every record is an original one (same offset, value, timestamp), keyed, and
///   the latest of its key below the checkpoint — each key at most once;
/// * every key whose latest record overall lies below the checkpoint still has it there
///   (a tombstone only until `horizon_passed`); a key rewritten later may have lost its
///   older records entirely, since the map may know offsets past the checkpoint.
fn check_against_model(original: &[Rec], log: &PartitionLog, horizon_passed: bool) {
    let cp = log.cleaner_checkpoint().unwrap_or(log.log_start_offset());
    let actual = all_records(log);
    let (below, above): (Vec<Rec>, Vec<Rec>) = actual.into_iter().partition(|r| r.0 < cp);
    let original_above: Vec<Rec> = original.iter().filter(|r| r.0 >= cp).cloned().collect();
    assert_eq!(above, original_above, "unchanged from the checkpoint {cp}");
    let mut latest_below: BTreeMap<Vec<u8>, &Rec> = BTreeMap::new();
    let mut latest_all: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for r in original {
        if let Some(k) = &r.1 {
            latest_all.insert(k.clone(), r.0);
            if r.0 < cp {
                latest_below.insert(k.clone(), r);
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &below {
        let k = r.1.clone().expect("keyless record survived cleaning");
        assert!(seen.insert(k.clone()), "key {k:?} twice below {cp}");
        assert_eq!(
            latest_below.get(&k).map(|l| (*l).clone()),
            Some(r.clone()),
            "not the latest of its key"
        );
        assert!(
            !(horizon_passed && r.2.is_none()),
            "tombstone at {} past its horizon",
            r.0
        );
    }
    for (k, l) in &latest_below {
        if latest_all[k] < cp && (l.2.is_some() || !horizon_passed) {
            assert!(seen.contains(k), "latest record of {k:?} at {} lost", l.0);
        }
    }
}

fn fill(log: &mut PartitionLog, rounds: usize, keys: usize, now: i64) -> Vec<Rec> {
    for round in 0..rounds {
        for k in 0..keys {
            let v = format!("v{round}-{k}-{}", "x".repeat(40));
            log.append_leader(&kv(&[(&format!("k{k}"), Some(&v))], now), 0, now, NO_TXN)
                .unwrap();
        }
    }
    all_records(log)
}

#[test]
fn compact_keeps_latest_value_of_every_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            retention_ms: 1,
            retention_bytes: 1,
            ..compact_config()
        },
    );
    let original = fill(&mut log, 4, 10, NOW);
    assert!(log.segment_count() > 4);
    // compact alone: retention by time or size deletes nothing.
    assert_eq!(log.enforce_retention(NOW + 1_000_000).unwrap(), 0);
    let active_base = *log.segment_base_offsets().last().unwrap();
    let size_before = log.size_in_bytes();
    let mut c = Cleaner::new(1 << 20);
    assert_eq!(c.clean_all(&mut log, NOW).unwrap(), 1);
    assert_eq!(log.cleaner_checkpoint(), Some(active_base));
    check_against_model(&original, &log, false);
    assert!(
        log.size_in_bytes() < size_before / 2,
        "{} of {size_before}",
        log.size_in_bytes()
    );
    // Nothing changes on reopen, clean or unclean.
    let after = all_records(&log);
    drop(log);
    let log = open(dir.path(), compact_config());
    assert_eq!(all_records(&log), after);
    log.close().unwrap();
    let log = open(dir.path(), compact_config());
    assert_eq!(all_records(&log), after);
    assert_eq!(log.cleaner_checkpoint(), Some(active_base));
}

#[test]
fn compact_delete_also_deletes_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            retention_ms: 1000,
            cleanup_policy: CleanupPolicy::parse("compact,delete").unwrap(),
            ..compact_config()
        },
    );
    fill(&mut log, 3, 10, NOW);
    let segments = log.segment_count();
    let mut c = Cleaner::new(1 << 20);
    c.clean_all(&mut log, NOW).unwrap();
    assert!(log.enforce_retention(NOW + 2000).unwrap() > 0);
    assert_eq!(log.segment_count(), 1);
    assert!(segments > 1);
}

#[test]
fn unchanged_batches_are_copied_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    for i in 0..30 {
        log.append_leader(
            &kv(&[(&format!("u{i}"), Some(&"y".repeat(60)))], NOW),
            0,
            NOW,
            NO_TXN,
        )
        .unwrap();
    }
    let before = all_batches(&log);
    let mut c = Cleaner::new(1 << 20);
    assert_eq!(c.clean_all(&mut log, NOW).unwrap(), 1);
    assert_eq!(all_batches(&log), before);
}

#[test]
fn tombstones_get_a_delete_horizon_then_are_removed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    log.append_leader(
        &kv(&[("a", Some("1")), ("b", Some("2"))], NOW - 5),
        0,
        NOW,
        NO_TXN,
    )
    .unwrap();
    log.append_leader(
        &kv(&[("a", None), ("c", Some("3"))], NOW - 3),
        0,
        NOW,
        NO_TXN,
    )
    .unwrap();
    fill(&mut log, 1, 20, NOW); // roll the tombstones out of the active segment
    let original = all_records(&log);
    let mut c = Cleaner::new(1 << 20);
    let t1 = NOW + 100;
    c.clean_all(&mut log, t1).unwrap();
    check_against_model(&original, &log, false);
    let tomb = all_batches(&log)
        .into_iter()
        .find(|b| b.0 == 2)
        .expect("tombstone batch kept");
    assert_eq!(
        tomb.4,
        Some(t1 + 10_000),
        "horizon = clean time + delete.retention.ms"
    );
    let recs = all_records(&log);
    let a = recs.iter().find(|r| r.1.as_deref() == Some(b"a")).unwrap();
    assert_eq!(
        (a.0, a.2.clone(), a.3),
        (2, None, NOW - 3),
        "timestamp unchanged"
    );

    // Before the horizon a later clean keeps it; after it the tombstone goes.
    fill(&mut log, 1, 20, NOW);
    c.clean_all(&mut log, t1 + 9_999).unwrap();
    assert!(all_records(&log)
        .iter()
        .any(|r| r.1.as_deref() == Some(b"a")));
    fill(&mut log, 1, 20, NOW);
    let original = all_records(&log);
    c.clean_all(&mut log, t1 + 10_000).unwrap();
    assert!(!all_records(&log)
        .iter()
        .any(|r| r.1.as_deref() == Some(b"a")));
    check_against_model(&original, &log, true);
}

#[test]
fn mirrored_delete_horizon_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    let horizon = NOW + 50;
    let b = BatchBuilder::new(0)
        .delete_horizon(horizon)
        .append(NOW - 10, Some(b"t"), None)
        .append(NOW - 9, Some(b"u"), Some(b"1"))
        .build()
        .unwrap();
    log.append_mirrored(&b, NOW).unwrap();
    let mut base = 2;
    for i in 0..20 {
        let b = BatchBuilder::new(base)
            .append(NOW, Some(format!("m{i}").as_bytes()), Some(&[b'z'; 80]))
            .build()
            .unwrap();
        log.append_mirrored(&b, NOW).unwrap();
        base += 1;
    }
    let mut c = Cleaner::new(1 << 20);
    c.clean_all(&mut log, NOW + 10).unwrap();
    assert!(all_records(&log)
        .iter()
        .any(|r| r.1.as_deref() == Some(b"t")));
    let b = BatchBuilder::new(base)
        .append(NOW, Some(b"m0"), Some(&[b'z'; 800]))
        .build()
        .unwrap();
    log.append_mirrored(&b, NOW).unwrap();
    log.append_mirrored(
        &BatchBuilder::new(base + 1)
            .append(NOW, Some(b"q"), Some(b"q"))
            .build()
            .unwrap(),
        NOW,
    )
    .unwrap();
    c.clean_all(&mut log, horizon).unwrap();
    let recs = all_records(&log);
    assert!(
        !recs.iter().any(|r| r.1.as_deref() == Some(b"t")),
        "tombstone past the source's horizon dropped"
    );
    let u = recs.iter().find(|r| r.1.as_deref() == Some(b"u")).unwrap();
    assert_eq!((u.0, u.3), (1, NOW - 9));
}

#[test]
fn idempotent_producers_last_batch_is_kept_empty_and_sequence_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    let idem = |seq: i32, key: &str, v: &str| {
        BatchBuilder::new(0)
            .producer(77, 3, seq)
            .append(NOW, Some(key.as_bytes()), Some(v.as_bytes()))
            .append(NOW, Some(key.as_bytes()), Some(v.as_bytes()))
            .build()
            .unwrap()
    };
    log.append_leader(&idem(0, "p", "old"), 0, NOW, NO_TXN)
        .unwrap();
    log.append_leader(&idem(2, "p", "old2"), 0, NOW, NO_TXN)
        .unwrap(); // offsets 2..3, seq 2..3
                   // A plain producer overwrites "p": the idempotent batches become fully obsolete.
    log.append_leader(&kv(&[("p", Some("new"))], NOW), 0, NOW, NO_TXN)
        .unwrap();
    fill(&mut log, 1, 20, NOW);
    let mut c = Cleaner::new(1 << 20);
    c.clean_all(&mut log, NOW).unwrap();
    let batches = all_batches(&log);
    assert!(
        !batches.iter().any(|b| b.0 == 0),
        "older producer batch dropped"
    );
    let last = batches
        .iter()
        .find(|b| b.0 == 2)
        .expect("last producer batch kept");
    assert_eq!(
        (last.1, last.2, last.3),
        (3, 0, 77),
        "kept empty with its offsets"
    );
    assert_eq!(log.producer_state(77), Some((3, 3)));
    // After an unclean restart producer state is rebuilt from the (empty) batch.
    drop(log);
    let mut log = open(dir.path(), compact_config());
    assert_eq!(log.producer_state(77), Some((3, 3)));
    let info = log
        .append_leader(&idem(4, "p", "next"), 0, NOW, NO_TXN)
        .unwrap();
    assert!(!info.duplicate);
    assert!(matches!(
        log.append_leader(&idem(9, "p", "gap"), 0, NOW, NO_TXN),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn tiny_dedupe_buffer_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    let original = fill(&mut log, 3, 60, NOW);
    // 40 slots * 0.9 = 36 keys per pass; a segment holds about 10 records.
    let mut c = Cleaner::new(24 * 40);
    let passes = c.clean_all(&mut log, NOW).unwrap();
    assert!(passes > 1, "{passes} passes");
    check_against_model(&original, &log, false);
    let active_base = *log.segment_base_offsets().last().unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(active_base));
}

#[test]
fn dedupe_buffer_too_small_for_one_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    let before = fill(&mut log, 1, 30, NOW);
    let mut c = Cleaner::new(24 * 3);
    let err = c.clean_all(&mut log, NOW).unwrap_err();
    assert!(
        matches!(err, CleanerError::OffsetMapTooSmall { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("log.cleaner.dedupe.buffer.size"),
        "{err}"
    );
    assert_eq!(all_records(&log), before);
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".cleaned")));
}

#[test]
fn cleaning_racing_retention_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            retention_ms: 1000,
            cleanup_policy: CleanupPolicy::parse("compact,delete").unwrap(),
            ..compact_config()
        },
    );
    fill(&mut log, 3, 10, NOW - 5000);
    fill(&mut log, 1, 10, NOW);
    let c = Cleaner::new(1 << 20);
    let plan = log.plan_cleaning(NOW).unwrap().unwrap();
    assert!(plan.is_due());
    let mut map = OffsetMap::new(1 << 20, 0.9);
    let output = plan.clean(&mut map, &c.ctx(), NOW).unwrap();
    // Retention runs between phases (b) and (c).
    assert!(log.enforce_retention(NOW).unwrap() > 0);
    let after_retention = all_records(&log);
    let commit = log.commit_cleaning(output, NOW).unwrap();
    assert!(
        matches!(commit, CleanCommit::Discarded { .. }),
        "{commit:?}"
    );
    assert_eq!(all_records(&log), after_retention);
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".cleaned")));
    // A fresh plan cleans fine.
    let mut c = Cleaner::new(1 << 20);
    assert!(c.clean_all(&mut log, NOW).unwrap() >= 1);
}

#[test]
fn keyless_records_refused_on_compacted_leader_path_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    let keyless = BatchBuilder::new(0)
        .append(NOW, None, Some(b"v"))
        .build()
        .unwrap();
    let mut two = kv(&[("k", Some("v"))], NOW);
    two.extend_from_slice(&keyless);
    let err = log.append_leader(&two, 0, NOW, NO_TXN).unwrap_err();
    assert!(
        matches!(
            err,
            AppendError::CompactedTopicRequiresKey {
                batch: 1,
                batch_index: 0
            }
        ),
        "{err}"
    );
    assert_eq!(log.log_end_offset(), 0);
    // Mirrored bytes are stored as served.
    log.append_mirrored(&keyless, NOW).unwrap();
    // A delete-only topic takes keyless records.
    let dir2 = tempfile::tempdir().unwrap();
    let mut plain = open(dir2.path(), LogConfig::default());
    plain.append_leader(&keyless, 0, NOW, NO_TXN).unwrap();
}

#[test]
fn max_compaction_lag_forces_cleaning_below_the_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_cleanable_dirty_ratio: 0.99,
        max_compaction_lag_ms: 60_000,
        ..compact_config()
    };
    let mut log = open(dir.path(), config);
    fill(&mut log, 1, 5, NOW);
    fill(&mut log, 1, 30, NOW);
    let mut c = Cleaner::new(1 << 20);
    c.clean_all(&mut log, NOW).unwrap();
    fill(&mut log, 1, 30, NOW);
    let plan = log.plan_cleaning(NOW + 1000).unwrap().unwrap();
    assert!(!plan.is_due(), "ratio {}", plan.dirty_ratio());
    let plan = log.plan_cleaning(NOW + 61_000).unwrap().unwrap();
    assert!(plan.needs_compaction_now() && plan.is_due());
}

#[test]
fn min_compaction_lag_keeps_young_segments_dirty() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_compaction_lag_ms: 10_000,
        ..compact_config()
    };
    let mut log = open(dir.path(), config);
    fill(&mut log, 2, 10, NOW - 20_000);
    let old_end = log.log_end_offset();
    fill(&mut log, 2, 10, NOW);
    let plan = log.plan_cleaning(NOW).unwrap().unwrap();
    assert!(plan.first_uncleanable_offset() <= old_end + 20);
    assert!(plan.first_uncleanable_offset() < *log.segment_base_offsets().last().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn cleaned_log_matches_the_model(
        ops in proptest::collection::vec((0u8..25, proptest::option::weighted(0.85, 0u16..1000), 1usize..4), 1..120),
        map_keys in 12usize..200,
        codec in 0usize..5,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), LogConfig { segment_bytes: 600, ..compact_config() });
        for (key, value, n) in &ops {
            let mut b = BatchBuilder::new(0).compression(Compression::ALL[codec]);
            for i in 0..*n {
                let k = format!("key{}", (*key as usize + i) % 25);
                b = b.append(NOW, Some(k.as_bytes()), value.map(|v| format!("value{v}")).as_deref().map(str::as_bytes));
            }
            log.append_leader(&b.build().unwrap(), 0, NOW, NO_TXN).unwrap();
        }
        let original = all_records(&log);
        let mut c = Cleaner::new(24 * map_keys);
        match c.clean_all(&mut log, NOW) {
            Ok(_) => check_against_model(&original, &log, false),
            Err(CleanerError::OffsetMapTooSmall { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        drop(log);
        let log = open(dir.path(), compact_config());
        check_against_model(&original, &log, false);
    }
}

#[test]
fn segment_jitter_shortens_segment_ms() {
    for (jitter, rolled) in [(0, false), (500, true)] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(
            dir.path(),
            LogConfig {
                segment_ms: 1000,
                segment_jitter_ms: jitter,
                ..LogConfig::default()
            },
        );
        log.set_jitter_rng(Box::new(|| 400));
        assert_eq!(
            log.active_roll_jitter_ms(),
            if jitter > 0 { 400 } else { 0 }
        );
        log.append_leader(&kv(&[("a", Some("b"))], NOW), 0, NOW, NO_TXN)
            .unwrap();
        log.maybe_roll(NOW + 700).unwrap();
        assert_eq!(log.segment_count() == 2, rolled, "jitter {jitter}");
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn file_delete_delay_keeps_deleted_files_until_due() {
    for delay in [0i64, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(
            dir.path(),
            LogConfig {
                segment_bytes: 1024,
                retention_ms: 10,
                file_delete_delay_ms: delay,
                ..LogConfig::default()
            },
        );
        fill(&mut log, 3, 10, NOW - 1000);
        assert!(log.enforce_retention(NOW).unwrap() > 0);
        let deleted = || {
            names(dir.path())
                .iter()
                .filter(|n| n.ends_with(".deleted"))
                .count()
        };
        if delay == 0 {
            assert_eq!(deleted(), 0);
            continue;
        }
        assert!(deleted() > 0);
        assert_eq!(log.maybe_delete_pending(NOW + delay - 1).unwrap(), 0);
        assert!(deleted() > 0);
        assert!(log.maybe_delete_pending(NOW + delay).unwrap() > 0);
        assert_eq!(deleted(), 0);
        assert_eq!(log.pending_delete_count(), 0);
        // Leftovers from a crash are removed at open.
        fill(&mut log, 3, 10, NOW - 1000);
        log.enforce_retention(NOW).unwrap();
        assert!(deleted() > 0);
        drop(log);
        let _log = open(dir.path(), LogConfig::default());
        assert_eq!(deleted(), 0);
    }
}

#[test]
fn preallocate_reserves_blocks_without_changing_the_size() {
    use std::os::unix::fs::MetadataExt;
    for preallocate in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                segment_bytes: 4 * 1024 * 1024,
                preallocate,
                ..LogConfig::default()
            },
        );
        let meta = std::fs::metadata(dir.path().join(format!("{:020}.log", 0))).unwrap();
        assert_eq!(meta.len(), 0);
        let reserved = meta.blocks() * 512;
        assert_eq!(
            reserved >= 4 * 1024 * 1024,
            preallocate,
            "{reserved} bytes reserved"
        );
        drop(log);
    }
}
