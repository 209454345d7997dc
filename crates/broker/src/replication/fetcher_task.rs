//! One leader's fetcher task (Kafka's `ReplicaFetcherThread` loop): take the current
//! assignment, truncate the partitions that need it, resolve OFFSET_OUT_OF_RANGE, fetch
//! the rest from their log ends, apply the answers on the partitions' lanes; repeat.
//!
//! Requests go one at a time over one connection (the leader answers in order), so the
//! fetch offsets read from the partitions' published positions before a request are the
//! log ends its answer is applied at (only this task writes a follower log); a log job
//! re-checks that anyway (`fetcher_state.rs`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_client::fetch::{FetchParams, FetchPartitionSpec, FetchedPartition, IsolationLevel};
use strait_client::offsets::{EpochQuery, OffsetQuery, OffsetSpec};
use strait_client::{ClientConfig, ClientError, ConnectOptions, Connection, ErrorCode};

use super::state::{
    apply_epoch_answer, apply_fetched, guarded, reset_below_leader_start, truncate_without_epoch,
    Applied, FetchedData, JobError, PartState, Phase, Step,
};
use super::{Assigned, FetcherStats, LeaderEndpoint, LogRunner, ReplicaFetchConfig, TaskShared};
use crate::replication::follower::EpochEndOffset;

type Key = (String, i32);

/// A log job for one partition (runs on its lane).
type Job<R> = Box<dyn FnOnce() -> Result<R, JobError> + Send>;

pub(super) struct LeaderFetcher {
    pub config: ReplicaFetchConfig,
    pub leader_endpoint: LeaderEndpoint,
    pub io: LogRunner,
    pub shared: Arc<TaskShared>,
    pub stats: Arc<FetcherStats>,
}

/// A whole request failed: reconnect after the backoff.
struct RequestFailed(ClientError);

impl LeaderFetcher {
    fn leader(&self) -> i32 {
        self.shared.leader_id
    }

    fn backoff(&self) -> Duration {
        Duration::from_millis(self.config.backoff_ms)
    }

    pub async fn run(self) {
        let options = ConnectOptions::new(&ClientConfig {
            client_id: format!("broker-{}-fetcher-{}", self.config.node_id, self.leader()),
            request_timeout: Duration::from_millis(self.config.socket_timeout_ms),
            ..ClientConfig::default()
        });
        let options = match options {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(leader = self.leader(), error = %e, "replica fetcher cannot build its connection options; not fetching");
                return;
            }
        };
        let mut parts: HashMap<Key, PartState> = HashMap::new();
        let mut conn: Option<Connection> = None;
        let mut rotation = 0usize;
        loop {
            if self.shared.stopped.load(Ordering::Acquire) {
                break;
            }
            self.sync(&mut parts);
            let now = Instant::now();
            if !parts.values().any(|p| p.ready(now)) {
                let next = parts
                    .values()
                    .filter(|p| p.phase != Phase::Failed)
                    .filter_map(|p| p.retry_at)
                    .min();
                self.wait(next).await;
                continue;
            }
            let c = match self.connection(&options, &mut conn).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(leader = self.leader(), error = %e, "replica fetcher cannot reach the leader; backing off");
                    FetcherStats::add(&self.stats.errors, 1);
                    self.wait(Some(Instant::now() + self.backoff())).await;
                    continue;
                }
            };
            if let Err(RequestFailed(e)) = self.round(&c, &mut parts, &mut rotation).await {
                tracing::warn!(leader = self.leader(), error = %e, "replica fetch request failed; reconnecting after the backoff");
                FetcherStats::add(&self.stats.errors, 1);
                c.close();
                conn = None;
                self.wait(Some(Instant::now() + self.backoff())).await;
            }
        }
        if let Some(c) = conn {
            c.close();
        }
        tracing::info!(leader = self.leader(), "replica fetcher stopped");
    }

    /// Sleeps until `until` (forever if `None`) or the next assignment change / stop.
    async fn wait(&self, until: Option<Instant>) {
        let changed = self.shared.changed.notified();
        match until {
            Some(t) => {
                tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep_until(t.into()) => {}
                }
            }
            None => changed.await,
        }
    }

    /// Takes the manager's assignment: new partitions and new epochs start over with a
    /// truncation; partitions no longer assigned are forgotten.
    fn sync(&self, parts: &mut HashMap<Key, PartState>) {
        let assigned: HashMap<Key, Assigned> = super::lock(&self.shared.assigned).clone();
        parts.retain(|k, _| assigned.contains_key(k));
        for (key, a) in assigned {
            let same = parts.get(&key).is_some_and(|p| {
                p.leader_epoch == a.leader_epoch && Arc::ptr_eq(&p.partition, &a.partition)
            });
            if !same {
                parts.insert(key, PartState::new(a.partition, a.leader_epoch));
            }
        }
    }

    async fn connection(
        &self,
        options: &ConnectOptions,
        conn: &mut Option<Connection>,
    ) -> Result<Connection, ClientError> {
        let (host, port) = (self.leader_endpoint)(self.leader())
            .ok_or(ClientError::UnknownBroker(self.leader()))?;
        let address = format!("{host}:{port}");
        if let Some(c) = conn.as_ref() {
            if c.is_usable() && c.broker() == address {
                return Ok(c.clone());
            }
            c.close();
        }
        let c = Connection::connect(&address, options).await?;
        *conn = Some(c.clone());
        Ok(c)
    }

    /// One pass: truncations, out-of-range lookups, then one fetch.
    async fn round(
        &self,
        c: &Connection,
        parts: &mut HashMap<Key, PartState>,
        rotation: &mut usize,
    ) -> Result<(), RequestFailed> {
        self.truncate(c, parts).await?;
        self.out_of_range(c, parts).await?;
        self.fetch(c, parts, rotation).await
    }

    fn back_off(&self, p: &mut PartState, why: &str) {
        FetcherStats::add(&self.stats.errors, 1);
        tracing::debug!(leader = self.leader(), topic = %p.partition.topic, partition = p.partition.index, why, "replica fetch partition backs off");
        p.retry_at = Some(Instant::now() + self.backoff());
    }

    /// What a failed log job does to the partition's state.
    fn on_job_error(&self, p: &mut PartState, e: JobError) {
        match e {
            JobError::Stale => {
                FetcherStats::add(&self.stats.stale_dropped, 1);
                p.retry_at = Some(Instant::now() + self.backoff());
            }
            JobError::Diverged => p.phase = Phase::Truncating { ask: None },
            JobError::Storage(message) => {
                tracing::error!(leader = self.leader(), topic = %p.partition.topic, partition = p.partition.index, error = %message, "KAFKA_STORAGE_ERROR on the follower's own log: this partition stops replicating until it is reassigned");
                FetcherStats::add(&self.stats.errors, 1);
                p.phase = Phase::Failed;
            }
            JobError::Gone => self.back_off(p, "partition deleted"),
            JobError::BadData(message) => self.back_off(p, &message),
        }
    }

    async fn truncate(
        &self,
        c: &Connection,
        parts: &mut HashMap<Key, PartState>,
    ) -> Result<(), RequestFailed> {
        let now = Instant::now();
        let leader = self.leader();
        let mut queries = Vec::new();
        let mut no_epoch: Vec<(Key, Job<Step>)> = Vec::new();
        for (key, p) in parts.iter_mut() {
            let Phase::Truncating { ask } = p.phase else {
                continue;
            };
            if !p.ready(now) {
                continue;
            }
            let ask = ask.or(p.partition.watch().positions().latest_epoch);
            match ask {
                Some(epoch) => queries.push(EpochQuery {
                    topic: key.0.clone(),
                    partition: key.1,
                    leader_epoch: epoch,
                    current_leader_epoch: p.leader_epoch,
                }),
                None => {
                    let (partition, epoch) = (p.partition.clone(), p.leader_epoch);
                    no_epoch.push((
                        key.clone(),
                        Box::new(move || {
                            guarded(&partition, leader, epoch, truncate_without_epoch)
                        }),
                    ));
                }
            }
        }
        let mut jobs = no_epoch;
        if !queries.is_empty() {
            let answers = c
                .offset_for_leader_epoch_as_replica(self.config.node_id, &queries)
                .await
                .map_err(RequestFailed)?;
            for a in answers {
                let key = (a.topic.clone(), a.partition);
                let Some(p) = parts.get_mut(&key) else {
                    continue;
                };
                if let Some(code) = a.error {
                    // FENCED / UNKNOWN_LEADER_EPOCH: the leader does not know (yet) that it
                    // leads in our epoch; NOT_LEADER: the image will reassign us.
                    self.back_off(p, &code_name(code));
                    continue;
                }
                let answer = EpochEndOffset {
                    leader_epoch: a.leader_epoch,
                    end_offset: a.end_offset,
                };
                let (partition, epoch) = (p.partition.clone(), p.leader_epoch);
                jobs.push((
                    key,
                    Box::new(move || {
                        guarded(&partition, leader, epoch, |log| {
                            apply_epoch_answer(log, answer)
                        })
                    }),
                ));
            }
            // Partitions the leader did not answer for: ask again after the backoff.
            for q in &queries {
                let key = (q.topic.clone(), q.partition);
                if !jobs.iter().any(|(k, _)| *k == key) {
                    if let Some(p) = parts.get_mut(&key) {
                        if p.retry_at.is_none_or(|t| t <= now) {
                            self.back_off(p, "no OffsetForLeaderEpoch answer");
                        }
                    }
                }
            }
        }
        for (key, r) in self.run_jobs(parts, jobs).await {
            let Some(p) = parts.get_mut(&key) else {
                continue;
            };
            match r {
                Ok(step) => {
                    FetcherStats::add(&self.stats.truncations, 1);
                    p.phase = match step {
                        Step::Done { log_end_offset } => {
                            tracing::debug!(leader, topic = %key.0, partition = key.1, log_end_offset, "follower truncation done");
                            Phase::Fetching
                        }
                        Step::AskAgain { epoch } => Phase::Truncating { ask: Some(epoch) },
                    };
                }
                Err(e) => self.on_job_error(p, e),
            }
        }
        Ok(())
    }

    async fn out_of_range(
        &self,
        c: &Connection,
        parts: &mut HashMap<Key, PartState>,
    ) -> Result<(), RequestFailed> {
        let now = Instant::now();
        let queries: Vec<OffsetQuery> = parts
            .iter()
            .filter(|(_, p)| p.phase == Phase::OutOfRange && p.ready(now))
            .map(|(k, p)| OffsetQuery {
                topic: k.0.clone(),
                partition: k.1,
                spec: OffsetSpec::Earliest,
                current_leader_epoch: p.leader_epoch,
            })
            .collect();
        if queries.is_empty() {
            return Ok(());
        }
        let leader = self.leader();
        let answers = c
            .list_offsets_as_replica(self.config.node_id, &queries)
            .await
            .map_err(RequestFailed)?;
        let mut jobs: Vec<(Key, Job<bool>)> = Vec::new();
        for a in answers {
            let key = (a.topic.clone(), a.partition);
            let Some(p) = parts.get_mut(&key) else {
                continue;
            };
            if let Some(code) = a.error {
                self.back_off(p, &code_name(code));
                continue;
            }
            let (partition, epoch, start) = (p.partition.clone(), p.leader_epoch, a.offset);
            jobs.push((
                key,
                Box::new(move || {
                    guarded(&partition, leader, epoch, |log| {
                        reset_below_leader_start(log, start)
                    })
                }),
            ));
        }
        for (key, r) in self.run_jobs(parts, jobs).await {
            let Some(p) = parts.get_mut(&key) else {
                continue;
            };
            match r {
                Ok(true) => {
                    FetcherStats::add(&self.stats.truncations, 1);
                    tracing::info!(leader, topic = %key.0, partition = key.1, "follower log was below the leader's log start: restarted empty there");
                    p.phase = Phase::Fetching;
                }
                // Our log end is past the leader's: the epoch walk finds where to cut.
                Ok(false) => p.phase = Phase::Truncating { ask: None },
                Err(e) => self.on_job_error(p, e),
            }
        }
        Ok(())
    }

    async fn fetch(
        &self,
        c: &Connection,
        parts: &mut HashMap<Key, PartState>,
        rotation: &mut usize,
    ) -> Result<(), RequestFailed> {
        let now = Instant::now();
        let mut keys: Vec<&Key> = parts
            .iter()
            .filter(|(_, p)| p.phase == Phase::Fetching && p.ready(now))
            .map(|(k, _)| k)
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        // KIP-74 fills partitions in request order: rotate so none starves.
        keys.sort();
        let n = keys.len();
        keys.rotate_left(*rotation % n);
        *rotation = rotation.wrapping_add(1);
        let specs: Vec<FetchPartitionSpec> = keys
            .iter()
            .map(|k| {
                let p = &parts[*k];
                let pos = p.partition.watch().positions();
                let mut spec = FetchPartitionSpec::new(k.0.clone(), k.1, pos.log_end_offset);
                spec.current_leader_epoch = p.leader_epoch;
                spec.last_fetched_epoch = pos.latest_epoch.unwrap_or(-1);
                spec.log_start_offset = pos.log_start_offset;
                spec.partition_max_bytes = self.config.max_bytes;
                spec
            })
            .collect();
        let params = FetchParams {
            max_wait_ms: self.config.max_wait_ms,
            min_bytes: self.config.min_bytes,
            max_bytes: self.config.response_max_bytes,
            isolation_level: IsolationLevel::ReadUncommitted,
            partitions: specs,
            replica_id: self.config.node_id,
            ..FetchParams::default()
        };
        let response = c.fetch_raw(&params).await.map_err(RequestFailed)?;
        FetcherStats::add(&self.stats.fetches, 1);
        let leader = self.leader();
        let mut jobs: Vec<(Key, Job<Applied>)> = Vec::new();
        for fp in response.partitions {
            let key = (fp.topic.clone(), fp.partition);
            let Some(p) = parts.get_mut(&key) else {
                continue;
            };
            if p.phase != Phase::Fetching {
                continue;
            }
            match classify(&fp) {
                Answer::Data => {
                    let data = FetchedData {
                        records: fp.records,
                        high_watermark: fp.high_watermark,
                        log_start_offset: fp.log_start_offset,
                    };
                    let (partition, epoch) = (p.partition.clone(), p.leader_epoch);
                    jobs.push((
                        key,
                        Box::new(move || {
                            guarded(&partition, leader, epoch, |log| {
                                apply_fetched(log, &data, crate::topics::now_ms())
                            })
                        }),
                    ));
                }
                Answer::Diverged => p.phase = Phase::Truncating { ask: None },
                Answer::OutOfRange => p.phase = Phase::OutOfRange,
                Answer::Retry(code) => self.back_off(p, &code_name(code)),
            }
        }
        for (key, r) in self.run_jobs(parts, jobs).await {
            let Some(p) = parts.get_mut(&key) else {
                continue;
            };
            match r {
                Ok(applied) => {
                    FetcherStats::add(&self.stats.batches_appended, applied.batches as u64);
                    FetcherStats::add(&self.stats.bytes_appended, applied.bytes as u64);
                }
                Err(e) => self.on_job_error(p, e),
            }
        }
        Ok(())
    }

    /// Runs one job per partition, each on its partition's lane, all in one hand-off;
    /// results keyed as given. Jobs the pool refused (shutdown) come back `Gone`.
    async fn run_jobs<R: Send + 'static>(
        &self,
        parts: &HashMap<Key, PartState>,
        jobs: Vec<(Key, Job<R>)>,
    ) -> Vec<(Key, Result<R, JobError>)> {
        if jobs.is_empty() {
            return Vec::new();
        }
        let (keys, jobs): (Vec<Key>, Vec<Job<R>>) = jobs.into_iter().unzip();
        let results: Vec<Result<R, JobError>> = match &self.io {
            LogRunner::Lanes(topics) => {
                let submitted = topics.upgrade().map(|t| {
                    let items: Vec<(Arc<crate::log_manager::Lane>, Job<R>)> = keys
                        .iter()
                        .zip(jobs)
                        .map(|(k, job)| (lane_of(parts, k), job))
                        .collect();
                    t.io().submit_on_lanes(items, |job: Job<R>| job())
                });
                match submitted {
                    Some(Ok(rx)) => match rx.await {
                        Ok(slots) => slots
                            .into_iter()
                            .map(|s| s.unwrap_or(Err(JobError::Gone)))
                            .collect(),
                        Err(_) => keys.iter().map(|_| Err(JobError::Gone)).collect(),
                    },
                    _ => keys.iter().map(|_| Err(JobError::Gone)).collect(),
                }
            }
            LogRunner::Blocking => {
                let handles: Vec<_> = jobs.into_iter().map(tokio::task::spawn_blocking).collect();
                let mut out = Vec::with_capacity(handles.len());
                for h in handles {
                    out.push(h.await.unwrap_or(Err(JobError::Gone)));
                }
                out
            }
        };
        keys.into_iter().zip(results).collect()
    }
}

fn lane_of(parts: &HashMap<Key, PartState>, key: &Key) -> Arc<crate::log_manager::Lane> {
    match parts.get(key) {
        Some(p) => p.partition.lane().clone(),
        // Unreachable (jobs are built from `parts`); a private lane still runs the job.
        None => Arc::new(crate::log_manager::Lane::default()),
    }
}

/// What one partition of a fetch response asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Records (possibly none) and the leader's high watermark: apply.
    Data,
    /// The leader's log diverged from ours (v12 `diverging_epoch`): truncate by epoch.
    Diverged,
    /// OFFSET_OUT_OF_RANGE: look up the leader's log start.
    OutOfRange,
    /// Any other error (NOT_LEADER_OR_FOLLOWER, FENCED / UNKNOWN_LEADER_EPOCH,
    /// UNKNOWN_TOPIC_OR_PARTITION, the leader's KAFKA_STORAGE_ERROR, ...): keep the
    /// partition, back off, retry; the metadata image reassigns it if the leader moved.
    Retry(ErrorCode),
}

pub(super) fn classify(fp: &FetchedPartition) -> Answer {
    match fp.error {
        None if fp.diverging_epoch.is_some() => Answer::Diverged,
        None => Answer::Data,
        Some(ErrorCode::OffsetOutOfRange) => Answer::OutOfRange,
        Some(code) => Answer::Retry(code),
    }
}

fn code_name(code: ErrorCode) -> String {
    format!("{code:?}")
}
