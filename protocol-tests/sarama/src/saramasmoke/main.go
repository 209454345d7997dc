// saramasmoke: a smoke test of Strait with sarama 1.22 (Debian's golang-github-shopify-sarama-dev).
// Usage: saramasmoke BOOTSTRAP TOPIC. Creates TOPIC (3 partitions) through ClusterAdmin,
// produces 30 keyed messages with a SyncProducer (gzip), reads them back with partition
// consumers checking offsets/keys/values. Prints one JSON line; exits non-zero on
// any error.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "saramasmoke: %s: %v\n", step, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: saramasmoke BOOTSTRAP TOPIC")
		os.Exit(2)
	}
	brokers := []string{os.Args[1]}
	topic := os.Args[2]
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.ClientID = "saramasmoke"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionGZIP
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest

	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		fail("cluster admin", err)
	}
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		fail("create topic", err)
	}
	// ClusterAdmin.ListTopics in sarama 1.22 always sends DescribeConfigs v0, which Kafka
	// 4.x (KIP-896) and Strait no longer accept; list topics from metadata instead.
	mdClient, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		fail("metadata client", err)
	}
	topics, err := mdClient.Topics()
	if err != nil {
		fail("list topics", err)
	}
	found := false
	for _, t := range topics {
		found = found || t == topic
	}
	if !found {
		fail("list topics", fmt.Errorf("%s not listed in %v", topic, topics))
	}
	mdClient.Close()
	// DescribeConfig is skipped for the same reason: sarama 1.22 sends DescribeConfigs v0.

	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		fail("producer", err)
	}
	type sent struct {
		partition int32
		offset    int64
	}
	want := map[string]sent{}
	for i := 0; i < 30; i++ {
		key := fmt.Sprintf("k%d", i)
		p, o, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(i % 3), Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))})
		if err != nil {
			fail("produce", err)
		}
		want[key] = sent{p, o}
	}
	producer.Close()

	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		fail("client", err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail("consumer", err)
	}
	got := 0
	for p := int32(0); p < 3; p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("consume partition", err)
		}
		for n := 0; n < 10; n++ {
			select {
			case m := <-pc.Messages():
				w, ok := want[string(m.Key)]
				if !ok || w.partition != m.Partition || w.offset != m.Offset || string(m.Value) != "v"+string(m.Key)[1:] {
					fail("consume", fmt.Errorf("unexpected message %s=%s at %d/%d", m.Key, m.Value, m.Partition, m.Offset))
				}
				got++
			case <-time.After(15 * time.Second):
				fail("consume", fmt.Errorf("timed out on partition %d after %d messages", p, n))
			}
		}
		pc.Close()
	}

	// The OffsetManager is not exercised: sarama 1.22 commits with OffsetCommit v1, which
	// Kafka 4.x (KIP-896) and Strait no longer accept.
	out, _ := json.Marshal(map[string]interface{}{"consumed": got, "topics": len(topics)})
	fmt.Println(string(out))
}
