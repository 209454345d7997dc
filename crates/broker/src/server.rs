//! Listeners: bind, accept, and spawn one connection task per client. TLS listeners
//! (`SSL`, `SASL_SSL`) complete the TLS handshake in the connection's task before the
//! first request is read. Socket options come from the registry keys
//! `socket.send.buffer.bytes`, `socket.receive.buffer.bytes` and
//! `socket.listen.backlog.size`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use crate::auth::config::ListenerSecurity;
use crate::auth::{Session, ANONYMOUS};
use crate::broker::Broker;
use crate::config::{BrokerConfig, Listener};
use crate::connection;

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds every configured listener except the controller listeners (Strait's quorum is
/// itself: there are no controller RPCs to serve, and Kafka serves no client on them).
/// Returns the bound listeners (with real ports).
pub async fn bind(broker: &Broker) -> std::io::Result<Vec<(Listener, TcpListener)>> {
    let mut out = Vec::new();
    for l in broker.config.bound_listeners() {
        let socket = listen(&broker.config, &l.host, l.port).await?;
        let addr = socket.local_addr()?;
        out.push((
            Listener {
                name: l.name.clone(),
                host: l.host.clone(),
                port: addr.port(),
            },
            socket,
        ));
    }
    Ok(out)
}

/// Binds one listening socket. SO_RCVBUF (`socket.receive.buffer.bytes`) is set before
/// `listen`, as Kafka does, because the TCP window scale is fixed in the SYN exchange:
/// setting it only on accepted sockets would cap a large buffer at 64 KiB windows.
pub(crate) async fn listen(
    config: &BrokerConfig,
    host: &str,
    port: u16,
) -> std::io::Result<TcpListener> {
    let mut last_err = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // What TcpListener::bind does on Unix, so restarts can rebind at once.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        if let Some(n) = config.socket_receive_buffer_bytes {
            socket.set_recv_buffer_size(n)?;
        }
        match socket.bind(addr) {
            Ok(()) => return socket.listen(config.socket_listen_backlog_size),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("listener host {host} resolves to no address"),
        )
    }))
}

/// Applies `socket.send.buffer.bytes` / `socket.receive.buffer.bytes` to an accepted
/// connection (-1 leaves the OS default and its autotuning, as in Kafka). tokio's
/// `TcpStream` has no buffer-size setters, hence socket2's `SockRef` on the same fd.
pub fn apply_socket_buffers(
    config: &BrokerConfig,
    stream: &tokio::net::TcpStream,
) -> std::io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    if let Some(n) = config.socket_send_buffer_bytes {
        sock.set_send_buffer_size(n as usize)?;
    }
    if let Some(n) = config.socket_receive_buffer_bytes {
        sock.set_recv_buffer_size(n as usize)?;
    }
    Ok(())
}

/// Tells the link manager this broker's listeners (what a `link.mode=SOURCE` link relays
/// its claimed tunnels to): where to connect, and what each advertises in Metadata.
pub fn register_local_listeners(
    broker: &Broker,
    links: &strait_link::LinkManager,
    bound: &[Listener],
) {
    let listeners = bound
        .iter()
        .map(|l| {
            let advertised = broker.advertised_listener_for(&l.name);
            let host = match l.host.as_str() {
                "" | "0.0.0.0" => "127.0.0.1",
                "::" => "::1",
                h => h,
            };
            strait_link::tunnel::source::LocalListener {
                protocol: protocol_name(broker.config.security.listener(&l.name).protocol).into(),
                connect: format!("{host}:{}", l.port),
                advertised: format!("{}:{}", advertised.host, advertised.port),
                node_id: broker.node_id(),
            }
        })
        .collect();
    links.tunnels().set_local_listeners(listeners);
}

fn protocol_name(p: crate::auth::config::SecurityProtocol) -> &'static str {
    use crate::auth::config::SecurityProtocol as P;
    match p {
        P::Plaintext => "PLAINTEXT",
        P::Ssl => "SSL",
        P::SaslPlaintext => "SASL_PLAINTEXT",
        P::SaslSsl => "SASL_SSL",
    }
}

/// Accepts connections forever on `socket`, the listener named `name`.
pub async fn serve(broker: Arc<Broker>, socket: TcpListener, name: String) {
    let security = Arc::new(broker.config.security.listener(&name));
    let acceptor = security.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                if let Err(e) = apply_socket_buffers(&broker.config, &stream) {
                    tracing::warn!(%peer, error = %e, "cannot set socket buffer sizes");
                }
                let broker = broker.clone();
                let security = security.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let session = Session {
                        principal: ANONYMOUS.to_string(),
                        client_host: peer.ip().to_string(),
                        listener: security.name.clone(),
                    };
                    let result = match acceptor {
                        None => connection::run(broker, stream, security, session).await,
                        Some(acceptor) => {
                            accept_tls(broker, acceptor, stream, security, session).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection closed");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn accept_tls(
    broker: Arc<Broker>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    security: Arc<ListenerSecurity>,
    mut session: Session,
) -> Result<(), connection::ConnectionError> {
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(listener = %security.name, client = %session.client_host, error = %e, "TLS handshake failed");
            return Ok(());
        }
        Err(_) => {
            tracing::info!(listener = %security.name, client = %session.client_host, "TLS handshake timed out");
            return Ok(());
        }
    };
    // mTLS: Kafka's default principal mapping of the client certificate's subject.
    if let Some(principal) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|c| crate::auth::tls::principal_from_cert(c.as_ref()))
    {
        session.principal = principal;
    }
    connection::run(broker, tls, security, session).await
}
