//! Connection, SASL, TLS and client-routing tests against in-process fake brokers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, FetchResponse, MetadataRequest, MetadataResponse, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::fetch::{FetchParams, FetchPartitionSpec};
use crate::metadata::MetadataTopics;
use crate::scram::server::{Credential, ScramServer};
use crate::scram::ScramHash;
use crate::test_support::*;
use crate::{Client, ClientConfig, ClientError, ConnectOptions, Connection, ErrorCode};

const RANGES: &[(i16, i16, i16)] = &[(1, 4, 16), (3, 0, 12), (18, 0, 4), (60, 0, 1)];

fn options(config: &ClientConfig) -> ConnectOptions {
    ConnectOptions::new(config).unwrap()
}

fn plaintext() -> ConnectOptions {
    options(&ClientConfig {
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    })
}

/// A Metadata response whose cluster id echoes the first requested topic, so tests can
/// tell which request a response belongs to.
fn echo_metadata(req: &Req) -> MetadataResponse {
    let parsed = MetadataRequest::decode(&mut req.body.clone(), req.version()).unwrap();
    let first = parsed
        .topics
        .and_then(|t| t.into_iter().next())
        .and_then(|t| t.name)
        .map(|n| n.0.to_string())
        .unwrap_or_default();
    MetadataResponse::default().with_cluster_id(Some(StrBytes::from_string(first)))
}

async fn metadata_for(conn: &Connection, topic: &str) -> Result<Option<String>, ClientError> {
    conn.metadata(MetadataTopics::Some(&[topic]))
        .await
        .map(|m| m.cluster_id)
}

#[tokio::test]
async fn negotiates_api_versions_and_falls_back_to_v0_format() {
    // This broker knows ApiVersions only up to v2: our v3 gets the v0-format fallback.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let broker = FakeBroker::start(move || {
        let seen = seen2.clone();
        let ranges = vec![(18, 0, 2), (3, 0, 9), (1, 4, 11)];
        Box::new(move |frame: Bytes| {
            if let Some(req) = parse(&frame) {
                seen.lock().unwrap().push((req.key(), req.version()));
            }
            kafka_handler(ranges.clone(), |req| respond(&req, &echo_metadata(&req)))(frame)
        })
    })
    .await;
    let conn = Connection::connect(&broker.addr, &plaintext())
        .await
        .unwrap();
    assert_eq!(
        &seen.lock().unwrap()[..],
        &[(18, 3), (18, 2)],
        "v3 first, then the highest version the broker listed"
    );
    assert_eq!(conn.version_for(3, 12), Some(9));
    assert_eq!(conn.version_for(1, 12), Some(11));
    assert!(conn
        .negotiate::<kafka_protocol::messages::DescribeClusterRequest>(1)
        .is_err());
    assert_eq!(
        metadata_for(&conn, "t").await.unwrap().as_deref(),
        Some("t")
    );
    assert_eq!(seen.lock().unwrap().last(), Some(&(3, 9)));
}

#[tokio::test]
async fn fallback_listing_the_rejected_version_is_an_error_not_a_loop() {
    // Strait's own fallback frame (protocol crate), sent to a version it claims to know:
    // retrying could never converge, so the client must stop with a clear error.
    let broker = FakeBroker::start(|| {
        Box::new(|frame: Bytes| {
            let req = parse(&frame).unwrap();
            Reply::Frame(strait_protocol::response::api_versions_fallback(req.id()).unwrap())
        })
    })
    .await;
    let err = Connection::connect(&broker.addr, &plaintext())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("lists up to v4"), "{err}");
}

#[tokio::test]
async fn pipelined_requests_are_matched_in_order() {
    let broker = FakeBroker::start(|| {
        kafka_handler(RANGES.to_vec(), |req| respond(&req, &echo_metadata(&req)))
    })
    .await;
    let conn = Connection::connect(&broker.addr, &plaintext())
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let conn = conn.clone();
        tasks.spawn(async move {
            let topic = format!("topic-{i}");
            assert_eq!(metadata_for(&conn, &topic).await.unwrap(), Some(topic));
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

#[tokio::test]
async fn dropped_request_future_does_not_desynchronise_the_stream() {
    let broker = FakeBroker::start(|| {
        kafka_handler(RANGES.to_vec(), |req| {
            let body = echo_metadata(&req);
            let slow = body.cluster_id.as_deref() == Some("slow");
            match respond(&req, &body) {
                Reply::Frame(f) if slow => Reply::After(Duration::from_millis(300), f),
                other => other,
            }
        })
    })
    .await;
    let conn = Connection::connect(&broker.addr, &plaintext())
        .await
        .unwrap();
    // The request is written, then its future is dropped before the (slow) answer.
    let dropped =
        tokio::time::timeout(Duration::from_millis(50), metadata_for(&conn, "slow")).await;
    assert!(dropped.is_err(), "the slow request should still be pending");
    // The next request must get its own answer, not the orphaned one.
    assert_eq!(
        metadata_for(&conn, "fast").await.unwrap().as_deref(),
        Some("fast")
    );
    assert_eq!(
        metadata_for(&conn, "again").await.unwrap().as_deref(),
        Some("again")
    );
    assert!(conn.is_usable());
}

#[tokio::test]
async fn eof_fails_in_flight_and_later_requests_cleanly() {
    let broker = FakeBroker::start(|| kafka_handler(RANGES.to_vec(), |_| Reply::Close)).await;
    let conn = Connection::connect(&broker.addr, &plaintext())
        .await
        .unwrap();
    let err = metadata_for(&conn, "t").await.unwrap_err();
    assert!(matches!(err, ClientError::ConnectionClosed { .. }), "{err}");
    assert!(!conn.is_usable());
    let err = metadata_for(&conn, "t").await.unwrap_err();
    assert!(matches!(err, ClientError::ConnectionClosed { .. }), "{err}");
}

#[tokio::test]
async fn oversize_and_malformed_responses_are_errors_not_panics() {
    let broker = FakeBroker::start(|| {
        kafka_handler(RANGES.to_vec(), |req| {
            let topic = echo_metadata(&req)
                .cluster_id
                .unwrap_or_default()
                .to_string();
            let mut b = BytesMut::new();
            match topic.as_str() {
                "huge" => {
                    b.put_i32(64 * 1024 * 1024);
                    b.put_i32(req.id());
                    Reply::Raw(b.freeze())
                }
                "garbage" => {
                    b.put_i32(7);
                    b.put_i32(req.id());
                    b.put_slice(&[0xff, 0xff, 0xff]);
                    Reply::Raw(b.freeze())
                }
                "wrong-id" => {
                    b.put_i32(4);
                    b.put_i32(req.id() + 1000);
                    Reply::Raw(b.freeze())
                }
                "negative" => {
                    b.put_i32(-5);
                    Reply::Raw(b.freeze())
                }
                _ => respond(&req, &echo_metadata(&req)),
            }
        })
    })
    .await;
    let config = ClientConfig {
        max_response_bytes: 1024 * 1024,
        ..ClientConfig::default()
    };
    let opts = options(&config);

    let conn = Connection::connect(&broker.addr, &opts).await.unwrap();
    // An undecodable body fails that request only; the stream is still framed correctly.
    let err = metadata_for(&conn, "garbage").await.unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err}");
    assert_eq!(
        metadata_for(&conn, "ok").await.unwrap().as_deref(),
        Some("ok")
    );

    let err = metadata_for(&conn, "huge").await.unwrap_err();
    assert!(
        matches!(err, ClientError::ResponseTooLarge { size, .. } if size == 64 * 1024 * 1024),
        "{err}"
    );
    assert!(conn.is_closed());

    let conn = Connection::connect(&broker.addr, &opts).await.unwrap();
    let err = metadata_for(&conn, "wrong-id").await.unwrap_err();
    assert!(err.to_string().contains("protocol violation"), "{err}");

    let conn = Connection::connect(&broker.addr, &opts).await.unwrap();
    let err = metadata_for(&conn, "negative").await.unwrap_err();
    assert!(err.to_string().contains("negative"), "{err}");
}

#[tokio::test]
async fn request_timeout_closes_the_connection() {
    let broker = FakeBroker::start(|| kafka_handler(RANGES.to_vec(), |_| Reply::Nothing)).await;
    let config = ClientConfig {
        request_timeout: Duration::from_millis(200),
        ..ClientConfig::default()
    };
    let conn = Connection::connect(&broker.addr, &options(&config))
        .await
        .unwrap();
    let err = metadata_for(&conn, "t").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    assert!(conn.is_closed());
}

#[tokio::test]
async fn connect_errors_name_the_broker() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, &plaintext()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Connect { .. }) && err.to_string().contains(&addr),
        "{err}"
    );
    let err = Connection::connect("no-port", &plaintext())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn fetch_raw_returns_record_bytes_untouched() {
    // A complete batch followed by 10 bytes of the next one (a partial tail).
    let batch = strait_records::BatchBuilder::new(40)
        .append(1_700_000_000_000, Some(b"k"), Some(b"v"))
        .build()
        .unwrap();
    let mut records = batch.to_vec();
    records.extend_from_slice(&batch[..10]);
    let records = Bytes::from(records);
    let served = records.clone();
    let broker = FakeBroker::start(move || {
        let served = served.clone();
        kafka_handler(RANGES.to_vec(), move |req| {
            let body = FetchResponse::default()
                .with_session_id(77)
                .with_responses(vec![FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(41)
                        .with_log_start_offset(3)
                        .with_last_stable_offset(41)
                        .with_records(Some(served.clone()))])]);
            respond(&req, &body)
        })
    })
    .await;
    let conn = Connection::connect(&broker.addr, &plaintext())
        .await
        .unwrap();
    let mut params = FetchParams::default();
    params.partitions.push(FetchPartitionSpec::new("t", 0, 40));
    let result = conn.fetch_raw(&params).await.unwrap();
    assert_eq!(result.version, 12);
    assert_eq!(result.session_id, 77);
    let p = &result.partitions[0];
    assert_eq!(
        (p.high_watermark, p.log_start_offset, p.error),
        (41, 3, None)
    );
    assert_eq!(p.diverging_epoch, None);
    assert_eq!(p.records, records);
    let mut it = strait_records::BatchIter::new(&p.records);
    assert_eq!(it.next().unwrap().unwrap().base_offset(), 40);
    assert!(it.next().is_none());
    assert_eq!(it.trailing_bytes(), 10);
}

// ---------------------------------------------------------------------------------------
// SASL

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    /// SaslHandshake v1 + SaslAuthenticate.
    Authenticate,
    /// SaslHandshake v0 + raw tokens.
    Raw,
}

/// A fake SASL broker: `mechanism` with user "alice" / password "pw-4lice".
fn sasl_broker_handler(
    mechanism: &'static str,
    framing: Framing,
    corrupt_server_final: bool,
) -> Handler {
    let mut ranges = vec![(18, 0, 3), (3, 0, 12)];
    match framing {
        Framing::Authenticate => ranges.extend([(17, 0, 1), (36, 0, 2)]),
        Framing::Raw => ranges.push((17, 0, 0)),
    }
    let hash = match mechanism {
        "SCRAM-SHA-512" => ScramHash::Sha512,
        _ => ScramHash::Sha256,
    };
    let credential = Credential::new(hash, "pw-4lice", b"NaCl-salt", 4096);
    let mut authenticated = false;
    let mut raw_mode = false;
    let mut scram: Option<ScramServer> = None;
    let mut api = kafka_handler(ranges, |req| respond(&req, &echo_metadata(&req)));
    // Returns the server token, or an error message (auth failure).
    let mut step = move |token: &[u8]| -> Result<Vec<u8>, String> {
        if mechanism == "PLAIN" {
            let parts: Vec<&[u8]> = token.split(|b| *b == 0).collect();
            return if parts.len() == 3 && parts[1] == b"alice" && parts[2] == b"pw-4lice" {
                Ok(Vec::new())
            } else {
                Err("Authentication failed: Invalid username or password".into())
            };
        }
        match scram.take() {
            None => {
                let cred = credential.clone();
                let (server, first) = ScramServer::start(hash, token, "srv-nonce", |u| {
                    (u == "alice").then(|| cred.clone())
                })?;
                scram = Some(server);
                Ok(first)
            }
            Some(server) => {
                let mut fin = server.finish(token)?;
                if corrupt_server_final {
                    fin = b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_vec();
                }
                Ok(fin)
            }
        }
    };
    Box::new(move |frame: Bytes| {
        if raw_mode && !authenticated {
            return match step(&frame) {
                Ok(token) => {
                    if mechanism == "PLAIN" || token.starts_with(b"v=") {
                        authenticated = true;
                    }
                    let mut b = BytesMut::new();
                    b.put_i32(token.len() as i32);
                    b.put_slice(&token);
                    Reply::Raw(b.freeze())
                }
                Err(_) => Reply::Close,
            };
        }
        let Some(req) = parse(&frame) else {
            return Reply::Close;
        };
        match req.key() {
            18 => api(frame),
            17 => {
                let ok =
                    req.body.len() > 2 && String::from_utf8_lossy(&req.body).contains(mechanism);
                raw_mode = req.version() == 0;
                respond(
                    &req,
                    &SaslHandshakeResponse::default()
                        .with_error_code(if ok { 0 } else { 33 })
                        .with_mechanisms(vec![StrBytes::from_static_str(mechanism)]),
                )
            }
            36 => {
                let body =
                    SaslAuthenticateRequest::decode(&mut req.body.clone(), req.version()).unwrap();
                let reply = match step(&body.auth_bytes) {
                    Ok(token) => {
                        if mechanism == "PLAIN" || token.starts_with(b"v=") {
                            authenticated = true;
                        }
                        SaslAuthenticateResponse::default()
                            .with_auth_bytes(Bytes::from(token))
                            // KIP-368 lifetime; absurdly large to prove it cannot overflow.
                            .with_session_lifetime_ms(if req.version() >= 1 { i64::MAX } else { 0 })
                    }
                    Err(message) => SaslAuthenticateResponse::default()
                        .with_error_code(58)
                        .with_error_message(Some(StrBytes::from_string(message))),
                };
                respond(&req, &reply)
            }
            _ if !authenticated => Reply::Close,
            _ => api(frame),
        }
    })
}

fn sasl_options(mechanism: &str, password: &str) -> ConnectOptions {
    let module = if mechanism == "PLAIN" {
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    } else {
        "org.apache.kafka.common.security.scram.ScramLoginModule"
    };
    let props: BTreeMap<String, String> = [
        ("security.protocol", "SASL_PLAINTEXT".to_string()),
        ("sasl.mechanism", mechanism.to_string()),
        (
            "sasl.jaas.config",
            format!("{module} required username=\"alice\" password=\"{password}\";"),
        ),
        ("request.timeout.ms", "5000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    options(&ClientConfig::from_properties(&props).unwrap().0)
}

#[tokio::test]
async fn sasl_mechanisms_over_both_framings() {
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for framing in [Framing::Authenticate, Framing::Raw] {
            let broker =
                FakeBroker::start(move || sasl_broker_handler(mechanism, framing, false)).await;
            let conn = Connection::connect(&broker.addr, &sasl_options(mechanism, "pw-4lice"))
                .await
                .unwrap_or_else(|e| panic!("{mechanism} {}: {e}", framing == Framing::Raw));
            // Authenticated: ordinary requests now work.
            assert_eq!(
                metadata_for(&conn, "x").await.unwrap().as_deref(),
                Some("x")
            );

            let err = Connection::connect(&broker.addr, &sasl_options(mechanism, "wrong"))
                .await
                .unwrap_err();
            assert!(err.is_auth_failure(), "{mechanism}: {err}");
            assert!(!format!("{err} {err:?}").contains("pw-4lice"));
            if framing == Framing::Authenticate {
                assert_eq!(
                    err.kafka_code(),
                    Some(ErrorCode::SaslAuthenticationFailed),
                    "{err}"
                );
            }
        }
    }
}

#[tokio::test]
async fn scram_client_rejects_a_server_that_cannot_prove_itself() {
    let broker =
        FakeBroker::start(|| sasl_broker_handler("SCRAM-SHA-256", Framing::Authenticate, true))
            .await;
    let err = Connection::connect(&broker.addr, &sasl_options("SCRAM-SHA-256", "pw-4lice"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Sasl { message, .. } if message.contains("server signature")),
        "{err}"
    );
}

#[tokio::test]
async fn unsupported_mechanism_is_reported_with_the_enabled_ones() {
    let broker =
        FakeBroker::start(|| sasl_broker_handler("PLAIN", Framing::Authenticate, false)).await;
    let err = Connection::connect(&broker.addr, &sasl_options("SCRAM-SHA-512", "pw"))
        .await
        .unwrap_err();
    assert_eq!(
        err.kafka_code(),
        Some(ErrorCode::UnsupportedSaslMechanism),
        "{err}"
    );
    assert!(err.to_string().contains("PLAIN"), "{err}");
}

// ---------------------------------------------------------------------------------------
// TLS

fn tls_options(pki: &TestPki, extra: &[(&str, String)]) -> ConnectOptions {
    let mut props: BTreeMap<String, String> = [
        ("security.protocol", "SSL".to_string()),
        ("ssl.truststore.type", "PEM".to_string()),
        ("ssl.truststore.certificates", pki.ca_pem.clone()),
        ("request.timeout.ms", "5000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        props.insert(k.to_string(), v.clone());
    }
    options(&ClientConfig::from_properties(&props).unwrap().0)
}

fn echo_handler() -> Handler {
    kafka_handler(RANGES.to_vec(), |req| respond(&req, &echo_metadata(&req)))
}

#[tokio::test]
async fn tls_verifies_chain_and_host_name() {
    let pki = TestPki::new();
    let broker = FakeBroker::start_tls(pki.acceptor(&["localhost"], false), echo_handler).await;
    let localhost = format!("localhost:{}", broker.port);

    let conn = Connection::connect(&localhost, &tls_options(&pki, &[]))
        .await
        .unwrap();
    assert_eq!(
        metadata_for(&conn, "tls").await.unwrap().as_deref(),
        Some("tls")
    );

    // 127.0.0.1 is not in the certificate: refused, unless identification is disabled.
    let err = Connection::connect(&broker.addr, &tls_options(&pki, &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err}");
    let relaxed = tls_options(
        &pki,
        &[("ssl.endpoint.identification.algorithm", String::new())],
    );
    let conn = Connection::connect(&broker.addr, &relaxed).await.unwrap();
    assert_eq!(
        metadata_for(&conn, "ip").await.unwrap().as_deref(),
        Some("ip")
    );

    // A certificate from another CA is refused even with identification disabled.
    let other = TestPki::new();
    let err = Connection::connect(
        &localhost,
        &tls_options(
            &other,
            &[("ssl.endpoint.identification.algorithm", String::new())],
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err}");
}

#[tokio::test]
async fn mutual_tls_with_a_pem_keystore() {
    let pki = TestPki::new();
    let broker = FakeBroker::start_tls(pki.acceptor(&["localhost"], true), echo_handler).await;
    let localhost = format!("localhost:{}", broker.port);
    let (cert, key) = pki.leaf(&["strait-link"], true);

    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("client.pem");
    std::fs::write(&keystore, format!("{key}{cert}")).unwrap();
    let with_file = tls_options(
        &pki,
        &[
            ("ssl.keystore.type", "PEM".into()),
            ("ssl.keystore.location", keystore.display().to_string()),
        ],
    );
    let conn = Connection::connect(&localhost, &with_file).await.unwrap();
    assert_eq!(
        metadata_for(&conn, "m").await.unwrap().as_deref(),
        Some("m")
    );

    let inline = tls_options(
        &pki,
        &[
            ("ssl.keystore.type", "PEM".into()),
            ("ssl.keystore.certificate.chain", cert),
            ("ssl.keystore.key", key.clone()),
        ],
    );
    let conn = Connection::connect(&localhost, &inline).await.unwrap();
    assert_eq!(
        metadata_for(&conn, "i").await.unwrap().as_deref(),
        Some("i")
    );

    // Without a client certificate the broker refuses us (during or right after the
    // TLS 1.3 handshake, so either error is fine; it must not be a success).
    assert!(async {
        let conn = Connection::connect(&localhost, &tls_options(&pki, &[])).await?;
        metadata_for(&conn, "n").await
    }
    .await
    .is_err());
    // The private key never shows up in Debug output.
    assert!(!format!("{inline:?}").contains(key.lines().nth(1).unwrap()));
}

// ---------------------------------------------------------------------------------------
// Client: bootstrap, metadata cache, routing, private keys

fn cluster_metadata(ports: &[u16]) -> MetadataResponse {
    MetadataResponse::default()
        .with_cluster_id(Some(StrBytes::from_static_str("fake-cluster")))
        .with_controller_id(BrokerId(1))
        .with_brokers(
            ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(i as i32 + 1))
                        .with_host(StrBytes::from_static_str("127.0.0.1"))
                        .with_port(i32::from(*p))
                })
                .collect(),
        )
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_topic_id(uuid::Uuid::from_u128(7))
            .with_partitions(
                (0..ports.len() as i32)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(BrokerId(p + 1))
                            .with_leader_epoch(10 + p)
                    })
                    .collect(),
            )])
}

#[tokio::test]
async fn client_bootstraps_caches_metadata_and_routes_to_leaders() {
    // Two fake brokers; each answers Metadata with the full cluster and counts connects.
    let ports = Arc::new(std::sync::Mutex::new(Vec::<u16>::new()));
    let connects = Arc::new(AtomicUsize::new(0));
    let mut brokers = Vec::new();
    for _ in 0..2 {
        let ports = ports.clone();
        let connects = connects.clone();
        let ranges = vec![(18, 0, 3), (3, 0, 12), (20001, 0, 0)];
        brokers.push(
            FakeBroker::start(move || {
                connects.fetch_add(1, Ordering::SeqCst);
                let ports = ports.clone();
                kafka_handler(ranges.clone(), move |req| match req.key() {
                    3 => respond(&req, &cluster_metadata(&ports.lock().unwrap())),
                    20001 => {
                        // Private key: echo the body back behind response header v1.
                        let mut b = BytesMut::new();
                        b.put_i32(4 + 1 + req.body.len() as i32);
                        b.put_i32(req.id());
                        b.put_u8(0); // empty tagged fields
                        b.put_slice(&req.body);
                        Reply::Frame(b.freeze())
                    }
                    _ => Reply::Close,
                })
            })
            .await,
        );
    }
    *ports.lock().unwrap() = brokers.iter().map(|b| b.port).collect();

    let config = ClientConfig::plaintext(&format!("127.0.0.1:1,{}", brokers[1].addr));
    let client = Client::connect(&config).await.unwrap();
    let m = client.metadata();
    assert_eq!(m.cluster_id.as_deref(), Some("fake-cluster"));
    assert_eq!(m.brokers.len(), 2);

    assert_eq!(client.find_leader_and_epoch("t", 1).await.unwrap(), (2, 11));
    assert_eq!(client.find_leader("t", 0).await.unwrap(), 1);
    assert_eq!(
        client.metadata().topic("t").unwrap().topic_id,
        Some(uuid::Uuid::from_u128(7))
    );
    let err = client.find_leader("t", 9).await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(ErrorCode::UnknownTopicOrPartition));

    // One pooled connection per broker, reused.
    let a = client.broker(1).await.unwrap();
    let before = connects.load(Ordering::SeqCst);
    let b = client.broker(1).await.unwrap();
    assert_eq!(connects.load(Ordering::SeqCst), before);
    assert_eq!(a.broker(), b.broker());
    assert!(matches!(
        client.broker(42).await,
        Err(ClientError::UnknownBroker(42))
    ));

    // Strait private API: request header v2, response header v1, raw bodies.
    let reply = client.send_raw(20001, 0, b"\x00hello").await.unwrap();
    assert_eq!(&reply[..], b"\x00hello");

    // A dead pooled connection is replaced transparently.
    a.close();
    assert!(client.broker(1).await.unwrap().is_usable());
    assert!(connects.load(Ordering::SeqCst) > before);

    // DescribeCluster is not advertised: answered from Metadata.
    let d = client.describe_cluster().await.unwrap();
    assert_eq!(d.cluster_id.as_deref(), Some("fake-cluster"));
    assert_eq!(d.controller_id, Some(1));
}

#[tokio::test]
async fn bootstrap_failure_lists_every_server() {
    let config = ClientConfig::plaintext("127.0.0.1:1,127.0.0.1:2");
    let err = Client::connect(&config).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Bootstrap(_)), "{text}");
    assert!(
        text.contains("127.0.0.1:1") && text.contains("127.0.0.1:2"),
        "{text}"
    );
}
