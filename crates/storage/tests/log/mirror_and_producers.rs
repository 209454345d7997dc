//! The mirror append path's offset checks, the leader-epoch cache and end offsets, and
//! producer state: idempotence checks on the leader path, none on the mirror path.

use super::*;

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
