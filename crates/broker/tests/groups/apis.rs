//! The group APIs as APIs: DeleteGroups and OffsetDelete, FindCoordinator at every
//! version, and every group API version round-tripping.

use super::*;

#[tokio::test]
async fn delete_groups_and_offset_delete() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    create_topic(&b, "t", 2).await;
    create_topic(&b, "other", 1).await;
    let j = join(&b, "dg", "", 10_000).await;
    let m = j.member_id.to_string();
    assert_eq!(sync(&b, "dg", &m, 1, &[(&m, "x")]).await.error_code, 0);
    let r = call(&b, 8, commit_req("dg", 1, &m, "t", &[(0, 1, -1, "")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = call(&b, 8, commit_req("dg", 1, &m, "other", &[(0, 2, -1, "")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    // DeleteGroups: active group, unknown group.
    let r = call(
        &b,
        2,
        DeleteGroupsRequest::default().with_groups_names(vec![gid("dg"), gid("unknown")]),
    )
    .await;
    let errs: Vec<i16> = r.results.iter().map(|g| g.error_code).collect();
    assert_eq!(errs, vec![68, 69], "NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND");

    // OffsetDelete: the subscribed topic is refused, the other is deleted.
    let od = |topic: &str, parts: Vec<i32>| {
        OffsetDeleteRequest::default()
            .with_group_id(gid("dg"))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(tname(topic))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|p| {
                                offset_delete_request::OffsetDeleteRequestPartition::default()
                                    .with_partition_index(p)
                            })
                            .collect(),
                    ),
            ])
    };
    let r = call(&b, 0, od("t", vec![0])).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.topics[0].partitions[0].error_code, 86,
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    let r = call(&b, 0, od("other", vec![0])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(fetch_offsets(&b, "dg", "other", &[0]).await[0].1, -1);
    let r = call(&b, 0, od("missing", vec![0])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 3);
    let r = call(
        &b,
        0,
        OffsetDeleteRequest::default().with_group_id(gid("unknown")),
    )
    .await;
    assert_eq!(r.error_code, 69);

    // ListGroups with a states filter.
    let l = call(
        &b,
        4,
        ListGroupsRequest::default().with_states_filter(vec![s("stable")]),
    )
    .await;
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_id.0.as_str(), "dg");
    let l = call(
        &b,
        4,
        ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
    )
    .await;
    assert!(l.groups.is_empty());

    // Once the member leaves, the group is Empty: offsets can go, then the group.
    let leave = call(
        &b,
        1,
        LeaveGroupRequest::default()
            .with_group_id(gid("dg"))
            .with_member_id(s(&m)),
    )
    .await;
    assert_eq!(leave.error_code, 0);
    let r = call(&b, 0, od("t", vec![0])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(fetch_offsets(&b, "dg", "t", &[0]).await[0].1, -1);
    let r = call(
        &b,
        1,
        DeleteGroupsRequest::default().with_groups_names(vec![gid("dg")]),
    )
    .await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(describe(&b, "dg").await.group_state.as_str(), "Dead");
    drop(b);
    let b = open(dir.path(), &[]);
    assert_eq!(describe(&b, "dg").await.group_state.as_str(), "Dead");
}

#[tokio::test]
async fn find_coordinator_all_versions() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    for v in 0..=3 {
        let r = call(
            &b,
            v,
            FindCoordinatorRequest::default()
                .with_key(s("g"))
                .with_key_type(if v >= 1 { 1 } else { 0 }),
        )
        .await;
        assert_eq!(r.error_code, 0, "v{v}");
        assert_eq!(r.node_id.0, 1);
        assert_eq!(r.host.as_str(), "127.0.0.1");
        assert_eq!(r.port, 9092);
    }
    for v in 4..=6 {
        let r = call(
            &b,
            v,
            FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![s("a"), s("b")]),
        )
        .await;
        assert_eq!(r.coordinators.len(), 2, "v{v}");
        assert!(r
            .coordinators
            .iter()
            .all(|c| c.error_code == 0 && c.node_id.0 == 1));
        assert_eq!(r.coordinators[1].key.as_str(), "b");
    }
    let r = call(
        &b,
        4,
        FindCoordinatorRequest::default()
            .with_key_type(5)
            .with_coordinator_keys(vec![s("a")]),
    )
    .await;
    assert_eq!(r.coordinators[0].error_code, 42, "INVALID_REQUEST");
}

#[tokio::test]
async fn every_group_api_version_round_trips() {
    // Encode each advertised version of each group API and decode the answer: catches a
    // field set outside its versions (the codec refuses to encode those).
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &["group.initial.rebalance.delay.ms=0"]);
    create_topic(&b, "t", 1).await;
    for v in 0..=9 {
        let r = call(&b, v, join_req(&format!("v{v}"), "", 10_000, &["t"])).await;
        assert!(
            r.error_code == 0 || r.error_code == 79,
            "join v{v}: {}",
            r.error_code
        );
    }
    for v in 0..=5 {
        let _ = call(&b, v, SyncGroupRequest::default().with_group_id(gid("v0"))).await;
        let _ = call(&b, v, LeaveGroupRequest::default().with_group_id(gid("v1"))).await;
        let r = call(
            &b,
            v,
            DescribeGroupsRequest::default().with_groups(vec![gid("v0"), gid("none")]),
        )
        .await;
        assert_eq!(r.groups.len(), 2);
        let _ = call(&b, v, ListGroupsRequest::default()).await;
    }
    for v in 0..=4 {
        let _ = call(&b, v, HeartbeatRequest::default().with_group_id(gid("v0"))).await;
    }
    for v in 2..=9 {
        let r = call(
            &b,
            v,
            commit_req(&format!("c{v}"), -1, "", "t", &[(0, 1, 0, "")]),
        )
        .await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0, "commit v{v}");
    }
    for v in 1..=7 {
        let r = call(
            &b,
            v,
            OffsetFetchRequest::default()
                .with_group_id(gid("c9"))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(tname("t"))
                        .with_partition_indexes(vec![0]),
                ])),
        )
        .await;
        assert_eq!(r.topics[0].partitions[0].committed_offset, 1, "fetch v{v}");
    }
    for v in 0..=2 {
        let r = call(
            &b,
            v,
            DeleteGroupsRequest::default().with_groups_names(vec![gid(&format!("c{}", v + 2))]),
        )
        .await;
        assert_eq!(r.results[0].error_code, 0);
    }
}
