//! Every kind of metadata `TopicManager` owns survives a restart through the metadata log
//! (real disk, a real one-voter quorum): topics and their ids, partition counts, leader
//! epochs, topic configs, dynamic broker configs, mirror states (including a promote's
//! cutover record), links, ACLs, SCRAM credentials and producer-id blocks — and nothing of
//! it lives in a `strait-metadata.json` any more.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use strait_broker::auth::acl::{
    AclOperation, AclRecord, PatternType, PermissionType, ResourceType,
};
use strait_broker::auth::scram::{ScramCredentialRecord, ScramMechanism};
use strait_broker::metadata::{LinkRecord, MirrorRecord, METADATA_FILE};
use strait_broker::metadata_log::METADATA_LOG_DIR;
use strait_broker::topic_config::TopicDefaults;
use strait_broker::topics::TopicManager;

fn open(dir: &Path) -> TopicManager {
    TopicManager::open(dir, 1, TopicDefaults::default()).unwrap()
}

fn mirror(state: &str) -> MirrorRecord {
    MirrorRecord::new("dr", "orders", state, 1_700_000_000_000)
}

fn link(name: &str, bootstrap: &str) -> LinkRecord {
    LinkRecord {
        name: name.into(),
        link_id: format!("{name}-id"),
        configs: BTreeMap::from([("bootstrap.servers".into(), bootstrap.into())]),
        source_cluster_id: Some("src".into()),
        created_ms: 1_700_000_000_000,
    }
}

fn acl(principal: &str) -> AclRecord {
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

fn cred(user: &str, iterations: i32) -> ScramCredentialRecord {
    ScramCredentialRecord {
        user: user.into(),
        mechanism: ScramMechanism::Sha256,
        iterations,
        salt: "c2FsdA==".into(),
        stored_key: "c3RvcmVk".into(),
        server_key: "c2VydmVy".into(),
    }
}

/// A topic's name, id, partition leader epochs, config overrides and mirror record.
type TopicView = (
    String,
    String,
    Vec<i32>,
    BTreeMap<String, String>,
    Option<MirrorRecord>,
);

/// Everything a client or the link can observe of the metadata.
#[derive(Debug, PartialEq)]
struct Observed {
    cluster_id: String,
    topics: Vec<TopicView>,
    links: Vec<LinkRecord>,
    acls: Vec<AclRecord>,
    creds: Vec<(String, i32)>,
    dynamic_broker: BTreeMap<String, String>,
    dynamic_default: BTreeMap<String, String>,
}

fn observe(m: &TopicManager) -> Observed {
    let (acls, creds) = m.security_records();
    let defaults = m.defaults();
    Observed {
        cluster_id: m.cluster_id(),
        topics: m
            .list()
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.topic_id.to_string(),
                    t.partitions().iter().map(|p| p.leader_epoch()).collect(),
                    t.configs(),
                    t.mirror(),
                )
            })
            .collect(),
        links: m.links(),
        acls,
        creds: creds
            .iter()
            .map(|c| (c.user.clone(), c.iterations))
            .collect(),
        dynamic_broker: defaults.dynamic_broker,
        dynamic_default: defaults.dynamic_default,
    }
}

#[test]
fn every_kind_of_metadata_survives_restarts_through_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let retention = BTreeMap::from([("retention.ms".to_string(), "86400000".to_string())]);
    m.create_topic("orders", 3, retention.clone(), false)
        .unwrap();
    m.create_topic("gone", 1, BTreeMap::new(), false).unwrap();
    m.create_mirror_topic("mirror", 2, BTreeMap::new(), mirror("ACTIVE"))
        .unwrap();
    m.create_mirror_topic("cut", 2, BTreeMap::new(), mirror("ACTIVE"))
        .unwrap();
    m.delete_topic("gone").unwrap();
    m.create_partitions("orders", 5, false).unwrap();
    let compact = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
    m.set_topic_configs("orders", compact.clone(), false)
        .unwrap();
    m.set_dynamic_broker_configs(
        false,
        BTreeMap::from([("log.retention.ms".into(), "3600000".into())]),
    )
    .unwrap();
    m.set_dynamic_broker_configs(
        true,
        BTreeMap::from([("log.segment.bytes".into(), "1048576".into())]),
    )
    .unwrap();
    m.raise_leader_epoch("orders", 1, 7).unwrap();
    m.update_mirror("mirror", |r| {
        r.state = "PAUSED".into();
        r.reason = Some("operator".into());
    })
    .unwrap();
    let aborted = m.promote("cut").unwrap();
    assert_eq!(aborted, vec![0, 0]);
    m.put_link(link("dr", "a:9092")).unwrap();
    m.put_link(link("old", "b:9092")).unwrap();
    m.put_link(link("dr", "c:9092")).unwrap();
    m.remove_link("old").unwrap();
    m.update_security(|acls, creds| {
        acls.push(acl("User:alice"));
        acls.push(acl("User:bob"));
        creds.push(cred("alice", 4096));
        creds.push(cred("bob", 4096));
        Ok(())
    })
    .unwrap();
    m.update_security(|acls, creds| {
        acls.retain(|a| a.principal != "User:alice");
        creds.retain(|c| c.user != "bob");
        creds.retain(|c| c.user != "alice");
        creds.push(cred("alice", 8192));
        Ok(())
    })
    .unwrap();
    let ids: Vec<i64> = (0..3).map(|_| m.next_producer_id().unwrap()).collect();
    m.reserve_producer_ids_above(54_321).unwrap();

    let before = observe(&m);
    // What the changes above should have left, spelled out (so a restart that loses them
    // all, and a log that never held them, cannot both pass).
    let names: Vec<&str> = before.topics.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["cut", "mirror", "orders"]);
    let orders = &before.topics[2];
    assert_eq!(orders.2, vec![0, 7, 0, 0, 0]);
    assert_eq!(orders.3, compact);
    assert_eq!(before.topics[1].4.as_ref().unwrap().state, "PAUSED");
    let cut = before.topics[0].4.as_ref().unwrap();
    assert_eq!(cut.state, "STOPPED");
    assert_eq!(cut.final_offsets, Some(vec![0, 0]));
    assert!(
        before.topics[0].2.iter().all(|e| *e >= 1),
        "{:?}",
        before.topics[0]
    );
    assert_eq!(before.links.len(), 1);
    assert_eq!(before.links[0].configs["bootstrap.servers"], "c:9092");
    assert_eq!(before.acls, vec![acl("User:bob")]);
    assert_eq!(before.creds, vec![("alice".to_string(), 8192)]);
    m.close_all();
    drop(m);

    assert!(!dir.path().join(METADATA_FILE).exists());
    assert!(dir.path().join(METADATA_LOG_DIR).is_dir());
    for round in 0..2 {
        let m = open(dir.path());
        assert_eq!(observe(&m), before, "restart {round}");
        // The reserved blocks are never handed out again.
        let id = m.next_producer_id().unwrap();
        assert!(
            id > 54_321 && ids.iter().all(|i| id > *i),
            "{id} after {ids:?}"
        );
        // A restart without a clean close (the quorum still closes on drop; the partition
        // logs do not) loses nothing either.
        if round == 0 {
            m.close_all();
        }
    }
    // The producer ids handed out in the loop moved nothing that is observed.
    let m = open(dir.path());
    assert_eq!(observe(&m), before);
    m.close_all();
}

#[test]
fn a_refused_change_writes_nothing_and_the_next_one_commits() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    m.create_topic("t", 1, BTreeMap::new(), false).unwrap();
    let e = m
        .create_topic("t", 1, BTreeMap::new(), false)
        .err()
        .unwrap();
    assert_eq!(e.code, strait_protocol::ErrorCode::TopicAlreadyExists);
    let e = m
        .create_topic("__cluster_metadata", 1, BTreeMap::new(), false)
        .err()
        .unwrap();
    assert_eq!(e.code, strait_protocol::ErrorCode::InvalidRequest);
    m.create_topic("u", 2, BTreeMap::new(), false).unwrap();
    drop(m);
    let m = open(dir.path());
    let names: Vec<String> = m.list().iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, ["t", "u"]);
    assert!(dir.path().join(METADATA_LOG_DIR).is_dir());
    m.close_all();
}
