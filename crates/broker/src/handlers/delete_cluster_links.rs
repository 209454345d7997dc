//! DeleteClusterLinks (private key 20002): refuses while the link has active mirrors unless
//! forced (they then fail with LINK_DELETED and stay read-only until failed over).

use strait_protocol::admin::{DeleteClusterLinksRequest, DeleteClusterLinksResponse};

use super::private::{api, item, links};
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DeleteClusterLinksRequest) -> DeleteClusterLinksResponse {
    let mut results = Vec::with_capacity(req.names.len());
    for name in &req.names {
        let outcome = match links(broker) {
            Err(e) => Err(e),
            Ok(m) => m
                .delete_link(name, req.force, req.validate_only)
                .await
                .map_err(api),
        };
        results.push(item(name, outcome));
    }
    DeleteClusterLinksResponse { results }
}
