//! DescribeCluster (key 60): this one broker, the cluster id, and itself as controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let node = BrokerId(broker.node_id());
    let resp = DescribeClusterResponse::default().with_cluster_id(str_bytes(broker.cluster_id()));
    // v1 adds endpoint types; 1 = brokers. Controllers (2) are not separately reachable.
    if ctx.api_version >= 1 && req.endpoint_type != 1 {
        return resp
            .with_endpoint_type(req.endpoint_type)
            .with_error_code(ErrorCode::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes("Strait only answers for broker endpoints")));
    }
    let l = broker.advertised_listener_for(&ctx.session.listener);
    let mut resp =
        resp.with_controller_id(node)
            .with_brokers(vec![DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(str_bytes(l.host))
                .with_port(i32::from(l.port))
                .with_rack(broker.config.broker_rack.clone().map(str_bytes))]);
    if ctx.api_version >= 1 {
        resp.endpoint_type = 1;
    }
    resp
}
