//! FindCoordinator (key 10). v4+ batches keys in `coordinator_keys`.
//!
//! One node coordinates every group and every transactional id: on a single node that is
//! this broker; in a cluster it is the live registered broker with the lowest id, so every
//! client of one group is sent to the same coordinator whichever broker it asks (Kafka
//! spreads coordinators over `__consumer_offsets` partition leaders; Strait's group and
//! transaction state is node-local until it is replicated, so one deterministic node is the
//! honest choice: two coordinators of one group would both hand out its partitions). When
//! that broker is fenced the next one takes over without the previous one's state; the
//! README's cluster section states this limit.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// `key_type` values: consumer groups and transactional ids.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let v = ctx.api_version;
    let key_type = if v >= 1 { req.key_type } else { GROUP };
    let (node, host, port) = coordinator(broker, &ctx.session.listener);
    let answer = |key: &StrBytes| -> Option<(ErrorCode, String)> {
        match key_type {
            GROUP => {
                crate::auth::check_group(broker, ctx, crate::auth::acl::AclOperation::Describe, key)
                    .err()
                    .map(|e| (e.code, e.to_string()))
            }
            TRANSACTION if key.is_empty() => Some((
                ErrorCode::InvalidRequest,
                "transactional id must not be empty".to_string(),
            )),
            TRANSACTION => (!crate::auth::allow_transactional_id(
                broker,
                ctx,
                crate::auth::acl::AclOperation::Describe,
                key,
            ))
            .then(|| {
                (
                    ErrorCode::TransactionalIdAuthorizationFailed,
                    format!("Not authorized to use transactional id {key}"),
                )
            }),
            other => Some((
                ErrorCode::InvalidRequest,
                format!("unsupported coordinator key type {other}"),
            )),
        }
    };
    let mut resp = FindCoordinatorResponse::default();
    if v >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                match answer(key) {
                    None => c
                        .with_error_message(None)
                        .with_node_id(node)
                        .with_host(str_bytes(host.clone()))
                        .with_port(port),
                    Some((error, message)) => c
                        .with_error_code(error.code())
                        .with_error_message(Some(str_bytes(message)))
                        .with_node_id(BrokerId(-1))
                        .with_host(str_bytes(""))
                        .with_port(-1),
                }
            })
            .collect();
        return resp;
    }
    match answer(&req.key) {
        None => {
            if v >= 1 {
                resp.error_message = None;
            }
            resp.node_id = node;
            resp.host = str_bytes(host);
            resp.port = port;
        }
        Some((error, message)) => {
            resp.error_code = error.code();
            if v >= 1 {
                resp.error_message = Some(str_bytes(message));
            }
            resp.node_id = BrokerId(-1);
            resp.port = -1;
        }
    }
    resp
}

/// The coordinator of every key, as a client connected to `listener` reaches it: the lowest
/// live broker of the cluster view, or this broker when the view lists none (one node, or
/// before this node's registration is published).
fn coordinator(broker: &Broker, listener: &str) -> (BrokerId, String, i32) {
    let view = crate::cluster_view::ClusterView::new(broker, listener);
    match view.brokers().first() {
        Some(b) => (BrokerId(b.id), b.host.clone(), i32::from(b.port)),
        None => {
            let l = broker.advertised_listener_for(listener);
            (BrokerId(broker.node_id()), l.host, i32::from(l.port))
        }
    }
}
