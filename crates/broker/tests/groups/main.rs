#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! In-process tests of the group coordinator: requests encoded as a client would, handed to
//! `dispatch::handle`, responses decoded. Timeouts are small and every wait is on a
//! condition with a deadline.
//!
//! The request helpers are here; the tests are in [`membership`], [`offsets`] and [`apis`].

#[path = "../support/mod.rs"]
mod support;

mod apis;
mod membership;
mod offsets;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strait_broker::Broker;
use support::{dispatch_call as call, open_broker};

const GROUP_OVERRIDES: &[&str] = &[
    "group.initial.rebalance.delay.ms=100",
    "group.min.session.timeout.ms=100",
];

fn open(dir: &std::path::Path, extra: &[&str]) -> Broker {
    let o: Vec<&str> = GROUP_OVERRIDES.iter().chain(extra).copied().collect();
    open_broker(dir, &o)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn tname(v: &str) -> TopicName {
    TopicName(s(v))
}

async fn create_topic(broker: &Broker, topic: &str, partitions: i32) {
    let t = create_topics_request::CreatableTopic::default()
        .with_name(tname(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    let resp = call(
        broker,
        7,
        CreateTopicsRequest::default()
            .with_topics(vec![t])
            .with_timeout_ms(1000),
    )
    .await;
    assert_eq!(resp.topics[0].error_code, 0);
}

/// ConsumerProtocolSubscription v0 for `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

fn join_req(group: &str, member: &str, session_ms: i32, topics: &[&str]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_member_id(s(member))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(2000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(subscription(topics))])
}

/// JoinGroup v5 including the MEMBER_ID_REQUIRED round trip; returns the final answer.
async fn join(broker: &Broker, group: &str, member: &str, session_ms: i32) -> JoinGroupResponse {
    let mut member = member.to_string();
    loop {
        let r = call(broker, 5, join_req(group, &member, session_ms, &["t"])).await;
        if r.error_code == 79 {
            assert!(!r.member_id.is_empty());
            member = r.member_id.to_string();
            continue;
        }
        return r;
    }
}

async fn sync(
    broker: &Broker,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> SyncGroupResponse {
    call(
        broker,
        3,
        SyncGroupRequest::default()
            .with_group_id(gid(group))
            .with_member_id(s(member))
            .with_generation_id(generation)
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, a)| {
                        sync_group_request::SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(Bytes::from(a.to_string()))
                    })
                    .collect(),
            ),
    )
    .await
}

async fn heartbeat(broker: &Broker, group: &str, member: &str, generation: i32) -> i16 {
    call(
        broker,
        3,
        HeartbeatRequest::default()
            .with_group_id(gid(group))
            .with_member_id(s(member))
            .with_generation_id(generation),
    )
    .await
    .error_code
}

async fn describe(broker: &Broker, group: &str) -> describe_groups_response::DescribedGroup {
    let r = call(
        broker,
        5,
        DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
    )
    .await;
    r.groups.into_iter().next().unwrap()
}

/// Polls `f` until it returns Some, or fails after `secs`.
async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn commit_req(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    parts: &[(i32, i64, i32, &str)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(tname(topic))
                .with_partitions(
                    parts
                        .iter()
                        .map(|(p, o, e, m)| {
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                                .with_committed_leader_epoch(*e)
                                .with_committed_metadata(Some(s(m)))
                        })
                        .collect(),
                ),
        ])
}

/// OffsetFetch v7 of `partitions` of `topic`: (partition, offset, epoch, metadata, error).
async fn fetch_offsets(
    broker: &Broker,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i64, i32, String, i16)> {
    let r = call(
        broker,
        7,
        OffsetFetchRequest::default()
            .with_group_id(gid(group))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(tname(topic))
                    .with_partition_indexes(partitions.to_vec()),
            ])),
    )
    .await;
    assert_eq!(r.error_code, 0);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                p.error_code,
            )
        })
        .collect()
}
