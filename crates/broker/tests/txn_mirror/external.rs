//! External clients: confluent-kafka and kafka-python (one Python process) and the Apache
//! Kafka Java client (one JVM) read both sides at both isolation levels; each result is
//! checked against the model. A missing client is skipped with a message unless
//! `STRAIT_REQUIRE_ALL_CLIENTS` is set.

use super::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn require_all_clients() -> bool {
    std::env::var_os("STRAIT_REQUIRE_ALL_CLIENTS").is_some()
}

/// Skips (with a message) or, under `STRAIT_REQUIRE_ALL_CLIENTS`, fails.
fn unavailable(what: &str, why: &str) {
    assert!(
        !require_all_clients(),
        "{what} is required (STRAIT_REQUIRE_ALL_CLIENTS is set) but unavailable: {why}"
    );
    eprintln!(
        "SKIPPING the {what} checks: {why} (set STRAIT_REQUIRE_ALL_CLIENTS to make this fail)"
    );
}

/// One external consumer run: a client library reading partition 0 from offset 0 at one
/// isolation level until it has delivered the record at `stop` (the last visible one).
#[derive(Debug, Clone)]
pub(crate) struct Job {
    side: String,
    bootstrap: String,
    isolation: &'static str,
    stop: i64,
    expected: Vec<(i64, String)>,
    /// The end offset the client's own lookup must report (LSO / high watermark).
    end: i64,
}

pub(crate) fn jobs(side: &str, bootstrap: &str, m: &Model) -> Vec<Job> {
    let rc = m.read_committed();
    let ru = m.read_uncommitted();
    vec![
        Job {
            side: side.into(),
            bootstrap: bootstrap.into(),
            isolation: "read_committed",
            stop: rc.last().unwrap().0,
            end: m.last_stable_offset(),
            expected: rc,
        },
        Job {
            side: side.into(),
            bootstrap: bootstrap.into(),
            isolation: "read_uncommitted",
            stop: ru.last().unwrap().0,
            end: m.high_watermark(),
            expected: ru,
        },
    ]
}

/// Runs `cmd` with stdout/stderr in files under `dir`, killing it at the deadline.
async fn run(mut cmd: std::process::Command, dir: &Path, what: &str) -> String {
    let out_path = dir.join(format!("{what}.stdout"));
    let err_path = dir.join(format!("{what}.stderr"));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(300);
    let tail = |p: &Path| {
        let s = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after 300 s; stderr:\n{}",
                tail(&err_path)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "{what} exited with {status}; stdout:\n{}\nstderr:\n{}",
        tail(&out_path),
        tail(&err_path)
    );
    std::fs::read_to_string(&out_path).unwrap()
}

const PY_CONSUMER: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, TopicPartition as CkTp, KafkaException
from kafka import KafkaConsumer, TopicPartition as KpTp

TOPIC = sys.argv[1]
JOBS = json.loads(sys.argv[2])
TIMEOUT = 90

def text(v):
    return None if v is None else v.decode("utf-8", "replace")

def ck(job):
    c = Consumer({"bootstrap.servers": job["bootstrap"], "group.id": "txn-mirror-check",
                  "enable.auto.commit": False, "isolation.level": job["isolation"],
                  "fetch.wait.max.ms": 100, "enable.partition.eof": False})
    try:
        c.assign([CkTp(TOPIC, 0, 0)])
        _, end = c.get_watermark_offsets(CkTp(TOPIC, 0), timeout=30, cached=False)
        recs, deadline = [], time.monotonic() + TIMEOUT
        while not recs or recs[-1][0] < job["stop"]:
            if time.monotonic() > deadline:
                return {"error": f"timed out; got {recs}"}
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                recs.append([m.offset(), text(m.value())])
        for m in c.consume(num_messages=1000, timeout=0):  # anything already fetched after it
            if not m.error():
                recs.append([m.offset(), text(m.value())])
        return {"end": end, "records": recs}
    finally:
        c.close()

def kp(job):
    c = KafkaConsumer(bootstrap_servers=job["bootstrap"], group_id=None, enable_auto_commit=False,
                      isolation_level=job["isolation"], fetch_max_wait_ms=100)
    try:
        tp = KpTp(TOPIC, 0)
        c.assign([tp])
        c.seek(tp, 0)
        end = c.end_offsets([tp])[tp]
        recs, deadline = [], time.monotonic() + TIMEOUT
        while not recs or recs[-1][0] < job["stop"]:
            if time.monotonic() > deadline:
                return {"error": f"timed out; got {recs}"}
            for msgs in c.poll(timeout_ms=500).values():
                recs.extend([m.offset, text(m.value)] for m in msgs)
        for msgs in c.poll(timeout_ms=0).values():
            recs.extend([m.offset, text(m.value)] for m in msgs)
        return {"end": end, "position": c.position(tp), "records": recs}
    finally:
        c.close()

out = []
for job in JOBS:
    for name, fn in (("confluent-kafka", ck), ("kafka-python", kp)):
        try:
            r = fn(job)
        except Exception as e:  # reported, and failed, by the Rust side
            r = {"error": f"{type(e).__name__}: {e}"}
        r["client"] = name
        out.append(r)
print(json.dumps(out))
"#;

const JAVA_CONSUMER: &str = r#"
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class TxnConsume {
    static String str(byte[] v) {
        if (v == null) return "null";
        String s = new String(v, java.nio.charset.StandardCharsets.UTF_8);
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    // args: TOPIC then (BOOTSTRAP ISOLATION STOP)*; one JSON object per job on stdout.
    public static void main(String[] args) {
        String topic = args[0];
        for (int i = 1; i + 3 <= args.length; i += 3) {
            String bootstrap = args[i], isolation = args[i + 1];
            long stop = Long.parseLong(args[i + 2]);
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("isolation.level", isolation);
            p.put("enable.auto.commit", "false");
            p.put("fetch.max.wait.ms", "100");
            p.put("key.deserializer", ByteArrayDeserializer.class.getName());
            p.put("value.deserializer", ByteArrayDeserializer.class.getName());
            StringBuilder out = new StringBuilder("{\"client\":\"java\"");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                TopicPartition tp = new TopicPartition(topic, 0);
                c.assign(List.of(tp));
                c.seek(tp, 0);
                long end = c.endOffsets(List.of(tp), Duration.ofSeconds(30)).get(tp);
                List<String> recs = new ArrayList<>();
                long last = -1;
                long deadline = System.currentTimeMillis() + 90_000;
                String error = null;
                while (last < stop) {
                    if (System.currentTimeMillis() > deadline) { error = "timed out"; break; }
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                        recs.add("[" + r.offset() + "," + str(r.value()) + "]");
                        last = r.offset();
                    }
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ZERO)) {
                    recs.add("[" + r.offset() + "," + str(r.value()) + "]");
                }
                out.append(",\"end\":").append(end).append(",\"position\":").append(c.position(tp));
                out.append(",\"records\":[").append(String.join(",", recs)).append("]");
                if (error != null) out.append(",\"error\":\"").append(error).append(" at ").append(last).append("\"");
            } catch (Exception e) {
                out.append(",\"error\":").append(str(e.toString().getBytes()));
            }
            System.out.println(out.append("}"));
            System.out.flush();
        }
    }
}
"#;

fn java_lib() -> PathBuf {
    std::env::var_os("STRAIT_JAVA_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("protocol-tests/java/lib"))
}

const JAVA_JARS: [&str; 5] = [
    "kafka-clients.jar",
    "slf4j-api.jar",
    "lz4-java.jar",
    "snappy-java.jar",
    "zstd-jni.jar",
];

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Checks one external client's result for `job`.
fn check_external(job: &Job, r: &serde_json::Value) {
    let client = r["client"].as_str().unwrap_or("?");
    let what = format!("{client} on the {} at {}", job.side, job.isolation);
    assert!(
        r.get("error").is_none_or(|e| e.is_null()),
        "{what}: {}",
        r["error"]
    );
    let records: Vec<(i64, String)> = r["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no records in {r}"))
        .iter()
        .map(|x| {
            (
                x[0].as_i64().unwrap(),
                x[1].as_str().unwrap_or("<null>").to_string(),
            )
        })
        .collect();
    assert_eq!(
        records, job.expected,
        "{what}: records delivered (offset, value)"
    );
    assert_eq!(
        r["end"].as_i64(),
        Some(job.end),
        "{what}: the client's end offset lookup (ListOffsets latest at {})",
        job.isolation
    );
    if let Some(pos) = r.get("position").and_then(|p| p.as_i64()) {
        assert_eq!(
            pos, job.end,
            "{what}: consumer position after reading to the end"
        );
    }
}

/// Runs every available external client over `jobs` and checks each result.
pub(crate) async fn external_clients(jobs: &[Job], work: &Path, round: &str) {
    let python = repo_root().join("protocol-tests/.venv/bin/python");
    if python.is_file() {
        let spec: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| serde_json::json!({"bootstrap": j.bootstrap, "isolation": j.isolation, "stop": j.stop}))
            .collect();
        let mut cmd = std::process::Command::new(&python);
        cmd.arg("-c")
            .arg(PY_CONSUMER)
            .arg(TOPIC)
            .arg(serde_json::Value::Array(spec).to_string());
        let out = run(cmd, work, &format!("python-{round}")).await;
        let results: Vec<serde_json::Value> = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("python consumer output is not JSON ({e}): {out}"));
        assert_eq!(results.len(), jobs.len() * 2, "{results:?}");
        for (i, r) in results.iter().enumerate() {
            check_external(&jobs[i / 2], r);
        }
        eprintln!(
            "{round}: confluent-kafka and kafka-python checked ({} runs)",
            results.len()
        );
    } else {
        unavailable(
            "confluent-kafka / kafka-python",
            &format!(
                "{} does not exist (run protocol-tests/run-all.sh's install step)",
                python.display()
            ),
        );
    }

    let lib = java_lib();
    let missing: Vec<&str> = JAVA_JARS
        .iter()
        .copied()
        .filter(|j| !lib.join(j).is_file())
        .collect();
    if !on_path("java") {
        unavailable("Java client", "java is not on PATH");
    } else if !missing.is_empty() {
        unavailable(
            "Java client",
            &format!("jars {missing:?} missing in {}", lib.display()),
        );
    } else {
        let src = work.join("TxnConsume.java");
        std::fs::write(&src, JAVA_CONSUMER).unwrap();
        let classpath = std::env::join_paths(JAVA_JARS.iter().map(|j| lib.join(j))).unwrap();
        let mut cmd = std::process::Command::new("java");
        cmd.args([
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xmx256m",
            "-cp",
        ])
        .arg(classpath)
        .arg(&src)
        .arg(TOPIC);
        for j in jobs {
            cmd.arg(&j.bootstrap)
                .arg(j.isolation)
                .arg(j.stop.to_string());
        }
        let out = run(cmd, work, &format!("java-{round}")).await;
        let results: Vec<serde_json::Value> = out
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("java output {l}: {e}")))
            .collect();
        assert_eq!(results.len(), jobs.len(), "java results: {out}");
        for (job, r) in jobs.iter().zip(&results) {
            check_external(job, r);
        }
        eprintln!("{round}: Java client checked ({} runs)", results.len());
    }
}
