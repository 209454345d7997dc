//! LinkTunnel (private key 20013): the source cluster of a source-initiated link parks a
//! connection here for this cluster's `connection.mode=INBOUND` link of the same name (see
//! `strait_link::tunnel`).
//!
//! Unlike every other request it is not answered by [`crate::dispatch`]: the connection
//! task hands its authenticated stream over ([`accept`], then [`Parked::park`]) and stops
//! reading it, and the answer is written later, by the link, when it claims the tunnel.
//! Refusals (no INBOUND link of that name, links not running, not authorized: CLUSTER
//! ALTER, as for creating a link) are answered at once with a one-line message and the
//! connection carries on as an ordinary one.

use std::sync::Arc;

use bytes::Bytes;
use strait_link::tunnel::pool::{Tunnel, TunnelHub};
use strait_protocol::admin::AdminMessage;
use strait_protocol::header::decode_request_header;
use strait_protocol::link_admin::{LinkTunnelRequest, LinkTunnelResponse};
use strait_protocol::response::encode_private_response;
use strait_protocol::{ErrorCode, ProtocolError};

use crate::auth::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::auth::Session;
use crate::broker::Broker;

/// An accepted LinkTunnel request, waiting for its stream.
pub struct Parked {
    hub: Arc<TunnelHub>,
    request: LinkTunnelRequest,
    correlation_id: i32,
}

impl Parked {
    /// Parks the connection's stream in the link's pool (the pool answers on claim).
    pub fn park(self, io: strait_client::dial::BoxIo) {
        let link = self.request.link_name.clone();
        let tunnel = Tunnel {
            io,
            correlation_id: self.correlation_id,
            node_id: self.request.node_id,
            advertised: self.request.advertised,
            source_cluster_id: self.request.source_cluster_id,
        };
        // The link can go away between `accept` and here; the stream then just closes.
        if let Err((_, why)) = self.hub.park(&link, tunnel) {
            tracing::info!(link = %link, "link tunnel dropped: {why}");
        }
    }
}

/// Decides on a LinkTunnel frame: `Ok(Ok(parked))` to hand the stream over, `Ok(Err(reply))`
/// to answer a refusal and go on, `Err` for an undecodable request (closes the connection).
/// `more_buffered`: bytes already followed the request, which a parked tunnel must not
/// have.
pub fn accept(
    broker: &Broker,
    session: &Arc<Session>,
    mut frame: Bytes,
    more_buffered: bool,
) -> Result<Result<Parked, Bytes>, ProtocolError> {
    let header = decode_request_header(&mut frame)?;
    let request = LinkTunnelRequest::decode(frame)?;
    let refuse = |code: ErrorCode, message: String| {
        let answer = LinkTunnelResponse {
            error_code: code.code(),
            error_message: Some(message),
            destination_cluster_id: broker.cluster_id().to_string(),
        };
        Ok(Err(encode_private_response(
            header.correlation_id,
            &answer.encode(),
        )))
    };
    if !broker.security.authorize(
        session,
        AclOperation::Alter,
        ResourceType::Cluster,
        CLUSTER_NAME,
    ) {
        return refuse(
            ErrorCode::ClusterAuthorizationFailed,
            format!(
                "principal {} may not open tunnels for cluster links: LinkTunnel needs CLUSTER ALTER",
                session.principal
            ),
        );
    }
    if more_buffered {
        return refuse(
            ErrorCode::InvalidRequest,
            "LinkTunnel must be the last request sent before the tunnel is claimed".into(),
        );
    }
    let Some(links) = broker.links() else {
        return refuse(
            ErrorCode::BrokerNotAvailable,
            "cluster links are not running on this broker".into(),
        );
    };
    let hub = links.tunnels().clone();
    if hub.pool(&request.link_name).is_none() {
        let link = &request.link_name;
        return refuse(ErrorCode::ResourceNotFound, format!("no cluster link '{link}' with connection.mode=INBOUND on this cluster: create it on the destination first (cluster-links --create --link {link} --config connection.mode=INBOUND)"));
    }
    Ok(Ok(Parked {
        hub,
        request,
        correlation_id: header.correlation_id,
    }))
}

/// LinkTunnel arriving anywhere but on a connection of its own (the fuzz harness, an
/// in-process dispatch): refused.
pub fn not_on_a_connection(broker: &Broker) -> LinkTunnelResponse {
    LinkTunnelResponse {
        error_code: ErrorCode::InvalidRequest.code(),
        error_message: Some(
            "LinkTunnel is only accepted as a request on a client connection".into(),
        ),
        destination_cluster_id: broker.cluster_id().to_string(),
    }
}
