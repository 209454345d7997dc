//! The Prometheus endpoint: `GET /metrics` over plain HTTP/1.1 on `metrics.http.listener`
//! (`host:port`; off when unset). Exposes broker totals and every cluster link's health
//! and progress (see `strait_link::metrics`), and the log manager's I/O pool and long-poll
//! wake-ups. Deliberately tiny: one request per connection, no keep-alive, bounded
//! request size, nothing but GET.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::broker::Broker;

/// The config key naming the metrics listener.
pub const METRICS_LISTENER_KEY: &str = "metrics.http.listener";

/// Binds the listener named by `metrics.http.listener`, if set.
pub async fn bind(broker: &Broker) -> std::io::Result<Option<TcpListener>> {
    match broker.config.supplied.get(METRICS_LISTENER_KEY) {
        None => Ok(None),
        Some(addr) => {
            let addr = addr.trim().trim_start_matches("http://");
            TcpListener::bind(addr).await.map(Some).map_err(|e| {
                std::io::Error::new(e.kind(), format!("{METRICS_LISTENER_KEY}={addr}: {e}"))
            })
        }
    }
}

pub async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let broker = broker.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), answer(&broker, stream))
                        .await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(broker: &Broker, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() + n > 16 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request_line = buf.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = request_line.split(|b| *b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, body) = if method != b"GET" {
        ("405 Method Not Allowed", "only GET\n".to_string())
    } else if path == b"/metrics" || path.starts_with(b"/metrics?") {
        ("200 OK", render(broker))
    } else {
        ("404 Not Found", "see /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The whole exposition.
pub fn render(broker: &Broker) -> String {
    let mut out = String::new();
    let topics = broker.topics.list();
    let _ = writeln!(
        out,
        "# HELP strait_topics Topics on this broker.\n# TYPE strait_topics gauge\nstrait_topics {}",
        topics.len()
    );
    let partitions: i64 = topics.iter().map(|t| i64::from(t.partition_count())).sum();
    let _ = writeln!(out, "# HELP strait_partitions Partitions on this broker.\n# TYPE strait_partitions gauge\nstrait_partitions {partitions}");
    let mirrors = topics
        .iter()
        .filter(|t| t.read_only_reason().is_some())
        .count();
    let _ = writeln!(out, "# HELP strait_mirror_topics Read-only mirror topics.\n# TYPE strait_mirror_topics gauge\nstrait_mirror_topics {mirrors}");
    render_log_manager(&mut out, broker.topics.io());
    if let Some(stats) = broker.log_cleaner_stats() {
        render_cleaner(&mut out, &stats);
    }
    if let Some(links) = broker.links() {
        links.render_metrics(&mut out);
    }
    if let Some(replication) = broker.replica_manager() {
        crate::replication::manager::render_metrics(replication, &broker.topics, &mut out);
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// The I/O threads ([`crate::log_manager`]): Kafka reports its request handler pool as
/// `RequestQueueSize` / `RequestQueueTimeMs` / `LocalTimeMs` and its fetch purgatory as
/// `PurgatorySize{delayedOperation=Fetch}`; these are the same quantities for the pool
/// that runs partition file I/O. Times are totals: divide their rate by the jobs' rate.
fn render_log_manager(out: &mut String, io: &crate::log_manager::LogManager) {
    let s = io.pool_stats();
    let secs = |us: u64| us as f64 / 1e6;
    family(
        out,
        "strait_log_manager_io_threads",
        "gauge",
        "I/O threads (num.io.threads).",
        io.threads(),
    );
    family(out, "strait_log_manager_queue_size", "gauge", "I/O jobs accepted and not started yet (on the run queue or behind a partition's earlier jobs).", s.queued);
    family(
        out,
        "strait_log_manager_jobs_total",
        "counter",
        "I/O jobs run (a partition append, marker, read, or an upkeep pass).",
        s.jobs_run,
    );
    family(
        out,
        "strait_log_manager_handoffs_total",
        "counter",
        "Hand-offs of work to the I/O threads (one per request batch, job or lane scheduled).",
        s.handoffs,
    );
    family(
        out,
        "strait_log_manager_io_thread_wakeups_total",
        "counter",
        "Times a parked I/O thread was woken for new work.",
        s.thread_wakeups,
    );
    family(
        out,
        "strait_log_manager_job_queue_time_seconds_total",
        "counter",
        "Time I/O jobs waited between submission and start, summed over jobs.",
        secs(s.queue_time_us),
    );
    family(
        out,
        "strait_log_manager_job_run_time_seconds_total",
        "counter",
        "Time I/O jobs ran, summed over jobs.",
        secs(s.run_time_us),
    );
    family(out, "strait_log_manager_fetch_wakeups_total", "counter", "Long-polling fetches resumed by an append notification of a partition they wait on (not by timeout).", io.fetch_wakeups());
    family(out, "strait_log_manager_fetch_partition_reads_total", "counter", "Partition reads done by Fetch (a long poll costs one per partition, plus one per woken partition).", io.fetch_reads());
    family(
        out,
        "strait_log_manager_fetches_waiting",
        "gauge",
        "Long-polling fetches parked waiting for data (Kafka's fetch purgatory size).",
        io.fetches_waiting(),
    );
}

/// Kafka's cleaner metrics have other names (JMX); these say the same in Prometheus terms.
fn render_cleaner(out: &mut String, s: &crate::log_cleaner::CleanerStats) {
    for (name, help, value) in [
        (
            "strait_log_cleaner_passes_total",
            "Cleaning passes swapped in.",
            s.passes,
        ),
        (
            "strait_log_cleaner_discarded_passes_total",
            "Passes discarded because the log changed (retention, truncation) while cleaning.",
            s.discarded_passes,
        ),
        (
            "strait_log_cleaner_failed_passes_total",
            "Passes that failed.",
            s.failed_passes,
        ),
        (
            "strait_log_cleaner_read_bytes_total",
            "Bytes the cleaner read.",
            s.bytes_read,
        ),
        (
            "strait_log_cleaner_written_bytes_total",
            "Bytes the cleaner wrote.",
            s.bytes_written,
        ),
        (
            "strait_log_cleaner_records_removed_total",
            "Records removed by cleaning.",
            s.records_removed,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP strait_log_cleaner_uncleanable_partitions Partitions the cleaner gave up on until restart (see the broker log for the reason).\n# TYPE strait_log_cleaner_uncleanable_partitions gauge\nstrait_log_cleaner_uncleanable_partitions {}",
        s.uncleanable.len()
    );
}

/// `http://host:port/metrics` for the bound listener, for the start-up line.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/metrics")
}
