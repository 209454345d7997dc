//! Truncate-and-restore (`mirrors --truncate-and-restore --topics T --link L`): a normal
//! topic (never a mirror, or a promoted / failed-over one) becomes a mirror again of the
//! cluster that took over, after its diverged tail is removed.
//!
//! Stages, so a refusal changes nothing and a crash leaves a re-runnable state:
//! 1. **Validate** (read only): the link exists; the topic exists and is not a mirror; the
//!    source has it with the same partition count; per partition the divergence point
//!    ([`crate::failback::divergence`], Kafka's follower truncation over
//!    OffsetForLeaderEpoch) with common history proven (not before the local log start;
//!    the batch before it byte-identical on both sides; at the log start, topic ids show
//!    one topic mirrored the other); no consumer group with members has offsets on it.
//! 2. **One metadata write** ([`LocalCluster::begin_restore`]): the topic becomes a mirror,
//!    PAUSED with reason PENDING_RESTORE, with the plan persisted. From here produce gets
//!    the mirror error and the fetcher does not touch it (not mirroring).
//! 3. **Truncate** each partition to its divergence point, through the partition's
//!    [`crate::cutover::MirrorOwner`] slot (reset to MIRRORING before step 2, as a new
//!    mirror's is), and clamp consumer-group offsets beyond it to it.
//! 4. **Mirror**: state ACTIVE (or PAUSED, for reverse-and-pause), the link woken.
//!
//! A crash (or error) after step 2 leaves a read-only PENDING_RESTORE mirror; running the
//! same command again resumes at step 3 with the persisted plan (truncation and clamping
//! are idempotent), reporting the plan's counts for partitions already truncated. Other
//! mirror operations refuse a PENDING_RESTORE mirror, except failover (back to normal).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strait_client::Client;
use strait_protocol::mirror_admin::{
    ClampedOffset, DescribeTopicLineageRequest, DescribeTopicLineageResponse, PartitionTruncation,
    RestoreResult,
};
use strait_protocol::ErrorCode;

use super::{err, LinkError, LinkManager};
use crate::failback::{divergence, same_batch, source_batch_at, source_epoch_end, LocalLog};
use crate::local::{GroupOffset, LocalTopic, MirrorInfo};
use crate::shared::{now_ms, LinkShared};
use crate::state::MirrorState;

/// The reason a mirror carries between the metadata write and the end of the restore.
pub const PENDING_RESTORE: &str = "PENDING_RESTORE";

/// Test hook: stop a restore right after its metadata write, as a crash would.
static CRASH_AFTER_METADATA: AtomicBool = AtomicBool::new(false);

/// Makes the next restores stop after their metadata write (tests only; process-wide).
pub fn set_test_crash_after_metadata(on: bool) {
    CRASH_AFTER_METADATA.store(on, Ordering::Relaxed);
}

/// Is `m` a mirror left between a restore's metadata write and its end?
pub fn is_pending_restore(m: &MirrorInfo) -> bool {
    m.state == MirrorState::Paused && m.reason.as_deref() == Some(PENDING_RESTORE)
}

fn failed(topic: &str, e: LinkError) -> RestoreResult {
    RestoreResult {
        topic: topic.to_string(),
        error_code: e.code.code(),
        error_message: Some(e.message),
        ..Default::default()
    }
}

/// The source topic a local topic mirrors over a link (the link's prefix removed).
fn source_name(shared: &LinkShared, topic: &str) -> String {
    match &shared.config().cluster_link_prefix {
        Some(p) => topic.strip_prefix(p.as_str()).unwrap_or(topic).to_string(),
        None => topic.to_string(),
    }
}

/// What the source says about its topic's identity (`None`: not a Strait source).
async fn source_lineage(
    client: &Client,
    topic: &str,
) -> Option<strait_protocol::mirror_admin::TopicLineage> {
    let req = DescribeTopicLineageRequest {
        topics: vec![topic.to_string()],
    };
    let lineage: DescribeTopicLineageResponse = client.strait_admin(&req).await.ok()?;
    lineage
        .topics
        .into_iter()
        .find(|t| t.topic == topic && t.error_code == 0)
}

impl LinkManager {
    /// RestoreMirrors: per topic, see the module docs. A request-level error (unknown
    /// link, source unreachable) is returned as `Err`.
    pub async fn truncate_and_restore(
        &self,
        topics: &[String],
        link_name: &str,
        pause: bool,
        validate_only: bool,
        timeout: Duration,
    ) -> Result<Vec<RestoreResult>, LinkError> {
        let shared = self.get(link_name).ok_or_else(|| {
            err(
                ErrorCode::ResourceNotFound,
                format!("cluster link '{link_name}' does not exist"),
            )
        })?;
        if topics.is_empty() {
            return Err(err(ErrorCode::InvalidRequest, "name the topics (--topics)"));
        }
        let cc = shared.client_config();
        let connect = Client::connect(&cc);
        let client = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(err(
                    e.kafka_code().unwrap_or(ErrorCode::NetworkException),
                    format!("cannot reach the source cluster of link '{link_name}': {e}"),
                ))
            }
            Err(_) => {
                return Err(err(
                    ErrorCode::RequestTimedOut,
                    format!(
                        "cannot reach the source cluster of link '{link_name}' within {} ms",
                        timeout.as_millis()
                    ),
                ))
            }
        };
        let mut out = Vec::new();
        for topic in topics {
            let one = self.restore_one(&shared, &client, topic, pause, validate_only);
            let result = match tokio::time::timeout(timeout, one).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => failed(topic, e),
                Err(_) => failed(
                    topic,
                    err(ErrorCode::RequestTimedOut, format!("truncate-and-restore of '{topic}' did not finish within {} ms; run it again to resume", timeout.as_millis())),
                ),
            };
            out.push(result);
        }
        client.close().await;
        Ok(out)
    }

    async fn restore_one(
        &self,
        shared: &LinkShared,
        client: &Client,
        topic: &str,
        pause: bool,
        validate_only: bool,
    ) -> Result<RestoreResult, LinkError> {
        let local = self.local();
        let link = shared.name();
        let info = local.topic_info(topic).ok_or_else(|| {
            err(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic '{topic}' does not exist"),
            )
        })?;
        if let Some(m) = info
            .mirror
            .as_ref()
            .filter(|m| m.state != MirrorState::Stopped)
        {
            if is_pending_restore(m) && m.link_name == link {
                if validate_only {
                    return Ok(RestoreResult {
                        topic: topic.to_string(),
                        state: m.state.name().to_string(),
                        partitions: local.restore_plan(topic).unwrap_or_default(),
                        ..Default::default()
                    });
                }
                // A restore that stopped after its metadata write: finish it.
                let plan = local.restore_plan(topic).ok_or_else(|| {
                    err(
                        ErrorCode::InvalidRequest,
                        format!(
                            "mirror topic '{topic}' is PENDING_RESTORE but has no persisted plan"
                        ),
                    )
                })?;
                tracing::info!(topic, link, "resuming an interrupted truncate-and-restore");
                return self.finish_restore(shared, topic, plan, pause);
            }
            return Err(err(
                ErrorCode::InvalidRequest,
                format!(
                    "topic '{topic}' is already a mirror of '{}' over cluster link '{}' (state {}); truncate-and-restore applies to a normal (promoted or failed-over) topic",
                    m.source_topic, m.link_name, m.state.name()
                ),
            ));
        }
        let (plan, mirror) = self.plan(shared, client, topic, &info).await?;
        let clamps = planned_clamps(local.topic_group_commits(topic), &plan, topic)?;
        if validate_only {
            return Ok(RestoreResult {
                topic: topic.to_string(),
                state: if pause { "PAUSED" } else { "ACTIVE" }.to_string(),
                partitions: plan,
                clamped_offsets: clamps,
                ..Default::default()
            });
        }
        // A mirror of this name starts unfenced (an earlier promote fenced its slots).
        shared.owner.reset(topic);
        local.begin_restore(topic, mirror, &plan)?;
        tracing::info!(
            topic,
            link,
            "truncate-and-restore: topic is now a read-only mirror (PENDING_RESTORE)"
        );
        if CRASH_AFTER_METADATA.load(Ordering::Relaxed) {
            return Err(err(
                ErrorCode::UnknownServerError,
                format!("injected crash after the metadata write of '{topic}'"),
            ));
        }
        self.finish_restore(shared, topic, plan, pause)
    }

    /// Stage 1: the per-partition divergence points, or a one-line refusal.
    async fn plan(
        &self,
        shared: &LinkShared,
        client: &Client,
        topic: &str,
        info: &LocalTopic,
    ) -> Result<(Vec<PartitionTruncation>, MirrorInfo), LinkError> {
        let local = self.local();
        let link = shared.name();
        let source = source_name(shared, topic);
        let md = client
            .refresh_metadata(&[source.as_str()])
            .await
            .map_err(|e| {
                err(
                    e.kafka_code().unwrap_or(ErrorCode::NetworkException),
                    format!("source metadata of link '{link}': {e}"),
                )
            })?;
        let st = md
            .topic(&source)
            .filter(|t| t.error.is_none())
            .ok_or_else(|| {
                err(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("source topic '{source}' does not exist on the source cluster of link '{link}'"),
                )
            })?;
        let source_partitions = st.partitions.len() as i32;
        if source_partitions != info.partitions {
            return Err(err(
                ErrorCode::InvalidPartitions,
                format!("partitions differ: topic '{topic}' has {} partitions here, source topic '{source}' has {source_partitions}", info.partitions),
            ));
        }
        let source_id = st.topic_id.map(|id| id.to_string());
        // Topic ids: proof of lineage when one topic was a mirror of the other; a Strait
        // source that shows neither is a different topic.
        let lineage = source_lineage(client, &source).await;
        let proven = lineage.as_ref().is_some_and(|l| {
            l.mirrored_topic_id.as_deref() == Some(info.topic_id.as_str())
                || (l.topic_id.is_some()
                    && info
                        .mirror
                        .as_ref()
                        .and_then(|m| m.source_topic_id.as_deref())
                        == l.topic_id.as_deref())
        });
        if let Some(l) = lineage.as_ref().filter(|_| !proven) {
            return Err(err(
                ErrorCode::InconsistentTopicId,
                format!(
                    "no common history: topic '{topic}' (id {}) and source topic '{source}' (id {}) have different topic id lineage (neither was a mirror of the other)",
                    info.topic_id,
                    l.topic_id.as_deref().unwrap_or("unknown")
                ),
            ));
        }
        let mut plan = Vec::new();
        for p in 0..info.partitions {
            let pos = local.partition_position(topic, p)?;
            let log = LocalLog {
                epochs: local.epoch_entries(topic, p)?,
                log_start_offset: pos.log_start_offset,
                log_end_offset: pos.log_end_offset,
            };
            let at = divergence(&log, |e| source_epoch_end(client, &source, p, e))
                .await
                .map_err(|e| err(e.code, format!("partition {p}: {}", e.message)))?;
            let refuse = |why: String| {
                err(
                    ErrorCode::InconsistentTopicId,
                    format!("no common history in partition {p} of '{topic}': {why}"),
                )
            };
            if at < pos.log_start_offset {
                return Err(refuse(format!(
                    "the logs diverge at offset {at}, before the local log start {}",
                    pos.log_start_offset
                )));
            }
            if at > pos.log_start_offset {
                let ours = local.batch_at(topic, p, at - 1)?;
                let theirs = source_batch_at(client, &source, p, at - 1).await?;
                match (ours, theirs) {
                    (Some(a), Some(b)) if same_batch(&a, &b) => {}
                    (a, b) => {
                        return Err(refuse(format!(
                            "the batch holding offset {} differs (local {a:?}, source {b:?})",
                            at - 1
                        )))
                    }
                }
            } else if pos.log_end_offset > at && !proven {
                return Err(refuse(format!("every local record would be removed and the source does not show that either topic mirrored the other (local log {}..{})", pos.log_start_offset, pos.log_end_offset)));
            }
            plan.push(PartitionTruncation {
                partition: p,
                offset_truncated_to: at,
                previous_end_offset: pos.log_end_offset,
                records_truncated: local.records_from(topic, p, at)?,
            });
        }
        let mirror = MirrorInfo {
            link_name: link.to_string(),
            source_topic: source,
            source_topic_id: source_id,
            state: MirrorState::Paused,
            reason: Some(PENDING_RESTORE.to_string()),
            reason_message: Some(format!(
                "truncate-and-restore over cluster link '{link}' in progress; run it again if it was interrupted"
            )),
            state_time_ms: now_ms(),
            aborted_transactions: None,
        };
        Ok((plan, mirror))
    }

    /// Stages 3 and 4 (also the resumption of an interrupted restore).
    fn finish_restore(
        &self,
        shared: &LinkShared,
        topic: &str,
        plan: Vec<PartitionTruncation>,
        pause: bool,
    ) -> Result<RestoreResult, LinkError> {
        let local = self.local();
        let mut done = Vec::new();
        for t in &plan {
            let p = t.partition;
            let pos = local.partition_position(topic, p)?;
            // Count what is really there (a produce may have landed between validation
            // and the metadata write); a partition truncated before a crash reports its plan.
            let records = if pos.log_end_offset > t.offset_truncated_to {
                local.records_from(topic, p, t.offset_truncated_to)?
            } else {
                t.records_truncated
            };
            shared
                .owner
                .write(local.as_ref(), topic, p, || {
                    local.truncate_to(topic, p, t.offset_truncated_to)
                })
                .ok_or_else(|| {
                    err(
                        ErrorCode::InvalidRequest,
                        format!("{topic}-{p} is fenced by a cutover; cannot truncate"),
                    )
                })??;
            done.push(PartitionTruncation {
                previous_end_offset: pos.log_end_offset.max(t.previous_end_offset),
                records_truncated: records,
                ..*t
            });
        }
        let clamps = planned_clamps(local.topic_group_commits(topic), &plan, topic)?;
        for c in &clamps {
            let offset = GroupOffset {
                topic: topic.to_string(),
                partition: c.partition,
                offset: c.to,
                leader_epoch: -1,
                metadata: None,
            };
            local.commit_group_offsets(&c.group, std::slice::from_ref(&offset))?;
        }
        let state = if pause {
            MirrorState::Paused
        } else {
            MirrorState::Active
        };
        local.finish_restore(topic, state)?;
        shared.wake.notify_one();
        shared.refresh.notify_one();
        tracing::info!(topic, link = %shared.name(), truncated = ?done, clamped = clamps.len(), state = state.name(), "truncate-and-restore done: mirroring from the divergence point");
        Ok(RestoreResult {
            topic: topic.to_string(),
            state: state.name().to_string(),
            partitions: done,
            clamped_offsets: clamps,
            ..Default::default()
        })
    }
}

/// The group offsets on `topic` beyond each partition's truncation point, to move back to
/// it. A group with members is refused: its consumers own their offsets and must stop
/// first (they are reading the side that lost).
fn planned_clamps(
    commits: Vec<crate::local::GroupCommit>,
    plan: &[PartitionTruncation],
    topic: &str,
) -> Result<Vec<ClampedOffset>, LinkError> {
    let mut out = Vec::new();
    for c in commits {
        let Some(t) = plan.iter().find(|t| t.partition == c.partition) else {
            continue;
        };
        if c.offset <= t.offset_truncated_to {
            continue;
        }
        if c.active {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("consumer group '{}' has active members and an offset ({}) beyond the truncation point {} of {topic}-{}; stop its consumers first", c.group, c.offset, t.offset_truncated_to, c.partition),
            ));
        }
        out.push(ClampedOffset {
            group: c.group,
            partition: c.partition,
            from: c.offset,
            to: t.offset_truncated_to,
        });
    }
    out.sort_by(|a, b| (&a.group, a.partition).cmp(&(&b.group, b.partition)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::GroupCommit;

    fn commit(group: &str, partition: i32, offset: i64, active: bool) -> GroupCommit {
        GroupCommit {
            group: group.into(),
            partition,
            offset,
            leader_epoch: -1,
            metadata: None,
            active,
        }
    }

    #[test]
    fn clamps_only_offsets_beyond_the_truncation_point() {
        let plan = [
            PartitionTruncation {
                partition: 0,
                offset_truncated_to: 10,
                ..Default::default()
            },
            PartitionTruncation {
                partition: 1,
                offset_truncated_to: 5,
                ..Default::default()
            },
        ];
        let got = planned_clamps(
            vec![
                commit("b", 0, 12, false),
                commit("a", 0, 10, false),
                commit("a", 1, 9, false),
                commit("idle", 1, 5, true),
            ],
            &plan,
            "t",
        )
        .unwrap();
        let pairs: Vec<_> = got
            .iter()
            .map(|c| (c.group.as_str(), c.partition, c.from, c.to))
            .collect();
        assert_eq!(pairs, vec![("a", 1, 9, 5), ("b", 0, 12, 10)]);
        // A group with members and an offset to move: refused, one line.
        let e = planned_clamps(vec![commit("live", 0, 11, true)], &plan, "t").unwrap_err();
        assert!(
            e.message
                .contains("consumer group 'live' has active members"),
            "{}",
            e.message
        );
    }
}
