//! `strait [server.properties] [--cluster-id ID] [--override key=value ...]`: run the broker.
//!
//! With no arguments it listens on 127.0.0.1:9092 and keeps data in `./strait-data`.
//! Once every listener accepts connections it prints one line to stdout,
//! `strait: listening on PLAINTEXT://host:port`; logs go to stderr (`RUST_LOG` filters).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use strait_broker::{BrokerConfig, RunningBroker};

/// kafka-protocol sizes a decoded array from the count on the wire before reading its
/// elements, so a tiny request claiming 2^31 elements asks for a huge allocation. mimalloc
/// reserves large blocks lazily (MAP_NORESERVE where the OS overcommits), so that request
/// costs address space only, the decode then fails on the missing bytes, and the connection
/// closes, instead of the whole broker aborting on an allocation failure.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "strait",
    version,
    about = "Strait: a Kafka-compatible broker with built-in cluster linking"
)]
struct Args {
    /// A Kafka-style server.properties file.
    config: Option<PathBuf>,
    /// Override one property, e.g. --override log.dirs=/tmp/data (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Format an empty data directory for this cluster (Kafka's `kafka-storage format -t`,
    /// a 22-character base64 UUID). Required for a fresh directory when
    /// controller.quorum.voters names several voters; a directory of another cluster
    /// refuses to start.
    #[arg(long = "cluster-id", value_name = "ID")]
    cluster_id: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .init();
    let config = match BrokerConfig::load(args.config.as_deref(), &args.overrides)
        .and_then(|c| c.with_cluster_id(args.cluster_id))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strait: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    // Kafka refuses an unformatted directory in KRaft mode; Strait invents an id for a
    // single node (as today), but the voters of a quorum must share one, given here.
    if let Err(e) = strait_broker::log_dir::check_cluster_id_given(&config) {
        eprintln!("strait: {e}");
        return ExitCode::from(2);
    }
    // num.network.threads; num.io.threads sizes the log manager (BrokerConfig::worker_threads).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads())
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("strait: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let running = match RunningBroker::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("strait: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(cluster_id = running.broker.cluster_id(), node_id = running.broker.node_id(), log_dir = %running.broker.log_dir().display(), "strait started");
        for l in &running.listeners {
            println!("strait: listening on {l}");
        }
        if let Some(addr) = running.metrics_addr {
            println!("strait: metrics on {}", strait_broker::metrics_http::url(addr));
        }
        wait_for_shutdown().await;
        tracing::info!("shutting down");
        running.shutdown();
        ExitCode::SUCCESS
    })
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
