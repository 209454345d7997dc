//! A minimal raw producer: one pre-built record batch to one partition leader.
//!
//! For tests, benches and CLIs (the link never produces: it appends locally). Batches are
//! built by the caller (e.g. `strait_records::BatchBuilder`) and sent as-is; the broker
//! assigns offsets. `acks = 0` is refused because Kafka sends no response to it, which
//! would break the in-order response matching of [`Connection`].

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::{check_code, ClientError};
use crate::{Client, Connection};

/// Highest Produce version used: v13 switches to topic ids.
pub const PRODUCE_MAX_VERSION: i16 = 12;

/// The broker's answer for one produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducedBatch {
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

impl Connection {
    /// Produces `records` (whole v2 batches) to `topic`/`partition` on this broker.
    pub async fn produce_raw(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
        acks: i16,
    ) -> Result<ProducedBatch, ClientError> {
        if acks == 0 {
            return Err(ClientError::Encode {
                api: "Produce".into(),
                version: 0,
                message: "acks=0 is not supported (the broker sends no response)".into(),
            });
        }
        let version = self.negotiate::<ProduceRequest>(PRODUCE_MAX_VERSION)?;
        let timeout_ms = i32::try_from(self.request_timeout().as_millis()).unwrap_or(i32::MAX);
        let req = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records))])]);
        let response = self.send(&req, version).await?;
        let context = || format!("produce to {topic}-{partition}");
        let p = response
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .ok_or_else(|| ClientError::Protocol {
                broker: self.broker().to_string(),
                message: format!("Produce response has no result for {topic}-{partition}"),
            })?;
        check_code(p.error_code, p.error_message.as_ref(), context)?;
        Ok(ProducedBatch {
            base_offset: p.base_offset,
            log_append_time_ms: p.log_append_time_ms,
            log_start_offset: p.log_start_offset,
        })
    }
}

impl Client {
    /// [`Connection::produce_raw`] on the partition's leader.
    pub async fn produce_raw(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
        acks: i16,
    ) -> Result<ProducedBatch, ClientError> {
        self.leader_connection(topic, partition)
            .await?
            .produce_raw(topic, partition, records, acks)
            .await
    }
}
