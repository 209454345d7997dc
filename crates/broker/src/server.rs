//! Listeners: bind, accept, and spawn one connection task per client. TLS listeners
//! (`SSL`, `SASL_SSL`) complete the TLS handshake in the connection's task before the
//! first request is read.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::config::ListenerSecurity;
use crate::auth::{Session, ANONYMOUS};
use crate::broker::Broker;
use crate::config::Listener;
use crate::connection;

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds every configured listener. Returns the bound listeners (with real ports).
pub async fn bind(broker: &Broker) -> std::io::Result<Vec<(Listener, TcpListener)>> {
    let mut out = Vec::new();
    for l in &broker.config.listeners {
        let socket = TcpListener::bind((l.host.as_str(), l.port)).await?;
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

/// Accepts connections forever on `socket`, the listener named `name`.
pub async fn serve(broker: Arc<Broker>, socket: TcpListener, name: String) {
    let security = Arc::new(broker.config.security.listener(&name));
    let acceptor = security.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
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
