//! Integration tests for the partition log: offsets, rolls, reads, epochs, idempotence,
//! retention, DeleteRecords, truncation and crash recovery.
//!
//! The log helpers are here; each module holds the tests of one part.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod append_read;
mod mirror_and_producers;
mod props;
mod recovery;
mod retention;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use strait_records::{BatchBuilder, BatchIter, Compression, ControlRecordType, TimestampType};
use strait_storage::{AppendError, LogConfig, PartitionLog, ReadError, StorageError};
use support::offsets;

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
