//! Recovery from a recovery point inside the active segment: after a flush (or a
//! background flush, which fsyncs without holding the log and snapshots producer state at
//! the offset it makes durable) a crash restart validates and replays only what follows,
//! rebuilds index entries byte-identical to a full recovery's, and keeps `.txnindex`
//! entries below the recovery point; large and small batches replay alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod recovery_common;

use std::fs;

use recovery_common::*;
use strait_records::{BatchBuilder, ControlRecordType};
use strait_storage::{LogConfig, PartitionLog};

#[test]
fn recovery_point_inside_the_active_segment_validates_only_what_follows() {
    // Sparse entries (several batches apart), so the indexing state at the recovery point
    // matters for where the next entries fall.
    let big = LogConfig {
        index_interval_bytes: 700,
        ..LogConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), big.clone(), NOW).unwrap();
    let mut w = Workload::new(29);
    w.run(&mut log, 300);
    log.flush().unwrap(); // the recovery point moves to the log end
    let flushed_size = log.size_in_bytes();
    w.run(&mut log, 30);
    let before = state(&log);
    let size = log.size_in_bytes();
    drop(log);
    // The reference: the same files recovered from the segment start.
    let full = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), full.path());
    fs::remove_file(full.path().join("recovery-point-offset-checkpoint")).unwrap();
    let reference = PartitionLog::open(full.path(), big.clone(), NOW).unwrap();
    assert_eq!(reference.recovery_stats().bytes_validated, size);
    drop(reference);

    let log = PartitionLog::open(dir.path(), big.clone(), NOW).unwrap();
    let s = log.recovery_stats().clone();
    assert_eq!(s.segments_recovered, 1);
    assert!(
        s.bytes_validated < size - flushed_size + 1024,
        "validated {} of {size} bytes, {} written after the flush",
        s.bytes_validated,
        size - flushed_size
    );
    assert_eq!(state(&log), before);
    drop(log);
    // Indexes rebuilt from the recovery point are byte-identical to a full rebuild's.
    for suffix in [".index", ".timeindex", ".txnindex"] {
        let a = files_with(dir.path(), suffix);
        let b = files_with(full.path(), suffix);
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(
                fs::read(a).unwrap(),
                fs::read(b).unwrap(),
                "{}",
                a.display()
            );
        }
    }

    // A torn tail after the recovery point is still cut.
    let seg = files_with(dir.path(), ".log").pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let log = PartitionLog::open(dir.path(), big, NOW).unwrap();
    assert!(log.recovery_stats().bytes_truncated > 0);
    let after = state(&log);
    assert_eq!(
        after.batches[..],
        before.batches[..before.batches.len() - 1]
    );
}

#[test]
fn large_and_small_batches_replay_the_same_producer_state() {
    // Batches from 60 bytes to ~40 KB: the replay's header scan switches between its
    // read-ahead (small batches) and reading one header at a time (large ones).
    let cfg = LogConfig {
        segment_bytes: 256 * 1024,
        index_interval_bytes: 4096,
        ..LogConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg.clone(), NOW).unwrap();
    let mut rng = Rng(99);
    let mut seq = [0i32; 4];
    for i in 0..400 {
        let pid = rng.below(4) as usize;
        let size = match rng.below(3) {
            0 => 10,
            1 => 3_000,
            _ => 12_000 + rng.below(30_000) as usize,
        };
        let n = 1 + rng.below(3) as usize;
        let mut b = BatchBuilder::new(log.log_end_offset())
            .leader_epoch(1)
            .producer(20 + pid as i64, 0, seq[pid])
            .transactional(pid == 3 && i % 7 != 0);
        for _ in 0..n {
            b = b.append(NOW + i, None, Some(&vec![b'z'; size]));
        }
        seq[pid] += n as i32;
        log.append_mirrored(&b.build().unwrap(), NOW).unwrap();
        if pid == 3 && i % 7 == 0 {
            let m = BatchBuilder::end_txn_marker(
                log.log_end_offset(),
                ControlRecordType::Abort,
                23,
                0,
                1,
                NOW,
            )
            .leader_epoch(1)
            .build()
            .unwrap();
            log.append_mirrored(&m, NOW).unwrap();
        }
    }
    assert!(log.segment_count() > 5);
    let before = state(&log);
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg, NOW).unwrap();
    assert!(log.recovery_stats().snapshot_offset.is_some());
    assert!(log.recovery_stats().batches_replayed > 0);
    assert_eq!(state(&log), before);
}

#[test]
fn background_flush_moves_the_recovery_point_without_holding_the_log() {
    let big = LogConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), big.clone(), NOW).unwrap();
    let mut w = Workload::new(43);
    w.run(&mut log, 200);
    assert_eq!(log.recovery_point(), 0);
    let unflushed = log.unflushed_bytes();
    assert_eq!(unflushed, log.size_in_bytes());
    let ticket = log.begin_background_flush().unwrap().unwrap();
    // Appends go on while the ticket is synced.
    w.run(&mut log, 20);
    let synced = ticket.sync();
    let noted = ticket.offset();
    assert!(log.complete_background_flush(ticket, synced, NOW).unwrap());
    assert_eq!(log.recovery_point(), noted);
    assert!(log.unflushed_bytes() < unflushed / 4);
    w.run(&mut log, 20);
    let before = state(&log);
    drop(log);
    let log = PartitionLog::open(dir.path(), big.clone(), NOW).unwrap();
    let s = log.recovery_stats().clone();
    assert!(
        s.bytes_validated < log.size_in_bytes() / 4,
        "validated {} of {}",
        s.bytes_validated,
        log.size_in_bytes()
    );
    assert_eq!(state(&log), before);
    // The ticket's producer snapshot lets the replay start at the recovery point too; the
    // `.txnindex` entries for markers below it were kept, the rest regenerated.
    assert_eq!(s.snapshot_offset, Some(noted));
    assert!(s.batches_replayed <= 40, "{s:?}");
    let full = {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        for p in files_with(copy.path(), ".snapshot") {
            fs::remove_file(p).unwrap();
        }
        fs::remove_file(copy.path().join("recovery-point-offset-checkpoint")).unwrap();
        state(&PartitionLog::open(copy.path(), big.clone(), NOW).unwrap())
    };
    assert_eq!(full, before);

    // A truncation between taking and completing a ticket voids it.
    let mut log = log;
    let ticket = log.begin_background_flush().unwrap().unwrap();
    let to = log.log_end_offset() - 5;
    log.truncate_to(to).unwrap();
    w.run(&mut log, 3);
    let synced = ticket.sync();
    assert!(!log.complete_background_flush(ticket, synced, NOW).unwrap());
    assert!(log.recovery_point() <= to);
    assert!(files_with(dir.path(), ".tmp").is_empty());
    assert!(log
        .producer_snapshot_offsets()
        .iter()
        .all(|o| *o <= log.log_end_offset()));
    // Nothing to do when the recovery point is at the log end.
    log.flush().unwrap();
    assert!(log.begin_background_flush().unwrap().is_none());
}
