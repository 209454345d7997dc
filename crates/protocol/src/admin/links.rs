//! Cluster-link messages: CreateClusterLinks, ListClusterLinks and DeleteClusterLinks.
//!
//! Invariants: each struct writes its fields in declaration order followed by its
//! tagged-field section, and reads them back in the same order (see [`super`]).

use super::*;

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
