//! The real binaries against an in-process fake admin server: flags become the right
//! requests, canned responses become the right output and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use strait_protocol::admin::*;

fn config<'a>(req: &'a CreateClusterLinksRequest, name: &str) -> &'a ConfigEntry {
    req.links[0]
        .configs
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no config {name}"))
}

#[test]
fn seed_004_create_in_flag_form() {
    let dir = tempfile::tempdir().unwrap();
    let f = seed_files(dir.path());
    let server = FakeServer::start(|req| match req {
        Recorded::CreateLinks(r) => CreateClusterLinksResponse {
            results: vec![ok(&r.links[0].name)],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let run = cluster_links(&[
        "--bootstrap-server",
        &server.addr,
        "--command-config",
        &f.destination_config,
        "--create",
        "--link",
        "test-cluster-link",
        "--config-file",
        &f.source_config,
        "--topic-filters-json-file",
        &f.topic_filter,
        "--consumer-group-filters-json-file",
        &f.group,
        "--acl-filters-json-file",
        &f.acl,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Cluster link 'test-cluster-link' creation successfully completed.\n"
    );
    assert!(
        run.stderr
            .contains("ignoring unknown client property 'linger.ms'"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let Recorded::CreateLinks(req) = &reqs[0] else {
        panic!("{reqs:?}")
    };
    assert_eq!(req.links.len(), 1);
    assert_eq!(req.links[0].name, "test-cluster-link");
    assert!(req.validate_link && !req.validate_only);
    assert!(req.timeout_ms > 0);
    let names: Vec<&str> = req.links[0]
        .configs
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "acl.filters",
            "acl.sync.enable",
            "auto.create.mirror.topics.enable",
            "auto.create.mirror.topics.filters",
            "bootstrap.servers",
            "consumer.offset.group.filters",
            "consumer.offset.sync.enable",
            "sasl.jaas.config",
            "sasl.mechanism",
            "security.protocol",
        ]
    );
    let jaas = config(req, "sasl.jaas.config");
    assert!(jaas.sensitive);
    assert!(jaas.value.as_deref().unwrap().contains(SECRET));
    assert_eq!(
        config(req, "auto.create.mirror.topics.filters")
            .value
            .as_deref(),
        Some(std::fs::read_to_string(&f.topic_filter).unwrap().trim())
    );
    assert_eq!(
        config(req, "consumer.offset.group.filters")
            .value
            .as_deref(),
        Some(std::fs::read_to_string(&f.group).unwrap().trim())
    );
    assert!(!config(req, "bootstrap.servers").sensitive);
}

#[test]
fn create_subcommand_form_validate_only_and_exclude_validate_link() {
    let server = FakeServer::start(|req| match req {
        Recorded::CreateLinks(r) => CreateClusterLinksResponse {
            results: vec![ok(&r.links[0].name)],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let run = cluster_links(&[
        "create",
        "--bootstrap-server",
        &server.addr,
        "--link-name",
        "l1",
        "--config",
        "bootstrap.servers=a:9092,b:9092,consumer.offset.sync.ms=5000",
        "--config",
        "cluster.link.prefix=dc1.",
        "--validate-only",
        "--exclude-validate-link",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Cluster link 'l1' validation successfully completed.\n"
    );
    let Recorded::CreateLinks(req) = &server.requests()[0] else {
        panic!()
    };
    assert!(req.validate_only && !req.validate_link);
    assert_eq!(
        config(req, "bootstrap.servers").value.as_deref(),
        Some("a:9092,b:9092")
    );
    assert_eq!(
        config(req, "consumer.offset.sync.ms").value.as_deref(),
        Some("5000")
    );
    assert_eq!(
        config(req, "cluster.link.prefix").value.as_deref(),
        Some("dc1.")
    );
}

#[test]
fn create_refused_by_broker_exits_1_naming_the_link() {
    let server = FakeServer::start(|req| match req {
        Recorded::CreateLinks(r) => CreateClusterLinksResponse {
            results: vec![err(
                &r.links[0].name,
                42,
                &format!("cluster link '{}' already exists", r.links[0].name),
            )],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let run = cluster_links(&[
        "--create",
        "--bootstrap-server",
        &server.addr,
        "--link",
        "dup",
        "--config",
        "bootstrap.servers=a:1",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "Error: cluster link 'dup' already exists\n");

    let json = cluster_links(&[
        "--create",
        "--bootstrap-server",
        &server.addr,
        "--link",
        "dup",
        "--config",
        "bootstrap.servers=a:1",
        "--output",
        "json",
    ]);
    assert_eq!(json.code, 1);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["results"][0]["error_code"], 42);
    assert_eq!(v["results"][0]["error"], "InvalidRequest");
}

fn listing(name: &str) -> ClusterLinkListing {
    ClusterLinkListing {
        name: name.into(),
        link_id: format!("{name}-id"),
        source_cluster_id: Some("src-cluster".into()),
        state: "ACTIVE".into(),
        error: None,
        error_message: None,
        topics: vec!["test-topic".into()],
        configs: vec![
            ConfigEntry {
                name: "bootstrap.servers".into(),
                value: Some("src.example:9092".into()),
                sensitive: false,
            },
            ConfigEntry {
                name: "sasl.jaas.config".into(),
                value: None,
                sensitive: true,
            },
            // A broker that forgot to mask must still not leak through the tool.
            ConfigEntry {
                name: "ssl.key.password".into(),
                value: Some(SECRET.into()),
                sensitive: false,
            },
        ],
        ..Default::default()
    }
}

#[test]
fn list_describe_and_delete() {
    let server = FakeServer::start(|req| match req {
        Recorded::ListLinks(r) => {
            let all = vec![listing("test-cluster-link"), listing("other")];
            let links = match &r.names {
                None => all,
                Some(n) => all.into_iter().filter(|l| n.contains(&l.name)).collect(),
            };
            ListClusterLinksResponse {
                error_code: 0,
                error_message: None,
                links,
            }
            .encode()
        }
        Recorded::DeleteLinks(r) => DeleteClusterLinksResponse {
            results: r
                .names
                .iter()
                .map(|n| {
                    if n == "test-cluster-link" {
                        ok(n)
                    } else {
                        err(n, 91, &format!("cluster link '{n}' does not exist"))
                    }
                })
                .collect(),
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });

    let list = cluster_links(&["--bootstrap-server", &server.addr, "--list"]);
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(
        list.stdout,
        "LinkName           LinkId                SourceClusterId  State   SyncStatus  MaxLag  Error\n\
         test-cluster-link  test-cluster-link-id  src-cluster      ACTIVE  -           0       -\n\
         other              other-id              src-cluster      ACTIVE  -           0       -\n"
    );
    let list = cluster_links(&[
        "list",
        "--bootstrap-server",
        &server.addr,
        "--include-topics",
        "--output",
        "json",
    ]);
    assert_eq!(list.code, 0);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(v[0]["link_name"], "test-cluster-link");
    assert_eq!(v[0]["topics"][0], "test-topic");

    let describe = cluster_links(&[
        "--describe",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(describe.code, 0, "{describe:?}");
    assert!(
        describe
            .stdout
            .contains("LinkName:         test-cluster-link\n"),
        "{}",
        describe.stdout
    );
    assert!(
        describe.stdout.contains("sasl.jaas.config   [hidden]"),
        "{}",
        describe.stdout
    );
    assert!(
        describe.stdout.contains("ssl.key.password   [hidden]"),
        "{}",
        describe.stdout
    );
    assert!(!describe.stdout.contains(SECRET));
    let json = cluster_links(&[
        "--describe",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        &server.addr,
        "--output",
        "json",
    ]);
    assert!(!json.stdout.contains(SECRET));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["configs"][2]["value"], serde_json::Value::Null);
    assert_eq!(v["configs"][2]["sensitive"], true);

    let missing = cluster_links(&[
        "--describe",
        "--link",
        "nope",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "Error: cluster link 'nope' does not exist\n"
    );

    let delete = cluster_links(&[
        "--delete",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        &server.addr,
        "--force",
    ]);
    assert_eq!(delete.code, 0, "{delete:?}");
    assert_eq!(
        delete.stdout,
        "Cluster link 'test-cluster-link' deletion successfully completed.\n"
    );
    let delete = cluster_links(&[
        "delete",
        "--link",
        "gone",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(delete.code, 1);
    assert_eq!(delete.stderr, "Error: cluster link 'gone' does not exist\n");

    let reqs = server.requests();
    // --list asks for configs too, for each link's link.mode.
    assert!(reqs.contains(&Recorded::ListLinks(ListClusterLinksRequest {
        names: None,
        include_topics: true,
        include_configs: true,
    })));
    assert!(reqs.contains(&Recorded::ListLinks(ListClusterLinksRequest {
        names: Some(vec!["test-cluster-link".into()]),
        include_topics: true,
        include_configs: true,
    })));
    assert!(
        reqs.contains(&Recorded::DeleteLinks(DeleteClusterLinksRequest {
            names: vec!["test-cluster-link".into()],
            validate_only: false,
            force: true,
        }))
    );
}

fn mirror(topic: &str, state: &str, lag: i64) -> MirrorDescription {
    MirrorDescription {
        mirror_topic: topic.into(),
        link_name: "test-cluster-link".into(),
        source_topic: topic.into(),
        state: state.into(),
        reason: None,
        reason_message: None,
        state_time_ms: 1_700_000_000_000,
        num_partitions: 1,
        partitions: vec![MirrorPartition {
            partition: 0,
            state: state.into(),
            log_end_offset: 5 - lag,
            source_high_watermark: 5,
            lag,
            lag_ms: lag * 10,
            time_since_last_fetch_ms: 12,
            error: None,
            aborted_transactions: None,
            error_reason: None,
            error_since_ms: None,
        }],
        origin_cluster_ids: None,
    }
}

fn describe_response(mirrors: Vec<MirrorDescription>) -> bytes::Bytes {
    DescribeMirrorsResponse {
        error_code: 0,
        error_message: None,
        mirrors,
        reports_origin_chains: false,
    }
    .encode()
}

fn alter_ok(r: &AlterMirrorsRequest) -> bytes::Bytes {
    AlterMirrorsResponse {
        results: r
            .topics
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|t| ok(t))
            .collect(),
    }
    .encode()
}

#[test]
fn seed_004_promote_prints_confluents_lines() {
    let server = FakeServer::start(|req| match req {
        Recorded::DescribeMirrors(_) => describe_response(vec![mirror("test-topic", "ACTIVE", 0)]),
        Recorded::AlterMirrors(r) => alter_ok(r),
        other => panic!("unexpected {other:?}"),
    });
    let run = mirrors(&[
        "--promote",
        "--topics",
        "test-topic",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Calculating max offset and ms lag for mirror topics: [test-topic]\n\
         Finished calculating max offset lag and max lag ms for mirror topics: [test-topic]\n\
         Request for stopping topic test-topic's mirror was successfully scheduled. Please use the describe command with the --pending-stopped-only option to monitor progress.\n"
    );
    let reqs = server.requests();
    assert_eq!(
        reqs.last(),
        Some(&Recorded::AlterMirrors(AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec!["test-topic".into()]),
            link_name: None,
            validate_only: false,
        }))
    );
}

#[test]
fn promote_wait_polls_until_stopped() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let server = FakeServer::start(move |req| match req {
        Recorded::DescribeMirrors(_) => {
            let n = p.fetch_add(1, Ordering::SeqCst);
            let m = match n {
                0 => mirror("t", "ACTIVE", 5),
                1 => mirror("t", "PENDING_STOPPED", 2),
                2 => mirror("t", "PENDING_STOPPED", 2),
                _ => mirror("t", "STOPPED", 0),
            };
            describe_response(vec![m])
        }
        Recorded::AlterMirrors(r) => alter_ok(r),
        other => panic!("unexpected {other:?}"),
    });
    let run = mirrors(&[
        "promote",
        "--topics",
        "t",
        "--wait",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        &lines[3..],
        &[
            "Waiting for mirror topics to stop: [t]",
            "t: PENDING_STOPPED, max lag 2 messages (20 ms)",
            "t: STOPPED, max lag 0 messages (0 ms)",
            "Mirror topics stopped: [t]",
        ],
        "{}",
        run.stdout
    );
    assert_eq!(polls.load(Ordering::SeqCst), 4);
}

#[test]
fn promote_wait_times_out_with_exit_1() {
    let server = FakeServer::start(|req| match req {
        Recorded::DescribeMirrors(_) => describe_response(vec![mirror("t", "PENDING_STOPPED", 3)]),
        Recorded::AlterMirrors(r) => alter_ok(r),
        other => panic!("unexpected {other:?}"),
    });
    let run = mirrors(&[
        "--failover",
        "--topics",
        "t",
        "--wait",
        "--timeout-ms",
        "700",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "Error: timed out after 700 ms waiting for mirror topics to stop: t is PENDING_STOPPED with max lag 3\n"
    );
    // Failover has no lag preamble.
    assert!(
        run.stdout
            .starts_with("Request for stopping topic t's mirror"),
        "{}",
        run.stdout
    );
}

#[test]
fn promote_error_for_already_stopped_topic() {
    let server = FakeServer::start(|req| match req {
        Recorded::DescribeMirrors(_) => describe_response(vec![mirror("t", "STOPPED", 0)]),
        Recorded::AlterMirrors(_) => AlterMirrorsResponse {
            results: vec![err(
                "t",
                42,
                "Topic 't' has already stopped its mirror from 'test-cluster-link'",
            )],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let run = mirrors(&[
        "--promote",
        "--topics",
        "t",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "Error: Topic 't' has already stopped its mirror from 'test-cluster-link'\n"
    );
}

#[test]
fn mirrors_create_list_describe_pause_resume() {
    let server = FakeServer::start(|req| match req {
        Recorded::CreateMirrors(r) => CreateMirrorTopicsResponse {
            results: vec![ok(&r.mirrors[0].mirror_topic)],
        }
        .encode(),
        Recorded::DescribeMirrors(_) => describe_response(vec![mirror("t", "ACTIVE", 1)]),
        Recorded::AlterMirrors(r) => AlterMirrorsResponse {
            results: vec![ok(r.link_name.as_deref().map(|_| "t").unwrap_or("x"))],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let a = server.addr.as_str();

    let run = mirrors(&[
        "--create",
        "--mirror-topic",
        "t2",
        "--link",
        "l",
        "--source-topic",
        "src",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=1000,cleanup.policy=compact",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Created topic t2.\n");

    let run = mirrors(&[
        "--list",
        "--link",
        "l",
        "--state",
        "active",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Topic  LinkName           SourceTopic  State   Partitions  Reason\n\
         t      test-cluster-link  t            ACTIVE  1           -\n"
    );

    let run = mirrors(&["describe", "--topics", "t", "--bootstrap-server", a]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Topic: t  LinkName: test-cluster-link  SourceTopic: t  State: ACTIVE  Partitions: 1  StateTimeMs: 1700000000000\n\
         \x20 Partition  State   LocalLogEndOffset  LastFetchSourceHighWatermark  Lag  LagMs  TimeSinceLastFetchMs  Error\n\
         \x20 0          ACTIVE  4                  5                             1    10     12                    -\n"
    );
    let run = mirrors(&["describe", "--topics", "t,missing", "--bootstrap-server", a]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "Error: topic 'missing' is not a mirror topic\n");

    let run = mirrors(&[
        "--describe",
        "--link",
        "l",
        "--pending-stopped-only",
        "--output",
        "json",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(run.code, 0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v[0]["partitions"][0]["last_fetch_source_high_watermark"], 5);
    assert_eq!(v[0]["max_lag"], 1);

    let run = mirrors(&["--pause", "--link", "l", "--bootstrap-server", a]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Request for pausing topic t's mirror was successfully scheduled. Please use the describe command to monitor progress.\n"
    );
    let run = mirrors(&[
        "--unpause",
        "--link",
        "l",
        "--validate-only",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Validation of resuming topic t's mirror successfully completed.\n"
    );

    let reqs = server.requests();
    assert_eq!(
        reqs[0],
        Recorded::CreateMirrors(CreateMirrorTopicsRequest {
            mirrors: vec![NewMirrorTopic {
                mirror_topic: "t2".into(),
                link_name: "l".into(),
                source_topic: Some("src".into()),
                configs: vec![
                    ConfigEntry {
                        name: "cleanup.policy".into(),
                        value: Some("compact".into()),
                        sensitive: false
                    },
                    ConfigEntry {
                        name: "retention.ms".into(),
                        value: Some("1000".into()),
                        sensitive: false
                    },
                ],
            }],
            validate_only: false,
        })
    );
    assert_eq!(
        reqs[1],
        Recorded::DescribeMirrors(DescribeMirrorsRequest {
            link_name: Some("l".into()),
            topics: None,
            states: vec!["ACTIVE".into()],
            include_partitions: false,
        })
    );
    assert!(
        reqs.contains(&Recorded::DescribeMirrors(DescribeMirrorsRequest {
            link_name: Some("l".into()),
            topics: None,
            states: vec!["PENDING_STOPPED".into()],
            include_partitions: true,
        }))
    );
    assert!(reqs.contains(&Recorded::AlterMirrors(AlterMirrorsRequest {
        op: MirrorOp::Pause,
        topics: None,
        link_name: Some("l".into()),
        validate_only: false,
    })));
    assert!(reqs.contains(&Recorded::AlterMirrors(AlterMirrorsRequest {
        op: MirrorOp::Resume,
        topics: None,
        link_name: Some("l".into()),
        validate_only: true,
    })));
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"topicFilters":[{"name":"x","patternType":"REGEX"}]}"#,
    )
    .unwrap();
    let bad = bad.display().to_string();
    let server = FakeServer::start(|req| panic!("nothing should be sent: {req:?}"));
    let a = server.addr.as_str();
    let cases: Vec<(Run, String)> = vec![
        (
            cluster_links(&["--create", "--link", "l", "--bootstrap-server", a, "--config", "bootstrap.servers=a:1,foo=bar"]),
            "Error: --config: unknown link config 'foo'\n".into(),
        ),
        (
            cluster_links(&["--create", "--link", "l", "--bootstrap-server", a, "--config", "bootstrap.servers=a:1", "--topic-filters-json-file", &bad]),
            format!("Error: --topic-filters-json-file {bad}: invalid topic filters (auto.create.mirror.topics.filters): topicFilters[0]: patternType 'REGEX' is not LITERAL or PREFIXED\n"),
        ),
        (
            cluster_links(&["--create", "--link", "l", "--bootstrap-server", a]),
            "Error: missing required link config 'bootstrap.servers' (set it in --config-file or with --config bootstrap.servers=...)\n".into(),
        ),
        (
            cluster_links(&["--create", "--delete", "--link", "l", "--bootstrap-server", a]),
            "Error: give only one operation: both --create and --delete were given\n".into(),
        ),
        (
            cluster_links(&["--list", "--bootstrap-server", a, "--command-config", "/nonexistent/dst.config"]),
            "Error: --command-config /nonexistent/dst.config: cannot read: No such file or directory (os error 2)\n".into(),
        ),
        (
            mirrors(&["--create", "--mirror-topic", "t", "--link", "l", "--replication-factor", "3", "--bootstrap-server", a]),
            "Error: --replication-factor 3: Strait keeps one replica per partition; omit the flag or pass 1\n".into(),
        ),
        (
            mirrors(&["--truncate-and-restore", "--topics", " ", "--link", "l", "--bootstrap-server", a]),
            "Error: --topics names no topic\n".into(),
        ),
    ];
    for (run, expected) in cases {
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stderr, expected);
        assert_eq!(run.stdout, "");
    }
    // clap's own errors are exit 2 as well.
    let run = mirrors(&["--promote", "--bootstrap-server", a]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("required arguments were not provided"),
        "{}",
        run.stderr
    );
    let run = cluster_links(&["--list", "--bootstrap-server", a, "--output", "yaml"]);
    assert_eq!(run.code, 2);
    assert!(server.requests().is_empty());
}

#[test]
fn broker_without_the_admin_api_or_unreachable_exits_1() {
    let server = FakeServer::start_with(|req| panic!("unexpected {req:?}"), false);
    let run = cluster_links(&["--list", "--bootstrap-server", &server.addr]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "does not support Strait's admin API key 20001 v0 (it does not advertise it)"
        ),
        "{}",
        run.stderr
    );
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let run = mirrors(&["--list", "--bootstrap-server", &addr]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("Error: cannot reach the destination cluster"),
        "{}",
        run.stderr
    );
}
