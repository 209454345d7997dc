//! Routes one request frame to its handler: header decode, the version table check, body
//! decode, handler call, response encode. The route table is the `match` below; every API
//! in [`strait_protocol::versions::SUPPORTED_APIS`] must appear in it.

use std::future::Future;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use strait_protocol::header::{decode_request_header, peek_key_version};
use strait_protocol::response::{
    api_versions_fallback, encode_fetch_response_with_files, encode_response, ResponseFrame,
};
use strait_protocol::versions::{check_version, is_private_api_key};
use strait_protocol::ProtocolError;

use crate::broker::Broker;
use crate::handlers;

/// What every handler gets besides its request body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    /// Who sent it: principal, client address, listener.
    pub session: std::sync::Arc<crate::auth::Session>,
}

/// Handles one frame. `Ok(None)` means no response is due (Produce with acks=0); `Err`
/// means the connection must close.
pub async fn handle(broker: &Broker, frame: Bytes) -> Result<Option<Bytes>, ProtocolError> {
    let session = std::sync::Arc::new(crate::auth::Session::default());
    handle_with_session(broker, &session, frame).await
}

/// [`handle`] for a connection's authenticated `session`.
pub async fn handle_with_session(
    broker: &Broker,
    session: &std::sync::Arc<crate::auth::Session>,
    frame: Bytes,
) -> Result<Option<Bytes>, ProtocolError> {
    match handle_frame(broker, session, frame, false).await? {
        None => Ok(None),
        Some(frame) => frame
            .into_bytes()
            .map(Some)
            .map_err(|e| ProtocolError::Encode {
                what: "response frame".to_string(),
                message: e.to_string(),
            }),
    }
}

/// [`handle_with_session`] with the response as chunks (a Fetch response's records stay
/// separate, uncopied), for the connection to write vectored. With `file_records` (a
/// plaintext socket that can `sendfile`), a Fetch response's larger records stay in their
/// segment files as [`strait_protocol::response::FramePart::File`] parts.
pub async fn handle_frame(
    broker: &Broker,
    session: &std::sync::Arc<crate::auth::Session>,
    mut frame: Bytes,
    file_records: bool,
) -> Result<Option<ResponseFrame>, ProtocolError> {
    let (api_key, api_version) = peek_key_version(&frame)?;
    let header = decode_request_header(&mut frame)?;
    let ctx = RequestContext {
        api_key,
        api_version,
        correlation_id: header.correlation_id,
        client_id: header.client_id.as_ref().map(|c| c.to_string()),
        session: session.clone(),
    };
    if api_key == ApiKey::ApiVersions as i16 && check_version(api_key, api_version).is_err() {
        // KIP-511: answer a too-new ApiVersions in v0 so the client can retry lower.
        return api_versions_fallback(ctx.correlation_id).map(|f| Some(f.into()));
    }
    check_version(api_key, api_version)?;
    if is_private_api_key(api_key) {
        return handlers::private::handle(broker, &ctx, frame)
            .await
            .map(|f| Some(f.into()));
    }
    let key = ApiKey::try_from(api_key).map_err(|_| ProtocolError::UnknownApiKey(api_key))?;
    let b = broker;
    let c = &ctx;
    match key {
        ApiKey::ApiVersions => {
            call(c, frame, |r| async {
                Some(handlers::api_versions::handle(b, c, r))
            })
            .await
        }
        ApiKey::Metadata => {
            call(c, frame, |r| async {
                Some(handlers::metadata::handle(b, c, r))
            })
            .await
        }
        ApiKey::Produce => call(c, frame, |r| handlers::produce::handle(b, c, r)).await,
        ApiKey::Fetch => {
            let request = decode_body(c, frame)?;
            let (response, files) = handlers::fetch::handle(b, c, request, file_records).await;
            let frame =
                encode_fetch_response_with_files(c.api_version, c.correlation_id, response, files);
            log_encode_error(c, &frame);
            frame.map(Some)
        }
        ApiKey::ListOffsets => {
            call(c, frame, |r| async {
                Some(handlers::list_offsets::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::InitProducerId => {
            call(c, frame, |r| async {
                Some(handlers::init_producer_id::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::AddPartitionsToTxn => {
            call(c, frame, |r| async {
                Some(handlers::add_partitions_to_txn::handle(b, c, r))
            })
            .await
        }
        ApiKey::AddOffsetsToTxn => {
            call(c, frame, |r| async {
                Some(handlers::add_offsets_to_txn::handle(b, c, r))
            })
            .await
        }
        ApiKey::EndTxn => {
            call(c, frame, |r| async {
                Some(handlers::end_txn::handle(b, c, r))
            })
            .await
        }
        ApiKey::DescribeTransactions => {
            call(c, frame, |r| async {
                Some(handlers::describe_transactions::handle(b, c, r))
            })
            .await
        }
        ApiKey::ListTransactions => {
            call(c, frame, |r| async {
                Some(handlers::list_transactions::handle(b, c, r))
            })
            .await
        }
        ApiKey::CreateTopics => {
            call(c, frame, |r| async {
                Some(handlers::create_topics::handle(b, c, r))
            })
            .await
        }
        ApiKey::DeleteTopics => {
            call(c, frame, |r| async {
                Some(handlers::delete_topics::handle(b, c, r))
            })
            .await
        }
        ApiKey::CreatePartitions => {
            call(c, frame, |r| async {
                Some(handlers::create_partitions::handle(b, c, r))
            })
            .await
        }
        ApiKey::DeleteRecords => {
            call(c, frame, |r| async {
                Some(handlers::delete_records::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::OffsetForLeaderEpoch => {
            call(c, frame, |r| async {
                Some(handlers::offset_for_leader_epoch::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::DescribeConfigs => {
            call(c, frame, |r| async {
                Some(handlers::describe_configs::handle(b, c, r))
            })
            .await
        }
        ApiKey::AlterConfigs => {
            call(c, frame, |r| async {
                Some(handlers::alter_configs::handle(b, c, r))
            })
            .await
        }
        ApiKey::IncrementalAlterConfigs => {
            call(c, frame, |r| async {
                Some(handlers::incremental_alter_configs::handle(b, c, r))
            })
            .await
        }
        ApiKey::DescribeProducers => {
            call(c, frame, |r| async {
                Some(handlers::describe_producers::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::WriteTxnMarkers => {
            call(c, frame, |r| async {
                Some(handlers::write_txn_markers::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::DescribeCluster => {
            call(c, frame, |r| async {
                Some(handlers::describe_cluster::handle(b, c, r))
            })
            .await
        }
        ApiKey::DescribeTopicPartitions => {
            call(c, frame, |r| async {
                Some(handlers::describe_topic_partitions::handle(b, c, r))
            })
            .await
        }
        ApiKey::ElectLeaders => {
            call(c, frame, |r| async {
                Some(handlers::elect_leaders::handle(b, c, r))
            })
            .await
        }
        ApiKey::AlterPartitionReassignments => {
            call(c, frame, |r| async {
                Some(handlers::alter_partition_reassignments::handle(b, c, r))
            })
            .await
        }
        ApiKey::ListPartitionReassignments => {
            call(c, frame, |r| async {
                Some(handlers::list_partition_reassignments::handle(b, c, r))
            })
            .await
        }
        ApiKey::DescribeQuorum => {
            call(c, frame, |r| async {
                Some(handlers::describe_quorum::handle(b, c, r))
            })
            .await
        }
        ApiKey::DescribeLogDirs => {
            call(c, frame, |r| async {
                Some(handlers::describe_log_dirs::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::OffsetCommit => {
            call(c, frame, |r| async {
                Some(crate::auth::hooks::offset_commit(b, c, r))
            })
            .await
        }
        ApiKey::OffsetFetch => {
            call(c, frame, |r| async {
                Some(crate::auth::hooks::offset_fetch(b, c, r))
            })
            .await
        }
        ApiKey::TxnOffsetCommit => {
            call(c, frame, |r| async {
                Some(handlers::txn_offset_commit::handle(b, c, r))
            })
            .await
        }
        ApiKey::FindCoordinator => {
            call(c, frame, |r| async {
                Some(handlers::find_coordinator::handle(b, c, r))
            })
            .await
        }
        ApiKey::JoinGroup => {
            call(c, frame, |r| async {
                Some(handlers::join_group::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::Heartbeat => {
            call(c, frame, |r| async {
                Some(handlers::heartbeat::handle(b, c, r))
            })
            .await
        }
        ApiKey::LeaveGroup => {
            call(c, frame, |r| async {
                Some(handlers::leave_group::handle(b, c, r))
            })
            .await
        }
        ApiKey::SyncGroup => {
            call(c, frame, |r| async {
                Some(handlers::sync_group::handle(b, c, r).await)
            })
            .await
        }
        ApiKey::DescribeGroups => {
            call(c, frame, |r| async {
                Some(handlers::describe_groups::handle(b, c, r))
            })
            .await
        }
        ApiKey::ListGroups => {
            call(c, frame, |r| async {
                Some(handlers::list_groups::handle(b, c, r))
            })
            .await
        }
        ApiKey::DeleteGroups => {
            call(c, frame, |r| async {
                Some(handlers::delete_groups::handle(b, c, r))
            })
            .await
        }
        ApiKey::OffsetDelete => {
            call(c, frame, |r| async {
                Some(handlers::offset_delete::handle(b, c, r))
            })
            .await
        }
        ApiKey::SaslHandshake => {
            call(c, frame, |r| async {
                Some(handlers::sasl_handshake::handle(b, c, r))
            })
            .await
        }
        ApiKey::SaslAuthenticate => {
            call(c, frame, |r| async {
                Some(handlers::sasl_authenticate::handle(b, c, r))
            })
            .await
        }
        ApiKey::CreateAcls => {
            call(c, frame, |r| async {
                Some(handlers::create_acls::handle(b, c, r))
            })
            .await
        }
        ApiKey::DescribeAcls => {
            call(c, frame, |r| async {
                Some(handlers::describe_acls::handle(b, c, r))
            })
            .await
        }
        ApiKey::DeleteAcls => {
            call(c, frame, |r| async {
                Some(handlers::delete_acls::handle(b, c, r))
            })
            .await
        }
        ApiKey::DescribeUserScramCredentials => {
            call(c, frame, |r| async {
                Some(handlers::describe_user_scram_credentials::handle(b, c, r))
            })
            .await
        }
        ApiKey::AlterUserScramCredentials => {
            call(c, frame, |r| async {
                Some(handlers::alter_user_scram_credentials::handle(b, c, r))
            })
            .await
        }
        _ => Err(ProtocolError::UnknownApiKey(api_key)),
    }
}

/// Decodes `Req`, runs the handler, encodes its response.
async fn call<Req, Resp, F, Fut>(
    ctx: &RequestContext,
    body: Bytes,
    handler: F,
) -> Result<Option<ResponseFrame>, ProtocolError>
where
    Req: Decodable,
    Resp: Encodable,
    F: FnOnce(Req) -> Fut,
    Fut: Future<Output = Option<Resp>>,
{
    let request = decode_body(ctx, body)?;
    match handler(request).await {
        Some(response) => {
            let frame =
                encode_response(ctx.api_key, ctx.api_version, ctx.correlation_id, &response);
            log_encode_error(ctx, &frame);
            frame.map(|f| Some(f.into()))
        }
        None => Ok(None),
    }
}

fn decode_body<Req: Decodable>(
    ctx: &RequestContext,
    mut body: Bytes,
) -> Result<Req, ProtocolError> {
    Req::decode(&mut body, ctx.api_version).map_err(|e| ProtocolError::Malformed {
        what: format!(
            "request body (api key {} v{})",
            ctx.api_key, ctx.api_version
        ),
        message: e.to_string(),
    })
}

fn log_encode_error<T>(ctx: &RequestContext, frame: &Result<T, ProtocolError>) {
    if let Err(e) = frame {
        // Our bug, not the client's: say so loudly.
        tracing::error!(api_key = ctx.api_key, api_version = ctx.api_version, error = %e, "failed to encode response");
    }
}
