//! The ACL authorizer, with the semantics of Kafka's `StandardAuthorizer` /
//! `AclAuthorizer`:
//!
//! 1. a super user (`super.users`) may do anything;
//! 2. a matching DENY binding wins over every ALLOW;
//! 3. if no binding at all covers the resource, `allow.everyone.if.no.acl.found` decides;
//! 4. otherwise a matching ALLOW binding is needed.
//!
//! A binding matches when its pattern covers the resource (LITERAL name, LITERAL `*`, or a
//! PREFIXED prefix), its principal is the session's or `User:*`, its host is the client's
//! address or `*`, and its operation is the requested one or ALL. ALLOW bindings also
//! grant implied operations: DESCRIBE is implied by READ, WRITE, DELETE and ALTER;
//! DESCRIBE_CONFIGS by ALTER_CONFIGS. DENY bindings imply nothing extra (a DENY READ does
//! not deny DESCRIBE), as in Kafka.

use super::acl::{
    AclOperation, AclRecord, PermissionType, ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};

/// Authorizer settings from the broker config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// `super.users`: principals (`User:name`) allowed everything.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found` (default false).
    pub allow_everyone_if_no_acl_found: bool,
}

/// Who is asking, from where.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub principal: &'a str,
    pub host: &'a str,
}

fn principal_matches(acl: &AclRecord, principal: &str) -> bool {
    acl.principal == principal || acl.principal == WILDCARD_PRINCIPAL
}

fn host_matches(acl: &AclRecord, host: &str) -> bool {
    acl.host == WILDCARD || acl.host == host
}

/// Operations an ALLOW binding for `acl_op` grants.
fn allow_grants(acl_op: AclOperation, op: AclOperation) -> bool {
    if acl_op == AclOperation::All || acl_op == op {
        return true;
    }
    match op {
        AclOperation::Describe => matches!(
            acl_op,
            AclOperation::Read | AclOperation::Write | AclOperation::Delete | AclOperation::Alter
        ),
        AclOperation::DescribeConfigs => acl_op == AclOperation::AlterConfigs,
        _ => false,
    }
}

fn deny_covers(acl_op: AclOperation, op: AclOperation) -> bool {
    acl_op == AclOperation::All || acl_op == op
}

impl AuthorizerConfig {
    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.iter().any(|s| s == principal)
    }

    /// May `who` perform `op` on resource `(rt, name)` given `acls`?
    pub fn authorize(
        &self,
        acls: &[AclRecord],
        who: Requester<'_>,
        op: AclOperation,
        rt: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(who.principal) {
            return true;
        }
        let mut any_for_resource = false;
        let mut allowed = false;
        for acl in acls.iter().filter(|a| a.covers(rt, name)) {
            any_for_resource = true;
            if !principal_matches(acl, who.principal) || !host_matches(acl, who.host) {
                continue;
            }
            match acl.permission_type {
                PermissionType::Deny if deny_covers(acl.operation, op) => return false,
                PermissionType::Allow if allow_grants(acl.operation, op) => allowed = true,
                _ => {}
            }
        }
        if !any_for_resource {
            return self.allow_everyone_if_no_acl_found;
        }
        allowed
    }

    /// Kafka's `authorizeByResourceType`: could `who` perform `op` on *some* resource of
    /// type `rt`? True when an ALLOW binding grants it and no DENY binding for the same
    /// principal/host/operation covers that binding's whole pattern (a DENY on LITERAL `*`,
    /// on the same literal name, or on a prefix of its name).
    pub fn authorize_any(
        &self,
        acls: &[AclRecord],
        who: Requester<'_>,
        op: AclOperation,
        rt: ResourceType,
    ) -> bool {
        if self.is_super_user(who.principal) {
            return true;
        }
        let applies = |a: &&AclRecord| {
            a.resource_type == rt
                && principal_matches(a, who.principal)
                && host_matches(a, who.host)
        };
        let denies: Vec<&AclRecord> = acls
            .iter()
            .filter(applies)
            .filter(|a| a.permission_type == PermissionType::Deny && deny_covers(a.operation, op))
            .collect();
        let allowed = acls
            .iter()
            .filter(applies)
            .filter(|a| a.permission_type == PermissionType::Allow && allow_grants(a.operation, op))
            .any(|allow| {
                !denies.iter().any(|d| match d.pattern_type {
                    super::acl::PatternType::Literal => {
                        d.resource_name == WILDCARD
                            || (allow.pattern_type == super::acl::PatternType::Literal
                                && d.resource_name == allow.resource_name)
                    }
                    super::acl::PatternType::Prefixed => {
                        allow.resource_name.starts_with(d.resource_name.as_str())
                            && allow.resource_name != WILDCARD
                    }
                    _ => false,
                })
            });
        if allowed {
            return true;
        }
        self.allow_everyone_if_no_acl_found && !acls.iter().any(|a| a.resource_type == rt)
    }
}

#[cfg(test)]
mod tests {
    use super::super::acl::PatternType;
    use super::*;
    use AclOperation::*;
    use PermissionType::*;
    use ResourceType::*;

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        principal: &str,
        host: &str,
        op: AclOperation,
        perm: PermissionType,
    ) -> AclRecord {
        AclRecord {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: principal.into(),
            host: host.into(),
            operation: op,
            permission_type: perm,
        }
    }

    const ALICE: Requester<'static> = Requester {
        principal: "User:alice",
        host: "10.0.0.1",
    };

    #[test]
    fn semantics_table() {
        let lit = PatternType::Literal;
        let pre = PatternType::Prefixed;
        let strict = AuthorizerConfig {
            super_users: vec!["User:admin".into()],
            allow_everyone_if_no_acl_found: false,
        };
        let lenient = AuthorizerConfig {
            super_users: vec![],
            allow_everyone_if_no_acl_found: true,
        };
        type Case = (
            &'static str,
            Vec<AclRecord>,
            &'static AuthorizerConfig,
            Requester<'static>,
            AclOperation,
            ResourceType,
            &'static str,
            bool,
        );
        let strict: &'static AuthorizerConfig = Box::leak(Box::new(strict));
        let lenient: &'static AuthorizerConfig = Box::leak(Box::new(lenient));
        let admin = Requester {
            principal: "User:admin",
            host: "1.2.3.4",
        };
        let cases: Vec<Case> = vec![
            (
                "no acls, strict",
                vec![],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                false,
            ),
            (
                "no acls, allow.everyone",
                vec![],
                lenient,
                ALICE,
                Read,
                Topic,
                "t",
                true,
            ),
            (
                "acls exist for resource, allow.everyone does not apply",
                vec![acl(Topic, "t", lit, "User:bob", "*", Read, Allow)],
                lenient,
                ALICE,
                Read,
                Topic,
                "t",
                false,
            ),
            (
                "acls for another resource only: allow.everyone applies",
                vec![acl(Topic, "other", lit, "User:bob", "*", Read, Allow)],
                lenient,
                ALICE,
                Read,
                Topic,
                "t",
                true,
            ),
            (
                "super user",
                vec![acl(Topic, "t", lit, "User:admin", "*", All, Deny)],
                strict,
                admin,
                Write,
                Topic,
                "t",
                true,
            ),
            (
                "literal allow",
                vec![acl(Topic, "t", lit, "User:alice", "*", Read, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                true,
            ),
            (
                "literal allow, other op",
                vec![acl(Topic, "t", lit, "User:alice", "*", Read, Allow)],
                strict,
                ALICE,
                Write,
                Topic,
                "t",
                false,
            ),
            (
                "wildcard resource",
                vec![acl(Topic, "*", lit, "User:alice", "*", Write, Allow)],
                strict,
                ALICE,
                Write,
                Topic,
                "x",
                true,
            ),
            (
                "wildcard principal",
                vec![acl(Topic, "t", lit, "User:*", "*", Read, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                true,
            ),
            (
                "prefixed allow",
                vec![acl(Topic, "ord", pre, "User:alice", "*", Read, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "orders",
                true,
            ),
            (
                "prefixed does not match shorter",
                vec![acl(Topic, "orders", pre, "User:alice", "*", Read, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "ord",
                false,
            ),
            (
                "deny beats allow",
                vec![
                    acl(Topic, "*", lit, "User:alice", "*", All, Allow),
                    acl(Topic, "secret", lit, "User:alice", "*", Read, Deny),
                ],
                strict,
                ALICE,
                Read,
                Topic,
                "secret",
                false,
            ),
            (
                "prefixed deny beats literal allow",
                vec![
                    acl(Topic, "secret", lit, "User:alice", "*", Read, Allow),
                    acl(Topic, "sec", pre, "User:*", "*", Read, Deny),
                ],
                strict,
                ALICE,
                Read,
                Topic,
                "secret",
                false,
            ),
            (
                "deny for another host does not apply",
                vec![
                    acl(Topic, "t", lit, "User:alice", "*", Read, Allow),
                    acl(Topic, "t", lit, "User:alice", "10.9.9.9", Read, Deny),
                ],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                true,
            ),
            (
                "allow for another host",
                vec![acl(Topic, "t", lit, "User:alice", "10.9.9.9", Read, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                false,
            ),
            (
                "allow for this host",
                vec![acl(Topic, "t", lit, "User:alice", "10.0.0.1", Read, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                true,
            ),
            (
                "describe implied by read",
                vec![acl(Topic, "t", lit, "User:alice", "*", Read, Allow)],
                strict,
                ALICE,
                Describe,
                Topic,
                "t",
                true,
            ),
            (
                "describe implied by write",
                vec![acl(Topic, "t", lit, "User:alice", "*", Write, Allow)],
                strict,
                ALICE,
                Describe,
                Topic,
                "t",
                true,
            ),
            (
                "describe implied by delete",
                vec![acl(Topic, "t", lit, "User:alice", "*", Delete, Allow)],
                strict,
                ALICE,
                Describe,
                Topic,
                "t",
                true,
            ),
            (
                "describe implied by alter",
                vec![acl(Topic, "t", lit, "User:alice", "*", Alter, Allow)],
                strict,
                ALICE,
                Describe,
                Topic,
                "t",
                true,
            ),
            (
                "describe not implied by create",
                vec![acl(Topic, "t", lit, "User:alice", "*", Create, Allow)],
                strict,
                ALICE,
                Describe,
                Topic,
                "t",
                false,
            ),
            (
                "describe_configs implied by alter_configs",
                vec![acl(Topic, "t", lit, "User:alice", "*", AlterConfigs, Allow)],
                strict,
                ALICE,
                DescribeConfigs,
                Topic,
                "t",
                true,
            ),
            (
                "read not implied by describe",
                vec![acl(Topic, "t", lit, "User:alice", "*", Describe, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                false,
            ),
            (
                "deny read does not deny describe",
                vec![
                    acl(Topic, "t", lit, "User:alice", "*", Describe, Allow),
                    acl(Topic, "t", lit, "User:alice", "*", Read, Deny),
                ],
                strict,
                ALICE,
                Describe,
                Topic,
                "t",
                true,
            ),
            (
                "all covers everything",
                vec![acl(Group, "g", lit, "User:alice", "*", All, Allow)],
                strict,
                ALICE,
                Delete,
                Group,
                "g",
                true,
            ),
            (
                "deny all",
                vec![
                    acl(Group, "g", lit, "User:alice", "*", All, Deny),
                    acl(Group, "g", lit, "User:alice", "*", Read, Allow),
                ],
                strict,
                ALICE,
                Read,
                Group,
                "g",
                false,
            ),
            (
                "resource types are separate",
                vec![acl(Group, "t", lit, "User:alice", "*", Read, Allow)],
                strict,
                ALICE,
                Read,
                Topic,
                "t",
                false,
            ),
            (
                "cluster",
                vec![acl(
                    Cluster,
                    "kafka-cluster",
                    lit,
                    "User:alice",
                    "*",
                    Alter,
                    Allow,
                )],
                strict,
                ALICE,
                Alter,
                Cluster,
                "kafka-cluster",
                true,
            ),
        ];
        for (what, acls, config, who, op, rt, name, expected) in cases {
            assert_eq!(
                config.authorize(&acls, who, op, rt, name),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn authorize_by_resource_type() {
        let lit = PatternType::Literal;
        let pre = PatternType::Prefixed;
        let c = AuthorizerConfig::default();
        let write_t = acl(Topic, "t", lit, "User:alice", "*", Write, Allow);
        assert!(c.authorize_any(std::slice::from_ref(&write_t), ALICE, Write, Topic));
        assert!(!c.authorize_any(std::slice::from_ref(&write_t), ALICE, Write, Group));
        let deny_all = acl(Topic, "*", lit, "User:alice", "*", Write, Deny);
        assert!(!c.authorize_any(&[write_t.clone(), deny_all], ALICE, Write, Topic));
        let deny_prefix = acl(Topic, "", pre, "User:alice", "*", Write, Deny);
        assert!(!c.authorize_any(&[write_t.clone(), deny_prefix], ALICE, Write, Topic));
        let deny_other = acl(Topic, "u", lit, "User:alice", "*", Write, Deny);
        assert!(c.authorize_any(&[write_t, deny_other], ALICE, Write, Topic));
        assert!(!c.authorize_any(&[], ALICE, Write, Topic));
    }
}
