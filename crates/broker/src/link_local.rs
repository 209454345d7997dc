//! The broker as the cluster link sees it: [`strait_link::local::LocalCluster`] over the
//! topic registry. Mirror appends go through `PartitionLog::append_mirrored` (bytes,
//! offsets and epochs kept) and only while the topic is a mirror that is still mirroring,
//! checked under the partition's log lock so a promotion cannot interleave with an append.
//!
//! The link's partition mutations reach this file inside work it hands to
//! [`LocalCluster::on_partition`], which runs on the partition's lane of the log manager
//! ([`crate::log_manager`]): on an I/O thread, in order with the partition's other writes,
//! never on an async worker. The mutating methods themselves therefore do their I/O
//! inline (they are already on the I/O thread; queueing again on the same lane from
//! inside its own job would wait for itself). Position reads come from the partition's
//! published positions, never the log lock, so a write stuck on its disk never parks the
//! fetcher's task.

use std::collections::BTreeMap;
use std::sync::Arc;

use strait_link::local::{
    BatchId, GroupCommit, GroupOffset, LocalCluster, LocalError, LocalTopic, MirrorAppend,
    MirrorInfo, MirrorTopic, PartitionPosition, PartitionWork, StoredLink, WorkDone,
};
use strait_link::state::MirrorState;
use strait_protocol::mirror_admin::PartitionTruncation;
use strait_protocol::ErrorCode;

use crate::auth::acl::AclRecord;
use crate::error::ApiError;
use crate::groups::{CommitPartition, CommitRequest, GroupCoordinator};
use crate::metadata::{LinkRecord, MirrorRecord};
use crate::topic_config::topic_config_def;
use crate::topics::{now_ms, Partition, TopicManager};

pub struct BrokerLocal {
    topics: Arc<TopicManager>,
    groups: Arc<GroupCoordinator>,
    security: Arc<crate::auth::Security>,
}

impl BrokerLocal {
    pub fn new(
        topics: Arc<TopicManager>,
        groups: Arc<GroupCoordinator>,
        security: Arc<crate::auth::Security>,
    ) -> Self {
        BrokerLocal {
            topics,
            groups,
            security,
        }
    }

    fn partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>, LocalError> {
        self.topics
            .get(topic)
            .and_then(|t| t.partition(index))
            .ok_or_else(|| {
                LocalError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("{topic}-{index} does not exist"),
                )
            })
    }
}

fn local(e: ApiError) -> LocalError {
    LocalError::new(e.code, e.message.unwrap_or_else(|| e.code.to_string()))
}

fn storage(e: impl std::fmt::Display) -> LocalError {
    LocalError::new(ErrorCode::KafkaStorageError, e.to_string())
}

fn to_info(m: &MirrorRecord) -> MirrorInfo {
    MirrorInfo {
        link_name: m.link_name.clone(),
        source_topic: m.source_topic.clone(),
        source_topic_id: m.source_topic_id.clone(),
        state: MirrorState::parse(&m.state).unwrap_or(MirrorState::Failed),
        reason: m.reason.clone(),
        reason_message: m.reason_message.clone(),
        state_time_ms: m.state_time_ms,
        aborted_transactions: m.aborted_transactions.clone(),
    }
}

impl LocalCluster for BrokerLocal {
    fn load_links(&self) -> Vec<StoredLink> {
        self.topics
            .links()
            .into_iter()
            .map(|l| StoredLink {
                name: l.name,
                link_id: l.link_id,
                configs: l.configs,
                source_cluster_id: l.source_cluster_id,
                created_ms: l.created_ms,
            })
            .collect()
    }

    fn store_link(&self, link: &StoredLink) -> Result<(), LocalError> {
        self.topics
            .put_link(LinkRecord {
                name: link.name.clone(),
                link_id: link.link_id.clone(),
                configs: link.configs.clone(),
                source_cluster_id: link.source_cluster_id.clone(),
                created_ms: link.created_ms,
            })
            .map_err(local)
    }

    fn remove_link(&self, name: &str) -> Result<(), LocalError> {
        self.topics.remove_link(name).map_err(local)
    }

    fn topic_exists(&self, topic: &str) -> bool {
        self.topics.get(topic).is_some()
    }

    fn mirror_topics(&self) -> Vec<MirrorTopic> {
        self.topics
            .list()
            .into_iter()
            .filter_map(|t| {
                t.mirror().map(|m| MirrorTopic {
                    topic: t.name.clone(),
                    partitions: t.partition_count(),
                    mirror: to_info(&m),
                })
            })
            .collect()
    }

    fn create_mirror_topic(
        &self,
        topic: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        mirror: MirrorInfo,
    ) -> Result<(), LocalError> {
        // Keep the source's configs that this broker knows and accepts; a source running a
        // newer Kafka may have more.
        let configs = configs
            .into_iter()
            .filter(|(k, v)| {
                topic_config_def(k).is_some_and(|d| crate::topic_config::validate(d, v).is_ok())
            })
            .collect();
        let record = MirrorRecord {
            source_topic_id: mirror.source_topic_id,
            reason: mirror.reason,
            reason_message: mirror.reason_message,
            ..MirrorRecord::new(
                &mirror.link_name,
                &mirror.source_topic,
                mirror.state.name(),
                mirror.state_time_ms,
            )
        };
        self.topics
            .create_mirror_topic(topic, partitions, configs, record)
            .map(|_| ())
            .map_err(local)
    }

    fn mirror_configs(&self, topic: &str) -> Result<BTreeMap<String, String>, LocalError> {
        self.topics.get(topic).map(|t| t.configs()).ok_or_else(|| {
            LocalError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic '{topic}' does not exist"),
            )
        })
    }

    fn set_mirror_configs(
        &self,
        topic: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), LocalError> {
        let configs = configs
            .into_iter()
            .filter(|(k, v)| {
                topic_config_def(k).is_some_and(|d| crate::topic_config::validate(d, v).is_ok())
            })
            .collect();
        self.topics
            .set_topic_configs(topic, configs, false)
            .map_err(local)
    }

    fn add_mirror_partitions(&self, topic: &str, total: i32) -> Result<(), LocalError> {
        self.topics
            .create_partitions(topic, total, false)
            .map_err(local)
    }

    fn set_mirror_state(
        &self,
        topic: &str,
        state: MirrorState,
        reason: Option<(String, String)>,
    ) -> Result<(), LocalError> {
        self.topics
            .update_mirror(topic, |m| {
                m.state = state.name().to_string();
                m.reason = reason.as_ref().map(|r| r.0.clone());
                m.reason_message = reason.map(|r| r.1);
                m.state_time_ms = now_ms();
            })
            .map_err(local)
    }

    fn on_partition(&self, topic: &str, index: i32, work: PartitionWork) -> WorkDone {
        let lane = match self.partition(topic, index) {
            Ok(p) => p.lane().clone(),
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let done = self.topics.io().submit_ordered(&lane, work);
        let (topic, index) = (topic.to_string(), index);
        Box::pin(async move {
            let refused = |e: crate::log_manager::PoolClosed| {
                LocalError::new(
                    ErrorCode::KafkaStorageError,
                    format!("{topic}-{index}: {e}"),
                )
            };
            done.map_err(refused)?
                .await
                .map_err(|_| refused(crate::log_manager::PoolClosed))
        })
    }

    fn partition_position(&self, topic: &str, index: i32) -> Result<PartitionPosition, LocalError> {
        // The positions published by the partition's last mutation: no log lock.
        let p = self.partition(topic, index)?.watch().positions();
        if p.gone {
            return Err(LocalError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("partition {topic}-{index} was deleted"),
            ));
        }
        Ok(PartitionPosition {
            log_start_offset: p.log_start_offset,
            log_end_offset: p.log_end_offset,
            latest_epoch: p.latest_epoch,
        })
    }

    fn append_mirrored(
        &self,
        topic: &str,
        index: i32,
        records: &[u8],
    ) -> Result<MirrorAppend, LocalError> {
        let t = self.topics.get(topic).ok_or_else(|| {
            LocalError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic '{topic}' does not exist"),
            )
        })?;
        let partition = t.partition(index).ok_or_else(|| {
            LocalError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("{topic}-{index} does not exist"),
            )
        })?;
        let info = partition
            .with_log_mut(|log| {
                let mirroring = t
                    .mirror()
                    .and_then(|m| MirrorState::parse(&m.state))
                    .is_some_and(MirrorState::is_mirroring);
                if !mirroring {
                    return Err(LocalError::new(
                        ErrorCode::InvalidRequest,
                        format!("topic '{topic}' is no longer mirroring"),
                    ));
                }
                log.append_mirrored(records, now_ms()).map_err(|e| {
                    let code = match e {
                        strait_storage::AppendError::Corrupt(_) => ErrorCode::CorruptMessage,
                        strait_storage::AppendError::Io(_)
                        | strait_storage::AppendError::Offline(_) => ErrorCode::KafkaStorageError,
                        _ => ErrorCode::InvalidRecord,
                    };
                    LocalError::new(code, format!("mirror append to {topic}-{index}: {e}"))
                })
            })
            .map_err(local)??;
        // `with_log_mut` woke the fetches waiting on this partition.
        Ok(MirrorAppend {
            last_offset: info.last_offset,
            batches: info.batches,
            bytes: info.bytes,
        })
    }

    fn truncate_to(&self, topic: &str, index: i32, offset: i64) -> Result<(), LocalError> {
        self.partition(topic, index)?
            .with_log_mut(|log| log.truncate_to(offset))
            .map_err(local)?
            .map_err(storage)
    }

    fn advance_log_start_offset(
        &self,
        topic: &str,
        index: i32,
        offset: i64,
    ) -> Result<(), LocalError> {
        self.partition(topic, index)?
            .with_log_mut(|log| {
                if offset > log.log_start_offset() && offset <= log.high_watermark() {
                    log.delete_records_before(offset).map(|_| ())
                } else {
                    Ok(())
                }
            })
            .map_err(local)?
            .map_err(storage)
    }

    fn truncate_fully_and_start_at(
        &self,
        topic: &str,
        index: i32,
        offset: i64,
    ) -> Result<(), LocalError> {
        self.partition(topic, index)?
            .with_log_mut(|log| log.truncate_fully_and_start_at(offset))
            .map_err(local)?
            .map_err(storage)
    }

    fn raise_leader_epoch(&self, topic: &str, index: i32, at_least: i32) -> Result<(), LocalError> {
        self.topics
            .raise_leader_epoch(topic, index, at_least)
            .map_err(local)
    }

    fn group_offsets(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Vec<((String, i32), Option<i64>)> {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t.clone()).or_default().push(*p);
        }
        self.groups
            .fetch_offsets(group, Some(by_topic.into_iter().collect()))
            .into_iter()
            .flat_map(|(topic, parts)| {
                parts
                    .into_iter()
                    .map(move |(p, o)| ((topic.clone(), p), o.map(|o| o.offset)))
            })
            .collect()
    }

    fn group_is_active(&self, group: &str) -> bool {
        !self.groups.describe_group(group).members.is_empty()
    }

    fn commit_group_offsets(
        &self,
        group: &str,
        offsets: &[GroupOffset],
    ) -> Result<usize, LocalError> {
        let mut topics: BTreeMap<String, Vec<CommitPartition>> = BTreeMap::new();
        for o in offsets {
            topics
                .entry(o.topic.clone())
                .or_default()
                .push(CommitPartition {
                    partition: o.partition,
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                });
        }
        let result = self.groups.commit_offsets(CommitRequest {
            group_id: group.to_string(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            topics: topics.into_iter().collect(),
        });
        let mut committed = 0;
        let mut failed = Vec::new();
        for (topic, parts) in result {
            for (p, code) in parts {
                if code.is_none() {
                    committed += 1;
                } else {
                    failed.push(format!(
                        "{topic}-{p}: {}",
                        ErrorCode::try_from_code(code.code())
                            .map_or_else(|| "error".to_string(), |c| c.to_string())
                    ));
                }
            }
        }
        if failed.is_empty() {
            Ok(committed)
        } else {
            Err(LocalError::new(
                ErrorCode::UnknownServerError,
                format!(
                    "offset commit for group '{group}' refused: {}",
                    failed.join(", ")
                ),
            ))
        }
    }

    fn acls(&self) -> Vec<strait_link::filters::AclBinding> {
        self.security
            .acls()
            .iter()
            .map(|a| strait_link::filters::AclBinding {
                resource_type: a.resource_type.code(),
                resource_name: a.resource_name.clone(),
                pattern_type: a.pattern_type.code(),
                principal: a.principal.clone(),
                host: a.host.clone(),
                operation: a.operation.code(),
                permission_type: a.permission_type.code(),
            })
            .collect()
    }

    fn apply_acls(
        &self,
        create: &[strait_link::filters::AclBinding],
        delete: &[strait_link::filters::AclBinding],
    ) -> Result<(usize, usize, Vec<String>), LocalError> {
        let to_record = |b: &strait_link::filters::AclBinding| {
            AclRecord::from_wire(
                b.resource_type,
                &b.resource_name,
                b.pattern_type,
                &b.principal,
                &b.host,
                b.operation,
                b.permission_type,
            )
        };
        let mut errors = Vec::new();
        let mut creates = Vec::new();
        for b in create {
            match to_record(b) {
                Ok(r) => creates.push(r),
                Err(e) => errors.push(format!("{} on {}: {e}", b.principal, b.resource_name)),
            }
        }
        let deletes: Vec<AclRecord> = delete.iter().filter_map(|b| to_record(b).ok()).collect();
        self.security
            .update(&self.topics, |acls, _| {
                let before = acls.len();
                acls.retain(|a| !deletes.contains(a));
                let deleted = before - acls.len();
                let mut created = 0;
                for r in creates {
                    if !acls.contains(&r) {
                        acls.push(r);
                        created += 1;
                    }
                }
                Ok((created, deleted))
            })
            .map(|(c, d)| (c, d, errors))
            .map_err(local)
    }

    fn promote(&self, topic: &str) -> Result<Vec<i64>, LocalError> {
        self.topics.promote(topic).map_err(local)
    }

    fn cluster_id(&self) -> String {
        self.topics.cluster_id()
    }

    fn topic_info(&self, topic: &str) -> Option<LocalTopic> {
        self.topics.get(topic).map(|t| LocalTopic {
            topic_id: t.topic_id.to_string(),
            partitions: t.partition_count(),
            mirror: t.mirror().as_ref().map(to_info),
        })
    }

    fn epoch_entries(&self, topic: &str, index: i32) -> Result<Vec<(i32, i64)>, LocalError> {
        self.partition(topic, index)?
            .with_log(|log| log.epoch_entries())
            .map_err(local)
    }

    fn batch_at(
        &self,
        topic: &str,
        index: i32,
        offset: i64,
    ) -> Result<Option<BatchId>, LocalError> {
        self.partition(topic, index)?
            .with_log(|log| {
                let read = log
                    .read(offset, 64 * 1024, log.log_end_offset(), true)
                    .map_err(storage)?;
                let first = strait_records::BatchIter::new(&read.records)
                    .filter_map(Result::ok)
                    .find(|b| b.last_offset() >= offset);
                Ok(first
                    .filter(|b| b.base_offset() <= offset)
                    .map(|b| BatchId {
                        base_offset: b.base_offset(),
                        last_offset: b.last_offset(),
                        leader_epoch: b.partition_leader_epoch(),
                        crc: b.crc(),
                    }))
            })
            .map_err(local)?
    }

    fn records_from(&self, topic: &str, index: i32, offset: i64) -> Result<i64, LocalError> {
        self.partition(topic, index)?
            .with_log(|log| {
                let end = log.log_end_offset();
                let mut at = offset.max(log.log_start_offset());
                let mut count = 0i64;
                while at < end {
                    let read = log.read(at, 1024 * 1024, end, true).map_err(storage)?;
                    let mut next = at;
                    for b in strait_records::BatchIter::new(&read.records).filter_map(Result::ok) {
                        if b.last_offset() >= offset && !b.is_control() {
                            count += i64::from(b.records_count());
                        }
                        next = next.max(b.next_offset());
                    }
                    if next == at {
                        break;
                    }
                    at = next;
                }
                Ok(count)
            })
            .map_err(local)?
    }

    fn begin_restore(
        &self,
        topic: &str,
        mirror: MirrorInfo,
        plan: &[PartitionTruncation],
    ) -> Result<(), LocalError> {
        let record = MirrorRecord {
            link_name: mirror.link_name,
            source_topic: mirror.source_topic,
            source_topic_id: mirror.source_topic_id,
            state: mirror.state.name().to_string(),
            reason: mirror.reason,
            reason_message: mirror.reason_message,
            state_time_ms: mirror.state_time_ms,
            final_offsets: None,
            aborted_transactions: None,
            restore_plan: Some(
                plan.iter()
                    .map(|p| crate::metadata::RestorePlanEntry {
                        partition: p.partition,
                        truncate_to: p.offset_truncated_to,
                        previous_end_offset: p.previous_end_offset,
                        records: p.records_truncated,
                    })
                    .collect(),
            ),
        };
        self.topics.begin_restore(topic, record).map_err(local)
    }

    fn restore_plan(&self, topic: &str) -> Option<Vec<PartitionTruncation>> {
        let plan = self.topics.get(topic)?.mirror()?.restore_plan?;
        Some(
            plan.into_iter()
                .map(|p| PartitionTruncation {
                    partition: p.partition,
                    offset_truncated_to: p.truncate_to,
                    previous_end_offset: p.previous_end_offset,
                    records_truncated: p.records,
                })
                .collect(),
        )
    }

    fn finish_restore(&self, topic: &str, state: MirrorState) -> Result<(), LocalError> {
        self.topics
            .finish_restore(topic, state.name())
            .map_err(local)
    }

    fn topic_group_commits(&self, topic: &str) -> Vec<GroupCommit> {
        let mut out = Vec::new();
        for g in self.groups.list_groups(&[]) {
            let active = !self.groups.describe_group(&g.group_id).members.is_empty();
            for (t, parts) in self.groups.fetch_offsets(&g.group_id, None) {
                if t != topic {
                    continue;
                }
                for (partition, o) in parts {
                    if let Some(o) = o {
                        out.push(GroupCommit {
                            group: g.group_id.clone(),
                            partition,
                            offset: o.offset,
                            leader_epoch: o.leader_epoch,
                            metadata: o.metadata,
                            active,
                        });
                    }
                }
            }
        }
        out
    }
}
