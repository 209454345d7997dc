//! `cluster-links --alter`: the flags, the AlterClusterLinkConfigs request they describe and
//! the rendering of its outcome (see `strait_link::manager::alter` for what the broker does).

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use strait_protocol::link_admin::{
    AlterClusterLinkConfigsRequest, AlterClusterLinkConfigsResponse, ConfigOpKind, LinkConfigOp,
};

use crate::connect::Common;
use crate::error::ToolError;
use crate::link_config::{AlterConfigArgs, AlterConfigs};
use crate::output::{self, response_error, OutputFormat, Report};

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AlterArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, visible_alias = "link-name", value_name = "NAME")]
    pub link: String,
    /// Configs to set, as k=v[,k=v...]; repeatable.
    #[arg(long, value_name = "K=V,...", num_args = 1.., action = clap::ArgAction::Append)]
    pub add_config: Vec<String>,
    /// Configs to remove (back to their defaults), as k[,k...]; repeatable.
    #[arg(long, value_name = "K,...", num_args = 1.., action = clap::ArgAction::Append)]
    pub delete_config: Vec<String>,
    /// Java-properties file whose every key is set (keys not in it keep their values).
    #[arg(long, visible_alias = "add-config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    #[command(flatten)]
    pub filters: crate::link_config::FilterArgs,
    /// Validate the change (including reaching the source with new connection settings)
    /// without applying it.
    #[arg(long)]
    pub validate_only: bool,
    /// Do not reach the source with new connection settings before applying them.
    #[arg(long)]
    pub exclude_validate_link: bool,
}

impl AlterArgs {
    pub fn alter_config_args(&self) -> AlterConfigArgs {
        AlterConfigArgs {
            config_file: self.config_file.clone(),
            add_config: self.add_config.clone(),
            delete_config: self.delete_config.clone(),
            filters: self.filters.clone(),
        }
    }
}

/// The AlterClusterLinkConfigs request the alter flags describe.
pub fn alter_request(
    a: &AlterArgs,
    configs: &AlterConfigs,
    timeout_ms: i32,
) -> AlterClusterLinkConfigsRequest {
    let mut ops: Vec<LinkConfigOp> = configs
        .set
        .iter()
        .map(|(k, v)| LinkConfigOp {
            name: k.clone(),
            value: Some(v.clone()),
            op: ConfigOpKind::Set,
        })
        .collect();
    ops.extend(configs.delete.iter().map(|k| LinkConfigOp {
        name: k.clone(),
        value: None,
        op: ConfigOpKind::Delete,
    }));
    AlterClusterLinkConfigsRequest {
        link_name: a.link.clone(),
        ops,
        validate_only: a.validate_only,
        validate_link: !a.exclude_validate_link,
        timeout_ms,
    }
}

#[derive(Serialize)]
struct AlterJson<'a> {
    operation: &'a str,
    link_name: &'a str,
    validate_only: bool,
    changed: &'a [String],
    reconnects: bool,
}

/// Renders an alter outcome; a refused alter is a whole-command failure (exit 1).
pub fn render_alter(
    link: &str,
    validate_only: bool,
    resp: &AlterClusterLinkConfigsResponse,
    format: OutputFormat,
) -> Result<Report, ToolError> {
    if let Some(e) = response_error(
        &format!("alter cluster link '{link}'"),
        resp.error_code,
        resp.error_message.as_deref(),
    ) {
        return Err(ToolError::failed(e));
    }
    let out = match format {
        OutputFormat::Json => output::json(&AlterJson {
            operation: "alter",
            link_name: link,
            validate_only,
            changed: &resp.changed,
            reconnects: resp.reconnects,
        }),
        OutputFormat::Table => {
            let what = if validate_only { "validation" } else { "alter" };
            let mut line = if resp.changed.is_empty() && !resp.reconnects {
                format!("Cluster link '{link}' {what} successfully completed: no config changed.")
            } else {
                format!(
                    "Cluster link '{link}' {what} successfully completed: {}.",
                    if resp.changed.is_empty() {
                        "connection settings restated".to_string()
                    } else {
                        format!("changed {}", resp.changed.join(", "))
                    }
                )
            };
            if resp.reconnects {
                line.push_str(if validate_only {
                    " The link would reconnect to the source with the new connection settings."
                } else {
                    " The link reconnects to the source with the new connection settings; mirrors continue from their local log end."
                });
            }
            line.push('\n');
            line
        }
    };
    Ok(Report {
        out,
        errors: vec![],
    })
}
