//! DeleteAcls (key 31, v1-3): removes every binding matching each filter (one result per
//! filter, listing what it removed), persisted before answering. Needs ALTER on the
//! cluster.

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::{AclFilter, AclOperation, AclRecord};
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let fail = |code: ErrorCode, message: String| {
        DeleteAclsFilterResult::default()
            .with_error_code(code.code())
            .with_error_message(Some(str_bytes(message)))
    };
    if !crate::auth::allow_cluster(broker, ctx, AclOperation::Alter) {
        let e = crate::auth::cluster_denied();
        return DeleteAclsResponse::default().with_filter_results(
            req.filters
                .iter()
                .map(|_| fail(e.code, e.to_string()))
                .collect(),
        );
    }
    let filters: Vec<Result<AclFilter, String>> = req
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_deref(),
                f.pattern_type_filter,
                f.principal_filter.as_deref(),
                f.host_filter.as_deref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let removed = broker.security.update(&broker.topics, |acls, _| {
        // Each filter reports every binding it matches, even if an earlier filter in the
        // same request matched it too (as Kafka does).
        let per_filter: Vec<Vec<AclRecord>> = filters
            .iter()
            .map(|f| match f {
                Ok(f) => acls.iter().filter(|a| f.matches(a)).cloned().collect(),
                Err(_) => Vec::new(),
            })
            .collect();
        acls.retain(|a| !per_filter.iter().any(|m| m.contains(a)));
        Ok(per_filter)
    });
    let results = match removed {
        Err(e) => filters
            .iter()
            .map(|_| fail(e.code, e.to_string()))
            .collect(),
        Ok(per_filter) => filters
            .iter()
            .zip(per_filter)
            .map(|(f, matched)| match f {
                Err(message) => fail(ErrorCode::InvalidRequest, message.clone()),
                Ok(_) => DeleteAclsFilterResult::default().with_matching_acls(
                    matched
                        .into_iter()
                        .map(|a| {
                            tracing::info!(acl = %a, "ACL deleted");
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(a.resource_type.code())
                                .with_resource_name(str_bytes(a.resource_name))
                                .with_pattern_type(a.pattern_type.code())
                                .with_principal(str_bytes(a.principal))
                                .with_host(str_bytes(a.host))
                                .with_operation(a.operation.code())
                                .with_permission_type(a.permission_type.code())
                        })
                        .collect(),
                ),
            })
            .collect(),
    };
    DeleteAclsResponse::default().with_filter_results(results)
}
