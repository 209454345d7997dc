//! CreateTopics (key 19): name, partition count, replication factor (1 on this single-node
//! broker), manual assignments (must name this node), and configs validated against the
//! topic config table. v5+ answers with the resolved configs.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let v = ctx.api_version;
    let mut seen = std::collections::HashSet::new();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let mut r = CreatableTopicResult::default().with_name(t.name.clone());
            let outcome = if !seen.insert(name.clone()) {
                Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("Topic {name} appears more than once in the request"),
                ))
            } else if !crate::auth::allow_create_topic(broker, ctx, &name) {
                Err(crate::auth::topic_denied(&name))
            } else {
                create(broker, &t, req.validate_only)
            };
            match outcome {
                Ok((topic, partitions)) => {
                    if v >= 5 {
                        r.num_partitions = partitions;
                        r.replication_factor = 1;
                        let defaults = broker.topics.defaults();
                        r.configs = Some(
                            defaults
                                .resolve_all(&topic.configs())
                                .into_iter()
                                .map(|c| {
                                    CreatableTopicConfigs::default()
                                        .with_name(str_bytes(c.def.name))
                                        .with_value(Some(str_bytes(c.value)))
                                        .with_config_source(c.source as i8)
                                })
                                .collect(),
                        );
                    }
                    if v >= 7 {
                        r.topic_id = topic.topic_id;
                    }
                }
                Err(e) => {
                    r.error_code = e.error_code();
                    r.error_message = e.message.map(str_bytes);
                    if v >= 5 {
                        r.num_partitions = -1;
                        r.replication_factor = -1;
                        r.configs = None;
                    }
                }
            }
            r
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn create(
    broker: &Broker,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    validate_only: bool,
) -> Result<(std::sync::Arc<crate::topics::Topic>, i32), ApiError> {
    let node = broker.node_id();
    let num_partitions = if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        for a in &t.assignments {
            if a.broker_ids.iter().any(|b| b.0 != node) || a.broker_ids.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    format!("partition {} is assigned to brokers {:?}, but this cluster has only broker {node}", a.partition_index, a.broker_ids.iter().map(|b| b.0).collect::<Vec<_>>()),
                ));
            }
        }
        t.assignments.len() as i32
    } else if t.num_partitions == -1 {
        broker.config.num_partitions
    } else {
        t.num_partitions
    };
    let rf = if t.replication_factor == -1 {
        broker.config.default_replication_factor
    } else {
        t.replication_factor
    };
    if rf <= 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidReplicationFactor,
            "Replication factor must be larger than 0.",
        ));
    }
    if rf > 1 {
        return Err(ApiError::new(
            ErrorCode::InvalidReplicationFactor,
            format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."),
        ));
    }
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        match &c.value {
            Some(v) => {
                configs.insert(c.name.to_string(), v.to_string());
            }
            None => {
                return Err(ApiError::new(
                    ErrorCode::InvalidConfig,
                    format!("Null value not supported for topic configs: {}", c.name),
                ));
            }
        }
    }
    // Registry validation against this broker's defaults (Kafka's cross-key rules see the
    // values the topic would have). min.insync.replicas above the replication factor is
    // allowed, as in Kafka: acks=all produce then fails with NOT_ENOUGH_REPLICAS.
    crate::topic_config::validate_overrides(&configs, &broker.topics.defaults())?;
    let topic = broker
        .topics
        .create_topic(&t.name.0, num_partitions, configs, validate_only)?;
    Ok((topic, num_partitions))
}
