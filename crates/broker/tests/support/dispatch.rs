//! In-process requests without a socket: a broker opened on a temp dir, and one request
//! encoded as a Kafka client would (header v1/v2 by the API's own rule), handed to
//! `dispatch::handle`, its response checked for length and decoded.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use strait_broker::{dispatch, Broker, BrokerConfig};

/// A broker (no listeners) with its data in `dir`, plus `extra` `key=value` overrides.
pub fn open_broker(dir: &std::path::Path, extra: &[&str]) -> Broker {
    let mut o = vec![format!("log.dirs={}", dir.display())];
    o.extend(extra.iter().map(|s| s.to_string()));
    Broker::open(BrokerConfig::load(None, &o).unwrap()).unwrap()
}

/// `req` at `version` as a client frames it (without the length prefix).
pub fn request_frame<R: Request>(version: i16, req: &R) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("test-client")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).unwrap();
    req.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// One request through `dispatch::handle`: the response's size prefix must match and no
/// byte may follow the decoded body.
pub async fn dispatch_call<R: Request>(broker: &Broker, version: i16, req: R) -> R::Response {
    let mut out = dispatch::handle(broker, request_frame(version, &req))
        .await
        .unwrap()
        .expect("a response");
    let size = i32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
    assert_eq!(size, out.len() - 4, "response size prefix");
    let _ = bytes::Buf::get_i32(&mut out);
    let _header = ResponseHeader::decode(&mut out, R::Response::header_version(version)).unwrap();
    let resp = R::Response::decode(&mut out, version).unwrap();
    assert!(out.is_empty(), "trailing bytes in response");
    resp
}
