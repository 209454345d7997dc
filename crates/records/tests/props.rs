//! Property tests for the batch codec: round trips, corruption detection, framing of any
//! prefix, and "arbitrary bytes never panic".

#![allow(clippy::unwrap_used, clippy::expect_used)]
use bytes::Bytes;
use proptest::prelude::*;
use strait_records::{decode_records, BatchBuilder, BatchIter, Compression, RecordBatch};

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

#[derive(Debug, Clone)]
struct Rec {
    ts: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        0i64..4_000_000_000_000,
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        prop::collection::vec(
            (
                "[a-z]{0,8}",
                prop::option::of(prop::collection::vec(any::<u8>(), 0..10)),
            ),
            0..3,
        ),
    )
        .prop_map(|(ts, key, value, headers)| Rec {
            ts,
            key,
            value,
            headers,
        })
}

fn build(base: i64, epoch: i32, c: Compression, recs: &[Rec]) -> Vec<u8> {
    let mut b = BatchBuilder::new(base).leader_epoch(epoch).compression(c);
    for r in recs {
        let headers = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().map(Bytes::from)))
            .collect();
        b = b.append_with_headers(r.ts, r.key.as_deref(), r.value.as_deref(), headers);
    }
    b.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn build_frame_decode_round_trip(c in codec(), base in 0i64..1 << 50, epoch in -1i32..100,
                                     recs in prop::collection::vec(rec(), 0..20)) {
        let bytes = build(base, epoch, c, &recs);
        let framed = BatchIter::frame_all(&bytes).unwrap();
        prop_assert_eq!(framed.len(), 1);
        let batch = framed[0];
        prop_assert!(batch.validate_crc().is_ok());
        prop_assert_eq!(batch.compression().unwrap(), c);
        prop_assert_eq!(batch.base_offset(), base);
        prop_assert_eq!(batch.partition_leader_epoch(), epoch);
        prop_assert_eq!(batch.records_count() as usize, recs.len());
        let decoded = decode_records(&batch).unwrap();
        prop_assert_eq!(decoded.len(), recs.len());
        for (i, (d, r)) in decoded.iter().zip(&recs).enumerate() {
            prop_assert_eq!(d.offset(&batch), base + i as i64);
            prop_assert_eq!(d.timestamp(&batch), r.ts);
            prop_assert_eq!(d.key.as_deref(), r.key.as_deref());
            prop_assert_eq!(d.value.as_deref(), r.value.as_deref());
            prop_assert_eq!(d.headers.len(), r.headers.len());
        }
        if !recs.is_empty() {
            prop_assert_eq!(batch.max_timestamp(), recs.iter().map(|r| r.ts).max().unwrap());
        }
    }

    #[test]
    fn corruption_after_header_fields_is_detected(c in codec(), recs in prop::collection::vec(rec(), 1..5),
                                                  pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut bytes = build(0, 0, c, &recs);
        // Bytes from `attributes` (21) on are covered by the CRC.
        let at = 21 + pos.index(bytes.len() - 21);
        bytes[at] ^= flip;
        let batch = RecordBatch::new(&bytes).unwrap();
        prop_assert!(batch.validate_crc().is_err());
    }

    #[test]
    fn any_prefix_yields_exactly_the_complete_batches(sizes in prop::collection::vec(0usize..6, 1..6),
                                                      cut in any::<prop::sample::Index>(), c in codec()) {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        let mut next = 0i64;
        for n in sizes {
            let recs: Vec<Rec> = (0..n).map(|i| Rec { ts: i as i64, key: None, value: Some(vec![7; i * 13]), headers: vec![] }).collect();
            buf.extend(build(next, 1, c, &recs));
            next += n.max(1) as i64;
            ends.push(buf.len());
        }
        let cut = cut.index(buf.len() + 1);
        let mut it = BatchIter::new(&buf[..cut]);
        let got: Vec<_> = it.by_ref().collect::<Result<_, _>>().unwrap();
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        prop_assert_eq!(got.len(), complete);
        let consumed = if complete == 0 { 0 } else { ends[complete - 1] };
        prop_assert_eq!(it.trailing_bytes(), cut - consumed);
        for b in got {
            prop_assert!(b.validate_crc().is_ok());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        for batch in BatchIter::new(&data).flatten() {
            let _ = batch.validate_crc();
            let _ = decode_records(&batch);
            let _ = strait_records::control_record_type(&batch);
            let _ = batch.last_sequence();
        }
        let _ = RecordBatch::new(&data);
        for c in Compression::ALL {
            let _ = c.decompress(&data);
        }
    }

    #[test]
    fn mutated_valid_batches_never_panic(c in codec(), recs in prop::collection::vec(rec(), 1..5),
                                         edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = build(0, 0, c, &recs);
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        for batch in BatchIter::new(&bytes).flatten() {
            let _ = decode_records(&batch);
            // Decode after fixing the CRC too, so the decoders see the mutation.
            let mut fixed = batch.as_bytes().to_vec();
            strait_records::batch::write_crc(&mut fixed);
            if let Ok(b) = RecordBatch::new(&fixed) {
                let _ = decode_records(&b);
                let _ = strait_records::control_record_type(&b);
            }
        }
    }
}
