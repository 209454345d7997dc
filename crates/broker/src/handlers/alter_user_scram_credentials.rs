//! AlterUserScramCredentials (key 51, v0): upserts (the client sends salt and salted
//! password, never the password) and deletions, validated per user; a user's changes are
//! applied all together or not at all, and persisted before the answer. Needs ALTER on the
//! cluster.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use strait_protocol::ErrorCode;

use super::str_bytes;
use crate::auth::acl::AclOperation;
use crate::auth::scram::{ScramCredentialRecord, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;

enum Change {
    Upsert(ScramCredentialRecord),
    Delete(ScramMechanism),
}

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Users in request order, each with its changes or its first error.
    let mut order: Vec<String> = Vec::new();
    let mut changes: BTreeMap<String, Result<Vec<Change>, ApiError>> = BTreeMap::new();
    let mut seen_pairs = BTreeSet::new();
    let mut add = |user: String, change: Result<Change, ApiError>, mech_code: i8| {
        if !changes.contains_key(&user) {
            order.push(user.clone());
            changes.insert(user.clone(), Ok(Vec::new()));
        }
        let duplicate = !seen_pairs.insert((user.clone(), mech_code));
        if let Some(Ok(list)) = changes.get_mut(&user) {
            match change {
                _ if duplicate => {
                    changes.insert(
                        user,
                        Err(ApiError::new(
                            ErrorCode::DuplicateResource,
                            "A user credential cannot be altered twice in the same request",
                        )),
                    );
                }
                Ok(c) => list.push(c),
                Err(e) => {
                    changes.insert(user, Err(e));
                }
            }
        }
    };
    let mechanism = |code: i8| {
        ScramMechanism::from_code(code).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnsupportedSaslMechanism,
                format!("Unknown SCRAM mechanism {code}"),
            )
        })
    };
    let user_name = |name: &str| {
        if name.is_empty() {
            Err(ApiError::new(
                ErrorCode::UnacceptableCredential,
                "Username must not be empty",
            ))
        } else {
            Ok(())
        }
    };
    for d in &req.deletions {
        let user = d.name.to_string();
        let change = user_name(&user)
            .and_then(|()| mechanism(d.mechanism))
            .map(Change::Delete);
        add(user, change, d.mechanism);
    }
    for u in &req.upsertions {
        let user = u.name.to_string();
        let change = user_name(&user)
            .and_then(|()| mechanism(u.mechanism))
            .and_then(|m| {
                if u.iterations < MIN_ITERATIONS {
                    return Err(ApiError::new(
                        ErrorCode::UnacceptableCredential,
                        format!(
                            "Too few iterations: {} (minimum {MIN_ITERATIONS})",
                            u.iterations
                        ),
                    ));
                }
                if u.iterations > MAX_ITERATIONS {
                    return Err(ApiError::new(
                        ErrorCode::UnacceptableCredential,
                        format!(
                            "Too many iterations: {} (maximum {MAX_ITERATIONS})",
                            u.iterations
                        ),
                    ));
                }
                if u.salt.is_empty() || u.salted_password.is_empty() {
                    return Err(ApiError::new(
                        ErrorCode::UnacceptableCredential,
                        "Salt and salted password must not be empty",
                    ));
                }
                Ok(Change::Upsert(ScramCredentialRecord::from_salted_password(
                    &user,
                    m,
                    u.iterations,
                    &u.salt,
                    &u.salted_password,
                )))
            });
        add(user, change, u.mechanism);
    }

    if !crate::auth::allow_cluster(broker, ctx, AclOperation::Alter) {
        let e = crate::auth::cluster_denied();
        return AlterUserScramCredentialsResponse::default().with_results(
            order
                .into_iter()
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(str_bytes(user))
                        .with_error_code(e.error_code())
                        .with_error_message(e.message.clone().map(str_bytes))
                })
                .collect(),
        );
    }

    let outcome = broker.security.update(&broker.topics, |_, creds| {
        let mut per_user: BTreeMap<String, Result<(), ApiError>> = BTreeMap::new();
        for (user, list) in &changes {
            let list = match list {
                Err(e) => {
                    per_user.insert(user.clone(), Err(e.clone()));
                    continue;
                }
                Ok(l) => l,
            };
            // Check every deletion first so a user's changes apply all or nothing.
            let missing = list.iter().any(|c| match c {
                Change::Delete(m) => !creds.iter().any(|x| x.user == *user && x.mechanism == *m),
                Change::Upsert(_) => false,
            });
            if missing {
                per_user.insert(
                    user.clone(),
                    Err(ApiError::new(
                        ErrorCode::ResourceNotFound,
                        "Attempt to delete a user credential that does not exist",
                    )),
                );
                continue;
            }
            for c in list {
                match c {
                    Change::Delete(m) => creds.retain(|x| !(x.user == *user && x.mechanism == *m)),
                    Change::Upsert(rec) => {
                        creds.retain(|x| !(x.user == *user && x.mechanism == rec.mechanism));
                        creds.push(rec.clone());
                    }
                }
            }
            tracing::info!(%user, "SCRAM credentials altered");
            per_user.insert(user.clone(), Ok(()));
        }
        Ok(per_user)
    });
    let results = order
        .into_iter()
        .map(|user| {
            let r = AlterUserScramCredentialsResult::default().with_user(str_bytes(user.clone()));
            let result = match &outcome {
                Err(e) => Err(e.clone()),
                Ok(per_user) => per_user.get(&user).cloned().unwrap_or(Ok(())),
            };
            match result {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.error_code())
                    .with_error_message(e.message.map(str_bytes)),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
