//! Produce (key 0): the client append path. Each partition's records go through
//! `PartitionLog::append_leader` (offsets assigned, leader epoch stamped, CRC and
//! idempotent-producer sequence checked). A partition either gets all its batches appended
//! or none, and an error names what was wrong. acks=0 gets no response.
//!
//! A produce to a mirror being promoted (PENDING_STOPPED) is held, without blocking a
//! worker, until the promotion commits ([`crate::topics::wait_for_cutover`]), at most for the
//! request's timeout (then REQUEST_TIMED_OUT, retriable); a produce to any other read-only
//! mirror fails at once with non-retriable INVALID_REQUEST naming the link, unless its link
//! forwards writes (`mirror.produce.forwarding.enable`): then an ACTIVE mirror's records go
//! to the source ([`crate::forward_produce`]).
//!
//! Transactional records are verified with the transaction coordinator first
//! ([`crate::produce_checks`]); its errors are translated as Kafka does for produce.
//!
//! The append itself runs on the partition's lane of the log manager
//! ([`crate::log_manager`]): every local partition of the request is checked first, then
//! all their appends go to the I/O threads in one hand-off
//! ([`crate::log_manager::LogManager::submit_on_lanes`]: one thread wake-up and one reply
//! wake-up per request, not per partition — that hand-off pair is most of a small
//! produce's latency), each keeping its place on its partition's lane (so one
//! connection's appends to a partition keep their order), and the request awaits them
//! together. No async worker ever waits on a `write(2)` or `fsync`.
//!
//! Topic configs applied here: `min.insync.replicas` (acks=all below it gets
//! NOT_ENOUGH_REPLICAS) and `compression.type` (batches in another codec are re-encoded by
//! [`crate::recompress`] before the append).
//!
//! Replication (a multi-voter cluster, [`crate::replication::replica`]): `acks=all` is
//! admitted against the partition's committed ISR (NOT_ENOUGH_REPLICAS below
//! `min.insync.replicas`); the append re-checks under the log lock that this node still
//! leads in the epoch it stamps; after it the produce parks on the partition's leader
//! state until the high watermark passes its last record (success, or
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND with too small an ISR), until the request's
//! `timeout_ms` runs out (REQUEST_TIMED_OUT) or until leadership is lost
//! (NOT_LEADER_OR_FOLLOWER). The wait is an awaited oneshot: no worker or lane is held.
//! acks=0/1 never wait. A single node (unreplicated logs) behaves as without replication:
//! its ISR is itself.

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use strait_protocol::ErrorCode;
use strait_storage::AppendError;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::forward_produce::Route;
use crate::replication::replica::{self, AcksRefusal, AcksWaiter};
use crate::topic_config::ProduceSettings;
use crate::topics::now_ms;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let v = ctx.api_version;
    let acks = req.acks;
    let acks_error = (!matches!(acks, -1..=1)).then(|| {
        ApiError::new(
            ErrorCode::InvalidRequiredAcks,
            format!("acks must be -1, 0 or 1, got {acks}"),
        )
    });
    // A produce to a mirror being promoted is held until the promotion is decided, at most
    // for the request's timeout.
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    let transactional_id = req.transactional_id.as_ref().map(|t| t.to_string());
    let mut responses: Vec<PendingTopic> = Vec::with_capacity(req.topic_data.len());
    // The request's local appends, handed to the I/O threads together below.
    let mut appends: Vec<(std::sync::Arc<crate::log_manager::Lane>, AppendJob)> = Vec::new();
    // Forwarded topics wait on the source; they go after the local appends are queued.
    let mut forwards = Vec::new();
    for topic_data in req.topic_data {
        let name = topic_data.name.0.to_string();
        let topic = broker.topics.get(&name);
        let settings = topic.as_ref().map(|t| t.produce_settings());
        let denied = acks_error.clone().or_else(|| {
            crate::auth::check_produce(broker, ctx, transactional_id.as_deref(), &name).err()
        });
        let denied = match (&denied, &topic) {
            (None, Some(t)) => {
                if crate::topics::wait_for_cutover(&broker.topics, t, deadline).await {
                    None
                } else {
                    // Retriable: the producer resends and lands on the promoted topic.
                    Some(ApiError::new(
                        ErrorCode::RequestTimedOut,
                        format!(
                            "topic '{name}' is being promoted from a mirror; the promotion did not complete within the request timeout"
                        ),
                    ))
                }
            }
            _ => denied,
        };
        // Write forwarding: an ACTIVE mirror of a forwarding link goes to the source.
        let denied = match (denied, &topic) {
            (None, Some(t)) => match crate::forward_produce::route(broker, t) {
                Route::Forward { link, source_topic } => {
                    responses.push(PendingTopic::Forwarded(forwards.len()));
                    forwards.push((t.clone(), link, source_topic, topic_data));
                    continue;
                }
                Route::Refused(e) => Some(e),
                Route::Local => None,
            },
            (denied, _) => denied,
        };
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for pd in topic_data.partition_data {
            let outcome = match (&denied, &topic) {
                (Some(e), _) => Outcome::Done(Err((e.clone(), None))),
                (None, None) => Outcome::Done(Err((
                    ApiError::new(
                        ErrorCode::UnknownTopicOrPartition,
                        format!(
                            "This server does not host this topic-partition: {name}-{}",
                            pd.index
                        ),
                    ),
                    None,
                ))),
                (None, Some(topic)) => match prepare_append(
                    broker,
                    topic,
                    pd.index,
                    pd.records,
                    acks,
                    settings.as_deref(),
                    transactional_id.as_deref(),
                ) {
                    Ok(job) => {
                        appends.push(job);
                        Outcome::Pending(appends.len() - 1)
                    }
                    Err(e) => Outcome::Done(Err(e)),
                },
            };
            partition_responses.push((pd.index, outcome));
        }
        responses.push(PendingTopic::Local {
            name: topic_data.name,
            partitions: partition_responses,
        });
    }
    let pending = if appends.is_empty() {
        None
    } else {
        Some(broker.topics.io().submit_on_lanes(appends, AppendJob::run))
    };
    let mut forwarded = Vec::with_capacity(forwards.len());
    for (t, link, source_topic, topic_data) in forwards {
        let partition_responses = crate::forward_produce::forward_topic(
            broker,
            &t,
            &link,
            &source_topic,
            topic_data.partition_data,
            acks,
            deadline,
            transactional_id.as_deref(),
            v,
        )
        .await;
        forwarded.push(Some(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partition_responses),
        ));
    }
    // One wait for every local partition of the request; a slot left empty is an append
    // the log manager refused (shutting down) or that failed to run.
    let appended: Vec<Option<JobResult>> = match pending {
        None => Vec::new(),
        Some(Ok(rx)) => rx.await.unwrap_or_default(),
        Some(Err(_)) => Vec::new(),
    };
    let mut appended = wait_for_replicas(appended, req.timeout_ms).await;
    let mut out = Vec::with_capacity(responses.len());
    for pending in responses {
        let (name, partitions) = match pending {
            PendingTopic::Forwarded(i) => {
                if let Some(r) = forwarded.get_mut(i).and_then(Option::take) {
                    out.push(r);
                }
                continue;
            }
            PendingTopic::Local { name, partitions } => (name, partitions),
        };
        let mut partition_responses = Vec::with_capacity(partitions.len());
        for (index, outcome) in partitions {
            let result = match outcome {
                Outcome::Done(r) => r,
                Outcome::Pending(slot) => appended
                    .get_mut(slot)
                    .and_then(Option::take)
                    .unwrap_or_else(|| Err((crate::log_manager::PoolClosed.to_api_error(), None))),
            };
            let mut pr = PartitionProduceResponse::default().with_index(index);
            match result {
                Ok((info, log_append_time_ms)) => {
                    pr.base_offset = info.base_offset;
                    pr.log_append_time_ms = log_append_time_ms;
                    if v >= 5 {
                        pr.log_start_offset = info.log_start_offset;
                    }
                }
                Err((e, batch_index)) => {
                    tracing::debug!(topic = %name.0, partition = index, error = %e, "produce rejected");
                    pr.error_code = e.error_code();
                    pr.base_offset = -1;
                    if v >= 8 {
                        pr.error_message = e.message.clone().map(str_bytes);
                        if let Some(i) = batch_index {
                            pr.record_errors = vec![BatchIndexAndErrorMessage::default()
                                .with_batch_index(i)
                                .with_batch_index_error_message(e.message.clone().map(str_bytes))];
                        }
                    }
                }
            }
            partition_responses.push(pr);
        }
        out.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partition_responses),
        );
    }
    // Appends woke the fetches waiting on their partitions (`Partition::with_log_mut`).
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(out))
}

/// A topic of the request: forwarded to a link's source (its index in the forwards), or
/// appended here.
enum PendingTopic {
    Forwarded(usize),
    Local {
        name: kafka_protocol::messages::TopicName,
        partitions: Vec<(i32, Outcome)>,
    },
}

/// One partition: refused before queueing, or its slot in the request's appends.
enum Outcome {
    Done(AppendResult),
    Pending(usize),
}

/// One partition's checked append, run on an I/O thread in its lane's order.
struct AppendJob {
    partition: std::sync::Arc<crate::topics::Partition>,
    topic: std::sync::Arc<crate::topics::Topic>,
    index: i32,
    records: bytes::Bytes,
    epoch: i32,
    now: i64,
    guard: strait_storage::VerificationGuard,
    /// This broker (a replicated log re-checks its leadership under the log lock).
    node_id: i32,
    /// acks=all: park until the high watermark passes the append.
    acks_all: bool,
    min_insync_replicas: usize,
}

/// An append's outcome, and the `acks=all` wait it still needs (replicated leaders).
type JobResult = Result<(Appended, i64, Option<AcksWaiter>), (ApiError, Option<i32>)>;

impl AppendJob {
    fn run(self) -> JobResult {
        let AppendJob {
            partition,
            topic,
            index,
            records,
            epoch,
            now,
            guard,
            node_id,
            acks_all,
            min_insync_replicas,
        } = self;
        // Checked again under the log lock: a cutover or a restore makes the topic
        // read-only in one metadata write and then takes every log lock once, so an append
        // that passed the first check but had not yet locked the log cannot land after it.
        // A replicated log also re-checks leadership there: the role transition reads the
        // log end under this lock after publishing the new registration and epoch, so an
        // append in a lost leadership never lands in a follower's log.
        let (info, log_end_offset) = partition
            .with_log_mut(|log| {
                if let Some(reason) = topic.read_only_reason() {
                    return Err(ApiError::new(ErrorCode::InvalidRequest, reason));
                }
                // Stamped with the epoch read here, under the lock the transitions take:
                // a re-election of this node in a newer epoch is no reason to refuse.
                let epoch = if log.is_replicated() {
                    partition.ensure_leader(node_id)?;
                    partition.leader_epoch()
                } else {
                    epoch
                };
                Ok(log
                    .append_leader(&records, epoch, now, guard)
                    .map(|info| (info, log.log_end_offset())))
            })
            .map_err(|e| (e, None))?
            .map_err(|e| (e, None))?
            .map_err(|e| map_append_error(&topic.name, index, e))?;
        // The log lock is released: the replica lock may be taken (replica before log).
        let waiter = replica::after_leader_append(
            &partition,
            log_end_offset,
            acks_all.then_some(log_end_offset),
            min_insync_replicas,
            now,
        )
        .map_err(|code| {
            (
                ApiError::new(
                    code,
                    format!(
                        "{}-{index}: leadership moved before the append was acknowledged",
                        topic.name
                    ),
                ),
                None,
            )
        })?;
        Ok((
            Appended {
                base_offset: info.base_offset,
                log_start_offset: info.log_start_offset,
                partition: waiter.is_some().then(|| partition.clone()),
            },
            info.log_append_time_ms,
            waiter,
        ))
    }
}

/// Waits for every parked `acks=all` append, all against one deadline (the request's
/// `timeout_ms` from now, Kafka's delayed produce); the others pass through.
async fn wait_for_replicas(
    appended: Vec<Option<JobResult>>,
    timeout_ms: i32,
) -> Vec<Option<AppendResult>> {
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    let mut out = Vec::with_capacity(appended.len());
    for slot in appended {
        let Some(result) = slot else {
            out.push(None);
            continue;
        };
        let result = match result {
            Err(e) => Err(e),
            Ok((info, time, None)) => Ok((info, time)),
            Ok((info, time, Some(waiter))) => {
                // One shared deadline: awaiting them one after the other takes no longer
                // than awaiting them together.
                let AcksWaiter { id, rx } = waiter;
                match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(Ok(()))) => Ok((info, time)),
                    Ok(Ok(Err(code))) => Err((acks_error(code), None)),
                    // Dropped without an answer: its leader state is gone.
                    Ok(Err(_)) => Err((acks_error(ErrorCode::NotLeaderOrFollower), None)),
                    Err(_) => {
                        waiter_timed_out(&info, id);
                        Err((
                            ApiError::new(
                                ErrorCode::RequestTimedOut,
                                "the in-sync replicas did not acknowledge the records within the request timeout",
                            ),
                            None,
                        ))
                    }
                }
            }
        };
        out.push(Some(result));
    }
    out
}

fn acks_error(code: ErrorCode) -> ApiError {
    let message = match code {
        ErrorCode::NotEnoughReplicasAfterAppend => {
            "the records were written, but the in-sync replica set shrank below min.insync.replicas"
        }
        ErrorCode::NotLeaderOrFollower => "leadership moved before the records were replicated",
        _ => "the records were not acknowledged by the in-sync replicas",
    };
    ApiError::new(code, message)
}

/// Forgets a timed-out waiter on its partition (it may have completed meanwhile).
fn waiter_timed_out(info: &Appended, id: u64) {
    if let Some(p) = &info.partition {
        p.replica().lock().cancel(id);
    }
}

struct Appended {
    base_offset: i64,
    log_start_offset: i64,
    /// Set for a replicated partition (to cancel a timed-out `acks=all` waiter).
    partition: Option<std::sync::Arc<crate::topics::Partition>>,
}

type AppendResult = Result<(Appended, i64), (ApiError, Option<i32>)>;

/// Checks a partition's produce and prepares its append for the partition's lane.
fn prepare_append(
    broker: &Broker,
    topic: &std::sync::Arc<crate::topics::Topic>,
    index: i32,
    records: Option<bytes::Bytes>,
    acks: i16,
    settings: Option<&ProduceSettings>,
    transactional_id: Option<&str>,
) -> Result<(std::sync::Arc<crate::log_manager::Lane>, AppendJob), (ApiError, Option<i32>)> {
    let partition = topic.partition(index).ok_or_else(|| {
        (
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!(
                    "This server does not host this topic-partition: {}-{index}",
                    topic.name
                ),
            ),
            None,
        )
    })?;
    partition
        .ensure_leader(broker.node_id())
        .map_err(|e| (e, None))?;
    if let Some(reason) = topic.read_only_reason() {
        // Non-retriable, so producers fail fast instead of retrying into a mirror.
        return Err((ApiError::new(ErrorCode::InvalidRequest, reason), None));
    }
    let min_isr = settings.map_or(1, |s| s.min_insync_replicas);
    let min_insync_replicas = usize::try_from(min_isr).unwrap_or(1).max(1);
    let replicated = partition.replica().is_replicated();
    if acks == -1 {
        // Kafka's leader refuses acks=all before appending when the ISR is below
        // min.insync.replicas; acks=0/1 do not wait for replicas and are unaffected. A
        // single node is its own ISR of one.
        let isr_size = if replicated {
            match partition
                .replica()
                .lock()
                .check_acks_all(min_insync_replicas)
            {
                Ok(()) => None,
                Err(AcksRefusal::NotLeader) => {
                    return Err((
                        ApiError::new(
                            ErrorCode::NotLeaderOrFollower,
                            format!(
                                "Broker {} is not the leader of partition {}-{index}.",
                                broker.node_id(),
                                topic.name
                            ),
                        ),
                        None,
                    ))
                }
                Err(AcksRefusal::NotEnoughReplicas(n)) => Some(n.isr_size),
            }
        } else {
            (min_insync_replicas > 1).then_some(1)
        };
        if let Some(isr_size) = isr_size {
            return Err((
                ApiError::new(
                    ErrorCode::NotEnoughReplicas,
                    format!(
                        "The size of the current ISR ({isr_size}) is insufficient to satisfy the min.isr requirement of {min_isr} for partition {}-{index}",
                        topic.name
                    ),
                ),
                None,
            ));
        }
    }
    let records = records.unwrap_or_default();
    if records.is_empty() {
        return Err((
            ApiError::new(
                ErrorCode::InvalidRecord,
                "produce request has no record batches",
            ),
            None,
        ));
    }
    // compression.type: re-encode batches in another codec (never on the mirror path).
    let recompressed = match settings.and_then(|s| s.compression) {
        Some(codec) => crate::recompress::recompress(&records, codec).map_err(|e| (e, None))?,
        None => None,
    };
    let records = recompressed.map(bytes::Bytes::from).unwrap_or(records);
    // Transactional records: the coordinator must confirm the partition is in the
    // producer's ongoing transaction (KIP-890); the guard ties that answer to the append.
    let now = now_ms();
    let guard = crate::produce_checks::verify_transactional_records(
        broker,
        &partition,
        &topic.name,
        index,
        transactional_id,
        &records,
        now,
    )
    .map_err(|e| (e, None))?;
    let epoch = partition.leader_epoch();
    let lane = partition.lane().clone();
    Ok((
        lane,
        AppendJob {
            partition,
            topic: topic.clone(),
            index,
            records,
            epoch,
            now,
            guard,
            node_id: broker.node_id(),
            acks_all: acks == -1 && replicated,
            min_insync_replicas,
        },
    ))
}

fn map_append_error(topic: &str, index: i32, e: AppendError) -> (ApiError, Option<i32>) {
    if let AppendError::CompactedTopicRequiresKey { batch_index, .. } = e {
        // Kafka's LogValidator message, with the batch reported in record_errors.
        let message = format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-{index}."
        );
        return (
            ApiError::new(ErrorCode::InvalidRecord, message),
            i32::try_from(batch_index).ok(),
        );
    }
    let message = format!("{topic}-{index}: {e}");
    let code = match &e {
        AppendError::Corrupt(_) => ErrorCode::CorruptMessage,
        AppendError::InvalidRecord(_) => ErrorCode::InvalidRecord,
        AppendError::RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
        AppendError::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
        AppendError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
        AppendError::InvalidTxnState(_) => ErrorCode::InvalidTxnState,
        AppendError::TransactionCoordinatorFenced { .. } => ErrorCode::TransactionCoordinatorFenced,
        AppendError::UnexpectedAppendOffset { .. }
        | AppendError::OffsetsOutOfOrder { .. }
        | AppendError::CompactedTopicRequiresKey { .. } => ErrorCode::InvalidRecord,
        AppendError::Io(_) => {
            tracing::error!(topic, partition = index, error = %e, "log append failed");
            ErrorCode::KafkaStorageError
        }
        // Logged once, loudly, by the storage layer when the partition went offline.
        AppendError::Offline(_) => ErrorCode::KafkaStorageError,
    };
    (ApiError::new(code, message), None)
}
