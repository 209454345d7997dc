//! `cluster-links` against the fake: seed 004's create in flag and subcommand forms,
//! validate-only, a refused create, and list / describe / delete with secrets masked.

use super::*;

fn config<'a>(req: &'a CreateClusterLinksRequest, name: &str) -> &'a ConfigEntry {
    req.links[0]
        .configs
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no config {name}"))
}

#[test]
fn seed_004_create_in_flag_form() {
    let dir = tempfile::tempdir().unwrap();
    let f = seed_files(dir.path());
    let server = FakeServer::start(|req| match req {
        Recorded::CreateLinks(r) => CreateClusterLinksResponse {
            results: vec![ok(&r.links[0].name)],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let run = cluster_links(&f.create_args(&server.addr));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Cluster link 'test-cluster-link' creation successfully completed.\n"
    );
    assert!(
        run.stderr
            .contains("ignoring unknown client property 'linger.ms'"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let Recorded::CreateLinks(req) = &reqs[0] else {
        panic!("{reqs:?}")
    };
    assert_eq!(req.links.len(), 1);
    assert_eq!(req.links[0].name, "test-cluster-link");
    assert!(req.validate_link && !req.validate_only);
    assert!(req.timeout_ms > 0);
    let names: Vec<&str> = req.links[0]
        .configs
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "acl.filters",
            "acl.sync.enable",
            "auto.create.mirror.topics.enable",
            "auto.create.mirror.topics.filters",
            "bootstrap.servers",
            "consumer.offset.group.filters",
            "consumer.offset.sync.enable",
            "sasl.jaas.config",
            "sasl.mechanism",
            "security.protocol",
        ]
    );
    let jaas = config(req, "sasl.jaas.config");
    assert!(jaas.sensitive);
    assert!(jaas.value.as_deref().unwrap().contains(SECRET));
    assert_eq!(
        config(req, "auto.create.mirror.topics.filters")
            .value
            .as_deref(),
        Some(std::fs::read_to_string(&f.topic_filter).unwrap().trim())
    );
    assert_eq!(
        config(req, "consumer.offset.group.filters")
            .value
            .as_deref(),
        Some(std::fs::read_to_string(&f.group).unwrap().trim())
    );
    assert!(!config(req, "bootstrap.servers").sensitive);
}

#[test]
fn create_subcommand_form_validate_only_and_exclude_validate_link() {
    let server = FakeServer::start(|req| match req {
        Recorded::CreateLinks(r) => CreateClusterLinksResponse {
            results: vec![ok(&r.links[0].name)],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let run = cluster_links(&[
        "create",
        "--bootstrap-server",
        &server.addr,
        "--link-name",
        "l1",
        "--config",
        "bootstrap.servers=a:9092,b:9092,consumer.offset.sync.ms=5000",
        "--config",
        "cluster.link.prefix=dc1.",
        "--validate-only",
        "--exclude-validate-link",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Cluster link 'l1' validation successfully completed.\n"
    );
    let Recorded::CreateLinks(req) = &server.requests()[0] else {
        panic!()
    };
    assert!(req.validate_only && !req.validate_link);
    assert_eq!(
        config(req, "bootstrap.servers").value.as_deref(),
        Some("a:9092,b:9092")
    );
    assert_eq!(
        config(req, "consumer.offset.sync.ms").value.as_deref(),
        Some("5000")
    );
    assert_eq!(
        config(req, "cluster.link.prefix").value.as_deref(),
        Some("dc1.")
    );
}

#[test]
fn create_refused_by_broker_exits_1_naming_the_link() {
    let server = FakeServer::start(|req| match req {
        Recorded::CreateLinks(r) => CreateClusterLinksResponse {
            results: vec![err(
                &r.links[0].name,
                42,
                &format!("cluster link '{}' already exists", r.links[0].name),
            )],
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });
    let run = cluster_links(&[
        "--create",
        "--bootstrap-server",
        &server.addr,
        "--link",
        "dup",
        "--config",
        "bootstrap.servers=a:1",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "Error: cluster link 'dup' already exists\n");

    let json = cluster_links(&[
        "--create",
        "--bootstrap-server",
        &server.addr,
        "--link",
        "dup",
        "--config",
        "bootstrap.servers=a:1",
        "--output",
        "json",
    ]);
    assert_eq!(json.code, 1);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["results"][0]["error_code"], 42);
    assert_eq!(v["results"][0]["error"], "InvalidRequest");
}

fn listing(name: &str) -> ClusterLinkListing {
    ClusterLinkListing {
        name: name.into(),
        link_id: format!("{name}-id"),
        source_cluster_id: Some("src-cluster".into()),
        state: "ACTIVE".into(),
        error: None,
        error_message: None,
        topics: vec!["test-topic".into()],
        configs: vec![
            ConfigEntry {
                name: "bootstrap.servers".into(),
                value: Some("src.example:9092".into()),
                sensitive: false,
            },
            ConfigEntry {
                name: "sasl.jaas.config".into(),
                value: None,
                sensitive: true,
            },
            // A broker that forgot to mask must still not leak through the tool.
            ConfigEntry {
                name: "ssl.key.password".into(),
                value: Some(SECRET.into()),
                sensitive: false,
            },
        ],
        ..Default::default()
    }
}

#[test]
fn list_describe_and_delete() {
    let server = FakeServer::start(|req| match req {
        Recorded::ListLinks(r) => {
            let all = vec![listing("test-cluster-link"), listing("other")];
            let links = match &r.names {
                None => all,
                Some(n) => all.into_iter().filter(|l| n.contains(&l.name)).collect(),
            };
            ListClusterLinksResponse {
                error_code: 0,
                error_message: None,
                links,
            }
            .encode()
        }
        Recorded::DeleteLinks(r) => DeleteClusterLinksResponse {
            results: r
                .names
                .iter()
                .map(|n| {
                    if n == "test-cluster-link" {
                        ok(n)
                    } else {
                        err(n, 91, &format!("cluster link '{n}' does not exist"))
                    }
                })
                .collect(),
        }
        .encode(),
        other => panic!("unexpected {other:?}"),
    });

    let list = cluster_links(&["--bootstrap-server", &server.addr, "--list"]);
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(
        list.stdout,
        "LinkName           LinkId                SourceClusterId  State   SyncStatus  MaxLag  Error\n\
         test-cluster-link  test-cluster-link-id  src-cluster      ACTIVE  -           0       -\n\
         other              other-id              src-cluster      ACTIVE  -           0       -\n"
    );
    let list = cluster_links(&[
        "list",
        "--bootstrap-server",
        &server.addr,
        "--include-topics",
        "--output",
        "json",
    ]);
    assert_eq!(list.code, 0);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(v[0]["link_name"], "test-cluster-link");
    assert_eq!(v[0]["topics"][0], "test-topic");

    let describe = cluster_links(&[
        "--describe",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(describe.code, 0, "{describe:?}");
    assert!(
        describe
            .stdout
            .contains("LinkName:         test-cluster-link\n"),
        "{}",
        describe.stdout
    );
    assert!(
        describe.stdout.contains("sasl.jaas.config   [hidden]"),
        "{}",
        describe.stdout
    );
    assert!(
        describe.stdout.contains("ssl.key.password   [hidden]"),
        "{}",
        describe.stdout
    );
    assert!(!describe.stdout.contains(SECRET));
    let json = cluster_links(&[
        "--describe",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        &server.addr,
        "--output",
        "json",
    ]);
    assert!(!json.stdout.contains(SECRET));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["configs"][2]["value"], serde_json::Value::Null);
    assert_eq!(v["configs"][2]["sensitive"], true);

    let missing = cluster_links(&[
        "--describe",
        "--link",
        "nope",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "Error: cluster link 'nope' does not exist\n"
    );

    let delete = cluster_links(&[
        "--delete",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        &server.addr,
        "--force",
    ]);
    assert_eq!(delete.code, 0, "{delete:?}");
    assert_eq!(
        delete.stdout,
        "Cluster link 'test-cluster-link' deletion successfully completed.\n"
    );
    let delete = cluster_links(&[
        "delete",
        "--link",
        "gone",
        "--bootstrap-server",
        &server.addr,
    ]);
    assert_eq!(delete.code, 1);
    assert_eq!(delete.stderr, "Error: cluster link 'gone' does not exist\n");

    let reqs = server.requests();
    // --list asks for configs too, for each link's link.mode.
    assert!(reqs.contains(&Recorded::ListLinks(ListClusterLinksRequest {
        names: None,
        include_topics: true,
        include_configs: true,
    })));
    assert!(reqs.contains(&Recorded::ListLinks(ListClusterLinksRequest {
        names: Some(vec!["test-cluster-link".into()]),
        include_topics: true,
        include_configs: true,
    })));
    assert!(
        reqs.contains(&Recorded::DeleteLinks(DeleteClusterLinksRequest {
            names: vec!["test-cluster-link".into()],
            validate_only: false,
            force: true,
        }))
    );
}
