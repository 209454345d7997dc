//! Authorization wrappers around handlers whose requests mix resources (a group and its
//! topics): they split the request into authorized and denied parts, run the handler on
//! the authorized part, and merge Kafka's authorization errors back into the response in
//! request order. Handlers stay unaware of ACLs.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use strait_protocol::ErrorCode;

use super::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::handlers;

/// OffsetCommit: READ on the group (else every partition fails with
/// GROUP_AUTHORIZATION_FAILED), READ on each topic (TOPIC_AUTHORIZATION_FAILED).
pub fn offset_commit(
    b: &Broker,
    ctx: &RequestContext,
    mut req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group_ok = super::allow_group(b, ctx, AclOperation::Read, &req.group_id.0);
    let all = std::mem::take(&mut req.topics);
    let mut denied = Vec::new();
    for t in all {
        if group_ok && super::allow_topic(b, ctx, AclOperation::Read, &t.name.0) {
            req.topics.push(t);
        } else {
            denied.push(t);
        }
    }
    let code = if group_ok {
        ErrorCode::TopicAuthorizationFailed
    } else {
        ErrorCode::GroupAuthorizationFailed
    };
    let mut resp = if group_ok && !req.topics.is_empty() {
        handlers::offset_commit::handle(b, ctx, req)
    } else {
        OffsetCommitResponse::default()
    };
    resp.topics.extend(denied.into_iter().map(|t| {
        OffsetCommitResponseTopic::default()
            .with_name(t.name)
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code.code())
                    })
                    .collect(),
            )
    }));
    resp
}

/// OffsetFetch: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED), DESCRIBE on topics:
/// requested topics the session may not describe fail with TOPIC_AUTHORIZATION_FAILED,
/// and "all topics" leaves them out.
pub fn offset_fetch(
    b: &Broker,
    ctx: &RequestContext,
    mut req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let topic_ok = |name: &str| super::allow_topic(b, ctx, AclOperation::Describe, name);
    if ctx.api_version >= 8 {
        let groups = std::mem::take(&mut req.groups);
        let mut out = Vec::new();
        for mut g in groups {
            if !super::allow_group(b, ctx, AclOperation::Describe, &g.group_id.0) {
                out.push(
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(ErrorCode::GroupAuthorizationFailed.code()),
                );
                continue;
            }
            let mut denied = Vec::new();
            if let Some(topics) = g.topics.as_mut() {
                let (ok, no): (Vec<_>, Vec<_>) = std::mem::take(topics)
                    .into_iter()
                    .partition(|t| topic_ok(&t.name.0));
                *topics = ok;
                denied = no;
            }
            let one = req.clone().with_groups(vec![g]);
            let mut resp = handlers::offset_fetch::handle(b, ctx, one);
            for group in resp.groups.iter_mut() {
                group.topics.retain(|t| topic_ok(&t.name.0));
                group.topics.extend(denied.iter().map(|t| {
                    OffsetFetchResponseTopics::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|p| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(-1)
                                        .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                                })
                                .collect(),
                        )
                }));
            }
            out.extend(resp.groups);
        }
        return OffsetFetchResponse::default().with_groups(out);
    }
    if !super::allow_group(b, ctx, AclOperation::Describe, &req.group_id.0) {
        let resp = OffsetFetchResponse::default();
        return if ctx.api_version >= 2 {
            resp.with_error_code(ErrorCode::GroupAuthorizationFailed.code())
        } else {
            // v1 has no top-level error: fail every requested partition.
            resp.with_topics(
                req.topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t.name)
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(-1)
                                            .with_error_code(
                                                ErrorCode::GroupAuthorizationFailed.code(),
                                            )
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        };
    }
    let mut denied = Vec::new();
    if let Some(topics) = req.topics.as_mut() {
        let (ok, no): (Vec<_>, Vec<_>) = std::mem::take(topics)
            .into_iter()
            .partition(|t| topic_ok(&t.name.0));
        *topics = ok;
        denied = no;
    }
    let mut resp = handlers::offset_fetch::handle(b, ctx, req);
    resp.topics.retain(|t| topic_ok(&t.name.0));
    resp.topics.extend(denied.into_iter().map(|t| {
        OffsetFetchResponseTopic::default()
            .with_name(t.name)
            .with_partitions(
                t.partition_indexes
                    .iter()
                    .map(|p| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(-1)
                            .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                    })
                    .collect(),
            )
    }));
    resp
}

/// Strait's private link/mirror APIs: DESCRIBE on the cluster to list or describe, ALTER to
/// change anything. Returns the encoded denial body, or `None` when allowed.
pub fn private_denied(
    b: &Broker,
    ctx: &RequestContext,
    body: &bytes::Bytes,
) -> Result<Option<bytes::Bytes>, strait_protocol::ProtocolError> {
    use strait_protocol::admin::{self, AdminMessage, ItemResult};
    let describe = matches!(
        ctx.api_key,
        admin::LIST_CLUSTER_LINKS
            | admin::DESCRIBE_MIRRORS
            | strait_protocol::mirror_admin::DESCRIBE_TOPIC_LINEAGE
    );
    let op = if describe {
        AclOperation::Describe
    } else {
        AclOperation::Alter
    };
    if super::allow_cluster(b, ctx, op) {
        return Ok(None);
    }
    let e = super::cluster_denied();
    let item = |name: &str| ItemResult {
        name: name.to_string(),
        error_code: e.error_code(),
        error_message: e.message.clone(),
        aborted_transactions: Vec::new(),
    };
    let body = body.clone();
    let encoded = match ctx.api_key {
        admin::LIST_CLUSTER_LINKS => admin::ListClusterLinksResponse {
            error_code: e.error_code(),
            error_message: e.message.clone(),
            ..Default::default()
        }
        .encode(),
        admin::DESCRIBE_MIRRORS => admin::DescribeMirrorsResponse {
            error_code: e.error_code(),
            error_message: e.message.clone(),
            ..Default::default()
        }
        .encode(),
        admin::CREATE_CLUSTER_LINKS => admin::CreateClusterLinksResponse {
            results: admin::CreateClusterLinksRequest::decode(body)?
                .links
                .iter()
                .map(|l| item(&l.name))
                .collect(),
        }
        .encode(),
        admin::DELETE_CLUSTER_LINKS => admin::DeleteClusterLinksResponse {
            results: admin::DeleteClusterLinksRequest::decode(body)?
                .names
                .iter()
                .map(|n| item(n))
                .collect(),
        }
        .encode(),
        strait_protocol::link_admin::ALTER_CLUSTER_LINK_CONFIGS => {
            strait_protocol::link_admin::AlterClusterLinkConfigsResponse {
                error_code: e.error_code(),
                error_message: e.message.clone(),
                ..Default::default()
            }
            .encode()
        }
        strait_protocol::mirror_admin::RESTORE_MIRRORS => {
            strait_protocol::mirror_admin::RestoreMirrorsResponse {
                error_code: e.error_code(),
                error_message: e.message.clone(),
                ..Default::default()
            }
            .encode()
        }
        strait_protocol::mirror_admin::REVERSE_MIRRORS => {
            strait_protocol::mirror_admin::ReverseMirrorsResponse {
                error_code: e.error_code(),
                error_message: e.message.clone(),
                ..Default::default()
            }
            .encode()
        }
        strait_protocol::mirror_admin::DESCRIBE_TOPIC_LINEAGE => {
            strait_protocol::mirror_admin::DescribeTopicLineageResponse::default().encode()
        }
        admin::CREATE_MIRROR_TOPICS => admin::CreateMirrorTopicsResponse {
            results: admin::CreateMirrorTopicsRequest::decode(body)?
                .mirrors
                .iter()
                .map(|m| item(&m.mirror_topic))
                .collect(),
        }
        .encode(),
        _ => {
            let req = admin::AlterMirrorsRequest::decode(body)?;
            let names: Vec<String> = match (req.topics, req.link_name) {
                (Some(t), _) => t,
                (None, Some(l)) => vec![l],
                (None, None) => Vec::new(),
            };
            admin::AlterMirrorsResponse {
                results: names.iter().map(|n| item(n)).collect(),
            }
            .encode()
        }
    };
    Ok(Some(encoded))
}
