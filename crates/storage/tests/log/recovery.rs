//! Crash recovery: a garbage tail, a batch cut mid-way, a flipped byte, a partial header and
//! stray files, a corrupt or missing index, a clean reopen that does not rescan, and a
//! missing recovery point.

use super::*;

fn fill(dir: &Path) -> (Vec<(i64, i64)>, u64) {
    let mut log = open(dir, small_config());
    for _ in 0..30 {
        log.append_leader(&batch(3, NOW), 0, NOW, NO_TXN).unwrap();
    }
    let got = offsets(&log, 0);
    let size = log.size_in_bytes();
    drop(log); // no close: unclean
    (got, size)
}

fn active_segment(dir: &Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn check_recovered(dir: &Path, expect: &[(i64, i64)]) {
    let mut log = open(dir, small_config());
    assert_eq!(offsets(&log, 0), expect);
    let leo = expect.last().map_or(0, |b| b.1 + 1);
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(
        log.append_leader(&batch(2, NOW), 0, NOW, NO_TXN)
            .unwrap()
            .base_offset,
        leo
    );
    assert_eq!(
        log.read(leo, 1 << 20, i64::MAX, true)
            .unwrap()
            .records
            .len(),
        batch(2, NOW).len()
    );
    drop(log);
    // And once more: recovery is idempotent.
    let log = open(dir, small_config());
    assert_eq!(log.log_end_offset(), leo + 2);
}

#[test]
fn recovery_garbage_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let mut f = OpenOptions::new()
        .append(true)
        .open(active_segment(dir.path()))
        .unwrap();
    f.write_all(&[0xab; 100]).unwrap();
    check_recovered(dir.path(), &expect);
}

#[test]
fn recovery_truncated_mid_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let path = active_segment(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    check_recovered(dir.path(), &expect[..expect.len() - 1]);
}

#[test]
fn recovery_flipped_byte_in_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let path = active_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    check_recovered(dir.path(), &expect[..expect.len() - 1]);
}

#[test]
fn recovery_partial_header_and_stray_files() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let mut f = OpenOptions::new()
        .append(true)
        .open(active_segment(dir.path()))
        .unwrap();
    f.write_all(&batch(1, NOW)[..30]).unwrap();
    std::fs::write(dir.path().join("00000000000000000000.log.deleted"), b"x").unwrap();
    std::fs::write(dir.path().join("leader-epoch-checkpoint.tmp"), b"x").unwrap();
    std::fs::write(dir.path().join("00000000000099999999.index"), b"x").unwrap();
    check_recovered(dir.path(), &expect);
    assert!(!dir.path().join("00000000000000000000.log.deleted").exists());
    assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
    assert!(!dir.path().join("00000000000099999999.index").exists());
}

#[test]
fn corrupt_or_missing_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..30 {
        log.append_leader(&batch(3, NOW), 0, NOW, NO_TXN).unwrap();
    }
    let expect = offsets(&log, 0);
    log.close().unwrap();
    let first = dir.path().join("00000000000000000000.index");
    assert!(std::fs::metadata(&first).unwrap().len() > 0);
    std::fs::write(&first, [0xff; 13]).unwrap(); // not whole entries, points past the end
    let second_base = {
        let log = open(dir.path(), small_config());
        let b = log.segment_base_offsets()[1];
        log.close().unwrap();
        b
    };
    std::fs::remove_file(dir.path().join(format!("{second_base:020}.index"))).unwrap();
    std::fs::remove_file(dir.path().join(format!("{second_base:020}.timeindex"))).unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(offsets(&log, 0), expect);
    for (base, _) in &expect {
        let r = log.read(*base, 10, i64::MAX, true).unwrap();
        assert_eq!(
            BatchIter::new(&r.records)
                .next()
                .unwrap()
                .unwrap()
                .base_offset(),
            *base
        );
    }
}

#[test]
fn clean_reopen_does_not_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    let log = open(dir.path(), small_config());
    log.close().unwrap();
    assert!(dir.path().join(".clean-shutdown").exists());
    // Damage a non-active segment's tail area the clean path never reads: the first batch
    // of segment 0 (covered by its index, so not re-validated). A clean open trusts it.
    let path = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[70] ^= 0xff; // inside the first batch's records
    std::fs::write(&path, &bytes).unwrap();
    let log = open(dir.path(), small_config());
    assert!(!dir.path().join(".clean-shutdown").exists());
    assert_eq!(log.log_end_offset(), expect.last().unwrap().1 + 1);
    // The damaged batch is still served: proof that the clean open did not validate it.
    let r = log.read(0, 100, i64::MAX, true).unwrap();
    let b = BatchIter::new(&r.records).next().unwrap().unwrap();
    assert!(b.validate_crc().is_err());
}

#[test]
fn recovery_without_recovery_point_validates_all_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (expect, _) = fill(dir.path());
    // Without a recovery point every segment is validated; damage in the first segment
    // truncates it there and drops every later segment (they follow the damage).
    std::fs::remove_file(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    let path = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&path).unwrap();
    let one = batch(3, NOW).len();
    bytes[one + 70] ^= 0x01; // second batch of segment 0
    std::fs::write(&path, bytes).unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(offsets(&log, 0), expect[..1]);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_end_offset(), 3);
}
