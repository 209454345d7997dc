// The cluster admin calls of the Apache Kafka Java client (kafka-clients 3.9.1), for
// protocol-tests/test_cluster_apis.py. One Admin call per run; every result is one JSON
// object per line on stdout, then {"done": true}. A failed future prints
// {"error": "<exception class simple name>", "message": "..."} in place of its result.
//
//   describe-topics BOOTSTRAP LIMIT TOPIC...
//       Admin.describeTopics (3.9 uses DescribeTopicPartitions when the broker offers it)
//       with partitionSizeLimitPerResponse(LIMIT) and includeAuthorizedOperations; per topic
//       {"topic","id","internal","partitions":[{"p","leader","replicas","isr","elr"}],"ops"}.
//   describe-cluster BOOTSTRAP
//       {"cluster_id","controller","nodes":[{"id","host","port","rack"}],"ops":[...]}
//   create-topic BOOTSTRAP TOPIC PARTITIONS RF            NewTopic(TOPIC, PARTITIONS, RF)
//   create-topic-assigned BOOTSTRAP TOPIC "1,2;2,1"       NewTopic(TOPIC, {0:[1,2],1:[2,1]})
//       {"topic"} or an error line.
//   create-partitions BOOTSTRAP TOPIC COUNT ["1;2"]       NewPartitions.increaseTo, optional assignment
//   elect BOOTSTRAP PREFERRED|UNCLEAN [TOPIC:PARTITION...]
//       Admin.electLeaders (no partitions: null, i.e. all); per partition {"tp"} or {"tp",error}.
//   list-reassignments BOOTSTRAP [TOPIC:PARTITION...]
//       per reassigning partition {"tp","replicas","adding","removing"}, then {"count": n}.
//   alter-reassignments BOOTSTRAP TOPIC:PARTITION=1,2|cancel ...
//       per partition {"tp"} or {"tp",error}.
//   describe-quorum BOOTSTRAP
//       Admin.describeMetadataQuorum: {"leader","epoch","high_watermark","voters":[..]} or an error line.
//
// Leading -Xkey=value arguments are Admin client properties (e.g. SASL settings).

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.acl.AclOperation;

public class ClusterAdmin {
    static String q(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String ids(Collection<Node> nodes) {
        List<String> out = new ArrayList<>();
        for (Node n : nodes) out.add(String.valueOf(n.id()));
        return "[" + String.join(",", out) + "]";
    }

    static String ops(Set<AclOperation> ops) {
        if (ops == null) return "null";
        List<String> out = new ArrayList<>();
        for (AclOperation o : new TreeSet<>(ops)) out.add(q(o.name()));
        return "[" + String.join(",", out) + "]";
    }

    static Throwable cause(Throwable t) {
        return (t instanceof ExecutionException && t.getCause() != null) ? t.getCause() : t;
    }

    static String error(Throwable t) {
        Throwable c = cause(t);
        return "\"error\":" + q(c.getClass().getSimpleName()) + ",\"message\":" + q(c.getMessage());
    }

    static TopicPartition tp(String s) {
        int i = s.lastIndexOf(':');
        return new TopicPartition(s.substring(0, i), Integer.parseInt(s.substring(i + 1)));
    }

    static List<Integer> intList(String s) {
        List<Integer> out = new ArrayList<>();
        if (s.isEmpty()) return out;
        for (String x : s.split(",")) out.add(Integer.parseInt(x.trim()));
        return out;
    }

    static <T> void each(Map<String, KafkaFuture<T>> futures, java.util.function.BiFunction<String, T, String> line) {
        for (Map.Entry<String, KafkaFuture<T>> e : futures.entrySet()) {
            try {
                System.out.println(line.apply(e.getKey(), e.getValue().get(30, TimeUnit.SECONDS)));
            } catch (Exception ex) {
                System.out.println("{\"topic\":" + q(e.getKey()) + "," + error(ex) + "}");
            }
        }
    }

    public static void main(String[] argv) throws Exception {
        Properties p = new Properties();
        int skip = 0;
        while (skip < argv.length && argv[skip].startsWith("-X")) {
            String[] kv = argv[skip].substring(2).split("=", 2);
            p.put(kv[0], kv[1]);
            skip++;
        }
        String[] args = java.util.Arrays.copyOfRange(argv, skip, argv.length);
        String op = args[0];
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(p)) {
            switch (op) {
                case "describe-topics": {
                    List<String> topics = new ArrayList<>();
                    for (int i = 3; i < args.length; i++) topics.add(args[i]);
                    DescribeTopicsOptions o = new DescribeTopicsOptions()
                        .partitionSizeLimitPerResponse(Integer.parseInt(args[2]))
                        .includeAuthorizedOperations(true);
                    each(admin.describeTopics(topics, o).topicNameValues(), (name, d) -> {
                        List<String> parts = new ArrayList<>();
                        for (TopicPartitionInfo pi : d.partitions()) {
                            parts.add("{\"p\":" + pi.partition()
                                + ",\"leader\":" + (pi.leader() == null ? "null" : pi.leader().id())
                                + ",\"leader_host\":" + (pi.leader() == null ? "null" : q(pi.leader().host() + ":" + pi.leader().port()))
                                + ",\"replicas\":" + ids(pi.replicas())
                                + ",\"isr\":" + ids(pi.isr())
                                + ",\"elr\":" + (pi.elr() == null ? "null" : ids(pi.elr())) + "}");
                        }
                        return "{\"topic\":" + q(name) + ",\"id\":" + q(d.topicId().toString())
                            + ",\"internal\":" + d.isInternal()
                            + ",\"partitions\":[" + String.join(",", parts) + "]"
                            + ",\"ops\":" + ops(d.authorizedOperations()) + "}";
                    });
                    break;
                }
                case "describe-cluster": {
                    DescribeClusterResult r = admin.describeCluster(new DescribeClusterOptions().includeAuthorizedOperations(true));
                    List<String> nodes = new ArrayList<>();
                    for (Node n : r.nodes().get(30, TimeUnit.SECONDS)) {
                        nodes.add("{\"id\":" + n.id() + ",\"host\":" + q(n.host()) + ",\"port\":" + n.port() + ",\"rack\":" + q(n.rack()) + "}");
                    }
                    Node c = r.controller().get(30, TimeUnit.SECONDS);
                    System.out.println("{\"cluster_id\":" + q(r.clusterId().get(30, TimeUnit.SECONDS))
                        + ",\"controller\":" + (c == null ? "null" : c.id())
                        + ",\"nodes\":[" + String.join(",", nodes) + "]"
                        + ",\"ops\":" + ops(r.authorizedOperations().get(30, TimeUnit.SECONDS)) + "}");
                    break;
                }
                case "create-topic": {
                    NewTopic t = new NewTopic(args[2], Integer.parseInt(args[3]), Short.parseShort(args[4]));
                    each(admin.createTopics(List.of(t)).values(), (name, v) -> "{\"topic\":" + q(name) + "}");
                    break;
                }
                case "create-topic-assigned": {
                    Map<Integer, List<Integer>> a = new HashMap<>();
                    String[] parts = args[3].split(";", -1);
                    for (int i = 0; i < parts.length; i++) a.put(i, intList(parts[i]));
                    each(admin.createTopics(List.of(new NewTopic(args[2], a))).values(), (name, v) -> "{\"topic\":" + q(name) + "}");
                    break;
                }
                case "create-partitions": {
                    int count = Integer.parseInt(args[3]);
                    NewPartitions np;
                    if (args.length > 4) {
                        List<List<Integer>> a = new ArrayList<>();
                        for (String s : args[4].split(";", -1)) a.add(intList(s));
                        np = NewPartitions.increaseTo(count, a);
                    } else {
                        np = NewPartitions.increaseTo(count);
                    }
                    each(admin.createPartitions(Map.of(args[2], np)).values(), (name, v) -> "{\"topic\":" + q(name) + "}");
                    break;
                }
                case "elect": {
                    ElectionType type = ElectionType.valueOf(args[2]);
                    Set<TopicPartition> tps = null;
                    if (args.length > 3) {
                        tps = new java.util.HashSet<>();
                        for (int i = 3; i < args.length; i++) tps.add(tp(args[i]));
                    }
                    Map<TopicPartition, Optional<Throwable>> r = admin.electLeaders(type, tps).partitions().get(30, TimeUnit.SECONDS);
                    for (Map.Entry<TopicPartition, Optional<Throwable>> e : r.entrySet()) {
                        String name = q(e.getKey().topic() + ":" + e.getKey().partition());
                        System.out.println(e.getValue().isPresent()
                            ? "{\"tp\":" + name + "," + error(e.getValue().get()) + "}"
                            : "{\"tp\":" + name + "}");
                    }
                    break;
                }
                case "list-reassignments": {
                    Map<TopicPartition, PartitionReassignment> r;
                    if (args.length > 2) {
                        Set<TopicPartition> tps = new java.util.HashSet<>();
                        for (int i = 2; i < args.length; i++) tps.add(tp(args[i]));
                        r = admin.listPartitionReassignments(tps).reassignments().get(30, TimeUnit.SECONDS);
                    } else {
                        r = admin.listPartitionReassignments().reassignments().get(30, TimeUnit.SECONDS);
                    }
                    for (Map.Entry<TopicPartition, PartitionReassignment> e : r.entrySet()) {
                        System.out.println("{\"tp\":" + q(e.getKey().topic() + ":" + e.getKey().partition())
                            + ",\"replicas\":" + e.getValue().replicas()
                            + ",\"adding\":" + e.getValue().addingReplicas()
                            + ",\"removing\":" + e.getValue().removingReplicas() + "}");
                    }
                    System.out.println("{\"count\":" + r.size() + "}");
                    break;
                }
                case "alter-reassignments": {
                    Map<TopicPartition, Optional<NewPartitionReassignment>> m = new LinkedHashMap<>();
                    for (int i = 2; i < args.length; i++) {
                        String[] kv = args[i].split("=", 2);
                        m.put(tp(kv[0]), kv[1].equals("cancel") ? Optional.empty()
                            : Optional.of(new NewPartitionReassignment(intList(kv[1]))));
                    }
                    for (Map.Entry<TopicPartition, KafkaFuture<Void>> e : admin.alterPartitionReassignments(m).values().entrySet()) {
                        String name = q(e.getKey().topic() + ":" + e.getKey().partition());
                        try {
                            e.getValue().get(30, TimeUnit.SECONDS);
                            System.out.println("{\"tp\":" + name + "}");
                        } catch (Exception ex) {
                            System.out.println("{\"tp\":" + name + "," + error(ex) + "}");
                        }
                    }
                    break;
                }
                case "describe-quorum": {
                    QuorumInfo qi = admin.describeMetadataQuorum().quorumInfo().get(30, TimeUnit.SECONDS);
                    List<String> v = new ArrayList<>();
                    for (QuorumInfo.ReplicaState r : qi.voters()) v.add(String.valueOf(r.replicaId()));
                    System.out.println("{\"leader\":" + qi.leaderId() + ",\"epoch\":" + qi.leaderEpoch()
                            + ",\"high_watermark\":" + qi.highWatermark() + ",\"voters\":[" + String.join(",", v) + "]}");
                    break;
                }
                default:
                    System.err.println("unknown op " + op);
                    System.exit(2);
            }
        } catch (Exception e) {
            System.out.println("{" + error(e) + "}");
        }
        System.out.println("{\"done\":true}");
    }
}
