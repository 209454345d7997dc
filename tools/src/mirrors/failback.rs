//! The failback verbs of `mirrors`: `--truncate-and-restore`, `--reverse-and-start` and
//! `--reverse-and-pause` (Confluent's flags), their requests and their output.
//!
//! ```text
//! mirrors --truncate-and-restore --topics t --link l --bootstrap-server x:9092
//! mirrors --reverse-and-start --topics t --link l [--remote-link r] --bootstrap-server x:9092
//! ```
//!
//! The broker does the work (staged, see `strait_link::manager::restore`); the tool
//! prints per topic and partition the offset truncated to and the messages truncated
//! (Confluent's `offset_truncated_to` / `messages_truncated`), the consumer-group offsets
//! clamped and the state each side was left in. Any refused topic is a one-line error and
//! exit code 1.

use clap::Args;
use serde::Serialize;
use strait_protocol::mirror_admin::{
    RestoreMirrorsRequest, RestoreMirrorsResponse, RestoreResult, ReverseMirrorsRequest,
    ReverseMirrorsResponse, ReverseResult,
};

use super::clean_topics;
use crate::connect::{connect, Common};
use crate::error::ToolError;
use crate::output::{self, item_error, response_error, table, OutputFormat, Report};

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub common: Common,
    /// Topics to turn back into mirrors (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', num_args = 1.., required = true, value_name = "TOPICS")]
    pub topics: Vec<String>,
    /// The link whose source took over (the restored mirrors copy from it).
    #[arg(long, visible_alias = "link-name", value_name = "NAME")]
    pub link: String,
    /// Report what would be truncated and clamped, without changing anything.
    #[arg(long, visible_alias = "dry-run")]
    pub validate_only: bool,
    /// How long the broker may take, in milliseconds.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ReverseArgs {
    #[command(flatten)]
    pub restore: RestoreArgs,
    /// The peer's link whose source is this cluster (default: found by cluster id).
    #[arg(long, value_name = "NAME")]
    pub remote_link: Option<String>,
}

fn timeout_ms(ms: u64) -> i32 {
    i32::try_from(ms).unwrap_or(i32::MAX)
}

pub fn restore_request(a: &RestoreArgs) -> Result<RestoreMirrorsRequest, ToolError> {
    let topics = clean_topics(&a.topics)?.unwrap_or_default();
    if a.link.trim().is_empty() {
        return Err(ToolError::usage("--link must not be empty"));
    }
    Ok(RestoreMirrorsRequest {
        topics,
        link_name: a.link.trim().to_string(),
        pause: false,
        validate_only: a.validate_only,
        timeout_ms: timeout_ms(a.timeout_ms),
    })
}

pub fn reverse_request(a: &ReverseArgs, pause: bool) -> Result<ReverseMirrorsRequest, ToolError> {
    let r = restore_request(&a.restore)?;
    if a.remote_link
        .as_deref()
        .is_some_and(|l| l.trim().is_empty())
    {
        return Err(ToolError::usage("--remote-link must not be empty"));
    }
    Ok(ReverseMirrorsRequest {
        topics: r.topics,
        link_name: r.link_name,
        remote_link_name: a.remote_link.as_ref().map(|l| l.trim().to_string()),
        pause_remote: pause,
        validate_only: r.validate_only,
        timeout_ms: r.timeout_ms,
    })
}

pub async fn run_restore(a: RestoreArgs) -> Result<Report, ToolError> {
    let req = restore_request(&a)?;
    let client = connect(&a.common).await?;
    let resp: RestoreMirrorsResponse = client.call(&req).await?;
    client.close();
    Ok(render_restore(&req, &resp, a.common.output))
}

pub async fn run_reverse(a: ReverseArgs, pause: bool) -> Result<Report, ToolError> {
    let req = reverse_request(&a, pause)?;
    let client = connect(&a.restore.common).await?;
    let resp: ReverseMirrorsResponse = client.call(&req).await?;
    client.close();
    Ok(render_reverse(&req, &resp, a.restore.common.output))
}

#[derive(Serialize)]
struct PartitionJson {
    partition: i32,
    offset_truncated_to: i64,
    previous_end_offset: i64,
    messages_truncated: i64,
}

#[derive(Serialize)]
struct ClampJson {
    group: String,
    partition: i32,
    from: i64,
    to: i64,
}

#[derive(Serialize)]
struct RestoreJson {
    mirror_topic_name: String,
    link_name: String,
    error_code: i16,
    error_message: Option<String>,
    mirror_status: String,
    messages_truncated: i64,
    partition_level_truncation_data: Vec<PartitionJson>,
    clamped_consumer_offsets: Vec<ClampJson>,
}

impl RestoreJson {
    fn new(link: &str, r: &RestoreResult) -> Self {
        RestoreJson {
            mirror_topic_name: r.topic.clone(),
            link_name: link.to_string(),
            error_code: r.error_code,
            error_message: r.error_message.clone(),
            mirror_status: r.state.clone(),
            messages_truncated: r.records_truncated(),
            partition_level_truncation_data: r
                .partitions
                .iter()
                .map(|p| PartitionJson {
                    partition: p.partition,
                    offset_truncated_to: p.offset_truncated_to,
                    previous_end_offset: p.previous_end_offset,
                    messages_truncated: p.records_truncated,
                })
                .collect(),
            clamped_consumer_offsets: r
                .clamped_offsets
                .iter()
                .map(|c| ClampJson {
                    group: c.group.clone(),
                    partition: c.partition,
                    from: c.from,
                    to: c.to,
                })
                .collect(),
        }
    }
}

/// The text block of one restored topic (shared by both verbs).
fn restore_text(r: &RestoreResult, link: &str, validate_only: bool, indent: &str) -> String {
    let n = r.records_truncated();
    let mut s = if validate_only {
        format!(
            "{indent}Truncate and restore of mirror topic '{}' over link '{link}' validated: {n} messages would be truncated.\n",
            r.topic
        )
    } else {
        format!(
            "{indent}Truncate and restore of mirror topic '{}' over link '{link}' completed: {n} messages truncated.\n",
            r.topic
        )
    };
    let rows: Vec<Vec<String>> = r
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.offset_truncated_to.to_string(),
                p.previous_end_offset.to_string(),
                p.records_truncated.to_string(),
            ]
        })
        .collect();
    let block = table(
        &[
            "Partition",
            "Offset Truncated To",
            "Previous End Offset",
            "Messages Truncated",
        ],
        &rows,
    );
    for line in block.lines() {
        s.push_str(&format!("{indent}  {line}\n"));
    }
    if r.clamped_offsets.is_empty() {
        s.push_str(&format!(
            "{indent}No consumer group offsets were beyond the truncation point.\n"
        ));
    } else {
        let verb = if validate_only { "would be" } else { "were" };
        s.push_str(&format!(
            "{indent}Consumer group offsets beyond the truncation point {verb} clamped:\n"
        ));
        let rows: Vec<Vec<String>> = r
            .clamped_offsets
            .iter()
            .map(|c| {
                vec![
                    c.group.clone(),
                    c.partition.to_string(),
                    c.from.to_string(),
                    c.to.to_string(),
                ]
            })
            .collect();
        for line in table(&["Group", "Partition", "From", "To"], &rows).lines() {
            s.push_str(&format!("{indent}  {line}\n"));
        }
    }
    if !validate_only {
        s.push_str(&format!(
            "{indent}Mirror topic '{}' is now {}, mirroring from link '{link}'.\n",
            r.topic, r.state
        ));
    }
    s
}

pub fn render_restore(
    req: &RestoreMirrorsRequest,
    resp: &RestoreMirrorsResponse,
    format: OutputFormat,
) -> Report {
    let mut report = Report::default();
    if let Some(e) = response_error(
        "truncate-and-restore",
        resp.error_code,
        resp.error_message.as_deref(),
    ) {
        report.errors.push(e);
    }
    let mut text = String::new();
    for r in &resp.results {
        match item_error("topic", &r.topic, r.error_code, r.error_message.as_deref()) {
            Some(e) => report.errors.push(e),
            None => text.push_str(&restore_text(r, &req.link_name, req.validate_only, "")),
        }
    }
    report.out = match format {
        OutputFormat::Table => text,
        OutputFormat::Json => output::json(
            &resp
                .results
                .iter()
                .map(|r| RestoreJson::new(&req.link_name, r))
                .collect::<Vec<_>>(),
        ),
    };
    report
}

#[derive(Serialize)]
struct ReverseJson {
    mirror_topic_name: String,
    link_name: String,
    error_code: i16,
    error_message: Option<String>,
    local_status: String,
    local_end_offsets: Vec<i64>,
    remote: RestoreJson,
}

fn reverse_text(x: &ReverseResult, req: &ReverseMirrorsRequest) -> String {
    let ends: Vec<String> = (0..)
        .zip(&x.local_end_offsets)
        .map(|(p, o): (i32, &i64)| format!("{p}:{o}"))
        .collect();
    let mut s = if req.validate_only {
        format!(
            "Reverse of mirror topic '{}' validated: it would be promoted here (end offsets {}) and mirrored by the peer over link '{}'.\n",
            x.topic,
            ends.join(", "),
            x.remote_link_name
        )
    } else {
        format!(
            "Mirror topic '{}' was promoted on this cluster (link '{}'); end offsets {}: writes continue here.\n",
            x.topic,
            req.link_name,
            ends.join(", ")
        )
    };
    s.push_str("Remote cluster:\n");
    s.push_str(&restore_text(
        &x.remote,
        &x.remote_link_name,
        req.validate_only,
        "  ",
    ));
    s
}

pub fn render_reverse(
    req: &ReverseMirrorsRequest,
    resp: &ReverseMirrorsResponse,
    format: OutputFormat,
) -> Report {
    let mut report = Report::default();
    let verb = if req.pause_remote {
        "reverse-and-pause"
    } else {
        "reverse-and-start"
    };
    if let Some(e) = response_error(verb, resp.error_code, resp.error_message.as_deref()) {
        report.errors.push(e);
    }
    let mut text = String::new();
    for x in &resp.results {
        match item_error("topic", &x.topic, x.error_code, x.error_message.as_deref()) {
            Some(e) => report.errors.push(e),
            None => text.push_str(&reverse_text(x, req)),
        }
    }
    report.out = match format {
        OutputFormat::Table => text,
        OutputFormat::Json => output::json(
            &resp
                .results
                .iter()
                .map(|x| ReverseJson {
                    mirror_topic_name: x.topic.clone(),
                    link_name: req.link_name.clone(),
                    error_code: x.error_code,
                    error_message: x.error_message.clone(),
                    local_status: if x.error_code == 0 && !req.validate_only {
                        "STOPPED".to_string()
                    } else {
                        String::new()
                    },
                    local_end_offsets: x.local_end_offsets.clone(),
                    remote: RestoreJson::new(&x.remote_link_name, &x.remote),
                })
                .collect::<Vec<_>>(),
        ),
    };
    report
}
