//! The Strait client as a consumer: raw Fetch at both isolation levels with Kafka's consumer
//! abort filtering applied here, ListOffsets, and the checks one side (source or mirror)
//! must pass for the model's current state, through the client and the partition log.

use super::*;

#[derive(Debug, Default)]
pub(crate) struct Consumed {
    pub(crate) records: Vec<(i64, String)>,
    pub(crate) last_stable_offsets: BTreeSet<i64>,
    pub(crate) high_watermarks: BTreeSet<i64>,
    pub(crate) aborted: BTreeSet<(i64, i64)>,
    /// Base offset of every batch returned (control batches included).
    pub(crate) batch_bases: Vec<i64>,
    pub(crate) fetches: usize,
}

/// Reads partition 0 of `topic` from offset 0 to the end at `isolation`, with raw Fetch
/// requests, dropping aborted batches and control batches the way Kafka's consumer does
/// (`CompletedFetch.nextFetchedRecord`).
pub(crate) async fn consume(c: &Client, topic: &str, isolation: IsolationLevel) -> Consumed {
    c.refresh_metadata(&[topic]).await.unwrap();
    let leader = c.find_leader(topic, 0).await.unwrap();
    let mut out = Consumed::default();
    let mut offset = 0i64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "{topic} at {isolation:?}: no end after {} fetches (at offset {offset})",
            out.fetches
        );
        let params = FetchParams {
            max_wait_ms: 0,
            isolation_level: isolation,
            partitions: vec![FetchPartitionSpec::new(topic, 0, offset)],
            ..FetchParams::default()
        };
        let r = c.fetch_raw(leader, &params).await.unwrap();
        out.fetches += 1;
        let p = &r.partitions[0];
        assert!(
            p.error.is_none(),
            "{topic} fetch at {offset} ({isolation:?}): {:?}",
            p.error
        );
        out.last_stable_offsets.insert(p.last_stable_offset);
        out.high_watermarks.insert(p.high_watermark);
        if p.records.is_empty() {
            return out;
        }
        let mut pending: Vec<(i64, i64)> = p
            .aborted_transactions
            .iter()
            .map(|a| (a.first_offset, a.producer_id))
            .collect();
        pending.sort();
        for &(first, pid) in &pending {
            out.aborted.insert((pid, first));
        }
        let mut pending = std::collections::VecDeque::from(pending);
        let mut aborted_producers: HashSet<i64> = HashSet::new();
        let fetch_offset = offset;
        for b in BatchIter::new(&p.records) {
            let b = b.unwrap();
            if b.last_offset() < fetch_offset {
                continue;
            }
            out.batch_bases.push(b.base_offset());
            offset = b.next_offset();
            if isolation == IsolationLevel::ReadCommitted && b.has_producer_id() {
                while pending
                    .front()
                    .is_some_and(|&(first, _)| first <= b.last_offset())
                {
                    aborted_producers.insert(pending.pop_front().unwrap().1);
                }
                if control_record_type(&b).unwrap() == Some(ControlRecordType::Abort) {
                    aborted_producers.remove(&b.producer_id());
                } else if b.is_transactional() && aborted_producers.contains(&b.producer_id()) {
                    continue;
                }
            }
            if b.is_control() {
                continue;
            }
            for rec in decode_records(&b).unwrap() {
                let o = rec.offset(&b);
                if o >= fetch_offset {
                    let v = rec.value.as_deref().map(String::from_utf8_lossy).unwrap();
                    out.records.push((o, v.into_owned()));
                }
            }
        }
    }
}

pub(crate) async fn list_latest(c: &Client, topic: &str, isolation: IsolationLevel) -> i64 {
    let leader = c.find_leader(topic, 0).await.unwrap();
    let conn = c.broker(leader).await.unwrap();
    let r = conn
        .list_offsets_with(vec![(topic, 0, OffsetSpec::Latest)], isolation)
        .await
        .unwrap();
    assert!(
        r[0].error.is_none(),
        "ListOffsets {isolation:?}: {:?}",
        r[0]
    );
    r[0].offset
}

/// Everything one side (source or mirror) must show for the model's current state, through
/// the Strait client and the partition log itself.
pub(crate) async fn check_side(side: &str, b: &RunningBroker, c: &Client, m: &Model) {
    let (lso, hw) = (m.last_stable_offset(), m.high_watermark());
    // The partition log's own transaction state.
    let (log_lso, log_hw, ongoing, index, segments) = with_log(b, TOPIC, |l| {
        (
            l.last_stable_offset(),
            l.high_watermark(),
            l.ongoing_transactions(),
            l.aborted_transactions(),
            l.segment_base_offsets(),
        )
    });
    assert_eq!(log_hw, hw, "{side}: high watermark");
    assert_eq!(log_lso, lso, "{side}: last_stable_offset() of the log");
    assert_eq!(ongoing, m.ongoing(), "{side}: ongoing transactions");
    assert_eq!(
        index, m.expected_index,
        "{side}: .txnindex entries (producer, first, marker offset, LSO after the marker)"
    );
    assert!(
        segments.len() > 3,
        "{side}: the data must span several segments, got {segments:?}"
    );
    // At least one aborted transaction has its data and its marker in different segments
    // (the .txnindex entry sits in the marker's segment).
    let segment_of = |o: i64| segments.iter().rposition(|&base| base <= o).unwrap();
    assert!(
        index
            .iter()
            .any(|e| segment_of(e.first_offset) != segment_of(e.last_offset)),
        "{side}: no aborted transaction spans a segment boundary; segments {segments:?}, index {index:?}"
    );

    let rc = consume(c, TOPIC, IsolationLevel::ReadCommitted).await;
    assert_eq!(
        rc.records,
        m.read_committed(),
        "{side}: read_committed must return exactly the committed and non-transactional records below the LSO {lso}"
    );
    for h in m.hidden() {
        assert!(
            !rc.records.contains(&h),
            "{side}: read_committed returned aborted/open record {h:?}"
        );
    }
    assert_eq!(
        rc.last_stable_offsets,
        BTreeSet::from([lso]),
        "{side}: last_stable_offset in every read_committed Fetch response"
    );
    assert_eq!(
        rc.high_watermarks,
        BTreeSet::from([hw]),
        "{side}: high watermark"
    );
    assert!(
        rc.batch_bases.iter().all(|&base| base < lso),
        "{side}: read_committed Fetch returned a batch at or past the LSO {lso}: {:?}",
        rc.batch_bases
    );
    assert_eq!(
        rc.aborted,
        m.aborted(),
        "{side}: aborted_transactions (producer id, first offset) over the read_committed fetches"
    );

    let ru = consume(c, TOPIC, IsolationLevel::ReadUncommitted).await;
    assert_eq!(
        ru.records,
        m.read_uncommitted(),
        "{side}: read_uncommitted must return every data record"
    );
    assert_eq!(
        ru.last_stable_offsets,
        BTreeSet::from([lso]),
        "{side}: last_stable_offset in read_uncommitted Fetch responses (Kafka reports it at every level)"
    );
    assert!(
        ru.aborted.is_empty(),
        "{side}: aborted_transactions at read_uncommitted: {:?}",
        ru.aborted
    );

    assert_eq!(
        list_latest(c, TOPIC, IsolationLevel::ReadCommitted).await,
        lso,
        "{side}: ListOffsets latest at read_committed = LSO"
    );
    assert_eq!(
        list_latest(c, TOPIC, IsolationLevel::ReadUncommitted).await,
        hw,
        "{side}: ListOffsets latest at read_uncommitted = high watermark"
    );
}
