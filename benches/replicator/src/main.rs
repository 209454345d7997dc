//! A MirrorMaker-style replicator: consume a topic from the beginning with librdkafka and
//! produce every record (key, value, headers, timestamp, same partition number) to another
//! cluster, recompressing. This is the baseline that `benches/e2e/link_catchup.py` compares
//! the cluster link against; it is not part of the product.
//!
//! ```text
//! strait-bench-replicator --source HOST:PORT --dest HOST:PORT --topic T [--dest-topic T2]
//!     [--consumer key=value]... [--producer key=value]...
//! ```
//!
//! It reads each source partition's high watermark at start, copies until every partition
//! has been consumed up to it, flushes the producer, and prints one JSON line with counts
//! and timings on stdout. Exit code 1 on any delivery failure.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

#[derive(Default)]
struct Ctx {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("delivery failed: {e}");
                }
                0
            }
        };
    }
}

struct Args {
    source: String,
    dest: String,
    topic: String,
    dest_topic: String,
    consumer: Vec<(String, String)>,
    producer: Vec<(String, String)>,
    timeout: Duration,
}

fn kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut source, mut dest, mut topic, mut dest_topic) = (None, None, None, None);
    let (mut consumer, mut producer) = (Vec::new(), Vec::new());
    let mut timeout = Duration::from_secs(3600);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--source" => source = Some(value()?),
            "--dest" => dest = Some(value()?),
            "--topic" => topic = Some(value()?),
            "--dest-topic" => dest_topic = Some(value()?),
            "--consumer" => consumer.push(kv(&value()?)?),
            "--producer" => producer.push(kv(&value()?)?),
            "--timeout-s" => {
                timeout = Duration::from_secs(value()?.parse().map_err(|e| format!("--timeout-s: {e}"))?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let topic: String = topic.ok_or("--topic is required")?;
    Ok(Args {
        source: source.ok_or("--source is required")?,
        dest: dest.ok_or("--dest is required")?,
        dest_topic: dest_topic.unwrap_or_else(|| topic.clone()),
        topic,
        consumer,
        producer,
        timeout,
    })
}

fn run(args: Args) -> Result<String, String> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &args.source)
        .set("group.id", "strait-bench-replicator")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "262144");
    for (k, v) in &args.consumer {
        cc.set(k, v);
    }
    let consumer: BaseConsumer = cc.create().map_err(|e| format!("consumer: {e}"))?;

    let mut pc = ClientConfig::new();
    pc.set("bootstrap.servers", &args.dest)
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "50")
        .set("batch.size", "1048576")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    for (k, v) in &args.producer {
        pc.set(k, v);
    }
    let producer: BaseProducer<Ctx> = pc
        .create_with_context(Ctx::default())
        .map_err(|e| format!("producer: {e}"))?;

    let md = consumer
        .fetch_metadata(Some(&args.topic), Duration::from_secs(30))
        .map_err(|e| format!("source metadata: {e}"))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .find(|t| t.name() == args.topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(format!("source topic {} has no partitions", args.topic));
    }
    // Copy up to the high watermark seen at start (the source is not being written to).
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    let mut total_expected = 0i64;
    for &p in &partitions {
        let (lo, hi) = consumer
            .fetch_watermarks(&args.topic, p, Duration::from_secs(30))
            .map_err(|e| format!("watermarks {}-{p}: {e}", args.topic))?;
        total_expected += hi - lo;
        if hi > lo {
            remaining.insert(p, hi);
            tpl.add_partition_offset(&args.topic, p, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
    }
    consumer.assign(&tpl).map_err(|e| format!("assign: {e}"))?;

    let start = Instant::now();
    let deadline = start + args.timeout;
    let (mut records, mut key_bytes, mut value_bytes, mut header_bytes) = (0u64, 0u64, 0u64, 0u64);
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(format!("timed out with {} partitions unfinished", remaining.len()));
        }
        let msg = match consumer.poll(Duration::from_millis(100)) {
            None => {
                producer.poll(Duration::ZERO);
                continue;
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            Some(Ok(m)) => m,
        };
        let partition = msg.partition();
        let offset = msg.offset();
        let mut record = BaseRecord::to(&args.dest_topic).partition(partition);
        if let Some(k) = msg.key() {
            key_bytes += k.len() as u64;
            record = record.key(k);
        }
        if let Some(v) = msg.payload() {
            value_bytes += v.len() as u64;
            record = record.payload(v);
        }
        if let Some(h) = msg.headers() {
            for hdr in h.iter() {
                header_bytes += (hdr.key.len() + hdr.value.map_or(0, <[u8]>::len)) as u64;
            }
            record = record.headers(h.detach());
        }
        if let Some(ts) = msg.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(format!("produce: {e}")),
            }
        }
        records += 1;
        if records % 4096 == 0 {
            producer.poll(Duration::ZERO);
        }
        if let Some(&hw) = remaining.get(&partition) {
            if offset + 1 >= hw {
                remaining.remove(&partition);
            }
        }
    }
    let consumed_s = start.elapsed().as_secs_f64();
    producer
        .flush(Duration::from_secs(600))
        .map_err(|e| format!("flush: {e}"))?;
    let total_s = start.elapsed().as_secs_f64();
    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    let delivered = ctx.delivered.load(Ordering::Relaxed);
    if failed > 0 || delivered != records {
        return Err(format!("{failed} deliveries failed; {delivered} of {records} delivered"));
    }
    Ok(format!(
        "{{\"records\":{records},\"expected\":{total_expected},\"key_bytes\":{key_bytes},\"value_bytes\":{value_bytes},\"header_bytes\":{header_bytes},\"consumed_s\":{consumed_s:.3},\"total_s\":{total_s:.3}}}"
    ))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("usage error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("replicator: {e}");
            ExitCode::FAILURE
        }
    }
}
