//! Listeners: bind, accept, and spawn one connection task per client.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::broker::Broker;
use crate::config::Listener;
use crate::connection;

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

/// Accepts connections forever on `socket`.
pub async fn serve(broker: Arc<Broker>, socket: TcpListener) {
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let broker = broker.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection::run(broker, stream).await {
                        tracing::debug!(%peer, error = %e, "connection closed");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
