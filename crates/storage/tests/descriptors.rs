//! File descriptors held by a log, and crash safety of the lazily written indexes.
//!
//! A segment holds one descriptor, its `.log`; index files are opened only to write pending
//! entries at flush, roll, close and background flush (see `strait_storage::segment`). The
//! descriptor counts here come from `/proc/self/fd`, filtered to the log's own directory so
//! other tests running in this process do not disturb them. The crash tests check that the
//! index entries a recovery point trusts were on disk: after a drop without close, and after
//! `kill -9` of a child process, the reopened log finds every record while validating only
//! what followed the last flush.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strait_records::{decode_records, BatchBuilder, BatchIter};
use strait_storage::{LogConfig, PartitionLog, VerificationGuard};

const NOW: i64 = 1_700_000_000_000;

/// Open descriptors of this process on files under `dir`.
fn fds_under(dir: &Path) -> Vec<PathBuf> {
    let dir = fs::canonicalize(dir).unwrap();
    let mut out: Vec<PathBuf> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|p| p.starts_with(&dir))
        .collect();
    out.sort();
    out
}

fn with_suffix(paths: &[PathBuf], suffix: &str) -> usize {
    paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == suffix))
        .count()
}

/// One batch of two ~100-byte records whose values name their offset's batch `i`.
fn batch(i: i64) -> Vec<u8> {
    let v = format!("{i:0>100}");
    BatchBuilder::new(0)
        .append(NOW + i, Some(b"k"), Some(v.as_bytes()))
        .append(NOW + i, Some(b"k"), Some(v.as_bytes()))
        .build()
        .unwrap()
}

fn append(log: &mut PartitionLog, from: i64, n: i64) {
    for i in from..from + n {
        log.append_leader(&batch(i), 0, NOW, VerificationGuard::NONE)
            .unwrap();
    }
}

/// Every batch's value from the start, checking offsets follow each other.
fn values(log: &PartitionLog) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, i64::MAX, true).unwrap();
        assert!(!r.records.is_empty(), "no batch at {next}");
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            assert_eq!(b.base_offset(), next, "offsets do not follow each other");
            let records = decode_records(&b).unwrap();
            let value = records[0].value.clone().unwrap();
            out.push(String::from_utf8(value.to_vec()).unwrap());
            next = b.last_offset() + 1;
        }
    }
    out
}

fn expected(n: i64) -> Vec<String> {
    (0..n).map(|i| format!("{i:0>100}")).collect()
}

fn small_index_interval() -> LogConfig {
    LogConfig {
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

#[test]
fn one_segment_holds_only_its_log_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_index_interval(), NOW).unwrap();
    assert_eq!(with_suffix(&fds_under(dir.path()), "log"), 1);
    assert_eq!(
        fds_under(dir.path()).len(),
        1,
        "{:?}",
        fds_under(dir.path())
    );
    append(&mut log, 0, 200);
    assert_eq!(
        fds_under(dir.path()).len(),
        1,
        "{:?}",
        fds_under(dir.path())
    );
    let index = dir.path().join("00000000000000000000.index");
    assert_eq!(
        fs::metadata(&index).unwrap().len(),
        0,
        "entries are written at flush"
    );
    log.flush().unwrap();
    let fds = fds_under(dir.path());
    assert_eq!((fds.len(), with_suffix(&fds, "log")), (1, 1), "{fds:?}");
    let index_len = fs::metadata(&index).unwrap().len();
    assert!(index_len > 0 && index_len.is_multiple_of(8), "{index_len}");
    let time_len = fs::metadata(dir.path().join("00000000000000000000.timeindex"))
        .unwrap()
        .len();
    assert!(time_len > 0 && time_len.is_multiple_of(12), "{time_len}");

    // A background flush holds its handles only while its ticket lives.
    append(&mut log, 200, 50);
    let ticket = log.begin_background_flush().unwrap().unwrap();
    let during = fds_under(dir.path());
    assert_eq!(with_suffix(&during, "log"), 2, "{during:?}");
    assert_eq!(with_suffix(&during, "index"), 1, "{during:?}");
    let synced = ticket.sync();
    assert!(log.complete_background_flush(ticket, synced, NOW).unwrap());
    assert!(fs::metadata(&index).unwrap().len() > index_len);
    assert_eq!(
        fds_under(dir.path()).len(),
        1,
        "{:?}",
        fds_under(dir.path())
    );
    log.close().unwrap();
    assert!(fds_under(dir.path()).is_empty());

    let log = PartitionLog::open(dir.path(), small_index_interval(), NOW).unwrap();
    assert!(log.recovery_stats().clean_shutdown);
    assert_eq!(
        fds_under(dir.path()).len(),
        1,
        "{:?}",
        fds_under(dir.path())
    );
    assert_eq!(values(&log), expected(250));
}

#[test]
fn several_segments_hold_one_log_descriptor_each() {
    let config = LogConfig {
        segment_bytes: 8 * 1024,
        index_interval_bytes: 512,
        ..LogConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config.clone(), NOW).unwrap();
    append(&mut log, 0, 300);
    let segments = log.segment_count();
    assert!(segments >= 4, "{segments} segments");
    for when in ["before flush", "after flush"] {
        let fds = fds_under(dir.path());
        assert_eq!(fds.len(), segments, "{when}: {fds:?}");
        assert_eq!(with_suffix(&fds, "log"), segments, "{when}: {fds:?}");
        log.flush().unwrap();
    }
    // Sealed segments' indexes were written whole at roll.
    for base in &log.segment_base_offsets()[..segments - 1] {
        let len = fs::metadata(dir.path().join(format!("{base:020}.index")))
            .unwrap()
            .len();
        assert!(len > 0, "sealed segment {base} has an empty index");
    }
    drop(log); // a crash: no close
    let log = PartitionLog::open(dir.path(), config, NOW).unwrap();
    // Only what follows the active segment's last index entry is validated again.
    let s = log.recovery_stats().clone();
    assert!(
        s.segments_recovered <= 1 && s.bytes_validated < 2048,
        "{s:?}"
    );
    let fds = fds_under(dir.path());
    assert_eq!(
        (fds.len(), with_suffix(&fds, "log")),
        (segments, segments),
        "{fds:?}"
    );
    assert_eq!(values(&log), expected(300));
}

#[test]
fn crash_after_flush_trusts_the_flushed_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_index_interval(), NOW).unwrap();
    append(&mut log, 0, 400);
    log.flush().unwrap();
    let flushed = log.size_in_bytes();
    append(&mut log, 400, 20);
    let total = log.size_in_bytes();
    drop(log); // no close: the entries appended since the flush never reached the files
    let index = fs::metadata(dir.path().join("00000000000000000000.index"))
        .unwrap()
        .len();
    assert!(index > 0 && index.is_multiple_of(8), "{index}");
    let log = PartitionLog::open(dir.path(), small_index_interval(), NOW).unwrap();
    let s = log.recovery_stats().clone();
    assert!(!s.clean_shutdown);
    assert_eq!((s.segments_recovered, s.indexes_rebuilt), (1, 0), "{s:?}");
    assert!(
        s.bytes_validated < total - flushed + 1024,
        "validated {} bytes, {} written after the flush",
        s.bytes_validated,
        total - flushed
    );
    assert_eq!(values(&log), expected(420));
}

/// Set in the child process [`kill_9_after_flush_finds_every_record`] spawns.
const CHILD_DIR: &str = "STRAIT_DESCRIPTORS_KILL9_DIR";

/// The child's half of [`kill_9_after_flush_finds_every_record`]; a no-op in a normal run.
#[test]
fn kill_9_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let data = dir.join("log");
    let mut log = PartitionLog::open(&data, small_index_interval(), NOW).unwrap();
    append(&mut log, 0, 400);
    log.flush().unwrap();
    let flushed = log.size_in_bytes();
    append(&mut log, 400, 20);
    let total = log.size_in_bytes();
    fs::write(dir.join("ready.tmp"), format!("{flushed} {total}")).unwrap();
    fs::rename(dir.join("ready.tmp"), dir.join("ready")).unwrap();
    // Wait to be killed, holding the log; give up eventually so no orphan outlives a
    // broken parent.
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_secs(1));
    }
    drop(log);
}

#[test]
fn kill_9_after_flush_finds_every_record() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_9_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let ready = dir.path().join("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited before it was ready: {status}");
        }
        assert!(Instant::now() < deadline, "child not ready after 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let sizes = fs::read_to_string(&ready).unwrap();
    let (flushed, total) = sizes.split_once(' ').unwrap();
    let (flushed, total): (u64, u64) = (flushed.parse().unwrap(), total.parse().unwrap());

    let log = PartitionLog::open(&data, small_index_interval(), NOW).unwrap();
    let s = log.recovery_stats().clone();
    assert!(!s.clean_shutdown);
    assert_eq!((s.segments_recovered, s.indexes_rebuilt), (1, 0), "{s:?}");
    assert!(
        s.bytes_validated < total - flushed + 1024,
        "validated {} bytes, {} written after the flush",
        s.bytes_validated,
        total - flushed
    );
    assert_eq!(log.size_in_bytes(), total);
    assert_eq!(values(&log), expected(420));
}
