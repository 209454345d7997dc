//! The log manager end to end, over real sockets with the Strait client: per-partition
//! long-poll wake-ups, per-partition order under concurrent idempotent producers, a
//! blocked I/O job on one partition not stalling another partition or Metadata, one
//! produce request's partitions in one hand-off that still keeps each partition's lane
//! order, mirror appends and transaction markers on the partitions' lanes, and the
//! log manager's metrics on `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strait_broker::topics::Partition;
use strait_broker::RunningBroker;
use strait_client::admin::NewTopic;
use strait_client::fetch::{FetchParams, FetchPartitionSpec};
use strait_client::Client;
use strait_records::record::BatchBuilder;
use support::*;

/// Guards awaits that must finish (a hang fails the test instead of blocking CI).
const GUARD: Duration = Duration::from_secs(60);

/// What a spawned fallible task (a `JoinHandle`, or the receiver of an I/O job's result)
/// returned, within [`GUARD`]: a task that never finishes fails the test instead of hanging it.
async fn finished<T, E: std::fmt::Debug, J: std::fmt::Debug>(
    task: impl std::future::Future<Output = Result<Result<T, E>, J>>,
) -> T {
    tokio::time::timeout(GUARD, task)
        .await
        .expect("the task did not finish in time")
        .expect("the task was dropped or panicked")
        .unwrap()
}

async fn create(c: &Client, topic: &str, partitions: i32) {
    let r = c
        .create_topics(&[NewTopic::new(topic, partitions, 1)], 10_000, false)
        .await
        .unwrap();
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
    c.refresh_metadata(&[topic]).await.unwrap();
}

fn partition(b: &RunningBroker, topic: &str, index: i32) -> Arc<Partition> {
    b.broker
        .topics
        .get(topic)
        .and_then(|t| t.partition(index))
        .unwrap()
}

/// Waits until a fetch is registered on `p` and parked (its reads done, waiting).
async fn wait_parked(b: &RunningBroker, p: &Partition, at_least: usize) {
    let deadline = Instant::now() + GUARD;
    while p.watch().registered() < at_least || b.broker.topics.io().fetches_waiting() < at_least {
        assert!(Instant::now() < deadline, "the fetch never parked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn value_batch(value: &str) -> Bytes {
    Bytes::from(
        BatchBuilder::new(0)
            .append(1_700_000_000_000, None, Some(value.as_bytes()))
            .build()
            .unwrap(),
    )
}

fn values(records: &[u8]) -> Vec<String> {
    strait_records::BatchIter::new(records)
        .flat_map(|b| {
            let b = b.unwrap();
            strait_records::record::decode_records(&b)
                .unwrap()
                .into_iter()
                .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn long_poll(topic: &str, index: i32, offset: i64, max_wait_ms: i32) -> FetchParams {
    FetchParams {
        max_wait_ms,
        partitions: vec![FetchPartitionSpec::new(topic, index, offset)],
        ..FetchParams::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_is_woken_only_by_its_own_partition() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let producer = client(&b).await;
    let consumer = client(&b).await;
    create(&producer, "t", 2).await;
    let leader = consumer.find_leader("t", 0).await.unwrap();
    let io = || b.broker.topics.io().fetch_wakeups();
    let p0 = partition(&b, "t", 0);
    let p1 = partition(&b, "t", 1);

    // A long poll on t-0 while t-1 takes 20 appends: never woken, answered empty at max_wait.
    let before = io();
    let c = consumer.clone();
    let fetch = tokio::spawn(async move { c.fetch_raw(leader, &long_poll("t", 0, 0, 1500)).await });
    wait_parked(&b, &p0, 1).await;
    for i in 0..20 {
        producer
            .produce_raw("t", 1, value_batch(&format!("b{i}")), -1)
            .await
            .unwrap();
    }
    let r = finished(fetch).await;
    let part = &r.partitions[0];
    assert!(part.error.is_none(), "{:?}", part.error);
    assert!(part.records.is_empty());
    assert_eq!(part.high_watermark, 0);
    assert_eq!(p1.watch().positions().high_watermark, 20);
    assert_eq!(io(), before, "appends to t-1 woke a fetch waiting on t-0");

    // The same long poll (60 s) is answered by one append to t-0, with its record, after
    // exactly one wake-up.
    let c = consumer.clone();
    let fetch =
        tokio::spawn(async move { c.fetch_raw(leader, &long_poll("t", 0, 0, 60_000)).await });
    wait_parked(&b, &p0, 1).await;
    producer
        .produce_raw("t", 1, value_batch("still-b"), -1)
        .await
        .unwrap();
    producer
        .produce_raw("t", 0, value_batch("wake-a"), -1)
        .await
        .unwrap();
    let r = finished(fetch).await;
    let part = &r.partitions[0];
    assert!(part.error.is_none(), "{:?}", part.error);
    assert_eq!(values(&part.records), vec!["wake-a".to_string()]);
    assert_eq!(part.high_watermark, 1);
    assert_eq!(io(), before + 1);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_rereads_only_the_partitions_that_moved() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let producer = client(&b).await;
    let consumer = client(&b).await;
    create(&producer, "many", 50).await;
    let leader = consumer.find_leader("many", 0).await.unwrap();
    let params = FetchParams {
        max_wait_ms: 60_000,
        partitions: (0..50)
            .map(|i| FetchPartitionSpec::new("many", i, 0))
            .collect(),
        ..FetchParams::default()
    };
    // Partition reads: all 50 before the wait, then only the one woken partition.
    let reads = || b.broker.topics.io().fetch_reads();
    let c = consumer.clone();
    let fetch = tokio::spawn(async move { c.fetch_raw(leader, &params).await });
    wait_parked(&b, &partition(&b, "many", 49), 1).await;
    let before = reads();
    assert_eq!(before, 50);
    producer
        .produce_raw("many", 17, value_batch("only-17"), -1)
        .await
        .unwrap();
    let r = finished(fetch).await;
    let with_data: Vec<_> = r
        .partitions
        .iter()
        .filter(|p| !p.records.is_empty())
        .map(|p| (p.partition, values(&p.records)))
        .collect();
    assert_eq!(with_data, vec![(17, vec!["only-17".to_string()])]);
    assert_eq!(r.partitions.len(), 50);
    // One re-read, of partition 17 only: the others' registrations are still parked.
    assert_eq!(reads(), before + 1);
    assert_eq!(b.broker.topics.io().fetch_wakeups(), 1);
    for i in (0..50).filter(|i| *i != 17) {
        assert!(partition(&b, "many", i).watch().registrations() >= 1);
    }
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_idempotent_producers_keep_per_partition_order() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let admin = client(&b).await;
    create(&admin, "seq", 2).await;
    const PRODUCERS: i64 = 8;
    const BATCHES: i32 = 40;
    const RECORDS: i32 = 3;
    let mut tasks = Vec::new();
    for pid in 0..PRODUCERS {
        // One connection per producer, all on both partitions at once.
        let c = client(&b).await;
        c.refresh_metadata(&["seq"]).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut offsets = Vec::new();
            for n in 0..BATCHES {
                let partition = n % 2;
                let seq = (n / 2) * RECORDS;
                let mut builder = BatchBuilder::new(0).producer(5000 + pid, 0, seq);
                for r in 0..RECORDS {
                    builder = builder.append(
                        1_700_000_000_000,
                        None,
                        Some(format!("p{pid}-{partition}-{}", seq + r).as_bytes()),
                    );
                }
                let batch = Bytes::from(builder.build().unwrap());
                let first = c
                    .produce_raw("seq", partition, batch.clone(), -1)
                    .await
                    .unwrap();
                // A retry of the same batch is a duplicate: same offset, nothing appended.
                if n % 7 == 0 {
                    let again = c.produce_raw("seq", partition, batch, -1).await.unwrap();
                    assert_eq!(again.base_offset, first.base_offset);
                }
                offsets.push((partition, first.base_offset));
            }
            offsets
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(tokio::time::timeout(GUARD, t).await.unwrap().unwrap());
    }
    for partition in 0..2 {
        let log = raw_log(&admin, "seq", partition).await;
        let all = values(&log);
        let expected = PRODUCERS as usize * (BATCHES as usize / 2) * RECORDS as usize;
        assert_eq!(
            all.len(),
            expected,
            "partition {partition}: no loss, no duplicates"
        );
        // Each producer's records appear in its sequence order.
        for pid in 0..PRODUCERS {
            let prefix = format!("p{pid}-{partition}-");
            let seqs: Vec<i32> = all
                .iter()
                .filter_map(|v| v.strip_prefix(&prefix))
                .map(|s| s.parse().unwrap())
                .collect();
            assert_eq!(seqs, (0..(BATCHES / 2) * RECORDS).collect::<Vec<_>>());
        }
        // Acknowledged offsets of one producer grow with its sends.
        for offsets in &acked {
            let mine: Vec<i64> = offsets
                .iter()
                .filter(|(p, _)| *p == partition)
                .map(|(_, o)| *o)
                .collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        }
    }
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_io_job_on_one_partition_stalls_neither_others_nor_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_with(dir.path(), &["num.io.threads=2".to_string()]).await;
    let admin = client(&b).await;
    create(&admin, "slow", 2).await;
    let p0 = partition(&b, "slow", 0);
    // Stands in for an fsync that does not return: a job on t-0's lane, holding its log's
    // write lock and one of the two I/O threads until released, then flushing.
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let (entered_tx, entered) = tokio::sync::oneshot::channel::<()>();
    let job_partition = p0.clone();
    let stuck = b
        .broker
        .topics
        .io()
        .submit_ordered(p0.lane(), move || {
            job_partition.with_log_mut(|log| {
                let _ = entered_tx.send(());
                blocked.recv().unwrap();
                log.flush().unwrap();
            })
        })
        .unwrap();
    tokio::time::timeout(GUARD, entered).await.unwrap().unwrap();

    // A produce to t-0 queues behind it, on its own connection.
    let c0 = client(&b).await;
    c0.refresh_metadata(&["slow"]).await.unwrap();
    let held = tokio::spawn(async move {
        c0.produce_raw("slow", 0, value_batch("after-the-stall"), -1)
            .await
    });
    // Reads of t-0 on more connections than there are I/O threads: none may park a thread.
    let mut reads = Vec::new();
    for _ in 0..3 {
        let c = client(&b).await;
        let leader = c.find_leader("slow", 0).await.unwrap();
        reads.push(tokio::spawn(async move {
            c.fetch_raw(leader, &long_poll("slow", 0, 0, 0)).await
        }));
    }
    let other = client(&b).await;
    other.refresh_metadata(&["slow"]).await.unwrap();
    for i in 0..10 {
        let r = tokio::time::timeout(
            GUARD,
            other.produce_raw("slow", 1, value_batch(&format!("free-{i}")), -1),
        )
        .await
        .expect("produce to t-1 stalled behind t-0")
        .unwrap();
        assert_eq!(r.base_offset, i);
    }
    let md = tokio::time::timeout(GUARD, other.refresh_all_metadata())
        .await
        .expect("Metadata stalled behind t-0")
        .unwrap();
    assert!(md.topic("slow").is_some());
    let leader = other.find_leader("slow", 1).await.unwrap();
    let r = tokio::time::timeout(GUARD, other.fetch_raw(leader, &long_poll("slow", 1, 0, 0)))
        .await
        .expect("fetch of t-1 stalled behind t-0")
        .unwrap();
    assert_eq!(values(&r.partitions[0].records).len(), 10);
    assert!(
        !held.is_finished(),
        "t-0's produce ran before the job ahead of it"
    );
    assert!(reads.iter().all(|r| !r.is_finished()));
    // The produce and the three reads wait on t-0's lane (upkeep jobs may too), not on threads.
    assert!(p0.lane().queued() >= 4, "{}", p0.lane().queued());

    release.send(()).unwrap();
    finished(stuck).await;
    let r = finished(held).await;
    assert_eq!(r.base_offset, 0);
    for read in reads {
        let r = finished(read).await;
        assert!(r.partitions[0].error.is_none());
    }
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_accepted_appends_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let admin = client(&b).await;
    create(&admin, "drain", 1).await;
    let p = partition(&b, "drain", 0);
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let job_partition = p.clone();
    let io = &b.broker.topics.io();
    let _stuck = io
        .submit_ordered(p.lane(), move || {
            let _ = blocked.recv();
            job_partition.watch().positions()
        })
        .unwrap();
    // Queued behind the stuck job: accepted, so shutdown must run it.
    let appended = {
        let job_partition = p.clone();
        io.submit_ordered(p.lane(), move || {
            job_partition.with_log_mut(|log| {
                log.append_leader(
                    &value_batch("queued"),
                    0,
                    1_700_000_000_000,
                    strait_storage::VerificationGuard::NONE,
                )
                .map(|i| i.base_offset)
            })
        })
        .unwrap()
    };
    let broker = b.broker.clone();
    let closer = std::thread::spawn(move || b.shutdown());
    // Released only once shutdown has closed the pool, so the queued append runs in the
    // drain, not before it.
    let deadline = Instant::now() + GUARD;
    while !broker.topics.io().is_shut_down() {
        assert!(
            Instant::now() < deadline,
            "shutdown never closed the log manager"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    release.send(()).unwrap();
    closer.join().unwrap();
    let offset = tokio::time::timeout(GUARD, appended)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(offset, 0);
    // Closed: new work is refused (the request would get KAFKA_STORAGE_ERROR, not an ack).
    let refused = broker.topics.io().run(|| ()).await;
    assert!(refused.is_err());
    drop(broker);
    // The append was flushed with the clean-shutdown close: the reopened log has it and
    // skipped recovery.
    let reopened = start(dir.path()).await;
    let p = partition(&reopened, "drain", 0);
    let (end, clean) = p
        .with_log(|l| (l.log_end_offset(), l.recovery_stats().clean_shutdown))
        .unwrap();
    assert_eq!(end, 1);
    assert!(clean);
    reopened.shutdown();
}

/// Holds `p`'s lane and log write lock until the returned sender is dropped or sent to (a
/// stand-in for a write stuck on its disk); returns once the job holds them.
async fn stall(
    b: &RunningBroker,
    p: &Arc<Partition>,
) -> (
    std::sync::mpsc::Sender<()>,
    tokio::sync::oneshot::Receiver<Result<(), strait_broker::error::ApiError>>,
) {
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let (entered_tx, entered) = tokio::sync::oneshot::channel::<()>();
    let job_partition = p.clone();
    let stuck = b
        .broker
        .topics
        .io()
        .submit_ordered(p.lane(), move || {
            job_partition.with_log_mut(|_| {
                let _ = entered_tx.send(());
                let _ = blocked.recv();
            })
        })
        .unwrap();
    tokio::time::timeout(GUARD, entered).await.unwrap().unwrap();
    (release, stuck)
}

/// Waits until `p`'s lane has at least `n` jobs queued behind the running one.
async fn wait_queued(p: &Partition, n: usize) {
    let deadline = Instant::now() + GUARD;
    while p.lane().queued() < n {
        assert!(Instant::now() < deadline, "nothing queued on the lane");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One Produce request with a batch for each of `partitions` of `topic`; per partition
/// (error code, base offset), in request order.
async fn produce_many(c: &Client, topic: &str, partitions: &[i32]) -> Vec<(i16, i64)> {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(60_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(
                partitions
                    .iter()
                    .map(|&i| {
                        PartitionProduceData::default()
                            .with_index(i)
                            .with_records(Some(value_batch(&format!("{topic}-{i}"))))
                    })
                    .collect(),
            )]);
    let conn = c.leader_connection(topic, partitions[0]).await.unwrap();
    let r = conn.send(&req, 9).await.unwrap();
    let answered = &r.responses[0].partition_responses;
    partitions
        .iter()
        .map(|&i| {
            let p = answered.iter().find(|p| p.index == i).unwrap();
            (p.error_code, p.base_offset)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_handoff_that_keeps_each_lanes_order() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_with(dir.path(), &["num.io.threads=2".to_string()]).await;
    let c = client(&b).await;
    create(&c, "batch", 4).await;
    let parts: Vec<Arc<Partition>> = (0..4).map(|i| partition(&b, "batch", i)).collect();
    // Partition 2's lane is held: its append must wait behind the job ahead of it, while
    // the request's other partitions are written by the one hand-off meanwhile.
    let (release, stuck) = stall(&b, &parts[2]).await;
    let producer = c.clone();
    let request =
        tokio::spawn(async move { produce_many(&producer, "batch", &[0, 1, 2, 3]).await });
    let deadline = Instant::now() + GUARD;
    while [0, 1, 3]
        .iter()
        .any(|&i| parts[i].watch().positions().high_watermark < 1)
    {
        assert!(
            Instant::now() < deadline,
            "the request's free partitions waited for the held one"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(parts[2].watch().positions().high_watermark, 0);
    assert_eq!(
        parts[2].lane().queued(),
        1,
        "partition 2's append is on its lane"
    );
    assert!(
        !request.is_finished(),
        "answered before partition 2 was written"
    );
    release.send(()).unwrap();
    finished(stuck).await;
    let answered = tokio::time::timeout(GUARD, request).await.unwrap().unwrap();
    assert_eq!(answered, vec![(0, 0), (0, 0), (0, 0), (0, 0)]);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.watch().positions().high_watermark, 1, "partition {i}");
    }
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_lands_after_the_appends_queued_before_it() {
    use kafka_protocol::messages::write_txn_markers_request::{
        WritableTxnMarker, WritableTxnMarkerTopic,
    };
    use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
    use kafka_protocol::protocol::StrBytes;
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let c = client(&b).await;
    create(&c, "mk", 1).await;
    let p = partition(&b, "mk", 0);
    let (release, stuck) = stall(&b, &p).await;
    // An append queued on the lane, then a marker from another connection.
    let producer = client(&b).await;
    producer.refresh_metadata(&["mk"]).await.unwrap();
    let append =
        tokio::spawn(async move { producer.produce_raw("mk", 0, value_batch("data"), -1).await });
    wait_queued(&p, 1).await;
    let marker_conn = c.any_broker().await.unwrap();
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(4242))
        .with_producer_epoch(0)
        .with_transaction_result(false)
        .with_coordinator_epoch(0)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("mk")))
            .with_partition_indexes(vec![0])])]);
    let marker = tokio::spawn(async move { marker_conn.send(&req, 1).await });
    // The marker waits on the lane too (not on the log lock from an async worker).
    wait_queued(&p, 2).await;
    release.send(()).unwrap();
    finished(stuck).await;
    let appended = finished(append).await;
    assert_eq!(appended.base_offset, 0);
    let r = finished(marker).await;
    assert_eq!(r.markers[0].topics[0].partitions[0].error_code, 0);
    let log = raw_log(&c, "mk", 0).await;
    let batches: Vec<(i64, bool)> = strait_records::BatchIter::new(&log)
        .map(|b| {
            let b = b.unwrap();
            (b.base_offset(), b.is_control())
        })
        .collect();
    assert_eq!(batches, vec![(0, false), (1, true)]);
    b.shutdown();
}

// One async worker: a mirror append parked on an async thread would stall everything here.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_stuck_mirror_partition_stalls_neither_another_link_nor_metadata() {
    let (sdir, ddir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src = start(sdir.path()).await;
    let dst = start_with(ddir.path(), &["num.io.threads=2".to_string()]).await;
    let s = client(&src).await;
    let d = client(&dst).await;
    new_topic(&s, "a", 1).await;
    new_topic(&s, "b", 1).await;
    let bootstrap = addr(&src);
    for (link, topic) in [("la", "a"), ("lb", "b")] {
        create_link_with(&d, link, &[("bootstrap.servers", bootstrap.as_str())]).await;
        let r = create_mirror(&d, topic, link).await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        s.produce_raw(topic, 0, batch(topic, 1), -1).await.unwrap();
        wait_mirror_end(&d, topic, 1).await;
    }
    let a = partition(&dst, "a", 0);
    let b = partition(&dst, "b", 0);
    let (release, stuck) = stall(&dst, &a).await;
    for i in 0..3 {
        s.produce_raw("a", 0, batch(&format!("a{i}"), 2), -1)
            .await
            .unwrap();
        s.produce_raw("b", 0, batch(&format!("b{i}"), 2), -1)
            .await
            .unwrap();
    }
    // Link la's append to a-0 waits on a-0's lane; link lb keeps mirroring b.
    wait_queued(&a, 1).await;
    let deadline = Instant::now() + GUARD;
    while b.watch().positions().log_end_offset < 7 {
        assert!(
            Instant::now() < deadline,
            "b stopped mirroring while a-0 was held"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let md = tokio::time::timeout(GUARD, d.refresh_all_metadata())
        .await
        .expect("Metadata stalled behind a held mirror partition")
        .unwrap();
    assert!(md.topic("a").is_some());
    assert_eq!(a.watch().positions().log_end_offset, 1);
    release.send(()).unwrap();
    finished(stuck).await;
    wait_mirror_end(&d, "a", 7).await;
    assert_identical(&s, &d, "a", 1).await;
    assert_identical(&s, &d, "b", 1).await;
    dst.shutdown();
    src.shutdown();
}

/// `GET /metrics` from the broker's metrics listener: value of each sample by name.
async fn scrape(b: &RunningBroker) -> std::collections::HashMap<String, f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(b.metrics_addr.unwrap())
        .await
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    body.lines()
        .filter(|l| l.starts_with("strait_log_manager_"))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_manager_metrics_are_scraped() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_with(
        dir.path(),
        &[
            "num.io.threads=3".to_string(),
            "metrics.http.listener=127.0.0.1:0".to_string(),
        ],
    )
    .await;
    let producer = client(&b).await;
    let consumer = client(&b).await;
    create(&producer, "mx", 1).await;
    let before = scrape(&b).await;
    assert_eq!(before["strait_log_manager_io_threads"], 3.0);
    assert_eq!(before["strait_log_manager_fetch_wakeups_total"], 0.0);
    assert_eq!(before["strait_log_manager_fetches_waiting"], 0.0);
    // A long poll parked on mx-0, counted as waiting, then woken by an append.
    let leader = consumer.find_leader("mx", 0).await.unwrap();
    let c = consumer.clone();
    let fetch =
        tokio::spawn(async move { c.fetch_raw(leader, &long_poll("mx", 0, 0, 60_000)).await });
    wait_parked(&b, &partition(&b, "mx", 0), 1).await;
    assert_eq!(scrape(&b).await["strait_log_manager_fetches_waiting"], 1.0);
    producer
        .produce_raw("mx", 0, value_batch("wake"), -1)
        .await
        .unwrap();
    finished(fetch).await;
    let after = scrape(&b).await;
    assert_eq!(after["strait_log_manager_fetch_wakeups_total"], 1.0);
    assert_eq!(after["strait_log_manager_fetches_waiting"], 0.0);
    assert!(after["strait_log_manager_fetch_partition_reads_total"] >= 2.0);
    // The append and the fetch reads ran as jobs, each handed off.
    for name in [
        "strait_log_manager_jobs_total",
        "strait_log_manager_handoffs_total",
    ] {
        assert!(
            after[name] >= before[name] + 2.0,
            "{name}: {before:?} -> {after:?}"
        );
    }
    assert!(after["strait_log_manager_job_run_time_seconds_total"] > 0.0);
    assert!(after.contains_key("strait_log_manager_queue_size"));
    assert!(after.contains_key("strait_log_manager_io_thread_wakeups_total"));
    assert!(after.contains_key("strait_log_manager_job_queue_time_seconds_total"));
    b.shutdown();
}
