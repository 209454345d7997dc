//! DescribeTransactions (key 65, v0): the coordinator's state of each transactional id
//! (what `kafka-transactions describe` shows). Needs DESCRIBE on the TRANSACTIONAL_ID
//! (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an unknown id is
//! TRANSACTIONAL_ID_NOT_FOUND. Only topics the principal may DESCRIBE are listed (Kafka).

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|tid| {
            let id = tid.to_string();
            let base = TransactionState::default()
                .with_transactional_id(tid)
                .with_transaction_state(str_bytes(""))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if !crate::auth::allow_transactional_id(broker, ctx, AclOperation::Describe, &id) {
                return base.with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code());
            }
            let Some(md) = broker.txn.describe(&id) else {
                return base.with_error_code(ErrorCode::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for (topic, p) in &md.partitions {
                if !crate::auth::allow_topic(broker, ctx, AclOperation::Describe, topic) {
                    continue;
                }
                match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                    Some(t) => t.partitions.push(*p),
                    None => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(str_bytes(topic.clone())))
                            .with_partitions(vec![*p]),
                    ),
                }
            }
            base.with_transaction_state(str_bytes(md.state.name()))
                .with_transaction_timeout_ms(md.txn_timeout_ms)
                .with_transaction_start_time_ms(md.txn_start_timestamp)
                .with_producer_id(ProducerId(md.producer_id))
                .with_producer_epoch(md.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
