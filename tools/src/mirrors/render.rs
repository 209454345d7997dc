//! Rendering of `mirrors` results: Confluent's text lines and the JSON shapes, for create,
//! list, describe and the alter operations (promote / failover / pause / resume).

use serde::Serialize;
use strait_protocol::admin::{
    ItemResult, MirrorDescription, MirrorOp, MirrorPartition, PartitionCount,
};

use super::max_lag;
use crate::error::one_line;
use crate::output::{self, item_error, num_or_dash, ItemJson, OutputFormat, Report};

pub(super) fn op_name(op: MirrorOp) -> &'static str {
    match op {
        MirrorOp::Promote => "promote",
        MirrorOp::Failover => "failover",
        MirrorOp::Pause => "pause",
        MirrorOp::Resume => "resume",
    }
}

#[derive(Serialize)]
struct ResultsJson {
    operation: &'static str,
    validate_only: bool,
    results: Vec<ItemJson>,
}

#[derive(Serialize)]
pub(super) struct StopJson {
    pub operation: &'static str,
    pub validate_only: bool,
    pub results: Vec<ItemJson>,
    /// The last state seen by `--wait`.
    pub mirrors: Vec<MirrorJson>,
}

pub fn render_create(
    topic: &str,
    validate_only: bool,
    results: &[ItemResult],
    format: OutputFormat,
) -> Report {
    let mut report = Report::default();
    let mut lines = String::new();
    for r in results {
        match item_error(
            "mirror topic",
            &r.name,
            r.error_code,
            r.error_message.as_deref(),
        ) {
            Some(e) => report.errors.push(e),
            None if validate_only => lines.push_str(&format!(
                "Mirror topic '{}' validation successfully completed.\n",
                r.name
            )),
            None => lines.push_str(&format!("Created topic {}.\n", r.name)),
        }
    }
    if !results.iter().any(|r| r.name == topic) {
        report.errors.push(format!(
            "the broker returned no result for mirror topic '{topic}'"
        ));
    }
    report.out = match format {
        OutputFormat::Table => lines,
        OutputFormat::Json => output::json(&ResultsJson {
            operation: "create",
            validate_only,
            results: results.iter().map(ItemJson::from_result).collect(),
        }),
    };
    report
}

/// Per-topic results of promote / failover / pause / resume, in Confluent's words.
pub fn render_alter(
    op: MirrorOp,
    validate_only: bool,
    results: &[ItemResult],
    format: OutputFormat,
) -> Report {
    let (verb, hint) = match op {
        MirrorOp::Promote | MirrorOp::Failover => (
            "stopping",
            "Please use the describe command with the --pending-stopped-only option to monitor progress.",
        ),
        MirrorOp::Pause => ("pausing", "Please use the describe command to monitor progress."),
        MirrorOp::Resume => ("resuming", "Please use the describe command to monitor progress."),
    };
    let mut report = Report::default();
    let mut lines = String::new();
    for r in results {
        match item_error(
            "mirror topic",
            &r.name,
            r.error_code,
            r.error_message.as_deref(),
        ) {
            Some(e) => report.errors.push(e),
            None if validate_only => lines.push_str(&format!(
                "Validation of {verb} topic {}'s mirror successfully completed.\n",
                r.name
            )),
            None => {
                lines.push_str(&format!(
                    "Request for {verb} topic {}'s mirror was successfully scheduled. {hint}\n",
                    r.name
                ));
                if !r.aborted_transactions.is_empty() {
                    lines.push_str(&aborted_line(&r.name, &r.aborted_transactions));
                }
            }
        }
    }
    if results.is_empty() {
        lines.push_str("No mirror topics matched.\n");
    }
    report.out = match format {
        OutputFormat::Table => lines,
        OutputFormat::Json => output::json(&ResultsJson {
            operation: op_name(op),
            validate_only,
            results: results.iter().map(ItemJson::from_result).collect(),
        }),
    };
    report
}

/// "Aborted N open mirrored transaction(s) of topic t (partition 0: 1, partition 1: 0)."
pub(super) fn aborted_line(topic: &str, counts: &[PartitionCount]) -> String {
    let total: i64 = counts.iter().map(|c| c.count).sum();
    let per: Vec<String> = counts
        .iter()
        .map(|c| format!("partition {}: {}", c.partition, c.count))
        .collect();
    format!(
        "Aborted {total} open mirrored transaction(s) of topic {topic} ({}).\n",
        per.join(", ")
    )
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PartitionJson {
    pub partition: i32,
    pub state: String,
    pub local_log_end_offset: i64,
    /// -1 before the first fetch.
    pub last_fetch_source_high_watermark: i64,
    pub lag: i64,
    /// -1 when unknown.
    pub lag_ms: i64,
    /// -1 before the first fetch.
    pub time_since_last_fetch_ms: i64,
    pub error: Option<String>,
    /// Machine-readable reason of the partition's current run of failures (absent while
    /// it progresses, or from a broker that does not report it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Wall-clock ms of that run's first failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_since_ms: Option<i64>,
    /// Open mirrored transactions the cutover aborted (absent before it committed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted_transactions: Option<i64>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct MirrorJson {
    pub mirror_topic: String,
    pub link_name: String,
    pub source_topic: String,
    pub state: String,
    pub reason: Option<String>,
    pub reason_message: Option<String>,
    pub state_time_ms: i64,
    pub num_partitions: i32,
    pub max_lag: i64,
    pub max_lag_ms: i64,
    /// The clusters the mirror's data passed through, oldest first (absent when the
    /// broker does not know it yet or does not report it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_cluster_ids: Option<Vec<String>>,
    pub partitions: Vec<PartitionJson>,
}

impl MirrorJson {
    pub fn from_description(m: &MirrorDescription) -> Self {
        let (max_lag, max_lag_ms) = max_lag(m);
        MirrorJson {
            mirror_topic: m.mirror_topic.clone(),
            link_name: m.link_name.clone(),
            source_topic: m.source_topic.clone(),
            state: m.state.clone(),
            reason: m.reason.clone(),
            reason_message: m.reason_message.clone(),
            state_time_ms: m.state_time_ms,
            num_partitions: m.num_partitions,
            max_lag,
            max_lag_ms,
            origin_cluster_ids: m.origin_cluster_ids.clone(),
            partitions: m
                .partitions
                .iter()
                .map(|p| PartitionJson {
                    partition: p.partition,
                    state: p.state.clone(),
                    local_log_end_offset: p.log_end_offset,
                    last_fetch_source_high_watermark: p.source_high_watermark,
                    lag: p.lag,
                    lag_ms: p.lag_ms,
                    time_since_last_fetch_ms: p.time_since_last_fetch_ms,
                    error: p.error.clone(),
                    error_reason: p.error_reason.clone(),
                    error_since_ms: p.error_since_ms,
                    aborted_transactions: p.aborted_transactions,
                })
                .collect(),
        }
    }
}

/// A partition's error: "REASON: message" (the reason alone, the message alone, or "-").
fn error_cell(p: &MirrorPartition) -> String {
    match (&p.error_reason, &p.error) {
        (None, None) => "-".to_string(),
        (Some(r), None) => r.clone(),
        (None, Some(msg)) => one_line(msg),
        (Some(r), Some(msg)) => format!("{r}: {}", one_line(msg)),
    }
}

fn reason_cell(m: &MirrorDescription) -> String {
    match (&m.reason, &m.reason_message) {
        (None, None) => "-".to_string(),
        (Some(r), None) => r.clone(),
        (None, Some(msg)) => one_line(msg),
        (Some(r), Some(msg)) => format!("{r}: {}", one_line(msg)),
    }
}

pub fn render_list(mirrors: &[MirrorDescription], format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        let list: Vec<MirrorJson> = mirrors
            .iter()
            .map(|m| {
                let mut j = MirrorJson::from_description(m);
                j.partitions.clear();
                j
            })
            .collect();
        return output::json(&list);
    }
    if mirrors.is_empty() {
        return "No mirror topics found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = mirrors
        .iter()
        .map(|m| {
            vec![
                m.mirror_topic.clone(),
                m.link_name.clone(),
                m.source_topic.clone(),
                m.state.clone(),
                m.num_partitions.to_string(),
                reason_cell(m),
            ]
        })
        .collect();
    output::table(
        &[
            "Topic",
            "LinkName",
            "SourceTopic",
            "State",
            "Partitions",
            "Reason",
        ],
        &rows,
    )
}

pub fn render_describe(mirrors: &[MirrorDescription], format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        let list: Vec<MirrorJson> = mirrors.iter().map(MirrorJson::from_description).collect();
        return output::json(&list);
    }
    if mirrors.is_empty() {
        return "No mirror topics found.\n".to_string();
    }
    let mut out = String::new();
    for (i, m) in mirrors.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "Topic: {}  LinkName: {}  SourceTopic: {}  State: {}  Partitions: {}  StateTimeMs: {}",
            m.mirror_topic,
            m.link_name,
            m.source_topic,
            m.state,
            m.num_partitions,
            num_or_dash(m.state_time_ms)
        ));
        if m.reason.is_some() || m.reason_message.is_some() {
            out.push_str(&format!("  Reason: {}", reason_cell(m)));
        }
        out.push('\n');
        if let Some(chain) = m.origin_cluster_ids.as_ref().filter(|c| !c.is_empty()) {
            out.push_str(&format!("  OriginClusters: {}\n", chain.join(" -> ")));
        }
        // The column appears once a cutover reported counts (old brokers never do).
        let aborted = m
            .partitions
            .iter()
            .any(|p| p.aborted_transactions.is_some());
        let rows: Vec<Vec<String>> = m
            .partitions
            .iter()
            .map(|p| {
                let mut row = vec![
                    p.partition.to_string(),
                    p.state.clone(),
                    num_or_dash(p.log_end_offset),
                    num_or_dash(p.source_high_watermark),
                    num_or_dash(p.lag),
                    num_or_dash(p.lag_ms),
                    num_or_dash(p.time_since_last_fetch_ms),
                    error_cell(p),
                ];
                if aborted {
                    row.push(p.aborted_transactions.map_or("-".into(), |n| n.to_string()));
                }
                row
            })
            .collect();
        let mut headers = vec![
            "Partition",
            "State",
            "LocalLogEndOffset",
            "LastFetchSourceHighWatermark",
            "Lag",
            "LagMs",
            "TimeSinceLastFetchMs",
            "Error",
        ];
        if aborted {
            headers.push("AbortedTransactions");
        }
        let table = output::table(&headers, &rows);
        for line in table.lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(chain: Option<Vec<String>>) -> MirrorDescription {
        MirrorDescription {
            mirror_topic: "b.a.orders".into(),
            link_name: "bc".into(),
            source_topic: "a.orders".into(),
            state: "ACTIVE".into(),
            num_partitions: 0,
            origin_cluster_ids: chain,
            ..Default::default()
        }
    }

    #[test]
    fn origin_chains_are_shown() {
        let m = described(Some(vec!["A".into(), "B".into()]));
        let text = render_describe(std::slice::from_ref(&m), OutputFormat::Table);
        assert!(text.contains("\n  OriginClusters: A -> B\n"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&render_describe(&[m], OutputFormat::Json)).unwrap();
        assert_eq!(json[0]["origin_cluster_ids"], serde_json::json!(["A", "B"]));

        // Nothing when empty (a promoted topic) or unknown (an older broker).
        for chain in [Some(Vec::new()), None] {
            let m = described(chain.clone());
            let text = render_describe(std::slice::from_ref(&m), OutputFormat::Table);
            assert!(!text.contains("OriginClusters"), "{text}");
            let json: serde_json::Value =
                serde_json::from_str(&render_describe(&[m], OutputFormat::Json)).unwrap();
            assert_eq!(json[0].get("origin_cluster_ids").is_some(), chain.is_some());
        }
    }
}
