#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! `link.mode=BIDIRECTIONAL` in process: two Strait brokers A and B with one link name on
//! both sides, each pulling from the other with auto-create `*`. With prefixes (`a.` on B,
//! `b.` on A) each side gets the other's topics renamed and byte-identical, and after many
//! discovery rounds the topic sets are exactly {orders, b.payments} / {payments, a.orders}
//! (no `b.a.orders`). Without prefixes A's `orders` reaches B and is never mirrored back
//! (nor reported as shadowed). The first side of a pair shows REMOTE_LINK_NOT_FOUND_ERROR
//! until the second exists; a peer link that cannot be the other half refuses the create;
//! an explicit mirror create of a loop is refused with nothing created; reverse-and-start
//! finds the peer link by the link's own name. A source whose ACLs hide its mirrors gets
//! no new mirrors until the link's principal may describe the cluster.

mod support;

use std::collections::BTreeSet;

use strait_client::acls::{AclBinding, AclOperation, ResourceType};
use strait_client::Client;
use strait_protocol::admin::*;
use support::*;

/// The configs of one side of a BIDIRECTIONAL pair pulling from `peer`.
fn bidi(peer: &str, prefix: Option<&str>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("bootstrap.servers", peer),
        ("link.mode", "BIDIRECTIONAL"),
        ("auto.create.mirror.topics.enable", "true"),
        ("auto.create.mirror.topics.filters", ALL),
        ("metadata.max.age.ms", "200"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(p) = prefix {
        v.push(("cluster.link.prefix".into(), p.into()));
    }
    v
}

/// CreateClusterLinks: (error code, message), 0 when created.
async fn create(c: &Client, name: &str, configs: &[(String, String)]) -> (i16, String) {
    try_create_link(c, name, configs)
        .await
        .err()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_with_prefixes_has_no_loops() {
    let (ad, bd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a_broker = start(ad.path()).await;
    let b_broker = start(bd.path()).await;
    let (a, b) = (client(&a_broker).await, client(&b_broker).await);
    let (addr_a, addr_b) = (addr(&a_broker), addr(&b_broker));
    new_topic(&a, "orders", 2).await;
    new_topic(&b, "payments", 1).await;
    for p in 0..2 {
        a.produce_raw("orders", p, batch("o", 5), -1).await.unwrap();
    }
    b.produce_raw("payments", 0, lz4_batch("p", 7), -1)
        .await
        .unwrap();

    // The first side of the pair: accepted, mirrors, and says its other half is missing.
    let (code, msg) = create(&a, "ab", &bidi(&addr_b, Some("b."))).await;
    assert_eq!(code, 0, "{msg}");
    wait_task(&a, "ab", "bidirectional_peer", "peer missing", |t| {
        t.state == "IN_ERROR"
            && t.error
                .as_deref()
                .is_some_and(|e| e.starts_with("REMOTE_LINK_NOT_FOUND_ERROR: "))
    })
    .await;
    // The second side pairs them.
    let (code, msg) = create(&b, "ab", &bidi(&addr_a, Some("a."))).await;
    assert_eq!(code, 0, "{msg}");
    for (c, other) in [(&a, "b."), (&b, "a.")] {
        wait_task(c, "ab", "bidirectional_peer", "paired", |t| {
            t.state == "ACTIVE"
                && t.error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("ACTIVE: "))
        })
        .await;
        let l = link_listing(c, "ab").await;
        let mode = l.configs.iter().find(|x| x.name == "link.mode").unwrap();
        assert_eq!(mode.value.as_deref(), Some("BIDIRECTIONAL"), "{other}");
    }

    wait_mirror_end(&b, "a.orders", 5).await;
    wait_mirror_end(&a, "b.payments", 7).await;
    for p in 0..2 {
        assert_eq!(
            raw_log(&a, "orders", p).await,
            raw_log(&b, "a.orders", p).await
        );
    }
    assert_eq!(
        raw_log(&b, "payments", 0).await,
        raw_log(&a, "b.payments", 0).await
    );

    // Many discovery rounds later nothing was mirrored back.
    wait_rounds(&a, "ab", 6).await;
    wait_rounds(&b, "ab", 6).await;
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(topics(&a).await, set(&["orders", "b.payments"]));
    assert_eq!(topics(&b).await, set(&["payments", "a.orders"]));
    let skipped = task(&link_listing(&a, "ab").await, "loop_prevention").unwrap();
    assert!(
        skipped
            .error
            .as_deref()
            .is_some_and(|e| e.contains("a.orders")),
        "{skipped:?}"
    );
    // The gauge counts what the pass skipped (the note is for humans).
    let mut metrics = String::new();
    a_broker
        .broker
        .links()
        .unwrap()
        .render_metrics(&mut metrics);
    assert!(
        metrics.contains("strait_cluster_link_loop_skipped_topics{link=\"ab\"} 1\n"),
        "{metrics}"
    );

    // An explicit create of the loop is refused, nothing created.
    let r = create_mirror(&a, "b.a.orders", "ab").await;
    let why = r.error_message.clone().unwrap_or_default();
    assert_eq!(
        r.error_code,
        strait_protocol::ErrorCode::InvalidRequest.code(),
        "{why}"
    );
    assert!(
        why.contains("would make a loop") && !why.contains('\n'),
        "{why}"
    );
    assert!(!topics(&a).await.contains("b.a.orders"));

    a_broker.shutdown();
    b_broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_without_prefixes_and_reverse() {
    let (ad, bd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a_broker = start(ad.path()).await;
    let b_broker = start(bd.path()).await;
    let (a, b) = (client(&a_broker).await, client(&b_broker).await);
    let (addr_a, addr_b) = (addr(&a_broker), addr(&b_broker));

    // A peer link of the same name that is not BIDIRECTIONAL refuses the create.
    let (code, _) = create(
        &b,
        "oneway",
        &[("bootstrap.servers".into(), addr_a.clone())],
    )
    .await;
    assert_eq!(code, 0);
    let (code, msg) = create(&a, "oneway", &bidi(&addr_b, None)).await;
    assert_eq!(
        code,
        strait_protocol::ErrorCode::InvalidConfig.code(),
        "{msg}"
    );
    assert!(
        msg.contains("link.mode=DESTINATION") && !msg.contains('\n'),
        "{msg}"
    );
    let r: ListClusterLinksResponse = admin(&a, &ListClusterLinksRequest::default()).await;
    assert!(r.links.is_empty(), "nothing created: {r:?}");

    new_topic(&a, "orders", 1).await;
    a.produce_raw("orders", 0, batch("o", 4), -1).await.unwrap();
    let (code, msg) = create(&b, "pair", &bidi(&addr_a, None)).await;
    assert_eq!(code, 0, "{msg}");
    let (code, msg) = create(&a, "pair", &bidi(&addr_b, None)).await;
    assert_eq!(code, 0, "{msg}");
    wait_mirror_end(&b, "orders", 4).await;
    assert_eq!(
        raw_log(&a, "orders", 0).await,
        raw_log(&b, "orders", 0).await
    );

    // B's `orders` is a mirror of A: A never mirrors it back, and does not call its own
    // `orders` a shadow of it either.
    wait_rounds(&a, "pair", 6).await;
    let l = link_listing(&a, "pair").await;
    let skipped = task(&l, "loop_prevention").unwrap();
    assert!(
        skipped
            .error
            .as_deref()
            .is_some_and(|e| e.contains("orders")),
        "{skipped:?}"
    );
    assert!(
        !l.tasks.iter().any(|t| t
            .error
            .as_deref()
            .is_some_and(|e| e.contains("TOPIC_EXISTS_ERROR"))),
        "{l:?}"
    );
    assert!(
        mirror(&a, "orders").await.is_none(),
        "A's orders became a mirror"
    );
    assert_eq!(topics(&a).await, topics(&b).await);

    // Reverse-and-start on B over the bidirectional link: no remote link named.
    let x = reverse_ok(&b, "orders", "pair").await;
    assert_eq!(x.remote_link_name, "pair");
    assert_eq!(mirror(&b, "orders").await.unwrap().state, "STOPPED");
    b.produce_raw("orders", 0, batch("b", 2), -1).await.unwrap();
    wait_mirror_end(&a, "orders", 6).await;
    assert_eq!(
        raw_log(&a, "orders", 0).await,
        raw_log(&b, "orders", 0).await
    );
    // Now A's `orders` is the mirror (of B): B's link must not mirror it back.
    wait_rounds(&b, "pair", 6).await;
    assert!(mirror(&b, "orders")
        .await
        .is_some_and(|m| m.state == "STOPPED"));
    assert_eq!(topics(&b).await.len(), 1);

    a_broker.shutdown();
    b_broker.shutdown();
}

fn allow(rt: ResourceType, name: &str, op: AclOperation) -> AclBinding {
    allow_acl("User:linker", rt, name, op)
}

/// A Strait source that will not say which of its topics are mirrors (the link's principal
/// lacks DESCRIBE on the cluster): auto-create makes nothing and says why, until granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_hides_its_mirrors_gets_no_new_mirrors() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let overrides = sasl_acl_overrides(
        "SASL_PLAINTEXT://127.0.0.1:0",
        &[("linker", "linker-secret")],
    );
    let source = start_with(sd.path(), &overrides).await;
    let dest = start(dd.path()).await;
    let source_addr = addr(&source);
    let src = Client::connect(&client_config(&plain_login(
        &source_addr,
        "admin",
        "admin-secret",
    )))
    .await
    .unwrap();
    new_topic(&src, "orders", 1).await;
    src.produce_raw("orders", 0, batch("o", 3), -1)
        .await
        .unwrap();
    let topic_acls: Vec<_> = [
        AclOperation::Read,
        AclOperation::Describe,
        AclOperation::DescribeConfigs,
    ]
    .into_iter()
    .map(|op| allow(ResourceType::Topic, "orders", op))
    .collect();
    let created = src.create_acls(&topic_acls).await.unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let dst = client(&dest).await;
    let mut link = plain_login(&source_addr, "linker", "linker-secret");
    link.extend(
        [
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("metadata.max.age.ms", "200"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let (code, msg) = create(&dst, "sec", &link).await;
    assert_eq!(code, 0, "{msg}");
    wait_task(&dst, "sec", "loop_prevention", "the refusal", |t| {
        t.state == "IN_ERROR"
            && t.error
                .as_deref()
                .is_some_and(|e| e.contains("DESCRIBE on the source cluster") && !e.contains('\n'))
    })
    .await;
    assert!(mirror(&dst, "orders").await.is_none(), "created blind");

    let created = src
        .create_acls(&[allow(
            ResourceType::Cluster,
            "kafka-cluster",
            AclOperation::Describe,
        )])
        .await
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    wait_mirror_end(&dst, "orders", 3).await;
    assert_eq!(
        raw_log(&src, "orders", 0).await,
        raw_log(&dst, "orders", 0).await
    );
    let t = task(&link_listing(&dst, "sec").await, "loop_prevention").unwrap();
    assert_eq!(t.state, "ACTIVE", "{t:?}");
    source.shutdown();
    dest.shutdown();
}
