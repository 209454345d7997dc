#![no_main]

/// As the `strait` binary: huge reservations from lying array counts stay lazy.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| strait_broker::fuzz_harness::properties(data));
