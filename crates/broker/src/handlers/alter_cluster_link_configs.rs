//! AlterClusterLinkConfigs (private key 20006): set / delete configs of one link, validated
//! as a whole, persisted in the link record and applied to the running link without
//! re-mirroring (see `strait_link::manager::alter`).

use std::time::Duration;

use strait_link::ConfigChange;
use strait_protocol::link_admin::{
    AlterClusterLinkConfigsRequest, AlterClusterLinkConfigsResponse, ConfigOpKind,
};
use strait_protocol::ErrorCode;

use super::private::{api, links};
use crate::broker::Broker;
use crate::error::ApiError;

fn change(req: &AlterClusterLinkConfigsRequest) -> Result<ConfigChange, ApiError> {
    let mut change = ConfigChange::default();
    for op in &req.ops {
        match op.op {
            ConfigOpKind::Set => {
                let Some(value) = &op.value else {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("link config '{}': a set needs a value", op.name),
                    ));
                };
                if change.set.insert(op.name.clone(), value.clone()).is_some() {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("link config '{}' is set twice; give it once", op.name),
                    ));
                }
            }
            ConfigOpKind::Delete => change.delete.push(op.name.clone()),
        }
    }
    Ok(change)
}

pub async fn handle(
    broker: &Broker,
    req: AlterClusterLinkConfigsRequest,
) -> AlterClusterLinkConfigsResponse {
    let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0).max(1_000));
    let outcome = match (links(broker), change(&req)) {
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(m), Ok(change)) => m
            .alter_link_configs(
                &req.link_name,
                change,
                req.validate_only,
                req.validate_link,
                timeout,
            )
            .await
            .map_err(api),
    };
    match outcome {
        Ok(o) => AlterClusterLinkConfigsResponse {
            error_code: 0,
            error_message: None,
            changed: o.changed,
            reconnects: o.reconnects,
        },
        Err(e) => AlterClusterLinkConfigsResponse {
            error_code: e.error_code(),
            error_message: e.message,
            ..Default::default()
        },
    }
}
