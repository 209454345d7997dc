//! Metadata (key 3): brokers, cluster id, controller, and topics with their partitions,
//! leader epochs and (v10+) topic ids, all as [`ClusterView`] reports them. Auto-creates
//! requested topics when `auto.create.topics.enable` and the request allow it.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use strait_protocol::ErrorCode;
use uuid::Uuid;

use super::str_bytes;
use crate::auth::acl::{AclOperation, ResourceType};
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::dispatch::RequestContext;
use crate::replication::NO_LEADER;
use crate::topics::Topic;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let v = ctx.api_version;
    let view = ClusterView::new(broker, &ctx.session.listener);
    let brokers = view
        .brokers()
        .iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(str_bytes(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.clone().map(str_bytes))
        })
        .collect();

    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<(Option<String>, Uuid)>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && v == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect(),
        ),
    };
    let allow_auto_create = v < 4 || req.allow_auto_topic_creation;

    let topics = match requested {
        None => broker
            .topics
            .list()
            .iter()
            .filter(|t| crate::auth::allow_topic(broker, ctx, AclOperation::Describe, &t.name))
            .map(|t| topic_entry(&view, v, t))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|(name, id)| match name {
                Some(name)
                    if !crate::auth::allow_topic(broker, ctx, AclOperation::Describe, &name) =>
                {
                    error_entry(v, Some(name), ErrorCode::TopicAuthorizationFailed)
                }
                Some(name) => match broker.topics.get(&name) {
                    Some(t) => topic_entry(&view, v, &t),
                    None if allow_auto_create
                        && broker.config.auto_create_topics_enable
                        && !crate::auth::allow_create_topic(broker, ctx, &name) =>
                    {
                        error_entry(v, Some(name), ErrorCode::TopicAuthorizationFailed)
                    }
                    None if allow_auto_create && broker.config.auto_create_topics_enable => {
                        match super::create_topics::auto_create(broker, &view, &name) {
                            Ok(t) => topic_entry(&view, v, &t),
                            Err(e) => error_entry(v, Some(name), e.code),
                        }
                    }
                    None => error_entry(v, Some(name), ErrorCode::UnknownTopicOrPartition),
                },
                None => match broker.topics.get_by_id(id) {
                    Some(t)
                        if !crate::auth::allow_topic(
                            broker,
                            ctx,
                            AclOperation::Describe,
                            &t.name,
                        ) =>
                    {
                        let mut e = error_entry(v, None, ErrorCode::TopicAuthorizationFailed);
                        e.topic_id = id;
                        e
                    }
                    Some(t) => topic_entry(&view, v, &t),
                    None => {
                        let mut e = error_entry(v, None, ErrorCode::UnknownTopicId);
                        e.topic_id = id;
                        e
                    }
                },
            })
            .collect(),
    };

    let mut topics: Vec<MetadataResponseTopic> = topics;
    if v >= 8 && req.include_topic_authorized_operations {
        for t in topics.iter_mut().filter(|t| t.error_code == 0) {
            if let Some(n) = &t.name {
                t.topic_authorized_operations =
                    crate::auth::authorized_operations(broker, ctx, ResourceType::Topic, &n.0);
            }
        }
    }
    let mut resp = MetadataResponse::default()
        .with_brokers(brokers)
        .with_topics(topics);
    if v >= 1 {
        resp.controller_id = BrokerId(view.controller_id());
    }
    if v >= 2 {
        resp.cluster_id = Some(str_bytes(broker.cluster_id()));
    }
    if (8..=10).contains(&v) && req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = crate::auth::authorized_operations(
            broker,
            ctx,
            ResourceType::Cluster,
            crate::auth::acl::CLUSTER_NAME,
        );
    }
    resp
}

fn error_entry(v: i16, name: Option<String>, code: ErrorCode) -> MetadataResponseTopic {
    let _ = v;
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(|n| TopicName(str_bytes(n))))
}

fn topic_entry(view: &ClusterView, v: i16, topic: &Topic) -> MetadataResponseTopic {
    let partitions = view
        .partitions(topic)
        .into_iter()
        .map(|p| {
            let ids = |l: Vec<i32>| l.into_iter().map(BrokerId).collect::<Vec<_>>();
            // No leader: LEADER_NOT_AVAILABLE, as Kafka answers while no replica can lead
            // (clients back off and retry). On one node that is a log gone offline after an
            // I/O error, until the broker restarts and recovers it.
            let error = if p.leader == NO_LEADER {
                ErrorCode::LeaderNotAvailable.code()
            } else {
                0
            };
            let mut mp = MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(p.leader))
                .with_replica_nodes(ids(p.replicas))
                .with_isr_nodes(ids(p.isr));
            if v >= 5 {
                mp.offline_replicas = ids(p.offline_replicas);
            }
            if v >= 7 {
                mp.leader_epoch = p.leader_epoch;
            }
            mp
        })
        .collect();
    let mut t = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.clone()))))
        .with_partitions(partitions);
    if v >= 10 {
        t.topic_id = topic.topic_id;
    }
    t
}
