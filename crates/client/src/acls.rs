//! ACLs: DescribeAcls, CreateAcls, DeleteAcls, with Kafka's enums by name and code.
//!
//! The names are Kafka's (`TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, `ALLOW`) so link
//! filters and CLIs can parse what users type; codes are the wire values from Kafka's
//! `ResourceType`, `PatternType`, `AclOperation` and `AclPermissionType`. Unknown codes
//! from a newer broker are kept as `Unknown(code)` rather than rejected.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use crate::error::{check_code, ClientError};
use crate::{Client, Connection};

macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
            Unknown(i8),
        }

        impl $name {
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unknown(c) => c,
                }
            }
            pub fn from_code(code: i8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Unknown(other),
                }
            }
            /// Kafka's name (`"UNKNOWN(<code>)"` for codes we do not know).
            pub fn name(self) -> String {
                match self {
                    $($name::$variant => $text.to_string(),)*
                    $name::Unknown(c) => format!("UNKNOWN({c})"),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let upper = s.trim().to_ascii_uppercase().replace('-', "_");
                match upper.as_str() {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!(
                        "'{s}' is not a {}; expected one of {}",
                        stringify!($name),
                        [$($text),*].join(", ")
                    )),
                }
            }
        }
    };
}

kafka_enum!(
    /// Kafka `ResourceType`.
    ResourceType {
        Any = 1 => "ANY",
        Topic = 2 => "TOPIC",
        Group = 3 => "GROUP",
        Cluster = 4 => "CLUSTER",
        TransactionalId = 5 => "TRANSACTIONAL_ID",
        DelegationToken = 6 => "DELEGATION_TOKEN",
        User = 7 => "USER",
    }
);

kafka_enum!(
    /// Kafka `PatternType`.
    PatternType {
        Any = 1 => "ANY",
        Match = 2 => "MATCH",
        Literal = 3 => "LITERAL",
        Prefixed = 4 => "PREFIXED",
    }
);

kafka_enum!(
    /// Kafka `AclOperation`.
    AclOperation {
        Any = 1 => "ANY",
        All = 2 => "ALL",
        Read = 3 => "READ",
        Write = 4 => "WRITE",
        Create = 5 => "CREATE",
        Delete = 6 => "DELETE",
        Alter = 7 => "ALTER",
        Describe = 8 => "DESCRIBE",
        ClusterAction = 9 => "CLUSTER_ACTION",
        DescribeConfigs = 10 => "DESCRIBE_CONFIGS",
        AlterConfigs = 11 => "ALTER_CONFIGS",
        IdempotentWrite = 12 => "IDEMPOTENT_WRITE",
        CreateTokens = 13 => "CREATE_TOKENS",
        DescribeTokens = 14 => "DESCRIBE_TOKENS",
    }
);

kafka_enum!(
    /// Kafka `AclPermissionType`.
    AclPermissionType {
        Any = 1 => "ANY",
        Deny = 2 => "DENY",
        Allow = 3 => "ALLOW",
    }
);

/// One ACL: who may do what on which resource pattern, from where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`.
    pub principal: String,
    /// `*` for any host.
    pub host: String,
    pub operation: AclOperation,
    pub permission_type: AclPermissionType,
}

/// A filter over ACLs; `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission_type: AclPermissionType,
}

impl AclBindingFilter {
    /// Matches every ACL.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission_type: AclPermissionType::Any,
        }
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl Connection {
    /// DescribeAcls on this broker.
    pub async fn describe_acls(
        &self,
        filter: &AclBindingFilter,
    ) -> Result<Vec<AclBinding>, ClientError> {
        let version = self.negotiate::<DescribeAclsRequest>(3)?;
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission_type.code());
        let response = self.send(&req, version).await?;
        check_code(response.error_code, response.error_message.as_ref(), || {
            "describe ACLs".to_string()
        })?;
        let mut out = Vec::new();
        for r in response.resources {
            for a in r.acls {
                out.push(AclBinding {
                    resource_type: ResourceType::from_code(r.resource_type),
                    resource_name: r.resource_name.to_string(),
                    pattern_type: PatternType::from_code(r.pattern_type),
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: AclOperation::from_code(a.operation),
                    permission_type: AclPermissionType::from_code(a.permission_type),
                });
            }
        }
        Ok(out)
    }

    /// CreateAcls on this broker; one result per binding, in order.
    pub async fn create_acls(
        &self,
        bindings: &[AclBinding],
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let version = self.negotiate::<CreateAclsRequest>(3)?;
        let req = CreateAclsRequest::default().with_creations(
            bindings
                .iter()
                .map(|b| {
                    AclCreation::default()
                        .with_resource_type(b.resource_type.code())
                        .with_resource_name(s(&b.resource_name))
                        .with_resource_pattern_type(b.pattern_type.code())
                        .with_principal(s(&b.principal))
                        .with_host(s(&b.host))
                        .with_operation(b.operation.code())
                        .with_permission_type(b.permission_type.code())
                })
                .collect(),
        );
        let response = self.send(&req, version).await?;
        if response.results.len() != bindings.len() {
            return Err(ClientError::Protocol {
                broker: self.broker().to_string(),
                message: format!(
                    "CreateAcls returned {} results for {} ACLs",
                    response.results.len(),
                    bindings.len()
                ),
            });
        }
        Ok(response
            .results
            .iter()
            .zip(bindings)
            .map(|(r, b)| {
                check_code(r.error_code, r.error_message.as_ref(), || {
                    format!(
                        "create ACL {} {} on {} '{}'",
                        b.permission_type.name(),
                        b.operation.name(),
                        b.resource_type.name(),
                        b.resource_name
                    )
                })
            })
            .collect())
    }

    /// DeleteAcls on this broker; per filter, the ACLs it deleted.
    pub async fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
    ) -> Result<Vec<Result<Vec<AclBinding>, ClientError>>, ClientError> {
        let version = self.negotiate::<DeleteAclsRequest>(3)?;
        let req = DeleteAclsRequest::default().with_filters(
            filters
                .iter()
                .map(|f| {
                    DeleteAclsFilter::default()
                        .with_resource_type_filter(f.resource_type.code())
                        .with_resource_name_filter(f.resource_name.as_deref().map(s))
                        .with_pattern_type_filter(f.pattern_type.code())
                        .with_principal_filter(f.principal.as_deref().map(s))
                        .with_host_filter(f.host.as_deref().map(s))
                        .with_operation(f.operation.code())
                        .with_permission_type(f.permission_type.code())
                })
                .collect(),
        );
        let response = self.send(&req, version).await?;
        Ok(response
            .filter_results
            .into_iter()
            .map(|r| {
                check_code(r.error_code, r.error_message.as_ref(), || {
                    "delete ACLs".to_string()
                })?;
                Ok(r.matching_acls
                    .into_iter()
                    .filter(|m| m.error_code == 0)
                    .map(|m| AclBinding {
                        resource_type: ResourceType::from_code(m.resource_type),
                        resource_name: m.resource_name.to_string(),
                        pattern_type: PatternType::from_code(m.pattern_type),
                        principal: m.principal.to_string(),
                        host: m.host.to_string(),
                        operation: AclOperation::from_code(m.operation),
                        permission_type: AclPermissionType::from_code(m.permission_type),
                    })
                    .collect())
            })
            .collect())
    }
}

impl Client {
    /// DescribeAcls on any broker.
    pub async fn describe_acls(
        &self,
        filter: &AclBindingFilter,
    ) -> Result<Vec<AclBinding>, ClientError> {
        self.any_broker().await?.describe_acls(filter).await
    }

    /// CreateAcls on the controller (or any broker when none is known).
    pub async fn create_acls(
        &self,
        bindings: &[AclBinding],
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        self.controller().await?.create_acls(bindings).await
    }

    /// DeleteAcls on the controller (or any broker when none is known).
    pub async fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
    ) -> Result<Vec<Result<Vec<AclBinding>, ClientError>>, ClientError> {
        self.controller().await?.delete_acls(filters).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_names_and_codes() {
        assert_eq!("prefixed".parse::<PatternType>(), Ok(PatternType::Prefixed));
        assert_eq!(
            "describe-configs".parse::<AclOperation>(),
            Ok(AclOperation::DescribeConfigs)
        );
        assert_eq!(ResourceType::from_code(2), ResourceType::Topic);
        assert_eq!(ResourceType::Topic.code(), 2);
        assert_eq!(
            AclPermissionType::from_code(9),
            AclPermissionType::Unknown(9)
        );
        assert_eq!(AclPermissionType::Unknown(9).name(), "UNKNOWN(9)");
        let e = "READX".parse::<AclOperation>().unwrap_err();
        assert!(e.contains("READ") && e.contains("READX"), "{e}");
        for code in 0..=16 {
            assert_eq!(AclOperation::from_code(code).code(), code);
        }
    }
}
