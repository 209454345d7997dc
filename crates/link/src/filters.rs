//! Filter documents, in Confluent's JSON format.
//!
//! ```json
//! {"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"},
//!                  {"name":"test-","patternType":"PREFIXED","filterType":"EXCLUDE"}]}
//! {"groupFilters":[{"name":"foo","patternType":"PREFIXED"}]}
//! {"aclFilters":[{"resourceFilter":{"resourceType":"topic","name":"foo","patternType":"prefixed"},
//!                 "accessFilter":{"principal":"User:Bob","operation":"read","permissionType":"allow"}}]}
//! ```
//!
//! Rules (Confluent's, from the 2020 source and docs): enum values are case-insensitive;
//! `filterType` defaults to INCLUDE; `"*"` with LITERAL means every name; a name is selected
//! when some INCLUDE matches and no EXCLUDE does; unknown fields and null arrays are errors.
//! ACL filters follow Kafka's `AclBindingFilter` matching (ANY / MATCH pattern types, a
//! missing name, principal or host means any).

use serde::Deserialize;

/// A filter document that could not be accepted; the message says which field and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {document}: {message}")]
pub struct FilterError {
    pub document: &'static str,
    pub message: String,
}

fn parse_err(document: &'static str, e: serde_json::Error) -> FilterError {
    FilterError {
        document,
        message: e.to_string(),
    }
}

/// How a name filter's `name` is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamePattern {
    Literal,
    Prefixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    Include,
    Exclude,
}

/// One entry of `topicFilters` or `groupFilters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFilter {
    pub name: String,
    pub pattern_type: NamePattern,
    pub filter_type: FilterType,
}

impl NameFilter {
    pub fn matches(&self, name: &str) -> bool {
        match self.pattern_type {
            NamePattern::Literal => self.name == "*" || self.name == name,
            NamePattern::Prefixed => name.starts_with(&self.name),
        }
    }
}

/// A list of name filters: `topicFilters` or `groupFilters`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameFilters {
    pub filters: Vec<NameFilter>,
}

impl NameFilters {
    /// Selected when an INCLUDE matches and no EXCLUDE does.
    pub fn selects(&self, name: &str) -> bool {
        let mut included = false;
        for f in &self.filters {
            if f.matches(name) {
                match f.filter_type {
                    FilterType::Exclude => return false,
                    FilterType::Include => included = true,
                }
            }
        }
        included
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawNameFilter {
    name: String,
    pattern_type: Option<String>,
    filter_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTopicFilters {
    topic_filters: Vec<RawNameFilter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGroupFilters {
    group_filters: Vec<RawNameFilter>,
}

fn convert_names(
    document: &'static str,
    field: &str,
    raw: Vec<RawNameFilter>,
) -> Result<NameFilters, FilterError> {
    let err = |i: usize, message: String| FilterError {
        document,
        message: format!("{field}[{i}]: {message}"),
    };
    let mut filters = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        if r.name.is_empty() {
            return Err(err(i, "name must not be empty".into()));
        }
        let pattern_type = match r
            .pattern_type
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("LITERAL") => NamePattern::Literal,
            Some("PREFIXED") => NamePattern::Prefixed,
            Some(other) => {
                return Err(err(
                    i,
                    format!("patternType '{other}' is not LITERAL or PREFIXED"),
                ))
            }
        };
        let filter_type = match r
            .filter_type
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("INCLUDE") => FilterType::Include,
            Some("EXCLUDE") => FilterType::Exclude,
            Some(other) => {
                return Err(err(
                    i,
                    format!("filterType '{other}' is not INCLUDE or EXCLUDE"),
                ))
            }
        };
        if pattern_type == NamePattern::Prefixed && r.name == "*" {
            return Err(err(
                i,
                "name '*' is only meaningful with patternType LITERAL".into(),
            ));
        }
        filters.push(NameFilter {
            name: r.name,
            pattern_type,
            filter_type,
        });
    }
    Ok(NameFilters { filters })
}

/// Parses a `{"topicFilters": [...]}` document.
pub fn parse_topic_filters(json: &str) -> Result<NameFilters, FilterError> {
    const DOC: &str = "topic filters (auto.create.mirror.topics.filters)";
    let raw: RawTopicFilters = serde_json::from_str(json).map_err(|e| parse_err(DOC, e))?;
    convert_names(DOC, "topicFilters", raw.topic_filters)
}

/// Parses a `{"groupFilters": [...]}` document.
pub fn parse_group_filters(json: &str) -> Result<NameFilters, FilterError> {
    const DOC: &str = "consumer group filters (consumer.offset.group.filters)";
    let raw: RawGroupFilters = serde_json::from_str(json).map_err(|e| parse_err(DOC, e))?;
    convert_names(DOC, "groupFilters", raw.group_filters)
}

/// Kafka's resource types (`org.apache.kafka.common.resource.ResourceType` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Any = 1,
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
    DelegationToken = 6,
    User = 7,
}

/// Kafka's pattern types (`PatternType` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternType {
    Any = 1,
    Match = 2,
    Literal = 3,
    Prefixed = 4,
}

/// Kafka's ACL operations (`AclOperation` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOperation {
    Any = 1,
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
}

/// Kafka's permission types (`AclPermissionType` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionType {
    Any = 1,
    Deny = 2,
    Allow = 3,
}

/// One ACL: a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

/// One entry of `aclFilters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission_type: PermissionType,
}

impl AclFilter {
    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, b: &AclBinding) -> bool {
        let resource_ok =
            self.resource_type == ResourceType::Any || self.resource_type as i8 == b.resource_type;
        let pattern_ok = match self.pattern_type {
            PatternType::Any => self.name.as_ref().is_none_or(|n| *n == b.resource_name),
            PatternType::Match => match &self.name {
                None => true,
                Some(n) => {
                    if b.pattern_type == PatternType::Literal as i8 {
                        b.resource_name == *n || b.resource_name == "*"
                    } else if b.pattern_type == PatternType::Prefixed as i8 {
                        n.starts_with(&b.resource_name)
                    } else {
                        false
                    }
                }
            },
            exact => {
                exact as i8 == b.pattern_type
                    && self.name.as_ref().is_none_or(|n| *n == b.resource_name)
            }
        };
        let principal_ok = self.principal.as_ref().is_none_or(|p| *p == b.principal);
        let host_ok = self.host.as_ref().is_none_or(|h| *h == b.host);
        let op_ok = self.operation == AclOperation::Any || self.operation as i8 == b.operation;
        let perm_ok = self.permission_type == PermissionType::Any
            || self.permission_type as i8 == b.permission_type;
        resource_ok && pattern_ok && principal_ok && host_ok && op_ok && perm_ok
    }
}

/// A list of ACL filters (`aclFilters`); a binding is selected when any filter matches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclFilters {
    pub filters: Vec<AclFilter>,
}

impl AclFilters {
    pub fn selects(&self, b: &AclBinding) -> bool {
        self.filters.iter().any(|f| f.matches(b))
    }
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAclFilters {
    acl_filters: Vec<RawAclFilter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAclFilter {
    resource_filter: RawResourceFilter,
    access_filter: RawAccessFilter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawResourceFilter {
    resource_type: String,
    name: Option<String>,
    pattern_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAccessFilter {
    principal: Option<String>,
    host: Option<String>,
    operation: String,
    permission_type: String,
}

/// Lower-case with `_` and `-` removed, so `describeConfigs`, `DESCRIBE_CONFIGS` and
/// `describe-configs` are one value.
fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Parses an `{"aclFilters": [...]}` document.
pub fn parse_acl_filters(json: &str) -> Result<AclFilters, FilterError> {
    const DOC: &str = "ACL filters (acl.filters)";
    let raw: RawAclFilters = serde_json::from_str(json).map_err(|e| parse_err(DOC, e))?;
    let mut filters = Vec::with_capacity(raw.acl_filters.len());
    for (i, r) in raw.acl_filters.into_iter().enumerate() {
        let err = |field: &str, value: &str, allowed: &str| FilterError {
            document: DOC,
            message: format!("aclFilters[{i}].{field}: '{value}' is not one of {allowed}"),
        };
        let rf = r.resource_filter;
        let af = r.access_filter;
        let resource_type = match norm(&rf.resource_type).as_str() {
            "any" => ResourceType::Any,
            "topic" => ResourceType::Topic,
            "group" => ResourceType::Group,
            "cluster" => ResourceType::Cluster,
            "transactionalid" => ResourceType::TransactionalId,
            "delegationtoken" => ResourceType::DelegationToken,
            "user" => ResourceType::User,
            _ => {
                return Err(err(
                    "resourceFilter.resourceType",
                    &rf.resource_type,
                    "any, topic, group, cluster, transactionalId, delegationToken, user",
                ))
            }
        };
        let pattern_type = match rf.pattern_type.as_deref().map(norm).as_deref() {
            None | Some("any") => PatternType::Any,
            Some("match") => PatternType::Match,
            Some("literal") => PatternType::Literal,
            Some("prefixed") => PatternType::Prefixed,
            Some(_) => {
                return Err(err(
                    "resourceFilter.patternType",
                    rf.pattern_type.as_deref().unwrap_or_default(),
                    "any, match, literal, prefixed",
                ))
            }
        };
        let operation = match norm(&af.operation).as_str() {
            "any" => AclOperation::Any,
            "all" => AclOperation::All,
            "read" => AclOperation::Read,
            "write" => AclOperation::Write,
            "create" => AclOperation::Create,
            "delete" => AclOperation::Delete,
            "alter" => AclOperation::Alter,
            "describe" => AclOperation::Describe,
            "clusteraction" => AclOperation::ClusterAction,
            "describeconfigs" => AclOperation::DescribeConfigs,
            "alterconfigs" => AclOperation::AlterConfigs,
            "idempotentwrite" => AclOperation::IdempotentWrite,
            "createtokens" => AclOperation::CreateTokens,
            "describetokens" => AclOperation::DescribeTokens,
            _ => return Err(err("accessFilter.operation", &af.operation, "any, all, read, write, create, delete, alter, describe, clusterAction, describeConfigs, alterConfigs, idempotentWrite, createTokens, describeTokens")),
        };
        let permission_type = match norm(&af.permission_type).as_str() {
            "any" => PermissionType::Any,
            "allow" => PermissionType::Allow,
            "deny" => PermissionType::Deny,
            _ => {
                return Err(err(
                    "accessFilter.permissionType",
                    &af.permission_type,
                    "any, allow, deny",
                ))
            }
        };
        if let Some(p) = &af.principal {
            if !p.contains(':') {
                return Err(FilterError {
                    document: DOC,
                    message: format!("aclFilters[{i}].accessFilter.principal: '{p}' is not of the form Type:name (e.g. User:alice)"),
                });
            }
        }
        filters.push(AclFilter {
            resource_type,
            name: rf.name,
            pattern_type,
            principal: af.principal,
            host: af.host,
            operation,
            permission_type,
        });
    }
    Ok(AclFilters { filters })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_004_documents_parse() {
        let t = parse_topic_filters(r#"{ "topicFilters": [ { "name": "test-topic", "patternType": "LITERAL", "filterType": "INCLUDE" } ] }"#).unwrap();
        assert!(t.selects("test-topic"));
        assert!(!t.selects("test-topic2"));
        let g = parse_group_filters(r#"{ "groupFilters": [ { "name": "test-group", "patternType": "LITERAL", "filterType": "INCLUDE" } ] }"#).unwrap();
        assert!(g.selects("test-group"));
        let a = parse_acl_filters(r#"{ "aclFilters": [ { "resourceFilter": { "resourceType": "any", "patternType": "any" }, "accessFilter": { "operation": "any", "permissionType": "any" } } ] }"#).unwrap();
        let b = AclBinding {
            resource_type: 2,
            resource_name: "test-topic".into(),
            pattern_type: 3,
            principal: "User:test-user".into(),
            host: "*".into(),
            operation: 3,
            permission_type: 3,
        };
        assert!(a.selects(&b));
    }

    #[test]
    fn exclude_wins_star_and_prefix() {
        let t = parse_topic_filters(r#"{"topicFilters":[{"name":"*","patternType":"LITERAL","filterType":"INCLUDE"},{"name":"test-","patternType":"PREFIXED","filterType":"EXCLUDE"}]}"#).unwrap();
        assert!(t.selects("orders"));
        assert!(!t.selects("test-x"));
        let g = parse_group_filters(r#"{"groupFilters":[{"name":"foo","patternType":"PREFIXED","filterType":"INCLUDE"},{"name":"foobar","patternType":"LITERAL","filterType":"EXCLUDE"},{"name":"*","patternType":"literal"}]}"#).unwrap();
        assert!(g.selects("foox") && g.selects("other") && !g.selects("foobar"));
        assert!(
            !NameFilters::default().selects("anything"),
            "unmatched is excluded"
        );
    }

    #[test]
    fn bad_documents_name_the_field() {
        let e = parse_topic_filters(r#"{"topicFilters":[{"name":"a","patternType":"REGEX"}]}"#)
            .unwrap_err();
        assert!(
            e.message.contains("topicFilters[0]") && e.message.contains("REGEX"),
            "{e}"
        );
        let e =
            parse_topic_filters(r#"{"topicFilters":[{"name":"a","colour":"red"}]}"#).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
        assert!(parse_topic_filters(r#"{"topicFilters":null}"#).is_err());
        assert!(parse_topic_filters(r#"{"groupFilters":[]}"#).is_err());
        assert!(parse_topic_filters("not json").is_err());
        let e = parse_acl_filters(r#"{"aclFilters":[{"resourceFilter":{"resourceType":"table"},"accessFilter":{"operation":"any","permissionType":"any"}}]}"#).unwrap_err();
        assert!(
            e.message.contains("resourceType") && e.message.contains("table"),
            "{e}"
        );
        let e = parse_acl_filters(r#"{"aclFilters":[{"resourceFilter":{"resourceType":"topic"},"accessFilter":{"principal":"bob","operation":"read","permissionType":"allow"}}]}"#).unwrap_err();
        assert!(e.message.contains("principal"), "{e}");
    }

    #[test]
    fn acl_match_semantics() {
        let binding = |name: &str, pattern: i8| AclBinding {
            resource_type: 2,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:bob".into(),
            host: "*".into(),
            operation: 3,
            permission_type: 3,
        };
        let f = parse_acl_filters(r#"{"aclFilters":[{"resourceFilter":{"resourceType":"topic","name":"foo-1","patternType":"match"},"accessFilter":{"operation":"read","permissionType":"allow"}}]}"#).unwrap();
        assert!(f.selects(&binding("foo-1", 3)));
        assert!(f.selects(&binding("foo-", 4)));
        assert!(f.selects(&binding("*", 3)));
        assert!(!f.selects(&binding("bar", 3)));
        let f = parse_acl_filters(r#"{"aclFilters":[{"resourceFilter":{"resourceType":"topic","name":"foo","patternType":"prefixed"},"accessFilter":{"principal":"User:bob","host":"*","operation":"describeConfigs","permissionType":"allow"}}]}"#).unwrap();
        assert!(!f.selects(&binding("foo", 4)), "operation differs");
    }
}
