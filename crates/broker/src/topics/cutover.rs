//! The broker's half of a mirror cutover: the promote/failover commit and holding client
//! produce requests while a promotion is under way.
//!
//! Invariants:
//! * [`TopicManager::promote`] is one metadata change: the leader epochs above every
//!   mirrored epoch, the producer-id barrier above every mirrored producer id, the final
//!   offsets and STOPPED are persisted together (or none is). The link fences its fetcher
//!   before calling it, and the mirror append path refuses a topic that is STOPPED, so no
//!   mirrored append lands after it.
//! * Open mirrored transactions are closed first: after the fence and before that metadata
//!   write, every producer with a transaction still open in a partition gets an ABORT
//!   marker at the log end (its producer id and epoch; the coordinator epoch of its last
//!   marker, 0 if none), stamped with the new leader epoch, so the LSO reaches the high
//!   watermark and read_committed consumers are not blocked by a coordinator that is out
//!   of reach. A crash between the markers and the metadata write leaves the mirror in its
//!   old state; the cutover runs again and finds no open transaction left (the markers
//!   closed them), so no second marker is written (that run reports 0 for the partitions
//!   already closed). A topic already STOPPED is never touched again: its open
//!   transactions belong to clients.
//! * A transactional id re-initialised on the promoted topic cannot collide with a
//!   mirrored producer: the producer-id barrier hands out ids above every mirrored one,
//!   so its (new) producer id has no state in the mirrored data and no aborted marker
//!   applies to it.
//! * Every mirror-state change bumps `mirror_changes` (the topic publisher does, after
//!   installing the record, [`super::publish`]), so a produce request held during
//!   PENDING_STOPPED ([`wait_for_cutover`]) wakes the moment it is decided, without holding
//!   a tokio worker.
//! * The epochs and STOPPED become visible through the topic publisher, epochs first, by
//!   the time [`TopicManager::promote`]'s commit returns — the same path an entry from
//!   another node takes.

use std::time::Instant;

use strait_protocol::ErrorCode;

use super::PRODUCER_ID_BLOCK;
use super::{lock, now_ms, storage_error, Topic, TopicManager};
use crate::error::ApiError;

impl TopicManager {
    /// Turns a mirror into a normal writable topic in one metadata change: every
    /// partition's leader epoch moves above every epoch in its log (and is recorded in the
    /// epoch cache, so new appends are distinguishable from mirrored ones), every open
    /// mirrored transaction is aborted (a marker at the log end, before the metadata
    /// write), producer ids are allocated above every producer id in the mirrored data,
    /// the final offsets (after the markers: where client writes begin) are recorded and
    /// the state becomes STOPPED. Returns how many transactions were aborted per
    /// partition; on a topic already STOPPED, what its cutover recorded (nothing changes).
    pub fn promote(&self, name: &str) -> Result<Vec<i64>, ApiError> {
        let topic = self.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        let stopped = |t: &Topic| t.mirror().filter(|m| m.state == "STOPPED");
        if let Some(m) = stopped(&topic) {
            return Ok(m.aborted_transactions.unwrap_or_default());
        }
        let mut epochs = Vec::new();
        let mut finals = Vec::new();
        let mut aborted = Vec::new();
        let mut max_producer_id = -1i64;
        let now = now_ms();
        for p in topic.partitions() {
            let done = p.with_log_mut(|log| {
                // Checked under the log lock: once STOPPED, client transactions may be
                // open here and are not ours to abort (a concurrent cutover committed).
                if stopped(&topic).is_some() {
                    return Ok(None);
                }
                let epoch = p.leader_epoch().max(log.latest_epoch().unwrap_or(-1)) + 1;
                max_producer_id = max_producer_id.max(log.max_producer_id().unwrap_or(-1));
                log.assign_epoch_start(epoch).map_err(storage_error)?;
                let markers = log
                    .abort_ongoing_transactions(epoch, now)
                    .map_err(|e| ApiError::new(ErrorCode::KafkaStorageError, e.to_string()))?;
                for (producer_id, offset) in &markers {
                    tracing::info!(
                        topic = name,
                        partition = p.index,
                        producer_id,
                        offset,
                        "cutover: aborted an open mirrored transaction"
                    );
                }
                Ok(Some((epoch, log.log_end_offset(), markers.len() as i64)))
            })?;
            let Some((epoch, end, count)) = done? else {
                let m = stopped(&topic).and_then(|m| m.aborted_transactions);
                return Ok(m.unwrap_or_default());
            };
            finals.push(end);
            aborted.push(count);
            epochs.push((p.index, epoch));
        }
        // Lock order as in next_producer_id: producer ids, then the change lock (which
        // also serializes this with every other mirror-record update).
        let mut range = lock(&self.producer_ids);
        let (changes, image) = self.begin_change()?;
        let mut record = topic.mirror().ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("topic '{name}' is not a mirror topic"),
            )
        })?;
        if record.state == "STOPPED" {
            // Committed meanwhile by another cutover (failover racing promote).
            return Ok(record.aborted_transactions.unwrap_or_default());
        }
        record.state = "STOPPED".into();
        record.reason = None;
        record.reason_message = None;
        record.state_time_ms = now_ms();
        record.final_offsets = Some(finals);
        record.aborted_transactions = Some(aborted.clone());
        let mut next = image.clone();
        if let Some(t) = next.topics.iter_mut().find(|t| t.name == name) {
            for &(i, e) in &epochs {
                if let Some(p) = usize::try_from(i)
                    .ok()
                    .and_then(|i| t.partitions.get_mut(i))
                {
                    p.leader_epoch = p.leader_epoch.max(e);
                }
            }
            t.mirror = Some(record);
        }
        let new_range = (range.0 <= max_producer_id).then(|| {
            let start = next.producer_id_block_end.max(max_producer_id + 1);
            next.producer_id_block_end = start + PRODUCER_ID_BLOCK;
            (start, start + PRODUCER_ID_BLOCK)
        });
        // Returns once published: the epochs, then STOPPED, are in place (and held
        // produce requests woken).
        self.meta_log.commit(&image, &next)?;
        drop(changes);
        if let Some(r) = new_range {
            *range = r;
        }
        Ok(aborted)
    }
}

/// Holds a produce to a mirror in PENDING_STOPPED until the promotion is decided (the
/// topic is STOPPED, or back to a read-only state) or `deadline` passes. Returns false on
/// timeout (the caller answers REQUEST_TIMED_OUT, which producers retry).
pub async fn wait_for_cutover(manager: &TopicManager, topic: &Topic, deadline: Instant) -> bool {
    let pending = |t: &Topic| t.mirror().is_some_and(|m| m.state == "PENDING_STOPPED");
    if !pending(topic) {
        // The common case (not a mirror being promoted) costs one read.
        return true;
    }
    // Subscribed before the check below, so a change between the two is not missed.
    let mut changes = manager.reg.mirror_changes.subscribe();
    loop {
        let pending = topic.mirror().is_some_and(|m| m.state == "PENDING_STOPPED");
        if !pending {
            return true;
        }
        match tokio::time::timeout_at(deadline.into(), changes.changed()).await {
            Ok(Ok(())) => {}
            // The manager is going away; answer with whatever the topic says now.
            Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
}
