//! Request headers for Apache and Strait-private API keys.
//!
//! The header version depends on (api key, api version). For Apache keys `kafka-protocol`
//! knows it; Strait's private keys (see [`crate::versions::PRIVATE_API_KEY_BASE`]) are
//! flexible from v0 and so always use request header v2 / response header v1.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use crate::versions::is_private_api_key;
use crate::ProtocolError;

/// Reads `(api_key, api_version)` from the first four bytes of a request without consuming.
pub fn peek_key_version(frame: &[u8]) -> Result<(i16, i16), ProtocolError> {
    if frame.len() < 8 {
        return Err(ProtocolError::ShortHeader(frame.len()));
    }
    Ok((
        i16::from_be_bytes([frame[0], frame[1]]),
        i16::from_be_bytes([frame[2], frame[3]]),
    ))
}

/// The correlation id, readable from any request of at least 8 bytes whatever its key.
pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    (frame.len() >= 8).then(|| i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]))
}

/// Request header version for `(api_key, api_version)`.
pub fn request_header_version(api_key: i16, api_version: i16) -> Result<i16, ProtocolError> {
    if is_private_api_key(api_key) {
        return Ok(2);
    }
    ApiKey::try_from(api_key)
        .map(|k| k.request_header_version(api_version))
        .map_err(|_| ProtocolError::UnknownApiKey(api_key))
}

/// Response header version for `(api_key, api_version)`.
pub fn response_header_version(api_key: i16, api_version: i16) -> Result<i16, ProtocolError> {
    if is_private_api_key(api_key) {
        return Ok(1);
    }
    ApiKey::try_from(api_key)
        .map(|k| k.response_header_version(api_version))
        .map_err(|_| ProtocolError::UnknownApiKey(api_key))
}

/// Decodes the header off the front of `frame`, leaving the body.
pub fn decode_request_header(frame: &mut Bytes) -> Result<RequestHeader, ProtocolError> {
    let (api_key, api_version) = peek_key_version(frame)?;
    let version = request_header_version(api_key, api_version)?;
    RequestHeader::decode(frame, version).map_err(|e| ProtocolError::Malformed {
        what: format!("request header (api key {api_key} v{api_version})"),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn decodes_flexible_and_legacy_headers() {
        for (key, version) in [(3i16, 1i16), (3, 12), (18, 3), (0, 3)] {
            let header = RequestHeader::default()
                .with_request_api_key(key)
                .with_request_api_version(version)
                .with_correlation_id(42)
                .with_client_id(Some(StrBytes::from_static_str("c")));
            let hv = request_header_version(key, version).unwrap();
            let mut buf = BytesMut::new();
            header.encode(&mut buf, hv).unwrap();
            buf.extend_from_slice(b"body");
            let mut frame = buf.freeze();
            assert_eq!(peek_correlation_id(&frame), Some(42));
            let decoded = decode_request_header(&mut frame).unwrap();
            assert_eq!(decoded, header);
            assert_eq!(&frame[..], b"body");
        }
    }

    #[test]
    fn unknown_keys_and_short_frames_are_errors() {
        let mut frame = Bytes::from_static(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1]);
        assert!(matches!(
            decode_request_header(&mut frame),
            Err(ProtocolError::UnknownApiKey(999))
        ));
        let mut short = Bytes::from_static(&[0, 3]);
        assert!(matches!(
            decode_request_header(&mut short),
            Err(ProtocolError::ShortHeader(2))
        ));
    }
}
