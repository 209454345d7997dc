//! Replays the committed fuzz corpus (`crates/fuzz/corpus/<target>/*`) through the same
//! harness functions the `cargo fuzz` targets call, so every input a campaign found
//! interesting (and every crash it found, once fixed) is re-checked by `cargo test`.

use std::path::PathBuf;

/// As the `strait` binary (crates/broker/src/main.rs): a request whose array count lies
/// reserves address space only, so the corpus can keep such inputs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use strait_broker::fuzz_harness::{run, TARGETS};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn corpus_replays_without_panics() {
    let mut total = 0;
    for target in TARGETS {
        let dir = corpus_dir().join(target);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        inputs.sort();
        assert!(
            !inputs.is_empty(),
            "no corpus for fuzz target {target} in {}",
            dir.display()
        );
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            assert!(run(target, &data), "unknown target {target}");
        }
        total += inputs.len();
    }
    eprintln!(
        "replayed {total} corpus inputs over {} targets",
        TARGETS.len()
    );
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    for target in TARGETS {
        assert!(
            dir.join(format!("{target}.rs")).exists(),
            "fuzz target {target} has no crates/fuzz/fuzz_targets/{target}.rs"
        );
    }
}

/// Inputs that once overflowed offset arithmetic in debug builds: a batch whose baseOffset
/// is near i64::MAX with a positive lastOffsetDelta and record offsetDelta.
#[test]
fn extreme_base_offsets_do_not_overflow() {
    use strait_records::{BatchBuilder, Record};
    let rec = |delta: i32| Record {
        offset_delta: delta,
        timestamp_delta: 0,
        key: Some(bytes::Bytes::from_static(b"k")),
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: Vec::new(),
    };
    let bytes = BatchBuilder::new(i64::MAX - 1)
        .push(rec(0))
        .push(rec(1))
        .push(rec(2))
        .build()
        .unwrap();
    run("record_batches", &bytes);
}

/// The harness decodes every API the broker advertises, so a new handler cannot escape
/// fuzzing.
#[test]
fn harness_covers_every_supported_api() {
    use kafka_protocol::messages::ApiKey;
    for range in strait_protocol::versions::SUPPORTED_APIS {
        if strait_protocol::versions::is_private_api_key(range.api_key) {
            continue;
        }
        let key = ApiKey::try_from(range.api_key).unwrap();
        let mut empty = bytes::Bytes::new();
        assert!(
            strait_broker::fuzz_harness::decode_body(key, &mut empty, range.min),
            "fuzz harness does not decode {key:?}"
        );
    }
}
