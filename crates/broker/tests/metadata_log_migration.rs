//! `strait-metadata.json` into a real one-voter `strait_quorum::Quorum` (real disk, real
//! listener on 127.0.0.1:0): the image read back equals the file, survives more records, a
//! snapshot and restarts; a crash between the commit and the rename is finished by a re-run;
//! a file of another cluster is refused and kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use strait_broker::auth::acl::{
    AclOperation, AclRecord, PatternType, PermissionType, ResourceType,
};
use strait_broker::auth::scram::{ScramCredentialRecord, ScramMechanism};
use strait_broker::metadata::{
    LinkRecord, MetadataImage, MirrorRecord, PartitionRecord, RestorePlanEntry, TopicRecord,
    FORMAT_VERSION, METADATA_FILE,
};
use strait_broker::metadata_log::migrate::{
    migrate, propose_migration, read_json_image, MigrateError, MigrationOutcome,
};
use strait_broker::metadata_log::records::{
    MetadataRecord, PartitionChangeRecord, PartitionRecord as NewPartition, TopicRecord as NewTopic,
};
use strait_broker::metadata_log::{encode, MetadataLogImage};
use strait_quorum::{Quorum, QuorumConfig, VoterAddr};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(20);
const CLUSTER: &str = "q1w2e3r4t5y6u7i8o9p0aZ";

fn mirror(state: &str) -> MirrorRecord {
    MirrorRecord {
        link_name: "dr".into(),
        source_topic: "orders".into(),
        source_topic_id: Some("7b1e0b8e-7f0f-4a53-9d59-1c1d7a5e3f10".into()),
        state: state.into(),
        reason: Some("PENDING_RESTORE".into()),
        reason_message: Some("failback".into()),
        state_time_ms: 1_700_000_000_123,
        final_offsets: None,
        aborted_transactions: None,
        restore_plan: Some(vec![RestorePlanEntry {
            partition: 1,
            truncate_to: 40,
            previous_end_offset: 55,
            records: 15,
        }]),
    }
}

/// Everything today's file holds: topics (plain, mirror, promoted), configs, links, ACLs,
/// SCRAM credentials, dynamic broker configs and the producer-id block end.
fn populated_image() -> MetadataImage {
    let mut promoted = mirror("STOPPED");
    promoted.reason = None;
    promoted.reason_message = None;
    promoted.restore_plan = None;
    promoted.final_offsets = Some(vec![100, 7]);
    promoted.aborted_transactions = Some(vec![0, 2]);
    let epochs = |e: &[i32]| {
        e.iter()
            .map(|&leader_epoch| PartitionRecord {
                leader_epoch,
                ..PartitionRecord::placed(vec![1])
            })
            .collect()
    };
    MetadataImage {
        format_version: FORMAT_VERSION,
        cluster_id: CLUSTER.into(),
        node_id: 1,
        topics: vec![
            TopicRecord {
                name: "orders".into(),
                topic_id: "6a0e8c3b-51b4-4f5e-8a3e-2f1d7f9b0c11".into(),
                partitions: epochs(&[0, 3, 1]),
                configs: BTreeMap::from([
                    ("cleanup.policy".into(), "compact".into()),
                    ("retention.ms".into(), "86400000".into()),
                ]),
                mirror: None,
            },
            TopicRecord {
                name: "orders.mirror".into(),
                topic_id: "0d6f4a52-3c1b-4a0e-9f2d-6c5b4a3e2d1f".into(),
                partitions: epochs(&[4, 4]),
                configs: BTreeMap::new(),
                mirror: Some(mirror("PAUSED")),
            },
            TopicRecord {
                name: "payments".into(),
                topic_id: "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
                partitions: epochs(&[6, 9]),
                configs: BTreeMap::from([("min.insync.replicas".into(), "1".into())]),
                mirror: Some(promoted),
            },
        ],
        dynamic_broker_configs: BTreeMap::from([("log.retention.ms".into(), "3600000".into())]),
        dynamic_default_broker_configs: BTreeMap::from([(
            "log.segment.bytes".into(),
            "1048576".into(),
        )]),
        producer_id_block_end: 3000,
        links: vec![LinkRecord {
            name: "dr".into(),
            link_id: "link-1".into(),
            configs: BTreeMap::from([
                ("bootstrap.servers".into(), "source:9092".into()),
                ("sasl.jaas.config".into(), "secret".into()),
            ]),
            source_cluster_id: Some("source-cluster".into()),
            created_ms: 1_700_000_000_000,
        }],
        acls: vec![
            AclRecord {
                resource_type: ResourceType::Topic,
                resource_name: "orders".into(),
                pattern_type: PatternType::Prefixed,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: AclOperation::Read,
                permission_type: PermissionType::Allow,
            },
            AclRecord {
                resource_type: ResourceType::Cluster,
                resource_name: "kafka-cluster".into(),
                pattern_type: PatternType::Literal,
                principal: "User:bob".into(),
                host: "10.0.0.1".into(),
                operation: AclOperation::Alter,
                permission_type: PermissionType::Deny,
            },
        ],
        scram_credentials: vec![
            ScramCredentialRecord::from_password("alice", ScramMechanism::Sha256, "pw-a", 4096),
            ScramCredentialRecord::from_password("bob", ScramMechanism::Sha512, "pw-b", 8192),
        ],
    }
}

struct Voter {
    quorum: Quorum<MetadataLogImage>,
}

async fn open(data_dir: &Path, cluster_id: &str) -> Voter {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let voters = BTreeMap::from([(1, VoterAddr::from(addr))]);
    let mut config = QuorumConfig::new(
        1,
        cluster_id,
        voters,
        data_dir.join("__strait_metadata_log"),
        addr,
    );
    config.heartbeat_interval = Duration::from_millis(50);
    config.election_timeout_min = Duration::from_millis(300);
    config.election_timeout_max = Duration::from_millis(600);
    config.propose_timeout = Duration::from_secs(5);
    let quorum = Quorum::open_with_listener(config, listener, MetadataLogImage::new(cluster_id, 1))
        .await
        .unwrap();
    assert!(
        quorum.wait_until(WAIT, |d| d.is_leader).await,
        "the single voter never became leader"
    );
    Voter { quorum }
}

impl Voter {
    async fn caught_up_to(&self, index: u64) {
        assert!(
            self.quorum
                .wait_until(WAIT, |d| d.last_applied.is_some_and(|a| a >= index))
                .await,
            "never re-applied up to index {index}"
        );
    }
    fn metadata(&self) -> MetadataImage {
        self.quorum.read(|i| i.metadata().clone())
    }
}

/// Writes an old-format data directory's `strait-metadata.json` (what a Strait from before
/// the metadata log saved: the image serialised whole).
fn write_json(dir: &Path, image: &MetadataImage) {
    std::fs::write(
        dir.join(METADATA_FILE),
        serde_json::to_vec_pretty(image).unwrap(),
    )
    .unwrap();
}

fn files(dir: &Path) -> (bool, bool) {
    (
        dir.join(METADATA_FILE).exists(),
        dir.join(format!("{METADATA_FILE}.migrated")).exists(),
    )
}

#[tokio::test]
async fn migrated_image_equals_the_file_and_survives_records_snapshots_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let original = populated_image();
    write_json(dir.path(), &original);
    let from_disk = read_json_image(dir.path()).unwrap().unwrap();
    assert_eq!(from_disk, original);

    let voter = open(dir.path(), &from_disk.cluster_id).await;
    let outcome = migrate(dir.path(), &voter.quorum).await.unwrap();
    assert!(
        matches!(outcome, MigrationOutcome::Proposed { .. }),
        "{outcome:?}"
    );
    assert_eq!(files(dir.path()), (false, true));
    assert_eq!(voter.metadata(), original);
    assert!(voter.quorum.read(MetadataLogImage::migrated));

    // More changes through the log: a new topic, then an epoch bump of a migrated one.
    let id = "11111111-2222-4333-8444-555555555555";
    let create = encode(&[
        MetadataRecord::Topic(NewTopic {
            name: "audit".into(),
            topic_id: id.into(),
        }),
        MetadataRecord::Partition(NewPartition {
            topic_id: id.into(),
            partition_id: 0,
            leader_epoch: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }),
    ])
    .unwrap();
    voter.quorum.propose(create).await.unwrap();
    let bump = encode(&[MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: original.topics[0].topic_id.clone(),
        partition_id: 1,
        leader_epoch: 8,
        replicas: None,
        isr: None,
        leader: None,
        partition_epoch: None,
        adding_replicas: None,
        removing_replicas: None,
    })])
    .unwrap();
    let last = voter.quorum.propose(bump).await.unwrap().index;
    let mut expected = original.clone();
    expected.topics[0].partitions[1].leader_epoch = 8;
    expected.topics.push(TopicRecord {
        name: "audit".into(),
        topic_id: id.into(),
        partitions: vec![PartitionRecord::placed(vec![1])],
        configs: BTreeMap::new(),
        mirror: None,
    });
    assert_eq!(voter.metadata(), expected);
    voter.quorum.shutdown().await.unwrap();

    // Restart: the log is replayed into a fresh image.
    let voter = open(dir.path(), CLUSTER).await;
    voter.caught_up_to(last).await;
    assert_eq!(voter.metadata(), expected);
    // Re-running the migration finds no file and changes nothing.
    assert_eq!(
        migrate(dir.path(), &voter.quorum).await.unwrap(),
        MigrationOutcome::NoFile
    );

    // Restart again from a snapshot (restore, then whatever follows it).
    voter.quorum.trigger_snapshot().await.unwrap();
    assert!(
        voter
            .quorum
            .wait_until(WAIT, |d| d.snapshot_index.is_some_and(|s| s >= last))
            .await,
        "no snapshot covering index {last}"
    );
    voter.quorum.shutdown().await.unwrap();
    let voter = open(dir.path(), CLUSTER).await;
    voter.caught_up_to(last).await;
    assert_eq!(voter.metadata(), expected);
    assert!(voter.quorum.read(MetadataLogImage::migrated));
    voter.quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_crash_between_commit_and_rename_is_finished_by_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let original = populated_image();
    write_json(dir.path(), &original);

    // Step 1 only, then the process goes away before step 2 (the rename).
    let voter = open(dir.path(), CLUSTER).await;
    let committed = propose_migration(dir.path(), &voter.quorum, &original)
        .await
        .unwrap();
    let MigrationOutcome::Proposed { index } = committed else {
        panic!("expected a proposal, got {committed:?}");
    };
    voter.quorum.shutdown().await.unwrap();
    assert_eq!(
        files(dir.path()),
        (true, false),
        "the file stays until step 2"
    );

    let voter = open(dir.path(), CLUSTER).await;
    let outcome = migrate(dir.path(), &voter.quorum).await.unwrap();
    assert_eq!(outcome, MigrationOutcome::AlreadyInLog);
    assert_eq!(files(dir.path()), (false, true));
    voter.caught_up_to(index).await;
    // Applied once: a second application would have been refused, not doubled.
    assert_eq!(voter.metadata(), original);
    voter.quorum.shutdown().await.unwrap();

    let voter = open(dir.path(), CLUSTER).await;
    voter.caught_up_to(index).await;
    assert_eq!(voter.metadata(), original);
    voter.quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_file_of_another_cluster_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let original = populated_image();
    write_json(dir.path(), &original);
    let voter = open(dir.path(), "a-different-cluster").await;
    let err = migrate(dir.path(), &voter.quorum).await.unwrap_err();
    assert!(
        matches!(&err, MigrateError::Invalid { message, .. } if message.contains(CLUSTER)),
        "{err}"
    );
    assert_eq!(files(dir.path()), (true, false));
    assert!(!voter.quorum.read(MetadataLogImage::migrated));
    assert!(voter.metadata().topics.is_empty());
    voter.quorum.shutdown().await.unwrap();
}
