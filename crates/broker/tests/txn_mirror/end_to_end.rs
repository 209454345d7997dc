//! Open and then closed transactions mirrored byte for byte and read by every client at
//! both isolation levels, on the source and on the mirror.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_transactions_read_committed_end_to_end() {
    let (sd, dd, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let small = [format!("log.segment.bytes={SEGMENT_BYTES}")];
    let source = start_with(sd.path(), &small).await;
    let dest = start_with(dd.path(), &small).await;
    let src = client(&source).await;
    let dst = client(&dest).await;
    src.create_topics(
        &[strait_client::admin::NewTopic::new(TOPIC, 1, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    src.refresh_metadata(&[TOPIC]).await.unwrap();

    // Phase 1: open transactions at the end.
    let mut m = Model::new();
    phase_one(&mut m);
    append_to_source(&source, TOPIC, &m.take());
    assert_eq!(
        m.last_stable_offset(),
        m.txns["E"].first_offset,
        "model: the LSO is the first offset of the earliest open transaction"
    );
    assert!(m.last_stable_offset() < m.high_watermark());
    check_side("source", &source, &src, &m).await;

    create_link(&dst, &addr(&source), TOPIC).await;
    wait_mirrored(&dst, TOPIC, m.high_watermark()).await;
    dst.refresh_metadata(&[TOPIC]).await.unwrap();
    assert_eq!(
        raw_log(&src, TOPIC, 0).await,
        raw_log(&dst, TOPIC, 0).await,
        "mirror bytes differ from the source"
    );
    check_side("mirror", &dest, &dst, &m).await;
    let mut round = jobs("source", &addr(&source), &m);
    round.extend(jobs("mirror", &addr(&dest), &m));
    external_clients(&round, work.path(), "open").await;

    // Phase 2: the open transactions end (G aborted, E committed) on the source and are
    // mirrored: the LSO reaches the high watermark on both sides.
    phase_two(&mut m);
    assert_eq!(m.last_stable_offset(), m.high_watermark());
    append_to_source(&source, TOPIC, &m.take());
    wait_mirrored(&dst, TOPIC, m.high_watermark()).await;
    assert_eq!(
        raw_log(&src, TOPIC, 0).await,
        raw_log(&dst, TOPIC, 0).await,
        "mirror bytes differ from the source after the markers"
    );
    for v in ["e-0", "e-1"] {
        assert!(
            m.read_committed().iter().any(|(_, x)| x == v),
            "model: {v} is committed now"
        );
    }
    for v in ["g-0", "g-1", "b-0", "c-0"] {
        assert!(
            !m.read_committed().iter().any(|(_, x)| x == v),
            "model: {v} stays aborted"
        );
    }
    check_side("source", &source, &src, &m).await;
    check_side("mirror", &dest, &dst, &m).await;
    let mut round = jobs("source", &addr(&source), &m);
    round.extend(jobs("mirror", &addr(&dest), &m));
    external_clients(&round, work.path(), "closed").await;

    source.shutdown();
    dest.shutdown();
}
