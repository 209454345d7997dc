#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Failback in process: two Strait brokers A and B linked both ways (B's `from-a` mirrors
//! A, A's `from-b` mirrors B). A → B mirror; failover on B; writes on both sides;
//! truncate-and-restore on A removes exactly A's unmirrored records, clamps A's consumer
//! offsets, survives an injected crash after its metadata write (re-run finishes it), and
//! leaves A byte-identical to B; promote A, and the next write continues at B's end.
//! Bad input is refused with nothing changed. Reverse-and-start round trip, and a refusal
//! on a one-way link. The crash hook is process-wide, hence this file's own binary.

mod support;

use strait_client::groups::OffsetToCommit;
use strait_client::Client;
use strait_protocol::admin::*;
use strait_protocol::mirror_admin::*;
use support::*;

const T: &str = "orders";

async fn alter(c: &Client, op: MirrorOp, topic: &str) -> ItemResult {
    let r: AlterMirrorsResponse = admin(
        c,
        &AlterMirrorsRequest {
            op,
            topics: Some(vec![topic.into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    r.results.into_iter().next().unwrap()
}

async fn restore(c: &Client, topic: &str, link: &str) -> RestoreMirrorsResponse {
    admin(
        c,
        &RestoreMirrorsRequest {
            topics: vec![topic.into()],
            link_name: link.into(),
            pause: false,
            validate_only: false,
            timeout_ms: 30_000,
        },
    )
    .await
}

/// The one-line refusal of a restore (request- or topic-level).
fn refusal(r: &RestoreMirrorsResponse) -> String {
    if r.error_code != 0 {
        return r.error_message.clone().unwrap_or_default();
    }
    let x = &r.results[0];
    assert_ne!(x.error_code, 0, "expected a refusal, got {x:?}");
    x.error_message.clone().unwrap_or_default()
}

async fn wait_end(c: &Client, topic: &str, partitions: i32, end: i64) {
    wait_for(&format!("{topic} mirrored to {end}"), || {
        let c = c.clone();
        let topic = topic.to_string();
        async move {
            mirror(&c, &topic).await.is_some_and(|m| {
                m.partitions.len() as i32 == partitions
                    && m.partitions.iter().all(|p| p.log_end_offset == end)
            })
        }
    })
    .await;
}

async fn create_mirror(c: &Client, topic: &str, link: &str) {
    let r: CreateMirrorTopicsResponse = admin(
        c,
        &CreateMirrorTopicsRequest {
            mirrors: vec![NewMirrorTopic {
                mirror_topic: topic.into(),
                link_name: link.into(),
                source_topic: None,
                configs: vec![],
            }],
            validate_only: false,
        },
    )
    .await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
}

async fn commit(c: &Client, group: &str, topic: &str, p: i32, offset: i64) {
    let r = c
        .offset_commit(
            group,
            &[OffsetToCommit {
                topic: topic.into(),
                partition: p,
                offset,
                leader_epoch: -1,
                metadata: None,
            }],
        )
        .await
        .unwrap();
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
}

async fn committed(c: &Client, group: &str, topic: &str, p: i32) -> i64 {
    c.offset_fetch(group, Some(&[(topic, vec![p])]))
        .await
        .unwrap()
        .first()
        .map_or(-1, |o| o.offset)
}

async fn new_topic(c: &Client, name: &str, partitions: i32) {
    c.create_topics(
        &[strait_client::admin::NewTopic::new(name, partitions, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    c.refresh_metadata(&[name]).await.unwrap();
}

/// Starts a broker on `dir` listening on `addr` again (retried while the old socket is
/// released).
async fn restart_on(dir: &std::path::Path, addr: &str) -> strait_broker::RunningBroker {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let overrides = vec![
            format!("listeners=PLAINTEXT://{addr}"),
            format!("log.dirs={}", dir.display()),
        ];
        let config = strait_broker::BrokerConfig::load(None, &overrides).unwrap();
        match strait_broker::RunningBroker::start(config).await {
            Ok(b) => return b,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "restart: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failback_round_trip() {
    let (ad, bd, cd) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut a_broker = start(ad.path()).await;
    let b_broker = start(bd.path()).await;
    let mut a = client(&a_broker).await;
    let b = client(&b_broker).await;
    let fast = [("metadata.max.age.ms", "500")];
    let link = |to: &str| {
        let mut v = vec![("bootstrap.servers", to.to_string())];
        v.extend(fast.iter().map(|(k, x)| (*k, x.to_string())));
        v
    };
    let (addr_a, addr_b) = (addr(&a_broker), addr(&b_broker));
    let la = link(&addr_a);
    let lb = link(&addr_b);
    let la: Vec<(&str, &str)> = la.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lb: Vec<(&str, &str)> = lb.iter().map(|(k, v)| (*k, v.as_str())).collect();
    create_link_with(&b, "from-a", &la).await;
    create_link_with(&a, "from-b", &lb).await;

    // A → B: 10 records per partition, mirrored.
    new_topic(&a, T, 2).await;
    for p in 0..2 {
        a.produce_raw(T, p, batch("a", 5), -1).await.unwrap();
        a.produce_raw(T, p, batch("a", 5), -1).await.unwrap();
    }
    create_mirror(&b, T, "from-a").await;
    wait_end(&b, T, 2, 10).await;

    // Disaster: failover on B; then B takes writes (4 per partition) and A, cut off, takes
    // 3 per partition that were never mirrored.
    assert_eq!(alter(&b, MirrorOp::Failover, T).await.error_code, 0);
    for p in 0..2 {
        b.produce_raw(T, p, batch("b", 4), -1).await.unwrap();
        a.produce_raw(T, p, batch("lost", 3), -1).await.unwrap();
    }
    // A consumer group on A read past the failover point on partition 0.
    commit(&a, "app", T, 0, 12).await;
    commit(&a, "app", T, 1, 7).await;

    // ---- Bad input: one-line refusals, nothing changed.
    let r = restore(&a, T, "no-such-link").await;
    assert!(
        refusal(&r).contains("cluster link 'no-such-link' does not exist"),
        "{r:?}"
    );
    new_topic(&a, "lonely", 1).await;
    let r = restore(&a, "lonely", "from-b").await;
    assert!(
        refusal(&r).contains("does not exist on the source cluster"),
        "{r:?}"
    );
    new_topic(&a, "parts", 1).await;
    new_topic(&b, "parts", 2).await;
    let r = restore(&a, "parts", "from-b").await;
    assert!(refusal(&r).contains("partitions differ"), "{r:?}");
    new_topic(&a, "other", 1).await;
    new_topic(&b, "other", 1).await;
    a.produce_raw("other", 0, batch("x", 5), -1).await.unwrap();
    b.produce_raw("other", 0, batch("y", 5), -1).await.unwrap();
    let r = restore(&a, "other", "from-b").await;
    let why = refusal(&r);
    assert!(why.contains("no common history"), "{why}");
    assert!(!why.contains('\n'), "{why}");
    for t in ["lonely", "parts", "other"] {
        assert!(mirror(&a, t).await.is_none(), "{t} became a mirror");
    }
    // Still a normal, writable topic.
    assert_eq!(
        a.produce_raw("other", 0, batch("x", 1), -1)
            .await
            .unwrap()
            .base_offset,
        5
    );

    // ---- Validate only: the plan, nothing changed.
    let v: RestoreMirrorsResponse = admin(
        &a,
        &RestoreMirrorsRequest {
            topics: vec![T.into()],
            link_name: "from-b".into(),
            validate_only: true,
            timeout_ms: 30_000,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(v.results[0].error_code, 0, "{v:?}");
    assert_eq!(v.results[0].records_truncated(), 6);
    assert!(mirror(&a, T).await.is_none());

    // ---- Crash after the metadata write: A is a read-only PENDING_RESTORE mirror.
    strait_link::manager::restore::set_test_crash_after_metadata(true);
    let r = restore(&a, T, "from-b").await;
    assert!(refusal(&r).contains("injected crash"), "{r:?}");
    strait_link::manager::restore::set_test_crash_after_metadata(false);
    let m = mirror(&a, T).await.unwrap();
    assert_eq!(
        (m.state.as_str(), m.reason.as_deref()),
        ("PAUSED", Some("PENDING_RESTORE"))
    );
    let refused = a.produce_raw(T, 0, batch("late", 1), -1).await;
    assert!(
        refused.is_err(),
        "produce to a restoring mirror: {refused:?}"
    );
    // Other mirror operations refuse it.
    assert_ne!(alter(&a, MirrorOp::Resume, T).await.error_code, 0);
    // A real restart in between: the state and the plan are persisted. Same port, so
    // B's link to A keeps working for the reverse part below.
    a.close().await;
    a_broker.shutdown();
    a_broker = restart_on(ad.path(), &addr_a).await;
    a = client(&a_broker).await;
    let m = mirror(&a, T).await.unwrap();
    assert_eq!(m.reason.as_deref(), Some("PENDING_RESTORE"));
    // An in-process restart leaves the old instance's connection tasks serving B's
    // pooled connections; a new client.id makes B's link reconnect to the new A.
    let r: strait_protocol::link_admin::AlterClusterLinkConfigsResponse = admin(
        &b,
        &strait_protocol::link_admin::AlterClusterLinkConfigsRequest {
            link_name: "from-a".into(),
            ops: vec![strait_protocol::link_admin::LinkConfigOp {
                name: "client.id".into(),
                value: Some("from-a-after-restart".into()),
                op: strait_protocol::link_admin::ConfigOpKind::Set,
            }],
            validate_only: false,
            validate_link: false,
            timeout_ms: 10_000,
        },
    )
    .await;
    assert_eq!(r.error_code, 0, "{r:?}");

    // ---- Re-run: finishes the persisted plan.
    let r = restore(&a, T, "from-b").await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let x = &r.results[0];
    assert_eq!(x.error_code, 0, "{x:?}");
    assert_eq!(x.state, "ACTIVE");
    for p in &x.partitions {
        assert_eq!(
            (
                p.offset_truncated_to,
                p.previous_end_offset,
                p.records_truncated
            ),
            (10, 13, 3),
            "{p:?}"
        );
    }
    assert_eq!(
        x.clamped_offsets,
        vec![ClampedOffset {
            group: "app".into(),
            partition: 0,
            from: 12,
            to: 10
        }]
    );
    assert_eq!(committed(&a, "app", T, 0).await, 10);
    assert_eq!(committed(&a, "app", T, 1).await, 7);
    println!(
        "truncate-and-restore {T}: {:?}, clamped {:?}",
        x.partitions, x.clamped_offsets
    );

    // ---- A mirrors B from the divergence point: identical bytes and offsets.
    wait_end(&a, T, 2, 14).await;
    for p in 0..2 {
        let (ours, theirs) = (raw_log(&a, T, p).await, raw_log(&b, T, p).await);
        assert!(!ours.is_empty());
        assert_eq!(ours, theirs, "partition {p} differs from B");
    }
    // Already a mirror now: refused.
    let r = restore(&a, T, "from-b").await;
    assert!(refusal(&r).contains("already a mirror"), "{r:?}");

    // ---- Promote A: the next write continues at B's end offset.
    assert_eq!(alter(&a, MirrorOp::Promote, T).await.error_code, 0);
    wait_for("A promoted", || {
        let a = a.clone();
        async move { mirror(&a, T).await.is_some_and(|m| m.state == "STOPPED") }
    })
    .await;
    let next = a.produce_raw(T, 0, batch("back", 1), -1).await.unwrap();
    assert_eq!(next.base_offset, 14);

    // ---- And back again: B (a failed-over mirror of A, now behind) restores from A. Both
    // topics carry each other's ids, B's epochs are a prefix of A's: nothing to remove.
    let r = restore(&b, T, "from-a").await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let x = &r.results[0];
    assert_eq!(x.error_code, 0, "{x:?}");
    assert!(
        x.partitions
            .iter()
            .all(|p| (p.offset_truncated_to, p.records_truncated) == (14, 0)),
        "{x:?}"
    );
    wait_for("B mirrors A's new record", || {
        let b = b.clone();
        async move {
            mirror(&b, T)
                .await
                .is_some_and(|m| m.partitions[0].log_end_offset == 15)
        }
    })
    .await;
    for p in 0..2 {
        assert_eq!(raw_log(&a, T, p).await, raw_log(&b, T, p).await);
    }

    // ---- Reverse-and-start: B mirrors "rev" from A; B takes over and A mirrors B.
    new_topic(&a, "rev", 1).await;
    a.produce_raw("rev", 0, batch("r", 6), -1).await.unwrap();
    create_mirror(&b, "rev", "from-a").await;
    wait_end(&b, "rev", 1, 6).await;
    let r: ReverseMirrorsResponse = admin(
        &b,
        &ReverseMirrorsRequest {
            topics: vec!["rev".into()],
            link_name: "from-a".into(),
            timeout_ms: 30_000,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let x = &r.results[0];
    assert_eq!(x.error_code, 0, "{x:?}");
    assert_eq!(x.remote_link_name, "from-b");
    assert_eq!(x.local_end_offsets, vec![6]);
    assert_eq!(x.remote.state, "ACTIVE");
    assert_eq!(x.remote.partitions[0].offset_truncated_to, 6);
    assert_eq!(x.remote.partitions[0].records_truncated, 0);
    assert_eq!(mirror(&b, "rev").await.unwrap().state, "STOPPED");
    assert_eq!(
        b.produce_raw("rev", 0, batch("r2", 1), -1)
            .await
            .unwrap()
            .base_offset,
        6
    );
    wait_end(&a, "rev", 1, 7).await;
    assert_eq!(raw_log(&a, "rev", 0).await, raw_log(&b, "rev", 0).await);
    println!("reverse-and-start rev: {x:?}");

    // ---- Reverse over a one-way link: C has no link back to A.
    let c_broker = start(cd.path()).await;
    let c = client(&c_broker).await;
    new_topic(&c, "solo", 1).await;
    c.produce_raw("solo", 0, batch("s", 2), -1).await.unwrap();
    let addr_c = addr(&c_broker);
    create_link_with(&a, "from-c", &[("bootstrap.servers", addr_c.as_str())]).await;
    create_mirror(&a, "solo", "from-c").await;
    wait_end(&a, "solo", 1, 2).await;
    let r: ReverseMirrorsResponse = admin(
        &a,
        &ReverseMirrorsRequest {
            topics: vec!["solo".into()],
            link_name: "from-c".into(),
            timeout_ms: 30_000,
            ..Default::default()
        },
    )
    .await;
    assert_ne!(r.error_code, 0, "{r:?}");
    let why = r.error_message.unwrap_or_default();
    assert!(why.contains("is one-way"), "{why}");
    assert_eq!(mirror(&a, "solo").await.unwrap().state, "ACTIVE");

    c_broker.shutdown();
    a_broker.shutdown();
    b_broker.shutdown();
}
