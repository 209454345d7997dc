//! One link's background task: connect to the source, keep source metadata fresh, create
//! mirrors for newly matching source topics, follow partition growth, detect deleted or
//! recreated source topics, hand partitions to one fetcher per source leader, and finish
//! promotions once a mirror has caught up.
//!
//! State shared with the admin API and the fetchers lives in [`LinkShared`]. The local log
//! is the only record of mirroring progress: a fetch always starts at the local log end
//! offset, so a restart (or a `kill -9`) resumes with no gap and no duplicate.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strait_client::metadata::ClusterMetadata;
use strait_client::offsets::OffsetSpec;
use strait_client::{Client, ClientConfig, ClientError};
use strait_protocol::ErrorCode;
use tokio::sync::{watch, Notify};

use crate::config::{LinkConfig, StartOffsetSpec};
use crate::fetcher::{run_fetcher, Assignment};
use crate::local::{LocalCluster, MirrorInfo, StoredLink};
use crate::state::{LinkState, MirrorState};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A poisoned lock only means a panic elsewhere mid-update of plain data; keep going.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the link last learned about one mirror partition.
#[derive(Debug, Clone, Default)]
pub struct PartitionStats {
    pub source_high_watermark: i64,
    pub source_log_start_offset: i64,
    /// Wall-clock ms of the last successful fetch response for this partition.
    pub last_fetch_ms: Option<i64>,
    pub error: Option<String>,
    pub bytes_mirrored: u64,
    pub batches_mirrored: u64,
    /// Records mirrored (from batch headers; nothing is decompressed).
    pub records_mirrored: u64,
    /// Bytes received from the source for this partition (including batches already held).
    pub bytes_fetched: u64,
    pub fetch_errors: u64,
    /// Offsets the source deleted before we could copy them (retention, DeleteRecords).
    pub offsets_lost: i64,
    /// Age in ms of the oldest source record not yet mirrored, measured from the source
    /// timestamp of the first batch of the last fetch that found new data; 0 once caught up.
    pub lag_ms: i64,
}

/// One periodic link task (config sync, offset sync, ACL sync): when it last ran and
/// whether that worked. A failing task never stops mirroring.
#[derive(Debug, Clone, Default)]
pub struct TaskStatus {
    pub runs: u64,
    pub errors: u64,
    pub last_run_ms: Option<i64>,
    pub error: Option<String>,
    /// Items the last successful run changed (configs updated, offsets committed ...).
    pub changed_total: u64,
}

#[derive(Debug, Clone)]
pub struct LinkStatus {
    pub state: LinkState,
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub source_cluster_id: Option<String>,
}

/// Everything about a running link that the admin API, the link loop and the fetchers share.
pub struct LinkShared {
    pub stored: StoredLink,
    pub config: LinkConfig,
    pub client_config: ClientConfig,
    pub local: Arc<dyn LocalCluster>,
    status: Mutex<LinkStatus>,
    stats: Mutex<HashMap<(String, i32), PartitionStats>>,
    tasks: Mutex<BTreeMap<&'static str, TaskStatus>>,
    /// Wakes the link loop (new mirror, promote, pause, resume, delete).
    pub wake: Notify,
    /// Asks the link loop for a metadata refresh (leader moved, topic gone).
    pub refresh: Notify,
    pub(crate) deleted: AtomicBool,
}

impl LinkShared {
    pub fn new(
        stored: StoredLink,
        config: LinkConfig,
        client_config: ClientConfig,
        local: Arc<dyn LocalCluster>,
    ) -> Self {
        let paused = config.paused;
        LinkShared {
            status: Mutex::new(LinkStatus {
                state: if paused {
                    LinkState::Paused
                } else {
                    LinkState::Unavailable
                },
                error: None,
                error_message: None,
                source_cluster_id: stored.source_cluster_id.clone(),
            }),
            stored,
            config,
            client_config,
            local,
            stats: Mutex::new(HashMap::new()),
            tasks: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            refresh: Notify::new(),
            deleted: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.stored.name
    }

    pub fn status(&self) -> LinkStatus {
        lock(&self.status).clone()
    }

    fn set_status(&self, state: LinkState, error: Option<(&str, String)>) {
        let mut s = lock(&self.status);
        if s.state != state {
            tracing::info!(link = %self.stored.name, state = state.name(), error = ?error, "link state");
        }
        s.state = state;
        s.error = error.as_ref().map(|(e, _)| e.to_string());
        s.error_message = error.map(|(_, m)| m);
    }

    pub fn stats(&self, topic: &str, partition: i32) -> PartitionStats {
        lock(&self.stats)
            .get(&(topic.to_string(), partition))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn update_stats(
        &self,
        topic: &str,
        partition: i32,
        f: impl FnOnce(&mut PartitionStats),
    ) {
        f(lock(&self.stats)
            .entry((topic.to_string(), partition))
            .or_default());
    }

    pub fn tasks(&self) -> BTreeMap<&'static str, TaskStatus> {
        lock(&self.tasks).clone()
    }

    pub(crate) fn record_task(&self, name: &'static str, outcome: Result<u64, String>) {
        let mut tasks = lock(&self.tasks);
        let t = tasks.entry(name).or_default();
        t.runs += 1;
        t.last_run_ms = Some(now_ms());
        match outcome {
            Ok(changed) => {
                t.error = None;
                t.changed_total += changed;
            }
            Err(e) => {
                if t.error.as_ref() != Some(&e) {
                    tracing::warn!(link = %self.stored.name, task = name, error = %e, "link task failed; mirroring continues");
                }
                t.errors += 1;
                t.error = Some(e);
            }
        }
    }

    /// The link's health against `link.target.latency.ms` (seed 002's vocabulary):
    /// OUT_OF_SYNC when the link is down or a mirroring partition is further behind than the
    /// target; STALE when a mirror failed or a partition has not been fetched within the
    /// target (so its lag is unknown); IN_SYNC otherwise. Returns (status, max lag in
    /// offsets, max lag in ms).
    pub fn sync_status(&self) -> (&'static str, i64, i64) {
        let now = now_ms();
        let target = self.config.target_latency_ms;
        let (mut max_lag, mut max_lag_ms, mut stale, mut behind) = (0i64, 0i64, false, false);
        for m in self.mirrors() {
            match m.mirror.state {
                MirrorState::Failed => stale = true,
                s if s.is_mirroring() => {
                    for p in 0..m.partitions {
                        let st = self.stats(&m.topic, p);
                        let leo = self
                            .local
                            .partition_position(&m.topic, p)
                            .map(|pos| pos.log_end_offset)
                            .unwrap_or(0);
                        let lag = (st.source_high_watermark - leo).max(0);
                        max_lag = max_lag.max(lag);
                        max_lag_ms = max_lag_ms.max(st.lag_ms);
                        match st.last_fetch_ms {
                            None => stale = true,
                            Some(t) if now - t > target => stale = true,
                            _ => {}
                        }
                        if lag > 0 && st.lag_ms > target {
                            behind = true;
                        }
                    }
                }
                _ => {}
            }
        }
        let link_down =
            self.status().state != LinkState::Active && self.status().state != LinkState::Paused;
        let status = if link_down || behind {
            "OUT_OF_SYNC"
        } else if stale {
            "STALE"
        } else {
            "IN_SYNC"
        };
        (status, max_lag, max_lag_ms)
    }

    /// This link's mirror topics.
    pub fn mirrors(&self) -> Vec<crate::local::MirrorTopic> {
        self.local
            .mirror_topics()
            .into_iter()
            .filter(|m| m.mirror.link_name == self.stored.name)
            .collect()
    }
}

/// Runs a link until it is deleted.
pub async fn run_link(shared: Arc<LinkShared>) {
    let mut backoff = Duration::from_millis(200);
    while !shared.deleted.load(Ordering::Acquire) {
        if shared.config.paused {
            shared.set_status(LinkState::Paused, None);
            shared.wake.notified().await;
            continue;
        }
        match Client::connect(&shared.client_config).await {
            Err(e) => {
                let (state, reason) = classify(&e);
                shared.set_status(
                    state,
                    Some((reason, format!("cannot connect to the source cluster: {e}"))),
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shared.wake.notified() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Ok(client) => {
                backoff = Duration::from_millis(200);
                let result = drive(&shared, &client).await;
                client.close().await;
                if let Err(e) = result {
                    let (state, reason) = classify(&e);
                    shared.set_status(
                        state,
                        Some((reason, format!("lost the source cluster: {e}"))),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shared.wake.notified() => {}
                    }
                }
            }
        }
    }
}

/// Link-level error reason for a client failure, in Confluent's vocabulary.
pub fn classify(e: &ClientError) -> (LinkState, &'static str) {
    match e {
        ClientError::Kafka {
            code:
                ErrorCode::SaslAuthenticationFailed
                | ErrorCode::IllegalSaslState
                | ErrorCode::UnsupportedSaslMechanism,
            ..
        } => (LinkState::Failed, "AUTHENTICATION_ERROR"),
        ClientError::Kafka {
            code: ErrorCode::ClusterAuthorizationFailed | ErrorCode::TopicAuthorizationFailed,
            ..
        } => (LinkState::Failed, "AUTHORIZATION_ERROR"),
        other => {
            let text = other.to_string().to_ascii_lowercase();
            if text.contains("authenticat") || text.contains("sasl") {
                (LinkState::Failed, "AUTHENTICATION_ERROR")
            } else if text.contains("timed out") || text.contains("timeout") {
                (LinkState::Unavailable, "TIMEOUT_ERROR")
            } else {
                (
                    LinkState::Unavailable,
                    "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
                )
            }
        }
    }
}

/// Internal topics are never mirrored.
pub fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}

struct Fetcher {
    assignments: watch::Sender<Vec<Assignment>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Mirrors with one connected client until the source fails or the link is deleted/paused.
async fn drive(shared: &Arc<LinkShared>, client: &Client) -> Result<(), ClientError> {
    let mut fetchers: HashMap<i32, Fetcher> = HashMap::new();
    let refresh_every = Duration::from_millis(shared.config.metadata_max_age_ms);
    let mut last_refresh: Option<Instant> = None;
    let mut last_config_sync: Option<Instant> = None;
    let mut last_offset_sync: Option<Instant> = None;
    let mut last_acl_sync: Option<Instant> = None;
    let acl_sync_every = Duration::from_millis(shared.config.acl_sync_ms);
    let offset_sync_every = Duration::from_millis(shared.config.consumer_offset_sync_ms);
    let config_sync_every = Duration::from_millis(shared.config.topic_config_sync_ms);
    let mut metadata = Arc::new(ClusterMetadata::default());
    loop {
        if shared.deleted.load(Ordering::Acquire) || shared.config.paused {
            return Ok(());
        }
        let due = last_refresh.is_none_or(|t| t.elapsed() >= refresh_every);
        if due {
            metadata = client.refresh_all_metadata().await?;
            last_refresh = Some(Instant::now());
            {
                let mut s = lock(&shared.status);
                s.source_cluster_id = metadata.cluster_id.clone().or(s.source_cluster_id.take());
            }
            shared.set_status(LinkState::Active, None);
            discover(shared, client, &metadata).await;
        }
        let assignments = reconcile(shared, client, &metadata).await;
        // One fetcher per source leader; dropping a fetcher stops it.
        fetchers.retain(|broker, _| assignments.contains_key(broker));
        for (broker, parts) in assignments {
            match fetchers.get(&broker) {
                Some(f) if !f.task.is_finished() => {
                    f.assignments.send_if_modified(|cur| {
                        if *cur != parts {
                            *cur = parts.clone();
                            true
                        } else {
                            false
                        }
                    });
                }
                _ => {
                    let (tx, rx) = watch::channel(parts);
                    let task =
                        tokio::spawn(run_fetcher(shared.clone(), client.clone(), broker, rx));
                    fetchers.insert(
                        broker,
                        Fetcher {
                            assignments: tx,
                            task,
                        },
                    );
                }
            }
        }
        if last_config_sync.is_none_or(|t| t.elapsed() >= config_sync_every) {
            last_config_sync = Some(Instant::now());
            let outcome = sync_topic_configs(shared, client).await;
            shared.record_task("topic_config_sync", outcome);
        }
        if shared.config.consumer_offset_sync
            && last_offset_sync.is_none_or(|t| t.elapsed() >= offset_sync_every)
        {
            last_offset_sync = Some(Instant::now());
            let outcome = sync_consumer_offsets(shared, client, None).await;
            shared.record_task("consumer_offset_sync", outcome);
        }
        if shared.config.acl_sync && last_acl_sync.is_none_or(|t| t.elapsed() >= acl_sync_every) {
            last_acl_sync = Some(Instant::now());
            let outcome = sync_acls(shared, client).await;
            shared.record_task("acl_sync", outcome);
        }
        finish_promotions(shared, client).await;
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = shared.refresh.notified() => { last_refresh = None; }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Creates mirrors for source topics that match the link's topic filters.
async fn discover(shared: &Arc<LinkShared>, client: &Client, metadata: &ClusterMetadata) {
    if !shared.config.auto_create_mirror_topics {
        return;
    }
    for (name, topic) in &metadata.topics {
        if is_internal(name)
            || topic.is_internal
            || topic.error.is_some()
            || !shared.config.topic_filters.selects(name)
        {
            continue;
        }
        let mirror_name = shared.config.mirror_name(name);
        if shared.local.topic_exists(&mirror_name) {
            continue;
        }
        if let Err(e) = create_mirror(shared, client, &mirror_name, name, metadata).await {
            tracing::warn!(link = %shared.name(), topic = %name, error = %e, "could not create mirror topic");
        }
    }
}

/// Creates one mirror topic from the source's metadata and configs.
pub async fn create_mirror(
    shared: &Arc<LinkShared>,
    client: &Client,
    mirror_topic: &str,
    source_topic: &str,
    metadata: &ClusterMetadata,
) -> Result<(), crate::local::LocalError> {
    let topic = metadata.topic(source_topic).ok_or_else(|| {
        crate::local::LocalError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("source topic '{source_topic}' does not exist on the source cluster"),
        )
    })?;
    let partitions = topic.partitions.len() as i32;
    let configs = source_topic_configs(client, source_topic).await;
    let mirror = MirrorInfo {
        link_name: shared.name().to_string(),
        source_topic: source_topic.to_string(),
        source_topic_id: topic.topic_id.map(|id| id.to_string()),
        state: MirrorState::Active,
        reason: None,
        reason_message: None,
        state_time_ms: now_ms(),
    };
    shared
        .local
        .create_mirror_topic(mirror_topic, partitions, configs, mirror)?;
    tracing::info!(link = %shared.name(), mirror = mirror_topic, source = source_topic, partitions, "created mirror topic");
    Ok(())
}

/// The source topic's explicitly set configs (copied to the mirror at creation).
async fn source_topic_configs(client: &Client, topic: &str) -> BTreeMap<String, String> {
    match client
        .describe_configs(
            &[strait_client::admin::ConfigResource::topic(topic)],
            None,
            false,
        )
        .await
    {
        Ok(results) => results
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .flatten()
            .filter(|e| {
                e.source == strait_client::admin::ConfigSource::DynamicTopic && !e.is_sensitive
            })
            .filter_map(|e| e.value.map(|v| (e.name, v)))
            .collect(),
        Err(e) => {
            // Sources that lack DescribeConfigs (librdkafka's mock) still get mirrored.
            tracing::debug!(topic, error = %e, "source DescribeConfigs failed; mirror starts with default configs");
            BTreeMap::new()
        }
    }
}

/// Checks every mirror of this link against source metadata; returns partitions to fetch,
/// grouped by source leader.
async fn reconcile(
    shared: &Arc<LinkShared>,
    client: &Client,
    metadata: &ClusterMetadata,
) -> HashMap<i32, Vec<Assignment>> {
    let mut by_leader: HashMap<i32, Vec<Assignment>> = HashMap::new();
    for m in shared.mirrors() {
        if !m.mirror.state.is_mirroring() {
            continue;
        }
        let fail = |reason: &str, message: String| {
            tracing::warn!(link = %shared.name(), mirror = %m.topic, reason, %message, "mirror failed");
            let _ = shared.local.set_mirror_state(
                &m.topic,
                MirrorState::Failed,
                Some((reason.to_string(), message)),
            );
        };
        let Some(source) = metadata.topic(&m.mirror.source_topic) else {
            // Metadata may not have been refreshed since the mirror was created by hand.
            if metadata.topics.is_empty() {
                continue;
            }
            fail(
                "SOURCE_TOPIC_MAY_BE_DELETED",
                format!(
                    "source topic '{}' no longer exists on the source cluster",
                    m.mirror.source_topic
                ),
            );
            continue;
        };
        if source.error == Some(ErrorCode::UnknownTopicOrPartition) {
            fail(
                "SOURCE_TOPIC_MAY_BE_DELETED",
                format!(
                    "source topic '{}' no longer exists on the source cluster",
                    m.mirror.source_topic
                ),
            );
            continue;
        }
        if let (Some(stored), Some(now)) = (&m.mirror.source_topic_id, source.topic_id) {
            if *stored != now.to_string() {
                fail("SOURCE_TOPIC_ID_CHANGED", format!("source topic '{}' was deleted and recreated (topic id {stored} is now {now})", m.mirror.source_topic));
                continue;
            }
        }
        let source_partitions = source.partitions.len() as i32;
        if source_partitions < m.partitions {
            fail(
                "SOURCE_PARTITIONS_DECREASED",
                format!(
                    "source topic '{}' has {source_partitions} partitions, the mirror {}",
                    m.mirror.source_topic, m.partitions
                ),
            );
            continue;
        }
        if source_partitions > m.partitions {
            match shared
                .local
                .add_mirror_partitions(&m.topic, source_partitions)
            {
                Ok(()) => {
                    tracing::info!(mirror = %m.topic, from = m.partitions, to = source_partitions, "mirror follows source partition growth")
                }
                Err(e) => tracing::warn!(mirror = %m.topic, error = %e, "could not add partitions"),
            }
        }
        for (partition, pm) in &source.partitions {
            let Some(leader) = pm.leader_id.filter(|l| *l >= 0) else {
                continue;
            };
            if let Err(e) = position_new_partition(
                shared,
                client,
                leader,
                &m.topic,
                &m.mirror.source_topic,
                *partition,
            )
            .await
            {
                shared.update_stats(&m.topic, *partition, |s| s.error = Some(e.to_string()));
                continue;
            }
            by_leader.entry(leader).or_default().push(Assignment {
                mirror_topic: m.topic.clone(),
                source_topic: m.mirror.source_topic.clone(),
                partition: *partition,
                leader_epoch: pm.leader_epoch,
            });
        }
    }
    by_leader
}

/// A partition with no local data starts where `mirror.start.offset.spec` says; with
/// `earliest` the first fetch's OFFSET_OUT_OF_RANGE handling finds the source's log start.
async fn position_new_partition(
    shared: &Arc<LinkShared>,
    client: &Client,
    leader: i32,
    mirror_topic: &str,
    source_topic: &str,
    partition: i32,
) -> Result<(), ClientError> {
    let spec = match shared.config.start_offset {
        StartOffsetSpec::Earliest => return Ok(()),
        StartOffsetSpec::Latest => OffsetSpec::Latest,
        StartOffsetSpec::Timestamp(t) => OffsetSpec::Timestamp(t),
    };
    let Ok(pos) = shared.local.partition_position(mirror_topic, partition) else {
        return Ok(());
    };
    if pos.log_end_offset != 0
        || pos.log_start_offset != 0
        || shared
            .stats(mirror_topic, partition)
            .last_fetch_ms
            .is_some()
    {
        return Ok(());
    }
    let listed = client
        .list_offsets(leader, vec![(source_topic.to_string(), partition, spec)])
        .await?;
    let mut offset = listed.first().map_or(-1, |l| l.offset);
    if offset < 0 {
        // No record at or after the timestamp: start at the end.
        let latest = client
            .list_offsets(
                leader,
                vec![(source_topic.to_string(), partition, OffsetSpec::Latest)],
            )
            .await?;
        offset = latest.first().map_or(0, |l| l.offset.max(0));
    }
    if offset > 0 {
        shared
            .local
            .truncate_fully_and_start_at(mirror_topic, partition, offset)
            .map_err(|e| ClientError::Kafka {
                code: e.code,
                message: Some(e.message),
                context: "positioning mirror partition".into(),
            })?;
    }
    Ok(())
}

/// Copies the synced topic configs of every mirroring topic from its source topic.
async fn sync_topic_configs(shared: &Arc<LinkShared>, client: &Client) -> Result<u64, String> {
    let mirrors: Vec<_> = shared
        .mirrors()
        .into_iter()
        .filter(|m| m.mirror.state.is_mirroring() || m.mirror.state == MirrorState::Paused)
        .collect();
    if mirrors.is_empty() {
        return Ok(0);
    }
    let resources: Vec<_> = mirrors
        .iter()
        .map(|m| strait_client::admin::ConfigResource::topic(m.mirror.source_topic.clone()))
        .collect();
    let described = client
        .describe_configs(&resources, None, false)
        .await
        .map_err(|e| format!("DescribeConfigs on the source failed: {e}"))?;
    let mut changed = 0u64;
    let mut errors = Vec::new();
    for m in &mirrors {
        let Some((_, result)) = described
            .iter()
            .find(|(r, _)| r.name == m.mirror.source_topic)
        else {
            continue;
        };
        let entries = match result {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: {e}", m.mirror.source_topic));
                continue;
            }
        };
        let source: BTreeMap<String, String> = entries
            .iter()
            .filter(|e| {
                e.source == strait_client::admin::ConfigSource::DynamicTopic && !e.is_sensitive
            })
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
            .collect();
        let Ok(local) = shared.local.mirror_configs(&m.topic) else {
            continue;
        };
        let desired =
            crate::sync::synced_configs(&local, &source, &shared.config.topic_config_sync_include);
        if desired != local {
            match shared.local.set_mirror_configs(&m.topic, desired) {
                Ok(()) => {
                    changed += 1;
                    tracing::info!(link = %shared.name(), mirror = %m.topic, "synced topic configs from the source");
                }
                Err(e) => errors.push(format!("{}: {e}", m.topic)),
            }
        }
    }
    if errors.is_empty() {
        Ok(changed)
    } else {
        Err(errors.join("; "))
    }
}

/// Makes the destination's ACLs that the aclFilters select equal the source's selected
/// ACLs: creates what is missing, deletes what the source no longer has. ACLs the filters
/// do not select are never touched. Nothing changes when the source cannot be read.
pub async fn sync_acls(shared: &Arc<LinkShared>, client: &Client) -> Result<u64, String> {
    use std::collections::HashSet;
    let filters = &shared.config.acl_filters;
    let source = client
        .describe_acls(&strait_client::acls::AclBindingFilter::any())
        .await
        .map_err(|e| format!("DescribeAcls on the source failed: {e}"))?;
    let desired: HashSet<crate::filters::AclBinding> = source
        .into_iter()
        .map(|b| crate::filters::AclBinding {
            resource_type: b.resource_type.code(),
            resource_name: b.resource_name,
            pattern_type: b.pattern_type.code(),
            principal: b.principal,
            host: b.host,
            operation: b.operation.code(),
            permission_type: b.permission_type.code(),
        })
        .filter(|b| filters.selects(b))
        .collect();
    let local: HashSet<crate::filters::AclBinding> = shared
        .local
        .acls()
        .into_iter()
        .filter(|b| filters.selects(b))
        .collect();
    let mut create: Vec<_> = desired.difference(&local).cloned().collect();
    let mut delete: Vec<_> = local.difference(&desired).cloned().collect();
    if create.is_empty() && delete.is_empty() {
        return Ok(0);
    }
    // A stable order keeps logs and persisted state deterministic.
    create.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    delete.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    let (created, deleted, errors) = shared
        .local
        .apply_acls(&create, &delete)
        .map_err(|e| e.to_string())?;
    if created + deleted > 0 {
        tracing::info!(link = %shared.name(), created, deleted, "synced ACLs from the source");
    }
    if errors.is_empty() {
        Ok((created + deleted) as u64)
    } else {
        Err(format!(
            "{} ACL(s) could not be represented here: {}",
            errors.len(),
            errors.join("; ")
        ))
    }
}

/// Copies committed offsets of the source groups the groupFilters select, for partitions
/// of this link's mirrors (only `only_source_topics` when given). Offsets are identical on
/// both sides, so nothing is translated: each offset is committed with its leader epoch and
/// metadata, clamped at the mirror's log end offset. A group with members on the
/// destination is never overwritten (its consumers own it). Returns partitions committed.
pub async fn sync_consumer_offsets(
    shared: &Arc<LinkShared>,
    client: &Client,
    only_source_topics: Option<&[String]>,
) -> Result<u64, String> {
    if !shared.config.consumer_offset_sync || shared.config.group_filters.is_empty() {
        return Ok(0);
    }
    // Source topic -> mirror topic, for mirrors that still follow their source.
    let mirrors: HashMap<String, String> = shared
        .mirrors()
        .into_iter()
        .filter(|m| m.mirror.state != MirrorState::Stopped && m.mirror.state != MirrorState::Failed)
        .filter(|m| only_source_topics.is_none_or(|only| only.contains(&m.mirror.source_topic)))
        .map(|m| (m.mirror.source_topic, m.topic))
        .collect();
    if mirrors.is_empty() {
        return Ok(0);
    }
    let groups = client
        .list_groups()
        .await
        .map_err(|e| format!("ListGroups on the source failed: {e}"))?;
    let mut committed = 0u64;
    let mut errors = Vec::new();
    for g in groups
        .iter()
        .filter(|g| shared.config.group_filters.selects(&g.group_id))
    {
        let local_group = match (
            &shared.config.cluster_link_prefix,
            shared.config.consumer_group_prefix,
        ) {
            (Some(p), true) => format!("{p}{}", g.group_id),
            _ => g.group_id.clone(),
        };
        let source_offsets = match client.offset_fetch(&g.group_id, None).await {
            Ok(o) => o,
            Err(e) => {
                errors.push(format!("OffsetFetch of group '{}' failed: {e}", g.group_id));
                continue;
            }
        };
        let mut wanted = Vec::new();
        for o in source_offsets
            .into_iter()
            .filter(|o| o.offset >= 0 && o.error.is_none())
        {
            let Some(mirror) = mirrors.get(&o.topic) else {
                continue;
            };
            let Ok(pos) = shared.local.partition_position(mirror, o.partition) else {
                continue;
            };
            wanted.push(crate::local::GroupOffset {
                topic: mirror.clone(),
                partition: o.partition,
                offset: o.offset.min(pos.log_end_offset),
                leader_epoch: o.leader_epoch.unwrap_or(-1),
                metadata: o.metadata,
            });
        }
        let keys: Vec<(String, i32)> = wanted
            .iter()
            .map(|o| (o.topic.clone(), o.partition))
            .collect();
        let current: HashMap<(String, i32), Option<i64>> = shared
            .local
            .group_offsets(&local_group, &keys)
            .into_iter()
            .collect();
        wanted.retain(|o| {
            current
                .get(&(o.topic.clone(), o.partition))
                .copied()
                .flatten()
                != Some(o.offset)
        });
        if wanted.is_empty() {
            continue;
        }
        if shared.local.group_is_active(&local_group) {
            tracing::debug!(link = %shared.name(), group = %local_group, "group is active on the destination; offsets left alone");
            continue;
        }
        match shared.local.commit_group_offsets(&local_group, &wanted) {
            Ok(n) => committed += n as u64,
            Err(e) => errors.push(format!("commit for group '{local_group}' failed: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(committed)
    } else {
        Err(errors.join("; "))
    }
}

/// Promotes PENDING_STOPPED mirrors whose every partition has caught up with a source high
/// watermark seen after the promote request, after a final consumer-offset sync of the
/// topic so that consumers moving over resume at exactly the next record.
async fn finish_promotions(shared: &Arc<LinkShared>, client: &Client) {
    for m in shared.mirrors() {
        if m.mirror.state != MirrorState::PendingStopped {
            continue;
        }
        let caught_up = (0..m.partitions).all(|p| {
            let stats = shared.stats(&m.topic, p);
            let fresh = stats
                .last_fetch_ms
                .is_some_and(|t| t >= m.mirror.state_time_ms);
            let leo = shared
                .local
                .partition_position(&m.topic, p)
                .map(|pos| pos.log_end_offset)
                .unwrap_or(-1);
            fresh && leo >= stats.source_high_watermark
        });
        if caught_up {
            if shared.config.consumer_offset_sync {
                let outcome = sync_consumer_offsets(
                    shared,
                    client,
                    Some(std::slice::from_ref(&m.mirror.source_topic)),
                )
                .await;
                shared.record_task("consumer_offset_sync", outcome);
            }
            match shared.local.promote(&m.topic) {
                Ok(()) => {
                    tracing::info!(link = %shared.name(), mirror = %m.topic, "mirror promoted: now a writable topic")
                }
                Err(e) => tracing::warn!(mirror = %m.topic, error = %e, "promotion failed"),
            }
        }
    }
}
