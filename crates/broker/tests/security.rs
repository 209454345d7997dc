#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns
//! Security end to end, in process: ACL admin and persistence across a restart, the
//! enforcing authorizer seen through real requests (deny beats allow, prefixed patterns,
//! super users, implied DESCRIBE, allow.everyone.if.no.acl.found), SASL PLAIN and
//! SCRAM-SHA-256/512 (success, wrong password, pre-authentication refusal, credentials
//! managed with AlterUserScramCredentials), and TLS listeners (SSL, SASL_SSL) with an
//! rcgen CA. The client side is strait-client, which speaks SASL and TLS.
//! Authorizer evaluation itself is table-tested in `auth::authorizer`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use strait_broker::{BrokerConfig, RunningBroker};
use strait_client::acls::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
use strait_client::admin::NewTopic;
use strait_client::{Client, ClientConfig, ErrorCode};
use strait_records::BatchBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
    user_alice=\"alice-secret\" user_bob=\"bob-secret\";";

async fn start(dir: &std::path::Path, extra: &[String]) -> RunningBroker {
    let mut o = vec![format!("log.dirs={}", dir.display())];
    o.extend(extra.iter().cloned());
    RunningBroker::start(BrokerConfig::load(None, &o).unwrap())
        .await
        .unwrap()
}

fn port(b: &RunningBroker, name: &str) -> u16 {
    b.listeners.iter().find(|l| l.name == name).unwrap().port
}

fn client_config(pairs: &[(&str, &str)]) -> ClientConfig {
    let props: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (mut c, _) = ClientConfig::from_properties(&props).unwrap();
    c.request_timeout = Duration::from_secs(10);
    c
}

fn sasl(port: u16, protocol: &str, mechanism: &str, user: &str, password: &str) -> ClientConfig {
    let module = if mechanism == "PLAIN" {
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    } else {
        "org.apache.kafka.common.security.scram.ScramLoginModule"
    };
    let jaas = format!("{module} required username=\"{user}\" password=\"{password}\";");
    client_config(&[
        ("bootstrap.servers", &format!("127.0.0.1:{port}")),
        ("security.protocol", protocol),
        ("sasl.mechanism", mechanism),
        ("sasl.jaas.config", &jaas),
    ])
}

fn acl(
    rt: ResourceType,
    name: &str,
    pt: PatternType,
    principal: &str,
    op: AclOperation,
    perm: AclPermissionType,
) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.into(),
        pattern_type: pt,
        principal: principal.into(),
        host: "*".into(),
        operation: op,
        permission_type: perm,
    }
}

fn batch() -> Bytes {
    Bytes::from(
        BatchBuilder::new(0)
            .append(1_700_000_000_000, Some(b"k"), Some(b"v"))
            .build()
            .unwrap(),
    )
}

async fn produce(client: &Client, topic: &str) -> Option<ErrorCode> {
    let conn = client.any_broker().await.unwrap();
    match conn.produce_raw(topic, 0, batch(), -1).await {
        Ok(_) => None,
        Err(e) => Some(e.kafka_code().unwrap_or_else(|| panic!("{e}"))),
    }
}

async fn visible_topics(client: &Client) -> Vec<String> {
    client
        .refresh_all_metadata()
        .await
        .unwrap()
        .topics
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn acls_are_managed_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let listeners = vec!["listeners=PLAINTEXT://127.0.0.1:0".to_string()];
    let broker = start(dir.path(), &listeners).await;
    let client = Client::connect(&ClientConfig::plaintext(&format!(
        "127.0.0.1:{}",
        port(&broker, "PLAINTEXT")
    )))
    .await
    .unwrap();
    let bindings = vec![
        acl(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            "User:alice",
            AclOperation::Read,
            AclPermissionType::Allow,
        ),
        acl(
            ResourceType::Topic,
            "ord",
            PatternType::Prefixed,
            "User:bob",
            AclOperation::Write,
            AclPermissionType::Deny,
        ),
        acl(
            ResourceType::Group,
            "g",
            PatternType::Literal,
            "User:*",
            AclOperation::Read,
            AclPermissionType::Allow,
        ),
        acl(
            ResourceType::Cluster,
            "kafka-cluster",
            PatternType::Literal,
            "User:alice",
            AclOperation::Describe,
            AclPermissionType::Allow,
        ),
        acl(
            ResourceType::TransactionalId,
            "tx",
            PatternType::Prefixed,
            "User:alice",
            AclOperation::Write,
            AclPermissionType::Allow,
        ),
    ];
    let created = client.create_acls(&bindings).await.unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    // Invalid bindings are refused one by one with a message.
    let bad = vec![
        acl(
            ResourceType::Cluster,
            "other",
            PatternType::Literal,
            "User:a",
            AclOperation::Alter,
            AclPermissionType::Allow,
        ),
        acl(
            ResourceType::DelegationToken,
            "t",
            PatternType::Literal,
            "User:a",
            AclOperation::Describe,
            AclPermissionType::Allow,
        ),
        acl(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            "alice",
            AclOperation::Read,
            AclPermissionType::Allow,
        ),
    ];
    let refused = client.create_acls(&bad).await.unwrap();
    for r in &refused {
        assert_eq!(
            r.as_ref().unwrap_err().kafka_code(),
            Some(ErrorCode::InvalidRequest),
            "{r:?}"
        );
    }
    assert!(format!("{:?}", refused[1]).contains("DELEGATION_TOKEN"));

    // Filters: MATCH finds literal and prefixed bindings that apply to a name.
    let mut f = AclBindingFilter::any();
    f.resource_type = ResourceType::Topic;
    f.resource_name = Some("orders".into());
    f.pattern_type = PatternType::Match;
    assert_eq!(client.describe_acls(&f).await.unwrap().len(), 2);
    assert_eq!(
        client
            .describe_acls(&AclBindingFilter::any())
            .await
            .unwrap()
            .len(),
        5
    );

    drop(client);
    broker.shutdown();
    let broker = start(dir.path(), &listeners).await;
    let client = Client::connect(&ClientConfig::plaintext(&format!(
        "127.0.0.1:{}",
        port(&broker, "PLAINTEXT")
    )))
    .await
    .unwrap();
    let mut all = client
        .describe_acls(&AclBindingFilter::any())
        .await
        .unwrap();
    all.sort_by(|a, b| a.resource_name.cmp(&b.resource_name));
    let mut expected = bindings.clone();
    expected.sort_by(|a, b| a.resource_name.cmp(&b.resource_name));
    assert_eq!(all, expected);

    // Delete by a filter; the deleted bindings come back and stay deleted after a restart.
    let mut f = AclBindingFilter::any();
    f.principal = Some("User:alice".into());
    let deleted = client.delete_acls(&[f]).await.unwrap();
    assert_eq!(deleted[0].as_ref().unwrap().len(), 3);
    drop(client);
    broker.shutdown();
    let broker = start(dir.path(), &listeners).await;
    let client = Client::connect(&ClientConfig::plaintext(&format!(
        "127.0.0.1:{}",
        port(&broker, "PLAINTEXT")
    )))
    .await
    .unwrap();
    assert_eq!(
        client
            .describe_acls(&AclBindingFilter::any())
            .await
            .unwrap()
            .len(),
        2
    );
    broker.shutdown();
}

fn secured(extra: &[&str]) -> Vec<String> {
    let mut o: Vec<String> = vec![
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0".into(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
        "super.users=User:admin".into(),
        "strait.scram.credentials=SCRAM-SHA-512=[name=carol,password=carol-secret]".into(),
    ];
    o.extend(extra.iter().map(|s| s.to_string()));
    o
}

#[tokio::test]
async fn sasl_principals_are_authorized_with_kafka_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &secured(&[])).await;
    let sp = port(&broker, "SASL_PLAINTEXT");
    let admin = Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "PLAIN",
        "admin",
        "admin-secret",
    ))
    .await
    .unwrap();
    let topics = [
        NewTopic::new("orders", 1, 1),
        NewTopic::new("orders-secret", 1, 1),
        NewTopic::new("public", 1, 1),
    ];
    for (name, r) in admin.create_topics(&topics, 10_000, false).await.unwrap() {
        assert!(r.is_ok(), "{name}: {r:?}");
    }
    use AclOperation::*;
    use AclPermissionType::{Allow, Deny};
    use PatternType::{Literal, Prefixed};
    use ResourceType::{Group, Topic};
    let created = admin
        .create_acls(&[
            acl(Topic, "ord", Prefixed, "User:alice", All, Allow),
            acl(Topic, "orders-secret", Literal, "User:alice", Write, Deny),
            acl(Topic, "public", Literal, "User:*", Read, Allow),
            acl(Group, "g", Literal, "User:alice", Read, Allow),
        ])
        .await
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    // alice: prefixed ALL allow; a literal DENY WRITE beats it on orders-secret, but (deny
    // implies nothing) she can still describe it.
    let alice = Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "PLAIN",
        "alice",
        "alice-secret",
    ))
    .await
    .unwrap();
    assert_eq!(produce(&alice, "orders").await, None);
    assert_eq!(
        produce(&alice, "orders-secret").await,
        Some(ErrorCode::TopicAuthorizationFailed)
    );
    assert_eq!(
        produce(&alice, "public").await,
        Some(ErrorCode::TopicAuthorizationFailed)
    );
    let mut seen = visible_topics(&alice).await;
    seen.sort();
    assert_eq!(seen, vec!["orders", "orders-secret", "public"]); // DESCRIBE implied by READ
                                                                 // ACL admin needs cluster ALTER / DESCRIBE.
    let e = alice
        .describe_acls(&AclBindingFilter::any())
        .await
        .unwrap_err();
    assert_eq!(e.kafka_code(), Some(ErrorCode::ClusterAuthorizationFailed));

    // carol (bootstrap SCRAM-SHA-512 credential): only public is visible, nothing writable,
    // and creating a topic needs CREATE.
    let carol = Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "carol",
        "carol-secret",
    ))
    .await
    .unwrap();
    assert_eq!(visible_topics(&carol).await, vec!["public"]);
    assert_eq!(
        produce(&carol, "orders").await,
        Some(ErrorCode::TopicAuthorizationFailed)
    );
    let r = carol
        .create_topics(&[NewTopic::new("carols", 1, 1)], 10_000, false)
        .await
        .unwrap();
    assert_eq!(
        r[0].1.as_ref().unwrap_err().kafka_code(),
        Some(ErrorCode::TopicAuthorizationFailed)
    );

    // Group APIs: JoinGroup on a group alice may not read.
    let conn = alice.any_broker().await.unwrap();
    let join = |group: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.into())))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::new())])
    };
    let r = conn.send(&join("other"), 5).await.unwrap();
    assert_eq!(r.error_code, ErrorCode::GroupAuthorizationFailed.code());
    let r = conn.send(&join("g"), 5).await.unwrap();
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("public")))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let r = conn.send(&commit, 8).await.unwrap();
    let codes: Vec<(String, i16)> = r
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        codes,
        vec![("orders".to_string(), 0), ("public".to_string(), 0)]
    );

    // Anonymous PLAINTEXT clients see nothing (allow.everyone.if.no.acl.found=false) but
    // can still read "public" (User:* READ).
    let anon = Client::connect(&ClientConfig::plaintext(&format!(
        "127.0.0.1:{}",
        port(&broker, "PLAINTEXT")
    )))
    .await
    .unwrap();
    assert_eq!(visible_topics(&anon).await, vec!["public"]);
    broker.shutdown();

    // allow.everyone.if.no.acl.found=true: resources without any binding are open.
    let broker = start(
        dir.path(),
        &secured(&["allow.everyone.if.no.acl.found=true"]),
    )
    .await;
    let anon = Client::connect(&ClientConfig::plaintext(&format!(
        "127.0.0.1:{}",
        port(&broker, "PLAINTEXT")
    )))
    .await
    .unwrap();
    assert_eq!(
        produce(&anon, "orders").await,
        Some(ErrorCode::TopicAuthorizationFailed)
    ); // bindings exist for orders
    let r = anon
        .create_topics(&[NewTopic::new("free", 1, 1)], 10_000, false)
        .await
        .unwrap();
    assert!(r[0].1.is_ok(), "{r:?}");
    assert_eq!(produce(&anon, "free").await, None);
    broker.shutdown();
}

#[tokio::test]
async fn sasl_failures_and_scram_credential_admin() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &secured(&[])).await;
    let sp = port(&broker, "SASL_PLAINTEXT");

    for (mech, user, pw) in [
        ("PLAIN", "alice", "wrong"),
        ("PLAIN", "nobody", "x"),
        ("SCRAM-SHA-512", "carol", "wrong"),
        ("SCRAM-SHA-256", "carol", "carol-secret"), // only a SHA-512 credential exists
    ] {
        let e = Client::connect(&sasl(sp, "SASL_PLAINTEXT", mech, user, pw))
            .await
            .unwrap_err();
        assert_eq!(
            e.kafka_code(),
            Some(ErrorCode::SaslAuthenticationFailed),
            "{mech} {user}: {e}"
        );
        assert!(!e.to_string().contains(pw) || pw == "x", "{e}");
    }

    // AlterUserScramCredentials: the client sends salt + salted password.
    let admin = Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "PLAIN",
        "admin",
        "admin-secret",
    ))
    .await
    .unwrap();
    let conn = admin.any_broker().await.unwrap();
    let salt = b"0123456789abcdef".to_vec();
    let salted = strait_client::scram::ScramHash::Sha256.salted_password(b"dave-pw", &salt, 4096);
    let alter = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_static_str("dave"))
            .with_mechanism(1)
            .with_iterations(4096)
            .with_salt(Bytes::from(salt.clone()))
            .with_salted_password(Bytes::from(salted)),
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_static_str("weak"))
            .with_mechanism(1)
            .with_iterations(100)
            .with_salt(Bytes::from(salt))
            .with_salted_password(Bytes::from_static(b"x")),
    ]);
    let r = conn.send(&alter, 0).await.unwrap();
    assert_eq!(r.results[0].error_code, 0, "{r:?}");
    assert_eq!(
        r.results[1].error_code,
        ErrorCode::UnacceptableCredential.code()
    );
    let dave = Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
        "dave",
        "dave-pw",
    ))
    .await
    .unwrap();
    drop(dave);
    let described = conn
        .send(&DescribeUserScramCredentialsRequest::default(), 0)
        .await
        .unwrap();
    let mut users: Vec<(String, i8)> = described
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.credential_infos[0].mechanism))
        .collect();
    users.sort();
    assert_eq!(users, vec![("carol".into(), 2), ("dave".into(), 1)]);
    // Credentials are stored salted: no password in the metadata log's segments.
    let log = dir.path().join("__cluster_metadata-0").join("log");
    let mut image = String::new();
    for entry in std::fs::read_dir(&log).unwrap() {
        image.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.unwrap().path()).unwrap(),
        ));
    }
    assert!(!image.contains("carol-secret") && !image.contains("dave-pw"));
    assert!(image.contains("stored_key"));

    // Not a super user: CLUSTER_AUTHORIZATION_FAILED.
    let alice = Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "PLAIN",
        "alice",
        "alice-secret",
    ))
    .await
    .unwrap();
    let r = alice
        .any_broker()
        .await
        .unwrap()
        .send(&DescribeUserScramCredentialsRequest::default(), 0)
        .await
        .unwrap();
    assert_eq!(r.error_code, ErrorCode::ClusterAuthorizationFailed.code());

    // Deleting restores failure, and survives a restart.
    let del = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        alter_user_scram_credentials_request::ScramCredentialDeletion::default()
            .with_name(StrBytes::from_static_str("dave"))
            .with_mechanism(1),
    ]);
    assert_eq!(conn.send(&del, 0).await.unwrap().results[0].error_code, 0);
    drop((conn, admin, alice));
    broker.shutdown();
    let broker = start(dir.path(), &secured(&[])).await;
    let sp = port(&broker, "SASL_PLAINTEXT");
    assert!(Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
        "dave",
        "dave-pw"
    ))
    .await
    .is_err());
    Client::connect(&sasl(
        sp,
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "carol",
        "carol-secret",
    ))
    .await
    .unwrap();
    broker.shutdown();
}

fn raw_request<R: Encodable + HeaderVersion>(key: i16, version: i16, req: &R) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("raw")));
    let mut body = BytesMut::new();
    header
        .encode(
            &mut body,
            ApiKey::try_from(key)
                .unwrap()
                .request_header_version(version),
        )
        .unwrap();
    req.encode(&mut body, version).unwrap();
    let mut out = BytesMut::new();
    out.put_i32(body.len() as i32);
    out.put_slice(&body);
    out.freeze()
}

#[tokio::test]
async fn only_sasl_apis_are_answered_before_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &secured(&[])).await;
    let addr = format!("127.0.0.1:{}", port(&broker, "SASL_PLAINTEXT"));

    // ApiVersions is answered, then Metadata closes the connection unanswered.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(&raw_request(18, 3, &ApiVersionsRequest::default()))
        .await
        .unwrap();
    let size = s.read_i32().await.unwrap();
    let mut body = vec![0u8; size as usize];
    s.read_exact(&mut body).await.unwrap();
    s.write_all(&raw_request(3, 12, &MetadataRequest::default()))
        .await
        .unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "no response before authentication");

    // An unknown mechanism: UNSUPPORTED_SASL_MECHANISM listing the enabled ones, then close.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let hs = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("GSSAPI"));
    s.write_all(&raw_request(17, 1, &hs)).await.unwrap();
    let size = s.read_i32().await.unwrap();
    let mut body = vec![0u8; size as usize];
    s.read_exact(&mut body).await.unwrap();
    let mut b = Bytes::from(body);
    let _corr = bytes::Buf::get_i32(&mut b);
    let resp =
        <SaslHandshakeResponse as kafka_protocol::protocol::Decodable>::decode(&mut b, 1).unwrap();
    assert_eq!(resp.error_code, ErrorCode::UnsupportedSaslMechanism.code());
    let names: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(names, vec!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    broker.shutdown();
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1/localhost (key+cert in one PEM file, as
    /// `ssl.keystore.location` wants) and an expired server certificate.
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "strait-test-ca");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        for (name, expired) in [("server", false), ("expired", true)] {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                    .unwrap();
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
            if expired {
                params.not_before = rcgen::date_time_ymd(2000, 1, 1);
                params.not_after = rcgen::date_time_ymd(2001, 1, 1);
            }
            let cert = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(
                dir.path().join(format!("{name}.pem")),
                format!("{}{}", key.serialize_pem(), cert.pem()),
            )
            .unwrap();
        }
        Pki { dir }
    }
    fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }
}

#[tokio::test]
async fn tls_listeners_with_an_rcgen_ca() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        &[
            "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0".into(),
            "ssl.keystore.type=PEM".into(),
            format!("ssl.keystore.location={}", pki.path("server.pem")),
            "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN".into(),
            format!("listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}"),
            "strait.scram.credentials=SCRAM-SHA-512=[name=carol,password=carol-secret]".into(),
        ],
    )
    .await;
    assert_eq!(broker.listeners[0].name, "PLAINTEXT");
    let ca = pki.path("ca.pem");
    let ssl_port = port(&broker, "SSL");
    let tls = client_config(&[
        ("bootstrap.servers", &format!("127.0.0.1:{ssl_port}")),
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", &ca),
    ]);
    let client = Client::connect(&tls).await.unwrap();
    // Metadata advertises the listener the client connected on.
    let md = client.refresh_all_metadata().await.unwrap();
    assert_eq!(
        md.brokers.values().next().unwrap().port,
        i32::from(ssl_port)
    );
    client
        .create_topics(&[NewTopic::new("tls", 1, 1)], 10_000, false)
        .await
        .unwrap();
    assert_eq!(produce(&client, "tls").await, None);

    let sasl_ssl_port = port(&broker, "SASL_SSL");
    for (mech, user, pw) in [
        ("SCRAM-SHA-512", "carol", "carol-secret"),
        ("PLAIN", "alice", "alice-secret"),
    ] {
        let mut c = sasl(sasl_ssl_port, "SASL_SSL", mech, user, pw);
        c.tls = tls.tls.clone();
        let client = Client::connect(&c).await.unwrap();
        let md = client.refresh_all_metadata().await.unwrap();
        assert_eq!(
            md.brokers.values().next().unwrap().port,
            i32::from(sasl_ssl_port)
        );
        assert_eq!(produce(&client, "tls").await, None);
        let mut c = sasl(sasl_ssl_port, "SASL_SSL", mech, user, "wrong");
        c.tls = tls.tls.clone();
        assert!(Client::connect(&c).await.is_err());
    }
    // A client that does not trust the CA fails the handshake.
    let untrusting = client_config(&[
        ("bootstrap.servers", &format!("127.0.0.1:{ssl_port}")),
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", &pki.path("expired.pem")),
    ]);
    assert!(Client::connect(&untrusting).await.is_err());
    broker.shutdown();

    // Start-up errors name the key and the file.
    for (file, what) in [("expired.pem", "expired"), ("missing.pem", "cannot read")] {
        let e = BrokerConfig::load(
            None,
            &[
                "listeners=SSL://127.0.0.1:0".into(),
                format!("ssl.keystore.location={}", pki.path(file)),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ssl.keystore.location") && e.contains(file) && e.contains(what),
            "{e}"
        );
    }
}
