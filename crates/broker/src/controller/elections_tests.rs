//! Reconciliation decisions: what the active controller proposes for each partition given
//! the brokers' liveness and `unclean.leader.election.enable`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use super::*;
use crate::metadata::{MetadataImage, PartitionRecord, TopicRecord};

fn reg(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionRegistration {
    PartitionRegistration {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 4,
        partition_epoch: 7,
    }
}

fn live(registered: &[i32], fenced: &[i32]) -> Liveness {
    Liveness {
        registered: registered.iter().copied().collect(),
        fenced: fenced.iter().copied().collect(),
    }
}

#[test]
fn a_fenced_leader_is_replaced_from_the_live_isr_and_leaves_it() {
    let l = live(&[1, 2, 3], &[1]);
    let next = reconcile(&reg(&[1, 2, 3], &[1, 2, 3], 1), false, |r| l.is_alive(r)).unwrap();
    assert_eq!((next.leader, next.isr.clone()), (2, vec![2, 3]));
    assert_eq!((next.leader_epoch, next.partition_epoch), (5, 8));
    // Record: the moved fields and both epochs.
    let rec = change_record("id", 3, &reg(&[1, 2, 3], &[1, 2, 3], 1), &next);
    assert_eq!(
        (
            rec.leader,
            rec.isr,
            rec.replicas,
            rec.leader_epoch,
            rec.partition_epoch
        ),
        (Some(2), Some(vec![2, 3]), None, 5, Some(8))
    );
}

#[test]
fn a_fenced_follower_leaves_the_isr_without_a_leader_change() {
    let l = live(&[1, 2, 3], &[3]);
    let current = reg(&[1, 2, 3], &[1, 2, 3], 1);
    let next = reconcile(&current, false, |r| l.is_alive(r)).unwrap();
    assert_eq!((next.leader, next.isr.clone()), (1, vec![1, 2]));
    assert_eq!((next.leader_epoch, next.partition_epoch), (4, 8));
    let rec = change_record("id", 0, &current, &next);
    assert_eq!(rec.leader, None, "the leader did not move");
    // Nothing more to do once it is out: reconciling again is a no-op.
    assert_eq!(reconcile(&next, false, |r| l.is_alive(r)), None);
    assert_eq!(reconcile(&current, false, |_| true), None);
}

#[test]
fn the_last_isr_member_stays_and_the_partition_goes_leaderless_until_it_returns() {
    let fenced = live(&[1, 2], &[2]);
    let current = reg(&[2], &[2], 2);
    let next = reconcile(&current, false, |r| fenced.is_alive(r)).unwrap();
    assert_eq!((next.leader, next.isr.clone()), (-1, vec![2]));
    assert_eq!((next.leader_epoch, next.partition_epoch), (5, 8));
    assert_eq!(reconcile(&next, false, |r| fenced.is_alive(r)), None);
    // Broker 2 unfenced: it leads again, one more leader epoch.
    let back = live(&[1, 2], &[]);
    let again = reconcile(&next, false, |r| back.is_alive(r)).unwrap();
    assert_eq!(
        (again.leader, again.isr, again.leader_epoch),
        (2, vec![2], 6)
    );
}

#[test]
fn unclean_election_only_when_enabled() {
    // ISR [1], leader 1 fenced; replica 2 alive but out of sync.
    let l = live(&[1, 2], &[1]);
    let current = reg(&[1, 2], &[1], 1);
    let clean = reconcile(&current, false, |r| l.is_alive(r)).unwrap();
    assert_eq!((clean.leader, clean.isr.clone()), (-1, vec![1]));
    let unclean = reconcile(&current, true, |r| l.is_alive(r)).unwrap();
    assert_eq!((unclean.leader, unclean.isr), (2, vec![2]));
}

#[test]
fn an_unregistered_broker_is_not_alive() {
    let l = live(&[1], &[]);
    let next = reconcile(&reg(&[1, 9], &[1, 9], 9), false, |r| l.is_alive(r)).unwrap();
    assert_eq!((next.leader, next.isr), (1, vec![1]));
}

#[test]
fn plan_covers_every_partition_and_reads_the_topic_config() {
    let part = |replicas: Vec<i32>, isr: Vec<i32>, leader: i32| PartitionRecord {
        leader_epoch: 0,
        replicas,
        isr,
        leader,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    };
    let mut image = MetadataImage::empty("c", 1);
    let mut unclean = BTreeMap::new();
    unclean.insert(
        "unclean.leader.election.enable".to_string(),
        "true".to_string(),
    );
    image.topics = vec![
        TopicRecord {
            name: "a".into(),
            topic_id: "ida".into(),
            partitions: vec![
                part(vec![1, 2, 3], vec![1, 2, 3], 1),
                part(vec![2, 3, 1], vec![2, 3, 1], 2),
                part(vec![3], vec![3], 3),
            ],
            configs: BTreeMap::new(),
            mirror: None,
        },
        TopicRecord {
            name: "b".into(),
            topic_id: "idb".into(),
            partitions: vec![part(vec![3, 1], vec![3], 3)],
            configs: unclean,
            mirror: None,
        },
    ];
    let l = live(&[1, 2, 3], &[3]);
    let planned = plan(&image, &l, &TopicDefaults::default());
    let got: Vec<(String, i32, i32, Vec<i32>)> = planned
        .iter()
        .map(|c| {
            (
                c.topic.clone(),
                c.partition,
                c.next.leader,
                c.next.isr.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), 0, 1, vec![1, 2]),
            ("a".into(), 1, 2, vec![2, 1]),
            ("a".into(), 2, -1, vec![3]),
            ("b".into(), 0, 1, vec![1]),
        ]
    );
    assert!(planned.iter().all(|c| c.record.partition_epoch == Some(1)));
    // The broker default enables it for every topic without an override.
    let mut defaults = TopicDefaults::default();
    defaults
        .static_broker
        .insert("unclean.leader.election.enable".into(), "true".into());
    image.topics[1].configs.clear();
    let planned = plan(&image, &l, &defaults);
    assert_eq!(planned.last().unwrap().next.leader, 1);
    assert!(unclean_enabled(&defaults, &BTreeMap::new()));
    assert!(!unclean_enabled(
        &TopicDefaults::default(),
        &BTreeMap::new()
    ));
}

#[test]
fn balance_moves_leadership_back_to_a_live_in_sync_preferred_replica() {
    let part = |replicas: Vec<i32>, isr: Vec<i32>, leader| PartitionRecord {
        leader_epoch: 3,
        replicas,
        isr,
        leader,
        partition_epoch: 5,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    };
    let mut image = MetadataImage::empty("c", 1);
    image.topics = vec![TopicRecord {
        name: "a".into(),
        topic_id: "ida".into(),
        partitions: vec![
            // Led by 2 while its preferred replica 1 is back in the ISR: moved.
            part(vec![1, 2, 3], vec![1, 2, 3], 2),
            // Preferred replica leads already: nothing.
            part(vec![2, 3, 1], vec![1, 2, 3], 2),
            // Preferred replica 3 not in the ISR (still catching up): left.
            part(vec![3, 1, 2], vec![1, 2], 1),
            // Preferred replica 1 in the ISR: moved, unless 1 is fenced (below).
            part(vec![1, 3], vec![1, 3], 3),
        ],
        configs: BTreeMap::new(),
        mirror: None,
    }];
    let planned = balance(&image, &live(&[1, 2, 3], &[]));
    let got: Vec<(i32, i32, i32, i32)> = planned
        .iter()
        .map(|c| {
            (
                c.partition,
                c.next.leader,
                c.next.leader_epoch,
                c.next.partition_epoch,
            )
        })
        .collect();
    assert_eq!(got, vec![(0, 1, 4, 6), (3, 1, 4, 6)]);
    assert_eq!(planned[0].record.leader, Some(1));
    assert_eq!(planned[0].record.isr, None, "the ISR does not change");
    let fenced_one = balance(&image, &live(&[1, 2, 3], &[1]));
    assert!(fenced_one.is_empty(), "{fenced_one:?}");
}
