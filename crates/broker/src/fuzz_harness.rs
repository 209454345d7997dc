//! Entry points for fuzzing untrusted bytes, shared by the `cargo fuzz` targets in
//! `crates/fuzz/` and the corpus replay test (`crates/broker/tests/fuzz_corpus.rs`), so CI
//! replays exactly what the fuzzer ran.
//!
//! Each function takes arbitrary bytes and exercises one decoder the broker or the link runs
//! on input it does not control: request framing and every implemented API's body, record
//! batches and records, the four codecs, the properties and JAAS parsers, the filter JSON.
//! The contract under test: no panic, no unbounded allocation, no arithmetic overflow on
//! wire values; errors are values. Where a decoder has an inverse, the round trip is checked
//! too (a mismatch panics, which the fuzzer reports).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use strait_protocol::admin::{self, AdminMessage};
use strait_protocol::frame::try_split_frame;
use strait_protocol::header::{decode_request_header, peek_key_version};
use strait_protocol::versions::{check_version, is_private_api_key};
use strait_records::{decode_records, BatchIter, Compression, RecordBatch};

/// Names of the targets, as in `crates/fuzz/fuzz_targets/<name>.rs` and the corpus dirs.
pub const TARGETS: &[&str] = &[
    "request_frame",
    "record_batches",
    "codecs",
    "properties",
    "jaas",
    "filters",
];

/// Runs the target called `name` on `data`; false if there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "request_frame" => request_frame(data),
        "record_batches" => record_batches(data),
        "codecs" => codecs(data),
        "properties" => properties(data),
        "jaas" => jaas(data),
        "filters" => filters(data),
        _ => return false,
    }
    true
}

/// A connection's bytes: split frames as the connection task does, then decode each one's
/// header and body exactly as dispatch does for the implemented (key, version) pairs.
pub fn request_frame(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    // The broker's default socket.request.max.bytes; small inputs never reach it anyway.
    while let Ok(Some(frame)) = try_split_frame(&mut buf, 100 * 1024 * 1024) {
        decode_one(frame);
    }
}

fn decode_one(mut frame: Bytes) {
    let Ok((api_key, api_version)) = peek_key_version(&frame) else {
        return;
    };
    if check_version(api_key, api_version).is_err() {
        return;
    }
    if decode_request_header(&mut frame).is_err() {
        return;
    }
    if is_private_api_key(api_key) {
        decode_private(api_key, frame);
        return;
    }
    if let Ok(key) = ApiKey::try_from(api_key) {
        decode_body(key, &mut frame, api_version);
    }
}

/// Decodes the request body of `key` as dispatch does; false for a key this harness does
/// not know (a test checks that every API in the version table is known here).
pub fn decode_body(key: ApiKey, body: &mut Bytes, version: i16) -> bool {
    macro_rules! bodies {
        ($($api:ident => $ty:ident),* $(,)?) => {
            match key {
                $(ApiKey::$api => { let _ = $ty::decode(body, version); true })*
                _ => false,
            }
        };
    }
    bodies! {
        AddOffsetsToTxn => AddOffsetsToTxnRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest,
        AlterConfigs => AlterConfigsRequest,
        AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
        AlterUserScramCredentials => AlterUserScramCredentialsRequest,
        ApiVersions => ApiVersionsRequest,
        CreateAcls => CreateAclsRequest,
        CreatePartitions => CreatePartitionsRequest,
        CreateTopics => CreateTopicsRequest,
        DeleteAcls => DeleteAclsRequest,
        DeleteGroups => DeleteGroupsRequest,
        DeleteRecords => DeleteRecordsRequest,
        DeleteTopics => DeleteTopicsRequest,
        DescribeAcls => DescribeAclsRequest,
        DescribeCluster => DescribeClusterRequest,
        DescribeConfigs => DescribeConfigsRequest,
        DescribeGroups => DescribeGroupsRequest,
        DescribeLogDirs => DescribeLogDirsRequest,
        DescribeProducers => DescribeProducersRequest,
        DescribeQuorum => DescribeQuorumRequest,
        DescribeTopicPartitions => DescribeTopicPartitionsRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
        ElectLeaders => ElectLeadersRequest,
        EndTxn => EndTxnRequest,
        Fetch => FetchRequest,
        FindCoordinator => FindCoordinatorRequest,
        Heartbeat => HeartbeatRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        InitProducerId => InitProducerIdRequest,
        JoinGroup => JoinGroupRequest,
        LeaveGroup => LeaveGroupRequest,
        ListGroups => ListGroupsRequest,
        ListOffsets => ListOffsetsRequest,
        ListPartitionReassignments => ListPartitionReassignmentsRequest,
        ListTransactions => ListTransactionsRequest,
        Metadata => MetadataRequest,
        OffsetCommit => OffsetCommitRequest,
        OffsetDelete => OffsetDeleteRequest,
        OffsetFetch => OffsetFetchRequest,
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        Produce => ProduceRequest,
        SaslAuthenticate => SaslAuthenticateRequest,
        SaslHandshake => SaslHandshakeRequest,
        SyncGroup => SyncGroupRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest,
        WriteTxnMarkers => WriteTxnMarkersRequest,
    }
}

fn decode_private(api_key: i16, body: Bytes) {
    match api_key {
        admin::CREATE_CLUSTER_LINKS => {
            let _ = admin::CreateClusterLinksRequest::decode(body);
        }
        admin::LIST_CLUSTER_LINKS => {
            let _ = admin::ListClusterLinksRequest::decode(body);
        }
        admin::DELETE_CLUSTER_LINKS => {
            let _ = admin::DeleteClusterLinksRequest::decode(body);
        }
        admin::CREATE_MIRROR_TOPICS => {
            let _ = admin::CreateMirrorTopicsRequest::decode(body);
        }
        admin::DESCRIBE_MIRRORS => {
            let _ = admin::DescribeMirrorsRequest::decode(body);
        }
        admin::ALTER_MIRRORS => {
            let _ = admin::AlterMirrorsRequest::decode(body);
        }
        strait_protocol::mirror_admin::RESTORE_MIRRORS => {
            let _ = strait_protocol::mirror_admin::RestoreMirrorsRequest::decode(body);
        }
        strait_protocol::mirror_admin::REVERSE_MIRRORS => {
            let _ = strait_protocol::mirror_admin::ReverseMirrorsRequest::decode(body);
        }
        strait_protocol::mirror_admin::DESCRIBE_TOPIC_LINEAGE => {
            let _ = strait_protocol::mirror_admin::DescribeTopicLineageRequest::decode(body);
        }
        _ => {}
    }
}

/// Record bytes as Produce, Fetch responses (the link) and recovery see them: framing with
/// the partial-tail rule, CRC, header fields, every record (decompressed), control keys.
pub fn record_batches(data: &[u8]) {
    let mut iter = BatchIter::new(data);
    for batch in iter.by_ref() {
        let Ok(batch) = batch else { break };
        inspect(&batch);
    }
    let _ = iter.trailing_bytes();
    if let Ok(batches) = BatchIter::frame_all(data) {
        for b in &batches {
            inspect(b);
        }
    }
    if let Ok(b) = RecordBatch::new(data) {
        inspect(&b);
    }
}

fn inspect(batch: &RecordBatch<'_>) {
    let _ = batch.validate_crc();
    let h = batch.header();
    // Offset arithmetic on wire values must saturate or be checked, never overflow.
    let _ = h.last_offset();
    if let Ok(records) = decode_records(batch) {
        for r in &records {
            let _ = r.offset(batch);
            let _ = r.timestamp(batch);
            if h.is_control() {
                if let Some(key) = r.key.as_deref() {
                    let _ = strait_records::ControlRecordType::parse_key(key);
                }
            }
        }
    }
}

/// Every codec's decoder on arbitrary bytes (bounded, as the broker calls it), and
/// compress → decompress of the input as an identity.
pub fn codecs(data: &[u8]) {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let _ = codec.decompress_bounded(data, 1 << 20);
        if let Ok(packed) = codec.compress(data) {
            match codec.decompress_bounded(&packed, data.len().max(1) * 2 + 1024) {
                Ok(back) => assert_eq!(back, data, "{} round trip changed the bytes", codec.name()),
                Err(e) => panic!("{} cannot decode its own output: {e}", codec.name()),
            }
        }
    }
}

/// Java `.properties` (server.properties, link config files).
pub fn properties(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = strait_protocol::properties::parse(text);
    }
}

/// `sasl.jaas.config` values.
pub fn jaas(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = strait_client::jaas::parse(text);
    }
}

/// The link's filter JSON (topics, groups, ACLs).
pub fn filters(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = strait_link::filters::parse_topic_filters(text);
        let _ = strait_link::filters::parse_group_filters(text);
        let _ = strait_link::filters::parse_acl_filters(text);
    }
}
