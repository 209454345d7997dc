//! Helpers shared by the in-process broker and link tests: brokers on port 0 in their own
//! directories, a client, the private admin API, a deadline-bounded wait, topics, batches
//! and raw logs; link and mirror helpers are in [`links`], SASL/ACL set-ups in [`sasl`], a transaction's first steps in [`txn`],
//! socket-less requests through `dispatch::handle` in [`dispatch`], an in-process multi-voter
//! cluster in [`cluster`].
//! One copy of each helper: a test file keeps only what is its own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // not every test uses every helper

pub mod cluster;
mod dispatch;
mod links;
mod sasl;
mod txn;
// Each test binary uses a different part of these; an unused re-export is no fault of it.
#[allow(unused_imports)]
pub use dispatch::*;
#[allow(unused_imports)]
pub use links::*;
#[allow(unused_imports)]
pub use sasl::*;
#[allow(unused_imports)]
pub use txn::*;

use std::path::Path;
use std::time::{Duration, Instant};

use strait_broker::{BrokerConfig, RunningBroker};
use strait_client::{Client, ClientConfig};
use strait_protocol::admin::*;

/// A broker on 127.0.0.1:0 with its data in `dir`, plus `extra` `key=value` overrides.
pub async fn start_with(dir: &Path, extra: &[String]) -> RunningBroker {
    let mut overrides = vec![
        "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
        format!("log.dirs={}", dir.display()),
    ];
    overrides.extend_from_slice(extra);
    RunningBroker::start(BrokerConfig::load(None, &overrides).unwrap())
        .await
        .unwrap()
}

pub async fn start(dir: &Path) -> RunningBroker {
    start_with(dir, &[]).await
}

/// Wall-clock milliseconds (what a broker stamps on an append).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn addr(b: &RunningBroker) -> String {
    format!("127.0.0.1:{}", b.listeners[0].port)
}

pub async fn client(b: &RunningBroker) -> Client {
    Client::connect(&ClientConfig::plaintext(&addr(b)))
        .await
        .unwrap()
}

/// One private admin API round trip (what the CLIs send).
pub async fn admin<M: AdminMessage, R: AdminMessage>(c: &Client, req: &M) -> R {
    c.strait_admin(req).await.unwrap()
}

/// Creates `name` with `partitions` partitions (replication factor 1), asserting it was
/// created, and refreshes the client's metadata for it.
pub async fn new_topic(c: &Client, name: &str, partitions: i32) {
    let created = c
        .create_topics(
            &[strait_client::admin::NewTopic::new(name, partitions, 1)],
            10_000,
            false,
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "create {name}: {:?}", created[0].1);
    c.refresh_metadata(&[name]).await.unwrap();
}

/// Every non-internal topic of the cluster.
pub async fn topics(c: &Client) -> std::collections::BTreeSet<String> {
    c.refresh_all_metadata()
        .await
        .unwrap()
        .topics
        .keys()
        .filter(|t| !t.starts_with("__"))
        .cloned()
        .collect()
}

/// Waits for `cond` with a deadline (no fixed sleeps: polls until true).
pub async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A CreateClusterLinks request for link `name` to `source` with `configs` (key, value).
pub fn link_request(name: &str, configs: &[(&str, &str)]) -> CreateClusterLinksRequest {
    CreateClusterLinksRequest {
        links: vec![NewClusterLink {
            name: name.into(),
            configs: configs
                .iter()
                .map(|(k, v)| ConfigEntry {
                    name: k.to_string(),
                    value: Some(v.to_string()),
                    sensitive: false,
                })
                .collect(),
        }],
        validate_only: false,
        validate_link: true,
        timeout_ms: 10_000,
    }
}

/// Creates a link and asserts it was accepted.
pub async fn create_link_with(dst: &Client, name: &str, configs: &[(&str, &str)]) {
    let resp: CreateClusterLinksResponse = admin(dst, &link_request(name, configs)).await;
    assert_eq!(
        resp.results[0].error_code, 0,
        "create link {name}: {:?}",
        resp.results[0].error_message
    );
}

/// DescribeMirrors of one topic, with partitions.
pub async fn mirror(dst: &Client, topic: &str) -> Option<MirrorDescription> {
    let r: DescribeMirrorsResponse = admin(
        dst,
        &DescribeMirrorsRequest {
            topics: Some(vec![topic.into()]),
            include_partitions: true,
            ..Default::default()
        },
    )
    .await;
    r.mirrors.into_iter().next()
}

/// A topic filter that mirrors every source topic.
pub const ALL: &str =
    r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;

/// `n` records `k<r>` → `<tag>-<r>` in one uncompressed batch (base offset 0).
pub fn batch(tag: &str, n: i64) -> bytes::Bytes {
    batch_with(tag, n, strait_records::Compression::None)
}

/// [`batch`] compressed with LZ4 (a mirror must keep the codec's bytes).
pub fn lz4_batch(tag: &str, n: i64) -> bytes::Bytes {
    batch_with(tag, n, strait_records::Compression::Lz4)
}

fn batch_with(tag: &str, n: i64, codec: strait_records::Compression) -> bytes::Bytes {
    let mut b = strait_records::record::BatchBuilder::new(0).compression(codec);
    for r in 0..n {
        b = b.append(
            1_700_000_000_000 + r,
            Some(format!("k{r}").as_bytes()),
            Some(format!("{tag}-{r}").as_bytes()),
        );
    }
    bytes::Bytes::from(b.build().unwrap())
}

/// Every batch of `topic`-`partition` as stored, concatenated (Fetch from offset 0 to the
/// end): two logs are byte-identical iff these are equal.
pub async fn raw_log(c: &Client, topic: &str, partition: i32) -> bytes::Bytes {
    use strait_client::fetch::{FetchParams, FetchPartitionSpec};
    c.refresh_metadata(&[topic]).await.unwrap();
    let leader = c.find_leader(topic, partition).await.unwrap();
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let params = FetchParams {
            max_wait_ms: 0,
            partitions: vec![FetchPartitionSpec::new(topic, partition, offset)],
            ..FetchParams::default()
        };
        let r = c.fetch_raw(leader, &params).await.unwrap();
        let p = &r.partitions[0];
        assert!(p.error.is_none(), "{:?}", p.error);
        if p.records.is_empty() {
            return bytes::Bytes::from(out);
        }
        let mut last = offset;
        for b in strait_records::BatchIter::new(&p.records) {
            let b = b.unwrap();
            if b.last_offset() >= offset {
                out.extend_from_slice(b.as_bytes());
                last = b.last_offset() + 1;
            }
        }
        offset = last;
    }
}

/// Partitions `0..partitions` of `topic` hold the same bytes on both clusters (and some).
pub async fn assert_identical(src: &Client, dst: &Client, topic: &str, partitions: i32) {
    for p in 0..partitions {
        let a = raw_log(src, topic, p).await;
        assert!(!a.is_empty());
        assert_eq!(a, raw_log(dst, topic, p).await, "{topic}/{p}: bytes differ");
    }
}

/// ListClusterLinks for one link, with its topics and configs.
pub async fn link_listing(dst: &Client, name: &str) -> ClusterLinkListing {
    let r: ListClusterLinksResponse = admin(
        dst,
        &ListClusterLinksRequest {
            names: Some(vec![name.into()]),
            include_topics: true,
            include_configs: true,
        },
    )
    .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.links.into_iter().next().unwrap()
}

/// Every record of `topic`-0 in offset order: (offset, value, producer id of its batch).
pub async fn records(c: &Client, topic: &str) -> Vec<(i64, String, i64)> {
    let raw = raw_log(c, topic, 0).await;
    let mut out = Vec::new();
    for b in strait_records::BatchIter::new(&raw) {
        let b = b.unwrap();
        for rec in strait_records::record::decode_records(&b).unwrap() {
            let v = rec.value.map(|v| String::from_utf8_lossy(&v).to_string());
            out.push((
                b.base_offset() + i64::from(rec.offset_delta),
                v.unwrap_or_default(),
                b.header().producer_id,
            ));
        }
    }
    out
}
