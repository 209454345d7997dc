//! Small checkpoint files, replaced atomically: write `<name>.tmp`, fsync it, rename over
//! `<name>`, fsync the directory. A reader therefore sees the old or the new contents,
//! never a mix, even after a crash. Stray `.tmp` files are deleted when the log opens.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::error::io_context;

pub(crate) const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Everything below this offset has been fsynced (with its index entries): written after
/// every flush and roll, never advanced by open (see `log::recover`).
pub(crate) const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub(crate) const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// Legacy: the one producer snapshot older versions wrote at close. Now snapshots are
/// `<offset>.snapshot` (see `log::recover`); this one is adopted once and deleted.
pub(crate) const PRODUCER_SNAPSHOT: &str = "producer-state.snapshot";
pub(crate) const CLEAN_SHUTDOWN: &str = ".clean-shutdown";
/// First dirty offset of a compacted log (Kafka keeps one `cleaner-offset-checkpoint` per
/// log directory; Strait keeps the one partition it concerns in the partition directory).
pub(crate) const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// The high watermark of a replicated partition (Kafka keeps one
/// `replication-offset-checkpoint` per log directory; Strait keeps the partition's own here).
pub(crate) const HIGH_WATERMARK_CHECKPOINT: &str = "high-watermark-checkpoint";

/// Makes renames and file creations in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_context("fsync directory", dir, e))
}

pub(crate) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let write = || -> io::Result<()> {
        crate::fault::hit(crate::fault::Op::Checkpoint)?;
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()
    };
    write().map_err(|e| io_context("write checkpoint", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| io_context("rename checkpoint to", &path, e))?;
    sync_dir(dir)
}

/// Reads a file if it exists.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_context("read", path, e)),
    }
}

/// Kafka's offset checkpoint text layout, reduced to the one partition a directory holds:
/// `0` (version), `1` (count), `<offset>`.
pub(crate) fn encode_offset(offset: i64) -> Vec<u8> {
    format!("0\n1\n{offset}\n").into_bytes()
}

pub(crate) fn decode_offset(bytes: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    match (lines.next(), lines.next(), lines.next(), lines.next()) {
        (Some("0"), Some("1"), Some(v), None) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| format!("bad offset line {v:?}")),
        _ => Err("expected lines `0`, `1`, `<offset>`".to_string()),
    }
}

pub(crate) fn write_offset(dir: &Path, name: &str, offset: i64) -> io::Result<()> {
    write_atomic(dir, name, &encode_offset(offset))
}

/// Reads an offset checkpoint; a missing file is `None`, a malformed one is logged and
/// treated as missing (callers fall back to a safe default).
pub(crate) fn read_offset(dir: &Path, name: &str) -> io::Result<Option<i64>> {
    let path = dir.join(name);
    let Some(bytes) = read_optional(&path)? else {
        return Ok(None);
    };
    match decode_offset(&bytes) {
        Ok(o) => Ok(Some(o)),
        Err(e) => {
            tracing::warn!(file = %path.display(), "ignoring malformed checkpoint: {e}");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_round_trip_and_garbage() {
        assert_eq!(decode_offset(&encode_offset(42)).unwrap(), 42);
        assert!(decode_offset(b"0\n1\n").is_err());
        assert!(decode_offset(b"0\n1\n-5\n").is_err());
        assert!(decode_offset(b"\xff").is_err());
        let dir = tempfile::tempdir().unwrap();
        write_offset(dir.path(), "x", 7).unwrap();
        assert_eq!(read_offset(dir.path(), "x").unwrap(), Some(7));
        assert_eq!(read_offset(dir.path(), "y").unwrap(), None);
        assert!(!dir.path().join("x.tmp").exists());
    }
}
