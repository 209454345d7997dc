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
//!
//! The request helpers are here; the tests are in [`visibility`], [`fencing_and_timeouts`],
//! [`errors_and_admin`] and [`neighbours`].

#[path = "../support/mod.rs"]
mod support;

mod errors_and_admin;
mod fencing_and_timeouts;
mod neighbours;
mod visibility;

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

async fn setup(dir: &Path, extra: &[String]) -> (RunningBroker, Client, Connection) {
    let b = start_with(dir, extra).await;
    let c = client(&b).await;
    new_topic(&c, TOPIC, 2).await;
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
