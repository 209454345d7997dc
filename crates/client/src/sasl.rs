//! SASL authentication during the connection handshake (KIP-43, KIP-152).
//!
//! Owns the choice of framing and the mechanism exchanges:
//! * If the broker advertises SaslAuthenticate (key 36), send SaslHandshake **v1** and
//!   carry every token in a SaslAuthenticate request (errors come back as Kafka codes).
//! * Otherwise send SaslHandshake **v0**; tokens then travel as raw size-prefixed frames
//!   with no Kafka header, and a failure is signalled only by the broker closing the
//!   connection.
//!
//! Mechanisms: PLAIN (RFC 4616, one token; the broker's reply is empty) and SCRAM-SHA-256/512
//! ([`crate::scram`], two round trips, server signature verified). Secrets never enter an
//! error message.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use crate::config::{SaslConfig, SaslMechanism};
use crate::connection::Handshake;
use crate::error::{check_code, ClientError};
use crate::scram::{ScramClient, ScramHash};
use crate::versions::BrokerVersions;

/// How tokens are carried after the handshake.
enum Carrier {
    /// SaslAuthenticate at this version.
    Authenticate(i16),
    /// Raw frames (SaslHandshake v0).
    Raw,
}

struct Exchange<'a> {
    hs: &'a mut Handshake,
    carrier: Carrier,
    mechanism: &'static str,
    session_lifetime_ms: i64,
}

impl Exchange<'_> {
    fn sasl_error(&self, message: impl Into<String>) -> ClientError {
        ClientError::Sasl {
            broker: self.hs.broker().to_string(),
            mechanism: self.mechanism.to_string(),
            message: message.into(),
        }
    }

    /// Sends one client token and returns the server's token.
    async fn step(&mut self, token: Vec<u8>) -> Result<Bytes, ClientError> {
        match self.carrier {
            Carrier::Authenticate(version) => {
                let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
                let resp = self.hs.request(&req, version).await?;
                let broker = self.hs.broker().to_string();
                let mechanism = self.mechanism;
                check_code(resp.error_code, resp.error_message.as_ref(), || {
                    format!("SASL {mechanism} authentication with {broker}")
                })?;
                if version >= 1 {
                    self.session_lifetime_ms = resp.session_lifetime_ms;
                }
                Ok(resp.auth_bytes)
            }
            Carrier::Raw => match self.hs.raw_token(&token).await {
                Ok(reply) => Ok(reply),
                // With v0 framing the broker's only way to say "no" is to hang up.
                Err(ClientError::ConnectionClosed { reason, .. }) => Err(self.sasl_error(format!(
                    "the broker closed the connection during the exchange ({reason}); with \
                     SaslHandshake v0 this usually means the credentials were rejected"
                ))),
                Err(e) => Err(e),
            },
        }
    }
}

/// Authenticates the handshake's connection. Returns the session lifetime the broker
/// granted (KIP-368), if any.
pub(crate) async fn authenticate(
    hs: &mut Handshake,
    config: &SaslConfig,
    versions: &BrokerVersions,
) -> Result<Option<Duration>, ClientError> {
    let mechanism = config.mechanism.name();
    let authenticate_version = versions.version_for(ApiKey::SaslAuthenticate as i16, 2);
    let handshake_version = match (
        versions.version_for(ApiKey::SaslHandshake as i16, 1),
        authenticate_version,
    ) {
        (Some(1), Some(_)) => 1,
        _ => 0,
    };
    let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let resp = hs.request(&req, handshake_version).await?;
    if resp.error_code != 0 {
        let enabled: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
        let broker = hs.broker().to_string();
        check_code(
            resp.error_code,
            Some(&StrBytes::from_string(format!(
                "broker enables [{}]",
                enabled.join(", ")
            ))),
            || format!("SaslHandshake({mechanism}) with {broker}"),
        )?;
    }
    let carrier = match (handshake_version, authenticate_version) {
        (1, Some(v)) => Carrier::Authenticate(v),
        _ => Carrier::Raw,
    };
    let mut exchange = Exchange {
        hs,
        carrier,
        mechanism,
        session_lifetime_ms: 0,
    };
    match config.mechanism {
        SaslMechanism::Plain => {
            // authzid is empty: Kafka rejects an authzid different from the user anyway.
            let mut token =
                Vec::with_capacity(2 + config.username.len() + config.password.expose().len());
            token.push(0);
            token.extend_from_slice(config.username.as_bytes());
            token.push(0);
            token.extend_from_slice(config.password.expose().as_bytes());
            exchange.step(token).await?;
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let hash = if config.mechanism == SaslMechanism::ScramSha256 {
                ScramHash::Sha256
            } else {
                ScramHash::Sha512
            };
            let client = ScramClient::new(
                hash,
                &config.username,
                config.password.expose(),
                config.token_auth,
            );
            let server_first = exchange.step(client.client_first()).await?;
            let (awaiting, client_final) = client
                .handle_server_first(&server_first)
                .map_err(|e| exchange.sasl_error(e.0))?;
            let server_final = exchange.step(client_final).await?;
            awaiting
                .handle_server_final(&server_final)
                .map_err(|e| exchange.sasl_error(e.0))?;
        }
    }
    let lifetime = exchange.session_lifetime_ms;
    Ok((lifetime > 0).then(|| Duration::from_millis(lifetime as u64)))
}
