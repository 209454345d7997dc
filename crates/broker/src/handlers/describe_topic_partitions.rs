//! DescribeTopicPartitions (key 75, KIP-966), v0: topics with their partitions' leader,
//! replicas, ISR and eligible leader replicas, paginated by partition count.
//!
//! Kafka's rules, kept here:
//! * An empty topic list means every topic; topics are answered in name order, starting at
//!   the cursor's topic and partition; topics named before the cursor's are skipped.
//! * At most `max(min(2000, response_partition_limit), 1)` partitions per response. When a
//!   topic does not fit, `next_cursor` names it and its first partition left out; when the
//!   limit is used up exactly before a topic, the cursor points at that topic's partition 0
//!   (whether or not it exists). Unknown topics cost nothing against the limit.
//! * Authorization is DESCRIBE on each topic. For the all-topics form unauthorized topics
//!   are left out; named ones are reported last with TOPIC_AUTHORIZATION_FAILED and a zero
//!   topic id, so their existence is not disclosed.
//! * A cursor whose topic is not in a non-empty topic list, or whose partition index is
//!   negative, fails the whole request with INVALID_REQUEST.

use std::collections::BTreeSet;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use strait_protocol::ErrorCode;
use uuid::Uuid;

use super::str_bytes;
use crate::auth::acl::{AclOperation, ResourceType};
use crate::broker::Broker;
use crate::cluster_view::{ClusterView, PartitionView};
use crate::dispatch::RequestContext;

/// Kafka's `max.request.partition.size.limit` default: the most partitions one response
/// carries, whatever the client asks.
pub const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

/// One topic's place in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEntry {
    /// Partitions `from..to` of an existing topic (empty when `from` is past its end).
    Topic { name: String, from: i32, to: i32 },
    /// A named topic that does not exist (only when topics were named).
    Unknown { name: String },
}

/// One response's worth of topics, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<PageEntry>,
    pub next_cursor: Option<(String, i32)>,
}

/// Kafka's pagination over `names` (sorted, already filtered to those at or after the
/// cursor topic): `partition_count(name)` is `None` for a topic that does not exist.
pub fn paginate(
    names: &[String],
    partition_count: impl Fn(&str) -> Option<i32>,
    cursor: Option<(&str, i32)>,
    response_partition_limit: i32,
    all_topics: bool,
) -> Page {
    let mut remaining = response_partition_limit.clamp(1, MAX_PARTITIONS_PER_RESPONSE);
    let mut page = Page {
        entries: Vec::new(),
        next_cursor: None,
    };
    for name in names {
        if remaining == 0 {
            page.next_cursor = Some((name.clone(), 0));
            break;
        }
        let from = match cursor {
            Some((topic, partition)) if topic == name => partition,
            _ => 0,
        };
        match partition_count(name) {
            Some(count) => {
                let to = count.min(from.saturating_add(remaining));
                page.entries.push(PageEntry::Topic {
                    name: name.clone(),
                    from,
                    to,
                });
                if to < count {
                    page.next_cursor = Some((name.clone(), to));
                    break;
                }
                remaining -= (to - from).max(0);
            }
            None if !all_topics => page.entries.push(PageEntry::Unknown { name: name.clone() }),
            None => {}
        }
    }
    page
}

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    tracing::debug!(
        topics = req.topics.len(),
        limit = req.response_partition_limit,
        cursor = ?req.cursor.as_ref().map(|c| (c.topic_name.0.to_string(), c.partition_index)),
        "DescribeTopicPartitions"
    );
    let all_topics = req.topics.is_empty();
    let cursor = req
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index));
    let cursor_topic = cursor.as_ref().map_or("", |(t, _)| t.as_str());
    // A set, as Kafka's: a topic named twice is answered once.
    let names: BTreeSet<String> = if all_topics {
        broker
            .topics
            .list()
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| n.as_str() >= cursor_topic)
            .collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|n| n.as_str() >= cursor_topic)
            .collect()
    };
    if let Some((topic, partition)) = &cursor {
        if !all_topics && !names.contains(topic) {
            return error_response(&req, ErrorCode::InvalidRequest);
        }
        if *partition < 0 {
            return error_response(&req, ErrorCode::InvalidRequest);
        }
    }

    let mut unauthorized = Vec::new();
    let authorized: Vec<String> = names
        .into_iter()
        .filter(|name| {
            let ok = crate::auth::allow_topic(broker, ctx, AclOperation::Describe, name);
            if !ok && !all_topics {
                unauthorized.push(name.clone());
            }
            ok
        })
        .collect();

    // One registry read per topic, so a topic created or deleted meanwhile is seen once.
    let topics: std::collections::HashMap<String, std::sync::Arc<crate::topics::Topic>> =
        authorized
            .iter()
            .filter_map(|n| broker.topics.get(n).map(|t| (n.clone(), t)))
            .collect();
    let page = paginate(
        &authorized,
        |n| topics.get(n).map(|t| t.partition_count()),
        cursor.as_ref().map(|(t, p)| (t.as_str(), *p)),
        req.response_partition_limit,
        all_topics,
    );

    let view = ClusterView::new(broker, &ctx.session.listener);
    let mut out: Vec<DescribeTopicPartitionsResponseTopic> = page
        .entries
        .into_iter()
        .map(|entry| match entry {
            PageEntry::Topic { name, from, to } => {
                let partitions = match topics.get(&name) {
                    Some(t) => view
                        .partitions(t)
                        .into_iter()
                        .filter(|p| p.index >= from && p.index < to)
                        .map(partition_entry)
                        .collect(),
                    None => Vec::new(),
                };
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(TopicName(str_bytes(name.clone()))))
                    .with_topic_id(topics.get(&name).map_or(Uuid::nil(), |t| t.topic_id))
                    .with_partitions(partitions)
            }
            PageEntry::Unknown { name } => {
                let code = match crate::topics::validate_topic_name(&name) {
                    Ok(()) => ErrorCode::UnknownTopicOrPartition,
                    Err(_) => ErrorCode::InvalidTopicException,
                };
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(code.code())
                    .with_name(Some(TopicName(str_bytes(name))))
            }
        })
        .collect();
    for t in &mut out {
        if let Some(n) = &t.name {
            t.topic_authorized_operations =
                crate::auth::authorized_operations(broker, ctx, ResourceType::Topic, &n.0);
        }
    }
    out.extend(unauthorized.into_iter().map(|name| {
        DescribeTopicPartitionsResponseTopic::default()
            .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
            .with_name(Some(TopicName(str_bytes(name))))
    }));
    DescribeTopicPartitionsResponse::default()
        .with_topics(out)
        .with_next_cursor(page.next_cursor.map(|(topic, partition)| {
            Cursor::default()
                .with_topic_name(TopicName(str_bytes(topic)))
                .with_partition_index(partition)
        }))
}

fn partition_entry(p: PartitionView) -> DescribeTopicPartitionsResponsePartition {
    let ids = |l: Vec<i32>| l.into_iter().map(BrokerId).collect::<Vec<_>>();
    DescribeTopicPartitionsResponsePartition::default()
        .with_partition_index(p.index)
        .with_leader_id(BrokerId(p.leader))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(ids(p.replicas))
        .with_isr_nodes(ids(p.isr))
        .with_eligible_leader_replicas(Some(ids(p.eligible_leader_replicas)))
        .with_last_known_elr(Some(ids(p.last_known_elr)))
        .with_offline_replicas(ids(p.offline_replicas))
}

/// Kafka's answer to a request it refuses as a whole: every named topic with the error.
fn error_response(
    req: &DescribeTopicPartitionsRequest,
    code: ErrorCode,
) -> DescribeTopicPartitionsResponse {
    DescribeTopicPartitionsResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(code.code())
                    .with_name(Some(t.name.clone()))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn counts(name: &str) -> Option<i32> {
        match name {
            "a" => Some(3),
            "b" => Some(2),
            "c" => Some(4),
            "empty" => Some(0),
            _ => None,
        }
    }

    fn topic(name: &str, from: i32, to: i32) -> PageEntry {
        PageEntry::Topic {
            name: name.into(),
            from,
            to,
        }
    }

    #[test]
    fn everything_fits_no_cursor() {
        let p = paginate(&names(&["a", "b", "c"]), counts, None, 2000, true);
        assert_eq!(
            p.entries,
            vec![topic("a", 0, 3), topic("b", 0, 2), topic("c", 0, 4)]
        );
        assert_eq!(p.next_cursor, None);
    }

    #[test]
    fn limit_inside_a_topic_points_at_its_first_left_out_partition() {
        let p = paginate(&names(&["a", "b", "c"]), counts, None, 4, true);
        assert_eq!(p.entries, vec![topic("a", 0, 3), topic("b", 0, 1)]);
        assert_eq!(p.next_cursor, Some(("b".into(), 1)));
    }

    #[test]
    fn limit_used_up_exactly_points_at_the_next_topics_partition_zero() {
        let p = paginate(&names(&["a", "b", "c"]), counts, None, 5, true);
        assert_eq!(p.entries, vec![topic("a", 0, 3), topic("b", 0, 2)]);
        assert_eq!(p.next_cursor, Some(("c".into(), 0)));
        // ...but not after the last topic.
        let p = paginate(&names(&["a", "b"]), counts, None, 5, true);
        assert_eq!(p.next_cursor, None);
    }

    #[test]
    fn cursor_resumes_mid_topic() {
        let p = paginate(&names(&["b", "c"]), counts, Some(("b", 1)), 3, true);
        assert_eq!(p.entries, vec![topic("b", 1, 2), topic("c", 0, 2)]);
        assert_eq!(p.next_cursor, Some(("c".into(), 2)));
    }

    #[test]
    fn cursor_past_the_end_of_its_topic_yields_no_partitions_of_it() {
        let p = paginate(&names(&["a", "b"]), counts, Some(("a", 7)), 2, true);
        assert_eq!(p.entries, vec![topic("a", 7, 3), topic("b", 0, 2)]);
        assert_eq!(p.next_cursor, None);
    }

    #[test]
    fn limit_below_one_is_one_and_above_the_broker_maximum_is_the_maximum() {
        let p = paginate(&names(&["a"]), counts, None, 0, true);
        assert_eq!(p.entries, vec![topic("a", 0, 1)]);
        assert_eq!(p.next_cursor, Some(("a".into(), 1)));
        let p = paginate(&names(&["a"]), counts, None, -5, true);
        assert_eq!(p.next_cursor, Some(("a".into(), 1)));
        let big = |_: &str| Some(5000);
        let p = paginate(&names(&["x"]), big, None, i32::MAX, true);
        assert_eq!(p.entries, vec![topic("x", 0, MAX_PARTITIONS_PER_RESPONSE)]);
        assert_eq!(
            p.next_cursor,
            Some(("x".into(), MAX_PARTITIONS_PER_RESPONSE))
        );
    }

    #[test]
    fn unknown_topics_are_reported_when_named_and_cost_nothing() {
        let p = paginate(&names(&["a", "nope", "b"]), counts, None, 5, false);
        assert_eq!(
            p.entries,
            vec![
                topic("a", 0, 3),
                PageEntry::Unknown {
                    name: "nope".into()
                },
                topic("b", 0, 2)
            ]
        );
        assert_eq!(p.next_cursor, None);
        let p = paginate(&names(&["a", "nope"]), counts, None, 5, true);
        assert_eq!(p.entries, vec![topic("a", 0, 3)]);
    }

    #[test]
    fn a_topic_without_partitions_is_listed_and_costs_nothing() {
        let p = paginate(&names(&["empty", "b"]), counts, None, 2, true);
        assert_eq!(p.entries, vec![topic("empty", 0, 0), topic("b", 0, 2)]);
        assert_eq!(p.next_cursor, None);
    }

    #[test]
    fn cursor_at_a_huge_partition_index_does_not_overflow() {
        let p = paginate(&names(&["a"]), counts, Some(("a", i32::MAX)), 2000, true);
        assert_eq!(p.entries, vec![topic("a", i32::MAX, 3)]);
        assert_eq!(p.next_cursor, None);
    }
}
