//! `mirrors`: create, list and describe mirror topics; promote, fail over, pause and
//! resume them; fail back ([`failback`]: truncate-and-restore, reverse-and-start/pause).
//! Rendering lives in `render`.
//!
//! ```text
//! mirrors --create --mirror-topic t --link l --bootstrap-server dst:9092
//! mirrors --describe --topics t --bootstrap-server dst:9092 [--pending-stopped-only]
//! mirrors --promote --topics t --bootstrap-server dst:9092 [--wait [--timeout-ms N]]
//! mirrors --truncate-and-restore --topics t --link l --bootstrap-server x:9092
//! mirrors --reverse-and-start --topics t --link l --bootstrap-server x:9092
//! ```
//!
//! Promote prints the same lines as Confluent's `kafka-mirrors --promote` (seed 004), so
//! runbooks that grep them keep working; `--wait` then polls until every topic is STOPPED
//! (or FAILED), printing the remaining lag as it shrinks.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use strait_protocol::admin::{
    AlterMirrorsRequest, AlterMirrorsResponse, ConfigEntry, CreateMirrorTopicsRequest,
    CreateMirrorTopicsResponse, DescribeMirrorsRequest, DescribeMirrorsResponse, MirrorDescription,
    MirrorOp, NewMirrorTopic, PartitionCount,
};

use crate::argv::{self, OpFlags, Unsupported};
use crate::connect::{connect, AdminClient, Common};
use crate::error::{one_line, ToolError};
use crate::link_config::parse_config_arg;
use crate::output::{self, response_error, ItemJson, OutputFormat, Report};

pub mod failback;
mod render;
pub use failback::{render_restore, render_reverse, restore_request, reverse_request};
pub use render::*;

/// Confluent's operation flags.
pub const OPS: OpFlags = &[
    ("--create", "create"),
    ("--list", "list"),
    ("--describe", "describe"),
    ("--promote", "promote"),
    ("--failover", "failover"),
    ("--pause", "pause"),
    ("--resume", "resume"),
    ("--unpause", "resume"),
    ("--truncate-and-restore", "truncate-and-restore"),
    ("--reverse-and-start", "reverse-and-start"),
    ("--reverse-and-pause", "reverse-and-pause"),
];

const UNSUPPORTED: Unsupported = &[];

/// Every mirror state a broker may report (Confluent's names).
pub const STATES: &[&str] = &[
    "ACTIVE",
    "FAILED",
    "LINK_FAILED",
    "LINK_PAUSED",
    "PAUSED",
    "PENDING_STOPPED",
    "SOURCE_UNAVAILABLE",
    "STOPPED",
    "PENDING_MIRROR",
    "PENDING_SYNCHRONIZE",
    "PENDING_SETUP_FOR_RESTORE",
    "PENDING_RESTORE",
];

/// How often `--wait` polls: first after `WAIT_POLL_FIRST`, doubling up to `WAIT_POLL`, so
/// a promotion at lag 0 (a few milliseconds on the broker) is reported at once and a long
/// drain costs at most two DescribeMirrors a second.
pub const WAIT_POLL: Duration = Duration::from_millis(500);
const WAIT_POLL_FIRST: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "mirrors",
    version,
    about = "Create, inspect, promote, fail over, pause and resume Strait mirror topics (kafka-mirrors compatible)",
    long_about = "Create, inspect, promote, fail over, pause and resume Strait mirror topics.\n\n\
        The operation can be a subcommand (`mirrors promote ...`) or Confluent's flag \
        (`mirrors --promote ...`). --bootstrap-server names the DESTINATION cluster.\n\n\
        Exit codes: 0 success, 1 the broker refused or could not be reached (or --wait \
        timed out or saw a FAILED topic), 2 usage error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Create a mirror topic of a source topic over a link (`--create`).
    Create(CreateArgs),
    /// List mirror topics (`--list`).
    List(ListArgs),
    /// Per-partition mirror state and lag (`--describe`).
    Describe(DescribeArgs),
    /// Wait for lag 0, then make the topics writable (`--promote`). Irreversible.
    Promote(StopArgs),
    /// Stop mirroring now and make the topics writable (`--failover`). Irreversible.
    Failover(StopArgs),
    /// Pause mirroring (`--pause`).
    Pause(AlterArgs),
    /// Resume paused mirroring (`--resume`, `--unpause`).
    #[command(alias = "unpause")]
    Resume(AlterArgs),
    /// Turn promoted / failed-over topics back into mirrors of the cluster that took over,
    /// truncating the tail that diverged (`--truncate-and-restore`).
    TruncateAndRestore(failback::RestoreArgs),
    /// Promote local mirrors and make the peer's topics mirrors of them, started
    /// (`--reverse-and-start`).
    ReverseAndStart(failback::ReverseArgs),
    /// As reverse-and-start, leaving the peer's mirrors PAUSED (`--reverse-and-pause`).
    ReverseAndPause(failback::ReverseArgs),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Name of the mirror topic on the destination.
    #[arg(long, value_name = "TOPIC")]
    pub mirror_topic: String,
    /// The link to mirror over.
    #[arg(long, visible_alias = "link-name", value_name = "NAME")]
    pub link: String,
    /// Source topic (default: the mirror name without the link's prefix).
    #[arg(long, value_name = "TOPIC")]
    pub source_topic: Option<String>,
    /// Topic configs as k=v[,k=v...]; repeatable.
    #[arg(long, value_name = "K=V,...", num_args = 1.., action = clap::ArgAction::Append)]
    pub config: Vec<String>,
    /// Accepted for compatibility; Strait keeps one replica, so only 1 is allowed.
    #[arg(long, value_name = "N")]
    pub replication_factor: Option<i32>,
    /// Validate without creating the topic.
    #[arg(long)]
    pub validate_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only mirrors of this link.
    #[arg(long, visible_aliases = ["link-name", "links"], value_name = "NAME")]
    pub link: Option<String>,
    /// Only mirrors in this state (ACTIVE, PAUSED, PENDING_STOPPED, STOPPED, FAILED ...).
    #[arg(long, visible_alias = "mirror-status", value_name = "STATE")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only these mirror topics (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "TOPICS")]
    pub topics: Vec<String>,
    /// Only mirrors of this link.
    #[arg(long, visible_aliases = ["link-name", "links"], value_name = "NAME")]
    pub link: Option<String>,
    /// Only mirrors still being promoted (PENDING_STOPPED).
    #[arg(long)]
    pub pending_stopped_only: bool,
}

/// Which mirrors an operation applies to: named topics, or every mirror of a link.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[group(required = true, multiple = false)]
pub struct Selection {
    /// Mirror topics (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "TOPICS")]
    pub topics: Vec<String>,
    /// Every mirror topic of this link.
    #[arg(long, visible_aliases = ["link-name", "links"], value_name = "NAME")]
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AlterArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub selection: Selection,
    /// Check the operation would be accepted, without doing it.
    #[arg(long)]
    pub validate_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub alter: AlterArgs,
    /// Poll until every topic is STOPPED (or FAILED), printing the remaining lag.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in milliseconds.
    #[arg(long, default_value_t = 300_000, value_name = "MS")]
    pub timeout_ms: u64,
}

/// Parses argv (program name first), accepting both the flag and subcommand forms.
pub fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Cli, argv::ParseError> {
    argv::parse_cli(args, OPS, UNSUPPORTED)
}

/// The `mirrors` binary.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString>>) -> ExitCode {
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(e) => return e.exit(),
    };
    let json = cli.common().output == OutputFormat::Json;
    // Progress must not corrupt JSON on stdout, so in JSON mode it goes to stderr.
    let mut progress = |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    match argv::block_on(run(cli, &mut progress)).and_then(|r| r) {
        Ok(report) => report.emit(),
        Err(e) => crate::error::report_error(&e),
    }
}

impl Cli {
    pub fn common(&self) -> &Common {
        match &self.command {
            Command::Create(a) => &a.common,
            Command::List(a) => &a.common,
            Command::Describe(a) => &a.common,
            Command::Promote(a) | Command::Failover(a) => &a.alter.common,
            Command::Pause(a) | Command::Resume(a) => &a.common,
            Command::TruncateAndRestore(a) => &a.common,
            Command::ReverseAndStart(a) | Command::ReverseAndPause(a) => &a.restore.common,
        }
    }
}

/// Canonical state name: case-insensitive, `-` accepted for `_` (the Confluent CLI's
/// `--mirror-status pending_stopped` and Kafka's `PENDING_STOPPED` both work).
pub fn normalize_state(s: &str) -> Result<String, ToolError> {
    let up = s.trim().to_ascii_uppercase().replace('-', "_");
    if STATES.contains(&up.as_str()) {
        Ok(up)
    } else {
        Err(ToolError::usage(format!(
            "--state '{s}' is not a mirror state; expected one of {}",
            STATES.join(", ")
        )))
    }
}

pub(crate) fn clean_topics(topics: &[String]) -> Result<Option<Vec<String>>, ToolError> {
    if topics.is_empty() {
        return Ok(None);
    }
    let cleaned: Vec<String> = topics
        .iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if cleaned.is_empty() {
        return Err(ToolError::usage("--topics names no topic"));
    }
    Ok(Some(cleaned))
}

/// The CreateMirrorTopics request the create flags describe.
pub fn create_request(a: &CreateArgs) -> Result<CreateMirrorTopicsRequest, ToolError> {
    if a.mirror_topic.trim().is_empty() {
        return Err(ToolError::usage("--mirror-topic must not be empty"));
    }
    if a.link.trim().is_empty() {
        return Err(ToolError::usage("--link must not be empty"));
    }
    if let Some(rf) = a.replication_factor {
        if rf != 1 {
            return Err(ToolError::usage(format!(
                "--replication-factor {rf}: Strait keeps one replica per partition; omit the flag or pass 1"
            )));
        }
    }
    let mut configs: BTreeMap<String, String> = BTreeMap::new();
    for arg in &a.config {
        configs.extend(parse_config_arg(arg)?);
    }
    Ok(CreateMirrorTopicsRequest {
        mirrors: vec![NewMirrorTopic {
            mirror_topic: a.mirror_topic.clone(),
            link_name: a.link.clone(),
            source_topic: a.source_topic.clone().filter(|s| !s.trim().is_empty()),
            configs: configs
                .into_iter()
                .map(|(name, value)| ConfigEntry {
                    name,
                    value: Some(value),
                    sensitive: false,
                })
                .collect(),
        }],
        validate_only: a.validate_only,
    })
}

/// The AlterMirrors request for an operation on a selection.
pub fn alter_request(op: MirrorOp, a: &AlterArgs) -> Result<AlterMirrorsRequest, ToolError> {
    let topics = clean_topics(&a.selection.topics)?;
    let link_name = a.selection.link.clone();
    if link_name.as_deref().is_some_and(|l| l.trim().is_empty()) {
        return Err(ToolError::usage("--link must not be empty"));
    }
    Ok(AlterMirrorsRequest {
        op,
        topics,
        link_name,
        validate_only: a.validate_only,
    })
}

/// Runs one parsed command. `progress` receives lines that must appear before the command
/// ends (promote's preamble and `--wait` updates).
pub async fn run(cli: Cli, progress: &mut dyn FnMut(&str)) -> Result<Report, ToolError> {
    match cli.command {
        Command::Create(a) => {
            let req = create_request(&a)?;
            let client = connect(&a.common).await?;
            let resp: CreateMirrorTopicsResponse = client.call(&req).await?;
            client.close();
            Ok(render_create(
                &a.mirror_topic,
                a.validate_only,
                &resp.results,
                a.common.output,
            ))
        }
        Command::List(a) => {
            let states = match &a.state {
                Some(s) => vec![normalize_state(s)?],
                None => vec![],
            };
            let client = connect(&a.common).await?;
            let req = DescribeMirrorsRequest {
                link_name: a.link.clone(),
                topics: None,
                states,
                include_partitions: false,
            };
            let mirrors = describe(&client, &req, "list mirror topics").await?;
            client.close();
            Ok(Report {
                out: render_list(&mirrors, a.common.output),
                errors: vec![],
            })
        }
        Command::Describe(a) => {
            let topics = clean_topics(&a.topics)?;
            let client = connect(&a.common).await?;
            let req = DescribeMirrorsRequest {
                link_name: a.link.clone(),
                topics: topics.clone(),
                states: if a.pending_stopped_only {
                    vec!["PENDING_STOPPED".to_string()]
                } else {
                    vec![]
                },
                include_partitions: true,
            };
            let mirrors = describe(&client, &req, "describe mirror topics").await?;
            client.close();
            let mut report = Report {
                out: render_describe(&mirrors, a.common.output),
                errors: vec![],
            };
            // A named topic missing from the answer is an error, unless a state filter
            // legitimately left it out.
            if !a.pending_stopped_only {
                for t in topics.iter().flatten() {
                    if !mirrors.iter().any(|m| &m.mirror_topic == t) {
                        report
                            .errors
                            .push(format!("topic '{t}' is not a mirror topic"));
                    }
                }
            }
            Ok(report)
        }
        Command::Promote(a) => stop(MirrorOp::Promote, a, progress).await,
        Command::Failover(a) => stop(MirrorOp::Failover, a, progress).await,
        Command::Pause(a) => alter(MirrorOp::Pause, &a).await,
        Command::Resume(a) => alter(MirrorOp::Resume, &a).await,
        Command::TruncateAndRestore(a) => failback::run_restore(a).await,
        Command::ReverseAndStart(a) => failback::run_reverse(a, false).await,
        Command::ReverseAndPause(a) => failback::run_reverse(a, true).await,
    }
}

async fn describe(
    client: &AdminClient,
    req: &DescribeMirrorsRequest,
    what: &str,
) -> Result<Vec<MirrorDescription>, ToolError> {
    let resp: DescribeMirrorsResponse = client.call(req).await?;
    if let Some(e) = response_error(what, resp.error_code, resp.error_message.as_deref()) {
        return Err(ToolError::failed(e));
    }
    Ok(resp.mirrors)
}

async fn alter(op: MirrorOp, a: &AlterArgs) -> Result<Report, ToolError> {
    let req = alter_request(op, a)?;
    let client = connect(&a.common).await?;
    let resp: AlterMirrorsResponse = client.call(&req).await?;
    client.close();
    Ok(render_alter(
        op,
        a.validate_only,
        &resp.results,
        a.common.output,
    ))
}

/// Promote and failover, with the optional `--wait`.
async fn stop(
    op: MirrorOp,
    a: StopArgs,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, ToolError> {
    let req = alter_request(op, &a.alter)?;
    let format = a.alter.common.output;
    let client = connect(&a.alter.common).await?;
    let mut preamble = String::new();
    if op == MirrorOp::Promote {
        // Like Confluent's tool, report the lag the promotion has to drain. The describe is
        // informational: if it fails, AlterMirrors reports the real per-topic errors.
        let before = DescribeMirrorsRequest {
            link_name: req.link_name.clone(),
            topics: req.topics.clone(),
            states: vec![],
            include_partitions: true,
        };
        let names: Vec<String> = match describe(&client, &before, "describe mirror topics").await {
            Ok(m) if !m.is_empty() => m.into_iter().map(|m| m.mirror_topic).collect(),
            _ => req.topics.clone().unwrap_or_default(),
        };
        let list = format!("[{}]", names.join(", "));
        preamble.push_str(&format!(
            "Calculating max offset and ms lag for mirror topics: {list}\n\
             Finished calculating max offset lag and max lag ms for mirror topics: {list}\n"
        ));
    }
    let resp: AlterMirrorsResponse = client.call(&req).await?;
    let mut report = render_alter(op, a.alter.validate_only, &resp.results, format);
    if format == OutputFormat::Table {
        report.out.insert_str(0, &preamble);
    }
    if !a.wait || a.alter.validate_only {
        client.close();
        return Ok(report);
    }
    let waiting: Vec<String> = resp
        .results
        .iter()
        .filter(|r| r.error_code == 0)
        .map(|r| r.name.clone())
        .collect();
    if format == OutputFormat::Table {
        progress(report.out.trim_end());
        report.out.clear();
    }
    let outcome = wait_stopped(
        &client,
        &waiting,
        Duration::from_millis(a.timeout_ms),
        progress,
    )
    .await;
    client.close();
    let outcome = outcome?;
    report.errors.extend(outcome.errors);
    match format {
        OutputFormat::Table => report.out = outcome.summary,
        OutputFormat::Json => {
            report.out = output::json(&StopJson {
                operation: op_name(op),
                validate_only: false,
                results: resp.results.iter().map(ItemJson::from_result).collect(),
                mirrors: outcome
                    .last
                    .iter()
                    .map(MirrorJson::from_description)
                    .collect(),
            })
        }
    }
    Ok(report)
}

struct WaitOutcome {
    summary: String,
    errors: Vec<String>,
    last: Vec<MirrorDescription>,
}

/// Polls DescribeMirrors until every topic is STOPPED or FAILED, or the timeout passes.
/// A topic the broker no longer reports as a mirror counts as stopped.
async fn wait_stopped(
    client: &AdminClient,
    topics: &[String],
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<WaitOutcome, ToolError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut poll = WAIT_POLL_FIRST;
    let mut pending: Vec<String> = topics.to_vec();
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut last: BTreeMap<String, MirrorDescription> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut stopped = Vec::new();
    if !pending.is_empty() {
        progress(&format!(
            "Waiting for mirror topics to stop: [{}]",
            pending.join(", ")
        ));
    }
    while !pending.is_empty() {
        let req = DescribeMirrorsRequest {
            link_name: None,
            topics: Some(pending.clone()),
            states: vec![],
            include_partitions: true,
        };
        let mirrors = describe(client, &req, "describe mirror topics").await?;
        let mut still = Vec::new();
        for t in &pending {
            let Some(m) = mirrors.iter().find(|m| &m.mirror_topic == t) else {
                progress(&format!("{t}: no longer a mirror topic"));
                stopped.push(t.clone());
                continue;
            };
            let line = progress_line(m);
            if shown.get(t) != Some(&line) {
                progress(&line);
                shown.insert(t.clone(), line);
            }
            last.insert(t.clone(), m.clone());
            match m.state.as_str() {
                "STOPPED" => stopped.push(t.clone()),
                "FAILED" => errors.push(failed_message(m)),
                _ => still.push(t.clone()),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let states: Vec<String> = pending
                .iter()
                .map(|t| match last.get(t) {
                    Some(m) => format!("{t} is {} with max lag {}", m.state, max_lag(m).0),
                    None => format!("{t} is unknown"),
                })
                .collect();
            errors.push(format!(
                "timed out after {} ms waiting for mirror topics to stop: {}",
                timeout.as_millis(),
                states.join(", ")
            ));
            break;
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
        poll = (poll * 2).min(WAIT_POLL);
    }
    let summary = if stopped.is_empty() {
        String::new()
    } else {
        let mut s = format!("Mirror topics stopped: [{}]\n", stopped.join(", "));
        // The promote's result: how many open mirrored transactions its cutover aborted.
        for t in &stopped {
            let counts: Vec<PartitionCount> = last
                .get(t)
                .map(|m| {
                    m.partitions
                        .iter()
                        .filter_map(|p| {
                            p.aborted_transactions.map(|count| PartitionCount {
                                partition: p.partition,
                                count,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !counts.is_empty() {
                s.push_str(&aborted_line(t, &counts));
            }
        }
        s
    };
    Ok(WaitOutcome {
        summary,
        errors,
        last: last.into_values().collect(),
    })
}

fn failed_message(m: &MirrorDescription) -> String {
    let mut s = format!("mirror topic '{}' FAILED", m.mirror_topic);
    if let Some(r) = &m.reason {
        s.push_str(&format!(": {r}"));
    }
    if let Some(msg) = &m.reason_message {
        s.push_str(&format!(": {}", one_line(msg)));
    }
    s
}

/// `(max lag, max lag ms)` over a mirror's partitions (lag ms -1 when unknown).
pub fn max_lag(m: &MirrorDescription) -> (i64, i64) {
    let lag = m.partitions.iter().map(|p| p.lag.max(0)).max().unwrap_or(0);
    let lag_ms = m.partitions.iter().map(|p| p.lag_ms).max().unwrap_or(-1);
    (lag, lag_ms)
}

/// One `--wait` progress line, e.g. `t: PENDING_STOPPED, max lag 12 messages (340 ms)`.
pub fn progress_line(m: &MirrorDescription) -> String {
    let (lag, lag_ms) = max_lag(m);
    let ms = if lag_ms >= 0 {
        format!(" ({lag_ms} ms)")
    } else {
        String::new()
    };
    format!(
        "{}: {}, max lag {lag} messages{ms}",
        m.mirror_topic, m.state
    )
}
