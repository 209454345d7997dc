//! strait-client against a broker we did not write: librdkafka's mock cluster (3 brokers),
//! hosted by confluent-kafka's bundled librdkafka and fed by confluent-kafka producers.
//!
//! Ignored by default (it needs Python with confluent-kafka). Run with:
//!
//! ```sh
//! STRAIT_MOCK_PY=protocol-tests/.venv/bin/python cargo test -p strait-client -- --ignored
//! ```
//!
//! Without `STRAIT_MOCK_PY` the test looks for `protocol-tests/.venv/bin/python` and, if
//! that is missing too, prints why it skipped and passes.

// Test harness code: a failed unwrap is a failed test (clippy.toml only covers #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use strait_client::fetch::{FetchParams, FetchPartitionSpec};
use strait_client::groups::OffsetToCommit;
use strait_client::offsets::{EpochQuery, OffsetSpec};
use strait_client::{Client, ClientConfig, ErrorCode};
use strait_records::{decode_records, BatchIter, Compression};

const TOPIC: &str = "strait-mock";
const PER_PARTITION: usize = 10;
const CODECS: [Compression; 4] = [
    Compression::None,
    Compression::Gzip,
    Compression::Lz4,
    Compression::Zstd,
];

/// Hosts the mock, produces `PER_PARTITION` records to partitions 0..4 (one codec each),
/// prints `BOOTSTRAP <list>` and `READY`, then lives until stdin closes.
const MOCK_PY: &str = r#"
import logging, re, sys, time
from confluent_kafka import Producer

found = {}
class Grab(logging.Handler):
    def emit(self, record):
        m = re.search(r"replaced with ([0-9.:,]+)", record.getMessage())
        if m and "bootstrap" not in found:
            found["bootstrap"] = m.group(1).rstrip(",")
log = logging.getLogger("mock")
log.setLevel(logging.DEBUG)
log.addHandler(Grab())
host = Producer({"test.mock.num.brokers": 3, "bootstrap.servers": "x", "debug": "mock"}, logger=log)
deadline = time.time() + 20
while "bootstrap" not in found and time.time() < deadline:
    host.poll(0.1)
bootstrap = found["bootstrap"]
topic, per = sys.argv[1], int(sys.argv[2])
errors = []
def report(err, msg):
    if err is not None:
        errors.append(str(err))
for p, codec in enumerate(["none", "gzip", "lz4", "zstd"]):
    prod = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 50})
    for i in range(per):
        prod.produce(topic, key=f"k{i}".encode(), value=f"v-{p}-{i}".encode(), partition=p,
                     headers=[("h", b"x")], on_delivery=report)
    if prod.flush(20) != 0 or errors:
        print("ERROR", errors, flush=True)
        sys.exit(1)
print("BOOTSTRAP", bootstrap, flush=True)
print("READY", flush=True)
while sys.stdin.readline():
    host.poll(0.1)
"#;

struct Mock {
    child: Child,
    bootstrap: String,
    _dir: tempfile::TempDir,
}

impl Drop for Mock {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("STRAIT_MOCK_PY") {
        return Some(PathBuf::from(p));
    }
    let default =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../protocol-tests/.venv/bin/python");
    default.exists().then_some(default)
}

fn start_mock() -> Option<Mock> {
    let Some(python) = python() else {
        eprintln!(
            "SKIPPED: no Python with confluent-kafka (set STRAIT_MOCK_PY or create protocol-tests/.venv)"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("mock.py");
    std::fs::write(&script, MOCK_PY).unwrap();
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(TOPIC)
        .arg(PER_PARTITION.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = child.stdout.take().unwrap();
    let mut bootstrap = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(list) = line.strip_prefix("BOOTSTRAP ") {
            bootstrap = Some(list.to_string());
        } else if line == "READY" {
            break;
        } else if line.starts_with("ERROR") {
            panic!("mock producer failed: {line}");
        }
    }
    let bootstrap = bootstrap.expect("mock printed no bootstrap list");
    // Keep stdin open: the script exits when it closes.
    let _ = child.stdin.as_mut().unwrap().write_all(b"");
    Some(Mock {
        child,
        bootstrap,
        _dir: dir,
    })
}

#[tokio::test]
#[ignore = "needs Python with confluent-kafka (librdkafka mock cluster); see the file docs"]
async fn librdkafka_mock_cluster_metadata_offsets_fetch_and_groups() {
    let Some(mock) = start_mock() else {
        return;
    };
    let mut config = ClientConfig::plaintext(&mock.bootstrap);
    config.request_timeout = Duration::from_secs(10);
    let client = Client::connect(&config).await.unwrap();

    // Metadata: three brokers, leaders spread over them.
    let metadata = client.refresh_metadata(&[TOPIC]).await.unwrap();
    assert_eq!(metadata.brokers.len(), 3, "{metadata:?}");
    let topic = metadata.topic(TOPIC).expect("topic in metadata");
    assert!(topic.error.is_none(), "{topic:?}");
    assert!(topic.partitions.len() >= CODECS.len(), "{topic:?}");
    let leaders: std::collections::BTreeSet<i32> = topic
        .partitions
        .values()
        .filter_map(|p| p.leader_id)
        .collect();
    assert!(leaders.len() > 1, "leaders should be spread: {topic:?}");
    for p in topic.partitions.values() {
        assert!(metadata.brokers.contains_key(&p.leader_id.unwrap()));
    }

    for (partition, codec) in CODECS.iter().enumerate() {
        let partition = partition as i32;
        let (leader, leader_epoch) = client
            .find_leader_and_epoch(TOPIC, partition)
            .await
            .unwrap();

        // ListOffsets on the leader: earliest 0, latest = records produced.
        let listed = client
            .list_offsets(
                leader,
                [
                    (TOPIC, partition, OffsetSpec::Earliest),
                    (TOPIC, partition, OffsetSpec::Latest),
                ],
            )
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|l| l.error.is_none()), "{listed:?}");
        let earliest = listed.iter().find(|l| l.offset == 0);
        let latest = listed.iter().find(|l| l.offset == PER_PARTITION as i64);
        assert!(earliest.is_some() && latest.is_some(), "{listed:?}");

        // Fetch from the leader, with the metadata's leader epoch for fencing.
        let mut spec = FetchPartitionSpec::new(TOPIC, partition, 0);
        spec.current_leader_epoch = leader_epoch;
        let params = FetchParams {
            max_wait_ms: 100,
            partitions: vec![spec],
            ..FetchParams::default()
        };
        let result = client.fetch_raw(leader, &params).await.unwrap();
        assert!(
            result.version >= 11,
            "mock speaks Fetch up to 16; got v{}",
            result.version
        );
        let fetched = &result.partitions[0];
        assert_eq!(fetched.error, None, "{fetched:?}");
        assert_eq!(fetched.high_watermark, PER_PARTITION as i64);
        assert_eq!(fetched.log_start_offset, 0);

        // Frame and decode the raw bytes with strait-records.
        let mut values = Vec::new();
        let mut iter = BatchIter::new(&fetched.records);
        for batch in iter.by_ref() {
            let batch = batch.unwrap();
            batch.validate_crc().unwrap();
            assert_eq!(
                batch.compression().unwrap(),
                *codec,
                "partition {partition}"
            );
            for record in decode_records(&batch).unwrap() {
                assert_eq!(record.offset(&batch), values.len() as i64);
                assert_eq!(record.headers.len(), 1);
                values.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
            }
        }
        assert_eq!(iter.trailing_bytes(), 0);
        let expected: Vec<String> = (0..PER_PARTITION)
            .map(|i| format!("v-{partition}-{i}"))
            .collect();
        assert_eq!(values, expected);

        // A broker that does not lead the partition says so, per partition.
        let other = *metadata.brokers.keys().find(|b| **b != leader).unwrap();
        let result = client.fetch_raw(other, &params).await.unwrap();
        let error = result.partitions.first().and_then(|p| p.error);
        assert!(
            matches!(error, Some(ErrorCode::NotLeaderOrFollower)),
            "fetch from non-leader {other}: {result:?}"
        );

        // OffsetForLeaderEpoch: the end offset of the current epoch is the log end.
        let epochs = client
            .offset_for_leader_epoch(
                leader,
                &[EpochQuery {
                    topic: TOPIC.into(),
                    partition,
                    leader_epoch,
                    current_leader_epoch: leader_epoch,
                }],
            )
            .await
            .unwrap();
        assert_eq!(epochs.len(), 1);
        assert_eq!(epochs[0].error, None, "{epochs:?}");
        assert_eq!(epochs[0].end_offset, PER_PARTITION as i64, "{epochs:?}");
    }

    // Standalone offset commit, then fetch it back with its leader epoch.
    let group = "strait-client-test";
    let commits = client
        .offset_commit(
            group,
            &[OffsetToCommit {
                topic: TOPIC.into(),
                partition: 1,
                offset: 7,
                leader_epoch: -1,
                metadata: Some("from strait".into()),
            }],
        )
        .await
        .unwrap();
    assert!(commits.iter().all(|(_, r)| r.is_ok()), "{commits:?}");
    let committed = client
        .offset_fetch(group, Some(&[(TOPIC, vec![1])]))
        .await
        .unwrap();
    assert_eq!(committed.len(), 1, "{committed:?}");
    assert_eq!(committed[0].offset, 7);
    assert_eq!(committed[0].metadata.as_deref(), Some("from strait"));

    // No DescribeCluster on the mock: described from Metadata.
    let cluster = client.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 3);
}
