//! SASL/PLAIN and ACL set-ups of the in-process tests: a broker's PLAIN users and
//! authorizer overrides, the client properties of one PLAIN login, and ALLOW bindings.

use std::collections::BTreeMap;

use strait_client::acls::{AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType};
use strait_client::ClientConfig;

/// The broker-side PLAIN JAAS config: `admin` (password `admin-secret`) plus `users`.
pub fn plain_server_jaas(users: &[(&str, &str)]) -> String {
    let mut jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required \
        username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\""
        .to_string();
    for (user, password) in users {
        jaas.push_str(&format!(" user_{user}=\"{password}\""));
    }
    jaas.push(';');
    jaas
}

/// Broker overrides for `listeners` with PLAIN on its SASL_PLAINTEXT listener (`admin` and
/// `users`) and the StandardAuthorizer, `User:admin` a super user.
pub fn sasl_acl_overrides(listeners: &str, users: &[(&str, &str)]) -> Vec<String> {
    vec![
        format!("listeners={listeners}"),
        format!(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config={}",
            plain_server_jaas(users)
        ),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
        "super.users=User:admin".into(),
    ]
}

/// The client properties of a SASL_PLAINTEXT PLAIN login as `user` to `bootstrap` (also
/// what a link's config carries to reach such a source).
pub fn plain_login(bootstrap: &str, user: &str, password: &str) -> Vec<(String, String)> {
    [
        ("bootstrap.servers", bootstrap.to_string()),
        ("security.protocol", "SASL_PLAINTEXT".into()),
        ("sasl.mechanism", "PLAIN".into()),
        (
            "sasl.jaas.config",
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=\"{password}\";"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A client config from `key=value` properties.
pub fn client_config(props: &[(String, String)]) -> ClientConfig {
    let props: BTreeMap<String, String> = props.iter().cloned().collect();
    ClientConfig::from_properties(&props).unwrap().0
}

/// An ALLOW binding of `op` on the literal resource `name` for `principal`, from any host.
pub fn allow_acl(principal: &str, rt: ResourceType, name: &str, op: AclOperation) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: principal.into(),
        host: "*".into(),
        operation: op,
        permission_type: AclPermissionType::Allow,
    }
}
