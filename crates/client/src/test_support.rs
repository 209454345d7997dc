//! In-process fake brokers for unit tests: a TCP (optionally TLS) listener on
//! 127.0.0.1:0 that answers each request frame, in order, with whatever a per-connection
//! handler returns. Handlers see raw frames so they can also speak SaslHandshake v0's
//! header-less tokens.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::Encodable;
use strait_protocol::frame::try_split_frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the fake does with one request.
pub enum Reply {
    /// A complete frame (size prefix included).
    Frame(Bytes),
    /// A frame after a delay (connection-wide: later requests wait, as in Kafka).
    After(Duration, Bytes),
    /// Raw bytes (for malformed replies).
    Raw(Bytes),
    /// Hang up.
    Close,
    /// Send nothing.
    Nothing,
}

pub type Handler = Box<dyn FnMut(Bytes) -> Reply + Send>;

/// A parsed Kafka request.
pub struct Req {
    pub header: RequestHeader,
    pub body: Bytes,
}

impl Req {
    pub fn key(&self) -> i16 {
        self.header.request_api_key
    }
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
    pub fn id(&self) -> i32 {
        self.header.correlation_id
    }
}

pub fn parse(frame: &Bytes) -> Option<Req> {
    let mut body = frame.clone();
    let header = strait_protocol::header::decode_request_header(&mut body).ok()?;
    Some(Req { header, body })
}

/// Encodes a response to `req` with the right header version.
pub fn respond<B: Encodable>(req: &Req, body: &B) -> Reply {
    match strait_protocol::response::encode_response(req.key(), req.version(), req.id(), body) {
        Ok(frame) => Reply::Frame(frame),
        Err(e) => panic!("fake broker cannot encode its reply: {e}"),
    }
}

/// An ApiVersions body listing `ranges`.
pub fn api_versions(ranges: &[(i16, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        ranges
            .iter()
            .map(|(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(*k)
                    .with_min_version(*min)
                    .with_max_version(*max)
            })
            .collect(),
    )
}

/// A handler that answers ApiVersions from `ranges` (with the v0 fallback for versions
/// above the listed ApiVersions max) and passes every other request to `f`.
pub fn kafka_handler(
    ranges: Vec<(i16, i16, i16)>,
    mut f: impl FnMut(Req) -> Reply + Send + 'static,
) -> Handler {
    Box::new(move |frame| {
        let Some(req) = parse(&frame) else {
            return Reply::Close;
        };
        if req.key() == 18 {
            let max = ranges.iter().find(|r| r.0 == 18).map(|r| r.2).unwrap_or(0);
            if req.version() > max {
                // Kafka's fallback: v0 body, v0 header, UNSUPPORTED_VERSION.
                let body = api_versions(&ranges).with_error_code(35);
                let mut buf = BytesMut::new();
                let size = 4 + body.compute_size(0).unwrap_or(0);
                buf.extend_from_slice(&(size as i32).to_be_bytes());
                buf.extend_from_slice(&req.id().to_be_bytes());
                body.encode(&mut buf, 0).unwrap_or(());
                return Reply::Frame(buf.freeze());
            }
            return respond(&req, &api_versions(&ranges));
        }
        f(req)
    })
}

/// A running fake broker.
pub struct FakeBroker {
    pub addr: String,
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBroker {
    pub async fn start(factory: impl Fn() -> Handler + Send + Sync + 'static) -> Self {
        Self::start_inner(None, factory).await
    }

    pub async fn start_tls(
        acceptor: TlsAcceptor,
        factory: impl Fn() -> Handler + Send + Sync + 'static,
    ) -> Self {
        Self::start_inner(Some(acceptor), factory).await
    }

    async fn start_inner(
        acceptor: Option<TlsAcceptor>,
        factory: impl Fn() -> Handler + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let factory = Arc::new(factory);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let handler = factory();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(tcp, handler).await,
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve(tls, handler).await;
                            }
                        }
                    }
                });
            }
        });
        FakeBroker {
            addr: format!("127.0.0.1:{port}"),
            port,
            task,
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, mut handler: Handler) {
    let mut buf = BytesMut::new();
    loop {
        let frame = loop {
            match try_split_frame(&mut buf, 1 << 20) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(_) => return,
            }
            match io.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let out = match handler(frame) {
            Reply::Frame(b) | Reply::Raw(b) => b,
            Reply::After(d, b) => {
                tokio::time::sleep(d).await;
                b
            }
            Reply::Close => return,
            Reply::Nothing => continue,
        };
        if io.write_all(&out).await.is_err() || io.flush().await.is_err() {
            return;
        }
    }
}

/// A test CA and certificates signed by it (rcgen).
pub struct TestPki {
    pub ca_pem: String,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestPki {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "strait test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestPki {
            ca_pem: cert.pem(),
            ca: rcgen::Issuer::new(params, key),
        }
    }

    /// `(cert PEM, key PEM)` for `names` (DNS names or IP literals).
    pub fn leaf(&self, names: &[&str], client: bool) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A TLS acceptor presenting a certificate for `names`; requires client certificates
    /// signed by this CA when `require_client_cert`.
    pub fn acceptor(&self, names: &[&str], require_client_cert: bool) -> TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (cert, key) = self.leaf(names, false);
        let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_single_cert(chain, key).unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}
