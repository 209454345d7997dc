//! The model: the batches a Kafka leader would have stored for interleaved transactional,
//! idempotent and plain producers, and what each isolation level must show of them
//! (records, last stable offset, aborted transactions).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Open,
    Committed,
    Aborted,
}

#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) offset: i64,
    pub(crate) value: String,
    /// The transaction the record belongs to, if any.
    pub(crate) txn: Option<&'static str>,
}

pub(crate) struct Txn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    pub(crate) outcome: Outcome,
}

/// Builds a partition's batches exactly as a Kafka leader would have stored them.
pub(crate) struct Model {
    pub(crate) ts0: i64,
    pub(crate) next_offset: i64,
    pub(crate) pending: Vec<u8>,
    pub(crate) records: Vec<Rec>,
    pub(crate) txns: BTreeMap<&'static str, Txn>,
    /// Producer id -> its open transaction.
    pub(crate) open: HashMap<i64, &'static str>,
    /// Producer id -> (epoch, next sequence).
    pub(crate) producers: HashMap<i64, (i16, i32)>,
    /// The `.txnindex` entries an ABORT marker must produce.
    pub(crate) expected_index: Vec<AbortedTxn>,
}

impl Model {
    pub(crate) fn new() -> Self {
        Model {
            ts0: now_ms(),
            next_offset: 0,
            pending: Vec::new(),
            records: Vec::new(),
            txns: BTreeMap::new(),
            open: HashMap::new(),
            producers: HashMap::new(),
            expected_index: Vec::new(),
        }
    }

    pub(crate) fn push_batch(&mut self, b: BatchBuilder, n: usize) {
        let bytes = b.build().unwrap();
        assert!(RecordBatch::new(&bytes).unwrap().validate_crc().is_ok());
        self.pending.extend_from_slice(&bytes);
        self.next_offset += n as i64;
    }

    pub(crate) fn data(
        &mut self,
        producer: Option<(i64, i16)>,
        txn: Option<&'static str>,
        values: &[&str],
        compression: Compression,
    ) {
        let base = self.next_offset;
        let mut b = BatchBuilder::new(base)
            .leader_epoch(0)
            .compression(compression);
        if let Some((pid, epoch)) = producer {
            let (e, seq) = self.producers.entry(pid).or_insert((epoch, 0));
            assert_eq!(*e, epoch, "model: producer {pid} epoch");
            b = b.producer(pid, epoch, *seq);
            *seq += values.len() as i32;
        }
        b = b.transactional(txn.is_some());
        for (i, v) in values.iter().enumerate() {
            let offset = base + i as i64;
            b = b.append(
                self.ts0 + offset,
                Some(format!("k{offset}").as_bytes()),
                Some(v.as_bytes()),
            );
            self.records.push(Rec {
                offset,
                value: v.to_string(),
                txn,
            });
        }
        self.push_batch(b, values.len());
    }

    /// Plain records (no producer id).
    pub(crate) fn plain(&mut self, values: &[&str]) {
        self.data(None, None, values, Compression::None);
    }

    /// An idempotent, non-transactional producer's batch.
    pub(crate) fn idempotent(&mut self, pid: i64, values: &[&str]) {
        self.data(Some((pid, 0)), None, values, Compression::None);
    }

    /// A transactional batch of `pid` in transaction `label` (opened by its first batch).
    pub(crate) fn txn(
        &mut self,
        label: &'static str,
        pid: i64,
        epoch: i16,
        values: &[&str],
        c: Compression,
    ) {
        match self.open.get(&pid) {
            Some(open) => assert_eq!(*open, label, "model: producer {pid} has {open} open"),
            None => {
                self.open.insert(pid, label);
                self.txns.insert(
                    label,
                    Txn {
                        producer_id: pid,
                        first_offset: self.next_offset,
                        outcome: Outcome::Open,
                    },
                );
            }
        }
        self.data(Some((pid, epoch)), Some(label), values, c);
    }

    /// The COMMIT or ABORT marker of `pid`'s open transaction.
    pub(crate) fn end(&mut self, pid: i64, commit: bool) {
        let label = self
            .open
            .remove(&pid)
            .expect("model: marker for an open transaction");
        let epoch = self.producers[&pid].0;
        let offset = self.next_offset;
        let kind = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let b = BatchBuilder::end_txn_marker(offset, kind, pid, epoch, 3, self.ts0 + offset)
            .leader_epoch(0);
        self.push_batch(b, 1);
        let t = self.txns.get_mut(label).unwrap();
        t.outcome = if commit {
            Outcome::Committed
        } else {
            Outcome::Aborted
        };
        if !commit {
            let first_offset = t.first_offset;
            self.expected_index.push(AbortedTxn {
                producer_id: pid,
                first_offset,
                last_offset: offset,
                last_stable_offset: self.first_unstable().unwrap_or(offset + 1),
            });
        }
    }

    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    pub(crate) fn high_watermark(&self) -> i64 {
        self.next_offset
    }

    pub(crate) fn first_unstable(&self) -> Option<i64> {
        self.open.values().map(|l| self.txns[l].first_offset).min()
    }

    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.first_unstable().unwrap_or(self.next_offset)
    }

    /// `(producer id, first offset)` of every open transaction, by first offset.
    pub(crate) fn ongoing(&self) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = self
            .open
            .iter()
            .map(|(pid, l)| (*pid, self.txns[l].first_offset))
            .collect();
        v.sort_by_key(|&(_, first)| first);
        v
    }

    /// What read_committed must return: committed and non-transactional records below the LSO.
    pub(crate) fn read_committed(&self) -> Vec<(i64, String)> {
        let lso = self.last_stable_offset();
        self.records
            .iter()
            .filter(|r| r.offset < lso)
            .filter(|r| {
                r.txn
                    .is_none_or(|l| self.txns[l].outcome == Outcome::Committed)
            })
            .map(|r| (r.offset, r.value.clone()))
            .collect()
    }

    /// What read_uncommitted must return: every data record.
    pub(crate) fn read_uncommitted(&self) -> Vec<(i64, String)> {
        self.records
            .iter()
            .map(|r| (r.offset, r.value.clone()))
            .collect()
    }

    /// Every aborted transaction starting below the LSO: what a read_committed reader of the
    /// whole log must be told about.
    pub(crate) fn aborted(&self) -> BTreeSet<(i64, i64)> {
        let lso = self.last_stable_offset();
        self.txns
            .values()
            .filter(|t| t.outcome == Outcome::Aborted && t.first_offset < lso)
            .map(|t| (t.producer_id, t.first_offset))
            .collect()
    }

    /// Values that must never appear at read_committed right now.
    pub(crate) fn hidden(&self) -> Vec<(i64, String)> {
        let visible: BTreeSet<(i64, String)> = self.read_committed().into_iter().collect();
        self.read_uncommitted()
            .into_iter()
            .filter(|r| !visible.contains(r))
            .collect()
    }
}

pub(crate) const P1: i64 = 1001;
pub(crate) const P2: i64 = 1002;
pub(crate) const P3: i64 = 1003;
pub(crate) const IDEMPOTENT: i64 = 2000;

/// Phase 1: committed, aborted and open transactions of three producers interleaved with an
/// idempotent producer and plain records. Ends with P3's transaction E and P2's G open, a
/// visible record right before E (so read_committed readers know where to stop) and a plain
/// record last (the same for read_uncommitted).
pub(crate) fn phase_one(m: &mut Model) {
    m.plain(&["n-0", "n-1"]);
    m.txn("A", P1, 0, &["a-0", "a-1"], Compression::None);
    m.txn("B", P2, 0, &["b-0"], Compression::None);
    m.idempotent(IDEMPOTENT, &["i-0", "i-1"]);
    m.txn("A", P1, 0, &["a-2"], Compression::Lz4);
    m.end(P1, true); // A committed
    m.txn("B", P2, 0, &["b-1", "b-2"], Compression::Zstd);
    m.plain(&["n-2"]);
    m.txn("C", P1, 0, &["c-0"], Compression::None);
    m.end(P2, false); // B aborted (C still open: the entry's LSO is C's first offset)
    m.txn("D", P2, 0, &["d-0"], Compression::None);
    m.end(P1, false); // C aborted
    m.plain(&["n-3"]);
    m.txn("D", P2, 0, &["d-1"], Compression::Gzip);
    m.end(P2, true); // D committed
    m.plain(&["n-4"]); // the last visible record before the LSO
    m.txn("E", P3, 2, &["e-0", "e-1"], Compression::None); // open: the LSO
    m.txn("F", P1, 0, &["f-0"], Compression::None);
    m.plain(&["n-5"]);
    m.idempotent(IDEMPOTENT, &["i-2"]);
    m.end(P1, true); // F committed, but behind the open E
    m.txn("G", P2, 0, &["g-0", "g-1"], Compression::Snappy); // open
    m.plain(&["n-6"]);
}

/// Phase 2: G is aborted and E committed, then one plain record: nothing is open.
pub(crate) fn phase_two(m: &mut Model) {
    m.end(P2, false);
    m.end(P3, true);
    m.plain(&["n-7"]);
}
