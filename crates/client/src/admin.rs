//! Topic, config and cluster administration: CreateTopics, DeleteTopics, CreatePartitions,
//! DescribeConfigs, IncrementalAlterConfigs, DescribeCluster; and the one round trip of
//! Strait's private admin API ([`Client::strait_admin`]) that the link and tests share.
//!
//! Shape of results: batch calls return one `(key, Result<T, ClientError>)` per item, the
//! item's error being [`ClientError::Kafka`] with the broker's code and message, because
//! these responses legitimately mix success and failure (TOPIC_ALREADY_EXISTS for one of
//! three topics). Whole-request failures are the outer `Err`.
//!
//! Routing (on [`Client`]): mutations go to the controller, retried once on a fresh
//! controller after NOT_CONTROLLER; broker-scoped configs go to that broker, since a broker
//! answers for its own dynamic configs; everything else goes to any broker.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::error::{check_code, ClientError};
use crate::metadata::BrokerInfo;
use crate::{Client, Connection, ErrorCode};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn item_result(
    code: i16,
    message: Option<&StrBytes>,
    context: impl FnOnce() -> String,
) -> Result<(), ClientError> {
    check_code(code, message, context)
}

/// A topic to create. `-1` partitions / replication factor mean the broker's defaults
/// (CreateTopics v4+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Manual assignment `(partition, replica broker ids)`; when set, partitions and
    /// replication factor must be -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, Option<String>)>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            num_partitions,
            replication_factor,
            assignments: Vec::new(),
            configs: Vec::new(),
        }
    }

    pub fn with_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((name.into(), Some(value.into())));
        self
    }
}

/// What the broker reports for a created topic (v5+ fields are -1 / `None` before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    pub name: String,
    pub topic_id: Option<Uuid>,
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// Kafka's config resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResourceType {
    Topic,
    Broker,
    BrokerLogger,
    ClientMetrics,
    Group,
    Other(i8),
}

impl ConfigResourceType {
    pub fn code(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
            ConfigResourceType::BrokerLogger => 8,
            ConfigResourceType::ClientMetrics => 16,
            ConfigResourceType::Group => 32,
            ConfigResourceType::Other(c) => c,
        }
    }
    pub fn from_code(code: i8) -> Self {
        match code {
            2 => ConfigResourceType::Topic,
            4 => ConfigResourceType::Broker,
            8 => ConfigResourceType::BrokerLogger,
            16 => ConfigResourceType::ClientMetrics,
            32 => ConfigResourceType::Group,
            other => ConfigResourceType::Other(other),
        }
    }
}

/// A config resource: a topic by name, a broker by id (`""` = cluster-wide default).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigResource {
    pub kind: ConfigResourceType,
    pub name: String,
}

impl ConfigResource {
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource {
            kind: ConfigResourceType::Topic,
            name: name.into(),
        }
    }
    pub fn broker(id: i32) -> Self {
        ConfigResource {
            kind: ConfigResourceType::Broker,
            name: id.to_string(),
        }
    }
    /// The broker a broker-scoped resource must be sent to.
    fn target_broker(&self) -> Option<i32> {
        match self.kind {
            ConfigResourceType::Broker | ConfigResourceType::BrokerLogger => self.name.parse().ok(),
            _ => None,
        }
    }
}

/// Where a config value comes from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Default,
    DynamicBrokerLogger,
    ClientMetrics,
    Group,
    Unknown(i8),
}

impl ConfigSource {
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::ClientMetrics,
            8 => ConfigSource::Group,
            other => ConfigSource::Unknown(other),
        }
    }
    /// True for values someone set explicitly on this topic (what a link syncs).
    pub fn is_topic_override(self) -> bool {
        self == ConfigSource::DynamicTopic
    }
}

/// One described config. Sensitive values come back as `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    pub source: ConfigSource,
    pub is_sensitive: bool,
    /// `(name, value, source)`, most specific first (when synonyms were requested).
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

/// An IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set(String),
    Delete,
    Append(String),
    Subtract(String),
}

impl AlterConfigOp {
    fn code_and_value(&self) -> (i8, Option<&str>) {
        match self {
            AlterConfigOp::Set(v) => (0, Some(v)),
            AlterConfigOp::Delete => (1, None),
            AlterConfigOp::Append(v) => (2, Some(v)),
            AlterConfigOp::Subtract(v) => (3, Some(v)),
        }
    }
}

/// The cluster as DescribeCluster (or, failing that, Metadata) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: Vec<BrokerInfo>,
}

impl Connection {
    /// CreateTopics on this broker.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        timeout_ms: i32,
        validate_only: bool,
    ) -> Result<Vec<(String, Result<CreatedTopic, ClientError>)>, ClientError> {
        let version = self.negotiate::<CreateTopicsRequest>(7)?;
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_validate_only(validate_only)
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(s(&t.name)))
                            .with_num_partitions(t.num_partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_assignments(
                                t.assignments
                                    .iter()
                                    .map(|(p, brokers)| {
                                        CreatableReplicaAssignment::default()
                                            .with_partition_index(*p)
                                            .with_broker_ids(
                                                brokers.iter().map(|b| BrokerId(*b)).collect(),
                                            )
                                    })
                                    .collect(),
                            )
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(s(k))
                                            .with_value(v.as_deref().map(s))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let response = self.send(&req, version).await?;
        Ok(response
            .topics
            .into_iter()
            .map(|t| {
                let name = t.name.0.to_string();
                let result = item_result(t.error_code, t.error_message.as_ref(), || {
                    format!("create topic '{name}'")
                })
                .map(|()| CreatedTopic {
                    name: name.clone(),
                    topic_id: (!t.topic_id.is_nil()).then_some(t.topic_id),
                    num_partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                });
                (name, result)
            })
            .collect())
    }

    /// DeleteTopics (by name) on this broker.
    pub async fn delete_topics(
        &self,
        names: &[&str],
        timeout_ms: i32,
    ) -> Result<Vec<(String, Result<(), ClientError>)>, ClientError> {
        let version = self.negotiate::<DeleteTopicsRequest>(6)?;
        let mut req = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
        if version >= 6 {
            req = req.with_topics(
                names
                    .iter()
                    .map(|n| DeleteTopicState::default().with_name(Some(TopicName(s(n)))))
                    .collect(),
            );
        } else {
            req = req.with_topic_names(names.iter().map(|n| TopicName(s(n))).collect());
        }
        let response = self.send(&req, version).await?;
        Ok(response
            .responses
            .into_iter()
            .map(|r| {
                let name = r
                    .name
                    .map(|n| n.0.to_string())
                    .unwrap_or_else(|| r.topic_id.to_string());
                let result = item_result(r.error_code, r.error_message.as_ref(), || {
                    format!("delete topic '{name}'")
                });
                (name, result)
            })
            .collect())
    }

    /// CreatePartitions on this broker: grow each topic to `total_count` partitions.
    pub async fn create_partitions(
        &self,
        topics: &[(&str, i32)],
        timeout_ms: i32,
        validate_only: bool,
    ) -> Result<Vec<(String, Result<(), ClientError>)>, ClientError> {
        let version = self.negotiate::<CreatePartitionsRequest>(3)?;
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_validate_only(validate_only)
            .with_topics(
                topics
                    .iter()
                    .map(|(name, count)| {
                        CreatePartitionsTopic::default()
                            .with_name(TopicName(s(name)))
                            .with_count(*count)
                            .with_assignments(None)
                    })
                    .collect(),
            );
        let response = self.send(&req, version).await?;
        Ok(response
            .results
            .into_iter()
            .map(|r| {
                let name = r.name.0.to_string();
                let result = item_result(r.error_code, r.error_message.as_ref(), || {
                    format!("create partitions for '{name}'")
                });
                (name, result)
            })
            .collect())
    }

    /// DescribeConfigs on this broker. `keys = None` describes every config.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
        keys: Option<&[&str]>,
        include_synonyms: bool,
    ) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>, ClientError>)>, ClientError> {
        let version = self.negotiate::<DescribeConfigsRequest>(4)?;
        let req = DescribeConfigsRequest::default()
            .with_include_synonyms(include_synonyms)
            .with_resources(
                resources
                    .iter()
                    .map(|r| {
                        DescribeConfigsResource::default()
                            .with_resource_type(r.kind.code())
                            .with_resource_name(s(&r.name))
                            .with_configuration_keys(
                                keys.map(|ks| ks.iter().map(|k| s(k)).collect()),
                            )
                    })
                    .collect(),
            );
        let response = self.send(&req, version).await?;
        Ok(response
            .results
            .into_iter()
            .map(|r| {
                let resource = ConfigResource {
                    kind: ConfigResourceType::from_code(r.resource_type),
                    name: r.resource_name.to_string(),
                };
                let result = item_result(r.error_code, r.error_message.as_ref(), || {
                    format!(
                        "describe configs of {:?} '{}'",
                        resource.kind, resource.name
                    )
                })
                .map(|()| {
                    r.configs
                        .into_iter()
                        .map(|c| ConfigEntry {
                            name: c.name.to_string(),
                            value: c.value.map(|v| v.to_string()),
                            read_only: c.read_only,
                            source: ConfigSource::from_code(c.config_source),
                            is_sensitive: c.is_sensitive,
                            synonyms: c
                                .synonyms
                                .into_iter()
                                .map(|s| {
                                    (
                                        s.name.to_string(),
                                        s.value.map(|v| v.to_string()),
                                        ConfigSource::from_code(s.source),
                                    )
                                })
                                .collect(),
                        })
                        .collect()
                });
                (resource, result)
            })
            .collect())
    }

    /// IncrementalAlterConfigs on this broker.
    pub async fn incremental_alter_configs(
        &self,
        changes: &[ConfigChanges],
        validate_only: bool,
    ) -> Result<Vec<(ConfigResource, Result<(), ClientError>)>, ClientError> {
        let version = self.negotiate::<IncrementalAlterConfigsRequest>(1)?;
        let req = IncrementalAlterConfigsRequest::default()
            .with_validate_only(validate_only)
            .with_resources(
                changes
                    .iter()
                    .map(|(r, ops)| {
                        AlterConfigsResource::default()
                            .with_resource_type(r.kind.code())
                            .with_resource_name(s(&r.name))
                            .with_configs(
                                ops.iter()
                                    .map(|(name, op)| {
                                        let (code, value) = op.code_and_value();
                                        AlterableConfig::default()
                                            .with_name(s(name))
                                            .with_config_operation(code)
                                            .with_value(value.map(s))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let response = self.send(&req, version).await?;
        Ok(response
            .responses
            .into_iter()
            .map(|r| {
                let resource = ConfigResource {
                    kind: ConfigResourceType::from_code(r.resource_type),
                    name: r.resource_name.to_string(),
                };
                let result = item_result(r.error_code, r.error_message.as_ref(), || {
                    format!("alter configs of {:?} '{}'", resource.kind, resource.name)
                });
                (resource, result)
            })
            .collect())
    }

    /// DescribeCluster on this broker.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, ClientError> {
        let version = self.negotiate::<DescribeClusterRequest>(1)?;
        let response = self
            .send(&DescribeClusterRequest::default(), version)
            .await?;
        let broker = self.broker().to_string();
        check_code(response.error_code, response.error_message.as_ref(), || {
            format!("describe cluster on {broker}")
        })?;
        Ok(ClusterDescription {
            cluster_id: Some(response.cluster_id.to_string()),
            controller_id: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
            brokers: response
                .brokers
                .into_iter()
                .map(|b| BrokerInfo {
                    id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.map(|r| r.to_string()),
                })
                .collect(),
        })
    }
}

/// Config changes for one resource, as IncrementalAlterConfigs takes them.
pub type ConfigChanges = (ConfigResource, Vec<(String, AlterConfigOp)>);

fn all_not_controller<T>(results: &[(impl Sized, Result<T, ClientError>)]) -> bool {
    !results.is_empty()
        && results
            .iter()
            .all(|(_, r)| matches!(r, Err(e) if e.kafka_code() == Some(ErrorCode::NotController)))
}

impl Client {
    /// CreateTopics on the controller (retried once after NOT_CONTROLLER).
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        timeout_ms: i32,
        validate_only: bool,
    ) -> Result<Vec<(String, Result<CreatedTopic, ClientError>)>, ClientError> {
        let results = self
            .controller()
            .await?
            .create_topics(topics, timeout_ms, validate_only)
            .await?;
        if !all_not_controller(&results) {
            return Ok(results);
        }
        self.refresh_metadata(&[]).await?;
        self.controller()
            .await?
            .create_topics(topics, timeout_ms, validate_only)
            .await
    }

    /// DeleteTopics on the controller (retried once after NOT_CONTROLLER).
    pub async fn delete_topics(
        &self,
        names: &[&str],
        timeout_ms: i32,
    ) -> Result<Vec<(String, Result<(), ClientError>)>, ClientError> {
        let results = self
            .controller()
            .await?
            .delete_topics(names, timeout_ms)
            .await?;
        if !all_not_controller(&results) {
            return Ok(results);
        }
        self.refresh_metadata(&[]).await?;
        self.controller()
            .await?
            .delete_topics(names, timeout_ms)
            .await
    }

    /// CreatePartitions on the controller (retried once after NOT_CONTROLLER).
    pub async fn create_partitions(
        &self,
        topics: &[(&str, i32)],
        timeout_ms: i32,
        validate_only: bool,
    ) -> Result<Vec<(String, Result<(), ClientError>)>, ClientError> {
        let results = self
            .controller()
            .await?
            .create_partitions(topics, timeout_ms, validate_only)
            .await?;
        if !all_not_controller(&results) {
            return Ok(results);
        }
        self.refresh_metadata(&[]).await?;
        self.controller()
            .await?
            .create_partitions(topics, timeout_ms, validate_only)
            .await
    }

    /// DescribeConfigs: broker resources on their broker, the rest on any broker.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
        keys: Option<&[&str]>,
        include_synonyms: bool,
    ) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>, ClientError>)>, ClientError> {
        let mut by_target: BTreeMap<Option<i32>, Vec<ConfigResource>> = BTreeMap::new();
        for r in resources {
            by_target
                .entry(r.target_broker())
                .or_default()
                .push(r.clone());
        }
        let mut out = Vec::new();
        for (target, group) in by_target {
            let conn = match target {
                Some(id) => self.broker_refreshing(id).await?,
                None => self.any_broker().await?,
            };
            out.extend(
                conn.describe_configs(&group, keys, include_synonyms)
                    .await?,
            );
        }
        Ok(out)
    }

    /// IncrementalAlterConfigs: broker resources on their broker, the rest on the
    /// controller.
    pub async fn incremental_alter_configs(
        &self,
        changes: &[ConfigChanges],
        validate_only: bool,
    ) -> Result<Vec<(ConfigResource, Result<(), ClientError>)>, ClientError> {
        let mut by_target: BTreeMap<Option<i32>, Vec<ConfigChanges>> = BTreeMap::new();
        for change in changes {
            by_target
                .entry(change.0.target_broker())
                .or_default()
                .push(change.clone());
        }
        let mut out = Vec::new();
        for (target, group) in by_target {
            let conn = match target {
                Some(id) => self.broker_refreshing(id).await?,
                None => self.controller().await?,
            };
            out.extend(
                conn.incremental_alter_configs(&group, validate_only)
                    .await?,
            );
        }
        Ok(out)
    }

    /// DescribeCluster on any broker; brokers without it (librdkafka's mock) are
    /// described from Metadata instead.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, ClientError> {
        match self.any_broker().await?.describe_cluster().await {
            Err(ClientError::NoVersionMatch { .. }) => {
                let m = self.refresh_metadata(&[]).await?;
                Ok(ClusterDescription {
                    cluster_id: m.cluster_id.clone(),
                    controller_id: m.controller_id,
                    brokers: m.brokers.values().cloned().collect(),
                })
            }
            other => other,
        }
    }
}

/// The message type's own name (`ListClusterLinksResponse`), for error messages.
fn message_name<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    full.rsplit("::").next().unwrap_or(full)
}

impl Connection {
    /// One request of Strait's private admin API (keys 20000+) at `Req::VERSION`, its answer
    /// decoded as `Resp`. An undecodable answer is [`ClientError::Decode`] naming the type.
    pub async fn strait_admin<Req, Resp>(&self, req: &Req) -> Result<Resp, ClientError>
    where
        Req: strait_protocol::admin::AdminMessage,
        Resp: strait_protocol::admin::AdminMessage,
    {
        let body = self
            .send_raw(Req::API_KEY, Req::VERSION, &req.encode())
            .await?;
        Resp::decode(body).map_err(|e| ClientError::Decode {
            broker: self.broker().to_string(),
            api: message_name::<Resp>().to_string(),
            version: Req::VERSION,
            message: e.to_string(),
        })
    }
}

impl Client {
    /// [`Connection::strait_admin`] on any broker (the private admin API is answered by
    /// every broker of a Strait cluster).
    pub async fn strait_admin<Req, Resp>(&self, req: &Req) -> Result<Resp, ClientError>
    where
        Req: strait_protocol::admin::AdminMessage,
        Resp: strait_protocol::admin::AdminMessage,
    {
        self.any_broker().await?.strait_admin(req).await
    }
}
