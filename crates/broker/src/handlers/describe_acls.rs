//! DescribeAcls (key 29, v1-3): the bindings matching one filter, grouped by resource
//! pattern. Needs DESCRIBE on the cluster.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::{AclFilter, AclOperation};
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    if !crate::auth::allow_cluster(broker, ctx, AclOperation::Describe) {
        let e = crate::auth::cluster_denied();
        return DescribeAclsResponse::default()
            .with_error_code(e.error_code())
            .with_error_message(e.message.map(str_bytes));
    }
    let filter = match AclFilter::from_wire(
        req.resource_type_filter,
        req.resource_name_filter.as_deref(),
        req.pattern_type_filter,
        req.principal_filter.as_deref(),
        req.host_filter.as_deref(),
        req.operation,
        req.permission_type,
    ) {
        Ok(f) => f,
        Err(message) => {
            return DescribeAclsResponse::default()
                .with_error_code(ErrorCode::InvalidRequest.code())
                .with_error_message(Some(str_bytes(message)))
        }
    };
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in broker.security.acls().iter().filter(|a| filter.matches(a)) {
        by_resource
            .entry((
                acl.resource_type.code(),
                acl.resource_name.clone(),
                acl.pattern_type.code(),
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(acl.principal.clone()))
                    .with_host(str_bytes(acl.host.clone()))
                    .with_operation(acl.operation.code())
                    .with_permission_type(acl.permission_type.code()),
            );
    }
    DescribeAclsResponse::default().with_resources(
        by_resource
            .into_iter()
            .map(|((rt, name, pt), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(rt)
                    .with_resource_name(str_bytes(name))
                    .with_pattern_type(pt)
                    .with_acls(acls)
            })
            .collect(),
    )
}
