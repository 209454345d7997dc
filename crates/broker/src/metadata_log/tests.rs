//! Unit tests of the records and the image: every record applied, every refusal (with the
//! image left unchanged), entry atomicity, snapshot round trip, and the pinned encoding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use strait_quorum::Image;

use super::image::MetadataLogImage;
use super::records::*;
use crate::auth::acl::{AclOperation, AclRecord, PatternType, PermissionType, ResourceType};
use crate::auth::scram::{ScramCredentialRecord, ScramMechanism};
use crate::metadata::{LinkRecord, MirrorRecord, RestorePlanEntry};

pub(super) const CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qk";
pub(super) const ID_A: &str = "00000000-0000-4000-8000-00000000000a";
pub(super) const ID_B: &str = "00000000-0000-4000-8000-00000000000b";

pub(super) fn acl(principal: &str) -> AclRecord {
    AclRecord {
        resource_type: ResourceType::Topic,
        resource_name: "orders".into(),
        pattern_type: PatternType::Literal,
        principal: principal.into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission_type: PermissionType::Allow,
    }
}

pub(super) fn cred(user: &str, iterations: i32) -> ScramCredentialRecord {
    ScramCredentialRecord {
        user: user.into(),
        mechanism: ScramMechanism::Sha256,
        iterations,
        salt: "c2FsdA==".into(),
        stored_key: "c3RvcmVk".into(),
        server_key: "c2VydmVy".into(),
    }
}

pub(super) fn link(name: &str, id: &str) -> LinkRecord {
    LinkRecord {
        name: name.into(),
        link_id: id.into(),
        configs: BTreeMap::from([("bootstrap.servers".into(), "src:9092".into())]),
        source_cluster_id: Some("src-cluster".into()),
        created_ms: 1_700_000_000_000,
    }
}

pub(super) fn mirror(state: &str) -> MirrorRecord {
    MirrorRecord::new("dr", "orders", state, 1_700_000_000_000)
}

/// The entry `create_topic` would write.
pub(super) fn create(name: &str, id: &str, partitions: i32) -> Vec<MetadataRecord> {
    let mut v = vec![MetadataRecord::Topic(TopicRecord {
        name: name.into(),
        topic_id: id.into(),
    })];
    v.extend((0..partitions).map(|p| {
        MetadataRecord::Partition(PartitionRecord {
            topic_id: id.into(),
            partition_id: p,
            leader_epoch: 0,
            replicas: Vec::new(),
            isr: Vec::new(),
            leader: -1,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        })
    }));
    v
}

fn config(kind: ConfigResourceType, resource: &str, k: &str, v: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config(ConfigRecord {
        resource_type: kind,
        resource_name: resource.into(),
        name: k.into(),
        value: v.map(str::to_string),
    })
}

fn change(id: &str, p: i32, epoch: i32) -> MetadataRecord {
    MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: id.into(),
        partition_id: p,
        leader_epoch: epoch,
        replicas: None,
        isr: None,
        leader: None,
        partition_epoch: None,
        adding_replicas: None,
        removing_replicas: None,
    })
}

fn apply(image: &mut MetadataLogImage, records: &[MetadataRecord]) -> Result<(), String> {
    let bytes = encode(records).unwrap();
    image.apply(7, &bytes).map(|_| ()).map_err(|e| e.0)
}

fn fresh() -> MetadataLogImage {
    MetadataLogImage::new(CLUSTER, 1)
}

#[test]
fn each_record_applies() {
    let mut img = fresh();
    apply(&mut img, &create("orders", ID_A, 2)).unwrap();
    let t = &img.metadata().topics[0];
    assert_eq!((t.name.as_str(), t.partitions.len()), ("orders", 2));

    apply(&mut img, &[change(ID_A, 1, 4)]).unwrap();
    apply(&mut img, &[change(ID_A, 1, 4)]).unwrap(); // equal epoch: a no-op, not a lowering
    assert_eq!(img.metadata().topics[0].partitions[1].leader_epoch, 4);

    apply(
        &mut img,
        &[MetadataRecord::Partition(PartitionRecord {
            topic_id: ID_A.into(),
            partition_id: 2,
            leader_epoch: 0,
            replicas: Vec::new(),
            isr: Vec::new(),
            leader: -1,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        })],
    )
    .unwrap();
    assert_eq!(img.metadata().topics[0].partitions.len(), 3);

    let topic = ConfigResourceType::Topic;
    let broker = ConfigResourceType::Broker;
    apply(
        &mut img,
        &[config(topic, "orders", "retention.ms", Some("1000"))],
    )
    .unwrap();
    apply(
        &mut img,
        &[config(broker, "1", "log.retention.ms", Some("5"))],
    )
    .unwrap();
    apply(
        &mut img,
        &[config(broker, "", "log.segment.bytes", Some("9"))],
    )
    .unwrap();
    let m = img.metadata();
    assert_eq!(m.topics[0].configs["retention.ms"], "1000");
    assert_eq!(m.dynamic_broker_configs["log.retention.ms"], "5");
    assert_eq!(m.dynamic_default_broker_configs["log.segment.bytes"], "9");
    apply(&mut img, &[config(topic, "orders", "retention.ms", None)]).unwrap();
    assert!(img.metadata().topics[0].configs.is_empty());

    let pids = |n| {
        MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            next_producer_id: n,
        })
    };
    apply(&mut img, &[pids(1000)]).unwrap();
    assert_eq!(img.metadata().producer_id_block_end, 1000);

    apply(
        &mut img,
        &[MetadataRecord::AccessControlEntry(acl("User:a"))],
    )
    .unwrap();
    apply(
        &mut img,
        &[MetadataRecord::AccessControlEntry(acl("User:b"))],
    )
    .unwrap();
    apply(
        &mut img,
        &[MetadataRecord::RemoveAccessControlEntry(acl("User:a"))],
    )
    .unwrap();
    assert_eq!(img.metadata().acls, vec![acl("User:b")]);

    apply(
        &mut img,
        &[MetadataRecord::UserScramCredential(cred("alice", 4096))],
    )
    .unwrap();
    apply(
        &mut img,
        &[MetadataRecord::UserScramCredential(cred("bob", 4096))],
    )
    .unwrap();
    apply(
        &mut img,
        &[MetadataRecord::UserScramCredential(cred("alice", 8192))],
    )
    .unwrap();
    // Replaced credentials move to the end, as AlterUserScramCredentials' retain + push.
    assert_eq!(
        img.metadata().scram_credentials,
        vec![cred("bob", 4096), cred("alice", 8192)]
    );
    apply(
        &mut img,
        &[MetadataRecord::RemoveUserScramCredential(
            RemoveUserScramCredentialRecord {
                name: "bob".into(),
                mechanism: ScramMechanism::Sha256,
            },
        )],
    )
    .unwrap();
    assert_eq!(img.metadata().scram_credentials, vec![cred("alice", 8192)]);

    let reg = RegisterBrokerRecord {
        broker_id: 1,
        endpoints: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
            security_protocol: "PLAINTEXT".into(),
        }],
        rack: Some("r1".into()),
    };
    apply(&mut img, &[MetadataRecord::RegisterBroker(reg.clone())]).unwrap();
    assert_eq!(img.brokers()[&1], reg);

    let cl = |l| MetadataRecord::ClusterLink(ClusterLinkRecord { link: l });
    apply(&mut img, &[cl(link("dr", "L1"))]).unwrap();
    apply(&mut img, &[cl(link("other", "L2"))]).unwrap();
    let mut reconfigured = link("dr", "L1");
    reconfigured
        .configs
        .insert("acl.sync.enable".into(), "true".into());
    apply(&mut img, &[cl(reconfigured.clone())]).unwrap();
    assert_eq!(
        img.metadata().links,
        vec![link("other", "L2"), reconfigured]
    );
    apply(
        &mut img,
        &[MetadataRecord::RemoveClusterLink(RemoveClusterLinkRecord {
            name: "other".into(),
        })],
    )
    .unwrap();
    assert_eq!(img.metadata().links.len(), 1);

    // A mirror topic, then its promote as one entry (epochs, STOPPED + finals, barrier).
    let mut entry = create("mirror", ID_B, 2);
    entry.push(MetadataRecord::MirrorState(MirrorStateRecord {
        topic_id: ID_B.into(),
        mirror: mirror("ACTIVE"),
    }));
    apply(&mut img, &entry).unwrap();
    let mut stopped = mirror("STOPPED");
    stopped.final_offsets = Some(vec![10, 20]);
    stopped.aborted_transactions = Some(vec![0, 1]);
    apply(
        &mut img,
        &[
            change(ID_B, 0, 3),
            change(ID_B, 1, 5),
            MetadataRecord::MirrorState(MirrorStateRecord {
                topic_id: ID_B.into(),
                mirror: stopped.clone(),
            }),
            pids(2000),
        ],
    )
    .unwrap();
    let t = &img.metadata().topics[1];
    assert_eq!(t.mirror.as_ref(), Some(&stopped));
    assert_eq!(t.partitions[1].leader_epoch, 5);
    assert_eq!(img.metadata().producer_id_block_end, 2000);

    apply(
        &mut img,
        &[MetadataRecord::RemoveTopic(RemoveTopicRecord {
            topic_id: ID_A.into(),
        })],
    )
    .unwrap();
    assert_eq!(img.metadata().topics.len(), 1);
    assert!(!img.migrated());
}

#[test]
fn each_refusal_leaves_the_image_unchanged() {
    let mut base = fresh();
    apply(&mut base, &create("orders", ID_A, 2)).unwrap();
    apply(&mut base, &[change(ID_A, 0, 5)]).unwrap();
    apply(
        &mut base,
        &[MetadataRecord::AccessControlEntry(acl("User:a"))],
    )
    .unwrap();
    apply(
        &mut base,
        &[MetadataRecord::ClusterLink(ClusterLinkRecord {
            link: link("dr", "L1"),
        })],
    )
    .unwrap();
    apply(
        &mut base,
        &[MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            next_producer_id: 1000,
        })],
    )
    .unwrap();

    let mut bad_finals = mirror("STOPPED");
    bad_finals.final_offsets = Some(vec![1, 2, 3]);
    let mut bad_plan = mirror("PAUSED");
    let entry = RestorePlanEntry {
        partition: 2,
        truncate_to: 0,
        previous_end_offset: 0,
        records: 0,
    };
    bad_plan.restore_plan = Some(vec![entry]);
    let ms = |m| {
        vec![MetadataRecord::MirrorState(MirrorStateRecord {
            topic_id: ID_A.into(),
            mirror: m,
        })]
    };
    let mut after_ok_then_bad = create("fresh", ID_B, 1);
    after_ok_then_bad.push(change(ID_A, 9, 1));

    let cases: Vec<(Vec<MetadataRecord>, &str)> = vec![
        (create("orders", ID_B, 1), "topic 'orders' already exists"),
        (create("other", ID_A, 1), "is already topic 'orders'"),
        (create("bad name", ID_B, 1), "is not 1-249 characters"),
        (create("x", "not-a-uuid", 1), "is not a UUID"),
        (
            create("x", "00000000-0000-0000-0000-000000000000", 1),
            "nil UUID",
        ),
        (create("lonely", ID_B, 0), "would have no partitions"),
        (
            vec![MetadataRecord::Partition(PartitionRecord {
                topic_id: ID_A.into(),
                partition_id: 5,
                leader_epoch: 0,
                replicas: Vec::new(),
                isr: Vec::new(),
                leader: -1,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            })],
            "is not its next partition (2)",
        ),
        (
            vec![change(ID_A, 0, 4)],
            "would lower the leader epoch of orders-0 from 5 to 4",
        ),
        (
            vec![change(ID_A, 2, 6)],
            "partition orders-2 does not exist",
        ),
        (vec![change(ID_B, 0, 6)], "unknown topic id"),
        (
            vec![MetadataRecord::RemoveTopic(RemoveTopicRecord {
                topic_id: ID_B.into(),
            })],
            "unknown topic id",
        ),
        (
            vec![config(ConfigResourceType::Topic, "nope", "a", Some("b"))],
            "unknown topic 'nope'",
        ),
        (
            vec![config(ConfigResourceType::Broker, "b2", "a", Some("b"))],
            "broker 'b2' is neither a broker id",
        ),
        (
            vec![MetadataRecord::ProducerIds(ProducerIdsRecord {
                broker_id: 1,
                next_producer_id: 999,
            })],
            "does not move past the current block end 1000",
        ),
        (
            vec![MetadataRecord::AccessControlEntry(acl("User:a"))],
            "already exists",
        ),
        (
            vec![MetadataRecord::RemoveAccessControlEntry(acl("User:z"))],
            "does not exist",
        ),
        (
            vec![MetadataRecord::UserScramCredential(cred("alice", 0))],
            "at least 1 iteration",
        ),
        (
            vec![MetadataRecord::RemoveUserScramCredential(
                RemoveUserScramCredentialRecord {
                    name: "nobody".into(),
                    mechanism: ScramMechanism::Sha512,
                },
            )],
            "user 'nobody' has no SCRAM-SHA-512 credential",
        ),
        (
            vec![MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker_id: 2,
                endpoints: vec![],
                rack: None,
            })],
            "registers no listener",
        ),
        (
            vec![MetadataRecord::ClusterLink(ClusterLinkRecord {
                link: link("dr", "L9"),
            })],
            "has link id L1, not L9",
        ),
        (
            vec![MetadataRecord::RemoveClusterLink(RemoveClusterLinkRecord {
                name: "nope".into(),
            })],
            "cluster link 'nope' does not exist",
        ),
        (ms(mirror("SPINNING")), "unknown mirror state 'SPINNING'"),
        (
            ms(bad_finals),
            "final_offsets has 3 entries but topic 'orders' has only 2 partitions",
        ),
        (ms(bad_plan), "restore plan names partition 2"),
        (
            vec![MetadataRecord::Migration(MigrationRecord {
                cluster_id: CLUSTER.into(),
                node_id: 1,
            })],
            "image is not empty",
        ),
        (
            vec![MetadataRecord::Migration(MigrationRecord {
                cluster_id: "other".into(),
                node_id: 1,
            })],
            "cluster 'other' node 1",
        ),
        // Records 0 and 1 are fine; record 2's refusal undoes them.
        (after_ok_then_bad, "record 2 (PartitionChangeRecord)"),
    ];
    for (records, want) in cases {
        let mut img = base.clone();
        let err = apply(&mut img, &records).unwrap_err();
        assert!(
            err.contains(want),
            "{records:?}: got '{err}', want '{want}'"
        );
        assert_eq!(img, base, "a refused entry changed the image: {records:?}");
    }
}

#[test]
fn migration_is_accepted_once_on_an_empty_image() {
    let mut img = fresh();
    let m = MetadataRecord::Migration(MigrationRecord {
        cluster_id: CLUSTER.into(),
        node_id: 1,
    });
    apply(&mut img, std::slice::from_ref(&m)).unwrap();
    assert!(img.migrated());
    let err = apply(&mut img, &[m]).unwrap_err();
    assert!(err.contains("already migrated"), "{err}");
}

#[test]
fn undecodable_entries_are_refused() {
    let mut img = fresh();
    let cases: [(&[u8], &str); 4] = [
        (b"{not json", "undecodable metadata log entry"),
        (
            br#"[{"type":"TopicRecord","version":1,"data":{"name":"a","topic_id":"x"}}]"#,
            "record 0 (TopicRecord): version 1 is newer than this broker reads (up to 0)",
        ),
        (
            br#"[{"type":"FenceBrokerRecord","version":0,"data":{}}]"#,
            "unknown record type 'FenceBrokerRecord'",
        ),
        (
            br#"[{"type":"TopicRecord","version":0,"data":{"name":"a"}}]"#,
            "missing field `topic_id`",
        ),
    ];
    for (bytes, want) in cases {
        let err = img.apply(3, bytes).unwrap_err().0;
        assert!(err.contains(want) && err.contains("index 3"), "{err}");
    }
    assert_eq!(img, fresh());
}

#[test]
fn snapshot_round_trips_and_restore_checks_it() {
    let mut img = fresh();
    apply(&mut img, &create("orders", ID_A, 3)).unwrap();
    apply(
        &mut img,
        &[MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: 1,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "h".into(),
                port: 1,
                security_protocol: "PLAINTEXT".into(),
            }],
            rack: None,
        })],
    )
    .unwrap();
    let snap = img.snapshot();
    let mut other = fresh();
    other.restore(&snap).unwrap();
    assert_eq!(other, img);
    assert_eq!(other.snapshot(), snap);

    let mut wrong_cluster = MetadataLogImage::new("another", 1);
    let err = wrong_cluster.restore(&snap).unwrap_err().0;
    assert!(err.contains("belongs to cluster"), "{err}");
    let text = String::from_utf8(snap).unwrap();
    let newer = text.replace("\"snapshot_version\":1", "\"snapshot_version\":2");
    let err = fresh().restore(newer.as_bytes()).unwrap_err().0;
    assert!(err.contains("snapshot version 2"), "{err}");
    assert!(fresh().restore(b"").is_err());
}

#[test]
fn diffs_reproduce_what_todays_closures_leave() {
    let mut img = fresh();
    apply(&mut img, &create("orders", ID_A, 1)).unwrap();
    let old = BTreeMap::from([
        ("a".to_string(), "1".to_string()),
        ("b".to_string(), "2".to_string()),
    ]);
    let new = BTreeMap::from([
        ("b".to_string(), "3".to_string()),
        ("c".to_string(), "4".to_string()),
    ]);
    let topic = ConfigResourceType::Topic;
    apply(
        &mut img,
        &config_changes(topic, "orders", &BTreeMap::new(), &old),
    )
    .unwrap();
    apply(&mut img, &config_changes(topic, "orders", &old, &new)).unwrap();
    assert_eq!(img.metadata().topics[0].configs, new);
    assert!(config_changes(topic, "orders", &new, &new).is_empty());

    // CreateAcls pushes, DeleteAcls retains, AlterUserScramCredentials retains + pushes.
    let (acls0, creds0) = (vec![acl("User:a"), acl("User:b")], vec![cred("x", 1)]);
    let acls1 = vec![acl("User:b"), acl("User:c")];
    let creds1 = vec![cred("y", 1), cred("x", 2)];
    apply(&mut img, &security_changes(&[], &acls0, &[], &creds0)).unwrap();
    apply(
        &mut img,
        &security_changes(&acls0, &acls1, &creds0, &creds1),
    )
    .unwrap();
    assert_eq!(img.metadata().acls, acls1);
    assert_eq!(img.metadata().scram_credentials, creds1);
}

/// One record of every type with its exact bytes: a failure here means the log format
/// changed. Bump that record's version (and keep reading the old one) instead of editing
/// the expected bytes.
#[test]
fn encoding_is_pinned() {
    let mut stopped = mirror("STOPPED");
    stopped.final_offsets = Some(vec![10]);
    stopped.aborted_transactions = Some(vec![0]);
    let one_of_each = vec![
        MetadataRecord::Topic(TopicRecord {
            name: "orders".into(),
            topic_id: ID_A.into(),
        }),
        MetadataRecord::Partition(PartitionRecord {
            topic_id: ID_A.into(),
            partition_id: 0,
            leader_epoch: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }),
        change(ID_A, 0, 3),
        config(
            ConfigResourceType::Topic,
            "orders",
            "retention.ms",
            Some("1"),
        ),
        MetadataRecord::RemoveTopic(RemoveTopicRecord {
            topic_id: ID_A.into(),
        }),
        MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            next_producer_id: 1000,
        }),
        MetadataRecord::AccessControlEntry(acl("User:a")),
        MetadataRecord::RemoveAccessControlEntry(acl("User:a")),
        MetadataRecord::UserScramCredential(cred("alice", 4096)),
        MetadataRecord::RemoveUserScramCredential(RemoveUserScramCredentialRecord {
            name: "alice".into(),
            mechanism: ScramMechanism::Sha256,
        }),
        MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: 1,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
                security_protocol: "PLAINTEXT".into(),
            }],
            rack: None,
        }),
        MetadataRecord::BrokerRegistrationChange(super::records::BrokerRegistrationChangeRecord {
            broker_id: 1,
            fenced: true,
            in_controlled_shutdown: None,
        }),
        MetadataRecord::ClusterLink(ClusterLinkRecord {
            link: link("dr", "L1"),
        }),
        MetadataRecord::RemoveClusterLink(RemoveClusterLinkRecord { name: "dr".into() }),
        MetadataRecord::MirrorState(MirrorStateRecord {
            topic_id: ID_A.into(),
            mirror: stopped,
        }),
        MetadataRecord::Migration(MigrationRecord {
            cluster_id: CLUSTER.into(),
            node_id: 1,
        }),
    ];
    let names: Vec<&str> = one_of_each.iter().map(MetadataRecord::type_name).collect();
    assert_eq!(names, RECORD_TYPES, "one record of each type, in order");
    let got: Vec<String> = one_of_each
        .iter()
        .map(|r| String::from_utf8(encode(std::slice::from_ref(r)).unwrap()).unwrap())
        .collect();
    for (g, r) in got.iter().zip(&one_of_each) {
        assert_eq!(decode(g.as_bytes()).unwrap(), vec![r.clone()]);
    }
    let want = GOLDEN.lines().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(got, want);
}

const GOLDEN: &str = include_str!("golden_records.txt");

/// Entries written before placement: a PartitionRecord without replicas (the golden bytes
/// of that era) decodes, and the image reads it as "on this image's node, led by it".
#[test]
fn pre_placement_partition_record_decodes_as_this_nodes() {
    let old = br#"[{"type":"PartitionRecord","version":0,"data":{"leader_epoch":0,"partition_id":0,"topic_id":"00000000-0000-4000-8000-00000000000a"}}]"#;
    let decoded = decode(old).unwrap();
    let MetadataRecord::Partition(p) = &decoded[0] else {
        panic!("not a PartitionRecord: {decoded:?}");
    };
    assert!(p.replicas.is_empty() && p.isr.is_empty());
    assert_eq!((p.leader, p.partition_epoch), (-1, 0));
    let mut img = MetadataLogImage::new(CLUSTER, 7);
    let mut entry = vec![MetadataRecord::Topic(TopicRecord {
        name: "orders".into(),
        topic_id: ID_A.into(),
    })];
    entry.extend(decoded);
    apply(&mut img, &entry).unwrap();
    let got = &img.metadata().topics[0].partitions[0];
    assert_eq!(
        (got.replicas.as_slice(), got.isr.as_slice(), got.leader),
        (&[7][..], &[7][..], 7)
    );
}

/// The registration invariants: ISR within the replicas, leader in the ISR, replicas
/// distinct and registered, partition epoch never lowered.
#[test]
fn image_refuses_bad_partition_registrations() {
    let placed = |replicas: Vec<i32>, isr: Vec<i32>, leader: i32| {
        vec![
            MetadataRecord::Topic(TopicRecord {
                name: "orders".into(),
                topic_id: ID_A.into(),
            }),
            MetadataRecord::Partition(PartitionRecord {
                topic_id: ID_A.into(),
                partition_id: 0,
                leader_epoch: 0,
                replicas,
                isr,
                leader,
                partition_epoch: 1,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            }),
        ]
    };
    let refused = |entry: Vec<MetadataRecord>, why: &str| {
        let mut img = fresh();
        let err = apply(&mut img, &entry).unwrap_err();
        assert!(err.contains(why), "{err}");
        assert_eq!(img, fresh(), "a refused entry changes nothing");
    };
    refused(
        placed(vec![1], vec![1, 2], 1),
        "ISR member 2, which is not one of its replicas",
    );
    refused(placed(vec![1, 1], vec![1], 1), "replica 1 more than once");
    refused(
        placed(vec![1], vec![], 1),
        "leader 1, which is not in its ISR",
    );
    let mut img = fresh();
    apply(&mut img, &placed(vec![1], vec![1], 1)).unwrap();
    let lower = MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: ID_A.into(),
        partition_id: 0,
        leader_epoch: 0,
        replicas: None,
        isr: None,
        leader: None,
        partition_epoch: Some(0),
        adding_replicas: None,
        removing_replicas: None,
    });
    let err = apply(&mut img, &[lower]).unwrap_err();
    assert!(
        err.contains("is not above its current partition epoch"),
        "{err}"
    );
    let fence = MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: ID_A.into(),
        partition_id: 0,
        leader_epoch: 1,
        replicas: None,
        isr: None,
        leader: Some(-1),
        partition_epoch: Some(2),
        adding_replicas: None,
        removing_replicas: None,
    });
    apply(&mut img, &[fence]).unwrap();
    let p = &img.metadata().topics[0].partitions[0];
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (-1, 1, 2));
}
