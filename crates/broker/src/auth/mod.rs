//! Security: who is connected ([`Session`]), what they may do (ACLs and the
//! [`authorizer`]), how they prove it ([`sasl`], [`scram`]) and how the bytes are protected
//! ([`tls`]). [`config`] reads Kafka's security keys.
//!
//! # Layout
//! * [`acl`]: Kafka's resource/pattern/operation/permission enums, bindings, filters.
//! * [`authorizer`]: deny-beats-allow evaluation, super users, implied operations.
//! * [`Security`]: the broker's live state — the authorizer settings and in-memory copies of
//!   the ACL bindings and SCRAM credentials, which are persisted in the metadata image
//!   (through [`crate::topics::TopicManager::update_security`]) before they take effect.
//! * [`sasl`]: the per-connection SASL state machine (handshake v0/v1, PLAIN, SCRAM).
//! * The `allow_*` helpers are what handlers call: one line per authorization check.
//!
//! Without `authorizer.class.name` every request is allowed, as in Kafka.

pub mod acl;
pub mod authorizer;
pub mod config;
pub mod hooks;
pub mod sasl;
pub mod scram;
pub mod tls;

use std::sync::{Arc, RwLock};

use acl::{AclOperation, AclRecord, ResourceType, CLUSTER_NAME};
use authorizer::{AuthorizerConfig, Requester};
use scram::{ScramCredentialRecord, ScramMechanism};

use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::error::ApiError;
use crate::topics::TopicManager;

/// The principal of connections that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `User:ANONYMOUS`, `User:<sasl user>` or `User:<certificate subject>`.
    pub principal: String,
    /// The client's IP address, matched against ACL hosts.
    pub client_host: String,
    /// The listener name the client connected to (its advertised endpoint is used in
    /// Metadata and FindCoordinator answers).
    pub listener: String,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            principal: ANONYMOUS.to_string(),
            client_host: "127.0.0.1".to_string(),
            listener: "PLAINTEXT".to_string(),
        }
    }
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T>(l: &RwLock<T>, value: T) {
    *l.write().unwrap_or_else(|e| e.into_inner()) = value;
}

/// The broker's security state.
pub struct Security {
    authorizer: Option<AuthorizerConfig>,
    acls: RwLock<Arc<Vec<AclRecord>>>,
    scram: RwLock<Arc<Vec<ScramCredentialRecord>>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("authorizer", &self.authorizer)
            .field("acls", &self.acls().len())
            .finish_non_exhaustive()
    }
}

impl Security {
    /// Loads ACLs and credentials from the image and stores bootstrap SCRAM credentials
    /// for users that have none of that mechanism yet.
    pub fn open(config: &config::SecurityConfig, topics: &TopicManager) -> Result<Self, ApiError> {
        let (mut acls, mut creds) = topics.security_records();
        let missing: Vec<&config::BootstrapScram> = config
            .bootstrap_scram
            .iter()
            .filter(|b| {
                !creds
                    .iter()
                    .any(|c| c.user == b.user && c.mechanism == b.mechanism)
            })
            .collect();
        if !missing.is_empty() {
            let new: Vec<ScramCredentialRecord> = missing
                .iter()
                .map(|b| {
                    ScramCredentialRecord::from_password(
                        &b.user,
                        b.mechanism,
                        &b.password.0,
                        b.iterations,
                    )
                })
                .collect();
            let ((), a, c) = topics.update_security(|_, creds| {
                creds.extend(new);
                Ok(())
            })?;
            acls = a;
            creds = c;
            for b in missing {
                tracing::info!(user = %b.user, mechanism = b.mechanism.name(), "stored bootstrap SCRAM credential");
            }
        }
        Ok(Security {
            authorizer: config.authorizer.clone(),
            acls: RwLock::new(Arc::new(acls)),
            scram: RwLock::new(Arc::new(creds)),
        })
    }

    /// Is an authorizer configured (`authorizer.class.name`)?
    pub fn enforcing(&self) -> bool {
        self.authorizer.is_some()
    }

    pub fn acls(&self) -> Arc<Vec<AclRecord>> {
        read(&self.acls)
    }

    pub fn scram_credentials(&self) -> Arc<Vec<ScramCredentialRecord>> {
        read(&self.scram)
    }

    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<ScramCredentialRecord> {
        self.scram_credentials()
            .iter()
            .find(|c| c.user == user && c.mechanism == mechanism)
            .cloned()
    }

    /// Applies and persists a change to ACLs / credentials, then makes it live.
    pub fn update<R>(
        &self,
        topics: &TopicManager,
        change: impl FnOnce(&mut Vec<AclRecord>, &mut Vec<ScramCredentialRecord>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let (result, acls, creds) = topics.update_security(change)?;
        write(&self.acls, Arc::new(acls));
        write(&self.scram, Arc::new(creds));
        Ok(result)
    }

    /// May `session` perform `op` on `(rt, name)`?
    pub fn authorize(
        &self,
        session: &Session,
        op: AclOperation,
        rt: ResourceType,
        name: &str,
    ) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let who = Requester {
            principal: &session.principal,
            host: &session.client_host,
        };
        let ok = authorizer.authorize(&self.acls(), who, op, rt, name);
        if !ok {
            tracing::debug!(principal = %session.principal, host = %session.client_host, operation = %op, resource_type = %rt, resource = %name, "authorization denied");
        }
        ok
    }

    /// May `session` perform `op` on some resource of type `rt` (Kafka's
    /// `authorizeByResourceType`)?
    pub fn authorize_any(&self, session: &Session, op: AclOperation, rt: ResourceType) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let who = Requester {
            principal: &session.principal,
            host: &session.client_host,
        };
        authorizer.authorize_any(&self.acls(), who, op, rt)
    }
}

/// Authorization checks for handlers: one call per check.
pub fn allow_topic(b: &Broker, ctx: &RequestContext, op: AclOperation, topic: &str) -> bool {
    b.security
        .authorize(&ctx.session, op, ResourceType::Topic, topic)
}

pub fn allow_group(b: &Broker, ctx: &RequestContext, op: AclOperation, group: &str) -> bool {
    b.security
        .authorize(&ctx.session, op, ResourceType::Group, group)
}

pub fn allow_cluster(b: &Broker, ctx: &RequestContext, op: AclOperation) -> bool {
    b.security
        .authorize(&ctx.session, op, ResourceType::Cluster, CLUSTER_NAME)
}

pub fn allow_transactional_id(
    b: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    id: &str,
) -> bool {
    b.security
        .authorize(&ctx.session, op, ResourceType::TransactionalId, id)
}

/// CreateTopics / auto-creation: CREATE on the cluster, or on the topic.
pub fn allow_create_topic(b: &Broker, ctx: &RequestContext, topic: &str) -> bool {
    allow_cluster(b, ctx, AclOperation::Create) || allow_topic(b, ctx, AclOperation::Create, topic)
}

/// An idempotent producer without a transactional id: IDEMPOTENT_WRITE on the cluster, or
/// WRITE on any topic (KIP-679).
pub fn allow_idempotent_write(b: &Broker, ctx: &RequestContext) -> bool {
    allow_cluster(b, ctx, AclOperation::IdempotentWrite)
        || b.security
            .authorize_any(&ctx.session, AclOperation::Write, ResourceType::Topic)
}

/// The error of a denied topic check (Kafka's wording).
pub fn topic_denied(topic: &str) -> ApiError {
    ApiError::new(
        strait_protocol::ErrorCode::TopicAuthorizationFailed,
        format!("Not authorized to access topics: [{topic}]"),
    )
}

pub fn group_denied(group: &str) -> ApiError {
    ApiError::new(
        strait_protocol::ErrorCode::GroupAuthorizationFailed,
        format!("Not authorized to access group: {group}"),
    )
}

pub fn cluster_denied() -> ApiError {
    ApiError::new(
        strait_protocol::ErrorCode::ClusterAuthorizationFailed,
        "Cluster authorization failed.",
    )
}

/// Kafka's "authorized operations" bit field for a resource (KIP-430): bit `op.code()` is
/// set for every operation the session may perform.
pub fn authorized_operations(
    b: &Broker,
    ctx: &RequestContext,
    rt: ResourceType,
    name: &str,
) -> i32 {
    let ops: &[AclOperation] = match rt {
        ResourceType::Topic => &[
            AclOperation::Read,
            AclOperation::Write,
            AclOperation::Create,
            AclOperation::Delete,
            AclOperation::Alter,
            AclOperation::Describe,
            AclOperation::DescribeConfigs,
            AclOperation::AlterConfigs,
        ],
        ResourceType::Group => &[
            AclOperation::Read,
            AclOperation::Describe,
            AclOperation::Delete,
        ],
        ResourceType::Cluster => &[
            AclOperation::Create,
            AclOperation::Alter,
            AclOperation::Describe,
            AclOperation::ClusterAction,
            AclOperation::DescribeConfigs,
            AclOperation::AlterConfigs,
            AclOperation::IdempotentWrite,
        ],
        _ => &[],
    };
    ops.iter()
        .filter(|op| b.security.authorize(&ctx.session, **op, rt, name))
        .fold(0i32, |acc, op| acc | (1 << op.code()))
}

/// [`allow_topic`] as a `Result` with Kafka's TOPIC_AUTHORIZATION_FAILED.
pub fn check_topic(
    b: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    topic: &str,
) -> Result<(), ApiError> {
    if allow_topic(b, ctx, op, topic) {
        Ok(())
    } else {
        Err(topic_denied(topic))
    }
}

/// [`allow_group`] as a `Result` with Kafka's GROUP_AUTHORIZATION_FAILED.
pub fn check_group(
    b: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    group: &str,
) -> Result<(), ApiError> {
    if allow_group(b, ctx, op, group) {
        Ok(())
    } else {
        Err(group_denied(group))
    }
}

/// [`allow_cluster`] as a `Result` with Kafka's CLUSTER_AUTHORIZATION_FAILED.
pub fn check_cluster(b: &Broker, ctx: &RequestContext, op: AclOperation) -> Result<(), ApiError> {
    if allow_cluster(b, ctx, op) {
        Ok(())
    } else {
        Err(cluster_denied())
    }
}

/// Produce: WRITE on the transactional id (if any), then WRITE on the topic.
pub fn check_produce(
    b: &Broker,
    ctx: &RequestContext,
    transactional_id: Option<&str>,
    topic: &str,
) -> Result<(), ApiError> {
    if let Some(id) = transactional_id {
        if !allow_transactional_id(b, ctx, AclOperation::Write, id) {
            return Err(ApiError::new(
                strait_protocol::ErrorCode::TransactionalIdAuthorizationFailed,
                format!("Not authorized to use transactional id {id}"),
            ));
        }
    }
    check_topic(b, ctx, AclOperation::Write, topic)
}

/// Config APIs: `op` (DESCRIBE_CONFIGS / ALTER_CONFIGS) on the topic (resource type 2), or
/// on the cluster for broker and broker-logger resources (4, 8).
pub fn check_config_resource(
    b: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<(), ApiError> {
    match resource_type {
        2 => check_topic(b, ctx, op, name),
        4 | 8 => check_cluster(b, ctx, op),
        _ => Ok(()),
    }
}

/// InitProducerId: WRITE on the transactional id, or for an idempotent producer
/// IDEMPOTENT_WRITE on the cluster or WRITE on any topic.
pub fn check_init_producer_id(
    b: &Broker,
    ctx: &RequestContext,
    transactional_id: Option<&str>,
) -> Option<strait_protocol::ErrorCode> {
    match transactional_id {
        Some(id) => (!allow_transactional_id(b, ctx, AclOperation::Write, id))
            .then_some(strait_protocol::ErrorCode::TransactionalIdAuthorizationFailed),
        None => (!allow_idempotent_write(b, ctx))
            .then_some(strait_protocol::ErrorCode::ClusterAuthorizationFailed),
    }
}
