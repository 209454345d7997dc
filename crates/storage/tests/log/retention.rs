//! Retention by time and size, DeleteRecords, truncation, `segment.ms` rolls and the flush
//! policy, deleting a log, and the log being Send + Sync.

use super::*;

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
