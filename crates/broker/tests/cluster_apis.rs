#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! The cluster admin APIs' wire edge cases no admin client sends (the client-driven checks
//! are protocol-tests/test_cluster_apis.py): DescribeTopicPartitions cursors and limits,
//! ElectLeaders v0 and unknown election types, CreateTopics duplicates and assignment
//! shapes. Requests are encoded as a client would and handed to `dispatch::handle`; each
//! test has its own temporary log directory.

mod support;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};
use strait_broker::Broker;

fn open(dir: &std::path::Path) -> Broker {
    support::open_broker(dir, &[])
}

async fn call<R: Request>(broker: &Broker, version: i16, req: R) -> R::Response {
    support::dispatch_call(broker, version, req).await
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn topic(name_: &str, partitions: i32, rf: i16) -> create_topics_request::CreatableTopic {
    create_topics_request::CreatableTopic::default()
        .with_name(name(name_))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
}

async fn create(
    broker: &Broker,
    topics: Vec<create_topics_request::CreatableTopic>,
) -> Vec<(String, i16, String)> {
    call(
        broker,
        7,
        CreateTopicsRequest::default()
            .with_topics(topics)
            .with_timeout_ms(10_000),
    )
    .await
    .topics
    .into_iter()
    .map(|t| {
        let msg = t.error_message.map(|m| m.to_string()).unwrap_or_default();
        (t.name.0.to_string(), t.error_code, msg)
    })
    .collect()
}

fn dtp(topics: &[&str], limit: i32, cursor: Option<(&str, i32)>) -> DescribeTopicPartitionsRequest {
    DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    describe_topic_partitions_request::TopicRequest::default().with_name(name(t))
                })
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            describe_topic_partitions_request::Cursor::default()
                .with_topic_name(name(t))
                .with_partition_index(p)
        }))
}

/// One topic of a response: (topic, error, [partition indexes]).
type TopicSummary = (String, i16, Vec<i32>);

/// Each topic of a response, and the next cursor.
fn summary(r: &DescribeTopicPartitionsResponse) -> (Vec<TopicSummary>, Option<(String, i32)>) {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let cursor = r
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index));
    (topics, cursor)
}

fn s(x: &str) -> String {
    x.to_string()
}

#[tokio::test]
async fn describe_topic_partitions_pages_and_refuses_bad_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let made = create(
        &b,
        vec![topic("a", 2, 1), topic("b", 2, 1), topic("c", 1, -1)],
    )
    .await;
    assert!(made.iter().all(|(_, e, _)| *e == 0), "{made:?}");

    // All topics, three partitions per page.
    let p1 = call(&b, 0, dtp(&[], 3, None)).await;
    assert_eq!(
        summary(&p1),
        (
            vec![(s("a"), 0, vec![0, 1]), (s("b"), 0, vec![0])],
            Some((s("b"), 1))
        )
    );
    let p2 = call(&b, 0, dtp(&[], 3, Some(("b", 1)))).await;
    assert_eq!(
        summary(&p2),
        (vec![(s("b"), 0, vec![1]), (s("c"), 0, vec![0])], None)
    );
    let part = &p1.topics[0].partitions[1];
    assert_eq!((part.leader_id.0, part.leader_epoch), (1, 0));
    assert_eq!(part.replica_nodes, vec![BrokerId(1)]);
    assert_eq!(part.isr_nodes, vec![BrokerId(1)]);
    assert_eq!(part.eligible_leader_replicas, Some(vec![]));
    assert!(part.offline_replicas.is_empty());
    assert!(!p1.topics[0].topic_id.is_nil());

    // Named topics: sorted, a duplicate answered once, unknown and invalid names reported.
    let named = call(&b, 0, dtp(&["c", "zz", "a", "c", "bad/name"], 2000, None)).await;
    assert_eq!(
        summary(&named).0,
        vec![
            (s("a"), 0, vec![0, 1]),
            (s("bad/name"), 17, vec![]), // INVALID_TOPIC_EXCEPTION
            (s("c"), 0, vec![0]),
            (s("zz"), 3, vec![]), // UNKNOWN_TOPIC_OR_PARTITION
        ]
    );

    // A cursor naming a topic outside the list, or a negative partition: INVALID_REQUEST
    // on every named topic.
    let outside = call(&b, 0, dtp(&["a", "b"], 10, Some(("c", 0)))).await;
    assert_eq!(
        summary(&outside),
        (vec![(s("a"), 42, vec![]), (s("b"), 42, vec![])], None)
    );
    let negative = call(&b, 0, dtp(&["a"], 10, Some(("a", -1)))).await;
    assert_eq!(summary(&negative).0, vec![(s("a"), 42, vec![])]);

    // The limit is at least one partition.
    let zero = call(&b, 0, dtp(&["a"], 0, None)).await;
    assert_eq!(
        summary(&zero),
        (vec![(s("a"), 0, vec![0])], Some((s("a"), 1)))
    );
}

#[tokio::test]
async fn elect_leaders_v0_and_unknown_election_types() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    create(&b, vec![topic("e", 1, 1)]).await;
    let tp = |t: &str, p: Vec<i32>| {
        elect_leaders_request::TopicPartitions::default()
            .with_topic(name(t))
            .with_partitions(p)
    };

    // v0 has no election type (PREFERRED) and no top-level error code.
    let v0 = call(
        &b,
        0,
        ElectLeadersRequest::default().with_topic_partitions(Some(vec![tp("e", vec![0, 3])])),
    )
    .await;
    let codes: Vec<_> = v0.replica_election_results[0]
        .partition_result
        .iter()
        .map(|p| (p.partition_id, p.error_code))
        .collect();
    assert_eq!(codes, vec![(0, 84), (3, 3)]); // ELECTION_NOT_NEEDED, UNKNOWN_TOPIC_OR_PARTITION

    let bad = call(
        &b,
        2,
        ElectLeadersRequest::default()
            .with_election_type(7)
            .with_topic_partitions(Some(vec![tp("e", vec![0])])),
    )
    .await;
    assert_eq!(bad.error_code, 42);
    let p = &bad.replica_election_results[0].partition_result[0];
    assert_eq!(p.error_code, 42);
    assert_eq!(p.error_message.as_deref(), Some("Unknown election type 7"));

    // Null topics: every partition, those needing no election left out.
    let all = call(
        &b,
        2,
        ElectLeadersRequest::default()
            .with_election_type(1)
            .with_topic_partitions(None),
    )
    .await;
    assert_eq!(all.error_code, 0);
    assert_eq!(all.replica_election_results.len(), 1);
    assert!(all.replica_election_results[0].partition_result.is_empty());
}

#[tokio::test]
async fn create_topics_duplicates_and_assignment_shapes_are_refused_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let assign = |p: i32, brokers: &[i32]| {
        create_topics_request::CreatableReplicaAssignment::default()
            .with_partition_index(p)
            .with_broker_ids(brokers.iter().copied().map(BrokerId).collect())
    };
    let dup = create(
        &b,
        vec![topic("d", 1, 1), topic("d", 2, 1), topic("ok", 1, 1)],
    )
    .await;
    assert_eq!(
        dup,
        vec![
            (s("d"), 42, s("Duplicate topic name.")),
            (s("ok"), 0, s(""))
        ]
    );

    let results = create(
        &b,
        vec![
            topic("both", 2, -1).with_assignments(vec![assign(0, &[1])]),
            topic("gap", -1, -1).with_assignments(vec![assign(0, &[1]), assign(2, &[1])]),
            topic("twice", -1, -1).with_assignments(vec![assign(0, &[1]), assign(0, &[1])]),
            topic("empty", -1, -1).with_assignments(vec![assign(0, &[])]),
            topic("rf0", 1, 0),
            topic("np0", 0, 1),
        ],
    )
    .await;
    let expect = [
        (
            "both",
            42,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ),
        (
            "gap",
            39,
            "partitions should be a consecutive 0-based integer sequence",
        ),
        (
            "twice",
            39,
            "Found multiple manual partition assignments for partition 0",
        ),
        (
            "empty",
            39,
            "The manual partition assignment includes an empty replica list.",
        ),
        (
            "rf0",
            38,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ),
        (
            "np0",
            37,
            "Number of partitions was set to an invalid non-positive value.",
        ),
    ];
    assert_eq!(
        results,
        expect
            .iter()
            .map(|(n, c, m)| (s(n), *c, s(m)))
            .collect::<Vec<_>>()
    );

    // Only "ok" exists; Metadata still lists this one broker with every replica on it.
    let md = call(&b, 12, MetadataRequest::default().with_topics(None)).await;
    let names: Vec<_> = md
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    assert_eq!(names, vec![s("ok")]);
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.controller_id, BrokerId(1));
    let p = &md.topics[0].partitions[0];
    assert_eq!(
        (p.leader_id, p.replica_nodes.clone(), p.isr_nodes.clone()),
        (BrokerId(1), vec![BrokerId(1)], vec![BrokerId(1)])
    );
}
