//! Unit tests of [`super`]: the group coordinator driven directly, with the transaction
//! coordinator's verification stubbed by a closure.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use super::*;
use crate::config::BrokerConfig;
use crate::groups::CommitRequest;
use crate::topics::TopicManager;

const PID: i64 = 1000;

fn open(dir: &Path) -> Arc<GroupCoordinator> {
    let config = BrokerConfig::load(None, &[format!("log.dirs={}", dir.display())]).unwrap();
    let topics = Arc::new(
        TopicManager::open(
            &config.log_dir,
            config.node_id,
            config.topic_defaults.clone(),
        )
        .unwrap(),
    );
    if topics.get("t").is_none() {
        topics.create_topic("t", 2, BTreeMap::new(), false).unwrap();
    }
    Arc::new(GroupCoordinator::open(&config, topics).unwrap())
}

fn part(partition: i32, offset: i64) -> CommitPartition {
    CommitPartition {
        partition,
        offset,
        leader_epoch: 3,
        metadata: Some("m".into()),
    }
}

fn txn_req(group: &str, pid: i64, parts: Vec<CommitPartition>) -> TxnCommitRequest {
    TxnCommitRequest {
        group_id: group.into(),
        producer_id: pid,
        producer_epoch: 0,
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        topics: vec![("t".into(), parts)],
    }
}

fn txn_commit(c: &Arc<GroupCoordinator>, group: &str, pid: i64, parts: Vec<CommitPartition>) {
    let out = c.commit_txn_offsets(txn_req(group, pid, parts), || Ok(()));
    for (_, ps) in out {
        for (p, e) in ps {
            assert_eq!(e, Code::None, "partition {p}");
        }
    }
}

fn plain_commit(c: &Arc<GroupCoordinator>, group: &str, partition: i32, offset: i64) {
    let out = c.commit_offsets(CommitRequest {
        group_id: group.into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        topics: vec![("t".into(), vec![part(partition, offset)])],
    });
    assert_eq!(out[0].1[0].1, Code::None);
}

/// (offset or -1, error) of `t`-`partition`.
fn fetch(c: &GroupCoordinator, group: &str, partition: i32, stable: bool) -> (i64, Code) {
    let out = c.fetch_offsets_stable(group, Some(vec![("t".into(), vec![partition])]), stable);
    let (_, o, e) = out[0].1[0].clone();
    (o.map_or(-1, |o| o.offset), e)
}

#[test]
fn pending_offsets_are_invisible_until_commit_and_dropped_on_abort() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    plain_commit(&c, "g", 0, 5);
    txn_commit(&c, "g", PID, vec![part(0, 10), part(1, 11)]);
    assert!(c.has_pending_txn_offsets("g"));
    // Not visible; require_stable says wait, without it the last committed offset.
    assert_eq!(fetch(&c, "g", 0, false), (5, Code::None));
    assert_eq!(fetch(&c, "g", 1, false), (-1, Code::None));
    assert_eq!(fetch(&c, "g", 0, true), (-1, Code::UnstableOffsetCommit));
    assert_eq!(fetch(&c, "g", 1, true), (-1, Code::UnstableOffsetCommit));
    // "All partitions" lists committed ones only, the pending one as unstable (Kafka).
    let all = c.fetch_offsets_stable("g", None, true);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1.len(), 1);
    assert_eq!(
        (all[0].1[0].0, all[0].1[0].2),
        (0, Code::UnstableOffsetCommit)
    );
    assert_eq!(c.fetch_offsets("g", None)[0].1.len(), 1);

    c.end_txn_offsets("g", PID, true).unwrap();
    assert!(!c.has_pending_txn_offsets("g"));
    assert_eq!(fetch(&c, "g", 0, true), (10, Code::None));
    assert_eq!(fetch(&c, "g", 1, true), (11, Code::None));

    txn_commit(&c, "g", PID, vec![part(0, 20)]);
    c.end_txn_offsets("g", PID, false).unwrap();
    assert_eq!(fetch(&c, "g", 0, true), (10, Code::None));
    assert!(!c.has_pending_txn_offsets("g"));
}

#[test]
fn end_is_idempotent_and_writes_nothing_when_nothing_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let empty = c.store_len();
    c.end_txn_offsets("nobody", PID, true).unwrap();
    assert_eq!(c.store_len(), empty);
    txn_commit(&c, "g", PID, vec![part(0, 10)]);
    c.end_txn_offsets("g", PID, true).unwrap();
    let after = c.store_len();
    c.end_txn_offsets("g", PID, true).unwrap();
    c.end_txn_offsets("g", PID, false).unwrap();
    assert_eq!(c.store_len(), after);
    assert_eq!(fetch(&c, "g", 0, false), (10, Code::None));
    // Another producer's end does not touch this producer's pending offsets.
    txn_commit(&c, "g", PID, vec![part(0, 12)]);
    c.end_txn_offsets("g", PID + 1, false).unwrap();
    assert!(c.has_pending_txn_offsets("g"));
}

#[test]
fn the_most_recently_written_commit_wins() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    // Plain commit after the TxnOffsetCommit, before the marker: the plain one stays
    // (Kafka orders by the commit records, not by the marker).
    txn_commit(&c, "g", PID, vec![part(0, 10)]);
    plain_commit(&c, "g", 0, 20);
    c.end_txn_offsets("g", PID, true).unwrap();
    assert_eq!(fetch(&c, "g", 0, false), (20, Code::None));
    // Plain commit before the TxnOffsetCommit: the transaction's offset wins.
    plain_commit(&c, "g", 1, 5);
    txn_commit(&c, "g", PID, vec![part(1, 30)]);
    c.end_txn_offsets("g", PID, true).unwrap();
    assert_eq!(fetch(&c, "g", 1, false), (30, Code::None));
    // A later plain commit after the marker wins as always.
    plain_commit(&c, "g", 1, 31);
    assert_eq!(fetch(&c, "g", 1, false), (31, Code::None));
    // A later TxnOffsetCommit of the same producer replaces its pending offset.
    txn_commit(&c, "g", PID, vec![part(0, 40)]);
    txn_commit(&c, "g", PID, vec![part(0, 41)]);
    c.end_txn_offsets("g", PID, true).unwrap();
    assert_eq!(fetch(&c, "g", 0, false), (41, Code::None));
}

#[test]
fn pending_offsets_survive_restart_and_compaction_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path());
        txn_commit(&c, "g", PID, vec![part(0, 10)]);
        plain_commit(&c, "g", 0, 20); // newer than the pending one
        plain_commit(&c, "g", 1, 5);
        txn_commit(&c, "g", PID, vec![part(1, 30)]); // newer than the committed one
        txn_commit(&c, "h", PID + 1, vec![part(0, 7)]);
    }
    {
        // Replay (a kill -9 leaves exactly this: every record was written).
        let c = open(dir.path());
        assert!(c.has_pending_txn_offsets("g"));
        assert_eq!(fetch(&c, "g", 0, true), (-1, Code::UnstableOffsetCommit));
        assert_eq!(fetch(&c, "g", 1, false), (5, Code::None));
        c.compact_store().unwrap();
    }
    let c = open(dir.path());
    assert!(c.has_pending_txn_offsets("g") && c.has_pending_txn_offsets("h"));
    // The coordinator re-drives the commit after the restart.
    c.end_txn_offsets("g", PID, true).unwrap();
    assert_eq!(fetch(&c, "g", 0, true), (20, Code::None));
    assert_eq!(fetch(&c, "g", 1, true), (30, Code::None));
    c.end_txn_offsets("h", PID + 1, false).unwrap();
    assert_eq!(fetch(&c, "h", 0, true), (-1, Code::None));
    drop(c);
    let c = open(dir.path());
    assert!(!c.has_pending_txn_offsets("g") && !c.has_pending_txn_offsets("h"));
    assert_eq!(fetch(&c, "g", 1, false), (30, Code::None));
}

#[test]
fn request_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    // The verification's code goes to every partition; nothing is written.
    let before = c.store_len();
    let out = c.commit_txn_offsets(txn_req("g", PID, vec![part(0, 1), part(1, 1)]), || Err(48));
    assert!(out[0].1.iter().all(|(_, e)| *e == Code::from_wire(48)));
    assert_eq!(c.store_len(), before);
    assert!(!c.has_pending_txn_offsets("g"));
    // Per partition: unknown partition, metadata too large; the rest is accepted.
    let big = "x".repeat(c.config().offset_metadata_max_bytes + 1);
    let mut too_big = part(1, 1);
    too_big.metadata = Some(big);
    let out = c.commit_txn_offsets(
        txn_req("g", PID, vec![part(0, 1), too_big, part(7, 1)]),
        || Ok(()),
    );
    let codes: Vec<Code> = out[0].1.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        codes,
        vec![
            Code::None,
            Code::OffsetMetadataTooLarge,
            Code::UnknownTopicOrPartition
        ]
    );
    // v3 member fields against a group that does not exist: ILLEGAL_GENERATION.
    let mut r = txn_req("nogroup", PID, vec![part(0, 1)]);
    r.generation_id = 1;
    r.member_id = "m-1".into();
    let out = c.commit_txn_offsets(r, || Ok(()));
    assert_eq!(out[0].1[0].1, Code::IllegalGeneration);
    assert!(!c.has_pending_txn_offsets("nogroup"));
}

#[tokio::test]
async fn member_fields_are_validated_like_offset_commit() {
    use crate::groups::{JoinRequest, SyncRequest};
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let join = c
        .join(JoinRequest {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 100,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::new())],
            require_known_member_id: false,
            supports_skip_assignment: false,
        })
        .await;
    assert_eq!(join.error, Code::None);
    let member = join.member_id.clone();
    let sync = c
        .sync(SyncRequest {
            group_id: "g".into(),
            generation_id: join.generation_id,
            member_id: member.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(member.clone(), bytes::Bytes::new())],
        })
        .await;
    assert_eq!(sync.error, Code::None);
    let with = |generation: i32, member: &str| {
        let mut r = txn_req("g", PID, vec![part(0, 9)]);
        r.generation_id = generation;
        r.member_id = member.into();
        c.commit_txn_offsets(r, || Ok(()))[0].1[0].1
    };
    assert_eq!(
        with(join.generation_id + 1, &member),
        Code::IllegalGeneration
    );
    assert_eq!(with(join.generation_id, "stranger"), Code::UnknownMemberId);
    // No member information (v0-2, or an admin tool): accepted on a Stable group.
    assert_eq!(with(-1, ""), Code::None);
    assert_eq!(with(join.generation_id, &member), Code::None);
    let mut r = txn_req("g", PID, vec![part(0, 9)]);
    r.generation_id = join.generation_id;
    r.member_id = member.clone();
    r.group_instance_id = Some("other-instance".into());
    assert_eq!(
        c.commit_txn_offsets(r, || Ok(()))[0].1[0].1,
        Code::UnknownMemberId
    );
}

#[test]
fn a_transaction_ending_during_verification_leaves_nothing_pending() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let calls = AtomicUsize::new(0);
    // First verification passes but the transaction is aborted (timeout) before the
    // write; the second verification sees it is over.
    let out = c.commit_txn_offsets(txn_req("g", PID, vec![part(0, 1)]), || {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            c.end_txn_offsets("g", PID, false).unwrap();
            Ok(())
        } else {
            Err(48) // INVALID_TXN_STATE
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(out[0].1[0].1, Code::from_wire(48));
    assert!(!c.has_pending_txn_offsets("g"));
    // An earlier transaction's end racing with the next one's verification only costs
    // one more verification.
    let calls = AtomicUsize::new(0);
    let out = c.commit_txn_offsets(txn_req("g", PID, vec![part(0, 2)]), || {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            c.end_txn_offsets("g", PID, true).unwrap();
        }
        Ok(())
    });
    assert_eq!(out[0].1[0].1, Code::None);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(c.has_pending_txn_offsets("g"));
}

#[test]
fn offset_delete_and_group_delete_drop_pending_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    txn_commit(&c, "g", PID, vec![part(0, 10), part(1, 11)]);
    let out = c.delete_offsets("g", &[("t".into(), vec![0])]).unwrap();
    assert_eq!(out[0].1[0].1, Code::None);
    assert_eq!(fetch(&c, "g", 0, true), (-1, Code::None));
    assert_eq!(fetch(&c, "g", 1, true), (-1, Code::UnstableOffsetCommit));
    c.end_txn_offsets("g", PID, true).unwrap();
    assert_eq!(fetch(&c, "g", 0, true), (-1, Code::None));
    assert_eq!(fetch(&c, "g", 1, true), (11, Code::None));

    // DeleteGroups is allowed with pending offsets (Kafka), and drops them.
    txn_commit(&c, "g2", PID, vec![part(0, 10)]);
    assert_eq!(c.delete_groups(&["g2".to_string()]), vec![Code::None]);
    assert!(!c.has_pending_txn_offsets("g2"));
    c.end_txn_offsets("g2", PID, true).unwrap();
    assert_eq!(fetch(&c, "g2", 0, true), (-1, Code::None));
    assert!(c.list_groups(&[]).iter().all(|g| g.group_id != "g2"));
}

#[test]
fn pending_offsets_block_expiry_of_their_partition_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    plain_commit(&c, "g", 0, 5);
    plain_commit(&c, "g", 1, 6);
    txn_commit(&c, "g", PID, vec![part(0, 10)]);
    txn_commit(&c, "h", PID, vec![part(0, 1)]);
    {
        let mut st = lock(&c.state);
        // Everything is older than any retention.
        for g in st.groups.values_mut() {
            g.state_ts = 0;
            for o in g.offsets.values_mut() {
                o.commit_ts = 0;
            }
        }
        c.expire_offsets(&mut st);
    }
    // Partition 1 expired; partition 0 waits for the transaction, and so does the group.
    assert_eq!(fetch(&c, "g", 1, false), (-1, Code::None));
    assert_eq!(fetch(&c, "g", 0, false), (5, Code::None));
    assert!(c.has_pending_txn_offsets("g"));
    // A group with nothing but pending offsets is not removed as empty.
    assert!(c.has_pending_txn_offsets("h"));
    assert!(c.list_groups(&[]).iter().any(|g| g.group_id == "h"));
    c.end_txn_offsets("g", PID, true).unwrap();
    assert_eq!(fetch(&c, "g", 0, false), (10, Code::None));
}

#[test]
fn pending_offsets_of_a_deleted_topic_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    txn_commit(&c, "g", PID, vec![part(0, 10)]);
    c.topics.delete_topic("t").unwrap();
    // Invisible to require_stable at once (the topic is gone) ...
    assert_eq!(fetch(&c, "g", 0, true), (-1, Code::None));
    // ... and removed by the next retention check.
    {
        let mut st = lock(&c.state);
        c.expire_offsets(&mut st);
    }
    assert!(!c.has_pending_txn_offsets("g"));
}
