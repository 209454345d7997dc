//! Both binaries against a real in-process Strait broker: seed 004's link management
//! flow (create without reaching the source, list, describe, delete) and the errors a
//! real broker returns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[test]
fn seed_004_link_management_against_a_real_broker() {
    let broker = Broker::start();
    let a = broker.addr.as_str();
    let dir = tempfile::tempdir().unwrap();
    let f = seed_files(dir.path());
    let mut create = f.create_args(a);
    // The seed's source (src.example) does not exist here.
    create.push("--exclude-validate-link");

    let run = cluster_links(&create);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Cluster link 'test-cluster-link' creation successfully completed.\n"
    );

    let again = cluster_links(&create);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(
        again
            .stderr
            .ends_with("\nError: cluster link 'test-cluster-link' already exists\n"),
        "{}",
        again.stderr
    );

    let list = cluster_links(&[
        "--bootstrap-server",
        a,
        "--list",
        "--command-config",
        &f.destination_config,
    ]);
    assert_eq!(list.code, 0, "{list:?}");
    let rows: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    assert!(rows[0].starts_with("LinkName"), "{}", list.stdout);
    assert!(rows[1].starts_with("test-cluster-link "), "{}", list.stdout);

    let json = cluster_links(&["list", "--bootstrap-server", a, "--output", "json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v[0]["link_name"], "test-cluster-link");

    let describe = cluster_links(&[
        "--describe",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(describe.code, 0, "{describe:?}");
    assert!(
        describe
            .stdout
            .starts_with("LinkName:         test-cluster-link\n"),
        "{}",
        describe.stdout
    );
    assert!(
        describe.stdout.contains("sasl.jaas.config "),
        "{}",
        describe.stdout
    );
    assert!(describe.stdout.contains("[hidden]"), "{}", describe.stdout);
    assert!(
        describe.stdout.contains("bootstrap.servers "),
        "{}",
        describe.stdout
    );
    assert!(
        describe.stdout.contains("src.example:9092"),
        "{}",
        describe.stdout
    );
    assert!(!describe.stdout.contains(SECRET) && !describe.stderr.contains(SECRET));
    let json = cluster_links(&[
        "describe",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        a,
        "--output",
        "json",
    ]);
    assert!(!json.stdout.contains(SECRET));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let jaas = v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sasl.jaas.config")
        .unwrap();
    assert_eq!(jaas["value"], serde_json::Value::Null);

    // No mirrors yet: the source is unreachable, so nothing was auto-created.
    let mlist = mirrors(&["--list", "--bootstrap-server", a]);
    assert_eq!(mlist.code, 0, "{mlist:?}");
    assert_eq!(mlist.stdout, "No mirror topics found.\n");
    let promote = mirrors(&[
        "--promote",
        "--topics",
        "not-a-mirror",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(promote.code, 1, "{promote:?}");
    assert!(promote.stderr.starts_with("Error: "), "{}", promote.stderr);
    assert!(
        promote.stderr.contains("not-a-mirror"),
        "{}",
        promote.stderr
    );
    assert_eq!(promote.stderr.lines().count(), 1, "{}", promote.stderr);

    let validate = cluster_links(&[
        "--delete",
        "--link",
        "test-cluster-link",
        "--validate-only",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(validate.code, 0, "{validate:?}");
    assert_eq!(
        validate.stdout,
        "Cluster link 'test-cluster-link' validation successfully completed.\n"
    );

    let delete = cluster_links(&[
        "--delete",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        a,
        "--command-config",
        &f.destination_config,
    ]);
    assert_eq!(delete.code, 0, "{delete:?}");
    assert_eq!(
        delete.stdout,
        "Cluster link 'test-cluster-link' deletion successfully completed.\n"
    );

    let gone = cluster_links(&[
        "--describe",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert_eq!(
        gone.stderr,
        "Error: cluster link 'test-cluster-link' does not exist\n"
    );
    let list = cluster_links(&["--list", "--bootstrap-server", a]);
    assert_eq!(list.stdout, "No cluster links found.\n");
    let delete = cluster_links(&[
        "--delete",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        a,
    ]);
    assert_eq!(delete.code, 1);
    assert_eq!(
        delete.stderr,
        "Error: cluster link 'test-cluster-link' does not exist\n"
    );
}
