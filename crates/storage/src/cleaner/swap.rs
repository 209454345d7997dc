//! The crash-safe swap of cleaned segments into a log (Kafka's `.cleaned` → `.swap` →
//! delete old → rename protocol), plus the recovery `PartitionLog::open` runs first.
//!
//! For one group with base `B` replacing the segments at bases `R` (B ∈ R), in order, each
//! step made durable (directory fsync) before the next:
//! 0. (phase b) `B.{log,index,timeindex}.cleaned` written and fsynced;
//! 1. manifest `B.cleaner-swap` written atomically, naming `R`;
//! 2. `.cleaned` → `.swap`, indexes first, the log last: `B.log.swap` existing is the
//!    commit point;
//! 3. the old segments' files are removed (or renamed `.deleted` for `file.delete.delay.ms`);
//! 4. `.swap` → final names, indexes first, the log last;
//! 5. the manifest is removed.
//!
//! Recovery per manifest: if `B.log.swap` exists, the swap committed: the files of every
//! segment in `R` still present are removed, the `.swap` files renamed, and `B` is fully
//! recovered (CRC-validated, indexes rebuilt). Otherwise either step 2 never finished (old
//! segments intact) or step 4 did (new segment final); the manifest and any leftover
//! `.cleaned` / `.swap` files are deleted. The manifest exists from before the first
//! `.swap` until after the last one is gone, so the replaced set is never guessed from
//! offsets (Kafka infers it from the swap segment's offset range, which is ambiguous when
//! cleaning removed a group's last batches).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::{sync_dir, write_atomic};
use crate::error::io_context;
use crate::segment::{file_name, segment_paths};

use super::CleanedGroup;

pub(crate) const MANIFEST_SUFFIX: &str = "cleaner-swap";

/// Counts file operations so tests can stop ("crash") after any of them; production
/// passes `None` (no limit).
#[derive(Debug, Default)]
pub(crate) struct OpBudget(pub Option<usize>);

impl OpBudget {
    fn tick(&mut self) -> io::Result<()> {
        match &mut self.0 {
            None => Ok(()),
            Some(0) => Err(io::Error::other("simulated crash")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
        }
    }
}

fn encode_manifest(replaced: &[i64]) -> Vec<u8> {
    let mut s = format!("0\n{}\n", replaced.len());
    for b in replaced {
        s.push_str(&format!("{b}\n"));
    }
    s.into_bytes()
}

fn decode_manifest(path: &Path, bytes: &[u8]) -> io::Result<Vec<i64>> {
    let bad = |m: &str| crate::error::invalid_data(path, format!("cleaner swap manifest: {m}"));
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err(bad("unknown version"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("bad count line"))?;
    let bases: Vec<i64> = lines
        .map(|l| l.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bad base offset line"))?;
    if bases.len() != count || bases.is_empty() {
        return Err(bad("count does not match the base offsets listed"));
    }
    Ok(bases)
}

fn rename(from: &Path, to: &Path, budget: &mut OpBudget) -> io::Result<()> {
    budget.tick()?;
    fs::rename(from, to).map_err(|e| io_context("rename", from, e))
}

/// Removes `path` now, or renames it `<path>.deleted` and returns that path when deletion
/// is delayed.
fn remove(path: &Path, delay: bool, budget: &mut OpBudget) -> io::Result<Option<PathBuf>> {
    budget.tick()?;
    if delay {
        let mut to = path.as_os_str().to_owned();
        to.push(".deleted");
        let to = PathBuf::from(to);
        match fs::rename(path, &to) {
            Ok(()) => Ok(Some(to)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_context("rename for deletion", path, e)),
        }
    } else {
        match fs::remove_file(path) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_context("delete", path, e)),
        }
    }
}

/// Steps 1-5 for one group. Returns the `.deleted` paths created (delayed deletion).
/// Only renames and unlinks: the old segments stay readable through their open handles
/// until the caller swaps its in-memory segments.
pub(crate) fn install(
    dir: &Path,
    group: &CleanedGroup,
    delay_delete: bool,
    budget: &mut OpBudget,
) -> io::Result<Vec<PathBuf>> {
    let base = group.base_offset;
    let manifest = file_name(base, MANIFEST_SUFFIX);
    budget.tick()?;
    write_atomic(dir, &manifest, &encode_manifest(&group.replaced))?;

    let cleaned = segment_paths(dir, base, ".cleaned");
    let swap = segment_paths(dir, base, ".swap");
    // Indexes first: the log's rename is the commit point.
    for i in [1, 2, 3, 0] {
        rename(&cleaned[i], &swap[i], budget)?;
    }
    sync_dir(dir)?;

    let mut deleted = Vec::new();
    for b in &group.replaced {
        // The log first: an index without its log is a stray, a log without index is rebuilt.
        for path in segment_paths(dir, *b, "") {
            deleted.extend(remove(&path, delay_delete, budget)?);
        }
    }
    sync_dir(dir)?;

    let live = segment_paths(dir, base, "");
    for i in [1, 2, 3, 0] {
        rename(&swap[i], &live[i], budget)?;
    }
    sync_dir(dir)?;

    budget.tick()?;
    fs::remove_file(dir.join(&manifest))
        .map_err(|e| io_context("delete", &dir.join(&manifest), e))?;
    sync_dir(dir)?;
    Ok(deleted)
}

/// Finishes every interrupted swap in `dir` (see the module docs). Returns the bases of
/// segments that must be fully recovered.
pub(crate) fn recover_interrupted(dir: &Path) -> io::Result<Vec<i64>> {
    let mut manifests = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_context("list", dir, e))? {
        let entry = entry.map_err(|e| io_context("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(&format!(".{MANIFEST_SUFFIX}")) {
            if let Ok(base) = stem.parse::<i64>() {
                manifests.push((base, entry.path()));
            }
        }
    }
    manifests.sort();
    let mut recover = Vec::new();
    for (base, manifest) in manifests {
        let replaced = decode_manifest(
            &manifest,
            &fs::read(&manifest).map_err(|e| io_context("read", &manifest, e))?,
        )?;
        let swap = segment_paths(dir, base, ".swap");
        if swap[0].exists() {
            tracing::warn!(dir = %dir.display(), base, replaced = ?replaced, "finishing an interrupted cleaner swap");
            let mut budget = OpBudget::default();
            for b in &replaced {
                for path in segment_paths(dir, *b, "") {
                    remove(&path, false, &mut budget)?;
                }
            }
            let live = segment_paths(dir, base, "");
            for i in [1, 2, 3, 0] {
                if swap[i].exists() {
                    rename(&swap[i], &live[i], &mut budget)?;
                }
            }
            sync_dir(dir)?;
            recover.push(base);
        } else {
            tracing::info!(dir = %dir.display(), base, "discarding an unfinished or completed cleaner swap manifest");
        }
        fs::remove_file(&manifest).map_err(|e| io_context("delete", &manifest, e))?;
        sync_dir(dir)?;
    }
    Ok(recover)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let p = Path::new("x");
        assert_eq!(
            decode_manifest(p, &encode_manifest(&[0, 10, 20])).unwrap(),
            vec![0, 10, 20]
        );
        assert!(decode_manifest(p, b"0\n2\n1\n").is_err());
        assert!(decode_manifest(p, b"1\n1\n1\n").is_err());
        assert!(decode_manifest(p, b"0\n0\n").is_err());
    }
}
