//! ListClusterLinks (private key 20001): links with state, error, mirrors and (masked)
//! configs.

use strait_protocol::admin::{ListClusterLinksRequest, ListClusterLinksResponse};

use super::private::{api, links};
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: ListClusterLinksRequest) -> ListClusterLinksResponse {
    let listed = links(broker).and_then(|m| {
        m.list_links(
            req.names.as_deref(),
            req.include_topics,
            req.include_configs,
        )
        .map_err(api)
    });
    match listed {
        Ok(links) => ListClusterLinksResponse {
            error_code: 0,
            error_message: None,
            links,
        },
        Err(e) => ListClusterLinksResponse {
            error_code: e.error_code(),
            error_message: e.message,
            links: Vec::new(),
        },
    }
}
