//! One client connection: read a frame, handle it, write the response, repeat.
//!
//! Requests on a connection are handled one at a time, in order, as Kafka does (it mutes a
//! channel while a request is in flight), so responses are always in request order. A
//! frame that cannot be framed, a header that cannot be decoded, an unknown API key, an
//! unsupported version (except ApiVersions) or an undecodable body closes the connection:
//! the client and server no longer agree on the byte stream. Everything else is answered.
//!
//! On a SASL listener the connection first runs [`crate::auth::sasl::SaslServer`]: until
//! it authenticates only ApiVersions, SaslHandshake and SaslAuthenticate are answered, and
//! a failed authentication closes the connection after its error response.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use strait_protocol::frame::try_split_frame;

use crate::auth::config::ListenerSecurity;
use crate::auth::sasl::{SaslServer, Step};
use crate::auth::Session;
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
    #[error("authentication: {0}")]
    Authentication(String),
}

pub async fn run<S>(
    broker: Arc<Broker>,
    mut stream: S,
    listener: Arc<ListenerSecurity>,
    session: Session,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max = broker.config.socket_request_max_bytes;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut session = Arc::new(session);
    let mut sasl = listener
        .protocol
        .uses_sasl()
        .then(|| SaslServer::new((*listener).clone()));
    loop {
        let mut frame = loop {
            if let Some(frame) = try_split_frame(&mut buf, max)? {
                break frame;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        if let Some(auth) = &mut sasl {
            match auth.on_frame(&broker.security, frame) {
                Step::Dispatch(f) => frame = f,
                Step::Reply(reply) => {
                    stream.write_all(&reply).await?;
                    stream.flush().await?;
                    continue;
                }
                Step::Authenticated { reply, principal } => {
                    stream.write_all(&reply).await?;
                    stream.flush().await?;
                    session = Arc::new(Session {
                        principal,
                        ..(*session).clone()
                    });
                    sasl = None;
                    continue;
                }
                Step::Close { reply, reason } => {
                    if let Some(reply) = reply {
                        stream.write_all(&reply).await?;
                    }
                    stream.flush().await?;
                    let _ = stream.shutdown().await;
                    return Err(ConnectionError::Authentication(reason));
                }
            }
        }
        match dispatch::handle_with_session(&broker, &session, frame).await {
            Ok(Some(response)) => {
                stream.write_all(&response).await?;
                stream.flush().await?;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(error = %e, "closing connection on bad request");
                return Err(e.into());
            }
        }
    }
}
