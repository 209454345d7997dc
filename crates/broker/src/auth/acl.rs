//! Kafka's ACL model: resource types, pattern types, operations, permission types, the
//! stored binding ([`AclRecord`]) and the filters of DescribeAcls / DeleteAcls.
//!
//! Wire codes are Kafka's (`org.apache.kafka.common.{acl,resource}` enums). Bindings are
//! persisted with their Kafka names (`"TOPIC"`, `"PREFIXED"`, `"READ"`, `"ALLOW"`), so the
//! metadata image stays readable.

use serde::{Deserialize, Serialize};

macro_rules! kafka_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:expr, $kname:expr;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }
            /// `None` for codes Kafka does not define (they are treated as UNKNOWN).
            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $kname),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum!(
    /// `org.apache.kafka.common.resource.ResourceType`.
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
);

kafka_enum!(
    /// `org.apache.kafka.common.resource.PatternType`.
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
);

kafka_enum!(
    /// `org.apache.kafka.common.acl.AclOperation`.
    AclOperation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT";
    }
);

kafka_enum!(
    /// `org.apache.kafka.common.acl.AclPermissionType`.
    PermissionType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
);

/// The name of the one cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// Resource name / principal / host wildcard.
pub const WILDCARD: &str = "*";
/// The principal that matches every user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// One ACL binding (Kafka's `AclBinding`): a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclRecord {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission_type: PermissionType,
}

impl std::fmt::Display for AclRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(pattern=ResourcePattern(resourceType={}, name={}, patternType={}), entry=(principal={}, host={}, operation={}, permissionType={}))",
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission_type
        )
    }
}

/// Why a binding cannot be created (the message goes back to the client).
fn bad(message: impl Into<String>) -> String {
    message.into()
}

/// Kafka principals are `Type:name` (`User:alice`, `User:*`).
pub fn validate_principal(principal: &str) -> Result<(), String> {
    match principal.split_once(':') {
        Some((t, n)) if !t.is_empty() && !n.is_empty() => Ok(()),
        _ => Err(bad(format!(
            "Invalid principal '{principal}': expected the form Type:name, e.g. User:alice"
        ))),
    }
}

impl AclRecord {
    /// Builds a binding from CreateAcls codes, with Kafka's validation.
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        resource_name: &str,
        pattern_type: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission_type: i8,
    ) -> Result<Self, String> {
        let rt = ResourceType::from_code(resource_type).unwrap_or(ResourceType::Unknown);
        let pt = PatternType::from_code(pattern_type).unwrap_or(PatternType::Unknown);
        let op = AclOperation::from_code(operation).unwrap_or(AclOperation::Unknown);
        let perm = PermissionType::from_code(permission_type).unwrap_or(PermissionType::Unknown);
        match rt {
            ResourceType::Topic
            | ResourceType::Group
            | ResourceType::Cluster
            | ResourceType::TransactionalId => {}
            ResourceType::DelegationToken | ResourceType::User => {
                return Err(bad(format!(
                    "ACLs on resource type {rt} are not supported by Strait (it has no delegation tokens or user quotas); use TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID"
                )))
            }
            ResourceType::Any | ResourceType::Unknown => {
                return Err(bad(format!(
                    "Invalid resource type {resource_type} ({rt}) for an ACL binding"
                )))
            }
        }
        if !matches!(pt, PatternType::Literal | PatternType::Prefixed) {
            return Err(bad(format!(
                "Invalid pattern type {pattern_type} ({pt}) for an ACL binding: use LITERAL or PREFIXED"
            )));
        }
        if matches!(op, AclOperation::Any | AclOperation::Unknown) {
            return Err(bad(format!(
                "Invalid operation {operation} ({op}) for an ACL binding"
            )));
        }
        if matches!(perm, PermissionType::Any | PermissionType::Unknown) {
            return Err(bad(format!(
                "Invalid permission type {permission_type} ({perm}) for an ACL binding"
            )));
        }
        if resource_name.is_empty() {
            return Err(bad("Resource name must not be empty"));
        }
        if rt == ResourceType::Cluster
            && (pt != PatternType::Literal || resource_name != CLUSTER_NAME)
        {
            return Err(bad(format!(
                "The only valid name for the CLUSTER resource is the LITERAL '{CLUSTER_NAME}'"
            )));
        }
        if pt == PatternType::Prefixed && resource_name == WILDCARD {
            // Kafka: a PREFIXED '*' would only match names starting with '*'; refuse it as
            // the user almost certainly meant LITERAL '*'.
            return Err(bad(
                "PREFIXED resource name '*' is not allowed: use LITERAL '*' for all resources",
            ));
        }
        validate_principal(principal)?;
        if host.is_empty() {
            return Err(bad("Host must not be empty (use '*' for any host)"));
        }
        Ok(AclRecord {
            resource_type: rt,
            resource_name: resource_name.to_string(),
            pattern_type: pt,
            principal: principal.to_string(),
            host: host.to_string(),
            operation: op,
            permission_type: perm,
        })
    }

    /// Does this binding's resource pattern cover resource `(rt, name)`?
    pub fn covers(&self, rt: ResourceType, name: &str) -> bool {
        if self.resource_type != rt {
            return false;
        }
        match self.pattern_type {
            PatternType::Literal => self.resource_name == name || self.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(self.resource_name.as_str()),
            _ => false,
        }
    }
}

/// A DescribeAcls / DeleteAcls filter (Kafka's `AclBindingFilter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission_type: PermissionType,
}

impl AclFilter {
    /// Builds a filter from wire codes; UNKNOWN values make the filter invalid.
    pub fn from_wire(
        resource_type: i8,
        resource_name: Option<&str>,
        pattern_type: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission_type: i8,
    ) -> Result<Self, String> {
        let rt = ResourceType::from_code(resource_type).unwrap_or(ResourceType::Unknown);
        let pt = PatternType::from_code(pattern_type).unwrap_or(PatternType::Unknown);
        let op = AclOperation::from_code(operation).unwrap_or(AclOperation::Unknown);
        let perm = PermissionType::from_code(permission_type).unwrap_or(PermissionType::Unknown);
        if rt == ResourceType::Unknown {
            return Err(format!("Invalid resource type filter {resource_type}"));
        }
        if pt == PatternType::Unknown {
            return Err(format!("Invalid pattern type filter {pattern_type}"));
        }
        if op == AclOperation::Unknown {
            return Err(format!("Invalid operation filter {operation}"));
        }
        if perm == PermissionType::Unknown {
            return Err(format!("Invalid permission type filter {permission_type}"));
        }
        Ok(AclFilter {
            resource_type: rt,
            resource_name: resource_name.map(str::to_string),
            pattern_type: pt,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation: op,
            permission_type: perm,
        })
    }

    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, acl: &AclRecord) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        let name_ok = match (&self.resource_name, self.pattern_type) {
            (_, PatternType::Literal | PatternType::Prefixed)
                if self.pattern_type != acl.pattern_type =>
            {
                false
            }
            (None, _) => true,
            (Some(name), PatternType::Match) => match acl.pattern_type {
                PatternType::Literal => acl.resource_name == *name || acl.resource_name == WILDCARD,
                PatternType::Prefixed => name.starts_with(acl.resource_name.as_str()),
                _ => false,
            },
            (Some(name), _) => acl.resource_name == *name,
        };
        if !name_ok {
            return false;
        }
        if let Some(p) = &self.principal {
            if *p != acl.principal {
                return false;
            }
        }
        if let Some(h) = &self.host {
            if *h != acl.host {
                return false;
            }
        }
        if self.operation != AclOperation::Any && self.operation != acl.operation {
            return false;
        }
        self.permission_type == PermissionType::Any || self.permission_type == acl.permission_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rt: ResourceType, name: &str, pt: PatternType) -> AclRecord {
        AclRecord {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission_type: PermissionType::Allow,
        }
    }

    fn filter(rt: ResourceType, name: Option<&str>, pt: PatternType) -> AclFilter {
        AclFilter {
            resource_type: rt,
            resource_name: name.map(str::to_string),
            pattern_type: pt,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission_type: PermissionType::Any,
        }
    }

    #[test]
    fn codes_round_trip_and_serialize_by_name() {
        for c in 0..=15 {
            assert_eq!(AclOperation::from_code(c).unwrap().code(), c);
        }
        assert_eq!(AclOperation::from_code(16), None);
        let a = acl(ResourceType::TransactionalId, "t", PatternType::Prefixed);
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"TRANSACTIONAL_ID\"") && json.contains("\"PREFIXED\""));
        assert_eq!(serde_json::from_str::<AclRecord>(&json).unwrap(), a);
    }

    #[test]
    fn create_validation() {
        let ok = AclRecord::from_wire(2, "t", 3, "User:a", "*", 3, 3).unwrap();
        assert_eq!(ok.operation, AclOperation::Read);
        for (rt, name, pt, principal, op, perm, what) in [
            (1, "t", 3, "User:a", 3, 3, "resource type"),
            (6, "t", 3, "User:a", 3, 3, "DELEGATION_TOKEN"),
            (2, "t", 1, "User:a", 3, 3, "pattern type"),
            (2, "t", 2, "User:a", 3, 3, "pattern type"),
            (2, "t", 3, "alice", 3, 3, "principal"),
            (2, "t", 3, "User:a", 1, 3, "operation"),
            (2, "t", 3, "User:a", 3, 1, "permission"),
            (4, "x", 3, "User:a", 3, 3, "kafka-cluster"),
            (2, "", 3, "User:a", 3, 3, "empty"),
        ] {
            let e = AclRecord::from_wire(rt, name, pt, principal, "*", op, perm).unwrap_err();
            assert!(e.contains(what), "{e}");
        }
    }

    #[test]
    fn patterns_cover_resources() {
        assert!(acl(ResourceType::Topic, "orders", PatternType::Literal)
            .covers(ResourceType::Topic, "orders"));
        assert!(!acl(ResourceType::Topic, "orders", PatternType::Literal)
            .covers(ResourceType::Topic, "orders2"));
        assert!(acl(ResourceType::Topic, "*", PatternType::Literal)
            .covers(ResourceType::Topic, "anything"));
        assert!(acl(ResourceType::Topic, "ord", PatternType::Prefixed)
            .covers(ResourceType::Topic, "orders"));
        assert!(!acl(ResourceType::Topic, "ord", PatternType::Prefixed)
            .covers(ResourceType::Group, "orders"));
    }

    #[test]
    fn filters_any_match_literal_prefixed() {
        let lit = acl(ResourceType::Topic, "orders", PatternType::Literal);
        let wild = acl(ResourceType::Topic, "*", PatternType::Literal);
        let pre = acl(ResourceType::Topic, "ord", PatternType::Prefixed);
        let all = [&lit, &wild, &pre];
        let hits = |f: AclFilter| all.iter().filter(|a| f.matches(a)).count();
        assert_eq!(hits(filter(ResourceType::Any, None, PatternType::Any)), 3);
        assert_eq!(
            hits(filter(
                ResourceType::Topic,
                Some("orders"),
                PatternType::Any
            )),
            1
        );
        assert_eq!(
            hits(filter(
                ResourceType::Topic,
                Some("orders"),
                PatternType::Match
            )),
            3
        );
        assert_eq!(
            hits(filter(ResourceType::Topic, None, PatternType::Prefixed)),
            1
        );
        assert_eq!(
            hits(filter(
                ResourceType::Topic,
                Some("ord"),
                PatternType::Literal
            )),
            0
        );
        assert_eq!(hits(filter(ResourceType::Group, None, PatternType::Any)), 0);
        let mut f = filter(ResourceType::Any, None, PatternType::Any);
        f.principal = Some("User:bob".into());
        assert_eq!(hits(f), 0);
        assert!(AclFilter::from_wire(0, None, 1, None, None, 1, 1).is_err());
    }
}
