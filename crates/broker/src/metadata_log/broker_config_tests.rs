//! Unit tests of the per-broker dynamic configs the image keeps: every voter applies a
//! broker ConfigRecord alike whichever broker it names, each node exposes its own, and
//! snapshots (current and from before per-broker configs) restore them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use strait_quorum::Image;

use super::MetadataLogImage;
use crate::metadata_log::records::{encode, ConfigRecord, ConfigResourceType, MetadataRecord};
use crate::metadata_log::tests::CLUSTER;

fn apply(image: &mut MetadataLogImage, records: &[MetadataRecord]) -> Result<(), String> {
    let bytes = encode(records).unwrap();
    image.apply(7, &bytes).map(|_| ()).map_err(|e| e.0)
}

fn config(resource: &str, k: &str, v: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Broker,
        resource_name: resource.into(),
        name: k.into(),
        value: v.map(str::to_string),
    })
}

/// Every voter applies a ConfigRecord for any broker the same way: nodes 1 and 2 agree on
/// every broker's configs, each exposing its own to `TopicManager`.
#[test]
fn broker_configs_are_kept_for_every_broker() {
    let entries = [
        vec![config("1", "log.retention.ms", Some("1"))],
        vec![config("2", "log.retention.ms", Some("2"))],
        vec![config("2", "num.io.threads", Some("4"))],
        vec![config("", "log.segment.bytes", Some("9"))],
        vec![config("3", "num.io.threads", Some("4"))],
        vec![config("3", "num.io.threads", None)],
    ];
    let mut one = MetadataLogImage::new(CLUSTER, 1);
    let mut two = MetadataLogImage::new(CLUSTER, 2);
    for e in &entries {
        apply(&mut one, e).unwrap();
        apply(&mut two, e).unwrap();
    }
    let kv = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        one.metadata().dynamic_broker_configs,
        kv(&[("log.retention.ms", "1")])
    );
    assert_eq!(
        two.metadata().dynamic_broker_configs,
        kv(&[("log.retention.ms", "2"), ("num.io.threads", "4")])
    );
    for id in [1, 2, 3] {
        assert_eq!(
            one.broker_configs(id),
            two.broker_configs(id),
            "broker {id}"
        );
    }
    assert_eq!(
        one.broker_configs(3),
        None,
        "an emptied broker keeps no entry"
    );
    let shared = |img: &MetadataLogImage| {
        let mut m = img.metadata().clone();
        m.node_id = 0;
        m.dynamic_broker_configs.clear();
        m
    };
    assert_eq!(shared(&one), shared(&two));
    assert_eq!(
        one.metadata().dynamic_default_broker_configs,
        kv(&[("log.segment.bytes", "9")])
    );

    // Node 2 installing node 1's snapshot holds exactly what replay gave it.
    let mut restored = MetadataLogImage::new(CLUSTER, 2);
    restored.restore(&one.snapshot()).unwrap();
    assert_eq!(restored, two);

    // A snapshot from before per-broker configs: its configs are its writer's (node 1).
    let mut old: serde_json::Value = serde_json::from_slice(&one.snapshot()).unwrap();
    old.as_object_mut().unwrap().remove("broker_configs");
    let mut restored = MetadataLogImage::new(CLUSTER, 1);
    restored
        .restore(&serde_json::to_vec(&old).unwrap())
        .unwrap();
    assert_eq!(restored.metadata(), one.metadata());
    assert_eq!(restored.broker_configs(1), one.broker_configs(1));
    assert_eq!(restored.broker_configs(2), None);

    for bad in ["01", "+2", "-1", "b2", "2147483648", " 2"] {
        let before = one.clone();
        let err = apply(&mut one, &[config(bad, "k", Some("v"))]).unwrap_err();
        assert!(err.contains("is neither a broker id"), "{bad:?}: {err}");
        assert_eq!(one, before, "{bad:?} left the image unchanged");
    }
}
