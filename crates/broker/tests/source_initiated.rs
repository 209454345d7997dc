#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Source-initiated cluster links, in process: the destination's link is
//! `connection.mode=INBOUND` (no bootstrap: it cannot reach the source at all) and the
//! source's same-named link is `link.mode=SOURCE` pointing at the destination. The INBOUND
//! link's client dials only through its tunnel pool (no TCP), so mirroring works only
//! through the tunnels the source opened.

mod support;

use std::time::Duration;

use strait_broker::RunningBroker;
use strait_client::Client;
use strait_protocol::admin::*;
use strait_protocol::link_admin::{LinkTunnelRequest, LinkTunnelResponse};
use support::*;

async fn source_broker(dir: &std::path::Path) -> (RunningBroker, Client) {
    let b = start(dir).await;
    let c = client(&b).await;
    (b, c)
}

fn source_link(dest: &RunningBroker) -> Vec<(&'static str, String)> {
    vec![
        ("link.mode", "SOURCE".into()),
        ("connection.mode", "OUTBOUND".into()),
        ("bootstrap.servers", addr(dest)),
        ("retry.backoff.ms", "20".into()),
        ("retry.backoff.max.ms", "200".into()),
    ]
}

/// CreateClusterLinks: the refusal's message, `None` when created.
async fn create(c: &Client, name: &str, configs: &[(&str, String)]) -> Option<String> {
    try_create_link(c, name, configs)
        .await
        .err()
        .map(|(_, m)| m)
}

/// A LinkTunnel request for `link` as a source broker sends it (node 0 at `a:1`).
async fn link_tunnel(c: &Client, link: &str) -> LinkTunnelResponse {
    let req = LinkTunnelRequest {
        link_name: link.into(),
        source_cluster_id: "x".into(),
        node_id: 0,
        advertised: "a:1".into(),
    };
    admin(c, &req).await
}

fn tunnel_task(l: &ClusterLinkListing) -> Option<LinkTask> {
    task(l, "link_tunnel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_through_tunnels_the_source_opens() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (source, src) = source_broker(sd.path()).await;
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;

    // Bad input first: SOURCE without OUTBOUND, and INBOUND with a bootstrap.
    let e = create(
        &src,
        "push",
        &[
            ("link.mode", "SOURCE".into()),
            ("connection.mode", "INBOUND".into()),
        ],
    )
    .await
    .unwrap();
    assert!(e.contains("needs connection.mode=OUTBOUND"), "{e}");
    let e = create(
        &dst,
        "push",
        &[
            ("connection.mode", "INBOUND".into()),
            ("bootstrap.servers", addr(&source)),
        ],
    )
    .await
    .unwrap();
    assert!(e.contains("bootstrap.servers") && !e.contains('\n'), "{e}");

    // The source link before the destination's: its tunnels are refused, by name.
    assert_eq!(create(&src, "push", &source_link(&dest)).await, None);
    wait_for("the refusal shown on the source link", || async {
        tunnel_task(&link_listing(&src, "push").await)
            .and_then(|t| t.error)
            .is_some_and(|e| e.contains("no cluster link 'push' with connection.mode=INBOUND"))
    })
    .await;
    let l = link_listing(&src, "push").await;
    assert_eq!(
        (l.state.as_str(), l.error.as_deref()),
        ("UNAVAILABLE", Some("TUNNEL_REFUSED")),
        "{l:?}"
    );
    // A SOURCE link carries no mirrors.
    let r = create_mirror(&src, "orders", "push").await;
    assert_ne!(r.error_code, 0);
    let msg = r.error_message.unwrap();
    assert!(
        msg.contains("link.mode=SOURCE") && !msg.contains('\n'),
        "{msg}"
    );

    assert_eq!(
        create(
            &dst,
            "push",
            &[
                ("connection.mode", "INBOUND".into()),
                ("metadata.max.age.ms", "500".into()),
                ("availability.check.ms", "300".into()),
                (
                    "availability.check.consecutive.failure.threshold",
                    "2".into()
                ),
                ("socket.connection.setup.timeout.ms", "500".into()),
            ],
        )
        .await,
        None
    );

    new_topic(&src, "orders", 2).await;
    for p in 0..2 {
        src.produce_raw("orders", p, batch("a", 5), -1)
            .await
            .unwrap();
    }
    let r = create_mirror(&dst, "orders", "push").await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    wait_mirror(&dst, "orders", "mirror caught up", |m| {
        m.state == "ACTIVE" && m.partitions.iter().all(|p| p.log_end_offset == 5)
    })
    .await;
    assert_identical(&src, &dst, "orders", 2).await;
    let l = link_listing(&src, "push").await;
    assert_eq!((l.state.as_str(), l.error.as_deref()), ("ACTIVE", None));
    let t = tunnel_task(&l).unwrap();
    assert_eq!(t.state, "ACTIVE", "{t:?}");
    assert!(t.error.unwrap().contains("relaying"));
    let t = tunnel_task(&link_listing(&dst, "push").await).unwrap();
    assert_eq!(t.state, "ACTIVE", "{t:?}");
    assert!(t.error.unwrap().contains("claimed so far"));
    let mut metrics = String::new();
    dest.broker.links().unwrap().render_metrics(&mut metrics);
    assert!(
        metrics
            .contains("strait_link_tunnels{link=\"push\",side=\"destination\",state=\"parked\"}"),
        "{metrics}"
    );

    // The destination restarts (same port): the source re-dials and mirroring resumes.
    let port = dest.listeners[0].port;
    drop(dst);
    dest.shutdown();
    let dest = start_with(
        dd.path(),
        &[format!("listeners=PLAINTEXT://127.0.0.1:{port}")],
    )
    .await;
    let dst = client(&dest).await;
    src.produce_raw("orders", 0, batch("b", 3), -1)
        .await
        .unwrap();
    wait_mirror(
        &dst,
        "orders",
        "mirror resumed after the destination restarted",
        |m| m.partitions.iter().any(|p| p.log_end_offset == 8),
    )
    .await;
    assert_identical(&src, &dst, "orders", 2).await;

    // The source link deleted: no more tunnels, the mirror goes SOURCE_UNAVAILABLE.
    let r: DeleteClusterLinksResponse = admin(
        &src,
        &DeleteClusterLinksRequest {
            names: vec!["push".into()],
            validate_only: false,
            force: false,
        },
    )
    .await;
    assert_eq!(r.results[0].error_code, 0);
    wait_mirror(&dst, "orders", "mirror SOURCE_UNAVAILABLE", |m| {
        m.state == "SOURCE_UNAVAILABLE"
    })
    .await;
    tokio::time::timeout(Duration::from_secs(5), async {
        source.shutdown();
        dest.shutdown();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_tunnel_for_an_unknown_link_is_refused() {
    let dd = tempfile::tempdir().unwrap();
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    let answer = link_tunnel(&dst, "nope").await;
    assert_eq!(
        answer.error_code,
        strait_protocol::ErrorCode::ResourceNotFound.code()
    );
    assert!(answer.error_message.unwrap().contains("'nope'"));
    // The connection carries on as an ordinary one.
    dst.refresh_all_metadata().await.unwrap();
    dest.shutdown();
}

fn plain_client(port: u16, user: &str, password: &str) -> strait_client::ClientConfig {
    client_config(&plain_login(&format!("127.0.0.1:{port}"), user, password))
}

/// LinkTunnel needs CLUSTER ALTER on the destination, like creating a link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_tunnel_needs_cluster_alter() {
    let dd = tempfile::tempdir().unwrap();
    let overrides = sasl_acl_overrides(
        "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        &[("alice", "alice-secret")],
    );
    let dest = start_with(dd.path(), &overrides).await;
    let port = dest
        .listeners
        .iter()
        .find(|l| l.name == "SASL_PLAINTEXT")
        .unwrap()
        .port;
    let admin_client = Client::connect(&plain_client(port, "admin", "admin-secret"))
        .await
        .unwrap();
    assert_eq!(
        create(
            &admin_client,
            "push",
            &[("connection.mode", "INBOUND".into())]
        )
        .await,
        None
    );
    let alice = Client::connect(&plain_client(port, "alice", "alice-secret"))
        .await
        .unwrap();
    let answer = link_tunnel(&alice, "push").await;
    assert_eq!(
        answer.error_code,
        strait_protocol::ErrorCode::ClusterAuthorizationFailed.code()
    );
    let msg = answer.error_message.unwrap();
    assert!(
        msg.contains("User:alice") && msg.contains("CLUSTER ALTER"),
        "{msg}"
    );
    // Nothing was parked for the link.
    let t = tunnel_task(&link_listing(&admin_client, "push").await).unwrap();
    assert_eq!(t.state, "PENDING", "{t:?}");
    dest.shutdown();
}
