//! Test support: a fake Strait admin server and a runner for the real binaries.
//!
//! The fake answers ApiVersions (Strait's table plus the private keys 20000-20005) and the
//! private admin API with canned responses from a per-test handler, recording every
//! decoded request so tests can assert the flags became the right request.

#![allow(dead_code)]

mod broker;
#[allow(unused_imports)] // only the real-broker tests use it
pub use broker::Broker;

use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use strait_protocol::admin::*;
use strait_protocol::kp::messages::api_versions_response::ApiVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A decoded private-API request.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    CreateLinks(CreateClusterLinksRequest),
    ListLinks(ListClusterLinksRequest),
    DeleteLinks(DeleteClusterLinksRequest),
    CreateMirrors(CreateMirrorTopicsRequest),
    DescribeMirrors(DescribeMirrorsRequest),
    AlterMirrors(AlterMirrorsRequest),
}

pub type Handler = Arc<dyn Fn(&Recorded) -> Bytes + Send + Sync>;

pub struct FakeServer {
    pub addr: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    /// Starts the fake on 127.0.0.1:0 in its own thread and runtime (the binaries under
    /// test are run with blocking `std::process`, which must not starve it).
    pub fn start(handler: impl Fn(&Recorded) -> Bytes + Send + Sync + 'static) -> FakeServer {
        Self::start_with(handler, true)
    }

    /// `advertise_private = false` imitates a broker without Strait's admin API.
    pub fn start_with(
        handler: impl Fn(&Recorded) -> Bytes + Send + Sync + 'static,
        advertise_private: bool,
    ) -> FakeServer {
        let handler: Handler = Arc::new(handler);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let recorded = requests.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().to_string()).unwrap();
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        return;
                    };
                    let handler = handler.clone();
                    let recorded = recorded.clone();
                    tokio::spawn(async move {
                        let _ = serve(sock, handler, recorded, advertise_private).await;
                    });
                }
            });
        });
        let addr = rx.recv().unwrap();
        FakeServer { addr, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    handler: Handler,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    advertise_private: bool,
) -> std::io::Result<()> {
    loop {
        let size = sock.read_i32().await?;
        let mut buf = vec![0u8; size as usize];
        sock.read_exact(&mut buf).await?;
        let mut frame = Bytes::from(buf);
        let header = strait_protocol::header::decode_request_header(&mut frame).unwrap();
        let key = header.request_api_key;
        let corr = header.correlation_id;
        let out = if key == 18 {
            let mut body = strait_protocol::versions::api_versions_response(None);
            // Built explicitly whatever the shared table holds today.
            body.api_keys.retain(|k| k.api_key < 20000);
            if advertise_private {
                for k in 20000..=20005 {
                    body.api_keys.push(
                        ApiVersion::default()
                            .with_api_key(k)
                            .with_min_version(0)
                            .with_max_version(0),
                    );
                }
            }
            strait_protocol::response::encode_response(18, header.request_api_version, corr, &body)
                .unwrap()
        } else {
            let req = match key {
                CREATE_CLUSTER_LINKS => Recorded::CreateLinks(AdminMessage::decode(frame).unwrap()),
                LIST_CLUSTER_LINKS => Recorded::ListLinks(AdminMessage::decode(frame).unwrap()),
                DELETE_CLUSTER_LINKS => Recorded::DeleteLinks(AdminMessage::decode(frame).unwrap()),
                CREATE_MIRROR_TOPICS => {
                    Recorded::CreateMirrors(AdminMessage::decode(frame).unwrap())
                }
                DESCRIBE_MIRRORS => Recorded::DescribeMirrors(AdminMessage::decode(frame).unwrap()),
                ALTER_MIRRORS => Recorded::AlterMirrors(AdminMessage::decode(frame).unwrap()),
                other => panic!("unexpected api key {other}"),
            };
            recorded.lock().unwrap().push(req.clone());
            let body = handler(&req);
            // Response header v1: correlation id + empty tagged fields.
            let mut out = BytesMut::new();
            out.put_i32(4 + 1 + body.len() as i32);
            out.put_i32(corr);
            out.put_u8(0);
            out.put_slice(&body);
            out.freeze()
        };
        sock.write_all(&out).await?;
    }
}

/// Output of one run of a binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(bin: &str, args: &[&str]) -> Run {
    let out = Command::new(bin).args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn cluster_links(args: &[&str]) -> Run {
    run(env!("CARGO_BIN_EXE_cluster-links"), args)
}

pub fn mirrors(args: &[&str]) -> Run {
    run(env!("CARGO_BIN_EXE_mirrors"), args)
}

pub fn ok(name: &str) -> ItemResult {
    ItemResult {
        name: name.into(),
        error_code: 0,
        error_message: None,
        aborted_transactions: Vec::new(),
    }
}

pub fn err(name: &str, code: i16, message: &str) -> ItemResult {
    ItemResult {
        name: name.into(),
        error_code: code,
        error_message: Some(message.into()),
        aborted_transactions: Vec::new(),
    }
}

/// Seed 004's files, written into `dir`.
pub struct SeedFiles {
    pub source_config: String,
    pub destination_config: String,
    pub topic_filter: String,
    pub group: String,
    pub acl: String,
}

impl SeedFiles {
    /// Seed 004's `cluster-links --create` command, flag form, against `bootstrap`.
    pub fn create_args<'a>(&'a self, bootstrap: &'a str) -> Vec<&'a str> {
        vec![
            "--bootstrap-server",
            bootstrap,
            "--command-config",
            &self.destination_config,
            "--create",
            "--link",
            "test-cluster-link",
            "--config-file",
            &self.source_config,
            "--topic-filters-json-file",
            &self.topic_filter,
            "--consumer-group-filters-json-file",
            &self.group,
            "--acl-filters-json-file",
            &self.acl,
        ]
    }
}

pub const SECRET: &str = "hunter2-secret";

pub fn seed_files(dir: &std::path::Path) -> SeedFiles {
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    SeedFiles {
        source_config: w(
            "source.config",
            &format!(
                "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n\
                 sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"{SECRET}\";\n\
                 bootstrap.servers=src.example:9092\nauto.create.mirror.topics.enable=true\n\
                 consumer.offset.sync.enable=true\nacl.sync.enable=true\n"
            ),
        ),
        // PLAINTEXT here because the fake speaks no TLS; the seed's SASL_SSL file is
        // covered by the config-parsing tests.
        destination_config: w("destination.config", "security.protocol=PLAINTEXT\nlinger.ms=5\n"),
        topic_filter: w(
            "topic_filter.json",
            r#"{ "topicFilters": [ { "name": "test-topic", "patternType": "LITERAL", "filterType": "INCLUDE" } ] }"#,
        ),
        group: w(
            "group.json",
            r#"{ "groupFilters": [ { "name": "test-group", "patternType": "LITERAL", "filterType": "INCLUDE" } ] }"#,
        ),
        acl: w(
            "acl.json",
            r#"{ "aclFilters": [ { "resourceFilter": { "resourceType": "any", "patternType": "any" }, "accessFilter": { "operation": "any", "permissionType": "any" } } ] }"#,
        ),
    }
}
