//! Where new partitions go and how controller-made partition changes are proposed: the
//! registered-broker check on a placement, a new partition's registration (ISR = its live
//! replicas, the first of them leading, as Kafka's controller registers it), and the one
//! entry point for PartitionChangeRecords made outside `TopicManager`'s diffs (elections,
//! ISR changes), serialized with its other changes.

use strait_protocol::ErrorCode;

use super::TopicManager;
use crate::error::ApiError;
use crate::metadata::PartitionRecord;

impl TopicManager {
    /// Kafka's controller places partitions only on registered brokers: refused with
    /// INVALID_REPLICA_ASSIGNMENT otherwise. With no broker registered (a single node that
    /// has not registered itself) there is nothing to check against.
    pub(super) fn check_placement(&self, placement: &[Vec<i32>]) -> Result<(), ApiError> {
        let brokers = self.meta_log.brokers();
        if brokers.is_empty() {
            return Ok(());
        }
        match placement.iter().flatten().find(|b| !brokers.contains_key(b)) {
            Some(b) => Err(ApiError::new(
                ErrorCode::InvalidReplicaAssignment,
                format!("The manual partition assignment includes broker {b}, but no such broker is registered."),
            )),
            None => Ok(()),
        }
    }

    /// A new partition on `replicas` as Kafka's controller registers it: the ISR is the
    /// live (registered, unfenced) replicas, the first of them leads. With no broker
    /// registered (a single node) every replica is taken as live.
    pub(super) fn placed_live(&self, replicas: Vec<i32>) -> PartitionRecord {
        let brokers = self.meta_log.brokers();
        if brokers.is_empty() {
            return PartitionRecord::placed(replicas);
        }
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| brokers.contains_key(r) && !self.meta_log.is_fenced(*r))
            .collect();
        match isr.first() {
            // The handlers refuse an assignment without a live replica; were one to get
            // here, every replica stays in the ISR so the first to return can lead.
            None => PartitionRecord::placed(replicas),
            Some(&leader) => PartitionRecord {
                leader,
                isr,
                ..PartitionRecord::placed(replicas)
            },
        }
    }

    /// Proposes one controller-made PartitionChangeRecord (an election, an ISR change) as
    /// its own entry, serialized with this broker's other metadata changes (a change being
    /// computed here is never overtaken by it). Blocks until it is published here: call it
    /// from a dedicated thread. A refused record (the partition changed first) is an error.
    pub fn propose_partition_change(
        &self,
        record: crate::metadata_log::records::PartitionChangeRecord,
    ) -> Result<(), ApiError> {
        let _changes = super::lock(&self.changes);
        self.meta_log
            .propose_records(&[crate::metadata_log::MetadataRecord::PartitionChange(record)])
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::metadata_log::records::{BrokerEndpoint, RegisterBrokerRecord};

    /// A replica on a fenced broker is assigned but not in the new partition's ISR, and
    /// the first live replica leads; on a single node without registrations every replica
    /// is in sync.
    #[test]
    fn a_new_partitions_isr_is_its_live_replicas() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicManager::open(dir.path(), 1, Default::default()).unwrap();
        assert_eq!(
            m.placed_live(vec![2, 1]),
            PartitionRecord::placed(vec![2, 1])
        );
        let log = m.metadata_log();
        for id in 1..=3 {
            log.register_broker(RegisterBrokerRecord {
                broker_id: id,
                endpoints: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: None,
            })
            .unwrap();
        }
        log.set_fenced(2, true).unwrap();
        m.create_topic_placed(
            "t",
            vec![vec![2, 1, 3], vec![3, 2]],
            Default::default(),
            false,
        )
        .unwrap();
        let image = log.image();
        let got: Vec<(Vec<i32>, Vec<i32>, i32)> = image.topics[0]
            .partitions
            .iter()
            .map(|p| (p.replicas.clone(), p.isr.clone(), p.leader))
            .collect();
        assert_eq!(
            got,
            vec![(vec![2, 1, 3], vec![1, 3], 1), (vec![3, 2], vec![3], 3)]
        );
        let e = m.create_topic_placed("u", vec![vec![9]], Default::default(), false);
        assert_eq!(
            e.err().map(|e| e.code),
            Some(ErrorCode::InvalidReplicaAssignment)
        );
    }
}
