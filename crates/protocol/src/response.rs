//! Response encoding: size prefix, header of the right version, body.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::Encodable;

use crate::header::response_header_version;
use crate::versions::api_versions_response;
use crate::{ErrorCode, ProtocolError};

/// Encodes a complete response frame (size prefix included) for a request of
/// `(api_key, api_version)`.
pub fn encode_response<R: Encodable>(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<Bytes, ProtocolError> {
    let header_version = response_header_version(api_key, api_version)?;
    encode_with_header_version(header_version, api_version, correlation_id, body, api_key)
}

fn encode_with_header_version<R: Encodable>(
    header_version: i16,
    body_version: i16,
    correlation_id: i32,
    body: &R,
    api_key: i16,
) -> Result<Bytes, ProtocolError> {
    let encode_err = |e: anyhow_like::Error| ProtocolError::Encode {
        what: format!("response to api key {api_key} v{body_version}"),
        message: e.0,
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .map_err(|e| encode_err(e.into()))?
        + body
            .compute_size(body_version)
            .map_err(|e| encode_err(e.into()))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_err(e.into()))?;
    body.encode(&mut buf, body_version)
        .map_err(|e| encode_err(e.into()))?;
    Ok(buf.freeze())
}

/// Encodes a response frame whose body is already encoded (Strait's private API, whose
/// messages encode themselves): size prefix, response header v1, body.
pub fn encode_private_response(correlation_id: i32, body: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + 5 + body.len());
    buf.put_i32((4 + 1 + body.len()) as i32);
    buf.put_i32(correlation_id);
    // Empty tagged-field section of response header v1.
    buf.put_u8(0);
    buf.put_slice(body);
    buf.freeze()
}

/// The reply to an ApiVersions request whose version is newer than Strait's: a v0 body
/// with UNSUPPORTED_VERSION and the full table, behind a v0 header with no tagged fields.
/// Clients (kafka-python 3.x, KafkaJS, sarama) decode it and retry with a version we list.
pub fn api_versions_fallback(correlation_id: i32) -> Result<Bytes, ProtocolError> {
    let body = api_versions_response(Some(ErrorCode::UnsupportedVersion));
    encode_with_header_version(0, 0, correlation_id, &body, 18)
}

/// `kafka-protocol` reports errors as `anyhow::Error`; we keep only the message so that
/// anyhow stays out of our public types.
mod anyhow_like {
    pub struct Error(pub String);
    impl<E: std::fmt::Display> From<E> for Error {
        fn from(e: E) -> Self {
            Error(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn fallback_is_v0_with_unsupported_version() {
        let mut frame = api_versions_fallback(7).unwrap();
        let size = frame.get_i32() as usize;
        assert_eq!(size, frame.len());
        assert_eq!(frame.get_i32(), 7); // v0 header: correlation id only
        let body = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
        assert_eq!(body.error_code, 35);
        assert!(body
            .api_keys
            .iter()
            .any(|k| k.api_key == 18 && k.max_version == 4));
        assert!(frame.is_empty());
    }

    #[test]
    fn api_versions_v3_uses_header_v0() {
        let body = api_versions_response(None);
        let mut frame = encode_response(18, 3, 9, &body).unwrap();
        frame.get_i32();
        assert_eq!(frame.get_i32(), 9);
        let decoded = ApiVersionsResponse::decode(&mut frame, 3).unwrap();
        assert_eq!(decoded.error_code, 0);
        assert!(frame.is_empty());
    }
}
