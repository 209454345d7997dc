//! Mirror-topic messages: CreateMirrorTopics, DescribeMirrors and AlterMirrors.
//!
//! Invariants: each struct writes its fields in declaration order followed by its
//! tagged-field section, and reads them back in the same order (see [`super`]).

use super::*;

/// One mirror topic to create by hand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewMirrorTopic {
    pub mirror_topic: String,
    pub link_name: String,
    /// Defaults to the mirror name without the link's prefix.
    pub source_topic: Option<String>,
    pub configs: Vec<ConfigEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateMirrorTopicsRequest {
    pub mirrors: Vec<NewMirrorTopic>,
    pub validate_only: bool,
}

impl AdminMessage for CreateMirrorTopicsRequest {
    const API_KEY: i16 = CREATE_MIRROR_TOPICS;
    fn write(&self, w: &mut Writer) {
        w.array(&self.mirrors, |w, m| {
            w.string(&m.mirror_topic);
            w.string(&m.link_name);
            w.nullable_string(m.source_topic.as_deref());
            w.array(&m.configs, write_config);
            w.tags();
        });
        w.bool(self.validate_only);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let mirrors = r.array(|r| {
            let m = NewMirrorTopic {
                mirror_topic: r.string()?,
                link_name: r.string()?,
                source_topic: r.nullable_string()?,
                configs: r.array(read_config)?,
            };
            r.tags()?;
            Ok(m)
        })?;
        let m = CreateMirrorTopicsRequest {
            mirrors,
            validate_only: r.bool()?,
        };
        r.tags()?;
        Ok(m)
    }
}

results_response!(CreateMirrorTopicsResponse, CREATE_MIRROR_TOPICS);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeMirrorsRequest {
    /// Only mirrors of this link.
    pub link_name: Option<String>,
    /// Only these mirror topics.
    pub topics: Option<Vec<String>>,
    /// Only mirrors in these states (ACTIVE, PAUSED, PENDING_STOPPED, STOPPED, FAILED ...).
    pub states: Vec<String>,
    pub include_partitions: bool,
}

impl AdminMessage for DescribeMirrorsRequest {
    const API_KEY: i16 = DESCRIBE_MIRRORS;
    fn write(&self, w: &mut Writer) {
        w.nullable_string(self.link_name.as_deref());
        w.nullable_array(self.topics.as_deref(), |w, t| w.string(t));
        w.array(&self.states, |w, s| w.string(s));
        w.bool(self.include_partitions);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = DescribeMirrorsRequest {
            link_name: r.nullable_string()?,
            topics: r.nullable_array(|r| r.string())?,
            states: r.array(|r| r.string())?,
            include_partitions: r.bool()?,
        };
        r.tags()?;
        Ok(m)
    }
}

/// Mirror state of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorPartition {
    pub partition: i32,
    pub state: String,
    pub log_end_offset: i64,
    /// The source high watermark seen in the last fetch (-1 before any).
    pub source_high_watermark: i64,
    /// `source_high_watermark - log_end_offset`, never negative.
    pub lag: i64,
    /// Age in ms of the oldest source record not yet mirrored (-1 if unknown or none).
    pub lag_ms: i64,
    /// Milliseconds since the last successful fetch (-1 before any).
    pub time_since_last_fetch_ms: i64,
    pub error: Option<String>,
    /// Tag 0: open mirrored transactions the cutover aborted (`None` before a promote or
    /// failover committed, or from a broker that does not report it).
    pub aborted_transactions: Option<i64>,
    /// Tag 1: machine-readable reason of the partition's current run of failures
    /// (`None` while it progresses, or from a broker that does not report it).
    pub error_reason: Option<String>,
    /// Tag 2: wall-clock ms of the first failure of that run.
    pub error_since_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorDescription {
    pub mirror_topic: String,
    pub link_name: String,
    pub source_topic: String,
    pub state: String,
    /// Machine-readable reason for FAILED and friends (SOURCE_TOPIC_MAY_BE_DELETED ...).
    pub reason: Option<String>,
    pub reason_message: Option<String>,
    pub state_time_ms: i64,
    pub num_partitions: i32,
    pub partitions: Vec<MirrorPartition>,
    /// Tag 0: the origin chain, the cluster ids the mirror's data passed through, oldest
    /// first (the link's source cluster last); empty for a STOPPED mirror, whose new
    /// writes originate here. `None` while the broker does not know it yet (see
    /// [`DescribeMirrorsResponse::reports_origin_chains`]), or from a broker that does not
    /// report chains.
    pub origin_cluster_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeMirrorsResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub mirrors: Vec<MirrorDescription>,
    /// Tag 0: the broker reports origin chains, so a mirror without one has a chain not
    /// known yet (rather than a broker too old to say). `false` from older brokers.
    pub reports_origin_chains: bool,
}

impl AdminMessage for DescribeMirrorsResponse {
    const API_KEY: i16 = DESCRIBE_MIRRORS;
    fn write(&self, w: &mut Writer) {
        w.i16(self.error_code);
        w.nullable_string(self.error_message.as_deref());
        w.array(&self.mirrors, |w, m| {
            w.string(&m.mirror_topic);
            w.string(&m.link_name);
            w.string(&m.source_topic);
            w.string(&m.state);
            w.nullable_string(m.reason.as_deref());
            w.nullable_string(m.reason_message.as_deref());
            w.i64(m.state_time_ms);
            w.i32(m.num_partitions);
            w.array(&m.partitions, |w, p| {
                w.i32(p.partition);
                w.string(&p.state);
                w.i64(p.log_end_offset);
                w.i64(p.source_high_watermark);
                w.i64(p.lag);
                w.i64(p.lag_ms);
                w.i64(p.time_since_last_fetch_ms);
                w.nullable_string(p.error.as_deref());
                let reason = p.error_reason.as_deref();
                w.tagged(vec![
                    (
                        0,
                        p.aborted_transactions
                            .map(|n| Box::new(move |w: &mut Writer| w.i64(n)) as TagWriter),
                    ),
                    (
                        1,
                        reason.map(|r| Box::new(move |w: &mut Writer| w.string(r)) as TagWriter),
                    ),
                    (
                        2,
                        p.error_since_ms
                            .map(|n| Box::new(move |w: &mut Writer| w.i64(n)) as TagWriter),
                    ),
                ]);
            });
            let chain = m.origin_cluster_ids.as_deref();
            w.tagged(vec![(
                0,
                chain.map(|c| {
                    Box::new(move |w: &mut Writer| w.array(c, |w, id| w.string(id))) as TagWriter
                }),
            )]);
        });
        let reports = self.reports_origin_chains;
        w.tagged(vec![(
            0,
            reports.then(|| Box::new(move |w: &mut Writer| w.bool(reports)) as TagWriter),
        )]);
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let error_code = r.i16()?;
        let error_message = r.nullable_string()?;
        let mirrors = r.array(|r| {
            let mirror_topic = r.string()?;
            let link_name = r.string()?;
            let source_topic = r.string()?;
            let state = r.string()?;
            let reason = r.nullable_string()?;
            let reason_message = r.nullable_string()?;
            let state_time_ms = r.i64()?;
            let num_partitions = r.i32()?;
            let partitions = r.array(|r| {
                let mut p = MirrorPartition {
                    partition: r.i32()?,
                    state: r.string()?,
                    log_end_offset: r.i64()?,
                    source_high_watermark: r.i64()?,
                    lag: r.i64()?,
                    lag_ms: r.i64()?,
                    time_since_last_fetch_ms: r.i64()?,
                    error: r.nullable_string()?,
                    aborted_transactions: None,
                    error_reason: None,
                    error_since_ms: None,
                };
                r.tags_with(|tag, r| {
                    match tag {
                        0 => p.aborted_transactions = Some(r.i64()?),
                        1 => p.error_reason = Some(r.string()?),
                        2 => p.error_since_ms = Some(r.i64()?),
                        _ => {}
                    }
                    Ok(())
                })?;
                Ok(p)
            })?;
            let mut origin_cluster_ids = None;
            r.tags_with(|tag, r| {
                if tag == 0 {
                    origin_cluster_ids = Some(r.array(|r| r.string())?);
                }
                Ok(())
            })?;
            Ok(MirrorDescription {
                mirror_topic,
                link_name,
                source_topic,
                state,
                reason,
                reason_message,
                state_time_ms,
                num_partitions,
                partitions,
                origin_cluster_ids,
            })
        })?;
        let mut reports_origin_chains = false;
        r.tags_with(|tag, r| {
            if tag == 0 {
                reports_origin_chains = r.bool()?;
            }
            Ok(())
        })?;
        Ok(DescribeMirrorsResponse {
            error_code,
            error_message,
            mirrors,
            reports_origin_chains,
        })
    }
}

/// What AlterMirrors does to each selected mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorOp {
    /// Wait for lag 0 (and a final sync), then make the topic writable.
    Promote = 0,
    /// Stop mirroring now and make the topic writable.
    Failover = 1,
    Pause = 2,
    Resume = 3,
}

impl MirrorOp {
    pub fn from_i8(v: i8) -> Option<Self> {
        Some(match v {
            0 => MirrorOp::Promote,
            1 => MirrorOp::Failover,
            2 => MirrorOp::Pause,
            3 => MirrorOp::Resume,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterMirrorsRequest {
    pub op: MirrorOp,
    /// Select by topic names ...
    pub topics: Option<Vec<String>>,
    /// ... or every mirror of a link.
    pub link_name: Option<String>,
    pub validate_only: bool,
}

impl AdminMessage for AlterMirrorsRequest {
    const API_KEY: i16 = ALTER_MIRRORS;
    fn write(&self, w: &mut Writer) {
        w.i8(self.op as i8);
        w.nullable_array(self.topics.as_deref(), |w, t| w.string(t));
        w.nullable_string(self.link_name.as_deref());
        w.bool(self.validate_only);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let raw = r.i8()?;
        let op = MirrorOp::from_i8(raw).ok_or_else(|| r.err(format!("unknown mirror op {raw}")))?;
        let m = AlterMirrorsRequest {
            op,
            topics: r.nullable_array(|r| r.string())?,
            link_name: r.nullable_string()?,
            validate_only: r.bool()?,
        };
        r.tags()?;
        Ok(m)
    }
}

results_response!(AlterMirrorsResponse, ALTER_MIRRORS);

#[cfg(test)]
mod tests {
    use super::*;

    fn chained() -> DescribeMirrorsResponse {
        DescribeMirrorsResponse {
            mirrors: vec![MirrorDescription {
                mirror_topic: "b.a.orders".into(),
                link_name: "bc".into(),
                source_topic: "a.orders".into(),
                state: "ACTIVE".into(),
                num_partitions: 1,
                partitions: vec![MirrorPartition {
                    partition: 0,
                    state: "ACTIVE".into(),
                    aborted_transactions: Some(2),
                    ..Default::default()
                }],
                origin_cluster_ids: Some(vec!["A".into(), "B".into()]),
                ..Default::default()
            }],
            reports_origin_chains: true,
            ..Default::default()
        }
    }

    #[test]
    fn origin_chains_round_trip_as_tagged_fields() {
        let m = chained();
        let bytes = m.encode();
        assert_eq!(DescribeMirrorsResponse::decode(bytes.clone()).unwrap(), m);
        for cut in 0..bytes.len() {
            assert!(DescribeMirrorsResponse::decode(bytes.slice(..cut)).is_err());
        }
        // "Not known yet" (no tag 0 on the mirror) and an empty chain stay apart.
        let mut pending = chained();
        pending.mirrors[0].origin_cluster_ids = None;
        let mut empty = chained();
        empty.mirrors[0].origin_cluster_ids = Some(Vec::new());
        for m in [pending, empty] {
            assert_eq!(DescribeMirrorsResponse::decode(m.encode()).unwrap(), m);
        }
        // An older broker's answer (no tags) decodes as "does not report chains".
        let mut old = chained();
        old.mirrors[0].origin_cluster_ids = None;
        old.reports_origin_chains = false;
        let decoded = DescribeMirrorsResponse::decode(old.encode()).unwrap();
        assert!(!decoded.reports_origin_chains);
        assert_eq!(decoded.mirrors[0].origin_cluster_ids, None);
    }

    /// The pre-chain decoder: every field it knew, every tag section skipped.
    fn old_decode(mut bytes: bytes::Bytes) -> Vec<(String, i32, Option<i64>)> {
        let mut r = Reader {
            buf: &mut bytes,
            what: "old DescribeMirrorsResponse",
        };
        assert_eq!(r.i16().unwrap(), 0);
        assert_eq!(r.nullable_string().unwrap(), None);
        let mirrors = r
            .array(|r| {
                let topic = r.string()?;
                for _ in 0..3 {
                    r.string()?;
                }
                r.nullable_string()?;
                r.nullable_string()?;
                r.i64()?;
                let n = r.i32()?;
                let mut aborted = None;
                r.array(|r| {
                    r.i32()?;
                    r.string()?;
                    for _ in 0..5 {
                        r.i64()?;
                    }
                    r.nullable_string()?;
                    r.tags_with(|tag, r| {
                        if tag == 0 {
                            aborted = Some(r.i64()?);
                        }
                        Ok(())
                    })
                })?;
                r.tags()?;
                Ok((topic, n, aborted))
            })
            .unwrap();
        r.tags().unwrap();
        assert!(r.buf.is_empty(), "the old decoder left bytes");
        mirrors
    }

    #[test]
    fn an_old_decoder_ignores_the_chain() {
        assert_eq!(
            old_decode(chained().encode()),
            vec![("b.a.orders".to_string(), 1, Some(2))]
        );
    }
}
