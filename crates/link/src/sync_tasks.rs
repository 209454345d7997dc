//! The link's periodic sync tasks against the source: topic configs, ACLs and consumer
//! group offsets. Each returns how many items it changed, or an error that the link loop
//! records as the task's state; a failing task never stops mirroring.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use strait_client::Client;

use crate::local::GroupOffset;
use crate::shared::LinkShared;
use crate::state::MirrorState;

/// Copies the synced topic configs of every mirroring topic from its source topic.
pub async fn sync_topic_configs(shared: &Arc<LinkShared>, client: &Client) -> Result<u64, String> {
    let mirrors: Vec<_> = shared
        .mirrors()
        .into_iter()
        .filter(|m| m.mirror.state.is_mirroring() || m.mirror.state == MirrorState::Paused)
        .collect();
    if mirrors.is_empty() {
        return Ok(0);
    }
    let resources: Vec<_> = mirrors
        .iter()
        .map(|m| strait_client::admin::ConfigResource::topic(m.mirror.source_topic.clone()))
        .collect();
    let described = client
        .describe_configs(&resources, None, false)
        .await
        .map_err(|e| format!("DescribeConfigs on the source failed: {e}"))?;
    let mut changed = 0u64;
    let mut errors = Vec::new();
    for m in &mirrors {
        let Some((_, result)) = described
            .iter()
            .find(|(r, _)| r.name == m.mirror.source_topic)
        else {
            continue;
        };
        let entries = match result {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: {e}", m.mirror.source_topic));
                continue;
            }
        };
        let source: BTreeMap<String, String> = entries
            .iter()
            .filter(|e| {
                e.source == strait_client::admin::ConfigSource::DynamicTopic && !e.is_sensitive
            })
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
            .collect();
        let Ok(local) = shared.local.mirror_configs(&m.topic) else {
            continue;
        };
        let desired = crate::sync::synced_configs(
            &local,
            &source,
            &shared.config().topic_config_sync_include,
        );
        if desired != local {
            match shared.local.set_mirror_configs(&m.topic, desired) {
                Ok(()) => {
                    changed += 1;
                    tracing::info!(link = %shared.name(), mirror = %m.topic, "synced topic configs from the source");
                }
                Err(e) => errors.push(format!("{}: {e}", m.topic)),
            }
        }
    }
    if errors.is_empty() {
        Ok(changed)
    } else {
        Err(errors.join("; "))
    }
}

/// Makes the destination's ACLs that the aclFilters select equal the source's selected
/// ACLs: creates what is missing, deletes what the source no longer has. ACLs the filters
/// do not select are never touched. Nothing changes when the source cannot be read.
pub async fn sync_acls(shared: &Arc<LinkShared>, client: &Client) -> Result<u64, String> {
    use std::collections::HashSet;
    let filters = &shared.config().acl_filters;
    let source = client
        .describe_acls(&strait_client::acls::AclBindingFilter::any())
        .await
        .map_err(|e| format!("DescribeAcls on the source failed: {e}"))?;
    let desired: HashSet<crate::filters::AclBinding> = source
        .into_iter()
        .map(|b| crate::filters::AclBinding {
            resource_type: b.resource_type.code(),
            resource_name: b.resource_name,
            pattern_type: b.pattern_type.code(),
            principal: b.principal,
            host: b.host,
            operation: b.operation.code(),
            permission_type: b.permission_type.code(),
        })
        .filter(|b| filters.selects(b))
        .collect();
    let local: HashSet<crate::filters::AclBinding> = shared
        .local
        .acls()
        .into_iter()
        .filter(|b| filters.selects(b))
        .collect();
    let mut create: Vec<_> = desired.difference(&local).cloned().collect();
    let mut delete: Vec<_> = local.difference(&desired).cloned().collect();
    if create.is_empty() && delete.is_empty() {
        return Ok(0);
    }
    // A stable order keeps logs and persisted state deterministic.
    create.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    delete.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    let (created, deleted, errors) = shared
        .local
        .apply_acls(&create, &delete)
        .map_err(|e| e.to_string())?;
    if created + deleted > 0 {
        tracing::info!(link = %shared.name(), created, deleted, "synced ACLs from the source");
    }
    if errors.is_empty() {
        Ok((created + deleted) as u64)
    } else {
        Err(format!(
            "{} ACL(s) could not be represented here: {}",
            errors.len(),
            errors.join("; ")
        ))
    }
}

/// Copies committed offsets of the source groups the groupFilters select, for partitions
/// of this link's mirrors that still follow their source (only `only_source_topics` when
/// given: the final sync of a promote). Offsets are identical on both sides, so nothing is
/// translated: each offset is committed with its leader epoch and metadata, clamped at the
/// mirror's log end offset. The rule (README, "which side wins"): a group with members on
/// the destination is never touched (its consumers own it); an offset only ever moves
/// forward (a destination at or past the source's offset is left alone and reported in the
/// task's note); a promoted or failed-over topic is never synced again. Returns partitions
/// committed.
pub async fn sync_consumer_offsets(
    shared: &Arc<LinkShared>,
    client: &Client,
    only_source_topics: Option<&[String]>,
) -> Result<u64, String> {
    if !shared.config().consumer_offset_sync || shared.config().group_filters.is_empty() {
        return Ok(0);
    }
    let mirrors = following_mirrors(shared, only_source_topics);
    if mirrors.is_empty() {
        return Ok(0);
    }
    let groups = client
        .list_groups()
        .await
        .map_err(|e| format!("ListGroups on the source failed: {e}"))?;
    let mut committed = 0u64;
    let mut errors = Vec::new();
    let mut ahead = Vec::new();
    for g in groups
        .iter()
        .filter(|g| shared.config().group_filters.selects(&g.group_id))
    {
        let local_group = match (
            &shared.config().cluster_link_prefix,
            shared.config().consumer_group_prefix,
        ) {
            (Some(p), true) => format!("{p}{}", g.group_id),
            _ => g.group_id.clone(),
        };
        let source_offsets = match client.offset_fetch(&g.group_id, None).await {
            Ok(o) => o,
            Err(e) => {
                errors.push(format!("OffsetFetch of group '{}' failed: {e}", g.group_id));
                continue;
            }
        };
        // The source answered over the network: a promote or failover may have happened
        // meanwhile, and from then on the topic's offsets are the destination's alone.
        let mirrors = following_mirrors(shared, only_source_topics);
        let mut wanted = Vec::new();
        for o in source_offsets
            .into_iter()
            .filter(|o| o.offset >= 0 && o.error.is_none())
        {
            let Some(mirror) = mirrors.get(&o.topic) else {
                continue;
            };
            let Ok(pos) = shared.local.partition_position(mirror, o.partition) else {
                continue;
            };
            wanted.push(GroupOffset {
                topic: mirror.clone(),
                partition: o.partition,
                offset: o.offset.min(pos.log_end_offset),
                leader_epoch: o.leader_epoch.unwrap_or(-1),
                metadata: o.metadata,
            });
        }
        let keys: Vec<(String, i32)> = wanted
            .iter()
            .map(|o| (o.topic.clone(), o.partition))
            .collect();
        let current: HashMap<(String, i32), Option<i64>> = shared
            .local
            .group_offsets(&local_group, &keys)
            .into_iter()
            .collect();
        wanted.retain(|o| {
            let d = current
                .get(&(o.topic.clone(), o.partition))
                .copied()
                .flatten();
            if d.is_some_and(|d| d > o.offset) {
                ahead.push(format!("{local_group}/{}-{}", o.topic, o.partition));
            }
            moves_forward(d, o.offset)
        });
        if wanted.is_empty() {
            continue;
        }
        if shared.local.group_is_active(&local_group) {
            tracing::debug!(link = %shared.name(), group = %local_group, "group is active on the destination; offsets left alone");
            continue;
        }
        match shared.local.commit_group_offsets(&local_group, &wanted) {
            Ok(n) => committed += n as u64,
            Err(e) => errors.push(format!("commit for group '{local_group}' failed: {e}")),
        }
    }
    // A full round (not a promote's final sync of one topic) says what it left alone.
    if only_source_topics.is_none() {
        shared.set_task_note(
            "consumer_offset_sync",
            (!ahead.is_empty()).then(|| {
                format!(
                    "{} partition(s) are further on the destination than on the source and are left alone (offsets never move back): {}",
                    ahead.len(),
                    ahead.join(", ")
                )
            }),
        );
    }
    if errors.is_empty() {
        Ok(committed)
    } else {
        Err(errors.join("; "))
    }
}

/// Source topic -> mirror topic, for this link's mirrors that still follow their source
/// (ACTIVE, PAUSED, PENDING_STOPPED). STOPPED topics belong to the destination; FAILED ones
/// no longer follow the source, so its offsets may point past what they hold.
fn following_mirrors(
    shared: &LinkShared,
    only_source_topics: Option<&[String]>,
) -> HashMap<String, String> {
    shared
        .mirrors()
        .into_iter()
        .filter(|m| m.mirror.state != MirrorState::Stopped && m.mirror.state != MirrorState::Failed)
        .filter(|m| only_source_topics.is_none_or(|only| only.contains(&m.mirror.source_topic)))
        .map(|m| (m.mirror.source_topic, m.topic))
        .collect()
}

/// The sync's rule for one partition: commit the source's (clamped) offset only when the
/// destination has none or is behind it, so the link never lowers an offset.
pub fn moves_forward(destination: Option<i64>, source: i64) -> bool {
    destination.is_none_or(|d| source > d)
}

#[cfg(test)]
mod tests {
    use super::moves_forward;

    #[test]
    fn offsets_only_move_forward() {
        assert!(moves_forward(None, 0));
        assert!(moves_forward(Some(100), 110));
        assert!(!moves_forward(Some(110), 110));
        assert!(!moves_forward(Some(110), 100), "never lowered");
    }
}
