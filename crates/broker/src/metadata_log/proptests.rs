//! Property: applying a valid record sequence to a fresh image gives the same image as
//! snapshot → restore at any midpoint followed by the rest (so a node that restarts from a
//! snapshot, or installs one from the leader, converges with one that replayed the log).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use strait_quorum::Image;

use super::image::MetadataLogImage;
use super::records::*;
use super::tests::{acl, create, cred, link, mirror, CLUSTER};
use crate::auth::scram::ScramMechanism;

const NAMES: [&str; 3] = ["t0", "t1", "t2"];

fn topic_id(n: u8) -> String {
    format!("00000000-0000-4000-8000-{:012x}", u64::from(n) + 1)
}

/// A random candidate entry from a small universe, so names, ids and keys collide often.
fn entry() -> impl Strategy<Value = Vec<MetadataRecord>> {
    let topic = 0u8..3;
    prop_oneof![
        (topic.clone(), 0u8..6, 1i32..4).prop_map(|(t, id, n)| create(
            NAMES[usize::from(t)],
            &topic_id(id),
            n
        )),
        (0u8..6).prop_map(|id| vec![MetadataRecord::RemoveTopic(RemoveTopicRecord {
            topic_id: topic_id(id)
        })]),
        // Legacy (no replicas) and placed partitions.
        (0u8..6, 0i32..4, proptest::option::of(0i32..3)).prop_map(|(id, p, b)| {
            let replicas: Vec<i32> = b.into_iter().collect();
            vec![MetadataRecord::Partition(PartitionRecord {
                topic_id: topic_id(id),
                partition_id: p,
                leader_epoch: 0,
                leader: replicas.first().copied().unwrap_or(-1),
                isr: replicas.clone(),
                replicas,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            })]
        }),
        (0u8..6, 0i32..3, 0i32..8).prop_map(|(id, p, e)| vec![MetadataRecord::PartitionChange(
            PartitionChangeRecord {
                topic_id: topic_id(id),
                partition_id: p,
                leader_epoch: e,
                replicas: None,
                isr: None,
                leader: None,
                partition_epoch: None,
                adding_replicas: None,
                removing_replicas: None,
            }
        )]),
        // Leadership moves: fenced (-1, ISR kept) or back, with the partition epoch.
        (0u8..6, 0i32..3, 0i32..8, -1i32..3, 0i32..4).prop_map(|(id, p, e, l, pe)| vec![
            MetadataRecord::PartitionChange(PartitionChangeRecord {
                topic_id: topic_id(id),
                partition_id: p,
                leader_epoch: e,
                replicas: None,
                isr: None,
                leader: Some(l),
                partition_epoch: Some(pe),
                adding_replicas: None,
                removing_replicas: None,
            })
        ]),
        (topic, 0u8..3, proptest::option::of(0u8..3)).prop_map(|(t, k, v)| vec![
            MetadataRecord::Config(ConfigRecord {
                resource_type: ConfigResourceType::Topic,
                resource_name: NAMES[usize::from(t)].into(),
                name: format!("k{k}"),
                value: v.map(|v| format!("v{v}")),
            })
        ]),
        // "" = the cluster default, "1" = the image's node, "2" = another voter.
        (
            prop::sample::select(&["", "1", "2"][..]),
            0u8..3,
            proptest::option::of(0u8..3)
        )
            .prop_map(|(b, k, v)| vec![MetadataRecord::Config(ConfigRecord {
                resource_type: ConfigResourceType::Broker,
                resource_name: b.into(),
                name: format!("k{k}"),
                value: v.map(|v| format!("v{v}")),
            })]),
        (0i64..5000).prop_map(|n| vec![MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            next_producer_id: n
        })]),
        (any::<bool>(), 0u8..3).prop_map(|(add, u)| {
            let a = acl(&format!("User:u{u}"));
            vec![if add {
                MetadataRecord::AccessControlEntry(a)
            } else {
                MetadataRecord::RemoveAccessControlEntry(a)
            }]
        }),
        (any::<bool>(), 0u8..3, 1i32..3).prop_map(|(add, u, it)| {
            let user = format!("u{u}");
            vec![if add {
                MetadataRecord::UserScramCredential(cred(&user, it))
            } else {
                MetadataRecord::RemoveUserScramCredential(RemoveUserScramCredentialRecord {
                    name: user,
                    mechanism: ScramMechanism::Sha256,
                })
            }]
        }),
        (any::<bool>(), 0u8..2, 0u8..2).prop_map(|(add, n, id)| {
            let name = format!("l{n}");
            vec![if add {
                MetadataRecord::ClusterLink(ClusterLinkRecord {
                    link: link(&name, &format!("id{id}")),
                })
            } else {
                MetadataRecord::RemoveClusterLink(RemoveClusterLinkRecord { name })
            }]
        }),
        (0u8..6, 0usize..2).prop_map(|(id, s)| vec![MetadataRecord::MirrorState(
            MirrorStateRecord {
                topic_id: topic_id(id),
                mirror: mirror(["ACTIVE", "PAUSED"][s]),
            }
        )]),
        (0i32..3).prop_map(
            |b| vec![MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker_id: b,
                endpoints: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: None,
            })]
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn snapshot_at_any_midpoint_then_the_rest_equals_the_replay(
        candidates in proptest::collection::vec(entry(), 1..60),
        cut in any::<proptest::sample::Index>(),
    ) {
        // Keep the entries the image accepts: that is a valid sequence (a refused entry
        // changes nothing, which `each_refusal_leaves_the_image_unchanged` checks).
        let mut replay = MetadataLogImage::new(CLUSTER, 1);
        let mut valid = Vec::new();
        for c in candidates {
            let bytes = encode(&c).unwrap();
            if replay.apply(valid.len() as u64, &bytes).is_ok() {
                valid.push(bytes);
            }
        }
        let cut = cut.index(valid.len() + 1);
        let mut prefix = MetadataLogImage::new(CLUSTER, 1);
        for (i, bytes) in valid[..cut].iter().enumerate() {
            prefix.apply(i as u64, bytes).unwrap();
        }
        let mut restored = MetadataLogImage::new(CLUSTER, 1);
        restored.restore(&prefix.snapshot()).unwrap();
        prop_assert_eq!(&restored, &prefix);
        for (i, bytes) in valid[cut..].iter().enumerate() {
            restored.apply((cut + i) as u64, bytes).unwrap();
        }
        prop_assert_eq!(&restored, &replay);
        prop_assert_eq!(restored.snapshot(), replay.snapshot());
    }
}

/// The images a valid random record sequence passes through, from the empty one.
fn images_along(candidates: Vec<Vec<MetadataRecord>>) -> Vec<MetadataLogImage> {
    let mut image = MetadataLogImage::new(CLUSTER, 1);
    let mut out = vec![image.clone()];
    for c in candidates {
        if image.apply_records(&c).is_ok() {
            out.push(image.clone());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// `diff` is what `TopicManager` commits: from any image to any later one (however many
    /// records apart), its entry rebuilds exactly the later image, lists in order.
    #[test]
    fn diff_to_any_later_image_reproduces_it(
        candidates in proptest::collection::vec(entry(), 1..60),
        a in any::<proptest::sample::Index>(),
        b in any::<proptest::sample::Index>(),
    ) {
        let images = images_along(candidates);
        let (a, b) = (a.index(images.len()), b.index(images.len()));
        let (prev, next) = (&images[a.min(b)], &images[a.max(b)]);
        let records = super::diff::diff(prev.metadata(), next.metadata()).unwrap();
        let mut applied = prev.clone();
        applied.apply_records(&records).unwrap();
        prop_assert_eq!(applied.metadata(), next.metadata());
        // Nothing to write when nothing changed.
        prop_assert!(super::diff::diff(next.metadata(), next.metadata()).unwrap().is_empty());
    }

    /// Going back in time is either refused by `diff` or reproduced exactly: the
    /// applied image never silently differs.
    #[test]
    fn diff_backwards_is_exact_or_refused(
        candidates in proptest::collection::vec(entry(), 1..40),
        a in any::<proptest::sample::Index>(),
        b in any::<proptest::sample::Index>(),
    ) {
        let images = images_along(candidates);
        let (a, b) = (a.index(images.len()), b.index(images.len()));
        let (prev, next) = (&images[a.max(b)], &images[a.min(b)]);
        if let Ok(records) = super::diff::diff(prev.metadata(), next.metadata()) {
            let mut applied = prev.clone();
            if applied.apply_records(&records).is_ok() {
                prop_assert_eq!(applied.metadata(), next.metadata());
            }
        }
    }
}
