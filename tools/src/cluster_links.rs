//! `cluster-links`: create, list, describe and delete cluster links on the destination.
//!
//! ```text
//! cluster-links --bootstrap-server dst:9092 --command-config dst.config --create \
//!     --link l --config-file source.config --topic-filters-json-file topics.json
//! cluster-links create --bootstrap-server dst:9092 --link l --config bootstrap.servers=src:9092
//! cluster-links --list|--describe|--delete ...
//! cluster-links --alter --link l --add-config consumer.offset.sync.ms=5000 \
//!     --delete-config acl.sync.ms --config-file new-credentials.properties
//! ```

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use strait_link::config::is_sensitive;
use strait_protocol::admin::{
    ClusterLinkListing, CreateClusterLinksRequest, CreateClusterLinksResponse,
    DeleteClusterLinksRequest, DeleteClusterLinksResponse, ItemResult, ListClusterLinksRequest,
    ListClusterLinksResponse, NewClusterLink,
};

use crate::argv::{self, OpFlags, Unsupported};
use crate::connect::{connect, AdminClient, Common};
use crate::error::ToolError;
use crate::link_config::{build_alter_configs, build_link_configs, LinkConfigArgs};
use crate::output::{self, item_error, or_dash, response_error, ItemJson, OutputFormat, Report};
use strait_protocol::link_admin::AlterClusterLinkConfigsResponse;

mod alter;
pub use alter::{alter_request, render_alter, AlterArgs};

/// Confluent's operation flags.
pub const OPS: OpFlags = &[
    ("--create", "create"),
    ("--list", "list"),
    ("--describe", "describe"),
    ("--delete", "delete"),
    ("--alter", "alter"),
];

const UNSUPPORTED: Unsupported = &[(
    "--cluster-id",
    "Strait reads the source cluster id when it validates the link",
)];

/// Shown instead of a secret value.
pub const HIDDEN: &str = "[hidden]";

#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "cluster-links",
    version,
    about = "Create, list, describe, alter and delete Strait cluster links (kafka-cluster-links compatible)",
    long_about = "Create, list, describe and delete Strait cluster links.\n\n\
        The operation can be a subcommand (`cluster-links create ...`) or Confluent's flag \
        (`cluster-links --create ...`). --bootstrap-server names the DESTINATION cluster.\n\n\
        Exit codes: 0 success, 1 the broker refused or could not be reached, 2 usage error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Create a cluster link (`--create`).
    Create(CreateArgs),
    /// List cluster links (`--list`).
    List(ListArgs),
    /// Describe one cluster link: state, configs (secrets hidden), mirror topics (`--describe`).
    Describe(DescribeArgs),
    /// Delete a cluster link (`--delete`).
    Delete(DeleteArgs),
    /// Change configs of a running link, applied live without re-mirroring (`--alter`).
    Alter(AlterArgs),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Name of the link to create.
    #[arg(long, visible_alias = "link-name", value_name = "NAME")]
    pub link: String,
    /// Link configs as Java properties (source bootstrap.servers, security, link options).
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Link configs as k=v[,k=v...]; repeatable; overrides --config-file.
    #[arg(long, value_name = "K=V,...", num_args = 1.., action = clap::ArgAction::Append)]
    pub config: Vec<String>,
    #[command(flatten)]
    pub filters: crate::link_config::FilterArgs,
    /// Validate everything (including reaching the source) without creating the link.
    #[arg(long)]
    pub validate_only: bool,
    /// Do not reach the source cluster before creating the link.
    #[arg(long)]
    pub exclude_validate_link: bool,
}

impl CreateArgs {
    pub fn link_config_args(&self) -> LinkConfigArgs {
        LinkConfigArgs {
            config_file: self.config_file.clone(),
            config: self.config.clone(),
            filters: self.filters.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also list each link's mirror topics.
    #[arg(long)]
    pub include_topics: bool,
    /// Only these links (repeatable).
    #[arg(long, visible_alias = "link-name", value_name = "NAME")]
    pub link: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, visible_alias = "link-name", value_name = "NAME")]
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, visible_alias = "link-name", value_name = "NAME")]
    pub link: String,
    /// Delete even while mirror topics are still active (they stop mirroring and fail).
    #[arg(long)]
    pub force: bool,
    /// Check that the link could be deleted, without deleting it.
    #[arg(long)]
    pub validate_only: bool,
}

/// Parses argv (program name first), accepting both the flag and subcommand forms.
pub fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Cli, argv::ParseError> {
    argv::parse_cli(args, OPS, UNSUPPORTED)
}

/// The `cluster-links` binary.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString>>) -> ExitCode {
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(e) => return e.exit(),
    };
    match argv::block_on(run(cli)).and_then(|r| r) {
        Ok(report) => report.emit(),
        Err(e) => crate::error::report_error(&e),
    }
}

fn non_empty_link(link: &str) -> Result<(), ToolError> {
    if link.trim().is_empty() {
        return Err(ToolError::usage("--link must not be empty"));
    }
    Ok(())
}

/// The broker-side timeout for work it does on our behalf (reaching the source), kept
/// below the client's request timeout so the broker's answer arrives first.
fn broker_timeout_ms(client: &AdminClient) -> i32 {
    let ms = client
        .request_timeout()
        .as_millis()
        .saturating_sub(5_000)
        .max(1_000);
    i32::try_from(ms).unwrap_or(i32::MAX)
}

/// Runs one parsed command against the broker.
pub async fn run(cli: Cli) -> Result<Report, ToolError> {
    match cli.command {
        Command::Create(a) => {
            non_empty_link(&a.link)?;
            // Validate locally before connecting: config mistakes are usage errors.
            let configs = build_link_configs(&a.link_config_args())?;
            let client = connect(&a.common).await?;
            let req = create_request(&a, configs, broker_timeout_ms(&client));
            let resp: CreateClusterLinksResponse = client.call(&req).await?;
            client.close();
            Ok(render_create(
                &a.link,
                a.validate_only,
                &resp.results,
                a.common.output,
            ))
        }
        Command::List(a) => {
            let client = connect(&a.common).await?;
            let req = ListClusterLinksRequest {
                names: (!a.link.is_empty()).then(|| a.link.clone()),
                include_topics: a.include_topics,
                // For each link's link.mode (the JSON list leaves the configs out).
                include_configs: true,
            };
            let resp: ListClusterLinksResponse = client.call(&req).await?;
            client.close();
            if let Some(e) = response_error(
                "list cluster links",
                resp.error_code,
                resp.error_message.as_deref(),
            ) {
                return Err(ToolError::failed(e));
            }
            Ok(Report {
                out: render_list(&resp.links, a.include_topics, a.common.output),
                errors: vec![],
            })
        }
        Command::Describe(a) => {
            non_empty_link(&a.link)?;
            let client = connect(&a.common).await?;
            let req = ListClusterLinksRequest {
                names: Some(vec![a.link.clone()]),
                include_topics: true,
                include_configs: true,
            };
            let resp: ListClusterLinksResponse = client.call(&req).await?;
            client.close();
            if let Some(e) = response_error(
                &format!("describe cluster link '{}'", a.link),
                resp.error_code,
                resp.error_message.as_deref(),
            ) {
                return Err(ToolError::failed(e));
            }
            let Some(link) = resp.links.iter().find(|l| l.name == a.link) else {
                return Err(ToolError::failed(format!(
                    "cluster link '{}' does not exist",
                    a.link
                )));
            };
            Ok(Report {
                out: render_describe(link, a.common.output),
                errors: vec![],
            })
        }
        Command::Alter(a) => {
            non_empty_link(&a.link)?;
            let configs = build_alter_configs(&a.alter_config_args())?;
            let client = connect(&a.common).await?;
            let req = alter_request(&a, &configs, broker_timeout_ms(&client));
            let resp: AlterClusterLinkConfigsResponse = client.call(&req).await?;
            client.close();
            render_alter(&a.link, a.validate_only, &resp, a.common.output)
        }
        Command::Delete(a) => {
            non_empty_link(&a.link)?;
            let client = connect(&a.common).await?;
            let req = DeleteClusterLinksRequest {
                names: vec![a.link.clone()],
                validate_only: a.validate_only,
                force: a.force,
            };
            let resp: DeleteClusterLinksResponse = client.call(&req).await?;
            client.close();
            Ok(render_delete(
                &a.link,
                a.validate_only,
                &resp.results,
                a.common.output,
            ))
        }
    }
}

/// The CreateClusterLinks request the create flags describe.
pub fn create_request(
    a: &CreateArgs,
    configs: Vec<strait_protocol::admin::ConfigEntry>,
    timeout_ms: i32,
) -> CreateClusterLinksRequest {
    CreateClusterLinksRequest {
        links: vec![NewClusterLink {
            name: a.link.clone(),
            configs,
        }],
        validate_only: a.validate_only,
        validate_link: !a.exclude_validate_link,
        timeout_ms,
    }
}

#[derive(Serialize)]
struct ResultsJson<'a> {
    operation: &'a str,
    validate_only: bool,
    results: Vec<ItemJson>,
}

/// Renders per-link results; `done` is the success sentence for one link.
fn render_results(
    operation: &str,
    expected: &str,
    validate_only: bool,
    results: &[ItemResult],
    format: OutputFormat,
    done: impl Fn(&str) -> String,
) -> Report {
    let mut report = Report::default();
    let mut lines = String::new();
    for r in results {
        match item_error(
            "cluster link",
            &r.name,
            r.error_code,
            r.error_message.as_deref(),
        ) {
            Some(e) => report.errors.push(e),
            None => lines.push_str(&(done(&r.name) + "\n")),
        }
    }
    if !results.iter().any(|r| r.name == expected) {
        report.errors.push(format!(
            "the broker returned no result for cluster link '{expected}'"
        ));
    }
    report.out = match format {
        OutputFormat::Table => lines,
        OutputFormat::Json => output::json(&ResultsJson {
            operation,
            validate_only,
            results: results.iter().map(ItemJson::from_result).collect(),
        }),
    };
    report
}

pub fn render_create(
    link: &str,
    validate_only: bool,
    results: &[ItemResult],
    format: OutputFormat,
) -> Report {
    render_results("create", link, validate_only, results, format, |name| {
        if validate_only {
            format!("Cluster link '{name}' validation successfully completed.")
        } else {
            format!("Cluster link '{name}' creation successfully completed.")
        }
    })
}

pub fn render_delete(
    link: &str,
    validate_only: bool,
    results: &[ItemResult],
    format: OutputFormat,
) -> Report {
    render_results("delete", link, validate_only, results, format, |name| {
        if validate_only {
            format!("Cluster link '{name}' validation successfully completed.")
        } else {
            format!("Cluster link '{name}' deletion successfully completed.")
        }
    })
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ConfigJson {
    pub name: String,
    /// `null` for a secret.
    pub value: Option<String>,
    pub sensitive: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct LinkJson {
    pub link_name: String,
    pub link_id: String,
    /// `link.mode` (DESTINATION, BIDIRECTIONAL); absent when the broker sent no configs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_mode: Option<String>,
    /// A BIDIRECTIONAL link's other half on the peer cluster, as the broker last checked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_link: Option<PeerLinkJson>,
    pub source_cluster_id: Option<String>,
    pub state: String,
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub topics: Vec<String>,
    pub configs: Vec<ConfigJson>,
    pub sync_status: String,
    pub max_lag: i64,
    pub max_lag_ms: i64,
    pub tasks: Vec<TaskJson>,
    /// Mirror partitions in error (stuck), and how many per reason code; left out while
    /// there are none (or the broker does not report them).
    #[serde(skip_serializing_if = "is_zero")]
    pub partitions_in_error: i64,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub partition_errors: std::collections::BTreeMap<String, i64>,
}

/// The peer link of a BIDIRECTIONAL link: its state (the peer's link state once paired,
/// PENDING before the first check, else the task error code such as
/// REMOTE_LINK_NOT_FOUND_ERROR) and what the broker said.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerLinkJson {
    pub state: String,
    pub paired: bool,
    pub message: Option<String>,
}

/// The broker's `bidirectional_peer` task text is "<STATE>: <message>" (see
/// `strait_link::loops`).
fn peer_link(l: &ClusterLinkListing) -> Option<PeerLinkJson> {
    let t = l
        .tasks
        .iter()
        .find(|t| t.name == strait_link::loops::PEER_TASK)?;
    let text = t.error.clone().unwrap_or_default();
    let (word, message) = match text.split_once(": ") {
        Some((w, m)) => (w.to_string(), Some(m.to_string())),
        None => (t.state.clone(), (!text.is_empty()).then_some(text)),
    };
    Some(PeerLinkJson {
        paired: t.state == "ACTIVE",
        state: word,
        message,
    })
}

fn link_mode(l: &ClusterLinkListing) -> Option<String> {
    l.configs
        .iter()
        .find(|c| c.name == "link.mode")
        .and_then(|c| c.value.as_deref())
        .map(|v| v.trim().to_ascii_uppercase())
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// "2 (LOCAL_STORAGE_ERROR 1, SOURCE_DATA_CORRUPT 1)" for a link's partitions in error.
fn partition_errors_cell(l: &ClusterLinkListing) -> String {
    let total: i64 = l.partition_errors.iter().map(|c| i64::from(c.count)).sum();
    if total == 0 {
        return "0".to_string();
    }
    let per: Vec<String> = l
        .partition_errors
        .iter()
        .map(|c| format!("{} {}", c.reason, c.count))
        .collect();
    format!("{total} ({})", per.join(", "))
}

/// A periodic link task (config / offset / ACL sync) as shown to operators.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TaskJson {
    pub name: String,
    pub state: String,
    pub error: Option<String>,
    pub runs: i64,
    pub errors: i64,
    pub changed_total: i64,
}

impl LinkJson {
    pub fn from_listing(l: &ClusterLinkListing) -> Self {
        LinkJson {
            link_name: l.name.clone(),
            link_id: l.link_id.clone(),
            link_mode: link_mode(l),
            peer_link: peer_link(l),
            source_cluster_id: l.source_cluster_id.clone(),
            state: l.state.clone(),
            error: l.error.clone(),
            error_message: l.error_message.clone(),
            topics: l.topics.clone(),
            sync_status: l.sync_status.clone(),
            max_lag: l.max_lag,
            max_lag_ms: l.max_lag_ms,
            partitions_in_error: l.partition_errors.iter().map(|c| i64::from(c.count)).sum(),
            partition_errors: l
                .partition_errors
                .iter()
                .map(|c| (c.reason.clone(), i64::from(c.count)))
                .collect(),
            tasks: l
                .tasks
                .iter()
                .map(|t| TaskJson {
                    name: t.name.clone(),
                    state: t.state.clone(),
                    error: t.error.clone(),
                    runs: t.runs,
                    errors: t.errors,
                    changed_total: t.changed_total,
                })
                .collect(),
            configs: l
                .configs
                .iter()
                .map(|c| {
                    let secret = c.sensitive || is_sensitive(&c.name);
                    ConfigJson {
                        name: c.name.clone(),
                        // Masked here as well: a broker bug must not leak a password.
                        value: if secret { None } else { c.value.clone() },
                        sensitive: secret,
                    }
                })
                .collect(),
        }
    }
}

pub fn render_list(
    links: &[ClusterLinkListing],
    include_topics: bool,
    format: OutputFormat,
) -> String {
    if format == OutputFormat::Json {
        let links: Vec<LinkJson> = links
            .iter()
            .map(|l| {
                let mut j = LinkJson::from_listing(l);
                j.configs.clear();
                j
            })
            .collect();
        return output::json(&links);
    }
    if links.is_empty() {
        return "No cluster links found.\n".to_string();
    }
    let mut headers = vec![
        "LinkName",
        "LinkId",
        "SourceClusterId",
        "State",
        "SyncStatus",
        "MaxLag",
        "Error",
    ];
    // Shown once some link has stuck partitions (older brokers never report them).
    let stuck = links.iter().any(|l| !l.partition_errors.is_empty());
    if stuck {
        headers.push("PartitionsInError");
    }
    // Shown once some link is not a plain DESTINATION link.
    let modes = links
        .iter()
        .any(|l| link_mode(l).is_some_and(|m| m != "DESTINATION"));
    if modes {
        headers.extend(["LinkMode", "PeerLink"]);
    }
    if include_topics {
        headers.push("Topics");
    }
    let rows: Vec<Vec<String>> = links
        .iter()
        .map(|l| {
            let mut row = vec![
                l.name.clone(),
                or_dash(Some(&l.link_id)),
                or_dash(l.source_cluster_id.as_deref()),
                l.state.clone(),
                or_dash(Some(l.sync_status.as_str()).filter(|s| !s.is_empty())),
                l.max_lag.to_string(),
                or_dash(l.error.as_deref()),
            ];
            if stuck {
                row.push(partition_errors_cell(l));
            }
            if modes {
                row.push(or_dash(link_mode(l).as_deref()));
                row.push(or_dash(peer_link(l).map(|p| p.state).as_deref()));
            }
            if include_topics {
                row.push(if l.topics.is_empty() {
                    "-".to_string()
                } else {
                    l.topics.join(",")
                });
            }
            row
        })
        .collect();
    output::table(&headers, &rows)
}

pub fn render_describe(link: &ClusterLinkListing, format: OutputFormat) -> String {
    let j = LinkJson::from_listing(link);
    if format == OutputFormat::Json {
        return output::json(&j);
    }
    let mut fields = vec![
        vec!["LinkName:".to_string(), j.link_name.clone()],
        vec!["LinkId:".to_string(), or_dash(Some(&j.link_id))],
        vec![
            "SourceClusterId:".to_string(),
            or_dash(j.source_cluster_id.as_deref()),
        ],
        vec!["State:".to_string(), j.state.clone()],
    ];
    if let Some(mode) = &j.link_mode {
        fields.push(vec!["LinkMode:".to_string(), mode.clone()]);
    }
    if let Some(p) = &j.peer_link {
        let mut shown = p.state.clone();
        if let Some(m) = &p.message {
            shown = format!("{shown}: {}", crate::error::one_line(m));
        }
        fields.push(vec!["PeerLink:".to_string(), shown]);
    }
    fields.extend([vec![
        "SyncStatus:".to_string(),
        format!(
            "{} (max lag {} offsets, {} ms)",
            or_dash(Some(j.sync_status.as_str()).filter(|s| !s.is_empty())),
            j.max_lag,
            j.max_lag_ms
        ),
    ]]);
    if !link.partition_errors.is_empty() {
        fields.push(vec![
            "PartitionsInError:".to_string(),
            partition_errors_cell(link),
        ]);
    }
    if j.error.is_some() || j.error_message.is_some() {
        let mut e = or_dash(j.error.as_deref());
        if let Some(m) = &j.error_message {
            e = format!("{e}: {}", crate::error::one_line(m));
        }
        fields.push(vec!["Error:".to_string(), e]);
    }
    fields.push(vec![
        "MirrorTopics:".to_string(),
        if j.topics.is_empty() {
            "-".to_string()
        } else {
            j.topics.join(",")
        },
    ]);
    // A two-column table without its header row gives aligned "Key: value" lines.
    let mut out = output::table(&["", ""], &fields);
    out = out
        .split_once('\n')
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    if !j.tasks.is_empty() {
        out.push_str("Tasks:\n");
        let rows: Vec<Vec<String>> = j
            .tasks
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.state.clone(),
                    t.runs.to_string(),
                    t.errors.to_string(),
                    or_dash(t.error.as_deref().map(crate::error::one_line).as_deref()),
                ]
            })
            .collect();
        for line in output::table(&["Task", "State", "Runs", "Errors", "LastError"], &rows).lines()
        {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("Configs:\n");
    let rows: Vec<Vec<String>> = j
        .configs
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.value
                    .as_deref()
                    .map(crate::error::one_line)
                    .unwrap_or_else(|| HIDDEN.to_string()),
            ]
        })
        .collect();
    for line in output::table(&["Name", "Value"], &rows).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
