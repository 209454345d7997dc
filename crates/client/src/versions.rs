//! The API version ranges one broker advertised in ApiVersions, and version selection.
//!
//! Rule: for each call we pick `min(our max, broker max)` and require it to be at least
//! both minimums; KP's message `VERSIONS` range bounds "ours" as well, so we never try to
//! encode a version the crate cannot. No overlap is a clear [`ClientError::NoVersionMatch`].

use std::collections::BTreeMap;

use kafka_protocol::messages::ApiVersionsResponse;

use crate::error::ClientError;
use crate::wire::api_name;

/// Inclusive version range of one API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

/// What a broker speaks, keyed by API key (unknown keys, such as Strait's private range
/// on a Strait broker, are kept too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerVersions {
    ranges: BTreeMap<i16, VersionRange>,
}

impl BrokerVersions {
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        BrokerVersions {
            ranges: response
                .api_keys
                .iter()
                .filter(|k| k.min_version <= k.max_version)
                .map(|k| {
                    (
                        k.api_key,
                        VersionRange {
                            min: k.min_version,
                            max: k.max_version,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Builds a table directly (tests, fakes).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        BrokerVersions {
            ranges: ranges
                .into_iter()
                .map(|(k, min, max)| (k, VersionRange { min, max }))
                .collect(),
        }
    }

    /// The broker's range for `api_key`, if it advertises the key.
    pub fn range(&self, api_key: i16) -> Option<VersionRange> {
        self.ranges.get(&api_key).copied()
    }

    pub fn supports(&self, api_key: i16) -> bool {
        self.ranges.contains_key(&api_key)
    }

    /// `min(our_max, broker max)` when that is within the broker's range.
    pub fn version_for(&self, api_key: i16, our_max: i16) -> Option<i16> {
        let theirs = self.range(api_key)?;
        let v = our_max.min(theirs.max);
        (v >= theirs.min).then_some(v)
    }

    /// Like [`BrokerVersions::version_for`] but also enforcing `our_min`, with a clear error.
    pub fn negotiate(
        &self,
        broker: &str,
        api_key: i16,
        our_min: i16,
        our_max: i16,
    ) -> Result<i16, ClientError> {
        match self.version_for(api_key, our_max) {
            Some(v) if v >= our_min => Ok(v),
            _ => Err(ClientError::NoVersionMatch {
                broker: broker.to_string(),
                api_key,
                api: api_name(api_key),
                our_min,
                our_max,
                theirs: self
                    .range(api_key)
                    .map(|r| format!("{}..={}", r.min, r.max))
                    .unwrap_or_else(|| "none".to_string()),
            }),
        }
    }

    /// Every advertised key.
    pub fn iter(&self) -> impl Iterator<Item = (i16, VersionRange)> + '_ {
        self.ranges.iter().map(|(k, r)| (*k, *r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_highest_common_version_or_explains() {
        let v = BrokerVersions::from_ranges([(1, 4, 16), (3, 0, 12), (23, 3, 4)]);
        assert_eq!(v.version_for(1, 12), Some(12));
        assert_eq!(v.version_for(1, 18), Some(16));
        assert_eq!(v.version_for(23, 2), None);
        assert_eq!(v.version_for(60, 1), None);
        assert_eq!(v.negotiate("b:1", 3, 0, 12).unwrap(), 12);
        let e = v.negotiate("b:1", 23, 0, 2).unwrap_err().to_string();
        assert!(
            e.contains("OffsetForLeaderEpoch") && e.contains("3..=4"),
            "{e}"
        );
        let e = v.negotiate("b:1", 60, 0, 1).unwrap_err().to_string();
        assert!(e.contains("DescribeCluster") && e.contains("none"), "{e}");
        // Overlap exists but below our minimum.
        assert!(v.negotiate("b:1", 1, 17, 18).is_err());
    }
}
