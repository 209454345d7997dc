//! The on-disk raft log on its own: torn tails cut, corruption in the middle refused with
//! the file and offset, and a randomized comparison against an in-memory model across
//! appends, truncations, purges and reopens (small segments, so rolls happen constantly).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use openraft::{CommittedLeaderId, EntryPayload, LogId};
use proptest::prelude::*;
use strait_quorum::log_store::disk::{DiskLog, LogError};
use strait_quorum::types::{QuorumTypes, Record};

type Entry = openraft::Entry<QuorumTypes>;

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(Record(format!("t{term}-i{index}").into_bytes())),
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

fn indexes(log: &DiskLog) -> Vec<u64> {
    log.entries(..).iter().map(|e| e.log_id.index).collect()
}

#[test]
fn a_cut_short_last_frame_is_dropped_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = DiskLog::open(dir.path(), 1 << 20).unwrap();
    log.append((0..5).map(|i| entry(1, i))).unwrap();
    drop(log);
    let seg = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();

    let mut log = DiskLog::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(indexes(&log), vec![0, 1, 2, 3]);
    assert_eq!(log.recovered_torn_tails.len(), 1);
    log.append([entry(2, 4)]).unwrap();
    drop(log);
    let log = DiskLog::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(indexes(&log), vec![0, 1, 2, 3, 4]);
    assert_eq!(log.entries(4..)[0].log_id.leader_id.term, 2);
    assert!(log.recovered_torn_tails.is_empty());
}

#[test]
fn a_crc_failure_in_the_last_frame_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = DiskLog::open(dir.path(), 1 << 20).unwrap();
    log.append((0..3).map(|i| entry(1, i))).unwrap();
    drop(log);
    let seg = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.seek(SeekFrom::Start(len - 1)).unwrap();
    f.write_all(&[0xff]).unwrap();
    drop(f);
    let log = DiskLog::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(indexes(&log), vec![0, 1]);
}

#[test]
fn corruption_in_the_middle_is_refused_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = DiskLog::open(dir.path(), 1 << 20).unwrap();
    log.append((0..5).map(|i| entry(1, i))).unwrap();
    drop(log);
    let seg = segments(dir.path()).pop().unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.seek(SeekFrom::Start(20)).unwrap(); // inside the first frame's entry bytes
    f.write_all(&[0xAA, 0x55]).unwrap();
    drop(f);
    let err = DiskLog::open(dir.path(), 1 << 20).err().unwrap();
    let LogError::Corrupt { path, offset, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(path, &seg);
    assert_eq!(*offset, 0);
    let message = err.to_string();
    assert!(
        message.contains(&seg.display().to_string()) && message.contains("byte offset 0"),
        "{message}"
    );
}

#[test]
fn a_torn_frame_in_an_older_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = DiskLog::open(dir.path(), 64).unwrap();
    for i in 0..6 {
        log.append([entry(1, i)]).unwrap();
    }
    drop(log);
    let segs = segments(dir.path());
    assert!(segs.len() >= 2, "{segs:?}");
    let len = std::fs::metadata(&segs[0]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segs[0])
        .unwrap()
        .set_len(len - 2)
        .unwrap();
    let err = DiskLog::open(dir.path(), 64).err().unwrap();
    assert!(
        err.to_string().contains(&segs[0].display().to_string()),
        "{err}"
    );
}

#[test]
fn appends_out_of_order_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = DiskLog::open(dir.path(), 1 << 20).unwrap();
    log.append([entry(1, 0)]).unwrap();
    assert!(matches!(
        log.append([entry(1, 2)]),
        Err(LogError::OutOfOrder { got: 2, .. })
    ));
    assert_eq!(indexes(&log), vec![0]);
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        count: u64,
        new_term: bool,
    },
    Truncate {
        back: u64,
    },
    Purge {
        back: u64,
    },
    /// What a follower does after installing a snapshot ahead of its log.
    PurgeAhead {
        ahead: u64,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..6u64, any::<bool>()).prop_map(|(count, new_term)| Op::Append { count, new_term }),
        1 => (0..6u64).prop_map(|back| Op::Truncate { back }),
        1 => (0..8u64).prop_map(|back| Op::Purge { back }),
        1 => (1..4u64).prop_map(|ahead| Op::PurgeAhead { ahead }),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Default)]
struct Model {
    entries: Vec<(u64, u64)>,
    purged: Option<(u64, u64)>,
    term: u64,
}

impl Model {
    fn last(&self) -> Option<(u64, u64)> {
        self.entries.last().copied().or(self.purged)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn disk_log_matches_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let segment_bytes = 96;
        let mut log = DiskLog::open(dir.path(), segment_bytes).unwrap();
        let mut model = Model { term: 1, ..Model::default() };
        for op in ops {
            match op {
                Op::Append { count, new_term } => {
                    if new_term { model.term += 1; }
                    let start = model.last().map_or(0, |(i, _)| i + 1);
                    let batch: Vec<Entry> = (start..start + count).map(|i| entry(model.term, i)).collect();
                    log.append(batch).unwrap();
                    model.entries.extend((start..start + count).map(|i| (i, model.term)));
                }
                Op::Truncate { back } => {
                    let Some(&(last, _)) = model.entries.last() else { continue };
                    let floor = model.purged.map_or(0, |(p, _)| p + 1);
                    let at = last.saturating_sub(back).max(floor);
                    log.truncate(at).unwrap();
                    model.entries.retain(|(i, _)| *i < at);
                }
                Op::Purge { back } => {
                    let Some(&(last, _)) = model.entries.last() else { continue };
                    let at = last.saturating_sub(back).max(model.entries[0].0);
                    let term = model.entries.iter().find(|(i, _)| *i == at).unwrap().1;
                    log.purge(LogId::new(CommittedLeaderId::new(term, 1), at)).unwrap();
                    model.entries.retain(|(i, _)| *i > at);
                    model.purged = Some((at, term));
                }
                Op::PurgeAhead { ahead } => {
                    let at = model.last().map_or(0, |(i, _)| i) + ahead;
                    model.term += 1;
                    log.purge(LogId::new(CommittedLeaderId::new(model.term, 1), at)).unwrap();
                    model.entries.clear();
                    model.purged = Some((at, model.term));
                }
                Op::Reopen => {
                    drop(log);
                    log = DiskLog::open(dir.path(), segment_bytes).unwrap();
                    prop_assert!(log.recovered_torn_tails.is_empty());
                }
            }
            let got: Vec<(u64, u64)> = log.entries(..).iter().map(|e| (e.log_id.index, e.log_id.leader_id.term)).collect();
            prop_assert_eq!(&got, &model.entries);
            prop_assert_eq!(log.last_log_id().map(|l| (l.index, l.leader_id.term)), model.last());
            prop_assert_eq!(log.last_purged().map(|l| (l.index, l.leader_id.term)), model.purged);
            for e in log.entries(..) {
                prop_assert_eq!(e.payload, EntryPayload::Normal(Record(format!("t{}-i{}", e.log_id.leader_id.term, e.log_id.index).into_bytes())));
            }
        }
        drop(log);
        let log = DiskLog::open(dir.path(), segment_bytes).unwrap();
        let got: Vec<(u64, u64)> = log.entries(..).iter().map(|e| (e.log_id.index, e.log_id.leader_id.term)).collect();
        prop_assert_eq!(got, model.entries);
    }
}
