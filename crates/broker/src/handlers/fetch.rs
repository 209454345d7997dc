//! Fetch (key 1): consumer reads with long polling and incremental sessions.
//!
//! read_uncommitted reads up to the high watermark, read_committed (isolation_level 1, v4+)
//! up to the last stable offset, with the aborted transactions overlapping the returned
//! batches (`aborted_transactions`, v4+): the broker still returns aborted batches and the
//! client drops them (Kafka's model; mirrors build the index from the mirrored markers).
//! `last_stable_offset` is reported at every isolation level, as Kafka does. The response is bounded by `max_bytes` and each partition by its
//! `partition_max_bytes`, except that the first partition with data returns at least one
//! whole batch (KIP-74). The request waits up to `max_wait_ms` for `min_bytes` to
//! accumulate. Replica fetches (replica id ≥ 0, from a follower of a partition this node
//! leads) are served up to the log end, see [`replica`].
//!
//! Long polling is per partition: the fetch registers with each partition's watch
//! ([`crate::log_manager::watch`]) before its first read, so only a move of one of *its*
//! partitions' high watermark (read_committed: last stable offset) wakes it, and after a
//! wake it re-reads only the partitions that moved; an idle session of N partitions costs
//! one read of each per long poll, not two, and nothing while it waits. Reads run on the
//! log manager's I/O threads, never on the async workers.
//!
//! Zero copy: on a connection that can `sendfile` (plaintext), a partition's records of at
//! least [`SEPARATE_RECORDS_MIN`] bytes are not read at all: the read captures their
//! segment range ([`strait_storage::FileSlice`], under the log's read lock and by the same
//! rules as a read) and the connection sends it file → socket. Smaller records, and every
//! TLS connection, get the bytes, read on the I/O thread as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use strait_protocol::response::{FileRegion, SEPARATE_RECORDS_MIN};
use strait_protocol::ErrorCode;
use strait_storage::{FetchIsolation, FileSlice, ReadError};

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::fetch_session::{PartitionRequest, PartitionSeen, SessionPartition};
use crate::log_manager::{FetchWaiter, WakeOn};
use crate::topics::Partition;

#[path = "fetch_replica.rs"]
mod replica;

/// Records kept in their segment files, in response order over every topic's partitions
/// (see [`strait_protocol::response::encode_fetch_response_with_files`]).
pub type FileRecords = Vec<Option<Arc<dyn FileRegion>>>;

/// Answers a Fetch. With `file_records` (the connection can `sendfile`), larger records
/// are returned as file ranges beside the response instead of in it.
pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: FetchRequest,
    file_records: bool,
) -> (FetchResponse, FileRecords) {
    let mut files = FileRecords::new();
    let response = respond(broker, ctx, req, file_records, &mut files).await;
    (response, files)
}

async fn respond(
    broker: &Broker,
    ctx: &RequestContext,
    req: FetchRequest,
    file_records: bool,
    files: &mut FileRecords,
) -> FetchResponse {
    let v = ctx.api_version;
    let file_records =
        file_records && strait_protocol::response::fetch_response_splits(ctx.api_version);
    let listed: Vec<SessionPartition> = req
        .topics
        .iter()
        .flat_map(|t| {
            let topic = t.topic.0.to_string();
            t.partitions.iter().map(move |p| SessionPartition {
                topic: topic.clone(),
                partition: p.partition,
                request: PartitionRequest {
                    fetch_offset: p.fetch_offset,
                    partition_max_bytes: p.partition_max_bytes,
                    current_leader_epoch: if v >= 9 { p.current_leader_epoch } else { -1 },
                    last_fetched_epoch: if v >= 12 { p.last_fetched_epoch } else { -1 },
                },
                seen: None,
            })
        })
        .collect();
    let forgotten: Vec<(String, i32)> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|f| f.partitions.iter().map(|&p| (f.topic.0.to_string(), p)))
        .collect();
    let (session_id, session_epoch) = if v >= 7 {
        (req.session_id, req.session_epoch)
    } else {
        (0, -1)
    };
    let view = match broker
        .fetch_sessions()
        .resolve(session_id, session_epoch, listed, &forgotten)
    {
        Ok(view) => view,
        Err(code) => {
            return FetchResponse::default()
                .with_error_code(code.code())
                .with_session_id(0);
        }
    };

    // isolation_level exists from v4; older requests decode it as 0 (read_uncommitted).
    let read_committed = v >= 4 && req.isolation_level == 1;
    let max_bytes = if req.max_bytes > 0 {
        req.max_bytes as usize
    } else {
        usize::MAX
    };
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    let replica_id = replica::replica_id(&req, v);
    let from_follower = replica_id >= 0;
    // A follower needs CLUSTER_ACTION (every partition denied otherwise); a consumer READ
    // on each topic.
    let follower_denied = from_follower && !replica::authorized(broker, ctx);
    let denied: std::collections::HashSet<String> = view
        .partitions
        .iter()
        .filter(|sp| {
            follower_denied
                || (!from_follower
                    && !crate::auth::allow_topic(broker, ctx, AclOperation::Read, &sp.topic))
        })
        .map(|sp| sp.topic.clone())
        .collect();
    // Each partition is looked up once per request (lock-free topic map).
    let resolved: Vec<_> = view
        .partitions
        .iter()
        .map(|sp| {
            let topic = broker.topics.get(&sp.topic);
            let partition = topic.as_ref().and_then(|t| t.partition(sp.partition));
            (topic, partition)
        })
        .collect();
    // A follower's fetch is accounted on the leader state before its reads, so the high
    // watermark it may move is in this response.
    let follower_errors = if from_follower && !follower_denied {
        let partitions = view
            .partitions
            .iter()
            .zip(&resolved)
            .map(|(sp, (topic, partition))| replica::ReplicaPartition {
                topic: topic.clone(),
                partition: partition.clone(),
                request: sp.request,
            })
            .collect();
        replica::account(broker, replica_id, partitions).await
    } else {
        Vec::new()
    };
    let targets: Arc<Vec<Target>> = Arc::new(
        view.partitions
            .iter()
            .zip(resolved)
            .enumerate()
            .map(|(i, (sp, (_, partition)))| {
                let not_leader = if from_follower {
                    follower_errors.get(i).cloned().flatten()
                } else {
                    partition
                        .as_ref()
                        .and_then(|p| p.ensure_leader(broker.node_id()).err())
                };
                Target {
                    topic: sp.topic.clone(),
                    request: sp.request,
                    denied: denied.contains(&sp.topic),
                    partition,
                    not_leader,
                }
            })
            .collect(),
    );
    let wake_on = if from_follower {
        WakeOn::LogEnd
    } else if read_committed {
        WakeOn::LastStableOffset
    } else {
        WakeOn::HighWatermark
    };
    // Registered before the first read: an append between that read and the wait still
    // wakes this fetch.
    let waiter = FetchWaiter::new();
    if deadline > Instant::now() {
        for (slot, t) in targets.iter().enumerate() {
            if let Some(p) = &t.partition {
                p.watch().register(&waiter, slot, wake_on);
            }
        }
    }
    let all: Vec<usize> = (0..targets.len()).collect();
    let mode = ReadMode {
        read_committed,
        file_records,
        from_follower,
    };
    let mut results: Vec<PartitionRead> = (0..targets.len())
        .map(|_| PartitionRead::error(ApiError::code(ErrorCode::UnknownServerError)))
        .collect();
    for (slot, r) in read_on_pool(broker, &targets, all, max_bytes, true, mode).await {
        results[slot] = r;
    }
    loop {
        let bytes: usize = results.iter().map(|r| r.records_len()).sum();
        let any_error = results.iter().any(|r| r.error.is_some());
        let now = Instant::now();
        if bytes >= min_bytes.max(1) || any_error || now >= deadline {
            break;
        }
        let parked = broker.topics.io().fetch_waiting();
        let timed_out = tokio::time::timeout(deadline - now, waiter.wait())
            .await
            .is_err();
        drop(parked);
        let mut woken = waiter.take_woken();
        if !timed_out {
            broker.topics.io().count_fetch_wakeup();
        }
        if woken.is_empty() {
            if timed_out {
                break;
            }
            // A stored wake-up whose slot an earlier pass already re-read.
            continue;
        }
        woken.sort_unstable();
        woken.dedup();
        // The byte budget left by the partitions not re-read, and whether one of them
        // already returned the "at least one batch" of KIP-74.
        let others: usize = results
            .iter()
            .enumerate()
            .filter(|(i, _)| woken.binary_search(i).is_err())
            .map(|(_, r)| r.records_len())
            .sum();
        let min_one = others == 0;
        for &slot in &woken {
            if let Some(p) = &targets[slot].partition {
                p.watch().register(&waiter, slot, wake_on);
            }
        }
        let remaining = max_bytes.saturating_sub(others);
        for (slot, r) in read_on_pool(broker, &targets, woken, remaining, min_one, mode).await {
            results[slot] = r;
        }
        if timed_out {
            break;
        }
    }

    // Assemble the response in request (session) order, skipping silent partitions in an
    // incremental response.
    let mut served = Vec::new();
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (sp, r) in view.partitions.iter().zip(results) {
        let seen = PartitionSeen {
            high_watermark: r.high_watermark,
            last_stable_offset: r.last_stable_offset,
            log_start_offset: r.log_start_offset,
        };
        let has_news = r.records_len() > 0
            || r.error.is_some()
            || r.diverging.is_some()
            || sp.seen != Some(seen);
        if view.incremental && !has_news {
            continue;
        }
        // Only a session remembers where the client will fetch next.
        let next_fetch_offset = if view.session_id != 0 {
            r.last_offset.map(|o| o + 1)
        } else {
            None
        };
        served.push((sp.topic.clone(), sp.partition, next_fetch_offset, seen));
        let mut pd = PartitionData::default()
            .with_partition_index(sp.partition)
            .with_error_code(r.error.as_ref().map_or(0, |e| e.error_code()))
            .with_high_watermark(r.high_watermark)
            .with_last_stable_offset(r.last_stable_offset)
            .with_aborted_transactions(read_committed.then(|| {
                r.aborted
                    .iter()
                    .map(|a| {
                        AbortedTransaction::default()
                            .with_producer_id(kafka_protocol::messages::ProducerId(a.producer_id))
                            .with_first_offset(a.first_offset)
                    })
                    .collect()
            }))
            .with_records(match r.records {
                Records::Bytes(b) => {
                    files.push(None);
                    Some(b)
                }
                Records::File(f) => {
                    files.push(Some(Arc::new(SegmentRecords(f))));
                    None
                }
            });
        if v >= 5 {
            pd.log_start_offset = r.log_start_offset;
        }
        if v >= 11 {
            pd.preferred_read_replica = BrokerId(-1);
        }
        if let Some((epoch, end_offset)) = r.diverging {
            pd.diverging_epoch = EpochEndOffset::default()
                .with_epoch(epoch)
                .with_end_offset(end_offset);
        }
        match topics.last_mut() {
            Some(t) if t.topic.0.as_str() == sp.topic => t.partitions.push(pd),
            _ => topics.push(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(str_bytes(sp.topic.clone())))
                    .with_partitions(vec![pd]),
            ),
        }
    }
    broker.fetch_sessions().update(view.session_id, &served);
    let mut resp = FetchResponse::default().with_responses(topics);
    if v >= 7 {
        resp.session_id = view.session_id;
    }
    resp
}

/// How the reads of one Fetch run.
#[derive(Debug, Clone, Copy)]
struct ReadMode {
    read_committed: bool,
    /// A follower's fetch: read to the log end.
    from_follower: bool,
    /// Keep records of [`SEPARATE_RECORDS_MIN`] bytes or more in the file.
    file_records: bool,
}

/// A partition's records: read, or a segment range the connection sends with `sendfile`.
enum Records {
    Bytes(Bytes),
    File(FileSlice),
}

impl Records {
    fn len(&self) -> usize {
        match self {
            Records::Bytes(b) => b.len(),
            Records::File(f) => f.len(),
        }
    }
}

/// A segment range as a response frame part.
#[derive(Debug)]
struct SegmentRecords(FileSlice);

impl FileRegion for SegmentRecords {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn send_to(&self, socket: std::os::fd::BorrowedFd<'_>, done: usize) -> std::io::Result<usize> {
        self.0.send_to(socket, done)
    }

    fn read(&self) -> std::io::Result<Bytes> {
        self.0.read().map(Bytes::from)
    }
}

struct PartitionRead {
    error: Option<ApiError>,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    records: Records,
    /// Last offset of the last batch in `records`.
    last_offset: Option<i64>,
    /// read_committed only: aborted transactions overlapping `records`.
    aborted: Vec<strait_storage::AbortedTxn>,
    diverging: Option<(i32, i64)>,
}

impl PartitionRead {
    fn records_len(&self) -> usize {
        self.records.len()
    }
    fn error(e: ApiError) -> Self {
        PartitionRead {
            error: Some(e),
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            records: Records::Bytes(Bytes::new()),
            last_offset: None,
            aborted: Vec::new(),
            diverging: None,
        }
    }
}

/// One partition of the fetch, resolved once.
struct Target {
    topic: String,
    request: PartitionRequest,
    denied: bool,
    partition: Option<Arc<Partition>>,
    /// NOT_LEADER_OR_FOLLOWER when another broker (or none) leads the partition; for a
    /// follower's fetch, also the leader state's refusal of it.
    not_leader: Option<ApiError>,
}

/// Reads `slots` (in order) on a log manager thread, within `max_bytes`; the first slot
/// with data may exceed it when `min_one` (KIP-74). A partition whose log a writer holds
/// (a stuck fsync) is not waited for on that thread: it is read afterwards by a job on its
/// own lane, behind the write, so it delays this fetch only and holds no I/O thread.
async fn read_on_pool(
    broker: &Broker,
    targets: &Arc<Vec<Target>>,
    slots: Vec<usize>,
    max_bytes: usize,
    min_one: bool,
    mode: ReadMode,
) -> Vec<(usize, PartitionRead)> {
    let io = broker.topics.io();
    io.count_fetch_reads(slots.len());
    let shared = targets.clone();
    let job_slots = slots.clone();
    let read = io.run(move || read_slots(&shared, &job_slots, max_bytes, min_one, mode));
    let (mut done, busy) = match read.await {
        Ok(r) => r,
        Err(closed) => return closed_reads(slots, closed),
    };
    let mut remaining = max_bytes.saturating_sub(done.iter().map(|(_, r)| r.records_len()).sum());
    let mut min_one = min_one && done.iter().all(|(_, r)| r.records_len() == 0);
    for slot in busy {
        let Some(lane) = targets
            .get(slot)
            .and_then(|t| t.partition.as_ref())
            .map(|p| p.lane().clone())
        else {
            continue;
        };
        let shared = targets.clone();
        let r = io
            .run_ordered(&lane, move || {
                read_one(&shared[slot], remaining, min_one, mode, true)
            })
            .await;
        let r = match r {
            Ok(Some(r)) => r,
            Ok(None) => PartitionRead::error(ApiError::code(ErrorCode::UnknownServerError)),
            Err(closed) => PartitionRead::error(closed.to_api_error()),
        };
        if r.records_len() > 0 {
            min_one = false;
            remaining = remaining.saturating_sub(r.records_len());
        }
        done.push((slot, r));
    }
    done
}

fn closed_reads(
    slots: Vec<usize>,
    closed: crate::log_manager::PoolClosed,
) -> Vec<(usize, PartitionRead)> {
    slots
        .into_iter()
        .map(|slot| (slot, PartitionRead::error(closed.to_api_error())))
        .collect()
}

/// The reads of `slots` that did not have to wait, and the slots whose log was busy.
fn read_slots(
    targets: &[Target],
    slots: &[usize],
    max_bytes: usize,
    mut min_one: bool,
    mode: ReadMode,
) -> (Vec<(usize, PartitionRead)>, Vec<usize>) {
    let mut remaining = max_bytes;
    let mut done = Vec::with_capacity(slots.len());
    let mut busy = Vec::new();
    for &slot in slots {
        let Some(t) = targets.get(slot) else {
            continue;
        };
        let r = if t.denied {
            Some(PartitionRead::error(crate::auth::topic_denied(&t.topic)))
        } else {
            read_one(t, remaining, min_one, mode, false)
        };
        match r {
            Some(r) => {
                if r.records_len() > 0 {
                    min_one = false;
                    remaining = remaining.saturating_sub(r.records_len());
                }
                done.push((slot, r));
            }
            None => busy.push(slot),
        }
    }
    (done, busy)
}

/// Reads one partition; with `wait` false, `None` if a writer holds its log (the read is
/// then redone on the partition's lane, behind that write).
fn read_one(
    t: &Target,
    remaining: usize,
    min_one: bool,
    mode: ReadMode,
    wait: bool,
) -> Option<PartitionRead> {
    let Some(partition) = &t.partition else {
        return Some(PartitionRead::error(ApiError::code(
            ErrorCode::UnknownTopicOrPartition,
        )));
    };
    if let Some(e) = &t.not_leader {
        return Some(PartitionRead::error(e.clone()));
    }
    if let Err(e) = partition.check_leader_epoch(t.request.current_leader_epoch) {
        return Some(PartitionRead::error(e));
    }
    let req = t.request;
    let limit = (req.partition_max_bytes.max(0) as usize).min(remaining);
    let read = |log: &strait_storage::PartitionLog| {
        let high_watermark = log.high_watermark();
        let last_stable_offset = log.last_stable_offset();
        let log_start_offset = log.log_start_offset();
        let base = PartitionRead {
            error: None,
            high_watermark,
            last_stable_offset,
            log_start_offset,
            records: Records::Bytes(Bytes::new()),
            last_offset: None,
            aborted: Vec::new(),
            diverging: None,
        };
        // KIP-320: a fetcher whose last fetched epoch ended earlier than its position has
        // diverged; tell it where, and send nothing.
        if req.last_fetched_epoch >= 0 {
            let (epoch, end_offset) = log.end_offset_for_epoch(req.last_fetched_epoch);
            if epoch < 0 || end_offset < req.fetch_offset {
                return PartitionRead {
                    diverging: Some((epoch, end_offset)),
                    ..base
                };
            }
        }
        let isolation = if mode.from_follower {
            FetchIsolation::LogEnd
        } else if mode.read_committed {
            FetchIsolation::TxnCommitted
        } else {
            FetchIsolation::HighWatermark
        };
        let slice = log
            .read_isolated_slice(req.fetch_offset, limit, isolation, min_one)
            .and_then(|s| {
                // Small records are cheaper copied into the frame than sent apart.
                let records = if mode.file_records && s.records.len() >= SEPARATE_RECORDS_MIN {
                    Records::File(s.records.clone())
                } else if s.records.is_empty() {
                    Records::Bytes(Bytes::new())
                } else {
                    Records::Bytes(Bytes::from(s.records.read()?))
                };
                Ok((s, records))
            });
        match slice {
            Ok((s, records)) => PartitionRead {
                records,
                last_offset: s.last_offset,
                aborted: s.aborted_transactions.unwrap_or_default(),
                ..base
            },
            Err(ReadError::OffsetOutOfRange { .. }) => PartitionRead {
                error: Some(ApiError::code(ErrorCode::OffsetOutOfRange)),
                ..base
            },
            Err(e) => PartitionRead {
                error: Some(ApiError::new(ErrorCode::KafkaStorageError, e.to_string())),
                ..base
            },
        }
    };
    let result = if wait {
        partition.with_log(read)
    } else {
        partition.try_with_log(read)?
    };
    Some(result.unwrap_or_else(PartitionRead::error))
}
