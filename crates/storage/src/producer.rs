//! Producer state: per producer id, its epoch, the metadata of its last five batches, its
//! ongoing transaction and the coordinator epoch of its last marker (Kafka's
//! `ProducerStateManager` / `ProducerStateEntry` / `ProducerAppendInfo`).
//!
//! # Transactions
//! * A transactional data batch (attribute bit 4) of a producer with no open transaction
//!   opens one at the batch's base offset (`currentTxnFirstOffset`); later batches continue it.
//! * A control batch holding an ABORT or COMMIT marker closes it and yields a
//!   [`CompletedTxn`]; a marker with no open transaction (an empty transaction, or a mirror
//!   that started after the transaction's data) yields none, as in Kafka ("only emit the
//!   `CompletedTxn` for non-empty transactions"). The log turns an aborted one into an
//!   [`crate::AbortedTxn`] entry of the marker's segment.
//! * `ongoing` (first offset → producer id) mirrors every entry's open transaction, so the
//!   first unstable offset — the smallest first offset of an ongoing transaction, which
//!   bounds the last stable offset — is read in O(log n).
//! * A producer with an ongoing transaction is never evicted (its marker must still close
//!   it), even when the log start passes its batches.
//! * Mirrored (REPLICATION) data is applied leniently: a non-transactional batch while a
//!   transaction is open leaves it open (Kafka would fail the follower append, which would
//!   wedge the link forever), and stale producer or coordinator epochs are accepted.
//!
//! Client appends are checked like Kafka's `ProducerAppendInfo` with CLIENT origin:
//! * a batch equal (epoch, first and last sequence) to one of the last five is a duplicate:
//!   the caller answers with the original offsets and writes nothing;
//! * an epoch below the current one is `InvalidProducerEpoch`;
//! * a new epoch must start at sequence 0;
//! * within an epoch the base sequence must follow the last one (wrapping at `i32::MAX`);
//! * a producer with **no state** (never seen, or evicted because the log start passed its
//!   last batch) may start at any sequence. This is Kafka's actual rule since KIP-360
//!   (2.5; see `ProducerAppendInfo.checkSequence`: "If there is no current producer epoch
//!   ... accept writes with any sequence number"); rejecting it would make producers whose
//!   data aged out fail with a fatal OutOfOrderSequence.
//!
//! Mirrored appends (REPLICATION origin) update state with no checks.
//! State is rebuilt at open from batch headers, or loaded from a snapshot written on clean
//! shutdown, at every roll (`<offset>.snapshot`, binary with a CRC-32C trailer; see
//! `log::recover`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use strait_records::{decode_records, BatchHeader, ControlRecordType, EndTxnMarker, RecordBatch};

use crate::error::AppendError;

/// Current snapshot version: SPS3 adds each producer's last timestamp. SPS2 snapshots
/// still load (timestamps unknown, -1, until the producer's next batch).
const SNAPSHOT_MAGIC: &[u8; 4] = b"SPS3";
const SNAPSHOT_MAGIC_V2: &[u8; 4] = b"SPS2";

/// How many batches per producer are kept for duplicate detection (Kafka: 5, matching
/// `max.in.flight.requests.per.connection` for idempotent producers).
pub(crate) const NUM_BATCHES_TO_RETAIN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    /// First offset of the producer's ongoing transaction (Kafka `currentTxnFirstOffset`).
    pub current_txn_first_offset: Option<i64>,
    /// Coordinator epoch of the last marker written for this producer, -1 if none.
    pub coordinator_epoch: i32,
    /// Max timestamp of the producer's last batch, data or marker (Kafka
    /// `ProducerStateEntry.lastTimestamp`, shown by DescribeProducers); -1 if unknown.
    pub last_timestamp: i64,
}

/// One producer's state as DescribeProducers reports it (Kafka `ProducerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Last sequence of its last retained data batch, -1 if none.
    pub last_sequence: i32,
    /// Max timestamp of its last batch, -1 if unknown (e.g. loaded from an SPS2 snapshot).
    pub last_timestamp: i64,
    /// Coordinator epoch of its last transaction marker, -1 if none.
    pub coordinator_epoch: i32,
    /// First offset of its ongoing transaction, -1 if none.
    pub current_txn_start_offset: i64,
}

/// What a transaction marker (control batch) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// A transaction closed by a marker (Kafka `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// The transaction marker a batch carries: `None` for data batches, batches without a
/// producer id, empty control batches (cleaned away) and control types other than
/// ABORT/COMMIT (e.g. KRaft's LEADER_CHANGE, which has no producer).
pub(crate) fn end_marker_of(
    batch: &RecordBatch<'_>,
) -> Result<Option<EndMarker>, strait_records::RecordsError> {
    if !batch.is_control() || !batch.has_producer_id() {
        return Ok(None);
    }
    let records = decode_records(batch)?;
    let Some(first) = records.first() else {
        return Ok(None);
    };
    let malformed = |message: String| strait_records::RecordsError::MalformedRecord {
        base_offset: batch.base_offset(),
        message,
    };
    let key = first
        .key
        .as_deref()
        .ok_or_else(|| malformed("control record has a null key".into()))?;
    let commit = match ControlRecordType::parse_key(key).map_err(malformed)? {
        ControlRecordType::Commit => true,
        ControlRecordType::Abort => false,
        _ => return Ok(None),
    };
    let value = first
        .value
        .as_deref()
        .ok_or_else(|| malformed("transaction marker has a null value".into()))?;
    let marker = EndTxnMarker::parse(value).map_err(malformed)?;
    Ok(Some(EndMarker {
        commit,
        coordinator_epoch: marker.coordinator_epoch,
    }))
}

impl ProducerEntry {
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }
    fn last_offset(&self) -> Option<i64> {
        self.batches.back().map(|b| b.last_offset)
    }
    pub fn new(epoch: i16) -> Self {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            current_txn_first_offset: None,
            coordinator_epoch: -1,
            last_timestamp: -1,
        }
    }
    /// The metadata a (non-control) batch contributes.
    pub fn meta_of(h: &BatchHeader) -> Option<BatchMetadata> {
        (!h.is_control()).then(|| BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
        })
    }
    /// Adds a batch, resetting the history on an epoch change (Kafka `addBatch`).
    pub fn add(&mut self, epoch: i16, meta: Option<BatchMetadata>) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if let Some(meta) = meta {
            if self.batches.len() == NUM_BATCHES_TO_RETAIN {
                self.batches.pop_front();
            }
            self.batches.push_back(meta);
        }
    }
}

/// Outcome of checking one client batch.
pub(crate) enum ClientCheck {
    Append,
    Duplicate(BatchMetadata),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    max_producer_id: Option<i64>,
    /// First offset → producer id of every ongoing transaction (derived from `producers`).
    ongoing: BTreeMap<i64, i64>,
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

impl ProducerStateManager {
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn max_producer_id(&self) -> Option<i64> {
        self.max_producer_id
    }

    /// Producer id → last offset of its last data batch: the batch the log cleaner must
    /// keep (if only empty) so the producer's sequence survives compaction.
    pub fn last_data_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(id, e)| e.last_offset().map(|o| (*id, o)))
            .collect()
    }

    /// Every producer with state, by producer id (DescribeProducers).
    pub fn summaries(&self) -> Vec<ProducerSummary> {
        let mut out: Vec<ProducerSummary> = self
            .producers
            .iter()
            .map(|(id, e)| ProducerSummary {
                producer_id: *id,
                producer_epoch: e.epoch,
                last_sequence: e.last_seq(),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_start_offset: e.current_txn_first_offset.unwrap_or(-1),
            })
            .collect();
        out.sort_unstable_by_key(|p| p.producer_id);
        out
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Checks a client batch against `entry` (the producer's state including batches staged
    /// earlier in the same append).
    pub fn check_client(
        entry: Option<&ProducerEntry>,
        h: &BatchHeader,
    ) -> Result<ClientCheck, AppendError> {
        let Some(entry) = entry else {
            return Ok(ClientCheck::Append);
        };
        if h.producer_epoch == entry.epoch {
            if let Some(dup) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence())
            {
                return Ok(ClientCheck::Duplicate(*dup));
            }
        }
        if h.producer_epoch < entry.epoch {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
                current_epoch: entry.epoch,
            });
        }
        let ok = if h.producer_epoch != entry.epoch {
            h.base_sequence == 0
        } else {
            in_sequence(entry.last_seq(), h.base_sequence)
        };
        if ok {
            Ok(ClientCheck::Append)
        } else {
            Err(AppendError::OutOfOrderSequence {
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
                base_sequence: h.base_sequence,
                last_sequence: if h.producer_epoch == entry.epoch {
                    entry.last_seq()
                } else {
                    -1
                },
            })
        }
    }

    /// Applies a batch at its final offsets (both origins; no checks). `marker` is what
    /// [`end_marker_of`] found in a control batch; a control batch only moves the epoch and
    /// closes the producer's transaction, returning it if one was open.
    pub fn update(&mut self, h: &BatchHeader, marker: Option<EndMarker>) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        self.max_producer_id = Some(
            self.max_producer_id
                .map_or(h.producer_id, |m| m.max(h.producer_id)),
        );
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        entry.add(h.producer_epoch, ProducerEntry::meta_of(h));
        if h.max_timestamp >= 0 {
            entry.last_timestamp = h.max_timestamp;
        }
        if h.is_control() {
            let marker = marker?;
            entry.coordinator_epoch = marker.coordinator_epoch;
            let first_offset = entry.current_txn_first_offset.take()?;
            self.ongoing.remove(&first_offset);
            return Some(CompletedTxn {
                producer_id: h.producer_id,
                first_offset,
                last_offset: h.base_offset,
                aborted: !marker.commit,
            });
        }
        if h.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(h.base_offset);
            self.ongoing.insert(h.base_offset, h.producer_id);
        }
        None
    }

    /// The smallest first offset of an ongoing transaction (Kafka `firstUnstableOffset`).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Producer id → first offset of its ongoing transaction.
    pub fn ongoing_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(first, pid)| (*pid, *first))
    }

    /// Forgets producers whose last batch lies wholly below the log start offset (Kafka
    /// evicts "unretained" producers the same way), except those with an ongoing
    /// transaction: its marker is still to come.
    pub fn evict_below(&mut self, log_start_offset: i64) {
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || e.last_offset().is_some_and(|l| l >= log_start_offset)
        });
    }

    pub fn clear(&mut self) {
        self.producers.clear();
        self.ongoing.clear();
    }

    /// Snapshot bytes: magic "SPS3", end offset, max pid (-1 = none), count, entries
    /// (id, epoch, coordinator epoch, ongoing transaction's first offset or -1, last
    /// timestamp, batches), CRC. Version 2 ("SPS2") is the same without the last timestamp
    /// and still loads. Version 1 ("SPS1", no transaction fields) is not read: the log
    /// rebuilds from the batches instead, which also regenerates `.txnindex` files it lacked.
    pub fn encode_snapshot(&self, end_offset: i64) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&end_offset.to_be_bytes());
        out.extend_from_slice(&self.max_producer_id.unwrap_or(-1).to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u64).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(e) = self.producers.get(&id) else {
                continue;
            };
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            out.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            out.extend_from_slice(&e.last_timestamp.to_be_bytes());
            out.push(e.batches.len() as u8);
            for b in &e.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decodes a snapshot, returning it with the end offset it was taken at.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<(Self, i64), String> {
        if bytes.len() < 32 {
            return Err("snapshot too short".into());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err("snapshot CRC mismatch".into());
        }
        let mut r = Cursor { b: body, pos: 0 };
        let has_timestamps = match r.take(4)? {
            m if m == SNAPSHOT_MAGIC => true,
            m if m == SNAPSHOT_MAGIC_V2 => false,
            b"SPS1" => return Err("version 1 snapshot (no transaction state)".into()),
            _ => return Err("bad snapshot magic".into()),
        };
        let end_offset = r.i64()?;
        let max_pid = r.i64()?;
        let count = r.i64()?;
        let mut producers = HashMap::new();
        let mut ongoing = BTreeMap::new();
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let coordinator_epoch = r.i32()?;
            let txn_first = r.i64()?;
            let current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
            let last_timestamp = if has_timestamps { r.i64()? } else { -1 };
            if let Some(first) = current_txn_first_offset {
                if ongoing.insert(first, id).is_some() {
                    return Err(format!("two ongoing transactions start at offset {first}"));
                }
            }
            let n = r.take(1)?[0] as usize;
            if n > NUM_BATCHES_TO_RETAIN {
                return Err("too many batches in snapshot entry".into());
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchMetadata {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            producers.insert(
                id,
                ProducerEntry {
                    epoch,
                    batches,
                    current_txn_first_offset,
                    coordinator_epoch,
                    last_timestamp,
                },
            );
        }
        if r.pos != body.len() {
            return Err("trailing bytes in snapshot".into());
        }
        Ok((
            ProducerStateManager {
                producers,
                max_producer_id: (max_pid >= 0).then_some(max_pid),
                ongoing,
            },
            end_offset,
        ))
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or("truncated snapshot")?;
        self.pos += n;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, String> {
        let s = self.take(2)?;
        Ok(i16::from_be_bytes([s[0], s[1]]))
    }
    fn i32(&mut self) -> Result<i32, String> {
        let s = self.take(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i64(&mut self) -> Result<i64, String> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_be_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, base: i64, n: i32) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            last_offset_delta: n - 1,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            magic: 2,
            ..BatchHeader::default()
        }
    }

    #[test]
    fn sequence_rules() {
        let mut m = ProducerStateManager::default();
        let check = |m: &ProducerStateManager, h: &BatchHeader| {
            ProducerStateManager::check_client(m.get(h.producer_id), h)
        };
        // Unknown producer: any sequence (Kafka >= 2.5).
        assert!(matches!(
            check(&m, &header(1, 0, 7, 0, 1)),
            Ok(ClientCheck::Append)
        ));
        m.update(&header(1, 0, 0, 0, 3), None);
        assert!(matches!(
            check(&m, &header(1, 0, 3, 3, 1)),
            Ok(ClientCheck::Append)
        ));
        assert!(
            matches!(check(&m, &header(1, 0, 0, 0, 3)), Ok(ClientCheck::Duplicate(b)) if b.first_offset == 0)
        );
        assert!(matches!(
            check(&m, &header(1, 0, 5, 3, 1)),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        assert!(matches!(
            check(&m, &header(1, 1, 5, 3, 1)),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        assert!(matches!(
            check(&m, &header(1, 1, 0, 3, 1)),
            Ok(ClientCheck::Append)
        ));
        m.update(&header(1, 1, 0, 3, 1), None);
        assert!(matches!(
            check(&m, &header(1, 0, 1, 4, 1)),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
        assert_eq!(m.max_producer_id(), Some(1));
        // Wrap-around of sequences.
        m.update(&header(2, 0, i32::MAX, 10, 1), None);
        assert!(matches!(
            check(&m, &header(2, 0, 0, 11, 1)),
            Ok(ClientCheck::Append)
        ));
    }

    #[test]
    fn keeps_five_batches_and_snapshots() {
        let mut m = ProducerStateManager::default();
        for i in 0..7 {
            m.update(&header(9, 2, i, i64::from(i), 1), None);
        }
        assert_eq!(m.get(9).unwrap().batches.len(), 5);
        let bytes = m.encode_snapshot(7);
        let (m2, end) = ProducerStateManager::decode_snapshot(&bytes).unwrap();
        assert_eq!(end, 7);
        assert_eq!(m2, m);
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert!(ProducerStateManager::decode_snapshot(&bad).is_err());
        m.evict_below(7);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn version_2_snapshots_still_load_without_timestamps() {
        let mut m = ProducerStateManager::default();
        let mut h = header(4, 1, 0, 10, 2);
        h.max_timestamp = 1234;
        h.attributes = 0x10; // transactional
        m.update(&h, None);
        assert_eq!(m.get(4).unwrap().last_timestamp, 1234);
        // Hand-written SPS2 layout: as SPS3 minus the per-entry timestamp.
        let mut v2 = Vec::new();
        v2.extend_from_slice(b"SPS2");
        v2.extend_from_slice(&12i64.to_be_bytes());
        v2.extend_from_slice(&4i64.to_be_bytes());
        v2.extend_from_slice(&1u64.to_be_bytes());
        v2.extend_from_slice(&4i64.to_be_bytes());
        v2.extend_from_slice(&1i16.to_be_bytes());
        v2.extend_from_slice(&(-1i32).to_be_bytes());
        v2.extend_from_slice(&10i64.to_be_bytes());
        v2.push(1);
        for v in [0i32, 1] {
            v2.extend_from_slice(&v.to_be_bytes());
        }
        for v in [10i64, 11] {
            v2.extend_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&v2);
        v2.extend_from_slice(&crc.to_be_bytes());
        let (old, end) = ProducerStateManager::decode_snapshot(&v2).unwrap();
        assert_eq!(end, 12);
        let mut expected = m.clone();
        if let Some(e) = expected.producers.get_mut(&4) {
            e.last_timestamp = -1;
        }
        assert_eq!(old, expected);
        assert_eq!(old.first_unstable_offset(), Some(10));
        // And the current version round-trips the timestamp.
        let (new, _) = ProducerStateManager::decode_snapshot(&m.encode_snapshot(12)).unwrap();
        assert_eq!(new, m);
    }
}
