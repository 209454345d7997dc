//! The link manager: the admin operations on links and mirrors, and the registry of running
//! links. Called by the broker's private-API handlers.
//!
//! Invariants: a link is persisted (through [`LocalCluster::store_link`]) before its task
//! starts and before the create is acknowledged; validation (config keys, filter JSON, and
//! unless told otherwise reaching and authenticating to the source) happens before anything
//! is persisted, so a refused create leaves nothing behind.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strait_client::{Client, ClientConfig};
use strait_protocol::admin::{
    ClusterLinkListing, ConfigEntry, DescribeMirrorsRequest, ItemResult, LinkTask,
    MirrorDescription, MirrorOp, MirrorPartition, PartitionCount,
};
use strait_protocol::ErrorCode;

use crate::config::LinkConfig;
use crate::local::{LocalCluster, LocalError, StoredLink};
use crate::runtime::{classify, create_mirror, lock, now_ms, run_link, LinkShared};
use crate::state::{LinkState, MirrorState};

mod alter;
pub mod restore;
mod resume;
mod reverse;
pub use alter::ConfigChange;

/// An admin operation's failure: a Kafka error code and a one-line message.
pub type LinkError = LocalError;

fn err(code: ErrorCode, message: impl Into<String>) -> LinkError {
    LocalError::new(code, message)
}

struct Running {
    shared: Arc<LinkShared>,
    task: tokio::task::JoinHandle<()>,
}

pub struct LinkManager {
    local: Arc<dyn LocalCluster>,
    links: Mutex<BTreeMap<String, Running>>,
    /// Serialises config alters (each is read, validate, persist, install).
    alter_lock: tokio::sync::Mutex<()>,
    /// Tunnels of source-initiated links (see [`crate::tunnel`]).
    tunnels: Arc<crate::tunnel::pool::TunnelHub>,
}

/// Builds the source client config from a link config; errors name the key.
pub(crate) fn client_config(config: &LinkConfig) -> Result<ClientConfig, LinkError> {
    let (mut cc, _ignored) =
        ClientConfig::from_properties(&config.client_properties()).map_err(|e| {
            err(
                ErrorCode::InvalidConfig,
                format!("invalid source connection config: {e}"),
            )
        })?;
    if !config.client_properties().contains_key("client.id") {
        cc.client_id = "strait-cluster-link".into();
    }
    Ok(cc)
}

/// Reaches and authenticates to the source with `cc` and reads its cluster id (create and
/// alter validation). Errors are one line naming the link and the reason.
pub(crate) async fn probe_source(
    name: &str,
    config: &LinkConfig,
    cc: &ClientConfig,
    timeout: Duration,
) -> Result<Option<String>, LinkError> {
    let probe = async {
        let client = Client::connect(cc).await?;
        let described = client.describe_cluster().await;
        let id = match described {
            Ok(d) => d.cluster_id,
            // Sources without DescribeCluster (older brokers, the librdkafka mock)
            // still told us their cluster id in Metadata.
            Err(_) => client.metadata().cluster_id.clone(),
        };
        client.close().await;
        Ok::<_, strait_client::ClientError>(id)
    };
    match tokio::time::timeout(timeout, probe).await {
        Err(_) => Err(err(ErrorCode::RequestTimedOut, format!("cannot validate cluster link '{name}': no answer from the source cluster at {} within {} ms", config.bootstrap_servers.join(","), timeout.as_millis()))),
        Ok(Err(e)) => {
            let (_, reason) = classify(&e);
            let code = e.kafka_code().unwrap_or(ErrorCode::NetworkException);
            Err(err(code, format!("cannot validate cluster link '{name}' ({reason}): {e}")))
        }
        Ok(Ok(id)) => Ok(id),
    }
}

fn validate_link_name(name: &str) -> Result<(), LinkError> {
    if name.is_empty()
        || name.len() > 249
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(err(ErrorCode::InvalidRequest, format!("invalid cluster link name '{name}': use 1-249 ASCII alphanumerics, '.', '_' or '-'")));
    }
    Ok(())
}

impl LinkManager {
    /// Starts every persisted link (after a restart, mirroring resumes from the local logs).
    pub fn start(local: Arc<dyn LocalCluster>) -> Arc<Self> {
        let manager = Arc::new(LinkManager {
            local: local.clone(),
            links: Mutex::new(BTreeMap::new()),
            alter_lock: tokio::sync::Mutex::new(()),
            tunnels: Default::default(),
        });
        for stored in local.load_links() {
            let name = stored.name.clone();
            match LinkConfig::from_map(stored.configs.clone()).and_then(|c| {
                Ok((
                    client_config(&c)
                        .map_err(|e| crate::config::LinkConfigError::Conflict(e.message))?,
                    c,
                ))
            }) {
                Ok((cc, config)) => manager.spawn(stored, config, cc),
                Err(e) => {
                    tracing::error!(link = %name, error = %e, "persisted link config no longer valid; link not started")
                }
            }
        }
        manager
    }

    fn spawn(&self, stored: StoredLink, config: LinkConfig, cc: ClientConfig) {
        let name = stored.name.clone();
        let cc = self.tunnel_client_config(&name, &config, cc);
        let source_side = config.link_mode == crate::config::LinkMode::Source;
        let shared = Arc::new(LinkShared::new(stored, config, cc, self.local.clone()));
        let task = if source_side {
            tokio::spawn(crate::tunnel::source::run(
                shared.clone(),
                self.tunnels.clone(),
            ))
        } else {
            tokio::spawn(run_link(shared.clone()))
        };
        lock(&self.links).insert(name, Running { shared, task });
    }

    /// The tunnels of source-initiated links: the broker parks LinkTunnel connections here
    /// and tells it its own listeners.
    pub fn tunnels(&self) -> &Arc<crate::tunnel::pool::TunnelHub> {
        &self.tunnels
    }

    /// `cc` for link `name`; an INBOUND link dials its source through its tunnel pool.
    pub(crate) fn tunnel_client_config(
        &self,
        name: &str,
        config: &LinkConfig,
        mut cc: ClientConfig,
    ) -> ClientConfig {
        if config.connection_mode == crate::tunnel::ConnectionMode::Inbound {
            let pool = self.tunnels.open_pool(name, self.local.cluster_id());
            cc.bootstrap_servers = vec![crate::tunnel::TUNNEL_BOOTSTRAP.to_string()];
            cc.dialer = Some(strait_client::dial::DialerRef(pool));
        }
        cc
    }

    /// Every running link.
    pub(crate) fn running(&self) -> Vec<Arc<LinkShared>> {
        lock(&self.links)
            .values()
            .map(|r| r.shared.clone())
            .collect()
    }

    pub(crate) fn local(&self) -> &Arc<dyn LocalCluster> {
        &self.local
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<LinkShared>> {
        lock(&self.links).get(name).map(|r| r.shared.clone())
    }

    /// CreateClusterLinks for one link.
    pub async fn create_link(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
        validate_link: bool,
        timeout: Duration,
    ) -> Result<(), LinkError> {
        validate_link_name(name)?;
        if self.get(name).is_some() {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("cluster link '{name}' already exists"),
            ));
        }
        let config = LinkConfig::from_map(configs.clone())
            .map_err(|e| err(ErrorCode::InvalidConfig, e.to_string()))?;
        let cc = client_config(&config)?;
        let mut source_cluster_id = None;
        // An INBOUND link has nothing to probe until its source connects; a SOURCE link
        // probes the destination, whose id is not a source cluster id.
        if validate_link && config.connection_mode == crate::tunnel::ConnectionMode::Outbound {
            let id = probe_source(name, &config, &cc, timeout).await?;
            if config.link_mode != crate::config::LinkMode::Source {
                source_cluster_id = id;
            }
            if config.link_mode == crate::config::LinkMode::Bidirectional {
                crate::loops::validate_peer(name, &cc, timeout, &self.local.cluster_id()).await?;
            }
        }
        if validate_only {
            return Ok(());
        }
        let stored = StoredLink {
            name: name.to_string(),
            link_id: uuid::Uuid::new_v4().to_string(),
            configs,
            source_cluster_id,
            created_ms: now_ms(),
        };
        self.local.store_link(&stored)?;
        self.spawn(stored, config, cc);
        tracing::info!(link = name, "cluster link created");
        Ok(())
    }

    /// ListClusterLinks.
    pub fn list_links(
        &self,
        names: Option<&[String]>,
        include_topics: bool,
        include_configs: bool,
    ) -> Result<Vec<ClusterLinkListing>, LinkError> {
        let links = lock(&self.links);
        if let Some(names) = names {
            if let Some(missing) = names.iter().find(|n| !links.contains_key(*n)) {
                return Err(err(
                    ErrorCode::ResourceNotFound,
                    format!("cluster link '{missing}' does not exist"),
                ));
            }
        }
        Ok(links
            .values()
            .filter(|r| names.is_none_or(|n| n.iter().any(|x| *x == r.shared.stored.name)))
            .map(|r| {
                let s = &r.shared;
                let status = s.status();
                let (sync_status, max_lag, max_lag_ms) = s.sync_status();
                let mut tasks: Vec<LinkTask> = s
                    .tasks()
                    .into_iter()
                    .map(|(name, t)| LinkTask {
                        name: name.to_string(),
                        state: if t.error.is_some() {
                            "IN_ERROR"
                        } else {
                            "ACTIVE"
                        }
                        .to_string(),
                        // An ACTIVE task's error field carries its note (partitions the
                        // offset sync leaves to the destination); the state says it is
                        // not a failure.
                        error: t.error.or(t.note),
                        runs: t.runs as i64,
                        errors: t.errors as i64,
                        changed_total: t.changed_total as i64,
                    })
                    .collect();
                tasks.extend(self.tunnels.describe_task(&s.stored.name));
                let bidirectional = s.config().link_mode == crate::config::LinkMode::Bidirectional;
                if bidirectional && !tasks.iter().any(|t| t.name == crate::loops::PEER_TASK) {
                    tasks.push(LinkTask {
                        name: crate::loops::PEER_TASK.to_string(),
                        state: "PENDING".to_string(),
                        ..Default::default()
                    });
                }
                for (name, enabled) in [
                    ("consumer_offset_sync", s.config().consumer_offset_sync),
                    ("acl_sync", s.config().acl_sync),
                ] {
                    if !tasks.iter().any(|t| t.name == name) {
                        tasks.push(LinkTask {
                            name: name.to_string(),
                            state: if enabled { "PENDING" } else { "NOT_CONFIGURED" }.to_string(),
                            ..Default::default()
                        });
                    }
                }
                ClusterLinkListing {
                    name: s.stored.name.clone(),
                    link_id: s.stored.link_id.clone(),
                    source_cluster_id: status.source_cluster_id.clone(),
                    state: status.state.name().to_string(),
                    error: status.error.clone(),
                    error_message: status.error_message.clone(),
                    topics: if include_topics {
                        s.mirrors().into_iter().map(|m| m.topic).collect()
                    } else {
                        Vec::new()
                    },
                    configs: if include_configs {
                        s.config()
                            .describe()
                            .into_iter()
                            .map(|(name, value, sensitive)| ConfigEntry {
                                name,
                                value,
                                sensitive,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    sync_status: sync_status.to_string(),
                    max_lag,
                    max_lag_ms,
                    tasks,
                    partition_errors: partition_error_counts(s),
                }
            })
            .collect())
    }

    /// DeleteClusterLinks for one link.
    pub async fn delete_link(
        &self,
        name: &str,
        force: bool,
        validate_only: bool,
    ) -> Result<(), LinkError> {
        let shared = self.get(name).ok_or_else(|| {
            err(
                ErrorCode::ResourceNotFound,
                format!("cluster link '{name}' does not exist"),
            )
        })?;
        let active: Vec<String> = shared
            .mirrors()
            .into_iter()
            .filter(|m| {
                m.mirror.state != MirrorState::Stopped && m.mirror.state != MirrorState::Failed
            })
            .map(|m| m.topic)
            .collect();
        if !active.is_empty() && !force {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("cluster link '{name}' still has {} active mirror topic(s) ({}); promote or fail them over first, or delete with --force", active.len(), active.join(", ")),
            ));
        }
        if validate_only {
            return Ok(());
        }
        for topic in &active {
            self.local
                .set_mirror_state(
                    topic,
                    MirrorState::Failed,
                    Some((
                        "LINK_DELETED".into(),
                        format!("cluster link '{name}' was deleted"),
                    )),
                )
                .ok();
        }
        self.local.remove_link(name)?;
        self.tunnels.close_pool(name);
        if let Some(r) = lock(&self.links).remove(name) {
            r.shared.deleted.store(true, Ordering::Release);
            r.shared.wake.notify_one();
            r.task.abort();
        }
        tracing::info!(link = name, "cluster link deleted");
        Ok(())
    }

    /// CreateMirrorTopics for one mirror.
    pub async fn create_mirror_topic(
        &self,
        mirror_topic: &str,
        link_name: &str,
        source_topic: Option<&str>,
        validate_only: bool,
    ) -> Result<(), LinkError> {
        let shared = self.get(link_name).ok_or_else(|| {
            err(
                ErrorCode::ResourceNotFound,
                format!("cluster link '{link_name}' does not exist"),
            )
        })?;
        if shared.config().link_mode == crate::config::LinkMode::Source {
            return Err(err(ErrorCode::InvalidRequest, format!("cluster link '{link_name}' is the source side of a source-initiated link (link.mode=SOURCE): create mirror topics on the destination cluster, over its connection.mode=INBOUND link '{link_name}'")));
        }
        if self.local.topic_exists(mirror_topic) {
            let what = if self
                .local
                .mirror_topics()
                .iter()
                .any(|m| m.topic == mirror_topic)
            {
                "a mirror topic"
            } else {
                "a normal topic"
            };
            let why = match crate::shadow::shadowed_by(&self.running(), mirror_topic) {
                Some((link, _)) => format!(" (cluster link '{link}' reports it as shadowing its mirror: a local client probably auto-created it; delete it to let the link mirror it)"),
                None => String::new(),
            };
            return Err(err(ErrorCode::TopicAlreadyExists, format!("topic '{mirror_topic}' already exists as {what}{why}; a mirror needs a topic name that is not in use")));
        }
        let source_topic = match source_topic {
            Some(s) => s.to_string(),
            None => match &shared.config().cluster_link_prefix {
                Some(p) => mirror_topic.strip_prefix(p.as_str()).map(str::to_string).ok_or_else(|| {
                    err(ErrorCode::InvalidRequest, format!("mirror topic '{mirror_topic}' must start with the link prefix '{p}' (or name --source-topic)"))
                })?,
                None => mirror_topic.to_string(),
            },
        };
        let client = Client::connect(&shared.client_config())
            .await
            .map_err(|e| {
                err(
                    e.kafka_code().unwrap_or(ErrorCode::NetworkException),
                    format!("cannot reach the source cluster of link '{link_name}': {e}"),
                )
            })?;
        let result = async {
            let md = client.refresh_metadata(&[source_topic.as_str()]).await.map_err(|e| err(e.kafka_code().unwrap_or(ErrorCode::NetworkException), e.to_string()))?;
            match md.topic(&source_topic) {
                Some(t) if t.error.is_none() => {}
                _ => return Err(err(ErrorCode::UnknownTopicOrPartition, format!("source topic '{source_topic}' does not exist on the source cluster of link '{link_name}'"))),
            }
            let source_mirrors = crate::loops::check_explicit(&client, &source_topic, &self.local.cluster_id())
                .await
                .map_err(|e| err(e.code, format!("cannot mirror over cluster link '{link_name}': {}", e.message)))?;
            if validate_only {
                return Ok(());
            }
            create_mirror(&shared, &client, mirror_topic, &source_topic, &md).await?;
            crate::loops::record_chains(&shared, &source_mirrors, Some(mirror_topic));
            Ok(())
        }
        .await;
        client.close().await;
        result?;
        shared.wake.notify_one();
        Ok(())
    }

    /// DescribeMirrors.
    pub fn describe_mirrors(
        &self,
        req: &DescribeMirrorsRequest,
    ) -> Result<Vec<MirrorDescription>, LinkError> {
        if let Some(link) = &req.link_name {
            if self.get(link).is_none() {
                return Err(err(
                    ErrorCode::ResourceNotFound,
                    format!("cluster link '{link}' does not exist"),
                ));
            }
        }
        let mirrors = self.local.mirror_topics();
        if let Some(topics) = &req.topics {
            for t in topics {
                if !mirrors.iter().any(|m| m.topic == *t) {
                    let code = if self.local.topic_exists(t) {
                        ErrorCode::InvalidRequest
                    } else {
                        ErrorCode::UnknownTopicOrPartition
                    };
                    let why = match crate::shadow::shadowed_by(&self.running(), t) {
                        Some((link, source)) => format!(": it is a local normal topic shadowing the mirror cluster link '{link}' would create for source topic '{source}' (delete it to let the link mirror it)"),
                        None => String::new(),
                    };
                    return Err(err(code, format!("topic '{t}' is not a mirror topic{why}")));
                }
            }
        }
        let now = now_ms();
        let mut out = Vec::new();
        for m in mirrors {
            if req
                .link_name
                .as_ref()
                .is_some_and(|l| *l != m.mirror.link_name)
                || req.topics.as_ref().is_some_and(|ts| !ts.contains(&m.topic))
            {
                continue;
            }
            let link = self.get(&m.mirror.link_name);
            let status = link.as_ref().map(|l| l.status());
            let state = display_state(m.mirror.state, status.as_ref().map(|s| s.state));
            // A state that comes from the link (SOURCE_UNAVAILABLE, LINK_FAILED ...) carries
            // the link's reason; the mirror's own states carry their own.
            let (reason, reason_message) = if state == m.mirror.state.name() {
                (m.mirror.reason.clone(), m.mirror.reason_message.clone())
            } else {
                match &status {
                    Some(s) => (s.error.clone(), s.error_message.clone()),
                    None => (
                        Some("LINK_DELETED".to_string()),
                        Some(format!(
                            "cluster link '{}' does not exist",
                            m.mirror.link_name
                        )),
                    ),
                }
            };
            if !req.states.is_empty() && !req.states.iter().any(|s| s.eq_ignore_ascii_case(state)) {
                continue;
            }
            let partitions = if req.include_partitions {
                (0..m.partitions)
                    .map(|p| {
                        let stats = link
                            .as_ref()
                            .map(|l| l.stats(&m.topic, p))
                            .unwrap_or_default();
                        let leo = self
                            .local
                            .partition_position(&m.topic, p)
                            .map(|pos| pos.log_end_offset)
                            .unwrap_or(-1);
                        let hw = if stats.last_fetch_ms.is_some() {
                            stats.source_high_watermark
                        } else {
                            -1
                        };
                        // A stuck partition of a topic that is still mirroring shows
                        // IN_ERROR (its topic stays ACTIVE: the others keep copying); link
                        // trouble and the topic's own end states take precedence.
                        let fault = stats.fault.clone();
                        let partition_state = match &fault {
                            Some(f)
                                if f.in_error()
                                    && m.mirror.state.is_mirroring()
                                    && state == m.mirror.state.name() =>
                            {
                                "IN_ERROR"
                            }
                            _ => state,
                        };
                        MirrorPartition {
                            partition: p,
                            state: partition_state.to_string(),
                            log_end_offset: leo,
                            source_high_watermark: hw,
                            lag: if hw >= 0 { (hw - leo).max(0) } else { -1 },
                            lag_ms: if hw >= 0 { stats.lag_ms } else { -1 },
                            time_since_last_fetch_ms: stats
                                .last_fetch_ms
                                .map_or(-1, |t| (now - t).max(0)),
                            error: stats.error,
                            aborted_transactions: m
                                .mirror
                                .aborted_transactions
                                .as_ref()
                                .and_then(|a| a.get(usize::try_from(p).ok()?).copied()),
                            error_reason: fault.as_ref().map(|f| f.reason.name().to_string()),
                            error_since_ms: fault.as_ref().map(|f| f.since_ms),
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            out.push(MirrorDescription {
                mirror_topic: m.topic.clone(),
                link_name: m.mirror.link_name.clone(),
                source_topic: m.mirror.source_topic.clone(),
                state: state.to_string(),
                reason,
                reason_message,
                state_time_ms: m.mirror.state_time_ms,
                num_partitions: m.partitions,
                partitions,
                // A promoted topic's new writes originate here.
                origin_cluster_ids: if m.mirror.state == MirrorState::Stopped {
                    Some(Vec::new())
                } else {
                    link.as_ref()
                        .and_then(|l| crate::loops::chain_for(l, &m.topic))
                },
            });
        }
        Ok(out)
    }

    /// AlterMirrors: promote / failover / pause / resume, per topic.
    pub fn alter_mirrors(
        &self,
        op: MirrorOp,
        topics: Option<&[String]>,
        link_name: Option<&str>,
        validate_only: bool,
    ) -> Result<Vec<ItemResult>, LinkError> {
        let mirrors = self.local.mirror_topics();
        let selected: Vec<String> = match (topics, link_name) {
            (Some(t), _) => t.to_vec(),
            (None, Some(l)) => {
                if self.get(l).is_none() {
                    return Err(err(
                        ErrorCode::ResourceNotFound,
                        format!("cluster link '{l}' does not exist"),
                    ));
                }
                mirrors
                    .iter()
                    .filter(|m| m.mirror.link_name == l)
                    .map(|m| m.topic.clone())
                    .collect()
            }
            (None, None) => {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "name the mirror topics (--topics) or a link (--link)",
                ))
            }
        };
        let results = selected
            .into_iter()
            .map(|topic| {
                let outcome = self.alter_one(op, &topic, &mirrors, validate_only);
                let aborted_transactions = outcome
                    .as_ref()
                    .map(|counts| {
                        (0i32..)
                            .zip(counts)
                            .map(|(partition, &count)| PartitionCount { partition, count })
                            .collect()
                    })
                    .unwrap_or_default();
                ItemResult {
                    name: topic,
                    error_code: outcome.as_ref().err().map_or(0, |e| e.code.code()),
                    error_message: outcome.err().map(|e| e.message),
                    aborted_transactions,
                }
            })
            .collect();
        Ok(results)
    }

    fn alter_one(
        &self,
        op: MirrorOp,
        topic: &str,
        mirrors: &[crate::local::MirrorTopic],
        validate_only: bool,
    ) -> Result<Vec<i64>, LinkError> {
        let Some(m) = mirrors.iter().find(|m| m.topic == topic) else {
            return Err(if self.local.topic_exists(topic) {
                err(
                    ErrorCode::InvalidRequest,
                    format!("topic '{topic}' is not a mirror topic"),
                )
            } else {
                err(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic '{topic}' does not exist"),
                )
            });
        };
        let link = &m.mirror.link_name;
        let state = m.mirror.state;
        if restore::is_pending_restore(&m.mirror) && op != MirrorOp::Failover {
            return Err(err(ErrorCode::InvalidRequest, format!("mirror topic '{topic}' is PENDING_RESTORE (a truncate-and-restore over '{link}' was interrupted); run mirrors --truncate-and-restore --topics {topic} --link {link} again to finish it, or fail it over")));
        }
        let next = match (op, state) {
            (_, MirrorState::Stopped) => return Err(err(ErrorCode::InvalidRequest, format!("topic '{topic}' has already stopped its mirror from '{link}'"))),
            (MirrorOp::Promote, MirrorState::Active | MirrorState::Paused) => MirrorState::PendingStopped,
            (MirrorOp::Promote, MirrorState::PendingStopped) => return Ok(Vec::new()),
            (MirrorOp::Promote, MirrorState::Failed) => {
                return Err(err(ErrorCode::InvalidRequest, format!("mirror topic '{topic}' has failed ({}); promote needs a healthy mirror, use failover", m.mirror.reason.as_deref().unwrap_or("unknown reason"))))
            }
            (MirrorOp::Failover, _) => MirrorState::Stopped,
            (MirrorOp::Pause, MirrorState::Active) => MirrorState::Paused,
            (MirrorOp::Pause, MirrorState::Paused) => return Ok(Vec::new()),
            (MirrorOp::Resume, MirrorState::Paused) => MirrorState::Active,
            (MirrorOp::Resume, MirrorState::Failed) => {
                return self.resume_failed(m, validate_only).map(|()| Vec::new())
            }
            (MirrorOp::Resume, MirrorState::Active) => return Ok(Vec::new()),
            (op, state) => return Err(err(ErrorCode::InvalidRequest, format!("cannot {op:?} mirror topic '{topic}' in state {}", state.name()))),
        };
        if validate_only {
            return Ok(Vec::new());
        }
        if next == MirrorState::Stopped {
            // Failover: fence (take every partition from its fetcher; returns once no
            // append is in flight), then the one commit. No catch-up.
            if let Some(l) = self.get(link) {
                for p in 0..m.partitions {
                    l.owner.fence(topic, p);
                }
            }
            let aborted = self.local.promote(topic)?;
            tracing::info!(mirror = topic, link = %link, aborted_transactions = aborted.iter().sum::<i64>(), "mirror failed over: now a writable topic");
            if let Some(l) = self.get(link) {
                l.wake.notify_one();
            }
            return Ok(aborted);
        } else {
            self.local.set_mirror_state(topic, next, None)?;
            if next == MirrorState::PendingStopped {
                if let Some(l) = self.get(link) {
                    crate::promote::start_promotion_now(&l, topic);
                }
            }
        }
        if let Some(l) = self.get(link) {
            l.wake.notify_one();
        }
        Ok(Vec::new())
    }

    /// Stops every link task (broker shutdown).
    pub fn shutdown(&self) {
        for (_, r) in std::mem::take(&mut *lock(&self.links)) {
            r.shared.deleted.store(true, Ordering::Release);
            r.task.abort();
        }
        // Parked tunnels close with the broker, so their source sides re-dial.
        self.tunnels.close_all();
    }
}

/// The link's partitions in error, counted by reason (sorted by reason).
fn partition_error_counts(s: &LinkShared) -> Vec<strait_protocol::admin::ReasonCount> {
    let mut counts: BTreeMap<&'static str, i32> = BTreeMap::new();
    for (_, _, reason) in s.partitions_in_error() {
        *counts.entry(reason.name()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(reason, count)| strait_protocol::admin::ReasonCount {
            reason: reason.to_string(),
            count,
        })
        .collect()
}

/// The state shown to operators: link trouble overrides a mirror's own ACTIVE.
fn display_state(state: MirrorState, link: Option<LinkState>) -> &'static str {
    match (state, link) {
        (MirrorState::Stopped | MirrorState::Failed, _) => state.name(),
        (_, None) => "LINK_FAILED",
        (_, Some(LinkState::Paused)) => "LINK_PAUSED",
        (_, Some(LinkState::Failed)) => "LINK_FAILED",
        (MirrorState::Active, Some(LinkState::Unavailable)) => "SOURCE_UNAVAILABLE",
        _ => state.name(),
    }
}
