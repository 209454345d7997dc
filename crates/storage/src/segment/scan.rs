//! Bounded read-ahead over a segment's log file: the window recovery and scans read
//! through, and the forward batch-header scan used by reads and loads.

use std::fs::File;
use std::io;
use std::path::Path;

use strait_records::{BatchHeader, RECORD_BATCH_OVERHEAD};

use crate::error::invalid_data;

/// A bounded read-ahead window over a file, so scans issue few `pread`s.
pub(super) struct Window<'a> {
    file: &'a File,
    path: &'a Path,
    end: u64,
    pub(super) chunk: usize,
    start: u64,
    buf: Vec<u8>,
}

impl<'a> Window<'a> {
    pub(super) fn new(file: &'a File, path: &'a Path, end: u64, chunk: usize) -> Self {
        Window {
            file,
            path,
            end,
            chunk,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// The bytes `[pos, pos + len)`, or `None` if they extend past `end`.
    pub(super) fn get(&mut self, pos: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let Some(stop) = pos.checked_add(len as u64) else {
            return Ok(None);
        };
        if stop > self.end {
            return Ok(None);
        }
        let cached = pos >= self.start && stop <= self.start + self.buf.len() as u64;
        if !cached {
            // Bounded by `end - pos`, which is at most the (existing) file's size.
            let want = (len.max(self.chunk) as u64).min(self.end - pos) as usize;
            // Into spare capacity, not a zero-filled buffer: every fetch read scans, and
            // zeroing a fresh 64 KiB window per scan showed up once sendfile removed the
            // record copy (benches/README.md, sendfile profile).
            self.buf = super::slice::pread_exact(self.file, self.path, pos, want)?;
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        Ok(Some(&self.buf[from..from + len]))
    }
}

/// Forward scan over batch headers, trusting framing only as far as it checks it.
///
/// The read-ahead adapts to the batches: after a batch larger than the chunk, the next
/// read fetches just one header, so a scan over large batches does not copy every record
/// byte out of the page cache (replaying producer state after a crash reads only headers);
/// small batches keep the chunked read-ahead, which covers many headers per `pread`.
pub(crate) struct HeaderScan<'a> {
    pub(super) window: Window<'a>,
    pub(super) pos: u64,
    /// The read-ahead asked for; `window.chunk` drops to a header after a large batch.
    pub(super) chunk: usize,
}

impl HeaderScan<'_> {
    /// The next `(position, header, size)`; `None` at `end`. Framing damage is an
    /// `InvalidData` error: callers only scan committed bytes, where it means corruption.
    pub fn next_header(&mut self) -> io::Result<Option<(u64, BatchHeader, usize)>> {
        let pos = self.pos;
        if pos >= self.window.end {
            return Ok(None);
        }
        let path = self.window.path;
        let Some(bytes) = self.window.get(pos, RECORD_BATCH_OVERHEAD)? else {
            return Err(invalid_data(
                path,
                format!("partial batch header at position {pos}"),
            ));
        };
        let Some(h) = BatchHeader::parse(bytes) else {
            return Err(invalid_data(
                path,
                format!("short batch header at position {pos}"),
            ));
        };
        let Some(size) = h.size_in_bytes() else {
            return Err(invalid_data(
                path,
                format!("batchLength {} too small at position {pos}", h.batch_length),
            ));
        };
        if h.magic != 2 {
            return Err(invalid_data(
                path,
                format!("magic {} at position {pos}", h.magic),
            ));
        }
        if pos + size as u64 > self.window.end {
            return Err(invalid_data(
                path,
                format!("batch of {size} bytes at position {pos} runs past the end of the segment"),
            ));
        }
        self.pos = pos + size as u64;
        self.window.chunk = if size > self.chunk {
            RECORD_BATCH_OVERHEAD
        } else {
            self.chunk
        };
        Ok(Some((pos, h, size)))
    }
}
