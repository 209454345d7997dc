#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log cleaner throughput and memory on a ~1 GB dirty log, against the copy limit of the
//! same bytes measured in the same run (see benches/README.md, "Log cleaner").
//!
//! ```text
//! cargo bench -p strait-benches --bench cleaner                        # ~2-3 min, 1 GiB
//! cargo bench -p strait-benches --bench cleaner -- --segments 2 --segment-mib 16   # smoke
//! ```
//!
//! What one run does:
//! 1. **Build** a dirty compacted log with `PartitionLog::append_leader` in a temp dir under
//!    `--dir` (default `benches/.work`, on the real disk, never tmpfs; `df -T` is printed):
//!    batches of `--batch-records` records, keys drawn uniformly from `--keys` keys
//!    (`key-000042`), values of `--value-bytes` random bytes (incompressible; `--values
//!    text` gives words from a 4,096-word vocabulary instead), `--compression` codec. It
//!    appends until `--segments` segments of `--segment-mib` are full and the next batch
//!    rolls a new active segment (holding that one batch), then closes the log.
//! 2. For each `--buffers-mib` size (the `log.cleaner.dedupe.buffer.size` of a one-thread
//!    cleaner), in a fresh copy of that log:
//!    * **copy limit**: every cleanable `.log` file of the pristine log is read and written
//!      to a new file with the cleaner's I/O buffer size, each file fsynced, then the
//!      directory fsynced (the cleaner reads its input and writes `.cleaned` files, fsyncs
//!      them and the directory). Measured before and after the clean.
//!    * **clean**, in a child process (so its memory is its own): open the log, reset the
//!      RSS high-water mark (`/proc/self/clear_refs` = 5), allocate `OffsetMap::new(buffer,
//!      0.9)`, then `plan_cleaning` → `CleanPlan::clean` → `commit_cleaning` passes until the
//!      whole dirty range is clean. Reports passes, bytes, elapsed, and `VmHWM` − `VmRSS`
//!      at the reset (the cleaning's peak memory) against the buffer. After the timing it
//!      reads the cleaned range back and checks that exactly the latest record of every key
//!      survived.
//!
//!    With `--cache cold` (the default when `/proc/sys/vm/drop_caches` is writable) the page
//!    cache is dropped (after `sync`) before every copy and every clean; with `--cache warm`
//!    the input is read once first, for both.
//!
//! Throughput is MB (10^6 bytes) of dirty log (the first pass's cleanable dirty segments)
//! per second of all passes. The ratio clean / copy is the figure to quote.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use strait_records::{decode_records, BatchBuilder, BatchIter, Compression};

/// Appends here are not transactional: no coordinator verification.
const NO_TXN: strait_storage::VerificationGuard = strait_storage::VerificationGuard::NONE;
use strait_storage::{
    CleanCommit, CleanerContext, CleanupPolicy, LogConfig, OffsetMap, PartitionLog, Throttler,
};

const MB: f64 = 1e6;
const MIB: u64 = 1024 * 1024;

struct Opts {
    segments: usize,
    segment_mib: u64,
    keys: u32,
    value_bytes: usize,
    batch_records: usize,
    buffers_mib: Vec<f64>,
    compression: Compression,
    text_values: bool,
    cold: bool,
    dir: PathBuf,
    keep: bool,
    io_buffer_bytes: usize,
    load_factor: f64,
    seed: u64,
    repeat: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench -p strait-benches --bench cleaner -- [--segments N] [--segment-mib M] \
         [--keys K] [--value-bytes B] [--batch-records R] [--buffers-mib 128,16,2] \
         [--compression none|gzip|snappy|lz4|zstd] [--values random|text] [--cache cold|warm] \
         [--dir DIR] [--io-buffer-bytes N] [--load-factor F] [--seed S] [--repeat N] [--keep]"
    );
    std::process::exit(2)
}

fn parse_opts(args: &[String]) -> Opts {
    let mut o = Opts {
        segments: 8,
        segment_mib: 128,
        keys: 100_000,
        value_bytes: 1000,
        batch_records: 16,
        buffers_mib: vec![128.0, 16.0, 2.0],
        compression: Compression::None,
        text_values: false,
        cold: fs::OpenOptions::new()
            .write(true)
            .open("/proc/sys/vm/drop_caches")
            .is_ok(),
        dir: Path::new(env!("CARGO_MANIFEST_DIR")).join(".work"),
        keep: false,
        // The broker's default: log.cleaner.io.buffer.size 512 KiB / 1 thread / 2.
        io_buffer_bytes: 256 * 1024,
        load_factor: 0.9,
        seed: 0x5eed_c1ea,
        repeat: 3,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--segments" => o.segments = val().parse().unwrap_or_else(|_| usage()),
            "--segment-mib" => o.segment_mib = val().parse().unwrap_or_else(|_| usage()),
            "--keys" => o.keys = val().parse().unwrap_or_else(|_| usage()),
            "--value-bytes" => o.value_bytes = val().parse().unwrap_or_else(|_| usage()),
            "--batch-records" => o.batch_records = val().parse().unwrap_or_else(|_| usage()),
            "--buffers-mib" => {
                o.buffers_mib = val()
                    .split(',')
                    .map(|s| s.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--compression" => {
                let v = val();
                o.compression = Compression::ALL
                    .into_iter()
                    .find(|c| c.name() == v)
                    .unwrap_or_else(|| usage())
            }
            "--values" => {
                o.text_values = match val().as_str() {
                    "random" => false,
                    "text" => true,
                    _ => usage(),
                }
            }
            "--cache" => {
                o.cold = match val().as_str() {
                    "cold" => true,
                    "warm" => false,
                    _ => usage(),
                }
            }
            "--dir" => o.dir = PathBuf::from(val()),
            "--io-buffer-bytes" => o.io_buffer_bytes = val().parse().unwrap_or_else(|_| usage()),
            "--load-factor" => o.load_factor = val().parse().unwrap_or_else(|_| usage()),
            "--seed" => o.seed = val().parse().unwrap_or_else(|_| usage()),
            "--repeat" => o.repeat = val().parse().unwrap_or_else(|_| usage()),
            "--keep" => o.keep = true,
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            _ => usage(),
        }
    }
    o
}

fn log_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        ..LogConfig::default()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// xorshift64*: deterministic, fast enough to fill a gigabyte.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn vocabulary(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..4096)
        .map(|_| {
            let len = 3 + (rng.next() % 8) as usize;
            (0..len).map(|_| b'a' + (rng.next() % 26) as u8).collect()
        })
        .collect()
}

fn text_value(rng: &mut Rng, vocab: &[Vec<u8>], out: &mut Vec<u8>, len: usize) {
    out.clear();
    while out.len() < len {
        out.extend_from_slice(&vocab[(rng.next() % vocab.len() as u64) as usize]);
        out.push(b' ');
    }
    out.truncate(len);
}

struct Built {
    /// Every record's key index, by offset.
    keys_by_offset: Vec<u32>,
    /// Base offset of the active segment = the first uncleanable offset.
    active_base: i64,
    records: u64,
    payload_bytes: u64,
    cleanable_logs: Vec<PathBuf>,
    cleanable_bytes: u64,
}

fn build_log(o: &Opts, dir: &Path) -> Built {
    let segment_bytes = o.segment_mib * MIB;
    let now = now_ms();
    let mut log = PartitionLog::open(dir, log_config(segment_bytes), now).unwrap();
    let mut rng = Rng(o.seed);
    let vocab = vocabulary(&mut rng);
    let mut keys_by_offset = Vec::new();
    let mut value = vec![0u8; o.value_bytes];
    let mut payload_bytes = 0u64;
    while log.segment_count() <= o.segments {
        let mut b = BatchBuilder::new(0).compression(o.compression);
        for _ in 0..o.batch_records {
            let k = (rng.next() % u64::from(o.keys)) as u32;
            let key = format!("key-{k:06}");
            if o.text_values {
                text_value(&mut rng, &vocab, &mut value, o.value_bytes);
            } else {
                rng.fill(&mut value);
            }
            payload_bytes += (key.len() + value.len()) as u64;
            b = b.append(now, Some(key.as_bytes()), Some(&value));
            keys_by_offset.push(k);
        }
        log.append_leader(&b.build().unwrap(), 0, now, NO_TXN)
            .unwrap();
    }
    let bases = log.segment_base_offsets();
    let active_base = *bases.last().unwrap();
    assert_eq!(
        keys_by_offset.len() as i64,
        log.log_end_offset(),
        "offsets are dense"
    );
    log.close().unwrap();
    let cleanable_logs: Vec<PathBuf> = bases[..bases.len() - 1]
        .iter()
        .map(|b| dir.join(format!("{b:020}.log")))
        .collect();
    let cleanable_bytes = cleanable_logs
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    Built {
        records: keys_by_offset.len() as u64,
        keys_by_offset,
        active_base,
        payload_bytes,
        cleanable_logs,
        cleanable_bytes,
    }
}

fn sync_all() {
    let _ = Command::new("sync").status();
}

/// Makes the next read of `files` come from where the run's cache mode says.
fn prepare_cache(cold: bool, files: &[PathBuf]) {
    sync_all();
    if cold {
        fs::write("/proc/sys/vm/drop_caches", "3\n").expect("drop_caches");
    } else {
        let mut buf = vec![0u8; 1 << 20];
        for f in files {
            let mut file = File::open(f).unwrap();
            while file.read(&mut buf).unwrap() > 0 {}
        }
    }
}

/// The copy limit: read every file and write it to a new file in `scratch` through one
/// `io`-byte buffer, fsync each file and then the directory. Returns (bytes, seconds).
fn copy_limit(files: &[PathBuf], scratch: &Path, io: usize) -> (u64, f64) {
    fs::create_dir_all(scratch).unwrap();
    let mut buf = vec![0u8; io];
    let start = Instant::now();
    let mut total = 0u64;
    for f in files {
        let src = File::open(f).unwrap();
        let len = src.metadata().unwrap().len();
        let mut dst = File::create(scratch.join(f.file_name().unwrap())).unwrap();
        let mut pos = 0u64;
        while pos < len {
            let n = (io as u64).min(len - pos) as usize;
            src.read_exact_at(&mut buf[..n], pos).unwrap();
            dst.write_all(&buf[..n]).unwrap();
            pos += n as u64;
        }
        dst.sync_data().unwrap();
        total += len;
    }
    File::open(scratch).unwrap().sync_all().unwrap();
    let secs = start.elapsed().as_secs_f64();
    fs::remove_dir_all(scratch).unwrap();
    (total, secs)
}

/// The read limit: every file read once through one `io`-byte buffer (the least input I/O a
/// cleaner can do). Returns seconds.
fn read_limit(files: &[PathBuf], io: usize) -> f64 {
    let mut buf = vec![0u8; io];
    let start = Instant::now();
    for f in files {
        let src = File::open(f).unwrap();
        let len = src.metadata().unwrap().len();
        let mut pos = 0u64;
        while pos < len {
            let n = (io as u64).min(len - pos) as usize;
            src.read_exact_at(&mut buf[..n], pos).unwrap();
            pos += n as u64;
        }
    }
    start.elapsed().as_secs_f64()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// (VmRSS, VmHWM, RssAnon) in bytes, from /proc/self/status.
fn mem_status() -> (u64, u64, u64) {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
}

/// The child: cleans the log in `dir` with a `buffer`-byte map and prints `key value` lines.
fn child_clean(args: &[String]) {
    let dir = PathBuf::from(&args[0]);
    let buffer: usize = args[1].parse().unwrap();
    let io: usize = args[2].parse().unwrap();
    let load_factor: f64 = args[3].parse().unwrap();
    let segment_bytes: u64 = args[4].parse().unwrap();
    let expected_path = PathBuf::from(&args[5]);

    let now = now_ms();
    let mut log = PartitionLog::open(&dir, log_config(segment_bytes), now).unwrap();
    // Reset the high-water mark to the current RSS (Linux >= 4.0), so VmHWM afterwards is
    // the peak of the cleaning alone.
    let hwm_reset = fs::write("/proc/self/clear_refs", "5").is_ok();
    let (rss0, hwm0, anon0) = mem_status();

    let alloc = Instant::now();
    let mut map = OffsetMap::new(buffer, load_factor);
    let alloc_s = alloc.elapsed().as_secs_f64();
    let throttler = Throttler::unlimited();
    let abort = AtomicBool::new(false);
    let ctx = CleanerContext {
        throttler: &throttler,
        abort: &abort,
        io_buffer_bytes: io,
    };

    let start = Instant::now();
    let mut passes = Vec::new();
    let mut first_dirty_bytes = None;
    let mut first_uncleanable = 0;
    loop {
        let plan = log.plan_cleaning(now_ms()).unwrap().unwrap();
        if plan.dirty_bytes() == 0 {
            break;
        }
        first_dirty_bytes.get_or_insert(plan.dirty_bytes());
        first_uncleanable = plan.first_uncleanable_offset();
        let ratio = plan.dirty_ratio();
        let due = plan.is_due();
        let pass_start = Instant::now();
        let out = plan.clean(&mut map, &ctx, now_ms()).unwrap();
        match log.commit_cleaning(out, now_ms()).unwrap() {
            CleanCommit::Swapped(s) => {
                println!(
                    "pass {} dirty_ratio={ratio:.3} due={due} first_dirty={} end={} complete={} \
                     segments_read={} segments_written={} bytes_read={} bytes_written={} \
                     records_read={} records_removed={} batches_rewritten={} map_keys={} \
                     map_capacity={} secs={:.3}",
                    passes.len() + 1,
                    s.first_dirty_offset,
                    s.end_offset,
                    s.complete,
                    s.segments_read,
                    s.segments_written,
                    s.bytes_read,
                    s.bytes_written,
                    s.records_read,
                    s.records_removed,
                    s.batches_rewritten,
                    s.map_keys,
                    s.map_capacity,
                    pass_start.elapsed().as_secs_f64()
                );
                let complete = s.complete;
                passes.push(s);
                if complete {
                    break;
                }
            }
            CleanCommit::Discarded { reason } => panic!("pass discarded: {reason}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let (rss1, hwm1, anon1) = mem_status();

    // Untimed check: below the first uncleanable offset exactly the latest record of each
    // key survived.
    let expected: Vec<i64> = fs::read(&expected_path)
        .unwrap()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut seen = vec![false; expected.len()];
    let mut offset = log.log_start_offset();
    let mut survivors = 0u64;
    'read: while offset < first_uncleanable {
        let info = log.read(offset, 8 << 20, first_uncleanable, true).unwrap();
        if info.records.is_empty() {
            break;
        }
        for batch in BatchIter::new(&info.records) {
            let batch = batch.unwrap();
            for r in decode_records(&batch).unwrap() {
                let key = r.key.as_deref().unwrap();
                let k: usize = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
                let off = r.offset(&batch);
                assert_eq!(off, expected[k], "key {k}: survivor offset");
                assert!(!seen[k], "key {k} survived twice");
                seen[k] = true;
                survivors += 1;
            }
            offset = batch.last_offset() + 1;
            if offset >= first_uncleanable {
                break 'read;
            }
        }
    }
    let expected_survivors = expected.iter().filter(|o| **o >= 0).count() as u64;
    assert_eq!(survivors, expected_survivors, "surviving keys");
    let size_after: u64 = log.size_in_bytes();
    log.close().unwrap();

    println!("passes {}", passes.len());
    println!("secs {secs:.4}");
    println!("alloc_secs {alloc_s:.4}");
    println!("dirty_bytes {}", first_dirty_bytes.unwrap_or(0));
    println!(
        "bytes_read {}",
        passes.iter().map(|s| s.bytes_read).sum::<u64>()
    );
    println!(
        "bytes_written {}",
        passes.iter().map(|s| s.bytes_written).sum::<u64>()
    );
    println!("map_capacity {}", map.capacity());
    println!("map_memory {}", map.memory_bytes());
    println!(
        "map_keys_max {}",
        passes.iter().map(|s| s.map_keys).max().unwrap_or(0)
    );
    println!("hwm_reset {hwm_reset}");
    println!("rss_before {rss0}");
    println!("hwm_before {hwm0}");
    println!("anon_before {anon0}");
    println!("rss_after {rss1}");
    println!("hwm_after {hwm1}");
    println!("anon_after {anon1}");
    println!("survivors {survivors}");
    println!("log_bytes_after {size_after}");
}

fn run_child(o: &Opts, dir: &Path, buffer: usize, expected: &Path) -> Vec<(String, String)> {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--child-clean")
        .arg(dir)
        .arg(buffer.to_string())
        .arg(o.io_buffer_bytes.to_string())
        .arg(o.load_factor.to_string())
        .arg((o.segment_mib * MIB).to_string())
        .arg(expected)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut kv = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("pass ") {
            println!("    {line}");
            continue;
        }
        if let Some((k, v)) = line.split_once(' ') {
            kv.push((k.to_string(), v.to_string()));
        }
    }
    kv
}

fn get<T: std::str::FromStr>(kv: &[(String, String)], key: &str) -> T {
    kv.iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("child did not report {key}"))
}

struct Trial {
    mib: f64,
    buffer: usize,
    copy_mbps: f64,
    read_mbps: f64,
    secs: f64,
    dirty: u64,
    passes: usize,
    capacity: usize,
    read_bytes: u64,
    written_bytes: u64,
    peak: u64,
    log_after: u64,
}

impl Trial {
    fn clean_mbps(&self) -> f64 {
        self.dirty as f64 / MB / self.secs
    }
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child-clean") {
        child_clean(&args[1..]);
        return;
    }
    let o = parse_opts(&args);
    fs::create_dir_all(&o.dir).unwrap();
    let work = tempfile::Builder::new()
        .prefix("cleaner-")
        .tempdir_in(&o.dir)
        .unwrap();
    let work_path = work.path().to_path_buf();
    let df = Command::new("df")
        .arg("-T")
        .arg(&work_path)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    println!("work dir {}\n{}", work_path.display(), df.trim_end());
    println!(
        "cache: {}; load before: {}",
        if o.cold {
            "cold (sync + drop_caches before every copy and clean)"
        } else {
            "warm (inputs read once before every copy and clean)"
        },
        loadavg()
    );

    let pristine = work_path.join("pristine");
    let t = Instant::now();
    let built = build_log(&o, &pristine);
    println!(
        "built {} records ({} keys, {}-byte {} values, {} per batch, compression {}) in {:.1}s: \
         {} cleanable segments = {:.1} MB of batches ({:.1} MB key+value payload overall), \
         active segment from offset {}",
        built.records,
        o.keys,
        o.value_bytes,
        if o.text_values { "text" } else { "random" },
        o.batch_records,
        o.compression.name(),
        t.elapsed().as_secs_f64(),
        built.cleanable_logs.len(),
        built.cleanable_bytes as f64 / MB,
        built.payload_bytes as f64 / MB,
        built.active_base
    );
    // Latest offset of every key below the active segment, for the child's check.
    let mut expected = vec![-1i64; o.keys as usize];
    for (off, k) in built.keys_by_offset[..built.active_base as usize]
        .iter()
        .enumerate()
    {
        expected[*k as usize] = off as i64;
    }
    let distinct = expected.iter().filter(|o| **o >= 0).count();
    let expected_path = work_path.join("expected.bin");
    fs::write(
        &expected_path,
        expected
            .iter()
            .flat_map(|o| o.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    println!("distinct keys in the cleanable range: {distinct}");

    let scratch = work_path.join("copy");
    let mut trials: Vec<Trial> = Vec::new();
    for rep in 0..o.repeat {
        for &mib in &o.buffers_mib {
            let buffer = (mib * MIB as f64) as usize;
            let trial = work_path.join(format!("trial-{mib}"));
            copy_dir(&pristine, &trial);
            let trial_logs: Vec<PathBuf> = built
                .cleanable_logs
                .iter()
                .map(|p| trial.join(p.file_name().unwrap()))
                .collect();

            // The limits on the very files the clean then reads, in the same cache state.
            prepare_cache(o.cold, &trial_logs);
            let (copy_bytes, copy_s) = copy_limit(&trial_logs, &scratch, o.io_buffer_bytes);
            prepare_cache(o.cold, &trial_logs);
            let read_s = read_limit(&trial_logs, o.io_buffer_bytes);
            prepare_cache(o.cold, &trial_logs);
            println!("trial {} buffer {mib} MiB (load {}):", rep + 1, loadavg());
            let kv = run_child(&o, &trial, buffer, &expected_path);
            fs::remove_dir_all(&trial).unwrap();

            let t = Trial {
                mib,
                buffer,
                copy_mbps: copy_bytes as f64 / MB / copy_s,
                read_mbps: copy_bytes as f64 / MB / read_s,
                secs: get(&kv, "secs"),
                dirty: get(&kv, "dirty_bytes"),
                passes: get(&kv, "passes"),
                capacity: get(&kv, "map_capacity"),
                read_bytes: get(&kv, "bytes_read"),
                written_bytes: get(&kv, "bytes_written"),
                peak: get::<u64>(&kv, "hwm_after").saturating_sub(get(&kv, "rss_before")),
                log_after: get(&kv, "log_bytes_after"),
            };
            assert_eq!(t.dirty, built.cleanable_bytes);
            assert_eq!(copy_bytes, built.cleanable_bytes);
            println!(
                "  {} passes in {:.3}s: {:.1} MB/s of dirty log; copy limit {:.1} MB/s, read limit \
                 {:.1} MB/s; clean/copy {:.3}, clean/read {:.3}; peak memory {:.1} MiB (RSS {:.1} MiB \
                 at the HWM reset, reset {}) for a {mib} MiB map of {} bytes; {} keys survived (checked)",
                t.passes,
                t.secs,
                t.clean_mbps(),
                t.copy_mbps,
                t.read_mbps,
                t.clean_mbps() / t.copy_mbps,
                t.clean_mbps() / t.read_mbps,
                t.peak as f64 / MIB as f64,
                get::<u64>(&kv, "rss_before") as f64 / MIB as f64,
                get::<String>(&kv, "hwm_reset"),
                get::<usize>(&kv, "map_memory"),
                get::<u64>(&kv, "survivors"),
            );
            trials.push(t);
        }
    }
    println!("\nload after: {}", loadavg());
    println!(
        "\nMedians over {} trials per buffer ({} cache; MB = 10^6 bytes; dirty log = {:.1} MB):\n",
        o.repeat,
        if o.cold { "cold" } else { "warm" },
        built.cleanable_bytes as f64 / MB
    );
    println!(
        "| dedupe buffer | map capacity (keys) | passes | clean s | clean MB/s | copy limit MB/s | \
         **clean / copy** | read limit MB/s | clean / read | cleaner read / written MB | peak memory (VmHWM − RSS at start) | log after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &mib in &o.buffers_mib {
        let ts: Vec<&Trial> = trials.iter().filter(|t| t.mib == mib).collect();
        let t = ts[0];
        let med = |f: &dyn Fn(&Trial) -> f64| {
            let mut v: Vec<f64> = ts.iter().map(|t| f(t)).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let list = |f: &dyn Fn(&Trial) -> f64, prec: usize| {
            ts.iter()
                .map(|t| format!("{:.*}", prec, f(t)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let peak = med(&|t| t.peak as f64);
        println!(
            "| {mib} MiB | {} | {} | {:.3} | **{:.1}** ({}) | {:.1} ({}) | **{:.2}** ({}) | {:.1} | {:.2} | {:.1} / {:.1} | \
             {:.1} MiB ({:.2}× buffer) | {:.1} MB |",
            t.capacity,
            t.passes,
            med(&|t| t.secs),
            med(&Trial::clean_mbps),
            list(&Trial::clean_mbps, 0),
            med(&|t| t.copy_mbps),
            list(&|t| t.copy_mbps, 0),
            med(&|t| t.clean_mbps() / t.copy_mbps),
            list(&|t| t.clean_mbps() / t.copy_mbps, 2),
            med(&|t| t.read_mbps),
            med(&|t| t.clean_mbps() / t.read_mbps),
            t.read_bytes as f64 / MB,
            t.written_bytes as f64 / MB,
            peak / MIB as f64,
            peak / t.buffer as f64,
            t.log_after as f64 / MB,
        );
    }
    if o.keep {
        println!("kept {}", work.keep().display());
    }
}
