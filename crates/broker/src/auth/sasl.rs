//! The server side of SASL on one connection (KIP-43, KIP-152), sans I/O.
//!
//! Before authentication a connection may send only ApiVersions, SaslHandshake and
//! SaslAuthenticate; anything else closes it, as in Kafka. After `SaslHandshake` v1 every
//! token travels in a `SaslAuthenticate` request; after v0 tokens are raw size-prefixed
//! frames with no Kafka header, and failure can only be signalled by closing.
//!
//! Mechanisms: PLAIN (`authzid\0user\0password`, checked against the listener's JAAS
//! `user_<name>` entries) and SCRAM-SHA-256/512 (two round trips, against the stored
//! salted credentials). A failed authentication is answered with
//! SASL_AUTHENTICATION_FAILED (v1) and the connection closes. Passwords and tokens are
//! never logged; the user name is. `session_lifetime_ms` is 0: no re-authentication.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use strait_protocol::header::{decode_request_header, peek_key_version};
use strait_protocol::response::encode_response;
use strait_protocol::versions::check_version;
use strait_protocol::{ErrorCode, ProtocolError};

use super::config::{ListenerSecurity, Mechanism};
use super::scram::ScramServer;
use super::Security;

/// What the connection should do with a frame received before authentication completed.
#[derive(Debug)]
pub enum Step {
    /// Not a SASL request (ApiVersions): hand it to the dispatcher.
    Dispatch(Bytes),
    /// Send this and keep authenticating.
    Reply(Bytes),
    /// Send this; the session now belongs to `principal`.
    Authenticated { reply: Bytes, principal: String },
    /// Send `reply` (if any), then close the connection.
    Close {
        reply: Option<Bytes>,
        reason: String,
    },
}

enum State {
    /// Waiting for SaslHandshake.
    Start,
    /// Mechanism chosen; `raw` after SaslHandshake v0.
    Handshaken { mechanism: Mechanism, raw: bool },
    /// SCRAM server-first sent.
    ScramStarted { server: Box<ScramServer>, raw: bool },
}

/// One connection's SASL exchange.
pub struct SaslServer {
    listener: ListenerSecurity,
    state: State,
}

fn close(reason: impl Into<String>) -> Step {
    Step::Close {
        reply: None,
        reason: reason.into(),
    }
}

fn strb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A raw v0 token frame: size prefix + bytes.
fn raw_frame(token: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + token.len());
    b.put_i32(token.len() as i32);
    b.put_slice(token);
    b.freeze()
}

/// Constant-time comparison of two secrets (length is not hidden).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The outcome of one token: a reply token, or success with the user name.
enum TokenResult {
    Continue(Vec<u8>),
    Done(Vec<u8>, String),
    Failed(String),
}

impl SaslServer {
    pub fn new(listener: ListenerSecurity) -> Self {
        SaslServer {
            listener,
            state: State::Start,
        }
    }

    fn mechanism_names(&self) -> Vec<StrBytes> {
        self.listener
            .mechanisms
            .iter()
            .map(|m| strb(m.name()))
            .collect()
    }

    /// Handles one frame received before authentication.
    pub fn on_frame(&mut self, security: &Security, frame: Bytes) -> Step {
        let raw = match &self.state {
            State::Handshaken { raw, .. } | State::ScramStarted { raw, .. } => *raw,
            State::Start => false,
        };
        if raw {
            return match self.token(security, &frame) {
                TokenResult::Continue(reply) => Step::Reply(raw_frame(&reply)),
                TokenResult::Done(reply, user) => Step::Authenticated {
                    reply: raw_frame(&reply),
                    principal: format!("User:{user}"),
                },
                TokenResult::Failed(message) => close(message),
            };
        }
        match self.request(security, frame) {
            Ok(step) => step,
            Err(e) => close(e.to_string()),
        }
    }

    fn request(&mut self, security: &Security, mut frame: Bytes) -> Result<Step, ProtocolError> {
        let (api_key, api_version) = peek_key_version(&frame)?;
        if api_key == ApiKey::ApiVersions as i16 {
            return Ok(Step::Dispatch(frame));
        }
        let is_handshake = api_key == ApiKey::SaslHandshake as i16;
        let is_authenticate = api_key == ApiKey::SaslAuthenticate as i16;
        if !is_handshake && !is_authenticate {
            return Ok(close(format!(
                "unexpected request (api key {api_key}) before SASL authentication completed"
            )));
        }
        check_version(api_key, api_version)?;
        let header = decode_request_header(&mut frame)?;
        let correlation_id = header.correlation_id;
        let malformed = |e: String| ProtocolError::Malformed {
            what: format!("request body (api key {api_key} v{api_version})"),
            message: e,
        };
        if is_handshake {
            let req = SaslHandshakeRequest::decode(&mut frame, api_version)
                .map_err(|e| malformed(e.to_string()))?;
            let requested = req.mechanism.to_string();
            let mechanisms = self.mechanism_names();
            let chosen =
                Mechanism::parse(&requested).filter(|m| self.listener.mechanisms.contains(m));
            let (code, step_state) = match (&self.state, chosen) {
                (State::Start, Some(m)) => (
                    None,
                    Some(State::Handshaken {
                        mechanism: m,
                        raw: api_version == 0,
                    }),
                ),
                (State::Start, None) => (Some(ErrorCode::UnsupportedSaslMechanism), None),
                _ => (Some(ErrorCode::IllegalSaslState), None),
            };
            let resp = SaslHandshakeResponse::default()
                .with_error_code(code.map_or(0, |c| c.code()))
                .with_mechanisms(mechanisms);
            let reply = encode_response(api_key, api_version, correlation_id, &resp)?;
            return Ok(match step_state {
                Some(s) => {
                    self.state = s;
                    Step::Reply(reply)
                }
                None => Step::Close {
                    reply: Some(reply),
                    reason: format!(
                        "SASL handshake refused for mechanism {requested}: {}",
                        code.map_or_else(String::new, |c| c.to_string())
                    ),
                },
            });
        }
        let req = SaslAuthenticateRequest::decode(&mut frame, api_version)
            .map_err(|e| malformed(e.to_string()))?;
        let respond = |code: Option<ErrorCode>, message: Option<String>, token: Vec<u8>| {
            let resp = SaslAuthenticateResponse::default()
                .with_error_code(code.map_or(0, |c| c.code()))
                .with_error_message(message.map(strb))
                .with_auth_bytes(Bytes::from(token))
                .with_session_lifetime_ms(0);
            encode_response(api_key, api_version, correlation_id, &resp)
        };
        if matches!(self.state, State::Start) {
            let reply = respond(
                Some(ErrorCode::IllegalSaslState),
                Some("Unexpected SaslAuthenticate request before SaslHandshake".into()),
                Vec::new(),
            )?;
            return Ok(Step::Close {
                reply: Some(reply),
                reason: "SaslAuthenticate before SaslHandshake".into(),
            });
        }
        Ok(match self.token(security, &req.auth_bytes) {
            TokenResult::Continue(token) => Step::Reply(respond(None, None, token)?),
            TokenResult::Done(token, user) => Step::Authenticated {
                reply: respond(None, None, token)?,
                principal: format!("User:{user}"),
            },
            TokenResult::Failed(message) => Step::Close {
                reply: Some(respond(
                    Some(ErrorCode::SaslAuthenticationFailed),
                    Some(message.clone()),
                    Vec::new(),
                )?),
                reason: message,
            },
        })
    }

    /// Runs one client token through the chosen mechanism.
    fn token(&mut self, security: &Security, token: &[u8]) -> TokenResult {
        let state = std::mem::replace(&mut self.state, State::Start);
        let listener = &self.listener.name;
        let result = match state {
            State::Start => TokenResult::Failed("SASL token before SaslHandshake".into()),
            State::Handshaken {
                mechanism: Mechanism::Plain,
                ..
            } => self.plain(token),
            State::Handshaken {
                mechanism: Mechanism::Scram(mech),
                raw,
            } => match ScramServer::start(mech, token, |u| security.scram_credential(u, mech)) {
                Ok((server, first)) => {
                    self.state = State::ScramStarted {
                        server: Box::new(server),
                        raw,
                    };
                    return TokenResult::Continue(first);
                }
                Err(e) => {
                    tracing::info!(%listener, mechanism = mech.name(), reason = %e.0, "SASL authentication failed");
                    TokenResult::Failed(e.0)
                }
            },
            State::ScramStarted { server, .. } => match server.finish(token) {
                Ok(last) => TokenResult::Done(last, server.user().to_string()),
                Err(e) => {
                    tracing::info!(%listener, mechanism = server.mechanism().name(), user = %server.user(), "SASL authentication failed: invalid credentials");
                    TokenResult::Failed(e.0)
                }
            },
        };
        if let TokenResult::Done(_, user) = &result {
            tracing::debug!(%listener, %user, "SASL authentication succeeded");
        }
        result
    }

    fn plain(&self, token: &[u8]) -> TokenResult {
        let listener = &self.listener.name;
        let mut parts = token.splitn(3, |b| *b == 0);
        let (Some(authzid), Some(user), Some(password)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return TokenResult::Failed("Invalid SASL/PLAIN response: expected 3 tokens".into());
        };
        let (Ok(authzid), Ok(user)) = (std::str::from_utf8(authzid), std::str::from_utf8(user))
        else {
            return TokenResult::Failed("Invalid SASL/PLAIN response: not UTF-8".into());
        };
        if user.is_empty() {
            return TokenResult::Failed("Authentication failed: username not specified".into());
        }
        if !authzid.is_empty() && authzid != user {
            return TokenResult::Failed(
                "Authentication failed: Client requested an authorization id that is different from username".into(),
            );
        }
        let ok = self
            .listener
            .plain_users
            .get(user)
            .is_some_and(|expected| ct_eq(expected.0.as_bytes(), password));
        if ok {
            TokenResult::Done(Vec::new(), user.to_string())
        } else {
            tracing::info!(%listener, mechanism = "PLAIN", %user, "SASL authentication failed: invalid username or password");
            TokenResult::Failed("Authentication failed: Invalid username or password".into())
        }
    }
}

/// For SaslHandshake / SaslAuthenticate arriving outside the authentication phase (after
/// it, or on a listener without SASL): Kafka answers ILLEGAL_SASL_STATE.
pub fn handshake_outside_auth(req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    let _ = req;
    SaslHandshakeResponse::default().with_error_code(ErrorCode::IllegalSaslState.code())
}

pub fn authenticate_outside_auth(req: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    let _ = req;
    SaslAuthenticateResponse::default()
        .with_error_code(ErrorCode::IllegalSaslState.code())
        .with_error_message(Some(strb(
            "SaslAuthenticate is only valid during authentication on a SASL listener",
        )))
}
