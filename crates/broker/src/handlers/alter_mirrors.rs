//! AlterMirrors (private key 20005): promote (PENDING_STOPPED while the link fences the
//! fetcher after a final catch-up, then STOPPED in one commit), failover (fence, then
//! STOPPED now), pause and resume, per topic. The link ([`strait_link::cutover`]) owns the
//! sequencing; this handler only relays.

use strait_protocol::admin::{AlterMirrorsRequest, AlterMirrorsResponse, ItemResult};

use super::private::{api, links};
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: AlterMirrorsRequest) -> AlterMirrorsResponse {
    let outcome = links(broker).and_then(|m| {
        m.alter_mirrors(
            req.op,
            req.topics.as_deref(),
            req.link_name.as_deref(),
            req.validate_only,
        )
        .map_err(api)
    });
    match outcome {
        Ok(results) => AlterMirrorsResponse { results },
        // A request-level failure (unknown link, nothing named) is reported against the link.
        Err(e) => AlterMirrorsResponse {
            results: vec![ItemResult {
                name: req.link_name.unwrap_or_default(),
                error_code: e.error_code(),
                error_message: e.message,
                aborted_transactions: Vec::new(),
            }],
        },
    }
}
