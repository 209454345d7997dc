//! Link and mirror helpers of the in-process link tests: creating links and mirrors through
//! the private admin API, link tasks, AlterMirrors and ReverseMirrors of one topic, and
//! deadline-bounded waits on link tasks and on mirror state.

use strait_client::Client;
use strait_protocol::admin::*;
use strait_protocol::mirror_admin::{ReverseMirrorsRequest, ReverseMirrorsResponse, ReverseResult};

use super::{admin, link_listing, link_request, mirror, wait_for};

/// CreateClusterLinks of one link: `Err((error code, message))` when refused.
pub async fn try_create_link<K: AsRef<str>, V: AsRef<str>>(
    c: &Client,
    name: &str,
    configs: &[(K, V)],
) -> Result<(), (i16, String)> {
    let configs: Vec<(&str, &str)> = configs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    let r: CreateClusterLinksResponse = admin(c, &link_request(name, &configs)).await;
    let r = &r.results[0];
    match r.error_code {
        0 => Ok(()),
        code => Err((code, r.error_message.clone().unwrap_or_default())),
    }
}

/// CreateMirrorTopics of `mirror_topic` over `link` (source topic of the same name).
pub async fn create_mirror(c: &Client, mirror_topic: &str, link: &str) -> ItemResult {
    let r: CreateMirrorTopicsResponse = admin(
        c,
        &CreateMirrorTopicsRequest {
            mirrors: vec![NewMirrorTopic {
                mirror_topic: mirror_topic.into(),
                link_name: link.into(),
                source_topic: None,
                configs: vec![],
            }],
            validate_only: false,
        },
    )
    .await;
    r.results.into_iter().next().unwrap()
}

/// AlterMirrors `op` (promote, failover, pause, resume) of one mirror topic.
pub async fn alter_mirror(c: &Client, op: MirrorOp, topic: &str) -> AlterMirrorsResponse {
    admin(
        c,
        &AlterMirrorsRequest {
            op,
            topics: Some(vec![topic.into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await
}

/// Reverse-and-start of one mirror topic over `link` (the peer's link found by the broker),
/// asserting the request and the topic succeeded; the topic's result.
pub async fn reverse_ok(c: &Client, topic: &str, link: &str) -> ReverseResult {
    let r: ReverseMirrorsResponse = admin(
        c,
        &ReverseMirrorsRequest {
            topics: vec![topic.into()],
            link_name: link.into(),
            timeout_ms: 30_000,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let x = r.results.into_iter().next().unwrap();
    assert_eq!(x.error_code, 0, "{x:?}");
    x
}

/// The link task `name` of a listing (`loop_prevention`, `bidirectional_peer`, ...).
pub fn task(l: &ClusterLinkListing, name: &str) -> Option<LinkTask> {
    l.tasks.iter().find(|t| t.name == name).cloned()
}

/// Waits until task `name` of `link` satisfies `ok`.
pub async fn wait_task(
    c: &Client,
    link: &str,
    name: &str,
    what: &str,
    ok: impl Fn(&LinkTask) -> bool,
) {
    wait_for(what, || {
        let c = c.clone();
        let ok = &ok;
        async move { task(&link_listing(&c, link).await, name).is_some_and(|t| ok(&t)) }
    })
    .await;
}

/// Waits for `rounds` more discovery passes of `link` (each runs its `loop_prevention`
/// task once).
pub async fn wait_rounds(c: &Client, link: &str, rounds: i64) {
    let now = task(&link_listing(c, link).await, "loop_prevention").map_or(0, |t| t.runs);
    wait_task(c, link, "loop_prevention", "discovery rounds", |t| {
        t.runs >= now + rounds
    })
    .await;
}

/// Waits until mirror `topic`'s description satisfies `ok` (`what` names the wait) and
/// returns that description.
pub async fn wait_mirror(
    c: &Client,
    topic: &str,
    what: &str,
    ok: impl Fn(&MirrorDescription) -> bool,
) -> MirrorDescription {
    wait_for(what, || {
        let c = c.clone();
        let ok = &ok;
        async move { mirror(&c, topic).await.is_some_and(|m| ok(&m)) }
    })
    .await;
    mirror(c, topic).await.unwrap()
}

/// Waits until every partition of mirror `topic` has `end` as its log end offset.
pub async fn wait_mirror_end(c: &Client, topic: &str, end: i64) -> MirrorDescription {
    wait_mirror(c, topic, &format!("{topic} to reach {end}"), |m| {
        m.partitions.iter().all(|p| p.log_end_offset == end)
    })
    .await
}
