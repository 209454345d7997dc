//! DescribeLogDirs (key 35): the one log directory and each partition's size in it.

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !crate::auth::allow_cluster(broker, ctx, crate::auth::acl::AclOperation::Describe) {
        let resp = DescribeLogDirsResponse::default();
        return if ctx.api_version >= 3 {
            resp.with_error_code(strait_protocol::ErrorCode::ClusterAuthorizationFailed.code())
        } else {
            resp
        };
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    let topics = broker
        .topics
        .list()
        .into_iter()
        .filter_map(|topic| {
            let filter = match &wanted {
                None => None,
                Some(w) => Some(w.iter().find(|(n, _)| *n == topic.name)?.1.clone()),
            };
            let partitions: Vec<DescribeLogDirsPartition> = topic
                .partitions()
                .iter()
                .filter(|p| filter.as_ref().is_none_or(|f| f.contains(&p.index)))
                .filter_map(|p| {
                    let size = p.with_log(|log| log.size_in_bytes()).ok()?;
                    Some(
                        DescribeLogDirsPartition::default()
                            .with_partition_index(p.index)
                            .with_partition_size(size as i64)
                            .with_offset_lag(0),
                    )
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(str_bytes(topic.name.clone())))
                    .with_partitions(partitions)
            })
        })
        .collect();
    let dir = std::fs::canonicalize(broker.log_dir()).unwrap_or_else(|_| broker.log_dir().clone());
    DescribeLogDirsResponse::default().with_results(vec![DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(-1)
        .with_usable_bytes(-1)])
}
