#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Cluster links end to end, in process: a source Strait broker and a destination Strait
//! broker, each on its own port and directory, the link created through the private admin
//! API exactly as the CLI sends it. Raw batches fetched from source and mirror must be the
//! same bytes at the same offsets. The link config tests (`num.cluster.link.fetchers`,
//! availability checks, `cluster.link.retry.timeout.ms`, refused keys) each fail if their
//! key had no effect; the source sits behind [`proxy::Proxy`] so a test can see the link's
//! connections and take the source away.

#[path = "link/proxy.rs"]
mod proxy;

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use strait_broker::RunningBroker;
use strait_client::Client;
use strait_protocol::admin::*;
use strait_records::record::BatchBuilder;
use strait_records::Compression;
use support::link_listing as link;
use support::lz4_batch as batch;
use support::*;

/// A source broker reachable only through `proxy` (which it advertises).
async fn start_behind(dir: &std::path::Path, proxy: &proxy::Proxy) -> RunningBroker {
    let b = start_with(
        dir,
        &[format!("advertised.listeners=PLAINTEXT://{}", proxy.addr)],
    )
    .await;
    proxy.up(&addr(&b));
    b
}

fn link_request(name: &str, source: &str, extra: &[(&str, &str)]) -> CreateClusterLinksRequest {
    let mut configs = vec![
        ("bootstrap.servers", source),
        ("metadata.max.age.ms", "500"),
    ];
    configs.extend_from_slice(extra);
    support::link_request(name, &configs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_is_byte_identical_read_only_and_promotable() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let src = client(&source).await;
    let dst = client(&dest).await;

    src.create_topics(
        &[strait_client::admin::NewTopic::new("orders", 3, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&["orders"]).await.unwrap();
    // Every codec, an idempotent producer, several partitions.
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (i, codec) in codecs.iter().enumerate() {
        for partition in 0..3 {
            let mut b = BatchBuilder::new(0).compression(*codec).producer(
                1000 + partition as i64,
                0,
                i as i32 * 10,
            );
            for r in 0..10 {
                b = b.append(
                    1_700_000_000_000 + r,
                    Some(format!("k{r}").as_bytes()),
                    Some(format!("v{i}-{r}").as_bytes()),
                );
            }
            src.produce_raw("orders", partition, Bytes::from(b.build().unwrap()), -1)
                .await
                .unwrap();
        }
    }

    let filters =
        r#"{"topicFilters":[{"name":"orders","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;
    let resp: CreateClusterLinksResponse = admin(
        &dst,
        &link_request(
            "link-a",
            &addr(&source),
            &[
                ("auto.create.mirror.topics.enable", "true"),
                ("auto.create.mirror.topics.filters", filters),
            ],
        ),
    )
    .await;
    assert_eq!(
        resp.results[0].error_code, 0,
        "{:?}",
        resp.results[0].error_message
    );

    let describe = |dst: Client| async move {
        let r: DescribeMirrorsResponse = admin(
            &dst,
            &DescribeMirrorsRequest {
                topics: Some(vec!["orders".into()]),
                include_partitions: true,
                ..Default::default()
            },
        )
        .await;
        r
    };
    wait_for("mirror to catch up", || {
        let dst = dst.clone();
        async move {
            let r = describe(dst).await;
            r.mirrors.first().is_some_and(|m| {
                m.partitions.len() == 3
                    && m.partitions
                        .iter()
                        .all(|p| p.lag == 0 && p.log_end_offset == 50)
            })
        }
    })
    .await;
    for p in 0..3 {
        let a = raw_log(&src, "orders", p).await;
        let b = raw_log(&dst, "orders", p).await;
        assert!(!a.is_empty());
        assert_eq!(a, b, "partition {p}: mirror bytes differ from source");
    }

    // Read-only while mirroring.
    let batch = Bytes::from(
        BatchBuilder::new(0)
            .append(1, None, Some(b"x"))
            .build()
            .unwrap(),
    );
    let err = dst
        .produce_raw("orders", 0, batch.clone(), -1)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("link-a"),
        "error must name the link: {err}"
    );

    // New source data keeps flowing.
    src.produce_raw(
        "orders",
        1,
        Bytes::from(
            BatchBuilder::new(0)
                .append(2, None, Some(b"late"))
                .build()
                .unwrap(),
        ),
        -1,
    )
    .await
    .unwrap();
    wait_for("late record", || {
        let dst = dst.clone();
        async move { describe(dst).await.mirrors[0].partitions[1].log_end_offset == 51 }
    })
    .await;

    // Promote: PENDING_STOPPED until caught up, then STOPPED and writable.
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
    wait_for("promotion", || {
        let dst = dst.clone();
        async move { describe(dst).await.mirrors[0].state == "STOPPED" }
    })
    .await;
    // The promoted partitions' leader epochs are above every mirrored epoch, and producer
    // ids are allocated above every producer id in the mirrored data (1000..=1002).
    let md = dst.refresh_metadata(&["orders"]).await.unwrap();
    let src_md = src.refresh_metadata(&["orders"]).await.unwrap();
    for p in 0..3 {
        let dest_epoch = md.topic("orders").unwrap().partitions[&p].leader_epoch;
        let source_epoch = src_md.topic("orders").unwrap().partitions[&p].leader_epoch;
        assert!(
            dest_epoch > source_epoch,
            "partition {p}: destination epoch {dest_epoch} must exceed the mirrored epoch {source_epoch}"
        );
    }
    let init = kafka_protocol::messages::InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(kafka_protocol::messages::ProducerId(-1))
        .with_producer_epoch(-1);
    let pid = dst
        .any_broker()
        .await
        .unwrap()
        .send(&init, 4)
        .await
        .unwrap();
    assert!(
        pid.producer_id.0 > 1002,
        "producer id {} collides with mirrored producer ids",
        pid.producer_id.0
    );
    let produced = dst.produce_raw("orders", 0, batch, -1).await.unwrap();
    assert_eq!(
        produced.base_offset, 50,
        "new offsets continue right after the mirrored ones"
    );

    // Deleting the link is refused while... nothing is active now, so it succeeds.
    let del: DeleteClusterLinksResponse = admin(
        &dst,
        &DeleteClusterLinksRequest {
            names: vec!["link-a".into()],
            validate_only: false,
            force: false,
        },
    )
    .await;
    assert_eq!(
        del.results[0].error_code, 0,
        "{:?}",
        del.results[0].error_message
    );
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_link_requests_leave_nothing_behind() {
    let dd = tempfile::tempdir().unwrap();
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    // Unknown key.
    let r: CreateClusterLinksResponse = admin(
        &dst,
        &link_request("l", "127.0.0.1:1", &[("fetch.speed", "fast")]),
    )
    .await;
    assert_ne!(r.results[0].error_code, 0);
    assert!(r.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("fetch.speed"));
    // Malformed filter.
    let r: CreateClusterLinksResponse = admin(
        &dst,
        &link_request(
            "l",
            "127.0.0.1:1",
            &[(
                "auto.create.mirror.topics.filters",
                "{\"topicFilters\":[{\"nam\":\"x\"}]}",
            )],
        ),
    )
    .await;
    assert!(r.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("auto.create.mirror.topics.filters"));
    // Unreachable source (port 1 refuses).
    let r: CreateClusterLinksResponse = admin(&dst, &link_request("l", "127.0.0.1:1", &[])).await;
    assert_ne!(r.results[0].error_code, 0);
    let listed: ListClusterLinksResponse = admin(&dst, &ListClusterLinksRequest::default()).await;
    assert!(
        listed.links.is_empty(),
        "a refused create must not persist anything"
    );
    // Deleting an unknown link; promoting a non-mirror.
    let del: DeleteClusterLinksResponse = admin(
        &dst,
        &DeleteClusterLinksRequest {
            names: vec!["nope".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(del.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("does not exist"));
    dst.create_topics(
        &[strait_client::admin::NewTopic::new("plain", 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec!["plain".into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert!(r.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("not a mirror"));
    dest.shutdown();
}

async fn create_link(dst: &Client, name: &str, source: &str, extra: &[(&str, &str)]) {
    let resp: CreateClusterLinksResponse = admin(dst, &link_request(name, source, extra)).await;
    assert_eq!(
        resp.results[0].error_code, 0,
        "{:?}",
        resp.results[0].error_message
    );
}

/// Waits until every partition of mirror `topic` has `leo` as its log end offset.
async fn wait_caught_up(dst: &Client, topic: &str, partitions: usize, leo: i64) {
    wait_for(&format!("{topic} at {leo}"), || {
        let dst = dst.clone();
        async move {
            mirror(&dst, topic).await.is_some_and(|m| {
                m.state == "ACTIVE"
                    && m.partitions.len() == partitions
                    && m.partitions
                        .iter()
                        .all(|p| p.log_end_offset == leo && p.lag == 0)
            })
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn num_cluster_link_fetchers_spreads_partitions_over_sessions() {
    let (sd, d3, d1) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let proxy = proxy::Proxy::start().await;
    let source = start_behind(sd.path(), &proxy).await;
    let (dest3, dest1) = (start(d3.path()).await, start(d1.path()).await);
    let src = client(&source).await;
    let (dst3, dst1) = (client(&dest3).await, client(&dest1).await);
    src.create_topics(
        &[strait_client::admin::NewTopic::new("spread", 6, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&["spread"]).await.unwrap();
    for p in 0..6 {
        for round in 0..3 {
            src.produce_raw("spread", p, batch(&format!("p{p}r{round}"), 4), -1)
                .await
                .unwrap();
        }
    }
    let common = [
        ("auto.create.mirror.topics.enable", "true"),
        ("auto.create.mirror.topics.filters", ALL),
    ];
    let mut three = common.to_vec();
    three.extend([("num.cluster.link.fetchers", "3"), ("client.id", "n3")]);
    create_link(&dst3, "l3", &proxy.addr, &three).await;
    let mut one = common.to_vec();
    one.push(("client.id", "n1"));
    create_link(&dst1, "l1", &proxy.addr, &one).await;
    wait_caught_up(&dst3, "spread", 6, 12).await;
    wait_caught_up(&dst1, "spread", 6, 12).await;
    assert_identical(&src, &dst3, "spread", 6).await;
    assert_identical(&src, &dst1, "spread", 6).await;

    // New data is spread over the same sessions and arrives intact.
    for p in 0..6 {
        src.produce_raw("spread", p, batch("late", 2), -1)
            .await
            .unwrap();
    }
    wait_caught_up(&dst3, "spread", 6, 14).await;
    assert_identical(&src, &dst3, "spread", 6).await;

    let fetching = |id: &str| -> Vec<proxy::ConnInfo> {
        proxy
            .connections()
            .into_iter()
            .filter(|c| c.client_id.as_deref() == Some(id) && c.fetches > 0)
            .collect()
    };
    let n3 = fetching("n3");
    assert_eq!(
        n3.len(),
        3,
        "num.cluster.link.fetchers=3: one fetch connection per fetcher: {n3:?}"
    );
    let sessions: std::collections::BTreeSet<i32> =
        n3.iter().flat_map(|c| c.sessions.iter().copied()).collect();
    assert!(n3.iter().all(|c| !c.sessions.is_empty()), "{n3:?}");
    assert_eq!(sessions.len(), 3, "one fetch session per fetcher: {n3:?}");
    let n1 = fetching("n1");
    assert_eq!(
        n1.len(),
        1,
        "the default is one fetcher per source broker: {n1:?}"
    );
    let listed = link(&dst3, "l3").await;
    let shown = |k: &str| {
        listed
            .configs
            .iter()
            .find(|c| c.name == k)
            .and_then(|c| c.value.clone())
    };
    assert_eq!(shown("num.cluster.link.fetchers").as_deref(), Some("3"));
    assert_eq!(
        shown("cluster.link.retry.timeout.ms").as_deref(),
        Some("300000")
    );
    for b in [source, dest3, dest1] {
        b.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_checks_drive_source_unavailable_and_recovery() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = proxy::Proxy::start().await;
    let source = start_behind(sd.path(), &proxy).await;
    let dest = start(dd.path()).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new("steady", 2, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&["steady"]).await.unwrap();
    for p in 0..2 {
        src.produce_raw("steady", p, batch("before", 5), -1)
            .await
            .unwrap();
    }
    let (check_ms, threshold) = (400u64, 4u64);
    create_link(
        &dst,
        "l",
        &proxy.addr,
        &[
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("availability.check.ms", "400"),
            ("availability.check.consecutive.failure.threshold", "4"),
            ("retry.backoff.max.ms", "200"),
        ],
    )
    .await;
    wait_caught_up(&dst, "steady", 2, 5).await;
    assert_eq!(link(&dst, "l").await.state, "ACTIVE");

    // The source stops.
    source.shutdown();
    proxy.down();
    let stopped = Instant::now();
    wait_for("SOURCE_UNAVAILABLE", || {
        let dst = dst.clone();
        async move { mirror(&dst, "steady").await.unwrap().state == "SOURCE_UNAVAILABLE" }
    })
    .await;
    let took = stopped.elapsed();
    // `threshold` failures in a row take at least threshold-1 intervals; one check may have
    // failed already (slow under load) or been in flight when the source stopped.
    let floor = Duration::from_millis(check_ms * (threshold - 2));
    assert!(
        took >= floor,
        "SOURCE_UNAVAILABLE after {took:?}, before {threshold} checks {check_ms} ms apart could fail"
    );
    // Generous for a loaded machine, far below the defaults (5 checks 60 s apart).
    assert!(
        took < Duration::from_secs(20),
        "SOURCE_UNAVAILABLE only after {took:?}"
    );
    let m = mirror(&dst, "steady").await.unwrap();
    assert!(
        m.reason.is_some(),
        "SOURCE_UNAVAILABLE carries the reason: {m:?}"
    );
    let l = link(&dst, "l").await;
    assert_eq!(l.state, "UNAVAILABLE");
    assert!(l.error.is_some(), "{l:?}");
    assert!(
        l.error_message
            .as_deref()
            .is_some_and(|m| m.contains("availability.check.consecutive.failure.threshold=4")),
        "{l:?}"
    );
    assert_eq!(l.sync_status, "OUT_OF_SYNC");

    // The source comes back (same data directory, same advertised address).
    let source = start_behind(sd.path(), &proxy).await;
    let src = client(&source).await;
    src.refresh_metadata(&["steady"]).await.unwrap();
    for p in 0..2 {
        src.produce_raw("steady", p, batch("after", 3), -1)
            .await
            .unwrap();
    }
    wait_caught_up(&dst, "steady", 2, 8).await;
    assert_eq!(link(&dst, "l").await.state, "ACTIVE");
    let m = mirror(&dst, "steady").await.unwrap();
    assert!(m.reason.is_none(), "{m:?}");
    assert_identical(&src, &dst, "steady", 2).await;
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_timeout_bounds_how_long_a_missing_source_topic_is_retried() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    for t in ["doomed", "kept"] {
        src.create_topics(
            &[strait_client::admin::NewTopic::new(t, 1, 1)],
            10_000,
            false,
        )
        .await
        .unwrap();
        src.refresh_metadata(&[t]).await.unwrap();
        src.produce_raw(t, 0, batch(t, 5), -1).await.unwrap();
    }
    let timeout_ms = 2000u64;
    create_link(
        &dst,
        "l",
        &addr(&source),
        &[
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("cluster.link.retry.timeout.ms", "2000"),
            ("metadata.max.age.ms", "200"),
            ("replica.fetch.backoff.ms", "100"),
        ],
    )
    .await;
    wait_caught_up(&dst, "doomed", 1, 5).await;
    wait_caught_up(&dst, "kept", 1, 5).await;

    src.delete_topics(&["doomed"], 10_000).await.unwrap();
    let deleted = Instant::now();
    // While the deleted topic is being retried, the other mirror keeps flowing.
    src.refresh_metadata(&["kept"]).await.unwrap();
    src.produce_raw("kept", 0, batch("more", 2), -1)
        .await
        .unwrap();
    wait_caught_up(&dst, "kept", 1, 7).await;
    wait_for("doomed -> FAILED", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, "doomed")
                .await
                .is_some_and(|m| m.state == "FAILED")
        }
    })
    .await;
    let took = deleted.elapsed();
    assert!(
        took >= Duration::from_millis(timeout_ms),
        "FAILED after {took:?}, before cluster.link.retry.timeout.ms={timeout_ms}"
    );
    assert!(took < Duration::from_secs(30), "FAILED only after {took:?}");
    let m = mirror(&dst, "doomed").await.unwrap();
    assert_eq!(m.reason.as_deref(), Some("SOURCE_TOPIC_MAY_BE_DELETED"));
    assert!(
        m.reason_message
            .as_deref()
            .is_some_and(|t| t.contains("cluster.link.retry.timeout.ms=2000")),
        "{m:?}"
    );
    // The failed mirror keeps what it had.
    assert_eq!(m.partitions[0].log_end_offset, 5);
    assert_eq!(mirror(&dst, "kept").await.unwrap().state, "ACTIVE");
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unimplemented_link_configs_are_refused_by_name() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    for (key, value, why) in [
        // A bootstrap (given here) is refused on an INBOUND link.
        (
            "connection.mode",
            "INBOUND",
            "does not apply to a connection.mode=INBOUND link",
        ),
        ("connections.max.idle.ms", "60000", "not supported"),
        (
            "client.dns.lookup",
            "resolve_canonical_bootstrap_servers_only",
            "only use_all_dns_ips",
        ),
        ("local.security.protocol", "SASL_SSL", "expected one of"),
    ] {
        let r: CreateClusterLinksResponse =
            admin(&dst, &link_request("l", &addr(&source), &[(key, value)])).await;
        let msg = r.results[0].error_message.clone().unwrap_or_default();
        assert_ne!(r.results[0].error_code, 0, "{key}={value} accepted");
        assert!(
            msg.contains(key) && msg.contains(why),
            "{key}={value}: {msg}"
        );
    }
    let listed: ListClusterLinksResponse = admin(&dst, &ListClusterLinksRequest::default()).await;
    assert!(listed.links.is_empty());
    // What Strait does is accepted when named explicitly.
    create_link(
        &dst,
        "l",
        &addr(&source),
        &[
            ("link.mode", "DESTINATION"),
            ("connection.mode", "OUTBOUND"),
        ],
    )
    .await;
    source.shutdown();
    dest.shutdown();
}
