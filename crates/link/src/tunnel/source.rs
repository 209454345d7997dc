//! The source side of a source-initiated link (`link.mode=SOURCE`): keep tunnels parked at
//! the destination and relay the claimed ones to this broker.
//!
//! [`run`] keeps [`IDLE_TUNNELS`] dialers going. Each connects to the destination's
//! `bootstrap.servers` with the link's security settings, sends LinkTunnel and waits
//! (without a timeout: parking is the point) for the answer. An error answer or a failed
//! connection is the link's `link_tunnel` task error and is retried with the link's
//! `retry.backoff.ms` doubling up to `retry.backoff.max.ms`. A success means the
//! destination claimed the tunnel: the dialer hands it to a relay task and at once dials
//! the next one, so K tunnels are always waiting.
//!
//! The relay connects to this broker's own listener whose protocol is
//! `local.security.protocol`, authenticating with `local.sasl.*` (so this cluster's ACLs
//! for that principal apply to everything the destination does), then copies bytes both
//! ways until either side closes or the link stops. Nothing is interpreted: the source broker answers the
//! destination's requests exactly as it would answer a direct connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use strait_client::{dial::BoxIo, ClientConfig, ConnectOptions, Connection};
use strait_protocol::admin::AdminMessage;
use strait_protocol::frame::try_split_frame;
use strait_protocol::link_admin::{LinkTunnelRequest, LinkTunnelResponse, LINK_TUNNEL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::shared::LinkShared;

/// Tunnels each SOURCE link keeps parked at the destination.
pub const IDLE_TUNNELS: usize = 2;

/// Largest LinkTunnel answer accepted.
const MAX_ANSWER: usize = 1 << 20;

/// A parked tunnel is replaced after this long unclaimed: a destination host that vanished
/// without closing its sockets (power loss, a partition) would otherwise leave the link
/// waiting on dead connections forever. The destination discards the replaced ones unused.
const PARK_REFRESH: Duration = Duration::from_secs(300);

/// Why a tunnel attempt failed: the link's error reason and a one-line message.
struct Failure {
    reason: &'static str,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            reason: "DESTINATION_UNREACHABLE",
            message,
        }
    }
}

fn failure(reason: &'static str, message: String) -> Failure {
    Failure { reason, message }
}

/// One of this broker's listeners, as a SOURCE link's relay reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalListener {
    /// Security protocol (PLAINTEXT, SASL_PLAINTEXT ...).
    pub protocol: String,
    /// Where to connect (`host:port`).
    pub connect: String,
    /// What this listener advertises in Metadata (`host:port`).
    pub advertised: String,
    pub node_id: i32,
}

/// A SOURCE link's tunnels, shown by its describe and metrics.
#[derive(Default)]
pub struct Counts {
    /// Waiting at the destination for a claim.
    pub parked: AtomicU64,
    /// Claimed and being relayed to this broker.
    pub relaying: AtomicU64,
    /// Claimed since the link started.
    pub claimed: AtomicU64,
}

/// Runs a SOURCE link until its task is aborted (link deleted or broker stopping).
pub async fn run(shared: Arc<LinkShared>, hub: Arc<super::pool::TunnelHub>) {
    let counts = hub.open_source(shared.name());
    let mut dialers = tokio::task::JoinSet::new();
    for _ in 0..IDLE_TUNNELS {
        dialers.spawn(dial_forever(shared.clone(), hub.clone(), counts.clone()));
    }
    while dialers.join_next().await.is_some() {}
}

fn note(shared: &LinkShared, counts: &Counts) {
    shared.set_task_note(
        super::TUNNEL_TASK,
        Some(format!(
            "{} tunnel(s) parked at the destination, {} relaying, {} claimed so far",
            counts.parked.load(Ordering::Relaxed),
            counts.relaying.load(Ordering::Relaxed),
            counts.claimed.load(Ordering::Relaxed)
        )),
    );
}

async fn dial_forever(
    shared: Arc<LinkShared>,
    hub: Arc<super::pool::TunnelHub>,
    counts: Arc<Counts>,
) {
    let mut failures: u32 = 0;
    let mut next_server = 0usize;
    // Owned here so that stopping the link (its task aborted) also ends its relays.
    let mut relays = tokio::task::JoinSet::new();
    loop {
        while relays.try_join_next().is_some() {}
        let config = shared.config();
        let servers = &config.bootstrap_servers;
        let server = servers[next_server % servers.len().max(1)].clone();
        next_server = next_server.wrapping_add(1);
        match park_one(&shared, &hub, &server, &counts).await {
            Ok(None) => failures = 0,
            Ok(Some((tunnel, buffered, local))) => {
                failures = 0;
                counts.claimed.fetch_add(1, Ordering::Relaxed);
                shared.record_task(super::TUNNEL_TASK, Ok(1));
                shared.set_status(crate::state::LinkState::Active, None);
                let (shared, counts) = (shared.clone(), counts.clone());
                relays.spawn(async move {
                    counts.relaying.fetch_add(1, Ordering::Relaxed);
                    note(&shared, &counts);
                    if let Err(e) = relay(tunnel, buffered, local).await {
                        tracing::debug!(link = shared.name(), error = %e, "link tunnel relay ended");
                    }
                    counts.relaying.fetch_sub(1, Ordering::Relaxed);
                    note(&shared, &counts);
                });
            }
            Err(Failure { reason, message }) => {
                tracing::info!(link = shared.name(), destination = %server, error = %message, "link tunnel failed");
                shared.record_task(super::TUNNEL_TASK, Err(message.clone()));
                shared.set_status(
                    crate::state::LinkState::Unavailable,
                    Some((reason, message)),
                );
                failures = failures.saturating_add(1);
                let base = config.retry_backoff_ms.max(1);
                let wait = base
                    .saturating_mul(1u64 << failures.min(20).saturating_sub(1))
                    .min(config.retry_backoff_max_ms.max(base));
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
    }
}

/// Dials the destination, parks a tunnel and waits for its claim; on claim, also opens the
/// local connection the tunnel will be relayed to. `None`: unclaimed for
/// [`PARK_REFRESH`], replaced. Errors are one line.
async fn park_one(
    shared: &LinkShared,
    hub: &super::pool::TunnelHub,
    server: &str,
    counts: &Counts,
) -> Result<Option<(BoxIo, BytesMut, BoxIo)>, Failure> {
    let config = shared.config();
    let local_cc =
        local_client_config(&config).map_err(|m| failure("LOCAL_CONNECTION_ERROR", m))?;
    let protocol = local_cc.security_protocol.name();
    let listener = hub.local_listener(protocol).ok_or_else(|| {
        failure(
            "LOCAL_CONNECTION_ERROR",
            format!(
                "this broker has no {protocol} listener for local.security.protocol={protocol}"
            ),
        )
    })?;
    let cc = shared.client_config();
    let options = ConnectOptions::new(&cc).map_err(|e| e.to_string())?;
    let (mut io, mut buf) = Connection::connect_raw(server, &options)
        .await
        .map_err(|e| format!("cannot reach the destination at {server}: {e}"))?;
    let request = LinkTunnelRequest {
        link_name: shared.name().to_string(),
        source_cluster_id: shared.local.cluster_id(),
        node_id: listener.node_id,
        advertised: listener.advertised.clone(),
    };
    let client_id = kafka_protocol::protocol::StrBytes::from_string(cc.client_id.clone());
    let frame = strait_client::wire::encode_raw_request(
        LINK_TUNNEL,
        0,
        2,
        i32::MAX,
        &client_id,
        &request.encode(),
    )?;
    io.write_all(&frame)
        .await
        .map_err(|e| format!("destination {server}: {e}"))?;
    io.flush()
        .await
        .map_err(|e| format!("destination {server}: {e}"))?;
    counts.parked.fetch_add(1, Ordering::Relaxed);
    note(shared, counts);
    let answer = tokio::time::timeout(PARK_REFRESH, read_frame(&mut io, &mut buf)).await;
    counts.parked.fetch_sub(1, Ordering::Relaxed);
    note(shared, counts);
    let Ok(answer) = answer else {
        return Ok(None);
    };
    let answer =
        answer.map_err(|e| format!("destination {server} closed the parked tunnel: {e}"))?;
    let (_, body) = strait_client::wire::split_response_header(answer, 1)
        .map_err(|e| format!("destination {server}: bad LinkTunnel answer: {e}"))?;
    let answer = LinkTunnelResponse::decode(body)
        .map_err(|e| format!("destination {server}: bad LinkTunnel answer: {e}"))?;
    if answer.error_code != 0 {
        let code = match strait_protocol::ErrorCode::try_from_code(answer.error_code) {
            Some(c) => format!("{c:?}"),
            None => answer.error_code.to_string(),
        };
        return Err(failure(
            "TUNNEL_REFUSED",
            format!(
                "destination {server} refused the tunnel ({code}): {}",
                answer.error_message.unwrap_or_default()
            ),
        ));
    }
    let local_err = |m: String| failure("LOCAL_CONNECTION_ERROR", m);
    let local_options = ConnectOptions::new(&local_cc).map_err(|e| local_err(e.to_string()))?;
    let (local, local_buf) = Connection::connect_raw(&listener.connect, &local_options)
        .await
        .map_err(|e| {
            local_err(format!(
                "cannot connect to this cluster's {protocol} listener: {e}"
            ))
        })?;
    if !local_buf.is_empty() {
        return Err(local_err(
            "this cluster's listener sent unrequested bytes".into(),
        ));
    }
    Ok(Some((io, buf, local)))
}

/// The SOURCE link's `local.*` keys as a client config.
fn local_client_config(config: &crate::config::LinkConfig) -> Result<ClientConfig, String> {
    ClientConfig::from_properties(&super::local_client_properties(config.raw()))
        .map(|(cc, _)| cc)
        .map_err(|e| format!("invalid local.* config: {e}"))
}

async fn read_frame(io: &mut BoxIo, buf: &mut BytesMut) -> Result<bytes::Bytes, String> {
    loop {
        if let Some(frame) = try_split_frame(buf, MAX_ANSWER).map_err(|e| e.to_string())? {
            return Ok(frame);
        }
        if io.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("end of stream".into());
        }
    }
}

/// Copies bytes both ways between the claimed tunnel and the local connection.
async fn relay(mut tunnel: BoxIo, buffered: BytesMut, mut local: BoxIo) -> std::io::Result<()> {
    // The destination may have sent its first requests right behind the claim.
    if !buffered.is_empty() {
        local.write_all(&buffered).await?;
    }
    tokio::io::copy_bidirectional(&mut tunnel, &mut local).await?;
    Ok(())
}
