//! The publish path against a real metadata log and real partition directories: entries
//! proposed straight to the quorum (as another node's controller would, no `TopicManager`
//! method involved) materialize as topics, partitions, configs, epochs, mirror records and
//! deletions; publishers see every entry once, in order; and a restart reconciles against
//! the loaded image instead of replaying creations and deletions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use strait_protocol::ErrorCode;

use super::TopicManager;
use crate::metadata::{MetadataImage, MirrorRecord};
use crate::metadata_log::records::{
    ConfigRecord, ConfigResourceType, MirrorStateRecord, PartitionChangeRecord, PartitionRecord,
    RemoveTopicRecord, TopicRecord,
};
use crate::metadata_log::{MetadataDelta, MetadataPublisher, MetadataRecord};
use crate::topic_config::TopicDefaults;

const ID: &str = "00000000-0000-4000-8000-0000000000c1";

fn open(dir: &Path) -> TopicManager {
    TopicManager::open(dir, 1, TopicDefaults::default()).unwrap()
}

fn partition(p: i32) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id: ID.into(),
        partition_id: p,
        leader_epoch: 0,
        replicas: Vec::new(),
        isr: Vec::new(),
        leader: -1,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    })
}

fn topic_config(k: &str, v: &str) -> MetadataRecord {
    MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Topic,
        resource_name: "remote".into(),
        name: k.into(),
        value: Some(v.into()),
    })
}

fn mirror(state: &str) -> MirrorRecord {
    MirrorRecord::new("dr", "remote", state, 1_700_000_000_000)
}

#[test]
fn entries_not_proposed_by_a_method_materialize() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let log = &m.meta_log;
    log.propose_records(&[
        MetadataRecord::Topic(TopicRecord {
            name: "remote".into(),
            topic_id: ID.into(),
        }),
        partition(0),
        partition(1),
        topic_config("retention.ms", "12345"),
    ])
    .unwrap();
    // Published before propose_records returned: topic, open logs, config applied.
    let t = m.get("remote").expect("the topic appears");
    assert_eq!(t.topic_id.to_string(), ID);
    assert_eq!(t.partition_count(), 2);
    assert_eq!(
        t.configs().get("retention.ms").map(String::as_str),
        Some("12345")
    );
    for p in t.partitions() {
        assert!(dir.path().join(format!("remote-{}", p.index)).is_dir());
        assert_eq!(p.with_log(|l| l.config().retention_ms).unwrap(), 12345);
    }

    log.propose_records(&[partition(2)]).unwrap();
    assert_eq!(t.partition_count(), 3);
    assert!(dir.path().join("remote-2").is_dir());
    assert_eq!(
        t.partition(2)
            .unwrap()
            .with_log(|l| l.config().retention_ms)
            .unwrap(),
        12345,
        "a new partition opens with the topic's config"
    );

    log.propose_records(&[topic_config("retention.ms", "777")])
        .unwrap();
    for p in t.partitions() {
        assert_eq!(p.with_log(|l| l.config().retention_ms).unwrap(), 777);
    }

    log.propose_records(&[MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: ID.into(),
        partition_id: 1,
        leader_epoch: 9,
        replicas: None,
        isr: None,
        leader: None,
        partition_epoch: None,
        adding_replicas: None,
        removing_replicas: None,
    })])
    .unwrap();
    assert_eq!(t.partition(1).unwrap().leader_epoch(), 9);
    assert_eq!(t.partition(0).unwrap().leader_epoch(), 0);

    let mut changes = m.reg.mirror_changes.subscribe();
    changes.mark_unchanged();
    log.propose_records(&[MetadataRecord::MirrorState(MirrorStateRecord {
        topic_id: ID.into(),
        mirror: mirror("ACTIVE"),
    })])
    .unwrap();
    assert_eq!(t.mirror().map(|r| r.state), Some("ACTIVE".into()));
    assert!(t.read_only_reason().is_some());
    assert!(
        changes.has_changed().unwrap(),
        "held produce requests are woken"
    );

    // A dynamic broker default applies to every log without an override.
    log.propose_records(&[MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        name: "log.retention.bytes".into(),
        value: Some("4096".into()),
    })])
    .unwrap();
    assert_eq!(
        m.defaults()
            .dynamic_default
            .get("log.retention.bytes")
            .map(String::as_str),
        Some("4096")
    );
    for p in t.partitions() {
        assert_eq!(p.with_log(|l| l.config().retention_bytes).unwrap(), 4096);
    }

    let held = t.partition(0).unwrap();
    log.propose_records(&[MetadataRecord::RemoveTopic(RemoveTopicRecord {
        topic_id: ID.into(),
    })])
    .unwrap();
    assert!(m.get("remote").is_none());
    let e = held.with_log(|_| ()).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownTopicOrPartition);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("remote"))
        .collect();
    assert!(left.is_empty(), "partition directories removed: {left:?}");

    // A method's change after a remote entry is computed from the published image.
    m.create_topic("local", 1, BTreeMap::new(), false).unwrap();
    assert_eq!(m.list().len(), 1);
}

/// Records every delta it is handed.
struct Recorder(Arc<Mutex<Vec<MetadataDelta>>>);

impl MetadataPublisher for Recorder {
    fn name(&self) -> String {
        "recorder".into()
    }
    fn publish(&mut self, delta: &MetadataDelta) -> Result<(), String> {
        self.0.lock().unwrap().push(delta.clone());
        Ok(())
    }
}

fn record(m: &TopicManager) -> Arc<Mutex<Vec<MetadataDelta>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    m.meta_log
        .register_publisher(
            Box::new(Recorder(Arc::clone(&seen))),
            m.meta_log.published_image(),
        )
        .unwrap();
    seen
}

#[test]
fn every_entry_is_published_once_in_order_and_a_restart_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let seen = record(&m);
    let start: MetadataImage = (*m.meta_log.published_image()).clone();
    m.create_topic("gone", 2, BTreeMap::new(), false).unwrap();
    m.create_topic("kept", 1, BTreeMap::new(), false).unwrap();
    m.delete_topic("gone").unwrap();
    m.create_partitions("kept", 2, false).unwrap();
    // No change: no entry, nothing published.
    m.set_topic_configs("kept", BTreeMap::new(), false).unwrap();
    m.get("kept")
        .unwrap()
        .partition(0)
        .unwrap()
        .with_log_mut(|l| l.truncate_fully_and_start_at(500))
        .unwrap()
        .unwrap();

    {
        let deltas = seen.lock().unwrap();
        assert_eq!(deltas.len(), 4, "one delta per entry");
        let mut prev = Arc::new(start);
        let mut last_offset = 0;
        for d in deltas.iter() {
            let offset = d.offset.expect("entries carry their offset");
            assert!(
                offset > last_offset,
                "log order: {offset} after {last_offset}"
            );
            assert_eq!(d.prev, prev, "each delta starts where the last ended");
            last_offset = offset;
            prev = Arc::clone(&d.next);
        }
        assert_eq!(deltas[0].topics[0].name, "gone");
        assert!(deltas[0].topics[0].created);
        assert_eq!(deltas[2].removed_topics[0].name, "gone");
        assert_eq!(deltas[3].topics[0].partitions_added, 1..2);
        assert_eq!(*prev, m.meta_log.image());
    }
    m.close_all();
    drop(m);

    let m = open(dir.path());
    assert!(m.get("gone").is_none());
    assert!(!dir.path().join("gone-0").exists() && !dir.path().join("gone-0-delete").exists());
    let kept = m.get("kept").unwrap();
    assert_eq!(kept.partition_count(), 2);
    assert_eq!(
        kept.partition(0)
            .unwrap()
            .with_log(|l| l.log_end_offset())
            .unwrap(),
        500,
        "the log was reopened, not re-created"
    );
    // Registered with the image it was built from: no catch-up, no replay.
    let seen = record(&m);
    assert!(seen.lock().unwrap().is_empty());
    m.create_topic("after", 1, BTreeMap::new(), false).unwrap();
    let deltas = seen.lock().unwrap();
    assert_eq!(deltas.len(), 1);
    assert_eq!(deltas[0].topics[0].name, "after");
}

/// A publisher registered with an image the log has moved past gets one catch-up delta.
#[test]
fn a_late_publisher_catches_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let before = m.meta_log.published_image();
    m.create_topic("a", 1, BTreeMap::new(), false).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    m.meta_log
        .register_publisher(Box::new(Recorder(Arc::clone(&seen))), before)
        .unwrap();
    let deltas = seen.lock().unwrap();
    assert_eq!(deltas.len(), 1);
    assert_eq!(deltas[0].offset, None);
    assert!(deltas[0].topics[0].created);

    // The topic publisher handed the same catch-up keeps the open topic (same id, same
    // logs) and reconciles it with the record instead of opening its directory again.
    let open_topic = m.get("a").unwrap();
    let mut next = (*deltas[0].next).clone();
    next.topics[0]
        .configs
        .insert("retention.ms".into(), "4321".into());
    let delta = MetadataDelta::between(None, Arc::clone(&deltas[0].prev), Arc::new(next));
    m.reg.publish(&delta).unwrap();
    let t = m.get("a").unwrap();
    assert!(Arc::ptr_eq(&t, &open_topic), "not re-created");
    let retention = t
        .partition(0)
        .unwrap()
        .with_log(|l| l.config().retention_ms);
    assert_eq!(retention.unwrap(), 4321);
}

/// A catch-up that folds a deletion and a re-creation under the same name (a restart
/// after both, or a late publisher) removes the old topic's logs before opening the new.
#[test]
fn a_folded_delete_and_recreate_swaps_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let old = m.create_topic("x", 1, BTreeMap::new(), false).unwrap();
    old.partition(0)
        .unwrap()
        .with_log_mut(|l| l.truncate_fully_and_start_at(42))
        .unwrap()
        .unwrap();
    let prev = m.meta_log.published_image();
    let mut next = (*prev).clone();
    next.topics[0].topic_id = ID.into();
    m.reg
        .publish(&MetadataDelta::between(None, prev, Arc::new(next)))
        .unwrap();
    let new = m.get("x").unwrap();
    assert_eq!(new.topic_id.to_string(), ID);
    assert_eq!(
        new.partition(0)
            .unwrap()
            .with_log(|l| l.log_end_offset())
            .unwrap(),
        0,
        "the new topic's log is a fresh one"
    );
    let e = old.partition(0).unwrap().with_log(|_| ()).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownTopicOrPartition);
}

/// Start-up from a snapshot (the quorum restores the image instead of replaying entries):
/// the topic map is built from the restored image before the log directory is tidied, so
/// nothing is set aside as stray and the logs are reopened as they were.
#[test]
fn a_restart_from_a_snapshot_reopens_every_log() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let t = m.create_topic("snap", 2, BTreeMap::new(), false).unwrap();
    t.partition(1)
        .unwrap()
        .with_log_mut(|l| l.truncate_fully_and_start_at(77))
        .unwrap()
        .unwrap();
    m.meta_log.trigger_snapshot().unwrap();
    let snapshot = m.meta_log.dir().join("snapshot").join("current.snap");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !snapshot.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot at {}",
            snapshot.display()
        );
        std::thread::yield_now();
    }
    m.close_all();
    drop(m);

    let m = open(dir.path());
    let t = m.get("snap").expect("restored from the snapshot");
    assert_eq!(t.partition_count(), 2);
    assert_eq!(
        t.partition(1)
            .unwrap()
            .with_log(|l| l.log_end_offset())
            .unwrap(),
        77
    );
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(crate::log_dir::STRAY_SUFFIX))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
