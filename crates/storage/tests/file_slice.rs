//! Fetch reads as file ranges ([`PartitionLog::read_isolated_slice`]) sent with
//! `sendfile(2)` into a real loopback socket: the bytes are exactly the batches a copying
//! read returns, a slice survives the deletion of its segment (retention, topic delete: the
//! slice holds the file open), and a truncation under a slice makes it refuse to send
//! instead of sending bytes that are no longer the batches it announced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;

use strait_records::{BatchBuilder, BatchIter};
use strait_storage::{FetchIsolation, FileSlice, LogConfig, PartitionLog, VerificationGuard};

const NOW: i64 = 1_700_000_000_000;

/// A batch of `n` records of 1 KB whose values name batch `i` (incompressible enough).
fn batch(i: i64, n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(0);
    for r in 0..n {
        let v: Vec<u8> = (0..1000)
            .map(|k| ((k as i64 * 131 + i * 17 + r as i64) % 251) as u8)
            .collect();
        b = b.append(NOW + i, Some(format!("{i}-{r}").as_bytes()), Some(&v));
    }
    b.build().unwrap()
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

/// A connected loopback pair: (sender, receiver).
fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (rx, _) = listener.accept().unwrap();
    (tx, rx)
}

/// Sends all of `slice` (blocking socket) and returns what the receiver got.
fn send_all(slice: &FileSlice) -> std::io::Result<Vec<u8>> {
    let (tx, mut rx) = socket_pair();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        rx.read_to_end(&mut got).map(|_| got)
    });
    let mut done = 0;
    let sent = (|| {
        while done < slice.len() {
            done += slice.send_to(tx.as_fd(), done)?;
        }
        Ok(())
    })();
    drop(tx);
    let got = reader.join().unwrap()?;
    sent.map(|()| got)
}

#[test]
fn sendfile_sends_exactly_what_a_read_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_segments(), NOW).unwrap();
    for i in 0..40 {
        let n = if i % 5 == 0 { 1 } else { 12 };
        log.append_leader(&batch(i, n), 0, NOW, VerificationGuard::NONE)
            .unwrap();
    }
    let mut offset = 0;
    let mut reads = 0;
    while offset < log.log_end_offset() {
        for max_bytes in [1, 20_000, 64 * 1024] {
            let read = log
                .read_isolated(offset, max_bytes, FetchIsolation::LogEnd, true)
                .unwrap();
            let slice = log
                .read_isolated_slice(offset, max_bytes, FetchIsolation::LogEnd, true)
                .unwrap();
            assert_eq!(slice.records.len(), read.records.len());
            assert_eq!(send_all(&slice.records).unwrap(), read.records);
            assert_eq!(slice.records.read().unwrap(), read.records);
            let last = BatchIter::new(&read.records)
                .map(|b| b.unwrap().last_offset())
                .last();
            assert_eq!(slice.last_offset, last);
            assert_eq!(slice.high_watermark, read.high_watermark);
            reads += 1;
        }
        let read = log
            .read_isolated(offset, 20_000, FetchIsolation::LogEnd, true)
            .unwrap();
        offset = BatchIter::new(&read.records)
            .map(|b| b.unwrap().last_offset())
            .last()
            .unwrap()
            + 1;
    }
    assert!(reads > 30, "{reads}");
    // At the end: nothing, and no file.
    let end = log
        .read_isolated_slice(log.log_end_offset(), 1 << 20, FetchIsolation::LogEnd, true)
        .unwrap();
    assert!(end.records.is_empty());
    assert_eq!(end.last_offset, None);
}

#[test]
fn a_slice_outlives_the_deletion_of_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_segments(), NOW).unwrap();
    for i in 0..30 {
        log.append_leader(&batch(i, 12), 0, NOW, VerificationGuard::NONE)
            .unwrap();
    }
    let expected = log
        .read_isolated(0, 1 << 20, FetchIsolation::LogEnd, true)
        .unwrap()
        .records;
    let slice = log
        .read_isolated_slice(0, 1 << 20, FetchIsolation::LogEnd, true)
        .unwrap();
    assert!(!slice.records.is_empty());
    let path = slice.records.path().to_path_buf();
    // DeleteRecords past the first segments (file.delete.delay.ms=0: unlinked now).
    log.delete_records_before(log.log_end_offset() - 1).unwrap();
    assert!(!path.exists(), "{} still there", path.display());
    assert_eq!(send_all(&slice.records).unwrap(), expected);
    // And after the whole log is deleted.
    let slice = log
        .read_isolated_slice(
            log.log_start_offset(),
            1 << 20,
            FetchIsolation::LogEnd,
            true,
        )
        .unwrap();
    let expected = slice.records.read().unwrap();
    log.delete().unwrap();
    assert_eq!(send_all(&slice.records).unwrap(), expected);
}

#[test]
fn a_truncation_under_a_slice_makes_it_refuse_to_send() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), NOW).unwrap();
    for i in 0..6 {
        log.append_leader(&batch(i, 12), 0, NOW, VerificationGuard::NONE)
            .unwrap();
    }
    let slice = log
        .read_isolated_slice(0, 1 << 20, FetchIsolation::LogEnd, true)
        .unwrap();
    // Cut inside the slice, then write other bytes where the old ones were: without the
    // check the slice would send them.
    log.truncate_to(24).unwrap();
    for i in 100..104 {
        log.append_leader(&batch(i, 12), 0, NOW, VerificationGuard::NONE)
            .unwrap();
    }
    let err = send_all(&slice.records).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.to_string().contains(".log"), "{err}");
    assert!(slice.records.read().is_err());
    // A slice captured after the truncation sends the new bytes.
    let fresh = log
        .read_isolated_slice(0, 1 << 20, FetchIsolation::LogEnd, true)
        .unwrap();
    assert_eq!(
        send_all(&fresh.records).unwrap(),
        log.read_isolated(0, 1 << 20, FetchIsolation::LogEnd, true)
            .unwrap()
            .records
    );
}
