//! AlterConfigs (key 33): replaces the resource's whole set of overrides; configs not
//! listed return to their defaults (Kafka's legacy, non-incremental semantics).

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::config_resources::{replace_overrides, resolve_resource};
use crate::dispatch::RequestContext;
use crate::error::ApiError;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let name = res.resource_name.to_string();
            let outcome = crate::auth::check_config_resource(
                broker,
                ctx,
                crate::auth::acl::AclOperation::AlterConfigs,
                res.resource_type,
                &name,
            )
            .and_then(|()| resolve_resource(broker, res.resource_type, &name))
            .and_then(|resource| {
                let mut configs = BTreeMap::new();
                for c in &res.configs {
                    let value = c.value.as_ref().ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!("Null value not supported for : {}", c.name),
                        )
                    })?;
                    configs.insert(c.name.to_string(), value.to_string());
                }
                replace_overrides(broker, &resource, configs, req.validate_only)
            });
            let mut r = AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name);
            if let Err(e) = outcome {
                r.error_code = e.error_code();
                r.error_message = e.message.map(str_bytes);
            }
            r
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
