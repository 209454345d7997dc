//! Request framing and response parsing, sans I/O.
//!
//! Owns the byte layout a client writes and reads: `size i32 | request header | body` out,
//! `size i32 | response header | body` in, with header versions chosen per (api key,
//! version) — KP's `HeaderVersion` for Apache keys, `strait_protocol::header` for Strait's
//! private keys (request header v2 / response header v1 from v0). Also owns the one
//! special case of the protocol: ApiVersions' v0-format UNSUPPORTED_VERSION fallback.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Human name of an API key for errors ("Fetch", "api key 20001").
pub fn api_name(api_key: i16) -> String {
    match ApiKey::try_from(api_key) {
        Ok(k) => format!("{k:?}").trim_end_matches("Key").to_string(),
        Err(_) => format!("api key {api_key}"),
    }
}

fn header(api_key: i16, version: i16, correlation_id: i32, client_id: &StrBytes) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.clone()))
}

/// Encodes a complete request frame (size prefix included) for a KP message body.
pub fn encode_request<B: Encodable>(
    api_key: i16,
    version: i16,
    header_version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
    body: &B,
) -> Result<Bytes, String> {
    let header = header(api_key, version, correlation_id, client_id);
    let size = header
        .compute_size(header_version)
        .map_err(|e| e.to_string())?
        + body.compute_size(version).map_err(|e| e.to_string())?;
    let size_i32 =
        i32::try_from(size).map_err(|_| format!("request of {size} bytes is too large"))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size_i32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| e.to_string())?;
    body.encode(&mut buf, version).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// Encodes a complete request frame around an already-encoded body (`send_raw`).
pub fn encode_raw_request(
    api_key: i16,
    version: i16,
    header_version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
    body: &[u8],
) -> Result<Bytes, String> {
    let header = header(api_key, version, correlation_id, client_id);
    let size = header
        .compute_size(header_version)
        .map_err(|e| e.to_string())?
        + body.len();
    let size_i32 =
        i32::try_from(size).map_err(|_| format!("request of {size} bytes is too large"))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size_i32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| e.to_string())?;
    buf.put_slice(body);
    Ok(buf.freeze())
}

/// The correlation id at the front of a response frame (size prefix already removed).
pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    (frame.len() >= 4).then(|| i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

/// Removes the response header (v0: correlation id; v1: plus tagged fields) and returns
/// `(correlation_id, body)`. The body shares the frame's allocation.
pub fn split_response_header(
    mut frame: Bytes,
    header_version: i16,
) -> Result<(i32, Bytes), String> {
    let header = ResponseHeader::decode(&mut frame, header_version).map_err(|e| e.to_string())?;
    Ok((header.correlation_id, frame))
}

/// Decodes a KP response body. Trailing bytes are tolerated: newer brokers may append
/// fields we do not know only in tagged sections, but being lenient costs nothing here.
pub fn decode_body<R: Decodable>(mut body: Bytes, version: i16) -> Result<R, String> {
    R::decode(&mut body, version).map_err(|e| e.to_string())
}

/// Result of one ApiVersions round trip.
#[derive(Debug)]
pub enum ApiVersionsReply {
    /// The broker answered at the version we asked.
    Answer(ApiVersionsResponse),
    /// UNSUPPORTED_VERSION: retry at this version (the highest the broker lists for
    /// ApiVersions, capped by ours).
    Retry(i16),
}

/// Highest ApiVersions version this client sends (KIP-511 client name/version from v3).
pub const API_VERSIONS_MAX: i16 = 3;

/// Interprets an ApiVersions response body sent in reply to a request at `version`.
///
/// A broker that does not know `version` answers with error 35 UNSUPPORTED_VERSION and a
/// **v0-format** body (Kafka treats unknown ApiVersions versions as v0), so the error code
/// is peeked first and the body decoded as v0 in that case. Some brokers send the fallback
/// at the request's version instead; that is tried second.
pub fn interpret_api_versions(body: Bytes, version: i16) -> Result<ApiVersionsReply, String> {
    if body.len() < 2 {
        return Err(format!("ApiVersions body of {} bytes", body.len()));
    }
    let error_code = i16::from_be_bytes([body[0], body[1]]);
    if error_code != 35 {
        return decode_body::<ApiVersionsResponse>(body, version).map(ApiVersionsReply::Answer);
    }
    let listed = decode_body::<ApiVersionsResponse>(body.clone(), 0)
        .or_else(|_| decode_body::<ApiVersionsResponse>(body, version))
        .map_err(|e| format!("UNSUPPORTED_VERSION reply is undecodable: {e}"))?;
    let their_max = listed
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
        .map(|k| k.max_version)
        .unwrap_or(0);
    let retry = their_max.min(API_VERSIONS_MAX);
    if retry >= version {
        return Err(format!(
            "broker rejected ApiVersions v{version} with UNSUPPORTED_VERSION but lists up to v{their_max}"
        ));
    }
    Ok(ApiVersionsReply::Retry(retry.max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::HeaderVersion;

    #[test]
    fn request_frames_carry_size_header_and_body() {
        let client_id = StrBytes::from_static_str("strait");
        let req = MetadataRequest::default().with_topics(Some(vec![]));
        let hv = MetadataRequest::header_version(12);
        let mut frame = encode_request(3, 12, hv, 77, &client_id, &req).unwrap();
        let size = frame.get_i32() as usize;
        assert_eq!(size, frame.len());
        let header = RequestHeader::decode(&mut frame, hv).unwrap();
        assert_eq!(header.correlation_id, 77);
        assert_eq!(header.request_api_version, 12);
        assert_eq!(header.client_id.as_deref(), Some("strait"));
        assert_eq!(MetadataRequest::decode(&mut frame, 12).unwrap(), req);

        // Private keys: header v2, raw body untouched.
        let mut frame = encode_raw_request(20001, 0, 2, 5, &client_id, b"\x00body").unwrap();
        frame.get_i32();
        let header = RequestHeader::decode(&mut frame, 2).unwrap();
        assert_eq!(header.request_api_key, 20001);
        assert_eq!(&frame[..], b"\x00body");
    }

    #[test]
    fn response_header_v1_skips_tagged_fields() {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(9)
            .encode(&mut buf, 1)
            .unwrap();
        buf.put_slice(b"rest");
        let (id, body) = split_response_header(buf.freeze(), 1).unwrap();
        assert_eq!(id, 9);
        assert_eq!(&body[..], b"rest");
        assert!(split_response_header(Bytes::from_static(b"\x00\x00"), 0).is_err());
    }

    #[test]
    fn api_versions_fallback_is_decoded_as_v0() {
        let listed = ApiVersionsResponse::default()
            .with_error_code(35)
            .with_api_keys(vec![ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(2)]);
        let mut buf = BytesMut::new();
        listed.encode(&mut buf, 0).unwrap();
        match interpret_api_versions(buf.freeze(), 3).unwrap() {
            ApiVersionsReply::Retry(v) => assert_eq!(v, 2),
            other => panic!("{other:?}"),
        }
        // Strait's own fallback reply (protocol crate) decodes the same way.
        let mut frame = strait_protocol::response::api_versions_fallback(1).unwrap();
        frame.advance(8);
        assert!(matches!(
            interpret_api_versions(frame, 4 + 1),
            Ok(ApiVersionsReply::Retry(3))
        ));
        let _ = ApiVersionsRequest::header_version(3);
        assert!(interpret_api_versions(Bytes::from_static(b"\x00"), 3).is_err());
        assert!(interpret_api_versions(Bytes::from_static(b"\x00\x23\xff"), 3).is_err());
    }
}
