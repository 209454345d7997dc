//! One link's background task: connect to the source, keep source metadata fresh, create
//! mirrors for newly matching source topics, follow partition growth, detect deleted or
//! recreated source topics, hand partitions to `num.cluster.link.fetchers` fetchers per
//! source leader, and start promotions ([`crate::promote`]).
//!
//! State shared with the admin API and the fetchers lives in [`LinkShared`]. The local log
//! is the only record of mirroring progress: a fetch always starts at the local log end
//! offset, so a restart (or a `kill -9`) resumes with no gap and no duplicate.
//!
//! Failure handling follows Confluent's link configs: losing the source only makes the
//! link UNAVAILABLE through the availability checker ([`crate::availability`]); the loop
//! here reconnects with `retry.backoff.ms` doubling up to `retry.backoff.max.ms`. An
//! operation that keeps failing on a reachable source (a topic missing from metadata, an
//! offset lookup, a fetch error) is retried until `cluster.link.retry.timeout.ms`, then the
//! mirror topic is FAILED with the reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_client::metadata::ClusterMetadata;
use strait_client::offsets::OffsetSpec;
use strait_client::{Client, ClientError};
use strait_protocol::ErrorCode;
use tokio::sync::watch;

use crate::assign::{spread, PartitionKey};
use crate::config::StartOffsetSpec;
use crate::fetcher::{run_fetcher, Assignment, Assignments};
use crate::local::MirrorInfo;
pub(crate) use crate::shared::lock;
pub use crate::shared::{now_ms, LinkShared, LinkStatus, PartitionStats, TaskStatus};
use crate::state::{LinkState, MirrorState};

mod inputs;
pub use crate::sync_tasks::{sync_acls, sync_consumer_offsets, sync_topic_configs};
use inputs::{needs_reconcile, ReconcileInputs};

/// Aborts the availability checker when the link task ends (or is aborted).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `retry.backoff.ms` .. `retry.backoff.max.ms` exponential back-off.
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(shared: &LinkShared) -> Self {
        let initial = Duration::from_millis(shared.config().retry_backoff_ms);
        Backoff {
            initial,
            max: Duration::from_millis(shared.config().retry_backoff_max_ms),
            next: initial,
        }
    }
    fn reset(&mut self) {
        self.next = self.initial;
    }
    fn take(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max).max(self.initial);
        now
    }
}

/// Runs a link until it is deleted.
pub async fn run_link(shared: Arc<LinkShared>) {
    let _checker = AbortOnDrop(tokio::spawn(crate::availability::run_availability_check(
        shared.clone(),
    )));
    let mut backoff = Backoff::new(&shared);
    while !shared.deleted.load(Ordering::Acquire) {
        if shared.config().paused {
            shared.set_status(LinkState::Paused, None);
            shared.wake.notified().await;
            continue;
        }
        let error = match Client::connect(&shared.client_config()).await {
            Err(e) => format!("cannot connect to the source cluster: {e}"),
            Ok(client) => {
                *lock(&shared.client) = Some(client.clone());
                let result = drive(&shared, &client, &mut backoff).await;
                *lock(&shared.client) = None;
                client.close().await;
                match result {
                    Ok(()) => {
                        // An alter may have changed the retry.backoff.* settings.
                        backoff = Backoff::new(&shared);
                        continue;
                    }
                    Err(e) => format!("lost the source cluster: {e}"),
                }
            }
        };
        // Runs of partition failures measured against cluster.link.retry.timeout.ms start
        // over once the source is back: time spent unreachable is the availability
        // checker's business, not a partition failure.
        shared.reset_partition_failures();
        let (state, reason) = classify_text(&error);
        if state == LinkState::Failed {
            // The source answered and refused us (credentials, permissions).
            shared.set_status(state, Some((reason, error)));
        } else {
            tracing::debug!(link = %shared.name(), %error, "source request failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.take()) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

fn classify_text(text: &str) -> (LinkState, &'static str) {
    let lower = text.to_ascii_lowercase();
    if lower.contains("authenticat") || lower.contains("sasl") {
        (LinkState::Failed, "AUTHENTICATION_ERROR")
    } else if lower.contains("authoriz") {
        (LinkState::Failed, "AUTHORIZATION_ERROR")
    } else if lower.contains("timed out") || lower.contains("timeout") {
        (LinkState::Unavailable, "TIMEOUT_ERROR")
    } else {
        (
            LinkState::Unavailable,
            "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
        )
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
        other => classify_text(&other.to_string()),
    }
}

/// Internal topics are never mirrored.
pub fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}

struct Fetcher {
    assignments: watch::Sender<Assignments>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Mirrors with one connected client until the source fails or the link is deleted/paused.
async fn drive(
    shared: &Arc<LinkShared>,
    client: &Client,
    backoff: &mut Backoff,
) -> Result<(), ClientError> {
    // (source broker, fetcher index) -> fetcher; dropping a fetcher stops it.
    let mut fetchers: HashMap<(i32, usize), Fetcher> = HashMap::new();
    // Which fetcher index each mirror partition was given, for a sticky spread.
    let mut placement: HashMap<PartitionKey, usize> = HashMap::new();
    let mut last_refresh: Option<Instant> = None;
    let mut last_config_sync: Option<Instant> = None;
    let mut last_offset_sync: Option<Instant> = None;
    let mut last_acl_sync: Option<Instant> = None;
    let mut metadata = Arc::new(ClusterMetadata::default());
    // Bumped at every metadata refresh: with the mirrors' fingerprint it tells a pass
    // whether anything reconcile reads has changed (see [`ReconcileInputs`]).
    let mut metadata_generation = 0u64;
    let mut last_inputs: Option<ReconcileInputs> = None;
    // The source connection settings this client was made with: an alter that changes
    // them ends this drive, and the caller reconnects with the new ones (fetchers are
    // dropped and restart at each mirror's local log end, so nothing is lost or copied
    // twice).
    let generation = shared.client_generation();
    loop {
        // Read every pass, so an alter of intervals, filters or fetcher count takes
        // effect on the next pass without reconnecting.
        let config = shared.config();
        if shared.deleted.load(Ordering::Acquire)
            || config.paused
            || shared.client_generation() != generation
        {
            return Ok(());
        }
        let refresh_every = Duration::from_millis(config.metadata_max_age_ms);
        let due = last_refresh.is_none_or(|t| t.elapsed() >= refresh_every);
        if due {
            metadata = client.refresh_all_metadata().await?;
            metadata_generation += 1;
            last_refresh = Some(Instant::now());
            backoff.reset();
            shared.set_source_cluster_id(metadata.cluster_id.clone());
            shared.source_answered(true);
            // Which source topics are mirrors, and their origin chains: read by discovery
            // (never mirror one back here) and kept for this link's own mirrors.
            let source_mirrors = crate::loops::SourceMirrors::fetch(client).await;
            discover(shared, client, &metadata, &source_mirrors).await;
            if let Ok(m) = &source_mirrors {
                crate::loops::record_chains(shared, m, None);
            }
            crate::loops::record_peer(shared, client).await;
        }
        // First, so a promote request that woke the loop is acted on at once.
        crate::promote::start_promotions(shared, client);
        let n = config.num_fetchers.max(1);
        // Idle passes cost one look at the mirror topics, not a walk over every partition:
        // reconcile and the fetchers' assignments only change when what they are computed
        // from changes (or a fetcher ended and must be restarted).
        let inputs = ReconcileInputs::of(shared, metadata_generation, n);
        let fetchers_alive = fetchers.values().all(|f| !f.task.is_finished());
        if needs_reconcile(last_inputs.as_ref(), &inputs, fetchers_alive) {
            let (by_leader, outcome) = reconcile(shared, &metadata).await;
            // A pass that left something waiting (a source topic missing, a partition
            // without a leader) runs again next time: its retry timeout is measured by
            // these passes.
            last_inputs = outcome.settled.then_some(inputs);
            if outcome.missing_source
                && last_refresh.is_some_and(|t| t.elapsed() >= MISSING_TOPIC_REFRESH)
            {
                // A mirror created by hand (or a topic created on the source) after the
                // last refresh: look again soon instead of waiting out metadata.max.age.ms.
                last_refresh = None;
            }
            assign_fetchers(shared, client, by_leader, n, &mut placement, &mut fetchers);
        }
        run_due_syncs(
            shared,
            client,
            &config,
            &mut last_config_sync,
            &mut last_offset_sync,
            &mut last_acl_sync,
        )
        .await;
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = shared.refresh.notified() => { last_refresh = None; }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Hands the partitions to fetch to `n` fetchers per source leader, spread evenly and
/// stickily; a fetcher whose list changed gets the new list as a whole (one new `Arc`, so
/// it can tell "unchanged" by pointer), a missing or ended one is started.
fn assign_fetchers(
    shared: &Arc<LinkShared>,
    client: &Client,
    by_leader: HashMap<i32, Vec<Assignment>>,
    n: usize,
    placement: &mut HashMap<PartitionKey, usize>,
    fetchers: &mut HashMap<(i32, usize), Fetcher>,
) {
    let mut wanted: HashMap<(i32, usize), Vec<Assignment>> = HashMap::new();
    let mut next_placement = HashMap::new();
    for (broker, parts) in by_leader {
        for (i, list) in spread(placement, &parts, n).into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            for a in &list {
                next_placement.insert((a.mirror_topic.clone(), a.partition), i);
            }
            wanted.insert((broker, i), list);
        }
    }
    *placement = next_placement;
    fetchers.retain(|key, _| wanted.contains_key(key));
    for ((broker, index), parts) in wanted {
        match fetchers.get(&(broker, index)) {
            Some(f) if !f.task.is_finished() => {
                f.assignments.send_if_modified(|cur| {
                    if **cur != parts {
                        *cur = Arc::new(parts);
                        true
                    } else {
                        false
                    }
                });
            }
            _ => {
                let (tx, rx) = watch::channel(Arc::new(parts));
                let task = tokio::spawn(run_fetcher(
                    shared.clone(),
                    client.clone(),
                    broker,
                    index,
                    rx,
                ));
                fetchers.insert(
                    (broker, index),
                    Fetcher {
                        assignments: tx,
                        task,
                    },
                );
            }
        }
    }
}

/// Runs the periodic config, consumer-offset and ACL syncs that are due.
async fn run_due_syncs(
    shared: &Arc<LinkShared>,
    client: &Client,
    config: &crate::config::LinkConfig,
    last_config_sync: &mut Option<Instant>,
    last_offset_sync: &mut Option<Instant>,
    last_acl_sync: &mut Option<Instant>,
) {
    let due = |last: &Option<Instant>, every_ms: u64| {
        last.is_none_or(|t| t.elapsed() >= Duration::from_millis(every_ms))
    };
    if due(last_config_sync, config.topic_config_sync_ms) {
        *last_config_sync = Some(Instant::now());
        let outcome = sync_topic_configs(shared, client).await;
        shared.record_task("topic_config_sync", outcome);
    }
    if config.consumer_offset_sync && due(last_offset_sync, config.consumer_offset_sync_ms) {
        *last_offset_sync = Some(Instant::now());
        let outcome = sync_consumer_offsets(shared, client, None).await;
        shared.record_task("consumer_offset_sync", outcome);
    }
    if config.acl_sync && due(last_acl_sync, config.acl_sync_ms) {
        *last_acl_sync = Some(Instant::now());
        let outcome = sync_acls(shared, client).await;
        shared.record_task("acl_sync", outcome);
    }
}

/// Creates mirrors for source topics that match the link's topic filters.
async fn discover(
    shared: &Arc<LinkShared>,
    client: &Client,
    metadata: &ClusterMetadata,
    source_mirrors: &Result<crate::loops::SourceMirrors, String>,
) {
    let config = shared.config();
    if !config.auto_create_mirror_topics {
        crate::shadow::record(shared, Default::default());
        return;
    }
    // A source that cannot say which of its topics are mirrors creates nothing new this
    // pass (a loop is never risked).
    let source_mirrors = match source_mirrors {
        Ok(m) => m,
        Err(e) => {
            shared.record_task(crate::loops::LOOP_TASK, Err(e.clone()));
            return;
        }
    };
    let local_id = shared.local.cluster_id();
    let mut looped = Vec::new();
    // Local normal topics found under a would-be mirror's name this pass.
    let mut shadowed = std::collections::BTreeMap::new();
    for (name, topic) in &metadata.topics {
        if is_internal(name)
            || topic.is_internal
            || topic.error.is_some()
            || !config.topic_filters.selects(name)
        {
            continue;
        }
        if let Some(why) = source_mirrors.loop_reason(name, &local_id) {
            looped.push((name.clone(), why));
            continue;
        }
        let mirror_name = config.mirror_name(name);
        if shared.local.topic_exists(&mirror_name) {
            if crate::shadow::is_shadowing(shared, &mirror_name) {
                shadowed.insert(mirror_name, name.clone());
            }
            continue;
        }
        if let Err(e) = create_mirror(shared, client, &mirror_name, name, metadata).await {
            tracing::warn!(link = %shared.name(), topic = %name, error = %e, "could not create mirror topic");
        }
    }
    crate::shadow::record(shared, shadowed);
    crate::loops::record_skipped(shared, &looped);
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
    // Resolved before anything is created, so a source that cannot answer leaves nothing.
    let starts = resolve_start_offsets(shared, client, source_topic, partitions)
        .await
        .map_err(|e| {
            crate::local::LocalError::new(
                e.kafka_code().unwrap_or(ErrorCode::NetworkException),
                format!("cannot resolve mirror.start.offset.spec on the source: {e}"),
            )
        })?;
    let mirror = MirrorInfo {
        link_name: shared.name().to_string(),
        source_topic: source_topic.to_string(),
        source_topic_id: topic.topic_id.map(|id| id.to_string()),
        state: MirrorState::Active,
        reason: None,
        reason_message: None,
        state_time_ms: now_ms(),
        aborted_transactions: None,
    };
    // Not fetched until positioned (the link loop skips it), so no fetch from offset 0
    // races the positioning. A crash in between leaves partitions that start at the
    // source's log start: more records, never fewer.
    lock(&shared.positioning).insert(mirror_topic.to_string());
    // A mirror of this name created afresh starts unfenced.
    shared.owner.reset(mirror_topic);
    let created = match (
        shared
            .local
            .create_mirror_topic(mirror_topic, partitions, configs, mirror),
        &starts,
    ) {
        (Ok(()), Some(starts)) => position_new_mirror(shared, mirror_topic, starts).await,
        (created, _) => created,
    };
    lock(&shared.positioning).remove(mirror_topic);
    created?;
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
            // Durability settings describe the source's replicas, not the mirror's (a
            // source's min.insync.replicas=2 on an RF=1 mirror would refuse every
            // acks=all write once promoted): never copied, as the periodic sync never
            // copies them.
            .filter(|e| !crate::sync::NEVER_SYNCED_TOPIC_CONFIGS.contains(&e.name.as_str()))
            .filter_map(|e| e.value.map(|v| (e.name, v)))
            .collect(),
        Err(e) => {
            // Sources that lack DescribeConfigs (librdkafka's mock) still get mirrored.
            tracing::debug!(topic, error = %e, "source DescribeConfigs failed; mirror starts with default configs");
            BTreeMap::new()
        }
    }
}

/// How often the link loop refreshes source metadata while a mirror's source topic is
/// missing from it.
const MISSING_TOPIC_REFRESH: Duration = Duration::from_secs(1);

/// What a reconcile pass left undone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReconcileOutcome {
    /// Nothing is waiting on the source (false: a missing topic, a partition without a
    /// leader, metadata not fetched yet, a topic being positioned), so the next pass may be
    /// skipped if its inputs are unchanged.
    pub settled: bool,
    /// A mirroring topic's source topic is missing from the metadata used.
    pub missing_source: bool,
}

/// Checks every mirror of this link against source metadata; returns partitions to fetch,
/// grouped by source leader, and what the pass left waiting.
pub(crate) async fn reconcile(
    shared: &Arc<LinkShared>,
    metadata: &ClusterMetadata,
) -> (HashMap<i32, Vec<Assignment>>, ReconcileOutcome) {
    let mut by_leader: HashMap<i32, Vec<Assignment>> = HashMap::new();
    let mut settled = true;
    let mut missing_source = false;
    for m in shared.mirrors() {
        if !m.mirror.state.is_mirroring() {
            continue;
        }
        if lock(&shared.positioning).contains(&m.topic) {
            settled = false;
            continue;
        }
        let fail = |reason: &str, message: String| shared.fail_mirror(&m.topic, reason, message);
        // Metadata may not have been refreshed since the mirror was created by hand. A
        // real Metadata answer always names a broker; a source whose last topic was
        // deleted answers with no topics, and that must still fail its mirrors.
        if metadata.brokers.is_empty() {
            settled = false;
            continue;
        }
        let source = metadata
            .topic(&m.mirror.source_topic)
            .filter(|t| t.error != Some(ErrorCode::UnknownTopicOrPartition));
        let Some(source) = source else {
            settled = false;
            missing_source = true;
            // Possibly deleted, possibly a source broker with stale metadata: retried until
            // cluster.link.retry.timeout.ms, as Confluent does.
            let missing_ms = shared.source_topic_missing(&m.topic);
            let timeout = shared.config().retry_timeout_ms;
            let message = format!(
                "source topic '{}' is missing from source metadata",
                m.mirror.source_topic
            );
            if u64::try_from(missing_ms).unwrap_or(0) >= timeout {
                fail(
                    "SOURCE_TOPIC_MAY_BE_DELETED",
                    format!("{message} for {missing_ms} ms, giving up after cluster.link.retry.timeout.ms={timeout}"),
                );
            } else {
                for p in 0..m.partitions {
                    shared.partition_waiting(
                        &m.topic,
                        p,
                        crate::faults::Reason::SourceTopicMayBeDeleted,
                        format!(
                            "{message}; retrying for up to cluster.link.retry.timeout.ms={timeout}"
                        ),
                    );
                }
            }
            continue;
        };
        shared.source_topic_present(&m.topic);
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
            settled = false;
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
                settled = false;
                // Not fetched until the source elects a leader; retried for as long as
                // that takes (an unavailable source partition never fails its mirror), and
                // counted once per episode however often this loop looks.
                shared.partition_waiting(
                    &m.topic,
                    *partition,
                    crate::faults::Reason::SourceUnavailable,
                    format!(
                        "source partition has no leader ({}); waiting for the source to elect one",
                        ErrorCode::LeaderNotAvailable
                    ),
                );
                continue;
            };
            by_leader.entry(leader).or_default().push(Assignment {
                mirror_topic: m.topic.clone(),
                source_topic: m.mirror.source_topic.clone(),
                partition: *partition,
                leader_epoch: pm.leader_epoch,
            });
        }
    }
    (
        by_leader,
        ReconcileOutcome {
            settled,
            missing_source,
        },
    )
}

/// Where each partition of a new mirror starts, by `mirror.start.offset.spec`, resolved
/// against the source once, before the mirror exists (`None`: from the source's log start,
/// which the first fetch's OFFSET_OUT_OF_RANGE handling finds). The spec means nothing
/// after creation: partitions added later start at their first offset, and a partition
/// with a local log resumes at its log end, so no record the source had is skipped.
async fn resolve_start_offsets(
    shared: &Arc<LinkShared>,
    client: &Client,
    source_topic: &str,
    partitions: i32,
) -> Result<Option<Vec<(i32, i64)>>, ClientError> {
    let spec = match shared.config().start_offset {
        StartOffsetSpec::Earliest => return Ok(None),
        StartOffsetSpec::Latest => OffsetSpec::Latest,
        StartOffsetSpec::Timestamp(t) => OffsetSpec::Timestamp(t),
    };
    let query = |spec: OffsetSpec| {
        (0..partitions)
            .map(|p| (source_topic.to_string(), p, spec))
            .collect::<Vec<_>>()
    };
    let listed = client.list_offsets_by_leader(query(spec)).await?;
    let latest = if listed.iter().any(|l| l.offset < 0) {
        client
            .list_offsets_by_leader(query(OffsetSpec::Latest))
            .await?
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for p in 0..partitions {
        let found = |list: &[strait_client::offsets::ListedOffset]| {
            list.iter()
                .find(|l| l.partition == p && l.error.is_none())
                .map(|l| l.offset)
        };
        let offset = match found(&listed) {
            Some(o) if o >= 0 => o,
            // No record at or after the timestamp: start at the end.
            Some(_) => found(&latest).unwrap_or(0).max(0),
            None => {
                return Err(ClientError::Kafka {
                    code: ErrorCode::UnknownTopicOrPartition,
                    message: Some(format!("no offset for {source_topic}-{p}")),
                    context: "resolving mirror.start.offset.spec".into(),
                })
            }
        };
        out.push((p, offset));
    }
    Ok(Some(out))
}

/// Moves a just-created mirror's partitions to their resolved start offsets (on the
/// partitions' I/O lanes: restarting a log rewrites its files).
async fn position_new_mirror(
    shared: &Arc<LinkShared>,
    mirror_topic: &str,
    starts: &[(i32, i64)],
) -> Result<(), crate::local::LocalError> {
    for &(p, offset) in starts {
        if offset > 0 {
            crate::local::partition_io(&shared.local, mirror_topic, p, move |local, t, p| {
                local.truncate_fully_and_start_at(t, p, offset)
            })
            .await??;
        }
    }
    Ok(())
}
