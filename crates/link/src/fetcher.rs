//! A fetcher: `num.cluster.link.fetchers` tasks per source broker, each fetching its share
//! of the partitions that broker leads over its own connection and fetch session (as
//! Kafka's replica fetcher threads do), so one busy or slow share does not hold up another.
//!
//! Each round it asks for every assigned partition from the local log end offset (so
//! progress lives in the local log alone), as a consumer of the source (replica id -1,
//! read_uncommitted, long polling), rotating the partition order so no partition starves
//! behind a busy one (KIP-74 fills partitions in request order). A response is applied per
//! partition: complete batches only (a partial trailing batch is dropped and fetched again),
//! batches wholly below the fetch offset skipped, the destination leader epoch raised to the
//! highest source epoch in the data, then the bytes appended unchanged through the
//! broker's mirror path, as one write owned by the partition's [`crate::cutover`] slot
//! (refused once promote/failover fenced it). Source errors follow Kafka's follower rules (protocol-notes
//! §5.4-5.5): leadership errors ask the link loop for fresh metadata; OFFSET_OUT_OF_RANGE
//! truncates to the source's end or restarts at its log start, recording what was lost.
//!
//! Where the source supports them, fetches use an incremental fetch session (KIP-227): the
//! first request creates the session, later ones list only partitions whose request data
//! changed and the source answers only partitions with news, so idle partitions cost
//! nothing. A partition absent from an incremental response was fetched and had nothing
//! new. Any session error falls back to a full fetch that starts a new session.
//!
//! A partition whose fetch failed is left out of requests for `replica.fetch.backoff.ms`
//! while the others keep fetching; its failures are reported to [`LinkShared`], which gives
//! the partition's mirror up (FAILED) once they have lasted `cluster.link.retry.timeout.ms`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_client::fetch::{FetchParams, FetchPartitionSpec, FetchedPartition, IsolationLevel};
use strait_client::offsets::OffsetSpec;
use strait_client::{Client, ClientError, Connection};
use strait_protocol::ErrorCode;
use strait_records::BatchIter;
use tokio::sync::watch;

use crate::local::PartitionPosition;
use crate::shared::{now_ms, LinkShared};

/// Why a partition operation failed, and the reason its mirror gets if the failures last
/// `cluster.link.retry.timeout.ms`.
#[derive(Debug)]
struct Failure {
    reason: &'static str,
    message: String,
    /// A failure no retry can cure (the source serves bytes that fail validation): the
    /// mirror fails at once, as a Kafka follower marks such a partition failed, instead of
    /// showing ACTIVE while it is stuck for good.
    permanent: bool,
}

/// Reason of a mirror whose source serves a batch that fails its CRC or framing check.
pub const SOURCE_DATA_CORRUPT: &str = "SOURCE_DATA_CORRUPT";

impl Failure {
    fn corrupt(message: String) -> Self {
        Failure {
            reason: SOURCE_DATA_CORRUPT,
            message,
            permanent: true,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            reason: "RETRY_TIMEOUT_EXCEEDED",
            message,
            permanent: false,
        }
    }
}

/// This fetcher's own connection to its source broker (reopened when it breaks or the
/// broker's advertised address changes).
async fn connection(
    client: &Client,
    broker: i32,
    conn: &mut Option<Connection>,
) -> Result<Connection, ClientError> {
    let address = client
        .metadata()
        .broker(broker)
        .map(|b| b.address())
        .ok_or(ClientError::UnknownBroker(broker))?;
    if let Some(c) = conn.as_ref() {
        if c.is_usable() && c.broker() == address {
            return Ok(c.clone());
        }
        c.close();
    }
    let c = Connection::connect(&address, client.options()).await?;
    *conn = Some(c.clone());
    Ok(c)
}

/// One partition a fetcher is responsible for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub mirror_topic: String,
    pub source_topic: String,
    pub partition: i32,
    /// The source leader epoch from source metadata (-1 if unknown), sent as
    /// `current_leader_epoch` so a stale view is fenced rather than served.
    pub leader_epoch: i32,
}

/// The fetcher's side of an incremental fetch session.
struct Session {
    id: i32,
    /// Epoch of the next request.
    epoch: i32,
    /// What the session holds for each partition: the last request data sent.
    sent: HashMap<(String, i32), FetchPartitionSpec>,
}

enum SessionMode {
    /// Try to create a session with the next full fetch.
    Create,
    Open(Session),
    /// The source does not keep sessions (it answered session id 0): fetch in full.
    Unsupported,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// Runs fetcher `index` of source broker `broker` until its assignment channel closes.
pub async fn run_fetcher(
    shared: Arc<LinkShared>,
    client: Client,
    broker: i32,
    index: usize,
    mut assignments: watch::Receiver<Vec<Assignment>>,
) {
    let backoff = Duration::from_millis(shared.config.fetch_backoff_ms.max(10));
    let mut conn: Option<Connection> = None;
    // Partitions backing off after a failure, and until when.
    let mut delayed: HashMap<(String, i32), Instant> = HashMap::new();
    let mut rotation = 0usize;
    let mut session = SessionMode::Create;
    // A response received but not yet appended. Appending it overlaps with the next fetch
    // (sent at the offsets the append will leave), so the source and the destination work
    // at the same time instead of taking turns.
    let mut pending: Option<Pending> = None;
    loop {
        if shared.deleted.load(Ordering::Acquire) {
            return;
        }
        let mut parts = assignments.borrow_and_update().clone();
        let now = Instant::now();
        delayed.retain(|_, until| *until > now);
        parts.retain(|a| !delayed.contains_key(&(a.mirror_topic.clone(), a.partition)));
        if parts.is_empty() {
            // Everything is backing off (or nothing is assigned): wait for the first
            // partition to be due again, or for a new assignment.
            let wake = delayed.values().min().copied();
            tokio::select! {
                changed = assignments.changed() => if changed.is_err() { return; },
                _ = async {
                    match wake {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
            continue;
        }
        rotation = rotation.wrapping_add(1);
        let len = parts.len();
        parts.rotate_left(rotation % len);

        // Pipeline only when every partition of the pending response will land cleanly, so
        // that its end offsets can be predicted; otherwise apply it first.
        let predicted: HashMap<(String, i32), PartitionPosition> = match &pending {
            Some(p) => match p.predict() {
                Some(pred) => pred,
                None => {
                    let p = pending.take();
                    if let Some(p) = p {
                        let failed = apply_pending(&shared, &client, broker, p).await;
                        delay(&mut delayed, failed, backoff);
                    }
                    HashMap::new()
                }
            },
            None => HashMap::new(),
        };
        let mut specs = Vec::with_capacity(parts.len());
        let mut positions = Vec::with_capacity(parts.len());
        for a in &parts {
            let actual = shared
                .local
                .partition_position(&a.mirror_topic, a.partition);
            let position = match (
                predicted.get(&(a.mirror_topic.clone(), a.partition)),
                actual,
            ) {
                (Some(pred), Ok(_)) => Ok(*pred),
                (_, actual) => actual,
            };
            match position {
                Ok(pos) => {
                    let mut spec = FetchPartitionSpec::new(
                        a.source_topic.clone(),
                        a.partition,
                        pos.log_end_offset,
                    );
                    spec.current_leader_epoch = a.leader_epoch;
                    spec.last_fetched_epoch = pos.latest_epoch.unwrap_or(-1);
                    spec.partition_max_bytes = shared.config.fetch_max_bytes;
                    specs.push(spec);
                    positions.push((a, pos));
                }
                // The mirror was deleted or promoted under us; the link loop will reassign.
                Err(_) => continue,
            }
        }
        if specs.is_empty() {
            tokio::select! {
                changed = assignments.changed() => if changed.is_err() { return; },
                // A partition delayed meanwhile may come due again.
                _ = tokio::time::sleep(backoff) => {}
            }
            continue;
        }
        // Full or incremental request, depending on the session.
        let (session_id, session_epoch, request_parts, forgotten) = match &session {
            SessionMode::Unsupported => (0, -1, specs.clone(), Vec::new()),
            SessionMode::Create => (0, 0, specs.clone(), Vec::new()),
            SessionMode::Open(s) => {
                let changed: Vec<FetchPartitionSpec> = specs
                    .iter()
                    .filter(|sp| s.sent.get(&(sp.topic.clone(), sp.partition)) != Some(*sp))
                    .cloned()
                    .collect();
                let mut forgotten: HashMap<String, Vec<i32>> = HashMap::new();
                for (t, p) in s.sent.keys() {
                    if !specs.iter().any(|sp| sp.topic == *t && sp.partition == *p) {
                        forgotten.entry(t.clone()).or_default().push(*p);
                    }
                }
                (s.id, s.epoch, changed, forgotten.into_iter().collect())
            }
        };
        let params = FetchParams {
            max_wait_ms: shared.config.fetch_wait_max_ms,
            min_bytes: shared.config.fetch_min_bytes,
            max_bytes: shared.config.fetch_response_max_bytes,
            isolation_level: IsolationLevel::ReadUncommitted,
            session_id,
            session_epoch,
            partitions: request_parts,
            forgotten,
            rack_id: String::new(),
        };
        let to_apply = pending.take();
        // The fetch is polled first, so its request is on the wire before the append runs.
        let fetch = async {
            connection(&client, broker, &mut conn)
                .await?
                .fetch_raw(&params)
                .await
        };
        let work = async {
            tokio::join!(fetch, async {
                match to_apply {
                    Some(p) => apply_pending(&shared, &client, broker, p).await,
                    None => Vec::new(),
                }
            })
        };
        let (result, failed) = tokio::select! {
            r = work => r,
            // A new assignment (new mirror, promotion) should not wait out a long poll. The
            // source answers a connection's requests in order, so the abandoned poll would
            // hold up the next fetch on it: drop the connection, and with it the session
            // epoch the abandoned request may or may not have used.
            changed = assignments.changed() => {
                if changed.is_err() { return; }
                if let Some(c) = conn.take() {
                    c.close();
                }
                if !matches!(session, SessionMode::Unsupported) {
                    session = SessionMode::Create;
                }
                continue;
            }
        };
        delay(&mut delayed, failed, backoff);
        // A prediction the append did not meet (it failed, or another writer moved the
        // log) makes that partition's part of the new response unusable: drop it, and the
        // next round fetches again from where the log really ends.
        let mut stale: Vec<(String, i32)> = Vec::new();
        for ((topic, partition), pred) in &predicted {
            let actual = shared
                .local
                .partition_position(topic, *partition)
                .map(|p| p.log_end_offset);
            if actual.ok() != Some(pred.log_end_offset) {
                stale.push((topic.clone(), *partition));
            }
        }
        let response = match result {
            Ok(r) => r,
            Err(e)
                if matches!(session, SessionMode::Open(_))
                    && matches!(
                        e.kafka_code(),
                        Some(
                            ErrorCode::FetchSessionIdNotFound
                                | ErrorCode::InvalidFetchSessionEpoch
                                | ErrorCode::FetchSessionTopicIdError
                        )
                    ) =>
            {
                // The source dropped our session: start over with a full fetch.
                tracing::debug!(link = %shared.name(), broker, error = %e, "fetch session reset");
                session = SessionMode::Create;
                continue;
            }
            Err(e) => {
                if !matches!(session, SessionMode::Unsupported) {
                    session = SessionMode::Create;
                }
                tracing::debug!(link = %shared.name(), broker, fetcher = index, error = %e, "fetch failed");
                if let Some(c) = conn.take() {
                    c.close();
                }
                for (a, _) in &positions {
                    shared.update_stats(&a.mirror_topic, a.partition, |s| {
                        s.error = Some(format!("fetch from source broker {broker} failed: {e}"));
                        s.fetch_errors += 1;
                    });
                }
                shared.refresh.notify_one();
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let incremental = matches!(session, SessionMode::Open(_));
        let sent = || {
            specs
                .iter()
                .map(|sp| ((sp.topic.clone(), sp.partition), sp.clone()))
                .collect()
        };
        session = match session {
            SessionMode::Create if response.session_id > 0 => {
                tracing::debug!(link = %shared.name(), broker, fetcher = index, session = response.session_id, "fetch session established");
                SessionMode::Open(Session {
                    id: response.session_id,
                    epoch: 1,
                    sent: sent(),
                })
            }
            SessionMode::Create => {
                tracing::debug!(link = %shared.name(), broker, "source keeps no fetch sessions; fetching in full");
                SessionMode::Unsupported
            }
            SessionMode::Open(mut s) => {
                s.epoch = next_epoch(s.epoch);
                s.sent = sent();
                SessionMode::Open(s)
            }
            SessionMode::Unsupported => SessionMode::Unsupported,
        };
        if incremental {
            // Silence in an incremental response means "nothing new": the partition was
            // fetched, and its last-seen high watermark still holds.
            let now = now_ms();
            for (a, _) in &positions {
                let answered = response
                    .partitions
                    .iter()
                    .any(|fp| fp.topic == a.source_topic && fp.partition == a.partition);
                if !answered {
                    shared.update_stats(&a.mirror_topic, a.partition, |s| {
                        if s.last_fetch_ms.is_some() {
                            s.last_fetch_ms = Some(now);
                        }
                    });
                }
            }
        }
        let mut response = response;
        response.partitions.retain(|fp| {
            !positions.iter().any(|(a, _)| {
                a.source_topic == fp.topic
                    && a.partition == fp.partition
                    && stale.contains(&(a.mirror_topic.clone(), a.partition))
            })
        });
        pending = Some(Pending {
            response,
            positions: positions
                .into_iter()
                .map(|(a, pos)| (a.clone(), pos))
                .collect(),
        });
    }
}

/// A fetch response waiting to be appended, with the local positions it was fetched at.
struct Pending {
    response: strait_client::fetch::FetchResult,
    positions: Vec<(Assignment, PartitionPosition)>,
}

impl Pending {
    /// The local positions after this response is appended, if every partition in it is
    /// clean (no error, no divergence, batches continuing the log), else `None`.
    fn predict(&self) -> Option<HashMap<(String, i32), PartitionPosition>> {
        let mut out = HashMap::new();
        for fp in &self.response.partitions {
            let (a, pos) = self
                .positions
                .iter()
                .find(|(a, _)| a.source_topic == fp.topic && a.partition == fp.partition)?;
            if fp.error.is_some() || fp.diverging_epoch.is_some() {
                return None;
            }
            let mut next = *pos;
            for batch in BatchIter::new(&fp.records) {
                let batch = batch.ok()?;
                if batch.last_offset() < next.log_end_offset {
                    continue;
                }
                if batch.base_offset() < next.log_end_offset {
                    // Straddles the log end: needs the careful path.
                    return None;
                }
                next.log_end_offset = batch.next_offset();
                next.latest_epoch = Some(batch.partition_leader_epoch());
            }
            if fp.log_start_offset > next.log_start_offset
                && fp.log_start_offset <= next.log_end_offset
            {
                next.log_start_offset = fp.log_start_offset;
            }
            out.insert((a.mirror_topic.clone(), a.partition), next);
        }
        Some(out)
    }
}

/// Puts `failed` partitions on back-off.
fn delay(delayed: &mut HashMap<(String, i32), Instant>, failed: Vec<(String, i32)>, by: Duration) {
    let until = Instant::now() + by;
    for key in failed {
        delayed.insert(key, until);
    }
}

/// Appends every partition of a pending response. Returns the partitions that failed (the
/// caller backs them off).
async fn apply_pending(
    shared: &LinkShared,
    client: &Client,
    broker: i32,
    p: Pending,
) -> Vec<(String, i32)> {
    let mut failed = Vec::new();
    if let Some(d) = crate::cutover::append_delay() {
        tokio::time::sleep(d).await;
    }
    for fp in &p.response.partitions {
        let Some((a, pos)) = p
            .positions
            .iter()
            .find(|(a, _)| a.source_topic == fp.topic && a.partition == fp.partition)
        else {
            continue;
        };
        match apply(
            shared,
            client,
            broker,
            a,
            pos.log_end_offset,
            pos.log_start_offset,
            fp,
        )
        .await
        {
            Err(e) => {
                failed.push((a.mirror_topic.clone(), a.partition));
                tracing::debug!(link = %shared.name(), mirror = %a.mirror_topic, partition = a.partition, error = %e.message, "mirror partition error");
                if e.permanent {
                    shared.fail_mirror(
                        &a.mirror_topic,
                        e.reason,
                        format!("partition {}: {}", a.partition, e.message),
                    );
                }
                shared.partition_failed(&a.mirror_topic, a.partition, e.reason, e.message);
            }
            Ok(()) => shared.partition_recovered(&a.mirror_topic, a.partition),
        }
    }
    failed
}

/// Applies one partition's fetch result. `Err` carries a description for DescribeMirrors.
async fn apply(
    shared: &LinkShared,
    client: &Client,
    broker: i32,
    a: &Assignment,
    fetch_offset: i64,
    log_start_offset: i64,
    fp: &FetchedPartition,
) -> Result<(), Failure> {
    let local = &shared.local;
    match fp.error {
        None => {}
        Some(ErrorCode::OffsetOutOfRange) => {
            return Ok(handle_out_of_range(shared, client, broker, a, fetch_offset).await?);
        }
        Some(
            code @ (ErrorCode::NotLeaderOrFollower
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::UnknownTopicId
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError),
        ) => {
            shared.refresh.notify_one();
            let reason = if matches!(
                code,
                ErrorCode::UnknownTopicOrPartition | ErrorCode::UnknownTopicId
            ) {
                "SOURCE_TOPIC_MAY_BE_DELETED"
            } else {
                "RETRY_TIMEOUT_EXCEEDED"
            };
            return Err(Failure {
                reason,
                message: format!("source answered {code}; refreshing source metadata"),
                permanent: false,
            });
        }
        Some(code) => return Err(format!("source answered {code}").into()),
    }
    if let Some(div) = &fp.diverging_epoch {
        // The source truncated (unclean election): drop what it no longer has.
        let truncated = owned(shared, a, || {
            local.truncate_to(&a.mirror_topic, a.partition, div.end_offset)
        })
        .map_err(|e| e.to_string())?;
        if truncated.is_none() {
            return Ok(());
        }
        tracing::warn!(mirror = %a.mirror_topic, partition = a.partition, epoch = div.epoch, end_offset = div.end_offset, "source log diverged; truncated the mirror");
        return Ok(());
    }
    let now = now_ms();
    shared.update_stats(&a.mirror_topic, a.partition, |s| {
        s.source_high_watermark = fp.high_watermark;
        s.source_log_start_offset = fp.log_start_offset;
        s.last_fetch_ms = Some(now);
        s.error = None;
        s.bytes_fetched += fp.records.len() as u64;
        if fp.high_watermark <= fetch_offset {
            s.lag_ms = 0;
        }
    });
    if fp.records.is_empty() {
        return Ok(follow_log_start(shared, a, fp.log_start_offset)?);
    }
    // Complete batches only; skip those wholly before the fetch offset.
    let mut start = None;
    let mut end = 0usize;
    let mut first_base = 0i64;
    let mut first_timestamp = -1i64;
    let mut max_epoch = -1i32;
    let mut records = 0u64;
    let mut iter = BatchIter::new(&fp.records);
    for batch in iter.by_ref() {
        let batch =
            batch.map_err(|e| Failure::corrupt(format!("source sent a malformed batch: {e}")))?;
        let batch_start = end;
        end += batch.size_in_bytes();
        if batch.last_offset() < fetch_offset {
            continue;
        }
        if start.is_none() {
            start = Some(batch_start);
            first_base = batch.base_offset();
            first_timestamp = match batch.timestamp_type() {
                strait_records::TimestampType::LogAppendTime => batch.max_timestamp(),
                strait_records::TimestampType::CreateTime => batch.base_timestamp(),
            };
        }
        max_epoch = max_epoch.max(batch.partition_leader_epoch());
        records += u64::try_from(batch.records_count()).unwrap_or(0);
    }
    let Some(start) = start else {
        return Ok(());
    };
    if first_base < fetch_offset && fetch_offset != log_start_offset {
        return Err(format!("source batch at offset {first_base} straddles the mirror's log end offset {fetch_offset}; the logs have diverged").into());
    }
    // One owned write: the restart, the epoch raise and the append all happen or, once the
    // partition is fenced for a cutover, none does.
    let appended = owned(shared, a, || {
        if first_base < fetch_offset {
            // An empty mirror whose source log start lies inside a batch (DeleteRecords on
            // the source): restart the local log at the batch's base, as Kafka's follower does.
            local.truncate_fully_and_start_at(&a.mirror_topic, a.partition, first_base)?;
        }
        if max_epoch >= 0 {
            local.raise_leader_epoch(&a.mirror_topic, a.partition, max_epoch)?;
        }
        local.append_mirrored(&a.mirror_topic, a.partition, &fp.records[start..end])
    })
    .map_err(|e| {
        if e.code == ErrorCode::CorruptMessage {
            Failure::corrupt(e.to_string())
        } else {
            Failure::from(e.to_string())
        }
    })?;
    let Some(appended) = appended else {
        // Fenced for promote/failover: the response is dropped, the partition is no longer
        // the fetcher's.
        return Ok(());
    };
    shared.update_stats(&a.mirror_topic, a.partition, |s| {
        s.bytes_mirrored += appended.bytes as u64;
        s.batches_mirrored += appended.batches as u64;
        s.records_mirrored += records;
        s.lag_ms = if appended.last_offset + 1 >= fp.high_watermark || first_timestamp < 0 {
            0
        } else {
            (now - first_timestamp).max(0)
        };
    });
    Ok(follow_log_start(shared, a, fp.log_start_offset)?)
}

/// Runs a local mutation of `a`'s partition through the partition's owner
/// ([`crate::cutover::MirrorOwner`]); `Ok(None)`: fenced for a cutover, nothing done.
fn owned<T>(
    shared: &LinkShared,
    a: &Assignment,
    f: impl FnOnce() -> Result<T, crate::local::LocalError>,
) -> Result<Option<T>, crate::local::LocalError> {
    shared
        .owner
        .write(shared.local.as_ref(), &a.mirror_topic, a.partition, f)
        .transpose()
}

fn follow_log_start(
    shared: &LinkShared,
    a: &Assignment,
    source_log_start: i64,
) -> Result<(), String> {
    let pos = shared
        .local
        .partition_position(&a.mirror_topic, a.partition)
        .map_err(|e| e.to_string())?;
    if source_log_start > pos.log_start_offset && source_log_start <= pos.log_end_offset {
        owned(shared, a, || {
            shared
                .local
                .advance_log_start_offset(&a.mirror_topic, a.partition, source_log_start)
        })
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Kafka's `AbstractFetcherThread.fetchOffsetAndTruncate` for a consumer-style fetcher.
async fn handle_out_of_range(
    shared: &LinkShared,
    client: &Client,
    broker: i32,
    a: &Assignment,
    local_leo: i64,
) -> Result<(), String> {
    let lookup = |spec| async move {
        client
            .list_offsets(broker, vec![(a.source_topic.clone(), a.partition, spec)])
            .await
            .map_err(|e| format!("ListOffsets on the source failed: {e}"))?
            .into_iter()
            .next()
            .map(|l| l.offset)
            .ok_or_else(|| "ListOffsets on the source returned nothing".to_string())
    };
    let latest = lookup(OffsetSpec::Latest).await?;
    if latest < local_leo {
        owned(shared, a, || {
            shared
                .local
                .truncate_to(&a.mirror_topic, a.partition, latest)
        })
        .map_err(|e| e.to_string())?;
        tracing::warn!(mirror = %a.mirror_topic, partition = a.partition, from = local_leo, to = latest, "source log end is behind the mirror; truncated");
        return Ok(());
    }
    let earliest = lookup(OffsetSpec::Earliest).await?;
    if earliest > local_leo {
        let restarted = owned(shared, a, || {
            shared
                .local
                .truncate_fully_and_start_at(&a.mirror_topic, a.partition, earliest)
        })
        .map_err(|e| e.to_string())?;
        if restarted.is_none() {
            return Ok(());
        }
        let lost = earliest - local_leo;
        shared.update_stats(&a.mirror_topic, a.partition, |s| s.offsets_lost += lost);
        if local_leo > 0 {
            tracing::warn!(mirror = %a.mirror_topic, partition = a.partition, lost, restart_at = earliest, "source deleted data before it was mirrored");
        }
    }
    Ok(())
}
