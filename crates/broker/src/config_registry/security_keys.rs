//! Security keys: listener protocols, TLS (PEM only), SASL and the ACL authorizer. They
//! are read by `crate::auth::config`; keys marked `per_listener` may be given as
//! `listener.name.<listener>.<key>` (listener name lower-case), which wins over `<key>`.
//! SASL JAAS entries may also be given per mechanism:
//! `listener.name.<listener>.<mechanism>.sasl.jaas.config`.

use super::{ConfigType, KeyDef, Support, Validator};

// One positional row per key keeps the table readable (a struct literal per key would
// triple its length).
#[allow(clippy::too_many_arguments)]
const fn key(
    name: &'static str,
    kind: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
    support: Support,
    per_listener: bool,
    doc: &'static str,
    example: &'static str,
) -> KeyDef {
    KeyDef {
        name,
        kind,
        default,
        validator,
        support,
        per_listener,
        doc,
        example,
    }
}

const PASSWORD_REFUSED: Support = Support::Refused(
    "Strait reads unencrypted PEM only; give the key as an unencrypted PKCS#8, PKCS#1 or SEC1 PEM block (openssl pkcs8 -nocrypt)",
);

fn protocol_map(v: &str) -> Result<(), String> {
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (_, proto) = item
            .split_once(':')
            .ok_or_else(|| format!("'{item}': expected LISTENER_NAME:SECURITY_PROTOCOL"))?;
        if crate::auth::config::SecurityProtocol::parse(proto.trim()).is_none() {
            return Err(format!(
                "'{item}': security protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            ));
        }
    }
    Ok(())
}

fn client_auth(v: &str) -> Result<(), String> {
    match v.to_ascii_lowercase().as_str() {
        "none" | "requested" | "required" => Ok(()),
        _ => Err("expected required, requested or none".into()),
    }
}

fn cipher_suites(v: &str) -> Result<(), String> {
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        crate::auth::tls::cipher_suite(name)?;
    }
    Ok(())
}

fn mechanisms(v: &str) -> Result<(), String> {
    for m in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if crate::auth::config::Mechanism::parse(&m.to_ascii_uppercase()).is_none() {
            return Err(format!(
                "mechanism {m} is not supported (Strait serves PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512)"
            ));
        }
    }
    Ok(())
}

fn authorizer(v: &str) -> Result<(), String> {
    let classes = crate::auth::config::AUTHORIZER_CLASSES;
    if v.is_empty() || classes.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "unknown authorizer; use one of {}",
            classes.join(", ")
        ))
    }
}

/// `<mechanism>.sasl.jaas.config` → `sasl.jaas.config` (per-listener, per-mechanism JAAS).
pub fn jaas_base(key: &str) -> Option<&'static str> {
    let (mechanism, rest) = key.split_once('.')?;
    (rest == "sasl.jaas.config"
        && crate::auth::config::Mechanism::parse(&mechanism.to_ascii_uppercase()).is_some())
    .then_some("sasl.jaas.config")
}

use ConfigType::{Boolean, List, Long, Password, String as Str};

pub const SECURITY_KEYS: &[KeyDef] = &[
    key("listener.security.protocol.map", Str,
        Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
        Validator::Custom(protocol_map), Support::Applied, false,
        "Security protocol of each listener name, e.g. INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL.",
        "PLAINTEXT:SASL_PLAINTEXT"),
    key("ssl.keystore.type", Str, Some("PEM"), Validator::None,
        Support::OnlyDefault("Strait reads no JKS/PKCS12 stores (Kafka's default is JKS)"), true,
        "Keystore format: PEM only.", "PEM"),
    key("ssl.truststore.type", Str, Some("PEM"), Validator::None,
        Support::OnlyDefault("Strait reads no JKS/PKCS12 stores (Kafka's default is JKS)"), true,
        "Truststore format: PEM only.", "PEM"),
    key("ssl.keystore.location", Str, None, Validator::None, Support::Applied, true,
        "One PEM file with the private key and the certificate chain.", "/etc/strait/server.pem"),
    key("ssl.keystore.certificate.chain", Password, None, Validator::None, Support::Applied, true,
        "The certificate chain as inline PEM text (with ssl.keystore.key).", "-----BEGIN CERTIFICATE-----"),
    key("ssl.keystore.key", Password, None, Validator::None, Support::Applied, true,
        "The unencrypted private key as inline PEM text (with ssl.keystore.certificate.chain).", "-----BEGIN PRIVATE KEY-----"),
    key("ssl.truststore.location", Str, None, Validator::None, Support::Applied, true,
        "PEM file of CA certificates that verify client certificates.", "/etc/strait/ca.pem"),
    key("ssl.truststore.certificates", Password, None, Validator::None, Support::Applied, true,
        "CA certificates as inline PEM text.", "-----BEGIN CERTIFICATE-----"),
    key("ssl.key.password", Password, None, Validator::None, PASSWORD_REFUSED, true,
        "Password of an encrypted private key.", "secret"),
    key("ssl.keystore.password", Password, None, Validator::None, PASSWORD_REFUSED, true,
        "Keystore password.", "secret"),
    key("ssl.truststore.password", Password, None, Validator::None,
        Support::Refused("PEM truststores have no password"), true,
        "Truststore password.", "secret"),
    key("ssl.client.auth", Str, Some("none"), Validator::Custom(client_auth), Support::Applied, true,
        "required / requested: mutual TLS; the principal is then User:<subject DN> (Kafka's default mapping, e.g. User:CN=alice,O=acme).",
        "required"),
    key("ssl.enabled.protocols", List, Some("TLSv1.2,TLSv1.3"),
        Validator::ListOf(&["TLSv1.2", "TLSv1.3"]), Support::Applied, true,
        "TLS versions the listener offers (rustls: TLSv1.2 and TLSv1.3; older versions are refused).",
        "TLSv1.3"),
    key("ssl.protocol", Str, Some("TLSv1.3"), Validator::OneOf(&["TLSv1.2", "TLSv1.3", "TLS"]),
        Support::Applied, true,
        "The TLS context's protocol. On a broker, as in Kafka (which sets its engines' enabled protocols), the versions offered are ssl.enabled.protocols; versions rustls lacks (TLSv1, TLSv1.1, SSLv3) are refused.",
        "TLSv1.2"),
    key("ssl.cipher.suites", List, None, Validator::Custom(cipher_suites), Support::Applied, true,
        "Cipher suites by IANA/Java name (TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, ...); empty = all rustls suites. An unsupported name is refused.",
        "TLS_AES_128_GCM_SHA256"),
    key("ssl.principal.mapping.rules", Str, Some("DEFAULT"), Validator::None,
        Support::OnlyDefault("custom certificate principal mapping rules are not supported yet"), true,
        "How a client certificate's subject becomes a principal: DEFAULT (User:<subject DN>).",
        "DEFAULT"),
    key("ssl.endpoint.identification.algorithm", Str, Some("https"), Validator::None,
        Support::Replication, true,
        "Host name verification of inter-broker TLS connections (there are none on a single node).",
        ""),
    key("sasl.enabled.mechanisms", List, Some("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
        Validator::Custom(mechanisms), Support::Applied, true,
        "SASL mechanisms a SASL listener serves (Kafka's default is GSSAPI, which Strait does not serve).",
        "SCRAM-SHA-512"),
    key("sasl.jaas.config", Password, None, Validator::None, Support::Applied, true,
        "PlainLoginModule required user_<name>=\"<password>\" ...; defines PLAIN users (also per listener and mechanism).",
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\";"),
    key("sasl.mechanism.inter.broker.protocol", Str, Some("GSSAPI"), Validator::None,
        Support::Replication, false,
        "SASL mechanism between brokers (there are none on a single node).", "PLAIN"),
    key("security.inter.broker.protocol", Str, Some("PLAINTEXT"),
        Validator::OneOf(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]), Support::Applied, false,
        "Security protocol between brokers: picks the inter-broker listener when inter.broker.listener.name is unset; cannot be combined with it. With several voters only PLAINTEXT (the replica fetchers do not speak TLS or SASL yet); a single node has no inter-broker connections.",
        "SSL"),
    key("connections.max.reauth.ms", Long, Some("0"), Validator::None,
        Support::OnlyDefault("Strait does not re-authenticate SASL connections (KIP-368)"), true,
        "SASL re-authentication interval; 0 = never.", "0"),
    key("principal.builder.class", ConfigType::Class,
        Some("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"),
        Validator::None, Support::OnlyDefault("custom principal builders are not supported"), true,
        "How a session's principal is built.",
        "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"),
    key("authorizer.class.name", Str, Some(""), Validator::Custom(authorizer), Support::Applied, false,
        "One of Kafka's ACL authorizers (StandardAuthorizer, AclAuthorizer) turns ACL enforcement on; empty = no authorization.",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
    key("super.users", Str, None, Validator::None, Support::Applied, false,
        "Principals that bypass ACLs, ';'-separated (User:admin;User:ops).", "User:admin"),
    key("allow.everyone.if.no.acl.found", Boolean, Some("false"), Validator::None, Support::Applied, false,
        "Allow access to resources that have no ACL.", "true"),
    key("strait.scram.credentials", Password, None, Validator::None, Support::Applied, false,
        "Bootstrap SCRAM users in kafka-storage --add-scram syntax (SCRAM-SHA-512=[name=alice,password=alice-secret];SCRAM-SHA-256=[name=bob,password=b,iterations=8192]), stored salted at start-up for users without a credential of that mechanism.",
        "SCRAM-SHA-512=[name=alice,password=alice-secret]"),
];
