//! ListPartitionReassignments (key 46), v0: the reassignments in progress (KIP-455), as
//! Kafka's controller answers. DESCRIBE on the CLUSTER is required.
//!
//! A null topic list means every topic. Topics that do not exist and partitions with no
//! reassignment in progress are left out (no error), as Kafka does; a topic is listed only
//! when at least one of its partitions is reassigning. Reassignment state comes from
//! [`ClusterView::reassignment`] over one metadata image: the replicas (target ∪ original),
//! adding and removing replicas of each in-flight reassignment.

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::dispatch::RequestContext;
use crate::metadata::MetadataImage;
use crate::topics::Topic;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if let Err(e) = crate::auth::check_cluster(broker, ctx, AclOperation::Describe) {
        // Kafka's whole-request error echoes the asked partitions.
        let topics = req
            .topics
            .iter()
            .flatten()
            .map(|t| {
                OngoingTopicReassignment::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&p| {
                                OngoingPartitionReassignment::default().with_partition_index(p)
                            })
                            .collect(),
                    )
            })
            .collect();
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(e.error_code())
            .with_error_message(e.message.map(str_bytes))
            .with_topics(topics);
    }
    let view = ClusterView::new(broker, &ctx.session.listener);
    let image = broker.topics.metadata_log().image();
    let topics = match &req.topics {
        None => {
            let mut all = broker.topics.list();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            all.iter()
                .filter_map(|t| ongoing(&view, &image, t, 0..t.partition_count()))
                .collect()
        }
        Some(asked) => asked
            .iter()
            .filter_map(|a| {
                let t = broker.topics.get(&a.name.0)?;
                ongoing(&view, &image, &t, a.partition_indexes.iter().copied())
            })
            .collect(),
    };
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

fn ongoing(
    view: &ClusterView,
    image: &MetadataImage,
    topic: &Topic,
    partitions: impl Iterator<Item = i32>,
) -> Option<OngoingTopicReassignment> {
    let ids = |l: &[i32]| l.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let found: Vec<OngoingPartitionReassignment> = partitions
        .filter_map(|index| {
            let p = topic.partition(index)?;
            let r = view.reassignment(image, topic, index)?;
            Some(
                OngoingPartitionReassignment::default()
                    .with_partition_index(index)
                    .with_replicas(ids(&view.partition(&p).replicas))
                    .with_adding_replicas(ids(&r.adding))
                    .with_removing_replicas(ids(&r.removing)),
            )
        })
        .collect();
    (!found.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(str_bytes(topic.name.clone())))
            .with_partitions(found)
    })
}
