#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Cluster links end to end, in process: a source Strait broker and a destination Strait
//! broker, each on its own port and directory, the link created through the private admin
//! API exactly as the CLI sends it. Raw batches fetched from source and mirror must be the
//! same bytes at the same offsets.

use std::time::{Duration, Instant};

use bytes::Bytes;
use strait_broker::{BrokerConfig, RunningBroker};
use strait_client::fetch::{FetchParams, FetchPartitionSpec};
use strait_client::{Client, ClientConfig};
use strait_protocol::admin::*;
use strait_records::record::BatchBuilder;
use strait_records::Compression;

async fn start(dir: &std::path::Path) -> RunningBroker {
    RunningBroker::start(
        BrokerConfig::load(
            None,
            &[
                "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
                format!("log.dirs={}", dir.display()),
            ],
        )
        .unwrap(),
    )
    .await
    .unwrap()
}

fn addr(b: &RunningBroker) -> String {
    format!("127.0.0.1:{}", b.listeners[0].port)
}

async fn client(b: &RunningBroker) -> Client {
    Client::connect(&ClientConfig::plaintext(&addr(b)))
        .await
        .unwrap()
}

async fn admin<M: AdminMessage, R: AdminMessage>(c: &Client, req: &M) -> R {
    let body = c.send_raw(M::API_KEY, 0, &req.encode()).await.unwrap();
    R::decode(body).unwrap()
}

/// Waits for `cond` with a deadline (no fixed sleeps: polls until true).
async fn wait_for<F, Fut>(what: &str, mut cond: F)
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

async fn raw_log(c: &Client, topic: &str, partition: i32) -> Bytes {
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
            return Bytes::from(out);
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

fn link_request(name: &str, source: &str, extra: &[(&str, &str)]) -> CreateClusterLinksRequest {
    let mut configs = vec![
        ConfigEntry {
            name: "bootstrap.servers".into(),
            value: Some(source.into()),
            sensitive: false,
        },
        ConfigEntry {
            name: "metadata.max.age.ms".into(),
            value: Some("500".into()),
            sensitive: false,
        },
    ];
    for (k, v) in extra {
        configs.push(ConfigEntry {
            name: k.to_string(),
            value: Some(v.to_string()),
            sensitive: false,
        });
    }
    CreateClusterLinksRequest {
        links: vec![NewClusterLink {
            name: name.into(),
            configs,
        }],
        validate_only: false,
        validate_link: true,
        timeout_ms: 10_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_is_byte_identical_read_only_and_promotable() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let src = client(&source).await;
    let dst = client(&dest).await;

    src.create_topics(
        &[strait_client::admin::NewTopic::new("orders", 3, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&["orders"]).await.unwrap();
    // Every codec, an idempotent producer, several partitions.
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (i, codec) in codecs.iter().enumerate() {
        for partition in 0..3 {
            let mut b = BatchBuilder::new(0).compression(*codec).producer(
                1000 + partition as i64,
                0,
                i as i32 * 10,
            );
            for r in 0..10 {
                b = b.append(
                    1_700_000_000_000 + r,
                    Some(format!("k{r}").as_bytes()),
                    Some(format!("v{i}-{r}").as_bytes()),
                );
            }
            src.produce_raw("orders", partition, Bytes::from(b.build().unwrap()), -1)
                .await
                .unwrap();
        }
    }

    let filters =
        r#"{"topicFilters":[{"name":"orders","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;
    let resp: CreateClusterLinksResponse = admin(
        &dst,
        &link_request(
            "link-a",
            &addr(&source),
            &[
                ("auto.create.mirror.topics.enable", "true"),
                ("auto.create.mirror.topics.filters", filters),
            ],
        ),
    )
    .await;
    assert_eq!(
        resp.results[0].error_code, 0,
        "{:?}",
        resp.results[0].error_message
    );

    let describe = |dst: Client| async move {
        let r: DescribeMirrorsResponse = admin(
            &dst,
            &DescribeMirrorsRequest {
                topics: Some(vec!["orders".into()]),
                include_partitions: true,
                ..Default::default()
            },
        )
        .await;
        r
    };
    wait_for("mirror to catch up", || {
        let dst = dst.clone();
        async move {
            let r = describe(dst).await;
            r.mirrors.first().is_some_and(|m| {
                m.partitions.len() == 3
                    && m.partitions
                        .iter()
                        .all(|p| p.lag == 0 && p.log_end_offset == 50)
            })
        }
    })
    .await;
    for p in 0..3 {
        let a = raw_log(&src, "orders", p).await;
        let b = raw_log(&dst, "orders", p).await;
        assert!(!a.is_empty());
        assert_eq!(a, b, "partition {p}: mirror bytes differ from source");
    }

    // Read-only while mirroring.
    let batch = Bytes::from(
        BatchBuilder::new(0)
            .append(1, None, Some(b"x"))
            .build()
            .unwrap(),
    );
    let err = dst
        .produce_raw("orders", 0, batch.clone(), -1)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("link-a"),
        "error must name the link: {err}"
    );

    // New source data keeps flowing.
    src.produce_raw(
        "orders",
        1,
        Bytes::from(
            BatchBuilder::new(0)
                .append(2, None, Some(b"late"))
                .build()
                .unwrap(),
        ),
        -1,
    )
    .await
    .unwrap();
    wait_for("late record", || {
        let dst = dst.clone();
        async move { describe(dst).await.mirrors[0].partitions[1].log_end_offset == 51 }
    })
    .await;

    // Promote: PENDING_STOPPED until caught up, then STOPPED and writable.
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec!["orders".into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    wait_for("promotion", || {
        let dst = dst.clone();
        async move { describe(dst).await.mirrors[0].state == "STOPPED" }
    })
    .await;
    // The promoted partitions' leader epochs are above every mirrored epoch, and producer
    // ids are allocated above every producer id in the mirrored data (1000..=1002).
    let md = dst.refresh_metadata(&["orders"]).await.unwrap();
    let src_md = src.refresh_metadata(&["orders"]).await.unwrap();
    for p in 0..3 {
        let dest_epoch = md.topic("orders").unwrap().partitions[&p].leader_epoch;
        let source_epoch = src_md.topic("orders").unwrap().partitions[&p].leader_epoch;
        assert!(
            dest_epoch > source_epoch,
            "partition {p}: destination epoch {dest_epoch} must exceed the mirrored epoch {source_epoch}"
        );
    }
    let init = kafka_protocol::messages::InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(kafka_protocol::messages::ProducerId(-1))
        .with_producer_epoch(-1);
    let pid = dst
        .any_broker()
        .await
        .unwrap()
        .send(&init, 4)
        .await
        .unwrap();
    assert!(
        pid.producer_id.0 > 1002,
        "producer id {} collides with mirrored producer ids",
        pid.producer_id.0
    );
    let produced = dst.produce_raw("orders", 0, batch, -1).await.unwrap();
    assert_eq!(
        produced.base_offset, 50,
        "new offsets continue right after the mirrored ones"
    );

    // Deleting the link is refused while... nothing is active now, so it succeeds.
    let del: DeleteClusterLinksResponse = admin(
        &dst,
        &DeleteClusterLinksRequest {
            names: vec!["link-a".into()],
            validate_only: false,
            force: false,
        },
    )
    .await;
    assert_eq!(
        del.results[0].error_code, 0,
        "{:?}",
        del.results[0].error_message
    );
    source.shutdown();
    dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_link_requests_leave_nothing_behind() {
    let dd = tempfile::tempdir().unwrap();
    let dest = start(dd.path()).await;
    let dst = client(&dest).await;
    // Unknown key.
    let r: CreateClusterLinksResponse = admin(
        &dst,
        &link_request("l", "127.0.0.1:1", &[("fetch.speed", "fast")]),
    )
    .await;
    assert_ne!(r.results[0].error_code, 0);
    assert!(r.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("fetch.speed"));
    // Malformed filter.
    let r: CreateClusterLinksResponse = admin(
        &dst,
        &link_request(
            "l",
            "127.0.0.1:1",
            &[(
                "auto.create.mirror.topics.filters",
                "{\"topicFilters\":[{\"nam\":\"x\"}]}",
            )],
        ),
    )
    .await;
    assert!(r.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("auto.create.mirror.topics.filters"));
    // Unreachable source (port 1 refuses).
    let r: CreateClusterLinksResponse = admin(&dst, &link_request("l", "127.0.0.1:1", &[])).await;
    assert_ne!(r.results[0].error_code, 0);
    let listed: ListClusterLinksResponse = admin(&dst, &ListClusterLinksRequest::default()).await;
    assert!(
        listed.links.is_empty(),
        "a refused create must not persist anything"
    );
    // Deleting an unknown link; promoting a non-mirror.
    let del: DeleteClusterLinksResponse = admin(
        &dst,
        &DeleteClusterLinksRequest {
            names: vec!["nope".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(del.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("does not exist"));
    dst.create_topics(
        &[strait_client::admin::NewTopic::new("plain", 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    let r: AlterMirrorsResponse = admin(
        &dst,
        &AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec!["plain".into()]),
            link_name: None,
            validate_only: false,
        },
    )
    .await;
    assert!(r.results[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("not a mirror"));
    dest.shutdown();
}
