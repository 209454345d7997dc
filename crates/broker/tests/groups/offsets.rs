//! Committed offsets: standalone and member commits with leader epoch and metadata, their
//! validation, and their survival of a restart and of a torn tail of the store.

use super::*;

#[tokio::test]
async fn standalone_commit_and_fetch_with_epoch_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    create_topic(&b, "t", 3).await;
    // Standalone commit: generation -1, empty member id (v8 flexible).
    let r = call(
        &b,
        8,
        commit_req("sa", -1, "", "t", &[(0, 42, 7, "meta-0"), (1, 5, -1, "")]),
    )
    .await;
    let errs: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(errs, vec![0, 0]);
    let got = fetch_offsets(&b, "sa", "t", &[0, 1, 2]).await;
    assert_eq!(
        got,
        vec![
            (0, 42, 7, "meta-0".to_string(), 0),
            (1, 5, -1, String::new(), 0),
            (2, -1, -1, String::new(), 0)
        ]
    );
    // v1 fetch (no leader epoch field) and v2 commit (no leader epoch field).
    let r = call(&b, 2, commit_req("sa", -1, "", "t", &[(2, 9, 3, "x")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = call(
        &b,
        1,
        OffsetFetchRequest::default()
            .with_group_id(gid("sa"))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(tname("t"))
                    .with_partition_indexes(vec![2]),
            ])),
    )
    .await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 9);
    assert_eq!(
        fetch_offsets(&b, "sa", "t", &[2]).await[0].2,
        -1,
        "v2 has no epoch"
    );

    // v8 batched fetch, with "all topics" (null) for one group and an unknown group.
    let r = call(
        &b,
        8,
        OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(gid("sa"))
                .with_topics(None),
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(gid("nobody"))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(tname("t"))
                        .with_partition_indexes(vec![0]),
                ])),
        ]),
    )
    .await;
    assert_eq!(r.groups.len(), 2);
    let all: Vec<(i32, i64, i32)> = r.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
            )
        })
        .collect();
    assert_eq!(all, vec![(0, 42, 7), (1, 5, -1), (2, 9, -1)]);
    assert_eq!(r.groups[1].topics[0].partitions[0].committed_offset, -1);

    // Unknown topic / partition.
    let r = call(&b, 8, commit_req("sa", -1, "", "nope", &[(0, 1, -1, "")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 3);
    let r = call(&b, 8, commit_req("sa", -1, "", "t", &[(3, 1, -1, "")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 3);
    // Metadata too large.
    let big = "x".repeat(5000);
    let r = call(&b, 8, commit_req("sa", -1, "", "t", &[(0, 1, -1, &big)])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 12);
    // The standalone group is listed Empty with no protocol type.
    let l = call(&b, 4, ListGroupsRequest::default()).await;
    let sa = l
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == "sa")
        .unwrap();
    assert_eq!(sa.group_state.as_str(), "Empty");
    assert_eq!(sa.protocol_type.as_str(), "");
}

#[tokio::test]
async fn member_commits_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    create_topic(&b, "t", 1).await;
    let j = join(&b, "mg", "", 10_000).await;
    let m = j.member_id.to_string();
    // During CompletingRebalance: REBALANCE_IN_PROGRESS.
    let r = call(&b, 7, commit_req("mg", 1, &m, "t", &[(0, 1, -1, "")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 27);
    assert_eq!(sync(&b, "mg", &m, 1, &[(&m, "x")]).await.error_code, 0);
    let r = call(&b, 7, commit_req("mg", 1, &m, "t", &[(0, 10, 2, "m")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = call(&b, 7, commit_req("mg", 0, &m, "t", &[(0, 11, 2, "m")])).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code, 22,
        "ILLEGAL_GENERATION"
    );
    let r = call(&b, 7, commit_req("mg", 1, "other", "t", &[(0, 11, 2, "m")])).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code, 25,
        "UNKNOWN_MEMBER_ID"
    );
    // A standalone commit to a group with members is refused.
    let r = call(&b, 7, commit_req("mg", -1, "", "t", &[(0, 11, 2, "m")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 25);
    // A commit with a generation to a group that does not exist.
    let r = call(&b, 7, commit_req("nog", 3, "x", "t", &[(0, 11, 2, "m")])).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 22);
    assert_eq!(fetch_offsets(&b, "mg", "t", &[0]).await[0].1, 10);
}

#[tokio::test]
async fn committed_offsets_and_generation_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = open(dir.path(), &[]);
        create_topic(&b, "t", 2).await;
        let j = join(&b, "rg", "", 10_000).await;
        let m = j.member_id.to_string();
        assert_eq!(sync(&b, "rg", &m, 1, &[(&m, "x")]).await.error_code, 0);
        let r = call(&b, 8, commit_req("rg", 1, &m, "t", &[(0, 100, 4, "hello")])).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
        let r = call(&b, 8, commit_req("solo", -1, "", "t", &[(1, 7, -1, "")])).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
    }
    let b = open(dir.path(), &[]);
    assert_eq!(
        fetch_offsets(&b, "rg", "t", &[0, 1]).await,
        vec![
            (0, 100, 4, "hello".to_string(), 0),
            (1, -1, -1, String::new(), 0)
        ]
    );
    assert_eq!(fetch_offsets(&b, "solo", "t", &[1]).await[0].1, 7);
    // The group comes back Empty (members rejoin); generations continue from before.
    let d = describe(&b, "rg").await;
    assert_eq!(d.group_state.as_str(), "Empty");
    assert_eq!(d.protocol_type.as_str(), "consumer");
    let j = join(&b, "rg", "", 10_000).await;
    assert_eq!((j.error_code, j.generation_id), (0, 2));
}

#[tokio::test]
async fn torn_tail_of_the_store_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("__strait_groups").join("groups.log");
    {
        let b = open(dir.path(), &[]);
        create_topic(&b, "t", 1).await;
        let r = call(&b, 8, commit_req("tg", -1, "", "t", &[(0, 1, -1, "a")])).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
    }
    let good = std::fs::read(&store).unwrap();
    {
        let b = open(dir.path(), &[]);
        let r = call(&b, 8, commit_req("tg", -1, "", "t", &[(0, 2, -1, "b")])).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
    }
    // Cut the second record in half, as a crash in the middle of its write would.
    let full = std::fs::read(&store).unwrap();
    assert!(full.len() > good.len());
    std::fs::write(&store, &full[..good.len() + (full.len() - good.len()) / 2]).unwrap();
    {
        let b = open(dir.path(), &[]);
        assert_eq!(fetch_offsets(&b, "tg", "t", &[0]).await[0].1, 1);
        let r = call(&b, 8, commit_req("tg", -1, "", "t", &[(0, 3, -1, "c")])).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
    }
    // Garbage after the last record is dropped too, and appends after it stay readable.
    let mut bytes = std::fs::read(&store).unwrap();
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&store, &bytes).unwrap();
    let b = open(dir.path(), &[]);
    assert_eq!(
        fetch_offsets(&b, "tg", "t", &[0]).await[0],
        (0, 3, -1, "c".to_string(), 0)
    );
    // Compaction keeps the live state.
    b.groups.compact_store().unwrap();
    drop(b);
    let b = open(dir.path(), &[]);
    assert_eq!(fetch_offsets(&b, "tg", "t", &[0]).await[0].1, 3);
}
