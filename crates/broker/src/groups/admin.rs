//! Admin views of the coordinator: ListGroups, DescribeGroups and DeleteGroups.
//!
//! Invariants: views are read under the state mutex, so each is a consistent snapshot;
//! only Empty groups can be deleted (others answer NON_EMPTY_GROUP), and a deletion is
//! persisted as a tombstone before the group is removed from memory.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- admin views

    /// ListGroups, filtered by state names (case-insensitive; empty = all).
    pub fn list_groups(&self, states: &[String]) -> Vec<ListedGroup> {
        let st = lock(&self.state);
        let mut out: Vec<ListedGroup> = st
            .groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.as_str()))
            })
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups for one group (an unknown group is described as Dead, as Kafka does).
    pub fn describe_group(&self, group_id: &str) -> GroupDescription {
        let st = lock(&self.state);
        let Some(g) = st.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        GroupDescription {
            group_id: g.id.clone(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .iter()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// DeleteGroups: only groups without members (NON_EMPTY_GROUP otherwise).
    pub fn delete_groups(self: &Arc<Self>, group_ids: &[String]) -> Vec<Code> {
        self.start_timer();
        let mut st = lock(&self.state);
        group_ids
            .iter()
            .map(|id| {
                let Some(g) = st.groups.get(id) else {
                    return Code::GroupIdNotFound;
                };
                match g.state {
                    GroupState::Dead => return Code::GroupIdNotFound,
                    GroupState::Empty => {}
                    _ => return Code::NonEmptyGroup,
                }
                if let Err(e) = st.store.append(&Record::GroupDeleted { group: id.clone() }) {
                    tracing::error!(group = %id, error = %e, "cannot persist group deletion");
                    return Code::KafkaStorageError;
                }
                if let Some(mut g) = st.groups.remove(id) {
                    g.set_state(GroupState::Dead);
                    for (pid, _) in g.pending.drain() {
                        tracing::debug!(group = %id, member = %pid, "pending member dropped with group");
                    }
                }
                tracing::info!(group = %id, "group deleted");
                Code::None
            })
            .collect()
    }
}
