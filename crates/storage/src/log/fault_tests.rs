//! Injected I/O failures on every write of the append path (see [`crate::fault`]): the
//! data write (whole, partial, with a failed cut-back), the offset and time index writes
//! (which happen at roll, flush and background flush: appends only add entries in memory),
//! the roll, the leader-epoch checkpoint, the fsync. For each: the append fails; a
//! recoverable failure leaves the next append at the next offset, an offline transition
//! makes every later append and read fail; a reopen holds every acknowledged record and no
//! offset twice; an idempotent producer's retry after the reopen is deduplicated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;

use strait_records::{BatchBuilder, BatchIter};

use crate::fault::{self, Op};
use crate::{AppendError, LogConfig, PartitionLog, ReadError, StorageError};

const NOW: i64 = 1_700_000_000_000;
/// Appends here are not transactional: no coordinator verification.
const NO_TXN: crate::VerificationGuard = crate::VerificationGuard::NONE;
const PID: i64 = 7;
const EIO: i32 = 5;
const ENOSPC: i32 = 28;

fn idem(seq: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(0).producer(PID, 0, seq);
    for i in 0..3 {
        b = b.append(NOW + i64::from(seq) + i, Some(b"key"), Some(&[b'v'; 100]));
    }
    b.build().unwrap()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// Every batch in the log as (base offset, base sequence), checking offsets increase.
fn contents(log: &PartitionLog) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, i64::MAX, true).unwrap();
        assert!(!r.records.is_empty(), "no batch at {next}");
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            assert!(b.base_offset() >= next, "offset {} reused", b.base_offset());
            out.push((b.base_offset(), b.header().base_sequence));
            next = b.last_offset() + 1;
        }
    }
    out
}

/// What a failure is expected to do to the partition.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Retriable,
    Offline,
}

/// Appends until the armed fault fires, then checks the contract; returns nothing, panics
/// on any violation.
fn run(dir: &Path, op: Op, nth: u32, errno: i32, partial: bool, expect: Expect) {
    fault::clear();
    let mut log = PartitionLog::open(dir, config(), NOW).unwrap();
    // (base offset, sequence) of every acknowledged append.
    let mut acked: Vec<(i64, i32)> = Vec::new();
    let mut seq = 0;
    for _ in 0..3 {
        let info = log.append_leader(&idem(seq), 0, NOW, NO_TXN).unwrap();
        acked.push((info.base_offset, seq));
        seq += 3;
    }
    fault::fail_nth(op, nth, errno, partial, false);
    let mut failed_seq = None;
    for _ in 0..40 {
        let leo = log.log_end_offset();
        match log.append_leader(&idem(seq), 1, NOW, NO_TXN) {
            Ok(info) => {
                assert_eq!(
                    info.base_offset, leo,
                    "append after {op:?} fault not at the log end"
                );
                acked.push((info.base_offset, seq));
                seq += 3;
            }
            Err(e) => {
                failed_seq = Some(seq);
                match expect {
                    Expect::Retriable => {
                        assert!(matches!(e, AppendError::Io(_)), "{op:?}: {e}");
                        assert!(!log.is_offline());
                        assert_eq!(log.log_end_offset(), leo, "{op:?}: log end moved");
                    }
                    Expect::Offline => {
                        assert!(matches!(e, AppendError::Offline(_)), "{op:?}: {e}");
                        assert!(log.is_offline());
                        let msg = e.to_string();
                        assert!(msg.contains(&dir.display().to_string()), "{msg}");
                    }
                }
                break;
            }
        }
    }
    let failed_seq = failed_seq.unwrap_or_else(|| panic!("{op:?} fault never fired"));
    fault::clear();
    match expect {
        Expect::Retriable => {
            // The retry lands at the next offset, exactly once.
            let leo = log.log_end_offset();
            let info = log
                .append_leader(&idem(failed_seq), 1, NOW, NO_TXN)
                .unwrap();
            assert!(!info.duplicate);
            assert_eq!(info.base_offset, leo);
            acked.push((info.base_offset, failed_seq));
            assert_eq!(contents(&log), acked);
        }
        Expect::Offline => {
            assert!(matches!(
                log.append_leader(&idem(failed_seq), 1, NOW, NO_TXN),
                Err(AppendError::Offline(_))
            ));
            assert!(matches!(
                log.read(0, 1 << 20, i64::MAX, true),
                Err(ReadError::Offline(_))
            ));
            assert!(matches!(log.flush(), Err(StorageError::Offline(_))));
        }
    }
    // An offline log cannot be closed cleanly; drop it (a crash) and recover.
    drop(log);
    let mut log = PartitionLog::open(dir, config(), NOW).unwrap();
    let after = contents(&log);
    // Every acknowledged record survives at its offset; the only extra batch a recovery
    // may keep is the failed append itself (whole, never acknowledged).
    for a in &acked {
        assert!(
            after.contains(a),
            "{op:?}: acknowledged {a:?} lost: {after:?}"
        );
    }
    for b in &after {
        assert!(
            acked.contains(b) || b.1 == failed_seq,
            "{op:?}: unexpected batch {b:?}"
        );
    }
    // Idempotent retries: the failed batch is written once (or deduplicated if the
    // recovery kept it), the last acknowledged one is deduplicated.
    let retry = log
        .append_leader(&idem(failed_seq), 1, NOW, NO_TXN)
        .unwrap();
    let again = log
        .append_leader(&idem(failed_seq), 1, NOW, NO_TXN)
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.base_offset, retry.base_offset);
    let last = *acked.last().unwrap();
    if last.1 != failed_seq {
        let old = log.append_leader(&idem(last.1), 1, NOW, NO_TXN);
        // A retry of an older batch than the producer's last is a duplicate or
        // out-of-order; never a second copy.
        if let Ok(info) = old {
            assert!(info.duplicate);
        }
    }
    let seqs: Vec<i32> = contents(&log).iter().map(|c| c.1).collect();
    let unique: HashSet<i32> = seqs.iter().copied().collect();
    assert_eq!(
        seqs.len(),
        unique.len(),
        "{op:?}: duplicated batch {seqs:?}"
    );
    log.close().unwrap();
}

#[test]
fn data_write_failure_is_retriable() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        Op::LogWrite,
        0,
        ENOSPC,
        false,
        Expect::Retriable,
    );
}

#[test]
fn partial_data_write_is_cut_back_and_retriable() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), Op::LogWrite, 2, EIO, true, Expect::Retriable);
}

#[test]
fn partial_data_write_without_cut_back_goes_offline() {
    let dir = tempfile::tempdir().unwrap();
    fault::clear();
    // The cut-back is the only SetLen in the append path.
    let mut log = PartitionLog::open(dir.path(), config(), NOW).unwrap();
    log.append_leader(&idem(0), 0, NOW, NO_TXN).unwrap();
    fault::fail_nth(Op::LogWrite, 0, EIO, true, false);
    fault::fail_nth(Op::SetLen, 0, EIO, false, false);
    let e = log.append_leader(&idem(3), 0, NOW, NO_TXN).unwrap_err();
    assert!(matches!(e, AppendError::Offline(_)), "{e}");
    fault::clear();
    assert!(log.is_offline());
    assert!(log.close().is_err());
    let mut log = PartitionLog::open(dir.path(), config(), NOW).unwrap();
    assert_eq!(contents(&log), vec![(0, 0)]);
    let info = log.append_leader(&idem(3), 0, NOW, NO_TXN).unwrap();
    assert_eq!((info.base_offset, info.duplicate), (3, false));
}

#[test]
fn offset_index_write_failure_goes_offline() {
    // Fires at a roll: it writes and fsyncs the old segment's pending index entries.
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        Op::OffsetIndexWrite,
        0,
        EIO,
        false,
        Expect::Offline,
    );
}

#[test]
fn time_index_write_failure_goes_offline() {
    // Fires at a roll: it writes and fsyncs the old segment's pending index entries.
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        Op::TimeIndexWrite,
        0,
        ENOSPC,
        false,
        Expect::Offline,
    );
}

#[test]
fn roll_failure_goes_offline() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        Op::SegmentCreate,
        0,
        ENOSPC,
        false,
        Expect::Offline,
    );
}

#[test]
fn epoch_checkpoint_failure_goes_offline() {
    // The fault loop appends with leader epoch 1, so its first append writes the
    // leader-epoch checkpoint.
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), Op::Checkpoint, 0, EIO, false, Expect::Offline);
}

#[test]
fn fsync_failure_goes_offline() {
    // Rolls fsync the old segment.
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), Op::Fsync, 0, EIO, false, Expect::Offline);
}

#[test]
fn split_append_is_whole_or_offline() {
    // Many non-idempotent batches in one append: the roll between them fails after the
    // first run was written. The partition goes offline with nothing committed in memory.
    let dir = tempfile::tempdir().unwrap();
    fault::clear();
    let mut log = PartitionLog::open(dir.path(), config(), NOW).unwrap();
    let mut one = BatchBuilder::new(0);
    for i in 0..3 {
        one = one.append(NOW + i, Some(b"k"), Some(&[b'v'; 100]));
    }
    let one = one.build().unwrap();
    let many: Vec<u8> = std::iter::repeat_n(one.clone(), 8).flatten().collect();
    let leo = log.log_end_offset();
    fault::fail_nth(Op::SegmentCreate, 0, ENOSPC, false, false);
    let e = log.append_leader(&many, 0, NOW, NO_TXN).unwrap_err();
    assert!(matches!(e, AppendError::Offline(_)), "{e}");
    assert_eq!(
        log.log_end_offset(),
        leo,
        "log end advanced for a failed append"
    );
    fault::clear();
    drop(log);
    // Recovery keeps only whole batches, at increasing offsets from 0 (the unacknowledged
    // first run may survive, as with any write not acknowledged).
    let mut log = PartitionLog::open(dir.path(), config(), NOW).unwrap();
    let after = contents(&log);
    assert!(after.len() < 8, "{after:?}");
    let leo = log.log_end_offset();
    let info = log.append_leader(&many, 0, NOW, NO_TXN).unwrap();
    assert_eq!(info.base_offset, leo);
    assert_eq!(info.last_offset, leo + 23);
    log.close().unwrap();
}

/// Appends three batches (no roll: one big segment), arms `op`, and checks that `flush`
/// (`background = false`) or a background flush's completion fails with the partition
/// offline, the recovery point unmoved, and that a reopen holds every acknowledged batch.
fn index_write_failure_at_flush(op: Op, background: bool) {
    let dir = tempfile::tempdir().unwrap();
    fault::clear();
    let big = LogConfig {
        index_interval_bytes: 256,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), big.clone(), NOW).unwrap();
    let mut acked = Vec::new();
    for seq in [0, 3, 6, 9, 12] {
        let info = log.append_leader(&idem(seq), 0, NOW, NO_TXN).unwrap();
        acked.push((info.base_offset, seq));
    }
    assert_eq!(log.segment_count(), 1);
    let recovery_point = log.recovery_point();
    fault::fail_nth(op, 0, EIO, false, false);
    let e = if background {
        let ticket = log.begin_background_flush().unwrap().unwrap();
        let synced = ticket.sync();
        assert!(synced.is_err(), "{op:?}: background sync succeeded");
        log.complete_background_flush(ticket, synced, NOW)
            .unwrap_err()
    } else {
        log.flush().unwrap_err()
    };
    fault::clear();
    assert!(matches!(e, StorageError::Offline(_)), "{op:?}: {e}");
    assert!(
        e.to_string().contains(&dir.path().display().to_string()),
        "{e}"
    );
    assert!(log.is_offline());
    assert_eq!(log.recovery_point(), recovery_point);
    assert!(matches!(
        log.append_leader(&idem(15), 0, NOW, NO_TXN),
        Err(AppendError::Offline(_))
    ));
    drop(log);
    let mut log = PartitionLog::open(dir.path(), big, NOW).unwrap();
    assert_eq!(contents(&log), acked);
    let again = log.append_leader(&idem(12), 0, NOW, NO_TXN).unwrap();
    assert!(
        again.duplicate,
        "the last acknowledged batch was not deduplicated"
    );
    log.close().unwrap();
}

#[test]
fn offset_index_write_failure_at_flush_goes_offline() {
    index_write_failure_at_flush(Op::OffsetIndexWrite, false);
}

#[test]
fn time_index_write_failure_at_flush_goes_offline() {
    index_write_failure_at_flush(Op::TimeIndexWrite, false);
}

#[test]
fn offset_index_write_failure_in_background_flush_goes_offline() {
    index_write_failure_at_flush(Op::OffsetIndexWrite, true);
}

#[test]
fn time_index_write_failure_in_background_flush_goes_offline() {
    index_write_failure_at_flush(Op::TimeIndexWrite, true);
}
