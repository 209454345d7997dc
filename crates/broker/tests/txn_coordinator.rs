#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! The transaction coordinator over a real socket: InitProducerId with a transactional id,
//! AddPartitionsToTxn, transactional Produce, EndTxn, then what a `read_committed` reader
//! sees (records, COMMIT/ABORT markers at the expected offsets, the aborted-transactions
//! list, the LSO); fencing by a second InitProducerId; the coordinator's timeout abort;
//! completion of a PREPARE_COMMIT left by a crash; Kafka's error codes for bad input;
//! DescribeTransactions / ListTransactions; idle-id expiry.
//!
//! Requests are kafka-protocol structs sent with the workspace's client
//! (`Connection::send`), so the bytes are the ones a Kafka client sends.

mod support;

use std::path::Path;

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strait_broker::RunningBroker;
use strait_client::fetch::{FetchParams, FetchPartitionSpec, IsolationLevel};
use strait_client::offsets::OffsetSpec;
use strait_client::{Client, Connection};
use strait_protocol::ErrorCode;
use strait_records::record::BatchBuilder;
use strait_records::{control_record_type, decode_records, BatchIter, ControlRecordType};
use support::*;

const TOPIC: &str = "txn-topic";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn setup(dir: &Path, extra: &[String]) -> (RunningBroker, Client, Connection) {
    let b = start_with(dir, extra).await;
    let c = client(&b).await;
    let created = c
        .create_topics(
            &[strait_client::admin::NewTopic::new(TOPIC, 2, 1)],
            10_000,
            false,
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{:?}", created[0].1);
    c.refresh_metadata(&[TOPIC]).await.unwrap();
    let conn = c.any_broker().await.unwrap();
    (b, c, conn)
}

async fn init(
    conn: &Connection,
    id: &str,
    timeout_ms: i32,
    expected: (i64, i16),
    version: i16,
) -> InitProducerIdResponse {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(expected.0))
        .with_producer_epoch(expected.1);
    conn.send(&req, version).await.unwrap()
}

/// InitProducerId that must succeed: (producer id, epoch).
async fn init_ok(conn: &Connection, id: &str, timeout_ms: i32) -> (i64, i16) {
    let r = init(conn, id, timeout_ms, (-1, -1), 4).await;
    assert_eq!(r.error_code, 0, "InitProducerId {id}");
    (r.producer_id.0, r.producer_epoch)
}

/// AddPartitionsToTxn at `version`: (topic, partition, code) per partition.
async fn add_partitions_v(
    conn: &Connection,
    id: &str,
    (pid, epoch): (i64, i16),
    parts: &[(&str, i32)],
    version: i16,
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (t, p) in parts {
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(*p),
            None => topics.push(
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![*p]),
            ),
        }
    }
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics);
    let r: AddPartitionsToTxnResponse = conn.send(&req, version).await.unwrap();
    let mut out = Vec::new();
    for t in r.results_by_topic_v3_and_below {
        for p in t.results_by_partition {
            out.push((
                t.name.0.to_string(),
                p.partition_index,
                p.partition_error_code,
            ));
        }
    }
    out.sort();
    out
}

async fn add_partitions(conn: &Connection, id: &str, pe: (i64, i16), parts: &[(&str, i32)]) -> i16 {
    let r = add_partitions_v(conn, id, pe, parts, 3).await;
    assert_eq!(r.len(), parts.len());
    let first = r[0].2;
    assert!(r.iter().all(|x| x.2 == first), "{r:?}");
    first
}

async fn end_txn_v(
    conn: &Connection,
    id: &str,
    (pid, epoch): (i64, i16),
    commit: bool,
    v: i16,
) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let r: EndTxnResponse = conn.send(&req, v).await.unwrap();
    r.error_code
}

async fn end_txn(conn: &Connection, id: &str, pe: (i64, i16), commit: bool) -> i16 {
    end_txn_v(conn, id, pe, commit, 3).await
}

/// A transactional Produce of `values` (one batch): the partition's error code and base
/// offset.
async fn produce_txn(
    conn: &Connection,
    id: &str,
    (pid, epoch): (i64, i16),
    partition: i32,
    seq: i32,
    values: &[&str],
) -> (i16, i64) {
    let mut b = BatchBuilder::new(0)
        .producer(pid, epoch, seq)
        .transactional(true);
    for v in values {
        b = b.append(now_ms(), None, Some(v.as_bytes()));
    }
    let batch = b.build().unwrap();
    let req = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(batch)))])]);
    let r: ProduceResponse = conn.send(&req, 9).await.unwrap();
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn produce_txn_ok(
    conn: &Connection,
    id: &str,
    pe: (i64, i16),
    partition: i32,
    seq: i32,
    values: &[&str],
) -> i64 {
    let (code, base) = produce_txn(conn, id, pe, partition, seq, values).await;
    assert_eq!(code, 0, "transactional produce to {TOPIC}-{partition}");
    base
}

/// One batch as read back.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    base: i64,
    last: i64,
    pid: i64,
    epoch: i16,
    control: Option<ControlRecordType>,
    /// The coordinator epoch of a marker.
    coordinator_epoch: Option<i32>,
    values: Vec<String>,
}

struct Read {
    batches: Vec<Seen>,
    aborted: Vec<(i64, i64)>,
    last_stable_offset: i64,
    high_watermark: i64,
}

async fn read(c: &Client, partition: i32, isolation: IsolationLevel) -> Read {
    let leader = c.find_leader(TOPIC, partition).await.unwrap();
    let params = FetchParams {
        max_wait_ms: 0,
        isolation_level: isolation,
        partitions: vec![FetchPartitionSpec::new(TOPIC, partition, 0)],
        ..FetchParams::default()
    };
    let r = c.fetch_raw(leader, &params).await.unwrap();
    let p = &r.partitions[0];
    assert!(p.error.is_none(), "{:?}", p.error);
    let mut batches = Vec::new();
    for b in BatchIter::new(&p.records) {
        let b = b.unwrap();
        let control = control_record_type(&b).unwrap();
        let records = decode_records(&b).unwrap();
        let coordinator_epoch = control.and_then(|_| {
            let v = records.first()?.value.as_ref()?;
            Some(i32::from_be_bytes([v[2], v[3], v[4], v[5]]))
        });
        let values = if control.is_some() {
            Vec::new()
        } else {
            records
                .iter()
                .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).into_owned())
                .collect()
        };
        batches.push(Seen {
            base: b.base_offset(),
            last: b.last_offset(),
            pid: b.producer_id(),
            epoch: b.producer_epoch(),
            control,
            coordinator_epoch,
            values,
        });
    }
    let mut aborted: Vec<(i64, i64)> = p
        .aborted_transactions
        .iter()
        .map(|a| (a.producer_id, a.first_offset))
        .collect();
    aborted.sort();
    Read {
        batches,
        aborted,
        last_stable_offset: p.last_stable_offset,
        high_watermark: p.high_watermark,
    }
}

async fn latest(c: &Client, partition: i32, isolation: IsolationLevel) -> i64 {
    let conn = c.any_broker().await.unwrap();
    let r = conn
        .list_offsets_with(vec![(TOPIC, partition, OffsetSpec::Latest)], isolation)
        .await
        .unwrap();
    assert!(r[0].error.is_none(), "{:?}", r[0]);
    r[0].offset
}

async fn describe(
    conn: &Connection,
    ids: &[&str],
) -> Vec<describe_transactions_response::TransactionState> {
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(ids.iter().map(|i| TransactionalId(s(i))).collect());
    let r: DescribeTransactionsResponse = conn.send(&req, 0).await.unwrap();
    r.transaction_states
}

async fn state_of(conn: &Connection, id: &str) -> (i16, String, i16) {
    let d = describe(conn, &[id]).await;
    (
        d[0].error_code,
        d[0].transaction_state.to_string(),
        d[0].producer_epoch,
    )
}

fn code(e: ErrorCode) -> i16 {
    e.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_is_visible_read_committed_with_the_marker_after_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "app-1", 60_000).await;
    assert_eq!(pe.1, 0);
    assert_eq!(add_partitions(&conn, "app-1", pe, &[(TOPIC, 0)]).await, 0);
    let base = produce_txn_ok(&conn, "app-1", pe, 0, 0, &["a", "b", "c"]).await;
    assert_eq!(base, 0);
    // Open: read_committed sees nothing, the LSO is the transaction's first offset.
    assert_eq!(latest(&c, 0, IsolationLevel::ReadCommitted).await, 0);
    assert_eq!(latest(&c, 0, IsolationLevel::ReadUncommitted).await, 3);
    assert_eq!(state_of(&conn, "app-1").await.1, "Ongoing");

    assert_eq!(end_txn(&conn, "app-1", pe, true).await, 0);
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.high_watermark, 4);
    assert_eq!(r.last_stable_offset, 4);
    assert!(r.aborted.is_empty());
    assert_eq!(r.batches.len(), 2, "{:?}", r.batches);
    assert_eq!(r.batches[0].values, vec!["a", "b", "c"]);
    let marker = &r.batches[1];
    assert_eq!((marker.base, marker.last), (3, 3));
    assert_eq!(marker.control, Some(ControlRecordType::Commit));
    assert_eq!((marker.pid, marker.epoch), pe);
    assert_eq!(
        marker.coordinator_epoch,
        Some(b.broker.txn.coordinator_epoch())
    );
    assert_eq!(latest(&c, 0, IsolationLevel::ReadCommitted).await, 4);
    // A retried EndTxn(commit) succeeds; the transaction is complete.
    assert_eq!(end_txn(&conn, "app-1", pe, true).await, 0);
    assert_eq!(state_of(&conn, "app-1").await.1, "CompleteCommit");
    // A second transaction on the same producer (AddPartitions after commit starts it).
    assert_eq!(
        add_partitions(&conn, "app-1", pe, &[(TOPIC, 0), (TOPIC, 1)]).await,
        0
    );
    assert_eq!(produce_txn_ok(&conn, "app-1", pe, 0, 3, &["d"]).await, 4);
    assert_eq!(produce_txn_ok(&conn, "app-1", pe, 1, 0, &["e"]).await, 0);
    assert_eq!(end_txn(&conn, "app-1", pe, true).await, 0);
    let r1 = read(&c, 1, IsolationLevel::ReadCommitted).await;
    assert_eq!(r1.batches.len(), 2);
    assert_eq!(r1.batches[1].control, Some(ControlRecordType::Commit));
    assert_eq!(r1.last_stable_offset, 2);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_is_listed_in_aborted_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "ab", 60_000).await;
    assert_eq!(add_partitions(&conn, "ab", pe, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "ab", pe, 0, 0, &["x", "y"]).await;
    assert_eq!(end_txn(&conn, "ab", pe, false).await, 0);
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.aborted, vec![(pe.0, 0)]);
    assert_eq!(r.last_stable_offset, 3);
    assert_eq!(
        r.batches.last().unwrap().control,
        Some(ControlRecordType::Abort)
    );
    assert_eq!(r.batches.last().unwrap().base, 2);
    assert_eq!(state_of(&conn, "ab").await.1, "CompleteAbort");
    // Retried abort: success; commit now: INVALID_TXN_STATE.
    assert_eq!(end_txn(&conn, "ab", pe, false).await, 0);
    assert_eq!(
        end_txn(&conn, "ab", pe, true).await,
        code(ErrorCode::InvalidTxnState)
    );
    b.shutdown();
}

/// Markers alone (a transaction with partitions but no data) work without the produce
/// path: the marker lands and the LSO stays at the high watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_without_data_writes_markers_only() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "empty", 60_000).await;
    assert_eq!(
        add_partitions(&conn, "empty", pe, &[(TOPIC, 0), (TOPIC, 1)]).await,
        0
    );
    assert_eq!(end_txn(&conn, "empty", pe, true).await, 0);
    for p in [0, 1] {
        let r = read(&c, p, IsolationLevel::ReadUncommitted).await;
        assert_eq!(r.batches.len(), 1);
        assert_eq!(r.batches[0].control, Some(ControlRecordType::Commit));
        assert_eq!((r.batches[0].pid, r.batches[0].epoch), pe);
        assert_eq!(r.last_stable_offset, 1);
    }
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_init_fences_the_zombie_and_aborts_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &[]).await;
    let old = init_ok(&conn, "z", 60_000).await;
    assert_eq!(add_partitions(&conn, "z", old, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "z", old, 0, 0, &["zombie"]).await;
    let new = init_ok(&conn, "z", 60_000).await;
    assert_eq!(new.0, old.0, "same producer id");
    assert_eq!(
        new.1,
        old.1 + 2,
        "one bump fences and aborts, one for the new producer"
    );
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.aborted, vec![(old.0, 0)]);
    let marker = r.batches.last().unwrap();
    assert_eq!(marker.control, Some(ControlRecordType::Abort));
    assert_eq!(
        marker.epoch,
        old.1 + 1,
        "the abort carries the fencing epoch"
    );
    assert_eq!(r.last_stable_offset, r.high_watermark);
    // The zombie is fenced everywhere.
    assert_eq!(
        add_partitions(&conn, "z", old, &[(TOPIC, 0)]).await,
        code(ErrorCode::ProducerFenced)
    );
    let v1 = add_partitions_v(&conn, "z", old, &[(TOPIC, 0)], 1).await;
    assert_eq!(
        v1[0].2,
        code(ErrorCode::InvalidProducerEpoch),
        "v1 spelling"
    );
    assert_eq!(
        end_txn(&conn, "z", old, true).await,
        code(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        end_txn_v(&conn, "z", old, true, 1).await,
        code(ErrorCode::InvalidProducerEpoch)
    );
    let (pc, _) = produce_txn(&conn, "z", old, 0, 1, &["late"]).await;
    assert_ne!(pc, 0, "a fenced producer's produce is refused");
    // The new producer works.
    assert_eq!(add_partitions(&conn, "z", new, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "z", new, 0, 0, &["fresh"]).await;
    assert_eq!(end_txn(&conn, "z", new, true).await, 0);
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    let committed: Vec<&str> = r
        .batches
        .iter()
        .filter(|b| b.pid == new.0 && b.epoch == new.1 && b.control.is_none())
        .flat_map(|b| b.values.iter().map(String::as_str))
        .collect();
    assert_eq!(committed, vec!["fresh"]);
    // KIP-360: InitProducerId v3+ with the current id and epoch bumps; a stale one is fenced
    // (INVALID_PRODUCER_EPOCH below v4).
    let bumped = init(&conn, "z", 60_000, new, 4).await;
    assert_eq!((bumped.error_code, bumped.producer_epoch), (0, new.1 + 1));
    let retry = init(&conn, "z", 60_000, new, 4).await;
    assert_eq!(
        (retry.error_code, retry.producer_epoch),
        (0, new.1 + 1),
        "a retried bump"
    );
    let stale = init(&conn, "z", 60_000, old, 4).await;
    assert_eq!(stale.error_code, code(ErrorCode::ProducerFenced));
    let stale3 = init(&conn, "z", 60_000, old, 3).await;
    assert_eq!(stale3.error_code, code(ErrorCode::InvalidProducerEpoch));
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_transaction_is_aborted_and_the_lso_reaches_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(
        dir.path(),
        &["transaction.abort.timed.out.transaction.cleanup.interval.ms=100".into()],
    )
    .await;
    let pe = init_ok(&conn, "slow", 500).await;
    assert_eq!(add_partitions(&conn, "slow", pe, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "slow", pe, 0, 0, &["never"]).await;
    assert_eq!(latest(&c, 0, IsolationLevel::ReadCommitted).await, 0);
    wait_for("the timeout abort", || async {
        latest(&c, 0, IsolationLevel::ReadCommitted).await == 2
    })
    .await;
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.aborted, vec![(pe.0, 0)]);
    assert_eq!(
        r.batches.last().unwrap().epoch,
        pe.1 + 1,
        "aborted with a bumped epoch"
    );
    assert_eq!(
        state_of(&conn, "slow").await,
        (0, "CompleteAbort".into(), pe.1 + 1)
    );
    // The timed-out producer is fenced.
    assert_eq!(
        end_txn(&conn, "slow", pe, true).await,
        code(ErrorCode::ProducerFenced)
    );
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_commit_left_by_a_crash_completes_at_start_and_ongoing_times_out() {
    use strait_broker::txn::state::TxnState;
    use strait_broker::txn::store::{TxnRecord, TxnStore};
    let dir = tempfile::tempdir().unwrap();
    let overrides = ["transaction.abort.timed.out.transaction.cleanup.interval.ms=100".to_string()];
    let (b, c, conn) = setup(dir.path(), &overrides).await;
    let epoch_before = b.broker.txn.coordinator_epoch();
    let prep = init_ok(&conn, "prep", 60_000).await;
    assert_eq!(add_partitions(&conn, "prep", prep, &[(TOPIC, 0)]).await, 0);
    produce_txn_ok(&conn, "prep", prep, 0, 0, &["p1", "p2"]).await;
    let open = init_ok(&conn, "open", 2_000).await;
    assert_eq!(add_partitions(&conn, "open", open, &[(TOPIC, 1)]).await, 0);
    produce_txn_ok(&conn, "open", open, 1, 0, &["o1"]).await;
    drop(conn);
    drop(c);
    b.shutdown();

    // The crash: PREPARE_COMMIT of "prep" is durable, its markers never were written.
    {
        let (mut store, loaded) = TxnStore::open(dir.path()).unwrap();
        let mut md = loaded.txns["prep"].clone();
        assert_eq!(md.state, TxnState::Ongoing);
        md.state = TxnState::PrepareCommit;
        store.append(&TxnRecord::Txn(md)).unwrap();
    }

    let b = start_with(dir.path(), &overrides).await;
    assert!(b.broker.txn.coordinator_epoch() > epoch_before);
    let c = client(&b).await;
    c.refresh_metadata(&[TOPIC]).await.unwrap();
    let conn = c.any_broker().await.unwrap();
    // Completed during start-up: no wait.
    assert_eq!(state_of(&conn, "prep").await.1, "CompleteCommit");
    let r = read(&c, 0, IsolationLevel::ReadCommitted).await;
    assert_eq!(r.batches.len(), 2);
    assert_eq!(r.batches[0].values, vec!["p1", "p2"]);
    assert_eq!(r.batches[1].control, Some(ControlRecordType::Commit));
    assert_eq!(
        r.batches[1].coordinator_epoch,
        Some(b.broker.txn.coordinator_epoch())
    );
    assert_eq!(r.last_stable_offset, 3);
    // The ongoing one is aborted once its 2 s timeout passes.
    wait_for("the ongoing transaction's timeout abort", || async {
        latest(&c, 1, IsolationLevel::ReadCommitted).await == 2
    })
    .await;
    let r1 = read(&c, 1, IsolationLevel::ReadCommitted).await;
    assert_eq!(r1.aborted, vec![(open.0, 0)]);
    assert_eq!(
        state_of(&conn, "open").await,
        (0, "CompleteAbort".into(), open.1 + 1)
    );
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_kafka_codes_and_harms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c, conn) = setup(dir.path(), &["transaction.max.timeout.ms=60000".into()]).await;
    // Timeouts outside 1..=transaction.max.timeout.ms.
    for t in [60_001, 0, -5] {
        let r = init(&conn, "bad", t, (-1, -1), 4).await;
        assert_eq!(
            r.error_code,
            code(ErrorCode::InvalidTransactionTimeout),
            "timeout {t}"
        );
    }
    assert_eq!(
        state_of(&conn, "bad").await.0,
        code(ErrorCode::TransactionalIdNotFound)
    );
    // Only one of producer id / epoch given.
    let r = init(&conn, "bad", 1000, (5, -1), 4).await;
    assert_eq!(r.error_code, code(ErrorCode::InvalidRequest));
    // Unknown id.
    assert_eq!(
        end_txn(&conn, "nobody", (1, 0), true).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        add_partitions(&conn, "nobody", (1, 0), &[(TOPIC, 0)]).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    let pe = init_ok(&conn, "good", 60_000).await;
    // EndTxn without a transaction.
    assert_eq!(
        end_txn(&conn, "good", pe, true).await,
        code(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        end_txn(&conn, "good", pe, false).await,
        code(ErrorCode::InvalidTxnState)
    );
    // Wrong producer id, wrong epoch.
    assert_eq!(
        end_txn(&conn, "good", (pe.0 + 1, pe.1), true).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        add_partitions(&conn, "good", (pe.0, pe.1 + 1), &[(TOPIC, 0)]).await,
        code(ErrorCode::ProducerFenced)
    );
    // An unknown topic or partition: nothing is added, the others are not attempted.
    let r = add_partitions_v(&conn, "good", pe, &[(TOPIC, 0), (TOPIC, 9), ("nope", 0)], 3).await;
    assert_eq!(
        r,
        vec![
            ("nope".into(), 0, code(ErrorCode::UnknownTopicOrPartition)),
            (TOPIC.into(), 0, code(ErrorCode::OperationNotAttempted)),
            (TOPIC.into(), 9, code(ErrorCode::UnknownTopicOrPartition)),
        ]
    );
    assert_eq!(
        state_of(&conn, "good").await.1,
        "Empty",
        "nothing was added"
    );
    // The state is intact: a valid transaction still works.
    assert_eq!(add_partitions(&conn, "good", pe, &[(TOPIC, 0)]).await, 0);
    assert_eq!(end_txn(&conn, "good", pe, true).await, 0);
    // Mismatched retry after completion.
    assert_eq!(
        end_txn(&conn, "good", pe, false).await,
        code(ErrorCode::InvalidTxnState)
    );
    let r = read(&c, 0, IsolationLevel::ReadUncommitted).await;
    assert_eq!(r.batches.len(), 1, "exactly one marker: {:?}", r.batches);
    assert_eq!(r.last_stable_offset, r.high_watermark);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_list_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(dir.path(), &[]).await;
    let a = init_ok(&conn, "list-a", 30_000).await;
    let bb = init_ok(&conn, "list-b", 30_000).await;
    assert_eq!(
        add_partitions(&conn, "list-a", a, &[(TOPIC, 1), (TOPIC, 0)]).await,
        0
    );
    let d = describe(&conn, &["list-a", "list-b", "missing"]).await;
    assert_eq!(d[0].error_code, 0);
    assert_eq!(d[0].transaction_state.as_str(), "Ongoing");
    assert_eq!((d[0].producer_id.0, d[0].producer_epoch), a);
    assert_eq!(d[0].transaction_timeout_ms, 30_000);
    assert!(d[0].transaction_start_time_ms > 0);
    assert_eq!(d[0].topics.len(), 1);
    assert_eq!(d[0].topics[0].topic.0.as_str(), TOPIC);
    assert_eq!(d[0].topics[0].partitions, vec![0, 1]);
    assert_eq!(d[1].transaction_state.as_str(), "Empty");
    assert_eq!(d[1].transaction_start_time_ms, -1);
    assert_eq!(d[2].error_code, code(ErrorCode::TransactionalIdNotFound));

    let list = |states: &[&str], pids: &[i64], v: i16| {
        let req = ListTransactionsRequest::default()
            .with_state_filters(states.iter().map(|x| s(x)).collect())
            .with_producer_id_filters(pids.iter().map(|p| ProducerId(*p)).collect())
            .with_duration_filter(-1);
        let conn = conn.clone();
        async move {
            let r: ListTransactionsResponse = conn.send(&req, v).await.unwrap();
            let mut ids: Vec<String> = r
                .transaction_states
                .iter()
                .map(|t| t.transactional_id.0.to_string())
                .collect();
            ids.sort();
            (
                ids,
                r.unknown_state_filters
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(list(&[], &[], 0).await.0, vec!["list-a", "list-b"]);
    assert_eq!(list(&["Ongoing"], &[], 1).await.0, vec!["list-a"]);
    assert_eq!(list(&[], &[bb.0], 1).await.0, vec!["list-b"]);
    let (ids, unknown) = list(&["Ongoing", "Bogus"], &[], 1).await;
    assert_eq!(
        (ids, unknown),
        (vec!["list-a".to_string()], vec!["Bogus".to_string()])
    );
    // v1 duration filter: nothing has been running for an hour.
    let req = ListTransactionsRequest::default().with_duration_filter(3_600_000);
    let r: ListTransactionsResponse = conn.send(&req, 1).await.unwrap();
    assert!(
        !r.transaction_states
            .iter()
            .any(|t| t.transactional_id.0.as_str() == "list-a"),
        "list-a started just now"
    );
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_transactional_ids_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(
        dir.path(),
        &[
            "transactional.id.expiration.ms=300".into(),
            "transaction.remove.expired.transaction.cleanup.interval.ms=100".into(),
        ],
    )
    .await;
    let pe = init_ok(&conn, "idle", 60_000).await;
    let busy = init_ok(&conn, "busy", 60_000).await;
    assert_eq!(add_partitions(&conn, "busy", busy, &[(TOPIC, 0)]).await, 0);
    wait_for("the idle id to expire", || async {
        state_of(&conn, "idle").await.0 == code(ErrorCode::TransactionalIdNotFound)
    })
    .await;
    // An ongoing transaction does not expire; an expired id starts afresh.
    assert_eq!(state_of(&conn, "busy").await.1, "Ongoing");
    assert_eq!(
        end_txn(&conn, "idle", pe, true).await,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    let again = init_ok(&conn, "idle", 60_000).await;
    assert_eq!(again.1, 0);
    assert_ne!(again.0, pe.0);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_offsets_to_txn_joins_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(dir.path(), &[]).await;
    let pe = init_ok(&conn, "eos", 60_000).await;
    let add = |epoch: i16| {
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("eos")))
            .with_producer_id(ProducerId(pe.0))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s("g1")));
        let conn = conn.clone();
        async move {
            let r: AddOffsetsToTxnResponse = conn.send(&req, 3).await.unwrap();
            r.error_code
        }
    };
    assert_eq!(add(pe.1 + 1).await, code(ErrorCode::ProducerFenced));
    assert_eq!(add(pe.1).await, 0);
    assert_eq!(state_of(&conn, "eos").await.1, "Ongoing");
    assert!(b.broker.txn.verify_group("eos", pe.0, pe.1, "g1").is_ok());
    assert!(b.broker.txn.verify_group("eos", pe.0, pe.1, "g2").is_err());
    assert_eq!(end_txn(&conn, "eos", pe, true).await, 0);
    assert!(b.broker.txn.verify_group("eos", pe.0, pe.1, "g1").is_err());
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_mirror_cannot_join_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _c, conn) = setup(dir.path(), &[]).await;
    let mirror = strait_broker::metadata::MirrorRecord {
        link_name: "no-such-link".into(),
        source_topic: "src".into(),
        source_topic_id: None,
        state: "PAUSED".into(),
        reason: None,
        reason_message: None,
        state_time_ms: now_ms(),
        final_offsets: None,
        aborted_transactions: None,
        restore_plan: None,
    };
    b.broker
        .topics
        .create_mirror_topic("mirror-t", 1, Default::default(), mirror)
        .unwrap();
    let pe = init_ok(&conn, "m", 60_000).await;
    let r = add_partitions_v(&conn, "m", pe, &[("mirror-t", 0), (TOPIC, 0)], 3).await;
    assert_eq!(
        r,
        vec![
            ("mirror-t".into(), 0, code(ErrorCode::InvalidRequest)),
            (TOPIC.into(), 0, code(ErrorCode::OperationNotAttempted)),
        ]
    );
    assert_eq!(state_of(&conn, "m").await.1, "Empty");
    b.shutdown();
}

/// With an authorizer and no ACLs, an anonymous client is denied TRANSACTIONAL_ID WRITE
/// (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn) and DESCRIBE
/// (DescribeTransactions; ListTransactions lists nothing), and the state is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_id_acls_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_with(
        dir.path(),
        &[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
            "allow.everyone.if.no.acl.found=false".into(),
        ],
    )
    .await;
    b.broker
        .topics
        .create_topic(TOPIC, 1, Default::default(), false)
        .unwrap();
    let pe = b
        .broker
        .txn
        .init_producer_id("secured", 60_000, None)
        .unwrap();
    let c = client(&b).await;
    let conn = c.any_broker().await.unwrap();
    let denied = code(ErrorCode::TransactionalIdAuthorizationFailed);
    assert_eq!(
        init(&conn, "secured", 60_000, (-1, -1), 4).await.error_code,
        denied
    );
    assert_eq!(
        add_partitions(&conn, "secured", pe, &[(TOPIC, 0)]).await,
        denied
    );
    let req = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s("secured")))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_group_id(GroupId(s("g")));
    let r: AddOffsetsToTxnResponse = conn.send(&req, 3).await.unwrap();
    assert_eq!(r.error_code, denied);
    assert_eq!(end_txn(&conn, "secured", pe, true).await, denied);
    assert_eq!(describe(&conn, &["secured"]).await[0].error_code, denied);
    let r: ListTransactionsResponse = conn
        .send(
            &ListTransactionsRequest::default().with_duration_filter(-1),
            1,
        )
        .await
        .unwrap();
    assert!(r.transaction_states.is_empty());
    let md = b.broker.txn.describe("secured").unwrap();
    assert_eq!(
        (md.producer_id, md.producer_epoch, md.state.name()),
        (pe.0, pe.1, "Empty")
    );
    b.shutdown();
}
