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

use bytes::{Buf, BufMut, Bytes, BytesMut};

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

/// Writes one tagged field's value (see [`Writer::tagged`]).
pub type TagWriter<'a> = Box<dyn FnOnce(&mut Writer) + 'a>;

/// Compact-format writer.
#[derive(Default)]
pub struct Writer {
    pub buf: BytesMut,
}

impl Writer {
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }
    pub fn bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }
    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }
    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }
    pub fn string(&mut self, v: &str) {
        self.uvarint(v.len() as u64 + 1);
        self.buf.put_slice(v.as_bytes());
    }
    pub fn nullable_string(&mut self, v: Option<&str>) {
        match v {
            None => self.uvarint(0),
            Some(s) => self.string(s),
        }
    }
    pub fn array<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.uvarint(items.len() as u64 + 1);
        for i in items {
            each(self, i);
        }
    }
    pub fn nullable_array<T>(&mut self, items: Option<&[T]>, each: impl FnMut(&mut Self, &T)) {
        match items {
            None => self.uvarint(0),
            Some(items) => self.array(items, each),
        }
    }
    /// The (empty) tagged-field section that ends every struct.
    pub fn tags(&mut self) {
        self.uvarint(0);
    }
    /// A tagged-field section with the given `(tag, field writer)` entries, in tag order;
    /// `None` entries are left out.
    pub fn tagged(&mut self, fields: Vec<(u64, Option<TagWriter<'_>>)>) {
        let fields: Vec<_> = fields
            .into_iter()
            .filter_map(|(t, f)| f.map(|f| (t, f)))
            .collect();
        self.uvarint(fields.len() as u64);
        for (tag, f) in fields {
            let mut inner = Writer::default();
            f(&mut inner);
            self.uvarint(tag);
            self.uvarint(inner.buf.len() as u64);
            self.buf.put_slice(&inner.buf);
        }
    }
}

/// Compact-format reader; every error names the message being decoded.
pub struct Reader<'a> {
    buf: &'a mut Bytes,
    what: &'static str,
}

impl Reader<'_> {
    fn err(&self, message: impl Into<String>) -> ProtocolError {
        ProtocolError::Malformed {
            what: self.what.to_string(),
            message: message.into(),
        }
    }
    fn need(&self, n: usize) -> Result<(), ProtocolError> {
        if self.buf.remaining() < n {
            return Err(self.err(format!(
                "needed {n} more bytes, {} left",
                self.buf.remaining()
            )));
        }
        Ok(())
    }
    fn uvarint(&mut self) -> Result<u64, ProtocolError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            self.need(1)?;
            let b = self.buf.get_u8();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }
    pub fn bool(&mut self) -> Result<bool, ProtocolError> {
        self.need(1)?;
        Ok(self.buf.get_u8() != 0)
    }
    pub fn i8(&mut self) -> Result<i8, ProtocolError> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }
    pub fn i16(&mut self) -> Result<i16, ProtocolError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }
    pub fn i32(&mut self) -> Result<i32, ProtocolError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }
    pub fn i64(&mut self) -> Result<i64, ProtocolError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }
    fn len(&mut self) -> Result<Option<usize>, ProtocolError> {
        match self.uvarint()? {
            0 => Ok(None),
            n => {
                let n = usize::try_from(n - 1).map_err(|_| self.err("length overflows"))?;
                if n > self.buf.remaining() {
                    return Err(self.err(format!(
                        "length {n} exceeds the {} bytes left",
                        self.buf.remaining()
                    )));
                }
                Ok(Some(n))
            }
        }
    }
    pub fn nullable_string(&mut self) -> Result<Option<String>, ProtocolError> {
        let Some(n) = self.len()? else {
            return Ok(None);
        };
        let bytes = self.buf.split_to(n);
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| self.err("string is not UTF-8"))
    }
    pub fn string(&mut self) -> Result<String, ProtocolError> {
        self.nullable_string()?
            .ok_or_else(|| self.err("null where a string is required"))
    }
    pub fn nullable_array<T>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<T, ProtocolError>,
    ) -> Result<Option<Vec<T>>, ProtocolError> {
        let Some(n) = self.len()? else {
            return Ok(None);
        };
        // Each element takes at least one byte, which `len` already bounded.
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(each(self)?);
        }
        Ok(Some(out))
    }
    pub fn array<T>(
        &mut self,
        each: impl FnMut(&mut Self) -> Result<T, ProtocolError>,
    ) -> Result<Vec<T>, ProtocolError> {
        self.nullable_array(each)?
            .ok_or_else(|| self.err("null where an array is required"))
    }
    /// Skips a tagged-field section.
    pub fn tags(&mut self) -> Result<(), ProtocolError> {
        self.tags_with(|_, _| Ok(()))
    }
    /// Reads a tagged-field section, handing each field to `known` (tag, a reader over the
    /// field's bytes only); fields `known` does not read are skipped.
    pub fn tags_with(
        &mut self,
        mut known: impl FnMut(u64, &mut Reader) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size =
                usize::try_from(self.uvarint()?).map_err(|_| self.err("tag size overflows"))?;
            self.need(size)?;
            let mut field = self.buf.split_to(size);
            let mut inner = Reader {
                buf: &mut field,
                what: self.what,
            };
            known(tag, &mut inner)?;
        }
        Ok(())
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

/// One link to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewClusterLink {
    pub name: String,
    pub configs: Vec<ConfigEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateClusterLinksRequest {
    pub links: Vec<NewClusterLink>,
    pub validate_only: bool,
    /// Reach the source, authenticate and read its cluster id before accepting.
    pub validate_link: bool,
    pub timeout_ms: i32,
}

impl AdminMessage for CreateClusterLinksRequest {
    const API_KEY: i16 = CREATE_CLUSTER_LINKS;
    fn write(&self, w: &mut Writer) {
        w.array(&self.links, |w, l| {
            w.string(&l.name);
            w.array(&l.configs, write_config);
            w.tags();
        });
        w.bool(self.validate_only);
        w.bool(self.validate_link);
        w.i32(self.timeout_ms);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let links = r.array(|r| {
            let l = NewClusterLink {
                name: r.string()?,
                configs: r.array(read_config)?,
            };
            r.tags()?;
            Ok(l)
        })?;
        let m = CreateClusterLinksRequest {
            links,
            validate_only: r.bool()?,
            validate_link: r.bool()?,
            timeout_ms: r.i32()?,
        };
        r.tags()?;
        Ok(m)
    }
}

results_response!(CreateClusterLinksResponse, CREATE_CLUSTER_LINKS);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListClusterLinksRequest {
    /// `None` = every link.
    pub names: Option<Vec<String>>,
    pub include_topics: bool,
    pub include_configs: bool,
}

impl AdminMessage for ListClusterLinksRequest {
    const API_KEY: i16 = LIST_CLUSTER_LINKS;
    fn write(&self, w: &mut Writer) {
        w.nullable_array(self.names.as_deref(), |w, n| w.string(n));
        w.bool(self.include_topics);
        w.bool(self.include_configs);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = ListClusterLinksRequest {
            names: r.nullable_array(|r| r.string())?,
            include_topics: r.bool()?,
            include_configs: r.bool()?,
        };
        r.tags()?;
        Ok(m)
    }
}

/// One link as listed or described.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterLinkListing {
    pub name: String,
    pub link_id: String,
    pub source_cluster_id: Option<String>,
    /// ACTIVE, PAUSED, FAILED, UNAVAILABLE.
    pub state: String,
    /// Machine-readable reason (AUTHENTICATION_ERROR, TIMEOUT_ERROR ...), if any.
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub topics: Vec<String>,
    pub configs: Vec<ConfigEntry>,
    /// IN_SYNC, STALE or OUT_OF_SYNC against the link's target latency.
    pub sync_status: String,
    /// Largest partition lag over the link's mirroring partitions, in offsets and in ms.
    pub max_lag: i64,
    pub max_lag_ms: i64,
    /// Periodic link tasks (topic config sync, consumer offset sync, ACL sync).
    pub tasks: Vec<LinkTask>,
    /// Tag 0: the link's mirror partitions that are in error (stuck), counted by reason,
    /// sorted by reason. Empty when none (or from a broker that does not report it).
    pub partition_errors: Vec<ReasonCount>,
}

/// How many partitions are in error for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReasonCount {
    pub reason: String,
    pub count: i32,
}

/// One periodic link task and its last outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkTask {
    pub name: String,
    /// ACTIVE, IN_ERROR or NOT_CONFIGURED.
    pub state: String,
    pub error: Option<String>,
    pub runs: i64,
    pub errors: i64,
    /// Items changed by successful runs (configs updated, offsets committed, ACLs created).
    pub changed_total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListClusterLinksResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub links: Vec<ClusterLinkListing>,
}

impl AdminMessage for ListClusterLinksResponse {
    const API_KEY: i16 = LIST_CLUSTER_LINKS;
    fn write(&self, w: &mut Writer) {
        w.i16(self.error_code);
        w.nullable_string(self.error_message.as_deref());
        w.array(&self.links, |w, l| {
            w.string(&l.name);
            w.string(&l.link_id);
            w.nullable_string(l.source_cluster_id.as_deref());
            w.string(&l.state);
            w.nullable_string(l.error.as_deref());
            w.nullable_string(l.error_message.as_deref());
            w.array(&l.topics, |w, t| w.string(t));
            w.array(&l.configs, write_config);
            w.string(&l.sync_status);
            w.i64(l.max_lag);
            w.i64(l.max_lag_ms);
            w.array(&l.tasks, |w, t| {
                w.string(&t.name);
                w.string(&t.state);
                w.nullable_string(t.error.as_deref());
                w.i64(t.runs);
                w.i64(t.errors);
                w.i64(t.changed_total);
                w.tags();
            });
            let errors = &l.partition_errors;
            w.tagged(vec![(
                0,
                (!errors.is_empty()).then(|| {
                    Box::new(move |w: &mut Writer| {
                        w.array(errors, |w, c| {
                            w.string(&c.reason);
                            w.i32(c.count);
                            w.tags();
                        })
                    }) as TagWriter
                }),
            )]);
        });
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let error_code = r.i16()?;
        let error_message = r.nullable_string()?;
        let links = r.array(|r| {
            let mut l = ClusterLinkListing {
                name: r.string()?,
                link_id: r.string()?,
                source_cluster_id: r.nullable_string()?,
                state: r.string()?,
                error: r.nullable_string()?,
                error_message: r.nullable_string()?,
                topics: r.array(|r| r.string())?,
                configs: r.array(read_config)?,
                sync_status: r.string()?,
                max_lag: r.i64()?,
                max_lag_ms: r.i64()?,
                tasks: r.array(|r| {
                    let t = LinkTask {
                        name: r.string()?,
                        state: r.string()?,
                        error: r.nullable_string()?,
                        runs: r.i64()?,
                        errors: r.i64()?,
                        changed_total: r.i64()?,
                    };
                    r.tags()?;
                    Ok(t)
                })?,
                partition_errors: Vec::new(),
            };
            r.tags_with(|tag, r| {
                if tag == 0 {
                    l.partition_errors = r.array(|r| {
                        let c = ReasonCount {
                            reason: r.string()?,
                            count: r.i32()?,
                        };
                        r.tags()?;
                        Ok(c)
                    })?;
                }
                Ok(())
            })?;
            Ok(l)
        })?;
        r.tags()?;
        Ok(ListClusterLinksResponse {
            error_code,
            error_message,
            links,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteClusterLinksRequest {
    pub names: Vec<String>,
    pub validate_only: bool,
    /// Delete even while mirror topics are still active (they stop mirroring and fail).
    pub force: bool,
}

impl AdminMessage for DeleteClusterLinksRequest {
    const API_KEY: i16 = DELETE_CLUSTER_LINKS;
    fn write(&self, w: &mut Writer) {
        w.array(&self.names, |w, n| w.string(n));
        w.bool(self.validate_only);
        w.bool(self.force);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = DeleteClusterLinksRequest {
            names: r.array(|r| r.string())?,
            validate_only: r.bool()?,
            force: r.bool()?,
        };
        r.tags()?;
        Ok(m)
    }
}

results_response!(DeleteClusterLinksResponse, DELETE_CLUSTER_LINKS);

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
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeMirrorsResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub mirrors: Vec<MirrorDescription>,
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
            w.tags();
        });
        w.tags();
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
            r.tags()?;
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
            })
        })?;
        r.tags()?;
        Ok(DescribeMirrorsResponse {
            error_code,
            error_message,
            mirrors,
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
