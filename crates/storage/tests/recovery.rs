//! Recovery that does not grow with the log: after a crash only what lies past the recovery
//! point is validated and only the batches after the newest producer snapshot are replayed,
//! yet the recovered log — data, indexes, producer state (idempotent dedup, ongoing
//! transactions, LSO, aborted list), leader-epoch cache — equals a full rebuild. A clean
//! shutdown skips recovery; damage before the recovery point in an index is detected and
//! rebuilt; a missing snapshot falls back to the full rebuild; SPS2 snapshots still load.
//!
//! The reference for "equal to a full rebuild" is the same directory copied, with every
//! producer snapshot, the clean-shutdown marker and the recovery-point checkpoint deleted,
//! which makes open validate every segment and replay every batch (the old behaviour).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod recovery_common;

use std::fs;

use recovery_common::*;
use strait_records::BatchBuilder;
use strait_storage::VerificationGuard;

#[test]
fn crash_recovers_only_past_the_recovery_point_and_equals_a_full_rebuild() {
    for seed in [1, 7, 42, 1234] {
        let (dir, before) = crashed_log(seed, 400);
        let log = open(dir.path(), config());
        let s = log.recovery_stats().clone();
        assert!(!s.clean_shutdown);
        // Only the active segment is past the recovery point (rolls fsync the old one).
        assert_eq!(s.segments_recovered, 1, "seed {seed}: {s:?}");
        assert_eq!(s.bytes_truncated, 0);
        let active = *log.segment_base_offsets().last().unwrap();
        let snap = s.snapshot_offset.expect("a roll snapshot");
        assert!(
            snap <= active,
            "seed {seed}: snapshot {snap} past the active base {active}"
        );
        let total_batches = before.batches.len() as u64;
        assert!(
            s.batches_replayed * 5 < total_batches,
            "seed {seed}: replayed {} of {total_batches} batches",
            s.batches_replayed
        );
        let after = state(&log);
        assert_eq!(
            after, before,
            "seed {seed}: recovered state differs from before the crash"
        );
        drop(log);
        assert_eq!(
            full_rebuild(dir.path()),
            before,
            "seed {seed}: full rebuild differs"
        );
        // Open fsynced nothing, so the recovery point did not move: a second crash
        // validates the same segment again (Kafka's rule), and finds the same state.
        let log = open(dir.path(), config());
        assert_eq!(log.recovery_stats().segments_recovered, 1);
        assert_eq!(log.recovery_stats().bytes_validated, s.bytes_validated);
        assert_eq!(state(&log), before);
    }
}

#[test]
fn rolls_in_the_middle_of_an_append_snapshot_the_state_before_it() {
    for seed in [2, 9, 77] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), config());
        let mut w = Workload::new(seed);
        w.run_multi(&mut log, 150);
        assert!(log.segment_count() > 10);
        let before = state(&log);
        drop(log);
        let log = open(dir.path(), config());
        assert!(log.recovery_stats().snapshot_offset.is_some());
        assert_eq!(state(&log), before, "seed {seed}");
        drop(log);
        assert_eq!(full_rebuild(dir.path()), before, "seed {seed}");
    }
}

#[test]
fn clean_shutdown_skips_recovery_and_the_marker_is_gone_before_serving() {
    let (dir, before) = crashed_log(3, 300);
    let log = open(dir.path(), config());
    log.close().unwrap();
    assert!(dir.path().join(".clean-shutdown").exists());
    let log = open(dir.path(), config());
    let s = log.recovery_stats().clone();
    assert!(s.clean_shutdown);
    assert_eq!(s.segments_recovered, 0);
    assert_eq!(s.bytes_validated, 0);
    assert_eq!(s.batches_replayed, 0);
    assert_eq!(s.snapshot_offset, Some(log.log_end_offset()));
    assert!(!dir.path().join(".clean-shutdown").exists());
    assert_eq!(state(&log), before);
    // A crash now is not mistaken for a clean shutdown.
    drop(log);
    let log = open(dir.path(), config());
    assert!(!log.recovery_stats().clean_shutdown);
    assert_eq!(state(&log), before);
}

#[test]
fn snapshots_are_kept_per_roll_and_pruned() {
    let (dir, _) = crashed_log(5, 300);
    let snaps = files_with(dir.path(), ".snapshot");
    assert_eq!(snaps.len(), 3, "{snaps:?}");
    let log = open(dir.path(), config());
    let offsets = log.producer_snapshot_offsets();
    assert_eq!(offsets.len(), 3);
    assert!(offsets.iter().all(|o| *o <= log.log_end_offset()));
}

#[test]
fn torn_tail_after_the_recovery_point_is_cut_and_nothing_before_it_is_lost() {
    let (dir, before) = crashed_log(11, 300);
    let active = files_with(dir.path(), ".log").pop().unwrap();
    let len = fs::metadata(&active).unwrap().len();
    assert!(len > 100);
    // Half of the last batch never reached the file.
    let last = before.batches.last().unwrap();
    let last_len = {
        let bytes = fs::read(&active).unwrap();
        let mut pos = 0usize;
        let mut size = 0usize;
        while pos < bytes.len() {
            size = 12 + u32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
            pos += size;
        }
        size as u64
    };
    let cut = len - last_len / 2;
    fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let expected = full_rebuild(dir.path());
    let log = open(dir.path(), config());
    let s = log.recovery_stats().clone();
    assert_eq!(s.segments_recovered, 1);
    assert!(s.bytes_truncated > 0);
    assert_eq!(log.log_end_offset(), last.0);
    let after = state(&log);
    assert_eq!(
        after.batches[..],
        before.batches[..before.batches.len() - 1]
    );
    assert_eq!(after, expected);
    // No snapshot describes offsets past the new end.
    assert!(log
        .producer_snapshot_offsets()
        .iter()
        .all(|o| *o <= log.log_end_offset()));
}

#[test]
fn corrupt_byte_after_the_recovery_point_truncates_there() {
    let (dir, before) = crashed_log(13, 300);
    let active = files_with(dir.path(), ".log").pop().unwrap();
    let mut bytes = fs::read(&active).unwrap();
    // A byte inside the records of the second batch of the active segment.
    let first_len = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    assert!(
        bytes.len() > first_len + 70,
        "active segment has two batches"
    );
    bytes[first_len + 65] ^= 0x5a;
    fs::write(&active, &bytes).unwrap();
    let expected = full_rebuild(dir.path());
    let log = open(dir.path(), config());
    assert!(log.recovery_stats().bytes_truncated > 0);
    let after = state(&log);
    assert_eq!(after, expected);
    let kept = after.batches.len();
    assert_eq!(after.batches[..], before.batches[..kept]);
    assert!(kept < before.batches.len());
}

#[test]
fn corrupt_index_before_the_recovery_point_is_detected_and_rebuilt() {
    let (dir, before) = crashed_log(17, 300);
    let indexes = files_with(dir.path(), ".index");
    // An older (trusted) segment: its last entry now points past the end of its log.
    let victim = &indexes[2];
    let mut idx = fs::read(victim).unwrap();
    assert!(idx.len() >= 8, "segment has index entries");
    let n = idx.len();
    idx[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
    fs::write(victim, &idx).unwrap();
    // Another: a torn entry (length not a multiple of 8).
    let torn = &indexes[4];
    let mut idx = fs::read(torn).unwrap();
    idx.push(0);
    fs::write(torn, &idx).unwrap();
    let log = open(dir.path(), config());
    let s = log.recovery_stats().clone();
    assert_eq!(s.indexes_rebuilt, 2, "{s:?}");
    assert_eq!(s.segments_recovered, 3);
    assert_eq!(state(&log), before);
    drop(log);
    let rebuilt = fs::read(victim).unwrap();
    assert!(rebuilt.chunks(8).all(|e| e[4..] != u32::MAX.to_be_bytes()));
}

#[test]
fn missing_or_corrupt_snapshots_fall_back_to_a_full_rebuild() {
    let (dir, before) = crashed_log(19, 300);
    let snaps = files_with(dir.path(), ".snapshot");
    // The newest is corrupt, the others are gone.
    let newest = snaps.last().unwrap().clone();
    let mut b = fs::read(&newest).unwrap();
    b[12] ^= 1;
    fs::write(&newest, &b).unwrap();
    for p in &snaps[..snaps.len() - 1] {
        fs::remove_file(p).unwrap();
    }
    let log = open(dir.path(), config());
    let s = log.recovery_stats().clone();
    assert_eq!(s.snapshot_offset, None);
    assert_eq!(s.batches_replayed, before.batches.len() as u64);
    assert!(!newest.exists(), "the corrupt snapshot is deleted");
    assert_eq!(state(&log), before);
}

#[test]
fn crash_between_a_roll_snapshot_and_its_recovery_point_uses_an_older_snapshot() {
    let (dir, before) = crashed_log(23, 300);
    let log = open(dir.path(), config());
    let bases = log.segment_base_offsets();
    drop(log);
    // The recovery point of two rolls ago: the two last segments are recovered, so the
    // snapshot used must be at or below the first of them.
    let rp = bases[bases.len() - 3];
    fs::write(
        dir.path().join("recovery-point-offset-checkpoint"),
        format!("0\n1\n{rp}\n"),
    )
    .unwrap();
    let log = open(dir.path(), config());
    let s = log.recovery_stats().clone();
    assert_eq!(s.segments_recovered, 3, "{s:?}");
    assert!(s.snapshot_offset.is_some_and(|o| o <= rp), "{s:?}");
    assert_eq!(state(&log), before);
}

/// Client (leader) batch of `n` records of idempotent producer `pid`.
fn idem(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(0).producer(pid, epoch, seq);
    for i in 0..n {
        b = b.append(NOW + i as i64, None, Some(&[b'x'; 60]));
    }
    b.build().unwrap()
}

#[test]
fn idempotent_retries_are_deduplicated_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    let mut seq = [0i32; 3];
    let mut last = Vec::new();
    for i in 0..200 {
        let pid = (i % 3) as usize;
        let b = idem(100 + pid as i64, 0, seq[pid], 2);
        let info = log
            .append_leader(&b, 1, NOW, VerificationGuard::NONE)
            .unwrap();
        assert!(!info.duplicate);
        seq[pid] += 2;
        last.push((b, info.base_offset));
    }
    assert!(log.segment_count() > 10);
    let end = log.log_end_offset();
    drop(log);
    let mut log = open(dir.path(), config());
    assert!(log.recovery_stats().snapshot_offset.is_some());
    assert!(log.recovery_stats().batches_replayed < 30);
    // The last five batches of each producer are duplicates, with their original offsets.
    for (b, offset) in &last[last.len() - 15..] {
        let info = log
            .append_leader(b, 1, NOW, VerificationGuard::NONE)
            .unwrap();
        assert!(info.duplicate);
        assert_eq!(info.base_offset, *offset);
    }
    assert_eq!(log.log_end_offset(), end);
    // And the next sequence is accepted, a gap refused.
    let next = log
        .append_leader(&idem(100, 0, seq[0], 1), 1, NOW, VerificationGuard::NONE)
        .unwrap();
    assert!(!next.duplicate);
    assert!(log
        .append_leader(
            &idem(101, 0, seq[1] + 5, 1),
            1,
            NOW,
            VerificationGuard::NONE
        )
        .is_err());
}

/// Rewrites an SPS3 snapshot as SPS2 (no per-producer last timestamp), CRC recomputed.
fn to_sps2(sps3: &[u8]) -> Vec<u8> {
    let body = &sps3[..sps3.len() - 4];
    assert_eq!(&body[..4], b"SPS3");
    let mut out = b"SPS2".to_vec();
    out.extend_from_slice(&body[4..28]);
    let count = u64::from_be_bytes(body[20..28].try_into().unwrap());
    let mut pos = 28;
    for _ in 0..count {
        // id 8, epoch 2, coordinator epoch 4, txn first 8 | last timestamp 8 | n 1, n*24
        out.extend_from_slice(&body[pos..pos + 22]);
        pos += 22 + 8;
        let n = body[pos] as usize;
        out.extend_from_slice(&body[pos..pos + 1 + n * 24]);
        pos += 1 + n * 24;
    }
    assert_eq!(pos, body.len());
    let crc = crc32c_of(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn crc32c_of(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in b {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn without_timestamps(mut s: State) -> State {
    for p in &mut s.producers {
        p.last_timestamp = -1;
    }
    s
}

#[test]
fn sps2_snapshots_still_load_as_roll_snapshots_and_as_the_legacy_file() {
    let (dir, before) = crashed_log(31, 300);
    // Every roll snapshot rewritten in the previous version's format.
    for p in files_with(dir.path(), ".snapshot") {
        let b = fs::read(&p).unwrap();
        fs::write(&p, to_sps2(&b)).unwrap();
    }
    let log = open(dir.path(), config());
    assert!(log.recovery_stats().snapshot_offset.is_some());
    let after = state(&log);
    // Producers the replay touched have timestamps again; the others are unknown (-1).
    assert_eq!(without_timestamps(after), without_timestamps(before));
    log.close().unwrap();

    // An older Strait's clean shutdown: `producer-state.snapshot` (SPS2) at the log end.
    let end = files_with(dir.path(), ".snapshot").pop().unwrap();
    let legacy = to_sps2(&fs::read(&end).unwrap());
    for p in files_with(dir.path(), ".snapshot") {
        fs::remove_file(p).unwrap();
    }
    fs::write(dir.path().join("producer-state.snapshot"), legacy).unwrap();
    let log = open(dir.path(), config());
    let s = log.recovery_stats().clone();
    assert!(s.clean_shutdown);
    assert_eq!(s.snapshot_offset, Some(log.log_end_offset()));
    assert_eq!(s.batches_replayed, 0);
    assert!(!dir.path().join("producer-state.snapshot").exists());
    assert_eq!(
        without_timestamps(state(&log)),
        without_timestamps(full_rebuild(dir.path()))
    );
}

#[test]
fn truncation_deletes_newer_snapshots_and_a_crash_after_it_recovers_the_truncated_log() {
    let (dir, _) = crashed_log(37, 300);
    let mut log = open(dir.path(), config());
    let bases = log.segment_base_offsets();
    let to = bases[bases.len() - 2] - 3;
    log.truncate_to(to).unwrap();
    assert!(log
        .producer_snapshot_offsets()
        .iter()
        .all(|o| *o <= log.log_end_offset()));
    let mut w = Workload::new(41);
    w.run(&mut log, 60);
    let before = state(&log);
    drop(log);
    let log = open(dir.path(), config());
    assert_eq!(state(&log), before);
    drop(log);
    assert_eq!(full_rebuild(dir.path()), before);
}
