//! Reaching the destination broker: `--bootstrap-server` + `--command-config` become a
//! [`ClientConfig`], and [`AdminClient`] sends Strait's private admin requests.
//!
//! The private API is answered by any Strait broker, so the tool opens one connection to
//! the first reachable bootstrap server instead of building a full cluster client: that
//! saves a Metadata round trip and keeps the tool usable when metadata is unhealthy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strait_client::{ClientConfig, ConnectOptions, Connection};
use strait_protocol::admin::AdminMessage;

use crate::error::ToolError;
use crate::output::OutputFormat;

/// The client configuration plus warnings to print (unknown keys in `--command-config`).
#[derive(Debug)]
pub struct ClientSetup {
    pub config: ClientConfig,
    pub warnings: Vec<String>,
}

/// Builds the client configuration. `--bootstrap-server` wins over a `bootstrap.servers`
/// line in the command config. Unknown keys are warnings (Kafka's own tools accept any
/// client property, and users reuse those files), never errors.
pub fn client_setup(
    bootstrap: &str,
    command_config: Option<&Path>,
) -> Result<ClientSetup, ToolError> {
    let mut props = BTreeMap::new();
    let file = command_config.map(|p| p.display().to_string());
    if let Some(path) = command_config {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ToolError::usage(format!(
                "--command-config {}: cannot read: {e}",
                path.display()
            ))
        })?;
        props = strait_protocol::properties::parse(&text)
            .map_err(|e| ToolError::usage(format!("--command-config {}: {e}", path.display())))?;
    }
    if bootstrap.trim().is_empty() {
        return Err(ToolError::usage("--bootstrap-server must not be empty"));
    }
    props.insert("bootstrap.servers".to_string(), bootstrap.to_string());
    let (config, ignored) = ClientConfig::from_properties(&props).map_err(|e| {
        if e.key == "bootstrap.servers" {
            ToolError::usage(format!("--bootstrap-server '{bootstrap}': {}", e.message))
        } else {
            // ConfigError never carries a secret value (strait-client invariant).
            ToolError::usage(format!(
                "--command-config {}: {e}",
                file.as_deref().unwrap_or("(none)")
            ))
        }
    })?;
    let warnings = ignored
        .iter()
        .map(|k| {
            format!(
                "--command-config {}: ignoring unknown client property '{k}'",
                file.as_deref().unwrap_or("(none)")
            )
        })
        .collect();
    Ok(ClientSetup { config, warnings })
}

/// One connection to a destination broker, used for Strait's private admin API.
#[derive(Debug)]
pub struct AdminClient {
    conn: Connection,
    request_timeout: Duration,
}

impl AdminClient {
    /// Connects to the first reachable bootstrap server (in the order given).
    pub async fn connect(config: &ClientConfig) -> Result<AdminClient, ToolError> {
        let options = ConnectOptions::new(config)
            .map_err(|e| ToolError::usage(format!("--command-config: {e}")))?;
        let mut failures = Vec::new();
        for addr in &config.bootstrap_servers {
            match Connection::connect(addr, &options).await {
                Ok(conn) => {
                    return Ok(AdminClient {
                        conn,
                        request_timeout: config.request_timeout,
                    })
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(ToolError::failed(format!(
            "cannot reach the destination cluster ({}): {}",
            config.bootstrap_servers.join(","),
            failures.join("; ")
        )))
    }

    /// The client's `request.timeout.ms`; broker-side timeouts are set below it so the
    /// broker answers before the client gives up.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Sends `req` and decodes the response. Fails clearly when the broker does not
    /// advertise the key (not a Strait broker, or an older one).
    pub async fn call<Req, Resp>(&self, req: &Req) -> Result<Resp, ToolError>
    where
        Req: AdminMessage,
        Resp: AdminMessage,
    {
        let broker = self.conn.broker().to_string();
        if self.conn.version_for(Req::API_KEY, Req::VERSION) != Some(Req::VERSION) {
            let theirs = match self.conn.versions().range(Req::API_KEY) {
                Some(r) => format!("it speaks v{}..=v{}", r.min, r.max),
                None => "it does not advertise it".to_string(),
            };
            return Err(ToolError::failed(format!(
                "broker {broker} does not support Strait's admin API key {} v{} ({theirs}); \
                 is it a Strait broker with cluster linking?",
                Req::API_KEY,
                Req::VERSION
            )));
        }
        let body = self
            .conn
            .send_raw(Req::API_KEY, Req::VERSION, &req.encode())
            .await
            .map_err(|e| ToolError::failed(e.to_string()))?;
        Resp::decode(body).map_err(|e| {
            ToolError::failed(format!("undecodable response from broker {broker}: {e}"))
        })
    }

    pub fn close(&self) {
        self.conn.close();
    }
}

/// Flags every operation takes.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Common {
    /// The destination cluster (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    /// Client properties for reaching the destination (security.protocol, sasl.*, ssl.*).
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Connects with the common flags, printing configuration warnings on stderr.
pub async fn connect(common: &Common) -> Result<AdminClient, ToolError> {
    let setup = client_setup(&common.bootstrap_server, common.command_config.as_deref())?;
    for w in &setup.warnings {
        eprintln!("Warning: {w}");
    }
    AdminClient::connect(&setup.config).await
}
