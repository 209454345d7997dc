//! Unit tests of the replica fetcher: the follower log jobs against real partition logs
//! (append byte for byte, high watermark, log start, the safety re-check, truncation by
//! epoch, out-of-range reset), the response classification, and the manager's task
//! bookkeeping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strait_client::fetch::FetchedPartition;
use strait_client::ErrorCode;
use strait_records::BatchBuilder;
use strait_storage::{LogConfig, PartitionLog};

use super::state::{
    apply_epoch_answer, apply_fetched, guarded, reset_below_leader_start, truncate_without_epoch,
    FetchedData, JobError, Step,
};
use super::task::{classify, Answer};
use super::{ReplicaFetchConfig, ReplicaFetcherManager};
use crate::replication::follower::EpochEndOffset;
use crate::topics::{Partition, Registration};

const NOW: i64 = 1_700_000_000_000;
const LEADER: i32 = 2;

fn batch(base: i64, epoch: i32, n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(base).leader_epoch(epoch);
    for i in 0..n {
        b = b.append(NOW, Some(format!("k{i}").as_bytes()), Some(b"v"));
    }
    b.build().unwrap()
}

/// A follower partition (node 1) of leader 2 in `epoch`, replicated, with `batches`.
fn follower(dir: &std::path::Path, epoch: i32, batches: &[Vec<u8>]) -> Arc<Partition> {
    let mut log = PartitionLog::open(dir, LogConfig::default(), NOW).unwrap();
    log.set_replicated(true);
    for b in batches {
        log.append_mirrored(b, NOW).unwrap();
    }
    let p = Arc::new(Partition::new("t", 0, log, epoch));
    p.set_registration(Registration {
        replicas: vec![1, 2, 3],
        isr: vec![1, 2, 3],
        leader: LEADER,
    });
    p
}

fn data(records: Vec<u8>, hw: i64, log_start: i64) -> FetchedData {
    FetchedData {
        records: Bytes::from(records),
        high_watermark: hw,
        log_start_offset: log_start,
    }
}

fn bytes_of(p: &Partition, from: i64) -> Vec<u8> {
    p.with_log(|log| {
        log.read(from, usize::MAX / 2, i64::MAX, true)
            .unwrap()
            .records
            .to_vec()
    })
    .unwrap()
}

fn positions(p: &Partition) -> (i64, i64, i64) {
    p.with_log(|l| (l.log_start_offset(), l.high_watermark(), l.log_end_offset()))
        .unwrap()
}

#[test]
fn fetched_batches_are_appended_byte_for_byte_and_the_hw_follows_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let p = follower(dir.path(), 3, &[]);
    let (a, b) = (batch(0, 2, 3), batch(3, 3, 2));
    let mut wire = a.clone();
    wire.extend_from_slice(&b);
    let applied = guarded(&p, LEADER, 3, |log| {
        apply_fetched(log, &data(wire.clone(), 4, 0), NOW)
    })
    .unwrap();
    assert_eq!((applied.batches, applied.log_end_offset), (2, 5));
    // Same offsets, same bytes, epochs from the batches.
    assert_eq!(bytes_of(&p, 0), wire);
    assert_eq!(
        p.with_log(|l| l.epoch_entries()).unwrap(),
        vec![(2, 0), (3, 3)]
    );
    // HW = the leader's (4), below our log end; the watch saw it.
    assert_eq!(positions(&p), (0, 4, 5));
    assert_eq!(p.watch().positions().high_watermark, 4);
    // No records: the HW still moves, clamped to our own log end.
    guarded(&p, LEADER, 3, |log| {
        apply_fetched(log, &data(Vec::new(), 9, 0), NOW)
    })
    .unwrap();
    assert_eq!(positions(&p), (0, 5, 5));
}

#[test]
fn batches_below_the_log_end_are_skipped_a_partial_tail_is_left_and_a_straddle_diverges() {
    let dir = tempfile::tempdir().unwrap();
    let first = batch(0, 0, 2);
    let p = follower(dir.path(), 0, std::slice::from_ref(&first));
    let next = batch(2, 0, 2);
    let mut wire = first.clone();
    wire.extend_from_slice(&next);
    let later = batch(4, 0, 1);
    wire.extend_from_slice(&later[..later.len() - 3]);
    let applied = guarded(&p, LEADER, 0, |log| {
        apply_fetched(log, &data(wire, 4, 0), NOW)
    })
    .unwrap();
    assert_eq!((applied.batches, applied.log_end_offset), (1, 4));
    assert_eq!(bytes_of(&p, 2), next);
    // A batch 3..5 starts inside ours (2..3): the logs diverged.
    let r = guarded(&p, LEADER, 0, |log| {
        apply_fetched(log, &data(batch(3, 0, 2), 5, 0), NOW)
    });
    assert_eq!(r, Err(JobError::Diverged));
    // Garbage from the leader is refused without touching the log.
    let mut bad = batch(4, 0, 1);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let r = guarded(&p, LEADER, 0, |log| {
        apply_fetched(log, &data(bad, 5, 0), NOW)
    });
    assert!(matches!(r, Err(JobError::BadData(_))), "{r:?}");
    assert_eq!(positions(&p).2, 4);
}

#[test]
fn the_log_start_follows_the_leader_up_to_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let p = follower(dir.path(), 0, &[batch(0, 0, 5)]);
    // Leader's log start 3, HW 5: follow it.
    guarded(&p, LEADER, 0, |log| {
        apply_fetched(log, &data(Vec::new(), 5, 3), NOW)
    })
    .unwrap();
    assert_eq!(positions(&p), (3, 5, 5));
    // A leader log start above our HW is not followed yet.
    guarded(&p, LEADER, 0, |log| {
        apply_fetched(log, &data(batch(5, 0, 5), 6, 8), NOW)
    })
    .unwrap();
    assert_eq!(positions(&p), (3, 6, 10));
}

#[test]
fn a_stale_answer_is_dropped_under_the_log_lock() {
    let dir = tempfile::tempdir().unwrap();
    let p = follower(dir.path(), 4, &[]);
    // Fetched in epoch 3, but the partition is in epoch 4 now.
    let r = guarded(&p, LEADER, 3, |log| {
        apply_fetched(log, &data(batch(0, 3, 1), 1, 0), NOW)
    });
    assert_eq!(r, Err(JobError::Stale));
    // Same epoch, but the registration names another leader (this node led meanwhile).
    p.set_registration(Registration {
        replicas: vec![1, 2, 3],
        isr: vec![1, 2, 3],
        leader: 1,
    });
    let r = guarded(&p, LEADER, 4, |log| {
        apply_fetched(log, &data(batch(0, 4, 1), 1, 0), NOW)
    });
    assert_eq!(r, Err(JobError::Stale));
    assert_eq!(positions(&p), (0, 0, 0));
}

#[test]
fn an_unreplicated_log_is_switched_before_a_follower_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
    log.append_mirrored(&batch(0, 0, 2), NOW).unwrap();
    let p = Arc::new(Partition::new("t", 0, log, 1));
    p.set_registration(Registration {
        replicas: vec![1, 2],
        isr: vec![1, 2],
        leader: LEADER,
    });
    guarded(&p, LEADER, 1, |log| {
        apply_fetched(log, &data(batch(2, 1, 3), 3, 0), NOW)
    })
    .unwrap();
    // HW is the leader's (3), not our log end (5).
    assert!(p.with_log(|l| l.is_replicated()).unwrap());
    assert_eq!(positions(&p), (0, 3, 5));
}

#[test]
fn truncation_by_epoch_cuts_a_diverged_tail() {
    let dir = tempfile::tempdir().unwrap();
    // We wrote epoch 1 up to 8 as the old leader; the new leader (epoch 2) has epoch 1
    // ending at 6.
    let p = follower(
        dir.path(),
        2,
        &[batch(0, 0, 3), batch(3, 1, 3), batch(6, 1, 2)],
    );
    let step = guarded(&p, LEADER, 2, |log| {
        apply_epoch_answer(
            log,
            EpochEndOffset {
                leader_epoch: 1,
                end_offset: 6,
            },
        )
    })
    .unwrap();
    assert_eq!(step, Step::Done { log_end_offset: 6 });
    assert_eq!(positions(&p).2, 6);
    assert_eq!(
        p.with_log(|l| l.epoch_entries()).unwrap(),
        vec![(0, 0), (1, 3)]
    );

    // An epoch the leader never had: it answers its floor (0, 3); ours of 0 ends at 3 here
    // too, after stepping back.
    let dir = tempfile::tempdir().unwrap();
    let p = follower(dir.path(), 5, &[batch(0, 0, 3), batch(3, 3, 4)]);
    let step = guarded(&p, LEADER, 5, |log| {
        apply_epoch_answer(
            log,
            EpochEndOffset {
                leader_epoch: 2,
                end_offset: 5,
            },
        )
    })
    .unwrap();
    assert_eq!(step, Step::AskAgain { epoch: 0 });
    assert_eq!(positions(&p).2, 3);
    let step = guarded(&p, LEADER, 5, |log| {
        apply_epoch_answer(
            log,
            EpochEndOffset {
                leader_epoch: 0,
                end_offset: 2,
            },
        )
    })
    .unwrap();
    // Batch 0..3 straddles 2: removed whole (Kafka truncates to batch boundaries).
    assert_eq!(step, Step::Done { log_end_offset: 0 });

    // A log without epochs goes back to its high watermark.
    let dir = tempfile::tempdir().unwrap();
    let p = follower(dir.path(), 0, &[]);
    assert_eq!(
        guarded(&p, LEADER, 0, truncate_without_epoch).unwrap(),
        Step::Done { log_end_offset: 0 }
    );
}

#[test]
fn out_of_range_below_the_leader_start_restarts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let p = follower(dir.path(), 0, &[batch(0, 0, 3)]);
    // Our log end (3) is not below the leader's start (2): the epoch walk decides.
    assert!(!guarded(&p, LEADER, 0, |log| reset_below_leader_start(log, 2)).unwrap());
    assert_eq!(positions(&p).2, 3);
    assert!(guarded(&p, LEADER, 0, |log| reset_below_leader_start(log, 100)).unwrap());
    assert_eq!(positions(&p), (100, 100, 100));
    // Then the leader's batches append from there.
    guarded(&p, LEADER, 0, |log| {
        apply_fetched(log, &data(batch(100, 0, 2), 102, 100), NOW)
    })
    .unwrap();
    assert_eq!(positions(&p), (100, 102, 102));
}

fn fetched(error: Option<ErrorCode>, diverging: bool) -> FetchedPartition {
    FetchedPartition {
        topic: "t".into(),
        partition: 0,
        error,
        high_watermark: 0,
        last_stable_offset: 0,
        log_start_offset: 0,
        diverging_epoch: diverging.then_some(strait_client::fetch::EpochEndOffset {
            epoch: 1,
            end_offset: 4,
        }),
        current_leader: None,
        preferred_read_replica: None,
        aborted_transactions: Vec::new(),
        records: Bytes::new(),
    }
}

#[test]
fn response_partitions_are_classified_as_kafka_s_follower_does() {
    assert_eq!(classify(&fetched(None, false)), Answer::Data);
    assert_eq!(classify(&fetched(None, true)), Answer::Diverged);
    assert_eq!(
        classify(&fetched(Some(ErrorCode::OffsetOutOfRange), false)),
        Answer::OutOfRange
    );
    for code in [
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::UnknownLeaderEpoch,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::KafkaStorageError,
    ] {
        assert_eq!(classify(&fetched(Some(code), false)), Answer::Retry(code));
    }
}

/// Waits for `f` with a deadline.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn partitions_move_between_leader_tasks_and_idle_tasks_stop() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // No endpoint for anyone: the tasks only back off.
    let m = ReplicaFetcherManager::start(
        ReplicaFetchConfig {
            node_id: 1,
            ..ReplicaFetchConfig::default()
        },
        Arc::new(|_| None),
        rt.handle().clone(),
    );
    let d0 = tempfile::tempdir().unwrap();
    let d1 = tempfile::tempdir().unwrap();
    let p0 = follower(d0.path(), 0, &[]);
    let p1 = Arc::new(Partition::new(
        "u",
        1,
        PartitionLog::open(d1.path(), LogConfig::default(), NOW).unwrap(),
        0,
    ));
    m.follow(p0.clone(), 2, 0);
    m.follow(p1.clone(), 2, 0);
    assert_eq!(m.fetchers(), vec![(2, 2)]);
    // Leader change: the partition moves to leader 3's task.
    m.follow(p0.clone(), 3, 1);
    assert_eq!(m.fetchers(), vec![(2, 1), (3, 1)]);
    // A new epoch with the same leader replaces the assignment in place.
    m.follow(p0.clone(), 3, 2);
    assert_eq!(m.fetchers(), vec![(2, 1), (3, 1)]);
    // This node leads now: not fetched.
    m.follow(p1.clone(), 1, 1);
    assert_eq!(m.fetchers(), vec![(3, 1)]);
    m.unfollow("t", 0);
    assert_eq!(m.fetchers(), Vec::<(i32, usize)>::new());
    // The tasks tried their leader (no endpoint) and counted the failures.
    m.follow(p0, 2, 3);
    eventually("a connection failure", || {
        m.stats().errors.load(std::sync::atomic::Ordering::Relaxed) > 0
    });
    let metrics = m.stats().render_prometheus();
    assert!(metrics.contains("# TYPE strait_replica_fetcher_errors_total counter\n"));
    assert!(metrics.contains("strait_replica_fetcher_fetches_total 0\n"));
    m.shutdown();
    assert!(m.fetchers().is_empty());
    // After shutdown nothing starts.
    m.follow(p1, 2, 2);
    assert!(m.fetchers().is_empty());
}
