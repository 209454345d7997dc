// A small driver around the Apache Kafka Java client (kafka-clients 3.9.1) for the
// protocol tests. The Python tests run it as a subprocess (see java_client.py); every
// result is printed to stdout as one JSON object per line. Keys and values are bytes,
// written base64-encoded, with JSON null for a null key or value.
//
//   produce BOOTSTRAP TOPIC [prop=value ...]
//       Reads records from stdin, one per line: KEY <TAB> VALUE [<TAB> PARTITION [<TAB> TIMESTAMP]],
//       where KEY and VALUE are base64 or "." for null (an empty PARTITION or TIMESTAMP lets
//       the producer choose). A line "!flush" flushes the producer and
//       prints {"flushed": <records sent so far>} once every earlier record's callback has
//       been printed. At EOF: flush, close, print {"done": n}. Each record's outcome:
//       {"i": n, "partition": p, "offset": o} or {"i": n, "error": "<exception class>",
//       "message": "..."}. Producer defaults are Kafka's (so enable.idempotence=true,
//       acks=all); prop=value arguments override them.
//   consume BOOTSTRAP TOPIC PARTITION [START [TIMEOUT_MS]]
//       assign() (no group) and read from START (default: the beginning) until the
//       position reaches the end offset read at start. Prints {"begin": b, "end": e} first,
//       then {"offset": o, "key": k, "value": v, "ts": t} per record, then {"count": n}.
//       Exit status 3 if the end is not reached within TIMEOUT_MS (default 60000).
//   create-topic BOOTSTRAP TOPIC PARTITIONS [config=value ...]
//       Admin.createTopics; prints {"ok": true} or {"error": "<class>", "message": "..."}.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class StraitDriver {
    private static final PrintStream OUT = new PrintStream(System.out, false, StandardCharsets.UTF_8);

    private static synchronized void emit(String json) {
        OUT.println(json);
        OUT.flush();
    }

    static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    static String bytes(byte[] v) {
        return v == null ? "null" : "\"" + Base64.getEncoder().encodeToString(v) + "\"";
    }

    static byte[] decode(String field) {
        return field.equals(".") ? null : Base64.getDecoder().decode(field);
    }

    static String error(Throwable e) {
        return "\"error\":" + str(e.getClass().getName()) + ",\"message\":" + str(String.valueOf(e.getMessage()));
    }

    static void putAll(Properties p, List<String> kvs) {
        for (String kv : kvs) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected key=value, got " + kv);
            }
            p.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
    }

    static int produce(String bootstrap, String topic, List<String> props) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("linger.ms", "5");
        p.put("reconnect.backoff.max.ms", "500");
        putAll(p, props);
        int sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                if (line.equals("!flush")) {
                    producer.flush();
                    emit("{\"flushed\":" + sent + "}");
                    continue;
                }
                String[] f = line.split("\t", -1);
                Integer partition = f.length > 2 && !f[2].isEmpty() ? Integer.valueOf(f[2]) : null;
                Long timestamp = f.length > 3 && !f[3].isEmpty() ? Long.valueOf(f[3]) : null;
                final int i = sent++;
                try {
                    producer.send(new ProducerRecord<>(topic, partition, timestamp, decode(f[0]), decode(f[1])), (md, e) -> {
                        if (e != null) {
                            emit("{\"i\":" + i + "," + error(e) + "}");
                        } else {
                            emit("{\"i\":" + i + ",\"partition\":" + md.partition() + ",\"offset\":" + md.offset() + "}");
                        }
                    });
                } catch (Exception e) {
                    emit("{\"i\":" + i + "," + error(e) + ",\"sync\":true}");
                }
            }
            producer.flush();
        }
        emit("{\"done\":" + sent + "}");
        return 0;
    }

    static int consume(String bootstrap, String topic, int partition, long start, long timeoutMs) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "none");
        TopicPartition tp = new TopicPartition(topic, partition);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int n = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            c.assign(List.of(tp));
            long begin = c.beginningOffsets(List.of(tp)).get(tp);
            long end = c.endOffsets(List.of(tp)).get(tp);
            emit("{\"begin\":" + begin + ",\"end\":" + end + "}");
            if (start < 0) {
                c.seekToBeginning(List.of(tp));
            } else {
                c.seek(tp, start);
            }
            while (c.position(tp) < end) {
                if (System.nanoTime() > deadline) {
                    emit("{\"timeout\":true,\"position\":" + c.position(tp) + ",\"count\":" + n + "}");
                    return 3;
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    emit("{\"offset\":" + r.offset() + ",\"key\":" + bytes(r.key()) + ",\"value\":" + bytes(r.value())
                            + ",\"ts\":" + r.timestamp() + "}");
                    n++;
                }
            }
        }
        emit("{\"count\":" + n + "}");
        return 0;
    }

    static int createTopic(String bootstrap, String topic, int partitions, List<String> configs) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        Map<String, String> cfg = new HashMap<>();
        for (String kv : configs) {
            int eq = kv.indexOf('=');
            cfg.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        try (Admin a = Admin.create(p)) {
            a.createTopics(List.of(new NewTopic(topic, partitions, (short) 1).configs(cfg))).all().get(30, TimeUnit.SECONDS);
            emit("{\"ok\":true}");
        } catch (ExecutionException e) {
            emit("{" + error(e.getCause()) + "}");
        }
        return 0;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: StraitDriver produce|consume|create-topic BOOTSTRAP TOPIC ...");
            System.exit(2);
        }
        List<String> rest = new ArrayList<>(List.of(args).subList(3, args.length));
        int rc;
        switch (args[0]) {
            case "produce":
                rc = produce(args[1], args[2], rest);
                break;
            case "consume": {
                int partition = rest.isEmpty() ? 0 : Integer.parseInt(rest.get(0));
                long start = rest.size() > 1 ? Long.parseLong(rest.get(1)) : -1;
                long timeout = rest.size() > 2 ? Long.parseLong(rest.get(2)) : 60000;
                rc = consume(args[1], args[2], partition, start, timeout);
                break;
            }
            case "create-topic":
                rc = createTopic(args[1], args[2], Integer.parseInt(rest.get(0)), rest.subList(1, rest.size()));
                break;
            default:
                System.err.println("unknown subcommand " + args[0]);
                rc = 2;
        }
        System.exit(rc);
    }
}
