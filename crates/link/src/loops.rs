//! Loop prevention and the peer check of `link.mode=BIDIRECTIONAL` links.
//!
//! Owns two rules (README, "Bidirectional links and loops"):
//! * **Origin chains.** Every mirror topic has an origin chain: the cluster ids its data
//!   passed through, oldest first. A mirror on D of source topic T on S has
//!   `chain(T on S) + [S]`, where `chain(T on S)` is empty when T is not a mirror on S (or
//!   is STOPPED: a promoted topic's new writes originate on S, or S is not Strait). The
//!   link learns `chain(T on S)` from the source's DescribeMirrors when it creates the
//!   mirror and again at every source metadata refresh, and keeps the chains in memory
//!   ([`LinkShared`]); DescribeMirrors reports them (tagged fields). Not persisted: after
//!   a restart a mirror's chain is unknown until the link's first refresh, and an unknown
//!   chain is reported as such, which a downstream link treats as a loop (below), so a
//!   restart delays downstream auto-create but never lets a loop through.
//! * **No loops.** A link never mirrors a source topic whose origin chain holds this
//!   cluster's id: its data came from here, whatever the length of the ring
//!   (A -> B -> C -> A: A sees C's `b.a.orders` with chain `A -> B`). The source tells us
//!   which of its topics are mirrors and their chains (DescribeMirrors), and each link's
//!   source cluster id (ListClusterLinks), through Strait's private admin API; a source
//!   without that API (Apache Kafka, Confluent) reports no mirrors. A Strait source too
//!   old to report chains falls back to the one-hop rule: a mirror (in any state but
//!   STOPPED) whose link's source cluster is this cluster is a loop. Auto-create skips
//!   such topics (shown in the link's `loop_prevention` task note); an explicit mirror
//!   create of one is refused. A mirror whose chain (or, one-hop, whose link's source
//!   cluster) the source does not know yet counts as a loop until it does (auto-create
//!   looks again at every metadata refresh), so a race at link creation or a restart
//!   cannot slip a loop through.
//! * **The pair.** A BIDIRECTIONAL link needs the peer's link of the same name to exist,
//!   be BIDIRECTIONAL and have this cluster as its source (matched by cluster id). The first
//!   side of a pair may be created before the second: it mirrors like a DESTINATION link
//!   and its `bidirectional_peer` task is IN_ERROR (REMOTE_LINK_NOT_FOUND_ERROR) until the
//!   peer link exists and has reached this cluster. A peer link that exists but is not the
//!   other half (wrong mode, another source) refuses the create, and at run time is the
//!   task error MISCONFIGURATION_ERROR.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use strait_client::{Client, ClientError};
use strait_protocol::admin::{
    DescribeMirrorsRequest, DescribeMirrorsResponse, ListClusterLinksRequest,
    ListClusterLinksResponse, DESCRIBE_MIRRORS, LIST_CLUSTER_LINKS,
};
use strait_protocol::ErrorCode;

use crate::config::LinkMode;
use crate::local::LocalError;
use crate::shared::{lock, LinkShared};
use crate::state::MirrorState;

/// The link task that reports the peer link of a BIDIRECTIONAL link.
pub const PEER_TASK: &str = "bidirectional_peer";
/// The link task whose note lists the source topics auto-create skipped as loops.
pub const LOOP_TASK: &str = "loop_prevention";

/// Does the source speak Strait's private admin API?
async fn is_strait(client: &Client) -> Result<bool, String> {
    let conn = client
        .any_broker()
        .await
        .map_err(|e| format!("cannot reach the source cluster: {e}"))?;
    Ok(conn.version_for(DESCRIBE_MIRRORS, 0).is_some()
        && conn.version_for(LIST_CLUSTER_LINKS, 0).is_some())
}

/// The one-line error for a private admin call the source did not answer.
fn source_failed(what: &str) -> impl FnOnce(ClientError) -> String + '_ {
    move |e| format!("{what} on the source cluster failed: {e}")
}

/// The one-line error for a source that refused one of the two calls: no new mirror is
/// created until it answers (a loop is never risked), so say how to fix it.
fn refused(what: &str, code: i16, message: Option<String>) -> String {
    let name =
        ErrorCode::try_from_code(code).map_or_else(|| code.to_string(), |c| format!("{c:?}"));
    format!(
        "{what} on the source cluster failed ({name}: {}); no new mirror topics are created until it answers, because the link cannot tell which source topics are mirrors of this cluster (grant the link's principal DESCRIBE on the source cluster)",
        message.unwrap_or_default()
    )
}

/// One mirror topic of the source cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMirror {
    /// The source's link the topic mirrors over.
    pub link: String,
    /// That link's source cluster id, when the source knows it.
    pub origin_cluster_id: Option<String>,
    /// The topic's origin chain as the source reports it (its last entry is
    /// `origin_cluster_id`); `None` when the source does not know it yet or does not
    /// report chains (see [`SourceMirrors::reports_chains`]).
    pub origin_chain: Option<Vec<String>>,
}

/// What the source told us about its mirror topics (empty for a non-Strait source).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMirrors {
    /// Mirror topics of the source in any state but STOPPED.
    pub by_topic: HashMap<String, SourceMirror>,
    /// The source reports origin chains, so a mirror without one has a chain the source
    /// does not know yet; `false` for an older Strait build (the one-hop rule applies).
    pub reports_chains: bool,
}

impl SourceMirrors {
    /// Asks the source (two private admin calls; nothing for a non-Strait source).
    pub async fn fetch(client: &Client) -> Result<SourceMirrors, String> {
        if !is_strait(client).await? {
            return Ok(SourceMirrors::default());
        }
        let mirrors: DescribeMirrorsResponse = client
            .strait_admin(&DescribeMirrorsRequest::default())
            .await
            .map_err(source_failed("DescribeMirrors"))?;
        if mirrors.error_code != 0 {
            return Err(refused(
                "DescribeMirrors",
                mirrors.error_code,
                mirrors.error_message,
            ));
        }
        let all = ListClusterLinksRequest {
            names: None,
            include_topics: false,
            include_configs: false,
        };
        let links: ListClusterLinksResponse = client
            .strait_admin(&all)
            .await
            .map_err(source_failed("ListClusterLinks"))?;
        if links.error_code != 0 {
            return Err(refused(
                "ListClusterLinks",
                links.error_code,
                links.error_message,
            ));
        }
        let origin: HashMap<String, Option<String>> = links
            .links
            .into_iter()
            .map(|l| (l.name, l.source_cluster_id))
            .collect();
        let reports_chains = mirrors.reports_origin_chains;
        let by_topic = mirrors
            .mirrors
            .into_iter()
            // A promoted or failed-over topic belongs to the source now: mirroring it back
            // is what reverse and truncate-and-restore do.
            .filter(|m| !m.state.eq_ignore_ascii_case("STOPPED"))
            .map(|m| {
                let origin_cluster_id = origin.get(&m.link_name).cloned().flatten();
                (
                    m.mirror_topic,
                    SourceMirror {
                        link: m.link_name,
                        origin_cluster_id,
                        origin_chain: m.origin_cluster_ids,
                    },
                )
            })
            .collect();
        Ok(SourceMirrors {
            by_topic,
            reports_chains,
        })
    }

    /// Why mirroring `source_topic` into cluster `local_cluster_id` would make a loop, in
    /// one line, or `None` when it would not.
    pub fn loop_reason(&self, source_topic: &str, local_cluster_id: &str) -> Option<String> {
        let m = self.by_topic.get(source_topic)?;
        match &m.origin_chain {
            Some(chain) if chain.iter().any(|id| id == local_cluster_id) => {
                return Some(format!(
                    "source topic '{source_topic}' holds data that came from this cluster ('{local_cluster_id}'): its origin chain is {} (over the source's cluster link '{}'), so mirroring it here would make a loop",
                    chain.join(" -> "),
                    m.link
                ));
            }
            Some(_) => return None,
            None if self.reports_chains => {
                return Some(format!(
                    "source topic '{source_topic}' is a mirror over the source's cluster link '{}' whose origin chain the source does not know yet: its data may have come from this cluster, so it is not mirrored (a loop is never risked)",
                    m.link
                ));
            }
            // An older Strait source: only the last hop is visible.
            None => {}
        }
        match m.origin_cluster_id.as_deref() {
            Some(id) if id == local_cluster_id => Some(format!(
                "source topic '{source_topic}' is a mirror of this cluster ('{id}') over the source's cluster link '{}': mirroring it back would make a loop",
                m.link
            )),
            Some(_) => None,
            None => Some(format!(
                "source topic '{source_topic}' is a mirror over the source's cluster link '{}', whose source cluster the source does not know yet: it may be this cluster, so it is not mirrored (a loop is never risked)",
                m.link
            )),
        }
    }
}

impl SourceMirrors {
    /// The origin chain a mirror here of `source_topic` gets: the source topic's chain
    /// plus the source's own id; `None` while the source does not know the topic's chain.
    /// An older Strait source reports one hop only, so its mirror's chain is
    /// `[its link's source, source]`.
    pub fn chain_of(&self, source_topic: &str, source_cluster_id: &str) -> Option<Vec<String>> {
        let mut chain = match self.by_topic.get(source_topic) {
            None => Vec::new(),
            Some(m) => match (&m.origin_chain, &m.origin_cluster_id) {
                (Some(c), _) => c.clone(),
                (None, Some(origin)) if !self.reports_chains => vec![origin.clone()],
                (None, _) => return None,
            },
        };
        chain.push(source_cluster_id.to_string());
        Some(chain)
    }
}

/// Records the origin chain of every mirror of the link (run after each source metadata
/// refresh, and after an explicit create with `only` set to the new mirror). A mirror
/// whose chain cannot be known now is left without one: DescribeMirrors then reports it
/// as not known yet, which downstream links treat as a loop.
pub(crate) fn record_chains(shared: &LinkShared, source: &SourceMirrors, only: Option<&str>) {
    let Some(source_id) = shared.status().source_cluster_id else {
        return;
    };
    let mut chains = lock(&shared.origin_chains);
    if only.is_none() {
        chains.clear();
    }
    for m in shared.local.mirror_topics() {
        if m.mirror.link_name != shared.name()
            || m.mirror.state == MirrorState::Stopped
            || only.is_some_and(|t| t != m.topic)
        {
            continue;
        }
        match source.chain_of(&m.mirror.source_topic, &source_id) {
            Some(chain) => chains.insert(m.topic, chain),
            None => chains.remove(&m.topic),
        };
    }
}

/// A mirror's origin chain as DescribeMirrors reports it (see [`record_chains`]).
pub fn chain_for(shared: &LinkShared, mirror_topic: &str) -> Option<Vec<String>> {
    lock(&shared.origin_chains).get(mirror_topic).cloned()
}

/// The refusal of an explicit mirror create that would make a loop (`Ok` with what the
/// source said when it would not; empty when the source is not a Strait cluster).
pub async fn check_explicit(
    client: &Client,
    source_topic: &str,
    local_cluster_id: &str,
) -> Result<SourceMirrors, LocalError> {
    let mirrors = SourceMirrors::fetch(client).await.map_err(|e| {
        LocalError::new(
            ErrorCode::NetworkException,
            format!("cannot check source topic '{source_topic}' for a mirror loop: {e}"),
        )
    })?;
    match mirrors.loop_reason(source_topic, local_cluster_id) {
        Some(why) => Err(LocalError::new(ErrorCode::InvalidRequest, why)),
        None => Ok(mirrors),
    }
}

/// The peer link of a BIDIRECTIONAL link, as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// The other half exists and points here; its link state.
    Paired { state: String },
    /// Not (yet) the other half; may become one (the first side of a pair).
    Pending(String),
    /// Can never be the other half as it stands (wrong mode or source, not Strait).
    Misconfigured(String),
}

impl Peer {
    /// The task outcome recorded for [`PEER_TASK`]: the error (or the note) starts with the
    /// state word, Confluent's task error codes for the errors.
    pub fn task_text(&self) -> Result<String, String> {
        match self {
            Peer::Paired { state } => Ok(format!(
                "{state}: the peer's cluster link of the same name is BIDIRECTIONAL and mirrors this cluster"
            )),
            Peer::Pending(why) => Err(format!("REMOTE_LINK_NOT_FOUND_ERROR: {why}")),
            Peer::Misconfigured(why) => Err(format!("MISCONFIGURATION_ERROR: {why}")),
        }
    }
}

/// Checks the peer's link named `name` (see the module docs).
pub async fn check_peer(client: &Client, name: &str, local_cluster_id: &str) -> Peer {
    match is_strait(client).await {
        Ok(true) => {}
        Ok(false) => return Peer::Misconfigured(format!("the peer cluster is not a Strait cluster (it lacks Strait's cluster link API), so it cannot hold the other half of BIDIRECTIONAL link '{name}'")),
        Err(e) => return Peer::Pending(e),
    }
    let req = ListClusterLinksRequest {
        names: Some(vec![name.to_string()]),
        include_topics: false,
        include_configs: true,
    };
    let resp: ListClusterLinksResponse = match client.strait_admin(&req).await {
        Ok(r) => r,
        Err(e) => return Peer::Pending(source_failed("ListClusterLinks")(e)),
    };
    if resp.error_code == ErrorCode::ResourceNotFound.code() {
        return Peer::Pending(format!("the peer cluster has no cluster link '{name}' yet; create it there with link.mode=BIDIRECTIONAL and bootstrap.servers pointing at this cluster"));
    }
    if resp.error_code != 0 {
        return Peer::Pending(format!(
            "the peer cluster refused to list cluster link '{name}': {}",
            resp.error_message.unwrap_or_default()
        ));
    }
    let Some(link) = resp.links.into_iter().find(|l| l.name == name) else {
        return Peer::Pending(format!("the peer cluster has no cluster link '{name}' yet"));
    };
    let mode = link
        .configs
        .iter()
        .find(|c| c.name == "link.mode")
        .and_then(|c| c.value.as_deref())
        .and_then(LinkMode::parse)
        .unwrap_or_default();
    if mode != LinkMode::Bidirectional {
        return Peer::Misconfigured(format!("the peer's cluster link '{name}' has link.mode={}; both halves of a bidirectional pair need link.mode=BIDIRECTIONAL", mode.name()));
    }
    match link.source_cluster_id.as_deref() {
        Some(id) if id == local_cluster_id => Peer::Paired { state: link.state },
        Some(id) => Peer::Misconfigured(format!("the peer's cluster link '{name}' mirrors cluster '{id}', not this cluster ('{local_cluster_id}')")),
        None => Peer::Pending(format!("the peer's cluster link '{name}' has not reached this cluster yet (its source cluster id is unknown)")),
    }
}

/// A BIDIRECTIONAL link's create: the peer's same-named link may be missing (this is the
/// first side of the pair) but must not be something else.
pub async fn validate_peer(
    name: &str,
    cc: &strait_client::ClientConfig,
    timeout: std::time::Duration,
    local_cluster_id: &str,
) -> Result<(), LocalError> {
    let check = async {
        let client = Client::connect(cc).await?;
        let peer = check_peer(&client, name, local_cluster_id).await;
        client.close().await;
        Ok::<_, strait_client::ClientError>(peer)
    };
    match tokio::time::timeout(timeout, check).await {
        Ok(Ok(Peer::Misconfigured(why))) => Err(LocalError::new(
            ErrorCode::InvalidConfig,
            format!("cannot create BIDIRECTIONAL cluster link '{name}': {why}"),
        )),
        // Reached a moment ago by the source probe; a failure now is the availability
        // checker's business, and the link task reports the peer until it pairs.
        _ => Ok(()),
    }
}

/// Run by the link loop after each source metadata refresh of a BIDIRECTIONAL link.
pub(crate) async fn record_peer(shared: &Arc<LinkShared>, client: &Client) {
    if shared.config().link_mode != LinkMode::Bidirectional {
        return;
    }
    let peer = check_peer(client, shared.name(), &shared.local.cluster_id()).await;
    match peer.task_text() {
        Ok(note) => {
            shared.record_task(PEER_TASK, Ok(0));
            shared.set_task_note(PEER_TASK, Some(note));
        }
        Err(e) => {
            shared.set_task_note(PEER_TASK, None);
            shared.record_task(PEER_TASK, Err(e));
        }
    }
}

/// Records what auto-create skipped as loops this pass (source topic -> reason): the count
/// on [`LinkShared`] for the gauge, the names in the task note for humans.
pub(crate) fn record_skipped(shared: &LinkShared, skipped: &[(String, String)]) {
    shared.record_task(LOOP_TASK, Ok(0));
    shared.loop_skipped.store(skipped.len(), Ordering::Relaxed);
    let note = (!skipped.is_empty()).then(|| {
        let names: Vec<&str> = skipped.iter().map(|(t, _)| t.as_str()).collect();
        format!(
            "{} source topic(s) skipped: mirrors whose data came from this cluster (skipped-for-loop): {}",
            skipped.len(),
            names.join(", ")
        )
    });
    shared.set_task_note(LOOP_TASK, note);
}

/// Source topics the link's last discovery pass skipped as loops.
pub fn skipped_count(shared: &LinkShared) -> usize {
    shared.loop_skipped.load(Ordering::Relaxed)
}

/// Appends the `strait_cluster_link_loop_skipped_topics` gauge.
pub(crate) fn render_metrics(links: &[Arc<LinkShared>], out: &mut String) {
    use std::fmt::Write;
    crate::metrics::family(
        out,
        "strait_cluster_link_loop_skipped_topics",
        "gauge",
        "Source topics auto-create skipped in its last pass because they are mirrors whose data came from this cluster (skipped-for-loop).",
    );
    for l in links {
        let name = crate::metrics::esc(l.name());
        let _ = writeln!(
            out,
            "strait_cluster_link_loop_skipped_topics{{link=\"{name}\"}} {}",
            skipped_count(l)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirrors(list: &[(&str, &str, Option<&str>)]) -> SourceMirrors {
        SourceMirrors {
            by_topic: list
                .iter()
                .map(|(t, l, o)| {
                    (
                        t.to_string(),
                        SourceMirror {
                            link: l.to_string(),
                            origin_cluster_id: o.map(str::to_string),
                            origin_chain: None,
                        },
                    )
                })
                .collect(),
            reports_chains: false,
        }
    }

    /// A source that reports chains: (topic, link, chain or `None` for not known yet).
    fn chained(list: &[(&str, &str, Option<&[&str]>)]) -> SourceMirrors {
        SourceMirrors {
            by_topic: list
                .iter()
                .map(|(t, l, c)| {
                    let chain: Option<Vec<String>> =
                        c.map(|c| c.iter().map(|s| s.to_string()).collect());
                    let origin = chain.as_ref().and_then(|c| c.last().cloned());
                    (
                        t.to_string(),
                        SourceMirror {
                            link: l.to_string(),
                            origin_cluster_id: origin,
                            origin_chain: chain,
                        },
                    )
                })
                .collect(),
            reports_chains: true,
        }
    }

    #[test]
    fn the_chain_rule_sees_whole_rings() {
        // On C, in the ring A -> B -> C -> A: b.a.orders came from A through B.
        let m = chained(&[
            ("b.a.orders", "bc", Some(&["A", "B"])),
            ("b.local", "bc", Some(&["B"])),
            ("young", "bc", None),
        ]);
        let why = m.loop_reason("b.a.orders", "A").unwrap();
        assert!(why.contains("A -> B") && why.contains("'bc'"), "{why}");
        assert!(!why.contains('\n'));
        assert!(
            m.loop_reason("b.a.orders", "B").is_some(),
            "B is on the chain"
        );
        assert_eq!(m.loop_reason("b.a.orders", "D"), None, "D is not");
        assert_eq!(m.loop_reason("b.local", "A"), None);
        assert_eq!(m.loop_reason("orders", "A"), None, "a normal topic");
        let why = m.loop_reason("young", "A").unwrap();
        assert!(why.contains("does not know yet"), "{why}");

        // The chain a mirror here gets: the source's chain plus the source.
        assert_eq!(
            m.chain_of("b.a.orders", "C"),
            Some(vec!["A".into(), "B".into(), "C".into()])
        );
        assert_eq!(m.chain_of("orders", "C"), Some(vec!["C".into()]));
        assert_eq!(m.chain_of("young", "C"), None, "not known yet");
    }

    #[test]
    fn an_older_source_falls_back_to_one_hop() {
        let m = mirrors(&[("a.orders", "L", Some("A")), ("young", "new", None)]);
        assert!(m.loop_reason("a.orders", "A").is_some());
        // A two-hop ring through an older build is not visible: only its last hop.
        assert_eq!(m.loop_reason("a.orders", "Z"), None);
        assert_eq!(
            m.chain_of("a.orders", "S"),
            Some(vec!["A".into(), "S".into()])
        );
        assert_eq!(m.chain_of("young", "S"), None);
    }

    #[test]
    fn the_loop_rule() {
        let m = mirrors(&[
            ("a.orders", "L", Some("A")),
            ("c.x", "from-c", Some("C")),
            ("young", "new", None),
        ]);
        let why = m.loop_reason("a.orders", "A").unwrap();
        assert!(
            why.contains("mirror of this cluster ('A')") && why.contains("'L'"),
            "{why}"
        );
        assert!(!why.contains('\n'));
        assert_eq!(m.loop_reason("a.orders", "B"), None, "B is not the origin");
        assert_eq!(
            m.loop_reason("c.x", "A"),
            None,
            "a mirror of another cluster"
        );
        assert_eq!(m.loop_reason("payments", "A"), None, "a normal topic");
        assert!(
            m.loop_reason("young", "A").is_some(),
            "unknown origin is a loop"
        );
    }

    #[test]
    fn peer_task_text_starts_with_the_state() {
        let ok = Peer::Paired {
            state: "ACTIVE".into(),
        };
        assert!(ok.task_text().unwrap().starts_with("ACTIVE: "));
        let e = Peer::Pending("x".into()).task_text().unwrap_err();
        assert!(e.starts_with("REMOTE_LINK_NOT_FOUND_ERROR: "), "{e}");
        let e = Peer::Misconfigured("y".into()).task_text().unwrap_err();
        assert!(e.starts_with("MISCONFIGURATION_ERROR: "), "{e}");
    }
}
