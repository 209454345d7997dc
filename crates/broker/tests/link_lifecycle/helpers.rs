//! Helpers of `link_lifecycle.rs`: batches, raw log comparison, the private admin calls
//! (ListClusterLinks, AlterClusterLinkConfigs), deadline-bounded waits on mirror state,
//! SCRAM credentials, and the client actions that break or shadow a mirror.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use strait_client::{Client, ClientConfig};
use strait_protocol::admin::*;
use strait_protocol::link_admin::*;

pub use super::support::link_listing as listing;
use super::support::*;

pub const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\";";

pub async fn create_topic(c: &Client, topic: &str, partitions: i32) {
    c.create_topics(
        &[strait_client::admin::NewTopic::new(topic, partitions, 1)],
        10_000,
        false,
    )
    .await
    .unwrap();
    c.refresh_metadata(&[topic]).await.unwrap();
}

pub async fn produce(c: &Client, topic: &str, partition: i32, tag: &str, n: i64) {
    c.refresh_metadata(&[topic]).await.unwrap();
    c.produce_raw(topic, partition, batch(tag, n), -1)
        .await
        .unwrap();
}

pub fn config_of(l: &ClusterLinkListing, key: &str) -> Option<String> {
    l.configs
        .iter()
        .find(|c| c.name == key)
        .and_then(|c| c.value.clone())
}

pub fn set(k: &str, v: &str) -> LinkConfigOp {
    LinkConfigOp {
        name: k.into(),
        value: Some(v.into()),
        op: ConfigOpKind::Set,
    }
}

pub fn delete(k: &str) -> LinkConfigOp {
    LinkConfigOp {
        name: k.into(),
        value: None,
        op: ConfigOpKind::Delete,
    }
}

pub async fn alter(
    dst: &Client,
    link: &str,
    ops: Vec<LinkConfigOp>,
) -> AlterClusterLinkConfigsResponse {
    admin(
        dst,
        &AlterClusterLinkConfigsRequest {
            link_name: link.into(),
            ops,
            validate_only: false,
            validate_link: true,
            timeout_ms: 10_000,
        },
    )
    .await
}

pub async fn alter_ok(
    dst: &Client,
    link: &str,
    ops: Vec<LinkConfigOp>,
) -> AlterClusterLinkConfigsResponse {
    let r = alter(dst, link, ops).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r
}

/// Waits until mirror `topic` is ACTIVE with every partition at `leo` and lag 0.
pub async fn wait_caught_up(dst: &Client, topic: &str, partitions: usize, leo: i64) {
    wait_for(&format!("{topic} at {leo}"), || {
        let dst = dst.clone();
        async move {
            mirror(&dst, topic).await.is_some_and(|m| {
                m.state == "ACTIVE"
                    && m.partitions.len() == partitions
                    && m.partitions
                        .iter()
                        .all(|p| p.log_end_offset == leo && p.lag == 0)
            })
        }
    })
    .await;
}

pub async fn wait_mirror_state(dst: &Client, topic: &str, state: &str) -> MirrorDescription {
    wait_for(&format!("{topic} {state}"), || {
        let dst = dst.clone();
        async move { mirror(&dst, topic).await.is_some_and(|m| m.state == state) }
    })
    .await;
    mirror(dst, topic).await.unwrap()
}

pub fn scram_jaas(user: &str, password: &str) -> String {
    format!("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{user}\" password=\"{password}\";")
}

pub fn sasl_client(addr: &str, mechanism: &str, jaas: &str) -> ClientConfig {
    let props: BTreeMap<String, String> = [
        ("bootstrap.servers", addr),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", mechanism),
        ("sasl.jaas.config", jaas),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ClientConfig::from_properties(&props).unwrap().0
}

/// Sets `user`'s SCRAM-SHA-512 password on the broker `c` talks to.
pub async fn set_scram_password(c: &Client, user: &str, password: &str) {
    use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
    use kafka_protocol::messages::AlterUserScramCredentialsRequest;
    use kafka_protocol::protocol::StrBytes;
    let salt = b"lifecycle-salt-0123".to_vec();
    let salted =
        strait_client::scram::ScramHash::Sha512.salted_password(password.as_bytes(), &salt, 4096);
    let req = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(user.to_string()))
            .with_mechanism(2)
            .with_iterations(4096)
            .with_salt(Bytes::from(salt))
            .with_salted_password(Bytes::from(salted)),
    ]);
    let r = c.any_broker().await.unwrap().send(&req, 0).await.unwrap();
    assert_eq!(r.results[0].error_code, 0, "{r:?}");
}

/// The source's log file of `topic`-`partition` (one segment).
pub fn segment_file(dir: &std::path::Path, topic: &str, partition: i32) -> std::path::PathBuf {
    let pdir = dir.join(format!("{topic}-{partition}"));
    std::fs::read_dir(&pdir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap_or_else(|| panic!("no segment in {}", pdir.display()))
}

/// A Metadata request that lets the broker auto-create `topic` (what a Java consumer sends).
pub async fn auto_create(c: &Client, topic: &str) {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{MetadataRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(true);
    c.any_broker().await.unwrap().send(&req, 9).await.unwrap();
}
