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
//   consume BOOTSTRAP TOPIC PARTITION [START [TIMEOUT_MS [prop=value ...]]]
//       assign() (no group) and read from START (default: the beginning; -1 too) until the
//       position reaches the end offset read at start. Prints {"begin": b, "end": e} first,
//       then {"offset": o, "key": k, "value": v, "ts": t} per record, then
//       {"count": n, "position": p}. Exit status 3 if the end is not reached within
//       TIMEOUT_MS (default 60000). Props override the consumer's, e.g.
//       isolation.level=read_committed: then "end" is the last stable offset (endOffsets
//       follows the isolation level) and aborted records and control markers are skipped.
//   txn-produce BOOTSTRAP TOPIC TXN_ID [prop=value ...]
//       A transactional KafkaProducer (transactional.id=TXN_ID). initTransactions() first:
//       {"op":"init","ok":true} or {"op":"init",<error>} (then the driver exits 0). Then a
//       script on stdin, one command per line, each answered by {"op":CMD,"ok":true} or
//       {"op":CMD,"error":"<exception class>","message":"..."}:
//         begin | commit | abort | flush       beginTransaction / commitTransaction /
//                                              abortTransaction / flush
//         offsets GROUP TOPIC PARTITION OFFSET sendOffsetsToTransaction({tp: OFFSET},
//                                              new ConsumerGroupMetadata(GROUP))
//         hold                                 prints {"op":"hold","ok":true} and simply reads on
//                                              (the transaction stays open until the next line/EOF)
//         exit-now                             prints {"op":"exit-now","ok":true}, then
//                                              Runtime.halt(0): no close, no abort, no flush
//         KEY <TAB> VALUE [<TAB> PARTITION]    send() as in produce; outcome lines {"i":..} as there
//       At EOF: close() (Kafka's client aborts a transaction still open), print {"done": n}.
//   ctp BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP TXN_ID [prop=value ...]
//       Consume-transform-produce: a group KafkaConsumer (group.id=GROUP, subscribe(IN_TOPIC),
//       isolation.level=read_committed, auto.offset.reset=earliest, no auto commit) and a
//       transactional producer (props apply to it). Script on stdin:
//         round N [TIMEOUT_MS]  begin (if none open), poll until N more records, send each as
//                               "t:"+value to OUT_TOPIC (same key and partition), then
//                               sendOffsetsToTransaction(positions, consumer.groupMetadata()) and
//                               flush; prints {"op":"round","ok":true,"consumed":[[p,offset],..],
//                               "offsets":{"P":offset,..}} (or an error)
//         commit | abort        end the transaction; after abort the consumer seeks back to
//                               its committed offsets (the beginning when none), as an
//                               application must
//       Each line is answered as in txn-produce; at EOF both clients close, {"done":true}.
//   admin BOOTSTRAP OP ARGS...
//       The Admin calls of Kafka's kafka-transactions tool and group offsets. Prints one JSON
//       line per result item, then {"ok":true} or {"error":...}:
//         list-transactions                   {"transactional_id","producer_id","state"}
//         describe-transactions ID...         {"transactional_id","state","producer_id",
//                                             "producer_epoch","timeout_ms","coordinator_id",
//                                             "start_ms","partitions":["topic-p",..]}
//         describe-producers TOPIC PARTITION  {"producer_id","producer_epoch","last_sequence",
//                                             "last_timestamp","coordinator_epoch",
//                                             "txn_start_offset"} (-1 for an absent optional)
//         abort-transaction TOPIC PARTITION PRODUCER_ID EPOCH COORDINATOR_EPOCH
//                                             Admin.abortTransaction (WriteTxnMarkers)
//         group-offsets GROUP [stable]        listConsumerGroupOffsets (requireStable with
//                                             "stable"): {"topic","partition","offset"}
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
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.DescribeProducersResult.PartitionProducerState;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
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

    static int consume(String bootstrap, String topic, int partition, long start, long timeoutMs, List<String> props) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "none");
        putAll(p, props);
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
            emit("{\"count\":" + n + ",\"position\":" + c.position(tp) + "}");
        }
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

    static Properties txnProducerProps(String bootstrap, String txnId, List<String> props) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("transactional.id", txnId);
        p.put("linger.ms", "5");
        p.put("reconnect.backoff.max.ms", "500");
        putAll(p, props);
        return p;
    }

    static String op(String name) {
        return "{\"op\":" + str(name) + ",\"ok\":true}";
    }

    static String opError(String name, Throwable e) {
        return "{\"op\":" + str(name) + "," + error(e) + "}";
    }

    /** Sends one "KEY TAB VALUE [TAB PARTITION]" line; the outcome is printed by the callback. */
    static void sendLine(KafkaProducer<byte[], byte[]> producer, String topic, String line, int i) {
        String[] f = line.split("\t", -1);
        Integer partition = f.length > 2 && !f[2].isEmpty() ? Integer.valueOf(f[2]) : null;
        try {
            producer.send(new ProducerRecord<>(topic, partition, null, decode(f[0]), decode(f[1])), (md, e) -> {
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

    static int txnProduce(String bootstrap, String topic, String txnId, List<String> props) throws Exception {
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(txnProducerProps(bootstrap, txnId, props));
        try {
            producer.initTransactions();
            emit(op("init"));
        } catch (Exception e) {
            emit(opError("init", e));
            producer.close(Duration.ZERO);
            emit("{\"done\":0}");
            return 0;
        }
        int sent = 0;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] w = line.split(" ");
            try {
                switch (w[0]) {
                    case "begin": producer.beginTransaction(); break;
                    case "commit": producer.commitTransaction(); break;
                    case "abort": producer.abortTransaction(); break;
                    case "flush": producer.flush(); break;
                    case "hold": break;
                    case "offsets": {
                        TopicPartition tp = new TopicPartition(w[2], Integer.parseInt(w[3]));
                        producer.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(Long.parseLong(w[4]))),
                                new ConsumerGroupMetadata(w[1]));
                        break;
                    }
                    case "exit-now":
                        emit(op("exit-now"));
                        Runtime.getRuntime().halt(0);
                        break;
                    default:
                        sendLine(producer, topic, line, sent++);
                        continue;
                }
                emit(op(w[0]));
            } catch (Exception e) {
                emit(opError(w[0], e));
            }
        }
        try {
            producer.close(Duration.ofSeconds(30));
        } catch (Exception e) {
            emit(opError("close", e));
        }
        emit("{\"done\":" + sent + "}");
        return 0;
    }

    static int ctp(String bootstrap, String inTopic, String outTopic, String group, String txnId, List<String> props)
            throws Exception {
        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("key.deserializer", ByteArrayDeserializer.class.getName());
        cp.put("value.deserializer", ByteArrayDeserializer.class.getName());
        cp.put("group.id", group);
        cp.put("isolation.level", "read_committed");
        cp.put("auto.offset.reset", "earliest");
        cp.put("enable.auto.commit", "false");
        cp.put("reconnect.backoff.max.ms", "500");
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(txnProducerProps(bootstrap, txnId, props));
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp);
        try {
            producer.initTransactions();
            emit(op("init"));
        } catch (Exception e) {
            emit(opError("init", e));
            producer.close(Duration.ZERO);
            consumer.close(Duration.ZERO);
            return 0;
        }
        consumer.subscribe(List.of(inTopic));
        boolean open = false;
        List<ConsumerRecord<byte[], byte[]>> backlog = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] w = line.split(" ");
            try {
                if (w[0].equals("round")) {
                    int want = Integer.parseInt(w[1]);
                    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(w.length > 2 ? Long.parseLong(w[2]) : 60000);
                    if (!open) {
                        producer.beginTransaction();
                        open = true;
                    }
                    StringBuilder consumed = new StringBuilder();
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    int n = 0;
                    while (n < want) {
                        if (backlog.isEmpty()) {
                            if (System.nanoTime() > deadline) {
                                throw new RuntimeException("timed out with " + n + " of " + want + " records");
                            }
                            ConsumerRecords<byte[], byte[]> rs = consumer.poll(Duration.ofMillis(200));
                            rs.forEach(backlog::add);
                            continue;
                        }
                        ConsumerRecord<byte[], byte[]> r = backlog.remove(0);
                        byte[] v = r.value() == null ? new byte[0] : r.value();
                        byte[] out = new byte[v.length + 2];
                        out[0] = 't';
                        out[1] = ':';
                        System.arraycopy(v, 0, out, 2, v.length);
                        producer.send(new ProducerRecord<>(outTopic, r.partition(), r.key(), out));
                        offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                        consumed.append(consumed.length() == 0 ? "" : ",").append("[").append(r.partition()).append(",")
                                .append(r.offset()).append("]");
                        n++;
                    }
                    producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                    producer.flush();
                    TreeMap<Integer, Long> byPartition = new TreeMap<>();
                    offsets.forEach((tp, om) -> byPartition.put(tp.partition(), om.offset()));
                    StringBuilder off = new StringBuilder();
                    byPartition.forEach((part, o) -> off.append(off.length() == 0 ? "" : ",")
                            .append(str(String.valueOf(part))).append(":").append(o));
                    emit("{\"op\":\"round\",\"ok\":true,\"consumed\":[" + consumed + "],\"offsets\":{" + off + "}}");
                    continue;
                }
                if (w[0].equals("commit")) {
                    producer.commitTransaction();
                    open = false;
                } else if (w[0].equals("abort")) {
                    producer.abortTransaction();
                    open = false;
                    backlog.clear();
                    Set<TopicPartition> assigned = consumer.assignment();
                    Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
                    for (TopicPartition tp : assigned) {
                        OffsetAndMetadata c = committed.get(tp);
                        if (c == null) {
                            consumer.seekToBeginning(List.of(tp));
                        } else {
                            consumer.seek(tp, c.offset());
                        }
                    }
                } else {
                    throw new IllegalArgumentException("unknown ctp command " + w[0]);
                }
                emit(op(w[0]));
            } catch (Exception e) {
                emit(opError(w[0], e));
            }
        }
        consumer.close(Duration.ofSeconds(10));
        producer.close(Duration.ofSeconds(30));
        emit("{\"done\":true}");
        return 0;
    }

    static String optLong(java.util.OptionalLong v) {
        return String.valueOf(v.isPresent() ? v.getAsLong() : -1);
    }

    static int admin(String bootstrap, String opName, List<String> a) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("reconnect.backoff.max.ms", "500");
        try (Admin admin = Admin.create(p)) {
            switch (opName) {
                case "list-transactions":
                    for (TransactionListing t : admin.listTransactions().all().get(30, TimeUnit.SECONDS)) {
                        emit("{\"transactional_id\":" + str(t.transactionalId()) + ",\"producer_id\":" + t.producerId()
                                + ",\"state\":" + str(t.state().name()) + "}");
                    }
                    break;
                case "describe-transactions":
                    for (Map.Entry<String, TransactionDescription> e : admin.describeTransactions(a).all().get(30, TimeUnit.SECONDS).entrySet()) {
                        TransactionDescription d = e.getValue();
                        StringBuilder parts = new StringBuilder();
                        for (TopicPartition tp : d.topicPartitions()) {
                            parts.append(parts.length() == 0 ? "" : ",").append(str(tp.toString()));
                        }
                        emit("{\"transactional_id\":" + str(e.getKey()) + ",\"state\":" + str(d.state().name())
                                + ",\"producer_id\":" + d.producerId() + ",\"producer_epoch\":" + d.producerEpoch()
                                + ",\"timeout_ms\":" + d.transactionTimeoutMs() + ",\"coordinator_id\":" + d.coordinatorId()
                                + ",\"start_ms\":" + optLong(d.transactionStartTimeMs()) + ",\"partitions\":[" + parts + "]}");
                    }
                    break;
                case "describe-producers": {
                    TopicPartition tp = new TopicPartition(a.get(0), Integer.parseInt(a.get(1)));
                    PartitionProducerState st = admin.describeProducers(List.of(tp)).partitionResult(tp).get(30, TimeUnit.SECONDS);
                    for (ProducerState s : st.activeProducers()) {
                        emit("{\"producer_id\":" + s.producerId() + ",\"producer_epoch\":" + s.producerEpoch()
                                + ",\"last_sequence\":" + s.lastSequence() + ",\"last_timestamp\":" + s.lastTimestamp()
                                + ",\"coordinator_epoch\":" + (s.coordinatorEpoch().isPresent() ? s.coordinatorEpoch().getAsInt() : -1)
                                + ",\"txn_start_offset\":" + optLong(s.currentTransactionStartOffset()) + "}");
                    }
                    break;
                }
                case "abort-transaction": {
                    TopicPartition tp = new TopicPartition(a.get(0), Integer.parseInt(a.get(1)));
                    admin.abortTransaction(new AbortTransactionSpec(tp, Long.parseLong(a.get(2)), Short.parseShort(a.get(3)),
                            Integer.parseInt(a.get(4)))).all().get(30, TimeUnit.SECONDS);
                    break;
                }
                case "group-offsets": {
                    ListConsumerGroupOffsetsOptions o = new ListConsumerGroupOffsetsOptions()
                            .requireStable(a.size() > 1 && a.get(1).equals("stable"));
                    Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(a.get(0), o)
                            .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
                    for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
                        if (e.getValue() == null) {
                            continue;
                        }
                        emit("{\"topic\":" + str(e.getKey().topic()) + ",\"partition\":" + e.getKey().partition()
                                + ",\"offset\":" + e.getValue().offset() + "}");
                    }
                    break;
                }
                default:
                    System.err.println("unknown admin op " + opName);
                    return 2;
            }
            emit("{\"ok\":true}");
        } catch (ExecutionException e) {
            emit("{" + error(e.getCause()) + "}");
        } catch (Exception e) {
            emit("{" + error(e) + "}");
        }
        return 0;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: StraitDriver produce|consume|txn-produce|ctp|admin|create-topic BOOTSTRAP ...");
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
                rc = consume(args[1], args[2], partition, start, timeout, rest.subList(Math.min(3, rest.size()), rest.size()));
                break;
            }
            case "txn-produce":
                rc = txnProduce(args[1], args[2], rest.get(0), rest.subList(1, rest.size()));
                break;
            case "ctp":
                rc = ctp(args[1], args[2], rest.get(0), rest.get(1), rest.get(2), rest.subList(3, rest.size()));
                break;
            case "admin":
                rc = admin(args[1], args[2], rest);
                break;
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
