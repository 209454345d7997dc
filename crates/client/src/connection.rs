//! One connection to one broker: TCP (optionally TLS), ApiVersions, SASL, then multiplexed
//! requests.
//!
//! # Lifecycle
//! 1. [`Connection::connect`] opens TCP (+TLS) within `connect_timeout`, then runs the
//!    handshake *sequentially* on the raw stream: ApiVersions (with the v0 fallback, see
//!    [`crate::wire::interpret_api_versions`]) and SASL. The handshake owns the stream, so
//!    SaslHandshake v0's raw, header-less tokens need no special case in the multiplexer.
//! 2. The stream is split. A **writer task** owns the write half and a **reader task** the
//!    read half; callers talk to them through a channel and oneshot replies.
//!
//! # Invariants
//! * Kafka answers requests on a connection in the order it received them. The writer
//!   appends each request to the in-flight queue *before* writing it, and the reader
//!   requires every response's correlation id to match the queue's front. Anything else is
//!   a protocol violation and closes the connection: nothing is ever matched by guesswork.
//! * Cancellation safety: a caller only hands a *complete* frame to the writer task, so a
//!   request future dropped at any point either sent nothing or sent a whole frame. If it
//!   sent a frame, its response is still read and discarded (its oneshot is closed); the
//!   stream never desynchronises.
//! * A response is never larger than `max_response_bytes`; the size prefix is checked
//!   before any body byte is buffered.
//! * Every failure is an error value; once closed, every in-flight and later request fails
//!   with the close reason, and [`Connection::is_usable`] turns false so pools reconnect.
//! * A request timeout closes the connection (as Kafka's Java client does): the response
//!   may still come, and everything queued behind it would wait anyway.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::{HeaderVersion, Message, Request, StrBytes};
use strait_protocol::frame::{try_split_frame, FrameError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::config::{ClientConfig, SaslConfig};
use crate::error::{ClientError, ConfigError};
use crate::versions::BrokerVersions;
use crate::wire::{self, api_name, ApiVersionsReply, API_VERSIONS_MAX};
use crate::{sasl, tls};

/// Requests queued for the writer before `send` waits (back-pressure, not a limit on
/// in-flight requests).
const WRITE_QUEUE: usize = 128;

pub(crate) use crate::dial::BoxIo;

/// Settings shared by all connections of a client, built once from a [`ClientConfig`]
/// (the TLS configuration is parsed and assembled here, not per connection).
#[derive(Clone)]
pub struct ConnectOptions {
    pub(crate) client_id: StrBytes,
    pub(crate) tls: Option<TlsConnector>,
    pub(crate) sasl: Option<SaslConfig>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    /// Opens the stream instead of TCP (see [`crate::dial`]).
    pub(crate) dialer: Option<crate::dial::DialerRef>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("client_id", &self.client_id.as_str())
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl ConnectOptions {
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        let tls = match (&config.tls, config.security_protocol.uses_tls()) {
            (Some(t), true) => Some(tls::connector(t)?),
            (None, true) => Some(tls::connector(&Default::default())?),
            (_, false) => None,
        };
        let sasl = if config.security_protocol.uses_sasl() {
            Some(config.sasl.clone().ok_or_else(|| {
                ConfigError::new(
                    "sasl.jaas.config",
                    format!(
                        "security.protocol={} needs SASL credentials",
                        config.security_protocol.name()
                    ),
                )
            })?)
        } else {
            None
        };
        Ok(ConnectOptions {
            client_id: StrBytes::from_string(config.client_id.clone()),
            tls,
            sasl,
            request_timeout: config.request_timeout,
            connect_timeout: config.connect_timeout,
            max_response_bytes: config.max_response_bytes,
            dialer: config.dialer.clone(),
        })
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// Why a connection stopped.
#[derive(Debug, Clone)]
pub(crate) enum CloseReason {
    Eof,
    Io(String),
    TooLarge { size: usize, max: usize },
    Protocol(String),
    Timeout { what: String, after: Duration },
    Closed,
}

impl CloseReason {
    fn to_error(&self, broker: &str) -> ClientError {
        let broker = broker.to_string();
        match self {
            CloseReason::TooLarge { size, max } => ClientError::ResponseTooLarge {
                broker,
                size: *size,
                max: *max,
            },
            CloseReason::Eof => ClientError::ConnectionClosed {
                broker,
                reason: "the broker closed the connection".into(),
            },
            CloseReason::Io(m) => ClientError::ConnectionClosed {
                broker,
                reason: format!("I/O error: {m}"),
            },
            CloseReason::Protocol(m) => ClientError::ConnectionClosed {
                broker,
                reason: format!("protocol violation: {m}"),
            },
            CloseReason::Timeout { what, after } => ClientError::ConnectionClosed {
                broker,
                reason: format!("an earlier {what} request timed out after {after:?}"),
            },
            CloseReason::Closed => ClientError::ConnectionClosed {
                broker,
                reason: "closed by the client".into(),
            },
        }
    }
}

/// Reads one frame (size prefix removed). `Ok(None)` on a clean EOF between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, CloseReason> {
    loop {
        match try_split_frame(buf, max) {
            Ok(Some(frame)) => return Ok(Some(frame)),
            Ok(None) => {}
            Err(FrameError::TooLarge { size, max }) => {
                return Err(CloseReason::TooLarge { size, max })
            }
            Err(FrameError::Negative(n)) => {
                return Err(CloseReason::Protocol(format!("negative response size {n}")))
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(8192);
        }
        let n = rd
            .read_buf(buf)
            .await
            .map_err(|e| CloseReason::Io(e.to_string()))?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(CloseReason::Io(format!(
                    "connection closed in the middle of a response ({} bytes buffered)",
                    buf.len()
                )))
            };
        }
    }
}

/// The sequential phase before multiplexing: ApiVersions and SASL.
pub(crate) struct Handshake {
    io: BoxIo,
    buf: BytesMut,
    broker: String,
    client_id: StrBytes,
    timeout: Duration,
    max_response_bytes: usize,
    next_id: i32,
}

impl Handshake {
    pub(crate) fn broker(&self) -> &str {
        &self.broker
    }

    /// Writes `frame` and reads one frame back, within the request timeout.
    async fn exchange(&mut self, frame: &[u8], what: &str) -> Result<Bytes, ClientError> {
        let broker = self.broker.clone();
        let timeout = self.timeout;
        let fut = async {
            self.io
                .write_all(frame)
                .await
                .map_err(|e| CloseReason::Io(e.to_string()))?;
            self.io
                .flush()
                .await
                .map_err(|e| CloseReason::Io(e.to_string()))?;
            read_frame(&mut self.io, &mut self.buf, self.max_response_bytes)
                .await?
                .ok_or(CloseReason::Eof)
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(reason)) => Err(reason.to_error(&broker)),
            Err(_) => Err(ClientError::Timeout {
                broker,
                what: what.to_string(),
                after: timeout,
            }),
        }
    }

    /// One request/response with a KP body; returns the response body.
    async fn request_body<B: kafka_protocol::protocol::Encodable>(
        &mut self,
        api_key: i16,
        version: i16,
        header_version: i16,
        response_header_version: i16,
        body: &B,
    ) -> Result<Bytes, ClientError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1) & i32::MAX;
        let frame =
            wire::encode_request(api_key, version, header_version, id, &self.client_id, body)
                .map_err(|message| ClientError::Encode {
                    api: api_name(api_key),
                    version,
                    message,
                })?;
        let response = self.exchange(&frame, &api_name(api_key)).await?;
        let (got, body) =
            wire::split_response_header(response, response_header_version).map_err(|message| {
                ClientError::Decode {
                    broker: self.broker.clone(),
                    api: api_name(api_key),
                    version,
                    message,
                }
            })?;
        if got != id {
            return Err(ClientError::ConnectionClosed {
                broker: self.broker.clone(),
                reason: format!("protocol violation: response correlation id {got}, expected {id}"),
            });
        }
        Ok(body)
    }

    /// A typed request during the handshake.
    pub(crate) async fn request<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        check_version::<R>(version)?;
        let body = self
            .request_body(
                R::KEY,
                version,
                R::header_version(version),
                <R::Response as HeaderVersion>::header_version(version),
                req,
            )
            .await?;
        wire::decode_body(body, version).map_err(|message| ClientError::Decode {
            broker: self.broker.clone(),
            api: api_name(R::KEY),
            version,
            message,
        })
    }

    /// SaslHandshake v0: a raw, size-prefixed token each way, no Kafka headers.
    pub(crate) async fn raw_token(&mut self, token: &[u8]) -> Result<Bytes, ClientError> {
        let len = i32::try_from(token.len()).map_err(|_| ClientError::Encode {
            api: "SASL token".into(),
            version: 0,
            message: "token too large".into(),
        })?;
        let mut frame = Vec::with_capacity(4 + token.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(token);
        self.exchange(&frame, "SASL token").await
    }

    /// ApiVersions v3, falling back once to the version the broker lists.
    async fn api_versions(&mut self) -> Result<BrokerVersions, ClientError> {
        let mut version = API_VERSIONS_MAX;
        for _ in 0..2 {
            let mut req = ApiVersionsRequest::default();
            if version >= 3 {
                req = req
                    .with_client_software_name(StrBytes::from_static_str("strait"))
                    .with_client_software_version(StrBytes::from_static_str(env!(
                        "CARGO_PKG_VERSION"
                    )));
            }
            // ApiVersions responses always use response header v0 (KIP-511).
            let body = self
                .request_body(
                    ApiKey::ApiVersions as i16,
                    version,
                    ApiVersionsRequest::header_version(version),
                    0,
                    &req,
                )
                .await?;
            let decode_err = |message| ClientError::Decode {
                broker: self.broker.clone(),
                api: "ApiVersions".into(),
                version,
                message,
            };
            match wire::interpret_api_versions(body, version).map_err(decode_err)? {
                ApiVersionsReply::Retry(v) => version = v,
                ApiVersionsReply::Answer(response) => {
                    crate::error::check_code(response.error_code, None, || {
                        format!("ApiVersions v{version} on {}", self.broker)
                    })?;
                    return Ok(BrokerVersions::from_response(&response));
                }
            }
        }
        Err(ClientError::Protocol {
            broker: self.broker.clone(),
            message: "ApiVersions negotiation did not converge".into(),
        })
    }
}

fn check_version<R: Request>(version: i16) -> Result<(), ClientError> {
    let range = <R as Message>::VERSIONS;
    if version < range.min || version > range.max {
        return Err(ClientError::Encode {
            api: api_name(R::KEY),
            version,
            message: format!(
                "version outside what this client can encode ({}..={})",
                range.min, range.max
            ),
        });
    }
    Ok(())
}

/// A request handed to the writer task: a complete frame and where its answer goes.
struct Outgoing {
    frame: Bytes,
    in_flight: InFlight,
}

struct InFlight {
    correlation_id: i32,
    api_key: i16,
    version: i16,
    response_header_version: i16,
    reply: oneshot::Sender<Result<Bytes, ClientError>>,
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<InFlight>,
    closed: Option<CloseReason>,
    tasks: Vec<AbortHandle>,
}

/// State shared by the handle and the two I/O tasks.
struct State {
    broker: String,
    pending: Mutex<Pending>,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A poisoned lock only means another thread panicked mid-update of plain data;
        // the queue is still consistent enough to fail everything in it.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn closed_error(&self) -> Option<ClientError> {
        self.lock()
            .closed
            .as_ref()
            .map(|r| r.to_error(&self.broker))
    }

    /// Marks the connection closed, fails every in-flight request, stops both tasks.
    fn close(&self, reason: CloseReason) {
        let (queue, tasks, reason) = {
            let mut p = self.lock();
            let reason = p.closed.get_or_insert(reason).clone();
            (
                std::mem::take(&mut p.queue),
                std::mem::take(&mut p.tasks),
                reason,
            )
        };
        for in_flight in queue {
            let _ = in_flight.reply.send(Err(reason.to_error(&self.broker)));
        }
        for task in tasks {
            task.abort();
        }
    }

    /// Routes one response frame to the request at the front of the queue.
    fn complete(&self, frame: Bytes) -> Result<(), CloseReason> {
        let Some(id) = wire::peek_correlation_id(&frame) else {
            return Err(CloseReason::Protocol(format!(
                "response of {} bytes has no correlation id",
                frame.len()
            )));
        };
        let in_flight = {
            let mut p = self.lock();
            match p.queue.front() {
                None => {
                    return Err(CloseReason::Protocol(format!(
                        "response with correlation id {id} but no request in flight"
                    )))
                }
                Some(front) if front.correlation_id != id => {
                    return Err(CloseReason::Protocol(format!(
                        "response correlation id {id} does not match the oldest request in flight ({})",
                        front.correlation_id
                    )))
                }
                Some(_) => p.queue.pop_front(),
            }
        };
        let Some(in_flight) = in_flight else {
            return Ok(());
        };
        let result = wire::split_response_header(frame, in_flight.response_header_version)
            .map(|(_, body)| body)
            .map_err(|message| ClientError::Decode {
                broker: self.broker.clone(),
                api: api_name(in_flight.api_key),
                version: in_flight.version,
                message: format!("response header: {message}"),
            });
        // A closed receiver is a cancelled request: its response is simply dropped.
        let _ = in_flight.reply.send(result);
        Ok(())
    }
}

async fn read_loop(
    state: Arc<State>,
    mut rd: tokio::io::ReadHalf<BoxIo>,
    mut buf: BytesMut,
    max: usize,
) {
    let reason = loop {
        match read_frame(&mut rd, &mut buf, max).await {
            Ok(Some(frame)) => {
                if let Err(reason) = state.complete(frame) {
                    break reason;
                }
            }
            Ok(None) => break CloseReason::Eof,
            Err(reason) => break reason,
        }
    };
    tracing::debug!(broker = %state.broker, ?reason, "connection reader stopped");
    state.close(reason);
}

async fn write_loop(
    state: Arc<State>,
    mut wr: tokio::io::WriteHalf<BoxIo>,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    while let Some(out) = rx.recv().await {
        {
            let mut p = state.lock();
            if let Some(reason) = &p.closed {
                let _ = out
                    .in_flight
                    .reply
                    .send(Err(reason.to_error(&state.broker)));
                continue;
            }
            // Queued before the first byte is written, so the reader can never see a
            // response for a request it does not know about.
            p.queue.push_back(out.in_flight);
        }
        let written = async {
            wr.write_all(&out.frame).await?;
            wr.flush().await
        }
        .await;
        if let Err(e) = written {
            state.close(CloseReason::Io(e.to_string()));
            return;
        }
    }
    // Every handle is gone: nobody can wait for a response any more.
    let _ = wr.shutdown().await;
    state.close(CloseReason::Closed);
}

/// Owner of the I/O tasks; dropping the last [`Connection`] clone stops them.
struct Handle {
    state: Arc<State>,
    tx: mpsc::Sender<Outgoing>,
    versions: BrokerVersions,
    client_id: StrBytes,
    request_timeout: Duration,
    next_id: AtomicI32,
    /// When the SASL session (KIP-368 `session_lifetime_ms`) is about to expire.
    reauth_deadline: Option<Instant>,
    /// Highest Fetch version to use with this broker; lowered to 11 (the last pre-flexible
    /// version) if its flexible Fetch responses cannot be decoded (Tansu 0.6 writes a v16
    /// tagged field into v12 responses).
    fetch_max_version: std::sync::atomic::AtomicI16,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.state.close(CloseReason::Closed);
    }
}

/// A connection to one broker. Cheap to clone; all clones share the socket. Safe to use
/// from many tasks at once: requests are pipelined and answered in order.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.inner.state.broker)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`), negotiates API versions and authenticates.
    pub async fn connect(addr: &str, options: &ConnectOptions) -> Result<Connection, ClientError> {
        let (handshake, versions, session_lifetime) = Self::handshake(addr, options).await?;
        Ok(Self::spawn(handshake, versions, session_lifetime, options))
    }

    /// [`Connection::connect`] without the multiplexer: the authenticated stream itself,
    /// and any bytes already read past the handshake (normally none: a broker sends
    /// nothing unasked). For relaying a whole Kafka conversation over it (link tunnels).
    pub async fn connect_raw(
        addr: &str,
        options: &ConnectOptions,
    ) -> Result<(crate::dial::BoxIo, BytesMut), ClientError> {
        let (handshake, _, _) = Self::handshake(addr, options).await?;
        Ok((handshake.io, handshake.buf))
    }

    async fn handshake(
        addr: &str,
        options: &ConnectOptions,
    ) -> Result<(Handshake, BrokerVersions, Option<Duration>), ClientError> {
        let broker = addr.to_string();
        let io = crate::dial::open(addr, options).await?;
        let mut handshake = Handshake {
            io,
            buf: BytesMut::with_capacity(8192),
            broker: broker.clone(),
            client_id: options.client_id.clone(),
            timeout: options.request_timeout,
            max_response_bytes: options.max_response_bytes,
            next_id: 0,
        };
        let versions = handshake.api_versions().await?;
        let session_lifetime = match &options.sasl {
            Some(sasl) => sasl::authenticate(&mut handshake, sasl, &versions).await?,
            None => None,
        };
        Ok((handshake, versions, session_lifetime))
    }

    fn spawn(
        handshake: Handshake,
        versions: BrokerVersions,
        session_lifetime: Option<Duration>,
        options: &ConnectOptions,
    ) -> Connection {
        let Handshake {
            io,
            buf,
            broker,
            next_id,
            ..
        } = handshake;
        let (rd, wr) = tokio::io::split(io);
        let state = Arc::new(State {
            broker,
            pending: Mutex::new(Pending::default()),
        });
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_loop(
            state.clone(),
            rd,
            buf,
            options.max_response_bytes,
        ));
        let writer = tokio::spawn(write_loop(state.clone(), wr, rx));
        {
            let mut p = state.lock();
            p.tasks = vec![reader.abort_handle(), writer.abort_handle()];
            if p.closed.is_some() {
                for t in p.tasks.drain(..) {
                    t.abort();
                }
            }
        }
        // Re-authentication (KIP-368) is not implemented: retire the connection a little
        // before the broker would close it, and let the pool open a fresh one.
        // `checked_add`: the lifetime comes from the broker and may be absurdly large.
        let reauth_deadline =
            session_lifetime.and_then(|life| Instant::now().checked_add(life / 20 * 17));
        Connection {
            inner: Arc::new(Handle {
                state,
                tx,
                versions,
                client_id: options.client_id.clone(),
                request_timeout: options.request_timeout,
                next_id: AtomicI32::new(next_id),
                fetch_max_version: std::sync::atomic::AtomicI16::new(
                    crate::fetch::FETCH_MAX_VERSION,
                ),
                reauth_deadline,
            }),
        }
    }

    /// The `host:port` this connection was opened to.
    pub fn broker(&self) -> &str {
        &self.inner.state.broker
    }

    /// Highest Fetch version this connection will use (see `Handle::fetch_max_version`).
    pub(crate) fn fetch_max_version(&self) -> i16 {
        self.inner
            .fetch_max_version
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn lower_fetch_max_version(&self, version: i16) {
        self.inner
            .fetch_max_version
            .fetch_min(version, std::sync::atomic::Ordering::Relaxed);
    }

    /// The broker's advertised API versions.
    pub fn versions(&self) -> &BrokerVersions {
        &self.inner.versions
    }

    /// `min(our_max, broker max)` for `api_key`, if the broker's range allows it.
    pub fn version_for(&self, api_key: i16, our_max: i16) -> Option<i16> {
        self.inner.versions.version_for(api_key, our_max)
    }

    /// The version to use for `R`: the highest both sides (and KP) speak, at most `our_max`.
    pub fn negotiate<R: Request>(&self, our_max: i16) -> Result<i16, ClientError> {
        let kp = <R as Message>::VERSIONS;
        self.inner
            .versions
            .negotiate(self.broker(), R::KEY, kp.min, our_max.min(kp.max))
    }

    /// True once the connection failed or was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.state.lock().closed.is_some()
    }

    /// False when closed or when its SASL session is about to expire.
    pub fn is_usable(&self) -> bool {
        !self.is_closed()
            && self
                .inner
                .reauth_deadline
                .is_none_or(|deadline| Instant::now() < deadline)
    }

    /// Closes the connection; requests in flight fail with `ConnectionClosed`.
    pub fn close(&self) {
        self.inner.state.close(CloseReason::Closed);
    }

    /// The configured `request.timeout.ms`.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    fn next_correlation_id(&self) -> i32 {
        // Kept non-negative: some brokers log negative ids as suspicious.
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) & i32::MAX
    }

    /// Sends a typed request at `version` and decodes the response.
    pub async fn send<R: Request>(
        &self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        self.send_with_timeout(req, version, self.inner.request_timeout)
            .await
    }

    /// [`Connection::send`] with an explicit timeout (long-polling fetches add their
    /// `max_wait_ms`).
    pub async fn send_with_timeout<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        check_version::<R>(version)?;
        let id = self.next_correlation_id();
        let frame = wire::encode_request(
            R::KEY,
            version,
            R::header_version(version),
            id,
            &self.inner.client_id,
            req,
        )
        .map_err(|message| ClientError::Encode {
            api: api_name(R::KEY),
            version,
            message,
        })?;
        let rhv = <R::Response as HeaderVersion>::header_version(version);
        let body = self
            .round_trip(id, R::KEY, version, rhv, frame, timeout)
            .await?;
        wire::decode_body(body, version).map_err(|message| ClientError::Decode {
            broker: self.broker().to_string(),
            api: api_name(R::KEY),
            version,
            message,
        })
    }

    /// Sends an already-encoded body and returns the response body (header removed).
    ///
    /// For Strait's private admin keys (≥ 20000, flexible from v0: request header v2,
    /// response header v1) and any Apache key the typed API lacks.
    pub async fn send_raw(
        &self,
        api_key: i16,
        version: i16,
        body: &[u8],
    ) -> Result<Bytes, ClientError> {
        let encode_err = |message: String| ClientError::Encode {
            api: api_name(api_key),
            version,
            message,
        };
        let hv = strait_protocol::header::request_header_version(api_key, version)
            .map_err(|e| encode_err(e.to_string()))?;
        let rhv = strait_protocol::header::response_header_version(api_key, version)
            .map_err(|e| encode_err(e.to_string()))?;
        let id = self.next_correlation_id();
        let frame = wire::encode_raw_request(api_key, version, hv, id, &self.inner.client_id, body)
            .map_err(encode_err)?;
        self.round_trip(id, api_key, version, rhv, frame, self.inner.request_timeout)
            .await
    }

    async fn round_trip(
        &self,
        correlation_id: i32,
        api_key: i16,
        version: i16,
        response_header_version: i16,
        frame: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        let state = &self.inner.state;
        if let Some(e) = state.closed_error() {
            return Err(e);
        }
        let (reply, response) = oneshot::channel();
        let out = Outgoing {
            frame,
            in_flight: InFlight {
                correlation_id,
                api_key,
                version,
                response_header_version,
                reply,
            },
        };
        let exchange = async {
            // `Sender::send` is cancel-safe: dropped while waiting, nothing is queued.
            if self.inner.tx.send(out).await.is_err() {
                return Err(state
                    .closed_error()
                    .unwrap_or_else(|| CloseReason::Closed.to_error(&state.broker)));
            }
            match response.await {
                Ok(result) => result,
                Err(_) => Err(state
                    .closed_error()
                    .unwrap_or_else(|| CloseReason::Closed.to_error(&state.broker))),
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => {
                let what = api_name(api_key);
                state.close(CloseReason::Timeout {
                    what: what.clone(),
                    after: timeout,
                });
                Err(ClientError::Timeout {
                    broker: state.broker.clone(),
                    what: format!("{what} v{version} request"),
                    after: timeout,
                })
            }
        }
    }
}
