#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Fetch over a plaintext listener (records sent file → socket with `sendfile`) and over
//! TLS (records read and encrypted) return the same bytes: the batches as produced, with
//! the offsets the broker assigned, byte-identical to the partition's segment files, at
//! every `max_bytes` edge (the first batch over the limit comes whole, the next one that
//! does not fit stays out) and at the read_committed bound (the last stable offset of an
//! open transaction). A fetch loop racing rolls, DeleteRecords (segments unlinked at once)
//! and the topic's deletion only ever gets whole, CRC-valid batches at the offsets it
//! asked for, or an error.

mod support;

use support::begin_transaction;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DeleteRecordsRequest, ProduceRequest, ProducerId, TopicName, TransactionalId,
    WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;
use strait_broker::{BrokerConfig, RunningBroker};
use strait_client::admin::NewTopic;
use strait_client::fetch::{FetchParams, FetchPartitionSpec, FetchedPartition, IsolationLevel};
use strait_client::{Client, ClientConfig, Connection};
use strait_records::{BatchBuilder, BatchIter};

const TS: i64 = 1_700_000_000_000;
const WAIT: Duration = Duration::from_secs(30);

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A CA and a server certificate for 127.0.0.1 (key + cert in one PEM, as
/// `ssl.keystore.location` takes it), in `dir`.
fn pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(
        dir.join("server.pem"),
        format!("{}{}", key.serialize_pem(), cert.pem()),
    )
    .unwrap();
}

struct Setup {
    broker: RunningBroker,
    data: tempfile::TempDir,
    _pki: tempfile::TempDir,
    plain: Client,
    tls: Client,
}

impl Setup {
    async fn start() -> Setup {
        let data = tempfile::tempdir().unwrap();
        let pki_dir = tempfile::tempdir().unwrap();
        pki(pki_dir.path());
        let overrides = vec![
            format!("log.dirs={}", data.path().display()),
            "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string(),
            "ssl.keystore.type=PEM".to_string(),
            format!(
                "ssl.keystore.location={}",
                pki_dir.path().join("server.pem").display()
            ),
        ];
        let broker = RunningBroker::start(BrokerConfig::load(None, &overrides).unwrap())
            .await
            .unwrap();
        let port = |n: &str| broker.listeners.iter().find(|l| l.name == n).unwrap().port;
        let plain = Client::connect(&ClientConfig::plaintext(&format!(
            "127.0.0.1:{}",
            port("PLAINTEXT")
        )))
        .await
        .unwrap();
        let props: BTreeMap<String, String> = [
            ("bootstrap.servers", format!("127.0.0.1:{}", port("SSL"))),
            ("security.protocol", "SSL".to_string()),
            ("ssl.truststore.type", "PEM".to_string()),
            (
                "ssl.truststore.location",
                pki_dir.path().join("ca.pem").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (tls_config, _) = ClientConfig::from_properties(&props).unwrap();
        let tls = Client::connect(&tls_config).await.unwrap();
        Setup {
            broker,
            data,
            _pki: pki_dir,
            plain,
            tls,
        }
    }

    async fn create(&self, topic: &str, configs: &[(&str, &str)]) {
        let mut t = NewTopic::new(topic, 1, 1);
        t.configs = configs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect();
        let r = self.plain.create_topics(&[t], 10_000, false).await.unwrap();
        r[0].1.as_ref().unwrap();
    }

    /// The partition's segment files, concatenated in offset order.
    fn segment_bytes(&self, topic: &str) -> Vec<u8> {
        let dir = self.data.path().join(format!("{topic}-0"));
        let mut logs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        logs.iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect()
    }
}

/// Key and value of one record.
type KeyValue = (Vec<u8>, Vec<u8>);

/// A batch of `n` records (`k<i>-<r>`, a `size`-byte value that names them).
fn batch(i: usize, n: usize, size: usize) -> (Bytes, Vec<KeyValue>) {
    let mut b = BatchBuilder::new(0);
    let mut kv = Vec::new();
    for r in 0..n {
        let key = format!("k{i}-{r}").into_bytes();
        let value: Vec<u8> = (0..size)
            .map(|k| ((k * 131 + i * 17 + r * 7) % 251) as u8)
            .collect();
        b = b.append(TS + i as i64, Some(&key), Some(&value));
        kv.push((key, value));
    }
    (Bytes::from(b.build().unwrap()), kv)
}

async fn produce(c: &Client, topic: &str, records: Bytes, txn: Option<&str>) -> i64 {
    let req = ProduceRequest::default()
        .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let resp = c.any_broker().await.unwrap().send(&req, 9).await.unwrap();
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{:?}", p.error_message);
    p.base_offset
}

async fn fetch(
    conn: &Connection,
    topic: &str,
    offset: i64,
    partition_max_bytes: i32,
    max_bytes: i32,
    isolation_level: IsolationLevel,
) -> FetchedPartition {
    let mut spec = FetchPartitionSpec::new(topic, 0, offset);
    spec.partition_max_bytes = partition_max_bytes;
    let params = FetchParams {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes,
        isolation_level,
        partitions: vec![spec],
        ..FetchParams::default()
    };
    let r = conn.fetch_raw(&params).await.unwrap();
    r.partitions.into_iter().next().unwrap()
}

/// The same fetch on both listeners: equal answers, returned once.
async fn fetch_both(
    s: &Setup,
    topic: &str,
    offset: i64,
    partition_max_bytes: i32,
    max_bytes: i32,
    iso: IsolationLevel,
) -> FetchedPartition {
    let plain = s.plain.any_broker().await.unwrap();
    let tls = s.tls.any_broker().await.unwrap();
    let a = fetch(&plain, topic, offset, partition_max_bytes, max_bytes, iso).await;
    let b = fetch(&tls, topic, offset, partition_max_bytes, max_bytes, iso).await;
    assert_eq!(
        a, b,
        "plaintext and TLS fetches of {topic} at {offset} differ"
    );
    a
}

/// Every batch from offset 0 up to the end a fetch serves (at `iso`), read in steps.
async fn read_all(s: &Setup, topic: &str, iso: IsolationLevel) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let p = fetch_both(s, topic, offset, 1 << 20, 10 << 20, iso).await;
        assert_eq!(p.error, None);
        if p.records.is_empty() {
            return out;
        }
        for b in BatchIter::new(&p.records) {
            let b = b.unwrap();
            out.extend_from_slice(b.as_bytes());
            offset = b.last_offset() + 1;
        }
    }
}

/// (offset, size) of every whole batch in `log`.
fn batch_layout(log: &[u8]) -> Vec<(i64, i64, usize)> {
    BatchIter::new(log)
        .map(|b| {
            let b = b.unwrap();
            (b.base_offset(), b.last_offset(), b.as_bytes().len())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_tls_fetches_are_the_segment_bytes_at_every_max_bytes_edge() {
    let s = Setup::start().await;
    // Small segments: reads stop at segment ends, and several files are involved.
    s.create("t", &[("segment.bytes", "200000")]).await;
    let mut produced = Vec::new();
    for i in 0..40 {
        // Large batches go file → socket; every fourth is tiny (below the 4 KiB at which
        // records are sent apart) and is copied into the frame instead.
        let (records, kv) = if i % 4 == 3 {
            batch(i, 2, 30)
        } else {
            batch(i, 20, 1000)
        };
        produce(&s.plain, "t", records, None).await;
        produced.extend(kv);
    }
    let log = s.segment_bytes("t");
    assert!(log.len() > 600_000, "{}", log.len());
    let fetched = read_all(&s, "t", IsolationLevel::ReadUncommitted).await;
    assert_eq!(fetched, log, "fetched bytes are not the segment bytes");
    let mut values = Vec::new();
    for b in BatchIter::new(&fetched) {
        let b = b.unwrap();
        b.validate_crc().unwrap();
        for r in strait_records::record::decode_records(&b).unwrap() {
            values.push((r.key.unwrap().to_vec(), r.value.unwrap().to_vec()));
        }
    }
    assert_eq!(values, produced);

    // max_bytes edges at a few batch starts (both the partition limit and the response
    // limit): size - 1 and size give the first batch alone (KIP-74: it comes whole even
    // over the limit), size + next size gives both, one byte less gives one.
    let layout = batch_layout(&log);
    let position = |k: usize| layout[..k].iter().map(|b| b.2).sum::<usize>();
    for k in [0usize, 1, 2, 3, 7, 20] {
        let (base, _, size) = layout[k];
        let (_, _, next) = layout[k + 1];
        let same_segment = position(k + 2) - position(k) == size + next;
        for (limit, expect) in [
            (1, 1),
            (size - 1, 1),
            (size, 1),
            (size + next - 1, 1),
            (size + next, 2),
        ] {
            for (partition_max, max) in [(limit as i32, 10 << 20), (1 << 20, limit as i32)] {
                let p = fetch_both(
                    &s,
                    "t",
                    base,
                    partition_max,
                    max,
                    IsolationLevel::ReadUncommitted,
                )
                .await;
                let got = batch_layout(&p.records);
                // A read never crosses a segment end, so two batches only when both are in
                // one file (the layout from the files says whether they are).
                let expect = if expect == 2 && !same_segment {
                    1
                } else {
                    expect
                };
                assert_eq!(got.len(), expect, "batch {k} limit {limit}");
                let at = position(k);
                let len: usize = got.iter().map(|b| b.2).sum();
                assert_eq!(
                    &p.records[..],
                    &log[at..at + len],
                    "batch {k} limit {limit}"
                );
            }
        }
        // A fetch from inside a batch returns it whole, from its start.
        let (base, last, size) = layout[k];
        if last > base {
            let p = fetch_both(
                &s,
                "t",
                last,
                size as i32,
                1 << 20,
                IsolationLevel::ReadUncommitted,
            )
            .await;
            let at = position(k);
            assert_eq!(&p.records[..], &log[at..at + size]);
        }
    }
    s.broker.shutdown();
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, i: usize) -> Bytes {
    let mut b = BatchBuilder::new(0)
        .producer(pid, epoch, seq)
        .transactional(true);
    for r in 0..10 {
        let v = vec![(i + r) as u8; 1000];
        b = b.append(TS, Some(format!("tx{i}-{r}").as_bytes()), Some(&v));
    }
    Bytes::from(b.build().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_over_both_listeners_stops_at_the_last_stable_offset() {
    let s = Setup::start().await;
    s.create("tx", &[]).await;
    for i in 0..3 {
        produce(&s.plain, "tx", batch(i, 10, 1000).0, None).await;
    }
    let (pid, epoch) = begin_transaction(&s.plain, "txn-1", "tx").await;
    let lso = produce(&s.plain, "tx", txn_batch(pid, epoch, 0, 0), Some("txn-1")).await;
    // Plain data behind the open transaction: read_uncommitted sees it, read_committed not.
    for i in 3..6 {
        produce(&s.plain, "tx", batch(i, 10, 1000).0, None).await;
    }
    let log = s.segment_bytes("tx");
    let layout = batch_layout(&log);
    let below_lso: usize = layout.iter().filter(|b| b.0 < lso).map(|b| b.2).sum();
    assert_eq!(
        read_all(&s, "tx", IsolationLevel::ReadUncommitted).await,
        log
    );
    let committed = read_all(&s, "tx", IsolationLevel::ReadCommitted).await;
    assert_eq!(committed, &log[..below_lso]);
    let p = fetch_both(
        &s,
        "tx",
        0,
        1 << 20,
        10 << 20,
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert_eq!(p.last_stable_offset, lso);
    assert!(p.high_watermark > lso);
    // A fetch at the LSO gets nothing until the transaction ends.
    let p = fetch_both(
        &s,
        "tx",
        lso,
        1 << 20,
        10 << 20,
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert!(p.records.is_empty());

    // Abort: everything is readable, the aborted batch is listed for the client to drop.
    let marker = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(0)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(name("tx"))
            .with_partition_indexes(vec![0])])]);
    let resp = s
        .plain
        .any_broker()
        .await
        .unwrap()
        .send(&marker, 1)
        .await
        .unwrap();
    assert_eq!(resp.markers[0].topics[0].partitions[0].error_code, 0);
    let log = s.segment_bytes("tx");
    assert_eq!(read_all(&s, "tx", IsolationLevel::ReadCommitted).await, log);
    let p = fetch_both(
        &s,
        "tx",
        0,
        1 << 20,
        10 << 20,
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert_eq!(p.aborted_transactions.len(), 1);
    assert_eq!(p.aborted_transactions[0].first_offset, lso);
    s.broker.shutdown();
}

async fn delete_records_before(c: &Client, topic: &str, offset: i64) -> i16 {
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])]);
    let resp = c.any_broker().await.unwrap().send(&req, 1).await.unwrap();
    resp.topics[0].partitions[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_racing_rolls_deletes_and_topic_deletion_get_whole_batches_or_errors() {
    let s = Setup::start().await;
    // Tiny segments roll every few batches; deleted files go at once.
    s.create(
        "race",
        &[("segment.bytes", "60000"), ("file.delete.delay.ms", "0")],
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let c = s.plain.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                produce(&c, "race", batch(i, 20, 1000).0, None).await;
                i += 1;
                if i % 8 == 0 {
                    // DeleteRecords just below the end: the older segments are unlinked
                    // while fetches may still be sending them.
                    let end = {
                        let conn = c.any_broker().await.unwrap();
                        let p =
                            fetch(&conn, "race", 0, 1, 1, IsolationLevel::ReadUncommitted).await;
                        if p.error.is_some() {
                            p.high_watermark.max(0)
                        } else {
                            p.high_watermark
                        }
                    };
                    let code = delete_records_before(&c, "race", end - 1).await;
                    assert_eq!(code, 0);
                }
            }
            i
        })
    };
    let conn = s.plain.any_broker().await.unwrap();
    let mut offset = 0;
    let mut batches = 0usize;
    let deadline = tokio::time::Instant::now() + WAIT;
    while batches < 300 && tokio::time::Instant::now() < deadline {
        let p = fetch(
            &conn,
            "race",
            offset,
            1 << 20,
            10 << 20,
            IsolationLevel::ReadUncommitted,
        )
        .await;
        if p.error.is_some() {
            // OFFSET_OUT_OF_RANGE behind a DeleteRecords: go on from the new start.
            offset = p.log_start_offset.max(offset);
            continue;
        }
        let mut next = offset;
        for b in BatchIter::new(&p.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            // Whole batches, in order, from where we asked.
            assert!(
                b.last_offset() >= next,
                "batch {} after {next}",
                b.base_offset()
            );
            next = b.last_offset() + 1;
            batches += 1;
        }
        offset = next;
    }
    stop.store(true, Ordering::Relaxed);
    let produced = writer.await.unwrap();
    assert!(
        batches >= 300,
        "{batches} batches fetched of {produced} produced"
    );

    // Topic deletion under fetches: each one answers with batches or an error, and the
    // connection stays usable (or is closed, never fed garbage).
    let fetcher = {
        let conn = s.plain.any_broker().await.unwrap();
        tokio::spawn(async move {
            let mut ok = 0;
            let mut offset = 0;
            for _ in 0..200 {
                let mut spec = FetchPartitionSpec::new("race", 0, offset);
                spec.partition_max_bytes = 1 << 20;
                let params = FetchParams {
                    max_wait_ms: 0,
                    min_bytes: 0,
                    partitions: vec![spec],
                    ..FetchParams::default()
                };
                let Ok(r) = conn.fetch_raw(&params).await else {
                    break;
                };
                let p = &r.partitions[0];
                if p.error.is_some() {
                    offset = p.log_start_offset.max(0);
                    continue;
                }
                for b in BatchIter::new(&p.records) {
                    let b = b.unwrap();
                    b.validate_crc().unwrap();
                    offset = b.last_offset() + 1;
                    ok += 1;
                }
            }
            ok
        })
    };
    s.plain.delete_topics(&["race"], 10_000).await.unwrap();
    fetcher.await.unwrap();
    // The broker still serves fetches of other topics after all that.
    s.create("after", &[]).await;
    produce(&s.plain, "after", batch(0, 20, 1000).0, None).await;
    assert_eq!(
        read_all(&s, "after", IsolationLevel::ReadUncommitted).await,
        s.segment_bytes("after")
    );
    s.broker.shutdown();
}
