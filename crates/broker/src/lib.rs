//! The Strait broker: a single-node, Kafka-wire-compatible broker.
//!
//! # Layout
//! * [`config`]: `server.properties` + `--override`, validated with Kafka's key names.
//! * [`server`] / [`connection`]: listeners, one task per connection, responses in order.
//! * [`dispatch`]: header, version check, body decode, handler, response encode.
//! * [`handlers`]: one file per Kafka API.
//! * [`broker`]: shared state; [`topics`]: topic/partition registry over the logs;
//!   [`metadata`]: crash-safe persistence of that registry.
//! * [`config_registry`]: every accepted config key per scope (name, type, default,
//!   validator, doc, dynamic or not) — the one source for parsing, validation,
//!   DescribeConfigs and the README tables.
//! * [`topic_config`] / [`config_resources`]: topic and broker configs with Kafka's names.
//! * [`recompress`]: a topic's `compression.type` applied to produced batches.
//! * [`forward_produce`]: write forwarding, Produce to a forwarding link's ACTIVE mirror
//!   sent to the source (`strait_link::forward` is the source side).
//! * [`log_cleaner`]: the compaction threads over every `cleanup.policy=compact` log.
//! * [`log_manager`]: the `num.io.threads` threads partition file I/O runs on, and
//!   per-partition append notification.
//! * [`fetch_session`]: incremental fetch sessions.
//! * [`auth`]: sessions, ACLs and the authorizer, SASL (PLAIN, SCRAM), TLS listeners.
//!
//! Storage is `strait-storage`; the wire is `strait-protocol`.

pub mod auth;
pub mod broker;
pub mod cluster_view;
pub mod config;
pub mod config_registry;
pub mod config_resources;
pub mod connection;
pub mod controller;
pub mod dispatch;
pub mod error;
pub mod fetch_session;
pub mod forward_produce;
pub mod fuzz_harness;
pub mod groups;
pub mod handlers;
pub mod link_local;
pub mod log_cleaner;
pub mod log_dir;
pub mod log_manager;
pub mod metadata;
pub mod metadata_log;
pub mod metrics_http;
pub mod produce_checks;
pub mod recompress;
pub mod record_log;
pub mod recovery;
pub mod replication;
pub mod server;
pub mod topic_config;
pub mod topics;
pub mod txn;

use std::sync::Arc;

pub use broker::Broker;
pub use config::BrokerConfig;

/// A running broker (for tests and the binary): its state and where it listens.
pub struct RunningBroker {
    pub broker: Arc<Broker>,
    pub listeners: Vec<config::Listener>,
    /// Where `GET /metrics` is served, when `metrics.http.listener` is set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningBroker {
    /// Opens the log directory, binds every listener, and starts serving.
    pub async fn start(config: BrokerConfig) -> Result<Self, StartError> {
        let broker = Arc::new(Broker::open(config)?);
        let bound = server::bind(&broker).await.map_err(StartError::Bind)?;
        broker.set_bound_listeners(bound.iter().map(|(l, _)| l.clone()).collect());
        let mut listeners: Vec<config::Listener> = bound.iter().map(|(l, _)| l.clone()).collect();
        // Tests and scripts read the first "listening on" line: PLAINTEXT first if present.
        listeners.sort_by_key(|l| l.name != "PLAINTEXT");
        let mut tasks = Vec::new();
        for (l, socket) in bound {
            tasks.push(tokio::spawn(server::serve(broker.clone(), socket, l.name)));
        }
        tasks.push(tokio::spawn(broker.clone().run_log_maintenance()));
        // Keeps the bytes a crash restart must validate to a few seconds of writes.
        tasks.push(tokio::spawn(recovery::run_background_flush(
            broker.topics.clone(),
        )));
        broker.start_log_cleaner();
        broker.groups.start_timer();
        broker.txn.start();
        server::register_local_listeners(&broker, &broker.start_links(), &listeners);
        let metrics_addr = match metrics_http::bind(&broker)
            .await
            .map_err(StartError::Bind)?
        {
            Some(listener) => {
                let addr = listener.local_addr().ok();
                tasks.push(tokio::spawn(metrics_http::serve(broker.clone(), listener)));
                addr
            }
            None => None,
        };
        Ok(RunningBroker {
            broker,
            listeners,
            metrics_addr,
            tasks,
        })
    }

    /// Stops accepting and closes every log cleanly.
    pub fn shutdown(self) {
        // Before the listeners go: clients are served until the leaderships have moved.
        self.broker.controlled_shutdown();
        for t in &self.tasks {
            t.abort();
        }
        if let Some(links) = self.broker.links() {
            links.shutdown();
        }
        self.broker.stop_replication();
        self.broker.stop_log_cleaner();
        self.broker.topics.close_all();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] topics::StartupError),
    #[error("cannot bind listener: {0}")]
    Bind(std::io::Error),
}
