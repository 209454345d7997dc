//! Rendering of BIDIRECTIONAL links: the link mode and the peer link in describe, list and
//! JSON, from canned listings (what the broker's `bidirectional_peer` task reports).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use strait_protocol::admin::*;
use strait_tools::{cluster_links, OutputFormat};

fn link(name: &str, mode: &str, peer: Option<(&str, &str)>) -> ClusterLinkListing {
    ClusterLinkListing {
        name: name.into(),
        link_id: "id".into(),
        state: "ACTIVE".into(),
        configs: vec![ConfigEntry {
            name: "link.mode".into(),
            value: Some(mode.into()),
            sensitive: false,
        }],
        tasks: peer
            .map(|(state, text)| LinkTask {
                name: "bidirectional_peer".into(),
                state: state.into(),
                error: Some(text.into()),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

#[test]
fn describe_shows_mode_and_peer() {
    let l = link(
        "ab",
        "BIDIRECTIONAL",
        Some((
            "IN_ERROR",
            "REMOTE_LINK_NOT_FOUND_ERROR: the peer cluster has no cluster link 'ab' yet",
        )),
    );
    let out = cluster_links::render_describe(&l, OutputFormat::Table);
    assert!(out.contains("LinkMode:         BIDIRECTIONAL\n"), "{out}");
    assert!(
        out.contains(
            "PeerLink:         REMOTE_LINK_NOT_FOUND_ERROR: the peer cluster has no cluster link 'ab' yet\n"
        ),
        "{out}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&cluster_links::render_describe(&l, OutputFormat::Json)).unwrap();
    assert_eq!(j["link_mode"], "BIDIRECTIONAL");
    assert_eq!(j["peer_link"]["state"], "REMOTE_LINK_NOT_FOUND_ERROR");
    assert_eq!(j["peer_link"]["paired"], false);
}

#[test]
fn list_adds_mode_columns_only_for_bidirectional_links() {
    let plain = link("d", "DESTINATION", None);
    let out = cluster_links::render_list(std::slice::from_ref(&plain), false, OutputFormat::Table);
    assert!(!out.contains("LinkMode"), "{out}");
    let paired = link(
        "ab",
        "BIDIRECTIONAL",
        Some((
            "ACTIVE",
            "ACTIVE: the peer's cluster link of the same name is BIDIRECTIONAL",
        )),
    );
    let out = cluster_links::render_list(&[plain, paired], false, OutputFormat::Table);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0][7..], ["LinkMode", "PeerLink"], "{out}");
    assert_eq!(lines[1][7..], ["DESTINATION", "-"], "{out}");
    assert_eq!(lines[2][7..], ["BIDIRECTIONAL", "ACTIVE"], "{out}");
    let j: serde_json::Value = serde_json::from_str(&cluster_links::render_list(
        &[link("ab", "bidirectional", None)],
        false,
        OutputFormat::Json,
    ))
    .unwrap();
    assert_eq!(j[0]["link_mode"], "BIDIRECTIONAL");
    assert!(j[0].get("peer_link").is_none(), "{j}");
}
