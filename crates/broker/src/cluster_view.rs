//! The cluster as the admin and metadata APIs report it: the live brokers and, per
//! partition, leader / replicas / ISR / eligible leader replicas / leader_epoch, plus the
//! placement and manual-assignment rules Kafka's controller applies to CreateTopics,
//! CreatePartitions and AlterPartitionReassignments.
//!
//! What this module owns: the one place that answers "which brokers exist and where does
//! each partition live". Metadata, DescribeCluster, DescribeTopicPartitions, ElectLeaders
//! and the reassignment APIs read only from here, so when the metadata quorum registers N
//! brokers and the metadata records carry replica sets, only this module changes.
//!
//! What it reports (one node: this node and the topic registry; several voters: the brokers
//! registered in the metadata log):
//! * on one node, the only registered and live broker is this node, at the endpoint
//!   advertised on the listener the request came in on; it is also the controller clients are told about
//!   (KRaft brokers report a live broker there, since admin writes are forwarded);
//! * a partition's replicas, ISR and leader are its registration in the metadata image
//!   (placed by [`ClusterView::place`] or a manual assignment; `[this node]` on a single
//!   node); a replica whose broker is not live is offline, and a leader that is not live is
//!   reported as [`NO_LEADER`] (RF=1: the partition is offline, as Kafka reports it); a
//!   reassignment in progress is the image's adding / removing replicas (KIP-455);
//! * a partition whose log on this node went offline after an I/O error has this node as an
//!   offline replica and out of its ISR (what Kafka reports when the only replica's log
//!   directory is offline);
//! * new partitions are striped over the live brokers as Kafka's `StripedReplicaPlacer`
//!   does without racks ([`ClusterView::place`]); a replication factor above the live broker
//!   count is INVALID_REPLICATION_FACTOR with Kafka's message.
//!
//! Invariants: broker lists are sorted by id; a partition's `leader` is [`NO_LEADER`] or a
//! member of its ISR; ELR is always empty (pre-KIP-966 semantics, as in
//! [`crate::replication`]).

use std::collections::BTreeSet;

use strait_protocol::ErrorCode;

use crate::broker::Broker;
use crate::error::ApiError;
use crate::replication::reassign::Reassignment;
use crate::replication::{PartitionRegistration, ReplicaId, NO_LEADER};
use crate::topics::{Partition, Registration, Topic};

/// One live broker as clients are told to reach it on one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerView {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// The listener name this endpoint belongs to.
    pub listener: String,
}

/// One partition's placement and leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub index: i32,
    /// [`NO_LEADER`] when no replica can lead.
    pub leader: ReplicaId,
    pub leader_epoch: i32,
    /// Assignment order; the first is the preferred leader.
    pub replicas: Vec<ReplicaId>,
    pub isr: Vec<ReplicaId>,
    pub eligible_leader_replicas: Vec<ReplicaId>,
    pub last_known_elr: Vec<ReplicaId>,
    pub offline_replicas: Vec<ReplicaId>,
}

impl PartitionView {
    /// The registration the controller's election and reassignment logic works on.
    pub fn registration(&self) -> PartitionRegistration {
        PartitionRegistration {
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: 0,
        }
    }

    /// Whether `replica` may lead this partition: its broker is live and its log online.
    pub fn acceptable_leader(&self, view: &ClusterView, replica: ReplicaId) -> bool {
        view.is_alive(replica) && !self.offline_replicas.contains(&replica)
    }
}

/// A snapshot of the cluster for one request, seen from the listener it arrived on.
#[derive(Debug, Clone)]
pub struct ClusterView {
    node_id: i32,
    brokers: Vec<BrokerView>,
    /// The active controller clients are told about; -1 (Kafka's "no controller") when the
    /// quorum has no leader this node knows of.
    controller_id: i32,
}

impl ClusterView {
    /// The cluster as a client connected to `listener` sees it.
    ///
    /// One voter of several: the brokers registered in the metadata log and not fenced that
    /// have an endpoint on `listener` (a broker without that listener is left out, as Kafka
    /// does), and the quorum's leader as the controller. A single node: this node alone.
    pub fn new(broker: &Broker, listener: &str) -> ClusterView {
        let log = broker.topics.metadata_log();
        if log.is_multi_voter() {
            let brokers = log
                .brokers()
                .into_values()
                .filter(|r| !log.is_fenced(r.broker_id))
                .filter_map(|r| {
                    let e = r.endpoints.iter().find(|e| e.name == listener)?;
                    Some(BrokerView {
                        id: r.broker_id,
                        host: e.host.clone(),
                        port: e.port,
                        rack: r.rack.clone(),
                        listener: e.name.clone(),
                    })
                })
                .collect();
            let controller_id = log
                .leader_id()
                .and_then(|id| i32::try_from(id).ok())
                .unwrap_or(NO_LEADER);
            return ClusterView {
                node_id: broker.node_id(),
                brokers,
                controller_id,
            };
        }
        let l = broker.advertised_listener_for(listener);
        ClusterView {
            node_id: broker.node_id(),
            brokers: vec![BrokerView {
                id: broker.node_id(),
                host: l.host,
                port: l.port,
                rack: broker.config.broker_rack.clone(),
                listener: l.name,
            }],
            controller_id: broker.node_id(),
        }
    }

    /// A view over explicit brokers (tests; next session, the registered brokers).
    pub fn from_brokers(node_id: i32, mut brokers: Vec<BrokerView>) -> ClusterView {
        brokers.sort_by_key(|b| b.id);
        ClusterView {
            node_id,
            brokers,
            controller_id: node_id,
        }
    }

    /// The live brokers, sorted by id.
    pub fn brokers(&self) -> &[BrokerView] {
        &self.brokers
    }

    /// The broker clients are told is the controller (Metadata, DescribeCluster).
    pub fn controller_id(&self) -> i32 {
        self.controller_id
    }

    /// Whether a broker with this id is registered with the cluster.
    pub fn is_registered(&self, id: ReplicaId) -> bool {
        self.brokers.iter().any(|b| b.id == id)
    }

    /// Whether a registered broker is live (unfenced, not shutting down).
    pub fn is_alive(&self, id: ReplicaId) -> bool {
        self.is_registered(id)
    }

    /// One partition of `topic`, from its registration in the metadata image: a replica
    /// whose broker is fenced or unregistered is offline, and so is this node's own replica
    /// when its log went offline; a leader that is offline is reported as [`NO_LEADER`]
    /// (RF=1: the partition is offline, as Kafka reports it). A partition without a
    /// registration yet is this node's alone.
    pub fn partition(&self, p: &Partition) -> PartitionView {
        let node = self.node_id;
        // Not under the log's lock: Metadata must not wait on a partition's disk.
        let log_offline = p.is_offline();
        let reg = p.registration().unwrap_or_else(|| Registration {
            replicas: vec![node],
            isr: vec![node],
            leader: node,
        });
        let offline_replicas: Vec<ReplicaId> = reg
            .replicas
            .iter()
            .copied()
            .filter(|&r| !self.is_alive(r) || (r == node && log_offline))
            .collect();
        // A fenced sole ISR member stays in the ISR (Kafka never shrinks it to empty for
        // that); only this node's offline log leaves it, as on a single node today.
        let isr: Vec<ReplicaId> = reg
            .isr
            .iter()
            .copied()
            .filter(|&r| !(r == node && log_offline))
            .collect();
        let leader = if isr.contains(&reg.leader) && !offline_replicas.contains(&reg.leader) {
            reg.leader
        } else {
            NO_LEADER
        };
        PartitionView {
            index: p.index,
            leader,
            leader_epoch: p.leader_epoch(),
            replicas: reg.replicas,
            isr,
            eligible_leader_replicas: Vec::new(),
            last_known_elr: Vec::new(),
            offline_replicas,
        }
    }

    /// Every partition of `topic`, in index order.
    pub fn partitions(&self, topic: &Topic) -> Vec<PartitionView> {
        topic
            .partitions()
            .iter()
            .map(|p| self.partition(p))
            .collect()
    }

    /// The reassignment in progress for partition `index` of `topic` in `image` (KIP-455:
    /// the registration's adding / removing replicas; never on one node, where every
    /// valid target equals the current replicas).
    pub fn reassignment(
        &self,
        image: &crate::metadata::MetadataImage,
        topic: &Topic,
        index: i32,
    ) -> Option<Reassignment> {
        let record = image
            .topics
            .iter()
            .find(|t| t.name == topic.name && t.topic_id == topic.topic_id.to_string())?;
        let p = usize::try_from(index)
            .ok()
            .and_then(|i| record.partitions.get(i))?;
        crate::replication::reassign::from_image(p).reassignment
    }

    /// Whether the live brokers can host new partitions of `replication_factor`
    /// replicas: Kafka's INVALID_REPLICATION_FACTOR (and message) when they cannot.
    pub fn check_replication_factor(&self, replication_factor: i16) -> Result<(), ApiError> {
        let unable = |why: String| {
            ApiError::new(
                ErrorCode::InvalidReplicationFactor,
                format!("Unable to replicate the partition {replication_factor} time(s): {why}"),
            )
        };
        if replication_factor <= 0 {
            return Err(unable(format!(
                "Invalid replication factor {replication_factor}: the replication factor must be positive."
            )));
        }
        let live = self.brokers.iter().filter(|b| self.is_alive(b.id)).count();
        if live == 0 {
            return Err(unable("All brokers are currently fenced.".into()));
        }
        if usize::try_from(replication_factor).unwrap_or(usize::MAX) > live {
            return Err(unable(format!(
                "The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
                self.brokers.len()
            )));
        }
        Ok(())
    }

    /// The replicas of new partition `partition` (after [`ClusterView::check_replication_factor`]):
    /// the live brokers in id order from broker `partition % n`, `replication_factor` of
    /// them (Kafka's striped placer without racks), so preferred leaders and followers
    /// spread evenly; the first is the preferred leader.
    pub fn place(&self, partition: i32, replication_factor: i16) -> Vec<ReplicaId> {
        let live: Vec<ReplicaId> = self
            .brokers
            .iter()
            .map(|b| b.id)
            .filter(|&id| self.is_alive(id))
            .collect();
        if live.is_empty() {
            return Vec::new();
        }
        let first = usize::try_from(partition).unwrap_or(0);
        let rf = usize::try_from(replication_factor)
            .unwrap_or(0)
            .min(live.len());
        (0..rf).map(|r| live[(first + r) % live.len()]).collect()
    }

    /// Kafka's checks on one manually assigned replica list (CreateTopics assignments,
    /// CreatePartitions assignments, AlterPartitionReassignments targets): not empty, only
    /// registered brokers, no broker twice, and — when `replication_factor` is given — the
    /// same length as the other partitions. Messages are Kafka's.
    pub fn validate_manual_assignment(
        &self,
        replicas: &[ReplicaId],
        replication_factor: Option<usize>,
    ) -> Result<(), ApiError> {
        let invalid = |m: String| ApiError::new(ErrorCode::InvalidReplicaAssignment, m);
        if replicas.is_empty() {
            return Err(invalid(
                "The manual partition assignment includes an empty replica list.".into(),
            ));
        }
        // Sorted, as Kafka walks them: the lowest offending id is the one reported.
        let mut sorted = replicas.to_vec();
        sorted.sort_unstable();
        let mut previous = None;
        for id in sorted {
            if !self.is_registered(id) {
                return Err(invalid(format!(
                    "The manual partition assignment includes broker {id}, but no such broker is registered."
                )));
            }
            if previous == Some(id) {
                return Err(invalid(format!(
                    "The manual partition assignment includes the broker {id} more than once."
                )));
            }
            previous = Some(id);
        }
        if let Some(rf) = replication_factor.filter(|&rf| rf != replicas.len()) {
            return Err(invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
                replicas.len()
            )));
        }
        Ok(())
    }

    /// Brokers named in `replicas` that are live (a new partition's ISR).
    pub fn live_replicas(&self, replicas: &[ReplicaId]) -> Vec<ReplicaId> {
        let mut seen = BTreeSet::new();
        replicas
            .iter()
            .copied()
            .filter(|&r| self.is_alive(r) && seen.insert(r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(id: i32) -> BrokerView {
        BrokerView {
            id,
            host: "127.0.0.1".into(),
            port: 9092,
            rack: None,
            listener: "PLAINTEXT".into(),
        }
    }

    fn view(ids: &[i32]) -> ClusterView {
        ClusterView::from_brokers(ids[0], ids.iter().map(|&i| broker(i)).collect())
    }

    #[test]
    fn placement_refuses_more_replicas_than_brokers_with_kafkas_message() {
        let err = view(&[1]).check_replication_factor(3).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidReplicationFactor);
        assert_eq!(
            err.message.as_deref(),
            Some("Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered.")
        );
    }

    #[test]
    fn placement_stripes_first_replicas_over_brokers() {
        let v = view(&[3, 1, 2]);
        assert!(v.check_replication_factor(1).is_ok());
        assert!(v.check_replication_factor(3).is_ok());
        assert_eq!(
            v.check_replication_factor(4).unwrap_err().code,
            ErrorCode::InvalidReplicationFactor
        );
        let p: Vec<_> = (1..4).map(|i| v.place(i, 2)).collect();
        assert_eq!(p, vec![vec![2, 3], vec![3, 1], vec![1, 2]]);
        // RF 3 over 3 brokers: every broker hosts every partition, leaders striped.
        let p: Vec<_> = (0..3).map(|i| v.place(i, 3)).collect();
        assert_eq!(p, vec![vec![1, 2, 3], vec![2, 3, 1], vec![3, 1, 2]]);
        assert_eq!(view(&[1]).place(5, 1), vec![1]);
        assert_eq!(
            view(&[1]).check_replication_factor(0).unwrap_err().code,
            ErrorCode::InvalidReplicationFactor
        );
    }

    #[test]
    fn manual_assignment_errors_are_kafkas() {
        let v = view(&[1, 2]);
        let msg = |r: &[i32], rf| v.validate_manual_assignment(r, rf).unwrap_err().message;
        assert_eq!(
            msg(&[], None).as_deref(),
            Some("The manual partition assignment includes an empty replica list.")
        );
        assert_eq!(
            msg(&[2, 7, 5], None).as_deref(),
            Some("The manual partition assignment includes broker 5, but no such broker is registered.")
        );
        assert_eq!(
            msg(&[2, 1, 2], None).as_deref(),
            Some("The manual partition assignment includes the broker 2 more than once.")
        );
        assert_eq!(
            msg(&[1, 2], Some(1)).as_deref(),
            Some("The manual partition assignment includes a partition with 2 replica(s), but this is not consistent with previous partitions, which have 1 replica(s).")
        );
        assert!(v.validate_manual_assignment(&[2], Some(1)).is_ok());
        assert!(v.validate_manual_assignment(&[2, 1], Some(2)).is_ok());
    }
}
