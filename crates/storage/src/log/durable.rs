//! Advancing the recovery point in the background, so the bytes a restart after a crash
//! must validate are bounded by what was written in the last few seconds, not by
//! `partitions × segment.bytes` (Kafka's bound: it fsyncs only at roll unless `flush.ms` /
//! `flush.messages` say otherwise).
//!
//! The fsync runs without the log: [`PartitionLog::begin_background_flush`] (under the
//! broker's lock, cheap) notes the log end offset, writes the active segment's pending
//! index entries (segments hold no index descriptors, see `crate::segment`), and takes
//! handles to fsync: a duplicate of the `.log`'s and the index files just written;
//! [`FlushTicket::sync`] fsyncs them with no lock held, while appends go on;
//! [`PartitionLog::complete_background_flush`] (under the lock again) moves the recovery
//! point to the noted offset and persists it. The ticket also carries the producer state
//! at the noted offset, encoded under the lock; `sync` writes it to a temporary file and
//! completion renames it to `<offset>.snapshot`, so the replay after a crash starts at the
//! recovery point too (see `recover`).
//!
//! Invariants:
//! * Every byte below the noted offset was written before the ticket was taken (appends
//!   finish under the lock), and its index entries were written when the ticket was taken,
//!   so after the fsync both are durable: index entries are durable before the recovery
//!   point that covers them is checkpointed, as the recovery at open requires.
//! * A failed index write while taking the ticket is carried in it: its `sync` fails, so
//!   completion takes the partition offline exactly like a failed fsync. (Failing to
//!   duplicate the log's handle writes nothing and is returned at once, not fatal.)
//! * The recovery point only moves if no truncation, retention or cleaner swap replaced
//!   segments in between (the log's `generation`): otherwise the noted offset could name
//!   bytes that were cut and rewritten since. A roll in between is fine — it fsynced the
//!   old active segment itself.
//! * The snapshot is renamed into place only under the lock after the generation check, so
//!   no truncation can slip between its state and its name; an abandoned temporary file
//!   (`.tmp`) is deleted by the next open.
//! * A failed fsync takes the partition offline, as a failed flush does (after one, the
//!   kernel may have dropped the dirty pages, so what is on disk is unknown).

use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;

use super::recover::snapshot_name;
use super::{remove_if_exists, PartitionLog};
use crate::checkpoint::{write_offset, RECOVERY_POINT_CHECKPOINT};
use crate::error::{io_context, StorageError};
use crate::fault::{self, Op};
use crate::segment::SyncMark;

/// What [`PartitionLog::begin_background_flush`] hands out: file handles to fsync without
/// the log, and the offset they make durable.
#[derive(Debug)]
pub struct FlushTicket {
    files: Vec<(File, PathBuf)>,
    /// What the index fsyncs cover (noted on the segment at completion).
    mark: SyncMark,
    /// An index write that failed while the ticket was taken; `sync` reports it.
    write_failed: Option<(std::io::ErrorKind, String)>,
    offset: i64,
    generation: u64,
    /// The active segment then, and its size: what the fsync covers of it.
    active_base: i64,
    active_size: u64,
    /// Producer state at `offset` (a snapshot), and the temporary file `sync` writes it to.
    snapshot: Vec<u8>,
    snapshot_tmp: PathBuf,
}

impl FlushTicket {
    /// The offset the recovery point moves to once this ticket is synced and completed.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// fsyncs the files and writes the producer snapshot's temporary file (no lock
    /// needed; this is the slow part).
    pub fn sync(&self) -> Result<(), StorageError> {
        if let Some((kind, message)) = &self.write_failed {
            return Err(StorageError::Io(std::io::Error::new(
                *kind,
                message.clone(),
            )));
        }
        for (file, path) in &self.files {
            fault::hit(Op::Fsync)
                .and_then(|()| file.sync_data())
                .map_err(|e| io_context("fsync", path, e))?;
        }
        let tmp = &self.snapshot_tmp;
        let write = || -> std::io::Result<()> {
            fault::hit(Op::Checkpoint)?;
            let mut f = File::create(tmp)?;
            f.write_all(&self.snapshot)?;
            f.sync_all()
        };
        write().map_err(|e| io_context("write producer snapshot", tmp, e))?;
        Ok(())
    }
}

impl PartitionLog {
    /// Bytes appended to the active segment since its last fsync.
    pub fn unflushed_bytes(&self) -> u64 {
        self.active.size().saturating_sub(self.flushed_active_size)
    }

    /// A ticket to fsync everything below the current log end without holding the log, or
    /// `None` when the recovery point is already there (or the partition is offline).
    pub fn begin_background_flush(&self) -> Result<Option<FlushTicket>, StorageError> {
        if self.offline.is_some() || self.recovery_point >= self.log_end_offset {
            return Ok(None);
        }
        let offset = self.log_end_offset;
        let (files, mark, write_failed) = match self.active.flush_handles()? {
            Ok((files, mark)) => (files, mark, None),
            Err(e) => (
                Vec::new(),
                SyncMark::default(),
                Some((e.kind(), e.to_string())),
            ),
        };
        Ok(Some(FlushTicket {
            files,
            mark,
            write_failed,
            snapshot: self.producers.encode_snapshot(offset),
            snapshot_tmp: self
                .dir
                .join(format!("{}.flush.tmp", snapshot_name(offset))),
            offset,
            generation: self.generation,
            active_base: self.active.base_offset(),
            active_size: self.active.size(),
        }))
    }

    /// Moves the recovery point to the ticket's offset after [`FlushTicket::sync`] returned
    /// `result`. An fsync error takes the partition offline. Returns whether it moved.
    pub fn complete_background_flush(
        &mut self,
        ticket: FlushTicket,
        result: Result<(), StorageError>,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        self.check_online().map_err(StorageError::Offline)?;
        if let Err(e) = result {
            let _ = remove_if_exists(&ticket.snapshot_tmp);
            return Err(StorageError::Offline(self.go_offline(e)));
        }
        if ticket.generation != self.generation
            || ticket.offset <= self.recovery_point
            || ticket.offset > self.log_end_offset
        {
            remove_if_exists(&ticket.snapshot_tmp)?;
            return Ok(false);
        }
        // The snapshot's rename is made durable by the checkpoint's directory fsync below;
        // if only the checkpoint survived a crash, open replays from an older snapshot.
        let snapshot = self.snapshot_path(ticket.offset);
        fs::rename(&ticket.snapshot_tmp, &snapshot)
            .map_err(|e| io_context("rename producer snapshot to", &snapshot, e))?;
        self.register_snapshot(ticket.offset)?;
        if let Err(e) = write_offset(&self.dir, RECOVERY_POINT_CHECKPOINT, ticket.offset) {
            return Err(StorageError::Offline(self.go_offline(e)));
        }
        self.recovery_point = ticket.offset;
        if ticket.active_base == self.active.base_offset() {
            self.active.mark_synced(ticket.mark);
            self.flushed_active_size = self.flushed_active_size.max(ticket.active_size);
        }
        if ticket.offset == self.log_end_offset {
            self.unflushed_messages = 0;
        }
        self.last_flush_ms = now_ms;
        Ok(true)
    }

    /// Wall clock of the last fsync of the active segment (flush, roll's flush or a
    /// completed background flush).
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms
    }

    /// The offset below which everything is known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }
}
