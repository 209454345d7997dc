//! Property tests: arbitrary bytes never panic either append path (a failed append
//! changes nothing), and recovery keeps exactly the complete batches before any cut.

use super::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Arbitrary bytes (and mutations of valid batches) never panic either append path,
    /// and a failed append changes nothing.
    #[test]
    fn appends_never_panic(data in prop::collection::vec(any::<u8>(), 0..300),
                           edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), LogConfig::default());
        log.append_leader(&batch(2, NOW), 0, NOW, NO_TXN).unwrap();
        let mut mutated = [batch(3, NOW), idem(1, 0, 0, 2)].concat();
        for (i, v) in edits {
            let at = i.index(mutated.len());
            mutated[at] = v;
        }
        for input in [&data[..], &mutated[..]] {
            let (leo, size) = (log.log_end_offset(), log.size_in_bytes());
            if log.append_leader(input, 0, NOW, NO_TXN).is_err() {
                prop_assert_eq!((log.log_end_offset(), log.size_in_bytes()), (leo, size));
            }
            let (leo, size) = (log.log_end_offset(), log.size_in_bytes());
            if log.append_mirrored(input, NOW).is_err() {
                prop_assert_eq!((log.log_end_offset(), log.size_in_bytes()), (leo, size));
            }
        }
        let _ = offsets(&log, 0);
        drop(log);
        let log = open(dir.path(), LogConfig::default());
        prop_assert!(log.log_end_offset() >= 2);
    }

    /// Truncating the active segment at any byte and reopening keeps exactly the
    /// complete batches before the cut.
    #[test]
    fn recovery_keeps_complete_prefix(cut in any::<prop::sample::Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), LogConfig::default());
        let mut ends = Vec::new();
        let mut pos = 0u64;
        for i in 0..8 {
            log.append_leader(&batch(1 + i % 3, NOW), 0, NOW, NO_TXN).unwrap();
            pos = log.size_in_bytes();
            ends.push((pos, log.log_end_offset()));
        }
        drop(log);
        let cut = cut.index(pos as usize + 1) as u64;
        let path = dir.path().join("00000000000000000000.log");
        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
        let log = open(dir.path(), LogConfig::default());
        let leo = ends.iter().filter(|(e, _)| *e <= cut).map(|(_, o)| *o).next_back().unwrap_or(0);
        prop_assert_eq!(log.log_end_offset(), leo);
        let n = offsets(&log, 0).len();
        prop_assert_eq!(n, ends.iter().filter(|(e, _)| *e <= cut).count());
    }
}
