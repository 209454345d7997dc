//! Every registry key either has an effect or is refused: the tests here fail when a key
//! is added to the registry and not wired to anything. Keys whose effect needs a TLS or
//! SASL listener or a running broker are checked in the tests named next to them.

use std::collections::BTreeMap;

use super::{broker_keys::BROKER_KEYS, security_keys::SECURITY_KEYS, static_keys, Support};
use crate::config::{BrokerConfig, ConfigError};

fn load(overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
    BrokerConfig::load(None, overrides)
}

/// What the broker does with a configuration, without the record of what was supplied.
fn effective(c: &BrokerConfig) -> String {
    let mut c = c.clone();
    c.supplied = BTreeMap::new();
    format!("{c:?}")
}

/// Applied keys whose effect is checked elsewhere, and where.
const CHECKED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "metrics.http.listener",
        "metrics_http::bind reads it; protocol-tests/test_link.py",
    ),
    (
        "controller.listener.names",
        "controller_listeners_are_not_bound (below)",
    ),
    (
        "controller.quorum.voters",
        "kraft_tests several_voters_make_a_quorum_on_the_controller_listener; tests/cluster_quorum.rs",
    ),
    (
        "ssl.keystore.location",
        "tests/security.rs tls_listeners_with_an_rcgen_ca",
    ),
    (
        "ssl.keystore.certificate.chain",
        "tls_keys_shape_the_rustls_config (below)",
    ),
    (
        "ssl.keystore.key",
        "tls_keys_shape_the_rustls_config (below)",
    ),
    ("ssl.truststore.location", "tests/security.rs (mTLS)"),
    (
        "ssl.truststore.certificates",
        "tls_keys_shape_the_rustls_config (below)",
    ),
    (
        "ssl.client.auth",
        "tls_keys_shape_the_rustls_config (below)",
    ),
    (
        "ssl.enabled.protocols",
        "tls_keys_shape_the_rustls_config (below)",
    ),
    ("ssl.protocol", "tls_keys_shape_the_rustls_config (below)"),
    (
        "ssl.cipher.suites",
        "tls_keys_shape_the_rustls_config (below)",
    ),
    (
        "sasl.enabled.mechanisms",
        "auth::config tests; tests/security.rs",
    ),
    ("sasl.jaas.config", "auth::config tests; tests/security.rs"),
    ("super.users", "auth::config tests; tests/security.rs"),
    ("allow.everyone.if.no.acl.found", "auth::config tests"),
    (
        "inter.broker.listener.name",
        "kraft_tests::the_inter_broker_listener_is_resolved_and_plaintext_in_a_cluster",
    ),
    (
        "security.inter.broker.protocol",
        "kraft_tests::the_inter_broker_listener_is_resolved_and_plaintext_in_a_cluster",
    ),
];

#[test]
fn every_applied_key_changes_the_configuration() {
    let base = effective(&load(&[]).unwrap());
    for def in static_keys().filter(|d| d.support == Support::Applied) {
        if CHECKED_ELSEWHERE.iter().any(|(k, _)| *k == def.name) {
            continue;
        }
        let c = load(&[format!("{}={}", def.name, def.example)])
            .unwrap_or_else(|e| panic!("{}={}: {e}", def.name, def.example));
        assert_ne!(effective(&c), base, "{} has no effect", def.name);
    }
    for (k, _) in CHECKED_ELSEWHERE {
        assert!(super::static_key(k).is_some(), "{k} is not in the registry");
    }
}

/// For every single-node key: a value that describes a multi-node cluster.
const MULTI_NODE_VALUES: &[(&str, &str)] = &[
    ("process.roles", "broker"),
    ("controller.quorum.bootstrap.servers", "a:9093,b:9093"),
    ("controller.listener.names", "CONTROLLER"),
    ("offsets.topic.replication.factor", "3"),
    ("transaction.state.log.replication.factor", "3"),
    ("transaction.state.log.min.isr", "2"),
    ("share.coordinator.state.topic.replication.factor", "3"),
    ("share.coordinator.state.topic.min.isr", "2"),
];

#[test]
fn single_node_keys_accept_one_node_and_refuse_a_cluster() {
    for def in static_keys().filter(|d| d.support == Support::SingleNode) {
        let (_, bad) = MULTI_NODE_VALUES
            .iter()
            .find(|(k, _)| *k == def.name)
            .unwrap_or_else(|| panic!("{} has no multi-node value to test", def.name));
        let e = load(&[format!("{}={bad}", def.name)])
            .unwrap_err()
            .to_string();
        assert!(e.contains(def.name), "{e}");
        if def.name != "controller.listener.names" {
            load(&[format!("{}={}", def.name, def.example)])
                .unwrap_or_else(|e| panic!("{}: {e}", def.name));
        }
    }
    let e = load(&[
        "node.id=2".into(),
        "controller.quorum.voters=1@a:9093".into(),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("controller.quorum.voters") && e.contains("must be included"),
        "{e}"
    );
    load(&[
        "node.id=2".into(),
        "controller.quorum.voters=2@a:9093".into(),
    ])
    .unwrap();
}

#[test]
fn refused_and_only_default_keys_stop_start_up_naming_the_key() {
    for def in BROKER_KEYS.iter().chain(SECURITY_KEYS) {
        match def.support {
            Support::Refused(_) => {
                let e = load(&[format!("{}={}", def.name, def.example)])
                    .unwrap_err()
                    .to_string();
                assert!(e.contains(def.name) && e.contains("not supported"), "{e}");
            }
            Support::OnlyDefault(_) => {
                let e = load(&[format!("{}=something-else", def.name)])
                    .unwrap_err()
                    .to_string();
                assert!(e.contains(def.name) && e.contains("only"), "{e}");
                let default = def.default.unwrap_or_default();
                load(&[format!("{}={default}", def.name)]).unwrap();
            }
            _ => {}
        }
    }
    // Per-listener spellings are checked as their base key.
    let e = load(&["listener.name.ssl.ssl.keystore.password=x".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("listener.name.ssl.ssl.keystore.password"), "{e}");
}

#[test]
fn replication_keys_are_validated_and_kept() {
    for def in static_keys().filter(|d| d.support == Support::Replication) {
        let c = load(&[format!("{}={}", def.name, def.example)])
            .unwrap_or_else(|e| panic!("{}: {e}", def.name));
        assert_eq!(
            c.supplied.get(def.name).map(String::as_str),
            Some(def.example)
        );
    }
    for (k, v) in [
        ("inter.broker.listener.name", "NOPE"),
        ("security.inter.broker.protocol", "TLS"),
    ] {
        let e = load(&[format!("{k}={v}")]).unwrap_err().to_string();
        assert!(e.contains(k), "{e}");
    }
}

#[test]
fn a_stock_kafka_kraft_server_properties_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.properties");
    // Kafka's config/server.properties (combined mode), with its comments dropped.
    std::fs::write(
        &path,
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.bootstrap.servers=localhost:9093\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\n\
         advertised.listeners=PLAINTEXT://localhost:9092\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
         num.network.threads=3\nnum.io.threads=8\nsocket.send.buffer.bytes=102400\n\
         socket.receive.buffer.bytes=102400\nsocket.request.max.bytes=104857600\n\
         log.dirs=/tmp/kraft-combined-logs\nnum.partitions=1\nnum.recovery.threads.per.data.dir=1\n\
         offsets.topic.replication.factor=1\nshare.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\ntransaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\nlog.retention.hours=168\nlog.segment.bytes=1073741824\n\
         log.retention.check.interval.ms=300000\n",
    )
    .unwrap();
    let c = BrokerConfig::load(Some(&path), &[]).unwrap();
    assert_eq!(c.controller_listener_names, vec!["CONTROLLER".to_string()]);
    let bound: Vec<&str> = c.bound_listeners().map(|l| l.name.as_str()).collect();
    assert_eq!(bound, vec!["PLAINTEXT"]);
    assert_eq!(c.worker_threads(), 3);
    assert_eq!(c.num_io_threads, 8);
    assert_eq!(c.num_recovery_threads_per_data_dir, 1);
}

#[test]
fn controller_listeners_are_not_bound() {
    let base = [
        "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0".to_string(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
    ];
    let mut o = base.to_vec();
    o.push("controller.listener.names=CONTROLLER".into());
    let c = load(&o).unwrap();
    assert_eq!(c.bound_listeners().count(), 1);
    assert_eq!(load(&base).unwrap().bound_listeners().count(), 2);
    // A controller listener may not be advertised to clients (Kafka's rule).
    o.push("advertised.listeners=CONTROLLER://h:9093".into());
    assert!(load(&o)
        .unwrap_err()
        .to_string()
        .contains("advertised.listeners"));
}

#[test]
fn log_cleaner_keys_reach_the_cleaner_config() {
    let c = load(&[
        "log.cleaner.threads=4".into(),
        "log.cleaner.dedupe.buffer.size=8388608".into(),
        "log.cleaner.io.max.bytes.per.second=1000.5".into(),
    ])
    .unwrap();
    assert_eq!(c.log_cleaner.threads, 4);
    assert_eq!(c.log_cleaner.dedupe_buffer_size, 8_388_608);
    assert_eq!(c.log_cleaner.io_max_bytes_per_second, 1000.5);
    assert_eq!(
        load(&[]).unwrap().log_cleaner.io_max_bytes_per_second,
        f64::MAX
    );
    let e = load(&[
        "log.cleaner.threads=4".into(),
        "log.cleaner.dedupe.buffer.size=2097152".into(),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("log.cleaner.dedupe.buffer.size") && e.contains("1 MiB"),
        "{e}"
    );
    let e = load(&["log.cleaner.threads=0".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("log.cleaner.threads"), "{e}");
    // With the cleaner off the buffer is never allocated, so no minimum applies.
    load(&[
        "log.cleaner.enable=false".into(),
        "log.cleaner.dedupe.buffer.size=0".into(),
    ])
    .unwrap();
}

#[test]
fn threads_and_unknown_keys() {
    let c = load(&["num.network.threads=1".into(), "num.io.threads=2".into()]).unwrap();
    assert_eq!(c.worker_threads(), 1);
    // num.io.threads sizes the log manager of a broker opened with this config.
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = vec![
        format!("log.dirs={}", dir.path().display()),
        "num.io.threads=2".to_string(),
    ];
    let broker = crate::Broker::open(load(&overrides).unwrap()).unwrap();
    assert_eq!(broker.topics.io().threads(), 2);
    drop(broker);
    overrides[1] = "num.io.threads=5".into();
    let broker = crate::Broker::open(load(&overrides).unwrap()).unwrap();
    assert_eq!(broker.topics.io().threads(), 5);
    // Unknown keys are Kafka's warning, not an error.
    load(&["some.plugin.setting=1".into()]).unwrap();
    let e = load(&["zookeeper.connect=localhost:2181".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("zookeeper.connect") && e.contains("KRaft"),
        "{e}"
    );
}

fn pem_pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

type Tls = (std::sync::Arc<rustls::ServerConfig>, String);

fn tls_listener(extra: &[String]) -> Result<Tls, ConfigError> {
    let (chain, key) = pem_pair();
    let mut o = vec![
        "listeners=SSL://127.0.0.1:0".to_string(),
        format!("ssl.keystore.certificate.chain={chain}"),
        format!("ssl.keystore.key={key}"),
    ];
    o.extend(extra.iter().cloned());
    let c = load(&o)?;
    Ok((c.security.listener("SSL").tls.unwrap(), chain))
}

/// An in-memory handshake of a rustls client offering `versions` with the listener;
/// the negotiated version and suite.
fn handshake(
    (server, chain): &Tls,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<(rustls::ProtocolVersion, u16), String> {
    use rustls::pki_types::pem::PemObject;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(chain.as_bytes()) {
        roots.add(c.map_err(|x| e(&x))?).map_err(|x| e(&x))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|x| e(&x))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|x| e(&x))?;
    let mut c =
        rustls::ClientConnection::new(std::sync::Arc::new(client), name).map_err(|x| e(&x))?;
    let mut s = rustls::ServerConnection::new(server.clone()).map_err(|x| e(&x))?;
    for _ in 0..16 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).map_err(|x| e(&x))?;
        }
        if !buf.is_empty() {
            s.read_tls(&mut &buf[..]).map_err(|x| e(&x))?;
            s.process_new_packets().map_err(|x| e(&x))?;
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).map_err(|x| e(&x))?;
        }
        if !buf.is_empty() {
            c.read_tls(&mut &buf[..]).map_err(|x| e(&x))?;
            c.process_new_packets().map_err(|x| e(&x))?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            let version = c.protocol_version().ok_or("no version")?;
            let suite = c.negotiated_cipher_suite().ok_or("no suite")?;
            return Ok((version, u16::from(suite.suite())));
        }
    }
    Err("handshake did not finish".into())
}

#[test]
fn tls_keys_shape_the_rustls_config() {
    use rustls::version::{TLS12, TLS13};
    use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
    let default = tls_listener(&[]).unwrap();
    assert_eq!(handshake(&default, &[&TLS12]).unwrap().0, TLSv1_2);
    assert_eq!(handshake(&default, &[&TLS12, &TLS13]).unwrap().0, TLSv1_3);

    let only13 = tls_listener(&["ssl.enabled.protocols=TLSv1.3".into()]).unwrap();
    assert!(handshake(&only13, &[&TLS12]).is_err());
    assert_eq!(handshake(&only13, &[&TLS13]).unwrap().0, TLSv1_3);
    let per_listener =
        tls_listener(&["listener.name.ssl.ssl.enabled.protocols=TLSv1.2".into()]).unwrap();
    assert!(handshake(&per_listener, &[&TLS13]).is_err());

    let suites = tls_listener(&[
        "ssl.cipher.suites=TLS_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into(),
    ])
    .unwrap();
    let offered: Vec<u16> = suites
        .0
        .crypto_provider()
        .cipher_suites
        .iter()
        .map(|s| u16::from(s.suite()))
        .collect();
    assert_eq!(offered, vec![0x1302, 0xc02c]);
    assert_eq!(handshake(&suites, &[&TLS13]).unwrap().1, 0x1302);
    // rcgen's default key is ECDSA P-256, so the ECDSA TLS 1.2 suite is the one chosen.
    assert_eq!(handshake(&suites, &[&TLS12]).unwrap().1, 0xc02c);

    // ssl.protocol names the context; as on a Kafka broker, the versions offered stay
    // ssl.enabled.protocols.
    let ctx12 = tls_listener(&["ssl.protocol=TLSv1.2".into()]).unwrap();
    assert_eq!(handshake(&ctx12, &[&TLS12, &TLS13]).unwrap().0, TLSv1_3);

    for (o, key) in [
        (
            "ssl.enabled.protocols=TLSv1.1,TLSv1.2",
            "ssl.enabled.protocols",
        ),
        ("ssl.protocol=SSLv3", "ssl.protocol"),
        (
            "ssl.cipher.suites=TLS_RSA_WITH_AES_128_CBC_SHA",
            "ssl.cipher.suites",
        ),
        ("ssl.client.auth=always", "ssl.client.auth"),
        ("ssl.client.auth=required", "ssl.client.auth"),
    ] {
        let e = tls_listener(&[o.to_string()]).unwrap_err().to_string();
        assert!(e.contains(key), "{o}: {e}");
    }
    // TLS 1.3 enabled but only TLS 1.2 suites configured: no 1.3 client could connect.
    let e = tls_listener(&["ssl.cipher.suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssl.cipher.suites"), "{e}");

    // ssl.client.auth=required with inline truststore certificates: a client without a
    // certificate is refused.
    let (ca, _) = pem_pair();
    let mtls = tls_listener(&[
        "ssl.client.auth=required".into(),
        format!("ssl.truststore.certificates={ca}"),
    ])
    .unwrap();
    assert!(handshake(&mtls, &[&TLS13]).is_err());
}

#[tokio::test]
async fn socket_buffer_keys_set_so_sndbuf_and_so_rcvbuf() {
    let read = |c: &BrokerConfig| {
        let c = c.clone();
        async move {
            let listener = crate::server::listen(&c, "127.0.0.1", 0).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let listen_rcv = socket2::SockRef::from(&listener)
                .recv_buffer_size()
                .unwrap();
            let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            crate::server::apply_socket_buffers(&c, &accepted).unwrap();
            let s = socket2::SockRef::from(&accepted);
            (
                listen_rcv,
                s.send_buffer_size().unwrap(),
                s.recv_buffer_size().unwrap(),
            )
        }
    };
    let set = load(&[
        "socket.send.buffer.bytes=300000".into(),
        "socket.receive.buffer.bytes=200000".into(),
    ])
    .unwrap();
    let (listen_rcv, snd, rcv) = read(&set).await;
    // Linux doubles the value for bookkeeping; other systems report it as set.
    assert!((300_000..=600_000).contains(&snd), "SO_SNDBUF {snd}");
    assert!((200_000..=400_000).contains(&rcv), "SO_RCVBUF {rcv}");
    assert!(
        (200_000..=400_000).contains(&listen_rcv),
        "listener SO_RCVBUF {listen_rcv}"
    );

    let os = load(&[
        "socket.send.buffer.bytes=-1".into(),
        "socket.receive.buffer.bytes=-1".into(),
    ])
    .unwrap();
    let fresh = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let (_, snd, _) = read(&os).await;
    assert_ne!(snd, 300_000 * 2);
    assert!(
        snd >= fresh.send_buffer_size().unwrap() / 2,
        "OS default kept: {snd}"
    );
}
