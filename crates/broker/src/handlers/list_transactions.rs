//! ListTransactions (key 66, v0-1): the transactional ids this coordinator knows, filtered
//! by state name (Kafka's spelling, e.g. "Ongoing"), producer id and (v1) how long the
//! transaction has been running (`duration_filter` ms; -1 = any). Only ids the principal
//! may DESCRIBE are listed. Unknown state names are echoed in `unknown_state_filters`
//! (and match nothing). v2 (id pattern) is not advertised.

use std::collections::HashSet;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::txn::state::TxnState;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut states: HashSet<TxnState> = HashSet::new();
    let mut unknown = Vec::new();
    for name in &req.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => {
                states.insert(s);
            }
            None => unknown.push(name.clone()),
        }
    }
    let pids: HashSet<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let duration = if ctx.api_version >= 1 {
        req.duration_filter
    } else {
        -1
    };
    let now = crate::topics::now_ms();
    let listed = if !unknown.is_empty() && states.is_empty() {
        // Only unknown names were asked for: nothing can match (Kafka).
        Vec::new()
    } else {
        broker
            .txn
            .list()
            .into_iter()
            .filter(|m| pids.is_empty() || pids.contains(&m.producer_id))
            .filter(|m| states.is_empty() || states.contains(&m.state))
            .filter(|m| duration < 0 || now - m.txn_start_timestamp > duration)
            .filter(|m| {
                crate::auth::allow_transactional_id(
                    broker,
                    ctx,
                    AclOperation::Describe,
                    &m.transactional_id,
                )
            })
            .map(|m| {
                TransactionState::default()
                    .with_transactional_id(TransactionalId(str_bytes(m.transactional_id)))
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_transaction_state(str_bytes(m.state.name()))
            })
            .collect()
    };
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(listed)
}
