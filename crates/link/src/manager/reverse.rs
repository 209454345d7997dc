//! Reverse-and-start / reverse-and-pause: a planned switch between two Strait clusters
//! linked both ways, in one command on the cluster that takes over.
//!
//! Local link L mirrors T from the peer; the peer must have a link R whose source is this
//! cluster (named by `--remote-link`; for a `link.mode=BIDIRECTIONAL` L, L's other half of
//! the same name; otherwise found on the peer by this cluster's id). Order:
//! 1. validate here (T is a mirror over L, healthy) and on the peer: R exists and points at
//!    this cluster, and a validate-only truncate-and-restore of T over R is accepted
//!    (nothing changes anywhere if either side would refuse);
//! 2. promote T here (the fenced promote: drain to a source high watermark read after the
//!    request, one commit) and wait for STOPPED;
//! 3. truncate-and-restore T on the peer over R (its own staged, re-runnable restore),
//!    left PAUSED for reverse-and-pause.
//!
//! A failure after step 2 is reported with the command that finishes the peer's side (the
//! local promote is done and irreversible, as Confluent's is).

use std::time::{Duration, Instant};

use strait_client::{Client, ClientError};
use strait_protocol::admin::{ListClusterLinksRequest, ListClusterLinksResponse, MirrorOp};
use strait_protocol::mirror_admin::{
    RestoreMirrorsRequest, RestoreMirrorsResponse, RestoreResult, ReverseResult,
};
use strait_protocol::ErrorCode;

use super::{err, LinkError, LinkManager};
use crate::state::MirrorState;

/// The [`LinkError`] for a private admin call the peer did not answer (an undecodable
/// answer is the peer's fault, not the network's).
fn peer_failed(what: &str) -> impl FnOnce(ClientError) -> LinkError + '_ {
    move |e| {
        match e {
        ClientError::Decode { .. } => err(
            ErrorCode::UnknownServerError,
            format!("{what}: undecodable answer from the peer: {e}"),
        ),
        e => err(
            e.kafka_code().unwrap_or(ErrorCode::NetworkException),
            format!("{what} on the peer cluster failed (reverse needs two Strait clusters linked both ways): {e}"),
        ),
    }
    }
}

fn remote_error(r: &RestoreResult) -> Option<LinkError> {
    (r.error_code != 0).then(|| {
        err(
            ErrorCode::try_from_code(r.error_code).unwrap_or(ErrorCode::UnknownServerError),
            r.error_message.clone().unwrap_or_default(),
        )
    })
}

impl LinkManager {
    /// ReverseMirrors (see the module docs). `Err`: a request-level refusal.
    pub async fn reverse_mirrors(
        &self,
        topics: &[String],
        link_name: &str,
        remote_link: Option<&str>,
        pause_remote: bool,
        validate_only: bool,
        timeout: Duration,
    ) -> Result<Vec<ReverseResult>, LinkError> {
        let shared = self.get(link_name).ok_or_else(|| {
            err(
                ErrorCode::ResourceNotFound,
                format!("cluster link '{link_name}' does not exist"),
            )
        })?;
        if topics.is_empty() {
            return Err(err(ErrorCode::InvalidRequest, "name the topics (--topics)"));
        }
        let peer = Client::connect(&shared.client_config())
            .await
            .map_err(|e| {
                err(
                    e.kafka_code().unwrap_or(ErrorCode::NetworkException),
                    format!("cannot reach the peer cluster of link '{link_name}': {e}"),
                )
            })?;
        let outcome = self
            .reverse_with(
                &peer,
                topics,
                link_name,
                remote_link,
                pause_remote,
                validate_only,
                timeout,
            )
            .await;
        peer.close().await;
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn reverse_with(
        &self,
        peer: &Client,
        topics: &[String],
        link_name: &str,
        remote_link: Option<&str>,
        pause_remote: bool,
        validate_only: bool,
        timeout: Duration,
    ) -> Result<Vec<ReverseResult>, LinkError> {
        // A bidirectional link's other half has its name (checked to point back here).
        let bidirectional = self
            .get(link_name)
            .is_some_and(|l| l.config().link_mode == crate::config::LinkMode::Bidirectional);
        let named = remote_link.or(bidirectional.then_some(link_name));
        let remote = self.find_remote_link(peer, link_name, named).await?;
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut out = Vec::new();
        for topic in topics {
            let mut result = ReverseResult {
                topic: topic.clone(),
                remote_link_name: remote.clone(),
                ..Default::default()
            };
            match self
                .reverse_one(
                    peer,
                    topic,
                    link_name,
                    &remote,
                    pause_remote,
                    validate_only,
                    timeout_ms,
                )
                .await
            {
                Ok((ends, r)) => {
                    result.local_end_offsets = ends;
                    result.remote = r;
                }
                Err(e) => {
                    result.error_code = e.code.code();
                    result.error_message = Some(e.message);
                }
            }
            out.push(result);
        }
        Ok(out)
    }

    /// The peer's link whose source is this cluster.
    async fn find_remote_link(
        &self,
        peer: &Client,
        link_name: &str,
        named: Option<&str>,
    ) -> Result<String, LinkError> {
        let ours = self.local().cluster_id();
        let req = ListClusterLinksRequest {
            names: named.map(|n| vec![n.to_string()]),
            include_topics: false,
            include_configs: false,
        };
        let resp: ListClusterLinksResponse = peer
            .strait_admin(&req)
            .await
            .map_err(peer_failed("listing cluster links"))?;
        if resp.error_code != 0 {
            return Err(err(
                ErrorCode::try_from_code(resp.error_code).unwrap_or(ErrorCode::InvalidRequest),
                format!(
                    "the peer cluster of link '{link_name}' refused to list its links: {}",
                    resp.error_message.unwrap_or_default()
                ),
            ));
        }
        let back: Vec<_> = resp
            .links
            .iter()
            .filter(|l| named.is_some() || l.source_cluster_id.as_deref() == Some(ours.as_str()))
            .collect();
        match (named, back.as_slice()) {
            (Some(n), [l]) => match l.source_cluster_id.as_deref() {
                Some(id) if id != ours => Err(err(
                    ErrorCode::InvalidRequest,
                    format!("the peer's cluster link '{n}' mirrors cluster '{id}', not this cluster ('{ours}'); reverse needs a link back to this cluster"),
                )),
                _ => Ok(n.to_string()),
            },
            (Some(n), _) => Err(err(
                ErrorCode::ResourceNotFound,
                format!("the peer cluster has no cluster link '{n}'"),
            )),
            (None, [l]) => Ok(l.name.clone()),
            (None, []) => Err(err(
                ErrorCode::InvalidRequest,
                format!("cluster link '{link_name}' is one-way: the peer cluster has no cluster link whose source is this cluster ('{ours}'); create one on the peer (cluster-links --create) or name it with --remote-link"),
            )),
            (None, many) => Err(err(
                ErrorCode::InvalidRequest,
                format!(
                    "the peer cluster has {} links back to this cluster ({}); name one with --remote-link",
                    many.len(),
                    many.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn reverse_one(
        &self,
        peer: &Client,
        topic: &str,
        link_name: &str,
        remote: &str,
        pause_remote: bool,
        validate_only: bool,
        timeout_ms: i32,
    ) -> Result<(Vec<i64>, RestoreResult), LinkError> {
        let local = self.local();
        let m = local
            .mirror_topics()
            .into_iter()
            .find(|m| m.topic == topic)
            .ok_or_else(|| {
                err(
                    ErrorCode::InvalidRequest,
                    format!("topic '{topic}' is not a mirror topic; reverse applies to a mirror over link '{link_name}'"),
                )
            })?;
        if m.mirror.link_name != link_name {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!(
                    "mirror topic '{topic}' mirrors over link '{}', not '{link_name}'",
                    m.mirror.link_name
                ),
            ));
        }
        if !matches!(m.mirror.state, MirrorState::Active | MirrorState::Paused)
            || super::restore::is_pending_restore(&m.mirror)
        {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!(
                    "mirror topic '{topic}' is {}; reverse needs an ACTIVE or PAUSED mirror",
                    m.mirror.state.name()
                ),
            ));
        }
        // The peer must accept its half before anything changes here.
        let mut restore = RestoreMirrorsRequest {
            topics: vec![m.mirror.source_topic.clone()],
            link_name: remote.to_string(),
            pause: pause_remote,
            validate_only: true,
            timeout_ms,
        };
        let checked: RestoreMirrorsResponse = peer
            .strait_admin(&restore)
            .await
            .map_err(peer_failed("validating truncate-and-restore"))?;
        if checked.error_code != 0 {
            return Err(err(
                ErrorCode::try_from_code(checked.error_code).unwrap_or(ErrorCode::InvalidRequest),
                format!(
                    "the peer refuses to restore '{}': {}",
                    m.mirror.source_topic,
                    checked.error_message.unwrap_or_default()
                ),
            ));
        }
        if let Some(e) = checked.results.first().and_then(remote_error) {
            return Err(err(
                e.code,
                format!(
                    "the peer refuses to restore '{}': {}",
                    m.mirror.source_topic, e.message
                ),
            ));
        }
        let ends = |local: &dyn crate::local::LocalCluster| -> Vec<i64> {
            (0..m.partitions)
                .map(|p| {
                    local
                        .partition_position(topic, p)
                        .map_or(-1, |pos| pos.log_end_offset)
                })
                .collect()
        };
        if validate_only {
            let r = checked.results.into_iter().next().unwrap_or_default();
            return Ok((ends(local.as_ref()), r));
        }
        self.alter_mirrors(MirrorOp::Promote, Some(&[topic.to_string()]), None, false)?
            .into_iter()
            .find(|r| r.error_code != 0)
            .map_or(Ok(()), |r| {
                Err(err(
                    ErrorCode::try_from_code(r.error_code).unwrap_or(ErrorCode::InvalidRequest),
                    r.error_message.unwrap_or_default(),
                ))
            })?;
        let deadline =
            Instant::now() + Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
        loop {
            let state = local
                .mirror_topics()
                .into_iter()
                .find(|x| x.topic == topic)
                .map(|x| x.mirror.state);
            match state {
                Some(MirrorState::Stopped) => break,
                Some(MirrorState::PendingStopped) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                other => {
                    return Err(err(
                        ErrorCode::RequestTimedOut,
                        format!("the promote of '{topic}' did not complete (state {}); nothing was changed on the peer", other.map_or("gone", |s| s.name())),
                    ))
                }
            }
        }
        restore.validate_only = false;
        let fix = format!(
            "'{topic}' is promoted here; finish the peer's side with: mirrors --truncate-and-restore --topics {} --link {remote} on the peer",
            m.mirror.source_topic
        );
        let done: RestoreMirrorsResponse = peer
            .strait_admin(&restore)
            .await
            .map_err(peer_failed("truncate-and-restore"))
            .map_err(|e| err(e.code, format!("{}; {fix}", e.message)))?;
        if done.error_code != 0 {
            return Err(err(
                ErrorCode::try_from_code(done.error_code).unwrap_or(ErrorCode::UnknownServerError),
                format!("{}; {fix}", done.error_message.unwrap_or_default()),
            ));
        }
        let r = done.results.into_iter().next().unwrap_or_default();
        if let Some(e) = remote_error(&r) {
            return Err(err(e.code, format!("{}; {fix}", e.message)));
        }
        tracing::info!(
            topic,
            link = link_name,
            remote_link = remote,
            "reversed: promoted here, the peer now mirrors it"
        );
        Ok((ends(local.as_ref()), r))
    }
}
