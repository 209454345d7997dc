//! DescribeLogDirs (key 35): the one log directory and each partition's size in it.
//!
//! The sizes are read on the partitions' lanes of the log manager, all of the request in
//! one hand-off: an async worker never waits for a log lock a stuck write may hold.

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub async fn handle(
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
    let mut jobs = Vec::new();
    let mut listed = Vec::new();
    for topic in broker.topics.list() {
        let filter = match &wanted {
            None => None,
            Some(w) => match w.iter().find(|(n, _)| *n == topic.name) {
                Some((_, f)) => Some(f.clone()),
                None => continue,
            },
        };
        let first = jobs.len();
        for p in topic.partitions().iter() {
            if filter.as_ref().is_none_or(|f| f.contains(&p.index)) {
                jobs.push((p.lane().clone(), p.clone()));
            }
        }
        listed.push((topic.name.clone(), first..jobs.len()));
    }
    let sizes: Vec<Option<(i32, u64)>> = broker
        .topics
        .io()
        .run_on_lanes(jobs, |p| {
            p.with_log(|log| (p.index, log.size_in_bytes())).ok()
        })
        .await
        .unwrap_or_default();
    let topics = listed
        .into_iter()
        .filter_map(|(name, range)| {
            let partitions: Vec<DescribeLogDirsPartition> = sizes
                .get(range)
                .unwrap_or_default()
                .iter()
                .flatten()
                .map(|&(index, size)| {
                    DescribeLogDirsPartition::default()
                        .with_partition_index(index)
                        .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                        .with_offset_lag(0)
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(str_bytes(name)))
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
