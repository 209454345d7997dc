//! State one running link shares between its admin API, its link loop, its availability
//! checker and its fetchers ([`LinkShared`]): the link's status, per-partition progress and
//! errors, and the periodic tasks' outcomes.
//!
//! Invariants: the local log is the only record of mirroring progress (nothing here is
//! persisted); link state changes go through [`LinkShared::set_status`] so each transition
//! is logged once; a partition's `failing_since_ms` is set by its first failure that the
//! retry timeout applies to and cleared by its first success, so
//! `cluster.link.retry.timeout.ms` measures one uninterrupted run of failures; its fault
//! (reason, message, attempts) is [`crate::faults`]'s.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use strait_client::ClientConfig;
use tokio::sync::Notify;

use crate::config::LinkConfig;
use crate::local::{LocalCluster, StoredLink};
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
    /// Wall-clock ms of the first failure in the current run of failures of this partition
    /// (fetch errors, offset lookups, append failures); `None` after a success.
    pub failing_since_ms: Option<i64>,
    /// The current run of failures with its reason (see [`crate::faults`]); `None` after
    /// a success.
    pub fault: Option<crate::faults::PartitionFault>,
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
    /// What the last successful run deliberately left alone (for the offset sync: the
    /// partitions the destination owns), shown to operators; not an error.
    pub note: Option<String>,
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
    /// The link's config, replaced as a whole by `cluster-links --alter` (readers take a
    /// snapshot with [`LinkShared::config`], so one decision never sees half of an alter).
    config: RwLock<Arc<LinkConfig>>,
    /// The source client config derived from `config`, replaced together with it.
    client_config: RwLock<Arc<ClientConfig>>,
    /// Bumped when an alter changed how the source is reached (bootstrap, security,
    /// credentials): the link loop and the availability checker drop their connections
    /// and reconnect with the new settings.
    client_generation: AtomicU64,
    /// Local normal topics that carry the name a mirror of this link would get (found by
    /// topic discovery): mirror topic -> source topic. See [`crate::shadow`].
    pub(crate) shadowed: Mutex<BTreeMap<String, String>>,
    pub local: Arc<dyn LocalCluster>,
    status: Mutex<LinkStatus>,
    stats: Mutex<HashMap<(String, i32), PartitionStats>>,
    tasks: Mutex<BTreeMap<&'static str, TaskStatus>>,
    /// Wakes the link loop (new mirror, promote, pause, resume, delete).
    pub wake: Notify,
    /// Asks the link loop for a metadata refresh (leader moved, topic gone).
    pub refresh: Notify,
    pub(crate) deleted: AtomicBool,
    /// Availability checks failed in a row since the source last answered.
    consecutive_check_failures: AtomicU32,
    /// Mirror topic -> wall-clock ms since which its source topic is missing from source
    /// metadata (retried until `cluster.link.retry.timeout.ms`).
    missing_since: Mutex<HashMap<String, i64>>,
    /// Mirror topics being created and positioned at `mirror.start.offset.spec`: not
    /// fetched until that is done, so no fetch races the positioning.
    pub(crate) positioning: Mutex<std::collections::HashSet<String>>,
    /// The single owner of the mirror partitions' write state (fetcher appends go through
    /// it; promote and failover fence through it).
    pub owner: crate::cutover::MirrorOwner,
    /// Mirror topics with a promotion task running (at most one each).
    pub(crate) promoting: Mutex<std::collections::HashSet<String>>,
    /// The link loop's connected source client while it has one, so that a promote
    /// request can start its promotion at once instead of waiting for the loop.
    pub(crate) client: Mutex<Option<strait_client::Client>>,
    /// The write-forwarding connection to the source (see [`crate::forward`]).
    pub(crate) forward: crate::forward::ForwardState,
    /// Mirror topic -> its origin chain, learned from the source (see [`crate::loops`]).
    pub(crate) origin_chains: Mutex<HashMap<String, Vec<String>>>,
    /// Source topics the last auto-create pass skipped as loops (set by
    /// [`crate::loops::record_skipped`], which also writes the human note).
    pub(crate) loop_skipped: AtomicUsize,
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
                // A link is ACTIVE until availability checks say otherwise
                // (availability.check.consecutive.failure.threshold of them in a row).
                state: if paused {
                    LinkState::Paused
                } else {
                    LinkState::Active
                },
                error: None,
                error_message: None,
                source_cluster_id: stored.source_cluster_id.clone(),
            }),
            stored,
            config: RwLock::new(Arc::new(config)),
            client_config: RwLock::new(Arc::new(client_config)),
            client_generation: AtomicU64::new(0),
            shadowed: Mutex::new(BTreeMap::new()),
            local,
            stats: Mutex::new(HashMap::new()),
            tasks: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            refresh: Notify::new(),
            deleted: AtomicBool::new(false),
            consecutive_check_failures: AtomicU32::new(0),
            missing_since: Mutex::new(HashMap::new()),
            positioning: Mutex::new(std::collections::HashSet::new()),
            owner: crate::cutover::MirrorOwner::default(),
            promoting: Mutex::new(std::collections::HashSet::new()),
            client: Mutex::new(None),
            forward: crate::forward::ForwardState::default(),
            origin_chains: Mutex::new(HashMap::new()),
            loop_skipped: AtomicUsize::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.stored.name
    }

    /// A snapshot of the link's current config (alters replace it as a whole).
    pub fn config(&self) -> Arc<LinkConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A snapshot of the current source client config.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client_config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Which source connection settings are in force (see [`Self::replace_config`]).
    pub fn client_generation(&self) -> u64 {
        self.client_generation.load(Ordering::Acquire)
    }

    /// Installs an altered config (already validated and persisted). When `reconnect`,
    /// the source connection settings changed: connections made with the old ones are
    /// dropped by their owners once they see the generation move.
    pub(crate) fn replace_config(&self, config: LinkConfig, client: ClientConfig, reconnect: bool) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        *self
            .client_config
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(client);
        if reconnect {
            self.client_generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn status(&self) -> LinkStatus {
        lock(&self.status).clone()
    }

    pub(crate) fn set_status(&self, state: LinkState, error: Option<(&str, String)>) {
        let mut s = lock(&self.status);
        if s.state != state {
            tracing::info!(link = %self.stored.name, state = state.name(), error = ?error, "link state");
        }
        s.state = state;
        s.error = error.as_ref().map(|(e, _)| e.to_string());
        s.error_message = error.map(|(_, m)| m);
    }

    pub(crate) fn set_source_cluster_id(&self, id: Option<String>) {
        let mut s = lock(&self.status);
        s.source_cluster_id = id.or(s.source_cluster_id.take());
    }

    /// The source answered a request: the availability count starts over, and a link that
    /// was UNAVAILABLE (or FAILED, when `clear_failed`: a full metadata refresh succeeded,
    /// so credentials and permissions work again) is ACTIVE again.
    pub(crate) fn source_answered(&self, clear_failed: bool) {
        self.consecutive_check_failures.store(0, Ordering::Release);
        let state = self.status().state;
        if state == LinkState::Unavailable || (clear_failed && state == LinkState::Failed) {
            self.set_status(LinkState::Active, None);
        }
    }

    /// An availability check failed. After
    /// `availability.check.consecutive.failure.threshold` in a row an ACTIVE link becomes
    /// UNAVAILABLE with this reason (its mirrors then show SOURCE_UNAVAILABLE). Returns the
    /// number of failures in a row.
    pub(crate) fn availability_check_failed(&self, reason: &str, message: String) -> u32 {
        let n = self
            .consecutive_check_failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let threshold = self.config().availability_failure_threshold;
        let state = self.status().state;
        if n >= threshold && matches!(state, LinkState::Active | LinkState::Unavailable) {
            self.set_status(
                LinkState::Unavailable,
                Some((
                    reason,
                    format!(
                        "the source cluster failed {n} consecutive availability checks (availability.check.consecutive.failure.threshold={threshold}, availability.check.ms={}): {message}",
                        self.config().availability_check_ms
                    ),
                )),
            );
        }
        n
    }

    /// Forgets every run of partition failures and missing source topics (the source was
    /// lost; what happened while it was unreachable is not a partition failure).
    pub(crate) fn reset_partition_failures(&self) {
        for s in lock(&self.stats).values_mut() {
            s.failing_since_ms = None;
        }
        lock(&self.missing_since).clear();
    }

    /// The source topic of `mirror` is missing from source metadata. Returns how long it has
    /// been missing (ms), starting the clock on the first call.
    pub(crate) fn source_topic_missing(&self, mirror: &str) -> i64 {
        let now = now_ms();
        let since = *lock(&self.missing_since)
            .entry(mirror.to_string())
            .or_insert(now);
        now - since
    }

    pub(crate) fn source_topic_present(&self, mirror: &str) {
        lock(&self.missing_since).remove(mirror);
    }

    /// Marks a mirror topic FAILED (only if it is still mirroring: a promote or failover
    /// that won the race keeps its state).
    pub(crate) fn fail_mirror(&self, topic: &str, reason: &str, message: String) {
        let mirroring = self
            .mirrors()
            .iter()
            .any(|m| m.topic == topic && m.mirror.state.is_mirroring());
        if !mirroring {
            return;
        }
        tracing::warn!(link = %self.stored.name, mirror = %topic, reason, %message, "mirror failed");
        if let Err(e) = self.local.set_mirror_state(
            topic,
            MirrorState::Failed,
            Some((reason.to_string(), message)),
        ) {
            tracing::warn!(mirror = %topic, error = %e, "could not mark the mirror FAILED");
        }
        lock(&self.missing_since).remove(topic);
        self.wake.notify_one();
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

    /// Sets the note of a task ([`TaskStatus::note`]).
    pub(crate) fn set_task_note(&self, name: &'static str, note: Option<String>) {
        lock(&self.tasks).entry(name).or_default().note = note;
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
    /// OUT_OF_SYNC when the link is down, a mirroring partition is further behind than the
    /// target, or a mirroring partition is in error (stuck: it is not copying, see
    /// [`crate::faults`]); STALE when a mirror failed or a partition has not been fetched within the
    /// target (so its lag is unknown); IN_SYNC otherwise. Returns (status, max lag in
    /// offsets, max lag in ms).
    pub fn sync_status(&self) -> (&'static str, i64, i64) {
        let now = now_ms();
        let target = self.config().target_latency_ms;
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
        let status = if link_down || behind || self.any_mirroring_partition_in_error() {
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
