//! Membership: join, sync, heartbeat and rebalance of dynamic and static members, join
//! errors, and the expiry of silent, pending and unsynced members.

use super::*;

#[tokio::test]
async fn two_members_join_sync_heartbeat_and_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    create_topic(&b, "t", 4).await;

    // First member: MEMBER_ID_REQUIRED round trip, then the initial delay, then generation 1.
    let first = call(&b, 5, join_req("g", "", 10_000, &["t"])).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let a_id = first.member_id.to_string();
    assert!(a_id.starts_with("test-client-"), "{a_id}");
    let started = Instant::now();
    let ja = call(&b, 5, join_req("g", &a_id, 10_000, &["t"])).await;
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "initial delay applies"
    );
    assert_eq!(ja.error_code, 0);
    assert_eq!(ja.generation_id, 1);
    assert_eq!(ja.leader.as_str(), a_id);
    assert_eq!(ja.protocol_name.as_ref().map(|p| p.as_str()), Some("range"));
    assert_eq!(ja.members.len(), 1);
    assert_eq!(ja.members[0].metadata, subscription(&["t"]));
    assert_eq!(
        describe(&b, "g").await.group_state.as_str(),
        "CompletingRebalance"
    );
    let sa = sync(&b, "g", &a_id, 1, &[(&a_id, "A1")]).await;
    assert_eq!(sa.error_code, 0);
    assert_eq!(sa.assignment.as_ref(), b"A1");
    assert_eq!(heartbeat(&b, "g", &a_id, 1).await, 0);
    assert_eq!(describe(&b, "g").await.group_state.as_str(), "Stable");

    // Second member joins: the group prepares a rebalance; A learns it from its heartbeat
    // and rejoins; both get generation 2, A stays leader and sees both members.
    let b_join = async {
        let r = join(&b, "g", "", 10_000).await;
        assert_eq!(r.error_code, 0);
        r
    };
    let a_rejoin = async {
        wait_for(5, "REBALANCE_IN_PROGRESS", || async {
            (heartbeat(&b, "g", &a_id, 1).await == 27).then_some(())
        })
        .await;
        call(&b, 5, join_req("g", &a_id, 10_000, &["t"])).await
    };
    let (jb, ja) = tokio::join!(b_join, a_rejoin);
    let b_id = jb.member_id.to_string();
    assert_eq!(ja.error_code, 0);
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.leader.as_str(), a_id);
    assert_eq!(jb.leader.as_str(), a_id);
    assert_eq!(ja.members.len(), 2);
    assert!(jb.members.is_empty(), "followers get no member list");

    // Heartbeats during CompletingRebalance are fine; the follower's SyncGroup waits for
    // the leader's.
    assert_eq!(heartbeat(&b, "g", &b_id, 2).await, 0);
    let assignments = [(a_id.as_str(), "A2"), (b_id.as_str(), "B2")];
    let (sb, sa) = tokio::join!(sync(&b, "g", &b_id, 2, &[]), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sync(&b, "g", &a_id, 2, &assignments).await
    });
    assert_eq!((sa.error_code, sb.error_code), (0, 0));
    assert_eq!(sa.assignment.as_ref(), b"A2");
    assert_eq!(sb.assignment.as_ref(), b"B2");

    let d = describe(&b, "g").await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.protocol_type.as_str(), "consumer");
    assert_eq!(d.protocol_data.as_str(), "range");
    assert_eq!(d.members.len(), 2);
    for m in &d.members {
        assert_eq!(m.client_id.as_str(), "test-client");
        assert_eq!(m.member_metadata, subscription(&["t"]));
        let want: &[u8] = if m.member_id.as_str() == a_id {
            b"A2"
        } else {
            b"B2"
        };
        assert_eq!(m.member_assignment.as_ref(), want);
    }

    // Errors: stale generation, unknown member.
    assert_eq!(heartbeat(&b, "g", &a_id, 1).await, 22, "ILLEGAL_GENERATION");
    assert_eq!(
        heartbeat(&b, "g", "nobody", 2).await,
        25,
        "UNKNOWN_MEMBER_ID"
    );
    assert_eq!(heartbeat(&b, "nogroup", &a_id, 2).await, 25);

    // A follower rejoining with unchanged metadata in Stable gets the current generation.
    let again = call(&b, 5, join_req("g", &b_id, 10_000, &["t"])).await;
    assert_eq!((again.error_code, again.generation_id), (0, 2));
    assert_eq!(describe(&b, "g").await.group_state.as_str(), "Stable");

    // B leaves: A must rejoin, and gets generation 3 alone.
    let leave = call(
        &b,
        3,
        LeaveGroupRequest::default()
            .with_group_id(gid("g"))
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s(&b_id))
            ]),
    )
    .await;
    assert_eq!(leave.error_code, 0);
    assert_eq!(leave.members[0].error_code, 0);
    assert_eq!(heartbeat(&b, "g", &a_id, 2).await, 27);
    let ja = call(&b, 5, join_req("g", &a_id, 10_000, &["t"])).await;
    assert_eq!(
        (ja.error_code, ja.generation_id, ja.members.len()),
        (0, 3, 1)
    );
    let sa = sync(&b, "g", &a_id, 3, &[(&a_id, "A3")]).await;
    assert_eq!(sa.error_code, 0);

    // Leaving again with v0 (single member id) empties the group.
    let leave = call(
        &b,
        0,
        LeaveGroupRequest::default()
            .with_group_id(gid("g"))
            .with_member_id(s(&a_id)),
    )
    .await;
    assert_eq!(leave.error_code, 0);
    let d = wait_for(5, "Empty", || async {
        let d = describe(&b, "g").await;
        (d.group_state.as_str() == "Empty").then_some(d)
    })
    .await;
    assert!(d.members.is_empty());
}

#[tokio::test]
async fn join_errors() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &["group.max.size=1"]);
    create_topic(&b, "t", 1).await;
    // Session timeout out of range.
    let r = call(&b, 5, join_req("g", "", 50, &["t"])).await;
    assert_eq!(r.error_code, 26, "INVALID_SESSION_TIMEOUT");
    let r = call(&b, 5, join_req("g", "", 2_000_000, &["t"])).await;
    assert_eq!(r.error_code, 26);
    // Empty group id.
    let r = call(&b, 5, join_req("", "", 10_000, &["t"])).await;
    assert_eq!(r.error_code, 24, "INVALID_GROUP_ID");
    // A known member id on an unknown group.
    let r = call(&b, 5, join_req("g", "ghost", 10_000, &["t"])).await;
    assert_eq!(r.error_code, 25, "UNKNOWN_MEMBER_ID");
    // Empty protocol type on a new group.
    let r = call(
        &b,
        5,
        join_req("g", "", 10_000, &["t"]).with_protocol_type(s("")),
    )
    .await;
    assert_eq!(r.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");

    // v3 (no MEMBER_ID_REQUIRED) joins in one round trip.
    let a = call(&b, 3, join_req("g", "", 10_000, &["t"])).await;
    assert_eq!((a.error_code, a.generation_id), (0, 1));
    // Another protocol type is inconsistent with the group's.
    let r = call(
        &b,
        5,
        join_req("g", a.member_id.as_str(), 10_000, &["t"]).with_protocol_type(s("connect")),
    )
    .await;
    assert_eq!(r.error_code, 23);
    // group.max.size=1: the group is full.
    let r = call(&b, 3, join_req("g", "", 10_000, &["t"])).await;
    assert_eq!(r.error_code, 81, "GROUP_MAX_SIZE_REACHED");
    // SyncGroup errors.
    let r = sync(&b, "g", a.member_id.as_str(), 7, &[]).await;
    assert_eq!(r.error_code, 22);
    let r = sync(&b, "g", "ghost", 1, &[]).await;
    assert_eq!(r.error_code, 25);
    let r = call(
        &b,
        5,
        SyncGroupRequest::default()
            .with_group_id(gid("g"))
            .with_member_id(a.member_id.clone())
            .with_generation_id(1)
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("roundrobin"))),
    )
    .await;
    assert_eq!(r.error_code, 23);
    // JoinGroup v0 (no rebalance timeout) and v9 (flexible, protocol type, skip flag) also
    // encode correctly.
    let r = call(&b, 9, join_req("g", a.member_id.as_str(), 10_000, &["t"])).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.protocol_type.as_ref().map(|p| p.as_str()),
        Some("consumer")
    );
}

#[tokio::test]
async fn static_member_rejoins_without_rebalance_and_old_id_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    create_topic(&b, "t", 2).await;
    let static_join = |member: &str| {
        join_req("sg", member, 10_000, &["t"]).with_group_instance_id(Some(s("instance-1")))
    };
    // Static members join in one round trip even on v5.
    let j1 = call(&b, 5, static_join("")).await;
    assert_eq!((j1.error_code, j1.generation_id), (0, 1));
    let old_id = j1.member_id.to_string();
    assert!(old_id.starts_with("instance-1-"), "{old_id}");
    let s1 = sync(&b, "sg", &old_id, 1, &[(&old_id, "P0P1")]).await;
    assert_eq!(s1.error_code, 0);

    // The same instance restarts: new member id, same generation, nothing to rebalance.
    let j2 = call(&b, 9, static_join("")).await;
    assert_eq!(j2.error_code, 0);
    let new_id = j2.member_id.to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(j2.generation_id, 1);
    assert_eq!(
        j2.leader.as_str(),
        new_id,
        "v9: the leader id follows the member"
    );
    assert!(
        j2.skip_assignment,
        "v9: the static leader skips the assignment"
    );
    let d = describe(&b, "sg").await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.members.len(), 1);
    assert_eq!(
        d.members[0].group_instance_id.as_ref().map(|i| i.as_str()),
        Some("instance-1")
    );
    // Its SyncGroup returns the assignment it had.
    let hb = call(
        &b,
        3,
        HeartbeatRequest::default()
            .with_group_id(gid("sg"))
            .with_member_id(s(&new_id))
            .with_group_instance_id(Some(s("instance-1")))
            .with_generation_id(1),
    )
    .await;
    assert_eq!(hb.error_code, 0);
    let s2 = sync(&b, "sg", &new_id, 1, &[]).await;
    assert_eq!(s2.assignment.as_ref(), b"P0P1");

    // The old incarnation is fenced.
    let hb = call(
        &b,
        3,
        HeartbeatRequest::default()
            .with_group_id(gid("sg"))
            .with_member_id(s(&old_id))
            .with_group_instance_id(Some(s("instance-1")))
            .with_generation_id(1),
    )
    .await;
    assert_eq!(hb.error_code, 82, "FENCED_INSTANCE_ID");
    let commit = call(
        &b,
        7,
        commit_req("sg", 1, &old_id, "t", &[(0, 5, -1, "")])
            .with_group_instance_id(Some(s("instance-1"))),
    )
    .await;
    assert_eq!(commit.topics[0].partitions[0].error_code, 82);

    // v5 (no skip flag): a rejoining static leader is told the previous leader id, so it
    // does not assign.
    let j3 = call(&b, 5, static_join("")).await;
    assert_eq!(j3.error_code, 0);
    assert_eq!(j3.generation_id, 1);
    assert_eq!(j3.leader.as_str(), new_id);
    assert_ne!(j3.member_id.as_str(), new_id);

    // Admin removal by instance id (LeaveGroup v3+ with an empty member id).
    let leave = call(
        &b,
        4,
        LeaveGroupRequest::default()
            .with_group_id(gid("sg"))
            .with_members(vec![leave_group_request::MemberIdentity::default()
                .with_member_id(s(""))
                .with_group_instance_id(Some(s("instance-1")))]),
    )
    .await;
    assert_eq!(leave.members[0].error_code, 0);
    wait_for(5, "Empty", || async {
        (describe(&b, "sg").await.group_state.as_str() == "Empty").then_some(())
    })
    .await;
}

#[tokio::test]
async fn session_expiry_removes_a_silent_member() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &[]);
    create_topic(&b, "t", 2).await;
    // Two members join together (the initial delay gathers them into one generation).
    let (ja, jb) = tokio::join!(join(&b, "eg", "", 400), join(&b, "eg", "", 400));
    assert_eq!((ja.error_code, jb.error_code), (0, 0));
    assert_eq!((ja.generation_id, jb.generation_id), (1, 1));
    let (a, bb) = (ja.member_id.to_string(), jb.member_id.to_string());
    let (leader, follower) = if ja.leader == ja.member_id {
        (a, bb)
    } else {
        (bb, a)
    };
    let assignments = [(leader.as_str(), "L"), (follower.as_str(), "F")];
    let (sl, sf) = tokio::join!(
        sync(&b, "eg", &leader, 1, &assignments),
        sync(&b, "eg", &follower, 1, &[])
    );
    assert_eq!((sl.error_code, sf.error_code), (0, 0));
    // Only the leader keeps heartbeating: the follower's 400 ms session expires.
    wait_for(10, "rebalance after expiry", || async {
        let e = heartbeat(&b, "eg", &leader, 1).await;
        assert!(e == 0 || e == 27, "heartbeat error {e}");
        (e == 27).then_some(())
    })
    .await;
    let j = call(&b, 5, join_req("eg", &leader, 400, &["t"])).await;
    assert_eq!((j.error_code, j.generation_id, j.members.len()), (0, 2, 1));
    assert_eq!(heartbeat(&b, "eg", &follower, 1).await, 25);
}

#[tokio::test]
async fn pending_member_and_unsynced_member_expire() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), &["group.initial.rebalance.delay.ms=0"]);
    create_topic(&b, "t", 1).await;
    // A member that never completes the MEMBER_ID_REQUIRED round trip does not block the
    // group's join phase forever (it expires after its session timeout).
    let r = call(&b, 5, join_req("pg", "", 300, &["t"])).await;
    assert_eq!(r.error_code, 79);
    let started = Instant::now();
    let j = join(&b, "pg", "", 300).await;
    assert_eq!((j.error_code, j.generation_id), (0, 1));
    assert!(started.elapsed() < Duration::from_secs(5));
    // The member never syncs: it is removed after the rebalance timeout (2 s).
    let d = wait_for(10, "member removed", || async {
        let d = describe(&b, "pg").await;
        (d.members.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(d.group_state.as_str(), "Empty");
}
