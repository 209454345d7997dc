//! DescribeUserScramCredentials (key 50, v0): which SCRAM mechanisms (and iteration
//! counts) each user has; never salts or keys. A null or empty user list means every user
//! with a credential. Needs DESCRIBE on the cluster.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !crate::auth::allow_cluster(broker, ctx, AclOperation::Describe) {
        let e = crate::auth::cluster_denied();
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(e.error_code())
            .with_error_message(e.message.map(str_bytes));
    }
    let creds = broker.security.scram_credentials();
    let mut by_user: BTreeMap<&str, Vec<CredentialInfo>> = BTreeMap::new();
    for c in creds.iter() {
        by_user.entry(&c.user).or_default().push(
            CredentialInfo::default()
                .with_mechanism(c.mechanism.code())
                .with_iterations(c.iterations),
        );
    }
    let requested: Option<Vec<String>> = req
        .users
        .filter(|u| !u.is_empty())
        .map(|u| u.into_iter().map(|u| u.name.to_string()).collect());
    let results = match requested {
        None => by_user
            .into_iter()
            .map(|(user, infos)| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(str_bytes(user))
                    .with_credential_infos(infos)
            })
            .collect(),
        Some(users) => {
            let mut seen = BTreeSet::new();
            let duplicates: BTreeSet<String> = users
                .iter()
                .filter(|u| !seen.insert(u.as_str()))
                .cloned()
                .collect();
            let mut done = BTreeSet::new();
            users
                .into_iter()
                .filter(|u| done.insert(u.clone()))
                .map(|user| {
                    let r = DescribeUserScramCredentialsResult::default()
                        .with_user(str_bytes(user.clone()));
                    if duplicates.contains(&user) {
                        r.with_error_code(ErrorCode::DuplicateResource.code())
                            .with_error_message(Some(str_bytes(format!(
                                "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                            ))))
                    } else if let Some(infos) = by_user.get(user.as_str()) {
                        r.with_credential_infos(infos.clone())
                    } else {
                        r.with_error_code(ErrorCode::ResourceNotFound.code())
                            .with_error_message(Some(str_bytes(format!(
                                "Attempt to describe nonexistent user credentials: {user}"
                            ))))
                    }
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
