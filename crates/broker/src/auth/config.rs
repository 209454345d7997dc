//! Security settings from `server.properties`, with Kafka's key names:
//!
//! * `listener.security.protocol.map` (`NAME:PROTOCOL,...`; the default maps each of
//!   PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL to itself);
//! * per listener, `listener.name.<name>.<key>` overrides `<key>` for `ssl.*` and
//!   `sasl.enabled.mechanisms`; SASL credentials come from
//!   `listener.name.<name>.<mechanism>.sasl.jaas.config`, then `sasl.jaas.config`
//!   (PlainLoginModule `user_<name>="<password>"` options define PLAIN users);
//! * `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`;
//! * `strait.scram.credentials`: bootstrap SCRAM users in `kafka-storage --add-scram`
//!   syntax (`SCRAM-SHA-512=[name=alice,password=alice-secret];...`), stored salted at
//!   start-up for users that have no credential of that mechanism yet.
//!
//! Errors name the key. Passwords are kept in [`Password`], whose `Debug` is redacted.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::authorizer::AuthorizerConfig;
use super::scram::ScramMechanism;
use super::tls::{self, ClientAuth, PemSource};

/// Kafka's four security protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// SASL mechanisms Strait serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PLAIN" => Some(Mechanism::Plain),
            other => ScramMechanism::from_name(other).map(Mechanism::Scram),
        }
    }
}

/// A secret from the config; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[hidden]")
    }
}

/// Everything one listener needs to secure a connection.
#[derive(Debug, Clone)]
pub struct ListenerSecurity {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub client_auth: ClientAuth,
    /// `sasl.enabled.mechanisms` for this listener (SASL listeners only).
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN users from the PlainLoginModule JAAS entry.
    pub plain_users: BTreeMap<String, Password>,
}

impl ListenerSecurity {
    /// A PLAINTEXT listener (tests, and brokers configured without security).
    pub fn plaintext(name: &str) -> Self {
        ListenerSecurity {
            name: name.to_string(),
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            client_auth: ClientAuth::None,
            mechanisms: Vec::new(),
            plain_users: BTreeMap::new(),
        }
    }
}

/// A bootstrap SCRAM credential from `strait.scram.credentials`.
#[derive(Debug, Clone)]
pub struct BootstrapScram {
    pub user: String,
    pub mechanism: ScramMechanism,
    pub password: Password,
    pub iterations: i32,
}

/// All security settings.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    pub listeners: Vec<ListenerSecurity>,
    /// `Some` when `authorizer.class.name` names one of Kafka's ACL authorizers.
    pub authorizer: Option<AuthorizerConfig>,
    pub bootstrap_scram: Vec<BootstrapScram>,
}

impl SecurityConfig {
    /// The settings of listener `name` (PLAINTEXT when unknown, e.g. in unit tests).
    pub fn listener(&self, name: &str) -> ListenerSecurity {
        self.listeners
            .iter()
            .find(|l| l.name == name)
            .cloned()
            .unwrap_or_else(|| ListenerSecurity::plaintext(name))
    }
}

/// Kafka's ACL authorizer class names; any of them turns enforcement on.
pub const AUTHORIZER_CLASSES: &[&str] = &[
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
    "kafka.security.auth.SimpleAclAuthorizer",
];

/// A config error: (key, value shown, reason). Values of secret keys are not shown.
pub type KeyError = (String, String, String);

fn err(key: &str, value: &str, reason: impl Into<String>) -> KeyError {
    (key.to_string(), value.to_string(), reason.into())
}

/// Parses `listener.security.protocol.map` (or its default).
pub fn protocol_map(
    props: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, SecurityProtocol>, KeyError> {
    let key = "listener.security.protocol.map";
    let mut map = BTreeMap::new();
    match props.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => {
            for p in ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] {
                if let Some(proto) = SecurityProtocol::parse(p) {
                    map.insert(p.to_string(), proto);
                }
            }
            // Kafka's KRaft rule for an unset map: every controller listener not in the
            // default map is PLAINTEXT, unless a controller listener or a listener is named
            // SSL or SASL_* (then nothing is added and the map must be spelled out).
            let names = |k: &str| -> Vec<String> {
                props.get(k).map_or_else(Vec::new, |v| {
                    v.split(',')
                        .map(|s| {
                            s.split("://")
                                .next()
                                .unwrap_or("")
                                .trim()
                                .to_ascii_uppercase()
                        })
                        .filter(|s| !s.is_empty())
                        .collect()
                })
            };
            let controllers = names("controller.listener.names");
            let secured = |n: &String| n == "SSL" || n.starts_with("SASL_");
            if !controllers.iter().chain(&names("listeners")).any(secured) {
                for c in controllers {
                    map.entry(c).or_insert(SecurityProtocol::Plaintext);
                }
            }
        }
        Some(v) => {
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (name, proto) = item
                    .split_once(':')
                    .ok_or_else(|| err(key, item, "expected LISTENER_NAME:SECURITY_PROTOCOL"))?;
                let proto = SecurityProtocol::parse(proto.trim()).ok_or_else(|| {
                    err(
                        key,
                        item,
                        "security protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                    )
                })?;
                map.insert(name.trim().to_ascii_uppercase(), proto);
            }
        }
    }
    Ok(map)
}

/// Parses every security setting for `listener_names` (already validated names).
pub fn parse(
    props: &BTreeMap<String, String>,
    listener_names: &[String],
) -> Result<SecurityConfig, KeyError> {
    let map = protocol_map(props)?;
    let mut listeners = Vec::new();
    for name in listener_names {
        let protocol = *map.get(name).ok_or_else(|| {
            err(
                "listener.security.protocol.map",
                props
                    .get("listener.security.protocol.map")
                    .map_or("", String::as_str),
                format!("has no security protocol for listener {name}"),
            )
        })?;
        listeners.push(listener(props, name, protocol)?);
    }
    Ok(SecurityConfig {
        listeners,
        authorizer: authorizer(props)?,
        bootstrap_scram: bootstrap_scram(props)?,
    })
}

/// `listener.name.<name>.<key>`, else `<key>`; returns the key actually used.
fn lookup<'a>(
    props: &'a BTreeMap<String, String>,
    listener: &str,
    key: &str,
) -> Option<(String, &'a str)> {
    let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
    props
        .get(&prefixed)
        .map(|v| (prefixed.clone(), v.trim()))
        .or_else(|| props.get(key).map(|v| (key.to_string(), v.trim())))
        .filter(|(_, v)| !v.is_empty())
}

fn listener(
    props: &BTreeMap<String, String>,
    name: &str,
    protocol: SecurityProtocol,
) -> Result<ListenerSecurity, KeyError> {
    let mut out = ListenerSecurity::plaintext(name);
    out.protocol = protocol;
    if protocol.uses_tls() {
        let (tls, client_auth) = tls_config(props, name)?;
        out.tls = Some(tls);
        out.client_auth = client_auth;
    }
    if protocol.uses_sasl() {
        let (key, value) = lookup(props, name, "sasl.enabled.mechanisms").unwrap_or_else(|| {
            (
                "sasl.enabled.mechanisms".into(),
                "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            )
        });
        for m in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let mech = Mechanism::parse(&m.to_ascii_uppercase()).ok_or_else(|| {
                err(
                    &key,
                    value,
                    format!("mechanism {m} is not supported (Strait serves PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512)"),
                )
            })?;
            if !out.mechanisms.contains(&mech) {
                out.mechanisms.push(mech);
            }
        }
        if out.mechanisms.is_empty() {
            return Err(err(&key, value, "no SASL mechanism enabled"));
        }
        if out.mechanisms.contains(&Mechanism::Plain) {
            out.plain_users = plain_users(props, name)?;
        }
    }
    Ok(out)
}

fn plain_users(
    props: &BTreeMap<String, String>,
    listener: &str,
) -> Result<BTreeMap<String, Password>, KeyError> {
    let l = listener.to_ascii_lowercase();
    let candidates = [
        format!("listener.name.{l}.plain.sasl.jaas.config"),
        format!("listener.name.{l}.sasl.jaas.config"),
        "sasl.jaas.config".to_string(),
    ];
    for key in candidates {
        let Some(text) = props.get(&key).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            continue;
        };
        // Never echo the value: it holds passwords.
        let entry = strait_client::jaas::parse(text).map_err(|e| err(&key, "[hidden]", e))?;
        if !entry.login_module.ends_with("PlainLoginModule") {
            continue;
        }
        return Ok(entry
            .options
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("user_")
                    .map(|u| (u.to_string(), Password(v.clone())))
            })
            .collect());
    }
    Ok(BTreeMap::new())
}

fn tls_config(
    props: &BTreeMap<String, String>,
    name: &str,
) -> Result<(Arc<rustls::ServerConfig>, ClientAuth), KeyError> {
    let map_err = |(key, reason): (String, String)| err(&key, "", reason);
    // ssl.keystore.type / ssl.truststore.type (PEM only) and the refused password keys are
    // enforced by the registry (crate::config_registry::security_keys) for every key
    // spelling, before this runs.
    let location = lookup(props, name, "ssl.keystore.location");
    let chain = lookup(props, name, "ssl.keystore.certificate.chain");
    let key = lookup(props, name, "ssl.keystore.key");
    let (chain_src, key_src) = match (location, chain, key) {
        (Some((k, path)), None, None) => {
            let src = tls::read_pem_file(&k, path).map_err(map_err)?;
            (src.clone(), src)
        }
        (None, Some((ck, c)), Some((kk, kv))) => (
            PemSource {
                key: ck,
                file: None,
                bytes: c.as_bytes().to_vec(),
            },
            PemSource {
                key: kk,
                file: None,
                bytes: kv.as_bytes().to_vec(),
            },
        ),
        (Some((k, v)), _, _) => {
            return Err(err(
                &k,
                v,
                "cannot be combined with ssl.keystore.certificate.chain / ssl.keystore.key",
            ))
        }
        (None, None, None) => {
            return Err(err(
                "ssl.keystore.location",
                "",
                format!("listener {name} uses TLS and needs ssl.keystore.location (PEM key + certificate) or ssl.keystore.certificate.chain + ssl.keystore.key"),
            ))
        }
        (None, Some((k, _)), None) => {
            return Err(err(&k, "", "needs ssl.keystore.key as well"))
        }
        (None, None, Some((k, _))) => {
            return Err(err(&k, "[hidden]", "needs ssl.keystore.certificate.chain as well"))
        }
    };
    let trust = match (
        lookup(props, name, "ssl.truststore.location"),
        lookup(props, name, "ssl.truststore.certificates"),
    ) {
        (Some((k, path)), _) => Some(tls::read_pem_file(&k, path).map_err(map_err)?),
        (None, Some((k, v))) => Some(PemSource {
            key: k,
            file: None,
            bytes: v.as_bytes().to_vec(),
        }),
        (None, None) => None,
    };
    let client_auth = match lookup(props, name, "ssl.client.auth") {
        None => ClientAuth::None,
        Some((k, v)) => match v.to_ascii_lowercase().as_str() {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => return Err(err(&k, v, "expected required, requested or none")),
        },
    };
    let config = tls::server_config(
        &chain_src,
        &key_src,
        trust.as_ref(),
        client_auth,
        &tls_options(props, name)?,
    )
    .map_err(map_err)?;
    Ok((config, client_auth))
}

/// `ssl.enabled.protocols`, `ssl.protocol` and `ssl.cipher.suites` of listener `name`.
fn tls_options(props: &BTreeMap<String, String>, name: &str) -> Result<tls::TlsOptions, KeyError> {
    let mut options = tls::TlsOptions::default();
    if let Some((key, v)) = lookup(props, name, "ssl.enabled.protocols") {
        let mut versions = Vec::new();
        for p in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let version: &'static rustls::SupportedProtocolVersion = match p {
                "TLSv1.2" => &rustls::version::TLS12,
                "TLSv1.3" => &rustls::version::TLS13,
                other => {
                    return Err(err(
                        &key,
                        v,
                        format!(
                            "protocol {other} is not supported (rustls offers TLSv1.2 and TLSv1.3)"
                        ),
                    ))
                }
            };
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        options.protocols = (key, versions);
    }
    // ssl.protocol names the SSLContext; on a Kafka broker it does not narrow the versions
    // its engines offer (those are ssl.enabled.protocols), so it is only checked to be a
    // context rustls can provide.
    if let Some((key, v)) = lookup(props, name, "ssl.protocol") {
        if !matches!(v, "TLSv1.2" | "TLSv1.3" | "TLS") {
            return Err(err(
                &key,
                v,
                "expected TLSv1.2, TLSv1.3 or TLS (rustls has no older protocols)",
            ));
        }
    }
    if let Some((key, v)) = lookup(props, name, "ssl.cipher.suites") {
        let mut suites = Vec::new();
        for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            suites.push(tls::cipher_suite(s).map_err(|e| err(&key, v, e))?);
        }
        options.cipher_suites = (key, suites);
    }
    Ok(options)
}

fn authorizer(props: &BTreeMap<String, String>) -> Result<Option<AuthorizerConfig>, KeyError> {
    let class = props
        .get("authorizer.class.name")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    let Some(class) = class else {
        return Ok(None);
    };
    if !AUTHORIZER_CLASSES.contains(&class) {
        return Err(err(
            "authorizer.class.name",
            class,
            format!(
                "unknown authorizer; use one of {}",
                AUTHORIZER_CLASSES.join(", ")
            ),
        ));
    }
    let mut config = AuthorizerConfig::default();
    if let Some(v) = props.get("super.users") {
        for p in v.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            super::acl::validate_principal(p).map_err(|e| err("super.users", v, e))?;
            config.super_users.push(p.to_string());
        }
    }
    if let Some(v) = props.get("allow.everyone.if.no.acl.found") {
        config.allow_everyone_if_no_acl_found = match v.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(err(
                    "allow.everyone.if.no.acl.found",
                    v,
                    "expected true or false",
                ))
            }
        };
    }
    Ok(Some(config))
}

fn bootstrap_scram(props: &BTreeMap<String, String>) -> Result<Vec<BootstrapScram>, KeyError> {
    let key = "strait.scram.credentials";
    let Some(text) = props.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(Vec::new());
    };
    let bad = |why: &str| err(key, "[hidden]", why.to_string());
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let (mech, after) = rest
            .split_once("=[")
            .ok_or_else(|| bad("expected MECHANISM=[name=...,password=...]"))?;
        let mechanism = ScramMechanism::from_name(mech.trim())
            .ok_or_else(|| bad("mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512"))?;
        let (body, after) = after
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after a credential"))?;
        let mut user = None;
        let mut password = None;
        let mut iterations = super::scram::MIN_ITERATIONS;
        for field in body.split(',') {
            let (k, v) = field.split_once('=').ok_or_else(|| {
                bad("credential fields are name=..., password=..., iterations=...")
            })?;
            let v = v.trim().trim_matches('"');
            match k.trim() {
                "name" => user = Some(v.to_string()),
                "password" => password = Some(v.to_string()),
                "iterations" => {
                    iterations = v
                        .parse()
                        .ok()
                        .filter(|i| {
                            (super::scram::MIN_ITERATIONS..=super::scram::MAX_ITERATIONS)
                                .contains(i)
                        })
                        .ok_or_else(|| bad("iterations must be between 4096 and 16384"))?
                }
                _ => {
                    return Err(bad(
                        "unknown credential field (use name, password, iterations)",
                    ))
                }
            }
        }
        out.push(BootstrapScram {
            user: user
                .filter(|u| !u.is_empty())
                .ok_or_else(|| bad("a credential has no name"))?,
            mechanism,
            password: Password(password.ok_or_else(|| bad("a credential has no password"))?),
            iterations,
        });
        rest = after;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unset_map_maps_controller_listeners_to_plaintext_as_kraft_does() {
        let base = [
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            ("controller.listener.names", "CONTROLLER"),
        ];
        let map = protocol_map(&props(&base)).unwrap();
        assert_eq!(map["CONTROLLER"], SecurityProtocol::Plaintext);
        assert_eq!(map["PLAINTEXT"], SecurityProtocol::Plaintext);
        // A listener named after SSL / SASL_*: nothing is added (Kafka's rule).
        let tls = props(&[
            (
                "listeners",
                "SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            ("controller.listener.names", "CONTROLLER"),
        ]);
        assert!(!protocol_map(&tls).unwrap().contains_key("CONTROLLER"));
        // A map that is set is taken as written.
        let mut set = props(&base);
        set.insert(
            "listener.security.protocol.map".into(),
            "PLAINTEXT:PLAINTEXT".into(),
        );
        assert!(!protocol_map(&set).unwrap().contains_key("CONTROLLER"));
    }

    #[test]
    fn plain_users_and_mechanisms_per_listener() {
        let p = props(&[
            ("listener.name.sasl_plaintext.plain.sasl.jaas.config",
             "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"x\" user_admin=\"admin-secret\" user_alice=\"alice-secret\";"),
            ("listener.name.sasl_plaintext.sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
        ]);
        let c = parse(&p, &["PLAINTEXT".into(), "SASL_PLAINTEXT".into()]).unwrap();
        let l = c.listener("SASL_PLAINTEXT");
        assert_eq!(l.protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(
            l.mechanisms,
            vec![Mechanism::Plain, Mechanism::Scram(ScramMechanism::Sha512)]
        );
        assert_eq!(l.plain_users["alice"], Password("alice-secret".into()));
        assert!(!format!("{c:?}").contains("alice-secret"));
        assert!(c.authorizer.is_none());
    }

    #[test]
    fn errors_name_the_key_and_hide_secrets() {
        for (pairs, names, key) in [
            (
                vec![("sasl.enabled.mechanisms", "GSSAPI")],
                vec!["SASL_PLAINTEXT"],
                "sasl.enabled.mechanisms",
            ),
            (
                vec![("authorizer.class.name", "com.example.Foo")],
                vec!["PLAINTEXT"],
                "authorizer.class.name",
            ),
            (
                vec![
                    ("authorizer.class.name", AUTHORIZER_CLASSES[0]),
                    ("super.users", "alice"),
                ],
                vec!["PLAINTEXT"],
                "super.users",
            ),
            (
                vec![("listener.security.protocol.map", "INTERNAL:PLAINTEXT")],
                vec!["EXTERNAL"],
                "listener.security.protocol.map",
            ),
            (
                vec![("listener.security.protocol.map", "A:TLS")],
                vec!["A"],
                "listener.security.protocol.map",
            ),
            (vec![], vec!["SSL"], "ssl.keystore.location"),
            (
                vec![("ssl.keystore.location", "/nonexistent/k.pem")],
                vec!["SSL"],
                "ssl.keystore.location",
            ),
            (
                vec![(
                    "strait.scram.credentials",
                    "SCRAM-SHA-1=[name=a,password=p]",
                )],
                vec!["PLAINTEXT"],
                "strait.scram.credentials",
            ),
            (
                vec![(
                    "sasl.jaas.config",
                    "PlainLoginModule required user_a=\"p4ss\"",
                )],
                vec!["SASL_SSL2"],
                "listener.security.protocol.map",
            ),
        ] {
            let names: Vec<String> = names.into_iter().map(String::from).collect();
            let e = parse(&props(&pairs), &names).unwrap_err();
            assert_eq!(e.0, key, "{e:?}");
            assert!(
                e.2.contains("/nonexistent") || key != "ssl.keystore.location" || pairs.is_empty(),
                "{e:?}"
            );
        }
        let e = parse(
            &props(&[(
                "sasl.jaas.config",
                "PlainLoginModule required user_a=\"p4ss\"",
            )]),
            &["SASL_PLAINTEXT".into()],
        )
        .unwrap_err();
        assert_eq!(e.0, "sasl.jaas.config");
        assert!(!format!("{e:?}").contains("p4ss"));
    }

    #[test]
    fn custom_listener_names_and_bootstrap_scram() {
        let p = props(&[
            ("listener.security.protocol.map", "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"),
            ("listener.name.external.sasl.enabled.mechanisms", "SCRAM-SHA-256"),
            ("strait.scram.credentials", "SCRAM-SHA-512=[name=alice,password=\"a-b\"] ; SCRAM-SHA-256=[name=bob,password=b,iterations=8192]"),
            ("authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"),
            ("super.users", "User:admin; User:ops"),
            ("allow.everyone.if.no.acl.found", "true"),
        ]);
        let c = parse(&p, &["INTERNAL".into(), "EXTERNAL".into()]).unwrap();
        assert_eq!(c.listener("INTERNAL").protocol, SecurityProtocol::Plaintext);
        assert_eq!(
            c.listener("EXTERNAL").protocol,
            SecurityProtocol::SaslPlaintext
        );
        let a = c.authorizer.unwrap();
        assert_eq!(a.super_users, vec!["User:admin", "User:ops"]);
        assert!(a.allow_everyone_if_no_acl_found);
        assert_eq!(c.bootstrap_scram.len(), 2);
        assert_eq!(c.bootstrap_scram[1].iterations, 8192);
    }
}
