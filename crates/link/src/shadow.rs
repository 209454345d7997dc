//! Shadowed mirrors: a local normal topic that already carries the name a link's topic
//! discovery would give a new mirror.
//!
//! How it happens: the destination has `auto.create.topics.enable=true` (Kafka's default,
//! and Strait's) and a consumer or producer asks for `orders` before the link has mirrored
//! it; the broker creates a normal, writable `orders`, and the link can no longer create
//! its mirror under that name. Confluent's link reports this as a link task error
//! (`TOPIC_EXISTS_ERROR`); so does Strait, instead of skipping the topic silently:
//!
//! * topic discovery never mirrors into (or converts) the local topic: its data was written
//!   by local clients at local offsets, and mirroring needs the source's offsets;
//! * every discovery pass recomputes the link's list of shadowed topics, shown by
//!   `cluster-links --describe` as the `auto_create_mirror` task in error
//!   (`TOPIC_EXISTS_ERROR: shadowed topics: orders (local non-mirror topic exists) ...`),
//!   logged once as a warning when a topic starts being shadowed, and exported as the
//!   `strait_cluster_link_shadowed_topics` gauge;
//! * `mirrors --create` and `mirrors --describe` of that name say which link it shadows.
//!
//! The operator resolves it by deleting the local topic (after moving whatever its clients
//! wrote): the next discovery pass creates the mirror and the entry disappears.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use crate::shared::{lock, LinkShared};

/// The link task that reports shadowed topics (Confluent's `AutoCreateMirror` task).
pub const TASK: &str = "auto_create_mirror";

/// Is the existing local topic `mirror_name` a normal topic, i.e. not a mirror (of any
/// link, in any state: a promoted mirror under its own name is the expected outcome, not a
/// shadow)?
pub(crate) fn is_shadowing(shared: &LinkShared, mirror_name: &str) -> bool {
    shared.local.topic_exists(mirror_name)
        && !shared
            .local
            .mirror_topics()
            .iter()
            .any(|m| m.topic == mirror_name)
}

/// The one-line report for a set of shadowed topics (mirror name -> source topic).
pub fn describe(found: &BTreeMap<String, String>) -> String {
    let list: Vec<String> = found
        .iter()
        .map(|(mirror, source)| {
            if mirror == source {
                format!("{mirror} (local non-mirror topic exists)")
            } else {
                format!("{mirror} (local non-mirror topic exists; source topic {source})")
            }
        })
        .collect();
    format!(
        "TOPIC_EXISTS_ERROR: shadowed topics: {}; delete the local topic to let the link mirror it",
        list.join(", ")
    )
}

/// Records what one discovery pass found (replacing the previous pass's list), logging
/// each newly shadowed topic once and keeping the link task's state in step.
pub(crate) fn record(shared: &LinkShared, found: BTreeMap<String, String>) {
    let previous = std::mem::replace(&mut *lock(&shared.shadowed), found.clone());
    for (mirror, source) in &found {
        if !previous.contains_key(mirror) {
            tracing::warn!(
                link = %shared.name(),
                topic = %mirror,
                source_topic = %source,
                "a local normal topic has the name of a mirror this link would create (auto-created by a client before the link mirrored it?); it is not mirrored until it is deleted"
            );
        }
    }
    if !found.is_empty() {
        shared.record_task(TASK, Err(describe(&found)));
    } else if !previous.is_empty() {
        shared.record_task(TASK, Ok(0));
    }
}

/// The link (and source topic) whose future mirror the local topic `topic` shadows.
pub fn shadowed_by(links: &[Arc<LinkShared>], topic: &str) -> Option<(String, String)> {
    links.iter().find_map(|l| {
        lock(&l.shadowed)
            .get(topic)
            .map(|source| (l.name().to_string(), source.clone()))
    })
}

/// Appends the `strait_cluster_link_shadowed_topics` gauge.
pub(crate) fn render_metrics(links: &[Arc<LinkShared>], out: &mut String) {
    crate::metrics::family(
        out,
        "strait_cluster_link_shadowed_topics",
        "gauge",
        "Local normal topics under the name of a mirror the link would create (not mirrored until deleted).",
    );
    for l in links {
        let n = lock(&l.shadowed).len();
        let name = crate::metrics::esc(l.name());
        let _ = writeln!(
            out,
            "strait_cluster_link_shadowed_topics{{link=\"{name}\"}} {n}"
        );
    }
    // Its sibling: what auto-create skipped because mirroring it would loop.
    crate::loops::render_metrics(links, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_each_topic() {
        let found: BTreeMap<String, String> = [
            ("orders".to_string(), "orders".to_string()),
            ("dr.pay".to_string(), "pay".to_string()),
        ]
        .into();
        let d = describe(&found);
        assert!(
            d.starts_with("TOPIC_EXISTS_ERROR: shadowed topics: "),
            "{d}"
        );
        assert!(d.contains("orders (local non-mirror topic exists)"), "{d}");
        assert!(
            d.contains("dr.pay (local non-mirror topic exists; source topic pay)"),
            "{d}"
        );
    }
}
