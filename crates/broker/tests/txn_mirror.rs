#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Transactional data through a cluster link, end to end, read by real clients.
//!
//! There is no transaction coordinator yet, so transactional data reaches Strait only by
//! mirroring. The test builds Kafka-exact batches with `strait_records` (several
//! transactional producers with committed, aborted and still-open transactions
//! interleaved, an idempotent producer and plain records, offsets assigned as a Kafka
//! leader would, over many small segments) and appends them to a normal topic of an
//! in-process *source* Strait broker through `PartitionLog::append_mirrored`. A
//! *destination* Strait broker links to it with the real cluster link, so the bytes travel
//! over the Kafka protocol and through the destination's `append_mirrored`. Both sides are
//! then read at both isolation levels by the Strait client (raw Fetch, Kafka's consumer
//! abort filtering applied here), confluent-kafka (librdkafka), kafka-python and the
//! Apache Kafka Java client, and checked against the model of what was written.
//!
//! External clients: `protocol-tests/.venv/bin/python` (confluent-kafka, kafka-python) and
//! `java` with the jars in `protocol-tests/java/lib` (or `$STRAIT_JAVA_LIB`). A missing one
//! is skipped with a message, unless `STRAIT_REQUIRE_ALL_CLIENTS` is set, then it fails.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use strait_broker::RunningBroker;
use strait_client::fetch::{FetchParams, FetchPartitionSpec, IsolationLevel};
use strait_client::offsets::OffsetSpec;
use strait_client::Client;
use strait_protocol::admin::{AlterMirrorsRequest, AlterMirrorsResponse, MirrorOp, PartitionCount};
use strait_records::record::BatchBuilder;
use strait_records::{control_record_type, decode_records, BatchIter, Compression};
use strait_records::{ControlRecordType, RecordBatch};
use strait_storage::AbortedTxn;
use support::*;

const TOPIC: &str = "txn";
/// Small enough that the data spans many segments (a batch here is 70-90 bytes).
const SEGMENT_BYTES: &str = "260";

// ---------------------------------------------------------------------------------------
// Brokers, link, admin
// ---------------------------------------------------------------------------------------

async fn create_link(dst: &Client, source: &str, topic: &str) {
    let filters = format!(
        r#"{{"topicFilters":[{{"name":"{topic}","patternType":"LITERAL","filterType":"INCLUDE"}}]}}"#
    );
    create_link_with(
        dst,
        "l",
        &[
            ("bootstrap.servers", source),
            ("metadata.max.age.ms", "500"),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", &filters),
        ],
    )
    .await;
}

/// Waits until mirror `topic` (one partition) is ACTIVE with `leo` as its log end offset.
async fn wait_mirrored(dst: &Client, topic: &str, leo: i64) {
    wait_for(&format!("mirror {topic} at log end offset {leo}"), || {
        let dst = dst.clone();
        async move {
            mirror(&dst, topic).await.is_some_and(|m| {
                m.state == "ACTIVE"
                    && m.partitions.len() == 1
                    && m.partitions[0].log_end_offset == leo
                    && m.partitions[0].lag == 0
            })
        }
    })
    .await;
}

/// Appends `bytes` to partition 0 of `topic` on `b` as the mirror path does (Kafka offsets
/// and CRCs kept as built), then wakes long-polling fetches (the link's).
fn append_to_source(b: &RunningBroker, topic: &str, bytes: &[u8]) {
    let t = b.broker.topics.get(topic).expect("source topic exists");
    t.partition(0)
        .unwrap()
        .with_log_mut(|l| l.append_mirrored(bytes, now_ms()))
        .unwrap()
        .unwrap_or_else(|e| panic!("append to the source log refused: {e}"));
}

fn with_log<R>(
    b: &RunningBroker,
    topic: &str,
    f: impl FnOnce(&strait_storage::PartitionLog) -> R,
) -> R {
    b.broker
        .topics
        .get(topic)
        .unwrap_or_else(|| panic!("topic {topic} exists"))
        .partition(0)
        .unwrap()
        .with_log(f)
        .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------
// The model: what was written, and what each isolation level must show
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Open,
    Committed,
    Aborted,
}

#[derive(Debug, Clone)]
struct Rec {
    offset: i64,
    value: String,
    /// The transaction the record belongs to, if any.
    txn: Option<&'static str>,
}

struct Txn {
    producer_id: i64,
    first_offset: i64,
    outcome: Outcome,
}

/// Builds a partition's batches exactly as a Kafka leader would have stored them.
struct Model {
    ts0: i64,
    next_offset: i64,
    pending: Vec<u8>,
    records: Vec<Rec>,
    txns: BTreeMap<&'static str, Txn>,
    /// Producer id -> its open transaction.
    open: HashMap<i64, &'static str>,
    /// Producer id -> (epoch, next sequence).
    producers: HashMap<i64, (i16, i32)>,
    /// The `.txnindex` entries an ABORT marker must produce.
    expected_index: Vec<AbortedTxn>,
}

impl Model {
    fn new() -> Self {
        Model {
            ts0: now_ms(),
            next_offset: 0,
            pending: Vec::new(),
            records: Vec::new(),
            txns: BTreeMap::new(),
            open: HashMap::new(),
            producers: HashMap::new(),
            expected_index: Vec::new(),
        }
    }

    fn push_batch(&mut self, b: BatchBuilder, n: usize) {
        let bytes = b.build().unwrap();
        assert!(RecordBatch::new(&bytes).unwrap().validate_crc().is_ok());
        self.pending.extend_from_slice(&bytes);
        self.next_offset += n as i64;
    }

    fn data(
        &mut self,
        producer: Option<(i64, i16)>,
        txn: Option<&'static str>,
        values: &[&str],
        compression: Compression,
    ) {
        let base = self.next_offset;
        let mut b = BatchBuilder::new(base)
            .leader_epoch(0)
            .compression(compression);
        if let Some((pid, epoch)) = producer {
            let (e, seq) = self.producers.entry(pid).or_insert((epoch, 0));
            assert_eq!(*e, epoch, "model: producer {pid} epoch");
            b = b.producer(pid, epoch, *seq);
            *seq += values.len() as i32;
        }
        b = b.transactional(txn.is_some());
        for (i, v) in values.iter().enumerate() {
            let offset = base + i as i64;
            b = b.append(
                self.ts0 + offset,
                Some(format!("k{offset}").as_bytes()),
                Some(v.as_bytes()),
            );
            self.records.push(Rec {
                offset,
                value: v.to_string(),
                txn,
            });
        }
        self.push_batch(b, values.len());
    }

    /// Plain records (no producer id).
    fn plain(&mut self, values: &[&str]) {
        self.data(None, None, values, Compression::None);
    }

    /// An idempotent, non-transactional producer's batch.
    fn idempotent(&mut self, pid: i64, values: &[&str]) {
        self.data(Some((pid, 0)), None, values, Compression::None);
    }

    /// A transactional batch of `pid` in transaction `label` (opened by its first batch).
    fn txn(&mut self, label: &'static str, pid: i64, epoch: i16, values: &[&str], c: Compression) {
        match self.open.get(&pid) {
            Some(open) => assert_eq!(*open, label, "model: producer {pid} has {open} open"),
            None => {
                self.open.insert(pid, label);
                self.txns.insert(
                    label,
                    Txn {
                        producer_id: pid,
                        first_offset: self.next_offset,
                        outcome: Outcome::Open,
                    },
                );
            }
        }
        self.data(Some((pid, epoch)), Some(label), values, c);
    }

    /// The COMMIT or ABORT marker of `pid`'s open transaction.
    fn end(&mut self, pid: i64, commit: bool) {
        let label = self
            .open
            .remove(&pid)
            .expect("model: marker for an open transaction");
        let epoch = self.producers[&pid].0;
        let offset = self.next_offset;
        let kind = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let b = BatchBuilder::end_txn_marker(offset, kind, pid, epoch, 3, self.ts0 + offset)
            .leader_epoch(0);
        self.push_batch(b, 1);
        let t = self.txns.get_mut(label).unwrap();
        t.outcome = if commit {
            Outcome::Committed
        } else {
            Outcome::Aborted
        };
        if !commit {
            let first_offset = t.first_offset;
            self.expected_index.push(AbortedTxn {
                producer_id: pid,
                first_offset,
                last_offset: offset,
                last_stable_offset: self.first_unstable().unwrap_or(offset + 1),
            });
        }
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    fn high_watermark(&self) -> i64 {
        self.next_offset
    }

    fn first_unstable(&self) -> Option<i64> {
        self.open.values().map(|l| self.txns[l].first_offset).min()
    }

    fn last_stable_offset(&self) -> i64 {
        self.first_unstable().unwrap_or(self.next_offset)
    }

    /// `(producer id, first offset)` of every open transaction, by first offset.
    fn ongoing(&self) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = self
            .open
            .iter()
            .map(|(pid, l)| (*pid, self.txns[l].first_offset))
            .collect();
        v.sort_by_key(|&(_, first)| first);
        v
    }

    /// What read_committed must return: committed and non-transactional records below the LSO.
    fn read_committed(&self) -> Vec<(i64, String)> {
        let lso = self.last_stable_offset();
        self.records
            .iter()
            .filter(|r| r.offset < lso)
            .filter(|r| {
                r.txn
                    .is_none_or(|l| self.txns[l].outcome == Outcome::Committed)
            })
            .map(|r| (r.offset, r.value.clone()))
            .collect()
    }

    /// What read_uncommitted must return: every data record.
    fn read_uncommitted(&self) -> Vec<(i64, String)> {
        self.records
            .iter()
            .map(|r| (r.offset, r.value.clone()))
            .collect()
    }

    /// Every aborted transaction starting below the LSO: what a read_committed reader of the
    /// whole log must be told about.
    fn aborted(&self) -> BTreeSet<(i64, i64)> {
        let lso = self.last_stable_offset();
        self.txns
            .values()
            .filter(|t| t.outcome == Outcome::Aborted && t.first_offset < lso)
            .map(|t| (t.producer_id, t.first_offset))
            .collect()
    }

    /// Values that must never appear at read_committed right now.
    fn hidden(&self) -> Vec<(i64, String)> {
        let visible: BTreeSet<(i64, String)> = self.read_committed().into_iter().collect();
        self.read_uncommitted()
            .into_iter()
            .filter(|r| !visible.contains(r))
            .collect()
    }
}

const P1: i64 = 1001;
const P2: i64 = 1002;
const P3: i64 = 1003;
const IDEMPOTENT: i64 = 2000;

/// Phase 1: committed, aborted and open transactions of three producers interleaved with an
/// idempotent producer and plain records. Ends with P3's transaction E and P2's G open, a
/// visible record right before E (so read_committed readers know where to stop) and a plain
/// record last (the same for read_uncommitted).
fn phase_one(m: &mut Model) {
    m.plain(&["n-0", "n-1"]);
    m.txn("A", P1, 0, &["a-0", "a-1"], Compression::None);
    m.txn("B", P2, 0, &["b-0"], Compression::None);
    m.idempotent(IDEMPOTENT, &["i-0", "i-1"]);
    m.txn("A", P1, 0, &["a-2"], Compression::Lz4);
    m.end(P1, true); // A committed
    m.txn("B", P2, 0, &["b-1", "b-2"], Compression::Zstd);
    m.plain(&["n-2"]);
    m.txn("C", P1, 0, &["c-0"], Compression::None);
    m.end(P2, false); // B aborted (C still open: the entry's LSO is C's first offset)
    m.txn("D", P2, 0, &["d-0"], Compression::None);
    m.end(P1, false); // C aborted
    m.plain(&["n-3"]);
    m.txn("D", P2, 0, &["d-1"], Compression::Gzip);
    m.end(P2, true); // D committed
    m.plain(&["n-4"]); // the last visible record before the LSO
    m.txn("E", P3, 2, &["e-0", "e-1"], Compression::None); // open: the LSO
    m.txn("F", P1, 0, &["f-0"], Compression::None);
    m.plain(&["n-5"]);
    m.idempotent(IDEMPOTENT, &["i-2"]);
    m.end(P1, true); // F committed, but behind the open E
    m.txn("G", P2, 0, &["g-0", "g-1"], Compression::Snappy); // open
    m.plain(&["n-6"]);
}

/// Phase 2: G is aborted and E committed, then one plain record: nothing is open.
fn phase_two(m: &mut Model) {
    m.end(P2, false);
    m.end(P3, true);
    m.plain(&["n-7"]);
}

// ---------------------------------------------------------------------------------------
// The Strait client as a consumer
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Consumed {
    records: Vec<(i64, String)>,
    last_stable_offsets: BTreeSet<i64>,
    high_watermarks: BTreeSet<i64>,
    aborted: BTreeSet<(i64, i64)>,
    /// Base offset of every batch returned (control batches included).
    batch_bases: Vec<i64>,
    fetches: usize,
}

/// Reads partition 0 of `topic` from offset 0 to the end at `isolation`, with raw Fetch
/// requests, dropping aborted batches and control batches the way Kafka's consumer does
/// (`CompletedFetch.nextFetchedRecord`).
async fn consume(c: &Client, topic: &str, isolation: IsolationLevel) -> Consumed {
    c.refresh_metadata(&[topic]).await.unwrap();
    let leader = c.find_leader(topic, 0).await.unwrap();
    let mut out = Consumed::default();
    let mut offset = 0i64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "{topic} at {isolation:?}: no end after {} fetches (at offset {offset})",
            out.fetches
        );
        let params = FetchParams {
            max_wait_ms: 0,
            isolation_level: isolation,
            partitions: vec![FetchPartitionSpec::new(topic, 0, offset)],
            ..FetchParams::default()
        };
        let r = c.fetch_raw(leader, &params).await.unwrap();
        out.fetches += 1;
        let p = &r.partitions[0];
        assert!(
            p.error.is_none(),
            "{topic} fetch at {offset} ({isolation:?}): {:?}",
            p.error
        );
        out.last_stable_offsets.insert(p.last_stable_offset);
        out.high_watermarks.insert(p.high_watermark);
        if p.records.is_empty() {
            return out;
        }
        let mut pending: Vec<(i64, i64)> = p
            .aborted_transactions
            .iter()
            .map(|a| (a.first_offset, a.producer_id))
            .collect();
        pending.sort();
        for &(first, pid) in &pending {
            out.aborted.insert((pid, first));
        }
        let mut pending = std::collections::VecDeque::from(pending);
        let mut aborted_producers: HashSet<i64> = HashSet::new();
        let fetch_offset = offset;
        for b in BatchIter::new(&p.records) {
            let b = b.unwrap();
            if b.last_offset() < fetch_offset {
                continue;
            }
            out.batch_bases.push(b.base_offset());
            offset = b.next_offset();
            if isolation == IsolationLevel::ReadCommitted && b.has_producer_id() {
                while pending
                    .front()
                    .is_some_and(|&(first, _)| first <= b.last_offset())
                {
                    aborted_producers.insert(pending.pop_front().unwrap().1);
                }
                if control_record_type(&b).unwrap() == Some(ControlRecordType::Abort) {
                    aborted_producers.remove(&b.producer_id());
                } else if b.is_transactional() && aborted_producers.contains(&b.producer_id()) {
                    continue;
                }
            }
            if b.is_control() {
                continue;
            }
            for rec in decode_records(&b).unwrap() {
                let o = rec.offset(&b);
                if o >= fetch_offset {
                    let v = rec.value.as_deref().map(String::from_utf8_lossy).unwrap();
                    out.records.push((o, v.into_owned()));
                }
            }
        }
    }
}

async fn list_latest(c: &Client, topic: &str, isolation: IsolationLevel) -> i64 {
    let leader = c.find_leader(topic, 0).await.unwrap();
    let conn = c.broker(leader).await.unwrap();
    let r = conn
        .list_offsets_with(vec![(topic, 0, OffsetSpec::Latest)], isolation)
        .await
        .unwrap();
    assert!(
        r[0].error.is_none(),
        "ListOffsets {isolation:?}: {:?}",
        r[0]
    );
    r[0].offset
}

/// Every batch of the partition, read_uncommitted, as raw bytes.
async fn raw_log(c: &Client, topic: &str) -> Bytes {
    let leader = c.find_leader(topic, 0).await.unwrap();
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let params = FetchParams {
            max_wait_ms: 0,
            partitions: vec![FetchPartitionSpec::new(topic, 0, offset)],
            ..FetchParams::default()
        };
        let r = c.fetch_raw(leader, &params).await.unwrap();
        let p = &r.partitions[0];
        assert!(p.error.is_none(), "{:?}", p.error);
        if p.records.is_empty() {
            return Bytes::from(out);
        }
        for b in BatchIter::new(&p.records) {
            let b = b.unwrap();
            if b.last_offset() >= offset {
                out.extend_from_slice(b.as_bytes());
                offset = b.next_offset();
            }
        }
    }
}

/// Everything one side (source or mirror) must show for the model's current state, through
/// the Strait client and the partition log itself.
async fn check_side(side: &str, b: &RunningBroker, c: &Client, m: &Model) {
    let (lso, hw) = (m.last_stable_offset(), m.high_watermark());
    // The partition log's own transaction state.
    let (log_lso, log_hw, ongoing, index, segments) = with_log(b, TOPIC, |l| {
        (
            l.last_stable_offset(),
            l.high_watermark(),
            l.ongoing_transactions(),
            l.aborted_transactions(),
            l.segment_base_offsets(),
        )
    });
    assert_eq!(log_hw, hw, "{side}: high watermark");
    assert_eq!(log_lso, lso, "{side}: last_stable_offset() of the log");
    assert_eq!(ongoing, m.ongoing(), "{side}: ongoing transactions");
    assert_eq!(
        index, m.expected_index,
        "{side}: .txnindex entries (producer, first, marker offset, LSO after the marker)"
    );
    assert!(
        segments.len() > 3,
        "{side}: the data must span several segments, got {segments:?}"
    );
    // At least one aborted transaction has its data and its marker in different segments
    // (the .txnindex entry sits in the marker's segment).
    let segment_of = |o: i64| segments.iter().rposition(|&base| base <= o).unwrap();
    assert!(
        index
            .iter()
            .any(|e| segment_of(e.first_offset) != segment_of(e.last_offset)),
        "{side}: no aborted transaction spans a segment boundary; segments {segments:?}, index {index:?}"
    );

    let rc = consume(c, TOPIC, IsolationLevel::ReadCommitted).await;
    assert_eq!(
        rc.records,
        m.read_committed(),
        "{side}: read_committed must return exactly the committed and non-transactional records below the LSO {lso}"
    );
    for h in m.hidden() {
        assert!(
            !rc.records.contains(&h),
            "{side}: read_committed returned aborted/open record {h:?}"
        );
    }
    assert_eq!(
        rc.last_stable_offsets,
        BTreeSet::from([lso]),
        "{side}: last_stable_offset in every read_committed Fetch response"
    );
    assert_eq!(
        rc.high_watermarks,
        BTreeSet::from([hw]),
        "{side}: high watermark"
    );
    assert!(
        rc.batch_bases.iter().all(|&base| base < lso),
        "{side}: read_committed Fetch returned a batch at or past the LSO {lso}: {:?}",
        rc.batch_bases
    );
    assert_eq!(
        rc.aborted,
        m.aborted(),
        "{side}: aborted_transactions (producer id, first offset) over the read_committed fetches"
    );

    let ru = consume(c, TOPIC, IsolationLevel::ReadUncommitted).await;
    assert_eq!(
        ru.records,
        m.read_uncommitted(),
        "{side}: read_uncommitted must return every data record"
    );
    assert_eq!(
        ru.last_stable_offsets,
        BTreeSet::from([lso]),
        "{side}: last_stable_offset in read_uncommitted Fetch responses (Kafka reports it at every level)"
    );
    assert!(
        ru.aborted.is_empty(),
        "{side}: aborted_transactions at read_uncommitted: {:?}",
        ru.aborted
    );

    assert_eq!(
        list_latest(c, TOPIC, IsolationLevel::ReadCommitted).await,
        lso,
        "{side}: ListOffsets latest at read_committed = LSO"
    );
    assert_eq!(
        list_latest(c, TOPIC, IsolationLevel::ReadUncommitted).await,
        hw,
        "{side}: ListOffsets latest at read_uncommitted = high watermark"
    );
}

// ---------------------------------------------------------------------------------------
// External clients: confluent-kafka, kafka-python (one Python process), Java (one JVM)
// ---------------------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn require_all_clients() -> bool {
    std::env::var_os("STRAIT_REQUIRE_ALL_CLIENTS").is_some()
}

/// Skips (with a message) or, under `STRAIT_REQUIRE_ALL_CLIENTS`, fails.
fn unavailable(what: &str, why: &str) {
    assert!(
        !require_all_clients(),
        "{what} is required (STRAIT_REQUIRE_ALL_CLIENTS is set) but unavailable: {why}"
    );
    eprintln!(
        "SKIPPING the {what} checks: {why} (set STRAIT_REQUIRE_ALL_CLIENTS to make this fail)"
    );
}

/// One external consumer run: a client library reading partition 0 from offset 0 at one
/// isolation level until it has delivered the record at `stop` (the last visible one).
#[derive(Debug, Clone)]
struct Job {
    side: String,
    bootstrap: String,
    isolation: &'static str,
    stop: i64,
    expected: Vec<(i64, String)>,
    /// The end offset the client's own lookup must report (LSO / high watermark).
    end: i64,
}

fn jobs(side: &str, bootstrap: &str, m: &Model) -> Vec<Job> {
    let rc = m.read_committed();
    let ru = m.read_uncommitted();
    vec![
        Job {
            side: side.into(),
            bootstrap: bootstrap.into(),
            isolation: "read_committed",
            stop: rc.last().unwrap().0,
            end: m.last_stable_offset(),
            expected: rc,
        },
        Job {
            side: side.into(),
            bootstrap: bootstrap.into(),
            isolation: "read_uncommitted",
            stop: ru.last().unwrap().0,
            end: m.high_watermark(),
            expected: ru,
        },
    ]
}

/// Runs `cmd` with stdout/stderr in files under `dir`, killing it at the deadline.
async fn run(mut cmd: std::process::Command, dir: &Path, what: &str) -> String {
    let out_path = dir.join(format!("{what}.stdout"));
    let err_path = dir.join(format!("{what}.stderr"));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(300);
    let tail = |p: &Path| {
        let s = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after 300 s; stderr:\n{}",
                tail(&err_path)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "{what} exited with {status}; stdout:\n{}\nstderr:\n{}",
        tail(&out_path),
        tail(&err_path)
    );
    std::fs::read_to_string(&out_path).unwrap()
}

const PY_CONSUMER: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, TopicPartition as CkTp, KafkaException
from kafka import KafkaConsumer, TopicPartition as KpTp

TOPIC = sys.argv[1]
JOBS = json.loads(sys.argv[2])
TIMEOUT = 90

def text(v):
    return None if v is None else v.decode("utf-8", "replace")

def ck(job):
    c = Consumer({"bootstrap.servers": job["bootstrap"], "group.id": "txn-mirror-check",
                  "enable.auto.commit": False, "isolation.level": job["isolation"],
                  "fetch.wait.max.ms": 100, "enable.partition.eof": False})
    try:
        c.assign([CkTp(TOPIC, 0, 0)])
        _, end = c.get_watermark_offsets(CkTp(TOPIC, 0), timeout=30, cached=False)
        recs, deadline = [], time.monotonic() + TIMEOUT
        while not recs or recs[-1][0] < job["stop"]:
            if time.monotonic() > deadline:
                return {"error": f"timed out; got {recs}"}
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                recs.append([m.offset(), text(m.value())])
        for m in c.consume(num_messages=1000, timeout=0):  # anything already fetched after it
            if not m.error():
                recs.append([m.offset(), text(m.value())])
        return {"end": end, "records": recs}
    finally:
        c.close()

def kp(job):
    c = KafkaConsumer(bootstrap_servers=job["bootstrap"], group_id=None, enable_auto_commit=False,
                      isolation_level=job["isolation"], fetch_max_wait_ms=100)
    try:
        tp = KpTp(TOPIC, 0)
        c.assign([tp])
        c.seek(tp, 0)
        end = c.end_offsets([tp])[tp]
        recs, deadline = [], time.monotonic() + TIMEOUT
        while not recs or recs[-1][0] < job["stop"]:
            if time.monotonic() > deadline:
                return {"error": f"timed out; got {recs}"}
            for msgs in c.poll(timeout_ms=500).values():
                recs.extend([m.offset, text(m.value)] for m in msgs)
        for msgs in c.poll(timeout_ms=0).values():
            recs.extend([m.offset, text(m.value)] for m in msgs)
        return {"end": end, "position": c.position(tp), "records": recs}
    finally:
        c.close()

out = []
for job in JOBS:
    for name, fn in (("confluent-kafka", ck), ("kafka-python", kp)):
        try:
            r = fn(job)
        except Exception as e:  # reported, and failed, by the Rust side
            r = {"error": f"{type(e).__name__}: {e}"}
        r["client"] = name
        out.append(r)
print(json.dumps(out))
"#;

const JAVA_CONSUMER: &str = r#"
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class TxnConsume {
    static String str(byte[] v) {
        if (v == null) return "null";
        String s = new String(v, java.nio.charset.StandardCharsets.UTF_8);
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    // args: TOPIC then (BOOTSTRAP ISOLATION STOP)*; one JSON object per job on stdout.
    public static void main(String[] args) {
        String topic = args[0];
        for (int i = 1; i + 3 <= args.length; i += 3) {
            String bootstrap = args[i], isolation = args[i + 1];
            long stop = Long.parseLong(args[i + 2]);
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("isolation.level", isolation);
            p.put("enable.auto.commit", "false");
            p.put("fetch.max.wait.ms", "100");
            p.put("key.deserializer", ByteArrayDeserializer.class.getName());
            p.put("value.deserializer", ByteArrayDeserializer.class.getName());
            StringBuilder out = new StringBuilder("{\"client\":\"java\"");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                TopicPartition tp = new TopicPartition(topic, 0);
                c.assign(List.of(tp));
                c.seek(tp, 0);
                long end = c.endOffsets(List.of(tp), Duration.ofSeconds(30)).get(tp);
                List<String> recs = new ArrayList<>();
                long last = -1;
                long deadline = System.currentTimeMillis() + 90_000;
                String error = null;
                while (last < stop) {
                    if (System.currentTimeMillis() > deadline) { error = "timed out"; break; }
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                        recs.add("[" + r.offset() + "," + str(r.value()) + "]");
                        last = r.offset();
                    }
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ZERO)) {
                    recs.add("[" + r.offset() + "," + str(r.value()) + "]");
                }
                out.append(",\"end\":").append(end).append(",\"position\":").append(c.position(tp));
                out.append(",\"records\":[").append(String.join(",", recs)).append("]");
                if (error != null) out.append(",\"error\":\"").append(error).append(" at ").append(last).append("\"");
            } catch (Exception e) {
                out.append(",\"error\":").append(str(e.toString().getBytes()));
            }
            System.out.println(out.append("}"));
            System.out.flush();
        }
    }
}
"#;

fn java_lib() -> PathBuf {
    std::env::var_os("STRAIT_JAVA_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("protocol-tests/java/lib"))
}

const JAVA_JARS: [&str; 5] = [
    "kafka-clients.jar",
    "slf4j-api.jar",
    "lz4-java.jar",
    "snappy-java.jar",
    "zstd-jni.jar",
];

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Checks one external client's result for `job`.
fn check_external(job: &Job, r: &serde_json::Value) {
    let client = r["client"].as_str().unwrap_or("?");
    let what = format!("{client} on the {} at {}", job.side, job.isolation);
    assert!(
        r.get("error").is_none_or(|e| e.is_null()),
        "{what}: {}",
        r["error"]
    );
    let records: Vec<(i64, String)> = r["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no records in {r}"))
        .iter()
        .map(|x| {
            (
                x[0].as_i64().unwrap(),
                x[1].as_str().unwrap_or("<null>").to_string(),
            )
        })
        .collect();
    assert_eq!(
        records, job.expected,
        "{what}: records delivered (offset, value)"
    );
    assert_eq!(
        r["end"].as_i64(),
        Some(job.end),
        "{what}: the client's end offset lookup (ListOffsets latest at {})",
        job.isolation
    );
    if let Some(pos) = r.get("position").and_then(|p| p.as_i64()) {
        assert_eq!(
            pos, job.end,
            "{what}: consumer position after reading to the end"
        );
    }
}

/// Runs every available external client over `jobs` and checks each result.
async fn external_clients(jobs: &[Job], work: &Path, round: &str) {
    let python = repo_root().join("protocol-tests/.venv/bin/python");
    if python.is_file() {
        let spec: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| serde_json::json!({"bootstrap": j.bootstrap, "isolation": j.isolation, "stop": j.stop}))
            .collect();
        let mut cmd = std::process::Command::new(&python);
        cmd.arg("-c")
            .arg(PY_CONSUMER)
            .arg(TOPIC)
            .arg(serde_json::Value::Array(spec).to_string());
        let out = run(cmd, work, &format!("python-{round}")).await;
        let results: Vec<serde_json::Value> = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("python consumer output is not JSON ({e}): {out}"));
        assert_eq!(results.len(), jobs.len() * 2, "{results:?}");
        for (i, r) in results.iter().enumerate() {
            check_external(&jobs[i / 2], r);
        }
        eprintln!(
            "{round}: confluent-kafka and kafka-python checked ({} runs)",
            results.len()
        );
    } else {
        unavailable(
            "confluent-kafka / kafka-python",
            &format!(
                "{} does not exist (run protocol-tests/run-all.sh's install step)",
                python.display()
            ),
        );
    }

    let lib = java_lib();
    let missing: Vec<&str> = JAVA_JARS
        .iter()
        .copied()
        .filter(|j| !lib.join(j).is_file())
        .collect();
    if !on_path("java") {
        unavailable("Java client", "java is not on PATH");
    } else if !missing.is_empty() {
        unavailable(
            "Java client",
            &format!("jars {missing:?} missing in {}", lib.display()),
        );
    } else {
        let src = work.join("TxnConsume.java");
        std::fs::write(&src, JAVA_CONSUMER).unwrap();
        let classpath = std::env::join_paths(JAVA_JARS.iter().map(|j| lib.join(j))).unwrap();
        let mut cmd = std::process::Command::new("java");
        cmd.args([
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xmx256m",
            "-cp",
        ])
        .arg(classpath)
        .arg(&src)
        .arg(TOPIC);
        for j in jobs {
            cmd.arg(&j.bootstrap)
                .arg(j.isolation)
                .arg(j.stop.to_string());
        }
        let out = run(cmd, work, &format!("java-{round}")).await;
        let results: Vec<serde_json::Value> = out
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("java output {l}: {e}")))
            .collect();
        assert_eq!(results.len(), jobs.len(), "java results: {out}");
        for (job, r) in jobs.iter().zip(&results) {
            check_external(job, r);
        }
        eprintln!("{round}: Java client checked ({} runs)", results.len());
    }
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_transactions_read_committed_end_to_end() {
    let (sd, dd, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let small = [format!("log.segment.bytes={SEGMENT_BYTES}")];
    let source = start_with(sd.path(), &small).await;
    let dest = start_with(dd.path(), &small).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new(TOPIC, 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&[TOPIC]).await.unwrap();

    // Phase 1: open transactions at the end.
    let mut m = Model::new();
    phase_one(&mut m);
    append_to_source(&source, TOPIC, &m.take());
    assert_eq!(
        m.last_stable_offset(),
        m.txns["E"].first_offset,
        "model: the LSO is the first offset of the earliest open transaction"
    );
    assert!(m.last_stable_offset() < m.high_watermark());
    check_side("source", &source, &src, &m).await;

    create_link(&dst, &addr(&source), TOPIC).await;
    wait_mirrored(&dst, TOPIC, m.high_watermark()).await;
    dst.refresh_metadata(&[TOPIC]).await.unwrap();
    assert_eq!(
        raw_log(&src, TOPIC).await,
        raw_log(&dst, TOPIC).await,
        "mirror bytes differ from the source"
    );
    check_side("mirror", &dest, &dst, &m).await;
    let mut round = jobs("source", &addr(&source), &m);
    round.extend(jobs("mirror", &addr(&dest), &m));
    external_clients(&round, work.path(), "open").await;

    // Phase 2: the open transactions end (G aborted, E committed) on the source and are
    // mirrored: the LSO reaches the high watermark on both sides.
    phase_two(&mut m);
    assert_eq!(m.last_stable_offset(), m.high_watermark());
    append_to_source(&source, TOPIC, &m.take());
    wait_mirrored(&dst, TOPIC, m.high_watermark()).await;
    assert_eq!(
        raw_log(&src, TOPIC).await,
        raw_log(&dst, TOPIC).await,
        "mirror bytes differ from the source after the markers"
    );
    for v in ["e-0", "e-1"] {
        assert!(
            m.read_committed().iter().any(|(_, x)| x == v),
            "model: {v} is committed now"
        );
    }
    for v in ["g-0", "g-1", "b-0", "c-0"] {
        assert!(
            !m.read_committed().iter().any(|(_, x)| x == v),
            "model: {v} stays aborted"
        );
    }
    check_side("source", &source, &src, &m).await;
    check_side("mirror", &dest, &dst, &m).await;
    let mut round = jobs("source", &addr(&source), &m);
    round.extend(jobs("mirror", &addr(&dest), &m));
    external_clients(&round, work.path(), "closed").await;

    source.shutdown();
    dest.shutdown();
}

/// What the CRC-0 scenario leaves behind, for the two tests below.
struct CrcZero {
    source: RunningBroker,
    dest: RunningBroker,
    dst: Client,
    marker_offset: i64,
    source_hw: i64,
}

const CRC_TOPIC: &str = "crc";

/// A COMMIT marker whose CRC field is 0 (as librdkafka's mock cluster writes control
/// batches) sits in the source log; the mirror has everything before it.
async fn crc_zero_scenario(sd: &Path, dd: &Path) -> CrcZero {
    let source = start_with(sd, &[]).await;
    let dest = start_with(dd, &[]).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new(CRC_TOPIC, 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    let mut m = Model::new();
    m.plain(&["before"]);
    m.txn("T", P1, 0, &["t-0"], Compression::None);
    append_to_source(&source, CRC_TOPIC, &m.take());
    create_link(&dst, &addr(&source), CRC_TOPIC).await;
    wait_mirrored(&dst, CRC_TOPIC, 2).await;

    // The marker and a record after it, appended and corrupted under the partition's write
    // lock, so no fetch can see the marker with its real CRC.
    let marker_offset = m.next_offset;
    m.end(P1, true);
    let marker = m.take();
    m.plain(&["after"]);
    let after = m.take();
    let mut both = marker.clone();
    both.extend_from_slice(&after);
    let t = source.broker.topics.get(CRC_TOPIC).unwrap();
    t.partition(0)
        .unwrap()
        .with_log_mut(|l| {
            l.append_mirrored(&both, now_ms()).unwrap();
            l.flush().unwrap();
            let base = *l.segment_base_offsets().last().unwrap();
            let path = l.dir().join(format!("{base:020}.log"));
            let file = std::fs::read(&path).unwrap();
            let at = file
                .windows(marker.len())
                .rposition(|w| w == marker.as_slice())
                .expect("marker bytes in the active segment");
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all_at(&[0, 0, 0, 0], (at + 17) as u64).unwrap(); // CRC field: bytes 17..21
            f.sync_all().unwrap();
        })
        .unwrap();

    // The source serves the control batch with CRC 0.
    src.refresh_metadata(&[CRC_TOPIC]).await.unwrap();
    let leader = src.find_leader(CRC_TOPIC, 0).await.unwrap();
    let r = src
        .fetch_raw(
            leader,
            &FetchParams {
                max_wait_ms: 0,
                partitions: vec![FetchPartitionSpec::new(CRC_TOPIC, 0, marker_offset)],
                ..FetchParams::default()
            },
        )
        .await
        .unwrap();
    let served = BatchIter::new(&r.partitions[0].records)
        .next()
        .unwrap()
        .unwrap();
    assert!(served.is_control() && served.base_offset() == marker_offset);
    assert_eq!(
        served.crc(),
        0,
        "the source must serve the marker with CRC 0"
    );
    CrcZero {
        source,
        dest,
        dst,
        marker_offset,
        source_hw: m.high_watermark(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crc_zero_control_batch_stops_the_mirror_partition() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = crc_zero_scenario(sd.path(), dd.path()).await;
    // The link refuses the bad batch (a CRC check no retry can pass) and fails the mirror.
    wait_for("the mirror to fail", || {
        let dst = s.dst.clone();
        async move { mirror(&dst, CRC_TOPIC).await.unwrap().state == "FAILED" }
    })
    .await;
    let m = mirror(&s.dst, CRC_TOPIC).await.unwrap();
    let p = &m.partitions[0];
    eprintln!(
        "CRC-0 marker: mirror state {:?} reason {:?} message {:?}; partition state {:?} log end {} source hw {} lag {} error {:?}",
        m.state, m.reason, m.reason_message, p.state, p.log_end_offset, p.source_high_watermark, p.lag, p.error
    );
    assert_eq!(
        p.log_end_offset, s.marker_offset,
        "the mirror partition must not advance past (or to beyond) the corrupt marker"
    );
    assert_eq!(p.source_high_watermark, s.source_hw);
    assert_eq!(p.lag, s.source_hw - s.marker_offset);
    // The partition error names the problem.
    wait_for("the partition error to name the CRC mismatch", || {
        let dst = s.dst.clone();
        async move {
            mirror(&dst, CRC_TOPIC).await.unwrap().partitions[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("CRC mismatch") && e.contains("stored 0x00000000"))
        }
    })
    .await;
    let (leo, lso) = with_log(&s.dest, CRC_TOPIC, |l| {
        (l.log_end_offset(), l.last_stable_offset())
    });
    assert_eq!(leo, s.marker_offset, "mirror log end");
    assert_eq!(
        lso, 1,
        "the transaction stays open on the mirror: LSO at its first offset"
    );
    s.source.shutdown();
    s.dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crc_zero_control_batch_shows_an_error_state_with_a_reason() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = crc_zero_scenario(sd.path(), dd.path()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let m = mirror(&s.dst, CRC_TOPIC).await.unwrap();
        if m.state != "ACTIVE" {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "mirror still ACTIVE 30 s after refusing a corrupt source batch: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        m.reason.is_some()
            && m.reason_message
                .as_deref()
                .is_some_and(|t| t.contains("CRC")),
        "the error state must carry a reason naming the corrupt batch: {m:?}"
    );
    assert_eq!(m.state, "FAILED", "{m:?}");
    assert_eq!(m.reason.as_deref(), Some("SOURCE_DATA_CORRUPT"), "{m:?}");
    assert_eq!(m.partitions[0].log_end_offset, s.marker_offset);
    s.source.shutdown();
    s.dest.shutdown();
}

// ---------------------------------------------------------------------------------------
// Cutover with open transactions (issue 9, item 5)
// ---------------------------------------------------------------------------------------

/// A source partition with a committed transaction, then P1's second transaction and P2's
/// first left open (P1 already had a marker, coordinator epoch 3; P2 none), around plain
/// records. Returns the brokers, clients and the mirrored log end (where the markers go).
async fn open_txn_scenario(
    sd: &Path,
    dd: &Path,
    topic: &str,
) -> (RunningBroker, RunningBroker, Client, i64) {
    let source = start_with(sd, &[]).await;
    let dest = start_with(dd, &[]).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new(topic, 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    let mut m = Model::new();
    m.plain(&["p-0"]);
    m.txn("C", P1, 0, &["c-0", "c-1"], Compression::None);
    m.end(P1, true);
    m.txn("O1", P1, 0, &["o1-0"], Compression::None);
    m.txn("O2", P2, 0, &["o2-0", "o2-1"], Compression::Lz4);
    m.plain(&["p-1"]);
    append_to_source(&source, topic, &m.take());
    let leo = m.high_watermark();
    create_link(&dst, &addr(&source), topic).await;
    wait_mirrored(&dst, topic, leo).await;
    // Mirrored with the transactions still open: read_committed is stuck at O1's start.
    assert_eq!(
        with_log(&dest, topic, |l| l.ongoing_transactions().len()),
        2
    );
    assert!(with_log(&dest, topic, |l| l.last_stable_offset()) < leo);
    (source, dest, dst, leo)
}

/// After a cutover at `leo` that aborted P1's and P2's open transactions: two ABORT markers
/// at the old log end, LSO == HW, read_committed sees every committed record and none of the
/// open ones, and describe reports 2 aborted transactions for partition 0.
async fn check_aborted_at_cutover(dest: &RunningBroker, dst: &Client, topic: &str, leo: i64) {
    let (ongoing, lso, hw, index) = with_log(dest, topic, |l| {
        (
            l.ongoing_transactions(),
            l.last_stable_offset(),
            l.high_watermark(),
            l.aborted_transactions(),
        )
    });
    assert!(ongoing.is_empty(), "{ongoing:?}");
    assert_eq!(hw, leo + 2, "two markers after the mirrored log end");
    assert_eq!(lso, hw);
    let mut entries: Vec<(i64, i64)> = index
        .iter()
        .map(|a| (a.producer_id, a.last_offset))
        .collect();
    entries.sort();
    let mut marker_offsets: Vec<i64> = entries.iter().map(|e| e.1).collect();
    marker_offsets.sort();
    assert_eq!(marker_offsets, vec![leo, leo + 1]);
    assert_eq!(
        entries.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![P1, P2]
    );
    // The markers themselves: ABORT control batches of the producers' id and epoch.
    let raw = raw_log(dst, topic).await;
    let markers: Vec<(i64, i64, i16)> = BatchIter::new(&raw)
        .map(|b| b.unwrap())
        .filter(|b| b.base_offset() >= leo)
        .map(|b| {
            assert_eq!(
                control_record_type(&b).unwrap(),
                Some(ControlRecordType::Abort)
            );
            assert!(b.is_transactional());
            (b.base_offset(), b.producer_id(), b.producer_epoch())
        })
        .collect();
    assert_eq!(markers.len(), 2, "{markers:?}");
    assert!(markers.iter().all(|m| m.2 == 0));
    let committed = consume(dst, topic, IsolationLevel::ReadCommitted).await;
    let values: Vec<&str> = committed.records.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(values, vec!["p-0", "c-0", "c-1", "p-1"]);
    assert_eq!(
        list_latest(dst, topic, IsolationLevel::ReadCommitted).await,
        hw
    );
    let d = mirror(dst, topic).await.unwrap();
    assert_eq!(d.state, "STOPPED");
    assert_eq!(d.partitions[0].aborted_transactions, Some(2));
}

/// A new produce on the promoted topic lands after the markers and is readable committed;
/// a repeated promote (request and direct) writes no second marker.
async fn check_writable_and_idempotent(dest: &RunningBroker, dst: &Client, topic: &str, leo: i64) {
    let batch = BatchBuilder::new(0)
        .append(now_ms(), Some(b"k".as_slice()), Some(b"after".as_slice()))
        .build()
        .unwrap();
    let produced = dst
        .produce_raw(topic, 0, Bytes::from(batch), -1)
        .await
        .unwrap();
    assert_eq!(produced.base_offset, leo + 2);
    let committed = consume(dst, topic, IsolationLevel::ReadCommitted).await;
    assert_eq!(committed.records.last().unwrap().1, "after");

    // A client transaction open on the promoted topic is not the cutover's to abort.
    let client_pid = with_log(dest, topic, |l| l.max_producer_id().unwrap()) + 1_000_000;
    let open = BatchBuilder::new(leo + 3)
        .leader_epoch(i32::MAX / 2)
        .producer(client_pid, 0, 0)
        .transactional(true)
        .append(now_ms(), None, Some(b"client-open".as_slice()))
        .build()
        .unwrap();
    dest.broker
        .topics
        .get(topic)
        .unwrap()
        .partition(0)
        .unwrap()
        .with_log_mut(|l| l.append_mirrored(&open, now_ms()))
        .unwrap()
        .unwrap();
    let before = with_log(dest, topic, |l| {
        (l.log_end_offset(), l.aborted_transactions())
    });

    let r: AlterMirrorsResponse = admin(
        dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec![topic.into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert_ne!(r.results[0].error_code, 0, "already stopped");
    // The broker's own cutover entry point is a no-op on a STOPPED topic.
    assert_eq!(dest.broker.topics.promote(topic).unwrap(), vec![2]);
    let after = with_log(dest, topic, |l| {
        (
            (l.log_end_offset(), l.aborted_transactions()),
            l.ongoing_transactions(),
        )
    });
    assert_eq!(after.0, before, "no second marker");
    assert_eq!(after.1, vec![(client_pid, leo + 3)]);
    assert_eq!(
        mirror(dst, topic).await.unwrap().partitions[0].aborted_transactions,
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_aborts_open_mirrored_transactions() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let topic = "txn-promote";
    let (_source, dest, dst, leo) = open_txn_scenario(sd.path(), dd.path(), topic).await;
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec![topic.into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    // Promote is asynchronous: its counts arrive with STOPPED, in describe.
    assert!(r.results[0].aborted_transactions.is_empty());
    wait_for("the promotion", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, topic)
                .await
                .is_some_and(|m| m.state == "STOPPED")
        }
    })
    .await;
    check_aborted_at_cutover(&dest, &dst, topic, leo).await;
    check_writable_and_idempotent(&dest, &dst, topic, leo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_aborts_open_mirrored_transactions() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let topic = "txn-failover";
    let (source, dest, dst, leo) = open_txn_scenario(sd.path(), dd.path(), topic).await;
    // The source is gone: failover is the only way out.
    drop(source);
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Failover,
            topics: Some(vec![topic.into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    assert_eq!(
        r.results[0].aborted_transactions,
        vec![PartitionCount {
            partition: 0,
            count: 2
        }]
    );
    check_aborted_at_cutover(&dest, &dst, topic, leo).await;
    check_writable_and_idempotent(&dest, &dst, topic, leo).await;
}

/// A crash after the markers but before the metadata write: the cutover runs again, finds
/// nothing open and writes no second marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_rerun_after_markers_writes_no_second_marker() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let topic = "txn-rerun";
    let (_source, dest, dst, leo) = open_txn_scenario(sd.path(), dd.path(), topic).await;
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Pause,
            topics: Some(vec![topic.into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert_eq!(r.results[0].error_code, 0);
    // The first attempt's markers (what a crashed cutover leaves behind).
    let written = dest
        .broker
        .topics
        .get(topic)
        .unwrap()
        .partition(0)
        .unwrap()
        .with_log_mut(|l| l.abort_ongoing_transactions(1, now_ms()))
        .unwrap()
        .unwrap();
    assert_eq!(written.len(), 2);
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Failover,
            topics: Some(vec![topic.into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(r.results[0].aborted_transactions[0].count, 0);
    let (leo_now, entries, lso, hw) = with_log(&dest, topic, |l| {
        (
            l.log_end_offset(),
            l.aborted_transactions().len(),
            l.last_stable_offset(),
            l.high_watermark(),
        )
    });
    assert_eq!((leo_now, entries), (leo + 2, 2));
    assert_eq!(lso, hw);
}
