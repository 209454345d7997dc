//! Leader appends and reads: offsets across appends and rolls, validation errors,
//! compression and LogAppendTime, read semantics, sparse offsets and gap rolls, timestamp
//! lookups, and reads that return the file's bytes or name a file cut short.

use super::*;

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
