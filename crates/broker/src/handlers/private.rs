//! Routing for Strait's private admin API (keys 20000+, see `strait_protocol::admin`): one
//! decode/encode path, one handler file per API.

use bytes::Bytes;
use strait_protocol::admin::{self, AdminMessage};
use strait_protocol::mirror_admin;
use strait_protocol::response::encode_private_response;
use strait_protocol::{ErrorCode, ProtocolError};

use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

use super::{
    alter_mirrors, create_cluster_links, create_mirror_topics, delete_cluster_links,
    describe_mirrors, list_cluster_links,
};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    body: Bytes,
) -> Result<Bytes, ProtocolError> {
    if let Some(denied) = crate::auth::hooks::private_denied(broker, ctx, &body)? {
        return Ok(encode_private_response(ctx.correlation_id, &denied));
    }
    let response = match ctx.api_key {
        admin::CREATE_CLUSTER_LINKS => {
            create_cluster_links::handle(broker, AdminMessage::decode(body)?)
                .await
                .encode()
        }
        admin::LIST_CLUSTER_LINKS => {
            list_cluster_links::handle(broker, AdminMessage::decode(body)?).encode()
        }
        admin::DELETE_CLUSTER_LINKS => {
            delete_cluster_links::handle(broker, AdminMessage::decode(body)?)
                .await
                .encode()
        }
        admin::CREATE_MIRROR_TOPICS => {
            create_mirror_topics::handle(broker, AdminMessage::decode(body)?)
                .await
                .encode()
        }
        admin::DESCRIBE_MIRRORS => {
            describe_mirrors::handle(broker, AdminMessage::decode(body)?).encode()
        }
        admin::ALTER_MIRRORS => alter_mirrors::handle(broker, AdminMessage::decode(body)?).encode(),
        strait_protocol::link_admin::ALTER_CLUSTER_LINK_CONFIGS => {
            super::alter_cluster_link_configs::handle(broker, AdminMessage::decode(body)?)
                .await
                .encode()
        }
        mirror_admin::RESTORE_MIRRORS => {
            super::failback::restore(broker, AdminMessage::decode(body)?)
                .await
                .encode()
        }
        mirror_admin::REVERSE_MIRRORS => {
            super::failback::reverse(broker, AdminMessage::decode(body)?)
                .await
                .encode()
        }
        strait_protocol::link_admin::LINK_TUNNEL => {
            super::link_tunnel::not_on_a_connection(broker).encode()
        }
        mirror_admin::DESCRIBE_TOPIC_LINEAGE => {
            super::failback::lineage(broker, AdminMessage::decode(body)?).encode()
        }
        other => return Err(ProtocolError::UnknownApiKey(other)),
    };
    Ok(encode_private_response(ctx.correlation_id, &response))
}

/// The link manager, or the error every link API answers when it is not running.
pub(crate) fn links(
    broker: &Broker,
) -> Result<&std::sync::Arc<strait_link::LinkManager>, ApiError> {
    broker.links().ok_or_else(|| {
        ApiError::new(
            ErrorCode::BrokerNotAvailable,
            "cluster links are not running on this broker",
        )
    })
}

pub(crate) fn item(name: &str, outcome: Result<(), ApiError>) -> admin::ItemResult {
    admin::ItemResult {
        name: name.to_string(),
        error_code: outcome.as_ref().err().map_or(0, |e| e.error_code()),
        error_message: outcome.err().and_then(|e| e.message),
        aborted_transactions: Vec::new(),
    }
}

pub(crate) fn api(e: strait_link::local::LocalError) -> ApiError {
    ApiError::new(e.code, e.message)
}
