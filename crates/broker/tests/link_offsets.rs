#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! "Nothing skipped, offsets never go back" (issue 10, item 3), in process: a source and a
//! destination Strait broker, each on its own port and directory.
//!
//! * `mirror.start.offset.spec` applies only when a mirror is created: a partition added
//!   on the source later is mirrored from its first offset, and after a destination
//!   restart every partition resumes at its local log end.
//! * The consumer-offset sync only moves a destination offset forward, never touches a
//!   promoted or failed-over topic, and promote's final sync carries the source's last
//!   commit.

#[path = "link/proxy.rs"]
#[allow(dead_code)] // this file does not count connections
mod proxy;

mod support;

use strait_broker::RunningBroker;
use strait_client::groups::OffsetToCommit;
use strait_client::offsets::OffsetSpec;
use strait_client::{Client, Connection};
use strait_protocol::admin::*;
use support::lz4_batch as batch;
use support::*;

const GROUP_G: &str =
    r#"{"groupFilters":[{"name":"g","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;

async fn create_link(dst: &Client, name: &str, source: &str, extra: &[(&str, &str)]) {
    let mut configs = vec![
        ("bootstrap.servers", source),
        ("metadata.max.age.ms", "500"),
        ("auto.create.mirror.topics.enable", "true"),
        ("auto.create.mirror.topics.filters", ALL),
    ];
    configs.extend_from_slice(extra);
    create_link_with(dst, name, &configs).await;
}

/// Log end offset of every partition of mirror `topic`, in order (empty: no mirror yet).
async fn mirror_leos(dst: &Client, topic: &str) -> Vec<i64> {
    mirror(dst, topic)
        .await
        .map(|m| m.partitions.iter().map(|p| p.log_end_offset).collect())
        .unwrap_or_default()
}

async fn wait_leos(dst: &Client, topic: &str, want: &[i64]) {
    wait_for(&format!("{topic} at {want:?}"), || {
        let dst = dst.clone();
        async move { mirror_leos(&dst, topic).await == want }
    })
    .await;
}

async fn earliest(c: &Client, topic: &str, partition: i32) -> i64 {
    c.refresh_metadata(&[topic]).await.unwrap();
    let listed = c
        .list_offsets_by_leader(vec![(topic.to_string(), partition, OffsetSpec::Earliest)])
        .await
        .unwrap();
    listed[0].offset
}

/// Produces directly to the source broker at `addr` (not through the proxy it advertises).
async fn produce_direct(conn: &Connection, topic: &str, partition: i32, tag: &str, n: i64) {
    conn.produce_raw(topic, partition, batch(tag, n), -1)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_later_start_at_their_first_offset_also_across_restarts() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = proxy::Proxy::start().await;
    let source = start_with(
        sd.path(),
        &[format!("advertised.listeners=PLAINTEXT://{}", proxy.addr)],
    )
    .await;
    proxy.up(&addr(&source));
    let mut dest = start(dd.path()).await;
    let src = client(&source).await;
    let direct = Connection::connect(&addr(&source), src.options())
        .await
        .unwrap();
    direct
        .create_topics(
            &[
                strait_client::admin::NewTopic::new("t", 1, 1),
                strait_client::admin::NewTopic::new("e", 1, 1),
            ],
            10_000,
            false,
        )
        .await
        .unwrap();
    produce_direct(&direct, "t", 0, "old", 5).await;

    let dst = client(&dest).await;
    create_link(
        &dst,
        "l",
        &proxy.addr,
        &[("mirror.start.offset.spec", "latest")],
    )
    .await;
    // At creation the spec holds: t-0 starts at the source's end (5), e-0 at 0 (empty).
    wait_leos(&dst, "t", &[5]).await;
    wait_leos(&dst, "e", &[0]).await;
    assert_eq!(
        earliest(&dst, "t", 0).await,
        5,
        "latest skipped the old records"
    );
    produce_direct(&direct, "t", 0, "new", 3).await;
    wait_leos(&dst, "t", &[8]).await;

    // The link cannot see the source while it grows t and writes to the new partition.
    proxy.down();
    direct
        .create_partitions(&[("t", 2)], 10_000, false)
        .await
        .unwrap();
    produce_direct(&direct, "t", 1, "p1", 10).await;
    proxy.up(&addr(&source));
    wait_leos(&dst, "t", &[8, 10]).await;
    assert_eq!(
        earliest(&dst, "t", 1).await,
        0,
        "the new partition starts at 0"
    );

    // Restart the destination while the source writes to a partition that has a local log,
    // to the empty-but-positioned e-0, and to another new partition.
    dest.shutdown();
    produce_direct(&direct, "t", 1, "p1b", 4).await;
    produce_direct(&direct, "e", 0, "e", 7).await;
    direct
        .create_partitions(&[("t", 3)], 10_000, false)
        .await
        .unwrap();
    produce_direct(&direct, "t", 2, "p2", 6).await;
    dest = start(dd.path()).await;
    let dst = client(&dest).await;
    wait_leos(&dst, "t", &[8, 14, 6]).await;
    wait_leos(&dst, "e", &[7]).await;
    assert_eq!(earliest(&dst, "t", 0).await, 5);
    assert_eq!(earliest(&dst, "t", 1).await, 0);
    assert_eq!(earliest(&dst, "t", 2).await, 0);
    assert_eq!(
        earliest(&dst, "e", 0).await,
        0,
        "a restart never re-resolves mirror.start.offset.spec"
    );
    dest.shutdown();
    source.shutdown();
}

async fn commit(c: &Client, group: &str, topic: &str, offset: i64) {
    let r = c
        .offset_commit(
            group,
            &[OffsetToCommit {
                topic: topic.into(),
                partition: 0,
                offset,
                leader_epoch: -1,
                metadata: None,
            }],
        )
        .await
        .unwrap();
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
}

async fn committed(c: &Client, group: &str, topic: &str) -> i64 {
    c.offset_fetch(group, Some(&[(topic, vec![0])]))
        .await
        .unwrap()
        .first()
        .map_or(-1, |o| o.offset)
}

async fn wait_committed(c: &Client, group: &str, topic: &str, want: i64) {
    wait_for(&format!("{group} at {want} on {topic}"), || {
        let c = c.clone();
        async move { committed(&c, group, topic).await == want }
    })
    .await;
}

async fn offset_task(dst: &Client) -> LinkTask {
    let r: ListClusterLinksResponse = admin(
        dst,
        &ListClusterLinksRequest {
            names: Some(vec!["l".into()]),
            include_topics: false,
            include_configs: false,
        },
    )
    .await;
    r.links[0]
        .tasks
        .iter()
        .find(|t| t.name == "consumer_offset_sync")
        .cloned()
        .unwrap()
}

/// Waits until `rounds` more consumer-offset sync rounds have run.
async fn wait_rounds(dst: &Client, rounds: i64) {
    let start = offset_task(dst).await.runs;
    wait_for("offset sync rounds", || {
        let dst = dst.clone();
        async move { offset_task(&dst).await.runs >= start + rounds }
    })
    .await;
}

const SYNC: &[(&str, &str)] = &[
    ("consumer.offset.sync.enable", "true"),
    ("consumer.offset.sync.ms", "1000"),
    ("consumer.offset.group.filters", GROUP_G),
];

/// Source and destination with topic `orders` (120 records) mirrored by link `l`.
async fn mirrored(
    sd: &std::path::Path,
    dd: &std::path::Path,
    extra: &[(&str, &str)],
) -> (RunningBroker, RunningBroker, Client, Client) {
    let source = start(sd).await;
    let dest = start(dd).await;
    let src = client(&source).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new("orders", 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&["orders"]).await.unwrap();
    src.produce_raw("orders", 0, batch("o", 120), -1)
        .await
        .unwrap();
    let dst = client(&dest).await;
    create_link(&dst, "l", &addr(&source), extra).await;
    wait_leos(&dst, "orders", &[120]).await;
    (source, dest, src, dst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_over_topic_keeps_the_destination_commits() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (source, dest, src, dst) = mirrored(sd.path(), dd.path(), SYNC).await;
    commit(&src, "g", "orders", 100).await;
    wait_committed(&dst, "g", "orders", 100).await;

    // The group moves here first (its consumers read the mirror and commit 110), then
    // the topic is failed over; the source still says 100 throughout.
    commit(&dst, "g", "orders", 110).await;
    wait_rounds(&dst, 2).await;
    assert_eq!(committed(&dst, "g", "orders").await, 110, "never lowered");
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Failover,
            topics: Some(vec!["orders".into()]),
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
    commit(&dst, "g", "orders", 110).await;
    wait_rounds(&dst, 3).await;
    assert_eq!(committed(&dst, "g", "orders").await, 110, "never lowered");
    // Nor raised: once failed over, the topic's offsets are the destination's alone.
    commit(&src, "g", "orders", 115).await;
    wait_rounds(&dst, 3).await;
    assert_eq!(committed(&dst, "g", "orders").await, 110);
    dest.shutdown();
    source.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_mirroring_offsets_only_move_forward_also_across_restarts() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (source, dest, src, dst) = mirrored(sd.path(), dd.path(), SYNC).await;
    commit(&src, "g", "orders", 50).await;
    wait_committed(&dst, "g", "orders", 50).await;

    // Behind the source (group inactive here, topic still mirrored): raised to the source's.
    commit(&dst, "g", "orders", 30).await;
    wait_committed(&dst, "g", "orders", 50).await;

    // Ahead of the source: left alone, and the task says so.
    commit(&dst, "g", "orders", 80).await;
    wait_rounds(&dst, 3).await;
    assert_eq!(committed(&dst, "g", "orders").await, 80);
    let task = offset_task(&dst).await;
    assert_eq!(task.state, "ACTIVE");
    assert!(
        task.error
            .as_deref()
            .is_some_and(|n| n.contains("g/orders-0") && n.contains("left alone")),
        "{task:?}"
    );

    // A restart between rounds keeps the rule: nothing it remembered is needed.
    dest.shutdown();
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    wait_rounds(&dst, 3).await;
    assert_eq!(
        committed(&dst, "g", "orders").await,
        80,
        "not lowered after a restart"
    );
    // Once the source passes the destination, the source's offset is copied again.
    commit(&src, "g", "orders", 90).await;
    wait_committed(&dst, "g", "orders", 90).await;
    // Clamped at the mirror's log end.
    commit(&src, "g", "orders", 500).await;
    wait_committed(&dst, "g", "orders", 120).await;
    dest.shutdown();
    source.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_carries_the_last_source_commit() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The periodic sync runs once at the start and not again within the test: only the
    // final sync of the promote can carry the commit below.
    let sync = [
        ("consumer.offset.sync.enable", "true"),
        ("consumer.offset.sync.ms", "600000"),
        ("consumer.offset.group.filters", GROUP_G),
    ];
    let (source, dest, src, dst) = mirrored(sd.path(), dd.path(), &sync).await;
    commit(&src, "g", "orders", 70).await;
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec!["orders".into()]),
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
    wait_for("promoted", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, "orders")
                .await
                .is_some_and(|m| m.state == "STOPPED")
        }
    })
    .await;
    assert_eq!(committed(&dst, "g", "orders").await, 70);
    dest.shutdown();
    source.shutdown();
}
