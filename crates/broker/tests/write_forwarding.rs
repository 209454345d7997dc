#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Write forwarding (`mirror.produce.forwarding.enable`), in process: a source and a
//! destination Strait broker. Forwarding off keeps the non-retriable error naming the link;
//! on, a produce to an ACTIVE mirror is acknowledged with the source's offset, which is the
//! record's offset in the mirror once copied; PAUSED mirrors and transactional batches are
//! refused; the source's errors (ACL refusal, unknown partition) are passed through naming
//! the link; an unreachable source is a retriable error; an idempotent producer whose id
//! came from the source keeps its sequence across the promote (every record exactly once,
//! in order); a write forwarded across the promotion's fence (fault-injected delay) is
//! answered NOT_LEADER_OR_FOLLOWER and its retry lands once on the promoted topic;
//! forwarding links to two sources refuse producer ids.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, InitProducerIdRequest, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use strait_broker::{BrokerConfig, RunningBroker};
use strait_client::acls::{AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType};
use strait_client::{Client, ClientConfig, ClientError, ErrorCode};
use strait_protocol::admin::*;
use strait_records::record::BatchBuilder;
use support::*;

const ALL: &str =
    r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;

fn batch(values: &[String], producer: Option<(i64, i16, i32)>) -> Bytes {
    let mut b = BatchBuilder::new(0);
    if let Some((pid, epoch, seq)) = producer {
        b = b.producer(pid, epoch, seq);
    }
    for (i, v) in values.iter().enumerate() {
        b = b.append(1_700_000_000_000 + i as i64, None, Some(v.as_bytes()));
    }
    Bytes::from(b.build().unwrap())
}

fn vals(tag: &str, range: std::ops::Range<i32>) -> Vec<String> {
    range.map(|i| format!("{tag}-{i}")).collect()
}

fn code_of(r: &Result<strait_client::produce::ProducedBatch, ClientError>) -> Option<ErrorCode> {
    r.as_ref()
        .err()
        .map(|e| e.kafka_code().unwrap_or(ErrorCode::Unknown(-2)))
}

fn message_of(r: &Result<strait_client::produce::ProducedBatch, ClientError>) -> String {
    r.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
}

async fn init_producer_id(c: &Client) -> (i64, i16) {
    let conn = c.any_broker().await.unwrap();
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let r = conn.send(&req, 4).await.unwrap();
    assert_eq!(r.error_code, 0, "InitProducerId");
    (r.producer_id.0, r.producer_epoch)
}

async fn alter(dst: &Client, op: MirrorOp, topic: &str) {
    let r: AlterMirrorsResponse = admin(
        dst,
        &AlterMirrorsRequest {
            op,
            topics: Some(vec![topic.into()]),
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
}

async fn create_mirror(dst: &Client, topic: &str, link: &str) {
    let r: CreateMirrorTopicsResponse = admin(
        dst,
        &CreateMirrorTopicsRequest {
            mirrors: vec![NewMirrorTopic {
                mirror_topic: topic.into(),
                link_name: link.into(),
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
}

async fn wait_state(dst: &Client, topic: &str, state: &str) {
    wait_for(&format!("{topic} {state}"), || {
        let (dst, topic, state) = (dst.clone(), topic.to_string(), state.to_string());
        async move { mirror(&dst, &topic).await.is_some_and(|m| m.state == state) }
    })
    .await;
}

async fn wait_leo(dst: &Client, topic: &str, leo: i64) {
    wait_for(&format!("{topic} at {leo}"), || {
        let (dst, topic) = (dst.clone(), topic.to_string());
        async move {
            mirror(&dst, &topic)
                .await
                .is_some_and(|m| m.partitions.iter().all(|p| p.log_end_offset == leo))
        }
    })
    .await;
}

async fn pair() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    RunningBroker,
    RunningBroker,
) {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    (sd, dd, source, dest)
}

async fn source_topics(src: &Client, topics: &[&str]) {
    let new: Vec<_> = topics
        .iter()
        .map(|t| strait_client::admin::NewTopic::new(*t, 1, 1))
        .collect();
    src.create_topics(&new, 10_000, false).await.unwrap();
    src.refresh_metadata(topics).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_on_and_off() {
    let (_sd, _dd, source, dest) = pair().await;
    let (src, dst) = (client(&source).await, client(&dest).await);
    source_topics(&src, &["plain", "fw"]).await;
    for t in ["plain", "fw"] {
        src.produce_raw(t, 0, batch(&vals("src", 0..5), None), -1)
            .await
            .unwrap();
    }
    let boot = addr(&source);
    create_link_with(
        &dst,
        "ro",
        &[("bootstrap.servers", &boot), ("metadata.max.age.ms", "500")],
    )
    .await;
    create_link_with(
        &dst,
        "fwd",
        &[
            ("bootstrap.servers", &boot),
            ("metadata.max.age.ms", "500"),
            ("mirror.produce.forwarding.enable", "true"),
        ],
    )
    .await;
    create_mirror(&dst, "plain", "ro").await;
    create_mirror(&dst, "fw", "fwd").await;
    wait_leo(&dst, "plain", 5).await;
    wait_leo(&dst, "fw", 5).await;
    dst.refresh_metadata(&["plain", "fw"]).await.unwrap();

    // Off: today's non-retriable error naming the link.
    let r = dst
        .produce_raw("plain", 0, batch(&vals("x", 0..1), None), -1)
        .await;
    assert_eq!(code_of(&r), Some(ErrorCode::InvalidRequest));
    assert!(
        message_of(&r).contains("cluster link 'ro'"),
        "{}",
        message_of(&r)
    );

    // On: acknowledged with the source's offsets (acks=-1 and acks=1), which the mirror
    // gives the same records once copied.
    let a = dst
        .produce_raw("fw", 0, batch(&vals("dst", 0..3), None), -1)
        .await
        .unwrap();
    let b = dst
        .produce_raw("fw", 0, batch(&vals("dst", 3..5), None), 1)
        .await
        .unwrap();
    assert_eq!((a.base_offset, b.base_offset), (5, 8));
    wait_leo(&dst, "fw", 10).await;
    let mirrored = records(&dst, "fw").await;
    let on_source = records(&src, "fw").await;
    assert_eq!(mirrored, on_source);
    let expected: Vec<(i64, String)> = (0..5)
        .map(|i| (i, format!("src-{i}")))
        .chain((0..5).map(|i| (5 + i, format!("dst-{i}"))))
        .collect();
    let got: Vec<(i64, String)> = mirrored.into_iter().map(|(o, v, _)| (o, v)).collect();
    assert_eq!(got, expected);
    let plain = records(&dst, "plain").await;
    assert_eq!(
        plain.len(),
        5,
        "nothing was written to the non-forwarding mirror"
    );

    // Transactional batches are not forwarded.
    let txn = strait_records::BatchBuilder::new(0)
        .producer(77, 0, 0)
        .transactional(true)
        .append(0, None, Some(b"t"))
        .build()
        .unwrap();
    let r = dst.produce_raw("fw", 0, Bytes::from(txn), -1).await;
    assert_eq!(code_of(&r), Some(ErrorCode::InvalidTxnState));
    assert!(
        message_of(&r).contains("transactions are not forwarded"),
        "{}",
        message_of(&r)
    );

    // AddPartitionsToTxn for a forwarding mirror: INVALID_TXN_STATE (the non-forwarding
    // mirror keeps INVALID_REQUEST).
    let conn = dst.any_broker().await.unwrap();
    let add = |topic: &str| {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
            .with_v3_and_below_producer_id(ProducerId(1))
            .with_v3_and_below_producer_epoch(0)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![0])])
    };
    for (topic, code) in [
        ("fw", ErrorCode::InvalidTxnState),
        ("plain", ErrorCode::InvalidRequest),
    ] {
        let r = conn.send(&add(topic), 3).await.unwrap();
        let got = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
        assert_eq!(got, code.code(), "{topic}");
    }

    // A PAUSED mirror does not copy, so it does not forward either.
    alter(&dst, MirrorOp::Pause, "fw").await;
    wait_state(&dst, "fw", "PAUSED").await;
    let r = dst
        .produce_raw("fw", 0, batch(&vals("p", 0..1), None), -1)
        .await;
    assert_eq!(code_of(&r), Some(ErrorCode::InvalidRequest));
    assert!(
        message_of(&r).contains("not forwarded"),
        "{}",
        message_of(&r)
    );
    alter(&dst, MirrorOp::Resume, "fw").await;
    wait_state(&dst, "fw", "ACTIVE").await;
    let c = dst
        .produce_raw("fw", 0, batch(&vals("dst", 5..6), None), -1)
        .await
        .unwrap();
    assert_eq!(c.base_offset, 10);
    assert_eq!(records(&src, "fw").await.len(), 11);

    // A source partition error passes through with its code: the source topic is deleted
    // (the mirror is still ACTIVE within cluster.link.retry.timeout.ms), so the source
    // answers UNKNOWN_TOPIC_OR_PARTITION, which producers retry.
    src.delete_topics(&["fw"], 10_000).await.unwrap();
    let r = dst
        .produce_raw("fw", 0, batch(&vals("d", 0..1), None), -1)
        .await;
    assert_eq!(
        code_of(&r),
        Some(ErrorCode::UnknownTopicOrPartition),
        "{}",
        message_of(&r)
    );
    assert!(code_of(&r).unwrap().is_retriable());
    assert!(
        message_of(&r).contains("forwarded over cluster link 'fwd'"),
        "{}",
        message_of(&r)
    );
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_source_is_retriable() {
    let (_sd, _dd, source, dest) = pair().await;
    let (src, dst) = (client(&source).await, client(&dest).await);
    source_topics(&src, &["gone"]).await;
    src.produce_raw("gone", 0, batch(&vals("src", 0..2), None), -1)
        .await
        .unwrap();
    create_link_with(
        &dst,
        "fwd",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("mirror.produce.forwarding.enable", "true"),
        ],
    )
    .await;
    create_mirror(&dst, "gone", "fwd").await;
    wait_leo(&dst, "gone", 2).await;
    dst.refresh_metadata(&["gone"]).await.unwrap();
    // The source stops listening before the first forward: the forwarder cannot connect.
    src.close().await;
    source.shutdown();
    let r = dst
        .produce_raw("gone", 0, batch(&vals("x", 0..1), None), -1)
        .await;
    let code = code_of(&r).unwrap();
    assert!(
        matches!(code, ErrorCode::RequestTimedOut),
        "{code:?}: {}",
        message_of(&r)
    );
    assert!(code.is_retriable());
    assert!(
        message_of(&r).contains("cluster link 'fwd'"),
        "{}",
        message_of(&r)
    );
    dest.shutdown();
}

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
    user_linker=\"linker-secret\";";

fn sasl_config(port: u16, user: &str, password: &str) -> BTreeMap<String, String> {
    [
        ("bootstrap.servers".to_string(), format!("127.0.0.1:{port}")),
        ("security.protocol".into(), "SASL_PLAINTEXT".into()),
        ("sasl.mechanism".into(), "PLAIN".into()),
        (
            "sasl.jaas.config".into(),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=\"{password}\";"),
        ),
    ]
    .into_iter()
    .collect()
}

fn allow(rt: ResourceType, name: &str, op: AclOperation) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:linker".into(),
        host: "*".into(),
        operation: op,
        permission_type: AclPermissionType::Allow,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_acl_refusal_is_passed_through() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = RunningBroker::start(
        BrokerConfig::load(
            None,
            &[
                format!("log.dirs={}", sd.path().display()),
                "listeners=SASL_PLAINTEXT://127.0.0.1:0".into(),
                format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                    .into(),
                "super.users=User:admin".into(),
            ],
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let dest = start(dd.path()).await;
    let port = source.listeners[0].port;
    let (mut cc, _) =
        ClientConfig::from_properties(&sasl_config(port, "admin", "admin-secret")).unwrap();
    cc.request_timeout = Duration::from_secs(10);
    let src = Client::connect(&cc).await.unwrap();
    source_topics(&src, &["guarded"]).await;
    src.produce_raw("guarded", 0, batch(&vals("src", 0..2), None), -1)
        .await
        .unwrap();
    // The link's principal may read and describe, not write.
    let created = src
        .create_acls(&[
            allow(ResourceType::Topic, "guarded", AclOperation::Read),
            allow(ResourceType::Topic, "guarded", AclOperation::Describe),
            allow(
                ResourceType::Topic,
                "guarded",
                AclOperation::DescribeConfigs,
            ),
            allow(
                ResourceType::Cluster,
                "kafka-cluster",
                AclOperation::Describe,
            ),
        ])
        .await
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    let dst = client(&dest).await;
    let mut link = sasl_config(port, "linker", "linker-secret");
    link.insert("mirror.produce.forwarding.enable".into(), "true".into());
    let link: Vec<(&str, &str)> = link.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    create_link_with(&dst, "sec", &link).await;
    create_mirror(&dst, "guarded", "sec").await;
    wait_leo(&dst, "guarded", 2).await;
    dst.refresh_metadata(&["guarded"]).await.unwrap();
    let r = dst
        .produce_raw("guarded", 0, batch(&vals("x", 0..1), None), -1)
        .await;
    assert_eq!(
        code_of(&r),
        Some(ErrorCode::TopicAuthorizationFailed),
        "{}",
        message_of(&r)
    );
    assert!(
        message_of(&r).contains("forwarded over cluster link 'sec'"),
        "{}",
        message_of(&r)
    );
    assert_eq!(records(&src, "guarded").await.len(), 2);
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_forwarded_then_promoted_exactly_once() {
    let (_sd, _dd, source, dest) = pair().await;
    let (src, dst) = (client(&source).await, client(&dest).await);
    source_topics(&src, &["idem"]).await;
    create_link_with(
        &dst,
        "fwd",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("metadata.max.age.ms", "500"),
            ("mirror.produce.forwarding.enable", "true"),
            ("auto.create.mirror.topics.enable", "false"),
            ("auto.create.mirror.topics.filters", ALL),
        ],
    )
    .await;
    create_mirror(&dst, "idem", "fwd").await;
    dst.refresh_metadata(&["idem"]).await.unwrap();
    // The source hands out a few ids first, so its next id differs from the destination's.
    let mut burned = -1;
    for _ in 0..3 {
        burned = init_producer_id(&src).await.0;
    }
    let (pid, epoch) = init_producer_id(&dst).await;
    assert_eq!(pid, burned + 1, "the producer id comes from the source");

    // Forwarded: sequences 0..5, two records each, acknowledged with the source's offsets.
    let values = |seq: i32| vals("v", seq * 2..seq * 2 + 2);
    for seq in 0..5 {
        let r = dst
            .produce_raw(
                "idem",
                0,
                batch(&values(seq), Some((pid, epoch, seq * 2))),
                -1,
            )
            .await
            .unwrap();
        assert_eq!(r.base_offset, i64::from(seq) * 2);
    }
    // A retry of the last batch is deduplicated by the source (same offset, nothing added).
    let retry = dst
        .produce_raw("idem", 0, batch(&values(4), Some((pid, epoch, 8))), -1)
        .await
        .unwrap();
    assert_eq!(retry.base_offset, 8);
    wait_leo(&dst, "idem", 10).await;

    alter(&dst, MirrorOp::Promote, "idem").await;
    wait_state(&dst, "idem", "STOPPED").await;

    // Local now: the same producer continues with its next sequence; a gap is refused and a
    // retry of the last forwarded batch is recognised as a duplicate.
    let gap = dst
        .produce_raw("idem", 0, batch(&values(9), Some((pid, epoch, 18))), -1)
        .await;
    assert_eq!(code_of(&gap), Some(ErrorCode::OutOfOrderSequenceNumber));
    let dup = dst
        .produce_raw("idem", 0, batch(&values(4), Some((pid, epoch, 8))), -1)
        .await;
    assert!(
        dup.is_ok() || code_of(&dup) == Some(ErrorCode::DuplicateSequenceNumber),
        "{dup:?}"
    );
    for seq in 5..8 {
        let r = dst
            .produce_raw(
                "idem",
                0,
                batch(&values(seq), Some((pid, epoch, seq * 2))),
                -1,
            )
            .await
            .unwrap();
        assert_eq!(r.base_offset, i64::from(seq) * 2);
    }
    let on_dest = records(&dst, "idem").await;
    let want: Vec<(i64, String, i64)> = (0..16).map(|i| (i, format!("v-{i}"), pid)).collect();
    assert_eq!(on_dest, want, "every record exactly once, in order");
    assert_eq!(records(&src, "idem").await.len(), 10);
    // A destination-allocated id never collides with the forwarded one.
    let next_local = dest.broker.next_producer_id().unwrap();
    assert!(next_local > pid, "{next_local} > {pid}");
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_forwarded_across_the_promotion_is_retried_onto_the_promoted_topic() {
    let (_sd, _dd, source, dest) = pair().await;
    let (src, dst) = (client(&source).await, client(&dest).await);
    source_topics(&src, &["race"]).await;
    src.produce_raw("race", 0, batch(&vals("src", 0..3), None), -1)
        .await
        .unwrap();
    create_link_with(
        &dst,
        "fwd",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("mirror.produce.forwarding.enable", "true"),
        ],
    )
    .await;
    create_mirror(&dst, "race", "fwd").await;
    wait_leo(&dst, "race", 3).await;
    dst.refresh_metadata(&["race"]).await.unwrap();
    let (pid, epoch) = init_producer_id(&dst).await;
    let late = batch(&vals("late", 0..1), Some((pid, epoch, 0)));

    // The forward is decided while the mirror is ACTIVE and held (fault injection) until the
    // promotion has committed, so the record reaches the source after the final offset.
    let before = strait_link::forward::test_forwards_delayed();
    strait_link::forward::set_test_forward_delay("race", Some(Duration::from_secs(20)));
    // Its own client: a connection handles one request at a time, so the admin requests
    // below must not queue behind the held produce.
    let (dst2, late2) = (client(&dest).await, late.clone());
    dst2.refresh_metadata(&["race"]).await.unwrap();
    let pending = tokio::spawn(async move { dst2.produce_raw("race", 0, late2, -1).await });
    wait_for("the forward to be in flight", || async {
        strait_link::forward::test_forwards_delayed() > before
    })
    .await;
    alter(&dst, MirrorOp::Promote, "race").await;
    wait_state(&dst, "race", "STOPPED").await;
    assert!(
        !pending.is_finished(),
        "the forward must still be in flight at the commit"
    );
    strait_link::forward::set_test_forward_delay("race", None);
    let r = pending.await.unwrap();
    assert_eq!(
        code_of(&r),
        Some(ErrorCode::NotLeaderOrFollower),
        "{}",
        message_of(&r)
    );
    assert!(message_of(&r).contains("promoted"), "{}", message_of(&r));
    assert_eq!(
        records(&src, "race").await.len(),
        4,
        "the source got it after the fence"
    );
    assert_eq!(
        records(&dst, "race").await.len(),
        3,
        "the promoted topic did not"
    );
    // The producer's retry (same sequence) is written once, on the promoted topic.
    let retried = dst.produce_raw("race", 0, late, -1).await.unwrap();
    assert_eq!(retried.base_offset, 3);
    let values: Vec<String> = records(&dst, "race")
        .await
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(values, ["src-0", "src-1", "src-2", "late-0"]);
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_links_to_two_sources_refuse_producer_ids() {
    let (_sd, _dd, a, dest) = pair().await;
    let bd = tempfile::tempdir().unwrap();
    let b = start(bd.path()).await;
    let dst = client(&dest).await;
    for (name, source) in [("to-a", &a), ("to-b", &b)] {
        create_link_with(
            &dst,
            name,
            &[
                ("bootstrap.servers", &addr(source)),
                ("mirror.produce.forwarding.enable", "true"),
            ],
        )
        .await;
    }
    let conn = dst.any_broker().await.unwrap();
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let r = conn.send(&req, 4).await.unwrap();
    assert_eq!(r.error_code, ErrorCode::InvalidRequest.code());
    // One forwarding link again: ids come from its source.
    let alter = strait_protocol::link_admin::AlterClusterLinkConfigsRequest {
        link_name: "to-b".into(),
        ops: vec![strait_protocol::link_admin::LinkConfigOp {
            name: "mirror.produce.forwarding.enable".into(),
            value: Some("false".into()),
            op: strait_protocol::link_admin::ConfigOpKind::Set,
        }],
        validate_only: false,
        validate_link: false,
        timeout_ms: 10_000,
    };
    let resp: strait_protocol::link_admin::AlterClusterLinkConfigsResponse =
        admin(&dst, &alter).await;
    assert_eq!(resp.error_code, 0, "{:?}", resp.error_message);
    let r = conn.send(&req, 4).await.unwrap();
    assert_eq!(r.error_code, 0);
    a.shutdown();
    b.shutdown();
    dest.shutdown();
}
