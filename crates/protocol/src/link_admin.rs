//! Private admin messages of the link lifecycle (same conventions as [`crate::admin`]:
//! flexible from v0, compact encodings, a tagged-field section ending every struct).
//!
//! * AlterClusterLinkConfigs (key 20006): set and delete configs of one existing link,
//!   validated as a whole and applied live (`cluster-links --alter --add-config ...
//!   --delete-config ... --config-file ...`). Nothing changes unless the whole request is
//!   accepted.
//! * LinkTunnel (key 20013): the first request of a source-initiated link's tunnel. The
//!   source cluster's side of link `link_name` (`link.mode=SOURCE`) opens a connection to
//!   the destination and sends it; the destination parks the connection **without
//!   answering** until its `connection.mode=INBOUND` link needs a connection to the
//!   source. The answer is the claim: from the byte after it the socket carries the
//!   ordinary Kafka protocol the other way round (destination = client, source = server).
//!   An answer with an error code refuses the tunnel and the connection stays an ordinary
//!   one.

use crate::admin::{AdminMessage, Reader, Writer};
use crate::ProtocolError;

pub const ALTER_CLUSTER_LINK_CONFIGS: i16 = 20006;
pub const LINK_TUNNEL: i16 = 20013;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkTunnelRequest {
    /// The link's name, the same on both clusters.
    pub link_name: String,
    /// The source cluster's id (the destination link records it as its source).
    pub source_cluster_id: String,
    /// The source broker that opened the tunnel and serves what is sent through it.
    pub node_id: i32,
    /// That broker's advertised `host:port`, the name it has in the source's Metadata
    /// answers: the destination routes connections for that address to its tunnels.
    pub advertised: String,
}

impl AdminMessage for LinkTunnelRequest {
    const API_KEY: i16 = LINK_TUNNEL;
    fn write(&self, w: &mut Writer) {
        w.string(&self.link_name);
        w.string(&self.source_cluster_id);
        w.i32(self.node_id);
        w.string(&self.advertised);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = LinkTunnelRequest {
            link_name: r.string()?,
            source_cluster_id: r.string()?,
            node_id: r.i32()?,
            advertised: r.string()?,
        };
        r.tags()?;
        Ok(m)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkTunnelResponse {
    /// 0: the tunnel is claimed and now carries Kafka requests from the destination.
    pub error_code: i16,
    pub error_message: Option<String>,
    /// The destination cluster's id (shown by the source side's describe).
    pub destination_cluster_id: String,
}

impl AdminMessage for LinkTunnelResponse {
    const API_KEY: i16 = LINK_TUNNEL;
    fn write(&self, w: &mut Writer) {
        w.i16(self.error_code);
        w.nullable_string(self.error_message.as_deref());
        w.string(&self.destination_cluster_id);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = LinkTunnelResponse {
            error_code: r.i16()?,
            error_message: r.nullable_string()?,
            destination_cluster_id: r.string()?,
        };
        r.tags()?;
        Ok(m)
    }
}

/// What one [`LinkConfigOp`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigOpKind {
    /// Set the key to the value (add or replace).
    #[default]
    Set,
    /// Remove the key: it returns to its default.
    Delete,
}

impl ConfigOpKind {
    fn code(self) -> i8 {
        match self {
            ConfigOpKind::Set => 0,
            ConfigOpKind::Delete => 1,
        }
    }
}

/// One config change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkConfigOp {
    pub name: String,
    /// The new value (`Set`); `None` for `Delete`.
    pub value: Option<String>,
    pub op: ConfigOpKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlterClusterLinkConfigsRequest {
    pub link_name: String,
    pub ops: Vec<LinkConfigOp>,
    /// Validate (including reaching the source when connection settings change) without
    /// changing anything.
    pub validate_only: bool,
    /// When the source connection settings change, reach and authenticate to the source
    /// with the new ones, and check it is the same cluster, before accepting.
    pub validate_link: bool,
    pub timeout_ms: i32,
}

impl AdminMessage for AlterClusterLinkConfigsRequest {
    const API_KEY: i16 = ALTER_CLUSTER_LINK_CONFIGS;
    fn write(&self, w: &mut Writer) {
        w.string(&self.link_name);
        w.array(&self.ops, |w, o| {
            w.string(&o.name);
            w.nullable_string(o.value.as_deref());
            w.i8(o.op.code());
            w.tags();
        });
        w.bool(self.validate_only);
        w.bool(self.validate_link);
        w.i32(self.timeout_ms);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let link_name = r.string()?;
        let ops = r.array(|r| {
            let name = r.string()?;
            let value = r.nullable_string()?;
            let op = match r.i8()? {
                0 => ConfigOpKind::Set,
                1 => ConfigOpKind::Delete,
                other => {
                    return Err(ProtocolError::Malformed {
                        what: "AlterClusterLinkConfigsRequest".into(),
                        message: format!("unknown config operation {other} for '{name}'"),
                    })
                }
            };
            r.tags()?;
            Ok(LinkConfigOp { name, value, op })
        })?;
        let m = AlterClusterLinkConfigsRequest {
            link_name,
            ops,
            validate_only: r.bool()?,
            validate_link: r.bool()?,
            timeout_ms: r.i32()?,
        };
        r.tags()?;
        Ok(m)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlterClusterLinkConfigsResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    /// The keys whose effective value changed (empty when nothing changed or on error).
    pub changed: Vec<String>,
    /// The link reconnects to the source with new connection settings.
    pub reconnects: bool,
}

impl AdminMessage for AlterClusterLinkConfigsResponse {
    const API_KEY: i16 = ALTER_CLUSTER_LINK_CONFIGS;
    fn write(&self, w: &mut Writer) {
        w.i16(self.error_code);
        w.nullable_string(self.error_message.as_deref());
        w.array(&self.changed, |w, k| w.string(k));
        w.bool(self.reconnects);
        w.tags();
    }
    fn read(r: &mut Reader) -> Result<Self, ProtocolError> {
        let m = AlterClusterLinkConfigsResponse {
            error_code: r.i16()?,
            error_message: r.nullable_string()?,
            changed: r.array(|r| r.string())?,
            reconnects: r.bool()?,
        };
        r.tags()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let req = AlterClusterLinkConfigsRequest {
            link_name: "l".into(),
            ops: vec![
                LinkConfigOp {
                    name: "sasl.jaas.config".into(),
                    value: Some("x".into()),
                    op: ConfigOpKind::Set,
                },
                LinkConfigOp {
                    name: "acl.sync.ms".into(),
                    value: None,
                    op: ConfigOpKind::Delete,
                },
            ],
            validate_only: true,
            validate_link: true,
            timeout_ms: 5000,
        };
        assert_eq!(
            AlterClusterLinkConfigsRequest::decode(req.encode()).unwrap(),
            req
        );
        let resp = AlterClusterLinkConfigsResponse {
            error_code: 0,
            error_message: None,
            changed: vec!["acl.sync.ms".into()],
            reconnects: true,
        };
        assert_eq!(
            AlterClusterLinkConfigsResponse::decode(resp.encode()).unwrap(),
            resp
        );
        // Truncated input and an unknown operation are decode errors, not panics.
        let mut bytes = req.encode().to_vec();
        bytes.truncate(3);
        assert!(AlterClusterLinkConfigsRequest::decode(bytes.into()).is_err());
        let mut bad = req.clone();
        bad.ops.truncate(1);
        let mut bytes = bad.encode().to_vec();
        // link name "l" (2 bytes), array len (1), name (17), value (2): the op byte follows.
        bytes[2 + 1 + 17 + 2] = 7;
        let e = AlterClusterLinkConfigsRequest::decode(bytes.into()).unwrap_err();
        assert!(e.to_string().contains("unknown config operation"), "{e}");
    }

    #[test]
    fn link_tunnel_round_trips() {
        let req = LinkTunnelRequest {
            link_name: "l".into(),
            source_cluster_id: "src".into(),
            node_id: 3,
            advertised: "127.0.0.1:9092".into(),
        };
        assert_eq!(LinkTunnelRequest::decode(req.encode()).unwrap(), req);
        let resp = LinkTunnelResponse {
            error_code: 0,
            error_message: Some("m".into()),
            destination_cluster_id: "dst".into(),
        };
        assert_eq!(LinkTunnelResponse::decode(resp.encode()).unwrap(), resp);
        let mut bytes = req.encode().to_vec();
        bytes.truncate(5);
        assert!(LinkTunnelRequest::decode(bytes.into()).is_err());
    }
}
