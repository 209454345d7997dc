//! Response encoding: size prefix, header of the right version, body.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchResponse, ResponseHeader};
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

/// Bytes of a file that a plaintext connection can send with `sendfile(2)` instead of
/// reading them into memory: a partition's records in a Fetch response. The storage layer
/// implements it (this crate does no I/O; it only carries the handle to the writer).
pub trait FileRegion: Send + Sync + std::fmt::Debug {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends the bytes from `done` on with one `sendfile(2)` into `socket` (nonblocking:
    /// may send fewer or fail with `WouldBlock`) and returns how many went out. An error
    /// other than `WouldBlock` means the frame cannot be completed: close the connection.
    fn send_to(&self, socket: std::os::fd::BorrowedFd<'_>, done: usize) -> std::io::Result<usize>;

    /// The bytes, for a writer that cannot `sendfile` (TLS).
    fn read(&self) -> std::io::Result<Bytes>;
}

/// One chunk of a [`ResponseFrame`].
#[derive(Debug, Clone)]
pub enum FramePart {
    Bytes(Bytes),
    File(std::sync::Arc<dyn FileRegion>),
}

impl FramePart {
    pub fn len(&self) -> usize {
        match self {
            FramePart::Bytes(b) => b.len(),
            FramePart::File(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A response frame as chunks that, written back to back, are the frame (size prefix
/// included). Fetch responses keep each partition's records as their own chunk, so bytes
/// read from a segment reach the socket without being copied into one frame buffer, or
/// (a [`FramePart::File`]) go from the segment file to the socket with `sendfile(2)`.
#[derive(Debug, Clone, Default)]
pub struct ResponseFrame {
    parts: Vec<FramePart>,
}

impl ResponseFrame {
    pub fn parts(&self) -> &[FramePart] {
        &self.parts
    }

    /// Total bytes of the frame.
    pub fn len(&self) -> usize {
        self.parts.iter().map(FramePart::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(FramePart::is_empty)
    }

    /// Whether writing the frame needs a file read or `sendfile`.
    pub fn has_file_parts(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, FramePart::File(_)))
    }

    /// The frame as one buffer: free for a single bytes chunk, one copy otherwise; file
    /// parts are read (an I/O error means the file changed under the response).
    pub fn into_bytes(mut self) -> std::io::Result<Bytes> {
        if self.parts.len() == 1 {
            if let FramePart::Bytes(b) = self.parts.swap_remove(0) {
                return Ok(b);
            }
        }
        let mut buf = BytesMut::with_capacity(self.len());
        for p in &self.parts {
            match p {
                FramePart::Bytes(b) => buf.put_slice(b),
                FramePart::File(f) => buf.put_slice(&f.read()?),
            }
        }
        Ok(buf.freeze())
    }
}

impl From<Vec<Bytes>> for ResponseFrame {
    fn from(parts: Vec<Bytes>) -> Self {
        ResponseFrame {
            parts: parts.into_iter().map(FramePart::Bytes).collect(),
        }
    }
}

impl From<Vec<FramePart>> for ResponseFrame {
    fn from(parts: Vec<FramePart>) -> Self {
        ResponseFrame { parts }
    }
}

impl From<Bytes> for ResponseFrame {
    fn from(frame: Bytes) -> Self {
        ResponseFrame {
            parts: vec![FramePart::Bytes(frame)],
        }
    }
}

/// Records shorter than this are copied into the surrounding chunk: a separate `IoSlice`
/// per tiny partition costs more than the copy.
pub const SEPARATE_RECORDS_MIN: usize = 4096;

/// Encodes a Fetch response like [`encode_response`] does, byte for byte, but leaves each
/// partition's records `Bytes` (of at least [`SEPARATE_RECORDS_MIN`]) as its own chunk
/// instead of copying it into the frame: that copy was ~18% of a serving broker's CPU per
/// fetched byte (benches/README.md, link profile).
///
/// Everything except the records fields is still encoded by kafka-protocol. Each level
/// (response, topic, partition) is encoded with its child collection or records emptied,
/// then split at the empty field, whose offset follows from the fields before it and
/// whose bytes are checked; the real array length or records field goes in between. The
/// layout of v4-12 (v12 the first flexible version) is what this relies on; other
/// versions take the one-buffer path.
pub fn encode_fetch_response(
    api_version: i16,
    correlation_id: i32,
    body: FetchResponse,
) -> Result<ResponseFrame, ProtocolError> {
    encode_fetch_response_with_files(api_version, correlation_id, body, Vec::new())
}

/// Whether [`encode_fetch_response`] keeps records as separate chunks at `api_version`
/// (otherwise file records would have to be read to be copied into one buffer).
pub fn fetch_response_splits(api_version: i16) -> bool {
    (4..=12).contains(&api_version)
}

/// [`encode_fetch_response`] where some partitions' records are still in a file: `files`
/// holds, in response order over every topic's partitions (flattened), the region to send
/// as that partition's records, or `None` to use its `records` field. A region always
/// becomes its own [`FramePart::File`], whatever its size.
pub fn encode_fetch_response_with_files(
    api_version: i16,
    correlation_id: i32,
    mut body: FetchResponse,
    mut files: Vec<Option<std::sync::Arc<dyn FileRegion>>>,
) -> Result<ResponseFrame, ProtocolError> {
    if !fetch_response_splits(api_version) {
        // Not reached by the broker (it asks for files only where the response splits),
        // but correct: read the regions into their records fields.
        let regions = body
            .responses
            .iter_mut()
            .flat_map(|t| t.partitions.iter_mut())
            .zip(files.drain(..));
        for (p, file) in regions {
            if let Some(file) = file {
                p.records = Some(file.read().map_err(|e| ProtocolError::Encode {
                    what: format!("response to api key 1 v{api_version}"),
                    message: e.to_string(),
                })?);
            }
        }
        return encode_response(1, api_version, correlation_id, &body).map(ResponseFrame::from);
    }
    let mut files = files.into_iter();
    let v = api_version;
    let flexible = v >= 12;
    let err = |message: String| ProtocolError::Encode {
        what: format!("response to api key 1 v{v}"),
        message,
    };
    let kp_err = |e: anyhow_like::Error| err(e.0);
    // The encoding of an empty array (and, for records, of null) at this version.
    let empty_array: &[u8] = if flexible { &[1] } else { &[0, 0, 0, 0] };
    let null_bytes: &[u8] = if flexible {
        &[0]
    } else {
        &[0xff, 0xff, 0xff, 0xff]
    };

    let mut chunks = Vec::new();
    let mut head = BytesMut::new();
    // Size prefix, patched at the end.
    head.put_i32(0);
    let header_version = response_header_version(1, v)?;
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut head, header_version)
        .map_err(|e| kp_err(e.into()))?;

    let topics = std::mem::take(&mut body.responses);
    // throttle_time_ms, then error_code and session_id from v7.
    let top_prefix = if v >= 7 { 10 } else { 4 };
    let top = encode_split(&body, v, top_prefix, empty_array).map_err(err)?;
    head.put_slice(&top.0);
    put_array_len(&mut head, topics.len(), flexible).map_err(err)?;
    for mut topic in topics {
        let partitions = std::mem::take(&mut topic.partitions);
        let name_len = topic.topic.0.len();
        let topic_prefix = if flexible {
            uvarint_size(name_len as u64 + 1) + name_len
        } else {
            2 + name_len
        };
        let t = encode_split(&topic, v, topic_prefix, empty_array).map_err(err)?;
        head.put_slice(&t.0);
        put_array_len(&mut head, partitions.len(), flexible).map_err(err)?;
        for mut p in partitions {
            let records = p.records.take();
            let file = files.next().flatten();
            let prefix = partition_prefix_len(&p, v).map_err(err)?;
            let (before, after) = encode_split(&p, v, prefix, null_bytes).map_err(err)?;
            head.put_slice(&before);
            match (file, records) {
                (Some(file), _) => {
                    put_bytes_len(&mut head, file.len(), flexible).map_err(err)?;
                    chunks.push(Chunk::Encoded(head.split()));
                    chunks.push(Chunk::File(file));
                }
                (None, None) => head.put_slice(null_bytes),
                (None, Some(records)) => {
                    put_bytes_len(&mut head, records.len(), flexible).map_err(err)?;
                    if records.len() >= SEPARATE_RECORDS_MIN {
                        chunks.push(Chunk::Encoded(head.split()));
                        chunks.push(Chunk::Records(records));
                    } else {
                        head.put_slice(&records);
                    }
                }
            }
            head.put_slice(&after);
        }
        head.put_slice(&t.1);
    }
    head.put_slice(&top.1);
    chunks.push(Chunk::Encoded(head));

    let total: usize = chunks.iter().map(Chunk::len).sum();
    let size = i32::try_from(total - 4)
        .map_err(|_| err(format!("frame of {total} bytes exceeds the i32 size field")))?;
    let mut parts = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let part = match chunk {
            Chunk::Encoded(mut b) => {
                // The first chunk starts with the size placeholder (nothing is split off
                // before the header is written).
                if parts.is_empty() {
                    b[..4].copy_from_slice(&size.to_be_bytes());
                }
                FramePart::Bytes(b.freeze())
            }
            Chunk::Records(b) => FramePart::Bytes(b),
            Chunk::File(f) => FramePart::File(f),
        };
        // An empty chunk (nothing after the last records at v4-11) would make a
        // zero-length write, which the writer must not mistake for a closed socket.
        if !part.is_empty() {
            parts.push(part);
        }
    }
    Ok(ResponseFrame { parts })
}

/// A piece of a Fetch response while it is being encoded: bytes encoded here, still
/// mutable for the size prefix, or a partition's records as read from the log.
enum Chunk {
    Encoded(BytesMut),
    Records(Bytes),
    File(std::sync::Arc<dyn FileRegion>),
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Encoded(b) => b.len(),
            Chunk::Records(b) => b.len(),
            Chunk::File(f) => f.len(),
        }
    }
}

/// Encodes `msg` (whose child collection or records is empty) and splits it around the
/// empty field at `prefix`, which must encode as `empty`.
fn encode_split<M: Encodable>(
    msg: &M,
    version: i16,
    prefix: usize,
    empty: &[u8],
) -> Result<(Bytes, Bytes), String> {
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, version)
        .map_err(|e| anyhow_like::Error::from(e).0)?;
    let at = prefix + empty.len();
    if buf.get(prefix..at) != Some(empty) {
        // Would mean kafka-protocol's field layout is not the one assumed above.
        return Err(format!(
            "fetch response layout: expected {empty:?} at byte {prefix} of a {}-byte encoding",
            buf.len()
        ));
    }
    let mut buf = buf.freeze();
    let after = buf.split_off(at);
    buf.truncate(prefix);
    Ok((buf, after))
}

/// Bytes of a partition's fields before `records`: partition_index, error_code,
/// high_watermark, last_stable_offset, log_start_offset (v5+), aborted_transactions,
/// preferred_read_replica (v11+).
fn partition_prefix_len(p: &PartitionData, version: i16) -> Result<usize, String> {
    let flexible = version >= 12;
    let mut n = 4 + 2 + 8 + 8;
    if version >= 5 {
        n += 8;
    }
    n += match &p.aborted_transactions {
        None => {
            if flexible {
                1
            } else {
                4
            }
        }
        Some(txns) => {
            let mut size = if flexible {
                uvarint_size(txns.len() as u64 + 1)
            } else {
                4
            };
            for t in txns {
                size += t.compute_size(version).map_err(|e| e.to_string())?;
            }
            size
        }
    };
    if version >= 11 {
        n += 4;
    }
    Ok(n)
}

fn uvarint_size(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// An array length: i32, or (flexible) unsigned varint of length + 1.
fn put_array_len(buf: &mut BytesMut, len: usize, flexible: bool) -> Result<(), String> {
    if flexible {
        let n = u32::try_from(len)
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| format!("array of {len} elements is too long to encode"))?;
        put_uvarint(buf, n);
    } else {
        let n = i32::try_from(len)
            .map_err(|_| format!("array of {len} elements is too long to encode"))?;
        buf.put_i32(n);
    }
    Ok(())
}

/// A non-null bytes length, with kafka-protocol's limits: i32, or (flexible) unsigned
/// varint of length + 1.
fn put_bytes_len(buf: &mut BytesMut, len: usize, flexible: bool) -> Result<(), String> {
    if flexible {
        let n = u32::try_from(len)
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| format!("records of {len} bytes are too long to encode"))?;
        put_uvarint(buf, n);
    } else {
        let n = i32::try_from(len)
            .map_err(|_| format!("records of {len} bytes are too long to encode"))?;
        buf.put_i32(n);
    }
    Ok(())
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

    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    /// Records of `len` bytes with a recognisable pattern.
    fn records(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    /// A response exercising every field v4-12 can carry (only those valid at `v`).
    fn rich_fetch_response(v: i16, big: &Bytes) -> FetchResponse {
        let partition = |index: i32| PartitionData::default().with_partition_index(index);
        let topic = |name: &str, partitions: Vec<PartitionData>| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                .with_partitions(partitions)
        };
        let mut with_everything = partition(0)
            .with_high_watermark(1_000_000)
            .with_last_stable_offset(999_000)
            .with_log_start_offset(7)
            .with_aborted_transactions(Some(vec![
                AbortedTransaction::default()
                    .with_producer_id(42.into())
                    .with_first_offset(500),
                AbortedTransaction::default()
                    .with_producer_id(43.into())
                    .with_first_offset(600),
            ]))
            .with_records(Some(big.clone()));
        let mut diverging = partition(3)
            .with_error_code(0)
            .with_records(Some(Bytes::new()));
        if v >= 11 {
            with_everything = with_everything.with_preferred_read_replica(BrokerId(2));
        }
        if v >= 12 {
            diverging = diverging
                .with_diverging_epoch(EpochEndOffset::default().with_epoch(4).with_end_offset(77))
                .with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(1))
                        .with_leader_epoch(5),
                );
            with_everything
                .unknown_tagged_fields
                .insert(9, Bytes::from_static(b"tag"));
        }
        let mut resp = FetchResponse::default()
            .with_throttle_time_ms(12)
            .with_responses(vec![
                topic(
                    "orders",
                    vec![
                        with_everything,
                        // An error, no records at all (null).
                        partition(1).with_error_code(1).with_high_watermark(-1),
                        // Small records: copied inline, not a separate chunk.
                        partition(2)
                            .with_records(Some(records(100, 3)))
                            .with_aborted_transactions(Some(Vec::new())),
                        diverging,
                    ],
                ),
                // A topic with no partitions, and one with a second large read.
                topic("empty", Vec::new()),
                topic(
                    &"t".repeat(200),
                    vec![partition(0).with_records(Some(records(70_000, 9)))],
                ),
            ]);
        if v >= 7 {
            resp = resp.with_error_code(0).with_session_id(1234);
        }
        resp
    }

    #[test]
    fn fetch_response_chunks_are_byte_identical_to_kafka_protocol() {
        let big = records(300_000, 1);
        for v in 4..=12 {
            let resp = rich_fetch_response(v, &big);
            let expected = encode_response(1, v, 77, &resp).unwrap();
            let frame = encode_fetch_response(v, 77, resp.clone()).unwrap();
            assert_eq!(frame.len(), expected.len(), "v{v}");
            assert!(frame.parts().iter().all(|p| !p.is_empty()), "v{v}");
            // The large records are handed over as they are, not copied.
            assert!(
                frame
                    .parts()
                    .iter()
                    .any(|p| matches!(p, FramePart::Bytes(b) if b.as_ptr() == big.as_ptr() && b.len() == big.len())),
                "v{v}"
            );
            // Head, 300 kB, head, 70 kB, then (v12 only: tagged-field counts) a tail; at
            // v4-11 the frame ends with the 70 kB records and the empty tail is dropped.
            let expected_parts = if v >= 12 { 5 } else { 4 };
            assert_eq!(frame.parts().len(), expected_parts, "v{v}");
            assert_eq!(frame.into_bytes().unwrap(), expected, "v{v}");

            // Edge shapes: nothing at all, and one partition whose records end the frame.
            let empty = FetchResponse::default();
            assert_eq!(
                encode_fetch_response(v, 1, empty.clone())
                    .unwrap()
                    .into_bytes()
                    .unwrap(),
                encode_response(1, v, 1, &empty).unwrap(),
                "v{v}"
            );
            let last =
                FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("x")))
                    .with_partitions(vec![
                        PartitionData::default().with_records(Some(big.clone()))
                    ])]);
            assert_eq!(
                encode_fetch_response(v, 2, last.clone())
                    .unwrap()
                    .into_bytes()
                    .unwrap(),
                encode_response(1, v, 2, &last).unwrap(),
                "v{v}"
            );
        }
    }

    /// A region backed by memory: enough to check the encoder's framing around it (the
    /// broker tests send real segment files).
    #[derive(Debug)]
    struct InMemory(Bytes);

    impl FileRegion for InMemory {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn send_to(&self, _: std::os::fd::BorrowedFd<'_>, _: usize) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::Unsupported.into())
        }
        fn read(&self) -> std::io::Result<Bytes> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn fetch_response_with_files_matches_records_in_place() {
        let big = records(300_000, 1);
        // Small as well as large: a region is its own part whatever its size.
        let small = records(100, 3);
        for v in 4..=12 {
            let resp = rich_fetch_response(v, &big);
            let expected = encode_response(1, v, 5, &resp).unwrap();
            // The same response with the records of every partition that has some moved
            // into regions, and the records fields cleared.
            let mut stripped = resp.clone();
            let mut files: Vec<Option<std::sync::Arc<dyn FileRegion>>> = Vec::new();
            for p in stripped
                .responses
                .iter_mut()
                .flat_map(|t| t.partitions.iter_mut())
            {
                match p.records.take() {
                    Some(r) if !r.is_empty() => {
                        files.push(Some(std::sync::Arc::new(InMemory(r))));
                    }
                    other => {
                        p.records = other;
                        files.push(None);
                    }
                }
            }
            let frame = encode_fetch_response_with_files(v, 5, stripped, files).unwrap();
            let file_parts = frame
                .parts()
                .iter()
                .filter(|p| matches!(p, FramePart::File(_)))
                .count();
            assert_eq!(file_parts, 3, "v{v}");
            assert!(frame.has_file_parts());
            assert_eq!(frame.len(), expected.len(), "v{v}");
            assert_eq!(frame.into_bytes().unwrap(), expected, "v{v}");
        }
        // Versions that do not split read the regions into the one buffer.
        let resp = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("x")))
            .with_partitions(vec![PartitionData::default()])]);
        let mut with_records = resp.clone();
        with_records.responses[0].partitions[0].records = Some(small.clone());
        let frame = encode_fetch_response_with_files(
            13,
            9,
            resp,
            vec![Some(std::sync::Arc::new(InMemory(small)))],
        )
        .unwrap();
        assert!(!frame.has_file_parts());
        assert_eq!(
            frame.into_bytes().unwrap(),
            encode_response(1, 13, 9, &with_records).unwrap()
        );
    }

    #[test]
    fn fetch_response_invalid_fields_fail_like_kafka_protocol() {
        // preferred_read_replica exists from v11; session_id from v7.
        let bad = FetchResponse::default()
            .with_responses(vec![FetchableTopicResponse::default().with_partitions(
                vec![PartitionData::default().with_preferred_read_replica(BrokerId(1))],
            )]);
        assert!(encode_response(1, 10, 1, &bad).is_err());
        assert!(encode_fetch_response(10, 1, bad).is_err());
        let bad = FetchResponse::default().with_session_id(5);
        assert!(encode_response(1, 6, 1, &bad).is_err());
        assert!(encode_fetch_response(6, 1, bad).is_err());
    }

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
