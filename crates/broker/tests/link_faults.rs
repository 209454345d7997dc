#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Per-partition fault containment, in process with two Strait brokers: one mirror
//! partition that cannot progress (a failing local append, a corrupt source batch, a
//! deleted source topic) must leave every other partition led by the same source broker
//! copying, must show its reason per partition in DescribeMirrors, must hold the link out
//! of IN_SYNC (counted by reason in ListClusterLinks and the metrics), and where the cause
//! can be fixed the partition and the link must recover by themselves.
//!
//! Progress is asserted by rounds (produce, then wait with a deadline until the healthy
//! partitions have it, while the stuck one has not moved), never by elapsed time.

mod support;

use strait_broker::RunningBroker;
use strait_client::Client;
use strait_protocol::admin::*;
use support::link_listing as link;
use support::lz4_batch as batch;
use support::*;

/// A source with `topics` (name, partitions), 5 records in every partition, a link `l`
/// mirroring everything, and every mirror caught up.
async fn setup(
    sd: &std::path::Path,
    dd: &std::path::Path,
    topics: &[(&str, i32)],
    extra: &[(&str, &str)],
) -> (RunningBroker, RunningBroker, Client, Client) {
    let source = start(sd).await;
    let dest = start(dd).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    for (t, n) in topics {
        src.create_topics(
            &[strait_client::admin::NewTopic::new(*t, *n, 1)],
            10_000,
            false,
        )
        .await
        .unwrap();
        src.refresh_metadata(&[t]).await.unwrap();
        for p in 0..*n {
            src.produce_raw(t, p, batch(t, 5), -1).await.unwrap();
        }
    }
    let source_addr = addr(&source);
    let mut configs = vec![
        ("bootstrap.servers", source_addr.as_str()),
        ("metadata.max.age.ms", "300"),
        ("auto.create.mirror.topics.enable", "true"),
        ("auto.create.mirror.topics.filters", ALL),
        ("replica.fetch.backoff.ms", "100"),
    ];
    configs.extend_from_slice(extra);
    create_link_with(&dst, "l", &configs).await;
    for (t, n) in topics {
        wait_at(&dst, t, &(0..*n).collect::<Vec<_>>(), 5).await;
    }
    (source, dest, src, dst)
}

/// Waits until the given partitions of mirror `topic` all have log end offset `leo` and
/// lag 0.
async fn wait_at(dst: &Client, topic: &str, partitions: &[i32], leo: i64) {
    wait_for(&format!("{topic} {partitions:?} at {leo}"), || {
        let dst = dst.clone();
        async move {
            mirror(&dst, topic).await.is_some_and(|m| {
                partitions.iter().all(|p| {
                    m.partitions
                        .iter()
                        .any(|x| x.partition == *p && x.log_end_offset == leo && x.lag == 0)
                })
            })
        }
    })
    .await;
}

async fn partition(dst: &Client, topic: &str, p: i32) -> MirrorPartition {
    mirror(dst, topic)
        .await
        .unwrap()
        .partitions
        .into_iter()
        .find(|x| x.partition == p)
        .unwrap()
}

fn metrics(dest: &RunningBroker) -> String {
    let mut out = String::new();
    dest.broker.links().unwrap().render_metrics(&mut out);
    out
}

/// `rounds` rounds: 2 records to every healthy partition (topic, partitions, their log end
/// before), then wait until the mirror has them, checking the stuck partition did not move.
async fn rounds_of_progress(
    src: &Client,
    dst: &Client,
    healthy: &[(&str, Vec<i32>)],
    mut leo: i64,
    stuck: (&str, i32, i64),
    rounds: usize,
) -> i64 {
    for round in 0..rounds {
        for (t, ps) in healthy {
            for p in ps {
                src.produce_raw(t, *p, batch(&format!("r{round}"), 2), -1)
                    .await
                    .unwrap();
            }
        }
        leo += 2;
        for (t, ps) in healthy {
            wait_at(dst, t, ps, leo).await;
        }
        let s = partition(dst, stuck.0, stuck.1).await;
        assert_eq!(
            s.log_end_offset, stuck.2,
            "round {round}: the stuck partition moved: {s:?}"
        );
    }
    leo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_partition_leaves_the_others_copying_and_the_link_out_of_sync_until_fixed() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both topics on the one source broker: every partition shares its fetcher.
    let (source, dest, src, dst) = setup(
        sd.path(),
        dd.path(),
        &[("hot", 3), ("cold", 1)],
        &[("link.target.latency.ms", "60000")],
    )
    .await;
    wait_for("link IN_SYNC", || {
        let dst = dst.clone();
        async move { link(&dst, "l").await.sync_status == "IN_SYNC" }
    })
    .await;

    // The destination's disk refuses appends to hot-1; the source has data for it.
    strait_link::faults::set_test_append_fault("hot", 1, true);
    src.produce_raw("hot", 1, batch("blocked", 3), -1)
        .await
        .unwrap();
    wait_for("hot-1 IN_ERROR", || {
        let dst = dst.clone();
        async move {
            let p = partition(&dst, "hot", 1).await;
            p.state == "IN_ERROR"
        }
    })
    .await;
    let p = partition(&dst, "hot", 1).await;
    assert_eq!(
        p.error_reason.as_deref(),
        Some("LOCAL_STORAGE_ERROR"),
        "{p:?}"
    );
    assert!(
        p.error
            .as_deref()
            .is_some_and(|e| e.contains("injected append fault")),
        "{p:?}"
    );
    assert!(p.error_since_ms.is_some_and(|t| t > 0), "{p:?}");
    assert_eq!((p.log_end_offset, p.lag), (5, 3), "{p:?}");
    // Only the partition is in error; its topic keeps mirroring the others.
    let m = mirror(&dst, "hot").await.unwrap();
    assert_eq!(m.state, "ACTIVE", "{m:?}");
    for other in [0, 2] {
        let o = &m.partitions[other];
        assert_eq!(o.state, "ACTIVE", "{o:?}");
        assert!(o.error_reason.is_none() && o.error.is_none(), "{o:?}");
    }
    let l = link(&dst, "l").await;
    assert_eq!(l.sync_status, "OUT_OF_SYNC", "{l:?}");
    assert_eq!(
        l.partition_errors,
        vec![ReasonCount {
            reason: "LOCAL_STORAGE_ERROR".into(),
            count: 1
        }]
    );
    let text = metrics(&dest);
    assert!(
        text.contains(
            "strait_mirror_partition_errors{link=\"l\",topic=\"hot\",partition=\"1\",reason=\"LOCAL_STORAGE_ERROR\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("strait_cluster_link_partitions_in_error{link=\"l\"} 1"),
        "{text}"
    );

    // Every other partition of that source broker keeps copying, round after round.
    let healthy = [("hot", vec![0, 2]), ("cold", vec![0])];
    let leo = rounds_of_progress(&src, &dst, &healthy, 5, ("hot", 1, 5), 10).await;
    let p = partition(&dst, "hot", 1).await;
    assert_eq!(p.state, "IN_ERROR", "still stuck after the rounds: {p:?}");
    assert_eq!(link(&dst, "l").await.sync_status, "OUT_OF_SYNC");

    // The disk is fixed: the partition catches up and the link is IN_SYNC again.
    strait_link::faults::set_test_append_fault("hot", 1, false);
    wait_at(&dst, "hot", &[1], 8).await;
    let p = partition(&dst, "hot", 1).await;
    assert_eq!(p.state, "ACTIVE", "{p:?}");
    assert!(p.error_reason.is_none() && p.error.is_none(), "{p:?}");
    wait_for("link IN_SYNC again", || {
        let dst = dst.clone();
        async move {
            let l = link(&dst, "l").await;
            l.sync_status == "IN_SYNC" && l.partition_errors.is_empty()
        }
    })
    .await;
    assert!(!metrics(&dest).contains("strait_mirror_partition_errors{"));
    assert_eq!(partition(&dst, "hot", 0).await.log_end_offset, leo);
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_source_batch_fails_its_topic_and_nothing_else() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (source, dest, src, dst) =
        setup(sd.path(), dd.path(), &[("bad", 2), ("good", 2)], &[]).await;

    // A batch on bad-0 whose CRC field is flipped on the source's disk (under the
    // partition's write lock, so no fetch sees the good bytes first).
    let appended = batch("corrupt", 2);
    let t = source.broker.topics.get("bad").unwrap();
    t.partition(0)
        .unwrap()
        .with_log_mut(|l| {
            let mut b = appended.to_vec();
            // Appended as-is at the log end (offset 5); the CRC does not cover the base
            // offset, so it stays valid until flipped below.
            b[..8].copy_from_slice(&5i64.to_be_bytes());
            l.append_mirrored(&b, 0).unwrap();
            l.flush().unwrap();
            let base = *l.segment_base_offsets().last().unwrap();
            let path = l.dir().join(format!("{base:020}.log"));
            let file = std::fs::read(&path).unwrap();
            let at = file
                .windows(b.len())
                .rposition(|w| w == b.as_slice())
                .unwrap();
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all_at(&[0xde, 0xad, 0xbe, 0xef], (at + 17) as u64)
                .unwrap();
            f.sync_all().unwrap();
        })
        .unwrap();

    wait_for("bad FAILED", || {
        let dst = dst.clone();
        async move { mirror(&dst, "bad").await.unwrap().state == "FAILED" }
    })
    .await;
    let m = mirror(&dst, "bad").await.unwrap();
    assert_eq!(m.reason.as_deref(), Some("SOURCE_DATA_CORRUPT"), "{m:?}");
    let p = &m.partitions[0];
    assert_eq!(
        p.error_reason.as_deref(),
        Some("SOURCE_DATA_CORRUPT"),
        "{p:?}"
    );
    assert_eq!(p.log_end_offset, 5, "{p:?}");
    assert!(m.partitions[1].error_reason.is_none(), "{m:?}");

    // The other topic on the same source broker keeps copying.
    rounds_of_progress(&src, &dst, &[("good", vec![0, 1])], 5, ("bad", 0, 5), 5).await;
    let l = link(&dst, "l").await;
    assert_ne!(l.sync_status, "IN_SYNC", "{l:?}");
    assert_eq!(
        l.partition_errors,
        vec![ReasonCount {
            reason: "SOURCE_DATA_CORRUPT".into(),
            count: 1
        }]
    );
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_source_topic_is_in_error_while_retried_and_counted_once() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (source, dest, src, dst) =
        setup(sd.path(), dd.path(), &[("gone", 2), ("kept", 1)], &[]).await;
    src.delete_topics(&["gone"], 10_000).await.unwrap();
    wait_for("gone IN_ERROR", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, "gone")
                .await
                .unwrap()
                .partitions
                .iter()
                .all(|p| {
                    p.state == "IN_ERROR"
                        && p.error_reason.as_deref() == Some("SOURCE_TOPIC_MAY_BE_DELETED")
                })
        }
    })
    .await;
    let m = mirror(&dst, "gone").await.unwrap();
    assert_eq!(
        m.state, "ACTIVE",
        "retried until cluster.link.retry.timeout.ms: {m:?}"
    );
    let errors = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("strait_mirror_fetch_errors_total{link=\"l\",topic=\"gone\""))
            .map(str::to_string)
            .collect()
    };
    let before = errors(&metrics(&dest));
    assert_eq!(before.len(), 2, "{before:?}");
    rounds_of_progress(&src, &dst, &[("kept", vec![0])], 5, ("gone", 0, 5), 8).await;
    // The link loop looked at the missing topic many times meanwhile: still one count
    // per episode.
    assert_eq!(errors(&metrics(&dest)), before);
    let l = link(&dst, "l").await;
    assert_eq!(l.sync_status, "OUT_OF_SYNC", "{l:?}");
    assert_eq!(
        l.partition_errors,
        vec![ReasonCount {
            reason: "SOURCE_TOPIC_MAY_BE_DELETED".into(),
            count: 2
        }]
    );
    source.shutdown();
    dest.shutdown();
}

/// The source's only topic is deleted: its Metadata answer then lists no topics at all,
/// which must not be taken for "metadata not fetched yet".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_sources_last_topic_still_puts_its_mirror_in_error() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (source, dest, src, dst) = setup(sd.path(), dd.path(), &[("only", 1)], &[]).await;
    src.delete_topics(&["only"], 10_000).await.unwrap();
    wait_for("only IN_ERROR", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, "only")
                .await
                .unwrap()
                .partitions
                .iter()
                .all(|p| {
                    p.state == "IN_ERROR"
                        && p.error_reason.as_deref() == Some("SOURCE_TOPIC_MAY_BE_DELETED")
                })
        }
    })
    .await;
    assert_eq!(link(&dst, "l").await.sync_status, "OUT_OF_SYNC");
    source.shutdown();
    dest.shutdown();
}
