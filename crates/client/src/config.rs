//! Client configuration, read from Kafka client properties.
//!
//! This module owns the mapping from Kafka's property names (`bootstrap.servers`,
//! `security.protocol`, `sasl.*`, `ssl.*`, timeouts) to a typed [`ClientConfig`]. It reads
//! PEM files at parse time so that a bad path or a bad certificate is reported once, with
//! the property that named it, rather than on every connection attempt.
//!
//! Invariants:
//! * Secrets (passwords, the JAAS text, private keys) are held in types whose `Debug`
//!   prints a placeholder, and no [`ConfigError`] message contains a secret value.
//! * Unknown keys are not errors: [`ClientConfig::from_properties`] returns them so each
//!   caller (link config, CLI, test) decides whether to warn or refuse.

use std::collections::BTreeMap;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ConfigError;
use crate::jaas;

/// A secret string. `Debug` prints `Secret(***)`; there is deliberately no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// `sasl.mechanism` values this client implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    /// The name sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
    fn login_module(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            }
        }
    }
}

/// Credentials for SASL/PLAIN or SASL/SCRAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
    /// SCRAM `tokenauth=true` extension (delegation tokens).
    pub token_auth: bool,
}

/// Where server certificates are anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustRoots {
    /// The operating system's store (Kafka's JVM default truststore equivalent).
    System,
    /// `ssl.truststore.*` with type PEM.
    Pem(Vec<CertificateDer<'static>>),
}

/// A client certificate chain and its private key (mTLS), from `ssl.keystore.*`.
pub struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain_len", &self.chain.len())
            .field("key", &"***")
            .finish()
    }
}

/// TLS settings for `SSL` and `SASL_SSL`.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub roots: TrustRoots,
    pub identity: Option<ClientIdentity>,
    /// `ssl.endpoint.identification.algorithm`: `https` (default) checks the broker's host
    /// name against its certificate; an empty value only checks the chain.
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            roots: TrustRoots::System,
            identity: None,
            verify_hostname: true,
        }
    }
}

/// Everything a [`crate::Client`] or [`crate::Connection`] needs to reach a cluster.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `bootstrap.servers`, as `host:port` strings.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`, sent in every request header.
    pub client_id: String,
    pub security_protocol: SecurityProtocol,
    /// Set exactly when `security_protocol` uses SASL.
    pub sasl: Option<SaslConfig>,
    /// Set exactly when `security_protocol` uses TLS.
    pub tls: Option<TlsConfig>,
    /// `request.timeout.ms` (default 30 s). A request that times out closes its
    /// connection, as Kafka's Java client does, because its response may still arrive.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms` (default 10 s): TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// Largest response frame accepted (default 256 MiB). Bigger frames close the
    /// connection: the client never allocates more than this for one response.
    pub max_response_bytes: usize,
    /// Opens connection streams instead of TCP (not a Kafka property: set in code, see
    /// [`crate::dial`]).
    pub dialer: Option<crate::dial::DialerRef>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: Vec::new(),
            client_id: "strait".to_string(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 256 * 1024 * 1024,
            dialer: None,
        }
    }
}

/// Properties this module understands. Anything else is returned as ignored.
pub const KNOWN_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "security.protocol",
    "sasl.mechanism",
    "sasl.jaas.config",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
];

impl ClientConfig {
    /// A plaintext configuration for `bootstrap` (`host:port[,host:port...]`).
    pub fn plaintext(bootstrap: &str) -> Self {
        ClientConfig {
            bootstrap_servers: split_servers(bootstrap),
            ..ClientConfig::default()
        }
    }

    /// Parses Java properties text (a client config file) and then
    /// [`ClientConfig::from_properties`].
    pub fn from_properties_text(text: &str) -> Result<(Self, Vec<String>), ConfigError> {
        let map = strait_protocol::properties::parse(text)
            .map_err(|e| ConfigError::new("properties", e.to_string()))?;
        Self::from_properties(&map)
    }

    /// Builds a configuration from Kafka client properties. Returns the keys it did not
    /// recognise (sorted) so the caller can warn about or reject them.
    pub fn from_properties(
        props: &BTreeMap<String, String>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut config = ClientConfig::default();

        if let Some(servers) = get("bootstrap.servers") {
            config.bootstrap_servers = split_servers(servers);
            for server in &config.bootstrap_servers {
                parse_host_port(server).map_err(|m| ConfigError::new("bootstrap.servers", m))?;
            }
        }
        if let Some(id) = props.get("client.id") {
            config.client_id = id.clone();
        }
        if let Some(ms) = get("request.timeout.ms") {
            config.request_timeout = parse_ms("request.timeout.ms", ms)?;
        }
        if let Some(ms) = get("socket.connection.setup.timeout.ms") {
            config.connect_timeout = parse_ms("socket.connection.setup.timeout.ms", ms)?;
        }
        config.security_protocol = match get("security.protocol")
            .map(|p| p.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("PLAINTEXT") => SecurityProtocol::Plaintext,
            Some("SSL") => SecurityProtocol::Ssl,
            Some("SASL_PLAINTEXT") => SecurityProtocol::SaslPlaintext,
            Some("SASL_SSL") => SecurityProtocol::SaslSsl,
            Some(other) => {
                return Err(ConfigError::new(
                    "security.protocol",
                    format!(
                    "unknown value '{other}'; expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                ),
                ))
            }
        };
        if config.security_protocol.uses_sasl() {
            config.sasl = Some(parse_sasl(props)?);
        }
        if config.security_protocol.uses_tls() {
            config.tls = Some(parse_tls(props)?);
        }

        let ignored = props
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        Ok((config, ignored))
    }
}

fn split_servers(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits `host:port` (IPv6 as `[::1]:9092`).
pub(crate) fn parse_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("'{addr}' is not [ipv6]:port"))?;
        (host, port)
    } else {
        addr.rsplit_once(':')
            .ok_or_else(|| format!("'{addr}' is not host:port"))?
    };
    if host.is_empty() {
        return Err(format!("'{addr}' has no host"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("'{addr}' has an invalid port"))?;
    Ok((host.to_string(), port))
}

fn parse_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::new(key, format!("'{value}' is not a number of milliseconds")))
}

fn parse_sasl(props: &BTreeMap<String, String>) -> Result<SaslConfig, ConfigError> {
    // Kafka's default mechanism is GSSAPI, which we do not implement; say so explicitly.
    let mechanism_name = props
        .get("sasl.mechanism")
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "GSSAPI".to_string());
    let mechanism = match mechanism_name.as_str() {
        "PLAIN" => SaslMechanism::Plain,
        "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
        "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
        other => {
            return Err(ConfigError::new(
                "sasl.mechanism",
                format!(
                    "'{other}' is not supported (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512){}",
                    if props.contains_key("sasl.mechanism") {
                        ""
                    } else {
                        "; it is Kafka's default when sasl.mechanism is not set"
                    }
                ),
            ))
        }
    };
    let key = "sasl.jaas.config";
    let text = props.get(key).map(|s| s.as_str()).unwrap_or("");
    if text.trim().is_empty() {
        return Err(ConfigError::new(
            key,
            format!(
                "is required for {mechanism_name}; e.g. {} required username=\"...\" password=\"...\";",
                mechanism.login_module()
            ),
        ));
    }
    let entry = jaas::parse(text).map_err(|m| ConfigError::new(key, m))?;
    if entry.login_module != mechanism.login_module() {
        return Err(ConfigError::new(
            key,
            format!(
                "login module {} does not match sasl.mechanism={mechanism_name}; expected {}",
                entry.login_module,
                mechanism.login_module()
            ),
        ));
    }
    let username = entry
        .options
        .get("username")
        .cloned()
        .ok_or_else(|| ConfigError::new(key, "has no username option"))?;
    let password = entry
        .options
        .get("password")
        .cloned()
        .ok_or_else(|| ConfigError::new(key, "has no password option"))?;
    let token_auth = match entry
        .options
        .get("tokenauth")
        .map(|v| v.to_ascii_lowercase())
    {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(_) => {
            return Err(ConfigError::new(
                key,
                "option 'tokenauth' must be true or false",
            ))
        }
    };
    if token_auth && mechanism == SaslMechanism::Plain {
        return Err(ConfigError::new(
            key,
            "option 'tokenauth' only applies to SCRAM mechanisms",
        ));
    }
    Ok(SaslConfig {
        mechanism,
        username,
        password: Secret::new(password),
        token_auth,
    })
}

/// Reads PEM text from `inline_key` (the value itself) or `location_key` (a file path).
fn pem_source(
    props: &BTreeMap<String, String>,
    location_key: &str,
    inline_key: &str,
) -> Result<Option<(String, Vec<u8>)>, ConfigError> {
    let location = props
        .get(location_key)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let inline = props
        .get(inline_key)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    match (location, inline) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            inline_key,
            format!("cannot be combined with {location_key}; set one of them"),
        )),
        (Some(path), None) => std::fs::read(path)
            .map(|bytes| Some((location_key.to_string(), bytes)))
            .map_err(|e| ConfigError::new(location_key, format!("cannot read '{path}': {e}"))),
        (None, Some(text)) => Ok(Some((inline_key.to_string(), text.as_bytes().to_vec()))),
        (None, None) => Ok(None),
    }
}

fn require_pem_type(
    props: &BTreeMap<String, String>,
    type_key: &str,
    source_key: &str,
    bytes: &[u8],
) -> Result<(), ConfigError> {
    match props.get(type_key).map(|t| t.trim().to_ascii_uppercase()) {
        Some(t) if t == "PEM" => Ok(()),
        // Kafka would default to JKS here; accept an untyped store only if it is PEM text.
        None if bytes.windows(10).any(|w| w == b"-----BEGIN") => Ok(()),
        None => Err(ConfigError::new(
            type_key,
            format!("{source_key} is not PEM; only ssl.*.type=PEM is supported (convert JKS/PKCS12 stores with openssl or keytool)"),
        )),
        Some(other) => Err(ConfigError::new(
            type_key,
            format!("'{other}' is not supported; only PEM is (convert JKS/PKCS12 stores with openssl or keytool)"),
        )),
    }
}

fn parse_certs(key: &str, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(key, format!("invalid PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(ConfigError::new(key, "contains no PEM certificate"));
    }
    Ok(certs)
}

fn parse_tls(props: &BTreeMap<String, String>) -> Result<TlsConfig, ConfigError> {
    let mut tls = TlsConfig::default();
    match props
        .get("ssl.endpoint.identification.algorithm")
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("https") => tls.verify_hostname = true,
        Some("") => tls.verify_hostname = false,
        Some(other) => {
            return Err(ConfigError::new(
                "ssl.endpoint.identification.algorithm",
                format!("'{other}' is not supported; use https or an empty value"),
            ))
        }
    }

    if let Some((source, bytes)) = pem_source(
        props,
        "ssl.truststore.location",
        "ssl.truststore.certificates",
    )? {
        require_pem_type(props, "ssl.truststore.type", &source, &bytes)?;
        if props
            .get("ssl.truststore.password")
            .is_some_and(|p| !p.is_empty())
        {
            return Err(ConfigError::new(
                "ssl.truststore.password",
                "must not be set for a PEM truststore (as in Kafka)",
            ));
        }
        tls.roots = TrustRoots::Pem(parse_certs(&source, &bytes)?);
    }

    if props.get("ssl.key.password").is_some_and(|p| !p.is_empty())
        || props
            .get("ssl.keystore.password")
            .is_some_and(|p| !p.is_empty())
    {
        let key = if props.contains_key("ssl.key.password") {
            "ssl.key.password"
        } else {
            "ssl.keystore.password"
        };
        return Err(ConfigError::new(
            key,
            "encrypted private keys are not supported; provide an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key",
        ));
    }
    let location = props
        .get("ssl.keystore.location")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let chain = props
        .get("ssl.keystore.certificate.chain")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let key_pem = props
        .get("ssl.keystore.key")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let identity_sources: Option<(String, Vec<u8>, String, Vec<u8>)> =
        match (location, chain, key_pem) {
            (None, None, None) => None,
            (Some(path), None, None) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    ConfigError::new(
                        "ssl.keystore.location",
                        format!("cannot read '{path}': {e}"),
                    )
                })?;
                let k = "ssl.keystore.location".to_string();
                Some((k.clone(), bytes.clone(), k, bytes))
            }
            (None, Some(chain), Some(key)) => Some((
                "ssl.keystore.certificate.chain".to_string(),
                chain.as_bytes().to_vec(),
                "ssl.keystore.key".to_string(),
                key.as_bytes().to_vec(),
            )),
            (Some(_), _, _) => {
                return Err(ConfigError::new(
                    "ssl.keystore.location",
                    "cannot be combined with ssl.keystore.certificate.chain / ssl.keystore.key",
                ))
            }
            (None, Some(_), None) => {
                return Err(ConfigError::new(
                    "ssl.keystore.key",
                    "is required with ssl.keystore.certificate.chain",
                ))
            }
            (None, None, Some(_)) => {
                return Err(ConfigError::new(
                    "ssl.keystore.certificate.chain",
                    "is required with ssl.keystore.key",
                ))
            }
        };
    if let Some((chain_key, chain_bytes, key_key, key_bytes)) = identity_sources {
        require_pem_type(props, "ssl.keystore.type", &chain_key, &chain_bytes)?;
        let chain = parse_certs(&chain_key, &chain_bytes)?;
        if key_bytes.windows(9).any(|w| w == b"ENCRYPTED") {
            return Err(ConfigError::new(
                key_key,
                "holds an encrypted private key, which is not supported; decrypt it (openssl pkcs8 -nocrypt)",
            ));
        }
        // The PEM parser's own messages may echo input bytes; describe the failure instead.
        let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
            use rustls::pki_types::pem::Error as PemError;
            let why = match e {
                PemError::Base64Decode(_) => "invalid base64 inside the key block",
                PemError::MissingSectionEnd { .. } => "a PEM block has no END line",
                PemError::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
                PemError::NoItemsFound => "no PRIVATE KEY block found",
                _ => "the key cannot be read",
            };
            ConfigError::new(key_key, format!("no usable PEM private key: {why}"))
        })?;
        tls.identity = Some(ClientIdentity { chain, key });
    }
    Ok(tls)
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

    const SECRET: &str = "Sup3r-Secret-Pw";

    #[test]
    fn plaintext_defaults_and_ignored_keys() {
        let (c, ignored) = ClientConfig::from_properties(&props(&[
            ("bootstrap.servers", " a:9092, [::1]:9093 ,"),
            ("auto.create.mirror.topics.enable", "true"),
            ("request.timeout.ms", "1500"),
        ]))
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:9092", "[::1]:9093"]);
        assert_eq!(c.security_protocol, SecurityProtocol::Plaintext);
        assert!(c.sasl.is_none() && c.tls.is_none());
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(ignored, vec!["auto.create.mirror.topics.enable"]);
        assert_eq!(parse_host_port("[::1]:9093").unwrap(), ("::1".into(), 9093));
    }

    #[test]
    fn sasl_plain_and_scram_from_seed_style_config() {
        let text = format!(
            "bootstrap.servers=src:9092\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n  \
             username=\"link-user\" password=\"{SECRET}\";\n"
        );
        let (c, ignored) = ClientConfig::from_properties_text(&text).unwrap();
        assert!(ignored.is_empty());
        let sasl = c.sasl.clone().unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(sasl.username, "link-user");
        assert_eq!(sasl.password.expose(), SECRET);
        assert!(!format!("{c:?}").contains(SECRET));

        let (c, _) = ClientConfig::from_properties(&props(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password='p';",
            ),
        ]))
        .unwrap();
        assert_eq!(c.sasl.unwrap().mechanism, SaslMechanism::Plain);
    }

    #[test]
    fn errors_name_the_key_and_never_the_password() {
        let plain_module = "org.apache.kafka.common.security.plain.PlainLoginModule";
        let scram_module = "org.apache.kafka.common.security.scram.ScramLoginModule";
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (
                vec![("security.protocol", "SASL_SSLX".into())],
                "security.protocol",
            ),
            (
                vec![("security.protocol", "SASL_PLAINTEXT".into())],
                "sasl.mechanism",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT".into()),
                    ("sasl.mechanism", "PLAIN".into()),
                ],
                "sasl.jaas.config",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT".into()),
                    ("sasl.mechanism", "PLAIN".into()),
                    (
                        "sasl.jaas.config",
                        format!("{scram_module} required username=\"u\" password=\"{SECRET}\";"),
                    ),
                ],
                "sasl.jaas.config",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT".into()),
                    ("sasl.mechanism", "PLAIN".into()),
                    (
                        "sasl.jaas.config",
                        format!("{plain_module} required username=\"u\" password=\"{SECRET}"),
                    ),
                ],
                "sasl.jaas.config",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT".into()),
                    ("sasl.mechanism", "PLAIN".into()),
                    (
                        "sasl.jaas.config",
                        format!("{plain_module} required username=\"u\" {SECRET};"),
                    ),
                ],
                "sasl.jaas.config",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT".into()),
                    ("sasl.mechanism", "SCRAM-SHA-256".into()),
                    (
                        "sasl.jaas.config",
                        format!("{scram_module} required password=\"{SECRET}\";"),
                    ),
                ],
                "sasl.jaas.config",
            ),
            (
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.truststore.location", "/nonexistent/ca.pem".into()),
                ],
                "ssl.truststore.location",
            ),
            (
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.truststore.type", "JKS".into()),
                    ("ssl.truststore.certificates", "x".into()),
                ],
                "ssl.truststore.type",
            ),
            (
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.key.password", SECRET.into()),
                ],
                "ssl.key.password",
            ),
            (
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.endpoint.identification.algorithm", "dns".into()),
                ],
                "ssl.endpoint.identification.algorithm",
            ),
            (
                vec![
                    ("security.protocol", "SSL".into()),
                    ("ssl.keystore.type", "PEM".into()),
                    (
                        "ssl.keystore.certificate.chain",
                        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into(),
                    ),
                    (
                        "ssl.keystore.key",
                        format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----"),
                    ),
                ],
                "ssl.keystore.key",
            ),
            (
                vec![("request.timeout.ms", "soon".into())],
                "request.timeout.ms",
            ),
            (
                vec![("bootstrap.servers", "nohost".into())],
                "bootstrap.servers",
            ),
        ];
        for (pairs, key) in cases {
            let map: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            let err = ClientConfig::from_properties(&map).unwrap_err();
            assert_eq!(err.key, key, "{err}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(shown.starts_with(key), "{shown}");
        }
    }
}
