//! Prometheus text exposition of every link's health and progress.
//!
//! Names follow Prometheus conventions (`_total` counters, base units); labels are the link,
//! mirror topic and partition. Values come from the same state DescribeMirrors and
//! ListClusterLinks report, so the endpoint and the CLIs never disagree.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::manager::LinkManager;

/// Escapes a label value (backslash, quote, newline).
pub(crate) fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl LinkManager {
    /// Appends the link metrics to `out`.
    pub fn render_metrics(&self, out: &mut String) {
        let links = self.running();
        let mut by_state: BTreeMap<&'static str, u64> = BTreeMap::new();
        for l in &links {
            *by_state.entry(l.status().state.name()).or_default() += 1;
        }
        family(
            out,
            "strait_cluster_links",
            "gauge",
            "Cluster links by link state.",
        );
        for state in ["ACTIVE", "PAUSED", "UNAVAILABLE", "FAILED"] {
            let _ = writeln!(
                out,
                "strait_cluster_links{{state=\"{state}\"}} {}",
                by_state.get(state).copied().unwrap_or(0)
            );
        }
        family(
            out,
            "strait_cluster_link_info",
            "gauge",
            "One per link, labelled with its state and sync status.",
        );
        for l in &links {
            let (sync, _, _) = l.sync_status();
            let _ = writeln!(
                out,
                "strait_cluster_link_info{{link=\"{}\",state=\"{}\",sync_status=\"{}\"}} 1",
                esc(l.name()),
                l.status().state.name(),
                sync
            );
        }
        family(
            out,
            "strait_mirror_partitions",
            "gauge",
            "Mirror partitions by link and mirror state.",
        );
        let mirrors = self.local().mirror_topics();
        let mut partitions: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
        for m in &mirrors {
            *partitions
                .entry((m.mirror.link_name.clone(), m.mirror.state.name()))
                .or_default() += i64::from(m.partitions);
        }
        for ((link, state), n) in &partitions {
            let _ = writeln!(
                out,
                "strait_mirror_partitions{{link=\"{}\",state=\"{state}\"}} {n}",
                esc(link)
            );
        }

        let per_partition: [(&str, &str, &str); 8] = [
            ("strait_mirror_partition_lag_offsets", "gauge", "Source high watermark minus the mirror's log end offset."),
            ("strait_mirror_partition_lag_ms", "gauge", "Age of the oldest source record not yet mirrored, from source timestamps, at the last fetch."),
            ("strait_mirror_bytes_fetched_total", "counter", "Record bytes received from the source."),
            ("strait_mirror_bytes_written_total", "counter", "Record bytes appended to the mirror (byte-for-byte)."),
            ("strait_mirror_records_written_total", "counter", "Records appended to the mirror."),
            ("strait_mirror_batches_written_total", "counter", "Record batches appended to the mirror."),
            ("strait_mirror_fetch_errors_total", "counter", "Failed fetch attempts and source partition errors (bounded by the per-partition back-off); a partition the link cannot fetch at all (no source leader, source topic missing) counts once per episode."),
            ("strait_mirror_offsets_lost_total", "counter", "Offsets the source deleted before they were mirrored."),
        ];
        let mut rows: Vec<(String, String, i32, [i64; 8])> = Vec::new();
        for l in &links {
            for m in mirrors
                .iter()
                .filter(|m| m.mirror.link_name == l.name() && m.mirror.state.is_mirroring())
            {
                for p in 0..m.partitions {
                    let s = l.stats(&m.topic, p);
                    let leo = self
                        .local()
                        .partition_position(&m.topic, p)
                        .map(|pos| pos.log_end_offset)
                        .unwrap_or(0);
                    let lag = if s.last_fetch_ms.is_some() {
                        (s.source_high_watermark - leo).max(0)
                    } else {
                        0
                    };
                    rows.push((
                        l.name().to_string(),
                        m.topic.clone(),
                        p,
                        [
                            lag,
                            s.lag_ms,
                            s.bytes_fetched as i64,
                            s.bytes_mirrored as i64,
                            s.records_mirrored as i64,
                            s.batches_mirrored as i64,
                            s.fetch_errors as i64,
                            s.offsets_lost,
                        ],
                    ));
                }
            }
        }
        for (i, (name, kind, help)) in per_partition.iter().enumerate() {
            family(out, name, kind, help);
            for (link, topic, p, values) in &rows {
                let _ = writeln!(
                    out,
                    "{name}{{link=\"{}\",topic=\"{}\",partition=\"{p}\"}} {}",
                    esc(link),
                    esc(topic),
                    values[i]
                );
            }
        }

        family(
            out,
            "strait_mirror_partition_errors",
            "gauge",
            "1 for each mirror partition in error (stuck: retried and not progressing, or the cause of a FAILED mirror), labelled with its reason code.",
        );
        let mut in_error: Vec<(String, usize)> = Vec::new();
        for l in &links {
            let stuck = l.partitions_in_error();
            for (topic, p, reason) in &stuck {
                let _ = writeln!(
                    out,
                    "strait_mirror_partition_errors{{link=\"{}\",topic=\"{}\",partition=\"{p}\",reason=\"{}\"}} 1",
                    esc(l.name()),
                    esc(topic),
                    reason.name()
                );
            }
            in_error.push((l.name().to_string(), stuck.len()));
        }
        family(
            out,
            "strait_cluster_link_partitions_in_error",
            "gauge",
            "Mirror partitions of the link that are in error.",
        );
        for (link, n) in &in_error {
            let _ = writeln!(
                out,
                "strait_cluster_link_partitions_in_error{{link=\"{}\"}} {n}",
                esc(link)
            );
        }

        family(
            out,
            "strait_link_task_runs_total",
            "counter",
            "Runs of each periodic link task (topic_config_sync, consumer_offset_sync, acl_sync).",
        );
        let tasks: Vec<_> = links
            .iter()
            .flat_map(|l| {
                l.tasks()
                    .into_iter()
                    .map(move |(n, t)| (l.name().to_string(), n, t))
            })
            .collect();
        for (link, name, t) in &tasks {
            let _ = writeln!(
                out,
                "strait_link_task_runs_total{{link=\"{}\",task=\"{name}\"}} {}",
                esc(link),
                t.runs
            );
        }
        family(
            out,
            "strait_link_task_errors_total",
            "counter",
            "Failed runs of each periodic link task.",
        );
        for (link, name, t) in &tasks {
            let _ = writeln!(
                out,
                "strait_link_task_errors_total{{link=\"{}\",task=\"{name}\"}} {}",
                esc(link),
                t.errors
            );
        }
        family(out, "strait_link_task_changes_total", "counter", "Items changed by link tasks: configs updated, offsets committed, ACLs created or deleted.");
        for (link, name, t) in &tasks {
            let _ = writeln!(
                out,
                "strait_link_task_changes_total{{link=\"{}\",task=\"{name}\"}} {}",
                esc(link),
                t.changed_total
            );
        }
        crate::shadow::render_metrics(&links, out);
        self.tunnels().render_metrics(out);
    }
}
