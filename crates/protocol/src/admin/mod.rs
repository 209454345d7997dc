//! Strait's private admin API: cluster links and mirror topics.
//!
//! Kafka has no public RPCs for links, and Confluent's keys (10002-10006, 2020) are
//! proprietary and may collide with their clients, so Strait uses its own range starting at
//! [`crate::versions::PRIVATE_API_KEY_BASE`]. Every message is flexible from v0: request
//! header v2, response header v1, compact strings and arrays, and a tagged-field section at
//! the end of every struct (unknown tags are skipped, so fields can be added later as tags
//! without a new version). Clients discover these keys through ApiVersions like any other.
//!
//! Tagged fields defined so far (all optional: an older peer skips them, and a field an
//! older peer does not send decodes as its default):
//! * `ItemResult` tag 0: `aborted_transactions`, per partition the open mirrored
//!   transactions a failover aborted (AlterMirrors), an array of (partition i32, count i64);
//! * `MirrorPartition` tag 0: `aborted_transactions` (i64), the open mirrored transactions
//!   the partition's cutover aborted, present once a promote or failover committed;
//! * `MirrorPartition` tag 1: `error_reason` (string), the machine-readable reason of the
//!   partition's current run of failures (SOURCE_DATA_CORRUPT, OFFSET_OUT_OF_RANGE ...);
//!   tag 2: `error_since_ms` (i64), wall-clock ms of the run's first failure;
//! * `ClusterLinkListing` tag 0: `partition_errors`, the link's partitions in error counted
//!   by reason, an array of (reason string, count i32).
//!
//! Link configs travel as plain key/value pairs, as Confluent's do; the three filter JSON
//! documents are the configs `auto.create.mirror.topics.filters`,
//! `consumer.offset.group.filters` and `acl.filters`.
//!
//! Layout: this module holds the API keys, the [`AdminMessage`] trait and the structs
//! shared by several messages; `codec` the compact-format [`Writer`] and [`Reader`];
//! `links` the cluster-link messages; `mirrors` the mirror-topic messages. Everything is
//! re-exported here, so every item is addressed as `strait_protocol::admin::X`.

use bytes::Bytes;

use crate::ProtocolError;

pub const CREATE_CLUSTER_LINKS: i16 = 20000;
pub const LIST_CLUSTER_LINKS: i16 = 20001;
pub const DELETE_CLUSTER_LINKS: i16 = 20002;
pub const CREATE_MIRROR_TOPICS: i16 = 20003;
pub const DESCRIBE_MIRRORS: i16 = 20004;
pub const ALTER_MIRRORS: i16 = 20005;

/// A message of the private API, with its key and the one version defined so far.
pub trait AdminMessage: Sized {
    const API_KEY: i16;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer);
    fn read(r: &mut Reader) -> Result<Self, ProtocolError>;

    fn encode(&self) -> Bytes {
        let mut w = Writer::default();
        self.write(&mut w);
        w.buf.freeze()
    }
    fn decode(mut bytes: Bytes) -> Result<Self, ProtocolError> {
        let mut r = Reader {
            buf: &mut bytes,
            what: std::any::type_name::<Self>(),
        };
        Self::read(&mut r)
    }
}

/// A link or mirror config entry. `value` is `None` for a secret being described.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub sensitive: bool,
}

fn write_config(w: &mut Writer, c: &ConfigEntry) {
    w.string(&c.name);
    w.nullable_string(c.value.as_deref());
    w.bool(c.sensitive);
    w.tags();
}
fn read_config(r: &mut Reader) -> Result<ConfigEntry, ProtocolError> {
    let c = ConfigEntry {
        name: r.string()?,
        value: r.nullable_string()?,
        sensitive: r.bool()?,
    };
    r.tags()?;
    Ok(c)
}

/// A per-partition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionCount {
    pub partition: i32,
    pub count: i64,
}

/// The outcome for one named item (link or topic).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemResult {
    pub name: String,
    pub error_code: i16,
    pub error_message: Option<String>,
    /// Tag 0 (AlterMirrors failover): open mirrored transactions aborted, per partition.
    /// Empty when not applicable (sent only when non-empty).
    pub aborted_transactions: Vec<PartitionCount>,
}

fn write_result(w: &mut Writer, x: &ItemResult) {
    w.string(&x.name);
    w.i16(x.error_code);
    w.nullable_string(x.error_message.as_deref());
    let aborted = &x.aborted_transactions;
    w.tagged(vec![(
        0,
        (!aborted.is_empty()).then(|| {
            Box::new(move |w: &mut Writer| {
                w.array(aborted, |w, c| {
                    w.i32(c.partition);
                    w.i64(c.count);
                    w.tags();
                })
            }) as TagWriter
        }),
    )]);
}
fn read_result(r: &mut Reader) -> Result<ItemResult, ProtocolError> {
    let mut x = ItemResult {
        name: r.string()?,
        error_code: r.i16()?,
        error_message: r.nullable_string()?,
        aborted_transactions: Vec::new(),
    };
    r.tags_with(|tag, r| {
        if tag == 0 {
            x.aborted_transactions = r.array(|r| {
                let c = PartitionCount {
                    partition: r.i32()?,
                    count: r.i64()?,
                };
                r.tags()?;
                Ok(c)
            })?;
        }
        Ok(())
    })?;
    Ok(x)
}

macro_rules! results_response {
    ($name:ident, $key:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            pub results: Vec<ItemResult>,
        }
        impl AdminMessage for $name {
            const API_KEY: i16 = $key;
            fn write(&self, w: &mut Writer) {
                w.array(&self.results, write_result);
                w.tags();
            }
            fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
                let results = r.array(read_result)?;
                r.tags()?;
                Ok($name { results })
            }
        }
    };
}

mod codec;
mod links;
mod mirrors;

pub use codec::{Reader, TagWriter, Writer};
pub use links::*;
pub use mirrors::*;

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn round_trip<M: AdminMessage + PartialEq + std::fmt::Debug>(m: M) {
        let bytes = m.encode();
        assert_eq!(M::decode(bytes.clone()).unwrap(), m);
        // Every strict prefix is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(
                M::decode(bytes.slice(..cut)).is_err(),
                "prefix {cut} decoded"
            );
        }
    }

    #[test]
    fn messages_round_trip_and_reject_truncation() {
        round_trip(CreateClusterLinksRequest {
            links: vec![NewClusterLink {
                name: "l".into(),
                configs: vec![ConfigEntry {
                    name: "bootstrap.servers".into(),
                    value: Some("a:1".into()),
                    sensitive: false,
                }],
            }],
            validate_only: true,
            validate_link: true,
            timeout_ms: 30000,
        });
        round_trip(ListClusterLinksResponse {
            error_code: 0,
            error_message: None,
            links: vec![ClusterLinkListing {
                name: "l".into(),
                link_id: "id".into(),
                source_cluster_id: Some("c".into()),
                state: "ACTIVE".into(),
                error: None,
                error_message: None,
                topics: vec!["t".into()],
                configs: vec![ConfigEntry {
                    name: "sasl.jaas.config".into(),
                    value: None,
                    sensitive: true,
                }],
                sync_status: "IN_SYNC".into(),
                max_lag: 3,
                max_lag_ms: 40,
                tasks: vec![LinkTask {
                    name: "topic_config_sync".into(),
                    state: "IN_ERROR".into(),
                    error: Some("denied".into()),
                    runs: 2,
                    errors: 1,
                    changed_total: 5,
                }],
                partition_errors: vec![ReasonCount {
                    reason: "LOCAL_STORAGE_ERROR".into(),
                    count: 2,
                }],
            }],
        });
        round_trip(DescribeMirrorsResponse {
            error_code: 0,
            error_message: None,
            reports_origin_chains: true,
            mirrors: vec![MirrorDescription {
                mirror_topic: "t".into(),
                link_name: "l".into(),
                source_topic: "t".into(),
                state: "ACTIVE".into(),
                num_partitions: 1,
                partitions: vec![
                    MirrorPartition {
                        partition: 0,
                        state: "ACTIVE".into(),
                        lag: 3,
                        ..Default::default()
                    },
                    MirrorPartition {
                        partition: 1,
                        state: "IN_ERROR".into(),
                        error: Some("injected".into()),
                        error_reason: Some("SOURCE_DATA_CORRUPT".into()),
                        error_since_ms: Some(17),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        });
        round_trip(AlterMirrorsRequest {
            op: MirrorOp::Promote,
            topics: Some(vec!["t".into()]),
            link_name: None,
            validate_only: false,
        });
        round_trip(DeleteClusterLinksRequest {
            names: vec!["l".into()],
            validate_only: false,
            force: true,
        });
        round_trip(AlterMirrorsResponse {
            results: vec![ItemResult {
                name: "t".into(),
                error_code: 0,
                error_message: None,
                aborted_transactions: Vec::new(),
            }],
        });
    }

    #[test]
    fn aborted_transaction_counts_are_tagged_fields() {
        let with = AlterMirrorsResponse {
            results: vec![ItemResult {
                name: "t".into(),
                aborted_transactions: vec![
                    PartitionCount {
                        partition: 0,
                        count: 2,
                    },
                    PartitionCount {
                        partition: 1,
                        count: 0,
                    },
                ],
                ..Default::default()
            }],
        };
        round_trip(with.clone());
        // An old peer (no tagged fields read) still decodes the rest: same bytes as the
        // untagged message up to the tag section, and the tag is skipped.
        let plain = AlterMirrorsResponse {
            results: vec![ItemResult {
                name: "t".into(),
                ..Default::default()
            }],
        };
        let mut r_bytes = with.encode();
        let mut r = Reader {
            buf: &mut r_bytes,
            what: "old",
        };
        let old = r
            .array(|r| {
                let name = r.string()?;
                let code = r.i16()?;
                let msg = r.nullable_string()?;
                r.tags()?;
                Ok((name, code, msg))
            })
            .unwrap();
        r.tags().unwrap();
        assert_eq!(old, vec![("t".to_string(), 0, None)]);
        assert!(r_bytes.is_empty());
        // A message without the tag decodes with the default.
        let decoded = AlterMirrorsResponse::decode(plain.encode()).unwrap();
        assert!(decoded.results[0].aborted_transactions.is_empty());
        round_trip(DescribeMirrorsResponse {
            mirrors: vec![MirrorDescription {
                mirror_topic: "t".into(),
                state: "STOPPED".into(),
                num_partitions: 1,
                partitions: vec![MirrorPartition {
                    partition: 0,
                    state: "STOPPED".into(),
                    aborted_transactions: Some(1),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
    }

    #[test]
    fn unknown_tags_are_skipped() {
        let mut w = Writer::default();
        w.array(&["x".to_string()], |w, n| w.string(n));
        w.bool(false);
        w.bool(true);
        // one tag: id 5, 2 bytes
        w.buf.put_u8(1);
        w.buf.put_u8(5);
        w.buf.put_u8(2);
        w.buf.put_slice(b"zz");
        let m = DeleteClusterLinksRequest::decode(w.buf.freeze()).unwrap();
        assert!(m.force);
    }
}
