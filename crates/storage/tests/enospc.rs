//! A real full file system: a small ext4 image mounted over a loop device, a partition log
//! on it, appends until the disk is full (ENOSPC). Every append that returned `Ok` must be
//! readable after a reopen, no offset may be handed out twice, and an idempotent retry of
//! the failed batch must not be duplicated.
//!
//! Needs root, `mkfs.ext4` (e2fsprogs), `mount`, `umount` and loop devices. Without them the
//! test is skipped with a message, unless `STRAIT_REQUIRE_ALL_CLIENTS` is set, then it
//! fails. The mount is always removed, by a drop guard, even when an assertion fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use strait_records::{BatchBuilder, BatchIter};
use strait_storage::{AppendError, LogConfig, PartitionLog};

const NOW: i64 = 1_700_000_000_000;
/// Appends here are not transactional: no coordinator verification.
const NO_TXN: strait_storage::VerificationGuard = strait_storage::VerificationGuard::NONE;
const PID: i64 = 42;
const RECORDS_PER_BATCH: i32 = 8;

fn required() -> bool {
    std::env::var_os("STRAIT_REQUIRE_ALL_CLIENTS").is_some()
}

/// Skips (with a message) or, under `STRAIT_REQUIRE_ALL_CLIENTS`, fails.
fn skip(why: &str) {
    assert!(
        !required(),
        "the ENOSPC test is required (STRAIT_REQUIRE_ALL_CLIENTS is set) but cannot run: {why}"
    );
    eprintln!(
        "SKIPPING the real-ENOSPC test: {why} (set STRAIT_REQUIRE_ALL_CLIENTS to make this fail)"
    );
}

/// Runs a command; `Err` with its output if it cannot start or fails.
fn sh(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Unmounts on drop (lazily if busy), so a failed assertion never leaves a mount behind.
struct Mount {
    point: PathBuf,
}

impl Drop for Mount {
    fn drop(&mut self) {
        let p = self.point.to_string_lossy().into_owned();
        if let Err(e) = sh("umount", &[&p]) {
            eprintln!("umount {p} failed ({e}); detaching lazily");
            let _ = sh("umount", &["-l", &p]);
        }
    }
}

fn idem(seq: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(0).producer(PID, 0, seq);
    for i in 0..RECORDS_PER_BATCH {
        // Incompressible enough and large: the disk fills in a few hundred appends.
        let value: Vec<u8> = (0..2000u32)
            .map(|j| (j.wrapping_mul(31).wrapping_add(seq as u32 + i as u32)) as u8)
            .collect();
        b = b.append(NOW + i64::from(i), Some(b"key"), Some(&value));
    }
    b.build().unwrap()
}

/// Every batch as (base offset, base sequence), checking offsets strictly increase.
fn contents(log: &PartitionLog) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, i64::MAX, true).unwrap();
        assert!(!r.records.is_empty(), "no batch at {next}");
        for b in BatchIter::new(&r.records) {
            let b = b.unwrap();
            b.validate_crc().unwrap();
            assert!(b.base_offset() >= next, "offset {} reused", b.base_offset());
            out.push((b.base_offset(), b.header().base_sequence));
            next = b.last_offset() + 1;
        }
    }
    out
}

fn tools_missing() -> Option<String> {
    if !is_root() {
        return Some("not running as root".into());
    }
    for tool in ["mkfs.ext4", "mount", "umount"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(tool).exists()
            || Path::new("/sbin").join(tool).exists();
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

#[test]
fn appends_until_enospc_lose_nothing_acknowledged() {
    if let Some(why) = tools_missing() {
        return skip(&why);
    }
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("fs.img");
    let point = work.path().join("mnt");
    std::fs::create_dir(&point).unwrap();
    std::fs::File::create(&image)
        .unwrap()
        .set_len(8 * 1024 * 1024)
        .unwrap();
    let img = image.to_string_lossy().into_owned();
    let mnt = point.to_string_lossy().into_owned();
    // No reserved blocks: root would otherwise write into them and the test would measure
    // the reserve, not the full disk.
    if let Err(e) = sh("mkfs.ext4", &["-q", "-F", "-m", "0", &img]) {
        return skip(&e);
    }
    if let Err(e) = sh("mount", &["-o", "loop", &img, &mnt]) {
        return skip(&e);
    }
    let _mount = Mount {
        point: point.clone(),
    };

    // Ballast freed before the reopen, so recovery has room for its checkpoints.
    let ballast = point.join("ballast");
    std::fs::write(&ballast, vec![0u8; 256 * 1024]).unwrap();
    let dir = point.join("enospc-0");
    let config = LogConfig {
        segment_bytes: 1024 * 1024,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(&dir, config.clone(), NOW).unwrap();
    let mut acked: Vec<(i64, i32)> = Vec::new();
    let mut failed: Vec<i32> = Vec::new();
    let mut seq = 0;
    let mut first_error = None;
    let mut handed_out = -1i64;
    for _ in 0..2000 {
        let leo = log.log_end_offset();
        match log.append_leader(&idem(seq), 0, NOW, NO_TXN) {
            Ok(info) => {
                assert_eq!(info.base_offset, leo, "append not at the log end");
                assert!(
                    info.base_offset > handed_out,
                    "offset {} reused",
                    info.base_offset
                );
                handed_out = info.last_offset;
                acked.push((info.base_offset, seq));
                seq += RECORDS_PER_BATCH;
            }
            Err(e) => {
                let retriable = matches!(e, AppendError::Io(_));
                assert!(
                    retriable || matches!(e, AppendError::Offline(_)),
                    "unexpected error kind: {e}"
                );
                if first_error.is_none() {
                    eprintln!("first failure after {} appends: {e}", acked.len());
                    first_error = Some(e.to_string());
                }
                if !failed.contains(&seq) {
                    failed.push(seq);
                }
                if log.is_offline() {
                    // Offline is final until restart.
                    assert!(matches!(
                        log.append_leader(&idem(seq), 0, NOW, NO_TXN),
                        Err(AppendError::Offline(_))
                    ));
                    break;
                }
                // Retriable: the same batch is retried (as a producer would), a few times.
                if failed.len() > 5 {
                    break;
                }
            }
        }
    }
    let first_error = first_error.expect("the 8 MiB file system never filled up");
    assert!(
        first_error.contains("No space left") || first_error.contains("os error 28"),
        "not ENOSPC: {first_error}"
    );
    assert!(!acked.is_empty());
    drop(log);

    std::fs::remove_file(&ballast).unwrap();
    let mut log = PartitionLog::open(&dir, config, NOW).unwrap();
    let after = contents(&log);
    for a in &acked {
        assert!(after.contains(a), "acknowledged {a:?} lost after reopen");
    }
    for b in &after {
        assert!(
            acked.contains(b) || failed.contains(&b.1),
            "batch {b:?} was neither acknowledged nor a failed append"
        );
    }
    // The producer retries its failed batch: written once (or found as a duplicate).
    if let Some(&retry_seq) = failed.last() {
        let first = log.append_leader(&idem(retry_seq), 0, NOW, NO_TXN).unwrap();
        let again = log.append_leader(&idem(retry_seq), 0, NOW, NO_TXN).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.base_offset, first.base_offset);
    }
    let seqs: Vec<i32> = contents(&log).iter().map(|c| c.1).collect();
    let unique: HashSet<i32> = seqs.iter().copied().collect();
    assert_eq!(seqs.len(), unique.len(), "a batch was duplicated: {seqs:?}");
    log.close().unwrap();
}
