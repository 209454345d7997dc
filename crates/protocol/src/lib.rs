//! The Kafka wire, as Strait speaks it. No sockets, no files.
//!
//! This crate owns three things every other crate relies on:
//!
//! * **Framing** ([`frame`]): a request is a big-endian `i32` size followed by that many
//!   bytes. A size that is negative or above `socket.request.max.bytes` cannot be framed and
//!   the connection must close; everything else is a request.
//! * **The version table** ([`versions::SUPPORTED_APIS`]): the single list of `(api key, min,
//!   max)` that Strait implements. Dispatch checks requests against it and ApiVersions is
//!   built from it — never from `ApiKey::valid_versions()` (protocol-notes §4.1).
//! * **Headers and responses** ([`header`], [`response`]): decoding the request header for
//!   Apache and Strait-private keys alike, and encoding a response body with the header
//!   version its (key, version) requires, including ApiVersions' fixed v0 response header
//!   and the v0-format fallback reply to a too-new ApiVersions request.
//!
//! Apache message structs come from the `kafka-protocol` crate, re-exported as [`kp`].

pub mod admin;
pub mod frame;
pub mod header;
pub mod link_admin;
pub mod mirror_admin;
pub mod properties;
pub mod response;
pub mod versions;

pub use kafka_protocol as kp;
/// Kafka's error codes, with names and retriability.
pub use kafka_protocol::error::ResponseError as ErrorCode;

/// Errors decoding or encoding protocol messages.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("request too short for a header: {0} bytes")]
    ShortHeader(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of API key {api_key} (supported {min}..={max})")]
    UnsupportedVersion {
        api_key: i16,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("malformed {what}: {message}")]
    Malformed { what: String, message: String },
    #[error("cannot encode {what}: {message}")]
    Encode { what: String, message: String },
}
