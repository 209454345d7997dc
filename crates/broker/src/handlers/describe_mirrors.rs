//! DescribeMirrors (private key 20004): mirror state, reason and per-partition progress
//! (local log end offset, last source high watermark, lag, time since last fetch).

use strait_protocol::admin::{DescribeMirrorsRequest, DescribeMirrorsResponse};

use super::private::{api, links};
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: DescribeMirrorsRequest) -> DescribeMirrorsResponse {
    match links(broker).and_then(|m| m.describe_mirrors(&req).map_err(api)) {
        Ok(mirrors) => DescribeMirrorsResponse {
            error_code: 0,
            error_message: None,
            mirrors,
        },
        Err(e) => DescribeMirrorsResponse {
            error_code: e.error_code(),
            error_message: e.message,
            mirrors: Vec::new(),
        },
    }
}
