//! DescribeCluster (key 60): the live brokers, the cluster id and the controller id, as
//! [`ClusterView`] reports them. Only broker endpoints are answered (v1 `endpoint_type`
//! 1): KRaft controllers are not reachable by clients here either.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::cluster_view::ClusterView;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let resp = DescribeClusterResponse::default().with_cluster_id(str_bytes(broker.cluster_id()));
    // v1 adds endpoint types; 1 = brokers. Controllers (2) are not separately reachable.
    if ctx.api_version >= 1 && req.endpoint_type != 1 {
        return resp
            .with_endpoint_type(req.endpoint_type)
            .with_error_code(ErrorCode::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes("Strait only answers for broker endpoints")));
    }
    let view = ClusterView::new(broker, &ctx.session.listener);
    let brokers = view
        .brokers()
        .iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(str_bytes(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.clone().map(str_bytes))
        })
        .collect();
    let mut resp = resp
        .with_controller_id(BrokerId(view.controller_id()))
        .with_brokers(brokers);
    if req.include_cluster_authorized_operations {
        // Kafka reports no operations at all to a principal that may not DESCRIBE it.
        resp.cluster_authorized_operations =
            if crate::auth::allow_cluster(broker, ctx, AclOperation::Describe) {
                crate::auth::authorized_operations(broker, ctx, ResourceType::Cluster, CLUSTER_NAME)
            } else {
                0
            };
    }
    if ctx.api_version >= 1 {
        resp.endpoint_type = 1;
    }
    resp
}
