//! Helpers shared by the recovery tests: a deterministic mirrored workload with
//! idempotent and transactional producers across many rolls, the observable state recovery
//! must reproduce, and the "full rebuild" reference.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use strait_records::{BatchBuilder, BatchIter, ControlRecordType};
use strait_storage::{AbortedTxn, FetchIsolation, LogConfig, PartitionLog, ProducerSummary};

pub const NOW: i64 = 1_700_000_000_000;

pub fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 128,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config, NOW).unwrap()
}

/// Deterministic xorshift, so a failing workload can be replayed.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A mirrored workload: plain batches, idempotent producers 10-12, transactional producers
/// 1-4 whose transactions commit, abort or stay open across many segment rolls, and leader
/// epochs that grow now and then. Appends `steps` batches starting at the log end.
pub struct Workload {
    rng: Rng,
    seq: [i32; 16],
    open_txn: [bool; 16],
    epoch: i32,
    ts: i64,
}

impl Workload {
    pub fn new(seed: u64) -> Self {
        Workload {
            rng: Rng(seed | 1),
            seq: [0; 16],
            open_txn: [false; 16],
            epoch: 1,
            ts: NOW,
        }
    }

    pub fn next_batch(&mut self, base: i64) -> Vec<u8> {
        self.ts += 1 + self.rng.below(5) as i64;
        if self.rng.below(40) == 0 {
            self.epoch += 1;
        }
        let n = 1 + self.rng.below(4) as usize;
        let ts = self.ts;
        let records = |mut b: BatchBuilder, n: usize| {
            for i in 0..n {
                b = b.append(
                    ts,
                    Some(format!("k{base}-{i}").as_bytes()),
                    Some(&[b'v'; 40]),
                );
            }
            b.build().unwrap()
        };
        match self.rng.below(10) {
            0..=2 => records(BatchBuilder::new(base).leader_epoch(self.epoch), n),
            3..=5 => {
                let pid = 10 + self.rng.below(3) as usize;
                let b = BatchBuilder::new(base).leader_epoch(self.epoch).producer(
                    pid as i64,
                    0,
                    self.seq[pid],
                );
                self.seq[pid] += n as i32;
                records(b, n)
            }
            _ => {
                let pid = 1 + self.rng.below(4) as usize;
                if self.open_txn[pid] && self.rng.below(3) == 0 {
                    self.open_txn[pid] = false;
                    let kind = if self.rng.below(2) == 0 {
                        ControlRecordType::Commit
                    } else {
                        ControlRecordType::Abort
                    };
                    return BatchBuilder::end_txn_marker(base, kind, pid as i64, 0, 5, ts)
                        .leader_epoch(self.epoch)
                        .build()
                        .unwrap();
                }
                self.open_txn[pid] = true;
                let b = BatchBuilder::new(base)
                    .leader_epoch(self.epoch)
                    .producer(pid as i64, 0, self.seq[pid])
                    .transactional(true);
                self.seq[pid] += n as i32;
                records(b, n)
            }
        }
    }

    /// Appends of several batches at once, so rolls happen in the middle of an append
    /// (before that append's producer state is applied).
    pub fn run_multi(&mut self, log: &mut PartitionLog, appends: usize) {
        for i in 0..appends {
            let mut bytes = Vec::new();
            let mut base = log.log_end_offset();
            for _ in 0..(2 + i % 4) {
                let b = self.next_batch(base);
                base = strait_records::RecordBatch::new(&b).unwrap().last_offset() + 1;
                bytes.extend_from_slice(&b);
            }
            log.append_mirrored(&bytes, NOW).unwrap();
        }
    }

    pub fn run(&mut self, log: &mut PartitionLog, steps: usize) {
        for _ in 0..steps {
            let b = self.next_batch(log.log_end_offset());
            log.append_mirrored(&b, NOW).unwrap();
        }
    }
}

/// Everything recovery must reproduce, as seen through the public API.
#[derive(Debug, PartialEq, Eq)]
pub struct State {
    pub log_start: i64,
    pub log_end: i64,
    pub lso: i64,
    pub segments: Vec<i64>,
    /// (base, last, hash of the batch bytes)
    pub batches: Vec<(i64, i64, u64)>,
    pub ongoing: Vec<(i64, i64)>,
    pub aborted: Vec<AbortedTxn>,
    pub committed_aborted: Vec<AbortedTxn>,
    pub producers: Vec<ProducerSummary>,
    pub epochs: Vec<(i32, i64)>,
    pub offset_for_ts: Vec<Option<i64>>,
}

pub fn state(log: &PartitionLog) -> State {
    let mut batches = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, i64::MAX, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            batches.push((b.base_offset(), b.last_offset(), hash(b.as_bytes())));
            next = b.last_offset() + 1;
        }
    }
    let committed = log
        .read_isolated(
            log.log_start_offset(),
            1 << 30,
            FetchIsolation::TxnCommitted,
            true,
        )
        .unwrap();
    // Time index lookups exercise the rebuilt (or trusted) time index of every segment.
    let offset_for_ts = (0..40)
        .map(|i| {
            log.offset_for_timestamp(NOW + i * 7)
                .unwrap()
                .map(|t| t.offset)
        })
        .collect();
    State {
        log_start: log.log_start_offset(),
        log_end: log.log_end_offset(),
        lso: log.last_stable_offset(),
        segments: log.segment_base_offsets(),
        batches,
        ongoing: log.ongoing_transactions(),
        aborted: log.aborted_transactions(),
        committed_aborted: committed.aborted_transactions.unwrap_or_default(),
        producers: log.active_producers(),
        epochs: log.epoch_entries(),
        offset_for_ts,
    }
}

pub fn hash(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

pub fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// The state a full rebuild (every segment validated, every batch replayed) gives for
/// the directory as it is now.
pub fn full_rebuild(dir: &Path) -> State {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    for p in files_with(copy.path(), ".snapshot") {
        fs::remove_file(p).unwrap();
    }
    for name in [".clean-shutdown", "recovery-point-offset-checkpoint"] {
        let _ = fs::remove_file(copy.path().join(name));
    }
    let log = open(copy.path(), config());
    let s = log.recovery_stats();
    assert_eq!(s.snapshot_offset, None);
    assert_eq!(s.segments_recovered, s.segments);
    state(&log)
}

/// A log of many segments with transactions open across rolls, crashed (dropped without
/// close) mid-way; returns the directory and the state before the crash.
pub fn crashed_log(seed: u64, steps: usize) -> (tempfile::TempDir, State) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    let mut w = Workload::new(seed);
    w.run(&mut log, steps);
    assert!(log.segment_count() > 10, "the workload spans many segments");
    assert!(!log.ongoing_transactions().is_empty() || !log.aborted_transactions().is_empty());
    let before = state(&log);
    drop(log); // kill -9: no close, no snapshot at the end, no marker
    (dir, before)
}
