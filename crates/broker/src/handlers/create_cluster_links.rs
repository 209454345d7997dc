//! CreateClusterLinks (private key 20000): validate each link's config and filters, reach
//! the source unless told not to, persist, start mirroring.
//!
//! Refused (INVALID_REQUEST, with the reason) on a multi-node cluster: links are not yet
//! metadata publishers, so a link would run only where it was created while its mirror
//! partitions are placed, fenced and restarted by the cluster; until each mirror partition is
//! fetched by its leader (issue 12), a link stays a single-node feature.

use std::time::Duration;

use strait_protocol::admin::{CreateClusterLinksRequest, CreateClusterLinksResponse};

use super::private::{api, item, links};
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: CreateClusterLinksRequest) -> CreateClusterLinksResponse {
    let timeout = Duration::from_millis(if req.timeout_ms > 0 {
        req.timeout_ms as u64
    } else {
        30_000
    });
    let mut results = Vec::with_capacity(req.links.len());
    for link in req.links {
        let outcome = match links(broker) {
            Err(e) => Err(e),
            Ok(_) if broker.config.is_multi_voter() => Err(crate::error::ApiError::new(
                strait_protocol::ErrorCode::InvalidRequest,
                "cluster links are not supported on a multi-node Strait cluster yet: run the link on a single-node Strait (or the source's side) until mirror partitions follow leadership",
            )),
            Ok(manager) => {
                let mut configs = std::collections::BTreeMap::new();
                let mut null = None;
                for c in link.configs {
                    match c.value {
                        Some(v) => {
                            configs.insert(c.name, v);
                        }
                        None => null = Some(c.name),
                    }
                }
                match null {
                    Some(key) => Err(crate::error::ApiError::new(
                        strait_protocol::ErrorCode::InvalidConfig,
                        format!("link config '{key}' has no value"),
                    )),
                    None => manager
                        .create_link(
                            &link.name,
                            configs,
                            req.validate_only,
                            req.validate_link,
                            timeout,
                        )
                        .await
                        .map_err(api),
                }
            }
        };
        results.push(item(&link.name, outcome));
    }
    CreateClusterLinksResponse { results }
}
