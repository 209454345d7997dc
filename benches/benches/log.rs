#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Partition-log micro-benchmarks: `append_leader` of 16 KiB batches and a 1 MiB `read`.
//! Run: `cargo bench -p strait-benches --bench log`. Uses a temp dir on the default
//! filesystem (no fsync on the default flush policy, as in Kafka).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strait_records::BatchBuilder;
use strait_storage::{LogConfig, PartitionLog};

const NOW: i64 = 1_700_000_000_000;
/// Appends here are not transactional: no coordinator verification.
const NO_TXN: strait_storage::VerificationGuard = strait_storage::VerificationGuard::NONE;

/// One ~16 KiB uncompressed batch (100 records of ~160 bytes).
fn batch_16k() -> Vec<u8> {
    let mut b = BatchBuilder::new(0);
    for i in 0..100 {
        b = b.append(NOW + i, Some(b"key-0001"), Some(&[b'x'; 150]));
    }
    b.build().unwrap()
}

fn config() -> LogConfig {
    // Small segments so long runs exercise rolling without filling the disk.
    LogConfig {
        segment_bytes: 64 * 1024 * 1024,
        ..LogConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let batch = batch_16k();
    let mut g = c.benchmark_group("log");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));

    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function("append_leader_16KiB", |b| {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(), NOW).unwrap();
        b.iter(|| {
            log.append_leader(&batch, 1, NOW, NO_TXN).unwrap();
            // Keep the directory bounded during long runs.
            if log.size_in_bytes() > 256 * 1024 * 1024 {
                let end = log.log_end_offset();
                log.delete_records_before(end).unwrap();
            }
        });
    });

    // A log holding 8 MiB; each iteration reads 1 MiB from a random-ish position.
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), NOW).unwrap();
    while log.size_in_bytes() < 8 << 20 {
        log.append_leader(&batch, 1, NOW, NO_TXN).unwrap();
    }
    let end = log.log_end_offset();
    g.throughput(Throughput::Bytes(1 << 20));
    let mut next = 0i64;
    g.bench_function("read_1MiB", |b| {
        b.iter_batched(
            || {
                next = (next + 7919) % (end / 2);
                next
            },
            |offset| {
                let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
                assert!(!r.records.is_empty());
                r
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
