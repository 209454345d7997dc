//! CreateAcls (key 30, v1-3): validates each binding (Kafka's rules, see
//! [`crate::auth::acl::AclRecord::from_wire`]) and persists the valid ones in the metadata
//! image before answering. Needs ALTER on the cluster.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::{AclOperation, AclRecord};
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let fail = |code: ErrorCode, message: String| {
        AclCreationResult::default()
            .with_error_code(code.code())
            .with_error_message(Some(str_bytes(message)))
    };
    if !crate::auth::allow_cluster(broker, ctx, AclOperation::Alter) {
        let denied = crate::auth::cluster_denied();
        return CreateAclsResponse::default().with_results(
            req.creations
                .iter()
                .map(|_| fail(denied.code, denied.to_string()))
                .collect(),
        );
    }
    let parsed: Vec<Result<AclRecord, String>> = req
        .creations
        .iter()
        .map(|c| {
            AclRecord::from_wire(
                c.resource_type,
                &c.resource_name,
                c.resource_pattern_type,
                &c.principal,
                &c.host,
                c.operation,
                c.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclRecord> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
    let stored = broker.security.update(&broker.topics, |acls, _| {
        for a in valid {
            if !acls.contains(&a) {
                tracing::info!(acl = %a, "ACL created");
                acls.push(a);
            }
        }
        Ok(())
    });
    let results = parsed
        .into_iter()
        .map(|p| match (p, &stored) {
            (Err(message), _) => fail(ErrorCode::InvalidRequest, message),
            (Ok(_), Err(e)) => fail(e.code, e.to_string()),
            (Ok(_), Ok(())) => AclCreationResult::default(),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}
