//! TLS for `SSL` and `SASL_SSL` listeners: a rustls server configuration per listener,
//! built at start-up from PEM material the Kafka way (`ssl.keystore.type=PEM` with
//! `ssl.keystore.location` holding key and certificate, or inline
//! `ssl.keystore.certificate.chain` + `ssl.keystore.key`; `ssl.truststore.*` and
//! `ssl.client.auth` for mutual TLS).
//!
//! Every failure is a start-up error that names the config key and the file: unreadable,
//! not PEM, no certificate, no key, an encrypted key, or a certificate outside its validity
//! period. The crypto provider is `ring`, chosen explicitly (no process-wide default).
//!
//! `ssl.enabled.protocols` (TLSv1.2, TLSv1.3) and `ssl.cipher.suites` (IANA/Java names
//! mapped to rustls' ring suites) shape the rustls configuration; anything rustls cannot do
//! is refused at start-up naming the key.
//!
//! With client authentication, the principal is Kafka's default mapping of the client
//! certificate's subject (`User:CN=alice,OU=eng`, RFC 2253 order); without a client
//! certificate it stays `User:ANONYMOUS`.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// Where a PEM blob came from, for error messages: the key and, for files, the path.
#[derive(Debug, Clone)]
pub struct PemSource {
    pub key: String,
    pub file: Option<String>,
    pub bytes: Vec<u8>,
}

impl PemSource {
    fn describe(&self) -> String {
        match &self.file {
            Some(f) => format!("{} ({f})", self.key),
            None => self.key.clone(),
        }
    }
}

/// Reads `path` for config `key`; the error names both.
pub fn read_pem_file(key: &str, path: &str) -> Result<PemSource, (String, String)> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(PemSource {
            key: key.to_string(),
            file: Some(path.to_string()),
            bytes,
        }),
        Err(e) => Err((key.to_string(), format!("cannot read '{path}': {e}"))),
    }
}

type TlsResult<T> = Result<T, (String, String)>;

fn certs(source: &PemSource) -> TlsResult<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&source.bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| {
            (
                source.key.clone(),
                format!("{}: malformed PEM certificate block", source.describe()),
            )
        })?;
    if certs.is_empty() {
        return Err((
            source.key.clone(),
            format!("{}: no PEM CERTIFICATE block found", source.describe()),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    for cert in &certs {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| {
            (
                source.key.clone(),
                format!(
                    "{}: a certificate cannot be parsed as X.509",
                    source.describe()
                ),
            )
        })?;
        let validity = parsed.validity();
        if validity.not_after.timestamp() < now {
            return Err((
                source.key.clone(),
                format!(
                    "{}: certificate '{}' expired on {}",
                    source.describe(),
                    parsed.subject(),
                    validity.not_after
                ),
            ));
        }
        if validity.not_before.timestamp() > now {
            return Err((
                source.key.clone(),
                format!(
                    "{}: certificate '{}' is not valid before {}",
                    source.describe(),
                    parsed.subject(),
                    validity.not_before
                ),
            ));
        }
    }
    Ok(certs)
}

fn private_key(source: &PemSource) -> TlsResult<PrivateKeyDer<'static>> {
    if source.bytes.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err((
            source.key.clone(),
            format!(
                "{}: encrypted private keys are not supported; decrypt it (openssl pkcs8 -nocrypt)",
                source.describe()
            ),
        ));
    }
    // The PEM parser's own messages may echo key bytes; describe the failure instead.
    PrivateKeyDer::from_pem_slice(&source.bytes).map_err(|_| {
        (
            source.key.clone(),
            format!(
                "{}: no usable PEM PRIVATE KEY block found",
                source.describe()
            ),
        )
    })
}

/// The ring provider's cipher suites by IANA (= Java) name. TLS 1.3 suites are named
/// without a key exchange (`TLS_AES_128_GCM_SHA256`), as in the IANA registry and the JDK.
const CIPHER_SUITES: &[(&str, rustls::SupportedCipherSuite)] = {
    use rustls::crypto::ring::cipher_suite as cs;
    &[
        ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
        ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

/// The rustls suite of an `ssl.cipher.suites` entry; the error lists what is supported.
pub fn cipher_suite(name: &str) -> Result<rustls::SupportedCipherSuite, String> {
    CIPHER_SUITES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            format!(
                "cipher suite {name} is not supported; supported: {}",
                CIPHER_SUITES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// `ssl.enabled.protocols` and `ssl.cipher.suites` of a listener (`ssl.protocol` only
/// names the TLS context: a Kafka broker's engines offer `ssl.enabled.protocols`).
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// (key the value came from, TLS versions).
    pub protocols: (String, Vec<&'static rustls::SupportedProtocolVersion>),
    /// (key, suites); an empty list means every suite rustls' ring provider has.
    pub cipher_suites: (String, Vec<rustls::SupportedCipherSuite>),
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            protocols: (
                "ssl.enabled.protocols".into(),
                vec![&rustls::version::TLS12, &rustls::version::TLS13],
            ),
            cipher_suites: ("ssl.cipher.suites".into(), Vec::new()),
        }
    }
}

/// Builds a listener's TLS server configuration.
pub fn server_config(
    chain: &PemSource,
    key: &PemSource,
    trust: Option<&PemSource>,
    client_auth: ClientAuth,
    options: &TlsOptions,
) -> TlsResult<Arc<rustls::ServerConfig>> {
    let mut provider = rustls::crypto::ring::default_provider();
    let (suites_key, suites) = &options.cipher_suites;
    if !suites.is_empty() {
        provider.cipher_suites = suites.clone();
    }
    let (protocols_key, versions) = &options.protocols;
    if versions.is_empty() {
        return Err((protocols_key.clone(), "no TLS protocol enabled".to_string()));
    }
    // Every enabled version needs a suite, or clients of that version could never connect.
    for v in versions {
        if !provider.cipher_suites.iter().any(|s| s.version() == *v) {
            return Err((
                suites_key.clone(),
                format!(
                    "no configured cipher suite works with {:?}, which {protocols_key} enables",
                    v.version
                ),
            ));
        }
    }
    let provider = Arc::new(provider);
    let chain_certs = certs(chain)?;
    let key_der = private_key(key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| (protocols_key.clone(), e.to_string()))?;
    let builder = match (client_auth, trust) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err((
                "ssl.client.auth".to_string(),
                "requires a truststore (ssl.truststore.location or ssl.truststore.certificates) to verify client certificates".to_string(),
            ))
        }
        (mode, Some(trust)) => {
            let mut roots = RootCertStore::empty();
            for c in certs(trust)? {
                roots.add(c).map_err(|e| {
                    (
                        trust.key.clone(),
                        format!("{}: unusable CA certificate: {e}", trust.describe()),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| (trust.key.clone(), format!("{}: {e}", trust.describe())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain_certs, key_der)
        .map_err(|e| {
            (
                key.key.clone(),
                format!(
                    "{}: the private key does not fit the certificate in {}: {e}",
                    key.describe(),
                    chain.describe()
                ),
            )
        })?;
    Ok(Arc::new(config))
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// Kafka's DEFAULT principal mapping for a client certificate: the subject distinguished
/// name in RFC 2253 form (most significant RDN last), prefixed with `User:`.
pub fn principal_from_cert(cert: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    let rdns: Vec<String> = parsed
        .subject()
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let name = short_name(&oid).map_or(oid.clone(), str::to_string);
                    let value = atv.as_str().unwrap_or_default();
                    format!("{name}={}", escape_rdn_value(value))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    (!rdns.is_empty()).then(|| format!("User:{}", rdns.join(",")))
}

fn escape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
