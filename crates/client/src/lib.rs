//! A small async Kafka client for Strait's cluster-link manager, its operator CLIs and its
//! tests. It talks to any Kafka-compatible broker (Apache Kafka, librdkafka's mock cluster,
//! Tansu, Strait itself) and never decodes record batches on the fetch path: records come
//! back as the broker's raw `Bytes`, which the link appends byte for byte.
//!
//! # Layout
//! * [`config`]: [`ClientConfig`] from Kafka client properties (`security.protocol`,
//!   `sasl.*`, `ssl.*` PEM), secrets redacted in `Debug`. [`jaas`]: `sasl.jaas.config`.
//! * [`connection`]: one broker connection — TCP/TLS, ApiVersions (with the v0 fallback),
//!   SASL, then requests multiplexed by correlation id; cancellation-safe.
//! * [`wire`]: request framing and response-header parsing, sans I/O.
//! * [`versions`]: a broker's advertised ranges and version selection.
//! * [`tls`], [`sasl`], [`scram`]: transport security and authentication.
//! * [`client`]: the cluster view — bootstrap, metadata cache, connection pool per broker
//!   id, leader routing. [`metadata`]: the cached types.
//! * [`fetch`], [`offsets`], [`produce`]: the data plane the link needs (raw fetch,
//!   ListOffsets, OffsetForLeaderEpoch, raw produce).
//! * [`admin`], [`groups`], [`acls`]: topic/config/cluster admin, consumer-group offsets
//!   and coordinators, ACLs.
//!
//! # Invariants
//! * No panics on any input: every malformed frame, undecodable body or hostile SASL
//!   message is a [`ClientError`].
//! * Broker error codes surface as [`ClientError::Kafka`] (or as a per-item `error` field
//!   where a response legitimately mixes success and failure, such as per-partition fetch
//!   results).
//! * Version choice is always `min(ours, broker's)` and never above what `kafka-protocol`
//!   can encode; a missing overlap is a clear [`ClientError::NoVersionMatch`].

pub mod acls;
pub mod admin;
pub mod client;
pub mod config;
pub mod connection;
pub mod dial;
pub mod error;
pub mod fetch;
pub mod groups;
pub mod jaas;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod sasl;
pub mod scram;
pub mod tls;
pub mod versions;
pub mod wire;

#[cfg(test)]
mod connection_tests;
#[cfg(test)]
pub(crate) mod test_support;

pub use client::Client;
pub use config::{ClientConfig, SaslConfig, SaslMechanism, Secret, SecurityProtocol, TlsConfig};
pub use connection::{ConnectOptions, Connection};
pub use error::{ClientError, ConfigError};
pub use strait_protocol::ErrorCode;
pub use versions::BrokerVersions;
