//! One client connection: read a frame, handle it, write the response, repeat.
//!
//! Requests on a connection are handled one at a time, in order, as Kafka does (it mutes a
//! channel while a request is in flight), so responses are always in request order. A
//! frame that cannot be framed, a header that cannot be decoded, an unknown API key, an
//! unsupported version (except ApiVersions) or an undecodable body closes the connection:
//! the client and server no longer agree on the byte stream. Everything else is answered.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use strait_protocol::frame::try_split_frame;

use crate::broker::Broker;
use crate::dispatch;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("framing: {0}")]
    Frame(#[from] strait_protocol::frame::FrameError),
    #[error("protocol: {0}")]
    Protocol(#[from] strait_protocol::ProtocolError),
}

pub async fn run(broker: Arc<Broker>, mut stream: TcpStream) -> Result<(), ConnectionError> {
    let max = broker.config.socket_request_max_bytes;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let frame = loop {
            if let Some(frame) = try_split_frame(&mut buf, max)? {
                break frame;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        match dispatch::handle(&broker, frame).await {
            Ok(Some(response)) => stream.write_all(&response).await?,
            Ok(None) => {}
            Err(e) => {
                tracing::info!(error = %e, "closing connection on bad request");
                return Err(e.into());
            }
        }
    }
}
