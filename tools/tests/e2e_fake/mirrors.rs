//! `mirrors` against the fake: seed 004's promote lines, promote `--wait` polling and timing
//! out, a promote of a stopped topic, and create / list / describe / pause / resume.

use super::*;

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
