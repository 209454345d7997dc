//! A COMMIT marker with CRC 0 in the source log (as librdkafka's mock cluster writes them):
//! the mirror partition stops before it and shows why.

use super::*;

/// What the CRC-0 scenario leaves behind, for the two tests below.
struct CrcZero {
    source: RunningBroker,
    dest: RunningBroker,
    dst: Client,
    marker_offset: i64,
    source_hw: i64,
}

const CRC_TOPIC: &str = "crc";

/// A COMMIT marker whose CRC field is 0 (as librdkafka's mock cluster writes control
/// batches) sits in the source log; the mirror has everything before it.
async fn crc_zero_scenario(sd: &Path, dd: &Path) -> CrcZero {
    let source = start_with(sd, &[]).await;
    let dest = start_with(dd, &[]).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new(CRC_TOPIC, 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    let mut m = Model::new();
    m.plain(&["before"]);
    m.txn("T", P1, 0, &["t-0"], Compression::None);
    append_to_source(&source, CRC_TOPIC, &m.take());
    create_link(&dst, &addr(&source), CRC_TOPIC).await;
    wait_mirrored(&dst, CRC_TOPIC, 2).await;

    // The marker and a record after it, appended and corrupted under the partition's write
    // lock, so no fetch can see the marker with its real CRC.
    let marker_offset = m.next_offset;
    m.end(P1, true);
    let marker = m.take();
    m.plain(&["after"]);
    let after = m.take();
    let mut both = marker.clone();
    both.extend_from_slice(&after);
    let t = source.broker.topics.get(CRC_TOPIC).unwrap();
    t.partition(0)
        .unwrap()
        .with_log_mut(|l| {
            l.append_mirrored(&both, now_ms()).unwrap();
            l.flush().unwrap();
            let base = *l.segment_base_offsets().last().unwrap();
            let path = l.dir().join(format!("{base:020}.log"));
            let file = std::fs::read(&path).unwrap();
            let at = file
                .windows(marker.len())
                .rposition(|w| w == marker.as_slice())
                .expect("marker bytes in the active segment");
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all_at(&[0, 0, 0, 0], (at + 17) as u64).unwrap(); // CRC field: bytes 17..21
            f.sync_all().unwrap();
        })
        .unwrap();

    // The source serves the control batch with CRC 0.
    src.refresh_metadata(&[CRC_TOPIC]).await.unwrap();
    let leader = src.find_leader(CRC_TOPIC, 0).await.unwrap();
    let r = src
        .fetch_raw(
            leader,
            &FetchParams {
                max_wait_ms: 0,
                partitions: vec![FetchPartitionSpec::new(CRC_TOPIC, 0, marker_offset)],
                ..FetchParams::default()
            },
        )
        .await
        .unwrap();
    let served = BatchIter::new(&r.partitions[0].records)
        .next()
        .unwrap()
        .unwrap();
    assert!(served.is_control() && served.base_offset() == marker_offset);
    assert_eq!(
        served.crc(),
        0,
        "the source must serve the marker with CRC 0"
    );
    CrcZero {
        source,
        dest,
        dst,
        marker_offset,
        source_hw: m.high_watermark(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crc_zero_control_batch_stops_the_mirror_partition() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = crc_zero_scenario(sd.path(), dd.path()).await;
    // The link refuses the bad batch (a CRC check no retry can pass) and fails the mirror.
    wait_for("the mirror to fail", || {
        let dst = s.dst.clone();
        async move { mirror(&dst, CRC_TOPIC).await.unwrap().state == "FAILED" }
    })
    .await;
    let m = mirror(&s.dst, CRC_TOPIC).await.unwrap();
    let p = &m.partitions[0];
    eprintln!(
        "CRC-0 marker: mirror state {:?} reason {:?} message {:?}; partition state {:?} log end {} source hw {} lag {} error {:?}",
        m.state, m.reason, m.reason_message, p.state, p.log_end_offset, p.source_high_watermark, p.lag, p.error
    );
    assert_eq!(
        p.log_end_offset, s.marker_offset,
        "the mirror partition must not advance past (or to beyond) the corrupt marker"
    );
    assert_eq!(p.source_high_watermark, s.source_hw);
    assert_eq!(p.lag, s.source_hw - s.marker_offset);
    // The partition error names the problem.
    wait_for("the partition error to name the CRC mismatch", || {
        let dst = s.dst.clone();
        async move {
            mirror(&dst, CRC_TOPIC).await.unwrap().partitions[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("CRC mismatch") && e.contains("stored 0x00000000"))
        }
    })
    .await;
    let (leo, lso) = with_log(&s.dest, CRC_TOPIC, |l| {
        (l.log_end_offset(), l.last_stable_offset())
    });
    assert_eq!(leo, s.marker_offset, "mirror log end");
    assert_eq!(
        lso, 1,
        "the transaction stays open on the mirror: LSO at its first offset"
    );
    s.source.shutdown();
    s.dest.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crc_zero_control_batch_shows_an_error_state_with_a_reason() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = crc_zero_scenario(sd.path(), dd.path()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let m = mirror(&s.dst, CRC_TOPIC).await.unwrap();
        if m.state != "ACTIVE" {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "mirror still ACTIVE 30 s after refusing a corrupt source batch: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        m.reason.is_some()
            && m.reason_message
                .as_deref()
                .is_some_and(|t| t.contains("CRC")),
        "the error state must carry a reason naming the corrupt batch: {m:?}"
    );
    assert_eq!(m.state, "FAILED", "{m:?}");
    assert_eq!(m.reason.as_deref(), Some("SOURCE_DATA_CORRUPT"), "{m:?}");
    assert_eq!(m.partitions[0].log_end_offset, s.marker_offset);
    s.source.shutdown();
    s.dest.shutdown();
}
