//! The destination side of source-initiated links: parked tunnels and the dialer that
//! claims them.
//!
//! [`TunnelHub`] (one per link manager) maps each running INBOUND link to its
//! [`TunnelPool`]. The broker's LinkTunnel handler parks a connection with
//! [`TunnelHub::park`]; the link's client, whose `bootstrap.servers` is the placeholder
//! [`super::TUNNEL_BOOTSTRAP`], dials through the pool. A claim answers the parked
//! LinkTunnel request (correlation id kept from the request), after which the socket
//! carries the link client's Kafka requests to the source broker that opened it.
//!
//! Invariants: a tunnel is claimed at most once (it leaves the pool under the lock before
//! anything is written to it); a connection for a source broker's advertised address only
//! gets a tunnel that broker opened, so a multi-node source works when each of its brokers
//! runs the SOURCE link (the bootstrap placeholder takes any tunnel); newest tunnels are
//! claimed first and a tunnel the source already closed is discarded unused; at most
//! [`MAX_PARKED`] tunnels wait per link (the oldest is closed first).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;

use strait_client::dial::{BoxIo, DialFuture, Dialer};
use strait_protocol::admin::AdminMessage;
use strait_protocol::link_admin::LinkTunnelResponse;
use strait_protocol::response::encode_private_response;
use strait_protocol::ErrorCode;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;

use crate::shared::lock;

/// Tunnels kept waiting per link.
pub const MAX_PARKED: usize = 16;

/// One parked tunnel: an authenticated connection whose LinkTunnel request is unanswered.
pub struct Tunnel {
    pub io: BoxIo,
    pub correlation_id: i32,
    pub node_id: i32,
    pub advertised: String,
    pub source_cluster_id: String,
}

/// The parked tunnels of one INBOUND link.
pub struct TunnelPool {
    link: String,
    destination_cluster_id: String,
    parked: Mutex<Vec<Tunnel>>,
    arrived: Notify,
    claimed: AtomicU64,
    /// The source cluster id the last tunnel announced.
    source_cluster_id: Mutex<Option<String>>,
}

impl TunnelPool {
    fn new(link: &str, destination_cluster_id: String) -> Self {
        TunnelPool {
            link: link.to_string(),
            destination_cluster_id,
            parked: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            claimed: AtomicU64::new(0),
            source_cluster_id: Mutex::new(None),
        }
    }

    /// Tunnels waiting now, and tunnels claimed since the link started.
    pub fn counts(&self) -> (usize, u64) {
        (
            lock(&self.parked).len(),
            self.claimed.load(Ordering::Relaxed),
        )
    }

    pub fn source_cluster_id(&self) -> Option<String> {
        lock(&self.source_cluster_id).clone()
    }

    fn park(&self, tunnel: Tunnel) {
        *lock(&self.source_cluster_id) = Some(tunnel.source_cluster_id.clone());
        {
            let mut parked = lock(&self.parked);
            parked.push(tunnel);
            if parked.len() > MAX_PARKED {
                parked.remove(0);
            }
        }
        self.arrived.notify_waiters();
    }

    /// Takes the newest live tunnel usable for `addr`, waiting for one to arrive (the
    /// caller's connect timeout bounds the wait), and answers its LinkTunnel request.
    async fn claim(&self, addr: &str) -> Result<BoxIo, String> {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            while let Some(mut t) = self.take(addr) {
                let answer = LinkTunnelResponse {
                    error_code: 0,
                    error_message: None,
                    destination_cluster_id: self.destination_cluster_id.clone(),
                };
                let frame = encode_private_response(t.correlation_id, &answer.encode());
                let written = async {
                    t.io.write_all(&frame).await?;
                    t.io.flush().await
                };
                match written.await {
                    Ok(()) => {
                        self.claimed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(link = %self.link, node = t.node_id, %addr, "claimed a link tunnel");
                        return Ok(t.io);
                    }
                    Err(e) => {
                        tracing::debug!(link = %self.link, error = %e, "parked link tunnel is gone")
                    }
                }
            }
            arrived.await;
        }
    }

    fn take(&self, addr: &str) -> Option<Tunnel> {
        let mut parked = lock(&self.parked);
        // Drop tunnels whose source side hung up while they waited.
        parked.retain_mut(|t| !closed_by_peer(&mut t.io));
        let any = addr == super::TUNNEL_BOOTSTRAP;
        let i = parked.iter().rposition(|t| any || t.advertised == addr)?;
        Some(parked.remove(i))
    }
}

/// Has the peer closed (or broken the protocol on) a parked stream? A parked source side
/// sends nothing until claimed, so anything readable means the tunnel is unusable.
fn closed_by_peer(io: &mut BoxIo) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(io).poll_read(&mut cx, &mut buf).is_ready()
}

impl Dialer for TunnelPool {
    fn dial<'a>(&'a self, addr: &'a str) -> DialFuture<'a> {
        Box::pin(self.claim(addr))
    }
}

/// The tunnel pools of one link manager, by link name.
#[derive(Default)]
pub struct TunnelHub {
    pools: Mutex<BTreeMap<String, Arc<TunnelPool>>>,
    /// The tunnel counters of each running SOURCE link.
    sources: Mutex<BTreeMap<String, Arc<super::source::Counts>>>,
    listeners: Mutex<Vec<super::source::LocalListener>>,
}

impl TunnelHub {
    /// The pool of INBOUND link `link` (created when the link starts).
    pub(crate) fn open_pool(&self, link: &str, destination_cluster_id: String) -> Arc<TunnelPool> {
        lock(&self.pools)
            .entry(link.to_string())
            .or_insert_with(|| Arc::new(TunnelPool::new(link, destination_cluster_id)))
            .clone()
    }

    pub(crate) fn close_pool(&self, link: &str) {
        lock(&self.pools).remove(link);
        lock(&self.sources).remove(link);
    }

    /// The counters of SOURCE link `link` (fresh when the link starts).
    pub(crate) fn open_source(&self, link: &str) -> Arc<super::source::Counts> {
        let counts = Arc::new(super::source::Counts::default());
        lock(&self.sources).insert(link.to_string(), counts.clone());
        counts
    }

    /// The `link_tunnel` task an INBOUND link shows in describe (a SOURCE link records
    /// its own, with its errors).
    pub(crate) fn describe_task(&self, link: &str) -> Option<strait_protocol::admin::LinkTask> {
        let pool = self.pool(link)?;
        let (parked, claimed) = pool.counts();
        let from = pool
            .source_cluster_id()
            .map(|id| format!(" from source cluster {id}"))
            .unwrap_or_default();
        Some(strait_protocol::admin::LinkTask {
            name: super::TUNNEL_TASK.to_string(),
            state: if parked > 0 || claimed > 0 {
                "ACTIVE"
            } else {
                "PENDING"
            }
            .to_string(),
            error: Some(if parked == 0 && claimed == 0 {
                "no tunnel yet: the source cluster's link.mode=SOURCE link has not connected"
                    .to_string()
            } else {
                format!("{parked} tunnel(s) parked, {claimed} claimed so far{from}")
            }),
            runs: claimed as i64,
            ..Default::default()
        })
    }

    /// Tunnel gauges and counters, Prometheus text.
    pub(crate) fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP strait_link_tunnels Tunnels of source-initiated links: parked (waiting for a claim) and, on the source side, relaying.");
        let _ = writeln!(out, "# TYPE strait_link_tunnels gauge");
        let mut claimed = Vec::new();
        for (link, p) in lock(&self.pools).iter() {
            let (parked, n) = p.counts();
            let _ = writeln!(
                out,
                "strait_link_tunnels{{link=\"{}\",side=\"destination\",state=\"parked\"}} {parked}",
                link.replace('"', "\\\"")
            );
            claimed.push((link.clone(), "destination", n));
        }
        for (link, c) in lock(&self.sources).iter() {
            let l = link.replace('"', "\\\"");
            for (state, v) in [("parked", &c.parked), ("relaying", &c.relaying)] {
                let _ = writeln!(
                    out,
                    "strait_link_tunnels{{link=\"{l}\",side=\"source\",state=\"{state}\"}} {}",
                    v.load(Ordering::Relaxed)
                );
            }
            claimed.push((link.clone(), "source", c.claimed.load(Ordering::Relaxed)));
        }
        let _ = writeln!(out, "# HELP strait_link_tunnels_claimed_total Tunnels claimed by the destination since the link started.");
        let _ = writeln!(out, "# TYPE strait_link_tunnels_claimed_total counter");
        for (link, side, n) in claimed {
            let _ = writeln!(
                out,
                "strait_link_tunnels_claimed_total{{link=\"{}\",side=\"{side}\"}} {n}",
                link.replace('"', "\\\"")
            );
        }
    }

    /// Drops every pool and closes the tunnels parked in them.
    pub(crate) fn close_all(&self) {
        lock(&self.sources).clear();
        let pools = std::mem::take(&mut *lock(&self.pools));
        for p in pools.values() {
            lock(&p.parked).clear();
        }
    }

    pub fn pool(&self, link: &str) -> Option<Arc<TunnelPool>> {
        lock(&self.pools).get(link).cloned()
    }

    /// Parks a tunnel for link `tunnel`'s name; refused (code and one-line reason) when no
    /// INBOUND link of that name runs here.
    pub fn park(&self, link: &str, tunnel: Tunnel) -> Result<(), (ErrorCode, String)> {
        match self.pool(link) {
            Some(p) => {
                p.park(tunnel);
                Ok(())
            }
            None => Err((
                ErrorCode::ResourceNotFound,
                format!("no cluster link '{link}' with connection.mode=INBOUND on this cluster: create it on the destination first (kafka-cluster-links --create --link {link} --config connection.mode=INBOUND)"),
            )),
        }
    }

    /// Records this broker's own listeners, which SOURCE links relay tunnels to.
    pub fn set_local_listeners(&self, listeners: Vec<super::source::LocalListener>) {
        *lock(&self.listeners) = listeners;
    }

    pub(crate) fn local_listener(&self, protocol: &str) -> Option<super::source::LocalListener> {
        lock(&self.listeners)
            .iter()
            .find(|l| l.protocol.eq_ignore_ascii_case(protocol))
            .cloned()
    }
}
