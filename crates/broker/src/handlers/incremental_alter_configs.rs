//! IncrementalAlterConfigs (key 44): SET (0), DELETE (1), APPEND (2) and SUBTRACT (3)
//! applied to the resource's current overrides; all-or-nothing per resource.

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::config_resources::{current_overrides, describe, replace_overrides, resolve_resource};
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::topic_config::ConfigType;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
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
                let mut configs = current_overrides(broker, &resource);
                for c in &res.configs {
                    let key = c.name.to_string();
                    let value = c.value.as_ref().map(|v| v.to_string());
                    match c.config_operation {
                        0 => {
                            let v = value.ok_or_else(|| {
                                ApiError::new(ErrorCode::InvalidRequest, format!("Null value not supported for : {key}"))
                            })?;
                            configs.insert(key, v);
                        }
                        1 => {
                            configs.remove(&key);
                        }
                        op @ (2 | 3) => {
                            let entry = describe(broker, &resource, Some(std::slice::from_ref(&key)));
                            let current = entry.first().ok_or_else(|| {
                                ApiError::new(ErrorCode::InvalidConfig, format!("Unknown config name: {key}"))
                            })?;
                            if current.config_type != ConfigType::List {
                                return Err(ApiError::new(
                                    ErrorCode::InvalidConfig,
                                    format!("Config value append/subtract is not allowed for config key {key} because its type is not LIST"),
                                ));
                            }
                            let mut items: Vec<String> = configs
                                .get(&key)
                                .cloned()
                                .or_else(|| current.value.clone())
                                .unwrap_or_default()
                                .split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect();
                            let given: Vec<String> = value
                                .unwrap_or_default()
                                .split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect();
                            if op == 2 {
                                for g in given {
                                    if !items.contains(&g) {
                                        items.push(g);
                                    }
                                }
                            } else {
                                items.retain(|i| !given.contains(i));
                            }
                            configs.insert(key, items.join(","));
                        }
                        other => {
                            return Err(ApiError::new(ErrorCode::InvalidRequest, format!("Unknown config operation {other} for {key}")));
                        }
                    }
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
