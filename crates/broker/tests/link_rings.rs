#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Loop prevention over whole origin chains, in process: three Strait brokers A, B, C in a
//! ring of DESTINATION links with prefixes (A -> B as `a.`, B -> C as `b.`, C -> A as `c.`),
//! each with auto-create `*`. A's `orders` reaches B as `a.orders` (chain [A]) and C as
//! `b.a.orders` (chain [A, B]); after many discovery rounds A still has no `c.b.a.orders`,
//! and C's `payments` goes round to B as `a.c.payments` but never back to C. An explicit
//! create of the loop is refused with the chain in the message.

mod support;

use std::collections::BTreeSet;

use strait_client::Client;
use strait_protocol::admin::*;
use support::*;

async fn cluster_id(c: &Client) -> String {
    c.refresh_all_metadata()
        .await
        .unwrap()
        .cluster_id
        .clone()
        .unwrap()
}

fn loop_task(l: &ClusterLinkListing) -> Option<LinkTask> {
    task(l, "loop_prevention")
}

/// A link on the client's cluster pulling from `source` with auto-create `*`.
async fn ring_link(dst: &Client, name: &str, source: &str, prefix: &str) {
    create_link_with(
        dst,
        name,
        &[
            ("bootstrap.servers", source),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("cluster.link.prefix", prefix),
            ("metadata.max.age.ms", "200"),
        ],
    )
    .await;
}

/// Waits until `topic` on `c` is a mirror with `end` records and a known origin chain.
async fn wait_chained(c: &Client, topic: &str, end: i64) -> MirrorDescription {
    wait_mirror(c, topic, &format!("{topic} to reach {end}"), |m| {
        m.origin_cluster_ids.is_some() && m.partitions.iter().all(|p| p.log_end_offset == end)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_three_never_copies_data_home() {
    let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
    let (ab, bb, cb) = (
        start(dirs[0].path()).await,
        start(dirs[1].path()).await,
        start(dirs[2].path()).await,
    );
    let (a, b, c) = (client(&ab).await, client(&bb).await, client(&cb).await);
    let (id_a, id_b, id_c) = (
        cluster_id(&a).await,
        cluster_id(&b).await,
        cluster_id(&c).await,
    );
    assert!(id_a != id_b && id_b != id_c && id_a != id_c);
    new_topic(&a, "orders", 1).await;
    a.produce_raw("orders", 0, batch("o", 5), -1).await.unwrap();
    new_topic(&c, "payments", 1).await;
    c.produce_raw("payments", 0, lz4_batch("p", 3), -1)
        .await
        .unwrap();

    ring_link(&b, "ab", &addr(&ab), "a.").await;
    ring_link(&c, "bc", &addr(&bb), "b.").await;
    ring_link(&a, "ca", &addr(&cb), "c.").await;

    // Data that did not come from a cluster reaches it, byte for byte, with its chain.
    let m = wait_chained(&b, "a.orders", 5).await;
    assert_eq!(m.origin_cluster_ids, Some(vec![id_a.clone()]));
    let m = wait_chained(&c, "b.a.orders", 5).await;
    assert_eq!(m.origin_cluster_ids, Some(vec![id_a.clone(), id_b.clone()]));
    let m = wait_chained(&a, "c.payments", 3).await;
    assert_eq!(m.origin_cluster_ids, Some(vec![id_c.clone()]));
    let m = wait_chained(&b, "a.c.payments", 3).await;
    assert_eq!(m.origin_cluster_ids, Some(vec![id_c.clone(), id_a.clone()]));
    assert_eq!(
        raw_log(&a, "orders", 0).await,
        raw_log(&c, "b.a.orders", 0).await
    );
    assert_eq!(
        raw_log(&c, "payments", 0).await,
        raw_log(&b, "a.c.payments", 0).await
    );

    // Many discovery rounds of every link later, nothing came home.
    for (cl, link) in [(&a, "ca"), (&b, "ab"), (&c, "bc")] {
        wait_rounds(cl, link, 6).await;
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(topics(&a).await, set(&["orders", "c.payments"]));
    assert_eq!(topics(&b).await, set(&["a.orders", "a.c.payments"]));
    assert_eq!(topics(&c).await, set(&["payments", "b.a.orders"]));
    let skipped = loop_task(&link_listing(&a, "ca").await).unwrap();
    assert!(
        skipped
            .error
            .as_deref()
            .is_some_and(|e| e.contains("b.a.orders")),
        "{skipped:?}"
    );
    let skipped = loop_task(&link_listing(&c, "bc").await).unwrap();
    assert!(
        skipped
            .error
            .as_deref()
            .is_some_and(|e| e.contains("a.c.payments")),
        "{skipped:?}"
    );

    // An explicit create of the loop is refused with the chain, nothing created.
    let r = create_mirror(&a, "c.b.a.orders", "ca").await;
    let why = r.error_message.clone().unwrap_or_default();
    assert_eq!(
        r.error_code,
        strait_protocol::ErrorCode::InvalidRequest.code(),
        "{why}"
    );
    assert!(why.contains(&format!("{id_a} -> {id_b}")), "{why}");
    assert!(!why.contains('\n'), "{why}");
    assert!(!topics(&a).await.contains("c.b.a.orders"));
}
