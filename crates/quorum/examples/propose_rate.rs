//! Proposal throughput of the metadata quorum, fsync'd, measured side by side in one run with
//! the disk's own limit (a loop of 100-byte `write` + `fdatasync` on the same file system):
//!
//!     CARGO_TARGET_DIR=/work/target-quorum cargo run --release -p strait-quorum --example propose_rate
//!
//! Prints proposals/s for one voter and for three voters on loopback, each with one proposer
//! (latency-bound) and with 32 concurrent proposers (batching), and each as a ratio to the
//! fdatasync rate. Numbers only, no assertions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_quorum::{ApplyError, Image, ProposeError, Quorum, QuorumConfig, VoterAddr};
use tokio::net::TcpListener;

#[derive(Default)]
struct Counter(u64);

impl Image for Counter {
    fn apply(&mut self, _index: u64, _record: &[u8]) -> Result<Vec<u8>, ApplyError> {
        self.0 += 1;
        Ok(Vec::new())
    }
    fn snapshot(&self) -> Vec<u8> {
        self.0.to_le_bytes().to_vec()
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), ApplyError> {
        let bytes: [u8; 8] = snapshot
            .try_into()
            .map_err(|_| ApplyError("bad snapshot".into()))?;
        self.0 = u64::from_le_bytes(bytes);
        Ok(())
    }
}

fn fdatasync_rate(dir: &std::path::Path) -> f64 {
    let mut f = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let n = 300;
    let start = Instant::now();
    for _ in 0..n {
        f.write_all(&[7u8; 100]).unwrap();
        f.sync_data().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn cluster(n: u64, root: &std::path::Path) -> Vec<Arc<Quorum<Counter>>> {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let voters: BTreeMap<u64, VoterAddr> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.local_addr().unwrap().into()))
        .collect();
    let mut nodes = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        let addr = listener.local_addr().unwrap();
        let config = QuorumConfig::new(
            id,
            "bench",
            voters.clone(),
            root.join(format!("n{id}")),
            addr,
        );
        nodes.push(Arc::new(
            Quorum::open_with_listener(config, listener, Counter::default())
                .await
                .unwrap(),
        ));
    }
    nodes
}

async fn leader(nodes: &[Arc<Quorum<Counter>>]) -> Arc<Quorum<Counter>> {
    loop {
        if let Some(l) = nodes.iter().find(|n| n.is_leader()) {
            return Arc::clone(l);
        }
        nodes[0]
            .wait_until(Duration::from_millis(50), |_| false)
            .await;
    }
}

/// Proposes `total` records from `concurrency` tasks through whichever node leads; a
/// leadership change on a loaded machine only costs the retry.
async fn rate(nodes: &[Arc<Quorum<Counter>>], total: usize, concurrency: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let nodes = nodes.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < total / concurrency {
                let l = leader(&nodes).await;
                match l.propose(vec![1u8; 100]).await {
                    Ok(_) => done += 1,
                    Err(ProposeError::NotLeader { .. } | ProposeError::Timeout(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (total / concurrency * concurrency) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let root = tempfile::tempdir().unwrap();
    let disk = fdatasync_rate(root.path());
    println!("disk: {disk:.0} write+fdatasync/s (100 B)");
    for voters in [1u64, 3] {
        let dir = root.path().join(format!("q{voters}"));
        let nodes = cluster(voters, &dir).await;
        leader(&nodes).await;
        for (total, concurrency) in [(300usize, 1usize), (3200, 32)] {
            let r = rate(&nodes, total, concurrency).await;
            println!(
                "{voters} voter(s), {concurrency:>2} proposer(s): {r:>7.0} proposals/s = {:.2} x the fdatasync rate",
                r / disk
            );
        }
        for n in nodes {
            if let Ok(n) = Arc::try_unwrap(n) {
                n.shutdown().await.unwrap();
            }
        }
    }
}
