//! Applying one fetch response to the mirror partitions it answers.
//!
//! Per partition: complete batches only (a partial trailing batch is dropped and fetched
//! again), batches wholly below the fetch offset skipped, the destination leader epoch
//! raised to the highest source epoch in the data, then the bytes appended unchanged
//! through the broker's mirror path, as one write owned by the partition's
//! [`crate::cutover`] slot (refused once promote/failover fenced it). Source errors follow
//! Kafka's follower rules (protocol-notes §5.4-5.5): leadership errors ask the link loop
//! for fresh metadata; OFFSET_OUT_OF_RANGE truncates to the source's end or restarts at its
//! log start, recording what was lost.
//!
//! Invariant: every partition's outcome is its own. A failure is reported for that
//! partition alone ([`LinkShared::partition_failed`], with a [`Reason`]) and returned to the
//! fetcher, which backs off that partition only; the other partitions of the response are
//! applied as if it were not there, clean ones first so that a slow error path (the offset
//! lookups of OFFSET_OUT_OF_RANGE) never delays their appends.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use strait_client::fetch::FetchedPartition;
use strait_client::offsets::OffsetSpec;
use strait_client::Client;
use strait_protocol::ErrorCode;
use strait_records::BatchIter;

use super::Assignment;
use crate::faults::{Failure, Reason};
use crate::local::PartitionPosition;
use crate::shared::{now_ms, LinkShared};

/// A mirror partition: (mirror topic, partition).
pub(super) type Key = (String, i32);

/// A fetch response waiting to be appended, with the local positions it was fetched at.
pub(super) struct Pending {
    pub response: strait_client::fetch::FetchResult,
    pub positions: Vec<(Assignment, PartitionPosition)>,
}

/// What the next request may assume about the partitions of a pending response.
#[derive(Default)]
pub(super) struct Prediction {
    /// Local positions after the response is appended, for the partitions that will land
    /// cleanly (no error, no divergence, batches continuing the log).
    pub positions: HashMap<Key, PartitionPosition>,
    /// Partitions whose outcome cannot be predicted (an error, a divergence, a batch
    /// straddling the log end): left out of the next request until applied, so they never
    /// stop the others from pipelining.
    pub held: HashSet<Key>,
}

impl Pending {
    /// The position entry of each (source topic, partition), so matching a response of
    /// many partitions is linear, not a scan per partition.
    fn by_source(&self) -> HashMap<(&str, i32), usize> {
        self.positions
            .iter()
            .enumerate()
            .map(|(i, (a, _))| ((a.source_topic.as_str(), a.partition), i))
            .rev() // the first entry wins, as a scan would find it
            .collect()
    }

    /// Predicts, partition by partition, where the local logs will end once this response
    /// is appended.
    pub fn predict(&self) -> Prediction {
        let mut out = Prediction::default();
        let index = self.by_source();
        for fp in &self.response.partitions {
            let Some((a, pos)) = index
                .get(&(fp.topic.as_str(), fp.partition))
                .and_then(|&i| self.positions.get(i))
            else {
                continue;
            };
            let key = (a.mirror_topic.clone(), a.partition);
            match predict_one(fp, *pos) {
                Some(next) => {
                    out.positions.insert(key, next);
                }
                None => {
                    out.held.insert(key);
                }
            }
        }
        out
    }
}

fn predict_one(fp: &FetchedPartition, pos: PartitionPosition) -> Option<PartitionPosition> {
    if fp.error.is_some() || fp.diverging_epoch.is_some() {
        return None;
    }
    let mut next = pos;
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
    if fp.log_start_offset > next.log_start_offset && fp.log_start_offset <= next.log_end_offset {
        next.log_start_offset = fp.log_start_offset;
    }
    Some(next)
}

/// Appends every partition of a pending response. Returns the partitions the fetcher must
/// back off (each failed on its own; the others were applied regardless).
pub(super) async fn apply_pending(
    shared: &Arc<LinkShared>,
    client: &Client,
    broker: i32,
    p: Pending,
) -> Vec<Key> {
    let mut backoff = Vec::new();
    if let Some(d) = crate::cutover::append_delay() {
        tokio::time::sleep(d).await;
    }
    // Clean partitions first: an error path may wait on the source (offset lookups).
    let mut order: Vec<&FetchedPartition> = p.response.partitions.iter().collect();
    order.sort_by_key(|fp| fp.error.is_some() || fp.diverging_epoch.is_some());
    let index = p.by_source();
    for fp in order {
        let Some((a, pos)) = index
            .get(&(fp.topic.as_str(), fp.partition))
            .and_then(|&i| p.positions.get(i))
        else {
            continue;
        };
        match apply(shared, client, broker, a, *pos, fp).await {
            Err(f) => {
                tracing::debug!(link = %shared.name(), mirror = %a.mirror_topic, partition = a.partition, reason = f.reason.name(), error = %f.message, "mirror partition error");
                if f.repositioned {
                    shared.partition_repositioned(&a.mirror_topic, a.partition, &f);
                } else {
                    backoff.push((a.mirror_topic.clone(), a.partition));
                    shared.partition_failed(&a.mirror_topic, a.partition, &f);
                }
            }
            Ok(()) => shared.partition_recovered(&a.mirror_topic, a.partition),
        }
    }
    backoff
}

/// Applies one partition's fetch result. `Err` carries the reason and a description for
/// DescribeMirrors.
async fn apply(
    shared: &Arc<LinkShared>,
    client: &Client,
    broker: i32,
    a: &Assignment,
    pos: PartitionPosition,
    fp: &FetchedPartition,
) -> Result<(), Failure> {
    let fetch_offset = pos.log_end_offset;
    match fp.error {
        None => {}
        Some(ErrorCode::OffsetOutOfRange) => {
            return handle_out_of_range(shared, client, broker, a, fetch_offset).await;
        }
        Some(code) => {
            let reason = Reason::of_source_code(code);
            if matches!(
                reason,
                Reason::SourceUnavailable | Reason::SourcePartitionGone
            ) {
                // Leadership moved or the partition is gone: the link loop refreshes
                // source metadata and reassigns (or retires) the partition.
                shared.refresh.notify_one();
            }
            return Err(Failure::new(
                reason,
                format!("source answered {code} for the partition (fetch offset {fetch_offset})"),
            ));
        }
    }
    if let Some(div) = &fp.diverging_epoch {
        // The source truncated (unclean election): drop what it no longer has.
        let end = div.end_offset;
        let truncated = owned(shared, a, move |local, t, p| local.truncate_to(t, p, end))
            .await
            .map_err(|e| Failure::local(&e))?;
        if truncated.is_some() {
            tracing::warn!(mirror = %a.mirror_topic, partition = a.partition, epoch = div.epoch, end_offset = div.end_offset, "source log diverged; truncated the mirror");
        }
        return Ok(());
    }
    let now = now_ms();
    shared.update_stats(&a.mirror_topic, a.partition, |s| {
        s.source_high_watermark = fp.high_watermark;
        s.source_log_start_offset = fp.log_start_offset;
        s.last_fetch_ms = Some(now);
        s.bytes_fetched += fp.records.len() as u64;
        if fp.high_watermark <= fetch_offset {
            s.lag_ms = 0;
        }
    });
    if fp.records.is_empty() {
        return follow_log_start(shared, a, fp.log_start_offset).await;
    }
    // Complete batches only; skip those wholly before the fetch offset.
    let mut start = None;
    let mut end = 0usize;
    let mut first_base = 0i64;
    let mut first_timestamp = -1i64;
    let mut max_epoch = -1i32;
    let mut records = 0u64;
    for batch in BatchIter::new(&fp.records) {
        let batch = batch.map_err(|e| {
            Failure::new(
                Reason::SourceDataCorrupt,
                format!("source sent a malformed batch: {e}"),
            )
        })?;
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
    if first_base < fetch_offset && fetch_offset != pos.log_start_offset {
        return Err(Failure::new(
            Reason::UnexpectedTruncation,
            format!("source batch at offset {first_base} straddles the mirror's log end offset {fetch_offset}; the logs have diverged"),
        ));
    }
    // One owned write: the restart, the epoch raise and the append all happen or, once the
    // partition is fenced for a cutover, none does.
    let bytes = fp.records.slice(start..end);
    let appended = owned(shared, a, move |local, t, p| {
        crate::faults::injected_append_fault(t, p)?;
        if first_base < fetch_offset {
            // An empty mirror whose source log start lies inside a batch (DeleteRecords on
            // the source): restart the local log at the batch's base, as Kafka's follower does.
            local.truncate_fully_and_start_at(t, p, first_base)?;
        }
        if max_epoch >= 0 {
            local.raise_leader_epoch(t, p, max_epoch)?;
        }
        local.append_mirrored(t, p, &bytes)
    })
    .await
    .map_err(|e| Failure::local(&e))?;
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
    follow_log_start(shared, a, fp.log_start_offset).await
}

/// Runs a local mutation of `a`'s partition through the partition's owner
/// ([`crate::cutover::MirrorOwner`]) on the partition's I/O thread
/// ([`crate::local::owned_write`]); `Ok(None)`: fenced for a cutover, nothing done.
async fn owned<T: Send + 'static>(
    shared: &Arc<LinkShared>,
    a: &Assignment,
    f: impl FnOnce(&dyn crate::local::LocalCluster, &str, i32) -> Result<T, crate::local::LocalError>
        + Send
        + 'static,
) -> Result<Option<T>, crate::local::LocalError> {
    crate::local::owned_write(shared, &a.mirror_topic, a.partition, f).await
}

async fn follow_log_start(
    shared: &Arc<LinkShared>,
    a: &Assignment,
    source_log_start: i64,
) -> Result<(), Failure> {
    let pos = shared
        .local
        .partition_position(&a.mirror_topic, a.partition)
        .map_err(|e| Failure::local(&e))?;
    if source_log_start > pos.log_start_offset && source_log_start <= pos.log_end_offset {
        owned(shared, a, move |local, t, p| {
            local.advance_log_start_offset(t, p, source_log_start)
        })
        .await
        .map_err(|e| Failure::local(&e))?;
    }
    Ok(())
}

/// Kafka's `AbstractFetcherThread.fetchOffsetAndTruncate` for a consumer-style fetcher.
///
/// `Err` unless fenced: an OFFSET_OUT_OF_RANGE is one attempt of the partition's run. When
/// the follower rules repositioned the log it is [`Failure::repositioned`] (the next fetch
/// goes out at once and, if it works, ends the run); when they could not (the source lists
/// the mirror's offset as in range yet refuses it) it is a plain failure: the partition
/// backs off, and repetitions put it in error with OFFSET_OUT_OF_RANGE.
async fn handle_out_of_range(
    shared: &Arc<LinkShared>,
    client: &Client,
    broker: i32,
    a: &Assignment,
    local_leo: i64,
) -> Result<(), Failure> {
    let lookup = |spec| async move {
        client
            .list_offsets(broker, vec![(a.source_topic.clone(), a.partition, spec)])
            .await
            .map_err(|e| {
                Failure::new(
                    Reason::OffsetOutOfRange,
                    format!("fetch offset {local_leo} is out of range and ListOffsets on the source failed: {e}"),
                )
            })?
            .into_iter()
            .next()
            .map(|l| l.offset)
            .ok_or_else(|| {
                Failure::new(
                    Reason::OffsetOutOfRange,
                    "ListOffsets on the source returned nothing",
                )
            })
    };
    let repositioned = |message: String| Failure {
        reason: Reason::OffsetOutOfRange,
        message,
        repositioned: true,
    };
    let latest = lookup(OffsetSpec::Latest).await?;
    if latest < local_leo {
        owned(shared, a, move |local, t, p| {
            local.truncate_to(t, p, latest)
        })
        .await
        .map_err(|e| Failure::local(&e))?;
        tracing::warn!(mirror = %a.mirror_topic, partition = a.partition, from = local_leo, to = latest, "source log end is behind the mirror; truncated");
        return Err(repositioned(format!(
            "source log end {latest} is behind the mirror's {local_leo}; truncated the mirror to it"
        )));
    }
    let earliest = lookup(OffsetSpec::Earliest).await?;
    if earliest > local_leo {
        let restarted = owned(shared, a, move |local, t, p| {
            local.truncate_fully_and_start_at(t, p, earliest)
        })
        .await
        .map_err(|e| Failure::local(&e))?;
        if restarted.is_none() {
            // Fenced for a cutover: not the fetcher's any more.
            return Ok(());
        }
        let lost = earliest - local_leo;
        shared.update_stats(&a.mirror_topic, a.partition, |s| s.offsets_lost += lost);
        if local_leo > 0 {
            tracing::warn!(mirror = %a.mirror_topic, partition = a.partition, lost, restart_at = earliest, "source deleted data before it was mirrored");
        }
        return Err(repositioned(format!(
            "source log starts at {earliest}, after the mirror's end {local_leo}; restarted there ({lost} offsets lost)"
        )));
    }
    Err(Failure::new(
        Reason::OffsetOutOfRange,
        format!("source answered OFFSET_OUT_OF_RANGE for offset {local_leo} but lists {earliest}..{latest}; retrying"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_client::fetch::FetchResult;
    use strait_records::record::BatchBuilder;

    fn answered(partition: i32, error: Option<ErrorCode>, records: Vec<u8>) -> FetchedPartition {
        FetchedPartition {
            topic: "t".into(),
            partition,
            error,
            high_watermark: 10,
            last_stable_offset: 10,
            log_start_offset: 0,
            diverging_epoch: None,
            current_leader: None,
            preferred_read_replica: None,
            aborted_transactions: Vec::new(),
            records: records.into(),
        }
    }

    fn assigned(partition: i32) -> (Assignment, PartitionPosition) {
        (
            Assignment {
                mirror_topic: "t".into(),
                source_topic: "t".into(),
                partition,
                leader_epoch: 0,
            },
            PartitionPosition {
                log_start_offset: 0,
                log_end_offset: 0,
                latest_epoch: None,
            },
        )
    }

    #[test]
    fn a_failing_partition_is_held_back_and_the_others_stay_predicted() {
        let batch = BatchBuilder::new(0)
            .append(1, Some(b"k"), Some(b"v"))
            .append(2, Some(b"k"), Some(b"w"))
            .build()
            .unwrap_or_default();
        assert!(!batch.is_empty());
        let pending = Pending {
            response: FetchResult {
                version: 12,
                throttle_time_ms: 0,
                session_id: 0,
                partitions: vec![
                    answered(0, None, batch.clone()),
                    answered(1, Some(ErrorCode::NotLeaderOrFollower), Vec::new()),
                    answered(2, Some(ErrorCode::OffsetOutOfRange), Vec::new()),
                    answered(3, None, batch),
                ],
            },
            positions: (0..4).map(assigned).collect(),
        };
        let p = pending.predict();
        // Only the failing partitions sit the next request out; the clean ones pipeline.
        let held: Vec<i32> = {
            let mut h: Vec<i32> = p.held.iter().map(|(_, p)| *p).collect();
            h.sort_unstable();
            h
        };
        assert_eq!(held, vec![1, 2]);
        for clean in [0, 3] {
            let next = p.positions.get(&("t".to_string(), clean)).copied();
            assert_eq!(next.map(|n| n.log_end_offset), Some(2), "partition {clean}");
        }
    }
}
