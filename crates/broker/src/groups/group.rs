//! The per-group state machine: [`Member`] and [`Group`] methods that move a group
//! through its states (join phases, generations, sync, session/rebalance deadlines) and
//! build the records that persist it.
//!
//! Invariants: methods run with the coordinator mutex held and never block or await;
//! state changes go through `set_state`, which stamps `state_ts`; a new generation or
//! protocol type marks the group `dirty` so that [`super::State::flush_group`] persists it.

use super::*;

impl Member {
    pub(super) fn awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }
    pub(super) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
    pub(super) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
    /// Whether the session timer may remove this member now.
    pub(super) fn expired(&self, now: Instant) -> bool {
        if self.heartbeat_deadline > now {
            return false;
        }
        // Members parked in a JoinGroup or SyncGroup are alive by definition, except a new
        // member whose first join has been parked too long.
        self.is_new || (self.join_waiter.is_none() && self.sync_waiter.is_none())
    }
    pub(super) fn fail_waiters(&mut self, error: Code) {
        if let Some(tx) = self.join_waiter.take() {
            let _ = tx.send(JoinResult::error(error, &self.id));
        }
        if let Some(tx) = self.sync_waiter.take() {
            let _ = tx.send(SyncResult::error(error));
        }
    }
}

impl Group {
    pub(super) fn new(id: &str) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_ts: now_ms(),
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            pending_sync: BTreeSet::new(),
            pending_sync_deadline: None,
            join_deadline: None,
            initial: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            txn: txn_offsets::PendingTxnOffsets::default(),
            dirty: false,
            persisted: false,
        }
    }

    pub(super) fn set_state(&mut self, s: GroupState) {
        self.state = s;
        self.state_ts = now_ms();
    }

    pub(super) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    pub(super) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }
    pub(super) fn static_member_id(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance))
            .map(|m| m.id.clone())
    }
    pub(super) fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }
    pub(super) fn rebalance_timeout(&self) -> Duration {
        let ms = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout_ms.max(0))
            .max()
            .unwrap_or(0);
        Duration::from_millis(ms as u64)
    }
    pub(super) fn num_awaiting_join(&self) -> usize {
        self.members.iter().filter(|m| m.awaiting_join()).count()
    }
    pub(super) fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(Member::awaiting_join)
    }

    /// A group nobody uses and nothing remembers: drop it from memory.
    pub(super) fn is_ghost(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending.is_empty()
            && self.offsets.is_empty()
            && self.txn.is_empty()
            && !self.persisted
    }

    /// Kafka's `validateMember`: UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID.
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<(), Code> {
        if let Some(instance) = instance {
            match self.static_member_id(instance) {
                None => return Err(Code::UnknownMemberId),
                Some(existing) if existing != member_id => return Err(Code::FencedInstanceId),
                Some(_) => {}
            }
        }
        if self.member(member_id).is_none() {
            return Err(Code::UnknownMemberId);
        }
        Ok(())
    }

    pub(super) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            self.members
                .iter()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// The protocol every member supports that most members prefer (ties: the first
    /// member's preference order).
    pub(super) fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|name| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect();
        let mut votes: Vec<(usize, &str)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in &self.members {
            if let Some((vote, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
            {
                if let Some(slot) = votes.iter_mut().find(|(_, c)| c == vote) {
                    slot.0 += 1;
                }
            }
        }
        let mut best: Option<(usize, &str)> = None;
        for (count, name) in votes {
            if best.is_none_or(|(c, _)| count > c) {
                best = Some((count, name));
            }
        }
        best.map(|(_, n)| n.to_string())
    }

    pub(super) fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(consumer_protocol::PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in &self.members {
            topics.extend(consumer_protocol::subscription_topics(
                &m.metadata_for(protocol),
            )?);
        }
        Some(topics)
    }

    pub(super) fn current_member_list(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect()
    }

    pub(super) fn current_generation_result(
        &self,
        member_id: &str,
        with_members: bool,
    ) -> JoinResult {
        JoinResult {
            error: Code::None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.current_member_list()
            } else {
                Vec::new()
            },
        }
    }

    pub(super) fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
            self.dirty = true;
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if self.state == GroupState::PreparingRebalance {
            if let Some(init) = &mut self.initial {
                init.new_member_added = true;
            }
        }
        self.pending.remove(&member.id);
        self.members.push(member);
    }

    /// Removes a member, failing its parked requests with `error`.
    pub(super) fn remove_member(&mut self, id: &str, error: Code) {
        let Some(pos) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let mut m = self.members.remove(pos);
        m.fail_waiters(error);
        self.pending_sync.remove(id);
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
    }

    /// Removes a member (leave, expiry) and moves the group on.
    pub(super) fn remove_member_and_update(&mut self, id: &str, cfg: &GroupConfig, now: Instant) {
        self.remove_member(id, Code::UnknownMemberId);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::PreparingRebalance => self.maybe_complete_join(cfg, now),
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.prepare_rebalance(cfg, now);
                self.maybe_complete_join(cfg, now);
            }
        }
    }

    pub(super) fn prepare_rebalance(&mut self, cfg: &GroupConfig, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            // Assignments of the aborted generation are void; parked SyncGroups rejoin.
            for m in &mut self.members {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncResult::error(Code::RebalanceInProgress));
                }
            }
        }
        self.pending_sync.clear();
        self.pending_sync_deadline = None;
        let was_empty = self.state == GroupState::Empty;
        self.set_state(GroupState::PreparingRebalance);
        let rebalance_timeout = self.rebalance_timeout();
        if was_empty && cfg.initial_rebalance_delay_ms > 0 {
            let delay =
                Duration::from_millis(cfg.initial_rebalance_delay_ms).min(rebalance_timeout);
            self.join_deadline = Some(now + delay);
            self.initial = Some(InitialDelay {
                end: now + rebalance_timeout,
                new_member_added: false,
            });
        } else {
            self.join_deadline = Some(now + rebalance_timeout);
            self.initial = None;
        }
    }

    pub(super) fn maybe_prepare_rebalance(&mut self, cfg: &GroupConfig, now: Instant) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(cfg, now);
        }
        self.maybe_complete_join(cfg, now);
    }

    pub(super) fn maybe_complete_join(&mut self, cfg: &GroupConfig, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.initial.is_none()
            && self.all_joined()
        {
            self.complete_join(cfg, now);
        }
    }

    /// The join deadline passed.
    pub(super) fn on_join_deadline(&mut self, cfg: &GroupConfig, now: Instant) {
        self.join_deadline = None;
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(init) = &mut self.initial {
            if init.new_member_added && now < init.end {
                init.new_member_added = false;
                let delay = Duration::from_millis(cfg.initial_rebalance_delay_ms);
                self.join_deadline = Some((now + delay).min(init.end));
                return;
            }
        }
        self.initial = None;
        self.complete_join(cfg, now);
    }

    /// Ends the join phase: drop dynamic members that did not rejoin, start the next
    /// generation and answer every parked JoinGroup.
    pub(super) fn complete_join(&mut self, cfg: &GroupConfig, now: Instant) {
        let _ = cfg;
        let not_rejoined: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.awaiting_join() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in not_rejoined {
            self.remove_member(&id, Code::UnknownMemberId);
        }
        if !self.members.is_empty() {
            let leader_joined = self
                .leader
                .as_deref()
                .and_then(|l| self.member(l))
                .is_some_and(Member::awaiting_join);
            if !leader_joined {
                match self.members.iter().find(|m| m.awaiting_join()) {
                    Some(m) => self.leader = Some(m.id.clone()),
                    None => {
                        // Only offline static members remain: wait for them (or for their
                        // sessions to expire) for another rebalance timeout.
                        self.join_deadline = Some(now + self.rebalance_timeout());
                        return;
                    }
                }
            }
        }
        self.join_deadline = None;
        self.initial = None;
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = Some(BTreeSet::new());
            self.leader = None;
            self.set_state(GroupState::Empty);
            return;
        }
        self.protocol_name = self.select_protocol();
        self.subscribed_topics = self.compute_subscribed_topics();
        self.set_state(GroupState::CompletingRebalance);
        let list = self.current_member_list();
        let leader = self.leader.clone().unwrap_or_default();
        let rebalance_timeout = self.rebalance_timeout();
        self.pending_sync = self.members.iter().map(|m| m.id.clone()).collect();
        self.pending_sync_deadline = Some((now + rebalance_timeout, self.generation));
        let (generation, ptype, pname) = (
            self.generation,
            self.protocol_type.clone(),
            self.protocol_name.clone(),
        );
        for m in &mut self.members {
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult {
                    error: Code::None,
                    generation_id: generation,
                    protocol_type: ptype.clone(),
                    protocol_name: pname.clone(),
                    leader: leader.clone(),
                    skip_assignment: false,
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        list.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
            m.is_new = false;
        }
    }

    /// Runs every deadline that has passed.
    pub(super) fn on_timer(&mut self, cfg: &GroupConfig, now: Instant) {
        let expired_pending: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending.remove(&id);
            self.maybe_complete_join(cfg, now);
        }
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.expired(now))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member_and_update(&id, cfg, now);
        }
        if self.join_deadline.is_some_and(|d| d <= now) {
            self.on_join_deadline(cfg, now);
        }
        if let Some((deadline, generation)) = self.pending_sync_deadline {
            if deadline <= now {
                self.pending_sync_deadline = None;
                if generation == self.generation
                    && matches!(
                        self.state,
                        GroupState::CompletingRebalance | GroupState::Stable
                    )
                    && !self.pending_sync.is_empty()
                {
                    let late: Vec<String> =
                        std::mem::take(&mut self.pending_sync).into_iter().collect();
                    for id in late {
                        tracing::info!(group = %self.id, member = %id, "member did not SyncGroup in time");
                        self.remove_member(&id, Code::UnknownMemberId);
                    }
                    self.prepare_rebalance(cfg, now);
                    self.maybe_complete_join(cfg, now);
                }
            }
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.iter().filter_map(|m| {
            if m.is_new || (m.join_waiter.is_none() && m.sync_waiter.is_none()) {
                Some(m.heartbeat_deadline)
            } else {
                None
            }
        });
        members
            .chain(self.pending.values().copied())
            .chain(self.join_deadline)
            .chain(self.pending_sync_deadline.map(|(d, _)| d))
            .min()
    }

    pub(super) fn group_record(&self) -> Record {
        Record::Group {
            group: self.id.clone(),
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            state_ts: self.state_ts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            heartbeat_deadline: Instant::now(),
            is_new: false,
        }
    }

    #[test]
    fn protocol_selection_is_by_vote_among_common_protocols() {
        let mut g = Group::new("g");
        g.protocol_type = Some("consumer".into());
        g.members
            .push(member("a", &["range", "roundrobin", "sticky"]));
        g.members.push(member("b", &["roundrobin", "range"]));
        g.members
            .push(member("c", &["roundrobin", "range", "sticky"]));
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
        assert!(g.supports_protocols("consumer", &[("range".into(), Bytes::new())]));
        assert!(!g.supports_protocols("consumer", &[("sticky".into(), Bytes::new())]));
        assert!(!g.supports_protocols("connect", &[("range".into(), Bytes::new())]));
    }

    #[test]
    fn empty_group_needs_type_and_protocols() {
        let g = Group::new("g");
        assert!(!g.supports_protocols("", &[("range".into(), Bytes::new())]));
        assert!(!g.supports_protocols("consumer", &[]));
        assert!(g.supports_protocols("consumer", &[("range".into(), Bytes::new())]));
    }
}
