//! Transaction state of the partition log: mirrored transactional data (committed, aborted
//! and still-open transactions of several producers, across segments) gives the source's
//! last stable offset and aborted-transaction list, survives clean and unclean restarts,
//! truncation, retention and the cleaner; the leader path refuses unverified client
//! transactions (verified ones: `txn_leader.rs`); a
//! property test checks random interleavings against a model of Kafka's rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use strait_records::{decode_records, BatchBuilder, BatchIter, ControlRecordType, RecordsError};
use strait_storage::{
    AbortedTxn, AppendError, CleanerContext, CleanupPolicy, FetchIsolation, LogConfig, OffsetMap,
    PartitionLog, Throttler,
};
use support::for_each_batch;

const NOW: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config, NOW).unwrap()
}

/// A transactional (or, with `pid` < 0, plain) data batch of `n` records at `base`.
fn data(base: i64, pid: i64, n: usize, key: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(base).leader_epoch(3);
    if pid >= 0 {
        b = b.producer(pid, 0, 0).transactional(true);
    }
    for i in 0..n {
        b = b.append(
            NOW,
            Some(format!("{key}{i}").as_bytes()),
            Some(format!("v{base}-{i}").as_bytes()),
        );
    }
    b.build().unwrap()
}

fn marker(base: i64, pid: i64, commit: bool) -> Vec<u8> {
    let kind = if commit {
        ControlRecordType::Commit
    } else {
        ControlRecordType::Abort
    };
    BatchBuilder::end_txn_marker(base, kind, pid, 0, 5, NOW)
        .leader_epoch(3)
        .build()
        .unwrap()
}

fn aborted(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: lso,
    }
}

/// The scenario, as the source served it (offsets are the source's):
///   0-1  plain          | 2-3 pid 1 (txn A) | 4-5 pid 2 (txn B) | 6 pid 1 COMMIT (A)
///   7-8  pid 2 (B)      | 9 pid 2 ABORT (B) | 10-12 pid 3 (C)   | 13-14 plain
///   15   pid 1 (txn D)  | 16 pid 3 ABORT (C)| 17-18 pid 4 (E, stays open) | 19 pid 1 ABORT (D)
///   20-21 plain
fn scenario() -> Vec<Vec<u8>> {
    vec![
        data(0, -1, 2, "p"),
        data(2, 1, 2, "a"),
        data(4, 2, 2, "b"),
        marker(6, 1, true),
        data(7, 2, 2, "b"),
        marker(9, 2, false),
        data(10, 3, 3, "c"),
        data(13, -1, 2, "p"),
        data(15, 1, 1, "d"),
        marker(16, 3, false),
        data(17, 4, 2, "e"),
        marker(19, 1, false),
        data(20, -1, 2, "p"),
    ]
}

fn mirror_all(log: &mut PartitionLog, batches: &[Vec<u8>]) {
    for b in batches {
        log.append_mirrored(b, NOW).unwrap();
    }
}

/// What a read_committed consumer sees after a full fetch loop: (LSO, aborted entries,
/// offsets of the records delivered to the application, per Kafka's client rules).
fn committed_view(log: &PartitionLog) -> (i64, Vec<AbortedTxn>, Vec<i64>) {
    let mut delivered = Vec::new();
    let mut next = log.log_start_offset();
    let mut all_aborted = Vec::new();
    loop {
        let r = log
            .read_isolated(next, 1 << 20, FetchIsolation::TxnCommitted, true)
            .unwrap();
        if r.records.is_empty() {
            break;
        }
        let aborted = r.aborted_transactions.unwrap();
        all_aborted.extend(aborted.iter().copied());
        // Java CompletedFetch: producers whose abort started at or before a batch are
        // skipped until their ABORT marker.
        let mut pending: Vec<AbortedTxn> = aborted.clone();
        pending.sort_by_key(|a| a.first_offset);
        let mut skipping: HashSet<i64> = HashSet::new();
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            assert!(b.last_offset() < r.last_stable_offset, "read past the LSO");
            while pending
                .first()
                .is_some_and(|a| a.first_offset <= b.last_offset())
            {
                skipping.insert(pending.remove(0).producer_id);
            }
            if b.is_control() {
                if decode_records(&b)
                    .unwrap()
                    .first()
                    .and_then(|r| r.key.clone())
                    .as_deref()
                    == Some(&ControlRecordType::Abort.key()[..])
                {
                    skipping.remove(&b.producer_id());
                }
            } else if !(b.is_transactional() && skipping.contains(&b.producer_id())) {
                for rec in decode_records(&b).unwrap() {
                    if rec.offset(&b) >= next {
                        delivered.push(rec.offset(&b));
                    }
                }
            }
            next = b.last_offset() + 1;
        }
    }
    all_aborted.sort_by_key(|a| a.last_offset);
    all_aborted.dedup();
    (log.last_stable_offset(), all_aborted, delivered)
}

fn expected_delivered() -> Vec<i64> {
    // plain 0-1, A 2-3 (committed), plain 13-14; 17+ is above the LSO (E open at 17).
    vec![0, 1, 2, 3, 13, 14]
}

fn expected_index() -> Vec<AbortedTxn> {
    vec![
        // B aborted at 9; C (open since 10) is not open yet at 9: LSO after = 10? No: the
        // LSO right after marker 9 is the earliest open transaction then, none -> 10.
        aborted(2, 4, 9, 10),
        // C aborted at 16 while D (15) is open.
        aborted(3, 10, 16, 15),
        // D aborted at 19 while E (17) is open.
        aborted(1, 15, 19, 17),
    ]
}

#[test]
fn mirrored_transactions_give_lso_and_aborted_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    let batches = scenario();
    // Before any marker: the LSO stays at the first open transaction.
    mirror_all(&mut log, &batches[..3]);
    assert_eq!(log.high_watermark(), 6);
    assert_eq!(log.last_stable_offset(), 2);
    mirror_all(&mut log, &batches[3..4]);
    assert_eq!(log.last_stable_offset(), 4, "A committed, B still open");
    mirror_all(&mut log, &batches[4..]);
    assert!(log.segment_count() > 2, "the scenario spans segments");
    assert_eq!(log.high_watermark(), 22);
    assert_eq!(log.last_stable_offset(), 17, "E is still open");
    assert_eq!(log.ongoing_transactions(), vec![(4, 17)]);
    assert_eq!(log.aborted_transactions(), expected_index());

    // Kafka's collectAbortedTransactions for several ranges.
    assert_eq!(log.collect_aborted_transactions(0, 4), vec![]);
    assert_eq!(
        log.collect_aborted_transactions(0, 5),
        vec![aborted(2, 4, 9, 10)]
    );
    assert_eq!(log.collect_aborted_transactions(10, 12).len(), 1);
    assert_eq!(log.collect_aborted_transactions(10, 12)[0].producer_id, 3);
    assert_eq!(
        log.collect_aborted_transactions(17, 22),
        vec![aborted(1, 15, 19, 17)]
    );
    assert_eq!(log.collect_aborted_transactions(0, 22), expected_index());

    // read_committed stops below the LSO; read_uncommitted reaches the high watermark.
    let (lso, index, delivered) = committed_view(&log);
    assert_eq!(lso, 17);
    assert_eq!(index, expected_index());
    assert_eq!(delivered, expected_delivered());
    let r = log
        .read_isolated(17, 1 << 20, FetchIsolation::TxnCommitted, true)
        .unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.aborted_transactions, Some(vec![]));
    let r = log
        .read_isolated(17, 1 << 20, FetchIsolation::HighWatermark, true)
        .unwrap();
    assert!(!r.records.is_empty());
    assert_eq!(r.aborted_transactions, None);

    // E's marker arrives: the LSO catches up with the high watermark.
    log.append_mirrored(&marker(22, 4, true), NOW).unwrap();
    assert_eq!(log.last_stable_offset(), 23);
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn restart_clean_and_unclean_gives_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    mirror_all(&mut log, &scenario());
    let before = committed_view(&log);
    log.close().unwrap();

    let log = open(dir.path(), config());
    assert_eq!(committed_view(&log), before, "clean restart (snapshot)");
    drop(log); // kill -9: no snapshot, no clean-shutdown marker

    let log = open(dir.path(), config());
    assert_eq!(committed_view(&log), before, "unclean restart (rebuild)");
    drop(log);

    // Every .txnindex lost (e.g. written by an older Strait): rebuilt from the markers.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "txnindex") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let log = open(dir.path(), config());
    assert_eq!(committed_view(&log), before, "rebuilt transaction indexes");

    // A torn tail after a crash: the last batch (a plain one) half written.
    log.close().unwrap();
    let mut segs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segs.sort();
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(len - 5).unwrap();
    std::fs::remove_file(dir.path().join(".clean-shutdown")).unwrap();
    let log = open(dir.path(), config());
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.last_stable_offset(), 17);
    assert_eq!(log.aborted_transactions(), expected_index());
}

#[test]
fn old_snapshot_version_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    mirror_all(&mut log, &scenario());
    let before = committed_view(&log);
    log.close().unwrap();
    // An SPS1 snapshot (no transaction state) from an older Strait, CRC valid.
    let mut old = b"SPS1".to_vec();
    old.extend_from_slice(&22i64.to_be_bytes());
    old.extend_from_slice(&(-1i64).to_be_bytes());
    old.extend_from_slice(&0u64.to_be_bytes());
    let crc = crc32c_of(&old);
    old.extend_from_slice(&crc.to_be_bytes());
    std::fs::write(dir.path().join("producer-state.snapshot"), old).unwrap();
    let log = open(dir.path(), config());
    assert_eq!(committed_view(&log), before);
}

fn crc32c_of(b: &[u8]) -> u32 {
    // CRC-32C (Castagnoli), bitwise: the test does not depend on the crc32c crate.
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

#[test]
fn truncation_and_retention_maintain_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    mirror_all(&mut log, &scenario());
    // Truncating below D's abort marker reopens D (15) and removes its entry.
    log.truncate_to(19).unwrap();
    assert_eq!(log.aborted_transactions(), expected_index()[..2].to_vec());
    assert_eq!(log.last_stable_offset(), 15);
    assert_eq!(log.ongoing_transactions(), vec![(1, 15), (4, 17)]);
    log.truncate_to(13).unwrap();
    assert_eq!(log.aborted_transactions(), expected_index()[..1].to_vec());
    assert_eq!(log.last_stable_offset(), 10, "C reopened at 10");
    mirror_all(&mut log, &scenario()[7..]);
    assert_eq!(log.aborted_transactions().len(), 3);

    // Retention removes old segments with their .txnindex files.
    let count_txn = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "txnindex")
            })
            .count()
    };
    assert_eq!(count_txn(dir.path()), log.segment_count());
    let bases = log.segment_base_offsets();
    log.delete_records_before(bases[2]).unwrap();
    assert_eq!(
        log.enforce_retention(NOW).unwrap(),
        0,
        "delete_records already removed them"
    );
    assert_eq!(log.segment_count(), bases.len() - 2);
    assert_eq!(count_txn(dir.path()), log.segment_count());
    assert!(log
        .aborted_transactions()
        .iter()
        .all(|a| a.last_offset >= bases[2]));
}

#[test]
fn control_batch_with_bad_crc_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    log.append_mirrored(&data(0, 7, 2, "x"), NOW).unwrap();
    let mut m = marker(2, 7, false);
    m[17..21].copy_from_slice(&[0, 0, 0, 0]); // librdkafka's mock writes CRC 0
    match log.append_mirrored(&m, NOW) {
        Err(AppendError::Corrupt(RecordsError::CrcMismatch {
            base_offset: 2,
            stored: 0,
            ..
        })) => {}
        other => panic!("expected a CRC error, got {other:?}"),
    }
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.last_stable_offset(), 0, "the transaction is still open");
}

#[test]
fn leader_refuses_transactional_batches_and_writes_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    let txn = BatchBuilder::new(0)
        .producer(9, 0, 0)
        .transactional(true)
        .append(NOW, Some(b"k"), Some(b"v"))
        .build()
        .unwrap();
    assert!(matches!(
        log.append_leader(&txn, 1, NOW, strait_storage::VerificationGuard::NONE),
        Err(AppendError::InvalidTxnState(_))
    ));
    assert_eq!(log.log_end_offset(), 0);

    // The coordinator's markers (the transaction's data mirrored here for the test).
    log.append_mirrored(&data(0, 9, 3, "t"), NOW).unwrap();
    assert_eq!(log.last_stable_offset(), 0);
    let at = log.append_control_marker(9, 0, 2, false, 4, NOW).unwrap();
    assert_eq!(at, 3);
    assert_eq!(log.last_stable_offset(), 4);
    assert_eq!(log.aborted_transactions(), vec![aborted(9, 0, 3, 4)]);
    let r = log.read(3, 1 << 20, i64::MAX, true).unwrap();
    let b = BatchIter::new(&r.records).next().unwrap().unwrap();
    b.validate_crc().unwrap();
    assert!(b.is_control() && b.is_transactional());
    assert_eq!(b.partition_leader_epoch(), 4);
    assert_eq!(log.epoch_for_offset(3), Some(4));
    // A zombie coordinator and an old producer epoch are fenced.
    assert!(matches!(
        log.append_control_marker(9, 0, 1, true, 4, NOW),
        Err(AppendError::TransactionCoordinatorFenced { .. })
    ));
    log.append_mirrored(
        &BatchBuilder::new(4)
            .producer(9, 3, 0)
            .transactional(true)
            .append(NOW, None, Some(b"x"))
            .build()
            .unwrap(),
        NOW,
    )
    .unwrap();
    assert!(matches!(
        log.append_control_marker(9, 2, 2, true, 4, NOW),
        Err(AppendError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(log.append_control_marker(9, 3, 2, true, 4, NOW).unwrap(), 5);
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(log.aborted_transactions().len(), 1);
}

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 500,
        index_interval_bytes: 64,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 10_000,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

fn clean(log: &mut PartitionLog, now: i64) {
    let (throttler, abort) = (Throttler::unlimited(), AtomicBool::new(false));
    let ctx = CleanerContext {
        throttler: &throttler,
        abort: &abort,
        io_buffer_bytes: 4096,
    };
    let mut map = OffsetMap::new(1 << 12, 0.9);
    log.clean_once(&mut map, &ctx, now).unwrap();
}

/// Keyed transactional batch: `records` are (key, value).
fn kdata(base: i64, pid: i64, records: &[(&str, &str)]) -> Vec<u8> {
    let mut b = BatchBuilder::new(base);
    if pid >= 0 {
        b = b.producer(pid, 0, 0).transactional(true);
    }
    for (k, v) in records {
        b = b.append(NOW, Some(k.as_bytes()), Some(v.as_bytes()));
    }
    b.build().unwrap()
}

fn values(log: &PartitionLog) -> BTreeMap<i64, (String, String, bool)> {
    let mut out = BTreeMap::new();
    for_each_batch(log, log.log_start_offset(), |b| {
        for rec in decode_records(b).unwrap() {
            let k = String::from_utf8_lossy(rec.key.as_deref().unwrap_or_default()).into_owned();
            let v = String::from_utf8_lossy(rec.value.as_deref().unwrap_or_default()).into_owned();
            out.insert(rec.offset(b), (k, v, b.is_control()));
        }
    });
    out
}

#[test]
fn cleaner_removes_aborted_records_keeps_committed_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    let pad = |base: i64, c: &str| kdata(base, -1, &[("pad", &c.repeat(200))]);
    let batches = vec![
        kdata(0, -1, &[("k1", "plain1"), ("k2", "plain2")]),
        kdata(2, 1, &[("k1", "committed")]),
        kdata(3, 2, &[("k2", "aborted"), ("k3", "aborted")]),
        marker(5, 1, true),
        marker(6, 2, false),
        pad(7, "x"),
        kdata(8, 3, &[("k4", "open")]),
        pad(9, "y"),
        pad(10, "z"),
        // Producer 2 writes again, so its aborted batch is not its last (which the cleaner
        // would keep, empty, for its sequence).
        kdata(11, 2, &[("k5", "later")]),
        marker(12, 2, true),
        pad(13, "w"),
    ];
    mirror_all(&mut log, &batches);
    assert!(log.segment_count() >= 3);
    assert_eq!(log.last_stable_offset(), 8);
    clean(&mut log, NOW);
    let v = values(&log);
    // The aborted k2 never superseded plain2; aborted records are gone; committed k1 kept.
    assert_eq!(v.get(&1).map(|x| x.1.as_str()), Some("plain2"), "{v:?}");
    assert_eq!(v.get(&2).map(|x| x.1.as_str()), Some("committed"));
    assert!(!v.contains_key(&3) && !v.contains_key(&4), "{v:?}");
    assert!(!v.contains_key(&0), "k1's older plain value compacted away");
    // The open transaction's data (in the LSO's segment) is untouched.
    assert_eq!(v.get(&8).map(|x| x.1.as_str()), Some("open"));
    // The ABORT marker stays this pass (its data was just removed), with its entry.
    assert!(v.get(&6).is_some_and(|x| x.2));
    assert_eq!(log.aborted_transactions(), vec![aborted(2, 3, 6, 7)]);
    assert_eq!(log.last_stable_offset(), 8);
    log.append_mirrored(&marker(14, 3, true), NOW).unwrap();
    for i in 0..4 {
        log.append_mirrored(&pad(15 + i, "q"), NOW).unwrap();
    }

    // Second pass: the aborted transaction has no data left: its entry goes and the marker
    // gets a delete horizon; after delete.retention.ms the marker itself goes.
    clean(&mut log, NOW + 1);
    assert_eq!(log.aborted_transactions(), vec![]);
    assert!(
        values(&log).get(&6).is_some_and(|x| x.2),
        "marker kept until its horizon"
    );
    for i in 0..4 {
        log.append_mirrored(&pad(19 + i, "r"), NOW).unwrap();
    }
    clean(&mut log, NOW + 20_000);
    let v = values(&log);
    assert!(
        !v.contains_key(&6),
        "ABORT marker past its delete horizon removed: {v:?}"
    );
    assert_eq!(v.get(&2).map(|x| x.1.as_str()), Some("committed"));
    assert!(
        v.get(&5).is_some_and(|x| x.2),
        "COMMIT marker of retained data stays"
    );
    assert_eq!(v.get(&8).map(|x| x.1.as_str()), Some("open"));

    // All of it survives an unclean restart.
    let lso = log.last_stable_offset();
    drop(log);
    let log = open(dir.path(), compact_config());
    assert_eq!(log.last_stable_offset(), lso);
    assert_eq!(values(&log), v);
}

// ---- property test: random interleavings vs a model of Kafka's rules ----

#[derive(Debug, Clone)]
enum Op {
    Plain,
    Data(u8),
    Commit(u8),
    Abort(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Plain),
        (0u8..4).prop_map(Op::Data),
        (0u8..4).prop_map(Op::Commit),
        (0u8..4).prop_map(Op::Abort),
    ]
}

/// The model: per producer its open transaction's first offset; ABORT of an open one gives
/// an entry whose LSO is the earliest still-open first offset, else marker + 1.
#[derive(Default)]
struct Model {
    open: BTreeMap<u8, i64>,
    entries: Vec<AbortedTxn>,
    end: i64,
    /// Offsets of records a read_committed consumer must get (below the LSO).
    committed: Vec<(i64, u8)>,
    /// Data offsets per open transaction.
    txn_data: BTreeMap<u8, Vec<i64>>,
    plain: Vec<i64>,
}

impl Model {
    fn lso(&self) -> i64 {
        self.open.values().min().copied().unwrap_or(self.end)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_interleavings_match_the_model(ops in proptest::collection::vec(op(), 1..60), restart in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), LogConfig { segment_bytes: 400, ..config() });
        let mut m = Model::default();
        for o in &ops {
            let at = m.end;
            let bytes = match *o {
                Op::Plain => { m.plain.push(at); data(at, -1, 1, "p") }
                Op::Data(p) => {
                    m.open.entry(p).or_insert(at);
                    m.txn_data.entry(p).or_default().push(at);
                    data(at, i64::from(p), 1, "t")
                }
                Op::Commit(p) | Op::Abort(p) => {
                    let commit = matches!(o, Op::Commit(_));
                    if let Some(first) = m.open.remove(&p) {
                        let offsets = m.txn_data.remove(&p).unwrap_or_default();
                        if commit {
                            m.committed.extend(offsets.iter().map(|x| (*x, p)));
                        } else {
                            let lso = m.open.values().min().copied().unwrap_or(at + 1);
                            m.entries.push(aborted(i64::from(p), first, at, lso));
                        }
                    }
                    marker(at, i64::from(p), commit)
                }
            };
            log.append_mirrored(&bytes, NOW).unwrap();
            m.end = at + 1;
            prop_assert_eq!(log.last_stable_offset(), m.lso());
        }
        if restart {
            drop(log);
            log = open(dir.path(), LogConfig { segment_bytes: 400, ..config() });
        }
        prop_assert_eq!(log.last_stable_offset(), m.lso());
        prop_assert_eq!(log.aborted_transactions(), m.entries.clone());
        let (_, _, delivered) = committed_view(&log);
        let lso = m.lso();
        let mut want: Vec<i64> = m.plain.iter().copied().filter(|o| *o < lso).collect();
        want.extend(m.committed.iter().map(|x| x.0).filter(|o| *o < lso));
        want.sort_unstable();
        prop_assert_eq!(delivered, want);
        // Every range query equals a filter over the model's entries.
        for start in (0..m.end).step_by(3) {
            for upper in (start + 1..=m.end).step_by(4) {
                let want: Vec<AbortedTxn> = m.entries.iter().copied()
                    .filter(|a| a.last_offset >= start && a.first_offset < upper).collect();
                let got = log.collect_aborted_transactions(start, upper);
                prop_assert_eq!(got, want, "range [{}, {})", start, upper);
            }
        }
    }
}
