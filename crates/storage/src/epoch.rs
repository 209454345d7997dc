//! Leader-epoch cache: epoch -> start offset, persisted as Kafka's `leader-epoch-checkpoint`
//! (text: version `0`, entry count, then `epoch startOffset` lines), replaced atomically.
//!
//! Semantics follow Kafka's `LeaderEpochFileCache` (protocol-notes §3.1). Invariant: epochs
//! and start offsets both strictly increase along the entries. Mirrored batches feed it
//! with the source's epochs, so OffsetForLeaderEpoch answers match the source cluster.

use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::{read_optional, write_atomic, LEADER_EPOCH_CHECKPOINT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

pub(crate) struct LeaderEpochCache {
    dir: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Loads the checkpoint. `Ok((cache, false))` when it is missing or malformed: the
    /// caller then rebuilds it from the batch headers.
    pub fn load(dir: &Path) -> io::Result<(Self, bool)> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let parsed = match read_optional(&path)? {
            None => None,
            Some(bytes) => match parse(&bytes) {
                Ok(entries) => Some(entries),
                Err(e) => {
                    tracing::warn!(file = %path.display(), "ignoring malformed leader-epoch checkpoint: {e}");
                    None
                }
            },
        };
        let ok = parsed.is_some();
        Ok((
            LeaderEpochCache {
                dir: dir.to_path_buf(),
                entries: parsed.unwrap_or_default(),
            },
            ok,
        ))
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset` (in memory; call [`Self::flush`]).
    /// Returns whether anything changed. Like Kafka's `assign`: negative epochs are
    /// ignored; an entry is added when the epoch differs from the latest or starts earlier,
    /// after removing trailing entries that would break monotonicity.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(last) = self.entries.last() {
            if last.epoch == epoch && last.start_offset <= start_offset {
                return false;
            }
        }
        let before = self.entries.len();
        while let Some(last) = self.entries.last() {
            if last.epoch >= epoch || last.start_offset >= start_offset {
                self.entries.pop();
            } else {
                break;
            }
        }
        if self.entries.len() != before {
            tracing::warn!(
                epoch,
                start_offset,
                removed = before - self.entries.len(),
                "leader epoch cache: removed non-monotonic entries"
            );
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Whether [`Self::assign`] would change anything (so an append can save the entries
    /// before changing them, and restore them if its data write fails).
    pub fn would_change(&self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        self.entries
            .last()
            .is_none_or(|last| last.epoch != epoch || last.start_offset > start_offset)
    }

    /// Puts back entries saved before a failed append (call [`Self::flush`] after).
    pub fn restore(&mut self, entries: Vec<EpochEntry>) {
        self.entries = entries;
    }

    /// `(epoch, end offset)` per Kafka's `endOffsetFor`; `(-1, -1)` when undefined.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested < 0 {
            return (-1, -1);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.iter().find(|e| e.epoch > requested);
        let floor = self.entries.iter().rev().find(|e| e.epoch <= requested);
        match (floor, higher) {
            (_, None) => (-1, -1),
            (None, Some(h)) => (requested, h.start_offset),
            (Some(f), Some(h)) => (f.epoch, h.start_offset),
        }
    }

    /// Epoch whose range holds `offset`: the entry with the greatest start `<= offset`.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// Drops entries starting at or after `end_offset` (log truncated to `end_offset`).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        before != self.entries.len()
    }

    /// Log start moved to `start_offset`: drop entries wholly below it, and move the start
    /// of the epoch that contains it up to it.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        if below == 0 {
            return false;
        }
        let keep = EpochEntry {
            epoch: self.entries[below - 1].epoch,
            start_offset,
        };
        let changed = below > 1 || self.entries[0] != keep;
        self.entries.drain(..below);
        self.entries.insert(0, keep);
        changed
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn flush(&self) -> io::Result<()> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        write_atomic(&self.dir, LEADER_EPOCH_CHECKPOINT, text.as_bytes())
    }
}

fn parse(bytes: &[u8]) -> Result<Vec<EpochEntry>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err("unsupported version line".into());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("bad count line")?;
    let mut entries: Vec<EpochEntry> = Vec::new();
    for line in lines.by_ref().take(count) {
        let mut parts = line.split_whitespace();
        let (Some(e), Some(o), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("malformed line {line:?}"));
        };
        let epoch: i32 = e.parse().map_err(|_| format!("bad epoch in {line:?}"))?;
        let start_offset: i64 = o.parse().map_err(|_| format!("bad offset in {line:?}"))?;
        if let Some(prev) = entries.last() {
            if epoch <= prev.epoch || start_offset < prev.start_offset {
                return Err(format!("non-monotonic entry {line:?}"));
            }
        }
        entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }
    if entries.len() != count || lines.any(|l| !l.trim().is_empty()) {
        return Err(format!("expected {count} entries"));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> (tempfile::TempDir, LeaderEpochCache) {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, _) = LeaderEpochCache::load(dir.path()).unwrap();
        for &(e, o) in entries {
            c.assign(e, o);
        }
        (dir, c)
    }

    #[test]
    fn end_offset_for_all_cases() {
        let (_d, c) = cache(&[(2, 10), (4, 20), (7, 35)]);
        assert_eq!(c.end_offset_for(-1, 50), (-1, -1));
        assert_eq!(c.end_offset_for(7, 50), (7, 50)); // latest -> LEO
        assert_eq!(c.end_offset_for(4, 50), (4, 35));
        assert_eq!(c.end_offset_for(5, 50), (4, 35)); // gap -> floor epoch, next start
        assert_eq!(c.end_offset_for(1, 50), (1, 10)); // below all
        assert_eq!(c.end_offset_for(8, 50), (-1, -1)); // above all
        let (_d, empty) = cache(&[]);
        assert_eq!(empty.end_offset_for(0, 5), (-1, -1));
    }

    #[test]
    fn assign_is_monotonic() {
        let (_d, mut c) = cache(&[(1, 0), (3, 10)]);
        assert!(!c.assign(3, 15)); // same epoch, later offset: no-op
        assert!(!c.assign(-1, 20));
        assert!(c.assign(2, 12)); // lower epoch replaces 3
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 2,
                    start_offset: 12
                }
            ]
        );
        assert!(c.assign(5, 5)); // earlier offset removes 2@12
        assert_eq!(c.entries().len(), 2);
    }

    #[test]
    fn truncation_and_persistence() {
        let (d, mut c) = cache(&[(1, 0), (2, 10), (3, 20)]);
        assert!(c.truncate_from_start(15));
        assert_eq!(
            c.entries()[0],
            EpochEntry {
                epoch: 2,
                start_offset: 15
            }
        );
        assert!(c.truncate_from_end(20));
        assert_eq!(c.latest_epoch(), Some(2));
        assert_eq!(c.epoch_for_offset(100), Some(2));
        assert_eq!(c.epoch_for_offset(3), None);
        c.flush().unwrap();
        let text = std::fs::read_to_string(d.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap();
        assert_eq!(text, "0\n1\n2 15\n");
        let (c2, ok) = LeaderEpochCache::load(d.path()).unwrap();
        assert!(ok);
        assert_eq!(c2.entries(), c.entries());
        std::fs::write(d.path().join(LEADER_EPOCH_CHECKPOINT), "0\n2\n1 5\n").unwrap();
        assert!(!LeaderEpochCache::load(d.path()).unwrap().1);
    }
}
