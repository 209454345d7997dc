//! Committed offsets of the coordinator: OffsetCommit, OffsetFetch and OffsetDelete.
//!
//! Invariants: offsets are appended to the store before they are applied in memory and
//! before the request is answered; a commit is validated against the group's membership
//! and generation first. Expiry lives in [`super::timer`], pending transactional
//! offsets in [`super::txn_offsets`].

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- offsets

    /// OffsetCommit. Returns one error per partition, in request order. Offsets are
    /// written to the store before this returns.
    /// Checks each partition of an offset commit (`group_error` applies to all) and builds
    /// the records of those that pass; the per-partition results in request order.
    pub(crate) fn offset_records(
        &self,
        topics: &[(String, Vec<CommitPartition>)],
        group_error: Option<Code>,
    ) -> (Vec<OffsetRecord>, PartitionErrors) {
        let commit_ts = now_ms();
        let mut records = Vec::new();
        let mut out = Vec::with_capacity(topics.len());
        for (topic, partitions) in topics {
            let known = self.topics.get(topic);
            let mut results = Vec::with_capacity(partitions.len());
            for p in partitions {
                let error = if let Some(e) = group_error {
                    e
                } else if !known
                    .as_ref()
                    .is_some_and(|t| p.partition >= 0 && p.partition < t.partition_count())
                {
                    Code::UnknownTopicOrPartition
                } else if p
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > self.config.offset_metadata_max_bytes)
                {
                    Code::OffsetMetadataTooLarge
                } else {
                    records.push(OffsetRecord {
                        topic: topic.clone(),
                        partition: p.partition,
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata: p.metadata.clone(),
                        commit_ts,
                        topic_id: known.as_ref().map(|t| t.topic_id.to_string()),
                    });
                    Code::None
                };
                results.push((p.partition, error));
            }
            out.push((topic.clone(), results));
        }
        (records, out)
    }

    pub fn commit_offsets(self: &Arc<Self>, req: CommitRequest) -> PartitionErrors {
        self.start_timer();
        let now = Instant::now();
        let mut st = lock(&self.state);
        let group_error = self.validate_commit(&mut st, &req, now);
        let (records, mut out) = self.offset_records(&req.topics, group_error);
        if !records.is_empty() {
            let record = Record::Offsets {
                group: req.group_id.clone(),
                offsets: records,
            };
            persist_offsets(&mut st, &req.group_id, record, &mut out);
        }
        st.settle(&req.group_id);
        out
    }

    /// Kafka's `validateOffsetCommit` (creating a "simple" group for a standalone commit).
    pub(super) fn validate_commit(
        &self,
        st: &mut State,
        req: &CommitRequest,
        now: Instant,
    ) -> Option<Code> {
        let group = match st.groups.get_mut(&req.group_id) {
            Some(g) => g,
            None if req.generation_id < 0 => {
                st.groups
                    .insert(req.group_id.clone(), Group::new(&req.group_id));
                return None;
            }
            None => return Some(Code::IllegalGeneration),
        };
        if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
            if let Err(e) = group.validate_member(&req.member_id, req.group_instance_id.as_deref())
            {
                return Some(e);
            }
            if req.generation_id != group.generation {
                return Some(Code::IllegalGeneration);
            }
        } else if group.state != GroupState::Empty {
            // A commit without member id and generation is only for groups nobody uses.
            return Some(Code::UnknownMemberId);
        }
        if group.state == GroupState::CompletingRebalance {
            return Some(Code::RebalanceInProgress);
        }
        if let Some(m) = group.member_mut(&req.member_id) {
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
        }
        None
    }

    /// OffsetFetch for one group. `topics: None` means every committed offset of the group.
    /// Partitions without a committed offset come back as `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        let st = lock(&self.state);
        self.fetch_offsets_in(st.groups.get(group_id), topics)
    }

    /// [`Self::fetch_offsets`] under the lock the caller holds.
    pub(super) fn fetch_offsets_in(
        &self,
        group: Option<&Group>,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let parts = partitions
                        .into_iter()
                        .map(|p| {
                            let o = group
                                .and_then(|g| g.offsets.get(&(topic.clone(), p)))
                                .filter(|o| self.offset_applies(&topic, o))
                                .cloned();
                            (p, o)
                        })
                        .collect();
                    (topic, parts)
                })
                .collect(),
            None => {
                let mut out: FetchedOffsets = Vec::new();
                if let Some(g) = group {
                    for ((topic, p), o) in &g.offsets {
                        if !self.offset_applies(topic, o) {
                            continue;
                        }
                        match out.last_mut() {
                            Some((t, parts)) if t == topic => parts.push((*p, Some(o.clone()))),
                            _ => out.push((topic.clone(), vec![(*p, Some(o.clone()))])),
                        }
                    }
                }
                out
            }
        }
    }

    /// Whether a stored offset still belongs to a live topic (not deleted, not recreated).
    pub(super) fn offset_applies(&self, topic: &str, o: &CommittedOffset) -> bool {
        match self.topics.get(topic) {
            None => false,
            Some(t) => o
                .topic_id
                .as_ref()
                .is_none_or(|id| *id == t.topic_id.to_string()),
        }
    }

    /// OffsetDelete. Group-level error, or one error per partition.
    pub fn delete_offsets(
        self: &Arc<Self>,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<PartitionErrors, Code> {
        self.start_timer();
        let mut st = lock(&self.state);
        let Some(group) = st.groups.get(group_id) else {
            return Err(Code::GroupIdNotFound);
        };
        let subscribed: Option<&BTreeSet<String>> = match group.state {
            GroupState::Dead => return Err(Code::GroupIdNotFound),
            GroupState::Empty => None,
            _ if group.protocol_type.as_deref() == Some(consumer_protocol::PROTOCOL_TYPE) => {
                group.subscribed_topics.as_ref()
            }
            _ => return Err(Code::NonEmptyGroup),
        };
        let active = group.state != GroupState::Empty;
        let mut out = Vec::new();
        let mut deleted = Vec::new();
        for (topic, partitions) in topics {
            let known = self.topics.get(topic);
            // Unknown subscription (unparseable metadata): assume subscribed, as Kafka does.
            let is_subscribed = active && subscribed.is_none_or(|s| s.contains(topic));
            let results: Vec<(i32, Code)> = partitions
                .iter()
                .map(|&p| {
                    let error = if !known
                        .as_ref()
                        .is_some_and(|t| p >= 0 && p < t.partition_count())
                    {
                        Code::UnknownTopicOrPartition
                    } else if is_subscribed {
                        Code::GroupSubscribedToTopic
                    } else {
                        // Kafka's tombstone drops a pending transactional offset too.
                        if group.offsets.contains_key(&(topic.clone(), p))
                            || group.txn.contains(topic, p)
                        {
                            deleted.push((topic.clone(), p));
                        }
                        Code::None
                    };
                    (p, error)
                })
                .collect();
            out.push((topic.clone(), results));
        }
        if !deleted.is_empty() {
            let record = Record::OffsetsDeleted {
                group: group_id.to_string(),
                partitions: deleted,
            };
            if let Err(e) = st.store.append(&record) {
                tracing::error!(group = %group_id, error = %e, "cannot persist offset deletion");
                for (_, parts) in &mut out {
                    for (_, err) in parts.iter_mut() {
                        if *err == Code::None {
                            *err = Code::KafkaStorageError;
                        }
                    }
                }
                return Ok(out);
            }
            apply_record(&mut st.groups, record);
        }
        Ok(out)
    }
}

/// Appends an offsets record (plain or transactional) and applies it once it is written;
/// if it cannot be written, every partition that had passed its checks answers
/// KAFKA_STORAGE_ERROR and nothing is applied.
pub(super) fn persist_offsets(
    st: &mut State,
    group: &str,
    record: Record,
    out: &mut PartitionErrors,
) {
    match st.store.append(&record) {
        Ok(()) => {
            apply_record(&mut st.groups, record);
            if let Some(g) = st.groups.get_mut(group) {
                g.persisted = true;
            }
        }
        Err(e) => {
            tracing::error!(group, error = %e, "cannot persist committed offsets");
            for (_, parts) in out.iter_mut() {
                for (_, err) in parts.iter_mut() {
                    if *err == Code::None {
                        *err = Code::KafkaStorageError;
                    }
                }
            }
        }
    }
}
