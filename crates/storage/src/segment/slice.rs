//! A byte range of a segment's log file that outlives the read lock it was captured under:
//! what a Fetch read hands the connection so the records can go file → socket with
//! `sendfile(2)` instead of being read into memory first (Kafka's `FileRecords` slice
//! sent with `transferTo`).
//!
//! Invariants:
//! * The range was whole batches below the segment's size when it was captured, under the
//!   log's read lock, with every rule of a read already applied (isolation bound,
//!   `max_bytes`, the first-batch rule); nothing here re-decides what to send.
//! * The slice holds an `Arc` of the segment's open file, so a roll, retention, the
//!   cleaner's swap or a topic delete (which unlink or rename the file and drop the
//!   segment) cannot close the descriptor or let it be reused for another file: the inode
//!   and its bytes live until the last slice is dropped.
//! * The only thing that can change the captured bytes is a truncation of the same file
//!   (a leader-epoch truncation of the active segment). Every truncation bumps the
//!   segment's truncation counter, and a slice refuses to send once it changed or once the
//!   file ends early, so a reader sees an error and closes the connection instead of
//!   sending bytes that are no longer the batches the read chose (as Kafka closes on a
//!   `FileRecords` truncated during `writeTo`).

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::io_context;
use crate::AbortedTxn;

/// The file and the bookkeeping every slice of one segment shares.
#[derive(Debug)]
pub(crate) struct LogFile {
    pub file: File,
    /// Bumped by every truncation of the file (see the module invariants).
    pub truncations: AtomicU64,
}

impl LogFile {
    pub fn new(file: File) -> Arc<LogFile> {
        Arc::new(LogFile {
            file,
            truncations: AtomicU64::new(0),
        })
    }
}

/// `len` bytes at `position` of a segment's log file (possibly none).
#[derive(Debug, Clone)]
pub struct FileSlice {
    log: Option<Arc<LogFile>>,
    path: Arc<Path>,
    position: u64,
    len: usize,
    /// The file's truncation count when the range was captured.
    generation: u64,
}

impl FileSlice {
    pub(crate) fn new(log: &Arc<LogFile>, path: &Path, position: u64, len: usize) -> Self {
        FileSlice {
            log: Some(log.clone()),
            path: Arc::from(path),
            position,
            len,
            generation: log.truncations.load(Ordering::Acquire),
        }
    }

    /// A slice of nothing, holding no file.
    pub fn empty() -> Self {
        FileSlice {
            log: None,
            path: Arc::from(Path::new("")),
            position: 0,
            len: 0,
            generation: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes, read with `pread` (no zero-fill).
    pub fn read(&self) -> io::Result<Vec<u8>> {
        match &self.log {
            None => Ok(Vec::new()),
            Some(log) => {
                self.check_generation(log)?;
                let bytes = pread_exact(&log.file, &self.path, self.position, self.len)?;
                // A truncation during the read may have mixed old and new bytes.
                self.check_generation(log)?;
                Ok(bytes)
            }
        }
    }

    /// Sends the bytes from `done` on to `socket` with one `sendfile(2)` call and returns
    /// how many it sent (a nonblocking socket may take fewer, or fail with `WouldBlock`).
    /// An early end of file or a truncation since the capture is an `UnexpectedEof` error
    /// naming the file: the caller must close the connection, part of the frame is out.
    pub fn send_to(&self, socket: BorrowedFd<'_>, done: usize) -> io::Result<usize> {
        let left = self.len.saturating_sub(done);
        let Some(log) = &self.log else {
            return Ok(0);
        };
        if left == 0 {
            return Ok(0);
        }
        self.check_generation(log)?;
        let mut at = self.position + done as u64;
        let sent = rustix::fs::sendfile(socket, &log.file, Some(&mut at), left)?;
        if sent == 0 {
            return Err(self.shrank(format!(
                "end of file after {done} of {} bytes at {}",
                self.len, self.position
            )));
        }
        self.check_generation(log)?;
        Ok(sent)
    }

    fn check_generation(&self, log: &LogFile) -> io::Result<()> {
        if log.truncations.load(Ordering::Acquire) != self.generation {
            return Err(self.shrank(format!(
                "truncated while {} bytes at {} were being sent",
                self.len, self.position
            )));
        }
        Ok(())
    }

    fn shrank(&self, what: String) -> io::Error {
        let e = io::Error::new(io::ErrorKind::UnexpectedEof, what);
        io_context("fetch from", &self.path, e)
    }
}

/// `len` bytes at `position` of `file`, `pread` straight into a `Vec`'s spare capacity:
/// zero-filling `len` bytes only to overwrite them was ~10% of a serving broker's CPU per
/// fetched byte (benches/README.md, link profile). `rustix::buffer::spare_capacity`
/// advances the length by exactly what the kernel wrote, so no `unsafe` is needed. The
/// `Vec` is fresh so that its spare capacity is `len`: a reused, larger one would make
/// each `pread` copy its whole capacity out of the page cache.
pub(crate) fn pread_exact(
    file: &File,
    path: &Path,
    position: u64,
    len: usize,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = position + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => {
                let eof = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "end of file after {} of {len} bytes at {position}",
                        buf.len()
                    ),
                );
                return Err(io_context("read", path, eof));
            }
            Ok(_) => {}
            // A signal before any byte was read: retry, as `read_exact_at` did.
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(io_context("read", path, e.into())),
        }
    }
    // `with_capacity` may round up and `spare_capacity` fills all of it; keep exactly the
    // batches asked for.
    buf.truncate(len);
    Ok(buf)
}

/// A Fetch read as a file range ([`crate::PartitionLog::read_isolated_slice`]): the same
/// batches and offsets [`crate::LogReadInfo`] carries, with the records left in the file.
#[derive(Debug, Clone)]
pub struct LogSlice {
    pub records: FileSlice,
    /// Last offset of the last batch in `records`, `None` when it is empty.
    pub last_offset: Option<i64>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// As [`crate::LogReadInfo::aborted_transactions`].
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
}
