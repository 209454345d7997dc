//! The active controller's reassignment completion (KIP-455), as KRaft's controller does
//! it: a reassignment whose adding replicas have all joined the ISR (through the normal
//! follower fetch and the leader's AlterPartition) becomes its target — `replicas` = target,
//! ISR ∩ target, adding / removing cleared, a new leader from target ∩ ISR (leader
//! epoch + 1) when the leader is being removed. The decision is
//! [`crate::replication::reassign::maybe_complete`]; this module applies it to the image.
//!
//! Invariants: a completion bumps the partition epoch, so the image refuses it when
//! another change of that partition committed first (it is recomputed on the next tick);
//! an image with no reassignment ready to complete yields nothing (idempotent per tick).

use crate::metadata::MetadataImage;
use crate::metadata_log::records::PartitionChangeRecord;
use crate::replication::reassign::{self, ReassigningPartition};

use super::elections::Liveness;

/// One completion the controller wants to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub topic: String,
    pub partition: i32,
    pub current: ReassigningPartition,
    pub next: ReassigningPartition,
    pub record: PartitionChangeRecord,
}

/// Every reassigning partition of `image` that can complete now, one entry each.
pub fn plan(image: &MetadataImage, live: &Liveness) -> Vec<Completion> {
    let mut out = Vec::new();
    for t in &image.topics {
        for (i, p) in t.partitions.iter().enumerate() {
            let current = reassign::from_image(p);
            if current.reassignment.is_none() {
                continue;
            }
            let next = reassign::maybe_complete(&current, |b| live.is_alive(b));
            if next == current {
                continue;
            }
            let Ok(partition) = i32::try_from(i) else {
                continue;
            };
            out.push(Completion {
                topic: t.name.clone(),
                partition,
                record: reassign::change_record(&t.topic_id, partition, &current, &next),
                current,
                next,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{PartitionRecord, TopicRecord};

    fn image(p: PartitionRecord) -> MetadataImage {
        let mut image = MetadataImage::empty("c", 1);
        image.topics.push(TopicRecord {
            name: "t".into(),
            topic_id: "00000000-0000-0000-0000-000000000001".into(),
            partitions: vec![p],
            configs: Default::default(),
            mirror: None,
        });
        image
    }

    fn live() -> Liveness {
        Liveness {
            registered: [1, 2, 3].into_iter().collect(),
            fenced: Default::default(),
        }
    }

    fn moving(isr: Vec<i32>) -> PartitionRecord {
        PartitionRecord {
            leader_epoch: 3,
            replicas: vec![2, 3, 1],
            isr,
            leader: 1,
            partition_epoch: 7,
            adding_replicas: vec![2, 3],
            removing_replicas: vec![1],
        }
    }

    #[test]
    fn waits_for_every_adding_replica_then_completes_with_a_new_leader() {
        assert!(plan(&image(moving(vec![1])), &live()).is_empty());
        assert!(plan(&image(moving(vec![1, 2])), &live()).is_empty());
        let done = plan(&image(moving(vec![1, 2, 3])), &live());
        assert_eq!(done.len(), 1);
        let r = &done[0].record;
        assert_eq!(r.replicas.as_deref(), Some(&[2, 3][..]));
        assert_eq!(r.isr.as_deref(), Some(&[2, 3][..]));
        assert_eq!(r.leader, Some(2));
        assert_eq!((r.leader_epoch, r.partition_epoch), (4, Some(8)));
        assert_eq!(r.adding_replicas.as_deref(), Some(&[][..]));
        assert_eq!(r.removing_replicas.as_deref(), Some(&[][..]));
    }

    /// The image's invariants on the reassignment lists: ⊆ replicas and disjoint; a
    /// valid start and its completion apply.
    #[test]
    fn the_image_checks_the_reassignment_lists() {
        use crate::metadata_log::records::{encode, MetadataRecord, PartitionRecord, TopicRecord};
        use crate::metadata_log::MetadataLogImage;
        use strait_quorum::Image;
        const ID: &str = "11111111-2222-4333-8444-555555555555";
        let mut img = MetadataLogImage::new("MkU3OEVBNTcwNTJENDM2Qk", 1);
        let apply = |img: &mut MetadataLogImage, r: MetadataRecord| {
            img.apply(1, &encode(&[r]).unwrap())
                .map(drop)
                .map_err(|e| e.0)
        };
        img.apply(
            1,
            &encode(&[
                MetadataRecord::Topic(TopicRecord {
                    name: "t".into(),
                    topic_id: ID.into(),
                }),
                MetadataRecord::Partition(PartitionRecord {
                    topic_id: ID.into(),
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
            .unwrap(),
        )
        .unwrap();
        let change = |replicas: Vec<i32>, adding: Vec<i32>, removing: Vec<i32>, epoch| {
            MetadataRecord::PartitionChange(PartitionChangeRecord {
                topic_id: ID.into(),
                partition_id: 0,
                leader_epoch: 0,
                replicas: Some(replicas),
                isr: None,
                leader: None,
                partition_epoch: Some(epoch),
                adding_replicas: Some(adding),
                removing_replicas: Some(removing),
            })
        };
        let e = apply(&mut img, change(vec![2, 1], vec![3], vec![1], 1)).unwrap_err();
        assert!(e.contains("adding replica 3"), "{e}");
        let e = apply(&mut img, change(vec![2, 1], vec![2], vec![4], 1)).unwrap_err();
        assert!(e.contains("removing replica 4"), "{e}");
        let e = apply(&mut img, change(vec![2, 1], vec![2, 1], vec![1], 1)).unwrap_err();
        assert!(e.contains("both adding and removing"), "{e}");
        apply(&mut img, change(vec![2, 3, 1], vec![2, 3], vec![1], 1)).unwrap();
        let p = &img.metadata().topics[0].partitions[0];
        assert_eq!(
            (p.adding_replicas.clone(), p.removing_replicas.clone()),
            (vec![2, 3], vec![1])
        );
        // An ISR-only change (the leader's AlterPartition) keeps the lists.
        apply(
            &mut img,
            MetadataRecord::PartitionChange(PartitionChangeRecord {
                topic_id: ID.into(),
                partition_id: 0,
                leader_epoch: 0,
                replicas: None,
                isr: Some(vec![1, 2, 3]),
                leader: None,
                partition_epoch: Some(2),
                adding_replicas: None,
                removing_replicas: None,
            }),
        )
        .unwrap();
        let live = live();
        let done = plan(img.metadata(), &live);
        assert_eq!(done.len(), 1);
        apply(
            &mut img,
            MetadataRecord::PartitionChange(done[0].record.clone()),
        )
        .unwrap();
        let p = &img.metadata().topics[0].partitions[0];
        assert_eq!((p.replicas.clone(), p.leader), (vec![2, 3], 2));
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    }

    #[test]
    fn nothing_without_a_reassignment() {
        assert!(plan(&image(PartitionRecord::placed(vec![1, 2])), &live()).is_empty());
    }
}
