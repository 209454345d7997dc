//! Per-partition fault containment: why one mirror partition cannot progress, what that
//! does to its topic, and how it shows in the link's health.
//!
//! This module owns a partition's *fault*: the machine-readable reason (Confluent-style,
//! upper case) and human message of its current run of failures, when the run started and
//! how many attempts in a row failed. The fault lives in the partition's
//! [`PartitionStats`] (shared with DescribeMirrors, ListClusterLinks and the metrics, so
//! they never disagree) and is recorded only through [`LinkShared::partition_failed`],
//! [`LinkShared::partition_waiting`] and cleared by [`LinkShared::partition_recovered`].
//!
//! Invariants:
//! * a fault belongs to one partition: recording it never delays, fails or hides another
//!   partition (the fetcher backs off only the partition that failed, see
//!   [`crate::fetcher`]); only the reasons whose [`Policy`] says so end the whole mirror
//!   topic (FAILED), and only through [`LinkShared::fail_mirror`];
//! * a partition is *in error* (shown as partition state `IN_ERROR`, counted as stuck by
//!   `cluster-links`, exported as `strait_mirror_partition_errors`) once
//!   [`IN_ERROR_AFTER`] attempts in a row failed, or at once for a reason no retry can
//!   cure; a single leader move or connection blip is not an error state;
//! * the first success clears the fault, so the link's sync status returns to IN_SYNC by
//!   itself when the cause goes away;
//! * `strait_mirror_fetch_errors_total` counts attempts the fetcher made and that failed
//!   (bounded by the per-partition back-off); a condition under which no attempt is made
//!   (a source partition without a leader, a source topic missing from metadata) counts
//!   once per episode, however often the link loop looks at it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use strait_protocol::ErrorCode;

use crate::local::LocalError;
use crate::shared::{lock, now_ms, LinkShared};

/// Attempts in a row that must fail before a retried partition counts as in error.
pub const IN_ERROR_AFTER: u32 = 3;

/// Why a mirror partition cannot progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The source serves a batch that fails its CRC or framing check.
    SourceDataCorrupt,
    /// The source topic is missing from source metadata.
    SourceTopicMayBeDeleted,
    /// The source answers UNKNOWN_TOPIC_OR_PARTITION for the partition.
    SourcePartitionGone,
    /// The source refuses the fetch offset and Kafka's follower rules did not fix it.
    OffsetOutOfRange,
    /// The source's log no longer continues the mirror's (a batch straddles its end).
    UnexpectedTruncation,
    /// Appending, truncating or moving the log start on the destination failed.
    LocalStorageError,
    /// The source partition has no leader, its leader refuses (NOT_LEADER, fenced epoch,
    /// storage error on the source) or the source broker cannot be reached.
    SourceUnavailable,
    /// Any other error the source answered.
    SourceError,
}

/// What a lasting fault does to the mirror topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No retry can cure it: the topic is FAILED at the first occurrence.
    FailAtOnce,
    /// Retried with back-off; the topic is FAILED once the run of failures has lasted
    /// `cluster.link.retry.timeout.ms` (Confluent's rule for retried link operations).
    FailAfterRetryTimeout,
    /// Retried for as long as it lasts: the source is expected to heal itself (a leader
    /// election, a broker coming back), as an unreachable source never fails a mirror.
    RetryForever,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::SourceDataCorrupt => "SOURCE_DATA_CORRUPT",
            Reason::SourceTopicMayBeDeleted => "SOURCE_TOPIC_MAY_BE_DELETED",
            Reason::SourcePartitionGone => "SOURCE_PARTITION_GONE",
            Reason::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            Reason::UnexpectedTruncation => "UNEXPECTED_TRUNCATION",
            Reason::LocalStorageError => "LOCAL_STORAGE_ERROR",
            Reason::SourceUnavailable => "SOURCE_UNAVAILABLE",
            Reason::SourceError => "SOURCE_ERROR",
        }
    }

    pub fn policy(self) -> Policy {
        match self {
            Reason::SourceDataCorrupt => Policy::FailAtOnce,
            Reason::SourceUnavailable => Policy::RetryForever,
            _ => Policy::FailAfterRetryTimeout,
        }
    }

    /// The reason for an error code the source answered for one partition of a fetch
    /// (OFFSET_OUT_OF_RANGE is handled by the follower rules before it gets here).
    pub fn of_source_code(code: ErrorCode) -> Reason {
        match code {
            ErrorCode::NotLeaderOrFollower
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
            | ErrorCode::NotEnoughReplicas
            | ErrorCode::RequestTimedOut
            | ErrorCode::NetworkException => Reason::SourceUnavailable,
            ErrorCode::UnknownTopicOrPartition | ErrorCode::UnknownTopicId => {
                Reason::SourcePartitionGone
            }
            ErrorCode::OffsetOutOfRange => Reason::OffsetOutOfRange,
            ErrorCode::CorruptMessage => Reason::SourceDataCorrupt,
            _ => Reason::SourceError,
        }
    }

    /// The reason for a failed local mutation of a mirror partition.
    pub fn of_local(e: &LocalError) -> Reason {
        if e.code == ErrorCode::CorruptMessage {
            Reason::SourceDataCorrupt
        } else {
            Reason::LocalStorageError
        }
    }
}

/// One failed attempt at a partition operation.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
    /// The follower rules already repositioned the partition (an OFFSET_OUT_OF_RANGE that
    /// truncated or restarted the log): no back-off, no error count, no retry timeout
    /// (the next fetch goes out at once and, if it works, ends the run), but the attempt
    /// counts, so a partition that keeps being repositioned without ever fetching is in
    /// error.
    pub repositioned: bool,
}

impl Failure {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Failure {
            reason,
            message: message.into(),
            repositioned: false,
        }
    }

    pub fn local(e: &LocalError) -> Self {
        Failure::new(Reason::of_local(e), e.to_string())
    }
}

/// The current run of failures of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFault {
    pub reason: Reason,
    pub message: String,
    /// Wall-clock ms of the first failure of this run.
    pub since_ms: i64,
    /// Failed attempts in a row (the link loop's looks at a waiting partition count too).
    pub failures: u32,
}

impl PartitionFault {
    /// Is the partition stuck (shown IN_ERROR, holding the link out of IN_SYNC)?
    pub fn in_error(&self) -> bool {
        self.failures >= IN_ERROR_AFTER || self.reason.policy() == Policy::FailAtOnce
    }
}

impl LinkShared {
    /// Records a failed attempt at an operation on a mirror partition (a fetch, an append,
    /// an offset lookup). By the reason's [`Policy`] the mirror topic is FAILED at once, or
    /// once the run of such failures has lasted `cluster.link.retry.timeout.ms` (the
    /// reason carried over, the message saying how long), or never.
    pub(crate) fn partition_failed(&self, topic: &str, partition: i32, f: &Failure) {
        let now = now_ms();
        let policy = f.reason.policy();
        let mut since = now;
        self.update_stats(topic, partition, |s| {
            if policy == Policy::FailAfterRetryTimeout {
                since = *s.failing_since_ms.get_or_insert(now);
            }
            s.error = Some(f.message.clone());
            s.fetch_errors += 1;
            note_fault(s, f.reason, &f.message, now);
        });
        match policy {
            Policy::RetryForever => {}
            Policy::FailAtOnce => self.fail_mirror(
                topic,
                f.reason.name(),
                format!("partition {partition}: {}", f.message),
            ),
            Policy::FailAfterRetryTimeout => {
                let timeout = self.config().retry_timeout_ms;
                let elapsed = now - since;
                if u64::try_from(elapsed).unwrap_or(0) >= timeout {
                    self.fail_mirror(
                        topic,
                        f.reason.name(),
                        format!("partition {partition} kept failing for {elapsed} ms, giving up after cluster.link.retry.timeout.ms={timeout}: {}", f.message),
                    );
                }
            }
        }
    }

    /// The follower rules repositioned a partition after OFFSET_OUT_OF_RANGE (see
    /// [`Failure::repositioned`]): the attempt counts towards in error, nothing else.
    pub(crate) fn partition_repositioned(&self, topic: &str, partition: i32, f: &Failure) {
        let now = now_ms();
        self.update_stats(topic, partition, |s| {
            s.error = Some(f.message.clone());
            note_fault(s, f.reason, &f.message, now);
        });
    }

    /// The link loop found a partition it cannot hand to a fetcher (no source leader, the
    /// source topic missing from metadata). Only the first look of an episode counts in
    /// `fetch_errors`; the look counts as a failed attempt for [`PartitionFault::in_error`].
    /// The retry timeout, where one applies, is the caller's (it knows how long the
    /// condition has lasted).
    pub(crate) fn partition_waiting(
        &self,
        topic: &str,
        partition: i32,
        reason: Reason,
        message: String,
    ) {
        let now = now_ms();
        self.update_stats(topic, partition, |s| note_waiting(s, reason, &message, now));
    }

    /// A partition operation worked: its run of failures (if any) is over.
    pub(crate) fn partition_recovered(&self, topic: &str, partition: i32) {
        self.update_stats(topic, partition, |s| {
            s.failing_since_ms = None;
            if s.fault.take().is_some() {
                s.error = None;
            }
        });
    }

    /// The partitions of this link that are in error (mirroring or FAILED topics), with
    /// their reason, sorted.
    pub fn partitions_in_error(&self) -> Vec<(String, i32, Reason)> {
        let mut out = Vec::new();
        for m in self.mirrors() {
            if !(m.mirror.state.is_mirroring()
                || m.mirror.state == crate::state::MirrorState::Failed)
            {
                continue;
            }
            for p in 0..m.partitions {
                if let Some(f) = self
                    .stats(&m.topic, p)
                    .fault
                    .filter(PartitionFault::in_error)
                {
                    out.push((m.topic.clone(), p, f.reason));
                }
            }
        }
        out.sort();
        out
    }

    /// Is any partition of a topic that is still mirroring in error?
    pub(crate) fn any_mirroring_partition_in_error(&self) -> bool {
        self.mirrors()
            .iter()
            .filter(|m| m.mirror.state.is_mirroring())
            .any(|m| {
                (0..m.partitions)
                    .any(|p| self.stats(&m.topic, p).fault.is_some_and(|f| f.in_error()))
            })
    }
}

/// One look of the link loop at a partition it cannot fetch: counted in `fetch_errors`
/// only when it starts an episode (no fault, or a fault with another reason).
fn note_waiting(s: &mut crate::shared::PartitionStats, reason: Reason, message: &str, now: i64) {
    if s.fault.as_ref().is_none_or(|f| f.reason != reason) {
        s.fetch_errors += 1;
    }
    s.error = Some(message.to_string());
    note_fault(s, reason, message, now);
}

/// Starts or extends the run of failures: a new reason starts the count over (it is a
/// different problem), the same reason adds one attempt.
fn note_fault(s: &mut crate::shared::PartitionStats, reason: Reason, message: &str, now: i64) {
    match &mut s.fault {
        Some(f) if f.reason == reason => {
            f.failures = f.failures.saturating_add(1);
            f.message = message.to_string();
        }
        other => {
            let since_ms = other.as_ref().map_or(now, |f| f.since_ms);
            *other = Some(PartitionFault {
                reason,
                message: message.to_string(),
                since_ms,
                failures: 1,
            });
        }
    }
}

/// Test hook: mirror partitions whose local appends fail with KAFKA_STORAGE_ERROR, as a
/// failing disk would make them (process-wide; tests key it by unique topic names). The
/// flag keeps the hot path to one load while no fault is injected.
static INJECTED: Mutex<Option<HashSet<(String, i32)>>> = Mutex::new(None);
static ANY_INJECTED: AtomicBool = AtomicBool::new(false);

/// Makes local appends to `topic`/`partition` fail (`true`) or work again (`false`).
pub fn set_test_append_fault(topic: &str, partition: i32, fail: bool) {
    let mut set = lock(&INJECTED);
    let set = set.get_or_insert_with(HashSet::new);
    if fail {
        set.insert((topic.to_string(), partition));
    } else {
        set.remove(&(topic.to_string(), partition));
    }
    ANY_INJECTED.store(!set.is_empty(), Ordering::Release);
}

/// `Err` when a test injected an append fault for this partition.
pub(crate) fn injected_append_fault(topic: &str, partition: i32) -> Result<(), LocalError> {
    if !ANY_INJECTED.load(Ordering::Acquire) {
        return Ok(());
    }
    let hit = lock(&INJECTED)
        .as_ref()
        .is_some_and(|s| s.contains(&(topic.to_string(), partition)));
    if hit {
        return Err(LocalError::new(
            ErrorCode::KafkaStorageError,
            format!("injected append fault on {topic}-{partition}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_follow_confluent_semantics() {
        assert_eq!(Reason::SourceDataCorrupt.policy(), Policy::FailAtOnce);
        assert_eq!(Reason::SourceUnavailable.policy(), Policy::RetryForever);
        for r in [
            Reason::SourceTopicMayBeDeleted,
            Reason::SourcePartitionGone,
            Reason::OffsetOutOfRange,
            Reason::UnexpectedTruncation,
            Reason::LocalStorageError,
            Reason::SourceError,
        ] {
            assert_eq!(r.policy(), Policy::FailAfterRetryTimeout, "{r:?}");
            assert!(r.name().chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
    }

    #[test]
    fn source_codes_are_classified() {
        assert_eq!(
            Reason::of_source_code(ErrorCode::NotLeaderOrFollower),
            Reason::SourceUnavailable
        );
        assert_eq!(
            Reason::of_source_code(ErrorCode::FencedLeaderEpoch),
            Reason::SourceUnavailable
        );
        assert_eq!(
            Reason::of_source_code(ErrorCode::UnknownTopicOrPartition),
            Reason::SourcePartitionGone
        );
        assert_eq!(
            Reason::of_source_code(ErrorCode::TopicAuthorizationFailed),
            Reason::SourceError
        );
        assert_eq!(
            Reason::of_local(&LocalError::new(ErrorCode::KafkaStorageError, "disk")),
            Reason::LocalStorageError
        );
    }

    #[test]
    fn a_fault_is_in_error_after_repeated_failures_or_at_once_when_permanent() {
        let mut s = crate::shared::PartitionStats::default();
        for i in 1..=IN_ERROR_AFTER {
            note_fault(
                &mut s,
                Reason::SourceUnavailable,
                "no leader",
                100 + i64::from(i),
            );
            let f = s.fault.clone().unwrap_or_else(|| unreachable!());
            assert_eq!(f.failures, i);
            assert_eq!(f.since_ms, 101, "the run keeps its start");
            assert_eq!(f.in_error(), i >= IN_ERROR_AFTER);
        }
        // A different problem starts the count over but keeps the run's start.
        note_fault(&mut s, Reason::LocalStorageError, "disk", 500);
        let f = s.fault.clone().unwrap_or_else(|| unreachable!());
        assert_eq!((f.failures, f.since_ms, f.in_error()), (1, 101, false));
        let mut c = crate::shared::PartitionStats::default();
        note_fault(&mut c, Reason::SourceDataCorrupt, "crc", 1);
        assert!(c.fault.is_some_and(|f| f.in_error()));
    }

    #[test]
    fn a_partition_the_link_cannot_fetch_counts_once_per_episode() {
        let mut s = crate::shared::PartitionStats::default();
        // The link loop looks at a leaderless partition every pass.
        for now in 0..100 {
            note_waiting(&mut s, Reason::SourceUnavailable, "no leader", now);
        }
        assert_eq!(s.fetch_errors, 1);
        assert!(s.fault.as_ref().is_some_and(PartitionFault::in_error));
        // Recovery ends the episode; the next leaderless spell is a new one.
        s.fault = None;
        note_waiting(&mut s, Reason::SourceUnavailable, "no leader", 200);
        note_waiting(&mut s, Reason::SourceUnavailable, "no leader", 201);
        assert_eq!(s.fetch_errors, 2);
    }

    #[test]
    fn injected_faults_hit_only_their_partition() {
        set_test_append_fault("faults-unit", 1, true);
        assert!(injected_append_fault("faults-unit", 1).is_err());
        assert!(injected_append_fault("faults-unit", 0).is_ok());
        set_test_append_fault("faults-unit", 1, false);
        assert!(injected_append_fault("faults-unit", 1).is_ok());
    }
}
