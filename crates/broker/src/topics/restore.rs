//! The broker's half of truncate-and-restore (failback): the one metadata write that turns
//! a normal topic back into a mirror, and the log lookups the divergence search needs.
//!
//! Invariants:
//! * [`TopicManager::begin_restore`] is one metadata change, refused (nothing written)
//!   unless the topic is a normal topic or a STOPPED mirror. It installs a mirror record
//!   PAUSED with reason PENDING_RESTORE and the persisted plan; from the moment it is
//!   visible, produce gets the mirror error (the topic is read-only) and the link does not
//!   fetch into it (PAUSED). The old record's cutover fields (final offsets, aborted
//!   counts) are dropped: they described the previous cutover.
//! * After it, each partition's log lock is taken once, so an append that was already
//!   under way when the topic became read-only has finished before the link truncates.
//! * [`TopicManager::finish_restore`] clears the plan and sets the final state in one
//!   change; it is refused unless the mirror is still PENDING_RESTORE.

use strait_protocol::ErrorCode;

use super::{now_ms, TopicManager};
use crate::error::ApiError;
use crate::metadata::MirrorRecord;

/// The reason a mirror carries while a restore is under way (also in `strait_link`).
pub const PENDING_RESTORE: &str = "PENDING_RESTORE";

fn unknown(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownTopicOrPartition,
        format!("Topic '{name}' does not exist."),
    )
}

impl TopicManager {
    /// Makes `name` a read-only mirror carrying `record` (PAUSED, PENDING_RESTORE, plan).
    pub fn begin_restore(&self, name: &str, record: MirrorRecord) -> Result<(), ApiError> {
        let (changes, image) = self.begin_change()?;
        let topic = self.get(name).ok_or_else(|| unknown(name))?;
        if let Some(m) = topic.mirror().filter(|m| m.state != "STOPPED") {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "topic '{name}' is already a mirror of '{}' over cluster link '{}' (state {})",
                    m.source_topic, m.link_name, m.state
                ),
            ));
        }
        let mut next = image.clone();
        let t = next
            .topics
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| unknown(name))?;
        t.mirror = Some(record);
        // Returns once published: the record is installed and held produce requests woken.
        self.meta_log.commit(&image, &next)?;
        drop(changes);
        // Barrier: an append holding a log lock when the topic turned read-only is done
        // once we have held each lock.
        for p in topic.partitions() {
            p.with_log_mut(|_| ())?;
        }
        Ok(())
    }

    /// Ends a restore: the plan is cleared and the state set (`ACTIVE` or `PAUSED`).
    pub fn finish_restore(&self, name: &str, state: &str) -> Result<(), ApiError> {
        let pending = self
            .get(name)
            .and_then(|t| t.mirror())
            .is_some_and(|m| m.reason.as_deref() == Some(PENDING_RESTORE));
        if !pending {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("topic '{name}' has no truncate-and-restore in progress"),
            ));
        }
        self.update_mirror(name, |m| {
            m.state = state.to_string();
            m.reason = None;
            m.reason_message = None;
            m.restore_plan = None;
            m.state_time_ms = now_ms();
        })
    }
}
