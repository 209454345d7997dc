//! Membership entry points of the coordinator: JoinGroup, SyncGroup, Heartbeat and
//! LeaveGroup, and the Kafka-shaped helpers (`acceptJoiningMember`, static-member
//! replacement, ...) they use.
//!
//! Invariants: the state mutex is taken per call and released before any `.await`; a
//! request that must wait is parked on a oneshot channel that the state machine
//! completes (see the module docs of [`super`]).

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- membership

    /// JoinGroup. May park until the join phase completes.
    pub async fn join(self: &Arc<Self>, req: JoinRequest) -> JoinResult {
        self.start_timer();
        let rx = match self.join_locked(req) {
            Ok(result) => return result,
            Err(rx) => rx,
        };
        self.poke();
        match rx.await {
            Ok(result) => result,
            // Superseded by a newer JoinGroup of the same member: that one gets the answer.
            Err(_) => JoinResult::error(Code::RebalanceInProgress, ""),
        }
    }

    pub(super) fn join_locked(
        &self,
        req: JoinRequest,
    ) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
        let cfg = &self.config;
        if req.group_id.is_empty() {
            return Ok(JoinResult::error(Code::InvalidGroupId, &req.member_id));
        }
        if req.session_timeout_ms < cfg.min_session_timeout_ms
            || req.session_timeout_ms > cfg.max_session_timeout_ms
        {
            return Ok(JoinResult::error(
                Code::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        let now = Instant::now();
        let mut st = lock(&self.state);
        let unknown = req.member_id.is_empty();
        if !st.groups.contains_key(&req.group_id) {
            if !unknown {
                return Ok(JoinResult::error(Code::UnknownMemberId, &req.member_id));
            }
            st.groups
                .insert(req.group_id.clone(), Group::new(&req.group_id));
        }
        let group_id = req.group_id.clone();
        let result = {
            let Some(group) = st.groups.get_mut(&group_id) else {
                return Ok(JoinResult::error(Code::UnknownMemberId, &req.member_id));
            };
            if !accept_joining_member(group, &req.member_id, cfg.max_size) {
                if group.member(&req.member_id).is_some() {
                    group.remove_member_and_update(&req.member_id, cfg, now);
                }
                Ok(JoinResult::error(Code::GroupMaxSizeReached, ""))
            } else if unknown {
                join_new_member(group, req, cfg, now)
            } else {
                join_existing_member(group, req, cfg, now)
            }
        };
        st.settle(&group_id);
        result
    }

    /// SyncGroup. Followers park until the leader's assignment arrives.
    pub async fn sync(self: &Arc<Self>, req: SyncRequest) -> SyncResult {
        self.start_timer();
        let rx = match self.sync_locked(req) {
            Ok(r) => return r,
            Err(rx) => rx,
        };
        self.poke();
        rx.await
            .unwrap_or_else(|_| SyncResult::error(Code::RebalanceInProgress))
    }

    pub(super) fn sync_locked(
        &self,
        req: SyncRequest,
    ) -> Result<SyncResult, oneshot::Receiver<SyncResult>> {
        if req.group_id.is_empty() {
            return Ok(SyncResult::error(Code::InvalidGroupId));
        }
        let now = Instant::now();
        let mut st = lock(&self.state);
        let group_id = req.group_id.clone();
        let result = match st.groups.get_mut(&group_id) {
            None => Ok(SyncResult::error(Code::UnknownMemberId)),
            Some(group) => sync_group(group, req, now),
        };
        st.settle(&group_id);
        result
    }

    /// Heartbeat.
    pub fn heartbeat(
        self: &Arc<Self>,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Code {
        self.start_timer();
        if group_id.is_empty() {
            return Code::InvalidGroupId;
        }
        let now = Instant::now();
        let mut st = lock(&self.state);
        let Some(group) = st.groups.get_mut(group_id) else {
            return Code::UnknownMemberId;
        };
        if let Err(e) = group.validate_member(member_id, instance_id) {
            return e;
        }
        if generation_id != group.generation {
            return Code::IllegalGeneration;
        }
        let state = group.state;
        if let Some(m) = group.member_mut(member_id) {
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
        }
        match state {
            GroupState::Empty | GroupState::Dead => Code::UnknownMemberId,
            GroupState::PreparingRebalance => Code::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => Code::None,
        }
    }

    /// LeaveGroup for each `(member_id, group_instance_id)`. Returns the group-level error
    /// and one error per member. An empty member id with an instance id removes that static
    /// member (what admin tools send).
    pub fn leave(
        self: &Arc<Self>,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> (Code, Vec<Code>) {
        self.start_timer();
        if group_id.is_empty() {
            return (Code::InvalidGroupId, Vec::new());
        }
        let cfg = &self.config;
        let now = Instant::now();
        let mut st = lock(&self.state);
        let Some(group) = st.groups.get_mut(group_id) else {
            return (
                Code::UnknownMemberId,
                vec![Code::UnknownMemberId; members.len()],
            );
        };
        let mut errors = Vec::with_capacity(members.len());
        for (member_id, instance) in members {
            let error = if member_id.is_empty() {
                match instance.as_deref().and_then(|i| group.static_member_id(i)) {
                    Some(id) => {
                        group.remove_member_and_update(&id, cfg, now);
                        Code::None
                    }
                    None => Code::UnknownMemberId,
                }
            } else if group.pending.remove(member_id).is_some() {
                group.maybe_complete_join(cfg, now);
                Code::None
            } else {
                match group.validate_member(member_id, instance.as_deref()) {
                    Ok(()) => {
                        tracing::info!(group = %group_id, member = %member_id, "member left");
                        group.remove_member_and_update(member_id, cfg, now);
                        Code::None
                    }
                    Err(e) => e,
                }
            };
            errors.push(error);
        }
        st.settle(group_id);
        drop(st);
        self.poke();
        (Code::None, errors)
    }
}

/// Kafka's `acceptJoiningMember` (`group.max.size`).
pub(super) fn accept_joining_member(group: &Group, member_id: &str, max_size: usize) -> bool {
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::PreparingRebalance => {
            group.member(member_id).is_some_and(Member::awaiting_join)
                || group.num_awaiting_join() < max_size
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.member(member_id).is_some() || group.members.len() < max_size
        }
    }
}

pub(super) fn new_member(
    req: &JoinRequest,
    id: String,
    now: Instant,
) -> (Member, oneshot::Receiver<JoinResult>) {
    let (tx, rx) = oneshot::channel();
    (
        Member {
            id,
            instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(tx),
            sync_waiter: None,
            heartbeat_deadline: now + NEW_MEMBER_JOIN_TIMEOUT,
            is_new: true,
        },
        rx,
    )
}

pub(super) fn add_member_and_rebalance(
    group: &mut Group,
    req: &JoinRequest,
    id: String,
    cfg: &GroupConfig,
    now: Instant,
) -> oneshot::Receiver<JoinResult> {
    let (member, rx) = new_member(req, id, now);
    tracing::info!(group = %group.id, member = %member.id, instance = ?member.instance_id, "member joining");
    group.add_member(member);
    group.maybe_prepare_rebalance(cfg, now);
    rx
}

pub(super) fn join_new_member(
    group: &mut Group,
    req: JoinRequest,
    cfg: &GroupConfig,
    now: Instant,
) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
    if group.state == GroupState::Dead {
        return Ok(JoinResult::error(Code::CoordinatorNotAvailable, ""));
    }
    if !group.supports_protocols(&req.protocol_type, &req.protocols) {
        return Ok(JoinResult::error(Code::InconsistentGroupProtocol, ""));
    }
    let prefix = req
        .group_instance_id
        .clone()
        .unwrap_or_else(|| req.client_id.clone());
    let new_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
    if let Some(instance) = req.group_instance_id.clone() {
        if let Some(old_id) = group.static_member_id(&instance) {
            return update_static_member(group, req, &old_id, new_id, cfg, now);
        }
        return Err(add_member_and_rebalance(group, &req, new_id, cfg, now));
    }
    if req.require_known_member_id {
        group
            .pending
            .insert(new_id.clone(), now + session(req.session_timeout_ms));
        return Ok(JoinResult::error(Code::MemberIdRequired, &new_id));
    }
    Err(add_member_and_rebalance(group, &req, new_id, cfg, now))
}

/// A static member rejoined with an unknown member id: it replaces its old incarnation.
pub(super) fn update_static_member(
    group: &mut Group,
    req: JoinRequest,
    old_id: &str,
    new_id: String,
    cfg: &GroupConfig,
    now: Instant,
) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
    let current_leader = group.leader.clone().unwrap_or_default();
    let (tx, rx) = oneshot::channel();
    {
        let Some(m) = group.member_mut(old_id) else {
            return Ok(JoinResult::error(Code::UnknownMemberId, ""));
        };
        m.fail_waiters(Code::FencedInstanceId);
        m.id = new_id.clone();
        m.protocols = req.protocols.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.join_waiter = Some(tx);
        m.heartbeat_deadline = now + session(req.session_timeout_ms);
    }
    if group.is_leader(old_id) {
        group.leader = Some(new_id.clone());
    }
    if group.pending_sync.remove(old_id) {
        group.pending_sync.insert(new_id.clone());
    }
    tracing::info!(group = %group.id, old = %old_id, new = %new_id, "static member rejoined with a new member id");
    match group.state {
        GroupState::Stable => {
            if group.protocol_name == group.select_protocol() {
                // Nothing changes for the group: hand back the current generation.
                let is_leader = group.is_leader(&new_id);
                let result = if req.supports_skip_assignment {
                    let mut r = group.current_generation_result(&new_id, is_leader);
                    r.skip_assignment = is_leader;
                    r
                } else {
                    // Older clients cannot skip the assignment: tell them the old leader id
                    // so a rejoining leader does not assign (its new id does not match).
                    let mut r = group.current_generation_result(&new_id, false);
                    r.leader = current_leader;
                    r
                };
                group.dirty = true;
                if let Some(m) = group.member_mut(&new_id) {
                    m.join_waiter = None;
                }
                Ok(result)
            } else {
                group.maybe_prepare_rebalance(cfg, now);
                Err(rx)
            }
        }
        GroupState::CompletingRebalance => {
            // The leader may already be assigning to the old member id: rebalance.
            group.prepare_rebalance(cfg, now);
            group.maybe_complete_join(cfg, now);
            Err(rx)
        }
        _ => {
            group.maybe_complete_join(cfg, now);
            Err(rx)
        }
    }
}

/// SyncGroup against one group (Kafka's validation order, then by state).
pub(super) fn sync_group(
    group: &mut Group,
    req: SyncRequest,
    now: Instant,
) -> Result<SyncResult, oneshot::Receiver<SyncResult>> {
    if let Err(e) = group.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
        return Ok(SyncResult::error(e));
    }
    if req.generation_id != group.generation {
        return Ok(SyncResult::error(Code::IllegalGeneration));
    }
    if req
        .protocol_type
        .as_ref()
        .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
        || req
            .protocol_name
            .as_ref()
            .is_some_and(|n| group.protocol_name.as_ref() != Some(n))
    {
        return Ok(SyncResult::error(Code::InconsistentGroupProtocol));
    }
    group.pending_sync.remove(&req.member_id);
    let ptype = group.protocol_type.clone();
    let pname = group.protocol_name.clone();
    match group.state {
        GroupState::Empty | GroupState::Dead => Ok(SyncResult::error(Code::UnknownMemberId)),
        GroupState::PreparingRebalance => Ok(SyncResult::error(Code::RebalanceInProgress)),
        GroupState::Stable => {
            let Some(m) = group.member_mut(&req.member_id) else {
                return Ok(SyncResult::error(Code::UnknownMemberId));
            };
            m.heartbeat_deadline = now + session(m.session_timeout_ms);
            Ok(SyncResult {
                error: Code::None,
                protocol_type: ptype,
                protocol_name: pname,
                assignment: m.assignment.clone(),
            })
        }
        GroupState::CompletingRebalance => {
            let (tx, rx) = oneshot::channel();
            if let Some(m) = group.member_mut(&req.member_id) {
                m.sync_waiter = Some(tx);
                m.heartbeat_deadline = now + session(m.session_timeout_ms);
            }
            if group.is_leader(&req.member_id) {
                let assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                for m in &mut group.members {
                    m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                }
                group.set_state(GroupState::Stable);
                group.dirty = true;
                for m in &mut group.members {
                    if let Some(tx) = m.sync_waiter.take() {
                        let _ = tx.send(SyncResult {
                            error: Code::None,
                            protocol_type: ptype.clone(),
                            protocol_name: pname.clone(),
                            assignment: m.assignment.clone(),
                        });
                    }
                }
            }
            Err(rx)
        }
    }
}

pub(super) fn join_existing_member(
    group: &mut Group,
    req: JoinRequest,
    cfg: &GroupConfig,
    now: Instant,
) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
    let member_id = req.member_id.clone();
    if group.state == GroupState::Dead {
        return Ok(JoinResult::error(Code::CoordinatorNotAvailable, &member_id));
    }
    if !group.supports_protocols(&req.protocol_type, &req.protocols) {
        return Ok(JoinResult::error(
            Code::InconsistentGroupProtocol,
            &member_id,
        ));
    }
    if group.pending.contains_key(&member_id) {
        if req.group_instance_id.is_some() {
            return Ok(JoinResult::error(Code::UnknownMemberId, &member_id));
        }
        return Err(add_member_and_rebalance(group, &req, member_id, cfg, now));
    }
    if let Err(e) = group.validate_member(&member_id, req.group_instance_id.as_deref()) {
        return Ok(JoinResult::error(e, &member_id));
    }
    let (is_leader, matches) = match group.member(&member_id) {
        Some(m) => (group.is_leader(&member_id), m.matches(&req.protocols)),
        None => return Ok(JoinResult::error(Code::UnknownMemberId, &member_id)),
    };
    match group.state {
        GroupState::PreparingRebalance => Err(update_member_and_rebalance(group, &req, cfg, now)),
        GroupState::CompletingRebalance => {
            if matches {
                // It missed the JoinGroup answer: repeat it.
                Ok(group.current_generation_result(&member_id, is_leader))
            } else {
                Err(update_member_and_rebalance(group, &req, cfg, now))
            }
        }
        GroupState::Stable => {
            if is_leader || !matches {
                // The leader rejoining forces a rebalance (e.g. topic metadata changed).
                Err(update_member_and_rebalance(group, &req, cfg, now))
            } else {
                Ok(group.current_generation_result(&member_id, false))
            }
        }
        GroupState::Empty | GroupState::Dead => {
            Ok(JoinResult::error(Code::UnknownMemberId, &member_id))
        }
    }
}

pub(super) fn update_member_and_rebalance(
    group: &mut Group,
    req: &JoinRequest,
    cfg: &GroupConfig,
    now: Instant,
) -> oneshot::Receiver<JoinResult> {
    let (tx, rx) = oneshot::channel();
    if let Some(m) = group.member_mut(&req.member_id) {
        m.protocols = req.protocols.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        // A JoinGroup already parked for this member is superseded (its receiver errors).
        m.join_waiter = Some(tx);
    }
    group.maybe_prepare_rebalance(cfg, now);
    rx
}
