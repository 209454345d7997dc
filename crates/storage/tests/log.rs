//! Integration tests for the partition log: offsets, rolls, reads, epochs, idempotence,
//! retention, DeleteRecords, truncation and crash recovery.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use strait_records::{BatchBuilder, BatchIter, Compression, ControlRecordType, TimestampType};
use strait_storage::{AppendError, LogConfig, PartitionLog, ReadError, StorageError};

const NOW: i64 = 1_700_000_000_000;
/// Appends here are not transactional: no coordinator verification.
const NO_TXN: strait_storage::VerificationGuard = strait_storage::VerificationGuard::NONE;

fn batch(n: usize, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(0);
    for i in 0..n {
        b = b.append(
            ts + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(&[b'v'; 100]),
        );
    }
    b.build().unwrap()
}

fn idem(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(0).producer(pid, epoch, seq);
    for i in 0..n {
        b = b.append(NOW + i as i64, None, Some(b"x"));
    }
    b.build().unwrap()
}

/// A mirrored batch at `base` with `n` records and a given leader epoch.
fn mirrored(base: i64, n: usize, epoch: i32, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(base).leader_epoch(epoch);
    for i in 0..n {
        b = b.append(ts + i as i64, None, Some(&[b'm'; 50]));
    }
    b.build().unwrap()
}

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config, NOW).unwrap()
}

/// All batches readable from `from`, as (base, last) pairs.
fn offsets(log: &PartitionLog, from: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut next = from;
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, i64::MAX, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            out.push((b.base_offset(), b.last_offset()));
            next = b.last_offset() + 1;
        }
    }
    out
}

#[test]
fn offsets_assigned_across_many_appends_and_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    let mut expected = 0;
    for i in 0..200 {
        let n = 1 + i % 5;
        let info = log.append_leader(&batch(n, NOW), 3, NOW, NO_TXN).unwrap();
        assert_eq!(info.base_offset, expected);
        assert_eq!(info.last_offset, expected + n as i64 - 1);
        assert_eq!(info.record_count, n as i64);
        assert!(!info.duplicate);
        assert_eq!(info.log_append_time_ms, -1);
        expected += n as i64;
    }
    assert_eq!(log.log_end_offset(), expected);
    assert_eq!(log.high_watermark(), expected);
    assert_eq!(log.last_stable_offset(), expected);
    assert!(
        log.segment_count() > 10,
        "segments: {}",
        log.segment_count()
    );
    let got = offsets(&log, 0);
    assert_eq!(got.first().unwrap().0, 0);
    assert_eq!(got.last().unwrap().1, expected - 1);
    for w in got.windows(2) {
        assert_eq!(w[0].1 + 1, w[1].0);
    }
    // Every stored batch carries the leader epoch.
    let r = log.read(0, 1 << 20, i64::MAX, true).unwrap();
    assert!(BatchIter::new(&r.records).all(|b| b.unwrap().partition_leader_epoch() == 3));
    // Reopen after a clean close: same state, appends continue.
    let size = log.size_in_bytes();
    log.close().unwrap();
    let mut log = open(dir.path(), small_config());
    assert_eq!(log.log_end_offset(), expected);
    assert_eq!(log.size_in_bytes(), size);
    assert_eq!(offsets(&log, 0).len(), got.len());
    assert_eq!(
        log.append_leader(&batch(1, NOW), 3, NOW, NO_TXN)
            .unwrap()
            .base_offset,
        expected
    );
}

#[test]
fn leader_validation_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            max_message_bytes: 1000,
            ..LogConfig::default()
        },
    );
    assert!(matches!(
        log.append_leader(&batch(20, NOW), 0, NOW, NO_TXN),
        Err(AppendError::RecordTooLarge { max: 1000, .. })
    ));
    let mut bad = batch(1, NOW);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(
        log.append_leader(&bad, 0, NOW, NO_TXN),
        Err(AppendError::Corrupt(_))
    ));
    let good = batch(1, NOW);
    assert!(matches!(
        log.append_leader(&good[..good.len() - 3], 0, NOW, NO_TXN),
        Err(AppendError::Corrupt(_))
    ));
    assert!(matches!(
        log.append_leader(&[], 0, NOW, NO_TXN),
        Err(AppendError::InvalidRecord(_))
    ));
    let marker = BatchBuilder::end_txn_marker(0, ControlRecordType::Commit, 1, 0, 0, NOW)
        .build()
        .unwrap();
    assert!(matches!(
        log.append_leader(&marker, 0, NOW, NO_TXN),
        Err(AppendError::InvalidRecord(_))
    ));
    let mut two = batch(2, NOW);
    two[60] = 5; // recordsCount no longer matches lastOffsetDelta
    strait_records::batch::write_crc(&mut two);
    assert!(matches!(
        log.append_leader(&two, 0, NOW, NO_TXN),
        Err(AppendError::InvalidRecord(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_in_bytes(), 0);
}

#[test]
fn compressed_batches_and_log_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        },
    );
    for c in Compression::ALL {
        let mut b = BatchBuilder::new(77).compression(c);
        for i in 0..10 {
            b = b.append(5 + i, None, Some(b"hello hello hello"));
        }
        let info = log
            .append_leader(&b.build().unwrap(), 1, NOW + 9, NO_TXN)
            .unwrap();
        assert_eq!(info.log_append_time_ms, NOW + 9);
    }
    let r = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    let mut n = 0;
    for b in BatchIter::new(&r.records) {
        let b = b.unwrap();
        b.validate_crc().unwrap();
        assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(b.max_timestamp(), NOW + 9);
        assert_eq!(strait_records::decode_records(&b).unwrap().len(), 10);
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn read_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    // Batches [0-4] [5-9] [10-14]
    for _ in 0..3 {
        log.append_leader(&batch(5, NOW), 0, NOW, NO_TXN).unwrap();
    }
    let size = batch(5, NOW).len();
    // Fetch inside a batch returns the whole batch, starting below the offset.
    let r = log.read(7, 1 << 20, i64::MAX, false).unwrap();
    let got: Vec<_> = BatchIter::new(&r.records)
        .map(|b| b.unwrap().base_offset())
        .collect();
    assert_eq!(got, vec![5, 10]);
    assert_eq!(r.high_watermark, 15);
    assert_eq!(r.log_start_offset, 0);
    // max_offset excludes batches starting at or after it.
    let r = log.read(0, 1 << 20, 10, false).unwrap();
    assert_eq!(r.records.len(), 2 * size);
    let r = log.read(0, 1 << 20, 3, false).unwrap();
    assert_eq!(r.records.len(), size); // batch 0-4 starts below 3
    let r = log.read(5, 1 << 20, 5, true).unwrap();
    assert!(r.records.is_empty());
    // max_bytes: whole batches only.
    let r = log.read(0, 2 * size + 10, i64::MAX, false).unwrap();
    assert_eq!(r.records.len(), 2 * size);
    let r = log.read(0, size - 1, i64::MAX, false).unwrap();
    assert!(r.records.is_empty());
    let r = log.read(0, size - 1, i64::MAX, true).unwrap();
    assert_eq!(r.records.len(), size);
    // At the log end: empty. Out of range either side.
    assert!(log
        .read(15, 100, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    assert!(matches!(
        log.read(16, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange {
            offset: 16,
            log_start_offset: 0,
            log_end_offset: 15
        })
    ));
    assert!(matches!(
        log.read(-1, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn sparse_offsets_and_huge_gaps_roll() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let gap = i64::from(i32::MAX) + 10;
    let info = log.append_mirrored(&mirrored(100, 3, 5, NOW), NOW).unwrap();
    assert_eq!(
        (
            info.first_offset,
            info.last_offset,
            info.batches,
            info.max_epoch
        ),
        (100, 102, 1, 5)
    );
    // Two batches in one append: a small gap, then one beyond a 32-bit relative offset.
    let mut set = mirrored(1000, 2, 5, NOW);
    set.extend(mirrored(1000 + gap, 2, 6, NOW));
    let info = log.append_mirrored(&set, NOW).unwrap();
    assert_eq!(info.last_offset, 1000 + gap + 1);
    assert_eq!(log.log_end_offset(), 1000 + gap + 2);
    assert_eq!(log.segment_base_offsets(), vec![0, 1000 + gap]);
    // Reads inside gaps land on the next batch.
    let r = log.read(500, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(
        BatchIter::new(&r.records)
            .next()
            .unwrap()
            .unwrap()
            .base_offset(),
        1000
    );
    let r = log.read(2000, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(
        BatchIter::new(&r.records)
            .next()
            .unwrap()
            .unwrap()
            .base_offset(),
        1000 + gap
    );
    // Bytes are stored exactly.
    let r = log.read(100, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(
        &r.records[..],
        &[mirrored(100, 3, 5, NOW), mirrored(1000, 2, 5, NOW)].concat()[..]
    );
    // Epoch cache comes from the batches.
    assert_eq!(log.epoch_entries(), vec![(5, 100), (6, 1000 + gap)]);
    // Huge gap into an empty log replaces the empty segment.
    let dir2 = tempfile::tempdir().unwrap();
    let mut log2 = open(dir2.path(), LogConfig::default());
    log2.append_mirrored(&mirrored(5 * gap, 1, 0, NOW), NOW)
        .unwrap();
    assert_eq!(log2.segment_base_offsets(), vec![5 * gap]);
    log2.close().unwrap();
    let log2 = open(dir2.path(), LogConfig::default());
    assert_eq!(log2.log_end_offset(), 5 * gap + 1);
    assert_eq!(
        offsets(&log2, log2.log_start_offset()),
        vec![(5 * gap, 5 * gap)]
    );
}

#[test]
fn mirror_offset_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append_mirrored(&mirrored(10, 5, 1, NOW), NOW).unwrap();
    assert!(matches!(
        log.append_mirrored(&mirrored(12, 1, 1, NOW), NOW),
        Err(AppendError::UnexpectedAppendOffset {
            first_offset: 12,
            log_end_offset: 15
        })
    ));
    let mut set = mirrored(20, 5, 1, NOW);
    set.extend(mirrored(24, 1, 1, NOW));
    assert!(matches!(
        log.append_mirrored(&set, NOW),
        Err(AppendError::OffsetsOutOfOrder {
            base_offset: 24,
            previous_last_offset: 24
        })
    ));
    let mut bad = mirrored(20, 1, 1, NOW);
    bad[30] ^= 1;
    assert!(matches!(
        log.append_mirrored(&bad, NOW),
        Err(AppendError::Corrupt(_))
    ));
    // Mirror path does not enforce max.message.bytes.
    log.update_config(LogConfig {
        max_message_bytes: 10,
        ..LogConfig::default()
    });
    log.append_mirrored(&mirrored(15, 10, 1, NOW), NOW).unwrap();
    let empty = log.append_mirrored(&[], NOW).unwrap();
    assert_eq!(empty.batches, 0);
    assert_eq!(log.log_end_offset(), 25);
}

#[test]
fn epoch_cache_and_end_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(log.end_offset_for_epoch(0), (-1, -1));
    assert_eq!(log.latest_epoch(), None);
    log.append_leader(&batch(3, NOW), 1, NOW, NO_TXN).unwrap(); // 0-2 @1
    log.append_leader(&batch(3, NOW), 1, NOW, NO_TXN).unwrap(); // 3-5 @1
    log.append_leader(&batch(3, NOW), 4, NOW, NO_TXN).unwrap(); // 6-8 @4
    log.assign_epoch_start(7).unwrap(); // starts at 9
    log.assign_epoch_start(6).unwrap(); // not newer: no-op
    log.append_leader(&batch(2, NOW), 7, NOW, NO_TXN).unwrap(); // 9-10 @7
    assert_eq!(log.epoch_entries(), vec![(1, 0), (4, 6), (7, 9)]);
    assert_eq!(log.latest_epoch(), Some(7));
    assert_eq!(log.end_offset_for_epoch(7), (7, 11));
    assert_eq!(log.end_offset_for_epoch(4), (4, 9));
    assert_eq!(log.end_offset_for_epoch(5), (4, 9));
    assert_eq!(log.end_offset_for_epoch(0), (0, 0));
    assert_eq!(log.end_offset_for_epoch(8), (-1, -1));
    assert_eq!(log.end_offset_for_epoch(-1), (-1, -1));
    assert_eq!(log.epoch_for_offset(7), Some(4));
    assert_eq!(log.epoch_for_offset(0), Some(1));
    // Truncation trims the end of the cache; persisted across reopen.
    log.truncate_to(6).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0)]);
    assert_eq!(log.log_end_offset(), 6);
    drop(log); // unclean
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.epoch_entries(), vec![(1, 0)]);
    let text = std::fs::read_to_string(dir.path().join("leader-epoch-checkpoint")).unwrap();
    assert_eq!(text, "0\n1\n1 0\n");
}

#[test]
fn idempotent_producer() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let first = log
        .append_leader(&idem(7, 0, 0, 3), 0, NOW, NO_TXN)
        .unwrap();
    assert_eq!((first.base_offset, first.last_offset), (0, 2));
    log.append_leader(&batch(2, NOW), 0, NOW, NO_TXN).unwrap(); // 3-4, no producer
    let second = log
        .append_leader(&idem(7, 0, 3, 2), 0, NOW, NO_TXN)
        .unwrap();
    assert_eq!((second.base_offset, second.last_offset), (5, 6));
    // Retry of the first batch: original offsets, nothing written.
    let size = log.size_in_bytes();
    let dup = log
        .append_leader(&idem(7, 0, 0, 3), 0, NOW, NO_TXN)
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (0, 2));
    assert_eq!(log.size_in_bytes(), size);
    assert_eq!(log.log_end_offset(), 7);
    // Gap.
    assert!(matches!(
        log.append_leader(&idem(7, 0, 9, 1), 0, NOW, NO_TXN),
        Err(AppendError::OutOfOrderSequence {
            producer_id: 7,
            base_sequence: 9,
            last_sequence: 4,
            ..
        })
    ));
    // New epoch must start at 0.
    assert!(matches!(
        log.append_leader(&idem(7, 1, 5, 1), 0, NOW, NO_TXN),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
    log.append_leader(&idem(7, 1, 0, 1), 0, NOW, NO_TXN)
        .unwrap();
    assert!(matches!(
        log.append_leader(&idem(7, 0, 5, 1), 0, NOW, NO_TXN),
        Err(AppendError::InvalidProducerEpoch {
            producer_id: 7,
            producer_epoch: 0,
            current_epoch: 1
        })
    ));
    assert_eq!(log.producer_state(7), Some((1, 0)));
    // Unknown producer: any starting sequence is accepted (Kafka >= 2.5).
    log.append_leader(&idem(9, 0, 42, 1), 0, NOW, NO_TXN)
        .unwrap();
    assert_eq!(log.max_producer_id(), Some(9));
    // Two batches of one producer in one append are checked in order.
    let mut set = idem(11, 0, 0, 2);
    set.extend(idem(11, 0, 2, 2));
    log.append_leader(&set, 0, NOW, NO_TXN).unwrap();
    assert_eq!(log.producer_state(11), Some((0, 3)));
    // State survives both an unclean and a clean restart.
    drop(log);
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(log.producer_state(7), Some((1, 0)));
    assert!(
        log.append_leader(&idem(7, 1, 0, 1), 0, NOW, NO_TXN)
            .unwrap()
            .duplicate
    );
    log.close().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert!(!dir.path().join("producer-state.snapshot").exists());
    assert!(
        log.append_leader(&idem(7, 1, 0, 1), 0, NOW, NO_TXN)
            .unwrap()
            .duplicate
    );
    assert_eq!(
        log.append_leader(&idem(7, 1, 1, 1), 0, NOW, NO_TXN)
            .unwrap()
            .base_offset,
        log.log_end_offset() - 1
    );
    assert_eq!(log.max_producer_id(), Some(11));
}

#[test]
fn mirror_updates_producer_state_without_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let b = BatchBuilder::new(50)
        .producer(3, 2, 17)
        .append(NOW, None, Some(b"x"))
        .build()
        .unwrap();
    log.append_mirrored(&b, NOW).unwrap();
    let b = BatchBuilder::new(60)
        .producer(3, 1, 99) // lower epoch and a gap: accepted on the mirror path
        .append(NOW, None, Some(b"x"))
        .build()
        .unwrap();
    log.append_mirrored(&b, NOW).unwrap();
    assert_eq!(log.producer_state(3), Some((1, 99)));
    assert_eq!(log.max_producer_id(), Some(3));
}

#[test]
fn retention_by_time_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config();
    let mut log = open(dir.path(), config.clone());
    for i in 0..60 {
        log.append_leader(&batch(2, NOW + i * 1000), 0, NOW, NO_TXN)
            .unwrap();
    }
    let segments = log.segment_count();
    assert!(segments > 4);
    // Nothing is old enough yet.
    assert_eq!(log.enforce_retention(NOW + 60_000).unwrap(), 0);
    // Everything is old: all but the active segment go.
    config.retention_ms = 1000;
    log.update_config(config.clone());
    let deleted = log.enforce_retention(NOW + 10_000_000).unwrap();
    assert_eq!(deleted, segments - 1);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert!(matches!(
        log.read(0, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    // Size retention.
    config.retention_ms = -1;
    config.retention_bytes = 8192;
    log.update_config(config.clone());
    for _ in 0..60 {
        log.append_leader(&batch(2, NOW), 0, NOW, NO_TXN).unwrap();
    }
    let before = log.size_in_bytes();
    assert!(before > 8192);
    assert!(log.enforce_retention(NOW).unwrap() > 0);
    assert!(
        log.size_in_bytes() <= 8192 + 4096,
        "{}",
        log.size_in_bytes()
    );
    assert!(log.size_in_bytes() > 8192 - 4096);
    let start = log.log_start_offset();
    assert_eq!(offsets(&log, start).first().unwrap().0, start);
    // Log start survives a restart.
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!(log.log_start_offset(), start);
}

#[test]
fn delete_records_before_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..50 {
        log.append_leader(&batch(3, NOW), 2, NOW, NO_TXN).unwrap();
    }
    let segments = log.segment_count();
    assert!(matches!(
        log.delete_records_before(151),
        Err(StorageError::OffsetOutOfRange { offset: 151, .. })
    ));
    assert_eq!(log.delete_records_before(100).unwrap(), 100);
    assert!(log.segment_count() < segments);
    assert_eq!(log.delete_records_before(50).unwrap(), 100); // never moves back
    assert!(matches!(
        log.read(99, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    // A fetch at the log start may return the batch that straddles it.
    let r = log.read(100, 1 << 20, i64::MAX, true).unwrap();
    let b = BatchIter::new(&r.records).next().unwrap().unwrap();
    assert!(b.base_offset() <= 100 && b.last_offset() >= 100);
    assert_eq!(log.epoch_entries(), vec![(2, 100)]);
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!(log.log_start_offset(), 100);
    assert_eq!(log.log_end_offset(), 150);
    log.close().unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(log.log_start_offset(), 100);
    // Delete up to the log end, then restart: empty but keeps its offsets.
    let mut log = log;
    log.delete_records_before(150).unwrap();
    drop(log);
    let mut log = open(dir.path(), small_config());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (150, 150));
    assert_eq!(
        log.append_leader(&batch(1, NOW), 2, NOW, NO_TXN)
            .unwrap()
            .base_offset,
        150
    );
}

#[test]
fn truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..40 {
        log.append_leader(&batch(5, NOW), 1, NOW, NO_TXN).unwrap();
    }
    log.truncate_to(103).unwrap(); // inside batch 100-104: removed whole
    assert_eq!(log.log_end_offset(), 100);
    assert_eq!(offsets(&log, 0).last().unwrap().1, 99);
    assert_eq!(
        log.append_leader(&batch(1, NOW), 1, NOW, NO_TXN)
            .unwrap()
            .base_offset,
        100
    );
    log.truncate_to(1000).unwrap(); // beyond the end: no-op
    assert_eq!(log.log_end_offset(), 101);
    log.truncate_fully_and_start_at(500).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
    assert_eq!(log.segment_base_offsets(), vec![500]);
    assert!(log.epoch_entries().is_empty());
    log.append_mirrored(&mirrored(500, 2, 3, NOW), NOW).unwrap();
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 502));
}

#[test]
fn timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    // Batch i holds records with timestamps 1000*i + 0..4.
    for i in 0..50 {
        log.append_leader(&batch(5, 1000 * i), i as i32, NOW, NO_TXN)
            .unwrap();
    }
    let t = log.offset_for_timestamp(7002).unwrap().unwrap();
    assert_eq!((t.offset, t.timestamp, t.leader_epoch), (37, 7002, Some(7)));
    let t = log.offset_for_timestamp(7005).unwrap().unwrap();
    assert_eq!((t.offset, t.timestamp), (40, 8000));
    assert_eq!(log.offset_for_timestamp(0).unwrap().unwrap().offset, 0);
    assert_eq!(log.offset_for_timestamp(49_005).unwrap(), None);
    let m = log.max_timestamp_offset().unwrap().unwrap();
    assert_eq!(
        (m.offset, m.timestamp, m.leader_epoch),
        (249, 49_004, Some(49))
    );
    log.close().unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(
        log.offset_for_timestamp(30_001).unwrap().unwrap().offset,
        151
    );
    assert_eq!(log.max_timestamp_offset().unwrap().unwrap().offset, 249);
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = open(empty_dir.path(), LogConfig::default());
    assert_eq!(empty.max_timestamp_offset().unwrap(), None);
    assert_eq!(empty.offset_for_timestamp(0).unwrap(), None);
}

#[test]
fn segment_ms_roll_and_flush_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            segment_ms: 1000,
            flush_messages: 3,
            ..LogConfig::default()
        },
    );
    log.append_leader(&batch(1, NOW), 0, NOW, NO_TXN).unwrap();
    log.maybe_roll(NOW + 500).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.maybe_roll(NOW + 1001).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maybe_roll(NOW + 5000).unwrap(); // empty active: no roll
    assert_eq!(log.segment_count(), 2);
    log.append_leader(&batch(1, NOW), 0, NOW + 5000, NO_TXN)
        .unwrap();
    log.append_leader(&batch(1, NOW), 0, NOW + 6001, NO_TXN)
        .unwrap(); // time roll on append
    assert_eq!(log.segment_count(), 3);
    let rp =
        || std::fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    log.append_leader(&batch(3, NOW), 0, NOW + 6002, NO_TXN)
        .unwrap(); // flush.messages reached
    assert_eq!(rp(), format!("0\n1\n{}\n", log.log_end_offset()));
    log.maybe_flush(NOW + 7000).unwrap();
    log.flush().unwrap();
}

// ---- crash recovery ----

fn fill(dir: &Path) -> (Vec<(i64, i64)>, u64) {
    let mut log = open(dir, small_config());
    for _ in 0..30 {
        log.append_leader(&batch(3, NOW), 0, NOW, NO_TXN).unwrap();
    }
    let got = offsets(&log, 0);
    let size = log.size_in_bytes();
    drop(log); // no close: unclean
    (got, size)
}

fn active_segment(dir: &Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn check_recovered(dir: &Path, expect: &[(i64, i64)]) {
    let mut log = open(dir, small_config());
    assert_eq!(offsets(&log, 0), expect);
    let leo = expect.last().map_or(0, |b| b.1 + 1);
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(
        log.append_leader(&batch(2, NOW), 0, NOW, NO_TXN)
            .unwrap()
            .base_offset,
        leo
    );
    assert_eq!(
        log.read(leo, 1 << 20, i64::MAX, true)
            .unwrap()
            .records
            .len(),
        batch(2, NOW).len()
    );
    drop(log);
    // And once more: recovery is idempotent.
    let log = open(dir, small_config());
    assert_eq!(log.log_end_offset(), leo + 2);
}

#[test]
fn recovery_garbage_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let mut f = OpenOptions::new()
        .append(true)
        .open(active_segment(dir.path()))
        .unwrap();
    f.write_all(&[0xab; 100]).unwrap();
    check_recovered(dir.path(), &expect);
}

#[test]
fn recovery_truncated_mid_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let path = active_segment(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    check_recovered(dir.path(), &expect[..expect.len() - 1]);
}

#[test]
fn recovery_flipped_byte_in_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let path = active_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    check_recovered(dir.path(), &expect[..expect.len() - 1]);
}

#[test]
fn recovery_partial_header_and_stray_files() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let mut f = OpenOptions::new()
        .append(true)
        .open(active_segment(dir.path()))
        .unwrap();
    f.write_all(&batch(1, NOW)[..30]).unwrap();
    std::fs::write(dir.path().join("00000000000000000000.log.deleted"), b"x").unwrap();
    std::fs::write(dir.path().join("leader-epoch-checkpoint.tmp"), b"x").unwrap();
    std::fs::write(dir.path().join("00000000000099999999.index"), b"x").unwrap();
    check_recovered(dir.path(), &expect);
    assert!(!dir.path().join("00000000000000000000.log.deleted").exists());
    assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
    assert!(!dir.path().join("00000000000099999999.index").exists());
}

#[test]
fn corrupt_or_missing_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..30 {
        log.append_leader(&batch(3, NOW), 0, NOW, NO_TXN).unwrap();
    }
    let expect = offsets(&log, 0);
    log.close().unwrap();
    let first = dir.path().join("00000000000000000000.index");
    assert!(std::fs::metadata(&first).unwrap().len() > 0);
    std::fs::write(&first, [0xff; 13]).unwrap(); // not whole entries, points past the end
    let second_base = {
        let log = open(dir.path(), small_config());
        let b = log.segment_base_offsets()[1];
        log.close().unwrap();
        b
    };
    std::fs::remove_file(dir.path().join(format!("{second_base:020}.index"))).unwrap();
    std::fs::remove_file(dir.path().join(format!("{second_base:020}.timeindex"))).unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(offsets(&log, 0), expect);
    for (base, _) in &expect {
        let r = log.read(*base, 10, i64::MAX, true).unwrap();
        assert_eq!(
            BatchIter::new(&r.records)
                .next()
                .unwrap()
                .unwrap()
                .base_offset(),
            *base
        );
    }
}

#[test]
fn clean_reopen_does_not_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let log = open(dir.path(), small_config());
    log.close().unwrap();
    assert!(dir.path().join(".clean-shutdown").exists());
    // Damage a non-active segment's tail area the clean path never reads: the first batch
    // of segment 0 (covered by its index, so not re-validated). A clean open trusts it.
    let path = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[70] ^= 0xff; // inside the first batch's records
    std::fs::write(&path, &bytes).unwrap();
    let log = open(dir.path(), small_config());
    assert!(!dir.path().join(".clean-shutdown").exists());
    assert_eq!(log.log_end_offset(), expect.last().unwrap().1 + 1);
    // The damaged batch is still served: proof that the clean open did not validate it.
    let r = log.read(0, 100, i64::MAX, true).unwrap();
    let b = BatchIter::new(&r.records).next().unwrap().unwrap();
    assert!(b.validate_crc().is_err());
}

#[test]
fn delete_removes_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("topic-0");
    let mut log = open(&dir, LogConfig::default());
    log.append_leader(&batch(1, NOW), 0, NOW, NO_TXN).unwrap();
    log.delete().unwrap();
    assert!(!dir.exists());
}

#[test]
fn partition_log_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PartitionLog>();
}

#[test]
fn recovery_without_recovery_point_validates_all_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    // Without a recovery point every segment is validated; damage in the first segment
    // truncates it there and drops every later segment (they follow the damage).
    std::fs::remove_file(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    let path = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&path).unwrap();
    let one = batch(3, NOW).len();
    bytes[one + 70] ^= 0x01; // second batch of segment 0
    std::fs::write(&path, bytes).unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(offsets(&log, 0), expect[..1]);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_end_offset(), 3);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Arbitrary bytes (and mutations of valid batches) never panic either append path,
        /// and a failed append changes nothing.
        #[test]
        fn appends_never_panic(data in prop::collection::vec(any::<u8>(), 0..300),
                               edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6)) {
            let dir = tempfile::tempdir().unwrap();
            let mut log = open(dir.path(), LogConfig::default());
            log.append_leader(&batch(2, NOW), 0, NOW, NO_TXN).unwrap();
            let mut mutated = [batch(3, NOW), idem(1, 0, 0, 2)].concat();
            for (i, v) in edits {
                let at = i.index(mutated.len());
                mutated[at] = v;
            }
            for input in [&data[..], &mutated[..]] {
                let (leo, size) = (log.log_end_offset(), log.size_in_bytes());
                if log.append_leader(input, 0, NOW, NO_TXN).is_err() {
                    prop_assert_eq!((log.log_end_offset(), log.size_in_bytes()), (leo, size));
                }
                let (leo, size) = (log.log_end_offset(), log.size_in_bytes());
                if log.append_mirrored(input, NOW).is_err() {
                    prop_assert_eq!((log.log_end_offset(), log.size_in_bytes()), (leo, size));
                }
            }
            let _ = offsets(&log, 0);
            drop(log);
            let log = open(dir.path(), LogConfig::default());
            prop_assert!(log.log_end_offset() >= 2);
        }

        /// Truncating the active segment at any byte and reopening keeps exactly the
        /// complete batches before the cut.
        #[test]
        fn recovery_keeps_complete_prefix(cut in any::<prop::sample::Index>()) {
            let dir = tempfile::tempdir().unwrap();
            let mut log = open(dir.path(), LogConfig::default());
            let mut ends = Vec::new();
            let mut pos = 0u64;
            for i in 0..8 {
                log.append_leader(&batch(1 + i % 3, NOW), 0, NOW, NO_TXN).unwrap();
                pos = log.size_in_bytes();
                ends.push((pos, log.log_end_offset()));
            }
            drop(log);
            let cut = cut.index(pos as usize + 1) as u64;
            let path = dir.path().join("00000000000000000000.log");
            OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
            let log = open(dir.path(), LogConfig::default());
            let leo = ends.iter().filter(|(e, _)| *e <= cut).map(|(_, o)| *o).next_back().unwrap_or(0);
            prop_assert_eq!(log.log_end_offset(), leo);
            let n = offsets(&log, 0).len();
            prop_assert_eq!(n, ends.iter().filter(|(e, _)| *e <= cut).count());
        }
    }
}

/// `read` pulls the exact on-disk bytes into uninitialized capacity (no zero-fill): a
/// multi-MiB read equals the file's bytes, and a file cut short behind the log's back is a
/// clean error naming the file, not a short or zero-padded buffer.
#[test]
fn read_returns_file_bytes_and_reports_a_short_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    // ~512 KiB batches, so that the header scan (64 KiB windows) stays clear of the cut below
    // and only the batch read itself meets the end of the file.
    let mut b = BatchBuilder::new(0);
    for i in 0..32u8 {
        b = b.append(NOW + i64::from(i), Some(&[i]), Some(&[i; 16 * 1024]));
    }
    let one = b.build().unwrap();
    for _ in 0..6 {
        log.append_leader(&one, 0, NOW, NO_TXN).unwrap();
    }
    let seg_path = dir.path().join("00000000000000000000.log");
    let on_disk = std::fs::read(&seg_path).unwrap();
    assert_eq!(on_disk.len(), 6 * one.len());
    let r = log.read(0, usize::MAX, i64::MAX, true).unwrap();
    assert_eq!(&r.records[..], &on_disk[..]);

    // Cut the file 70 kB into the last batch: the log still promises all six.
    OpenOptions::new()
        .write(true)
        .open(&seg_path)
        .unwrap()
        .set_len(5 * one.len() as u64 + 70_000)
        .unwrap();
    let err = log
        .read(0, usize::MAX, i64::MAX, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("end of file"), "{err}");
    assert!(err.contains("00000000000000000000.log"), "{err}");
    // Reads that stop before the cut still work.
    let r = log.read(0, 5 * one.len(), i64::MAX, true).unwrap();
    assert_eq!(&r.records[..], &on_disk[..5 * one.len()]);
}
