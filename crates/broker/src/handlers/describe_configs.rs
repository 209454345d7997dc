//! DescribeConfigs (key 32): topic and broker configs with sources, synonyms (v1+), types
//! and documentation (v3+).

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::config_resources::{describe, resolve_resource};
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let v = ctx.api_version;
    let results = req
        .resources
        .into_iter()
        .map(|res| {
            let name = res.resource_name.to_string();
            let mut r = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            match crate::auth::check_config_resource(
                broker,
                ctx,
                crate::auth::acl::AclOperation::DescribeConfigs,
                res.resource_type,
                &name,
            )
            .and_then(|()| resolve_resource(broker, res.resource_type, &name))
            {
                Ok(resource) => {
                    let keys: Option<Vec<String>> = res
                        .configuration_keys
                        .map(|k| k.iter().map(|s| s.to_string()).collect());
                    r.configs = describe(broker, &resource, keys.as_deref())
                        .into_iter()
                        .map(|e| {
                            let mut c = DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(e.name))
                                .with_value(e.value.map(str_bytes))
                                .with_read_only(e.read_only)
                                .with_config_source(e.source as i8)
                                .with_is_sensitive(e.sensitive);
                            if v >= 1 && req.include_synonyms {
                                c.synonyms = e
                                    .synonyms
                                    .into_iter()
                                    .map(|(n, val, s)| {
                                        DescribeConfigsSynonym::default()
                                            .with_name(str_bytes(n))
                                            .with_value(Some(str_bytes(val)))
                                            .with_source(s as i8)
                                    })
                                    .collect();
                            }
                            if v >= 3 {
                                c.config_type = e.config_type as i8;
                                if req.include_documentation {
                                    c.documentation = e.doc.map(str_bytes);
                                }
                            }
                            c
                        })
                        .collect();
                }
                Err(e) => {
                    r.error_code = e.error_code();
                    r.error_message = e.message.map(str_bytes);
                }
            }
            r
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
