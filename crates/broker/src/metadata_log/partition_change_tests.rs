//! Unit tests of the image's PartitionChangeRecord rule (replication's elections and ISR
//! changes): a partition epoch strictly above the current one, a leader change only with a
//! higher leader epoch, a leader in the ISR unless the record is an unclean election, and
//! a refused change leaving the image unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use strait_quorum::Image;

use super::MetadataLogImage;
use crate::metadata_log::records::{
    encode, MetadataRecord, PartitionChangeRecord, PartitionRecord, TopicRecord,
};
use crate::metadata_log::tests::{CLUSTER, ID_A};

fn apply(image: &mut MetadataLogImage, records: &[MetadataRecord]) -> Result<(), String> {
    let bytes = encode(records).unwrap();
    image.apply(7, &bytes).map(|_| ()).map_err(|e| e.0)
}

/// A topic with one partition on replicas 1, 2, 3 (all in sync, led by 1, epochs 0).
fn rf3() -> MetadataLogImage {
    let mut img = MetadataLogImage::new(CLUSTER, 1);
    apply(
        &mut img,
        &[
            MetadataRecord::Topic(TopicRecord {
                name: "orders".into(),
                topic_id: ID_A.into(),
            }),
            MetadataRecord::Partition(PartitionRecord {
                topic_id: ID_A.into(),
                partition_id: 0,
                leader_epoch: 0,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                leader: 1,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            }),
        ],
    )
    .unwrap();
    img
}

fn change(
    leader_epoch: i32,
    isr: Option<Vec<i32>>,
    leader: Option<i32>,
    partition_epoch: Option<i32>,
) -> MetadataRecord {
    MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: ID_A.into(),
        partition_id: 0,
        leader_epoch,
        replicas: None,
        isr,
        leader,
        partition_epoch,
        adding_replicas: None,
        removing_replicas: None,
    })
}

fn registration(img: &MetadataLogImage) -> (Vec<i32>, i32, i32, i32) {
    let p = &img.metadata().topics[0].partitions[0];
    (p.isr.clone(), p.leader, p.leader_epoch, p.partition_epoch)
}

fn refused(img: &mut MetadataLogImage, record: MetadataRecord, why: &str) {
    let before = img.clone();
    let err = apply(img, &[record]).unwrap_err();
    assert!(err.contains(why), "{err}");
    assert_eq!(*img, before, "a refused change changes nothing");
}

/// Two ISR changes computed from partition epoch 0 both carry 1: the first commits, the
/// second is refused (the leader learns INVALID_UPDATE_VERSION), and so is an equal epoch.
#[test]
fn partition_epoch_must_be_strictly_greater() {
    let mut img = rf3();
    apply(&mut img, &[change(0, Some(vec![1, 2]), None, Some(1))]).unwrap();
    assert_eq!(registration(&img), (vec![1, 2], 1, 0, 1));
    refused(
        &mut img,
        change(0, Some(vec![1]), None, Some(1)),
        "partition epoch 1 of orders-0 is not above its current partition epoch 1",
    );
    refused(
        &mut img,
        change(0, Some(vec![1]), None, Some(0)),
        "is not above its current partition epoch",
    );
    // Without a partition epoch (a leader-epoch raise from a single node's cutover) the
    // partition epoch stays and the record still applies.
    apply(&mut img, &[change(3, None, None, None)]).unwrap();
    assert_eq!(registration(&img), (vec![1, 2], 1, 3, 1));
}

#[test]
fn leader_epoch_never_lowers_and_a_leader_change_raises_it() {
    let mut img = rf3();
    apply(&mut img, &[change(2, None, None, Some(1))]).unwrap();
    refused(
        &mut img,
        change(1, None, None, Some(2)),
        "would lower the leader epoch of orders-0 from 2 to 1",
    );
    refused(
        &mut img,
        change(2, Some(vec![2, 3]), Some(2), Some(2)),
        "changes the leader of orders-0 from 1 to 2 without raising its leader epoch 2",
    );
    // A clean election: leader 2 from the ISR, leader epoch + 1.
    apply(&mut img, &[change(3, Some(vec![2, 3]), Some(2), Some(2))]).unwrap();
    assert_eq!(registration(&img), (vec![2, 3], 2, 3, 2));
    // Losing the leader (its last ISR member fenced) also raises the leader epoch.
    refused(
        &mut img,
        change(3, None, Some(-1), Some(3)),
        "without raising its leader epoch",
    );
    apply(&mut img, &[change(4, None, Some(-1), Some(3))]).unwrap();
    assert_eq!(registration(&img), (vec![2, 3], -1, 4, 3));
}

/// A leader outside the ISR: refused when the record names an ISR without it; an unclean
/// election (no ISR in the record) makes the ISR the leader alone, as Kafka does.
#[test]
fn leader_outside_the_isr_only_by_unclean_election() {
    let mut img = rf3();
    apply(&mut img, &[change(1, Some(vec![1]), Some(-1), Some(1))]).unwrap();
    refused(
        &mut img,
        change(2, Some(vec![1]), Some(3), Some(2)),
        "leader 3, which is not in its ISR [1]",
    );
    refused(
        &mut img,
        change(2, None, Some(9), Some(2)),
        "leader 9, which is not in its ISR",
    );
    apply(&mut img, &[change(2, None, Some(3), Some(2))]).unwrap();
    assert_eq!(registration(&img), (vec![3], 3, 2, 2));
}

/// KIP-841: a fenced broker never joins an ISR nor takes the leadership, whatever the
/// record says (the leader's AlterPartition may predate the fencing); once unfenced it can.
#[test]
fn a_fenced_broker_cannot_join_the_isr_or_lead() {
    use crate::metadata_log::records::{
        BrokerEndpoint, BrokerRegistrationChangeRecord, RegisterBrokerRecord,
    };
    let mut img = rf3();
    let register = |id| {
        MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: id,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9000 + id as u16,
                security_protocol: "PLAINTEXT".into(),
            }],
            rack: None,
        })
    };
    let fence = |id, fenced| {
        MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id: id,
            fenced,
            in_controlled_shutdown: None,
        })
    };
    apply(&mut img, &[register(1), register(2), register(3)]).unwrap();
    apply(&mut img, &[change(0, Some(vec![1, 2]), None, Some(1))]).unwrap();
    apply(&mut img, &[fence(3, true)]).unwrap();
    refused(
        &mut img,
        change(0, Some(vec![1, 2, 3]), None, Some(2)),
        "shutting-down broker 3 cannot join the ISR of orders-0",
    );
    refused(
        &mut img,
        change(1, None, Some(3), Some(2)),
        "shutting-down broker 3 cannot lead orders-0",
    );
    // A fenced member already in the ISR may stay (it is not joining).
    apply(&mut img, &[fence(2, true)]).unwrap();
    apply(&mut img, &[change(0, Some(vec![1, 2]), None, Some(2))]).unwrap();
    apply(&mut img, &[fence(3, false)]).unwrap();
    apply(&mut img, &[change(0, Some(vec![1, 2, 3]), None, Some(3))]).unwrap();
    assert_eq!(registration(&img), (vec![1, 2, 3], 1, 0, 3));
}
