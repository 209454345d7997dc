//! How a connection's byte stream is opened, before the Kafka handshake runs over it.
//!
//! Normally that is TCP to `host:port` (plus TLS when the security protocol says so). A
//! [`Dialer`] replaces the TCP step: a cluster link whose source connects *to* it
//! (`connection.mode=INBOUND`, see `strait_link::tunnel`) has no route to the source's
//! addresses, so its dialer hands out a socket the source opened instead. The addresses in
//! the source's Metadata answers are then only names the dialer maps to such sockets.
//!
//! Invariant: whatever the dialer returns gets exactly the same treatment as a TCP stream
//! (TLS if configured, ApiVersions, SASL, then multiplexing), so every guarantee of
//! [`crate::connection`] holds over a dialed stream too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::parse_host_port;
use crate::connection::ConnectOptions;
use crate::error::ClientError;
use crate::tls;

/// Anything a connection can run over (TCP, TLS-over-TCP, a dialed tunnel).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// What a [`Dialer`] returns: a stream, or a one-line reason it has none.
pub type DialFuture<'a> = Pin<Box<dyn Future<Output = Result<BoxIo, String>> + Send + 'a>>;

/// Opens the byte stream for `addr` instead of a TCP connect.
pub trait Dialer: Send + Sync + 'static {
    fn dial<'a>(&'a self, addr: &'a str) -> DialFuture<'a>;
}

/// A shared [`Dialer`] that can live in a [`crate::ClientConfig`].
#[derive(Clone)]
pub struct DialerRef(pub Arc<dyn Dialer>);

impl std::fmt::Debug for DialerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dialer")
    }
}

/// Opens the stream for `addr`: the dialer's, or TCP (+TLS), within the connect timeout.
pub(crate) async fn open(addr: &str, options: &ConnectOptions) -> Result<BoxIo, ClientError> {
    let broker = addr.to_string();
    let (host, port) = parse_host_port(addr).map_err(|message| ClientError::Connect {
        broker: broker.clone(),
        message,
    })?;
    let open = async {
        let raw: BoxIo = match &options.dialer {
            Some(d) => {
                d.0.dial(addr)
                    .await
                    .map_err(|message| ClientError::Connect {
                        broker: broker.clone(),
                        message,
                    })?
            }
            None => {
                let tcp = TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(|e| ClientError::Connect {
                        broker: broker.clone(),
                        message: e.to_string(),
                    })?;
                // Requests are whole frames written at once; Nagle only adds latency.
                let _ = tcp.set_nodelay(true);
                Box::new(tcp)
            }
        };
        match &options.tls {
            None => Ok::<BoxIo, ClientError>(raw),
            Some(connector) => {
                let name = tls::server_name(&host).map_err(|message| ClientError::Tls {
                    broker: broker.clone(),
                    message,
                })?;
                let stream = connector
                    .connect(name, raw)
                    .await
                    .map_err(|e| ClientError::Tls {
                        broker: broker.clone(),
                        message: e.to_string(),
                    })?;
                Ok(Box::new(stream) as BoxIo)
            }
        }
    };
    tokio::time::timeout(options.connect_timeout, open)
        .await
        .map_err(|_| ClientError::Timeout {
            broker: broker.clone(),
            what: "connect".into(),
            after: options.connect_timeout,
        })?
}
