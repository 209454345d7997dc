//! Failback's divergence point: where a local log that used to be the source (or a
//! promoted mirror) stops sharing history with the cluster that took over.
//!
//! The search is Kafka's follower truncation (`AbstractFetcherThread` /
//! `ReplicaFetcherThread` with OffsetForLeaderEpoch, protocol-notes §3): ask the source
//! for the end offset of our latest epoch E; it answers with the largest epoch E' ≤ E it
//! knows and where E' ended on it. If we know E' too, the logs agree up to
//! `min(source end, our end of E', our log end)`. If we do not (our floor of E' is an older
//! epoch), we would truncate to the end of our floor and ask again with it: the walk
//! repeats until an epoch both logs know. [`divergence`] runs that walk over a *virtual*
//! truncation of the local epoch cache, so nothing is changed while validating.
//!
//! An answer with no epoch (`-1`: the source has no epoch at or below ours, possible across
//! clusters where our latest epoch may exceed all of the source's) drops our latest epoch
//! and asks with the previous one. Common history is then proven by the caller, not
//! assumed: a divergence point below the local log start means the shared part was
//! deleted here; above the log start, the last batch before it must be byte-identical on
//! both sides (same offsets, epoch and CRC, [`same_batch`]) — two unrelated topics that
//! both started at epoch 0 fail here; at the log start with records to remove, the topic
//! ids must show that one topic was a mirror of the other.

use std::future::Future;

use strait_client::fetch::{FetchParams, FetchPartitionSpec};
use strait_client::offsets::EpochQuery;
use strait_client::Client;
use strait_protocol::ErrorCode;
use strait_records::BatchIter;

use crate::local::{BatchId, LocalError};

/// How many epochs the walk may step back before giving up (each step is one round trip
/// and drops at least one local epoch, so this only bounds a pathological cache).
const MAX_STEPS: usize = 64;

/// What the local log looks like for the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalLog {
    /// `(epoch, start offset)`, ascending.
    pub epochs: Vec<(i32, i64)>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

fn no_history(message: String) -> LocalError {
    LocalError::new(ErrorCode::InconsistentTopicId, message)
}

/// Kafka's `LeaderEpochFileCache.endOffsetFor` over `epochs`, with `end` as the log end.
pub fn end_offset_for(epochs: &[(i32, i64)], requested: i32, end: i64) -> (i32, i64) {
    if requested < 0 {
        return (-1, -1);
    }
    if epochs.last().map(|e| e.0) == Some(requested) {
        return (requested, end);
    }
    let higher = epochs.iter().find(|e| e.0 > requested);
    let floor = epochs.iter().rev().find(|e| e.0 <= requested);
    match (floor, higher) {
        (_, None) => (-1, -1),
        (None, Some(h)) => (requested, h.1),
        (Some(f), Some(h)) => (f.0, h.1),
    }
}

/// One step of the OffsetForLeaderEpoch walk (Kafka's `getOffsetTruncationState`), shared
/// by failback here and the broker's replica follower (`strait_broker::replication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochStep {
    /// Both logs know the answered epoch: they agree up to this offset.
    Done(i64),
    /// We do not know the answered epoch: truncate to this offset (the end of our floor of
    /// it) and ask again with our latest remaining epoch.
    Continue(i64),
    /// We have no epoch at or below the answered one.
    NoFloor,
}

/// The leader (or source) answered `(leader_epoch, leader_end)`, both defined (≥ 0), for
/// our latest epoch; `epochs` is our epoch cache (ascending) and `log_end` our log end.
pub fn epoch_step(
    epochs: &[(i32, i64)],
    log_end: i64,
    leader_epoch: i32,
    leader_end: i64,
) -> EpochStep {
    let (ours, our_end) = end_offset_for(epochs, leader_epoch, log_end);
    if ours == leader_epoch {
        return EpochStep::Done(leader_end.min(our_end).min(log_end));
    }
    if ours < 0 || our_end < 0 {
        return EpochStep::NoFloor;
    }
    // Kafka truncates to the end of our floor epoch and retries with it.
    EpochStep::Continue(log_end.min(our_end))
}

/// The offset the local log must be truncated to so it is a prefix of the source's.
/// `ask(epoch)` is OffsetForLeaderEpoch against the source: `(epoch, end offset)`.
pub async fn divergence<F, Fut>(local: &LocalLog, mut ask: F) -> Result<i64, LocalError>
where
    F: FnMut(i32) -> Fut,
    Fut: Future<Output = Result<(i32, i64), LocalError>>,
{
    let mut epochs = local.epochs.clone();
    let mut end = local.log_end_offset;
    for _ in 0..MAX_STEPS {
        let Some(&(latest, latest_start)) = epochs.last() else {
            // No epoch left to ask about: only the empty prefix is shared (the caller
            // decides whether that is common history).
            return Ok(end);
        };
        let (source_epoch, source_end) = ask(latest).await?;
        if source_epoch < 0 || source_end < 0 {
            // The source knows no epoch at or below ours, or only older ones (across
            // clusters our latest epoch may exceed every source epoch, which a Kafka
            // leader never sees): drop our latest epoch and ask with the one before.
            end = end.min(latest_start);
            epochs.retain(|e| e.1 < end);
            continue;
        }
        match epoch_step(&epochs, end, source_epoch, source_end) {
            EpochStep::Done(offset) => return Ok(offset),
            EpochStep::NoFloor => {
                return Err(no_history(format!(
                    "the source's epoch {source_epoch} is older than every local epoch (no common history)"
                )));
            }
            EpochStep::Continue(truncate_to) => {
                end = truncate_to;
                epochs.retain(|e| e.1 < end);
            }
        }
    }
    Err(no_history(format!(
        "no common leader epoch found within {MAX_STEPS} steps"
    )))
}

fn source_err(what: &str, e: impl std::fmt::Display) -> LocalError {
    LocalError::new(ErrorCode::NetworkException, format!("{what}: {e}"))
}

/// OffsetForLeaderEpoch for one partition on its source leader.
pub async fn source_epoch_end(
    client: &Client,
    topic: &str,
    partition: i32,
    epoch: i32,
) -> Result<(i32, i64), LocalError> {
    let leader = client
        .find_leader(topic, partition)
        .await
        .map_err(|e| source_err(&format!("leader of source {topic}-{partition}"), e))?;
    let answers = client
        .offset_for_leader_epoch(
            leader,
            &[EpochQuery {
                topic: topic.to_string(),
                partition,
                leader_epoch: epoch,
                current_leader_epoch: -1,
            }],
        )
        .await
        .map_err(|e| {
            source_err(
                &format!("OffsetForLeaderEpoch on source {topic}-{partition}"),
                e,
            )
        })?;
    let a = answers
        .into_iter()
        .find(|a| a.partition == partition)
        .ok_or_else(|| {
            source_err(
                &format!("OffsetForLeaderEpoch on source {topic}-{partition}"),
                "no answer for the partition",
            )
        })?;
    if let Some(code) = a.error {
        return Err(LocalError::new(
            code,
            format!("OffsetForLeaderEpoch on source {topic}-{partition}: {code}"),
        ));
    }
    Ok((a.leader_epoch, a.end_offset))
}

/// The source's batch holding `offset` (one fetch at that offset, no wait).
pub async fn source_batch_at(
    client: &Client,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<BatchId>, LocalError> {
    let leader = client
        .find_leader(topic, partition)
        .await
        .map_err(|e| source_err(&format!("leader of source {topic}-{partition}"), e))?;
    let mut spec = FetchPartitionSpec::new(topic, partition, offset);
    spec.partition_max_bytes = 64 * 1024;
    let params = FetchParams {
        max_wait_ms: 0,
        partitions: vec![spec],
        ..FetchParams::default()
    };
    let result = client
        .fetch_raw(leader, &params)
        .await
        .map_err(|e| source_err(&format!("fetch from source {topic}-{partition}"), e))?;
    let Some(fp) = result
        .partitions
        .into_iter()
        .find(|p| p.partition == partition)
    else {
        return Ok(None);
    };
    if let Some(code) = fp.error {
        return Err(LocalError::new(
            code,
            format!("fetch from source {topic}-{partition} at {offset}: {code}"),
        ));
    }
    for batch in BatchIter::new(&fp.records) {
        let Ok(b) = batch else { break };
        if b.last_offset() >= offset {
            return Ok((b.base_offset() <= offset).then(|| BatchId {
                base_offset: b.base_offset(),
                last_offset: b.last_offset(),
                leader_epoch: b.partition_leader_epoch(),
                crc: b.crc(),
            }));
        }
    }
    Ok(None)
}

/// Do two logs hold the same batch? Offsets, epoch and CRC (which covers the records,
/// timestamps and producer fields) must all agree.
pub fn same_batch(a: &BatchId, b: &BatchId) -> bool {
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(epochs: &[(i32, i64)], start: i64, end: i64) -> LocalLog {
        LocalLog {
            epochs: epochs.to_vec(),
            log_start_offset: start,
            log_end_offset: end,
        }
    }

    /// A source answering from its own epoch cache.
    fn source(
        epochs: &'static [(i32, i64)],
        end: i64,
    ) -> impl FnMut(i32) -> std::future::Ready<Result<(i32, i64), LocalError>> {
        move |e| std::future::ready(Ok(end_offset_for(epochs, e, end)))
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn failover_then_writes_on_both_sides() {
        // A wrote epoch 0 up to 13; B mirrored up to 10, failed over (epoch 1 at 10) and
        // wrote to 15.
        let a = log(&[(0, 0)], 0, 13);
        assert_eq!(run(divergence(&a, source(&[(0, 0), (1, 10)], 15))), Ok(10));
        // Nothing written on A after the failover point: nothing to truncate.
        let a = log(&[(0, 0)], 0, 10);
        assert_eq!(run(divergence(&a, source(&[(0, 0), (1, 10)], 15))), Ok(10));
    }

    #[test]
    fn walks_back_over_epochs_the_source_never_saw() {
        // A: epochs 0@0, 2@20, 3@30 (to 40). B knows 0@0 and 2@20, then its own 5@25.
        let a = log(&[(0, 0), (2, 20), (3, 30)], 0, 40);
        assert_eq!(
            run(divergence(&a, source(&[(0, 0), (2, 20), (5, 25)], 50))),
            Ok(25)
        );
        // B knows 0 and then 1@15 (A never had 1): walk to A's floor of 1 = epoch 0,
        // which ends at 20 on A and 15 on B.
        let a = log(&[(0, 0), (2, 20)], 0, 40);
        assert_eq!(run(divergence(&a, source(&[(0, 0), (1, 15)], 50))), Ok(15));
    }

    #[test]
    fn unknown_epochs_step_back_to_the_empty_prefix() {
        // The source has no epoch at or below any of ours: only the empty prefix is
        // shared (the caller refuses that unless topic ids prove lineage).
        let a = log(&[(3, 0)], 0, 10);
        assert_eq!(
            run(divergence(&a, |_| std::future::ready(Ok((-1, -1))))),
            Ok(0)
        );
        // An empty local log shares the empty prefix.
        let a = log(&[], 5, 5);
        assert_eq!(run(divergence(&a, source(&[(0, 0)], 9))), Ok(5));
    }
}
