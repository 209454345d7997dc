//! [`diff`]: the records of one metadata-log entry that turn image `prev` into image `next`.
//!
//! `TopicManager` makes every change the way it always has (clone the image, edit the copy)
//! and commits the difference as one entry, so the ~15 mutation sites share one translation
//! instead of each writing its own records. The entries it produces are the ones `mod.rs`'s
//! table lists (a created topic is TopicRecord + PartitionRecords + ConfigRecords +
//! MirrorStateRecord, a promote is PartitionChangeRecords + MirrorStateRecord +
//! ProducerIdsRecord, ...): the records follow from what changed.
//!
//! Invariant (property-tested in `proptests.rs`): for every `next` reachable from `prev`
//! through records, applying `diff(prev, next)` to `prev`'s [`MetadataLogImage`] yields
//! exactly `next` — lists in the same order included. Where a list's order cannot be kept
//! by adding at the end (something re-created, reordered), the items from the first
//! difference on are removed and added again in `next`'s order. What no record sequence can
//! express (another cluster or node id, a producer-id block end that moves backwards) is an
//! error, never an approximation.
//!
//! [`MetadataLogImage`]: super::MetadataLogImage

use super::records::{
    config_changes, ClusterLinkRecord, ConfigResourceType, MetadataRecord, MirrorStateRecord,
    PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RemoveClusterLinkRecord,
    RemoveTopicRecord, RemoveUserScramCredentialRecord, TopicRecord,
};
use crate::metadata::{self, MetadataImage};

/// Why `next` is not reachable from `prev` by metadata records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata change not expressible as log records: {0}")]
pub struct DiffError(pub String);

/// The longest prefix of `next` whose items appear in `prev` in the same relative order
/// (judged by `same`): per kept item its index in `prev`, and a mask of `prev` (true =
/// kept). Kept items stay where they are; everything else in `prev` is removed and the rest
/// of `next` is added after them.
struct Kept {
    at: Vec<usize>,
    mask: Vec<bool>,
}

fn kept_prefix<T>(prev: &[T], next: &[T], same: impl Fn(&T, &T) -> bool) -> Kept {
    let mut at = Vec::new();
    let mut mask = vec![false; prev.len()];
    let mut from = 0;
    for n in next {
        match prev[from..].iter().position(|p| same(p, n)) {
            Some(i) => {
                at.push(from + i);
                mask[from + i] = true;
                from += i + 1;
            }
            None => break,
        }
    }
    Kept { at, mask }
}

/// The items of `prev` that are not kept.
fn dropped<'a, T>(prev: &'a [T], kept: &'a Kept) -> impl Iterator<Item = &'a T> {
    prev.iter()
        .zip(&kept.mask)
        .filter(|(_, k)| !**k)
        .map(|(t, _)| t)
}

/// Whether `next` can be reached from `prev` in place (same id, same name, partitions only
/// added, epochs only raised, a mirror record never removed).
fn topic_evolves(prev: &metadata::TopicRecord, next: &metadata::TopicRecord) -> bool {
    prev.topic_id == next.topic_id
        && prev.name == next.name
        && next.partitions.len() >= prev.partitions.len()
        && prev.partitions.iter().zip(&next.partitions).all(|(p, n)| {
            n.leader_epoch >= p.leader_epoch && n.partition_epoch >= p.partition_epoch
        })
        && (prev.mirror.is_none() || next.mirror.is_some())
}

fn partition_id(i: usize) -> Result<i32, DiffError> {
    i32::try_from(i).map_err(|_| DiffError(format!("partition index {i} exceeds i32")))
}

fn topic_changes(
    prev: &metadata::TopicRecord,
    next: &metadata::TopicRecord,
    out: &mut Vec<MetadataRecord>,
) -> Result<(), DiffError> {
    for (i, (p, n)) in prev.partitions.iter().zip(&next.partitions).enumerate() {
        if n != p {
            // Only the moved fields, as Kafka's PartitionChangeRecord (absent = unchanged).
            let moved = |a: &Vec<i32>, b: &Vec<i32>| (a != b).then(|| b.clone());
            out.push(MetadataRecord::PartitionChange(PartitionChangeRecord {
                topic_id: next.topic_id.clone(),
                partition_id: partition_id(i)?,
                leader_epoch: n.leader_epoch,
                replicas: moved(&p.replicas, &n.replicas),
                isr: moved(&p.isr, &n.isr),
                leader: (p.leader != n.leader).then_some(n.leader),
                partition_epoch: (p.partition_epoch != n.partition_epoch)
                    .then_some(n.partition_epoch),
                adding_replicas: moved(&p.adding_replicas, &n.adding_replicas),
                removing_replicas: moved(&p.removing_replicas, &n.removing_replicas),
            }));
        }
    }
    for (i, n) in next
        .partitions
        .iter()
        .enumerate()
        .skip(prev.partitions.len())
    {
        out.push(MetadataRecord::Partition(PartitionRecord {
            topic_id: next.topic_id.clone(),
            partition_id: partition_id(i)?,
            leader_epoch: n.leader_epoch,
            replicas: n.replicas.clone(),
            isr: n.isr.clone(),
            leader: n.leader,
            partition_epoch: n.partition_epoch,
            adding_replicas: n.adding_replicas.clone(),
            removing_replicas: n.removing_replicas.clone(),
        }));
    }
    out.extend(config_changes(
        ConfigResourceType::Topic,
        &next.name,
        &prev.configs,
        &next.configs,
    ));
    if next.mirror != prev.mirror {
        if let Some(m) = &next.mirror {
            out.push(MetadataRecord::MirrorState(MirrorStateRecord {
                topic_id: next.topic_id.clone(),
                mirror: m.clone(),
            }));
        }
    }
    Ok(())
}

fn create_topic(t: &metadata::TopicRecord, out: &mut Vec<MetadataRecord>) -> Result<(), DiffError> {
    out.push(MetadataRecord::Topic(TopicRecord {
        name: t.name.clone(),
        topic_id: t.topic_id.clone(),
    }));
    let empty = metadata::TopicRecord {
        partitions: Vec::new(),
        configs: Default::default(),
        mirror: None,
        ..t.clone()
    };
    topic_changes(&empty, t, out)
}

/// The records of one entry that turn `prev` into `next` (see the module docs).
pub fn diff(prev: &MetadataImage, next: &MetadataImage) -> Result<Vec<MetadataRecord>, DiffError> {
    if prev.format_version != next.format_version
        || prev.cluster_id != next.cluster_id
        || prev.node_id != next.node_id
    {
        return Err(DiffError(format!(
            "the image's identity changed (format {} cluster '{}' node {} -> format {} cluster '{}' node {})",
            prev.format_version,
            prev.cluster_id,
            prev.node_id,
            next.format_version,
            next.cluster_id,
            next.node_id
        )));
    }
    let mut out = Vec::new();

    // Topics: removals first (so a name or id can be reused in the same entry), then the
    // in-place changes of the kept ones, then the additions in `next`'s order.
    let kept = kept_prefix(&prev.topics, &next.topics, topic_evolves);
    for t in dropped(&prev.topics, &kept) {
        out.push(MetadataRecord::RemoveTopic(RemoveTopicRecord {
            topic_id: t.topic_id.clone(),
        }));
    }
    for (n, &p) in next.topics.iter().zip(&kept.at) {
        topic_changes(&prev.topics[p], n, &mut out)?;
    }
    for t in &next.topics[kept.at.len()..] {
        create_topic(t, &mut out)?;
    }

    let node = prev.node_id.to_string();
    out.extend(config_changes(
        ConfigResourceType::Broker,
        &node,
        &prev.dynamic_broker_configs,
        &next.dynamic_broker_configs,
    ));
    out.extend(config_changes(
        ConfigResourceType::Broker,
        "",
        &prev.dynamic_default_broker_configs,
        &next.dynamic_default_broker_configs,
    ));

    match next.producer_id_block_end.cmp(&prev.producer_id_block_end) {
        std::cmp::Ordering::Greater => out.push(MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: prev.node_id,
            next_producer_id: next.producer_id_block_end,
        })),
        std::cmp::Ordering::Equal => {}
        std::cmp::Ordering::Less => {
            return Err(DiffError(format!(
                "the producer-id block end would move back from {} to {} (ids would be handed out twice)",
                prev.producer_id_block_end, next.producer_id_block_end
            )))
        }
    }

    let kept = kept_prefix(&prev.links, &next.links, |a, b| a == b);
    for l in dropped(&prev.links, &kept) {
        out.push(MetadataRecord::RemoveClusterLink(RemoveClusterLinkRecord {
            name: l.name.clone(),
        }));
    }
    for l in &next.links[kept.at.len()..] {
        out.push(MetadataRecord::ClusterLink(ClusterLinkRecord {
            link: l.clone(),
        }));
    }

    let kept = kept_prefix(&prev.acls, &next.acls, |a, b| a == b);
    for a in dropped(&prev.acls, &kept) {
        out.push(MetadataRecord::RemoveAccessControlEntry(a.clone()));
    }
    for a in &next.acls[kept.at.len()..] {
        out.push(MetadataRecord::AccessControlEntry(a.clone()));
    }

    let creds = (&prev.scram_credentials, &next.scram_credentials);
    let kept = kept_prefix(creds.0, creds.1, |a, b| a == b);
    for c in dropped(creds.0, &kept) {
        out.push(MetadataRecord::RemoveUserScramCredential(
            RemoveUserScramCredentialRecord {
                name: c.user.clone(),
                mechanism: c.mechanism,
            },
        ));
    }
    for c in &creds.1[kept.at.len()..] {
        out.push(MetadataRecord::UserScramCredential(c.clone()));
    }
    Ok(out)
}
