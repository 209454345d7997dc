//! DescribeMirrors (private key 20004): mirror state, reason, per-partition progress
//! (local log end offset, last source high watermark, lag, time since last fetch) and each
//! mirror's origin chain, which downstream links read for loop prevention.

use strait_protocol::admin::{DescribeMirrorsRequest, DescribeMirrorsResponse};

use super::private::{api, links};
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: DescribeMirrorsRequest) -> DescribeMirrorsResponse {
    match links(broker).and_then(|m| m.describe_mirrors(&req).map_err(api)) {
        Ok(mirrors) => DescribeMirrorsResponse {
            error_code: 0,
            error_message: None,
            mirrors,
            // Mirrors without a chain have one not known yet (see strait_link::loops).
            reports_origin_chains: true,
        },
        Err(e) => DescribeMirrorsResponse {
            error_code: e.error_code(),
            error_message: e.message,
            mirrors: Vec::new(),
            reports_origin_chains: true,
        },
    }
}
