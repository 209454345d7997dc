#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Consumer offsets inside transactions, end to end over a real socket: InitProducerId
//! with a transactional id, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, and what OffsetFetch
//! (with and without `require_stable`) sees meanwhile and afterwards; a restart with an
//! open transaction, which the coordinator then aborts on its timeout.

mod support;

use bytes::BytesMut;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Request, StrBytes};
use strait_client::Client;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const PRODUCER_FENCED: i16 = 90;

async fn call<R: Request>(c: &Client, version: i16, req: R) -> R::Response {
    let mut buf = BytesMut::new();
    req.encode(&mut buf, version).unwrap();
    let mut body = c.send_raw(R::KEY, version, &buf).await.unwrap();
    R::Response::decode(&mut body, version).unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn create_topic(c: &Client, topic: &str, partitions: i32) {
    let t = create_topics_request::CreatableTopic::default()
        .with_name(TopicName(s(topic)))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    let r = call(
        c,
        7,
        CreateTopicsRequest::default()
            .with_topics(vec![t])
            .with_timeout_ms(5000),
    )
    .await;
    assert_eq!(r.topics[0].error_code, 0);
}

/// A transactional producer's identity.
#[derive(Clone, Copy)]
struct Producer {
    id: i64,
    epoch: i16,
}

async fn init_producer(c: &Client, tid: &str, timeout_ms: i32) -> Producer {
    let r = call(
        c,
        4,
        InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(tid))))
            .with_transaction_timeout_ms(timeout_ms)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
    .await;
    assert_eq!(r.error_code, 0, "InitProducerId");
    Producer {
        id: r.producer_id.0,
        epoch: r.producer_epoch,
    }
}

async fn add_offsets(c: &Client, tid: &str, p: Producer, group: &str) -> i16 {
    call(
        c,
        3,
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s(tid)))
            .with_producer_id(ProducerId(p.id))
            .with_producer_epoch(p.epoch)
            .with_group_id(GroupId(s(group))),
    )
    .await
    .error_code
}

async fn end_txn(c: &Client, tid: &str, p: Producer, commit: bool) -> i16 {
    call(
        c,
        3,
        EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(tid)))
            .with_producer_id(ProducerId(p.id))
            .with_producer_epoch(p.epoch)
            .with_committed(commit),
    )
    .await
    .error_code
}

/// TxnOffsetCommit of `parts` (partition, offset) of topic `t`; errors in request order.
async fn txn_commit(
    c: &Client,
    version: i16,
    tid: &str,
    p: Producer,
    group: &str,
    topic: &str,
    parts: &[(i32, i64)],
) -> Vec<i16> {
    let r = call(
        c,
        version,
        TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(tid)))
            .with_group_id(GroupId(s(group)))
            .with_producer_id(ProducerId(p.id))
            .with_producer_epoch(p.epoch)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|(i, o)| {
                                txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(
                                )
                                .with_partition_index(*i)
                                .with_committed_offset(*o)
                                .with_committed_leader_epoch(2)
                                .with_committed_metadata(Some(s("txn")))
                            })
                            .collect(),
                    ),
            ]),
    )
    .await;
    assert_eq!(r.topics.len(), 1);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// OffsetFetch v7 of `t` partitions 0 and 1: (offset, error) each.
async fn fetch_v7(c: &Client, group: &str, stable: bool) -> Vec<(i64, i16)> {
    let r = call(
        c,
        7,
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_require_stable(stable)
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0, 1]),
            ])),
    )
    .await;
    assert_eq!(r.error_code, 0);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.error_code))
        .collect()
}

/// OffsetFetch v8 (batched), every offset of the group: (topic, partition, offset, error).
async fn fetch_v8_all(c: &Client, group: &str, stable: bool) -> Vec<(String, i32, i64, i16)> {
    let r = call(
        c,
        8,
        OffsetFetchRequest::default()
            .with_require_stable(stable)
            .with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(group)))
                    .with_topics(None),
            ]),
    )
    .await;
    assert_eq!(r.groups[0].error_code, 0);
    let mut out = Vec::new();
    for t in &r.groups[0].topics {
        for p in &t.partitions {
            out.push((
                t.name.0.to_string(),
                p.partition_index,
                p.committed_offset,
                p.error_code,
            ));
        }
    }
    out
}

async fn plain_commit(c: &Client, group: &str, partition: i32, offset: i64) {
    let r = call(
        c,
        8,
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset),
                    ]),
            ]),
    )
    .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}

/// Waits (with a deadline) until a require_stable fetch of the group is stable, and
/// returns it: markers and offsets are completed after EndTxn has answered.
async fn wait_stable(c: &Client, group: &str) -> Vec<(i64, i16)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = fetch_v7(c, group, true).await;
        if got.iter().all(|(_, e)| *e == 0) {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "offsets of {group} still unstable: {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn offsets_become_visible_on_commit_and_vanish_on_abort() {
    let dir = tempfile::tempdir().unwrap();
    let b = support::start(dir.path()).await;
    let c = support::client(&b).await;
    create_topic(&c, "t", 2).await;
    plain_commit(&c, "g", 0, 3).await;
    let p = init_producer(&c, "tx", 60_000).await;

    // Committed transaction.
    assert_eq!(add_offsets(&c, "tx", p, "g").await, 0);
    assert_eq!(
        txn_commit(&c, 3, "tx", p, "g", "t", &[(0, 10), (1, 11)]).await,
        vec![0, 0]
    );
    // Pending: invisible, and require_stable says to wait.
    assert_eq!(fetch_v7(&c, "g", false).await, vec![(3, 0), (-1, 0)]);
    assert_eq!(
        fetch_v7(&c, "g", true).await,
        vec![(-1, UNSTABLE_OFFSET_COMMIT), (-1, UNSTABLE_OFFSET_COMMIT)]
    );
    assert_eq!(
        fetch_v8_all(&c, "g", true).await,
        vec![("t".to_string(), 0, -1, UNSTABLE_OFFSET_COMMIT)]
    );
    assert_eq!(
        fetch_v8_all(&c, "g", false).await,
        vec![("t".to_string(), 0, 3, 0)]
    );
    assert_eq!(end_txn(&c, "tx", p, true).await, 0);
    assert_eq!(wait_stable(&c, "g").await, vec![(10, 0), (11, 0)]);

    // Aborted transaction: the offsets are dropped.
    assert_eq!(add_offsets(&c, "tx", p, "g").await, 0);
    assert_eq!(
        txn_commit(&c, 0, "tx", p, "g", "t", &[(0, 20)]).await,
        vec![0]
    );
    assert_eq!(fetch_v7(&c, "g", true).await[0].1, UNSTABLE_OFFSET_COMMIT);
    assert_eq!(end_txn(&c, "tx", p, false).await, 0);
    assert_eq!(wait_stable(&c, "g").await, vec![(10, 0), (11, 0)]);
    assert!(!b.broker.groups.has_pending_txn_offsets("g"));
    b.shutdown();
}

#[tokio::test]
async fn txn_offset_commit_errors() {
    let dir = tempfile::tempdir().unwrap();
    let b = support::start(dir.path()).await;
    let c = support::client(&b).await;
    create_topic(&c, "t", 2).await;
    let p = init_producer(&c, "tx", 60_000).await;
    // No AddOffsetsToTxn: not in an ongoing transaction.
    assert_eq!(
        txn_commit(&c, 3, "tx", p, "g", "t", &[(0, 1), (1, 1)]).await,
        vec![INVALID_TXN_STATE; 2]
    );
    assert_eq!(add_offsets(&c, "tx", p, "g").await, 0);
    // Unknown topic and partition: per partition, the rest goes through.
    assert_eq!(
        txn_commit(&c, 3, "tx", p, "g", "nope", &[(0, 1)]).await,
        vec![UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        txn_commit(&c, 3, "tx", p, "g", "t", &[(0, 1), (9, 1)]).await,
        vec![0, UNKNOWN_TOPIC_OR_PARTITION]
    );
    // A stale epoch: PRODUCER_FENCED from v3, INVALID_PRODUCER_EPOCH before.
    let stale = Producer {
        id: p.id,
        epoch: p.epoch.wrapping_sub(1),
    };
    assert_eq!(
        txn_commit(&c, 3, "tx", stale, "g", "t", &[(0, 1)]).await,
        vec![PRODUCER_FENCED]
    );
    assert_eq!(
        txn_commit(&c, 2, "tx", stale, "g", "t", &[(0, 1)]).await,
        vec![INVALID_PRODUCER_EPOCH]
    );
    // v3 member fields: checked against the group like OffsetCommit.
    let with_member = |group: &'static str| {
        TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("tx")))
            .with_group_id(GroupId(s(group)))
            .with_producer_id(ProducerId(p.id))
            .with_producer_epoch(p.epoch)
            .with_generation_id(5)
            .with_member_id(s("someone"))
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ])
    };
    // "g" exists (Empty) since the first accepted commit: the member is unknown.
    let r = call(&c, 3, with_member("g")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, UNKNOWN_MEMBER_ID);
    // A group that does not exist has no generation 5.
    assert_eq!(add_offsets(&c, "tx", p, "fresh").await, 0);
    let r = call(&c, 3, with_member("fresh")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, ILLEGAL_GENERATION);
    assert_eq!(end_txn(&c, "tx", p, true).await, 0);
    assert_eq!(wait_stable(&c, "g").await, vec![(1, 0), (-1, 0)]);
    b.shutdown();
}

#[tokio::test]
async fn pending_offsets_survive_a_restart_until_the_timeout_aborts_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ["transaction.abort.timed.out.transaction.cleanup.interval.ms=100".to_string()];
    {
        let b = support::start_with(dir.path(), &cfg).await;
        let c = support::client(&b).await;
        create_topic(&c, "t", 2).await;
        plain_commit(&c, "g", 1, 4).await;
        let p = init_producer(&c, "tx", 4_000).await;
        assert_eq!(add_offsets(&c, "tx", p, "g").await, 0);
        assert_eq!(
            txn_commit(&c, 3, "tx", p, "g", "t", &[(0, 10), (1, 11)]).await,
            vec![0, 0]
        );
        // The broker goes away with the transaction open (the store has the record).
        c.close().await;
        b.shutdown();
    }
    let b = support::start_with(dir.path(), &cfg).await;
    let c = support::client(&b).await;
    // Still pending after the restart (the timeout is seconds away) ...
    assert_eq!(
        fetch_v7(&c, "g", true).await,
        vec![(-1, UNSTABLE_OFFSET_COMMIT), (-1, UNSTABLE_OFFSET_COMMIT)]
    );
    assert_eq!(fetch_v7(&c, "g", false).await, vec![(-1, 0), (4, 0)]);
    // ... until the transaction times out and the coordinator aborts it.
    assert_eq!(wait_stable(&c, "g").await, vec![(-1, 0), (4, 0)]);
    assert!(!b.broker.groups.has_pending_txn_offsets("g"));
    b.shutdown();
}

#[tokio::test]
async fn acls_are_checked_transactional_id_then_group_then_topic() {
    use strait_client::acls::{
        AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType,
    };
    const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
        username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\";";
    let dir = tempfile::tempdir().unwrap();
    let overrides = vec![
        format!("log.dirs={}", dir.path().display()),
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0".to_string(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}"),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        "super.users=User:admin".to_string(),
    ];
    let b = strait_broker::RunningBroker::start(
        strait_broker::BrokerConfig::load(None, &overrides).unwrap(),
    )
    .await
    .unwrap();
    let port = |name: &str| b.listeners.iter().find(|l| l.name == name).unwrap().port;
    let props: std::collections::BTreeMap<String, String> = [
        (
            "bootstrap.servers",
            format!("127.0.0.1:{}", port("SASL_PLAINTEXT")),
        ),
        ("security.protocol", "SASL_PLAINTEXT".to_string()),
        ("sasl.mechanism", "PLAIN".to_string()),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"admin\" password=\"admin-secret\";"
                .to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (admin_cfg, _) = strait_client::ClientConfig::from_properties(&props).unwrap();
    let admin = Client::connect(&admin_cfg).await.unwrap();
    create_topic(&admin, "t", 1).await;
    let anon = Client::connect(&strait_client::ClientConfig::plaintext(&format!(
        "127.0.0.1:{}",
        port("PLAINTEXT")
    )))
    .await
    .unwrap();
    let p = Producer { id: 1, epoch: 0 };
    let allow = |rt: ResourceType, name: &str| AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:ANONYMOUS".into(),
        host: "*".into(),
        operation: if rt == ResourceType::TransactionalId {
            AclOperation::Write
        } else {
            AclOperation::Read
        },
        permission_type: AclPermissionType::Allow,
    };
    let attempt = || txn_commit(&anon, 3, "tx", p, "g", "t", &[(0, 1)]);
    assert_eq!(attempt().await, vec![53]); // TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    let r = admin
        .create_acls(&[allow(ResourceType::TransactionalId, "tx")])
        .await
        .unwrap();
    assert!(r.iter().all(|r| r.is_ok()));
    assert_eq!(attempt().await, vec![30]); // GROUP_AUTHORIZATION_FAILED
    let r = admin
        .create_acls(&[allow(ResourceType::Group, "g")])
        .await
        .unwrap();
    assert!(r.iter().all(|r| r.is_ok()));
    assert_eq!(attempt().await, vec![29]); // TOPIC_AUTHORIZATION_FAILED
    let r = admin
        .create_acls(&[allow(ResourceType::Topic, "t")])
        .await
        .unwrap();
    assert!(r.iter().all(|r| r.is_ok()));
    // Authorized: now the transaction coordinator answers (no such transactional id).
    let code = attempt().await[0];
    assert!(![0, 29, 30, 53].contains(&code), "{code}");
    assert!(!b.broker.groups.has_pending_txn_offsets("g"));
    b.shutdown();
}
