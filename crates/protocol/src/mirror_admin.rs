//! Private admin messages of failback (same conventions as [`crate::admin`]: flexible from
//! v0, compact encodings, a tagged-field section ending every struct).
//!
//! * RestoreMirrors (key 20010): `mirrors --truncate-and-restore`: turn normal (promoted
//!   or failed-over) topics back into mirrors of the cluster that took over, truncating
//!   the local tail that diverged. Answers per topic and per partition the offset
//!   truncated to and the records removed, and the consumer-group offsets clamped.
//! * ReverseMirrors (key 20011): `mirrors --reverse-and-start` / `--reverse-and-pause`:
//!   promote local mirrors and make the peer's topics mirrors of them (a RestoreMirrors
//!   sent to the peer over the link), answering both sides.
//! * DescribeTopicLineage (key 20012): a topic's id and, if it is or was a mirror, the id
//!   of the topic it mirrored: what a restoring cluster asks the source to prove the two
//!   topics share history (one was a mirror of the other).
//!
//! Keys 20007-20009 are left for the link lifecycle work running in parallel.

use crate::admin::{AdminMessage, Reader, Writer};
use crate::ProtocolError;

pub const RESTORE_MIRRORS: i16 = 20010;
pub const REVERSE_MIRRORS: i16 = 20011;
pub const DESCRIBE_TOPIC_LINEAGE: i16 = 20012;

/// `mirrors --truncate-and-restore`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreMirrorsRequest {
    pub topics: Vec<String>,
    /// The link whose source took over (the restored mirrors copy from it).
    pub link_name: String,
    /// Leave the restored mirrors PAUSED (reverse-and-pause on the peer).
    pub pause: bool,
    pub validate_only: bool,
    pub timeout_ms: i32,
}

impl AdminMessage for RestoreMirrorsRequest {
    const API_KEY: i16 = RESTORE_MIRRORS;
    fn write(&self, w: &mut Writer) {
        w.array(&self.topics, |w, t| w.string(t));
        w.string(&self.link_name);
        w.bool(self.pause);
        w.bool(self.validate_only);
        w.i32(self.timeout_ms);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = RestoreMirrorsRequest {
            topics: r.array(|r| r.string())?,
            link_name: r.string()?,
            pause: r.bool()?,
            validate_only: r.bool()?,
            timeout_ms: r.i32()?,
        };
        r.tags()?;
        Ok(m)
    }
}

/// One partition's truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionTruncation {
    pub partition: i32,
    /// The divergence point: the log now ends here and mirroring starts here.
    pub offset_truncated_to: i64,
    /// The log end offset before the truncation.
    pub previous_end_offset: i64,
    /// Records removed (control records not counted).
    pub records_truncated: i64,
}

/// One consumer-group offset moved back to the truncation point.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClampedOffset {
    pub group: String,
    pub partition: i32,
    pub from: i64,
    pub to: i64,
}

/// The outcome for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreResult {
    pub topic: String,
    pub error_code: i16,
    pub error_message: Option<String>,
    /// The state the mirror was left in (ACTIVE, PAUSED).
    pub state: String,
    pub partitions: Vec<PartitionTruncation>,
    pub clamped_offsets: Vec<ClampedOffset>,
}

impl RestoreResult {
    /// Total records removed over every partition (Confluent's `messages_truncated`).
    pub fn records_truncated(&self) -> i64 {
        self.partitions.iter().map(|p| p.records_truncated).sum()
    }
}

pub(crate) fn write_restore_result(w: &mut Writer, x: &RestoreResult) {
    w.string(&x.topic);
    w.i16(x.error_code);
    w.nullable_string(x.error_message.as_deref());
    w.string(&x.state);
    w.array(&x.partitions, |w, p| {
        w.i32(p.partition);
        w.i64(p.offset_truncated_to);
        w.i64(p.previous_end_offset);
        w.i64(p.records_truncated);
        w.tags();
    });
    w.array(&x.clamped_offsets, |w, c| {
        w.string(&c.group);
        w.i32(c.partition);
        w.i64(c.from);
        w.i64(c.to);
        w.tags();
    });
    w.tags();
}

pub(crate) fn read_restore_result(r: &mut Reader) -> Result<RestoreResult, ProtocolError> {
    let x = RestoreResult {
        topic: r.string()?,
        error_code: r.i16()?,
        error_message: r.nullable_string()?,
        state: r.string()?,
        partitions: r.array(|r| {
            let p = PartitionTruncation {
                partition: r.i32()?,
                offset_truncated_to: r.i64()?,
                previous_end_offset: r.i64()?,
                records_truncated: r.i64()?,
            };
            r.tags()?;
            Ok(p)
        })?,
        clamped_offsets: r.array(|r| {
            let c = ClampedOffset {
                group: r.string()?,
                partition: r.i32()?,
                from: r.i64()?,
                to: r.i64()?,
            };
            r.tags()?;
            Ok(c)
        })?,
    };
    r.tags()?;
    Ok(x)
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreMirrorsResponse {
    /// A request-level refusal (unknown link ...); per-topic outcomes are in `results`.
    pub error_code: i16,
    pub error_message: Option<String>,
    pub results: Vec<RestoreResult>,
}

impl AdminMessage for RestoreMirrorsResponse {
    const API_KEY: i16 = RESTORE_MIRRORS;
    fn write(&self, w: &mut Writer) {
        w.i16(self.error_code);
        w.nullable_string(self.error_message.as_deref());
        w.array(&self.results, write_restore_result);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = RestoreMirrorsResponse {
            error_code: r.i16()?,
            error_message: r.nullable_string()?,
            results: r.array(read_restore_result)?,
        };
        r.tags()?;
        Ok(m)
    }
}

/// `mirrors --reverse-and-start` / `--reverse-and-pause`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReverseMirrorsRequest {
    pub topics: Vec<String>,
    /// The local link the mirrors copy over (its source is the peer).
    pub link_name: String,
    /// The peer's link whose source is this cluster; `None`: found by cluster id.
    pub remote_link_name: Option<String>,
    /// Leave the peer's new mirrors PAUSED.
    pub pause_remote: bool,
    pub validate_only: bool,
    pub timeout_ms: i32,
}

impl AdminMessage for ReverseMirrorsRequest {
    const API_KEY: i16 = REVERSE_MIRRORS;
    fn write(&self, w: &mut Writer) {
        w.array(&self.topics, |w, t| w.string(t));
        w.string(&self.link_name);
        w.nullable_string(self.remote_link_name.as_deref());
        w.bool(self.pause_remote);
        w.bool(self.validate_only);
        w.i32(self.timeout_ms);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = ReverseMirrorsRequest {
            topics: r.array(|r| r.string())?,
            link_name: r.string()?,
            remote_link_name: r.nullable_string()?,
            pause_remote: r.bool()?,
            validate_only: r.bool()?,
            timeout_ms: r.i32()?,
        };
        r.tags()?;
        Ok(m)
    }
}

/// Both sides of one reversed topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReverseResult {
    pub topic: String,
    pub error_code: i16,
    pub error_message: Option<String>,
    /// Each local partition's end offset once promoted (where local writes begin).
    pub local_end_offsets: Vec<i64>,
    /// The peer's link the remote mirror copies over.
    pub remote_link_name: String,
    /// The peer's truncate-and-restore outcome.
    pub remote: RestoreResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReverseMirrorsResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub results: Vec<ReverseResult>,
}

impl AdminMessage for ReverseMirrorsResponse {
    const API_KEY: i16 = REVERSE_MIRRORS;
    fn write(&self, w: &mut Writer) {
        w.i16(self.error_code);
        w.nullable_string(self.error_message.as_deref());
        w.array(&self.results, |w, x| {
            w.string(&x.topic);
            w.i16(x.error_code);
            w.nullable_string(x.error_message.as_deref());
            w.array(&x.local_end_offsets, |w, o| w.i64(*o));
            w.string(&x.remote_link_name);
            write_restore_result(w, &x.remote);
            w.tags();
        });
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = ReverseMirrorsResponse {
            error_code: r.i16()?,
            error_message: r.nullable_string()?,
            results: r.array(|r| {
                let x = ReverseResult {
                    topic: r.string()?,
                    error_code: r.i16()?,
                    error_message: r.nullable_string()?,
                    local_end_offsets: r.array(|r| r.i64())?,
                    remote_link_name: r.string()?,
                    remote: read_restore_result(r)?,
                };
                r.tags()?;
                Ok(x)
            })?,
        };
        r.tags()?;
        Ok(m)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeTopicLineageRequest {
    pub topics: Vec<String>,
}

impl AdminMessage for DescribeTopicLineageRequest {
    const API_KEY: i16 = DESCRIBE_TOPIC_LINEAGE;
    fn write(&self, w: &mut Writer) {
        w.array(&self.topics, |w, t| w.string(t));
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = DescribeTopicLineageRequest {
            topics: r.array(|r| r.string())?,
        };
        r.tags()?;
        Ok(m)
    }
}

/// One topic's identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicLineage {
    pub topic: String,
    pub error_code: i16,
    pub topic_id: Option<String>,
    /// If the topic is or was a mirror: the id of the topic it mirrored.
    pub mirrored_topic_id: Option<String>,
    /// If the topic is or was a mirror: its state (ACTIVE ... STOPPED).
    pub mirror_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeTopicLineageResponse {
    pub topics: Vec<TopicLineage>,
}

impl AdminMessage for DescribeTopicLineageResponse {
    const API_KEY: i16 = DESCRIBE_TOPIC_LINEAGE;
    fn write(&self, w: &mut Writer) {
        w.array(&self.topics, |w, t| {
            w.string(&t.topic);
            w.i16(t.error_code);
            w.nullable_string(t.topic_id.as_deref());
            w.nullable_string(t.mirrored_topic_id.as_deref());
            w.nullable_string(t.mirror_state.as_deref());
            w.tags();
        });
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = DescribeTopicLineageResponse {
            topics: r.array(|r| {
                let t = TopicLineage {
                    topic: r.string()?,
                    error_code: r.i16()?,
                    topic_id: r.nullable_string()?,
                    mirrored_topic_id: r.nullable_string()?,
                    mirror_state: r.nullable_string()?,
                };
                r.tags()?;
                Ok(t)
            })?,
        };
        r.tags()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<M: AdminMessage + PartialEq + std::fmt::Debug>(m: M) {
        let bytes = m.encode();
        assert_eq!(M::decode(bytes.clone()).unwrap(), m);
        for cut in 0..bytes.len() {
            assert!(M::decode(bytes.slice(..cut)).is_err(), "prefix {cut}");
        }
    }

    #[test]
    fn failback_messages_round_trip() {
        let restored = RestoreResult {
            topic: "t".into(),
            error_code: 0,
            error_message: None,
            state: "ACTIVE".into(),
            partitions: vec![PartitionTruncation {
                partition: 0,
                offset_truncated_to: 10,
                previous_end_offset: 13,
                records_truncated: 3,
            }],
            clamped_offsets: vec![ClampedOffset {
                group: "g".into(),
                partition: 0,
                from: 12,
                to: 10,
            }],
        };
        round_trip(RestoreMirrorsRequest {
            topics: vec!["t".into()],
            link_name: "l".into(),
            pause: true,
            validate_only: false,
            timeout_ms: 5000,
        });
        round_trip(RestoreMirrorsResponse {
            error_code: 0,
            error_message: None,
            results: vec![restored.clone()],
        });
        round_trip(ReverseMirrorsRequest {
            topics: vec!["t".into()],
            link_name: "l".into(),
            remote_link_name: Some("back".into()),
            pause_remote: false,
            validate_only: true,
            timeout_ms: 1,
        });
        round_trip(ReverseMirrorsResponse {
            error_code: 0,
            error_message: None,
            results: vec![ReverseResult {
                topic: "t".into(),
                error_code: 0,
                error_message: None,
                local_end_offsets: vec![10, 20],
                remote_link_name: "back".into(),
                remote: restored,
            }],
        });
        round_trip(DescribeTopicLineageResponse {
            topics: vec![TopicLineage {
                topic: "t".into(),
                error_code: 0,
                topic_id: Some("a".into()),
                mirrored_topic_id: Some("b".into()),
                mirror_state: Some("STOPPED".into()),
            }],
        });
    }
}
