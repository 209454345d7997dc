//! The one table of implemented APIs: it drives dispatch and the ApiVersions response.
//!
//! Ranges are what Strait implements, clamped to what `kafka-protocol` can decode (its
//! `<Request as Message>::VERSIONS`, checked by a test below). Produce and Fetch stop at 12
//! because v13 switches to topic ids, which Strait does not route on yet.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use crate::{ErrorCode, ProtocolError};

/// First API key of Strait's private admin range (cluster links and mirrors).
pub const PRIVATE_API_KEY_BASE: i16 = 20000;

pub fn is_private_api_key(api_key: i16) -> bool {
    api_key >= PRIVATE_API_KEY_BASE
}

/// One implemented API and its version range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    pub api_key: i16,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> ApiRange {
    ApiRange {
        api_key: key as i16,
        min,
        max,
    }
}

const fn private(key: i16) -> ApiRange {
    ApiRange {
        api_key: key,
        min: 0,
        max: 0,
    }
}

/// Every API Strait answers, in api-key order.
pub const SUPPORTED_APIS: &[ApiRange] = &[
    api(ApiKey::Produce, 3, 12),
    api(ApiKey::Fetch, 4, 12),
    api(ApiKey::ListOffsets, 1, 7),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::SaslHandshake, 0, 1),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::AddPartitionsToTxn, 0, 3),
    api(ApiKey::AddOffsetsToTxn, 0, 3),
    api(ApiKey::EndTxn, 0, 3),
    api(ApiKey::WriteTxnMarkers, 1, 1),
    api(ApiKey::TxnOffsetCommit, 0, 3),
    api(ApiKey::DescribeAcls, 1, 3),
    api(ApiKey::CreateAcls, 1, 3),
    api(ApiKey::DeleteAcls, 1, 3),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::DescribeLogDirs, 1, 4),
    api(ApiKey::SaslAuthenticate, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::AlterPartitionReassignments, 0, 0),
    api(ApiKey::ListPartitionReassignments, 0, 0),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeUserScramCredentials, 0, 0),
    api(ApiKey::AlterUserScramCredentials, 0, 0),
    api(ApiKey::DescribeQuorum, 0, 2),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::DescribeProducers, 0, 0),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 1),
    api(ApiKey::DescribeTopicPartitions, 0, 0),
    private(crate::admin::CREATE_CLUSTER_LINKS),
    private(crate::admin::LIST_CLUSTER_LINKS),
    private(crate::admin::DELETE_CLUSTER_LINKS),
    private(crate::admin::CREATE_MIRROR_TOPICS),
    private(crate::admin::DESCRIBE_MIRRORS),
    private(crate::admin::ALTER_MIRRORS),
    private(crate::link_admin::ALTER_CLUSTER_LINK_CONFIGS),
    private(crate::mirror_admin::RESTORE_MIRRORS),
    private(crate::mirror_admin::REVERSE_MIRRORS),
    private(crate::mirror_admin::DESCRIBE_TOPIC_LINEAGE),
    private(crate::link_admin::LINK_TUNNEL),
];

/// The implemented range of `api_key`, if Strait answers it at all.
pub fn supported_range(api_key: i16) -> Option<ApiRange> {
    SUPPORTED_APIS
        .iter()
        .copied()
        .find(|r| r.api_key == api_key)
}

/// Checks a request's (key, version) against the table.
pub fn check_version(api_key: i16, api_version: i16) -> Result<(), ProtocolError> {
    match supported_range(api_key) {
        None => Err(ProtocolError::UnknownApiKey(api_key)),
        Some(r) if api_version < r.min || api_version > r.max => {
            Err(ProtocolError::UnsupportedVersion {
                api_key,
                version: api_version,
                min: r.min,
                max: r.max,
            })
        }
        Some(_) => Ok(()),
    }
}

/// The ApiVersions response body for `error`, listing every implemented API.
pub fn api_versions_response(error: Option<ErrorCode>) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error.map_or(0, |e| e.code()))
        .with_api_keys(
            SUPPORTED_APIS
                .iter()
                .map(|r| {
                    ApiVersion::default()
                        .with_api_key(r.api_key)
                        .with_min_version(r.min)
                        .with_max_version(r.max)
                })
                .collect(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Message, VersionRange};

    fn decodable(key: ApiKey) -> VersionRange {
        match key {
            ApiKey::Produce => ProduceRequest::VERSIONS,
            ApiKey::Fetch => FetchRequest::VERSIONS,
            ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
            ApiKey::Metadata => MetadataRequest::VERSIONS,
            ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
            ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
            ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
            ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
            ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
            ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::VERSIONS,
            ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::VERSIONS,
            ApiKey::EndTxn => EndTxnRequest::VERSIONS,
            ApiKey::DescribeTransactions => DescribeTransactionsRequest::VERSIONS,
            ApiKey::ListTransactions => ListTransactionsRequest::VERSIONS,
            ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
            ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
            ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
            ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
            ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
            ApiKey::ElectLeaders => ElectLeadersRequest::VERSIONS,
            ApiKey::AlterPartitionReassignments => AlterPartitionReassignmentsRequest::VERSIONS,
            ApiKey::ListPartitionReassignments => ListPartitionReassignmentsRequest::VERSIONS,
            ApiKey::DescribeQuorum => DescribeQuorumRequest::VERSIONS,
            ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::VERSIONS,
            ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
            ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
            ApiKey::DescribeProducers => DescribeProducersRequest::VERSIONS,
            ApiKey::WriteTxnMarkers => WriteTxnMarkersRequest::VERSIONS,
            ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
            ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
            ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::VERSIONS,
            ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
            ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
            ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
            ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
            ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
            ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
            ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
            ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
            ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
            ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
            ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
            ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
            ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
            ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
            ApiKey::DescribeUserScramCredentials => DescribeUserScramCredentialsRequest::VERSIONS,
            ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
            other => panic!("add {other:?} to this test"),
        }
    }

    #[test]
    fn table_is_within_what_the_codec_decodes_and_sorted() {
        let mut last = -1;
        for r in SUPPORTED_APIS {
            assert!(r.api_key > last, "table must be sorted by key");
            last = r.api_key;
            if is_private_api_key(r.api_key) {
                continue;
            }
            let key = ApiKey::try_from(r.api_key).unwrap();
            let codec = decodable(key);
            assert!(
                r.min >= codec.min && r.max <= codec.max && r.min <= r.max,
                "{key:?} {}..={} outside codec {codec}",
                r.min,
                r.max
            );
        }
    }

    #[test]
    fn version_checks() {
        assert!(check_version(3, 12).is_ok());
        assert!(matches!(
            check_version(3, 13),
            Err(ProtocolError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            check_version(999, 0),
            Err(ProtocolError::UnknownApiKey(999))
        ));
    }
}
