#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Link lifecycle end to end, two in-process Strait brokers on real sockets: altering a
//! running link's configs live (SCRAM password rotation with the source cutting the old
//! session, sync intervals, topic filters, fetcher count), refusals that change nothing, a
//! link created paused and resumed, a FAILED mirror resumed once its cause is fixed, and a
//! client-auto-created topic that shadows a would-be mirror. Waits are deadline-bounded
//! polls ([`support::wait_for`]); mirrored data is compared byte for byte.

#[path = "link/proxy.rs"]
mod proxy;

mod support;

#[path = "link_lifecycle/helpers.rs"]
mod helpers;

use helpers::*;
use strait_client::groups::OffsetToCommit;
use strait_client::{Client, ClientConfig};
use strait_protocol::admin::*;
use strait_protocol::link_admin::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_scram_password_live_resumes_without_gap_or_duplicate() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The source's SASL listener sits behind a proxy (which it advertises), so the test can
    // cut the link's authenticated sessions the way a source restart would.
    let proxy = proxy::Proxy::start().await;
    let source = start_with(
        sd.path(),
        &[
            "listeners=SASL_PLAINTEXT://127.0.0.1:0".to_string(),
            format!("advertised.listeners=SASL_PLAINTEXT://{}", proxy.addr),
            format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
            "strait.scram.credentials=SCRAM-SHA-512=[name=linker,password=old-secret]".into(),
        ],
    )
    .await;
    proxy.up(&addr(&source));
    let admin_cc = sasl_client(
        &proxy.addr,
        "PLAIN",
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";",
    );
    let src = Client::connect(&admin_cc).await.unwrap();
    create_topic(&src, "pay", 2).await;
    for p in 0..2 {
        produce(&src, "pay", p, "before", 4).await;
    }

    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    let old_jaas = scram_jaas("linker", "old-secret");
    create_link_with(
        &dst,
        "l",
        &[
            ("bootstrap.servers", &proxy.addr),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.jaas.config", &old_jaas),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("metadata.max.age.ms", "300"),
            ("retry.backoff.ms", "50"),
            ("retry.backoff.max.ms", "200"),
        ],
    )
    .await;
    wait_caught_up(&dst, "pay", 2, 4).await;
    let created = mirror(&dst, "pay").await.unwrap().state_time_ms;

    // The source rotates the password and drops every session: the link cannot log in.
    set_scram_password(&src, "linker", "new-secret").await;
    proxy.down();
    proxy.up(&addr(&source));
    wait_for("link FAILED with AUTHENTICATION_ERROR", || {
        let dst = dst.clone();
        async move {
            let l = listing(&dst, "l").await;
            l.state == "FAILED" && l.error.as_deref() == Some("AUTHENTICATION_ERROR")
        }
    })
    .await;
    // Written while the link cannot reach it: must arrive after the alter, exactly once.
    let src = Client::connect(&admin_cc).await.unwrap();
    for p in 0..2 {
        produce(&src, "pay", p, "during", 3).await;
    }

    // A wrong new password is refused (the alter validates it against the source) and
    // changes nothing.
    let r = alter(
        &dst,
        "l",
        vec![set("sasl.jaas.config", &scram_jaas("linker", "typo"))],
    )
    .await;
    assert_ne!(r.error_code, 0);
    let msg = r.error_message.unwrap();
    assert!(
        msg.contains("AUTHENTICATION_ERROR") && !msg.contains("typo"),
        "{msg}"
    );

    let r = alter_ok(
        &dst,
        "l",
        vec![set("sasl.jaas.config", &scram_jaas("linker", "new-secret"))],
    )
    .await;
    assert_eq!(r.changed, vec!["sasl.jaas.config".to_string()]);
    assert!(r.reconnects);
    wait_caught_up(&dst, "pay", 2, 7).await;
    assert_identical(&src, &dst, "pay", 2).await;
    let l = listing(&dst, "l").await;
    assert_eq!(l.state, "ACTIVE", "{l:?}");
    // The secret is stored but never shown.
    let jaas = l
        .configs
        .iter()
        .find(|c| c.name == "sasl.jaas.config")
        .unwrap();
    assert!(jaas.sensitive && jaas.value.is_none());
    // The mirror was not re-created or restarted: same state since creation.
    assert_eq!(mirror(&dst, "pay").await.unwrap().state_time_ms, created);
    // And the rotated password survives a destination restart.
    drop(dst);
    dest.shutdown();
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    produce(&src, "pay", 0, "after-restart", 2).await;
    wait_for("mirror continues after restart", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, "pay")
                .await
                .is_some_and(|m| m.partitions.first().is_some_and(|p| p.log_end_offset == 9))
        }
    })
    .await;
    assert_identical(&src, &dst, "pay", 2).await;
    dest.shutdown();
    source.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_filters_and_fetchers_change_live() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    for t in ["a1", "b1"] {
        create_topic(&src, t, 2).await;
        for p in 0..2 {
            produce(&src, t, p, t, 3).await;
        }
    }
    let only_a =
        r#"{"topicFilters":[{"name":"a","patternType":"PREFIXED","filterType":"INCLUDE"}]}"#;
    // Source metadata is refreshed (and new topics discovered) only every 5 minutes.
    create_link_with(
        &dst,
        "l",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", only_a),
        ],
    )
    .await;
    wait_caught_up(&dst, "a1", 2, 3).await;
    let a1_created = mirror(&dst, "a1").await.unwrap().state_time_ms;
    assert!(mirror(&dst, "b1").await.is_none());

    // A wider filter is applied by an immediate discovery pass, not after 5 minutes.
    let r = alter_ok(
        &dst,
        "l",
        vec![set("auto.create.mirror.topics.filters", ALL)],
    )
    .await;
    assert_eq!(
        r.changed,
        vec!["auto.create.mirror.topics.filters".to_string()]
    );
    assert!(!r.reconnects);
    wait_caught_up(&dst, "b1", 2, 3).await;

    // A shorter metadata.max.age.ms: a topic created afterwards is found on its own.
    alter_ok(
        &dst,
        "l",
        vec![
            set("metadata.max.age.ms", "200"),
            set("num.cluster.link.fetchers", "2"),
        ],
    )
    .await;
    create_topic(&src, "a2", 1).await;
    produce(&src, "a2", 0, "a2", 2).await;
    wait_caught_up(&dst, "a2", 1, 2).await;

    // Consumer offset sync switched on live, with its group filter and interval.
    let group_filter =
        r#"{"groupFilters":[{"name":"app","patternType":"PREFIXED","filterType":"INCLUDE"}]}"#;
    alter_ok(
        &dst,
        "l",
        vec![
            set("consumer.offset.sync.enable", "true"),
            set("consumer.offset.group.filters", group_filter),
            set("consumer.offset.sync.ms", "1000"),
        ],
    )
    .await;
    let r = src
        .offset_commit(
            "app-1",
            &[OffsetToCommit {
                topic: "a1".into(),
                partition: 0,
                offset: 2,
                leader_epoch: -1,
                metadata: None,
            }],
        )
        .await
        .unwrap();
    assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
    wait_for("app-1 offset synced", || {
        let dst = dst.clone();
        async move {
            dst.offset_fetch("app-1", Some(&[("a1", vec![0])]))
                .await
                .ok()
                .and_then(|o| o.first().map(|o| o.offset))
                == Some(2)
        }
    })
    .await;

    // Existing mirrors kept going from where they were: more data, same mirror.
    for p in 0..2 {
        produce(&src, "a1", p, "more", 2).await;
    }
    wait_caught_up(&dst, "a1", 2, 5).await;
    assert_identical(&src, &dst, "a1", 2).await;
    assert_identical(&src, &dst, "b1", 2).await;
    assert_eq!(mirror(&dst, "a1").await.unwrap().state_time_ms, a1_created);

    // Describe shows the new values; a deleted key is back to its default.
    let l = listing(&dst, "l").await;
    assert_eq!(
        config_of(&l, "num.cluster.link.fetchers").as_deref(),
        Some("2")
    );
    assert_eq!(
        config_of(&l, "consumer.offset.sync.ms").as_deref(),
        Some("1000")
    );
    alter_ok(
        &dst,
        "l",
        vec![
            delete("consumer.offset.sync.ms"),
            delete("num.cluster.link.fetchers"),
        ],
    )
    .await;
    let l = listing(&dst, "l").await;
    assert_eq!(
        config_of(&l, "consumer.offset.sync.ms").as_deref(),
        Some("30000")
    );
    assert_eq!(
        config_of(&l, "num.cluster.link.fetchers").as_deref(),
        Some("1")
    );
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_alters_change_nothing_and_accepted_ones_persist() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    create_link_with(
        &dst,
        "l",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("cluster.link.prefix", "dr."),
            ("acl.sync.ms", "1000"),
        ],
    )
    .await;
    let before = listing(&dst, "l").await.configs;
    for (ops, code, want) in [
        (
            vec![set("fetch.speed", "fast")],
            40,
            "unknown link config 'fetch.speed'",
        ),
        (
            vec![set("consumer.offset.sync.ms", "10")],
            40,
            "consumer.offset.sync.ms",
        ),
        (
            vec![set("cluster.link.prefix", "x.")],
            40,
            "'cluster.link.prefix' cannot be altered",
        ),
        (
            vec![set("link.mode", "SOURCE")],
            40,
            "'link.mode' cannot be altered",
        ),
        (vec![delete("bootstrap.servers")], 40, "bootstrap.servers"),
        (
            vec![delete("topic.config.sync.ms")],
            40,
            "'topic.config.sync.ms' is not set",
        ),
        // One bad key spoils the whole request: the good one is not applied either.
        (
            vec![set("acl.sync.ms", "2000"), set("nope", "1")],
            40,
            "unknown link config 'nope'",
        ),
        (vec![set("acl.sync.enable", "true")], 40, "acl.filters"),
        (vec![], 42, "no config change"),
    ] {
        let r = alter(&dst, "l", ops.clone()).await;
        assert_eq!(r.error_code, code, "{ops:?}: {:?}", r.error_message);
        let m = r.error_message.unwrap();
        assert!(m.contains(want) && !m.contains('\n'), "{ops:?}: {m}");
        assert_eq!(
            listing(&dst, "l").await.configs,
            before,
            "{ops:?} changed the config"
        );
    }
    let r = alter(&dst, "nolink", vec![set("acl.sync.ms", "1")]).await;
    assert!(r.error_message.unwrap().contains("'nolink' does not exist"));
    // Restating a fixed key's value is fine (a re-applied config file).
    let r = alter_ok(
        &dst,
        "l",
        vec![
            set("cluster.link.prefix", "dr."),
            set("acl.sync.ms", "2000"),
        ],
    )
    .await;
    assert_eq!(r.changed, vec!["acl.sync.ms".to_string()]);
    // validate_only checks without applying.
    let r: AlterClusterLinkConfigsResponse = admin(
        &dst,
        &AlterClusterLinkConfigsRequest {
            link_name: "l".into(),
            ops: vec![set("acl.sync.ms", "3000")],
            validate_only: true,
            validate_link: true,
            timeout_ms: 10_000,
        },
    )
    .await;
    assert_eq!(
        (r.error_code, r.changed.clone()),
        (0, vec!["acl.sync.ms".to_string()])
    );
    assert_eq!(
        config_of(&listing(&dst, "l").await, "acl.sync.ms").as_deref(),
        Some("2000")
    );
    // Accepted alters are in the link record: they survive a restart.
    drop(dst);
    dest.shutdown();
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    assert_eq!(
        config_of(&listing(&dst, "l").await, "acl.sync.ms").as_deref(),
        Some("2000")
    );
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_created_paused_copies_nothing_until_resumed() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let proxy = proxy::Proxy::start().await;
    let source = start_with(
        sd.path(),
        &[format!("advertised.listeners=PLAINTEXT://{}", proxy.addr)],
    )
    .await;
    proxy.up(&addr(&source));
    let dest = start(dd.path()).await;
    let src = Client::connect(&ClientConfig::plaintext(&proxy.addr))
        .await
        .unwrap();
    let dst = client(&dest).await;
    create_topic(&src, "t", 1).await;
    produce(&src, "t", 0, "t", 5).await;
    create_link_with(
        &dst,
        "held",
        &[
            ("bootstrap.servers", &proxy.addr),
            ("client.id", "held-link"),
            ("cluster.link.paused", "true"),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("metadata.max.age.ms", "200"),
        ],
    )
    .await;
    assert_eq!(listing(&dst, "held").await.state, "PAUSED");
    // A mirror created on the paused link exists but copies nothing: LINK_PAUSED.
    let r: CreateMirrorTopicsResponse = admin(
        &dst,
        &CreateMirrorTopicsRequest {
            mirrors: vec![NewMirrorTopic {
                mirror_topic: "t".into(),
                link_name: "held".into(),
                source_topic: None,
                configs: Vec::new(),
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
    // A running link on the same source mirrors the same topic meanwhile: by the time it
    // has caught up, the paused link had every chance to fetch.
    create_link_with(
        &dst,
        "running",
        &[
            ("bootstrap.servers", &proxy.addr),
            ("cluster.link.prefix", "copy."),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("metadata.max.age.ms", "200"),
        ],
    )
    .await;
    wait_caught_up(&dst, "copy.t", 1, 5).await;
    let m = mirror(&dst, "t").await.unwrap();
    assert_eq!(m.state, "LINK_PAUSED", "{m:?}");
    assert_eq!(m.partitions[0].log_end_offset, 0);
    assert_eq!(listing(&dst, "held").await.state, "PAUSED");
    let fetched: u64 = proxy
        .connections()
        .iter()
        .filter(|c| c.client_id.as_deref() == Some("held-link"))
        .map(|c| c.fetches)
        .sum();
    assert_eq!(fetched, 0, "a paused link fetched");

    // Started by alter: mirrors catch up and the link is ACTIVE.
    alter_ok(&dst, "held", vec![set("cluster.link.paused", "false")]).await;
    wait_caught_up(&dst, "t", 1, 5).await;
    assert_eq!(listing(&dst, "held").await.state, "ACTIVE");
    assert_identical(&src, &dst, "t", 1).await;
    // Paused again: LINK_PAUSED, and data written meanwhile arrives after the resume.
    alter_ok(&dst, "held", vec![set("cluster.link.paused", "true")]).await;
    wait_mirror_state(&dst, "t", "LINK_PAUSED").await;
    alter_ok(&dst, "held", vec![delete("cluster.link.paused")]).await;
    produce(&src, "t", 0, "later", 2).await;
    wait_caught_up(&dst, "t", 1, 7).await;
    assert_identical(&src, &dst, "t", 1).await;
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_mirror_resumes_once_its_cause_is_fixed() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    create_topic(&src, "c", 1).await;
    produce(&src, "c", 0, "good", 3).await;
    create_link_with(
        &dst,
        "l",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("metadata.max.age.ms", "200"),
            ("replica.fetch.backoff.ms", "100"),
        ],
    )
    .await;
    wait_caught_up(&dst, "c", 1, 3).await;

    // Hold the link while a batch lands on the source, then corrupt that batch on the
    // source's disk (the last byte is inside the CRC's range): the source now serves a
    // batch that fails its CRC, which no retry cures.
    alter_ok(&dst, "l", vec![set("cluster.link.paused", "true")]).await;
    produce(&src, "c", 0, "bad", 2).await;
    let file = segment_file(sd.path(), "c", 0);
    let original = std::fs::read(&file).unwrap();
    let m = mirror(&dst, "c").await.unwrap();
    assert_eq!(
        m.partitions[0].log_end_offset, 3,
        "copied after the pause was acknowledged"
    );
    let mut corrupt = original.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    std::fs::write(&file, &corrupt).unwrap();
    alter_ok(&dst, "l", vec![set("cluster.link.paused", "false")]).await;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        eprintln!(
            "DEBUG {:?} {:?}",
            mirror(&dst, "c").await,
            listing(&dst, "l").await.state
        );
    }
    let m = wait_mirror_state(&dst, "c", "FAILED").await;
    assert_eq!(m.reason.as_deref(), Some("SOURCE_DATA_CORRUPT"), "{m:?}");
    assert_eq!(
        m.partitions[0].log_end_offset, 3,
        "nothing corrupt was appended"
    );

    // Resumed while the cause persists: it fails again, with the reason.
    let resume = |dst: Client| async move {
        let r: AlterMirrorsResponse = admin(
            &dst,
            &AlterMirrorsRequest {
                op: MirrorOp::Resume,
                topics: Some(vec!["c".into()]),
                link_name: None,
                validate_only: false,
            },
        )
        .await;
        r
    };
    let failed_at = m.state_time_ms;
    let r = resume(dst.clone()).await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    // It went back to ACTIVE (a new state time) and failed again on the same batch.
    wait_for("c fails again", || {
        let dst = dst.clone();
        async move {
            mirror(&dst, "c").await.is_some_and(|m| {
                m.state == "FAILED"
                    && m.reason.as_deref() == Some("SOURCE_DATA_CORRUPT")
                    && m.state_time_ms > failed_at
            })
        }
    })
    .await;
    assert_eq!(
        mirror(&dst, "c").await.unwrap().partitions[0].log_end_offset,
        3
    );

    // Fixed at the source: resume brings it back to ACTIVE, it copies the rest, same bytes.
    std::fs::write(&file, &original).unwrap();
    let r = resume(dst.clone()).await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    wait_caught_up(&dst, "c", 1, 5).await;
    let m = mirror(&dst, "c").await.unwrap();
    assert!(m.reason.is_none(), "{m:?}");
    assert_identical(&src, &dst, "c", 1).await;
    // Resuming an ACTIVE mirror is a no-op.
    let r = resume(dst.clone()).await;
    assert_eq!(r.results[0].error_code, 0);
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_created_topic_shadowing_a_mirror_is_reported() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start_with(dd.path(), &["auto.create.topics.enable=true".to_string()]).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    for t in ["orders", "other"] {
        create_topic(&src, t, 1).await;
        produce(&src, t, 0, t, 3).await;
    }
    // A consumer on the destination asks for "orders" before any link exists.
    auto_create(&dst, "orders").await;
    assert!(dst
        .refresh_metadata(&["orders"])
        .await
        .unwrap()
        .topic("orders")
        .is_some());

    create_link_with(
        &dst,
        "l",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", ALL),
            ("metadata.max.age.ms", "200"),
        ],
    )
    .await;
    wait_caught_up(&dst, "other", 1, 3).await;
    wait_for("shadow reported", || {
        let dst = dst.clone();
        async move {
            listing(&dst, "l").await.tasks.iter().any(|t| {
                t.name == "auto_create_mirror"
                    && t.state == "IN_ERROR"
                    && t.error.as_deref().is_some_and(|e| {
                        e.contains("TOPIC_EXISTS_ERROR")
                            && e.contains("shadowed topics: orders (local non-mirror topic exists)")
                    })
            })
        }
    })
    .await;
    // Not mirrored into: the local topic is untouched (still empty, still normal).
    let r: DescribeMirrorsResponse = admin(
        &dst,
        &DescribeMirrorsRequest {
            topics: Some(vec!["orders".into()]),
            include_partitions: true,
            ..Default::default()
        },
    )
    .await;
    let m = r.error_message.unwrap();
    assert!(
        m.contains("not a mirror topic") && m.contains("shadowing") && m.contains("'l'"),
        "{m}"
    );
    let r: CreateMirrorTopicsResponse = admin(
        &dst,
        &CreateMirrorTopicsRequest {
            mirrors: vec![NewMirrorTopic {
                mirror_topic: "orders".into(),
                link_name: "l".into(),
                source_topic: None,
                configs: Vec::new(),
            }],
            validate_only: false,
        },
    )
    .await;
    let m = r.results[0].error_message.clone().unwrap();
    assert!(
        m.contains("already exists as a normal topic") && m.contains("shadowing"),
        "{m}"
    );
    // Exported as a metric.
    let mut metrics = String::new();
    dest.broker.links().unwrap().render_metrics(&mut metrics);
    assert!(
        metrics.contains("strait_cluster_link_shadowed_topics{link=\"l\"} 1"),
        "{metrics}"
    );

    // Resolved by deleting the local topic: the link mirrors it and the report clears.
    dst.delete_topics(&["orders"], 10_000).await.unwrap();
    wait_caught_up(&dst, "orders", 1, 3).await;
    assert_identical(&src, &dst, "orders", 1).await;
    wait_for("shadow cleared", || {
        let dst = dst.clone();
        async move {
            listing(&dst, "l")
                .await
                .tasks
                .iter()
                .any(|t| t.name == "auto_create_mirror" && t.state == "ACTIVE" && t.error.is_none())
        }
    })
    .await;
    source.shutdown();
    dest.shutdown();
}
