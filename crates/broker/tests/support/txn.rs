//! Transactions driven by hand over the wire: a transactional producer's first steps.

use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, InitProducerIdRequest, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use strait_client::Client;

/// InitProducerId + AddPartitionsToTxn for `topic`-0: the (producer id, epoch).
pub async fn begin_transaction(c: &Client, transactional_id: &str, topic: &str) -> (i64, i16) {
    let tid = TransactionalId(StrBytes::from_string(transactional_id.into()));
    let conn = c.any_broker().await.unwrap();
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(tid.clone()))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let resp = loop {
        let resp = conn.send(&init, 4).await.unwrap();
        // The coordinator may still be loading just after start-up (retriable).
        if resp.error_code == 0 || tokio::time::Instant::now() > deadline {
            break resp;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(resp.error_code, 0, "InitProducerId");
    let (pid, epoch) = (resp.producer_id.0, resp.producer_epoch);
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid)
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![0])]);
    let resp = conn.send(&add, 3).await.unwrap();
    let code = resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 0, "AddPartitionsToTxn");
    (pid, epoch)
}
