//! The broker's half of a mirror cutover: the promote/failover commit and holding client
//! produce requests while a promotion is under way.
//!
//! Invariants:
//! * [`TopicManager::promote`] is one metadata change: the leader epochs above every
//!   mirrored epoch, the producer-id barrier above every mirrored producer id, the final
//!   offsets and STOPPED are persisted together (or none is). The link fences its fetcher
//!   before calling it, and the mirror append path refuses a topic that is STOPPED, so no
//!   mirrored append lands after it.
//! * Every mirror-state change bumps `mirror_changes`, so a produce request held during
//!   PENDING_STOPPED ([`wait_for_cutover`]) wakes the moment it is decided, without holding
//!   a tokio worker.

use std::sync::atomic::Ordering;
use std::time::Instant;

use strait_protocol::ErrorCode;

use super::PRODUCER_ID_BLOCK;
use super::{lock, metadata_error, now_ms, storage_error, write, Topic, TopicManager};
use crate::error::ApiError;

impl TopicManager {
    pub(super) fn mirror_changed(&self) {
        self.mirror_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Turns a mirror into a normal writable topic in one metadata change: every
    /// partition's leader epoch moves above every epoch in its log (and is recorded in the
    /// epoch cache, so new appends are distinguishable from mirrored ones), producer ids are
    /// allocated above every producer id in the mirrored data, the final offsets are
    /// recorded and the state becomes STOPPED.
    pub fn promote(&self, name: &str) -> Result<(), ApiError> {
        let topic = self.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        let mut epochs = Vec::new();
        let mut finals = Vec::new();
        let mut max_producer_id = -1i64;
        for p in topic.partitions() {
            let epoch = p.with_log_mut(|log| {
                let epoch = p.leader_epoch().max(log.latest_epoch().unwrap_or(-1)) + 1;
                max_producer_id = max_producer_id.max(log.max_producer_id().unwrap_or(-1));
                finals.push(log.log_end_offset());
                log.assign_epoch_start(epoch).map(|()| epoch)
            })?;
            let epoch = epoch.map_err(storage_error)?;
            epochs.push((p.index, epoch));
        }
        // Lock order as in next_producer_id: producer ids, then the image (which also
        // serializes this with every other mirror-record update).
        let mut range = lock(&self.producer_ids);
        let mut image = lock(&self.image);
        let mut record = topic.mirror().ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("topic '{name}' is not a mirror topic"),
            )
        })?;
        record.state = "STOPPED".into();
        record.reason = None;
        record.reason_message = None;
        record.state_time_ms = now_ms();
        record.final_offsets = Some(finals);
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
            t.mirror = Some(record.clone());
        }
        let new_range = (range.0 <= max_producer_id).then(|| {
            let start = next.producer_id_block_end.max(max_producer_id + 1);
            next.producer_id_block_end = start + PRODUCER_ID_BLOCK;
            (start, start + PRODUCER_ID_BLOCK)
        });
        self.store.save(&next).map_err(metadata_error)?;
        *image = next;
        drop(image);
        if let Some(r) = new_range {
            *range = r;
        }
        drop(range);
        for (i, e) in &epochs {
            if let Some(p) = topic.partition(*i) {
                p.leader_epoch.fetch_max(*e, Ordering::AcqRel);
            }
        }
        *write(&topic.mirror) = Some(record);
        self.mirror_changed();
        Ok(())
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
    let mut changes = manager.mirror_changes.subscribe();
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
