#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Record-batch micro-benchmarks: header parsing and framing (BatchIter) over a 1 MiB
//! buffer of batches, and CRC-32C validation. Run: `cargo bench -p strait-benches --bench records`.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use strait_records::{BatchBuilder, BatchIter};

/// About 1 MiB of uncompressed 16 KiB batches (100 records of ~160 bytes each).
fn buffer() -> Vec<u8> {
    let mut buf = Vec::new();
    let mut offset = 0;
    while buf.len() < 1 << 20 {
        let mut b = BatchBuilder::new(offset).leader_epoch(1);
        for i in 0..100 {
            b = b.append(1_700_000_000_000 + i, Some(b"key-0001"), Some(&[b'x'; 150]));
        }
        buf.extend(b.build().unwrap());
        offset += 100;
    }
    buf
}

fn bench(c: &mut Criterion) {
    let buf = buffer();
    let mut g = c.benchmark_group("records");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("batch_iter_headers_1MiB", |b| {
        b.iter(|| {
            let mut last = 0;
            for batch in BatchIter::new(black_box(&buf)) {
                let batch = batch.unwrap();
                last = batch.last_offset() + i64::from(batch.partition_leader_epoch());
            }
            last
        })
    });
    g.bench_function("crc_validate_1MiB", |b| {
        b.iter(|| {
            for batch in BatchIter::new(black_box(&buf)) {
                batch.unwrap().validate_crc().unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
