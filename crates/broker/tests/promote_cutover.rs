#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Promote cutover (DESIGN.md invariant 8), in process: a source and a destination Strait
//! broker. The fetcher gets a fault-injected delay between a fetch response and its append
//! ([`strait_link::cutover::set_test_append_delay`], process-wide, hence this file's own
//! binary with one test); a promote racing it must still leave a log whose mirrored part
//! ends exactly at the final offset, followed only by the destination producer's records.
//! Also prints the wall time of a promote at lag 0 and at lag N.

mod support;

use std::time::{Duration, Instant};

use strait_client::Client;
use strait_protocol::admin::*;
use support::*;

/// Every record value of `topic`-0, in offset order, with its offset.
async fn values(c: &Client, topic: &str) -> Vec<(i64, String)> {
    records(c, topic)
        .await
        .into_iter()
        .map(|(o, v, _)| (o, v))
        .collect()
}

async fn alter(dst: &Client, op: MirrorOp, topic: &str) {
    let r: AlterMirrorsResponse = admin(
        dst,
        &AlterMirrorsRequest {
            op,
            topics: Some(vec![topic.into()]),
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
}

/// Promotes `topic` and returns the wall time until it is STOPPED (polled every 2 ms).
async fn timed_promote(dst: &Client, topic: &str) -> Duration {
    let t0 = Instant::now();
    alter(dst, MirrorOp::Promote, topic).await;
    loop {
        if mirror(dst, topic)
            .await
            .is_some_and(|m| m.state == "STOPPED")
        {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "promotion of {topic}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn wait_leo(dst: &Client, topic: &str, leo: i64) {
    wait_for(&format!("{topic} at {leo}"), || {
        let dst = dst.clone();
        let topic = topic.to_string();
        async move {
            mirror(&dst, &topic)
                .await
                .is_some_and(|m| m.partitions.iter().all(|p| p.log_end_offset == leo))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_is_fenced_and_fast() {
    let (sd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(sd.path()).await;
    let dest = start(dd.path()).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    let topics = ["lag0", "lagn", "race", "held"];
    src.create_topics(
        &topics.map(|t| strait_client::admin::NewTopic::new(t, 1, 1)),
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&topics).await.unwrap();
    for t in topics {
        src.produce_raw(t, 0, batch("src", 10), -1).await.unwrap();
    }
    let filters =
        r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"}]}"#;
    create_link_with(
        &dst,
        "cut",
        &[
            ("bootstrap.servers", &addr(&source)),
            ("metadata.max.age.ms", "500"),
            ("auto.create.mirror.topics.enable", "true"),
            ("auto.create.mirror.topics.filters", filters),
        ],
    )
    .await;
    for t in topics {
        wait_leo(&dst, t, 10).await;
    }

    // Lag 0: one source round trip (ListOffsets), then the commit.
    let lag0 = timed_promote(&dst, "lag0").await;
    // Lag N: paused, N records behind, then promoted (the fetcher drains them first).
    alter(&dst, MirrorOp::Pause, "lagn").await;
    let n = 1000;
    for _ in 0..10 {
        src.produce_raw("lagn", 0, batch("behind", n / 10), -1)
            .await
            .unwrap();
    }
    let lagn = timed_promote(&dst, "lagn").await;
    assert_eq!(values(&dst, "lagn").await.len() as i64, 10 + n);
    println!(
        "promote wall time: lag 0 = {} ms, lag {n} records = {} ms",
        lag0.as_millis(),
        lagn.as_millis()
    );

    // The race: every fetch response waits 300 ms before its append, while the source
    // keeps producing; the promote must fence that append out.
    strait_link::cutover::set_test_append_delay(Duration::from_millis(300));
    let producing = {
        let src = src.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                src.produce_raw("race", 0, batch(&format!("late{i}"), 1), -1)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let raced = timed_promote(&dst, "race").await;
    let final_offset = mirror(&dst, "race").await.unwrap().partitions[0].log_end_offset;
    // Writes right after the switch continue after the mirrored offsets.
    let produced = dst
        .produce_raw("race", 0, batch("dest", 1), -1)
        .await
        .unwrap();
    assert_eq!(produced.base_offset, final_offset);
    producing.await.unwrap();
    // Longer than any delayed append could still take.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let dest_values = values(&dst, "race").await;
    let source_values = values(&src, "race").await;
    assert_eq!(
        dest_values.len() as i64,
        final_offset + 1,
        "a mirrored append landed after the promote: {dest_values:?}"
    );
    assert_eq!(
        &dest_values[..final_offset as usize],
        &source_values[..final_offset as usize],
        "the mirrored prefix is the source's"
    );
    assert_eq!(
        dest_values[final_offset as usize],
        (final_offset, "dest-0".to_string())
    );
    println!(
        "promote under a 300 ms append delay: {} ms, final offset {final_offset}",
        raced.as_millis()
    );

    // A produce that arrives while the mirror is PENDING_STOPPED (the delayed append keeps
    // it there for 300 ms) is held until the commit, then appended after the final offset.
    alter(&dst, MirrorOp::Pause, "held").await;
    src.produce_raw("held", 0, batch("behind", 5), -1)
        .await
        .unwrap();
    alter(&dst, MirrorOp::Promote, "held").await;
    assert_eq!(mirror(&dst, "held").await.unwrap().state, "PENDING_STOPPED");
    let t0 = Instant::now();
    let produced = dst
        .produce_raw("held", 0, batch("dest", 1), -1)
        .await
        .unwrap();
    println!(
        "produce held during PENDING_STOPPED for {} ms",
        t0.elapsed().as_millis()
    );
    assert_eq!(produced.base_offset, 15);
    assert_eq!(mirror(&dst, "held").await.unwrap().state, "STOPPED");
    strait_link::cutover::set_test_append_delay(Duration::ZERO);
    dest.shutdown();
    source.shutdown();
}
