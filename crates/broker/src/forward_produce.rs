//! Write forwarding, the broker's half: which Produce requests to a mirror are forwarded
//! to its source ([`route`]) and the per-partition forward with its promote check
//! ([`forward_topic`]). The source side lives in `strait_link::forward`.
//!
//! Rules (README "Write forwarding"):
//! * forwarded: a mirror in state ACTIVE whose link has `mirror.produce.forwarding.enable`
//!   on and is not paused. The client's WRITE on the (destination) topic is checked first,
//!   as for any produce; the source then checks the link's own principal.
//! * not forwarded, non-retriable INVALID_REQUEST naming the link: a PAUSED or FAILED
//!   mirror, or a paused link. They do not copy, so an acknowledged offset would not show
//!   up on this topic (and a FAILED mirror may never copy again): the producer must not
//!   believe its record is on the topic its consumers read.
//! * PENDING_STOPPED: held by the produce handler until the promotion is decided, then
//!   written locally (STOPPED) or forwarded (back to ACTIVE).
//! * transactional produce: INVALID_TXN_STATE (transactions are not forwarded: the
//!   destination's coordinator cannot commit on the source).
//!
//! The promote check: a write forwarded while the mirror was ACTIVE can reach the source
//! after the promotion read the source high watermark it stops at, so the record would be
//! on the source and not on the promoted topic. After the source's acknowledgement the
//! mirror state is read again; if a promotion started, the answer waits for it (within the
//! produce timeout) and succeeds only if the record's offset is below the partition's final
//! offset (it was copied). Otherwise the producer gets NOT_LEADER_OR_FOLLOWER (retriable):
//! its retry lands on the promoted topic, where an idempotent producer's sequence continues
//! from the mirrored producer state, so the record is written exactly once there.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse,
};
use strait_link::forward::{ForwardError, ForwardMode, Forwarded};
use strait_link::LinkManager;
use strait_protocol::ErrorCode;
use strait_records::BatchIter;

use crate::broker::Broker;
use crate::error::ApiError;
use crate::handlers::str_bytes;
use crate::topics::{Topic, TopicManager};

/// The least time a forward is given, whatever the request's timeout.
const MIN_FORWARD_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Where a Produce to a topic goes.
pub(crate) enum Route {
    /// Written here (a normal topic, a promoted one, or a mirror without forwarding: the
    /// append path answers its read-only error).
    Local,
    /// Sent to the source over `link`.
    Forward { link: String, source_topic: String },
    /// A forwarding link's mirror that cannot forward now (module docs).
    Refused(ApiError),
}

/// The route of a Produce to `topic`.
pub(crate) fn route(broker: &Broker, topic: &Topic) -> Route {
    let Some(m) = topic.mirror() else {
        return Route::Local;
    };
    let Some(links) = broker.links() else {
        return Route::Local;
    };
    let mode = links.forward_mode(&m.link_name);
    if mode == ForwardMode::Off {
        return Route::Local;
    }
    let why_not = match (m.state.as_str(), mode) {
        ("ACTIVE", ForwardMode::On) => {
            return Route::Forward {
                link: m.link_name,
                source_topic: m.source_topic,
            }
        }
        ("ACTIVE", _) => format!("cluster link '{}' is paused", m.link_name),
        ("PAUSED" | "FAILED", _) => format!("the mirror is {}", m.state),
        // STOPPED writes locally; PENDING_STOPPED was held until decided.
        _ => return Route::Local,
    };
    let reason = topic.read_only_reason().unwrap_or_default();
    Route::Refused(ApiError::new(
        ErrorCode::InvalidRequest,
        format!("{reason}; writes are not forwarded to the source while {why_not}: it is not copying, so the record would not reach this topic"),
    ))
}

/// Whether the records contain a transactional batch (framing errors are the source's
/// to report).
fn has_transactional_batch(records: &[u8]) -> bool {
    BatchIter::frame_all(records)
        .map(|bs| bs.iter().any(|b| b.header().is_transactional()))
        .unwrap_or(false)
}

/// Forwards every partition of one topic of a Produce request (concurrently; each
/// partition's own order is the request's) and builds its partition responses.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn forward_topic(
    broker: &Broker,
    topic: &Arc<Topic>,
    link: &str,
    source_topic: &str,
    partition_data: Vec<PartitionProduceData>,
    acks: i16,
    deadline: Instant,
    transactional_id: Option<&str>,
    version: i16,
) -> Vec<PartitionProduceResponse> {
    // A zero or tiny produce timeout (acks=0 clients may send one) would fail every
    // forward before the source could answer: forwards get at least this long.
    let deadline = deadline.max(Instant::now() + MIN_FORWARD_TIME);
    let mut responses: Vec<Option<PartitionProduceResponse>> = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (slot, pd) in partition_data.into_iter().enumerate() {
        responses.push(None);
        let index = pd.index;
        let records = pd.records.unwrap_or_default();
        let refused = if topic.partition(index).is_none() {
            Some(ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!(
                    "This server does not host this topic-partition: {}-{index}",
                    topic.name
                ),
            ))
        } else if records.is_empty() {
            Some(ApiError::new(
                ErrorCode::InvalidRecord,
                "produce request has no record batches",
            ))
        } else if transactional_id.is_some() || has_transactional_batch(&records) {
            Some(ApiError::new(
                ErrorCode::InvalidTxnState,
                format!("topic '{}' is a mirror whose writes are forwarded over cluster link '{link}'; transactions are not forwarded: write transactionally after promote", topic.name),
            ))
        } else {
            None
        };
        if let Some(e) = refused {
            let err = ForwardError {
                code: e.code,
                message: e.message.unwrap_or_default(),
                record_errors: Vec::new(),
            };
            responses[slot] = Some(response(index, Err(err), version));
            continue;
        }
        let Some(links) = broker.links().cloned() else {
            continue;
        };
        let (topics, topic) = (broker.topics.clone(), topic.clone());
        let (link, source_topic) = (link.to_string(), source_topic.to_string());
        tasks.spawn(async move {
            let r = forward_one(
                &links,
                &topics,
                &topic,
                &link,
                &source_topic,
                index,
                records,
                acks,
                deadline,
            )
            .await;
            (slot, response(index, r, version))
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((slot, r)) => {
                if let Some(s) = responses.get_mut(slot) {
                    *s = Some(r);
                }
            }
            Err(e) => tracing::error!(error = %e, "forwarded produce task failed"),
        }
    }
    responses
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                // Only a panicked task (logged above) leaves a slot empty.
                PartitionProduceResponse::default()
                    .with_error_code(ErrorCode::UnknownServerError.code())
                    .with_base_offset(-1)
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn forward_one(
    links: &LinkManager,
    topics: &TopicManager,
    topic: &Topic,
    link: &str,
    source_topic: &str,
    index: i32,
    records: Bytes,
    acks: i16,
    deadline: Instant,
) -> Result<Forwarded, ForwardError> {
    let forwarded = links
        .forward_produce(link, source_topic, index, records, acks, deadline)
        .await?;
    confirm_copied(topics, topic, link, index, forwarded, deadline).await
}

/// The promote check (module docs).
async fn confirm_copied(
    topics: &TopicManager,
    topic: &Topic,
    link: &str,
    index: i32,
    forwarded: Forwarded,
    deadline: Instant,
) -> Result<Forwarded, ForwardError> {
    let state = |t: &Topic| t.mirror().map(|m| m.state).unwrap_or_default();
    match state(topic).as_str() {
        "PENDING_STOPPED" | "STOPPED" => {}
        // Still mirroring: the link copies the record at its offset.
        _ => return Ok(forwarded),
    }
    if !crate::topics::wait_for_cutover(topics, topic, deadline).await {
        return Err(ForwardError {
            code: ErrorCode::RequestTimedOut,
            message: format!("{}-{index}: the write was forwarded over cluster link '{link}' as the mirror's promotion began, and the promotion did not complete within the request timeout", topic.name),
            record_errors: Vec::new(),
        });
    }
    let Some(m) = topic.mirror().filter(|m| m.state == "STOPPED") else {
        // The promotion was undone (back to a mirroring state): the link copies it.
        return Ok(forwarded);
    };
    let final_offset = m
        .final_offsets
        .as_ref()
        .and_then(|f| f.get(usize::try_from(index).ok()?).copied());
    match final_offset {
        Some(end) if forwarded.base_offset < end => Ok(forwarded),
        _ => {
            tracing::info!(topic = %topic.name, partition = index, offset = forwarded.base_offset, link, "forwarded write landed on the source after the promotion's final offset; the producer retries on the promoted topic");
            Err(ForwardError {
                code: ErrorCode::NotLeaderOrFollower,
                message: format!("{}-{index} was promoted while this write was forwarded over cluster link '{link}', and the write is not part of the promoted topic; retry to write it there", topic.name),
                record_errors: Vec::new(),
            })
        }
    }
}

fn response(
    index: i32,
    r: Result<Forwarded, ForwardError>,
    version: i16,
) -> PartitionProduceResponse {
    let mut pr = PartitionProduceResponse::default().with_index(index);
    match r {
        Ok(f) => {
            pr.base_offset = f.base_offset;
            pr.log_append_time_ms = f.log_append_time_ms;
            if version >= 5 {
                pr.log_start_offset = f.log_start_offset;
            }
        }
        Err(e) => {
            tracing::debug!(partition = index, code = %e.code, error = %e.message, "forwarded produce failed");
            pr.error_code = e.code.code();
            pr.base_offset = -1;
            if version >= 8 {
                pr.error_message = Some(str_bytes(e.message));
                pr.record_errors = e
                    .record_errors
                    .into_iter()
                    .map(|(i, m)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(i)
                            .with_batch_index_error_message(m.map(str_bytes))
                    })
                    .collect();
            }
        }
    }
    pr
}
