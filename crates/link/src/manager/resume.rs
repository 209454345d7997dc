//! Resuming a FAILED mirror (`mirrors --resume --topics T` on a mirror in FAILED).
//!
//! A mirror fails when something kept going wrong for `cluster.link.retry.timeout.ms`
//! (SOURCE_DATA_CORRUPT, RETRY_TIMEOUT_EXCEEDED, SOURCE_TOPIC_MAY_BE_DELETED) or at once on
//! a condition that cannot heal (SOURCE_TOPIC_ID_CHANGED, SOURCE_PARTITIONS_DECREASED).
//! Once the operator fixed the cause, resume puts the mirror back to ACTIVE with a fresh
//! retry window: every partition's run of failures and the missing-source-topic clock
//! start over, and the link loop is woken with a metadata refresh, so the cause is checked
//! again at once. If it persists, the mirror fails again with its reason (at once for the
//! conditions that cannot heal, after `cluster.link.retry.timeout.ms` for the others).
//!
//! Fencing stays with the cutover state machine ([`crate::cutover::MirrorOwner`]): resume
//! never touches a partition slot. A mirror with a fenced partition or a promotion running
//! is refused, and mirroring restarts through the same owner-guarded append path at each
//! partition's local log end, so nothing is skipped or copied twice.

use strait_protocol::ErrorCode;

use super::{err, LinkError, LinkManager};
use crate::local::MirrorTopic;
use crate::shared::lock;
use crate::state::MirrorState;

impl LinkManager {
    pub(super) fn resume_failed(
        &self,
        m: &MirrorTopic,
        validate_only: bool,
    ) -> Result<(), LinkError> {
        let topic = &m.topic;
        let link_name = &m.mirror.link_name;
        let reason = m.mirror.reason.as_deref().unwrap_or("unknown reason");
        let Some(link) = self.get(link_name) else {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("cannot resume mirror topic '{topic}' ({reason}): its cluster link '{link_name}' does not exist"),
            ));
        };
        if lock(&link.promoting).contains(topic)
            || (0..m.partitions).any(|p| link.owner.is_fenced(topic, p))
        {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("cannot resume mirror topic '{topic}': a promote or failover of it is in progress"),
            ));
        }
        if validate_only {
            return Ok(());
        }
        // A fresh retry window: failures from before the resume do not count again.
        for p in 0..m.partitions {
            link.partition_recovered(topic, p);
        }
        link.source_topic_present(topic);
        self.local
            .set_mirror_state(topic, MirrorState::Active, None)?;
        tracing::info!(mirror = %topic, link = %link_name, previous_reason = reason, "FAILED mirror resumed; its cause is checked again");
        link.wake.notify_one();
        link.refresh.notify_one();
        Ok(())
    }
}
