//! TLS for `SSL` / `SASL_SSL`: a rustls client configuration built once per client.
//!
//! Owns the translation of [`TlsConfig`] into rustls: trust anchors (PEM truststore or
//! the system store), the optional client identity (mTLS), and Kafka's
//! `ssl.endpoint.identification.algorithm=""`, which keeps full chain validation but skips
//! the host-name check. That is done by a verifier that delegates to rustls' WebPKI
//! verifier and forgives only the name-mismatch error, never any other failure.
//! The crypto provider is `ring`, chosen explicitly so no process-wide default is needed.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

use crate::config::{TlsConfig, TrustRoots};
use crate::error::ConfigError;

/// Builds the connector for `config`. Errors name the `ssl.*` key at fault.
pub fn connector(config: &TlsConfig) -> Result<TlsConnector, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &config.roots {
        TrustRoots::Pem(certs) => {
            for cert in certs {
                roots.add(cert.clone()).map_err(|e| {
                    ConfigError::new(
                        "ssl.truststore.location",
                        format!("unusable CA certificate: {e}"),
                    )
                })?;
            }
        }
        TrustRoots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ConfigError::new(
                    "ssl.truststore.location",
                    "is not set and the system trust store has no usable certificates; \
                     set ssl.truststore.type=PEM and ssl.truststore.location",
                ));
            }
        }
    }
    let roots = Arc::new(roots);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| ConfigError::new("ssl.truststore.location", format!("{e}")))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("ssl.protocol", format!("{e}")))?;
    let builder = if config.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier { inner: webpki }))
    };
    let client_config = match &config.identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| {
                ConfigError::new(
                    "ssl.keystore.location",
                    format!("unusable client certificate or key: {e}"),
                )
            })?,
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(client_config)))
}

/// The server name rustls checks the certificate against (DNS name or IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("'{host}' is not a valid TLS server name: {e}"))
}

/// Full WebPKI validation, except that a certificate valid for another name is accepted
/// (`ssl.endpoint.identification.algorithm=`).
#[derive(Debug)]
struct ChainOnlyVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // WebPKI checks the chain before the name, so reaching a name error means the
            // chain itself verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
