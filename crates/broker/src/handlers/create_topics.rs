//! CreateTopics (key 19): name, partition count, replication factor or manual replica
//! assignments, and configs validated against the topic config table, in the order and
//! with the messages of Kafka's controller: duplicate names, authorization, name, existence,
//! configs, then placement. Replica placement is [`ClusterView`]'s: a replication factor
//! above the live broker count and assignments naming unknown brokers are refused. v5+
//! answers with the resolved configs.

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let v = ctx.api_version;
    let view = ClusterView::new(broker, &ctx.session.listener);
    let mut occurrences: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *occurrences.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut answered = HashSet::new();
    let topics = req
        .topics
        .iter()
        // Kafka creates none of a name given twice and answers it once.
        .filter(|t| answered.insert(t.name.0.to_string()))
        .map(|t| {
            let name = t.name.0.to_string();
            let mut r = CreatableTopicResult::default().with_name(t.name.clone());
            let outcome = if occurrences.get(&name).copied().unwrap_or(0) > 1 {
                Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Duplicate topic name.",
                ))
            } else if !crate::auth::allow_create_topic(broker, ctx, &name) {
                Err(crate::auth::topic_denied(&name))
            } else {
                create(broker, &view, t, req.validate_only)
            };
            match outcome {
                Ok((topic, partitions, replication_factor)) => {
                    if v >= 5 {
                        r.num_partitions = partitions;
                        r.replication_factor = replication_factor;
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

/// Creates one topic: its partition count and replication factor on success.
fn create(
    broker: &Broker,
    view: &ClusterView,
    t: &CreatableTopic,
    validate_only: bool,
) -> Result<(std::sync::Arc<crate::topics::Topic>, i32, i16), ApiError> {
    let name = t.name.0.as_str();
    crate::topics::validate_topic_name(name)?;
    if broker.topics.get(name).is_some() {
        return Err(ApiError::new(
            ErrorCode::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
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
    let (num_partitions, replication_factor) = if t.assignments.is_empty() {
        placement(broker, view, t)?
    } else {
        manual_assignment(view, t)?
    };
    // What the checks above accepted is what the partition records carry: the manual
    // assignment in partition order, or Kafka's striping over the live brokers.
    let replicas: Vec<Vec<i32>> = if t.assignments.is_empty() {
        (0..num_partitions)
            .map(|i| view.place(i, replication_factor))
            .collect()
    } else {
        let mut a: Vec<_> = t.assignments.iter().collect();
        a.sort_by_key(|a| a.partition_index);
        a.iter()
            .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
            .collect()
    };
    let topic = broker
        .topics
        .create_topic_placed(name, replicas, configs, validate_only)?;
    Ok((topic, num_partitions, replication_factor))
}

/// Auto-creation (Metadata with `auto.create.topics.enable`): `num.partitions` partitions
/// of `default.replication.factor` replicas, placed as CreateTopics places them.
pub fn auto_create(
    broker: &Broker,
    view: &ClusterView,
    name: &str,
) -> Result<std::sync::Arc<crate::topics::Topic>, ApiError> {
    let rf = broker.config.default_replication_factor;
    view.check_replication_factor(rf)?;
    let placement = (0..broker.config.num_partitions)
        .map(|i| view.place(i, rf))
        .collect();
    broker
        .topics
        .create_topic_placed(name, placement, Default::default(), false)
}

/// Partition count and replication factor (-1: the broker defaults), placed on the live
/// brokers.
fn placement(
    broker: &Broker,
    view: &ClusterView,
    t: &CreatableTopic,
) -> Result<(i32, i16), ApiError> {
    if t.replication_factor < -1 || t.replication_factor == 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ));
    }
    if t.num_partitions < -1 || t.num_partitions == 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidPartitions,
            "Number of partitions was set to an invalid non-positive value.",
        ));
    }
    let num_partitions = if t.num_partitions == -1 {
        broker.config.num_partitions
    } else {
        t.num_partitions
    };
    let replication_factor = if t.replication_factor == -1 {
        broker.config.default_replication_factor
    } else {
        t.replication_factor
    };
    view.check_replication_factor(replication_factor)?;
    Ok((num_partitions, replication_factor))
}

/// Kafka's checks on `assignments`: partition count and replication factor must be -1,
/// each partition assigned once with a valid replica list of one common length, and the
/// partitions numbered 0..n.
fn manual_assignment(view: &ClusterView, t: &CreatableTopic) -> Result<(i32, i16), ApiError> {
    if t.replication_factor != -1 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ));
    }
    if t.num_partitions != -1 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ));
    }
    let invalid = |m: String| ApiError::new(ErrorCode::InvalidReplicaAssignment, m);
    let mut assigned = HashSet::new();
    let mut replication_factor: Option<usize> = None;
    for a in &t.assignments {
        if !assigned.insert(a.partition_index) {
            return Err(invalid(format!(
                "Found multiple manual partition assignments for partition {}",
                a.partition_index
            )));
        }
        let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        view.validate_manual_assignment(&replicas, replication_factor)?;
        replication_factor = Some(replicas.len());
        if view.live_replicas(&replicas).is_empty() {
            return Err(invalid(format!(
                "All brokers specified in the manual partition assignment for partition {} are fenced or in controlled shutdown.",
                a.partition_index
            )));
        }
    }
    let count = i32::try_from(assigned.len()).unwrap_or(i32::MAX);
    if (0..count).any(|i| !assigned.contains(&i)) {
        return Err(invalid(
            "partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    let rf = replication_factor
        .and_then(|r| i16::try_from(r).ok())
        .unwrap_or(-1);
    Ok((count, rf))
}
