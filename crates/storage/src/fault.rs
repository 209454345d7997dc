//! Fault injection for the write paths of segments, indexes and checkpoints.
//!
//! Every write, fsync, truncate and create the append path performs goes through
//! [`hit`] (or [`write_all_at`]) naming its [`Op`]. In normal builds these are `#[inline]`
//! no-ops that the optimizer removes, so release code pays nothing. Under `cfg(test)` or the
//! `fault-injection` feature, a test can arm per-thread rules ("fail the Nth log write with
//! ENOSPC after writing half of it") and check that the log never reuses an offset nor
//! loses an acknowledged record. Rules are thread-local so parallel tests do not interfere.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The kinds of I/O the append path performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `pwrite` of batches into a `.log` file.
    LogWrite,
    /// `pwrite` of entries into a `.index` file.
    OffsetIndexWrite,
    /// `pwrite` of entries into a `.timeindex` file.
    TimeIndexWrite,
    /// Creating the files of a new segment (a roll).
    SegmentCreate,
    /// Writing a checkpoint file (leader epochs, recovery point, log start, high watermark).
    Checkpoint,
    /// `fsync` of a segment's log file.
    Fsync,
    /// `ftruncate` of a `.log` file (cutting back a failed write).
    SetLen,
}

#[cfg(any(test, feature = "fault-injection"))]
mod imp {
    use super::Op;
    use std::cell::RefCell;
    use std::io;

    #[derive(Debug, Clone, Copy)]
    struct Rule {
        op: Op,
        /// Calls of `op` still to let through before failing.
        skip: u32,
        errno: i32,
        /// For `LogWrite`: write this fraction (in halves) before failing.
        partial: bool,
        /// Keep failing every later call too (a dead disk), not just once.
        sticky: bool,
    }

    thread_local! {
        static RULES: RefCell<Vec<Rule>> = const { RefCell::new(Vec::new()) };
    }

    /// Makes the `nth` (0-based, counted from now) call of `op` on this thread fail with
    /// `errno`; with `partial`, a log write first writes half its bytes; with `sticky`,
    /// every call after it fails too.
    pub fn fail_nth(op: Op, nth: u32, errno: i32, partial: bool, sticky: bool) {
        RULES.with(|r| {
            r.borrow_mut().push(Rule {
                op,
                skip: nth,
                errno,
                partial,
                sticky,
            })
        });
    }

    /// Removes every armed rule of this thread.
    pub fn clear() {
        RULES.with(|r| r.borrow_mut().clear());
    }

    /// `Some((error, partial))` if a rule fires for this call of `op`.
    pub(super) fn fire(op: Op) -> Option<(io::Error, bool)> {
        RULES.with(|r| {
            let mut rules = r.borrow_mut();
            let i = rules.iter().position(|rule| rule.op == op)?;
            let rule = &mut rules[i];
            if rule.skip > 0 {
                rule.skip -= 1;
                return None;
            }
            let out = (
                io::Error::from_raw_os_error(rule.errno),
                rule.partial && op == Op::LogWrite,
            );
            if !rule.sticky {
                rules.remove(i);
            }
            Some(out)
        })
    }
}

#[cfg(any(test, feature = "fault-injection"))]
pub use imp::{clear, fail_nth};

/// Checks for an injected failure of `op`; always `Ok` in normal builds.
#[inline(always)]
pub(crate) fn hit(op: Op) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if let Some((e, _)) = imp::fire(op) {
        return Err(e);
    }
    let _ = op;
    Ok(())
}

/// `write_all_at`, with injected (possibly partial) failures in test builds.
#[inline(always)]
pub(crate) fn write_all_at(file: &File, op: Op, buf: &[u8], pos: u64) -> io::Result<()> {
    #[cfg(any(test, feature = "fault-injection"))]
    if let Some((e, partial)) = imp::fire(op) {
        if partial {
            file.write_all_at(&buf[..buf.len() / 2], pos)?;
        }
        return Err(e);
    }
    let _ = op;
    file.write_all_at(buf, pos)
}
