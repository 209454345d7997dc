#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Transactional data through a cluster link, end to end, read by real clients.
//!
//! There is no transaction coordinator yet, so transactional data reaches Strait only by
//! mirroring. The test builds Kafka-exact batches with `strait_records` (several
//! transactional producers with committed, aborted and still-open transactions
//! interleaved, an idempotent producer and plain records, offsets assigned as a Kafka
//! leader would, over many small segments) and appends them to a normal topic of an
//! in-process *source* Strait broker through `PartitionLog::append_mirrored`. A
//! *destination* Strait broker links to it with the real cluster link, so the bytes travel
//! over the Kafka protocol and through the destination's `append_mirrored`. Both sides are
//! then read at both isolation levels by the Strait client (raw Fetch, Kafka's consumer
//! abort filtering applied here), confluent-kafka (librdkafka), kafka-python and the
//! Apache Kafka Java client, and checked against the model of what was written.
//!
//! External clients: `protocol-tests/.venv/bin/python` (confluent-kafka, kafka-python) and
//! `java` with the jars in `protocol-tests/java/lib` (or `$STRAIT_JAVA_LIB`). A missing one
//! is skipped with a message, unless `STRAIT_REQUIRE_ALL_CLIENTS` is set, then it fails.
//!
//! Layout: this file holds the brokers-and-link harness; [`model`] what was written,
//! [`read`] the Strait client's view, [`external`] the third-party clients; the tests are in
//! [`end_to_end`], [`crc_zero`] and [`cutover`].

#[path = "../support/mod.rs"]
mod support;

mod external;
mod model;
mod read;

mod crc_zero;
mod cutover;
mod end_to_end;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use external::*;
use model::*;
use read::*;
use strait_broker::RunningBroker;
use strait_client::fetch::{FetchParams, FetchPartitionSpec, IsolationLevel};
use strait_client::offsets::OffsetSpec;
use strait_client::Client;
use strait_protocol::admin::{MirrorOp, PartitionCount};
use strait_records::record::BatchBuilder;
use strait_records::{control_record_type, decode_records, BatchIter, Compression};
use strait_records::{ControlRecordType, RecordBatch};
use strait_storage::AbortedTxn;
use support::*;

const TOPIC: &str = "txn";
/// Small enough that the data spans many segments (a batch here is 70-90 bytes).
const SEGMENT_BYTES: &str = "260";

async fn create_link(dst: &Client, source: &str, topic: &str) {
    let filters = format!(
        r#"{{"topicFilters":[{{"name":"{topic}","patternType":"LITERAL","filterType":"INCLUDE"}}]}}"#
    );
    create_link_with(
        dst,
        "l",
        &[
            ("bootstrap.servers", source),
            ("metadata.max.age.ms", "500"),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", &filters),
        ],
    )
    .await;
}

/// Waits until mirror `topic` (one partition) is ACTIVE with `leo` as its log end offset.
async fn wait_mirrored(dst: &Client, topic: &str, leo: i64) {
    wait_for(&format!("mirror {topic} at log end offset {leo}"), || {
        let dst = dst.clone();
        async move {
            mirror(&dst, topic).await.is_some_and(|m| {
                m.state == "ACTIVE"
                    && m.partitions.len() == 1
                    && m.partitions[0].log_end_offset == leo
                    && m.partitions[0].lag == 0
            })
        }
    })
    .await;
}

/// Appends `bytes` to partition 0 of `topic` on `b` as the mirror path does (Kafka offsets
/// and CRCs kept as built), then wakes long-polling fetches (the link's).
fn append_to_source(b: &RunningBroker, topic: &str, bytes: &[u8]) {
    let t = b.broker.topics.get(topic).expect("source topic exists");
    t.partition(0)
        .unwrap()
        .with_log_mut(|l| l.append_mirrored(bytes, now_ms()))
        .unwrap()
        .unwrap_or_else(|e| panic!("append to the source log refused: {e}"));
}

fn with_log<R>(
    b: &RunningBroker,
    topic: &str,
    f: impl FnOnce(&strait_storage::PartitionLog) -> R,
) -> R {
    b.broker
        .topics
        .get(topic)
        .unwrap_or_else(|| panic!("topic {topic} exists"))
        .partition(0)
        .unwrap()
        .with_log(f)
        .unwrap()
}
