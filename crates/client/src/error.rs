//! Every way a client call can fail, with enough context to act on it.
//!
//! Invariants: no variant ever carries a secret (passwords, private keys, SCRAM proofs);
//! broker-reported failures are always [`ClientError::Kafka`] so callers can match on the
//! Kafka error code whatever the call; connection-level failures name the broker address.

use std::time::Duration;

use strait_protocol::ErrorCode;

/// A client configuration problem. `key` is the Kafka property at fault; `message` never
/// contains the value of a secret property (passwords, `sasl.jaas.config`, private keys).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Errors returned by [`crate::Connection`] and [`crate::Client`] calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("invalid client configuration: {0}")]
    Config(#[from] ConfigError),

    #[error("cannot connect to {broker}: {message}")]
    Connect { broker: String, message: String },

    #[error("TLS with {broker} failed: {message}")]
    Tls { broker: String, message: String },

    #[error("{what} on {broker} timed out after {after:?}")]
    Timeout {
        broker: String,
        what: String,
        after: Duration,
    },

    /// The connection is gone (EOF, I/O error, protocol violation, earlier timeout). Every
    /// request in flight on it fails with this; the pool reconnects on the next call.
    #[error("connection to {broker} closed: {reason}")]
    ConnectionClosed { broker: String, reason: String },

    #[error("response from {broker} is {size} bytes, above the client limit of {max}")]
    ResponseTooLarge {
        broker: String,
        size: usize,
        max: usize,
    },

    #[error("cannot decode {api} v{version} response from {broker}: {message}")]
    Decode {
        broker: String,
        api: String,
        version: i16,
        message: String,
    },

    #[error("cannot encode {api} v{version} request: {message}")]
    Encode {
        api: String,
        version: i16,
        message: String,
    },

    /// The broker does not speak any version of `api` that this client does.
    #[error(
        "broker {broker} does not support {api} (api key {api_key}) in any version this client \
         speaks: ours {our_min}..={our_max}, broker's {theirs}"
    )]
    NoVersionMatch {
        broker: String,
        api_key: i16,
        api: String,
        our_min: i16,
        our_max: i16,
        /// `"none"` when the broker does not advertise the key at all.
        theirs: String,
    },

    /// A SASL exchange failed on our side (bad server nonce or signature, unsupported
    /// mechanism, connection dropped mid-exchange). Broker-reported authentication
    /// failures are [`ClientError::Kafka`] with `SaslAuthenticationFailed`.
    #[error("SASL {mechanism} with {broker} failed: {message}")]
    Sasl {
        broker: String,
        mechanism: String,
        message: String,
    },

    /// An error code returned by the broker. `context` says which call and which resource.
    #[error("{context}: {code} ({}){}", code.code(), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        code: ErrorCode,
        message: Option<String>,
        context: String,
    },

    #[error("no bootstrap server reachable ({0})")]
    Bootstrap(String),

    #[error("broker {0} is not in the cluster metadata")]
    UnknownBroker(i32),

    /// A response that decoded but does not answer what was asked (missing partition, ...).
    #[error("unexpected response from {broker}: {message}")]
    Protocol { broker: String, message: String },
}

impl ClientError {
    /// The Kafka error code, when the broker reported one.
    pub fn kafka_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for failures a caller may retry after a back-off (and, for leadership
    /// errors, a metadata refresh): retriable Kafka codes and connection-level failures.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => code.is_retriable(),
            ClientError::Connect { .. }
            | ClientError::Timeout { .. }
            | ClientError::ConnectionClosed { .. }
            | ClientError::Bootstrap(_) => true,
            _ => false,
        }
    }

    /// True when the broker rejected our credentials (do not retry in a loop).
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            ClientError::Kafka {
                code: ErrorCode::SaslAuthenticationFailed
                    | ErrorCode::UnsupportedSaslMechanism
                    | ErrorCode::IllegalSaslState,
                ..
            } | ClientError::Sasl { .. }
        )
    }

    pub(crate) fn kafka(
        code: ErrorCode,
        message: Option<String>,
        context: impl Into<String>,
    ) -> Self {
        ClientError::Kafka {
            code,
            message: message.filter(|m| !m.is_empty()),
            context: context.into(),
        }
    }
}

/// `Err(ClientError::Kafka)` when `code` is non-zero.
pub(crate) fn check_code(
    code: i16,
    message: Option<&kafka_protocol::protocol::StrBytes>,
    context: impl FnOnce() -> String,
) -> Result<(), ClientError> {
    match ErrorCode::try_from_code(code) {
        None => Ok(()),
        Some(code) => Err(ClientError::kafka(
            code,
            message.map(|m| m.to_string()),
            context(),
        )),
    }
}

/// The Kafka error code of a per-item field, `None` for 0.
pub(crate) fn code_of(code: i16) -> Option<ErrorCode> {
    ErrorCode::try_from_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_display_name_code_and_message() {
        let e = ClientError::kafka(
            ErrorCode::TopicAlreadyExists,
            Some("Topic 'a' already exists.".into()),
            "create topic 'a'",
        );
        assert_eq!(
            e.to_string(),
            "create topic 'a': TopicAlreadyExists (36): Topic 'a' already exists."
        );
        assert_eq!(e.kafka_code(), Some(ErrorCode::TopicAlreadyExists));
        assert!(!e.is_retriable());
        let e = ClientError::kafka(ErrorCode::NotLeaderOrFollower, Some(String::new()), "x");
        assert_eq!(e.to_string(), "x: NotLeaderOrFollower (6)");
        assert!(e.is_retriable());
    }
}
